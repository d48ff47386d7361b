/* SPDX-License-Identifier: MIT */
/*
 * pool.h - libkllm's thread pool: the userspace home of kernels/ (internal;
 * the public part, kllm_pool_*, is declared in kllm.h).
 *
 * A pool of n threads runs parallel-for jobs: the calling thread takes part,
 * n - 1 worker threads help.  Between jobs the workers spin briefly (a
 * decode issues hundreds of small ops per token back to back, and a futex
 * round trip per op would cost more than many of the ops) and then sleep,
 * so an idle pool burns no CPU.
 *
 * One job runs at a time: concurrent callers are serialised, and a
 * parallel-for issued from inside a job (from fn) runs inline on the
 * calling thread.  Every worker takes part in (acknowledges) every job
 * that has more than one chunk, so give a pool no more threads than the
 * cores it may use: a descheduled worker delays every job.
 */
#ifndef KLLM_RUNTIME_POOL_H
#define KLLM_RUNTIME_POOL_H

#include <stdint.h>

#include "kk.h"
#include "kllm.h"

/* The pool as a kk_host, for kk_op_exec(). */
struct kk_host kllm_pool_host(struct kllm_pool *pool);

#endif /* KLLM_RUNTIME_POOL_H */
