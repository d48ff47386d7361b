// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_avx2.c - matmul kernels for AVX2 + FMA + F16C (kk_mm_x86.h built
 * with maddubs dot products).  FPU unit.
 */
#if defined(__x86_64__)
#define KX_AVX512 0
#define KX_VNNI 0
#include "kk_mm_x86.h"

void kk_mm_init_avx2(struct kk_mm_impl *mm, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	kx_init(mm);
}
#endif
