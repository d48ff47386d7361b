// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops_avx2.c - non-matmul row functions for AVX2 + FMA + F16C.
 *
 * Element-wise functions repeat the scalar reference's IEEE operations lane
 * by lane (separate multiplies and adds, the kk_math.h constants), so their
 * results are bitwise those of kk_ops_scalar.c; tails fall back to the
 * scalar formulas.  Reductions (RMSNorm sum of squares, softmax sum,
 * attention dot products) only differ in summation order.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_attn.h"
#include "kk_quant.h"

#define V8(c) _mm256_set1_ps(c)

static inline __m256 exp_v8(__m256 x)
{
	__m256 xc, fk, r, z, p;
	__m256i k, k1, k2;

	xc = _mm256_max_ps(x, V8(KK_EXP_LO));
	xc = _mm256_min_ps(xc, V8(KK_EXP_HI));
	fk = _mm256_mul_ps(xc, V8(KK_EXP_LOG2E));
	fk = _mm256_add_ps(fk, V8(KK_EXP_MAGIC));
	fk = _mm256_sub_ps(fk, V8(KK_EXP_MAGIC));
	k = _mm256_cvttps_epi32(fk);
	r = _mm256_sub_ps(xc, _mm256_mul_ps(fk, V8(KK_EXP_C1)));
	r = _mm256_sub_ps(r, _mm256_mul_ps(fk, V8(KK_EXP_C2)));
	z = _mm256_mul_ps(r, r);
	p = V8(KK_EXP_P0);
	p = _mm256_add_ps(_mm256_mul_ps(p, r), V8(KK_EXP_P1));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), V8(KK_EXP_P2));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), V8(KK_EXP_P3));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), V8(KK_EXP_P4));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), V8(KK_EXP_P5));
	p = _mm256_mul_ps(p, z);
	p = _mm256_add_ps(p, r);
	p = _mm256_add_ps(p, V8(1.0f));
	k1 = _mm256_srai_epi32(k, 1);
	k2 = _mm256_sub_epi32(k, k1);
	k1 = _mm256_slli_epi32(_mm256_add_epi32(k1, _mm256_set1_epi32(127)), 23);
	k2 = _mm256_slli_epi32(_mm256_add_epi32(k2, _mm256_set1_epi32(127)), 23);
	p = _mm256_mul_ps(p, _mm256_castsi256_ps(k1));
	p = _mm256_mul_ps(p, _mm256_castsi256_ps(k2));
	/* NaN in, the same NaN out */
	return _mm256_blendv_ps(p, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static inline __m256 tanh_v8(__m256 x)
{
	const __m256 sign = V8(-0.0f);
	__m256 a = _mm256_andnot_ps(sign, x);
	__m256 z = _mm256_mul_ps(x, x), p, e, big;

	p = V8(KK_TANH_P0);
	p = _mm256_add_ps(_mm256_mul_ps(p, z), V8(KK_TANH_P1));
	p = _mm256_add_ps(_mm256_mul_ps(p, z), V8(KK_TANH_P2));
	p = _mm256_add_ps(_mm256_mul_ps(p, z), V8(KK_TANH_P3));
	p = _mm256_add_ps(_mm256_mul_ps(p, z), V8(KK_TANH_P4));
	p = _mm256_mul_ps(p, z);
	p = _mm256_mul_ps(p, x);
	p = _mm256_add_ps(p, x);
	e = exp_v8(_mm256_add_ps(a, a));
	big = _mm256_sub_ps(V8(1.0f),
			    _mm256_div_ps(V8(2.0f), _mm256_add_ps(e, V8(1.0f))));
	big = _mm256_or_ps(big, _mm256_and_ps(x, sign));
	return _mm256_blendv_ps(big, p,
				_mm256_cmp_ps(a, V8(KK_TANH_SMALL), _CMP_LT_OQ));
}

static inline __m256 silu_v8(__m256 x)
{
	__m256 e = exp_v8(_mm256_xor_ps(x, V8(-0.0f)));

	return _mm256_div_ps(x, _mm256_add_ps(V8(1.0f), e));
}

static inline __m256 gelu_v8(__m256 x)
{
	__m256 t = _mm256_mul_ps(_mm256_mul_ps(V8(KK_GELU_COEF_A), x), x);

	t = _mm256_add_ps(V8(1.0f), t);
	t = _mm256_mul_ps(_mm256_mul_ps(V8(KK_SQRT_2_OVER_PI), x), t);
	t = _mm256_add_ps(V8(1.0f), tanh_v8(t));
	return _mm256_mul_ps(_mm256_mul_ps(V8(0.5f), x), t);
}

static inline float hsum_v8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
			      _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static inline double hsum_v4d(__m256d v)
{
	__m128d s = _mm_add_pd(_mm256_castpd256_pd128(v),
			       _mm256_extractf128_pd(v, 1));

	s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
	return _mm_cvtsd_f64(s);
}

static inline float hmax_v8(__m256 v)
{
	__m128 s = _mm_max_ps(_mm256_castps256_ps128(v),
			      _mm256_extractf128_ps(v, 1));

	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static void rmsnorm_avx2(float *y, const float *x, const float *w, kk_u32 n,
			 float eps)
{
	__m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
	double sum;
	float mean, scale;
	__m256 vs;
	kk_u32 i;

	for (i = 0; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		__m256 sq = _mm256_mul_ps(v, v);

		acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
		acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
	}
	sum = hsum_v4d(_mm256_add_pd(acc0, acc1));
	for (; i < n; i++)
		sum += (double)(x[i] * x[i]);
	mean = (float)(sum / (double)n);
	scale = 1.0f / __builtin_sqrtf(mean + eps);
	vs = V8(scale);
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);

		if (w)
			v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
		_mm256_storeu_ps(y + i, v);
	}
	for (; i < n; i++)
		y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
}

