// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_avx512vnni.c - matmul kernels for AVX-512 with VNNI: vpdpbusd for
 * every u8 x s8 dot product.  Called only when the CPU has AVX512_VNNI.
 * FPU unit.
 */
#if defined(__x86_64__)
#define KX_AVX512 1
#define KX_VNNI 1
#include "kk_mm_x86.h"

void kk_mm_init_avx512vnni(struct kk_mm_impl *mm, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	kx_init(mm);
}
#endif
