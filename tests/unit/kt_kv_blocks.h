/* SPDX-License-Identifier: MIT */
/*
 * kt_kv_blocks.h - test_kv_blocks.c's fixture: a block store with a few
 * sequences, a simulation of its blocks' rows (what a caller's copies and
 * zeroes and a job's writes leave in them), and checks of the store's
 * lists, flags and counts against each other and against the tables.
 */
#ifndef KLLM_KT_KV_BLOCKS_H
#define KLLM_KT_KV_BLOCKS_H

#include "kt.h"

#include "kllm_kv_blocks.h"

#define SH 2		/* B = 4 positions a block */
#define B (1u << SH)
#define MAXSEQ 6
#define MAXCAP 16
#define NONE KLLM_KVB_NONE

/* Assertions for the hot paths: Check records every passing ck_assert. */
#define CK(c) do { if (!(c)) ck_abort_msg("line %d: %s", __LINE__, #c); } while (0)
#define CK_MSG(c, ...) do { if (!(c)) ck_abort_msg(__VA_ARGS__); } while (0)
#define CK_OP(a, op, b) do { \
	unsigned long long a_ = (a), b_ = (b); \
	if (!(a_ op b_)) \
		ck_abort_msg("line %d: %s %s %s: %llu, %llu", __LINE__, #a, #op, #b, a_, b_); \
} while (0)

/* One store, its sequences and a simulation of its blocks' rows. */
struct env {
	struct kllm_kvb_store s;
	void *mem;
	uint32_t n_seqs, cap;
	struct kllm_kvb_seq q[MAXSEQ];
	void *qmem[MAXSEQ];
	struct kllm_kvb_copy copy[MAXCAP];
	uint32_t zero[MAXCAP];
	struct kllm_kvb_work w;
	uint64_t *rows;		/* [n_blocks][B]: what each block's row holds */
	uint64_t *shadow;	/* [n_blocks][B]: a cached block's rows when cached */
	uint32_t *shadow_gen;	/* gen + 1 of the recorded rows; 0: none */
};

static inline void env_init(struct env *e, uint32_t n_blocks, uint32_t n_buckets, uint32_t max_idle,
		     uint64_t seed, uint32_t n_seqs, uint32_t cap)
{
	uint64_t bytes = kllm_kvb_store_bytes(n_blocks, n_buckets, SH);

	memset(e, 0, sizeof(*e));
	ck_assert(bytes && n_seqs <= MAXSEQ && cap <= MAXCAP);
	e->mem = kt_alloc(bytes);
	ck_assert_int_eq(kllm_kvb_store_init(&e->s, e->mem, n_blocks, n_buckets, SH,
					     max_idle, seed), 0);
	e->n_seqs = n_seqs;
	e->cap = cap;
	for (uint32_t i = 0; i < n_seqs; i++) {
		e->qmem[i] = kt_alloc(kllm_kvb_seq_bytes(cap, SH));
		kllm_kvb_seq_init(&e->q[i], e->qmem[i], cap, SH, 7);
	}
	e->w = (struct kllm_kvb_work){ .copy = e->copy, .zero = e->zero, .cap = MAXCAP };
	e->rows = kt_alloc(8ull * n_blocks * B);
	e->shadow = kt_alloc(8ull * n_blocks * B);
	e->shadow_gen = kt_alloc(4ull * n_blocks);
}

static inline void env_free(struct env *e)
{
	for (uint32_t i = 0; i < e->n_seqs; i++)
		free(e->qmem[i]);
	free(e->mem);
	free(e->rows);
	free(e->shadow);
	free(e->shadow_gen);
}

static inline struct kllm_kvb_block *blk(struct env *e, uint32_t id)
{
	CK_OP(id, <, e->s.n_blocks);
	return &e->s.blocks[id];
}

static inline int is_cached(struct env *e, uint32_t id)
{
	return !!(blk(e, id)->flags & KLLM_KVB_B_CACHED);
}

/* What the caller does with @w: copies, then zeroes, in order. */
static inline void do_work(struct env *e)
{
	for (uint32_t i = 0; i < e->w.n_copy; i++) {
		const struct kllm_kvb_copy *c = &e->w.copy[i];

		CK_OP(c->rows, <=, B);
		CK_OP(c->dst, !=, c->src);
		memcpy(&e->rows[(uint64_t)c->dst * B], &e->rows[(uint64_t)c->src * B], 8ull * c->rows);
	}
	for (uint32_t i = 0; i < e->w.n_zero; i++) {
		CK_OP(e->w.zero[i], <, e->s.n_blocks);
		memset(&e->rows[(uint64_t)e->w.zero[i] * B], 0, 8ull * B);
	}
}

/* Leading table entries shared or cached, counted from the store. */
static inline uint32_t true_ro(struct env *e, const struct kllm_kvb_seq *q)
{
	uint32_t i = 0;

	while (i < q->n_ids && (blk(e, q->ids[i])->ref > 1 || is_cached(e, q->ids[i])))
		i++;
	return i;
}