static void rope_avx2(float *y, const float *x, const float *cos_t,
		      const float *sin_t, kk_u32 n_pairs, kk_u32 neox_half)
{
	kk_u32 p = 0;

	if (neox_half) {
		for (; p + 8 <= n_pairs; p += 8) {
			__m256 x0 = _mm256_loadu_ps(x + p);
			__m256 x1 = _mm256_loadu_ps(x + p + neox_half);
			__m256 c = _mm256_loadu_ps(cos_t + p);
			__m256 s = _mm256_loadu_ps(sin_t + p);

			_mm256_storeu_ps(y + p, _mm256_sub_ps(_mm256_mul_ps(x0, c),
							      _mm256_mul_ps(x1, s)));
			_mm256_storeu_ps(y + p + neox_half,
					 _mm256_add_ps(_mm256_mul_ps(x0, s),
						       _mm256_mul_ps(x1, c)));
		}
		for (; p < n_pairs; p++) {
			const float x0 = x[p], x1 = x[p + neox_half];

			y[p] = x0 * cos_t[p] - x1 * sin_t[p];
			y[p + neox_half] = x0 * sin_t[p] + x1 * cos_t[p];
		}
		return;
	}
	/* interleaved pairs: lanes (x0 c - x1 s, x1 c + x0 s) via addsub */
	for (; p + 4 <= n_pairs; p += 4) {
		const __m256i dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
		__m256 xv = _mm256_loadu_ps(x + 2 * p);
		__m256 c = _mm256_permutevar8x32_ps(
			_mm256_castps128_ps256(_mm_loadu_ps(cos_t + p)), dup);
		__m256 s = _mm256_permutevar8x32_ps(
			_mm256_castps128_ps256(_mm_loadu_ps(sin_t + p)), dup);
		__m256 xs = _mm256_permute_ps(xv, 0xb1);

		_mm256_storeu_ps(y + 2 * p,
				 _mm256_addsub_ps(_mm256_mul_ps(xv, c),
						  _mm256_mul_ps(xs, s)));
	}
	for (; p < n_pairs; p++) {
		const float x0 = x[2 * p], x1 = x[2 * p + 1];

		y[2 * p] = x0 * cos_t[p] - x1 * sin_t[p];
		y[2 * p + 1] = x0 * sin_t[p] + x1 * cos_t[p];
	}
}

