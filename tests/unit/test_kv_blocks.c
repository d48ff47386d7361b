// SPDX-License-Identifier: MIT
/*
 * test_kv_blocks.c - paged KV's bookkeeping (uapi/prog/kllm_kv_blocks.c):
 * sizes, fork (full blocks shared, the partial one copied), prepare's
 * copy-on-write of shared and cached blocks (exactly the rows before lo)
 * and fresh blocks for gaps, commit's caching rules, lookup (the chain,
 * never position n - 1, never across tags or seeds), exactness under
 * forged hash collisions in one bucket (tokens, parent, parent's
 * generation), eviction never touching a held block, -ENOSPC with nothing
 * changed, and a randomized model check: random clear / truncate / fork /
 * lookup / jobs (in order, rewrites, out of order, failed) / evictions on
 * several sequences, with every block's rows simulated as the hash of the
 * prefix that produced them, checked against a reference after every op.
 */
#include "kt_kv_blocks.h"

static const int32_t T[] = { 11, 12, 13, 14, 21, 22, 23, 24, 31, 32, 33, 34, 41, 42, 43, 44,
			     51, 52, 53, 54 };

START_TEST(test_sizes)
{
	struct kllm_kvb_store s;
	struct kllm_kvb_seq q;
	uint64_t buf[64];

	ck_assert_uint_eq(kllm_kvb_store_bytes(0, 4, SH), 0);
	ck_assert_uint_eq(kllm_kvb_store_bytes(4, 3, SH), 0);
	ck_assert_uint_eq(kllm_kvb_store_bytes(4, 0, SH), 0);
	ck_assert_uint_eq(kllm_kvb_store_bytes(4, 4, KLLM_KVB_MAX_SHIFT + 1), 0);
	ck_assert_uint_eq(kllm_kvb_store_bytes(NONE, 4, SH), 0);
	ck_assert_uint_ne(kllm_kvb_store_bytes(NONE - 1, 1u << 31, KLLM_KVB_MAX_SHIFT), 0);
	ck_assert_uint_eq(kllm_kvb_store_bytes(2, 2, SH),
			  2 * sizeof(struct kllm_kvb_block) + 8 + 2 * B * 4);
	ck_assert_int_eq(kllm_kvb_store_init(&s, (char *)buf + 4, 2, 2, SH, 0, 1), -KLLM_PROG_EINVAL);
	ck_assert_int_eq(kllm_kvb_store_init(&s, NULL, 2, 2, SH, 0, 1), -KLLM_PROG_EINVAL);
	ck_assert_int_eq(kllm_kvb_store_init(&s, buf, 2, 6, SH, 0, 1), -KLLM_PROG_EINVAL);
	ck_assert_int_eq(kllm_kvb_store_init(&s, buf, 2, 2, SH, 0, 1), 0);
	ck_assert_uint_eq(s.st.n_free, 2);
	ck_assert_uint_eq(s.st.n_blocks, 2);
	ck_assert_uint_eq(s.bucket[0], NONE);
	ck_assert_uint_eq(kllm_kvb_seq_bytes(0, SH), 0);
	ck_assert_uint_eq(kllm_kvb_seq_bytes(1u << 20, 12), 0);	/* 2^32 positions */
	ck_assert_uint_eq(kllm_kvb_seq_bytes(3, SH), 3 * 8 + 16 + 3 * B * 4);
	/* no memory: a sequence of cap 0, refused by every call */
	kllm_kvb_seq_init(&q, NULL, 3, SH, 0);
	ck_assert_uint_eq(q.cap, 0);
	ck_assert_uint_eq(kllm_kvb_lookup(&s, &q, T, 9), 0);
	/* a sequence of another block size is never served */
	{
		struct env e;
		struct kllm_kvb_seq q2;
		void *m = kt_alloc(kllm_kvb_seq_bytes(4, SH + 1));

		env_init(&e, 8, 4, 8, 1, 1, 4);
		kllm_kvb_seq_init(&q2, m, 4, SH + 1, 7);
		ck_assert_int_eq(kllm_kvb_prepare(&e.s, &q2, 0, 3, &e.w), -KLLM_PROG_EINVAL);
		ck_assert_int_eq(kllm_kvb_fork(&e.s, &q2, &e.q[0], 0, &e.w), -KLLM_PROG_EINVAL);
		ck_assert_uint_eq(kllm_kvb_lookup(&e.s, &q2, T, 9), 0);
		ck_assert_uint_eq(e.s.st.n_free, 8);
		free(m);
		env_free(&e);
	}
}
END_TEST

