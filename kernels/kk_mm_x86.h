/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_mm_x86.h - x86 matmul kernels, compiled once per path: included by
 * kk_mm_avx2.c, kk_mm_avx512.c and kk_mm_avx512vnni.c, which set
 *   KX_AVX512  1: AVX-512 BW/VL available (masked byte ops, vpermt2w)
 *   KX_VNNI    1: vpdpbusd for the u8 x s8 dot products
 * before including it.  Everything here is static: each file gets its own
 * copy built with its own -m flags.  FPU units only.
 *
 * 32-element block types (Q4_0, Q4_1, Q5_0, Q8_0) use the one-lane-per-
 * block tiles of kk_mm_x86_t.h; the helpers below load two blocks per
 * 256-bit vector for their short last group: "lo" holds elements 0-15 of
 * blocks b and b+1, "hi" elements 16-31, so a Q4 pair is one 32-byte load
 * of nibbles and the int32 lanes of a dot are lanes 0-3 for block b, 4-7
 * for b+1.  Activations use the standard Q8_0/Q8_1 blocks followed by
 * extras the kernels need as floats, so eight blocks' worth is one load:
 * each block's d, and Q8_0's sum of qs or Q8_1's s, then the qs
 * transposed for the tiles.  Q4/Q5 nibbles (and, for vpdpbusd, Q8_0 +
 * 128) are multiplied unsigned and the bias is taken back per block as
 * dw * dx * (-bias * sum), the way Q4_1's min term is added as m * s.
 *
 * Q4_K/Q6_K use the super-block tiles of kk_mm_x86_k.h.
 *
 * A tile of NR rows x NC columns shares the activation work between rows
 * and the weight decoding between columns; every y element still goes
 * through its own accumulator with the same operations in the same order,
 * so a 4x2 tile and a 1x1 tile produce the same bits.
 */
#ifndef KLLM_KK_MM_X86_H
#define KLLM_KK_MM_X86_H

#include <immintrin.h>
#include "kk_impl.h"
#include "kk_blocks.h"
#include "kk_fp.h"
#include "kk_quant.h"

#ifndef KX_AVX512
#define KX_AVX512 0
#endif
#ifndef KX_VNNI
#define KX_VNNI 0
#endif

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan gives each inlined vector array its own redzones, which adds up to
 * frames of many KiB; the real builds' frames stay under 256 bytes
 * (-fstack-usage) and keep the warning.
 */
#pragma GCC diagnostic ignored "-Wframe-larger-than="
#endif

#define KX_INLINE static inline __attribute__((always_inline))
#define KX_UNROLL _Pragma("GCC unroll 8")

enum kx_type { KX_Q4_0, KX_Q4_1, KX_Q5_0, KX_Q8_0 };

KX_INLINE kk_u16 kx_ld16(const kk_u8 *p)
{
	kk_u16 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

KX_INLINE kk_u32 kx_ld32(const kk_u8 *p)
{
	kk_u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

KX_INLINE float kx_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ------------------------------------------------------------------ */
/* Activation layout and quantizers                                     */

/* The layout kk_mm_xq_bytes() sizes: blocks, then float d[nbp], sum/s[nbp]. */
static inline kk_u32 kx_nbp(kk_u32 nb)
{
	return (nb + 15) & ~15u;	/* extras padded to 64 bytes */
}

static inline kk_u64 kx_blocks_bytes(kk_u32 nb, kk_u32 bb)
{
	return ((kk_u64)nb * bb + 63) & ~(kk_u64)63;
}

/* roundf() of each lane: half away from zero, like kk_round_away. */
KX_INLINE __m256 kx_round_away(__m256 v)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
	const __m256 one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
	const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);

	return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/*
 * One Q8_0/Q8_1 block, the reference's operations lane by lane (so the
 * bytes are identical for finite input).  Returns the sum of the qs.
 */
KX_INLINE int kx_quant_block(const float *x, kk_i8 *qs, float *d_out)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
	__m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
	__m256 a = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0),
					       _mm256_andnot_ps(sign, v1)),
				 _mm256_max_ps(_mm256_andnot_ps(sign, v2),
					       _mm256_andnot_ps(sign, v3)));
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	__m256i i0, i1, i2, i3, s;
	__m128i s4;
	float amax, d, id;
	__m256 vid;

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	amax = _mm_cvtss_f32(m);
	d = amax / ((1 << 7) - 1);
	id = d ? 1.0f / d : 0.0f;
	*d_out = d;
	vid = _mm256_set1_ps(id);
	i0 = _mm256_cvtps_epi32(kx_round_away(_mm256_mul_ps(v0, vid)));
	i1 = _mm256_cvtps_epi32(kx_round_away(_mm256_mul_ps(v1, vid)));
	i2 = _mm256_cvtps_epi32(kx_round_away(_mm256_mul_ps(v2, vid)));
	i3 = _mm256_cvtps_epi32(kx_round_away(_mm256_mul_ps(v3, vid)));
	s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
	i0 = _mm256_packs_epi32(i0, i1);
	i2 = _mm256_packs_epi32(i2, i3);
	i0 = _mm256_packs_epi16(i0, i2);
	i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)qs, i0);
	s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
	s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
	s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
	return _mm_cvtsi128_si32(s4);
}