static void softmax_avx2(float *y, const float *x, kk_u32 n, float scale)
{
	__m256 vmax = V8(-__builtin_inff()), vs = V8(scale), vinv;
	__m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
	float max, inv;
	double sum;
	kk_u32 i;

	for (i = 0; i + 8 <= n; i += 8)
		vmax = _mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), vmax);
	max = hmax_v8(vmax);
	for (; i < n; i++) {
		float v = x[i] * scale;

		max = v > max ? v : max;
	}
	vmax = V8(max);
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 e = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), vmax);

		e = exp_v8(e);
		_mm256_storeu_ps(y + i, e);
		acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
		acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
	}
	sum = hsum_v4d(_mm256_add_pd(acc0, acc1));
	for (; i < n; i++) {
		float e = kk_expf(x[i] * scale - max);

		y[i] = e;
		sum += (double)e;
	}
	inv = (float)(1.0 / sum);
	vinv = V8(inv);
	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vinv));
	for (; i < n; i++)
		y[i] *= inv;
}

static void unary_avx2(float *y, const float *x, kk_u32 n, kk_u32 fn)
{
	kk_u32 i = 0;

	if (fn == KK_UNARY_GELU) {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(y + i, gelu_v8(_mm256_loadu_ps(x + i)));
		for (; i < n; i++)
			y[i] = kk_geluf(x[i]);
	} else {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(y + i, silu_v8(_mm256_loadu_ps(x + i)));
		for (; i < n; i++)
			y[i] = kk_siluf(x[i]);
	}
}

static void glu_avx2(float *y, const float *gate, const float *up, kk_u32 n,
		     kk_u32 fn)
{
	kk_u32 i = 0;

	if (fn == KK_UNARY_GELU) {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(y + i, _mm256_mul_ps(gelu_v8(_mm256_loadu_ps(gate + i)),
							      _mm256_loadu_ps(up + i)));
		for (; i < n; i++)
			y[i] = kk_geluf(gate[i]) * up[i];
	} else {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(y + i, _mm256_mul_ps(silu_v8(_mm256_loadu_ps(gate + i)),
							      _mm256_loadu_ps(up + i)));
		for (; i < n; i++)
			y[i] = kk_siluf(gate[i]) * up[i];
	}
}

static void binary_avx2(float *y, const float *a, const float *b, kk_u32 n,
			kk_u32 fn)
{
	kk_u32 i = 0;

	if (fn == KK_BINARY_MUL) {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i),
							      _mm256_loadu_ps(b + i)));
		for (; i < n; i++)
			y[i] = a[i] * b[i];
	} else {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i),
							      _mm256_loadu_ps(b + i)));
		for (; i < n; i++)
			y[i] = a[i] + b[i];
	}
}

static void scale_avx2(float *y, const float *x, kk_u32 n, float s)
{
	__m256 vs = V8(s);
	kk_u32 i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
	for (; i < n; i++)
		y[i] = x[i] * s;
}

