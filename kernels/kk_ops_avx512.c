// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops_avx512.c - non-matmul row functions for AVX-512 F/BW/VL/DQ.
 *
 * Same rules as kk_ops_avx2.c: element-wise results are bitwise those of
 * the scalar reference (same IEEE operations per lane, no FMA); tails use
 * masked loads and stores instead of scalar loops.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"

#define V16(c) _mm512_set1_ps(c)

static inline __mmask16 tail_mask(kk_u32 left)	/* left < 16 */
{
	return (__mmask16)((1u << left) - 1);
}

static inline __m512 exp_v16(__m512 x)
{
	__m512 xc, fk, r, z, p;
	__m512i k, k1, k2;

	xc = _mm512_max_ps(x, V16(KK_EXP_LO));
	xc = _mm512_min_ps(xc, V16(KK_EXP_HI));
	fk = _mm512_mul_ps(xc, V16(KK_EXP_LOG2E));
	fk = _mm512_add_ps(fk, V16(KK_EXP_MAGIC));
	fk = _mm512_sub_ps(fk, V16(KK_EXP_MAGIC));
	k = _mm512_cvttps_epi32(fk);
	r = _mm512_sub_ps(xc, _mm512_mul_ps(fk, V16(KK_EXP_C1)));
	r = _mm512_sub_ps(r, _mm512_mul_ps(fk, V16(KK_EXP_C2)));
	z = _mm512_mul_ps(r, r);
	p = V16(KK_EXP_P0);
	p = _mm512_add_ps(_mm512_mul_ps(p, r), V16(KK_EXP_P1));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), V16(KK_EXP_P2));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), V16(KK_EXP_P3));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), V16(KK_EXP_P4));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), V16(KK_EXP_P5));
	p = _mm512_mul_ps(p, z);
	p = _mm512_add_ps(p, r);
	p = _mm512_add_ps(p, V16(1.0f));
	k1 = _mm512_srai_epi32(k, 1);
	k2 = _mm512_sub_epi32(k, k1);
	k1 = _mm512_slli_epi32(_mm512_add_epi32(k1, _mm512_set1_epi32(127)), 23);
	k2 = _mm512_slli_epi32(_mm512_add_epi32(k2, _mm512_set1_epi32(127)), 23);
	p = _mm512_mul_ps(p, _mm512_castsi512_ps(k1));
	p = _mm512_mul_ps(p, _mm512_castsi512_ps(k2));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), p, x);
}

static inline __m512 tanh_v16(__m512 x)
{
	const __m512 sign = V16(-0.0f);
	__m512 a = _mm512_andnot_ps(sign, x);
	__m512 z = _mm512_mul_ps(x, x), p, e, big;

	p = V16(KK_TANH_P0);
	p = _mm512_add_ps(_mm512_mul_ps(p, z), V16(KK_TANH_P1));
	p = _mm512_add_ps(_mm512_mul_ps(p, z), V16(KK_TANH_P2));
	p = _mm512_add_ps(_mm512_mul_ps(p, z), V16(KK_TANH_P3));
	p = _mm512_add_ps(_mm512_mul_ps(p, z), V16(KK_TANH_P4));
	p = _mm512_mul_ps(p, z);
	p = _mm512_mul_ps(p, x);
	p = _mm512_add_ps(p, x);
	e = exp_v16(_mm512_add_ps(a, a));
	big = _mm512_sub_ps(V16(1.0f),
			    _mm512_div_ps(V16(2.0f), _mm512_add_ps(e, V16(1.0f))));
	big = _mm512_or_ps(big, _mm512_and_ps(x, sign));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, V16(KK_TANH_SMALL),
						       _CMP_LT_OQ), big, p);
}

static inline __m512 silu_v16(__m512 x)
{
	__m512 e = exp_v16(_mm512_xor_ps(x, V16(-0.0f)));

	return _mm512_div_ps(x, _mm512_add_ps(V16(1.0f), e));
}

static inline __m512 gelu_v16(__m512 x)
{
	__m512 t = _mm512_mul_ps(_mm512_mul_ps(V16(KK_GELU_COEF_A), x), x);

	t = _mm512_add_ps(V16(1.0f), t);
	t = _mm512_mul_ps(_mm512_mul_ps(V16(KK_SQRT_2_OVER_PI), x), t);
	t = _mm512_add_ps(V16(1.0f), tanh_v16(t));
	return _mm512_mul_ps(_mm512_mul_ps(V16(0.5f), x), t);
}