/* kk_mm_x86_t.h: the blocks' qs again, transposed for its tiles. */
static void kx_transpose_x(const kk_u8 *qs, kk_u32 bb, kk_u32 nb, kk_u32 nbp, kk_u8 *tx);

static void kx_quant_q8_0(const float *x, void *xq, kk_u32 k)
{
	const kk_u32 nb = k / QK8_0, nbp = kx_nbp(nb);
	struct kk_block_q8_0 *y = xq;
	float *df = (float *)((kk_u8 *)xq + kx_blocks_bytes(nb, sizeof(*y)));
	float *sumf = df + nbp;

	for (kk_u32 i = 0; i < nb; i++, x += QK8_0) {
		float d;

		sumf[i] = (float)kx_quant_block(x, y[i].qs, &d);
		y[i].d = kk_f32_to_f16(d);
		df[i] = kk_f16_to_f32(y[i].d);
	}
	for (kk_u32 i = nb; i < nbp; i++) {
		df[i] = 0;
		sumf[i] = 0;
	}
	kx_transpose_x((const kk_u8 *)y->qs, sizeof(*y), nb, nbp, (kk_u8 *)(sumf + nbp));
}

static void kx_quant_q8_1(const float *x, void *xq, kk_u32 k)
{
	const kk_u32 nb = k / QK8_1, nbp = kx_nbp(nb);
	struct kk_block_q8_1 *y = xq;
	float *df = (float *)((kk_u8 *)xq + kx_blocks_bytes(nb, sizeof(*y)));
	float *sf = df + nbp;

	for (kk_u32 i = 0; i < nb; i++, x += QK8_1) {
		float d;
		const int sum = kx_quant_block(x, y[i].qs, &d);

		y[i].d = kk_f32_to_f16(d);
		y[i].s = kk_f32_to_f16(sum * d);
		df[i] = kk_f16_to_f32(y[i].d);
		sf[i] = kk_f16_to_f32(y[i].s);
	}
	for (kk_u32 i = nb; i < nbp; i++) {
		df[i] = 0;
		sf[i] = 0;
	}
	kx_transpose_x((const kk_u8 *)y->qs, sizeof(*y), nb, nbp, (kk_u8 *)(sf + nbp));
}


/* F16 activations for F16 weights: F16C rounds to nearest even, as the
 * reference does (NaN payloads aside). */