START_TEST(test_fork)
{
	struct env e;
	struct kllm_kvb_seq *a, *b;

	env_init(&e, 16, 8, 8, 1, 2, 6);
	a = &e.q[0];
	b = &e.q[1];
	ck_assert_int_eq(job(&e, a, 0, T, 10), 0);	/* blocks 0, 1 full, 2 half */
	ck_assert_uint_eq(a->filled, 10);
	ck_assert_uint_eq(a->n_ids, 3);
	ck_assert_uint_eq(e.s.st.n_cached, 2);
	ck_assert_uint_eq(a->ro_blocks, 2);
	/* n_pos past the table, dst == src, dst's cap: refused, dst untouched */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 13, &e.w), -KLLM_PROG_EINVAL);
	ck_assert_int_eq(kllm_kvb_fork(&e.s, a, a, 4, &e.w), -KLLM_PROG_EINVAL);
	ck_assert_uint_eq(b->n_ids, 0);
	/* 10 positions: two shared, the partial one copied (2 rows) */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 10, &e.w), 0);
	ck_assert_uint_eq(b->n_ids, 3);
	ck_assert_uint_eq(b->ids[0], a->ids[0]);
	ck_assert_uint_eq(b->ids[1], a->ids[1]);
	ck_assert_uint_ne(b->ids[2], a->ids[2]);
	ck_assert_uint_eq(e.w.n_copy, 1);
	ck_assert_uint_eq(e.w.n_zero, 0);
	ck_assert_uint_eq(e.w.copy[0].dst, b->ids[2]);
	ck_assert_uint_eq(e.w.copy[0].src, a->ids[2]);
	ck_assert_uint_eq(e.w.copy[0].rows, 2);
	do_work(&e);
	ck_assert_uint_eq(blk(&e, a->ids[0])->ref, 2);
	ck_assert_uint_eq(blk(&e, a->ids[2])->ref, 1);
	ck_assert_uint_eq(b->filled, 10);
	ck_assert_uint_eq(b->ro_blocks, 2);
	ck_assert_int_eq(memcmp(b->tokens, a->tokens, 40), 0);
	check_store(&e);
	/* 7 positions: one shared, the second (full in a) copied with 3 rows */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 7, &e.w), 0);
	ck_assert_uint_eq(b->n_ids, 2);
	ck_assert_uint_eq(e.w.n_copy, 1);
	ck_assert_uint_eq(e.w.copy[0].rows, 3);
	ck_assert_uint_eq(e.w.copy[0].src, a->ids[1]);
	ck_assert_uint_eq(b->filled, 7);
	/* a block boundary: nothing copied; 0: empty */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 8, &e.w), 0);
	ck_assert_uint_eq(e.w.n_copy, 0);
	ck_assert_uint_eq(b->n_ids, 2);
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 0, &e.w), 0);
	ck_assert_uint_eq(b->n_ids, 0);
	ck_assert_uint_eq(b->filled, 0);
	check_store(&e);
	/* past src's filled: dst's filled stops at src's */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 12, &e.w), 0);
	ck_assert_uint_eq(b->filled, 10);
	ck_assert_uint_eq(b->n_ids, 3);
	ck_assert_uint_eq(blk(&e, a->ids[2])->ref, 2);
	check_store(&e);
	env_free(&e);
}
END_TEST

START_TEST(test_prepare)
{
	struct env e;
	struct kllm_kvb_seq *a, *b;
	uint32_t old;

	env_init(&e, 24, 8, 8, 1, 2, 8);
	a = &e.q[0];
	b = &e.q[1];
	/* fresh blocks: gaps included, each listed once in zero */
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 9, 10, &e.w), 0);
	ck_assert_uint_eq(a->n_ids, 3);
	ck_assert_uint_eq(e.w.n_zero, 3);
	ck_assert_uint_eq(e.w.n_copy, 0);
	for (uint32_t i = 0; i < 3; i++)
		ck_assert_uint_eq(e.w.zero[i], a->ids[i]);
	ck_assert_uint_eq(a->ro_blocks, 0);
	/* own blocks: nothing to do */
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 0, 11, &e.w), 0);
	ck_assert_uint_eq(e.w.n_zero + e.w.n_copy, 0);
	/* bad ranges: refused, nothing changed */
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 5, 4, &e.w), -KLLM_PROG_EINVAL);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 0, 8 * B, &e.w), -KLLM_PROG_EINVAL);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 0xffffffffu, 0xffffffffu, &e.w), -KLLM_PROG_EINVAL);
	e.w.cap = 2;
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 12, 20, &e.w), -KLLM_PROG_EINVAL);
	e.w.cap = MAXCAP;
	ck_assert_uint_eq(a->n_ids, 3);
	check_store(&e);
	kllm_kvb_clear(&e.s, a);

	/* shared blocks (fork) are copied with the rows before lo; NOCACHE:
	 * only sharing here */
	a->flags = KLLM_KVB_S_NOCACHE;
	ck_assert_int_eq(job(&e, a, 0, T, 12), 0);
	ck_assert_uint_eq(e.s.st.n_cached, 0);
	ck_assert_uint_eq(a->filled, 12);
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 12, &e.w), 0);
	ck_assert_uint_eq(a->ro_blocks, 0);	/* stale until a's next prepare */
	old = a->ids[1];
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 6, 6, &e.w), 0);
	ck_assert_uint_eq(e.w.n_copy, 1);
	ck_assert_uint_eq(e.w.n_zero, 0);
	ck_assert_uint_eq(e.w.copy[0].src, old);
	ck_assert_uint_eq(e.w.copy[0].dst, a->ids[1]);
	ck_assert_uint_eq(e.w.copy[0].rows, 2);
	ck_assert_uint_ne(a->ids[1], old);
	ck_assert_uint_eq(blk(&e, old)->ref, 1);
	ck_assert_uint_eq(a->ro_blocks, 1);	/* block 0 still shared */
	ck_assert_uint_eq(a->filled, 6);
	check_store(&e);
	/* from mid-block 0 through block 2: block 0 copied (1 row before lo),
	 * block 2 (no row before lo) fresh and zeroed, block 1 already own */
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 1, 9, &e.w), 0);
	ck_assert_uint_eq(e.w.n_copy, 1);
	ck_assert_uint_eq(e.w.copy[0].rows, 1);
	ck_assert_uint_eq(e.w.copy[0].src, b->ids[0]);
	ck_assert_uint_eq(e.w.n_zero, 1);
	ck_assert_uint_eq(e.w.zero[0], a->ids[2]);
	ck_assert_uint_ne(a->ids[2], b->ids[2]);
	ck_assert_uint_eq(a->ro_blocks, 0);
	ck_assert_uint_eq(a->filled, 1);
	check_store(&e);
	kllm_kvb_clear(&e.s, a);
	kllm_kvb_clear(&e.s, b);

	/* cached blocks are copied too, even held by one sequence */
	a->flags = 0;
	ck_assert_int_eq(job(&e, a, 0, T, 9), 0);
	ck_assert_uint_eq(a->ro_blocks, 2);
	ck_assert(is_cached(&e, a->ids[1]));
	old = a->ids[1];
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, a, 7, 12, &e.w), 0);
	ck_assert_uint_eq(e.w.n_copy, 1);
	ck_assert_uint_eq(e.w.copy[0].src, old);
	ck_assert_uint_eq(e.w.copy[0].rows, 3);
	ck_assert_uint_eq(e.w.n_zero, 1);	/* block 3: new */
	ck_assert_uint_eq(a->n_ids, 4);
	ck_assert_uint_eq(a->ro_blocks, 1);
	ck_assert_uint_eq(blk(&e, old)->ref, 0);
	ck_assert(is_cached(&e, old));	/* idle, still in the cache */
	ck_assert_uint_eq(e.s.st.n_idle, 1);
	check_store(&e);
	env_free(&e);
}
END_TEST

