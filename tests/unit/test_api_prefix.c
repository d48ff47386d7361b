// SPDX-License-Identifier: MIT
/*
 * test_api_prefix.c - paged KV and the prefix cache through the public
 * API (kllm.h), on the synthetic model of kt_api.h, all bitwise:
 *
 *  - a sequence whose input starts with another's full blocks takes them
 *    from the cache (kllm_seq_cached) and gets the logits of computing
 *    them: same input, and a shared prefix with another ending;
 *  - blocks stay cached after their sequence is freed (idle), and
 *    KLLM_PREFIX_CACHE=0 turns lookups off;
 *  - partitions (kllm_seq_set_partition) share nothing;
 *  - a fork shares full blocks (no new ones) and copies a partial one;
 *  - any block size (KLLM_KV_BLOCK) gives the same bits; a bad one is
 *    refused;
 *  - churn that evicts idle blocks never touches a block in use: the
 *    holder continues exactly as a reference does;
 *  - a Q8_0 cache (kv_type, KLLM_KV_TYPE): blocks 34/64 of F16's, the
 *    prefix cache bitwise as above; what cannot be done is refused.
 */
#include <errno.h>
#include <stdlib.h>

#include "kllm.h"
#include "kt_api.h"

/* @n tokens of @t through a new sequence of @e: its id, logits ready. */
static int run_new(struct kllm_engine *e, const int32_t *t, uint32_t n)
{
	int s = kllm_seq_new(e);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(kllm_seq_feed(e, s, t, n), 0);
	ck_assert_int_eq(kllm_seq_decode(e, s), 0);
	return s;
}

/* The logits of @t alone, on an engine without a prefix cache. */
static float *reference(const struct kllm_llm *llm, const int32_t *t, uint32_t n)
{
	struct kllm_engine *e;
	float *l;

	setenv("KLLM_PREFIX_CACHE", "0", 1);
	e = kta_engine(llm, 1, 128, 16);
	unsetenv("KLLM_PREFIX_CACHE");
	l = logits_copy(e, run_new(e, t, n));
	kllm_engine_free(e);
	return l;
}

static struct kllm_engine_stats stats(const struct kllm_engine *e)
{
	struct kllm_engine_stats st;

	ck_assert_int_eq(kllm_engine_get_stats(e, &st), 0);
	return st;
}

/* The model with 2 heads of 32: a Q8_0 cache fits it. */
static char kta_path32[64];

static void reuse_check(struct kllm_llm *llm)
{
	struct kllm_engine *e = kta_engine(llm, 4, 128, 16);
	int32_t p[60], q[60];
	float *ra, *rc;
	int a, b, c;

	fill_tokens(p, 60, 1);
	memcpy(q, p, 4 * 37);
	fill_tokens(q + 37, 23, 2);	/* q: p's first 37, then its own */
	ra = reference(llm, p, 40);
	rc = reference(llm, q, 60);
	a = run_new(e, p, 40);
	ck_assert_int_eq(kllm_seq_cached(e, a), 0);
	expect_same(ra, kllm_seq_logits(e, a), "cold");
	/* the same 40 tokens: blocks 0 and 1 (32 positions) from the cache */
	b = run_new(e, p, 40);
	ck_assert_int_eq(kllm_seq_cached(e, b), 32);
	expect_same(ra, kllm_seq_logits(e, b), "cached, same input");
	/* 37 shared tokens: the same 2 blocks, the rest computed */
	c = run_new(e, q, 60);
	ck_assert_int_eq(kllm_seq_cached(e, c), 32);
	expect_same(rc, kllm_seq_logits(e, c), "cached prefix, own ending");
	ck_assert_uint_eq(stats(e).tokens_cached, 64);
	ck_assert_uint_eq(stats(e).tokens_computed, 40 + 8 + 28);
	/* a sequence continued after a cached start decodes as the reference */
	ck_assert_int_eq(kllm_seq_feed(e, b, q, 1), 0);
	ck_assert_int_eq(kllm_seq_feed(e, a, q, 1), 0);
	ck_assert_int_eq(kllm_engine_step(e), 2);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, b), "decode after reuse");
	free(ra);
	free(rc);
	kllm_engine_free(e);
}

START_TEST(reuse_equals_recompute)
{
	struct kllm_llm *llm = kta_load();

	reuse_check(llm);
	kllm_llm_free(llm);
}
END_TEST

