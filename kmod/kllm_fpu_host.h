/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_fpu_host.h - the kernel home of kernels/: runs kk ops with every
 * chunk inside its own kernel_fpu section.
 */
#ifndef KLLM_FPU_HOST_H
#define KLLM_FPU_HOST_H

#include "kk.h"

/* A host that runs chunks on the calling thread (kernel_fpu around each). */
void kllm_fpu_host_serial(struct kk_host *host);
/* Select a kernels/ path (its table init may use SIMD registers). */
int kllm_fpu_simd_select(u32 simd);

#endif
