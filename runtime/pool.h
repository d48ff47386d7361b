/* SPDX-License-Identifier: MIT */
/*
 * pool.h - libkllm's thread pool: the userspace home of kernels/.
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

struct kllm_pool;

/* Most threads a pool may have (callers should pass what the CPU offers). */
#define KLLM_POOL_MAX_THREADS 512

/*
 * Create a pool of @n_threads threads in all, the caller included (so 1
 * starts no worker).  0 and *out set, or -EINVAL (n_threads 0 or above
 * KLLM_POOL_MAX_THREADS), -ENOMEM, -EAGAIN (thread creation failed).
 */
int kllm_pool_create(unsigned int n_threads, struct kllm_pool **out);
/* Stop and join the workers, free the pool.  NULL is a no-op.  No job may
 * be running. */
void kllm_pool_destroy(struct kllm_pool *pool);
/* Threads taking part in each job, the caller included. */
unsigned int kllm_pool_threads(const struct kllm_pool *pool);

/* The range function of a job; same shape as kk_range_fn. */
typedef void (*kllm_range_fn)(void *arg, uint64_t begin, uint64_t end);

/*
 * Call fn(arg, b, e) over disjoint ranges covering [0, n_items), each at most
 * @chunk items (0 counts as 1), on the pool's threads; return when all are
 * done.  Ranges start at multiples of chunk.  Everything fn wrote is visible
 * to the caller on return.
 */
void kllm_pool_parallel_for(struct kllm_pool *pool, kllm_range_fn fn, void *arg,
			    uint64_t n_items, uint64_t chunk);

/* The pool as a kk_host, for kk_op_exec(). */
struct kk_host kllm_pool_host(struct kllm_pool *pool);

/*
 * Tuning: how long (ns) an idle worker spins before it sleeps, and how long
 * the caller spins waiting for the workers to finish before it sleeps.
 * Default KLLM_POOL_SPIN_NS, overridable with env KLLM_POOL_SPIN_NS at
 * create time.  0 = sleep at once.
 */
#define KLLM_POOL_SPIN_NS 100000u
void kllm_pool_set_spin_ns(struct kllm_pool *pool, uint32_t ns);

/* Counters for tests and tuning (monotonic since create). */
struct kllm_pool_stats {
	uint64_t jobs;		/* parallel_for calls */
	uint64_t jobs_inline;	/* of which ran on the caller alone */
	uint64_t worker_sleeps;	/* times a worker went to sleep on the futex */
	uint64_t caller_sleeps;	/* times the caller slept waiting for workers */
};
void kllm_pool_get_stats(const struct kllm_pool *pool, struct kllm_pool_stats *st);

#endif /* KLLM_RUNTIME_POOL_H */
