// SPDX-License-Identifier: MIT
/*
 * pool.c - pthread pool behind kk_host: parallel-for with chunks handed out
 * by an atomic counter, and a spin-then-futex rendezvous between jobs.
 *
 * Protocol (one job at a time, under pool->lock):
 *   caller: write the job fields, next = 0, pending = n_workers, then bump
 *           gen (seq_cst) and wake sleeping workers if there are any.
 *   worker: sees gen change (acquire), reads the job, takes chunks until the
 *           counter passes n_chunks, then decrements pending (release); the
 *           last one wakes the caller if it went to sleep.
 *   caller: takes chunks too, then waits for pending == 0 (acquire): every
 *           worker is done with the job and its writes are visible.
 * Every worker acknowledges every job, so the caller may rewrite the job
 * fields as soon as pending reaches 0.  Sleeping uses a sleeper count and
 * seq_cst on both sides (a Dekker pair) so the common case, where nobody
 * sleeps, costs no system call.
 *
 * Memory ordering: the two pairs above (gen: caller releases, workers
 * acquire; pending: workers release, caller acquires) are all that
 * publish data; next, spin_ns and the statistics are relaxed and publish
 * nothing.  Each atomic access names its partner below.  x86 hides a
 * missing barrier (and so does TCG on x86): tests/unit/test_pool.c runs
 * under ThreadSanitizer in `make tsan-check`.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CACHELINE 64

struct kllm_pool {
	/* The job; plain fields published by the release of gen. */
	kllm_range_fn fn;
	void *arg;
	uint64_t n_items;
	uint64_t chunk;
	uint64_t n_chunks;
	int stop;

	unsigned int n_threads;		/* caller included */
	_Atomic uint32_t spin_ns;	/* relaxed: a tuning value, publishes nothing */
	pthread_t *workers;		/* n_threads - 1 */
	pthread_mutex_t lock;		/* one job at a time */

	/* Hot words, each on its own line. */
	_Alignas(CACHELINE) _Atomic uint64_t next;	/* next chunk index */
	_Alignas(CACHELINE) _Atomic uint32_t gen;	/* job number; futex */
	_Atomic uint32_t sleepers;			/* workers in futex_wait */
	_Alignas(CACHELINE) _Atomic uint32_t pending;	/* workers still in job; futex */
	_Atomic uint32_t caller_sleeping;

	/* Statistics: relaxed, publish nothing. */
	_Alignas(CACHELINE) _Atomic uint64_t st_jobs;
	_Atomic uint64_t st_jobs_inline;
	_Atomic uint64_t st_worker_sleeps;
	_Atomic uint64_t st_caller_sleeps;
};