START_TEST(test_commit)
{
	struct env e;
	struct kllm_kvb_seq *a, *b;
	uint64_t ins;

	env_init(&e, 24, 8, 8, 1, 2, 8);
	a = &e.q[0];
	b = &e.q[1];
	ck_assert_int_eq(job(&e, a, 0, T, 6), 0);
	ck_assert_uint_eq(e.s.st.inserted, 1);
	ck_assert_uint_eq(blk(&e, a->ids[0])->parent, NONE);
	ck_assert_int_eq(job(&e, a, 6, T + 6, 3), 0);
	ck_assert_uint_eq(e.s.st.inserted, 2);
	ck_assert_uint_eq(blk(&e, a->ids[1])->parent, a->ids[0]);
	ck_assert_int_eq(memcmp(&e.s.tokens[a->ids[1] * B], T + 4, 16), 0);
	/* a second sequence computing the same chain: no duplicate, and its
	 * later blocks are not cached either (their parent is not cached) */
	ins = e.s.st.inserted;
	ck_assert_int_eq(job(&e, b, 0, T, 16), 0);
	ck_assert_uint_eq(e.s.st.inserted, ins + 0);
	ck_assert(!is_cached(&e, b->ids[0]) && !is_cached(&e, b->ids[3]));
	ck_assert_uint_eq(b->ro_blocks, 0);
	ck_assert_uint_eq(b->filled, 16);
	/* ... but a's chain goes on */
	ck_assert_int_eq(job(&e, a, 9, T + 9, 7), 0);
	ck_assert_uint_eq(e.s.st.inserted, ins + 2);
	ck_assert_uint_eq(a->ro_blocks, 4);
	/* below filled (written twice): not trusted, filled drops to it */
	kllm_kvb_truncate(&e.s, b, 16);
	kllm_kvb_commit(&e.s, b, (int32_t[]){ 5 }, (int32_t[]){ 99 }, 1);
	ck_assert_uint_eq(b->filled, 5);
	ck_assert_uint_eq(b->tokens[5], T[5]);
	ck_assert_uint_eq(b->flags, 0);
	/* above filled or outside the table: NOCACHE, filled kept */
	kllm_kvb_commit(&e.s, b, (int32_t[]){ 8, -1, 1000 }, (int32_t[]){ 1, 2, 3 }, 3);
	ck_assert_uint_eq(b->filled, 5);
	ck_assert_uint_eq(b->flags, KLLM_KVB_S_NOCACHE);
	kllm_kvb_commit(&e.s, b, NULL, NULL, 5);	/* refused */
	ck_assert_uint_eq(b->filled, 5);
	/* a position in a block b does not own alone: not trusted */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, b, a, 16, &e.w), 0);
	ck_assert_uint_eq(b->flags, 0);
	kllm_kvb_truncate(&e.s, b, 9);
	kllm_kvb_commit(&e.s, b, (int32_t[]){ 9 }, (int32_t[]){ 1 }, 1);
	ck_assert_uint_eq(b->filled, 9);
	ck_assert_uint_eq(b->flags, KLLM_KVB_S_NOCACHE);
	ck_assert_int_eq(memcmp(&e.s.tokens[a->ids[2] * B], T + 8, 16), 0);
	check_store(&e);
	/* a NOCACHE sequence caches nothing, though it keys its blocks */
	kllm_kvb_clear(&e.s, b);
	ck_assert_uint_eq(b->flags, 0);
	b->flags = KLLM_KVB_S_NOCACHE;
	ins = e.s.st.inserted;
	ck_assert_int_eq(job(&e, b, 0, (int32_t[]){ 1, 2, 3, 4, 5 }, 5), 0);
	ck_assert_uint_eq(e.s.st.inserted, ins);
	ck_assert_uint_ne(b->keys[0], 0);
	/* one job writing a row of the block it completes twice: which write
	 * the block holds is unknown, so it is not cached; blocks before it are */
	kllm_kvb_clear(&e.s, b);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, b, 0, 7, &e.w), 0);
	kllm_kvb_commit(&e.s, b, (int32_t[]){ 0, 1, 2, 3, 4, 5, 6, 7, 7 },
			(int32_t[]){ 61, 62, 63, 64, 65, 66, 67, 68, 69 }, 9);
	ck_assert_uint_eq(b->filled, 7);
	ck_assert_uint_eq(e.s.st.inserted, ins + 1);
	ck_assert(is_cached(&e, b->ids[0]) && !is_cached(&e, b->ids[1]));
	check_store(&e);
	env_free(&e);
}
END_TEST

