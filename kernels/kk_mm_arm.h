/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_mm_arm.h - aarch64 matmul kernels, compiled once per path: included by
 * kk_mm_neon.c (KA_DOTPROD 0: SMULL/SADALP), kk_mm_dotprod.c (KA_DOTPROD 1:
 * SDOT) and kk_mm_i8mm.c (SMMLA tiles, SDOT for a lone column).
 * Everything here is static inline: each file gets its own copy built with
 * its own -march.  FPU units only.
 *
 * The quantized kernels reproduce the scalar reference (kk_quant_dot.c)
 * bit for bit.  Its integer parts are exact in any order; its float steps
 * are repeated operation by operation:
 *
 *  - 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): four weight rows
 *    go through one float32x4_t, one row per lane, and each lane runs the
 *    reference's per-block float chain in block order; the decoded weights
 *    serve two columns.  A tile's tail rows repeat the last row in the
 *    spare lanes, a tail column goes alone.  The i8mm tiles compute the
 *    same exact block dots with SMMLA and run the same per-block float
 *    step (ka_block_f) on lanes that hold other (row, column) pairs.
 *  - K-quants (Q4_K, Q5_K, Q6_K): the reference keeps eight int32 lanes,
 *    lane = element index mod 8.  SMULL of eight consecutive int8 lands
 *    element e in int16 lane e mod 8, so two int32x4_t hold those lanes
 *    exactly and the float steps follow on them.
 *
 * So every y element equals the scalar path's, whatever the tile shape,
 * the thread split or the number of columns.  Float weights (F32, F16,
 * BF16) use FMA in their own, fixed order per element: equal to the scalar
 * path within rounding, and still independent of the tile.
 *
 * Activations use the scalar path's standard layout (kk_mm_xq_bytes_std)
 * and the NEON quantizers below write the same bytes as the reference.
 */
#ifndef KLLM_KK_MM_ARM_H
#define KLLM_KK_MM_ARM_H

#include <arm_neon.h>
#include "kk_impl.h"
#include "kk_blocks.h"
#include "kk_fp.h"
#include "kk_quant.h"

#ifndef KA_DOTPROD
#define KA_DOTPROD 0
#endif

#define KA_INLINE static inline __attribute__((always_inline))
/* gcc -O2 keeps short loops over rows and columns, their vectors on the stack */
#define KA_UNROLL _Pragma("GCC unroll 4")

enum ka_type { KA_Q4_0, KA_Q4_1, KA_Q5_0, KA_Q5_1, KA_Q8_0 };

