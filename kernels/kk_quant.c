// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_quant.c - scalar reference quantizers, and the public row conversions.
 *
 * Every quantizer follows ggml's quantize_row_*_ref (ggml-quants.c) operation
 * for operation, so the bytes match ggml's for every finite input.  Where
 * ggml leans on libm or on casts that are undefined out of range, the helpers
 * in kk_quant.h give the same result for every value ggml can reach and a
 * defined one otherwise (NaN and infinite inputs).  FPU unit.
 */
#include "kk_quant.h"
#include "kk_fp.h"

static void q_f32(const float *x, float *y, kk_u64 n)
{
	__builtin_memcpy(y, x, n * sizeof(float));
}

static void q_f16(const float *x, kk_u16 *y, kk_u64 n)
{
	for (kk_u64 i = 0; i < n; i++)
		y[i] = kk_f32_to_f16(x[i]);
}

static void q_bf16(const float *x, kk_u16 *y, kk_u64 n)
{
	for (kk_u64 i = 0; i < n; i++)
		y[i] = kk_f32_to_bf16(x[i]);
}

/* The value of largest magnitude (the first one on ties), and |it|. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
	float amax = 0.0f, max = 0.0f;

	for (int j = 0; j < n; j++) {
		if (amax < __builtin_fabsf(x[j])) {
			amax = __builtin_fabsf(x[j]);
			max = x[j];
		}
	}
	*amax_out = amax;
	return max;
}

static void min_max(const float *x, int n, float *min_out, float *max_out)
{
	float min = 3.402823466e+38f, max = -3.402823466e+38f; /* FLT_MAX */

	for (int j = 0; j < n; j++) {
		if (x[j] < min)
			min = x[j];
		if (x[j] > max)
			max = x[j];
	}
	*min_out = min;
	*max_out = max;
}

/* ggml's amax = MAX(amax, fabsf(v)), with the same comparison (and so the
 * same outcome for NaN). */
static float abs_max(const float *x, int n)
{
	float amax = 0.0f;

	for (int j = 0; j < n; j++) {
		float a = __builtin_fabsf(x[j]);

		amax = amax > a ? amax : a;
	}
	return amax;
}

static void q_q4_0(const float *x, struct kk_block_q4_0 *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK4_0) {
		float amax;
		const float max = signed_absmax(x, QK4_0, &amax);
		const float d = max / -8;
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = kk_f32_to_f16(d);
		for (int j = 0; j < QK4_0 / 2; j++) {
			const float x0 = x[j] * id;
			const float x1 = x[QK4_0 / 2 + j] * id;
			const int xi0 = kk_trunc_clamp(x0 + 8.5f, 0, 15);
			const int xi1 = kk_trunc_clamp(x1 + 8.5f, 0, 15);

			y[i].qs[j] = (kk_u8)(xi0 | xi1 << 4);
		}
	}
}

static void q_q4_1(const float *x, struct kk_block_q4_1 *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK4_1) {
		float min, max, d, id;

		min_max(x, QK4_1, &min, &max);
		d = (max - min) / ((1 << 4) - 1);
		id = d ? 1.0f / d : 0.0f;
		y[i].d = kk_f32_to_f16(d);
		y[i].m = kk_f32_to_f16(min);
		for (int j = 0; j < QK4_1 / 2; j++) {
			const float x0 = (x[j] - min) * id;
			const float x1 = (x[QK4_1 / 2 + j] - min) * id;
			const int xi0 = kk_trunc_clamp(x0 + 0.5f, 0, 15);
			const int xi1 = kk_trunc_clamp(x1 + 0.5f, 0, 15);

			y[i].qs[j] = (kk_u8)(xi0 | xi1 << 4);
		}
	}
}

static void store_u32_le(kk_u8 *p, kk_u32 v)
{
	p[0] = (kk_u8)v;
	p[1] = (kk_u8)(v >> 8);
	p[2] = (kk_u8)(v >> 16);
	p[3] = (kk_u8)(v >> 24);
}

static void q_q5_0(const float *x, struct kk_block_q5_0 *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK5_0) {
		float amax;
		const float max = signed_absmax(x, QK5_0, &amax);
		const float d = max / -16;
		const float id = d ? 1.0f / d : 0.0f;
		kk_u32 qh = 0;

		y[i].d = kk_f32_to_f16(d);
		for (int j = 0; j < QK5_0 / 2; j++) {
			const float x0 = x[j] * id;
			const float x1 = x[QK5_0 / 2 + j] * id;
			const kk_u32 xi0 = kk_trunc_clamp(x0 + 16.5f, 0, 31);
			const kk_u32 xi1 = kk_trunc_clamp(x1 + 16.5f, 0, 31);

			y[i].qs[j] = (kk_u8)((xi0 & 0x0F) | (xi1 & 0x0F) << 4);
			qh |= ((xi0 & 0x10u) >> 4) << j;
			qh |= ((xi1 & 0x10u) >> 4) << (j + QK5_0 / 2);
		}
		store_u32_le(y[i].qh, qh);
	}
}