static void f32_to_f16_avx2(kk_u16 *y, const float *x, kk_u32 n)
{
	kk_u32 i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(y + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(x + i),
						 _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		y[i] = kk_f32_to_f16(x[i]);
}

static inline __m256 load_f16x8(const kk_u16 *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* ---- attention span (struct kk_attn_span) ---- */

#define AB 8	/* positions per block: one vector of scores */

/* x rounded to f16 and back */
static inline __m256 round_f16_v8(__m256 x)
{
	return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

/* lane i = sum of v[i]'s lanes */
static inline __m256 reduce8_v8(const __m256 *v)
{
	__m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
	__m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
	__m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);

	return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
			     _mm256_permute2f128_ps(u0, u1, 0x31));
}

/*
 * Scores of one head for a block of nb <= 8 positions (K rows k[0 .. nb)),
 * lane jj for position jj; q is rounded to f16 once per block, 32
 * dimensions at a time.
 */
static __m256 attn_scores_avx2(const struct kk_attn_span *sp, const float *q,
			       const kk_u16 *const *k, kk_u32 nb)
{
	const kk_u32 hd = sp->head_dim;
	__m256 dot[AB], q0, q1, q2, q3, a, b;
	kk_u32 c = 0, jj;

	for (jj = 0; jj < AB; jj++)
		dot[jj] = _mm256_setzero_ps();
	for (; c + 32 <= hd; c += 32) {
		q0 = round_f16_v8(_mm256_loadu_ps(q + c));
		q1 = round_f16_v8(_mm256_loadu_ps(q + c + 8));
		q2 = round_f16_v8(_mm256_loadu_ps(q + c + 16));
		q3 = round_f16_v8(_mm256_loadu_ps(q + c + 24));
		for (jj = 0; jj < nb; jj++) {
			const kk_u16 *kj = k[jj] + c;

			a = _mm256_fmadd_ps(q0, load_f16x8(kj), dot[jj]);
			b = _mm256_mul_ps(q1, load_f16x8(kj + 8));
			a = _mm256_fmadd_ps(q2, load_f16x8(kj + 16), a);
			b = _mm256_fmadd_ps(q3, load_f16x8(kj + 24), b);
			dot[jj] = _mm256_add_ps(a, b);
		}
	}
	for (; c + 8 <= hd; c += 8) {
		q0 = round_f16_v8(_mm256_loadu_ps(q + c));
		for (jj = 0; jj < nb; jj++)
			dot[jj] = _mm256_fmadd_ps(q0, load_f16x8(k[jj] + c), dot[jj]);
	}
	if (c < hd) {		/* the last hd % 8 dimensions, zero padded */
		float qt[8] = { 0 };
		kk_u16 kt[8] = { 0 };

		__builtin_memcpy(qt, q + c, (hd - c) * sizeof(float));
		q0 = round_f16_v8(_mm256_loadu_ps(qt));
		for (jj = 0; jj < nb; jj++) {
			__builtin_memcpy(kt, k[jj] + c, (hd - c) * sizeof(kk_u16));
			dot[jj] = _mm256_fmadd_ps(q0, load_f16x8(kt), dot[jj]);
		}
	}
	return _mm256_mul_ps(reduce8_v8(dot), V8(sp->scale));
}

/*
 * Softcap, then the softmax update of one head for a block (lanes >= nb
 * are not positions): p gets e^(s - m'), returns e^(m - m').
 */
static float attn_update_avx2(__m256 s, kk_u32 nb, float softcap, float *ml,
			      float *p)
{
	const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
	float m = ml[0], bm, alpha = 1.0f;
	__m256 e;

	if (softcap != 0.0f)
		s = _mm256_mul_ps(V8(softcap), tanh_v8(s));
	s = _mm256_blendv_ps(V8(-__builtin_inff()), s,
			     _mm256_cmp_ps(lane, V8((float)nb), _CMP_LT_OQ));
	bm = hmax_v8(s);
	if (bm == -__builtin_inff()) {	/* only -inf scores so far */
		_mm256_storeu_ps(p, _mm256_setzero_ps());
		return 1.0f;
	}
	if (bm > m) {
		alpha = kk_expf(m - bm);
		m = bm;
	}
	e = exp_v8(_mm256_sub_ps(s, V8(m)));
	_mm256_storeu_ps(p, e);
	ml[0] = m;
	ml[1] = ml[1] * alpha + hsum_v8(e);
	return alpha;
}

/*
 * acc_h = acc_h * alpha_h + sum_jj p[h][jj] v_jj for NQ heads (a
 * constant once inlined: the accumulators stay in registers); each V
 * element is converted once for all heads.
 */
static inline __attribute__((always_inline)) void
attn_values_avx2_n(const struct kk_attn_span *sp, const kk_u16 *const *v,
		   kk_u32 nb, const float p[KK_ATTN_MAX_GROUP][AB],
		   const float *alpha, int first, const kk_u32 NQ)
{
	const kk_u32 hd = sp->head_dim;
	__m256 a[KK_ATTN_MAX_GROUP], vv;
	kk_u32 c, jj, h;
	float x;

	for (c = 0; c + 8 <= hd; c += 8) {
		for (h = 0; h < NQ; h++)
			a[h] = first ? _mm256_setzero_ps() :
			       _mm256_mul_ps(_mm256_loadu_ps(sp->acc + h * sp->acc_stride + c),
					     _mm256_broadcast_ss(&alpha[h]));
		for (jj = 0; jj < nb; jj++) {
			vv = load_f16x8(v[jj] + c);
			for (h = 0; h < NQ; h++)
				a[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(&p[h][jj]), vv, a[h]);
		}
		for (h = 0; h < NQ; h++)
			_mm256_storeu_ps(sp->acc + h * sp->acc_stride + c, a[h]);
	}
	for (; c < hd; c++) {
		for (h = 0; h < NQ; h++) {
			float *acc = sp->acc + h * sp->acc_stride + c;

			x = first ? 0.0f : *acc * alpha[h];
			for (jj = 0; jj < nb; jj++)
				x += p[h][jj] * kk_f16_to_f32(v[jj][c]);
			*acc = x;
		}
	}
}

static void attn_values_avx2(const struct kk_attn_span *sp,
			     const kk_u16 *const *v, kk_u32 nb,
			     const float p[KK_ATTN_MAX_GROUP][AB],
			     const float *alpha, int first)
{
	switch (sp->n_q) {
	case 1: attn_values_avx2_n(sp, v, nb, p, alpha, first, 1); break;
	case 2: attn_values_avx2_n(sp, v, nb, p, alpha, first, 2); break;
	case 3: attn_values_avx2_n(sp, v, nb, p, alpha, first, 3); break;
	case 4: attn_values_avx2_n(sp, v, nb, p, alpha, first, 4); break;
	case 5: attn_values_avx2_n(sp, v, nb, p, alpha, first, 5); break;
	case 6: attn_values_avx2_n(sp, v, nb, p, alpha, first, 6); break;
	case 7: attn_values_avx2_n(sp, v, nb, p, alpha, first, 7); break;
	default: attn_values_avx2_n(sp, v, nb, p, alpha, first, 8); break;
	}
}

static void attn_f16_avx2(const struct kk_attn_span *sp)
{
	float p[KK_ATTN_MAX_GROUP][AB] __attribute__((aligned(32)));
	float alpha[KK_ATTN_MAX_GROUP];
	const kk_u16 *k[AB], *v[AB];
	kk_u32 j, nb, h;
	__m256 s;

	kk_attn_ml_init(sp->ml, sp->n_q);
	if (!sp->n_pos)
		for (h = 0; h < sp->n_q; h++)
			__builtin_memset(sp->acc + h * sp->acc_stride, 0,
					 sp->head_dim * sizeof(float));
	for (j = 0; j < sp->n_pos; j += nb) {
		nb = sp->n_pos - j < AB ? sp->n_pos - j : AB;
		kk_attn_f16_rows(sp, j, nb, k, v);
		for (h = 0; h < sp->n_q; h++) {
			s = attn_scores_avx2(sp, sp->q + h * sp->q_stride, k, nb);
			alpha[h] = attn_update_avx2(s, nb, sp->softcap,
						    sp->ml + 2 * h, p[h]);
		}
		attn_values_avx2(sp, v, nb, p, alpha, j == 0);
	}
}

/* ---- Q8_0 cache ---- */

/* The 8 int32 lanes of sum x_i y_i over 32 int8 pairs (ggml's way). */
static inline __m256i dot_i8x32(__m256i x, __m256i y)
{
	const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x),
					       _mm256_sign_epi8(y, x));

	return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/*
 * Scores of one head for a block of nb <= 8 positions (Q8_0 K rows
 * k[0 .. nb)) against q quantized to Q8_0 (qq): per 32-dimension block
 * the integer dot product, times both scales, summed over the head in 8
 * float lanes.
 */