static void kx_quant_f16(const float *x, void *xq, kk_u32 k)
{
	kk_u16 *y = xq;
	kk_u32 i = 0;

	for (; i + 8 <= k; i += 8)
		_mm_storeu_si128((__m128i *)(y + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(x + i),
						 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	for (; i < k; i++)
		y[i] = kk_f32_to_f16(x[i]);
}

/* ------------------------------------------------------------------ */
/* 32-element blocks: Q4_0, Q4_1, Q5_0, Q8_0                           */

KX_INLINE kk_u32 kx_wbytes(int type)
{
	return type == KX_Q4_0 ? sizeof(struct kk_block_q4_0) :
	       type == KX_Q4_1 ? sizeof(struct kk_block_q4_1) :
	       type == KX_Q5_0 ? sizeof(struct kk_block_q5_0) :
				 sizeof(struct kk_block_q8_0);
}

/* Offset of qs in a weight block. */
KX_INLINE kk_u32 kx_wqs(int type)
{
	return type == KX_Q4_1 ? 4 : type == KX_Q5_0 ? 6 : 2;
}

/* Activation blocks: Q8_1 for Q4_1, Q8_0 otherwise. */
KX_INLINE kk_u32 kx_xbytes(int type)
{
	return type == KX_Q4_1 ? sizeof(struct kk_block_q8_1) :
				 sizeof(struct kk_block_q8_0);
}

KX_INLINE kk_u32 kx_xqs(int type)
{
	return type == KX_Q4_1 ? 4 : 2;
}

/* What the u8 side of the dot is offset by: value = u8 - bias. */
KX_INLINE int kx_bias(int type)
{
	return type == KX_Q4_0 ? 8 : type == KX_Q5_0 ? 16 :
	       type == KX_Q8_0 ? 128 : 0;
}

#if !KX_AVX512
/* 0xff in byte j where bit j of m is set. */
KX_INLINE __m256i kx_bits_to_bytes(kk_u32 m)
{
	const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101ll,
						0x0202020202020202ll,
						0x0303030303030303ll);
	const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfell);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m), shuf);

	return _mm256_cmpeq_epi8(_mm256_or_si256(b, bit), _mm256_set1_epi64x(-1));
}
#endif

/*
 * Weights of blocks b (at blk) and b+1 (if two) as unsigned bytes: lo =
 * elements 0-15 of each, hi = 16-31.  Q8_0 is made unsigned (+128) for
 * vpdpbusd; the AVX2 path keeps it signed for the sign trick.
 */
KX_INLINE void kx_load_w(int type, const kk_u8 *blk, int two,
			 __m256i *lo, __m256i *hi)
{
	const kk_u8 *b1 = blk + kx_wbytes(type);
	const kk_u8 *q0 = blk + kx_wqs(type), *q1 = b1 + kx_wqs(type);
	const __m128i z = _mm_setzero_si128();

	if (type == KX_Q8_0) {
		__m128i a0 = _mm_loadu_si128((const __m128i *)q0);
		__m128i a1 = _mm_loadu_si128((const __m128i *)(q0 + 16));
		__m128i c0 = two ? _mm_loadu_si128((const __m128i *)q1) : z;
		__m128i c1 = two ? _mm_loadu_si128((const __m128i *)(q1 + 16)) : z;

		*lo = _mm256_set_m128i(c0, a0);
		*hi = _mm256_set_m128i(c1, a1);
#if KX_VNNI
		*lo = _mm256_xor_si256(*lo, _mm256_set1_epi8((char)0x80));
		*hi = _mm256_xor_si256(*hi, _mm256_set1_epi8((char)0x80));
#endif
		return;
	}
	{
		const __m256i m4 = _mm256_set1_epi8(0x0f);
		__m128i a = _mm_loadu_si128((const __m128i *)q0);
		__m128i c = two ? _mm_loadu_si128((const __m128i *)q1) : z;
		__m256i v = _mm256_set_m128i(c, a);

		*lo = _mm256_and_si256(v, m4);
		*hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
	}
	if (type == KX_Q5_0) {
		const kk_u32 h0 = kx_ld32(blk + 2), h1 = two ? kx_ld32(b1 + 2) : 0;
		const kk_u32 ml = (h0 & 0xffff) | (h1 << 16);
		const kk_u32 mh = (h0 >> 16) | (h1 & 0xffff0000u);
		const __m256i b16 = _mm256_set1_epi8(16);
#if KX_AVX512
		*lo = _mm256_mask_add_epi8(*lo, (__mmask32)ml, *lo, b16);
		*hi = _mm256_mask_add_epi8(*hi, (__mmask32)mh, *hi, b16);
#else
		*lo = _mm256_or_si256(*lo, _mm256_and_si256(kx_bits_to_bytes(ml), b16));
		*hi = _mm256_or_si256(*hi, _mm256_and_si256(kx_bits_to_bytes(mh), b16));
#endif
	}
}