static inline __m512d sq_lo_pd(__m512 sq)
{
	return _mm512_cvtps_pd(_mm512_castps512_ps256(sq));
}

static inline __m512d sq_hi_pd(__m512 sq)
{
	return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(
		_mm512_castps_pd(sq), 1)));
}

static void rmsnorm_avx512(float *y, const float *x, const float *w, kk_u32 n,
			   float eps)
{
	__m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
	__m512 vs, v, sq;
	float mean, scale;
	double sum;
	kk_u32 i;

	for (i = 0; i + 16 <= n; i += 16) {
		v = _mm512_loadu_ps(x + i);
		sq = _mm512_mul_ps(v, v);
		acc0 = _mm512_add_pd(acc0, sq_lo_pd(sq));
		acc1 = _mm512_add_pd(acc1, sq_hi_pd(sq));
	}
	if (i < n) {
		v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
		sq = _mm512_mul_ps(v, v);
		acc0 = _mm512_add_pd(acc0, sq_lo_pd(sq));
		acc1 = _mm512_add_pd(acc1, sq_hi_pd(sq));
	}
	sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
	mean = (float)(sum / (double)n);
	scale = 1.0f / __builtin_sqrtf(mean + eps);
	vs = V16(scale);
	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);

		v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
		if (w)
			v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
		_mm512_mask_storeu_ps(y + i, m, v);
	}
}

static void rope_avx512(float *y, const float *x, const float *cos_t,
			const float *sin_t, kk_u32 n_pairs, kk_u32 neox_half)
{
	kk_u32 p = 0;

	if (neox_half) {
		for (; p < n_pairs; p += 16) {
			__mmask16 m = n_pairs - p >= 16 ? (__mmask16)0xffff :
				      tail_mask(n_pairs - p);
			__m512 x0 = _mm512_maskz_loadu_ps(m, x + p);
			__m512 x1 = _mm512_maskz_loadu_ps(m, x + p + neox_half);
			__m512 c = _mm512_maskz_loadu_ps(m, cos_t + p);
			__m512 s = _mm512_maskz_loadu_ps(m, sin_t + p);

			_mm512_mask_storeu_ps(y + p, m,
					      _mm512_sub_ps(_mm512_mul_ps(x0, c),
							    _mm512_mul_ps(x1, s)));
			_mm512_mask_storeu_ps(y + p + neox_half, m,
					      _mm512_add_ps(_mm512_mul_ps(x0, s),
							    _mm512_mul_ps(x1, c)));
		}
		return;
	}
	/*
	 * Interleaved pairs, 8 per vector: lanes (x0 c + x1 (-s), x1 c + x0 s).
	 * Negating s is exact, so the even lanes equal x0 c - x1 s.
	 */
	for (; p < n_pairs; p += 8) {
		const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3,
						      4, 4, 5, 5, 6, 6, 7, 7);
		const __m512 neg_even = _mm512_castsi512_ps(_mm512_setr_epi32(
			(int)0x80000000, 0, (int)0x80000000, 0, (int)0x80000000, 0,
			(int)0x80000000, 0, (int)0x80000000, 0, (int)0x80000000, 0,
			(int)0x80000000, 0, (int)0x80000000, 0));
		kk_u32 left = n_pairs - p >= 8 ? 8 : n_pairs - p;
		__mmask8 m8 = (__mmask8)((1u << left) - 1);
		__mmask16 m = (__mmask16)((1u << (2 * left)) - 1);
		__m512 xv = _mm512_maskz_loadu_ps(m, x + 2 * p);
		__m512 c = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(
			_mm256_maskz_loadu_ps(m8, cos_t + p)));
		__m512 s = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(
			_mm256_maskz_loadu_ps(m8, sin_t + p)));
		__m512 xs = _mm512_permute_ps(xv, 0xb1);

		s = _mm512_xor_ps(s, neg_even);
		_mm512_mask_storeu_ps(y + 2 * p, m,
				      _mm512_add_ps(_mm512_mul_ps(xv, c),
						    _mm512_mul_ps(xs, s)));
	}
}

