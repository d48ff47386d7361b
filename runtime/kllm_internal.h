/* SPDX-License-Identifier: MIT */
/*
 * kllm_internal.h - libkllm's public API and the internals its own tools
 * and tests use on top of it: the compute kernels (kk.h), the CPU and
 * thread-pool internals (cpu.h, pool.h).  Not installed: programs outside
 * this tree use <kllm/kllm.h> alone, and link the internal objects only
 * through $(BUILD)/lib/libkllm.a of a build tree (the installed library
 * exports kllm.h's functions and nothing else).  Other runtime headers
 * (gguf.h, model.h, seq.h, ...) are included by name with -I runtime.
 */
#ifndef KLLM_INTERNAL_H
#define KLLM_INTERNAL_H

#include "kllm.h"
#include "kk.h"
#include "cpu.h"
#include "pool.h"

#endif /* KLLM_INTERNAL_H */