/* Activations of blocks b and b+1 in the same lo/hi arrangement. */
KX_INLINE void kx_load_x(int type, const kk_u8 *blk, int two, __m256i *lo, __m256i *hi)
{
	const kk_u8 *q0 = blk + kx_xqs(type);
	const kk_u8 *q1 = blk + kx_xbytes(type) + kx_xqs(type);
	__m256i a = _mm256_loadu_si256((const __m256i *)q0);
	__m256i b = two ? _mm256_loadu_si256((const __m256i *)q1) : _mm256_setzero_si256();

	*lo = _mm256_permute2x128_si256(a, b, 0x20);
	*hi = _mm256_permute2x128_si256(a, b, 0x31);
}

/* int32 lanes 0-3: block b's (biased) dot, 4-7: block b+1's. */
KX_INLINE __m256i kx_dot(int type, __m256i wl, __m256i wh, __m256i xl, __m256i xh)
{
#if KX_VNNI
	(void)type;
	return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), wl, xl),
				   wh, xh);
#else
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i p;

	if (type == KX_Q8_0) {
		/* |w| * (x with w's sign): u8 x s8 without saturation */
		__m256i pl = _mm256_maddubs_epi16(_mm256_abs_epi8(wl), _mm256_sign_epi8(xl, wl));
		__m256i ph = _mm256_maddubs_epi16(_mm256_abs_epi8(wh), _mm256_sign_epi8(xh, wh));

		return _mm256_add_epi32(_mm256_madd_epi16(pl, ones),
					_mm256_madd_epi16(ph, ones));
	}
	/* q <= 31: each int16 is at most 2 * 2 * 31 * 127, no overflow */
	p = _mm256_add_epi16(_mm256_maddubs_epi16(wl, xl), _mm256_maddubs_epi16(wh, xh));
	return _mm256_madd_epi16(p, ones);
#endif
}

/* The bias the unsigned dot carries: 0 where there is none. */
KX_INLINE int kx_dot_bias(int type)
{
#if KX_VNNI
	return kx_bias(type);
#else
	return type == KX_Q8_0 ? 0 : kx_bias(type);
#endif
}

#if KX_AVX512
/* Words idx[0..3] of the first @n (<= 4) blocks' 64 bytes; 0 past n. */
KX_INLINE __m128i kx_gather4(const kk_u8 *blk, kk_u32 n, kk_u32 bb, __m256i idx)
{
	__m256i a, b;

	if (n == 4 && 4 * bb >= 64) {
		a = _mm256_loadu_si256((const __m256i *)blk);
		b = _mm256_loadu_si256((const __m256i *)(blk + 32));
	} else {
		const kk_u32 words = n * bb / 2;	/* never read past the row */
		const __mmask16 ma = words >= 16 ? 0xffff : (__mmask16)((1u << words) - 1);
		const __mmask16 mb = words <= 16 ? 0 :
				     words >= 32 ? 0xffff : (__mmask16)((1u << (words - 16)) - 1);

		a = _mm256_maskz_loadu_epi16(ma, blk);
		b = _mm256_maskz_loadu_epi16(mb, blk + 32);
	}
	return _mm_maskz_mov_epi16((__mmask8)((1u << n) - 1),
				   _mm256_castsi256_si128(_mm256_permutex2var_epi16(a, idx, b)));
}
#endif

/* A group's scales as floats: d, and m (Q4_1; else d again). */
struct kx_dm {
	__m256 d, m;
};

/*
 * Lane b: the 32 bits at byte @at of block b of @n (<= 8) blocks @bb bytes
 * apart, one movd load each; 0 past n.  Q4_1's d and m (kx_gather_f16x2),
 * Q5_0's qh (kk_mm_x86_t.h).
 */
KX_INLINE __m256i kx_gather32(const kk_u8 *blk, kk_u32 bb, kk_u32 n, kk_u32 at)
{
	__m128i a[8];

	KX_UNROLL
	for (kk_u32 b = 0; b < 8; b++)
		a[b] = _mm_cvtsi32_si128(b < n ? (int)kx_ld32(blk + b * bb + at) : 0);
	return _mm256_set_m128i(
		_mm_unpacklo_epi64(_mm_unpacklo_epi32(a[4], a[5]), _mm_unpacklo_epi32(a[6], a[7])),
		_mm_unpacklo_epi64(_mm_unpacklo_epi32(a[0], a[1]), _mm_unpacklo_epi32(a[2], a[3])));
}

