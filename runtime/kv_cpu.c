// SPDX-License-Identifier: MIT
/*
 * kv_cpu.c - the CPU backend's KV blocks (see kv_cpu.h): the pool's
 * memory and the row copies are here, every decision about blocks is
 * uapi/prog/kllm_kv_blocks.c's (the driver's too).
 */
#include "kv_cpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kllm_kv_blocks.h"

struct kv_cpu {
	uint32_t n_seqs, shift, n_blocks;
	uint64_t block_bytes, half_bytes;	/* one block; one layer's K (or V) in it */
	struct kllm_prog_mem pool;	/* n_blocks * block_bytes */
	void *store_mem;
	uint64_t store_bytes;
	struct kllm_kvb_store store;
	struct kllm_kvb_seq *seqs;	/* n_seqs */
	void *seq_mem;
	struct kllm_prog_table *tables;	/* n_seqs */
	struct kllm_kvb_work w;
	int32_t *lo, *hi;	/* n_seqs: a batch's positions per sequence; lo -1: none */
	uint32_t *in;		/* the batch's sequences (max_batch) */
	int32_t *rp, *rt;	/* one sequence's rows of a batch: positions, tokens */
	uint32_t n_in, max_batch;
	uint8_t *touched;	/* n_blocks: pages written since the block was last free */
};

static void *map_zero(uint64_t n)
{
	void *p;

	if (n > SIZE_MAX)
		return NULL;
	p = mmap(NULL, n ? (size_t)n : 1, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, uint64_t n)
{
	if (p)
		munmap(p, n ? (size_t)n : 1);
}

/* FNV-1a over the program image: only this program's blocks ever match. */
static uint64_t program_seed(const struct kllm_compiled *c)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < c->size; i++)
		h = (h ^ c->img[i]) * 0x100000001b3ull;
	return h;
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t b = 1;

	while (b < n && b < (1u << 20))
		b <<= 1;
	return b;
}

void kv_cpu_destroy(struct kv_cpu *kv)
{
	if (!kv)
		return;
	unmap(kv->pool.base, kv->pool.size);
	unmap(kv->store_mem, kv->store_bytes);
	unmap(kv->seq_mem, (uint64_t)kv->n_seqs * kllm_kvb_seq_bytes(
		kv->seqs ? kv->seqs[0].cap : 0, kv->shift));
	free(kv->seqs);
	free(kv->tables);
	free(kv->touched);
	free(kv->w.copy);
	free(kv->w.zero);
	free(kv->lo);
	free(kv->hi);
	free(kv->in);
	free(kv->rp);
	free(kv->rt);
	free(kv);
}

static int kv_alloc(struct kv_cpu *kv, uint32_t cap, uint32_t max_batch)
{
	const uint64_t seq_bytes = kllm_kvb_seq_bytes(cap, kv->shift);

	kv->pool.size = (uint64_t)kv->n_blocks * kv->block_bytes;
	kv->pool.base = map_zero(kv->pool.size);
	kv->store_mem = map_zero(kv->store_bytes);
	kv->seq_mem = map_zero((uint64_t)kv->n_seqs * seq_bytes);
	kv->seqs = calloc(kv->n_seqs, sizeof(*kv->seqs));
	kv->tables = calloc(kv->n_seqs, sizeof(*kv->tables));
	kv->w.copy = calloc(cap, sizeof(*kv->w.copy));
	kv->w.zero = calloc(cap, sizeof(*kv->w.zero));
	kv->w.cap = cap;
	kv->lo = malloc(4ull * kv->n_seqs);
	kv->hi = malloc(4ull * kv->n_seqs);
	kv->in = malloc(4ull * max_batch);
	kv->rp = malloc(4ull * max_batch);
	kv->rt = malloc(4ull * max_batch);
	kv->touched = calloc(kv->n_blocks, 1);
	if (!kv->touched || !kv->pool.base || !kv->store_mem || !kv->seq_mem || !kv->seqs ||
	    !kv->tables || !kv->w.copy || !kv->w.zero || !kv->lo || !kv->hi ||
	    !kv->in || !kv->rp || !kv->rt)
		return -ENOMEM;
	memset(kv->lo, 0xff, 4ull * kv->n_seqs);
	for (uint32_t s = 0; s < kv->n_seqs; s++)
		kllm_kvb_seq_init(&kv->seqs[s], (char *)kv->seq_mem + s * seq_bytes, cap,
				  kv->shift, 0);
	kv->max_batch = max_batch;
	return 0;
}

