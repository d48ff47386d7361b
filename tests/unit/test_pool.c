// SPDX-License-Identifier: MIT
/*
 * test_pool.c - the runtime thread pool: every item exactly once, chunk
 * bounds, edge sizes, back-to-back small jobs, sleeping and waking,
 * nesting, concurrent callers, results relayed from job to job (the
 * memory-ordering test under make tsan-check), create/destroy.
 */
#include "kt.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "kllm_internal.h"

static const unsigned int thread_counts[] = { 1, 2, 3, 7 };
#define N_COUNTS (sizeof(thread_counts) / sizeof(thread_counts[0]))

/* What a job saw: per-item hit counts and any broken range. */
struct cover {
	uint8_t *hits;			/* plain: each item has one writer */
	uint64_t n_items, chunk;
	_Atomic uint64_t items;		/* sum of range lengths */
	_Atomic uint64_t calls;
	_Atomic uint64_t bad;		/* ranges that broke a rule */
};

static void cover_fn(void *arg, uint64_t begin, uint64_t end)
{
	struct cover *c = arg;

	atomic_fetch_add(&c->calls, 1);
	if (begin >= end || end > c->n_items || end - begin > c->chunk ||
	    begin % c->chunk) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	atomic_fetch_add(&c->items, end - begin);
	if (c->hits)
		for (uint64_t i = begin; i < end; i++)
			c->hits[i]++;
}

static void run_cover(struct kllm_pool *pool, uint64_t n_items, uint64_t chunk)
{
	struct cover c = { .n_items = n_items, .chunk = chunk ? chunk : 1 };
	uint64_t want_calls = n_items / c.chunk + (n_items % c.chunk != 0);

	c.hits = kt_alloc(n_items);
	kllm_pool_parallel_for(pool, cover_fn, &c, n_items, chunk);
	ck_assert_uint_eq(atomic_load(&c.bad), 0);
	ck_assert_uint_eq(atomic_load(&c.items), n_items);
	ck_assert_uint_eq(atomic_load(&c.calls), want_calls);
	for (uint64_t i = 0; i < n_items; i++)
		if (c.hits[i] != 1)
			ck_abort_msg("item %llu of %llu (chunk %llu, %u threads) hit %u times",
				     (unsigned long long)i, (unsigned long long)n_items,
				     (unsigned long long)chunk, kllm_pool_threads(pool),
				     c.hits[i]);
	free(c.hits);
}

static struct kllm_pool *pool_new(unsigned int n)
{
	struct kllm_pool *pool = NULL;

	ck_assert_int_eq(kllm_pool_create(n, &pool), 0);
	ck_assert_ptr_nonnull(pool);
	ck_assert_uint_eq(kllm_pool_threads(pool), n);
	return pool;
}

START_TEST(test_exactly_once)
{
	static const uint64_t sizes[] = { 1, 2, 3, 7, 64, 1000, 4097, 100003 };
	static const uint64_t chunks[] = { 0, 1, 2, 5, 64, 1000, 1u << 20 };
	struct kllm_pool *pool = pool_new(thread_counts[_i]);

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
			run_cover(pool, sizes[s], chunks[c]);
	kllm_pool_destroy(pool);
}
END_TEST

START_TEST(test_zero_and_one)
{
	struct kllm_pool *pool = pool_new(thread_counts[_i]);
	struct cover c = { .n_items = 1, .chunk = 4 };

	kllm_pool_parallel_for(pool, cover_fn, &c, 0, 4);
	ck_assert_uint_eq(atomic_load(&c.calls), 0);
	run_cover(pool, 1, 1);
	run_cover(pool, 1, 100);
	kllm_pool_destroy(pool);
}
END_TEST

/* Ranges near 2^64: no overflow in the chunk arithmetic. */
struct huge {
	uint64_t chunk;
	_Atomic uint64_t items, calls, bad;
};

static void huge_fn(void *arg, uint64_t begin, uint64_t end)
{
	struct huge *h = arg;

	atomic_fetch_add(&h->calls, 1);
	if (begin >= end || end - begin > h->chunk || begin % h->chunk)
		atomic_fetch_add(&h->bad, 1);
	atomic_fetch_add(&h->items, end - begin);
}