START_TEST(test_lookup)
{
	struct env e, f;
	struct kllm_kvb_seq *a, *b;
	int32_t t2[13];

	env_init(&e, 16, 8, 8, 1, 3, 8);
	a = &e.q[0];
	b = &e.q[1];
	ck_assert_int_eq(job(&e, a, 0, T, 13), 0);	/* 3 blocks cached */
	ck_assert_uint_eq(e.s.st.n_cached, 3);
	/* the whole chain, never position n - 1's block */
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 13), 12);
	ck_assert_uint_eq(b->n_ids, 3);
	ck_assert_uint_eq(b->ro_blocks, 3);
	ck_assert_uint_eq(b->filled, 12);
	for (uint32_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(b->ids[i], a->ids[i]);
		ck_assert_uint_eq(b->keys[i], a->keys[i]);
		ck_assert_uint_eq(blk(&e, a->ids[i])->ref, 2);
	}
	ck_assert_int_eq(memcmp(b->tokens, T, 48), 0);
	ck_assert_uint_eq(e.s.st.hits, 3);
	ck_assert_uint_eq(e.s.st.misses, 0);
	/* not empty: nothing */
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 13), 0);
	ck_assert_uint_eq(b->n_ids, 3);
	kllm_kvb_clear(&e.s, b);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 12), 8);
	kllm_kvb_clear(&e.s, b);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 4), 0);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 0), 0);
	/* a later block differing: stops there, one miss */
	memcpy(t2, T, sizeof(t2));
	t2[6] = 77;
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, t2, 13), 4);
	ck_assert_uint_eq(e.s.st.misses, 1);
	kllm_kvb_clear(&e.s, b);
	/* another chain from a's block 0 with block 2's tokens: each lookup
	 * maps its own chain's block 2 */
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, &e.q[2], t2, 13), 4);
	ck_assert_int_eq(job(&e, &e.q[2], 4, t2 + 4, 9), 0);
	ck_assert_uint_eq(e.s.st.inserted, 5);
	kllm_kvb_clear(&e.s, &e.q[2]);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 13), 12);
	ck_assert_uint_eq(b->ids[1], a->ids[1]);
	ck_assert_uint_eq(b->ids[2], a->ids[2]);
	kllm_kvb_clear(&e.s, b);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, t2, 13), 12);
	ck_assert_uint_eq(b->ids[0], a->ids[0]);
	ck_assert_uint_ne(b->ids[1], a->ids[1]);
	ck_assert_uint_ne(b->ids[2], a->ids[2]);
	ck_assert_int_eq(memcmp(&e.s.tokens[b->ids[2] * B], T + 8, 16), 0);
	kllm_kvb_clear(&e.s, b);
	/* another partition */
	b->tag = 8;
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 13), 0);
	ck_assert_uint_eq(b->n_ids, 0);
	b->tag = 7;
	/* a lookup holds idle blocks again */
	kllm_kvb_clear(&e.s, a);
	ck_assert_uint_eq(e.s.st.n_idle, 3 + 2);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 13), 12);
	ck_assert_uint_eq(e.s.st.n_idle, 2);
	check_store(&e);
	/* cap bounds the mapping */
	{
		struct kllm_kvb_seq small;
		void *m = kt_alloc(kllm_kvb_seq_bytes(2, SH));

		kllm_kvb_seq_init(&small, m, 2, SH, 7);
		ck_assert_uint_eq(kllm_kvb_lookup(&e.s, &small, T, 13), 8);
		kllm_kvb_clear(&e.s, &small);
		free(m);
	}
	/* another seed: other keys, and a fresh store maps nothing */
	env_init(&f, 16, 8, 8, 2, 1, 8);
	ck_assert_int_eq(job(&f, &f.q[0], 0, T, 13), 0);
	ck_assert_uint_ne(f.q[0].keys[0], a->keys[0]);
	ck_assert_uint_ne(f.q[0].keys[2], a->keys[2]);
	env_free(&f);
	ck_assert_int_eq(kllm_kvb_store_init(&e.s, e.mem, 16, 8, SH, 8, 1), 0);
	for (uint32_t i = 0; i < 3; i++)
		kllm_kvb_seq_init(&e.q[i], e.qmem[i], 8, SH, 7);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 13), 0);
	env_free(&e);
}
END_TEST