int kv_cpu_create(struct kv_cpu **out, const struct kllm_compiled *c, uint32_t n_seqs,
		  uint32_t idle_tokens, char *err, size_t errlen)
{
	const uint32_t cap = c->kv_blocks_per_seq;
	uint64_t n_blocks, idle;
	struct kv_cpu *kv;
	int ret;

	*out = NULL;
	if (!c->kv_block_shift || !cap) {
		snprintf(err, errlen, "KV: the program is not paged");
		return -EINVAL;
	}
	idle = ((uint64_t)idle_tokens + (1u << c->kv_block_shift) - 1) >> c->kv_block_shift;
	n_blocks = (uint64_t)n_seqs * cap + idle;
	if (n_blocks > KLLM_PROG_MAX_POOL_BLOCKS) {
		snprintf(err, errlen, "KV: %llu blocks of %u positions: over the limit of %u",
			 (unsigned long long)n_blocks, 1u << c->kv_block_shift,
			 KLLM_PROG_MAX_POOL_BLOCKS);
		return -EINVAL;
	}
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		goto nomem;
	kv->n_seqs = n_seqs;
	kv->shift = c->kv_block_shift;
	kv->n_blocks = (uint32_t)n_blocks;
	kv->block_bytes = c->kv_size;
	kv->half_bytes = c->kv_layer_size / 2;
	kv->store_bytes = kllm_kvb_store_bytes(kv->n_blocks, pow2_at_least(n_blocks),
					       kv->shift);
	if (!kv->store_bytes || kv_alloc(kv, cap, c->max_batch))
		goto nomem;
	ret = kllm_kvb_store_init(&kv->store, kv->store_mem, kv->n_blocks,
				  pow2_at_least(n_blocks), kv->shift, (uint32_t)idle,
				  program_seed(c));
	if (ret) {
		kv_cpu_destroy(kv);
		snprintf(err, errlen, "KV: block store rejected its sizes");
		return -EINVAL;
	}
	*out = kv;
	return 0;
nomem:
	kv_cpu_destroy(kv);
	snprintf(err, errlen, "out of memory for the KV blocks");
	return -ENOMEM;
}

static void *block(const struct kv_cpu *kv, uint32_t id)
{
	return (char *)kv->pool.base + (uint64_t)id * kv->block_bytes;
}

/*
 * Free blocks' pages back to the system: a freed block keeps nobody's
 * data, and one taken again is zeroed (do_work) before any use, so the
 * pool stays resident only where blocks are held or cached.
 */
static void release_free(struct kv_cpu *kv)
{
	for (uint32_t b = 0; b < kv->n_blocks; b++) {
		if (!kv->touched[b] || !(kv->store.blocks[b].flags & KLLM_KVB_B_FREE))
			continue;
		madvise(block(kv, b), (size_t)kv->block_bytes, MADV_DONTNEED);
		kv->touched[b] = 0;
	}
}

/* What the bookkeeping asked for: rows copied, then blocks zeroed. */
static void do_work(struct kv_cpu *kv)
{
	const uint64_t n_half = kv->block_bytes / kv->half_bytes;
	const uint64_t row = kv->half_bytes >> kv->shift;

	for (uint32_t i = 0; i < kv->w.n_copy; i++) {
		const struct kllm_kvb_copy *cp = &kv->w.copy[i];
		char *d = block(kv, cp->dst);
		const char *s = block(kv, cp->src);

		kv->touched[cp->dst] = 1;
		/* [layer][K, V][B][row]: the first rows of each half; the
		 * rest zeroed, as a fresh block's (no earlier owner's rows) */
		for (uint64_t h = 0; h < n_half; h++) {
			memcpy(d + h * kv->half_bytes, s + h * kv->half_bytes,
			       (size_t)(cp->rows * row));
			memset(d + h * kv->half_bytes + cp->rows * row, 0,
			       (size_t)(kv->half_bytes - cp->rows * row));
		}
	}
	for (uint32_t i = 0; i < kv->w.n_zero; i++) {
		memset(block(kv, kv->w.zero[i]), 0, (size_t)kv->block_bytes);
		kv->touched[kv->w.zero[i]] = 1;
	}
}

void kv_cpu_clear(struct kv_cpu *kv, uint32_t seq)
{
	kllm_kvb_clear(&kv->store, &kv->seqs[seq]);
	release_free(kv);
}

void kv_cpu_truncate(struct kv_cpu *kv, uint32_t seq, uint32_t n_pos)
{
	kllm_kvb_truncate(&kv->store, &kv->seqs[seq], n_pos);
	release_free(kv);
}

