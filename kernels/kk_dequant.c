// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_dequant.c - scalar reference dequantization of every block format.
 *
 * Bit-compatible with ggml's dequantize_row_* (ggml-quants.c): each element
 * is computed with the same float operations in the same order, so with
 * -ffp-contract=off the results are identical bit for bit.  FPU unit.
 */
#include "kk_quant.h"
#include "kk_fp.h"

static void dq_f32(const float *x, float *y, kk_u64 n)
{
	__builtin_memcpy(y, x, n * sizeof(float));
}

static void dq_f16(const kk_u16 *x, float *y, kk_u64 n)
{
	for (kk_u64 i = 0; i < n; i++)
		y[i] = kk_f16_to_f32(x[i]);
}

static void dq_bf16(const kk_u16 *x, float *y, kk_u64 n)
{
	for (kk_u64 i = 0; i < n; i++)
		y[i] = kk_bf16_to_f32(x[i]);
}

static void dq_q4_0(const struct kk_block_q4_0 *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK4_0) {
		const float d = kk_f16_to_f32(x[i].d);

		for (int j = 0; j < QK4_0 / 2; j++) {
			const int x0 = (x[i].qs[j] & 0x0F) - 8;
			const int x1 = (x[i].qs[j] >> 4) - 8;

			y[j] = x0 * d;
			y[j + QK4_0 / 2] = x1 * d;
		}
	}
}

static void dq_q4_1(const struct kk_block_q4_1 *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK4_1) {
		const float d = kk_f16_to_f32(x[i].d);
		const float m = kk_f16_to_f32(x[i].m);

		for (int j = 0; j < QK4_1 / 2; j++) {
			const int x0 = x[i].qs[j] & 0x0F;
			const int x1 = x[i].qs[j] >> 4;

			y[j] = x0 * d + m;
			y[j + QK4_1 / 2] = x1 * d + m;
		}
	}
}

/* The 5th bits of elements j and j + 16, from a little-endian u32. */
static inline kk_u32 q5_high_bits(const kk_u8 qh[4])
{
	return (kk_u32)qh[0] | (kk_u32)qh[1] << 8 | (kk_u32)qh[2] << 16 |
	       (kk_u32)qh[3] << 24;
}

static void dq_q5_0(const struct kk_block_q5_0 *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK5_0) {
		const float d = kk_f16_to_f32(x[i].d);
		const kk_u32 qh = q5_high_bits(x[i].qh);

		for (int j = 0; j < QK5_0 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10;
			const int h1 = (qh >> (j + 12)) & 0x10;
			const int x0 = ((x[i].qs[j] & 0x0F) | h0) - 16;
			const int x1 = ((x[i].qs[j] >> 4) | h1) - 16;

			y[j] = x0 * d;
			y[j + QK5_0 / 2] = x1 * d;
		}
	}
}

static void dq_q5_1(const struct kk_block_q5_1 *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK5_1) {
		const float d = kk_f16_to_f32(x[i].d);
		const float m = kk_f16_to_f32(x[i].m);
		const kk_u32 qh = q5_high_bits(x[i].qh);

		for (int j = 0; j < QK5_1 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10;
			const int h1 = (qh >> (j + 12)) & 0x10;
			const int x0 = (x[i].qs[j] & 0x0F) | h0;
			const int x1 = (x[i].qs[j] >> 4) | h1;

			y[j] = x0 * d + m;
			y[j + QK5_1 / 2] = x1 * d + m;
		}
	}
}

static void dq_q8_0(const struct kk_block_q8_0 *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK8_0) {
		const float d = kk_f16_to_f32(x[i].d);

		for (int j = 0; j < QK8_0; j++)
			y[j] = x[i].qs[j] * d;
	}
}

/* ggml has no dequantize_row_q8_1; s is redundant (d * sum) and ignored. */
static void dq_q8_1(const struct kk_block_q8_1 *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK8_1) {
		const float d = kk_f16_to_f32(x[i].d);

		for (int j = 0; j < QK8_1; j++)
			y[j] = x[i].qs[j] * d;
	}
}