START_TEST(test_huge)
{
	struct kllm_pool *pool = pool_new(thread_counts[_i]);
	static const struct { uint64_t n, chunk, calls; } cases[] = {
		{ UINT64_MAX, (UINT64_MAX >> 1) + 1, 2 },
		{ UINT64_MAX, UINT64_MAX / 3, 3 },
		{ UINT64_MAX, UINT64_MAX / 5 - 1, 6 },
		{ UINT64_MAX - 1, UINT64_MAX, 1 },
		{ 1ull << 40, 1ull << 33, 128 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct huge h = { .chunk = cases[i].chunk };

		kllm_pool_parallel_for(pool, huge_fn, &h, cases[i].n, cases[i].chunk);
		ck_assert_uint_eq(atomic_load(&h.bad), 0);
		ck_assert_uint_eq(atomic_load(&h.calls), cases[i].calls);
		ck_assert_uint_eq(atomic_load(&h.items), cases[i].n);
	}
	/* Many items, one per chunk: the counter, not the callbacks, dominates. */
	run_cover(pool, 1u << 18, 1);
	kllm_pool_destroy(pool);
}
END_TEST

/* A decode: thousands of tiny back-to-back jobs, results checked each time. */
struct small {
	uint64_t *out;
	uint64_t job;
};

static void small_fn(void *arg, uint64_t begin, uint64_t end)
{
	struct small *s = arg;

	for (uint64_t i = begin; i < end; i++)
		s->out[i] = s->job * 1000 + i;
}

START_TEST(test_many_small_jobs)
{
	unsigned int n = thread_counts[_i];
	struct kllm_pool *pool = pool_new(n);
	const uint64_t items = 2 * n + 1;
	/*
	 * Every worker takes part in every job, so on a busy or small machine
	 * (7 threads on 2 cores) a job waits for the scheduler: fewer jobs there.
	 */
	const uint64_t jobs = n > 3 ? 500 : 5000;
	struct small s = { .out = kt_alloc(items * sizeof(uint64_t)) };
	struct kllm_pool_stats st;

	for (s.job = 1; s.job <= jobs; s.job++) {
		kllm_pool_parallel_for(pool, small_fn, &s, items, 1);
		for (uint64_t i = 0; i < items; i++)
			if (s.out[i] != s.job * 1000 + i)
				ck_abort_msg("job %llu item %llu: %llu", (unsigned long long)s.job,
					     (unsigned long long)i, (unsigned long long)s.out[i]);
	}
	kllm_pool_get_stats(pool, &st);
	ck_assert_uint_eq(st.jobs, jobs);
	ck_assert_uint_eq(st.jobs_inline, n == 1 ? jobs : 0);
	free(s.out);
	kllm_pool_destroy(pool);
}
END_TEST

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Idle workers go to sleep, and a job wakes them. */
START_TEST(test_sleep_and_wake)
{
	unsigned int n = thread_counts[_i] < 2 ? 2 : thread_counts[_i];
	struct kllm_pool *pool = pool_new(n);
	struct kllm_pool_stats st;

	kllm_pool_set_spin_ns(pool, 1000);
	for (int round = 0; round < 5; round++) {
		run_cover(pool, 1000, 3);
		sleep_ms(20);
	}
	kllm_pool_get_stats(pool, &st);
	ck_assert_uint_ge(st.worker_sleeps, n - 1);
	/* No spinning at all: every wait is a futex wait. */
	kllm_pool_set_spin_ns(pool, 0);
	for (int round = 0; round < 200; round++)
		run_cover(pool, 50, 1);
	kllm_pool_destroy(pool);
}
END_TEST

/*
 * Slow workers: the caller, whose own items are quick, sleeps waiting for
 * them and is woken by the last one.
 */
static pthread_t caller_thread;

static void slow_fn(void *arg, uint64_t begin, uint64_t end)
{
	if (!pthread_equal(pthread_self(), caller_thread))
		sleep_ms(2);
	atomic_fetch_add((_Atomic uint64_t *)arg, end - begin);
}

START_TEST(test_caller_sleeps)
{
	struct kllm_pool *pool = pool_new(3);
	_Atomic uint64_t done = 0;
	struct kllm_pool_stats st;

	caller_thread = pthread_self();
	kllm_pool_set_spin_ns(pool, 1000);
	for (int i = 0; i < 4; i++)
		kllm_pool_parallel_for(pool, slow_fn, (void *)&done, 64, 1);
	ck_assert_uint_eq(atomic_load(&done), 4 * 64);
	kllm_pool_get_stats(pool, &st);
	ck_assert_uint_ge(st.caller_sleeps, 1);
	kllm_pool_destroy(pool);
}
END_TEST

/* A parallel_for from inside a job runs inline instead of deadlocking. */
struct nest {
	struct kllm_pool *pool;
	struct cover inner[16];
};

static void nest_fn(void *arg, uint64_t begin, uint64_t end)
{
	struct nest *n = arg;

	for (uint64_t i = begin; i < end; i++)
		kllm_pool_parallel_for(n->pool, cover_fn, &n->inner[i], 100, 7);
}

START_TEST(test_nested)
{
	struct nest n = { .pool = pool_new(thread_counts[_i]) };

	for (int i = 0; i < 16; i++) {
		n.inner[i].n_items = 100;
		n.inner[i].chunk = 7;
		n.inner[i].hits = kt_alloc(100);
	}
	kllm_pool_parallel_for(n.pool, nest_fn, &n, 16, 1);
	for (int i = 0; i < 16; i++) {
		ck_assert_uint_eq(atomic_load(&n.inner[i].bad), 0);
		ck_assert_uint_eq(atomic_load(&n.inner[i].items), 100);
		for (int j = 0; j < 100; j++)
			ck_assert_uint_eq(n.inner[i].hits[j], 1);
		free(n.inner[i].hits);
	}
	kllm_pool_destroy(n.pool);
}
END_TEST

/* A job of pool A that uses pool B, then A again: still inline for A. */
struct cross {
	struct kllm_pool *a, *b;
	struct cover inner_a[8], inner_b[8];
};

static void cross_fn(void *arg, uint64_t begin, uint64_t end)
{
	struct cross *x = arg;

	for (uint64_t i = begin; i < end; i++) {
		kllm_pool_parallel_for(x->b, cover_fn, &x->inner_b[i], 50, 3);
		kllm_pool_parallel_for(x->a, cover_fn, &x->inner_a[i], 50, 3);
	}
}

START_TEST(test_nested_two_pools)
{
	struct cross x = { .a = pool_new(thread_counts[_i]), .b = pool_new(2) };

	for (int i = 0; i < 8; i++) {
		x.inner_a[i] = (struct cover){ .n_items = 50, .chunk = 3 };
		x.inner_b[i] = (struct cover){ .n_items = 50, .chunk = 3 };
	}
	kllm_pool_parallel_for(x.a, cross_fn, &x, 8, 1);
	for (int i = 0; i < 8; i++) {
		ck_assert_uint_eq(atomic_load(&x.inner_a[i].items), 50);
		ck_assert_uint_eq(atomic_load(&x.inner_b[i].items), 50);
		ck_assert_uint_eq(atomic_load(&x.inner_a[i].bad), 0);
		ck_assert_uint_eq(atomic_load(&x.inner_b[i].bad), 0);
	}
	kllm_pool_destroy(x.a);
	kllm_pool_destroy(x.b);
}
END_TEST

/* Two application threads sharing one pool are serialised. */
static void *caller_main(void *p)
{
	struct kllm_pool *pool = p;

	for (int i = 0; i < 300; i++)
		run_cover(pool, 257, 4);
	return NULL;
}

START_TEST(test_concurrent_callers)
{
	struct kllm_pool *pool = pool_new(thread_counts[_i]);
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, caller_main, pool), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	kllm_pool_destroy(pool);
}
END_TEST

