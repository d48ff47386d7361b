/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_math.h - the few transcendental functions the ops need, without libm.
 * FPU units only.
 *
 * exp and tanh are Cephes-style float approximations written with separate
 * multiplies and adds (no FMA): the SIMD paths evaluate the very same
 * sequence of IEEE operations lane by lane, so vector and scalar results are
 * bitwise identical (the constants below are shared).  Measured against
 * libm (tests/unit/test_math.c): exp <= 1 ulp, tanh <= 2 ulp (tanh(-0) is
 * +0: the sign of a zero does not matter to GELU or the softcap).
 *
 * sin/cos and pow are only needed once per token or once per op (RoPE), so
 * they are computed in double and rounded once to float: sincos reduces the
 * argument with a four-part pi/2 (exact for |x| < 2^28), pow goes through a
 * double log and exp.  Both are correctly rounded but for rare cases within
 * ~1e-16 of a halfway point (glibc's powf misses some of those too).
 */
#ifndef KLLM_KK_MATH_H
#define KLLM_KK_MATH_H

#include "kk.h"
#include "kk_fp.h"

/* ---- expf: shared constants (used by the SIMD files too) ---- */
#define KK_EXP_LO (-110.0f)		/* below: exp underflows to 0 */
#define KK_EXP_HI (90.0f)		/* above: exp overflows to inf */
#define KK_EXP_LOG2E (1.44269504088896341f)
#define KK_EXP_MAGIC (12582912.0f)	/* 1.5 * 2^23: round to integer */
#define KK_EXP_C1 (0.693359375f)	/* ln2 high part: 9 bits, k*C1 exact */
#define KK_EXP_C2 (-2.12194440e-4f)	/* ln2 - C1 */
#define KK_EXP_P0 (1.9875691500e-4f)
#define KK_EXP_P1 (1.3981999507e-3f)
#define KK_EXP_P2 (8.3334519073e-3f)
#define KK_EXP_P3 (4.1665795894e-2f)
#define KK_EXP_P4 (1.6666665459e-1f)
#define KK_EXP_P5 (5.0000001201e-1f)

/* ---- tanhf: |x| < 0.625 odd polynomial, else 1 - 2 / (exp(2|x|) + 1) ---- */
#define KK_TANH_SMALL (0.625f)
#define KK_TANH_P0 (-5.70498872745e-3f)
#define KK_TANH_P1 (2.06390887954e-2f)
#define KK_TANH_P2 (-5.37397155531e-2f)
#define KK_TANH_P3 (1.33314422036e-1f)
#define KK_TANH_P4 (-3.33332819422e-1f)

/* GELU, tanh form, with ggml's constants. */
#define KK_GELU_COEF_A (0.044715f)
#define KK_SQRT_2_OVER_PI (0.79788456080286535587989211986876f)

static inline float kk_pow2i_f32(kk_i32 k)	/* 2^k for -126 <= k <= 127 */
{
	return kk_u32_as_f32((kk_u32)(k + 127) << 23);
}

/*
 * e^x.  The integer power is applied as two halves so that results near the
 * overflow and in the subnormal range come out right with a single rounding.
 */
static inline float kk_expf(float x)
{
	float xc, fk, r, z, p;
	kk_i32 k, k1;

	if (x != x)
		return x;
	xc = x < KK_EXP_LO ? KK_EXP_LO : x;
	xc = xc > KK_EXP_HI ? KK_EXP_HI : xc;
	fk = xc * KK_EXP_LOG2E;
	fk = fk + KK_EXP_MAGIC;
	fk = fk - KK_EXP_MAGIC;
	k = (kk_i32)fk;
	r = xc - fk * KK_EXP_C1;
	r = r - fk * KK_EXP_C2;
	z = r * r;
	p = KK_EXP_P0;
	p = p * r + KK_EXP_P1;
	p = p * r + KK_EXP_P2;
	p = p * r + KK_EXP_P3;
	p = p * r + KK_EXP_P4;
	p = p * r + KK_EXP_P5;
	p = p * z;
	p = p + r;
	p = p + 1.0f;
	k1 = k >> 1;
	return p * kk_pow2i_f32(k1) * kk_pow2i_f32(k - k1);
}

static inline float kk_tanhf(float x)
{
	float a = __builtin_fabsf(x), z, p, big;
	kk_u32 sign = kk_f32_as_u32(x) & 0x80000000u;

	if (a < KK_TANH_SMALL) {
		z = x * x;
		p = KK_TANH_P0;
		p = p * z + KK_TANH_P1;
		p = p * z + KK_TANH_P2;
		p = p * z + KK_TANH_P3;
		p = p * z + KK_TANH_P4;
		p = p * z;
		p = p * x;
		return p + x;
	}
	/* also right for NaN (exp propagates it) and for inf (2/inf = 0) */
	z = kk_expf(a + a);
	big = 1.0f - 2.0f / (z + 1.0f);
	return kk_u32_as_f32(kk_f32_as_u32(big) | sign);
}

/* x / (1 + e^-x), as ggml_silu_f32. */
static inline float kk_siluf(float x)
{
	return x / (1.0f + kk_expf(-x));
}

/* 0.5 x (1 + tanh(sqrt(2/pi) x (1 + a x^2))), in ggml's operation order. */
static inline float kk_geluf(float x)
{
	return 0.5f * x * (1.0f + kk_tanhf(KK_SQRT_2_OVER_PI * x *
					  (1.0f + KK_GELU_COEF_A * x * x)));
}

/* ---- double helpers: once-per-op or once-per-token code only ---- */

static inline double kk_u64_as_f64(kk_u64 u)
{
	double d;

	__builtin_memcpy(&d, &u, sizeof(d));
	return d;
}

static inline kk_u64 kk_f64_as_u64(double d)
{
	kk_u64 u;

	__builtin_memcpy(&u, &d, sizeof(u));
	return u;
}

#define KK_ROUND_MAGIC_F64 (6755399441055744.0) /* 1.5 * 2^52 */
#define KK_LN2_HI_F64 (6.93147180369123816490e-01)	/* fdlibm split */
#define KK_LN2_LO_F64 (1.90821492927058770002e-10)

/* e^x in double, |x| < 700; about 1 ulp of double. */
static inline double kk_exp_f64(double x)
{
	double kd, r, p;
	kk_i64 k;
	int i;

	if (x != x)
		return x;
	if (x > 700.0)
		x = 700.0;
	if (x < -700.0)
		return 0.0;
	kd = x * 1.44269504088896338700e+00;
	kd = (kd + KK_ROUND_MAGIC_F64) - KK_ROUND_MAGIC_F64;
	k = (kk_i64)kd;
	r = (x - kd * KK_LN2_HI_F64) - kd * KK_LN2_LO_F64;
	/* Taylor to degree 14: |r| <= 0.35, so the tail is < 1e-18 */
	p = 1.0;
	for (i = 14; i >= 1; i--)
		p = 1.0 + p * r / (double)i;
	return p * kk_u64_as_f64((kk_u64)(k + 1023) << 52);
}

/* Natural log of a positive finite normal double; about 1 ulp. */
static inline double kk_log_f64(double x)
{
	kk_u64 u = kk_f64_as_u64(x);
	kk_i64 e = (kk_i64)((u >> 52) & 0x7ff) - 1023;
	double m, f, s, s2, t, sum;
	int i;

	/* m in [sqrt(1/2), sqrt(2)) */
	m = kk_u64_as_f64((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
	if (m > 1.41421356237309504880) {
		m *= 0.5;
		e++;
	}
	f = m - 1.0;
	s = f / (2.0 + f);	/* log(m) = 2 atanh(s), |s| < 0.172 */
	s2 = s * s;
	sum = 0.0;
	for (i = 25; i >= 3; i -= 2)	/* 1/3 s^2 + 1/5 s^4 + ... */
		sum = (sum + 1.0 / (double)i) * s2;
	t = 2.0 * s + 2.0 * s * sum;
	return (double)e * KK_LN2_HI_F64 + ((double)e * KK_LN2_LO_F64 + t);
}

/*
 * x^y for x > 0 finite, rounded once to float (powf is correctly rounded in
 * glibc; this agrees except for halfway-close cases).  Other x give NaN.
 */
static inline float kk_powf(float x, float y)
{
	if (!(x > 0.0f) || x > 3.40282347e+38f || y != y)
		return kk_u32_as_f32(0x7fc00000u);
	if (x == 1.0f || y == 0.0f)
		return 1.0f;
	return (float)kk_exp_f64((double)y * kk_log_f64((double)x));
}

/* pi/2 as four doubles: the first three have 24 bits, so k * part is exact
 * for |k| < 2^29. */
#define KK_PIO2_1 (0x1.921fb4p+0)
#define KK_PIO2_2 (0x1.4442d0p-24)
#define KK_PIO2_3 (0x1.846988p-48)
#define KK_PIO2_4 (0x1.8cc51701b839ap-72)
#define KK_SINCOS_MAX (268435456.0f)	/* 2^28 */

/* Taylor series: on |r| <= pi/4 + a little, the first omitted terms are
 * below 1e-16 of the result. */
static inline double kk_sin_poly_f64(double r)
{
	double r2 = r * r, p;

	p = -7.647163731819816e-13;		/* -1/15! */
	p = p * r2 + 1.6059043836821613e-10;	/* 1/13! */
	p = p * r2 - 2.505210838544172e-08;
	p = p * r2 + 2.7557319223985893e-06;
	p = p * r2 - 0.0001984126984126984;
	p = p * r2 + 0.008333333333333333;
	p = p * r2 - 0.16666666666666666;	/* -1/3! */
	return r + r * r2 * p;
}

static inline double kk_cos_poly_f64(double r)
{
	double r2 = r * r, p;

	p = 4.779477332387385e-14;		/* 1/16! */
	p = p * r2 - 1.1470745597729725e-11;
	p = p * r2 + 2.08767569878681e-09;
	p = p * r2 - 2.755731922398589e-07;
	p = p * r2 + 2.48015873015873e-05;
	p = p * r2 - 0.001388888888888889;
	p = p * r2 + 0.041666666666666664;	/* 1/4! */
	p = p * r2 - 0.5;
	return 1.0 + r2 * p;
}

/*
 * sin and cos of a float.  Exact-ish reduction for |x| < 2^28 (RoPE angles
 * are position * frequency, far below); beyond that the angle is treated as
 * 0 (sin 0, cos 1) rather than guessed at, and NaN/inf give NaN.
 */
static inline void kk_sincosf(float xf, float *sinp, float *cosp)
{
	double x = (double)xf, kd, r, s, c;
	kk_u32 q;

	if (xf != xf || __builtin_fabsf(xf) > 3.40282347e+38f) {
		*sinp = *cosp = kk_u32_as_f32(0x7fc00000u);
		return;
	}
	if (!(__builtin_fabsf(xf) < KK_SINCOS_MAX)) {
		*sinp = 0.0f;
		*cosp = 1.0f;
		return;
	}
	kd = x * 6.36619772367581382433e-01;
	kd = (kd + KK_ROUND_MAGIC_F64) - KK_ROUND_MAGIC_F64;
	r = x - kd * KK_PIO2_1;
	r = r - kd * KK_PIO2_2;
	r = r - kd * KK_PIO2_3;
	r = r - kd * KK_PIO2_4;
	q = (kk_u32)(kk_i64)kd & 3;
	s = kk_sin_poly_f64(r);
	c = kk_cos_poly_f64(r);
	switch (q) {
	case 0:
		*sinp = (float)s;
		*cosp = (float)c;
		break;
	case 1:
		*sinp = (float)c;
		*cosp = (float)-s;
		break;
	case 2:
		*sinp = (float)-s;
		*cosp = (float)-c;
		break;
	default:
		*sinp = (float)-c;
		*cosp = (float)s;
		break;
	}
}

#endif /* KLLM_KK_MATH_H */
