// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_ggml_avx2.c - the matmul half of the "ggml" path (kk_ggml.h):
 * activations quantized and dot products summed as ggml-cpu's x86 vec_dot
 * functions do.
 *
 *   Q8_0 / Q8_1 activations: amax, d = amax / 127, each x * (127 / amax)
 *     rounded half to even (not 1/d, not half away); Q8_1's
 *     s = f16(d * sum(qs)).  Q8_K: the reference quantizer, as ggml's.
 *   dots: eight float lanes.  Per block (per super-block for K-quants)
 *     lane L gets fma(scale, (float)isum_L, acc_L), where isum_L is the
 *     exact integer sum over the products of elements 4L .. 4L+3 of each
 *     32-element group of the block (K-quant sub-block scales applied in
 *     integers first); the lanes are then added as ggml's hsum_float_8.
 *     Q4_1 adds fma-accumulated min terms after the lanes, Q4_K a
 *     four-lane min accumulator, Q6_K subtracts its offset in integers.
 *
 * Each y element is its own dot, so results are batch- and thread-
 * invariant as on every path.  Types without an entry here keep the
 * scalar path's arithmetic (close to ggml's, not bitwise).  Built with
 * -ffp-contract=off: every fused multiply-add is spelled out.  FPU unit.
 */
#if defined(__x86_64__) && !defined(__KERNEL__)
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_quant.h"
#include "kk_ggml.h"

#include <immintrin.h>

#define FMA(a, b, c) __builtin_fmaf(a, b, c)

/* ---- activations ---- */

static float block_amax(const float *x, int n)
{
	float amax = 0.0f;
	int j;

	for (j = 0; j < n; j++) {
		const float a = __builtin_fabsf(x[j]);

		amax = a > amax ? a : amax;
	}
	return amax;
}

/* x * id rounded half to even, saturated as the packs instructions do */
static kk_i8 round_even_i8(float v)
{
	const int r = kk_nearest_int(v);

	return (kk_i8)(r > 127 ? 127 : r < -128 ? -128 : r);
}

static void ggml_quant_q8_0(const float *x, void *xq, kk_u32 k)
{
	struct kk_block_q8_0 *y = xq;
	kk_u32 ib, nb = k / QK8_0;

	for (ib = 0; ib < nb; ib++, x += QK8_0) {
		const float amax = block_amax(x, QK8_0);
		const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
		int j;

		y[ib].d = kk_f32_to_f16(amax / 127.0f);
		for (j = 0; j < QK8_0; j++)
			y[ib].qs[j] = round_even_i8(x[j] * id);
	}
}

static void ggml_quant_q8_1(const float *x, void *xq, kk_u32 k)
{
	struct kk_block_q8_1 *y = xq;
	kk_u32 ib, nb = k / QK8_1;

	for (ib = 0; ib < nb; ib++, x += QK8_1) {
		const float amax = block_amax(x, QK8_1);
		const float d = amax / 127.0f;
		const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
		int j, sum = 0;

		y[ib].d = kk_f32_to_f16(d);
		for (j = 0; j < QK8_1; j++) {
			y[ib].qs[j] = round_even_i8(x[j] * id);
			sum += y[ib].qs[j];
		}
		y[ib].s = kk_f32_to_f16(d * (float)sum);
	}
}

static void ggml_quant_q8_K(const float *x, void *xq, kk_u32 k)
{
	kk_ref_quantize_row(KK_TYPE_Q8_K, x, xq, k);
}

/* ---- 32-element blocks ---- */

/*
 * The integer lanes are computed with AVX2 (maddubs pairs, madd quads:
 * exact, no saturation for these ranges), the float work lane by lane as
 * ggml's: one fma per lane per block, then hsum_float_8.
 */

/* 32 unsigned 4-bit values: low nibbles are elements 0..15, high 16..31 */
static inline __m256i nibbles32(const kk_u8 *qs)
{
	const __m128i t = _mm_loadu_si128((const __m128i *)qs);
	const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);

	return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* lane L = sum of x[e] * y[e] over e in 4L..4L+3, x unsigned, y signed */