/*
 * Results handed from job to job through plain memory: each job reads the
 * items the previous one wrote (other chunks, so other threads), and the
 * submitter checks them and changes the job's argument in between.  Only
 * the pool's own words are atomic, so under ThreadSanitizer (make
 * tsan-check) this checks the pool's publication: the job by the release
 * of gen, its results by the releases of pending.  Two submitters share
 * the pool; odd loop indices wait by futex alone (no spinning).
 */
#define RELAY_N 61	/* prime: i -> 7i + 3 mod N permutes the items */

struct relay {
	uint64_t *from, *to;
	uint64_t round;
};

static uint64_t relay_item(const uint64_t *from, uint64_t i, uint64_t round)
{
	return from[(7 * i + 3) % RELAY_N] * 3 + round;
}

static void relay_fn(void *arg, uint64_t begin, uint64_t end)
{
	const struct relay *r = arg;

	for (uint64_t i = begin; i < end; i++)
		r->to[i] = relay_item(r->from, i, r->round);
}

struct relay_run {
	struct kllm_pool *pool;
	unsigned int rounds;
	uint64_t seed;
	uint64_t bad;		/* the first wrong round, or 0 */
};

static void *relay_main(void *p)
{
	struct relay_run *rr = p;
	uint64_t buf[2][RELAY_N], want[RELAY_N], next[RELAY_N];
	struct relay r = { .from = buf[0], .to = buf[1] };

	for (uint64_t i = 0; i < RELAY_N; i++)
		buf[0][i] = want[i] = rr->seed + i;
	for (r.round = 1; r.round <= rr->rounds; r.round++) {
		kllm_pool_parallel_for(rr->pool, relay_fn, &r, RELAY_N, 1 + r.round % 5);
		for (uint64_t i = 0; i < RELAY_N; i++)
			next[i] = relay_item(want, i, r.round);
		memcpy(want, next, sizeof(want));
		if (memcmp(r.to, want, sizeof(want))) {
			rr->bad = r.round;
			break;
		}
		r.to = buf[(r.round + 1) & 1];
		r.from = buf[r.round & 1];
	}
	return NULL;
}