/* The key a NOCACHE sequence computes for @t's blocks (nothing cached). */
static uint64_t key_of(struct env *e, struct kllm_kvb_seq *z, const int32_t *t, uint32_t n)
{
	kllm_kvb_clear(&e->s, z);
	z->flags = KLLM_KVB_S_NOCACHE;
	ck_assert_int_eq(job(e, z, 0, t, n), 0);
	ck_assert_uint_eq(z->flags, KLLM_KVB_S_NOCACHE);
	kllm_kvb_clear(&e->s, z);
	return z->keys[n / B - 1];
}

START_TEST(test_collision)
{
	struct env e;
	struct kllm_kvb_seq *a, *b, *z;
	int32_t u[9] = { 91, 92, 93, 94, 0, 0, 0, 0, 1 }, v[9];
	uint32_t x, y;

	env_init(&e, 12, 1, 12, 1, 3, 8);	/* one bucket: every key shares it */
	a = &e.q[0];
	b = &e.q[1];
	z = &e.q[2];
	ck_assert_int_eq(job(&e, a, 0, T, 9), 0);	/* x = T[0..4), y = T[4..8) */
	x = a->ids[0];
	y = a->ids[1];
	/* tokens: x forged to carry the key of other tokens: no match */
	blk(&e, x)->key = key_of(&e, z, u, 4);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, u, 5), 0);
	blk(&e, x)->key = a->keys[0];
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, T, 9), 8);
	kllm_kvb_clear(&e.s, b);
	/* parent: u's block cached, y forged to carry the key of y's tokens
	 * after u: the parent differs, no match */
	ck_assert_int_eq(job(&e, b, 0, u, 4), 0);
	kllm_kvb_clear(&e.s, b);
	memcpy(v, u, 16);
	memcpy(v + 4, T + 4, 16);
	v[8] = 1;
	blk(&e, y)->key = key_of(&e, z, v, 8);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, v, 9), 4);
	kllm_kvb_clear(&e.s, b);
	blk(&e, y)->key = a->keys[1];
	check_store(&e);
	/* the parent's generation: x evicted while y stays held, x's id
	 * reused for u's block; y forged to carry the key after u */
	kllm_kvb_clear(&e.s, a);
	ck_assert_uint_eq(kllm_kvb_evict(&e.s, 100), e.s.st.evicted);
	ck_assert_int_eq(job(&e, a, 0, T, 9), 0);
	ck_assert_int_eq(job(&e, a, 1, T + 1, 1), 0);	/* block 0 copied: x idle */
	x = blk(&e, a->ids[1])->parent;
	y = a->ids[1];
	ck_assert(is_cached(&e, x) && blk(&e, x)->ref == 0);
	ck_assert_uint_eq(kllm_kvb_evict(&e.s, 100), 1);
	ck_assert(!is_cached(&e, x));
	ck_assert_uint_eq(e.s.free_head, x);	/* the next block taken */
	ck_assert_int_eq(job(&e, b, 0, u, 4), 0);
	ck_assert_uint_eq(b->ids[0], x);
	ck_assert(is_cached(&e, x));
	kllm_kvb_clear(&e.s, b);
	blk(&e, y)->key = key_of(&e, z, v, 8);
	ck_assert_uint_eq(blk(&e, y)->parent, x);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, v, 9), 4);	/* y refused */
	kllm_kvb_clear(&e.s, b);
	/* control: with the generation matching, the forged key would pass */
	blk(&e, y)->pgen = blk(&e, x)->gen;
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, b, v, 9), 8);
	kllm_kvb_clear(&e.s, b);
	env_free(&e);
}
END_TEST

