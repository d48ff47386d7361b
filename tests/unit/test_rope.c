// SPDX-License-Identifier: MIT
/*
 * test_rope.c - rotary position embedding.
 *
 *   reference  the scalar path against a double-precision rotation by
 *              ggml's angles (float theta iteration from powf's
 *              theta_scale, freq_factors and freq_scale as ggml applies
 *              them, sin/cos from libm in double): |err| <= 1e-6 of
 *              max(1, |y|), for positions up to 131071;
 *   paths      every SIMD path is bitwise equal to the scalar path (the
 *              angles are shared, the rotation is the same IEEE operations);
 *   layouts    NORMAL and NEOX, n_dims < head_dim (the rest copied),
 *              head_dim 64/80/128, padded strides, in place, 1 and 5 rows;
 *   splits     item by item equals one execution;
 *   params     bad shapes, modes and frequencies are refused.
 */
#include "kt_ops.h"

struct rope_case {
	uint32_t n_head, head_dim, n_dims, mode;
	float base, freq_scale;
	int use_ff;
};

static const struct rope_case cases[] = {
	{ 4, 64, 64, KK_ROPE_NORMAL, 10000.0f, 1.0f, 0 },
	{ 3, 128, 128, KK_ROPE_NEOX, 1000000.0f, 1.0f, 0 },
	{ 2, 80, 80, KK_ROPE_NEOX, 10000.0f, 1.0f, 0 },
	{ 2, 80, 80, KK_ROPE_NORMAL, 10000.0f, 1.0f, 0 },
	{ 2, 64, 32, KK_ROPE_NORMAL, 10000.0f, 1.0f, 0 },
	{ 2, 64, 32, KK_ROPE_NEOX, 10000.0f, 1.0f, 0 },
	{ 4, 128, 128, KK_ROPE_NORMAL, 500000.0f, 1.0f, 1 },	/* Llama 3 */
	{ 2, 64, 64, KK_ROPE_NEOX, 10000.0f, 0.25f, 1 },
	{ 1, 6, 6, KK_ROPE_NORMAL, 10000.0f, 1.0f, 0 },
	{ 1, 6, 2, KK_ROPE_NEOX, 100.0f, 1.0f, 0 },
	{ 5, 256, 200, KK_ROPE_NEOX, 10000.0f, 0.5f, 1 },
};

static const int32_t positions[] = { 0, 1, 17, 4095, 100000, 131071, 7 };
#define N_POS ((uint32_t)(sizeof(positions) / sizeof(positions[0])))

static void ref_rope(const struct rope_case *c, const float *ff,
		     const float *x, int32_t pos, double *r)
{
	const float theta_scale = powf(c->base, -2.0f / (float)c->n_dims);
	const uint32_t half = c->n_dims / 2;

	for (uint32_t h = 0; h < c->n_head; h++) {
		const float *xh = x + h * c->head_dim;
		double *rh = r + h * c->head_dim;
		float theta = (float)pos;

		for (uint32_t i = 0; i < c->head_dim; i++)
			rh[i] = xh[i];
		for (uint32_t i = 0; i < half; i++) {
			float ang = c->freq_scale * (theta / (ff ? ff[i] : 1.0f));
			double cs = cos((double)ang), sn = sin((double)ang);
			uint32_t a = c->mode == KK_ROPE_NEOX ? i : 2 * i;
			uint32_t b = c->mode == KK_ROPE_NEOX ? i + half : 2 * i + 1;

			rh[a] = xh[a] * cs - xh[b] * sn;
			rh[b] = xh[a] * sn + xh[b] * cs;
			theta *= theta_scale;
		}
	}
}

static void check_case(const struct rope_case *c, uint32_t rows,
		       struct kt_rng *rng)
{
	const uint32_t row = c->n_head * c->head_dim, mask = kt_paths_native();
	const uint64_t xs = row + 3, ys = row + 1;
	float *x = kt_floats(xs * rows), *y = kt_floats(ys * rows);
	float *ref = kt_floats(ys * rows), *ip = kt_floats(xs * rows);
	float *ff = kt_floats(c->n_dims / 2 + 1);
	double *r = kt_alloc(row * sizeof(double));
	int32_t pos[8];
	struct kk_op op = { .kind = KK_OP_ROPE };