/* The pool whose job this thread is running (nested calls run inline). */
static __thread struct kllm_pool *tls_pool;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expect)
{
	/* EAGAIN (value changed) and EINTR both just mean "look again". */
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/*
 * Spin until *word != val or spin_ns pass.  Returns the last value read,
 * read with acquire: pairs with the release that changed it (gen's bump in
 * kllm_pool_parallel_for() or stop_workers(), pending's decrements in
 * worker_done()).
 * The clock is read only every few dozen pauses (a pause is 10-150 cycles).
 * After the first microseconds each round also yields: when the thread we
 * wait for shares our CPU (more runnable threads than cores, which a busy
 * machine makes common) a pure spin would hold it off for a whole time
 * slice, and a yield costs little when nothing else wants the CPU.
 */
#define SPIN_PAUSES 32		/* pauses between clock reads */
#define SPIN_PURE_ROUNDS 4	/* rounds before yielding starts */

static uint32_t spin_while_equal(_Atomic uint32_t *word, uint32_t val, uint32_t spin_ns)
{
	uint32_t v = atomic_load_explicit(word, memory_order_acquire);
	uint64_t deadline;

	if (v != val || !spin_ns)
		return v;
	deadline = now_ns() + spin_ns;
	for (unsigned int round = 0;; round++) {
		for (int i = 0; i < SPIN_PAUSES; i++) {
			cpu_relax();
			v = atomic_load_explicit(word, memory_order_acquire);
			if (v != val)
				return v;
		}
		if (now_ns() >= deadline)
			return v;
		if (round >= SPIN_PURE_ROUNDS)
			sched_yield();
	}
}

/* Take chunks until none are left. */
static void run_chunks(struct kllm_pool *pool)
{
	const uint64_t n_items = pool->n_items, chunk = pool->chunk;
	const uint64_t n_chunks = pool->n_chunks;
	kllm_range_fn fn = pool->fn;
	void *arg = pool->arg;

	for (;;) {
		/* Relaxed: next only hands out indices (its reset came with the
		 * job, acquired with gen); results go by worker_done()'s release. */
		uint64_t i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
		uint64_t begin, left;

		if (i >= n_chunks)
			return;
		begin = i * chunk;	/* < n_items: no overflow */
		left = n_items - begin;
		fn(arg, begin, begin + (left < chunk ? left : chunk));
	}
}

/* Worker side: wait for gen to move past @seen; returns the new value. */
static uint32_t worker_wait_job(struct kllm_pool *pool, uint32_t seen)
{
	uint32_t spin = atomic_load_explicit(&pool->spin_ns, memory_order_relaxed);
	uint32_t g = spin_while_equal(&pool->gen, seen, spin);

	while (g == seen) {
		/* seq_cst pair with kllm_pool_parallel_for()'s gen bump then
		 * sleepers load: it sees us sleeping, or we see its job. */
		atomic_fetch_add(&pool->sleepers, 1);
		g = atomic_load(&pool->gen);
		if (g == seen) {
			atomic_fetch_add_explicit(&pool->st_worker_sleeps, 1, memory_order_relaxed);
			futex_wait(&pool->gen, seen);
			/* Acquire: pairs with gen's bump (release). */
			g = atomic_load_explicit(&pool->gen, memory_order_acquire);
		}
		atomic_fetch_sub(&pool->sleepers, 1);
	}
	return g;
}

/*
 * The decrement releases this worker's results and ends its reads of the
 * job: pairs with caller_wait_done()'s acquire of pending == 0 (a later
 * decrement continues the release sequence).  seq_cst pair with
 * caller_wait_done()'s caller_sleeping store then pending load: it sees
 * our decrement, or we see it sleeping.
 */
static void worker_done(struct kllm_pool *pool)
{
	if (atomic_fetch_sub(&pool->pending, 1) == 1 &&
	    atomic_load(&pool->caller_sleeping))
		futex_wake(&pool->pending, 1);
}

static void *worker_main(void *p)
{
	struct kllm_pool *pool = p;
	uint32_t seen = 0;	/* gen at create time; see kllm_pool_create */

	tls_pool = pool;
	for (;;) {
		seen = worker_wait_job(pool, seen);
		if (pool->stop)		/* plain: published by gen, as the job is */
			return NULL;
		run_chunks(pool);
		worker_done(pool);
	}
}

/* Caller side: wait until every worker acknowledged the job. */
static void caller_wait_done(struct kllm_pool *pool)
{
	uint32_t spin = atomic_load_explicit(&pool->spin_ns, memory_order_relaxed);
	uint32_t v = atomic_load_explicit(&pool->pending, memory_order_acquire);

	/* Spin while the count keeps moving, up to spin ns per value seen. */
	while (v) {
		uint32_t w = spin_while_equal(&pool->pending, v, spin);

		if (w != v) {
			v = w;
			continue;
		}
		/* seq_cst pair with worker_done(); the load is also an acquire. */
		atomic_store(&pool->caller_sleeping, 1);
		v = atomic_load(&pool->pending);
		if (v) {
			atomic_fetch_add_explicit(&pool->st_caller_sleeps, 1, memory_order_relaxed);
			futex_wait(&pool->pending, v);
			/* Acquire: pairs with worker_done()'s decrements. */
			v = atomic_load_explicit(&pool->pending, memory_order_acquire);
		}
		/* Relaxed: a stale 1 costs a later worker_done() a spurious wake. */
		atomic_store_explicit(&pool->caller_sleeping, 0, memory_order_relaxed);
	}
	/* The load that saw 0 was an acquire: pairs with the workers'
	 * decrements, so their writes are visible now. */
}

static void run_inline(kllm_range_fn fn, void *arg, uint64_t n_items, uint64_t chunk)
{
	for (uint64_t begin = 0; begin < n_items;) {
		uint64_t left = n_items - begin;
		uint64_t n = left < chunk ? left : chunk;

		fn(arg, begin, begin + n);
		begin += n;
	}
}

void kllm_pool_parallel_for(struct kllm_pool *pool, kllm_range_fn fn, void *arg,
			    uint64_t n_items, uint64_t chunk)
{
	struct kllm_pool *prev;
	uint64_t n_chunks;

	if (!n_items)
		return;
	if (!chunk)
		chunk = 1;
	n_chunks = n_items / chunk + (n_items % chunk != 0);
	atomic_fetch_add_explicit(&pool->st_jobs, 1, memory_order_relaxed);
	if (pool->n_threads == 1 || n_chunks == 1 || tls_pool == pool) {
		atomic_fetch_add_explicit(&pool->st_jobs_inline, 1, memory_order_relaxed);
		run_inline(fn, arg, n_items, chunk);
		return;
	}

	pthread_mutex_lock(&pool->lock);
	pool->fn = fn;
	pool->arg = arg;
	pool->n_items = n_items;
	pool->chunk = chunk;
	pool->n_chunks = n_chunks;
	/* Relaxed: published with the job by gen's bump. */
	atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
	atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
	/* Release: publishes the job to the workers' acquire of gen
	 * (worker_wait_job()); seq_cst pair with its sleepers then gen. */
	atomic_fetch_add(&pool->gen, 1);
	if (atomic_load(&pool->sleepers))
		futex_wake(&pool->gen, INT_MAX);

	prev = tls_pool;	/* a worker of another pool stays one */
	tls_pool = pool;
	run_chunks(pool);
	tls_pool = prev;
	caller_wait_done(pool);
	pthread_mutex_unlock(&pool->lock);
}

static void host_parallel_for(void *ctx, kk_range_fn fn, void *arg,
			      kk_u64 n_items, kk_u64 chunk)
{
	kllm_pool_parallel_for(ctx, fn, arg, n_items, chunk);
}

struct kk_host kllm_pool_host(struct kllm_pool *pool)
{
	struct kk_host host = { .parallel_for = host_parallel_for, .ctx = pool };

	return host;
}

unsigned int kllm_pool_threads(const struct kllm_pool *pool)
{
	return pool->n_threads;
}

void kllm_pool_set_spin_ns(struct kllm_pool *pool, uint32_t ns)
{
	atomic_store_explicit(&pool->spin_ns, ns, memory_order_relaxed);
}

void kllm_pool_get_stats(const struct kllm_pool *pool, struct kllm_pool_stats *st)
{
	struct kllm_pool *p = (struct kllm_pool *)pool;

	st->jobs = atomic_load_explicit(&p->st_jobs, memory_order_relaxed);
	st->jobs_inline = atomic_load_explicit(&p->st_jobs_inline, memory_order_relaxed);
	st->worker_sleeps = atomic_load_explicit(&p->st_worker_sleeps, memory_order_relaxed);
	st->caller_sleeps = atomic_load_explicit(&p->st_caller_sleeps, memory_order_relaxed);
}

/* Tell the first @n workers to exit and join them. */
static void stop_workers(struct kllm_pool *pool, unsigned int n)
{
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	atomic_fetch_add(&pool->gen, 1);	/* releases stop, as a job */
	futex_wake(&pool->gen, INT_MAX);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned int i = 0; i < n; i++)
		pthread_join(pool->workers[i], NULL);
}