static void dq_q4_K(const struct kk_block_q4_K *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++) {
		const kk_u8 *q = x[i].qs;
		const float d = kk_f16_to_f32(x[i].d);
		const float min = kk_f16_to_f32(x[i].dmin);

		/* 4 chunks of 64: 32 low nibbles, then the same 32 bytes' high. */
		for (int is = 0; is < QK_K / 32; is += 2, q += 32) {
			kk_u8 sc, m;
			float d1, m1, d2, m2;

			kk_get_scale_min_k4(is, x[i].scales, &sc, &m);
			d1 = d * sc;
			m1 = min * m;
			kk_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			d2 = d * sc;
			m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0xF) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

static void dq_q5_K(const struct kk_block_q5_K *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++) {
		const kk_u8 *ql = x[i].qs;
		const kk_u8 *qh = x[i].qh;
		const float d = kk_f16_to_f32(x[i].d);
		const float min = kk_f16_to_f32(x[i].dmin);
		kk_u8 u1 = 1, u2 = 2;

		for (int is = 0; is < QK_K / 32; is += 2, ql += 32) {
			kk_u8 sc, m;
			float d1, m1, d2, m2;

			kk_get_scale_min_k4(is, x[i].scales, &sc, &m);
			d1 = d * sc;
			m1 = min * m;
			kk_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			d2 = d * sc;
			m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
			u1 <<= 2;
			u2 <<= 2;
		}
	}
}

static void dq_q6_K(const struct kk_block_q6_K *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++) {
		const float d = kk_f16_to_f32(x[i].d);
		const kk_u8 *ql = x[i].ql;
		const kk_u8 *qh = x[i].qh;
		const kk_i8 *sc = x[i].scales;

		for (int n = 0; n < QK_K; n += 128) {
			for (int l = 0; l < 32; l++) {
				const int is = l / 16;
				const int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
				const int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
				const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
				const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;

				/* (d * scale) * q, as ggml evaluates it */
				y[l] = d * sc[is + 0] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
			y += 128;
			ql += 64;
			qh += 32;
			sc += 8;
		}
	}
}

static void dq_q8_K(const struct kk_block_q8_K *x, float *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, y += QK_K) {
		for (int j = 0; j < QK_K; j++)
			y[j] = x[i].d * x[i].qs[j];
	}
}

void kk_ref_dequant_row(kk_u32 type, const void *src, float *dst, kk_u64 n)
{
	switch (type) {
	case KK_TYPE_F32:
		dq_f32(src, dst, n);
		break;
	case KK_TYPE_F16:
		dq_f16(src, dst, n);
		break;
	case KK_TYPE_BF16:
		dq_bf16(src, dst, n);
		break;
	case KK_TYPE_Q4_0:
		dq_q4_0(src, dst, n / QK4_0);
		break;
	case KK_TYPE_Q4_1:
		dq_q4_1(src, dst, n / QK4_1);
		break;
	case KK_TYPE_Q5_0:
		dq_q5_0(src, dst, n / QK5_0);
		break;
	case KK_TYPE_Q5_1:
		dq_q5_1(src, dst, n / QK5_1);
		break;
	case KK_TYPE_Q8_0:
		dq_q8_0(src, dst, n / QK8_0);
		break;
	case KK_TYPE_Q8_1:
		dq_q8_1(src, dst, n / QK8_1);
		break;
	case KK_TYPE_Q4_K:
		dq_q4_K(src, dst, n / QK_K);
		break;
	case KK_TYPE_Q5_K:
		dq_q5_K(src, dst, n / QK_K);
		break;
	case KK_TYPE_Q6_K:
		dq_q6_K(src, dst, n / QK_K);
		break;
	case KK_TYPE_Q8_K:
		dq_q8_K(src, dst, n / QK_K);
		break;
	default:
		break;
	}
}
