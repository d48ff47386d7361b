// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_avx512.c - matmul kernels for AVX-512 BW/VL without VNNI: the AVX2
 * kernels with masked byte ops and 32 registers.  With VNNI the kernels of
 * kk_mm_avx512vnni.c replace them.  FPU unit.
 */
#if defined(__x86_64__)
#define KX_AVX512 1
#define KX_VNNI 0
#include "kk_mm_x86.h"

void kk_mm_init_avx512(struct kk_mm_impl *mm, kk_u32 cpu_flags)
{
	kx_init(mm);
	if (cpu_flags & KK_CPU_AVX512VNNI)
		kk_mm_init_avx512vnni(mm, cpu_flags);
}
#endif