static inline __m256i lanes_us(__m256i x, __m256i y)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* the same with x signed too (|x| <= 127 or y's range keeps pairs in i16) */
static inline __m256i lanes_ss(__m256i x, __m256i y)
{
	return lanes_us(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static inline __m256 acc_lanes(__m256 acc, float d, __m256i isum)
{
	return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
}

static inline float hsum_acc(__m256 acc)
{
	float a[8];

	_mm256_storeu_ps(a, acc);
	return kk_ggml_hsum8(a);
}

static inline __m256i load32(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

static float dot_q4_0(kk_u32 k, const void *w, const void *xq)
{
	const struct kk_block_q4_0 *x = w;
	const struct kk_block_q8_0 *y = xq;
	__m256 acc = _mm256_setzero_ps();
	kk_u32 ib;

	for (ib = 0; ib < k / QK4_0; ib++) {
		const __m256i q = _mm256_sub_epi8(nibbles32(x[ib].qs), _mm256_set1_epi8(8));

		acc = acc_lanes(acc, kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d),
				lanes_ss(q, load32(y[ib].qs)));
	}
	return hsum_acc(acc);
}

static float dot_q4_1(kk_u32 k, const void *w, const void *xq)
{
	const struct kk_block_q4_1 *x = w;
	const struct kk_block_q8_1 *y = xq;
	__m256 acc = _mm256_setzero_ps();
	float summs = 0.0f;
	kk_u32 ib;

	for (ib = 0; ib < k / QK4_1; ib++) {
		summs = FMA(kk_f16_to_f32(x[ib].m), kk_f16_to_f32(y[ib].s), summs);
		acc = acc_lanes(acc, kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d),
				lanes_us(nibbles32(x[ib].qs), load32(y[ib].qs)));
	}
	return hsum_acc(acc) + summs;
}

/* 0xFF in byte e where bit e of the u32 is set */
static inline __m256i bits32(const kk_u8 *p)
{
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
					       0x0101010101010101ll, 0);
	const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfell);
	kk_u32 v;
	__m256i b;

	__builtin_memcpy(&v, p, sizeof(v));
	b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
	return _mm256_cmpeq_epi8(_mm256_or_si256(b, bit), _mm256_set1_epi64x(-1));
}

static float dot_q5_0(kk_u32 k, const void *w, const void *xq)
{
	const struct kk_block_q5_0 *x = w;
	const struct kk_block_q8_0 *y = xq;
	__m256 acc = _mm256_setzero_ps();
	kk_u32 ib;

	for (ib = 0; ib < k / QK5_0; ib++) {
		/* (nibble | bit << 4) - 16: nibble - 16 where the bit is clear */
		const __m256i hi = _mm256_andnot_si256(bits32(x[ib].qh), _mm256_set1_epi8((char)0xF0));
		const __m256i q = _mm256_or_si256(nibbles32(x[ib].qs), hi);

		acc = acc_lanes(acc, kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d),
				lanes_ss(q, load32(y[ib].qs)));
	}
	return hsum_acc(acc);
}

static float dot_q8_0(kk_u32 k, const void *w, const void *xq)
{
	const struct kk_block_q8_0 *x = w;
	const struct kk_block_q8_0 *y = xq;
	__m256 acc = _mm256_setzero_ps();
	kk_u32 ib;

	for (ib = 0; ib < k / QK8_0; ib++)
		acc = acc_lanes(acc, kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d),
				lanes_ss(load32(x[ib].qs), load32(y[ib].qs)));
	return hsum_acc(acc);
}

/* ---- 256-element super-blocks ---- */

/* lane L = sc * (products of elements 4L..4L+3), sc one i16 for all lanes */
static inline __m256i lanes_scaled(__m256i x, __m256i y, __m256i sc)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), sc);
}

/*
 * Q4_K: lane L = sum over the 8 sub-blocks s of scale_s * (products of
 * elements 4L..4L+3 of s); the mins meet the Q8_K group sums in four
 * integer lanes, m_2i * S_2i + m_2i+1 * S_2i+1, accumulated by fma with
 * -y.d * dmin and reduced (0+2) + (1+3).
 */
static float dot_q4_K(kk_u32 k, const void *w, const void *xq)
{
	const struct kk_block_q4_K *x = w;
	const struct kk_block_q8_K *y = xq;
	__m256 acc = _mm256_setzero_ps();
	float acc_m[4] = { 0 };
	kk_u32 ib;
	int s, l;

	for (ib = 0; ib < k / QK_K; ib++) {
		const float d = y[ib].d * kk_f16_to_f32(x[ib].d);
		const float dmin = -y[ib].d * kk_f16_to_f32(x[ib].dmin);
		__m256i isum = _mm256_setzero_si256();
		kk_u8 sc[8], mn[8];

		for (s = 0; s < 8; s++)
			kk_get_scale_min_k4(s, x[ib].scales, &sc[s], &mn[s]);
		for (l = 0; l < 4; l++) {
			const int g0 = y[ib].bsums[4 * l] + y[ib].bsums[4 * l + 1];
			const int g1 = y[ib].bsums[4 * l + 2] + y[ib].bsums[4 * l + 3];

			acc_m[l] = FMA(dmin, (float)(mn[2 * l] * g0 + mn[2 * l + 1] * g1), acc_m[l]);
		}
		for (s = 0; s < 8; s += 2) {
			const __m256i q4 = load32(x[ib].qs + 16 * s);
			const __m256i lo = _mm256_and_si256(q4, _mm256_set1_epi8(0x0F));
			const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4),
							    _mm256_set1_epi8(0x0F));

			isum = _mm256_add_epi32(isum, _mm256_add_epi32(
				lanes_scaled(lo, load32(y[ib].qs + 32 * s), _mm256_set1_epi16(sc[s])),
				lanes_scaled(hi, load32(y[ib].qs + 32 * s + 32),
					     _mm256_set1_epi16(sc[s + 1]))));
		}
		acc = acc_lanes(acc, d, isum);
	}
	return hsum_acc(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
}

