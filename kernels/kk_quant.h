/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_quant.h - internal: the scalar reference for every block format
 * (kk_dequant.c, kk_quant.c, kk_quant_dot.c).  Every SIMD path is tested
 * against these.  FPU units only.
 */
#ifndef KLLM_KK_QUANT_H
#define KLLM_KK_QUANT_H

#include "kk.h"
#include "kk_blocks.h"

/* Dequantize n elements (multiple of the block size) of any weight type
 * (and Q8_0/Q8_1/Q8_K) to floats. */
void kk_ref_dequant_row(kk_u32 type, const void *src, float *dst, kk_u64 n);
/* Quantize n floats into type; the activation quantizers (Q8_0, Q8_1, Q8_K,
 * F16, BF16, F32) follow ggml's reference rounding exactly. */
void kk_ref_quantize_row(kk_u32 type, const float *src, void *dst, kk_u64 n);
/*
 * Dot product of one weight row (w_type, k elements) with one activation row
 * already quantized to kk_type_vec_dot_type(w_type).  The accumulation
 * order is ggml's scalar reference order.
 */
float kk_ref_vec_dot(kk_u32 w_type, kk_u32 k, const void *w, const void *xq);

/* ------------------------------------------------------------------ */
/* Rounding helpers shared with the SIMD quantizers, so that every path
 * produces the same bytes as ggml's reference.                         */

/*
 * ggml's nearest_int(): round half to even by adding 1.5 * 2^23, valid for
 * |f| <= 2^22 - 1 (callers guarantee it).
 */
static inline int kk_nearest_int(float f)
{
	float v = f + 12582912.f;
	kk_i32 i;

	__builtin_memcpy(&i, &v, sizeof(i));
	return (i & 0x007fffff) - 0x00400000;
}

/*
 * roundf() without libm: round half away from zero, returned as an int
 * clamped to [-2^23, 2^23] (far outside any quant range; keeps a NaN or huge
 * input from being an undefined conversion).  NaN gives 0.
 */
static inline int kk_round_away(float f)
{
	float a = __builtin_fabsf(f);
	int r;

	if (!(a < 8388608.f))	/* also true for NaN */
		return a == a ? (f < 0 ? -8388608 : 8388608) : 0;
	r = (int)a;		/* truncation: exact for a < 2^23 */
	if (a - (float)r >= 0.5f) /* a - r is exact */
		r++;
	return f < 0 ? -r : r;
}

/*
 * (int)f with f truncated toward zero and clamped to [lo, hi] first, as
 * ggml's (int8_t)/(uint8_t) casts do for every in-range value.  NaN gives lo.
 */
static inline int kk_trunc_clamp(float f, int lo, int hi)
{
	if (!(f > (float)lo))
		return lo;
	if (f >= (float)hi)
		return hi;
	return (int)f;
}

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's
 * get_scale_min_k4). */
static inline void kk_get_scale_min_k4(int j, const kk_u8 *q, kk_u8 *d, kk_u8 *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
	}
}

#endif /* KLLM_KK_QUANT_H */