static void softmax_avx512(float *y, const float *x, kk_u32 n, float scale)
{
	__m512 vmax = V16(-__builtin_inff()), vs = V16(scale), vinv;
	__m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
	float max, inv;
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);

		vmax = _mm512_mask_max_ps(vmax, m, v, vmax);
	}
	max = _mm512_reduce_max_ps(vmax);
	vmax = V16(max);
	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__m512 e = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);

		e = _mm512_maskz_mov_ps(m, exp_v16(_mm512_sub_ps(e, vmax)));
		_mm512_mask_storeu_ps(y + i, m, e);
		acc0 = _mm512_add_pd(acc0, sq_lo_pd(e));
		acc1 = _mm512_add_pd(acc1, sq_hi_pd(e));
	}
	inv = (float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1)));
	vinv = V16(inv);
	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);

		_mm512_mask_storeu_ps(y + i, m,
				      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), vinv));
	}
}

static void unary_avx512(float *y, const float *x, kk_u32 n, kk_u32 fn)
{
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__m512 v = _mm512_maskz_loadu_ps(m, x + i);

		v = fn == KK_UNARY_GELU ? gelu_v16(v) : silu_v16(v);
		_mm512_mask_storeu_ps(y + i, m, v);
	}
}

static void glu_avx512(float *y, const float *gate, const float *up, kk_u32 n,
		       kk_u32 fn)
{
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__m512 g = _mm512_maskz_loadu_ps(m, gate + i);

		g = fn == KK_UNARY_GELU ? gelu_v16(g) : silu_v16(g);
		_mm512_mask_storeu_ps(y + i, m,
				      _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, up + i)));
	}
}

static void binary_avx512(float *y, const float *a, const float *b, kk_u32 n,
			  kk_u32 fn)
{
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__m512 va = _mm512_maskz_loadu_ps(m, a + i);
		__m512 vb = _mm512_maskz_loadu_ps(m, b + i);

		_mm512_mask_storeu_ps(y + i, m, fn == KK_BINARY_MUL ?
				      _mm512_mul_ps(va, vb) : _mm512_add_ps(va, vb));
	}
}

static void scale_avx512(float *y, const float *x, kk_u32 n, float s)
{
	__m512 vs = V16(s);
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);

		_mm512_mask_storeu_ps(y + i, m,
				      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
	}
}

static void f32_to_f16_avx512(kk_u16 *y, const float *x, kk_u32 n)
{
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i),
					    _MM_FROUND_TO_NEAREST_INT);

		_mm256_mask_storeu_epi16(y + i, m, h);
	}
}

/*
 * Attention keeps the AVX2 span function (kk_ops_avx2.c): the former
 * 16-wide attention was measured no faster than the 8-wide one, and a
 * 16-wide span function (16 scores per exp) is not written yet.
 */

static kk_u32 argmax_avx512(const float *x, kk_u32 n)
{
	__m512 vmax = V16(-__builtin_inff()), vm;
	float max;
	kk_u32 i;

	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);

		/* maxps keeps the 2nd operand when the 1st is NaN */
		vmax = _mm512_mask_max_ps(vmax, m, _mm512_maskz_loadu_ps(m, x + i),
					  vmax);
	}
	max = _mm512_reduce_max_ps(vmax);
	if (!(max > -__builtin_inff()))
		return 0;
	vm = V16(max);
	for (i = 0; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
		__mmask16 eq = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + i),
						       vm, _CMP_EQ_OQ);

		if (eq)
			return i + (kk_u32)__builtin_ctz((unsigned int)eq);
	}
	return 0;
}

void kk_ops_init_avx512(struct kk_ops_impl *ops, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	ops->rmsnorm = rmsnorm_avx512;
	ops->rope = rope_avx512;
	ops->softmax = softmax_avx512;
	ops->unary = unary_avx512;
	ops->glu = glu_avx512;
	ops->binary = binary_avx512;
	ops->scale = scale_avx512;
	ops->f32_to_f16 = f32_to_f16_avx512;
	ops->argmax = argmax_avx512;
}
#endif /* __x86_64__ */