int kv_cpu_copy(struct kv_cpu *kv, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	int ret = kllm_kvb_fork(&kv->store, &kv->seqs[dst], &kv->seqs[src], n_pos, &kv->w);

	if (ret == -KLLM_PROG_EINVAL)
		return -EINVAL;
	if (ret)
		return -ENOSPC;
	do_work(kv);
	return 0;
}

uint32_t kv_cpu_lookup(struct kv_cpu *kv, uint32_t seq, const int32_t *tokens,
		       uint32_t n, uint32_t tag)
{
	struct kllm_kvb_seq *q = &kv->seqs[seq];

	kllm_kvb_clear(&kv->store, q);
	q->tag = tag;
	return kllm_kvb_lookup(&kv->store, q, tokens, n);
}

/* The batch's sequences into kv->in, their position ranges into lo/hi. */
static void batch_seqs(struct kv_cpu *kv, uint32_t n, const int32_t *pos, const int32_t *seq)
{
	kv->n_in = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)seq[i];

		if (kv->lo[s] < 0) {
			kv->in[kv->n_in++] = s;
			kv->lo[s] = kv->hi[s] = pos[i];
		}
		kv->lo[s] = pos[i] < kv->lo[s] ? pos[i] : kv->lo[s];
		kv->hi[s] = pos[i] > kv->hi[s] ? pos[i] : kv->hi[s];
	}
}

static void batch_seqs_done(struct kv_cpu *kv)
{
	for (uint32_t i = 0; i < kv->n_in; i++)
		kv->lo[kv->in[i]] = -1;
}

int kv_cpu_prepare(struct kv_cpu *kv, uint32_t n, const int32_t *pos, const int32_t *seq,
		   const struct kllm_prog_mem **pool, const struct kllm_prog_table **tables)
{
	int ret = 0;

	memset(kv->tables, 0, kv->n_seqs * sizeof(*kv->tables));
	batch_seqs(kv, n, pos, seq);
	for (uint32_t i = 0; i < kv->n_in && !ret; i++) {
		uint32_t s = kv->in[i];
		struct kllm_kvb_seq *q = &kv->seqs[s];

		ret = kllm_kvb_prepare(&kv->store, q, (uint32_t)kv->lo[s],
				       (uint32_t)kv->hi[s], &kv->w);
		do_work(kv);
		kv->tables[s] = (struct kllm_prog_table){ q->ids, q->n_ids, q->ro_blocks };
	}
	batch_seqs_done(kv);
	*pool = &kv->pool;
	*tables = kv->tables;
	if (ret == -KLLM_PROG_EINVAL)
		return -EINVAL;
	return ret ? -ENOSPC : 0;
}

/* Sequence @s's rows of the batch, in row order, into rp/rt. */
static uint32_t seq_rows(struct kv_cpu *kv, uint32_t s, uint32_t n, const int32_t *tokens,
			 const int32_t *pos, const int32_t *seq)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		if ((uint32_t)seq[i] != s)
			continue;
		kv->rp[k] = pos[i];
		kv->rt[k++] = tokens[i];
	}
	return k;
}

void kv_cpu_commit(struct kv_cpu *kv, uint32_t n, const int32_t *tokens,
		   const int32_t *pos, const int32_t *seq, int ok)
{
	batch_seqs(kv, n, pos, seq);
	for (uint32_t i = 0; i < kv->n_in; i++) {
		uint32_t s = kv->in[i], k;
		struct kllm_kvb_seq *q = &kv->seqs[s];

		if (!ok) {
			kllm_kvb_truncate(&kv->store, q, (uint32_t)kv->lo[s]);
			continue;
		}
		k = seq_rows(kv, s, n, tokens, pos, seq);
		kllm_kvb_commit(&kv->store, q, kv->rp, kv->rt, k);
	}
	batch_seqs_done(kv);
	release_free(kv);
}

void kv_cpu_stats(const struct kv_cpu *kv, struct kllm_kv_stats *st)
{
	const struct kllm_kvb_stats *k = &kv->store.st;

	st->block_bytes = kv->block_bytes;
	st->block_tokens = 1u << kv->shift;
	st->n_blocks = kv->n_blocks;
	st->n_used = k->n_blocks - k->n_free;
	st->n_cached = k->n_cached;
	st->n_idle = k->n_idle;
	st->hits = k->hits;
	st->misses = k->misses;
	st->inserted = k->inserted;
	st->evicted = k->evicted;
}