/*
 * Q6_K: lane L = sum over the 8 groups of 32 of scale * q * y for elements
 * 4L..4L+3 of each group (q the unsigned 6-bit value), minus 32 * (S_2L *
 * sc_2L + S_2L+1 * sc_2L+1) with S the Q8_K sums of 16, all in integers;
 * one fma per lane.
 */
static float dot_q6_K(kk_u32 k, const void *w, const void *xq)
{
	const struct kk_block_q6_K *x = w;
	const struct kk_block_q8_K *y = xq;
	const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
	__m256 acc = _mm256_setzero_ps();
	kk_u32 ib;
	int h, g, l;

	for (ib = 0; ib < k / QK_K; ib++) {
		const float d = y[ib].d * kk_f16_to_f32(x[ib].d);
		int off[8];
		__m256i isum;

		for (l = 0; l < 8; l++)
			off[l] = 32 * (y[ib].bsums[2 * l] * x[ib].scales[2 * l] +
				       y[ib].bsums[2 * l + 1] * x[ib].scales[2 * l + 1]);
		isum = _mm256_sub_epi32(_mm256_setzero_si256(), load32(off));
		for (h = 0; h < 2; h++) {
			const __m256i ql0 = load32(x[ib].ql + 64 * h);
			const __m256i ql1 = load32(x[ib].ql + 64 * h + 32);
			const __m256i qh = load32(x[ib].qh + 32 * h);
			__m256i q[4];

			q[0] = _mm256_and_si256(ql0, m4);
			q[1] = _mm256_and_si256(ql1, m4);
			q[2] = _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4);
			q[3] = _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4);
			for (g = 0; g < 4; g++) {
				const int e = 128 * h + 32 * g;
				const __m256i top = _mm256_slli_epi16(_mm256_and_si256(
					_mm256_srli_epi16(qh, 2 * g), m2), 4);
				const __m256i sc = _mm256_set_m128i(
					_mm_set1_epi16(x[ib].scales[e / 16 + 1]),
					_mm_set1_epi16(x[ib].scales[e / 16]));

				isum = _mm256_add_epi32(isum, lanes_scaled(
					_mm256_or_si256(q[g], top), load32(y[ib].qs + e), sc));
			}
		}
		acc = acc_lanes(acc, d, isum);
	}
	return hsum_acc(acc);
}

/* ---- tiles ---- */

typedef float (*ggml_dot_fn)(kk_u32 k, const void *w, const void *xq);

static inline void ggml_tile(ggml_dot_fn dot, const struct kk_mm_tile *t)
{
	const kk_u8 *w = t->w;
	kk_u32 r, c;

	for (r = 0; r < t->nr; r++, w += t->w_row_bytes) {
		const kk_u8 *xq = t->xq;
		float *y = t->y + r;

		for (c = 0; c < t->nc; c++) {
			const float v = dot(t->k, w, xq);

			*y = t->accumulate ? *y + v : v;
			xq += t->xq_row_bytes;
			y += t->y_stride;
		}
	}
}

#define GGML_GEMM(name)							\
static void ggml_gemm_##name(const struct kk_mm_tile *t)		\
{									\
	ggml_tile(dot_##name, t);					\
}

GGML_GEMM(q4_0)
GGML_GEMM(q4_1)
GGML_GEMM(q5_0)
GGML_GEMM(q8_0)
GGML_GEMM(q4_K)
GGML_GEMM(q6_K)

void kk_mm_init_ggml(struct kk_mm_impl *mm)
{
	mm->quant[KK_TYPE_Q4_0] = ggml_quant_q8_0;
	mm->gemm[KK_TYPE_Q4_0] = ggml_gemm_q4_0;
	mm->quant[KK_TYPE_Q4_1] = ggml_quant_q8_1;
	mm->gemm[KK_TYPE_Q4_1] = ggml_gemm_q4_1;
	mm->quant[KK_TYPE_Q5_0] = ggml_quant_q8_0;
	mm->gemm[KK_TYPE_Q5_0] = ggml_gemm_q5_0;
	mm->quant[KK_TYPE_Q8_0] = ggml_quant_q8_0;
	mm->gemm[KK_TYPE_Q8_0] = ggml_gemm_q8_0;
	mm->quant[KK_TYPE_Q4_K] = ggml_quant_q8_K;
	mm->gemm[KK_TYPE_Q4_K] = ggml_gemm_q4_K;
	mm->quant[KK_TYPE_Q6_K] = ggml_quant_q8_K;
	mm->gemm[KK_TYPE_Q6_K] = ggml_gemm_q6_K;
	/* Q5_1 and Q5_K pair with these activations too: ggml's rounding */
	mm->quant[KK_TYPE_Q5_1] = ggml_quant_q8_1;
	mm->quant[KK_TYPE_Q5_K] = ggml_quant_q8_K;
}
#endif
