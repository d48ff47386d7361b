// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_neon.c - matmul kernels for aarch64 Advanced SIMD (kk_mm_arm.h
 * with SMULL/SADALP integer dots).  Every quantized y element is bitwise
 * the scalar path's; float weights use FMA.  FPU unit.
 */
#if defined(__aarch64__)
#define KA_DOTPROD 0
#include "kk_mm_arm.h"

KA_GEMM32_ENTRIES(ka_tile32)

static float ka_dot_q4_K(kk_u32 k, const void *w, const void *x)
{
	return ka_dot_q45_K(k / QK_K, w, sizeof(struct kk_block_q4_K), 0, x);
}

static float ka_dot_q5_K(kk_u32 k, const void *w, const void *x)
{
	return ka_dot_q45_K(k / QK_K, w, sizeof(struct kk_block_q5_K), 1, x);
}

static float ka_dot_q6_K_row(kk_u32 k, const void *w, const void *x)
{
	return ka_dot_q6_K(k / QK_K, w, x);
}

static float ka_dot_f32(kk_u32 k, const void *w, const void *x)
{
	return ka_dot_float(KA_F32, k, w, x);
}

static float ka_dot_f16(kk_u32 k, const void *w, const void *x)
{
	return ka_dot_float(KA_F16, k, w, x);
}

static float ka_dot_bf16(kk_u32 k, const void *w, const void *x)
{
	return ka_dot_float(KA_BF16, k, w, x);
}

#define KA_GEMM_DOTS(name, dot)						\
static void ka_gemm_##name(const struct kk_mm_tile *t)			\
{									\
	ka_tile_dots(t, dot);						\
}

KA_GEMM_DOTS(q4_K, ka_dot_q4_K)
KA_GEMM_DOTS(q5_K, ka_dot_q5_K)
KA_GEMM_DOTS(q6_K, ka_dot_q6_K_row)
KA_GEMM_DOTS(f32, ka_dot_f32)
KA_GEMM_DOTS(f16, ka_dot_f16)
KA_GEMM_DOTS(bf16, ka_dot_bf16)

/* Q8_0 / Q8_1 activations in the standard layout, the reference's bytes. */
static void ka_quant_q8_0(const float *x, void *xq, kk_u32 k)
{
	struct kk_block_q8_0 *y = xq;

	for (kk_u32 i = 0; i < k / QK8_0; i++, x += QK8_0) {
		float d;

		ka_quant_block(x, y[i].qs, &d);
		y[i].d = kk_f32_to_f16(d);
	}
}

static void ka_quant_q8_1(const float *x, void *xq, kk_u32 k)
{
	struct kk_block_q8_1 *y = xq;

	for (kk_u32 i = 0; i < k / QK8_1; i++, x += QK8_1) {
		float d;
		const int sum = ka_quant_block(x, y[i].qs, &d);

		y[i].d = kk_f32_to_f16(d);
		y[i].s = kk_f32_to_f16(sum * d);
	}
}

/*
 * The standard layout is the scalar path's, so quant and xq_bytes change
 * together only where a quantizer is replaced (the rule in kk_impl_mm.h).
 */
static kk_u64 ka_xq_bytes_q8_0(kk_u32 k)
{
	return kk_mm_xq_bytes_std(KK_TYPE_Q4_0, k);
}

static kk_u64 ka_xq_bytes_q8_1(kk_u32 k)
{
	return kk_mm_xq_bytes_std(KK_TYPE_Q4_1, k);
}

void kk_mm_init_neon(struct kk_mm_impl *mm, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	ka_gemm32_fill(mm);
	mm->gemm[KK_TYPE_Q4_K] = ka_gemm_q4_K;
	mm->gemm[KK_TYPE_Q5_K] = ka_gemm_q5_K;
	mm->gemm[KK_TYPE_Q6_K] = ka_gemm_q6_K;
	mm->gemm[KK_TYPE_F32] = ka_gemm_f32;
	mm->gemm[KK_TYPE_F16] = ka_gemm_f16;
	mm->gemm[KK_TYPE_BF16] = ka_gemm_bf16;
	mm->quant[KK_TYPE_Q4_0] = ka_quant_q8_0;
	mm->quant[KK_TYPE_Q5_0] = ka_quant_q8_0;
	mm->quant[KK_TYPE_Q8_0] = ka_quant_q8_0;
	mm->quant[KK_TYPE_Q4_1] = ka_quant_q8_1;
	mm->quant[KK_TYPE_Q5_1] = ka_quant_q8_1;
	mm->xq_bytes[KK_TYPE_Q4_0] = ka_xq_bytes_q8_0;
	mm->xq_bytes[KK_TYPE_Q5_0] = ka_xq_bytes_q8_0;
	mm->xq_bytes[KK_TYPE_Q8_0] = ka_xq_bytes_q8_0;
	mm->xq_bytes[KK_TYPE_Q4_1] = ka_xq_bytes_q8_1;
	mm->xq_bytes[KK_TYPE_Q5_1] = ka_xq_bytes_q8_1;
}
#endif /* __aarch64__ */