KA_INLINE kk_u16 ka_ld16(const kk_u8 *p)
{
	kk_u16 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

KA_INLINE kk_u32 ka_ld32(const kk_u8 *p)
{
	kk_u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

/* Four f16 bit patterns -> floats (exact, like kk_f16_to_f32). */
KA_INLINE float32x4_t ka_f16x4(const kk_u16 h[4])
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* ------------------------------------------------------------------ */
/* 32-element blocks                                                    */

KA_INLINE kk_u32 ka_wbytes(int type)
{
	switch (type) {
	case KA_Q4_0:
		return sizeof(struct kk_block_q4_0);
	case KA_Q4_1:
		return sizeof(struct kk_block_q4_1);
	case KA_Q5_0:
		return sizeof(struct kk_block_q5_0);
	case KA_Q5_1:
		return sizeof(struct kk_block_q5_1);
	default:
		return sizeof(struct kk_block_q8_0);
	}
}

KA_INLINE int ka_has_min(int type)
{
	return type == KA_Q4_1 || type == KA_Q5_1;
}

/* The activation block: Q8_1 (d, s, qs) for types with a min, else Q8_0. */
KA_INLINE kk_u32 ka_xbytes(int type)
{
	return ka_has_min(type) ? sizeof(struct kk_block_q8_1) :
				  sizeof(struct kk_block_q8_0);
}

/* Bits 0-15 (lo) and 16-31 (hi) of a Q5 qh word as bytes of 0 or 0x10. */
KA_INLINE void ka_qh_bytes(kk_u32 qh, uint8x16_t *lo, uint8x16_t *hi)
{
	const uint8x8_t bit = vcreate_u8(0x8040201008040201ull);
	const uint8x16_t mask = vcombine_u8(bit, bit), b4 = vdupq_n_u8(0x10);
	uint8x16_t l = vcombine_u8(vdup_n_u8((kk_u8)qh), vdup_n_u8((kk_u8)(qh >> 8)));
	uint8x16_t h = vcombine_u8(vdup_n_u8((kk_u8)(qh >> 16)),
				   vdup_n_u8((kk_u8)(qh >> 24)));

	*lo = vandq_u8(vtstq_u8(l, mask), b4);
	*hi = vandq_u8(vtstq_u8(h, mask), b4);
}

/* Weights of one block as int8: elements 0-15 in *w0, 16-31 in *w1. */
KA_INLINE void ka_decode(int type, const kk_u8 *blk, int8x16_t *w0, int8x16_t *w1)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f);
	uint8x16_t q, hl, hh;

	switch (type) {
	case KA_Q4_0:
		q = vld1q_u8(blk + 2);
		*w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), vdupq_n_s8(8));
		*w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
		break;
	case KA_Q4_1:
		q = vld1q_u8(blk + 4);
		*w0 = vreinterpretq_s8_u8(vandq_u8(q, m4));
		*w1 = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
		break;
	case KA_Q5_0:
	case KA_Q5_1: {
		const kk_u32 off = type == KA_Q5_0 ? 2 : 4;

		q = vld1q_u8(blk + off + 4);
		ka_qh_bytes(ka_ld32(blk + off), &hl, &hh);
		*w0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hl));
		*w1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
		if (type == KA_Q5_0) {
			*w0 = vsubq_s8(*w0, vdupq_n_s8(16));
			*w1 = vsubq_s8(*w1, vdupq_n_s8(16));
		}
		break;
	}
	default:
		*w0 = vld1q_s8((const kk_i8 *)(blk + 2));
		*w1 = vld1q_s8((const kk_i8 *)(blk + 18));
		break;
	}
}

/* int32 lanes whose sum is the exact dot of 32 int8 pairs. */
KA_INLINE int32x4_t ka_dot32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
#if KA_DOTPROD
	return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
#else
	int32x4_t s;

	s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
	s = vpadalq_s16(s, vmull_high_s8(w0, x0));
	s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
	return vpadalq_s16(s, vmull_high_s8(w1, x1));
#endif
}

/*
 * One block's float step, lane by lane in the reference's order (si: the
 * block's exact integer dot; dx, mx: the weight block's scale and min; dy,
 * sy: the activation block's d and s; sy is read for Q4_1 and Q5_1 only):
 *   Q4_0:        sumf += sumi * dx * dy
 *   Q5_0:        sumf += (dx * dy) * sumi
 *   Q8_0:        sumf += sumi * (dx * dy)
 *   Q4_1, Q5_1:  sumf += (dx * dy) * sumi + mx * sy
 */
KA_INLINE float32x4_t ka_block_f(int type, float32x4_t sumf, int32x4_t sumi,
				 float32x4_t dx, float32x4_t dy, float32x4_t mx,
				 float32x4_t sy)
{
	const float32x4_t si = vcvtq_f32_s32(sumi);
	float32x4_t t;

	switch (type) {
	case KA_Q4_0:
		t = vmulq_f32(vmulq_f32(si, dx), dy);
		break;
	case KA_Q8_0:
		t = vmulq_f32(si, vmulq_f32(dx, dy));
		break;
	case KA_Q5_0:
		t = vmulq_f32(vmulq_f32(dx, dy), si);
		break;
	default:
		t = vaddq_f32(vmulq_f32(vmulq_f32(dx, dy), si), vmulq_f32(mx, sy));
		break;
	}
	return vaddq_f32(sumf, t);
}

/*
 * Dot products of four weight rows (lanes) with NC activation rows of nb
 * blocks, each lane in the reference's float order (ka_block_f).  The
 * weights are decoded once per block for all NC columns.
 */