static void q_q5_1(const float *x, struct kk_block_q5_1 *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK5_1) {
		float min, max, d, id;
		kk_u32 qh = 0;

		min_max(x, QK5_1, &min, &max);
		d = (max - min) / ((1 << 5) - 1);
		id = d ? 1.0f / d : 0.0f;
		y[i].d = kk_f32_to_f16(d);
		y[i].m = kk_f32_to_f16(min);
		for (int j = 0; j < QK5_1 / 2; j++) {
			const float x0 = (x[j] - min) * id;
			const float x1 = (x[QK5_1 / 2 + j] - min) * id;
			/* ggml casts to uint8_t without a clamp; 31 is never
			 * exceeded for finite input */
			const kk_u32 xi0 = kk_trunc_clamp(x0 + 0.5f, 0, 31);
			const kk_u32 xi1 = kk_trunc_clamp(x1 + 0.5f, 0, 31);

			y[i].qs[j] = (kk_u8)((xi0 & 0x0F) | (xi1 & 0x0F) << 4);
			qh |= ((xi0 & 0x10u) >> 4) << j;
			qh |= ((xi1 & 0x10u) >> 4) << (j + QK5_1 / 2);
		}
		store_u32_le(y[i].qh, qh);
	}
}

/* roundf() into an int8, as ggml's q8_0/q8_1 assignments do. */
static inline kk_i8 round_i8(float f)
{
	int r = kk_round_away(f);

	return (kk_i8)(r > 127 ? 127 : r < -128 ? -128 : r);
}

static void q_q8_0(const float *x, struct kk_block_q8_0 *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK8_0) {
		const float amax = abs_max(x, QK8_0);
		const float d = amax / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = kk_f32_to_f16(d);
		for (int j = 0; j < QK8_0; j++)
			y[i].qs[j] = round_i8(x[j] * id);
	}
}

static void q_q8_1(const float *x, struct kk_block_q8_1 *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK8_1) {
		const float amax = abs_max(x, QK8_1);
		const float d = amax / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;
		int sum = 0;

		y[i].d = kk_f32_to_f16(d);
		for (int j = 0; j < QK8_1 / 2; j++) {
			y[i].qs[j] = round_i8(x[j] * id);
			y[i].qs[QK8_1 / 2 + j] = round_i8(x[QK8_1 / 2 + j] * id);
			sum += y[i].qs[j];
			sum += y[i].qs[QK8_1 / 2 + j];
		}
		y[i].s = kk_f32_to_f16(sum * d);
	}
}

static void q_q8_K(const float *x, struct kk_block_q8_K *y, kk_u64 nb)
{
	for (kk_u64 i = 0; i < nb; i++, x += QK_K) {
		float amax, iscale;
		const float max = signed_absmax(x, QK_K, &amax);

		if (!amax) {
			/* ggml leaves bsums unwritten here; zero is their value */
			__builtin_memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		/* -127, not -128: ggml's choice, kept for identical bytes */
		iscale = -127.f / max;
		for (int j = 0; j < QK_K; j++) {
			const int v = kk_nearest_int(iscale * x[j]);

			y[i].qs[j] = (kk_i8)(v < 127 ? v : 127);
		}
		for (int j = 0; j < QK_K / 16; j++) {
			int sum = 0;

			for (int l = 0; l < 16; l++)
				sum += y[i].qs[j * 16 + l];
			y[i].bsums[j] = (kk_i16)sum;
		}
		y[i].d = 1 / iscale;
	}
}

void kk_ref_quantize_row(kk_u32 type, const float *src, void *dst, kk_u64 n)
{
	switch (type) {
	case KK_TYPE_F32:
		q_f32(src, dst, n);
		break;
	case KK_TYPE_F16:
		q_f16(src, dst, n);
		break;
	case KK_TYPE_BF16:
		q_bf16(src, dst, n);
		break;
	case KK_TYPE_Q4_0:
		q_q4_0(src, dst, n / QK4_0);
		break;
	case KK_TYPE_Q4_1:
		q_q4_1(src, dst, n / QK4_1);
		break;
	case KK_TYPE_Q5_0:
		q_q5_0(src, dst, n / QK5_0);
		break;
	case KK_TYPE_Q5_1:
		q_q5_1(src, dst, n / QK5_1);
		break;
	case KK_TYPE_Q8_0:
		q_q8_0(src, dst, n / QK8_0);
		break;
	case KK_TYPE_Q8_1:
		q_q8_1(src, dst, n / QK8_1);
		break;
	case KK_TYPE_Q8_K:
		q_q8_K(src, dst, n / QK_K);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Public row conversions (kk.h).                                       */

static int kk_has_quantizer(kk_u32 type)
{
	switch (type) {
	case KK_TYPE_F32:
	case KK_TYPE_F16:
	case KK_TYPE_BF16:
	case KK_TYPE_Q4_0:
	case KK_TYPE_Q4_1:
	case KK_TYPE_Q5_0:
	case KK_TYPE_Q5_1:
	case KK_TYPE_Q8_0:
	case KK_TYPE_Q8_1:
	case KK_TYPE_Q8_K:
		return 1;
	default:
		return 0;
	}
}

int kk_dequantize_row(kk_u32 type, const void *src, float *dst, kk_u64 n)
{
	const kk_u32 be = kk_type_block_elems(type);

	if (!be || n % be)
		return -KK_EINVAL;
	kk_ref_dequant_row(type, src, dst, n);
	return 0;
}

int kk_quantize_row(kk_u32 type, const float *src, void *dst, kk_u64 n)
{
	const kk_u32 be = kk_type_block_elems(type);

	if (!be || n % be || !kk_has_quantizer(type))
		return -KK_EINVAL;
	kk_ref_quantize_row(type, src, dst, n);
	return 0;
}