START_TEST(test_relay)
{
	unsigned int n = thread_counts[_i / 2];
	struct kllm_pool *pool = pool_new(n);
	struct relay_run rr[2];
	pthread_t t[2];

	if (_i & 1)
		kllm_pool_set_spin_ns(pool, 0);
	for (int k = 0; k < 2; k++) {
		rr[k] = (struct relay_run){ .pool = pool, .rounds = n > 3 ? 200 : 1500,
					    .seed = 1000u * (k + 1) };
		ck_assert_int_eq(pthread_create(&t[k], NULL, relay_main, &rr[k]), 0);
	}
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(pthread_join(t[k], NULL), 0);
		ck_assert_msg(!rr[k].bad, "%u threads, submitter %d: round %llu wrong", n, k,
			      (unsigned long long)rr[k].bad);
	}
	kllm_pool_destroy(pool);
}
END_TEST

/* The kk_host face calls the same machinery. */
START_TEST(test_host)
{
	struct kllm_pool *pool = pool_new(thread_counts[_i]);
	struct kk_host host = kllm_pool_host(pool);
	struct cover c = { .n_items = 999, .chunk = 10 };

	c.hits = kt_alloc(999);
	ck_assert_ptr_eq(host.ctx, pool);
	host.parallel_for(host.ctx, cover_fn, &c, 999, 10);
	ck_assert_uint_eq(atomic_load(&c.bad), 0);
	ck_assert_uint_eq(atomic_load(&c.calls), 100);
	for (int i = 0; i < 999; i++)
		ck_assert_uint_eq(c.hits[i], 1);
	free(c.hits);
	kllm_pool_destroy(pool);
}
END_TEST

START_TEST(test_create_destroy)
{
	struct kllm_pool *pool = (struct kllm_pool *)&pool;
	struct kt_rng rng;

	ck_assert_int_eq(kllm_pool_create(0, &pool), -EINVAL);
	ck_assert_int_eq(kllm_pool_create(KLLM_POOL_MAX_THREADS + 1, &pool), -EINVAL);
	ck_assert_int_eq(kllm_pool_create(2, NULL), -EINVAL);
	kllm_pool_destroy(NULL);
	kt_rng_seed(&rng, 42);
	for (int i = 0; i < 150; i++) {
		unsigned int n = 1 + (unsigned int)(kt_rng_u64(&rng) % 8);

		pool = pool_new(n);
		/* Half the pools never run a job: destroy must not wait on one. */
		if (i & 1)
			run_cover(pool, 1 + i, 3);
		kllm_pool_destroy(pool);
	}
}
END_TEST

#define ADD_LOOP(s, fn) add_case(s, #fn, fn, N_COUNTS)
#define ADD_ONE(s, fn) add_case(s, #fn, fn, 1)

static void add_case(Suite *s, const char *name, const TTest *fn, int n)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fn, 0, n);
	suite_add_tcase(s, tc);
}

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");

	ADD_LOOP(s, test_exactly_once);
	ADD_LOOP(s, test_zero_and_one);
	ADD_LOOP(s, test_huge);
	ADD_LOOP(s, test_many_small_jobs);
	ADD_LOOP(s, test_sleep_and_wake);
	ADD_ONE(s, test_caller_sleeps);
	ADD_LOOP(s, test_nested);
	ADD_LOOP(s, test_nested_two_pools);
	ADD_LOOP(s, test_concurrent_callers);
	add_case(s, "test_relay", test_relay, 2 * N_COUNTS);
	ADD_LOOP(s, test_host);
	ADD_ONE(s, test_create_destroy);
	return s;
}

int main(void)
{
	return kt_run(pool_suite());
}
