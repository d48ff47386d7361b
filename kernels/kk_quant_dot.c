// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_quant_dot.c - scalar reference dot products: one weight row against one
 * activation row already quantized to the weight's vec_dot type.
 *
 * The quantized pairs follow ggml's generic ggml_vec_dot_*_generic
 * (ggml-cpu/quants.c): an exact integer dot product per block, then the
 * block's float scaling and accumulation in ggml's order.  SIMD paths that
 * keep the integer part and reproduce this order are bit-identical; others
 * are tested against this with a tolerance.  FPU unit.
 */
#include "kk_quant.h"
#include "kk_fp.h"

/* ---- 32-element blocks ---------------------------------------------- */

static float dot_q4_0_q8_0(kk_u32 nb, const struct kk_block_q4_0 *x,
			   const struct kk_block_q8_0 *y)
{
	float sumf = 0;

	for (kk_u32 ib = 0; ib < nb; ib++) {
		int sumi0 = 0, sumi1 = 0;

		for (int j = 0; j < QK8_0 / 2; j++) {
			const int v0 = (x[ib].qs[j] & 0x0F) - 8;
			const int v1 = (x[ib].qs[j] >> 4) - 8;

			sumi0 += v0 * y[ib].qs[j];
			sumi1 += v1 * y[ib].qs[j + QK8_0 / 2];
		}
		/* ggml: sumi * dx * dy, left to right */
		sumf += (sumi0 + sumi1) * kk_f16_to_f32(x[ib].d) *
			kk_f16_to_f32(y[ib].d);
	}
	return sumf;
}

static float dot_q4_1_q8_1(kk_u32 nb, const struct kk_block_q4_1 *x,
			   const struct kk_block_q8_1 *y)
{
	float sumf = 0;

	for (kk_u32 ib = 0; ib < nb; ib++) {
		int sumi0 = 0, sumi1 = 0;

		for (int j = 0; j < QK8_1 / 2; j++) {
			const int v0 = x[ib].qs[j] & 0x0F;
			const int v1 = x[ib].qs[j] >> 4;

			sumi0 += v0 * y[ib].qs[j];
			sumi1 += v1 * y[ib].qs[j + QK8_1 / 2];
		}
		/* the min term uses y's s = d * sum(qs), rounded to f16 */
		sumf += (kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d)) *
				(sumi0 + sumi1) +
			kk_f16_to_f32(x[ib].m) * kk_f16_to_f32(y[ib].s);
	}
	return sumf;
}

static inline kk_u32 load_u32_le(const kk_u8 *p)
{
	return (kk_u32)p[0] | (kk_u32)p[1] << 8 | (kk_u32)p[2] << 16 |
	       (kk_u32)p[3] << 24;
}

static float dot_q5_0_q8_0(kk_u32 nb, const struct kk_block_q5_0 *x,
			   const struct kk_block_q8_0 *y)
{
	float sumf = 0;

	for (kk_u32 ib = 0; ib < nb; ib++) {
		const kk_u32 qh = load_u32_le(x[ib].qh);
		int sumi0 = 0, sumi1 = 0;

		for (int j = 0; j < QK8_0 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10;
			const int h1 = (qh >> (j + 12)) & 0x10;
			const int x0 = ((x[ib].qs[j] & 0x0F) | h0) - 16;
			const int x1 = ((x[ib].qs[j] >> 4) | h1) - 16;

			sumi0 += x0 * y[ib].qs[j];
			sumi1 += x1 * y[ib].qs[j + QK8_0 / 2];
		}
		sumf += (kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d)) *
			(sumi0 + sumi1);
	}
	return sumf;
}

static float dot_q5_1_q8_1(kk_u32 nb, const struct kk_block_q5_1 *x,
			   const struct kk_block_q8_1 *y)
{
	float sumf = 0;

	for (kk_u32 ib = 0; ib < nb; ib++) {
		const kk_u32 qh = load_u32_le(x[ib].qh);
		int sumi0 = 0, sumi1 = 0;

		for (int j = 0; j < QK8_1 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10;
			const int h1 = (qh >> (j + 12)) & 0x10;
			const int x0 = (x[ib].qs[j] & 0x0F) | h0;
			const int x1 = (x[ib].qs[j] >> 4) | h1;

			sumi0 += x0 * y[ib].qs[j];
			sumi1 += x1 * y[ib].qs[j + QK8_1 / 2];
		}
		sumf += (kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d)) *
				(sumi0 + sumi1) +
			kk_f16_to_f32(x[ib].m) * kk_f16_to_f32(y[ib].s);
	}
	return sumf;
}