START_TEST(test_evict)
{
	struct env e;
	uint32_t held[4];
	int32_t t[16];

	env_init(&e, 16, 4, 16, 3, 5, 4);
	/* four sequences of 4 cached blocks each: the store is full */
	for (uint32_t i = 0; i < 4; i++) {
		for (uint32_t j = 0; j < 16; j++)
			t[j] = (int32_t)(100 * i + j);
		ck_assert_int_eq(job(&e, &e.q[i], 0, t, 16), 0);
	}
	ck_assert_uint_eq(e.s.st.n_free, 0);
	ck_assert_uint_eq(e.s.st.n_cached, 16);
	/* all held: nothing to evict, no block to take */
	ck_assert_uint_eq(kllm_kvb_evict(&e.s, 100), 0);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, &e.q[0], 1, 1, &e.w), -KLLM_KVB_ENOSPC);
	ck_assert_uint_eq(e.w.n_copy + e.w.n_zero, 0);
	ck_assert_uint_eq(e.q[0].filled, 16);
	ck_assert_int_eq(kllm_kvb_fork(&e.s, &e.q[4], &e.q[0], 6, &e.w), -KLLM_KVB_ENOSPC);
	ck_assert_uint_eq(e.q[4].n_ids, 0);
	ck_assert_uint_eq(e.w.n_copy + e.w.n_zero, 0);
	ck_assert_int_eq(kllm_kvb_fork(&e.s, &e.q[4], &e.q[0], 8, &e.w), 0);	/* shares only */
	kllm_kvb_clear(&e.s, &e.q[4]);
	check_store(&e);
	/* a dst's own blocks count: cleared first, they serve its copy */
	ck_assert_int_eq(kllm_kvb_fork(&e.s, &e.q[1], &e.q[0], 6, &e.w), 0);
	ck_assert_uint_eq(e.s.st.n_idle, 3);
	kllm_kvb_clear(&e.s, &e.q[1]);
	/* hold sequence 2's, drop 0's and 3's to 1 block; evict everything idle */
	kllm_kvb_truncate(&e.s, &e.q[0], 3);
	kllm_kvb_truncate(&e.s, &e.q[3], 4);
	memcpy(held, e.q[2].ids, sizeof(held));
	ck_assert_uint_eq(kllm_kvb_evict(&e.s, 1000), 3 + 3 + 3);	/* q1 lost 1 to the copy */
	ck_assert_uint_eq(e.s.st.n_idle, 0);
	ck_assert_uint_eq(e.s.st.n_cached, 6);
	ck_assert_uint_eq(e.s.st.evicted, 10);
	for (uint32_t j = 0; j < 4; j++) {
		ck_assert_uint_eq(e.q[2].ids[j], held[j]);
		ck_assert(is_cached(&e, held[j]) && blk(&e, held[j])->ref == 1);
	}
	ck_assert(is_cached(&e, e.q[0].ids[0]));	/* a kept partial block stays cached */
	ck_assert_uint_eq(e.q[0].filled, 3);
	ck_assert_uint_eq(e.q[0].ro_blocks, 1);
	check_store(&e);
	/* the held chain still maps */
	for (uint32_t j = 0; j < 16; j++)
		t[j] = (int32_t)(200 + j);
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, &e.q[1], t, 16), 12);
	check_store(&e);
	env_free(&e);
}
END_TEST

START_TEST(test_lru)
{
	struct env e;
	int32_t t[16];
	uint32_t ids[4];

	env_init(&e, 12, 8, 5, 1, 3, 4);
	for (uint32_t j = 0; j < 16; j++)
		t[j] = (int32_t)j;
	ck_assert_int_eq(job(&e, &e.q[0], 0, t, 16), 0);
	memcpy(ids, e.q[0].ids, sizeof(ids));
	/* released last block first: the deepest is the oldest */
	kllm_kvb_clear(&e.s, &e.q[0]);
	ck_assert_uint_eq(e.s.lru_head, ids[3]);
	ck_assert_uint_eq(e.s.lru_tail, ids[0]);
	ck_assert_uint_eq(kllm_kvb_evict(&e.s, 1), 1);
	ck_assert(!is_cached(&e, ids[3]));
	ck_assert_uint_eq(kllm_kvb_lookup(&e.s, &e.q[1], t, 16), 12);
	kllm_kvb_clear(&e.s, &e.q[1]);
	/* max_idle: more idle cached blocks than 5 are evicted, oldest first */
	for (uint32_t j = 0; j < 16; j++)
		t[j] = (int32_t)(50 + j);
	ck_assert_int_eq(job(&e, &e.q[2], 0, t, 16), 0);
	kllm_kvb_clear(&e.s, &e.q[2]);
	ck_assert_uint_eq(e.s.st.n_idle, 5);
	ck_assert_uint_eq(e.s.st.evicted, 3);
	check_store(&e);
	/* a full store takes idle blocks (evicting) rather than fail */
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, &e.q[0], 0, 15, &e.w), 0);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, &e.q[1], 0, 15, &e.w), 0);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, &e.q[2], 0, 11, &e.w), 0);
	ck_assert_uint_eq(e.s.st.n_free, 0);
	ck_assert_uint_eq(e.s.st.n_idle, 1);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, &e.q[2], 12, 12, &e.w), 0);
	ck_assert_uint_eq(e.s.st.n_idle + e.s.st.n_free, 0);
	ck_assert_int_eq(kllm_kvb_prepare(&e.s, &e.q[2], 0, 0, &e.w), 0);	/* own */
	check_store(&e);
	env_free(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Randomized model check */

#define R_SEQS 4
#define R_CAP 8
#define R_POS (R_CAP * B)

/* The reference: each sequence's tokens, and the rows' expected values. */
struct model {
	uint32_t len[R_SEQS];
	int32_t tok[R_SEQS][R_POS];
};

/* A row's value: the hash of the whole prefix that produced it. */
static uint64_t prefix_val(const int32_t *t, uint32_t p)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t i = 0; i <= p; i++)
		h = (h ^ (uint32_t)t[i]) * 0x100000001b3ull;
	return h | 1;	/* never 0 (a zeroed row) */
}