KA_INLINE void ka_rows4(int type, int NC, const kk_u8 *const w[4],
			const kk_u8 *xq, kk_u64 xq_row_bytes, kk_u32 nb,
			float32x4_t sumf[2])
{
	const kk_u32 wb = ka_wbytes(type), xb = ka_xbytes(type);
	const kk_u32 xqs = ka_has_min(type) ? 4 : 2;

	KA_UNROLL
	for (int c = 0; c < NC; c++)
		sumf[c] = vdupq_n_f32(0.0f);
	for (kk_u32 ib = 0; ib < nb; ib++) {
		int8x16_t w0[4], w1[4];
		kk_u16 d[4], m[4];
		float32x4_t dx, mx = vdupq_n_f32(0.0f);

		KA_UNROLL
		for (int r = 0; r < 4; r++) {
			const kk_u8 *blk = w[r] + (kk_u64)ib * wb;

			ka_decode(type, blk, &w0[r], &w1[r]);
			d[r] = ka_ld16(blk);
			m[r] = ka_has_min(type) ? ka_ld16(blk + 2) : 0;
		}
		dx = ka_f16x4(d);
		if (ka_has_min(type))
			mx = ka_f16x4(m);
		KA_UNROLL
		for (int c = 0; c < NC; c++) {
			const kk_u8 *xblk = xq + c * xq_row_bytes + (kk_u64)ib * xb;
			const int8x16_t x0 = vld1q_s8((const kk_i8 *)(xblk + xqs));
			const int8x16_t x1 = vld1q_s8((const kk_i8 *)(xblk + xqs + 16));
			const float32x4_t dy = vdupq_n_f32(kk_f16_to_f32(ka_ld16(xblk)));
			float32x4_t sy = dy;
			int32x4_t l[4];

			if (ka_has_min(type))
				sy = vdupq_n_f32(kk_f16_to_f32(ka_ld16(xblk + 2)));
			KA_UNROLL
			for (int r = 0; r < 4; r++)
				l[r] = ka_dot32(w0[r], w1[r], x0, x1);
			sumf[c] = ka_block_f(type, sumf[c],
					     vpaddq_s32(vpaddq_s32(l[0], l[1]),
							vpaddq_s32(l[2], l[3])),
					     dx, dy, mx, sy);
		}
	}
}

KA_INLINE void ka_store(const struct kk_mm_tile *t, float *y, float v)
{
	*y = t->accumulate ? *y + v : v;
}

/* A tile of a 32-element block type: four rows by two columns at a time. */
KA_INLINE void ka_tile32(int type, const struct kk_mm_tile *t)
{
	const kk_u32 nb = t->k / 32;

	for (kk_u32 r = 0; r < t->nr; r += 4) {
		const kk_u32 n = t->nr - r < 4 ? t->nr - r : 4;
		const kk_u8 *w[4];
		const kk_u8 *xq = t->xq;
		float *y = t->y + r;
		kk_u32 c = 0;

		for (kk_u32 i = 0; i < 4; i++)
			w[i] = (const kk_u8 *)t->w +
			       (kk_u64)(r + (i < n ? i : n - 1)) * t->w_row_bytes;
		while (c < t->nc) {
			const int nc = t->nc - c >= 2 ? 2 : 1;
			float32x4_t v[2];
			float out[8];

			if (nc == 2)
				ka_rows4(type, 2, w, xq, t->xq_row_bytes, nb, v);
			else
				ka_rows4(type, 1, w, xq, t->xq_row_bytes, nb, v);
			for (int j = 0; j < nc; j++) {
				vst1q_f32(out + 4 * j, v[j]);
				for (kk_u32 i = 0; i < n; i++)
					ka_store(t, y + i, out[4 * j + i]);
				xq += t->xq_row_bytes;
				y += t->y_stride;
			}
			c += nc;
		}
	}
}

/* ------------------------------------------------------------------ */
/* K-quants: the reference's eight int32 lanes (element index mod 8)     */

/* acc[0..3] += sc * lanes 0-3 of p, acc[4..7] += sc * lanes 4-7 (exact) */
KA_INLINE void ka_lanes_mla(int32x4_t *lo, int32x4_t *hi, int16x8_t p, kk_i16 sc)
{
	*lo = vmlal_n_s16(*lo, vget_low_s16(p), sc);
	*hi = vmlal_high_n_s16(*hi, p, sc);
}

/* int16 lane e mod 8 += w[e] * x[e] over 16 elements (|sum| < 2^15). */
KA_INLINE int16x8_t ka_mul16(int8x16_t w, int8x16_t x)
{
	return vaddq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x)),
			 vmull_high_s8(w, x));
}