#if !KX_AVX512
/* Low halves of the 8 dwords in the low 128 bits, high halves above. */
KX_INLINE __m256i kx_split16(__m256i v)
{
	const __m256i idx = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
					     0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);

	return _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, idx), 0xd8);
}

/* d (bytes 0-1) and m (2-3) of each of @n Q4_1 blocks, one gather. */
KX_INLINE struct kx_dm kx_gather_f16x2(int type, const kk_u8 *blk, kk_u32 n)
{
	const __m256i v = kx_split16(kx_gather32(blk, kx_wbytes(type), n, 0));
	struct kx_dm s = {
		_mm256_cvtph_ps(_mm256_castsi256_si128(v)),
		_mm256_cvtph_ps(_mm256_extracti128_si256(v, 1)),
	};

	return s;
}
#endif

/* The f16 at byte @at of each of @n (<= 8) blocks, as floats; 0 past n. */
KX_INLINE __m256 kx_gather_f16(int type, const kk_u8 *blk, kk_u32 n, kk_u32 at)
{
	const kk_u32 bb = kx_wbytes(type);
	__m128i v;

#if KX_AVX512
	if (3 * bb + at + 2 <= 64) {
		/* four blocks fit in 64 bytes: two ymm vpermt2w per group
		 * (zmm code would slow every other vector op down) */
		const short ws = (short)(bb / 2), w0 = (short)(at / 2);
		const __m256i idx = _mm256_setr_epi16(w0, w0 + ws, w0 + 2 * ws, w0 + 3 * ws,
						      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

		v = _mm_unpacklo_epi64(kx_gather4(blk, n > 4 ? 4 : n, bb, idx),
				       kx_gather4(blk + 4 * bb, n > 4 ? n - 4 : 0, bb, idx));
		return _mm256_cvtph_ps(v);
	}
#endif
	v = _mm_cvtsi32_si128(kx_ld16(blk + at));
	v = _mm_insert_epi16(v, n > 1 ? kx_ld16(blk + 1 * bb + at) : 0, 1);
	v = _mm_insert_epi16(v, n > 2 ? kx_ld16(blk + 2 * bb + at) : 0, 2);
	v = _mm_insert_epi16(v, n > 3 ? kx_ld16(blk + 3 * bb + at) : 0, 3);
	v = _mm_insert_epi16(v, n > 4 ? kx_ld16(blk + 4 * bb + at) : 0, 4);
	v = _mm_insert_epi16(v, n > 5 ? kx_ld16(blk + 5 * bb + at) : 0, 5);
	v = _mm_insert_epi16(v, n > 6 ? kx_ld16(blk + 6 * bb + at) : 0, 6);
	v = _mm_insert_epi16(v, n > 7 ? kx_ld16(blk + 7 * bb + at) : 0, 7);
	return _mm256_cvtph_ps(v);
}

/* A group's d, and for Q4_1 its m. */
KX_INLINE struct kx_dm kx_gather_dm(int type, const kk_u8 *blk, kk_u32 n)
{
	struct kx_dm s;

#if !KX_AVX512
	if (type == KX_Q4_1)
		return kx_gather_f16x2(type, blk, n);
#endif
	s.d = kx_gather_f16(type, blk, n, 0);
	s.m = type == KX_Q4_1 ? kx_gather_f16(type, blk, n, 2) : s.d;
	return s;
}

KX_INLINE void kx_store(const struct kk_mm_tile *t, kk_u32 r, kk_u32 c, float v)
{
	float *y = t->y + (kk_u64)c * t->y_stride + r;

	*y = t->accumulate ? *y + v : v;
}

/*
 * The walk over a gemm call's tiles, one home for every tiled format: its
 * header defines kx_tile_NAME_main (NR x NC), _rest (1 x NC), _half
 * (NR x NC2), _quarter (QR x NC4), _col (MVR x 1) and _one (1 x 1).
 * Full NR x NC tiles, the column blocks outer: a block's activations stay
 * in L1 while the tiles walk down the rows (a gemm call gets 16 rows and
 * up to all of a prompt's columns, kk_matmul.c); rows an NR tile leaves go
 * in 1 x NC tiles (none where NR is 1).  Columns left over: one NR x NC2
 * block where NC2 of them remain, then one QR x NC4 block where NC4 remain
 * (a batch of 2-7 sequences should not decode each weight block 2-7 times;
 * 0: none), then each column alone: one row at a time, or MVR rows at once
 * where rows are short.
 *
 * One row at a time, a matvec's weights stream from memory as one
 * sequential read, which the hardware prefetcher follows: from DRAM
 * (tests/scripts/mm-ab.sh, 65536+ rows, one thread, AVX2 and AVX-512 VNNI
 * on an AMD EPYC) 1.4-2.1x as fast as 4 (or, K-quants, 2-4) rows at once
 * for rows of 610-1200 bytes.  Rows of at most KX_MV_SHORT bytes (SmolLM2's
 * Q4_1 at k 576: 360 bytes, Gemma 3's Q5_0 at k 640: 440) are the
 * exception: the per-row work outweighs the stream there, and MVR rows at
 * once ran 1.06-1.11x as fast.
 */
#define KX_MV_SHORT 512
#define KX_GEMM_PART(name, shape, NR, NCP)				\
	if ((NCP) && c + (NCP) <= t->nc) {				\
		for (r = 0; r + (NR) <= t->nr; r += (NR))		\
			kx_tile_##name##_##shape(t, r, c);		\
		for (; r < t->nr; r++)					\
			for (j = 0; j != (NCP); j++)			\
				kx_tile_##name##_one(t, r, c + j);	\
		c += (NCP);						\
	}

#define KX_GEMM(name, NR, NC, NC2, NC4, MVR, QR)				\
static void kx_gemm_##name(const struct kk_mm_tile *t)			\
{									\
	kk_u32 r, c = 0, j;						\
									\
	for (; c + (NC) <= t->nc; c += (NC)) {				\
		for (r = 0; r + (NR) <= t->nr; r += (NR))		\
			kx_tile_##name##_main(t, r, c);			\
		for (; r < t->nr; r++)					\
			kx_tile_##name##_rest(t, r, c);			\
	}								\
	KX_GEMM_PART(name, half, NR, NC2)				\
	KX_GEMM_PART(name, quarter, QR, NC4)				\
	for (; c < t->nc; c++) {					\
		r = 0;							\
		if (t->w_row_bytes <= KX_MV_SHORT)			\
			for (; r + (MVR) <= t->nr; r += (MVR))		\
				kx_tile_##name##_col(t, r, c);		\
		for (; r < t->nr; r++)					\
			kx_tile_##name##_one(t, r, c);			\
	}								\
}

/* The 32-element block types: one lane per block (kk_mm_x86_t.h) */
#include "kk_mm_x86_t.h"

KX_GEMMT(q4_0, KX_Q4_0)
KX_GEMMT(q4_1, KX_Q4_1)
KX_GEMMT(q5_0, KX_Q5_0)
KX_GEMMT(q8_0, KX_Q8_0)

/* ------------------------------------------------------------------ */
/* K-quants: multi-row tiles (kk_mm_x86_k.h)                           */

#include "kk_mm_x86_k.h"

/* ------------------------------------------------------------------ */
/* Float rows: one dot product per y element                            */

KX_INLINE __m256 kx_ld_f32(const void *p, kk_u32 i)
{
	return _mm256_loadu_ps((const float *)p + i);
}

KX_INLINE __m256 kx_ld_f16(const void *p, kk_u32 i)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const kk_u16 *)p + i)));
}