static float dot_q8_0_q8_0(kk_u32 nb, const struct kk_block_q8_0 *x,
			   const struct kk_block_q8_0 *y)
{
	float sumf = 0;

	for (kk_u32 ib = 0; ib < nb; ib++) {
		int sumi = 0;

		for (int j = 0; j < QK8_0; j++)
			sumi += x[ib].qs[j] * y[ib].qs[j];
		sumf += sumi * (kk_f16_to_f32(x[ib].d) * kk_f16_to_f32(y[ib].d));
	}
	return sumf;
}

/* ---- 256-element super-blocks ---------------------------------------- */

/*
 * ggml's generic K-quant dots keep eight int32 lanes per super-block (lane =
 * element index mod 8), scale each lane by d into eight float lanes that run
 * across the whole row, subtract the mins term from a separate float sum per
 * super-block, and add the eight float lanes to that sum at the very end.
 * The integer lanes are exact, so any order of integer accumulation gives
 * the same value; the float steps below are ggml's.
 */
struct kq_acc {
	float sums[8];		/* float lanes across super-blocks */
	float sumf;		/* the mins terms */
};

static void kq_acc_block(struct kq_acc *acc, const kk_i32 aux32[8], float d)
{
	for (int l = 0; l < 8; l++)
		acc->sums[l] += d * aux32[l];
}

static float kq_acc_result(struct kq_acc *acc)
{
	float sumf = acc->sumf;

	for (int l = 0; l < 8; l++)
		sumf += acc->sums[l];
	return sumf;
}

/* The mins term of a Q4_K/Q5_K block: sum_j bsums[j] * min[j / 2]. */
static int kq_mins_dot(const kk_u8 *scales, const struct kk_block_q8_K *y)
{
	int sumi = 0;

	for (int j = 0; j < QK_K / 16; j++) {
		kk_u8 sc, m;

		kk_get_scale_min_k4(j / 2, scales, &sc, &m);
		sumi += y->bsums[j] * m;
	}
	return sumi;
}

/*
 * One 64-element chunk c of a Q4_K/Q5_K block: element e < 32 is the low
 * nibble of qs[32c + e], element e >= 32 the high nibble of qs[32c + e - 32];
 * Q5_K adds 16 where bit (2c + e / 32) of qh[e % 32] is set.
 */
static void kq_chunk_q45(kk_i32 aux32[8], const kk_u8 *scales, const kk_u8 *qs,
			 const kk_u8 *qh, int c, const kk_i8 *q8)
{
	for (int half = 0; half < 2; half++) {
		const int sub = 2 * c + half;	/* 32-element sub-block */
		kk_u8 sc, m;

		kk_get_scale_min_k4(sub, scales, &sc, &m);
		for (int l = 0; l < 32; l++) {
			int a = half ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 0xF;

			if (qh && (qh[l] >> sub) & 1)
				a += 16;
			/* ggml forms q8 * a as int16, then scale * that */
			aux32[l % 8] += sc * (kk_i16)(q8[32 * sub + l] * a);
		}
	}
}

static float dot_q45_K_q8_K(kk_u32 nb, const kk_u8 *wbase, kk_u32 wbytes,
			    int is_q5, const struct kk_block_q8_K *y)
{
	struct kq_acc acc = { { 0 }, 0 };

	for (kk_u32 i = 0; i < nb; i++) {
		const kk_u8 *blk = wbase + (kk_u64)i * wbytes;
		const kk_u8 *scales, *qs, *qh;
		kk_u16 d16, dmin16;
		kk_i32 aux32[8] = { 0 };
		float d, dmin;
		int sumi;

		if (is_q5) {
			const struct kk_block_q5_K *x = (const void *)blk;

			scales = x->scales;
			qs = x->qs;
			qh = x->qh;
			d16 = x->d;
			dmin16 = x->dmin;
		} else {
			const struct kk_block_q4_K *x = (const void *)blk;

			scales = x->scales;
			qs = x->qs;
			qh = NULL;
			d16 = x->d;
			dmin16 = x->dmin;
		}
		for (int c = 0; c < QK_K / 64; c++)
			kq_chunk_q45(aux32, scales, qs, qh, c, y[i].qs);
		sumi = kq_mins_dot(scales, &y[i]);

		d = kk_f16_to_f32(d16) * y[i].d;
		kq_acc_block(&acc, aux32, d);
		dmin = kk_f16_to_f32(dmin16) * y[i].d;
		acc.sumf -= dmin * sumi;
	}
	return kq_acc_result(&acc);
}