/* An f16 block scale as a float (F16C: one instruction, exact). */
static inline float q8_0_scale(const struct kk_block_q8_0 *b)
{
	return _cvtsh_ss(b->d);
}

static __m256 attn_scores_q8_0_avx2(const struct kk_attn_span *sp,
				    const struct kk_block_q8_0 *qq,
				    const kk_u8 *const *k, kk_u32 nb)
{
	const kk_u32 nblk = sp->head_dim / QK8_0;
	__m256 dot[AB];
	kk_u32 b, jj;

	for (jj = 0; jj < AB; jj++)
		dot[jj] = _mm256_setzero_ps();
	for (b = 0; b < nblk; b++) {
		const __m256i q = _mm256_loadu_si256((const __m256i *)qq[b].qs);
		const float dq = q8_0_scale(&qq[b]);

		for (jj = 0; jj < nb; jj++) {
			const struct kk_block_q8_0 *kb =
				(const struct kk_block_q8_0 *)k[jj] + b;
			const __m256i kv = _mm256_loadu_si256((const __m256i *)kb->qs);

			dot[jj] = _mm256_fmadd_ps(V8(dq * q8_0_scale(kb)),
						  _mm256_cvtepi32_ps(dot_i8x32(q, kv)),
						  dot[jj]);
		}
	}
	return _mm256_mul_ps(reduce8_v8(dot), V8(sp->scale));
}