/* Lists, flags and counts against each other and against the tables. */
static inline void check_store(struct env *e)
{
	struct kllm_kvb_store *s = &e->s;
	uint32_t n = s->n_blocks, k, id, prev, held = 0, cached = 0, chained = 0;
	uint32_t *refs = kt_alloc(4ull * n);

	for (uint32_t i = 0; i < e->n_seqs; i++) {
		const struct kllm_kvb_seq *q = &e->q[i];

		CK_OP(q->n_ids, <=, q->cap);
		CK_OP(q->filled, <=, q->n_ids * B);
		CK_OP(q->ro_blocks, <=, q->n_ids);
		for (uint32_t j = 0; j < q->n_ids; j++) {
			CK_OP(q->ids[j], <, n);
			for (uint32_t l = 0; l < j; l++)
				CK_OP(q->ids[j], !=, q->ids[l]);
			refs[q->ids[j]]++;
		}
	}
	for (k = 0, id = s->free_head, prev = NONE; id != NONE; k++, prev = id, id = s->blocks[id].next) {
		CK_OP(k, <=, n);
		CK_OP(blk(e, id)->flags, ==, KLLM_KVB_B_FREE);
		CK_OP(s->blocks[id].ref, ==, 0);
		CK_OP(s->blocks[id].prev, ==, prev);
	}
	CK_OP(k, ==, s->st.n_free);
	for (k = 0, id = s->lru_head, prev = NONE; id != NONE; k++, prev = id, id = s->blocks[id].next) {
		CK_OP(k, <=, n);
		CK_OP(blk(e, id)->flags, ==, KLLM_KVB_B_CACHED | KLLM_KVB_B_IDLE);
		CK_OP(s->blocks[id].ref, ==, 0);
		CK_OP(s->blocks[id].prev, ==, prev);
	}
	CK_OP(k, ==, s->st.n_idle);
	CK_OP(s->lru_tail, ==, prev);
	CK_OP(s->st.n_idle, <=, s->max_idle);
	for (id = 0; id < n; id++) {
		const struct kllm_kvb_block *b = &s->blocks[id];

		CK_MSG(b->ref == refs[id], "block %u: ref %u, %u tables name it",
			      id, b->ref, refs[id]);
		held += b->ref > 0;
		cached += !!(b->flags & KLLM_KVB_B_CACHED);
		CK_OP(!!(b->flags & KLLM_KVB_B_IDLE), ==,
				 (b->flags & KLLM_KVB_B_CACHED) && !b->ref);
		CK_OP(!!(b->flags & KLLM_KVB_B_FREE), ==,
				 !(b->flags & KLLM_KVB_B_CACHED) && !b->ref);
	}
	CK_OP(cached, ==, s->st.n_cached);
	CK_OP(s->st.n_free + s->st.n_idle + held, ==, n);
	for (uint32_t bk = 0; bk < s->n_buckets; bk++)
		for (k = 0, id = s->bucket[bk], prev = NONE; id != NONE;
		     k++, prev = id, id = s->blocks[id].hnext) {
			CK_OP(k, <=, n);
			CK(is_cached(e, id));
			CK_OP(s->blocks[id].key & (s->n_buckets - 1), ==, bk);
			CK_OP(s->blocks[id].hprev, ==, prev);
			chained++;
		}
	CK_OP(chained, ==, s->st.n_cached);
	free(refs);
}

/* A cached block's rows never change while it stays cached. */
static inline void check_shadow(struct env *e)
{
	for (uint32_t id = 0; id < e->s.n_blocks; id++) {
		uint64_t *r = &e->rows[(uint64_t)id * B], *sh = &e->shadow[(uint64_t)id * B];

		if (!is_cached(e, id)) {
			e->shadow_gen[id] = 0;
		} else if (e->shadow_gen[id] != e->s.blocks[id].gen + 1) {
			memcpy(sh, r, 8 * B);
			e->shadow_gen[id] = e->s.blocks[id].gen + 1;
		} else {
			CK_MSG(!memcmp(sh, r, 8 * B), "cached block %u was written", id);
		}
	}
}

/* Jobs for directed tests: prepare, do the work, write, commit. */
static inline int job(struct env *e, struct kllm_kvb_seq *q, uint32_t lo, const int32_t *tok, uint32_t n)
{
	int32_t pos[64];
	int ret;

	ck_assert(n && n <= 64);
	ret = kllm_kvb_prepare(&e->s, q, lo, lo + n - 1, &e->w);
	if (ret)
		return ret;
	do_work(e);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t p = lo + i;

		ck_assert(p >> SH >= q->ro_blocks);
		ck_assert_uint_eq(blk(e, q->ids[p >> SH])->ref, 1);
		ck_assert(!is_cached(e, q->ids[p >> SH]));
		e->rows[(uint64_t)q->ids[p >> SH] * B + (p & (B - 1))] = 1000 + (uint32_t)tok[i];
		pos[i] = (int32_t)p;
	}
	kllm_kvb_commit(&e->s, q, pos, tok, n);
	return 0;
}

#endif /* KLLM_KT_KV_BLOCKS_H */