static uint32_t spin_from_env(void)
{
	const char *s = getenv("KLLM_POOL_SPIN_NS");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return KLLM_POOL_SPIN_NS;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX) {
		fprintf(stderr, "kllm: KLLM_POOL_SPIN_NS=%s: not a number of ns, using %u\n",
			s, KLLM_POOL_SPIN_NS);
		return KLLM_POOL_SPIN_NS;
	}
	return (uint32_t)v;
}

/* Workers take no signals: they belong to the application's threads. */
static int start_workers(struct kllm_pool *pool)
{
	sigset_t all, old;
	unsigned int i;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i + 1 < pool->n_threads; i++) {
		rc = pthread_create(&pool->workers[i], NULL, worker_main, pool);
		if (rc)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		stop_workers(pool, i);
		return -rc;
	}
	return 0;
}

int kllm_pool_create(unsigned int n_threads, struct kllm_pool **out)
{
	struct kllm_pool *pool;
	int rc;

	if (!out || !n_threads || n_threads > KLLM_POOL_MAX_THREADS)
		return -EINVAL;
	pool = aligned_alloc(CACHELINE, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, sizeof(*pool));
	pool->n_threads = n_threads;
	atomic_init(&pool->spin_ns, spin_from_env());
	pool->workers = calloc(n_threads, sizeof(*pool->workers));
	if (!pool->workers) {
		free(pool);
		return -ENOMEM;
	}
	rc = pthread_mutex_init(&pool->lock, NULL);
	if (rc) {
		free(pool->workers);
		free(pool);
		return -rc;
	}
	/* gen is 0 before any worker exists: workers start with seen = 0. */
	rc = start_workers(pool);
	if (rc) {
		pthread_mutex_destroy(&pool->lock);
		free(pool->workers);
		free(pool);
		return rc;
	}
	*out = pool;
	return 0;
}

void kllm_pool_destroy(struct kllm_pool *pool)
{
	if (!pool)
		return;
	stop_workers(pool, pool->n_threads - 1);
	pthread_mutex_destroy(&pool->lock);
	free(pool->workers);
	free(pool);
}