/* 8 int8 as floats */
static inline __m256 load_i8x8(const kk_i8 *p)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
		_mm_loadl_epi64((const __m128i *)p)));
}

/* acc_h = acc_h * alpha_h + sum_jj p[h][jj] v_jj, V rows of Q8_0 blocks. */
static inline __attribute__((always_inline)) void
attn_values_q8_0_avx2_n(const struct kk_attn_span *sp, const kk_u8 *const *v,
			kk_u32 nb, const float p[KK_ATTN_MAX_GROUP][AB],
			const float *alpha, int first, const kk_u32 NQ)
{
	const kk_u32 hd = sp->head_dim;
	__m256 a[KK_ATTN_MAX_GROUP], vv;
	kk_u32 c, jj, h;

	for (c = 0; c < hd; c += 8) {
		for (h = 0; h < NQ; h++)
			a[h] = first ? _mm256_setzero_ps() :
			       _mm256_mul_ps(_mm256_loadu_ps(sp->acc + h * sp->acc_stride + c),
					     _mm256_broadcast_ss(&alpha[h]));
		for (jj = 0; jj < nb; jj++) {
			const struct kk_block_q8_0 *vb =
				(const struct kk_block_q8_0 *)v[jj] + c / QK8_0;

			vv = _mm256_mul_ps(load_i8x8(vb->qs + c % QK8_0),
					   V8(q8_0_scale(vb)));
			for (h = 0; h < NQ; h++)
				a[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(&p[h][jj]), vv, a[h]);
		}
		for (h = 0; h < NQ; h++)
			_mm256_storeu_ps(sp->acc + h * sp->acc_stride + c, a[h]);
	}
}

static void attn_values_q8_0_avx2(const struct kk_attn_span *sp,
				  const kk_u8 *const *v, kk_u32 nb,
				  const float p[KK_ATTN_MAX_GROUP][AB],
				  const float *alpha, int first)
{
	switch (sp->n_q) {
	case 1: attn_values_q8_0_avx2_n(sp, v, nb, p, alpha, first, 1); break;
	case 2: attn_values_q8_0_avx2_n(sp, v, nb, p, alpha, first, 2); break;
	case 3: attn_values_q8_0_avx2_n(sp, v, nb, p, alpha, first, 3); break;
	case 4: attn_values_q8_0_avx2_n(sp, v, nb, p, alpha, first, 4); break;
	default: attn_values_q8_0_avx2_n(sp, v, nb, p, alpha, first, 8); break;
	}
}

/* Dimensions of q that one call of attn_q8_0_heads quantizes (stack). */
#define Q8_QDIMS 1024

