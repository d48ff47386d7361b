/* SPDX-License-Identifier: MIT */
/*
 * engine_cpu.h - the in-process engine: runs a checked program
 * (uapi/kllm_prog.h) for one batch on the runtime's thread pool, the same
 * program the kernel driver would run.
 */
#ifndef KLLM_RUNTIME_ENGINE_CPU_H
#define KLLM_RUNTIME_ENGINE_CPU_H

#include "kk.h"
#include "kllm_prog.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "pool.h"

/*
 * Run every op of @prog (from kllm_prog_check) in order for @batch with the
 * memory in @bind, on @pool (NULL: on the calling thread).  If
 * bind->scratch is NULL the engine allocates kllm_prog_scratch_bytes() for
 * the run; callers that run often pass their own.  The SIMD path must have
 * been selected (kllm_cpu_init).  0, -ENOMEM, or -EINVAL with *err (if not
 * NULL) saying which op or binding was refused.
 */
int kllm_engine_cpu_run(const struct kllm_prog_info *prog,
			const struct kllm_prog_bindings *bind,
			const struct kllm_prog_batch *batch, struct kllm_pool *pool,
			struct kllm_prog_err *err);

#endif /* KLLM_RUNTIME_ENGINE_CPU_H */
