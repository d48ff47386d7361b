/* SPDX-License-Identifier: MIT */
/*
 * cpu.h - what the CPU offers libkllm (internal): the SIMD path the kernels
 * use (chosen once at startup, overridable with env KLLM_SIMD) and how many
 * CPUs this process may run on.  The public part (kllm_cpu_init,
 * kllm_cpu_select, kllm_simd_name, ...) is declared in kllm.h; its
 * KLLM_SIMD_* values are kernels/kk.h's enum kk_simd.
 */
#ifndef KLLM_RUNTIME_CPU_H
#define KLLM_RUNTIME_CPU_H

#include "kk.h"
#include "kllm.h"

/* AT_HWCAP on aarch64 (what kk_simd_available() wants), 0 elsewhere. */
unsigned long kllm_cpu_hwcap(void);

#endif /* KLLM_RUNTIME_CPU_H */