	kt_fill_f32(rng, x, xs * rows, -2.0f, 2.0f);
	for (uint32_t i = 0; i < c->n_dims / 2; i++)	/* Llama 3 style: 1..8 */
		ff[i] = 1.0f + (float)(i * 7) / (float)(c->n_dims / 2);
	for (uint32_t i = 0; i < rows; i++)
		pos[i] = positions[(i + rows) % N_POS];
	op.rope = (struct kk_rope){ .x = x, .y = y, .x_stride = xs,
		.y_stride = ys, .pos = pos, .freq_factors = c->use_ff ? ff : NULL,
		.rows = rows, .n_head = c->n_head, .head_dim = c->head_dim,
		.n_dims = c->n_dims, .mode = c->mode,
		.freq_base_bits = kk_fbits(c->base),
		.freq_scale_bits = kk_fbits(c->freq_scale) };

	kt_select(KK_SIMD_SCALAR);
	kt_exec(&op);
	memcpy(ref, y, ys * rows * sizeof(float));
	for (uint32_t t = 0; t < rows; t++) {
		size_t at = 0;
		double e;

		ref_rope(c, c->use_ff ? ff : NULL, x + t * xs, pos[t], r);
		e = kt_max_rel_err_d(ref + t * ys, r, row, 1.0, &at);
		ck_assert_msg(e <= 1e-6, "hd %u nd %u mode %u pos %d: err %g at %zu (%g vs %g)",
			      c->head_dim, c->n_dims, c->mode, pos[t], e, at,
			      ref[t * ys + at], r[at]);
	}
	KT_FOR_EACH_PATH(p, mask) {
		kt_select(p);
		memset(y, 0xff, ys * rows * sizeof(float));
		op.rope.x = x;
		op.rope.y = y;
		op.rope.x_stride = xs;
		op.rope.y_stride = ys;
		kt_exec(&op);
		for (uint32_t t = 0; t < rows; t++)
			ck_assert_msg(!memcmp(y + t * ys, ref + t * ys, row * sizeof(float)),
				      "%s hd %u nd %u mode %u row %u differs from scalar",
				      kk_simd_name(p), c->head_dim, c->n_dims, c->mode, t);
		/* in place */
		memcpy(ip, x, xs * rows * sizeof(float));
		op.rope.x = op.rope.y = ip;
		op.rope.y_stride = xs;
		kt_exec(&op);
		for (uint32_t t = 0; t < rows; t++)
			ck_assert_msg(!memcmp(ip + t * xs, ref + t * ys, row * sizeof(float)),
				      "%s in place row %u differs", kk_simd_name(p), t);
		/* item by item */
		op.rope.x = x;
		op.rope.y = y;
		op.rope.y_stride = ys;
		memset(y, 0xff, ys * rows * sizeof(float));
		kt_exec_items_one_by_one(&op);
		for (uint32_t t = 0; t < rows; t++)
			ck_assert(!memcmp(y + t * ys, ref + t * ys, row * sizeof(float)));
	}
	free(x);
	free(y);
	free(ref);
	free(ip);
	free(ff);
	free(r);
}

START_TEST(test_rope_cases)
{
	struct kt_rng rng;

	kt_rng_seed(&rng, 100 + _i);
	check_case(&cases[_i], 1, &rng);
	check_case(&cases[_i], 5, &rng);
}
END_TEST

