// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_dotprod.c - matmul kernels for aarch64 with SDOT (armv8.2 dotprod):
 * kk_mm_arm.h's 32-element block kernels with vdotq_s32 integer dots.
 * Runs on top of the NEON table (kk_simd_table.c calls kk_mm_init_neon first),
 * which keeps the K-quant, float and quantizer entries: their int16 lanes
 * are what reproduce the reference bit for bit.  The i8mm table is this
 * one plus kk_mm_i8mm.c's SMMLA tiles.  FPU unit.
 */
#if defined(__aarch64__)
#define KA_DOTPROD 1
#include "kk_mm_arm.h"

KA_GEMM32_ENTRIES(ka_tile32)

void kk_mm_init_dotprod(struct kk_mm_impl *mm, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	ka_gemm32_fill(mm);
}
#endif /* __aarch64__ */
