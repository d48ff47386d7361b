/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_fp.h - half and bfloat16 conversions without libm, for FPU units only.
 * Bit-exact with ggml's reference conversions (round to nearest even).
 */
#ifndef KLLM_KK_FP_H
#define KLLM_KK_FP_H

#include "kk.h"

static inline float kk_u32_as_f32(kk_u32 u)
{
	float f;

	__builtin_memcpy(&f, &u, sizeof(f));
	return f;
}

static inline kk_u32 kk_f32_as_u32(float f)
{
	kk_u32 u;

	__builtin_memcpy(&u, &f, sizeof(u));
	return u;
}

/* IEEE half -> float, exact (the same trick as ggml's fp32_from_bits path). */
static inline float kk_f16_to_f32(kk_u16 h)
{
	const kk_u32 w = (kk_u32)h << 16;
	const kk_u32 sign = w & 0x80000000u;
	const kk_u32 two_w = w + w;
	const kk_u32 exp_offset = 0xE0u << 23;
	const float exp_scale = kk_u32_as_f32(0x7800000u); /* 2^-112 */
	const float normalized = kk_u32_as_f32((two_w >> 4) + exp_offset) * exp_scale;
	const kk_u32 magic_mask = 126u << 23;
	const float magic_bias = 0.5f;
	const float denormalized = kk_u32_as_f32((two_w >> 17) | magic_mask) - magic_bias;
	const kk_u32 denormalized_cutoff = 1u << 27;
	const kk_u32 result = sign | (two_w < denormalized_cutoff ?
				       kk_f32_as_u32(denormalized) :
				       kk_f32_as_u32(normalized));
	return kk_u32_as_f32(result);
}

/* float -> IEEE half, round to nearest even, NaN preserved. */
static inline kk_u16 kk_f32_to_f16(float f)
{
	const float scale_to_inf = kk_u32_as_f32(0x77800000u);  /* 2^112 */
	const float scale_to_zero = kk_u32_as_f32(0x08800000u); /* 2^-110 */
	float base = (__builtin_fabsf(f) * scale_to_inf) * scale_to_zero;
	const kk_u32 w = kk_f32_as_u32(f);
	const kk_u32 shl1_w = w + w;
	const kk_u32 sign = w & 0x80000000u;
	kk_u32 bias = shl1_w & 0xFF000000u;
	kk_u32 bits, exp_bits, mantissa_bits, nonsign;

	if (bias < 0x71000000u)
		bias = 0x71000000u;
	base = kk_u32_as_f32((bias >> 1) + 0x07800000u) + base;
	bits = kk_f32_as_u32(base);
	exp_bits = (bits >> 13) & 0x00007C00u;
	mantissa_bits = bits & 0x00000FFFu;
	nonsign = exp_bits + mantissa_bits;
	return (kk_u16)((sign >> 16) |
			(shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float kk_bf16_to_f32(kk_u16 h)
{
	return kk_u32_as_f32((kk_u32)h << 16);
}

/* float -> bfloat16, round to nearest even; NaN stays quiet NaN (ggml). */
static inline kk_u16 kk_f32_to_bf16(float f)
{
	kk_u32 u = kk_f32_as_u32(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (kk_u16)((u >> 16) | 64);
	return (kk_u16)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

#endif /* KLLM_KK_FP_H */