/* Position 0 is the identity; the norm of each pair is kept. */
START_TEST(test_rope_identities)
{
	const uint32_t n = 128;
	float x[128], y[128];
	int32_t pos = 0;
	struct kt_rng rng;
	struct kk_op op = { .kind = KK_OP_ROPE };

	kt_rng_seed(&rng, 9);
	kt_fill_f32(&rng, x, n, -1.0f, 1.0f);
	op.rope = (struct kk_rope){ .x = x, .y = y, .pos = &pos, .rows = 1,
		.n_head = 1, .head_dim = n, .n_dims = n, .mode = KK_ROPE_NEOX,
		.freq_base_bits = kk_fbits(10000.0f),
		.freq_scale_bits = kk_fbits(1.0f) };
	kt_select(kk_simd_best(kt_paths()));
	kt_exec(&op);
	ck_assert(!memcmp(x, y, sizeof(x)));
	pos = 123456;
	kt_exec(&op);
	for (uint32_t i = 0; i < n / 2; i++) {
		double a = hypot(x[i], x[i + n / 2]), b = hypot(y[i], y[i + n / 2]);

		ck_assert_msg(fabs(a - b) <= 1e-6, "pair %u: %g vs %g", i, a, b);
	}
}
END_TEST

START_TEST(test_rope_bad_params)
{
	float x[64] = { 0 };
	int32_t pos[2] = { 0, 1 };
	struct kk_op op = { .kind = KK_OP_ROPE };
	const struct kk_rope good = { .x = x, .y = x, .pos = pos, .rows = 1,
		.n_head = 2, .head_dim = 16, .n_dims = 16, .mode = KK_ROPE_NORMAL,
		.freq_base_bits = kk_fbits(10000.0f),
		.freq_scale_bits = kk_fbits(1.0f) };

#define BAD(field, val) do { \
		op.rope = good; \
		op.rope.field = (val); \
		ck_assert_msg(kk_op_check(&op) == -KK_EINVAL, "accepted %s = %s", \
			      #field, #val); \
	} while (0)

	op.rope = good;
	ck_assert_int_eq(kk_op_check(&op), 0);
	BAD(n_dims, 15);
	BAD(n_dims, 18);
	BAD(n_dims, 0);
	BAD(head_dim, 0);
	BAD(n_head, 0);
	BAD(mode, 1);
	BAD(mode, 3);
	BAD(freq_base_bits, kk_fbits(0.0f));
	BAD(freq_base_bits, kk_fbits(-10000.0f));
	BAD(freq_base_bits, kk_fbits(INFINITY));
	BAD(freq_base_bits, kk_fbits(NAN));
	BAD(freq_scale_bits, kk_fbits(INFINITY));
	op.rope = good;
	op.rope.rows = 2;
	op.rope.y_stride = 31;
	ck_assert_int_eq(kk_op_check(&op), -KK_EINVAL);
	op.rope.y_stride = 32;
	ck_assert_int_eq(kk_op_check(&op), 0);
#undef BAD
}
END_TEST

/* Absurd positions (userspace-controlled) stay finite and bounded. */
START_TEST(test_rope_extreme_positions)
{
	const int32_t pos[4] = { INT32_MAX, INT32_MIN, -5, 1 << 30 };
	float x[4 * 32], y[4 * 32];
	struct kk_op op = { .kind = KK_OP_ROPE };
	struct kt_rng rng;

	kt_rng_seed(&rng, 4);
	kt_fill_f32(&rng, x, 4 * 32, -1.0f, 1.0f);
	op.rope = (struct kk_rope){ .x = x, .y = y, .x_stride = 32,
		.y_stride = 32, .pos = pos, .rows = 4, .n_head = 1,
		.head_dim = 32, .n_dims = 32, .mode = KK_ROPE_NORMAL,
		.freq_base_bits = kk_fbits(10000.0f),
		.freq_scale_bits = kk_fbits(1e20f) };
	KT_FOR_EACH_PATH(p, kt_paths_native()) {
		kt_select(p);
		kt_exec(&op);
		for (int i = 0; i < 4 * 32; i++)
			ck_assert_msg(isfinite(y[i]) && fabsf(y[i]) <= 1.5f,
				      "%s y[%d] = %g", kk_simd_name(p), i, y[i]);
	}
}
END_TEST

static Suite *rope_suite(void)
{
	Suite *s = suite_create("rope");
	TCase *tc = tcase_create("rope");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_rope_cases, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_rope_identities);
	tcase_add_test(tc, test_rope_bad_params);
	tcase_add_test(tc, test_rope_extreme_positions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(rope_suite());
}