/* The reference's end: the mins sum, then the eight float lanes in order. */
KA_INLINE float ka_lanes_result(float sumf, float32x4_t lo, float32x4_t hi)
{
	float l[8];

	vst1q_f32(l, lo);
	vst1q_f32(l + 4, hi);
	for (int i = 0; i < 8; i++)
		sumf += l[i];
	return sumf;
}

/* sum_j bsums[j] * min[j / 2], exact */
KA_INLINE int ka_mins_dot(const kk_u8 mins[8], const kk_i16 *bsums)
{
	const uint8x8_t m8 = vld1_u8(mins);
	const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vzip1_u8(m8, m8)));
	const int16x8_t mh = vreinterpretq_s16_u16(vmovl_u8(vzip2_u8(m8, m8)));
	int32x4_t s = vmull_s16(vget_low_s16(m), vld1_s16(bsums));

	s = vmlal_high_s16(s, m, vld1q_s16(bsums));
	s = vmlal_s16(s, vget_low_s16(mh), vld1_s16(bsums + 8));
	s = vmlal_high_s16(s, mh, vld1q_s16(bsums + 8));
	return vaddvq_s32(s);
}

/* One Q4_K (qh == NULL) or Q5_K row against one Q8_K row. */
KA_INLINE float ka_dot_q45_K(kk_u32 nb, const kk_u8 *wrow, kk_u32 wbytes,
			     int is_q5, const struct kk_block_q8_K *y)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f);
	float32x4_t slo = vdupq_n_f32(0.0f), shi = vdupq_n_f32(0.0f);
	float sumf = 0.0f;

	for (kk_u32 i = 0; i < nb; i++) {
		const kk_u8 *blk = wrow + (kk_u64)i * wbytes;
		const kk_u8 *scales = blk + 4;
		const kk_u8 *qh = is_q5 ? blk + 16 : (const kk_u8 *)0;
		const kk_u8 *qs = blk + (is_q5 ? 48 : 16);
		int32x4_t alo = vdupq_n_s32(0), ahi = vdupq_n_s32(0);
		uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
		kk_u8 sc[8], mn[8];
		float d, dmin;
		int sumi;

		for (int j = 0; j < 8; j++)
			kk_get_scale_min_k4(j, scales, &sc[j], &mn[j]);
		if (is_q5) {
			h0 = vld1q_u8(qh);
			h1 = vld1q_u8(qh + 16);
		}
		for (int c = 0; c < QK_K / 64; c++) {
			const uint8x16_t q0 = vld1q_u8(qs + 32 * c);
			const uint8x16_t q1 = vld1q_u8(qs + 32 * c + 16);

			for (int half = 0; half < 2; half++) {
				const int sub = 2 * c + half;
				const kk_i8 *x = y[i].qs + 32 * sub;
				uint8x16_t a0 = half ? vshrq_n_u8(q0, 4) : vandq_u8(q0, m4);
				uint8x16_t a1 = half ? vshrq_n_u8(q1, 4) : vandq_u8(q1, m4);
				int16x8_t p;

				if (is_q5) {
					const uint8x16_t bit = vdupq_n_u8((kk_u8)(1u << sub));
					const uint8x16_t b4 = vdupq_n_u8(0x10);

					a0 = vorrq_u8(a0, vandq_u8(vtstq_u8(h0, bit), b4));
					a1 = vorrq_u8(a1, vandq_u8(vtstq_u8(h1, bit), b4));
				}
				/* |a * x| <= 31 * 128: four per lane fit int16 */
				p = vaddq_s16(ka_mul16(vreinterpretq_s8_u8(a0), vld1q_s8(x)),
					      ka_mul16(vreinterpretq_s8_u8(a1), vld1q_s8(x + 16)));
				ka_lanes_mla(&alo, &ahi, p, sc[sub]);
			}
		}
		sumi = ka_mins_dot(mn, y[i].bsums);
		d = kk_f16_to_f32(ka_ld16(blk)) * y[i].d;
		slo = vaddq_f32(slo, vmulq_f32(vdupq_n_f32(d), vcvtq_f32_s32(alo)));
		shi = vaddq_f32(shi, vmulq_f32(vdupq_n_f32(d), vcvtq_f32_s32(ahi)));
		dmin = kk_f16_to_f32(ka_ld16(blk + 2)) * y[i].d;
		sumf -= dmin * sumi;
	}
	return ka_lanes_result(sumf, slo, shi);
}