KX_INLINE __m256 kx_ld_bf16(const void *p, kk_u32 i)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const kk_u16 *)p + i)));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

KX_INLINE float kx_scalar(int type, const void *p, kk_u32 i)
{
	if (type == KK_TYPE_F32)
		return ((const float *)p)[i];
	if (type == KK_TYPE_F16)
		return kk_f16_to_f32(((const kk_u16 *)p)[i]);
	return kk_bf16_to_f32(((const kk_u16 *)p)[i]);
}

/* Float rows: four chains of 8 lanes, then 8 at a time, then the tail. */
KX_INLINE float kx_dot_float(int type, kk_u32 k, const void *w, const void *x)
{
	__m256 (*ld)(const void *, kk_u32) = type == KK_TYPE_F32 ? kx_ld_f32 :
					     type == KK_TYPE_F16 ? kx_ld_f16 : kx_ld_bf16;
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	kk_u32 i = 0;
	float s;

	for (; i + 32 <= k; i += 32) {
		a0 = _mm256_fmadd_ps(ld(w, i), ld(x, i), a0);
		a1 = _mm256_fmadd_ps(ld(w, i + 8), ld(x, i + 8), a1);
		a2 = _mm256_fmadd_ps(ld(w, i + 16), ld(x, i + 16), a2);
		a3 = _mm256_fmadd_ps(ld(w, i + 24), ld(x, i + 24), a3);
	}
	for (; i + 8 <= k; i += 8)
		a0 = _mm256_fmadd_ps(ld(w, i), ld(x, i), a0);
	s = kx_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	for (; i < k; i++)
		s += kx_scalar(type, w, i) * kx_scalar(type, x, i);
	return s;
}

