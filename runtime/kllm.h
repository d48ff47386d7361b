/* SPDX-License-Identifier: MIT */
/*
 * kllm.h - public API of libkllm.
 *
 * So far: the library version, choosing the compute kernels' SIMD path
 * (cpu.h), and the thread pool that runs kernels/ ops (pool.h, kk.h).
 * Model loading, sequences and sampling are added here as they land.
 *
 * Threading: kllm_cpu_init() once before any op; a pool runs one job at a
 * time (one caller thread per pool).
 */
#ifndef KLLM_H
#define KLLM_H

#include "kk.h"
#include "cpu.h"
#include "pool.h"

#define KLLM_VERSION_MAJOR 0
#define KLLM_VERSION_MINOR 1
#define KLLM_VERSION_PATCH 0

/* "0.1.0" */
const char *kllm_version(void);

#endif /* KLLM_H */