struct rstats {
	uint32_t jobs, enospc, forks, lookups_hit, rewrites, failed, ooo, dups;
};

static void check_model(struct env *e, const struct model *m)
{
	check_store(e);
	check_shadow(e);
	for (uint32_t i = 0; i < R_SEQS; i++) {
		const struct kllm_kvb_seq *q = &e->q[i];

		CK_MSG(q->filled == m->len[i], "seq %u: filled %u, model %u", i, q->filled,
			      m->len[i]);
		for (uint32_t p = 0; p < q->filled; p++) {
			uint64_t want = prefix_val(m->tok[i], p);

			CK_OP((int32_t)q->tokens[p], ==, m->tok[i][p]);
			CK_MSG(e->rows[(uint64_t)q->ids[p >> SH] * B + (p & (B - 1))] == want,
				      "seq %u position %u: block %u holds the wrong row", i, p,
				      q->ids[p >> SH]);
		}
	}
}

static uint32_t rnd(struct kt_rng *r, uint32_t n)
{
	return n ? (uint32_t)(kt_rng_u64(r) % n) : 0;
}

/* A few prompts everyone shares, so lookups hit. */
static int32_t base_tok(uint32_t which, uint32_t p)
{
	return (int32_t)(1 + (which * 7 + p * (p + which)) % 5);
}

/* Prepare, work, check, write rows [lo, hi], then commit (or fail). */
static void r_job(struct env *e, struct model *m, struct kt_rng *r, uint32_t i, uint32_t lo,
		  uint32_t hi, const int32_t *tok, int fail, int dup, struct rstats *st)
{
	struct kllm_kvb_seq *q = &e->q[i], before;
	struct kllm_kvb_stats sb;
	int32_t pos[R_POS + 1], val[R_POS + 1];
	uint32_t n = hi - lo + 1, old_len = m->len[i];
	int ret;

	memcpy(&before, q, sizeof(before));
	memcpy(&sb, &e->s.st, sizeof(sb));
	ret = kllm_kvb_prepare(&e->s, q, lo, hi, &e->w);

	if (ret == -KLLM_KVB_ENOSPC) {
		st->enospc++;
		CK_OP(e->w.n_copy + e->w.n_zero, ==, 0);
		CK_OP(memcmp(&before, q, sizeof(before)), ==, 0);
		CK_OP(memcmp(&sb, &e->s.st, sizeof(sb)), ==, 0);
		return;
	}
	CK_OP(ret, ==, 0);
	st->jobs++;
	do_work(e);
	CK_OP(q->ro_blocks, ==, true_ro(e, q));
	if (m->len[i] > lo)
		m->len[i] = lo;
	CK_OP(q->filled, ==, m->len[i]);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t p = lo + k, id = q->ids[p >> SH];

		CK_MSG(p >> SH >= q->ro_blocks, "writing a read-only entry");
		CK_OP(blk(e, id)->ref, ==, 1);
		CK(!is_cached(e, id));
		pos[k] = (int32_t)p;
		val[k] = tok[k];
	}
	/* rows computed from the prefix when written in order; junk otherwise */
	if (lo <= old_len) {
		for (uint32_t k = 0; k < n; k++)
			m->tok[i][lo + k] = tok[k];
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t p = lo + k;
		uint64_t v = lo <= old_len ? prefix_val(m->tok[i], p) : (kt_rng_u64(r) << 1);

		e->rows[(uint64_t)q->ids[p >> SH] * B + (p & (B - 1))] = v;
	}
	if (fail) {
		st->failed++;
		kllm_kvb_truncate(&e->s, q, lo);
		return;
	}
	if (dup >= 0) {
		/* the job writes position lo + dup again: its row is unknown */
		uint32_t p = lo + (uint32_t)dup;

		pos[n] = (int32_t)p;
		val[n] = tok[dup] + 1;
		e->rows[(uint64_t)q->ids[p >> SH] * B + (p & (B - 1))] = kt_rng_u64(r) << 1;
		st->dups++;
	}
	kllm_kvb_commit(&e->s, q, pos, val, n + (dup >= 0));
	if (lo <= old_len)
		m->len[i] = dup >= 0 ? lo + (uint32_t)dup : hi + 1;
	else
		st->ooo++;
	CK_OP(q->ro_blocks, ==, true_ro(e, q));
}

