// SPDX-License-Identifier: MIT
/*
 * test_math.c - kernels/kk_math.h against libm.
 *
 * Bounds (ulps against libm's double function rounded to float):
 *   kk_expf     <= 1 ulp on [-103, 88.7], exact specials, subnormals right
 *   kk_tanhf    <= 2 ulps on [-20, 20], odd, exact at saturation;
 *               tanh(-0) is +0
 *   kk_sincosf  <= 1 ulp for |x| <= 2^17 (RoPE: position * frequency),
 *               |err| <= 2e-7 up to 2^27
 *   kk_powf     equal to glibc powf for RoPE's freq_base^(-2/n_dims) with
 *               real models' bases, and <= 1 ulp elsewhere
 * The measured maxima are printed.  Compiled without FP contraction, like
 * kernels/, so these are the bits the kernels compute.
 */
#pragma GCC optimize("fp-contract=off")
#include "kt_ops.h"
#include "kk_math.h"

static uint64_t ulps_vs(float got, double want)
{
	return kt_ulps(got, (float)want);
}

START_TEST(test_exp)
{
	uint64_t worst = 0;
	float wx = 0;

	for (float x = -103.0f; x < 88.7f; x += 0.00193f) {
		uint64_t u = ulps_vs(kk_expf(x), exp((double)x));

		if (u > worst) {
			worst = u;
			wx = x;
		}
	}
	printf("kk_expf: max %llu ulp (at %g)\n", (unsigned long long)worst, wx);
	ck_assert_msg(worst <= 1, "exp: %llu ulps at %g", (unsigned long long)worst, wx);
	ck_assert(kk_expf(0.0f) == 1.0f);
	ck_assert(kk_expf(-INFINITY) == 0.0f);
	ck_assert(kk_expf(INFINITY) == INFINITY);
	ck_assert(kk_expf(89.0f) == INFINITY);
	ck_assert(kk_expf(-200.0f) == 0.0f);
	ck_assert(isnan(kk_expf(NAN)));
	/* subnormal results: within an ulp of the subnormal grid */
	for (float x = -103.9f; x < -87.4f; x += 0.01f)
		ck_assert_msg(ulps_vs(kk_expf(x), exp((double)x)) <= 1, "x=%g", x);
}
END_TEST

START_TEST(test_tanh)
{
	uint64_t worst = 0;
	float wx = 0;

	for (float x = -20.0f; x < 20.0f; x += 0.000293f) {
		uint64_t u = ulps_vs(kk_tanhf(x), tanh((double)x));

		if (u > worst) {
			worst = u;
			wx = x;
		}
		ck_assert(kk_tanhf(-x) == -kk_tanhf(x));
	}
	printf("kk_tanhf: max %llu ulp (at %g)\n", (unsigned long long)worst, wx);
	ck_assert_msg(worst <= 2, "tanh: %llu ulps at %g", (unsigned long long)worst, wx);
	ck_assert(kk_tanhf(1e-20f) == 1e-20f);
	ck_assert(kk_tanhf(-0.0f) == 0.0f);	/* sign of zero not kept */
	ck_assert(kk_tanhf(INFINITY) == 1.0f && kk_tanhf(-INFINITY) == -1.0f);
	ck_assert(kk_tanhf(50.0f) == 1.0f);
	ck_assert(isnan(kk_tanhf(NAN)));
}
END_TEST

START_TEST(test_sincos)
{
	uint64_t worst = 0;
	double worst_abs = 0;
	float wx = 0, s, c;
	struct kt_rng rng;

	for (float x = -131072.0f; x < 131072.0f;
	     x += fabsf(x) < 16.0f ? 0.000471f : 0.9173f) {
		uint64_t u;

		kk_sincosf(x, &s, &c);
		u = ulps_vs(s, sin((double)x));
		if (ulps_vs(c, cos((double)x)) > u)
			u = ulps_vs(c, cos((double)x));
		if (u > worst) {
			worst = u;
			wx = x;
		}
	}
	kt_rng_seed(&rng, 1);
	for (int i = 0; i < 30000; i++) {	/* up to 2^27 */
		float x = ldexpf(kt_rng_f32(&rng, 0.5f, 1.0f), (int)(kt_rng_u64(&rng) % 28));
		double e;

		kk_sincosf(x, &s, &c);
		e = fmax(fabs(s - sin((double)x)), fabs(c - cos((double)x)));
		worst_abs = fmax(worst_abs, e);
	}
	printf("kk_sincosf: max %llu ulp for |x| < 2^17 (at %g), max abs err %g to 2^27\n",
	       (unsigned long long)worst, wx, worst_abs);
	ck_assert_msg(worst <= 1, "sincos: %llu ulps at %g", (unsigned long long)worst, wx);
	ck_assert_msg(worst_abs <= 2e-7, "sincos abs err %g", worst_abs);
	kk_sincosf(0.0f, &s, &c);
	ck_assert(s == 0.0f && c == 1.0f);
	kk_sincosf(NAN, &s, &c);
	ck_assert(isnan(s) && isnan(c));
	kk_sincosf(INFINITY, &s, &c);
	ck_assert(isnan(s) && isnan(c));
}
END_TEST

START_TEST(test_pow)
{
	/* the rope_theta of real models; glibc's powf is not correctly
	 * rounded in some near-halfway cases (e.g. 40000^(-2/118)), where
	 * kk_powf gives the correctly rounded value instead */
	static const float bases[] = { 10000.0f, 100000.0f, 500000.0f,
				       1000000.0f, 10000000.0f, 50000.0f };
	uint64_t worst = 0;
	struct kt_rng rng;

	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		for (int n = 2; n <= 512; n += 2) {
			float y = -2.0f / (float)n;

			ck_assert_msg(kk_powf(bases[b], y) == powf(bases[b], y),
				      "pow(%g, %g): %a vs %a", bases[b], y,
				      kk_powf(bases[b], y), powf(bases[b], y));
		}
	kt_rng_seed(&rng, 2);
	for (int i = 0; i < 30000; i++) {
		float x = kt_rng_f32(&rng, 1e-3f, 1e6f), y = kt_rng_f32(&rng, -2.0f, 2.0f);
		uint64_t u = ulps_vs(kk_powf(x, y), pow((double)x, (double)y));

		worst = u > worst ? u : worst;
	}
	printf("kk_powf: max %llu ulp on random (x, y)\n", (unsigned long long)worst);
	ck_assert(worst <= 1);
	ck_assert(kk_powf(1.0f, 123.0f) == 1.0f);
	ck_assert(isnan(kk_powf(0.0f, 1.0f)) && isnan(kk_powf(-2.0f, 0.5f)));
}
END_TEST

static Suite *math_suite(void)
{
	Suite *s = suite_create("math");
	TCase *tc = tcase_create("math");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exp);
	tcase_add_test(tc, test_tanh);
	tcase_add_test(tc, test_sincos);
	tcase_add_test(tc, test_pow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(math_suite());
}