/*
 * One Q6_K row against one Q8_K row.  Per 128-element half n, quarter q
 * (32 elements): low 4 bits from ql[64n + 32(q & 1) ..] (low nibble for
 * q < 2), high 2 bits from bits 2q of qh[32n ..]; 16 elements per scale.
 */
KA_INLINE float ka_dot_q6_K(kk_u32 nb, const struct kk_block_q6_K *x,
			    const struct kk_block_q8_K *y)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x30);
	float32x4_t slo = vdupq_n_f32(0.0f), shi = vdupq_n_f32(0.0f);

	for (kk_u32 i = 0; i < nb; i++) {
		int32x4_t alo = vdupq_n_s32(0), ahi = vdupq_n_s32(0);
		float d;

		for (int n = 0; n < 2; n++) {
			const kk_u8 *ql = x[i].ql + 64 * n, *qh = x[i].qh + 32 * n;

			for (int q = 0; q < 4; q++) {
				for (int h = 0; h < 2; h++) {
					const int e = 128 * n + 32 * q + 16 * h;
					const uint8x16_t l = vld1q_u8(ql + 32 * (q & 1) + 16 * h);
					const uint8x16_t hb = vld1q_u8(qh + 16 * h);
					uint8x16_t lo = q < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
					uint8x16_t hi;
					int8x16_t v;

					switch (q) {
					case 0:
						hi = vshlq_n_u8(hb, 4);
						break;
					case 1:
						hi = vshlq_n_u8(hb, 2);
						break;
					case 2:
						hi = hb;
						break;
					default:
						hi = vshrq_n_u8(hb, 2);
						break;
					}
					v = vreinterpretq_s8_u8(vorrq_u8(lo, vandq_u8(hi, m2)));
					v = vsubq_s8(v, vdupq_n_s8(32));
					ka_lanes_mla(&alo, &ahi,
						     ka_mul16(v, vld1q_s8(y[i].qs + e)),
						     x[i].scales[e / 16]);
				}
			}
		}
		d = kk_f16_to_f32(x[i].d) * y[i].d;
		slo = vaddq_f32(slo, vmulq_f32(vdupq_n_f32(d), vcvtq_f32_s32(alo)));
		shi = vaddq_f32(shi, vmulq_f32(vdupq_n_f32(d), vcvtq_f32_s32(ahi)));
	}
	return ka_lanes_result(0.0f, slo, shi);
}

/* ------------------------------------------------------------------ */
/* Float weights: two FMA accumulators of four lanes, then a fixed tail.  */

enum ka_ftype { KA_F32, KA_F16, KA_BF16 };

KA_INLINE float32x4_t ka_ld_f(int type, const void *p, kk_u32 i)
{
	switch (type) {
	case KA_F32:
		return vld1q_f32((const float *)p + i);
	case KA_F16:
		return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const kk_u16 *)p + i)));
	default:
		return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const kk_u16 *)p + i), 16));
	}
}

KA_INLINE float ka_ld_f1(int type, const void *p, kk_u32 i)
{
	switch (type) {
	case KA_F32:
		return ((const float *)p)[i];
	case KA_F16:
		return kk_f16_to_f32(((const kk_u16 *)p)[i]);
	default:
		return kk_bf16_to_f32(((const kk_u16 *)p)[i]);
	}
}

KA_INLINE float ka_dot_float(int type, kk_u32 k, const void *w, const void *x)
{
	float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
	kk_u32 i = 0;
	float s;

	for (; i + 8 <= k; i += 8) {
		a0 = vfmaq_f32(a0, ka_ld_f(type, w, i), ka_ld_f(type, x, i));
		a1 = vfmaq_f32(a1, ka_ld_f(type, w, i + 4), ka_ld_f(type, x, i + 4));
	}
	if (i + 4 <= k) {
		a0 = vfmaq_f32(a0, ka_ld_f(type, w, i), ka_ld_f(type, x, i));
		i += 4;
	}
	s = vaddvq_f32(vaddq_f32(a0, a1));
	for (; i < k; i++)
		s += ka_ld_f1(type, w, i) * ka_ld_f1(type, x, i);
	return s;
}