/*
 * The cache's type: kv_type or KLLM_KV_TYPE.  Q8_0 blocks are 34/64 of
 * F16's, the prefix cache works the same on them, and what cannot be
 * done is refused: a head of 16 (blocks would straddle heads), an
 * unknown kv_type or KLLM_KV_TYPE.
 */
START_TEST(q8_0_cache)
{
	struct kllm_engine_params prm = { .n_seqs = 1, .n_ctx = 64, .max_batch = 8,
					  .kv_type = KLLM_KV_Q8_0 };
	struct kllm_llm *llm = kta_load(), *l32 = NULL;
	struct kllm_engine *e = NULL, *f;

	ck_assert_int_eq(kllm_engine_create(llm, &prm, &e), -EINVAL);
	ck_assert_msg(strstr(kllm_last_error(), "multiple of 32"), "%s", kllm_last_error());
	prm.kv_type = 9;
	ck_assert_int_eq(kllm_engine_create(llm, &prm, &e), -EINVAL);
	prm.kv_type = KLLM_KV_DEFAULT;
	setenv("KLLM_KV_TYPE", "q4_0", 1);
	ck_assert_int_eq(kllm_engine_create(llm, &prm, &e), -EINVAL);
	ck_assert_msg(strstr(kllm_last_error(), "KLLM_KV_TYPE"), "%s", kllm_last_error());
	ck_assert_ptr_null(e);
	unsetenv("KLLM_KV_TYPE");
	ck_assert_int_eq(kllm_llm_load(kta_path32, &l32), 0);
	f = kta_engine(l32, 1, 64, 8);
	ck_assert_uint_eq(kllm_engine_params(f)->kv_type, KLLM_KV_F16);
	prm.kv_type = KLLM_KV_Q8_0;
	ck_assert_int_eq(kllm_engine_create(l32, &prm, &e), 0);
	ck_assert_uint_eq(kllm_engine_params(e)->kv_type, KLLM_KV_Q8_0);
	ck_assert_uint_eq(stats(e).kv_block_bytes * 64, stats(f).kv_block_bytes * 34);
	kllm_engine_free(e);
	kllm_engine_free(f);
	setenv("KLLM_KV_TYPE", "q8_0", 1);
	reuse_check(l32);
	unsetenv("KLLM_KV_TYPE");
	kllm_llm_free(l32);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(idle_blocks_and_off)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 2, 128, 16);
	int32_t p[50];
	int a, b;

	fill_tokens(p, 50, 3);
	a = run_new(e, p, 50);
	ck_assert_int_eq(kllm_seq_free(e, a), 0);
	/* 3 full blocks stay cached, held by none */
	ck_assert_uint_eq(stats(e).kv_blocks_idle, 3);
	b = run_new(e, p, 50);
	ck_assert_int_eq(kllm_seq_cached(e, b), 48);
	ck_assert_uint_eq(stats(e).kv_blocks_idle, 0);
	kllm_engine_free(e);
	/* KLLM_PREFIX_CACHE=0: nothing is looked up */
	setenv("KLLM_PREFIX_CACHE", "0", 1);
	e = kta_engine(llm, 2, 128, 16);
	unsetenv("KLLM_PREFIX_CACHE");
	a = run_new(e, p, 50);
	b = run_new(e, p, 50);
	ck_assert_int_eq(kllm_seq_cached(e, b), 0);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, b), "cache off");
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(partitions_share_nothing)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 3, 128, 16);
	int32_t p[40];
	int a, b, c;

	fill_tokens(p, 40, 4);
	a = run_new(e, p, 40);
	b = kllm_seq_new(e);
	ck_assert_int_eq(kllm_seq_set_partition(e, b, 7), 0);
	ck_assert_int_eq(kllm_seq_feed(e, b, p, 40), 0);
	ck_assert_int_eq(kllm_seq_decode(e, b), 0);
	ck_assert_int_eq(kllm_seq_cached(e, b), 0);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, b), "partition 7");
	/* partition 7 now has its own copy: a second sequence of 7 finds it */
	c = kllm_seq_new(e);
	ck_assert_int_eq(kllm_seq_set_partition(e, c, 7), 0);
	ck_assert_int_eq(kllm_seq_feed(e, c, p, 40), 0);
	ck_assert_int_eq(kllm_seq_decode(e, c), 0);
	ck_assert_int_eq(kllm_seq_cached(e, c), 32);
	/* too late once it has computed something */
	ck_assert_int_eq(kllm_seq_set_partition(e, a, 1), -EBUSY);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(fork_shares_blocks)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 3, 128, 16);
	uint32_t used;
	int32_t p[40];
	int a, b, c;

	fill_tokens(p, 40, 5);
	a = run_new(e, p, 40);		/* 3 blocks: 16 + 16 + 8 */
	used = stats(e).kv_blocks_used;
	ck_assert_uint_eq(used, 3);
	b = kllm_seq_fork(e, a, 32);	/* two full blocks: shared */
	ck_assert_uint_eq(stats(e).kv_blocks_used, used);
	c = kllm_seq_fork(e, a, 40);	/* plus a copy of the partial one */
	ck_assert_uint_eq(stats(e).kv_blocks_used, used + 1);
	/* all three continue the same way */
	ck_assert_int_eq(kllm_seq_feed(e, b, p + 32, 8), 0);
	ck_assert_int_eq(kllm_seq_decode(e, b), 0);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, b), "fork at 32 + 8");
	ck_assert_int_eq(kllm_seq_feed(e, a, p, 1), 0);
	ck_assert_int_eq(kllm_seq_feed(e, c, p, 1), 0);
	ck_assert_int_eq(kllm_engine_step(e), 2);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, c), "full fork + 1");
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(block_sizes_same_bits)
{
	static const char *const sizes[] = { "16", "32", "64", "128" };
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e;
	float *ref = NULL;
	int32_t p[70];
	int s;

	fill_tokens(p, 70, 6);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		setenv("KLLM_KV_BLOCK", sizes[i], 1);
		e = kta_engine(llm, 1, 128, 16);
		s = run_new(e, p, 69);
		ck_assert_int_eq(kllm_seq_feed(e, s, p + 69, 1), 0);
		ck_assert_int_eq(kllm_seq_decode(e, s), 0);
		if (!ref)
			ref = logits_copy(e, s);
		else
			expect_same(ref, kllm_seq_logits(e, s), sizes[i]);
		kllm_engine_free(e);
	}
	setenv("KLLM_KV_BLOCK", "24", 1);	/* not a power of two */
	{
		struct kllm_engine_params prm = { .n_seqs = 1, .n_ctx = 64, .max_batch = 8 };

		ck_assert_int_eq(kllm_engine_create(llm, &prm, &e), -EINVAL);
	}
	unsetenv("KLLM_KV_BLOCK");
	free(ref);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(churn_spares_blocks_in_use)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e;
	int32_t p[64], q[64], x[2];
	float *ref;
	int a, b;

	fill_tokens(p, 64, 7);
	fill_tokens(x, 2, 8);
	/* the reference: p then x[0], alone */
	{
		struct kllm_engine *r = kta_engine(llm, 1, 128, 16);
		int s = run_new(r, p, 64);

		ck_assert_int_eq(kllm_seq_feed(r, s, x, 1), 0);
		ck_assert_int_eq(kllm_seq_decode(r, s), 0);
		ref = logits_copy(r, s);
		kllm_engine_free(r);
	}
	/* one idle block at most: every other freed block is evicted */
	setenv("KLLM_PREFIX_CACHE", "16", 1);
	e = kta_engine(llm, 2, 128, 16);
	unsetenv("KLLM_PREFIX_CACHE");
	a = run_new(e, p, 64);		/* 4 cached blocks, held */
	for (uint32_t salt = 20; salt < 30; salt++) {
		fill_tokens(q, 64, salt);
		b = run_new(e, q, 64);
		ck_assert_int_eq(kllm_seq_free(e, b), 0);
		ck_assert_uint_le(stats(e).kv_blocks_idle, 1);
	}
	ck_assert_uint_ge(stats(e).cache_evicted, 30);
	ck_assert_int_eq(kllm_seq_feed(e, a, x, 1), 0);
	ck_assert_int_eq(kllm_seq_decode(e, a), 0);
	expect_same(ref, kllm_seq_logits(e, a), "holder after churn");
	free(ref);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_prefix");
	TCase *tc = tcase_create("api_prefix");
	int ret;

	kta_make(kta_path, 43, 1);
	kta_make_heads(kta_path32, 44, 1, 2);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reuse_equals_recompute);
	tcase_add_test(tc, idle_blocks_and_off);
	tcase_add_test(tc, partitions_share_nothing);
	tcase_add_test(tc, fork_shares_blocks);
	tcase_add_test(tc, block_sizes_same_bits);
	tcase_add_test(tc, churn_spares_blocks_in_use);
	tcase_add_test(tc, q8_0_cache);
	suite_add_tcase(s, tc);
	ret = kt_run(s);
	unlink(kta_path);
	unlink(kta_path32);
	return ret;
}
