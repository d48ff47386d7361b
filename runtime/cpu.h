/* SPDX-License-Identifier: MIT */
/*
 * cpu.h - what the CPU offers libkllm: the SIMD path the kernels use
 * (chosen once at startup, overridable with env KLLM_SIMD) and how many
 * CPUs this process may run on.
 */
#ifndef KLLM_RUNTIME_CPU_H
#define KLLM_RUNTIME_CPU_H

#include "kk.h"

/* AT_HWCAP on aarch64 (what kk_simd_available() wants), 0 elsewhere. */
unsigned long kllm_cpu_hwcap(void);

/*
 * Detect the SIMD paths and select one: the best available, or the one
 * env KLLM_SIMD names (scalar|avx2|avx512|neon|dotprod).  A name that is
 * unknown or not available prints a message on stderr and falls back to
 * the best path.  Idempotent and thread-safe: later calls return the first
 * result.  Returns the selected enum kk_simd.
 */
kk_u32 kllm_cpu_init(void);

/* Mask of available paths (1u << enum kk_simd); calls kllm_cpu_init(). */
kk_u32 kllm_cpu_simd_mask(void);

/*
 * Select @simd for all later ops (tools and tests switching paths).
 * 0, or -ENOTSUP if this CPU or build lacks it.  Not while ops run.
 */
int kllm_cpu_select(kk_u32 simd);

/*
 * Parse a path name ("avx2") for a tool's option: the enum, or -EINVAL for
 * an unknown name, -ENOTSUP for a known one this CPU lacks.
 */
int kllm_cpu_parse_simd(const char *name);

/* CPUs this process may run on (affinity mask), at least 1. */
unsigned int kllm_cpu_count(void);

#endif /* KLLM_RUNTIME_CPU_H */