/* A tile of one-output-at-a-time dots (K-quants, float weights). */
KA_INLINE void ka_tile_dots(const struct kk_mm_tile *t,
			    float (*dot)(kk_u32 k, const void *w, const void *x))
{
	const kk_u8 *w = t->w;

	for (kk_u32 r = 0; r < t->nr; r++, w += t->w_row_bytes) {
		const kk_u8 *xq = t->xq;
		float *y = t->y + r;

		for (kk_u32 c = 0; c < t->nc; c++) {
			ka_store(t, y, dot(t->k, w, xq));
			xq += t->xq_row_bytes;
			y += t->y_stride;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Activation quantizers: the reference's bytes, four lanes at a time.   */

/*
 * One Q8_0/Q8_1 block as the reference does it: d = amax / 127, id = 1/d
 * (0 if d is 0), qs = roundf(x * id) - FCVTAS rounds half away from zero
 * as roundf does.  Returns the sum of the qs.
 */
KA_INLINE int ka_quant_block(const float *x, kk_i8 *qs, float *d_out)
{
	float32x4_t v[8], a;
	int32x4_t i32[8], s;
	float amax, d, id;

	for (int j = 0; j < 8; j++)
		v[j] = vld1q_f32(x + 4 * j);
	a = vabsq_f32(v[0]);
	for (int j = 1; j < 8; j++)
		a = vmaxq_f32(a, vabsq_f32(v[j]));
	amax = vmaxvq_f32(a);
	d = amax / ((1 << 7) - 1);
	id = d ? 1.0f / d : 0.0f;
	*d_out = d;
	s = vdupq_n_s32(0);
	for (int j = 0; j < 8; j++) {
		i32[j] = vcvtaq_s32_f32(vmulq_f32(v[j], vdupq_n_f32(id)));
		s = vaddq_s32(s, i32[j]);
	}
	for (int j = 0; j < 2; j++) {
		int16x8_t a16 = vcombine_s16(vmovn_s32(i32[4 * j]), vmovn_s32(i32[4 * j + 1]));
		int16x8_t b16 = vcombine_s16(vmovn_s32(i32[4 * j + 2]),
					     vmovn_s32(i32[4 * j + 3]));

		vst1q_s8(qs + 16 * j, vcombine_s8(vmovn_s16(a16), vmovn_s16(b16)));
	}
	return vaddvq_s32(s);
}

/*
 * A path's GEMM entries for the 32-element block types over its tile
 * function @tile (ka_tile32, or the i8mm file's ka_mm_tile32), one home
 * for every aarch64 path: ka_gemm_q4_0 .. ka_gemm_q8_0, and
 * ka_gemm32_fill() putting them in a table.
 */
#define KA_GEMM32_ENTRY(name, type, tile)				\
static void ka_gemm_##name(const struct kk_mm_tile *t)			\
{									\
	tile(type, t);							\
}
#define KA_GEMM32_ENTRIES(tile)						\
KA_GEMM32_ENTRY(q4_0, KA_Q4_0, tile)					\
KA_GEMM32_ENTRY(q4_1, KA_Q4_1, tile)					\
KA_GEMM32_ENTRY(q5_0, KA_Q5_0, tile)					\
KA_GEMM32_ENTRY(q5_1, KA_Q5_1, tile)					\
KA_GEMM32_ENTRY(q8_0, KA_Q8_0, tile)					\
static void ka_gemm32_fill(struct kk_mm_impl *mm)			\
{									\
	mm->gemm[KK_TYPE_Q4_0] = ka_gemm_q4_0;				\
	mm->gemm[KK_TYPE_Q4_1] = ka_gemm_q4_1;				\
	mm->gemm[KK_TYPE_Q5_0] = ka_gemm_q5_0;				\
	mm->gemm[KK_TYPE_Q5_1] = ka_gemm_q5_1;				\
	mm->gemm[KK_TYPE_Q8_0] = ka_gemm_q8_0;				\
}

#endif /* KLLM_KK_MM_ARM_H */