static void r_step(struct env *e, struct model *m, struct kt_rng *r, struct rstats *st)
{
	uint32_t i = rnd(r, R_SEQS), op = rnd(r, 100), lo, hi, n;
	struct kllm_kvb_seq *q = &e->q[i];
	int32_t tok[R_POS];

	if (op < 5) {
		kllm_kvb_clear(&e->s, q);
		m->len[i] = 0;
	} else if (op < 12) {
		n = rnd(r, R_POS + 6);
		kllm_kvb_truncate(&e->s, q, n);
		m->len[i] = m->len[i] < n ? m->len[i] : n;
		CK_OP(q->ro_blocks, ==, true_ro(e, q));
	} else if (op < 22) {
		uint32_t j = rnd(r, R_SEQS), np;
		int ret;

		np = rnd(r, e->q[j].n_ids * B + 3);
		ret = kllm_kvb_fork(&e->s, q, &e->q[j], np, &e->w);
		if (j == i || np > e->q[j].n_ids * B) {
			CK_OP(ret, ==, -KLLM_PROG_EINVAL);
		} else if (ret == -KLLM_KVB_ENOSPC) {
			st->enospc++;
			CK_OP(q->n_ids, ==, 0);
			m->len[i] = 0;
		} else {
			CK_OP(ret, ==, 0);
			st->forks++;
			do_work(e);
			m->len[i] = m->len[j] < np ? m->len[j] : np;
			memcpy(m->tok[i], m->tok[j], 4 * m->len[i]);
			CK_OP(q->ro_blocks, ==, true_ro(e, q));
		}
	} else if (op < 40) {
		/* a new prompt: a shared one, maybe changed somewhere */
		uint32_t which = rnd(r, 3), held;

		n = 1 + rnd(r, R_POS);
		for (uint32_t p = 0; p < n; p++)
			tok[p] = base_tok(which, p);
		if (rnd(r, 3) == 0)
			tok[rnd(r, n)] = 9;
		kllm_kvb_clear(&e->s, q);
		held = kllm_kvb_lookup(&e->s, q, tok, n);
		CK_OP(held % B, ==, 0);
		CK_OP(held, <, n);
		CK_OP(held, ==, q->filled);
		CK_OP(q->ro_blocks, ==, q->n_ids);
		st->lookups_hit += held > 0;
		memcpy(m->tok[i], tok, 4 * held);
		m->len[i] = held;
		check_model(e, m);
		if (rnd(r, 4))	/* prefill the rest */
			r_job(e, m, r, i, held, n - 1, tok + held, 0, -1, st);
	} else if (op < 95) {
		/* a job: append (mostly), rewrite, out of order, or failing */
		uint32_t kind = rnd(r, 10), len = m->len[i];

		if (kind < 6 || !len)
			lo = len;
		else if (kind < 8)
			lo = rnd(r, len), st->rewrites++;
		else
			lo = len + 1 + rnd(r, 6);
		if (lo >= R_POS)
			return;
		hi = lo + rnd(r, 6);
		hi = hi < R_POS ? hi : R_POS - 1;
		for (uint32_t k = 0; k <= hi - lo; k++)
			tok[k] = rnd(r, 2) ? base_tok(rnd(r, 3), lo + k) : (int32_t)rnd(r, 6);
		r_job(e, m, r, i, lo, hi, tok, rnd(r, 12) == 0,
		      rnd(r, 8) ? -1 : (int)rnd(r, hi - lo + 1), st);
	} else {
		kllm_kvb_evict(&e->s, rnd(r, 4));
	}
	/* bogus calls: refused, nothing changes */
	if (rnd(r, 10) == 0) {
		struct kllm_kvb_seq before;

		memcpy(&before, q, sizeof(before));
		CK_OP(kllm_kvb_prepare(&e->s, q, 5, 4, &e->w), ==, -KLLM_PROG_EINVAL);
		CK_OP(kllm_kvb_prepare(&e->s, q, 0, R_POS + rnd(r, 1000), &e->w), ==,
				 -KLLM_PROG_EINVAL);
		CK_OP(memcmp(&before, q, sizeof(before)), ==, 0);
	}
	check_model(e, m);
}

START_TEST(test_random)
{
	struct kt_rng r;
	struct rstats st = { 0 };
	struct model m;
	struct env e;

	for (uint32_t round = 0; round < 8; round++) {
		/* few blocks: -ENOSPC and eviction happen; few buckets: chains */
		env_init(&e, 14 + 4 * round, round % 2 ? 1 : 4, 2 + round, 5 + round, R_SEQS, R_CAP);
		memset(&m, 0, sizeof(m));
		kt_rng_seed(&r, 1234 + round);
		for (uint32_t k = 0; k < 20000; k++)
			r_step(&e, &m, &r, &st);
		ck_assert_uint_gt(e.s.st.hits, 0);
		ck_assert_uint_gt(e.s.st.inserted, 0);
		ck_assert_uint_gt(e.s.st.evicted, 0);
		env_free(&e);
	}
	if (getenv("KT_VERBOSE"))
		printf("jobs %u enospc %u forks %u lookup hits %u rewrites %u failed %u "
		       "out of order %u twice-written %u\n", st.jobs, st.enospc, st.forks,
		       st.lookups_hit, st.rewrites, st.failed, st.ooo, st.dups);
	ck_assert_uint_gt(st.enospc, 0);
	ck_assert_uint_gt(st.forks, 100);
	ck_assert_uint_gt(st.lookups_hit, 100);
	ck_assert_uint_gt(st.rewrites, 100);
	ck_assert_uint_gt(st.ooo, 50);
	ck_assert_uint_gt(st.dups, 50);
}
END_TEST

static Suite *kv_blocks_suite(void)
{
	Suite *s = suite_create("kv_blocks");
	TCase *tc = tcase_create("kv_blocks");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_prepare);
	tcase_add_test(tc, test_commit);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_collision);
	tcase_add_test(tc, test_evict);
	tcase_add_test(tc, test_lru);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(kv_blocks_suite());
}