/*
 * Heads of one span over a Q8_0 cache, n_q * head_dim <= Q8_QDIMS: q of
 * each head quantized to Q8_0 once (as ggml's vec_dot_q8_0_q8_0 meets
 * it), then blocks of 8 positions as the F16 span does.
 */
static void attn_q8_0_heads(const struct kk_attn_span *sp)
{
	struct kk_block_q8_0 qq[Q8_QDIMS / QK8_0];
	float p[KK_ATTN_MAX_GROUP][AB] __attribute__((aligned(32)));
	const kk_u32 nblk = sp->head_dim / QK8_0;
	const kk_u64 rb = sp->kv_stride / QK8_0 * sizeof(struct kk_block_q8_0);
	float alpha[KK_ATTN_MAX_GROUP];
	const kk_u8 *k[AB], *v[AB];
	kk_u32 j, nb, h;
	__m256 s;

	kk_attn_ml_init(sp->ml, sp->n_q);
	for (h = 0; h < sp->n_q; h++) {
		kk_ref_quantize_row(KK_TYPE_Q8_0, sp->q + h * sp->q_stride,
				    qq + h * (sp->head_dim / QK8_0), sp->head_dim);
		if (!sp->n_pos)
			__builtin_memset(sp->acc + h * sp->acc_stride, 0,
					 sp->head_dim * sizeof(float));
	}
	for (j = 0; j < sp->n_pos; j += nb) {
		nb = sp->n_pos - j < AB ? sp->n_pos - j : AB;
		kk_attn_rows(sp, j, nb, rb, k, v);
		for (h = 0; h < sp->n_q; h++) {
			s = attn_scores_q8_0_avx2(sp, qq + h * nblk, k, nb);
			alpha[h] = attn_update_avx2(s, nb, sp->softcap,
						    sp->ml + 2 * h, p[h]);
		}
		attn_values_q8_0_avx2(sp, v, nb, p, alpha, j == 0);
	}
}

/* A span over a Q8_0 cache, in groups of heads whose q fits the stack. */
static void attn_q8_0_avx2(const struct kk_attn_span *sp)
{
	const kk_u32 per = Q8_QDIMS / sp->head_dim;
	struct kk_attn_span sub = *sp;
	kk_u32 h;

	for (h = 0; h < sp->n_q; h += per) {
		sub.n_q = sp->n_q - h < per ? sp->n_q - h : per;
		sub.q = sp->q + h * sp->q_stride;
		sub.acc = sp->acc + h * sp->acc_stride;
		sub.ml = sp->ml + 2 * h;
		attn_q8_0_heads(&sub);
	}
}

#undef AB

static kk_u32 argmax_avx2(const float *x, kk_u32 n)
{
	__m256 vmax = V8(-__builtin_inff()), vm;
	float max;
	kk_u32 i;

	for (i = 0; i + 8 <= n; i += 8)	/* maxps keeps the 2nd operand on NaN */
		vmax = _mm256_max_ps(_mm256_loadu_ps(x + i), vmax);
	max = hmax_v8(vmax);
	for (; i < n; i++)
		max = x[i] > max ? x[i] : max;
	if (!(max > -__builtin_inff()))
		return 0;
	vm = V8(max);
	for (i = 0; i + 8 <= n; i += 8) {
		int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i),
							    vm, _CMP_EQ_OQ));

		if (bits)
			return i + (kk_u32)__builtin_ctz((unsigned int)bits);
	}
	for (; i < n; i++)
		if (x[i] == max)
			return i;
	return 0;
}

void kk_ops_init_avx2(struct kk_ops_impl *ops, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	ops->rmsnorm = rmsnorm_avx2;
	ops->rope = rope_avx2;
	ops->softmax = softmax_avx2;
	ops->unary = unary_avx2;
	ops->glu = glu_avx2;
	ops->binary = binary_avx2;
	ops->scale = scale_avx2;
	ops->f32_to_f16 = f32_to_f16_avx2;
	ops->attn_f16 = attn_f16_avx2;
	ops->attn_q8_0 = attn_q8_0_avx2;
	ops->argmax = argmax_avx2;
}
#endif /* __x86_64__ */