static float kx_dot_f32(kk_u32 k, const void *w, const void *x)
{
	return kx_dot_float(KK_TYPE_F32, k, w, x);
}

static float kx_dot_f16(kk_u32 k, const void *w, const void *x)
{
	return kx_dot_float(KK_TYPE_F16, k, w, x);
}

static float kx_dot_bf16(kk_u32 k, const void *w, const void *x)
{
	return kx_dot_float(KK_TYPE_BF16, k, w, x);
}

/* Rows outer, columns inner: a weight row stays in L1 across columns. */
KX_INLINE void kx_gemm_dots(const struct kk_mm_tile *t,
			    float (*dot)(kk_u32, const void *, const void *))
{
	const kk_u8 *w = t->w;

	for (kk_u32 r = 0; r < t->nr; r++, w += t->w_row_bytes) {
		const kk_u8 *x = t->xq;

		for (kk_u32 c = 0; c < t->nc; c++, x += t->xq_row_bytes)
			kx_store(t, r, c, dot(t->k, w, x));
	}
}

#define KX_GEMM_DOTS(name)						\
static void kx_gemm_##name(const struct kk_mm_tile *t)			\
{									\
	kx_gemm_dots(t, kx_dot_##name);					\
}

KX_GEMM_DOTS(f32)
KX_GEMM_DOTS(f16)
KX_GEMM_DOTS(bf16)

/* ------------------------------------------------------------------ */

static void kx_set(struct kk_mm_impl *mm, kk_u32 type, kk_mm_gemm_fn gemm,
		   kk_mm_quant_fn quant)
{
	mm->gemm[type] = gemm;
	if (quant)
		mm->quant[type] = quant;
}

/* Overlay this file's kernels on @mm. */
static void kx_init(struct kk_mm_impl *mm)
{
	kx_set(mm, KK_TYPE_Q4_0, kx_gemm_q4_0, kx_quant_q8_0);
	kx_set(mm, KK_TYPE_Q4_1, kx_gemm_q4_1, kx_quant_q8_1);
	kx_set(mm, KK_TYPE_Q5_0, kx_gemm_q5_0, kx_quant_q8_0);
	kx_set(mm, KK_TYPE_Q8_0, kx_gemm_q8_0, kx_quant_q8_0);
	kx_set(mm, KK_TYPE_Q4_K, kx_gemm_q4_K, kx_quant_q8_K);
	kx_set(mm, KK_TYPE_Q6_K, kx_gemm_q6_K, kx_quant_q8_K);
	kx_set(mm, KK_TYPE_F32, kx_gemm_f32, 0);
	kx_set(mm, KK_TYPE_F16, kx_gemm_f16, kx_quant_f16);
	kx_set(mm, KK_TYPE_BF16, kx_gemm_bf16, 0);
}

#endif /* KLLM_KK_MM_X86_H */