/* Element e (0..255) of a Q6_K block, minus its offset of 32. */
static inline int q6_K_value(const struct kk_block_q6_K *x, int e)
{
	const int n = e / 128, r = e % 128;
	const int quarter = r / 32, l = r % 32;
	const kk_u8 *ql = x->ql + 64 * n + (quarter & 1) * 32;
	const kk_u8 qh = x->qh[32 * n + l];
	const int lo = quarter < 2 ? ql[l] & 0xF : ql[l] >> 4;

	return (lo | ((qh >> (2 * quarter)) & 3) << 4) - 32;
}

static float dot_q6_K_q8_K(kk_u32 nb, const struct kk_block_q6_K *x,
			   const struct kk_block_q8_K *y)
{
	struct kq_acc acc = { { 0 }, 0 };

	for (kk_u32 i = 0; i < nb; i++) {
		kk_i32 aux32[8] = { 0 };

		for (int e = 0; e < QK_K; e++) {
			const int prod = y[i].qs[e] * q6_K_value(&x[i], e);

			aux32[e % 8] += x[i].scales[e / 16] * (kk_i16)prod;
		}
		kq_acc_block(&acc, aux32, kk_f16_to_f32(x[i].d) * y[i].d);
	}
	return kq_acc_result(&acc);
}

/* ---- float rows -------------------------------------------------------- */

/*
 * Float weights: sumf += w[i] * x[i] for i = 0, 1, ..., k-1, each product
 * and each sum rounded to float (no FMA: -ffp-contract=off).  ggml's scalar
 * F16/BF16 loops accumulate in double instead; SIMD paths use their own
 * orders and are tested against this with a tolerance.
 */
static float dot_f32(kk_u32 k, const float *w, const float *x)
{
	float sumf = 0;

	for (kk_u32 i = 0; i < k; i++)
		sumf += w[i] * x[i];
	return sumf;
}

static float dot_f16(kk_u32 k, const kk_u16 *w, const kk_u16 *x)
{
	float sumf = 0;

	for (kk_u32 i = 0; i < k; i++)
		sumf += kk_f16_to_f32(w[i]) * kk_f16_to_f32(x[i]);
	return sumf;
}

static float dot_bf16(kk_u32 k, const kk_u16 *w, const kk_u16 *x)
{
	float sumf = 0;

	for (kk_u32 i = 0; i < k; i++)
		sumf += kk_bf16_to_f32(w[i]) * kk_bf16_to_f32(x[i]);
	return sumf;
}

float kk_ref_vec_dot(kk_u32 w_type, kk_u32 k, const void *w, const void *xq)
{
	switch (w_type) {
	case KK_TYPE_F32:
		return dot_f32(k, w, xq);
	case KK_TYPE_F16:
		return dot_f16(k, w, xq);
	case KK_TYPE_BF16:
		return dot_bf16(k, w, xq);
	case KK_TYPE_Q4_0:
		return dot_q4_0_q8_0(k / QK4_0, w, xq);
	case KK_TYPE_Q4_1:
		return dot_q4_1_q8_1(k / QK4_1, w, xq);
	case KK_TYPE_Q5_0:
		return dot_q5_0_q8_0(k / QK5_0, w, xq);
	case KK_TYPE_Q5_1:
		return dot_q5_1_q8_1(k / QK5_1, w, xq);
	case KK_TYPE_Q8_0:
		return dot_q8_0_q8_0(k / QK8_0, w, xq);
	case KK_TYPE_Q4_K:
		return dot_q45_K_q8_K(k / QK_K, w, sizeof(struct kk_block_q4_K),
				      0, xq);
	case KK_TYPE_Q5_K:
		return dot_q45_K_q8_K(k / QK_K, w, sizeof(struct kk_block_q5_K),
				      1, xq);
	case KK_TYPE_Q6_K:
		return dot_q6_K_q8_K(k / QK_K, w, xq);
	default:
		return 0;
	}
}
