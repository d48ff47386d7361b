// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kllm_kv_blocks.c - paged KV memory's bookkeeping (kllm_kv_blocks.h):
 * the free and LRU lists, reference counts, the prefix cache's hash chain
 * and buckets.  Integers only, no allocation, no recursion; every block id
 * read from a table is checked against the store before it indexes.
 */
#include "kllm_kv_blocks.h"

#define KVB_NONE KLLM_KVB_NONE
#define KVB_GOLDEN 0x9e3779b97f4a7c15ull
#define KVB_TOKEN_MUL 0xd6e8feb86659fd93ull	/* odd: token ids map one to one */

/* ------------------------------------------------------------------ */
/* Hash chain */

/* splitmix64's finalizer: a bijection that spreads every input bit. */
static kllm_u64 kvb_fmix(kllm_u64 z)
{
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ull;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* key_{-1}: the store's seed and the partition. */
static kllm_u64 kvb_root(kllm_u64 seed, kllm_u32 tag)
{
	kllm_u64 h = kvb_fmix(seed + KVB_GOLDEN);

	return kvb_fmix(h + KVB_GOLDEN + (kllm_u64)tag * KVB_TOKEN_MUL);
}

/* key_i from key_{i-1} and block i's @n token ids. */
static kllm_u64 kvb_chain(kllm_u64 h, const kllm_u32 *tok, kllm_u32 n)
{
	kllm_u32 i;

	for (i = 0; i < n; i++)
		h = kvb_fmix(h + KVB_GOLDEN + (kllm_u64)tok[i] * KVB_TOKEN_MUL);
	return h;
}

/* ------------------------------------------------------------------ */
/* Checks */

static int store_ok(const struct kllm_kvb_store *s)
{
	return s && s->blocks && s->bucket && s->tokens && s->n_buckets &&
	       s->shift <= KLLM_KVB_MAX_SHIFT;
}

static int seq_ok(const struct kllm_kvb_store *s, const struct kllm_kvb_seq *q)
{
	return store_ok(s) && q && q->shift == s->shift && q->n_ids <= q->cap &&
	       (!q->cap || (q->ids && q->tokens && q->keys)) &&
	       (kllm_u64)q->filled <= (kllm_u64)q->n_ids << s->shift;
}

static int valid(const struct kllm_kvb_store *s, kllm_u32 id)
{
	return id < s->n_blocks;
}

/* Held by one table only and not cached: its holder may write it. */
static int own(const struct kllm_kvb_store *s, kllm_u32 id)
{
	return valid(s, id) && s->blocks[id].ref == 1 &&
	       !(s->blocks[id].flags & KLLM_KVB_B_CACHED);
}

static kllm_u32 *block_tokens(const struct kllm_kvb_store *s, kllm_u32 id)
{
	return s->tokens + ((kllm_u64)id << s->shift);
}

static kllm_u32 *seq_tokens(const struct kllm_kvb_seq *q, kllm_u32 i, kllm_u32 shift)
{
	return q->tokens + ((kllm_u64)i << shift);
}

static void copy_u32(kllm_u32 *d, const kllm_u32 *src, kllm_u64 n)
{
	kllm_u64 i;

	for (i = 0; i < n; i++)
		d[i] = src[i];
}

static int same_u32(const kllm_u32 *a, const kllm_u32 *b, kllm_u32 n)
{
	kllm_u32 i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Lists: free (push at the head), LRU (oldest at the head) */

static void free_push(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];

	b->prev = KVB_NONE;
	b->next = s->free_head;
	if (s->free_head != KVB_NONE)
		s->blocks[s->free_head].prev = id;
	s->free_head = id;
	b->flags = KLLM_KVB_B_FREE;
	s->st.n_free++;
}

static void free_unlink(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];

	if (b->prev != KVB_NONE)
		s->blocks[b->prev].next = b->next;
	else
		s->free_head = b->next;
	if (b->next != KVB_NONE)
		s->blocks[b->next].prev = b->prev;
	b->prev = b->next = KVB_NONE;
	b->flags &= ~KLLM_KVB_B_FREE;
	s->st.n_free--;
}

static void lru_append(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];

	b->next = KVB_NONE;
	b->prev = s->lru_tail;
	if (s->lru_tail != KVB_NONE)
		s->blocks[s->lru_tail].next = id;
	else
		s->lru_head = id;
	s->lru_tail = id;
	b->flags |= KLLM_KVB_B_IDLE;
	s->st.n_idle++;
}

static void lru_unlink(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];

	if (b->prev != KVB_NONE)
		s->blocks[b->prev].next = b->next;
	else
		s->lru_head = b->next;
	if (b->next != KVB_NONE)
		s->blocks[b->next].prev = b->prev;
	else
		s->lru_tail = b->prev;
	b->prev = b->next = KVB_NONE;
	b->flags &= ~KLLM_KVB_B_IDLE;
	s->st.n_idle--;
}

/* ------------------------------------------------------------------ */
/* Hash buckets */

static kllm_u32 *bucket_of(struct kllm_kvb_store *s, kllm_u64 key)
{
	return &s->bucket[key & (s->n_buckets - 1)];
}

static void hash_link(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];
	kllm_u32 *head = bucket_of(s, b->key);

	b->hprev = KVB_NONE;
	b->hnext = *head;
	if (*head != KVB_NONE)
		s->blocks[*head].hprev = id;
	*head = id;
}

static void hash_unlink(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];

	if (b->hprev != KVB_NONE)
		s->blocks[b->hprev].hnext = b->hnext;
	else
		*bucket_of(s, b->key) = b->hnext;
	if (b->hnext != KVB_NONE)
		s->blocks[b->hnext].hprev = b->hprev;
	b->hprev = b->hnext = KVB_NONE;
}

/* The cached block equal to this one in every respect, or NONE. */
static kllm_u32 find(struct kllm_kvb_store *s, kllm_u64 key, kllm_u32 tag,
		     kllm_u32 parent, kllm_u32 pgen, const kllm_u32 *tok)
{
	kllm_u32 id = *bucket_of(s, key);
	kllm_u32 steps = 0;

	while (id != KVB_NONE && steps++ < s->n_blocks) {
		const struct kllm_kvb_block *b = &s->blocks[id];

		if (b->key == key && b->tag == tag && b->parent == parent &&
		    b->pgen == pgen && same_u32(block_tokens(s, id), tok, 1u << s->shift))
			return id;
		id = b->hnext;
	}
	return KVB_NONE;
}

/* ------------------------------------------------------------------ */
/* Blocks: evict, take, hold, release */

/* The oldest idle cached block back to the free list; 0 if none. */
static int evict_one(struct kllm_kvb_store *s)
{
	kllm_u32 id = s->lru_head;
	struct kllm_kvb_block *b;

	if (id == KVB_NONE)
		return 0;
	b = &s->blocks[id];
	lru_unlink(s, id);
	hash_unlink(s, id);
	b->flags &= ~KLLM_KVB_B_CACHED;
	b->gen++;
	s->st.n_cached--;
	s->st.evicted++;
	free_push(s, id);
	return 1;
}

static void trim_idle(struct kllm_kvb_store *s)
{
	while (s->st.n_idle > s->max_idle && evict_one(s))
		;
}

/* Blocks a caller can take now: free ones and idle cached ones. */
static kllm_u64 available(const struct kllm_kvb_store *s)
{
	return (kllm_u64)s->st.n_free + s->st.n_idle;
}

/* A free block, held once; an idle cached one evicted if none.  NONE if neither. */
static kllm_u32 take(struct kllm_kvb_store *s)
{
	kllm_u32 id;

	if (s->free_head == KVB_NONE && !evict_one(s))
		return KVB_NONE;
	id = s->free_head;
	free_unlink(s, id);
	s->blocks[id].flags = 0;
	s->blocks[id].ref = 1;
	return id;
}

static void hold(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b = &s->blocks[id];

	if (!b->ref) {
		if (b->flags & KLLM_KVB_B_FREE)
			free_unlink(s, id);
		else if (b->flags & KLLM_KVB_B_IDLE)
			lru_unlink(s, id);
	}
	b->ref++;
}

static void release(struct kllm_kvb_store *s, kllm_u32 id)
{
	struct kllm_kvb_block *b;

	if (!valid(s, id))
		return;
	b = &s->blocks[id];
	if (!b->ref || --b->ref)
		return;
	if (b->flags & KLLM_KVB_B_CACHED) {
		lru_append(s, id);
		trim_idle(s);
	} else {
		free_push(s, id);
	}
}

/* Leading entries of @q's table that are shared or cached. */
static void update_ro(const struct kllm_kvb_store *s, struct kllm_kvb_seq *q)
{
	kllm_u32 i = 0;

	while (i < q->n_ids && valid(s, q->ids[i]) && !own(s, q->ids[i]))
		i++;
	q->ro_blocks = i;
}

/* ------------------------------------------------------------------ */
/* Store and sequences */

static kllm_u64 round8(kllm_u64 n)
{
	return (n + 7) & ~7ull;
}

kllm_u64 kllm_kvb_store_bytes(kllm_u32 n_blocks, kllm_u32 n_buckets, kllm_u32 shift)
{
	if (!n_blocks || n_blocks == KVB_NONE || !n_buckets ||
	    (n_buckets & (n_buckets - 1)) || shift > KLLM_KVB_MAX_SHIFT)
		return 0;
	/* at most 2^32 * 48 + 2^32 * 4 + 2^48 * 4: far inside 64 bits */
	return (kllm_u64)n_blocks * sizeof(struct kllm_kvb_block) +
	       round8((kllm_u64)n_buckets * 4) + (((kllm_u64)n_blocks << shift) * 4);
}

int kllm_kvb_store_init(struct kllm_kvb_store *s, void *mem, kllm_u32 n_blocks,
			kllm_u32 n_buckets, kllm_u32 shift, kllm_u32 max_idle,
			kllm_u64 seed)
{
	kllm_u8 *p = mem;
	kllm_u32 i;

	if (!s || !mem || ((__UINTPTR_TYPE__)mem & 7) ||
	    !kllm_kvb_store_bytes(n_blocks, n_buckets, shift))
		return -KLLM_PROG_EINVAL;
	*s = (struct kllm_kvb_store){
		.n_blocks = n_blocks, .shift = shift, .n_buckets = n_buckets,
		.max_idle = max_idle, .seed = seed,
		.free_head = KVB_NONE, .lru_head = KVB_NONE, .lru_tail = KVB_NONE,
		.st = { .n_blocks = n_blocks },
	};
	s->blocks = (struct kllm_kvb_block *)p;
	p += (kllm_u64)n_blocks * sizeof(struct kllm_kvb_block);
	s->bucket = (kllm_u32 *)p;
	p += round8((kllm_u64)n_buckets * 4);
	s->tokens = (kllm_u32 *)p;
	for (i = 0; i < n_buckets; i++)
		s->bucket[i] = KVB_NONE;
	/* pushed last to first: block 0 is taken first */
	for (i = n_blocks; i-- > 0;) {
		s->blocks[i] = (struct kllm_kvb_block){
			.parent = KVB_NONE, .hprev = KVB_NONE, .hnext = KVB_NONE,
		};
		free_push(s, i);
	}
	return 0;
}

kllm_u64 kllm_kvb_seq_bytes(kllm_u32 cap, kllm_u32 shift)
{
	if (!cap || shift > KLLM_KVB_MAX_SHIFT || ((kllm_u64)cap << shift) > 0xffffffffull)
		return 0;
	return (kllm_u64)cap * 8 + round8((kllm_u64)cap * 4) + ((kllm_u64)cap << shift) * 4;
}

void kllm_kvb_seq_init(struct kllm_kvb_seq *q, void *mem, kllm_u32 cap,
		       kllm_u32 shift, kllm_u32 tag)
{
	kllm_u8 *p = mem;

	*q = (struct kllm_kvb_seq){ .tag = tag, .shift = shift };
	if (!mem || ((__UINTPTR_TYPE__)mem & 7) || !kllm_kvb_seq_bytes(cap, shift))
		return;
	q->keys = (kllm_u64 *)p;
	p += (kllm_u64)cap * 8;
	q->ids = (kllm_u32 *)p;
	p += round8((kllm_u64)cap * 4);
	q->tokens = (kllm_u32 *)p;
	q->cap = cap;
}

void kllm_kvb_truncate(struct kllm_kvb_store *s, struct kllm_kvb_seq *q, kllm_u32 n_pos)
{
	kllm_u64 keep;

	if (!seq_ok(s, q))
		return;
	keep = ((kllm_u64)n_pos + (1u << s->shift) - 1) >> s->shift;
	while (q->n_ids > keep)
		release(s, q->ids[--q->n_ids]);
	if (q->filled > n_pos)
		q->filled = n_pos;
	if (!q->n_ids)
		q->flags = 0;
	update_ro(s, q);
}

void kllm_kvb_clear(struct kllm_kvb_store *s, struct kllm_kvb_seq *q)
{
	kllm_kvb_truncate(s, q, 0);
}

/* ------------------------------------------------------------------ */
/* Fork */

static int fork_check(const struct kllm_kvb_store *s, const struct kllm_kvb_seq *dst,
		      const struct kllm_kvb_seq *src, kllm_u32 n_pos,
		      const struct kllm_kvb_work *w)
{
	const kllm_u32 mask = (1u << s->shift) - 1;
	kllm_u32 i, n = (n_pos >> s->shift) + !!(n_pos & mask);

	if (dst == src || !seq_ok(s, src) || !w ||
	    (kllm_u64)n_pos > (kllm_u64)src->n_ids << s->shift || n > dst->cap)
		return -KLLM_PROG_EINVAL;
	if ((n_pos & mask) && (!w->cap || !w->copy))
		return -KLLM_PROG_EINVAL;
	for (i = 0; i < n; i++)
		if (!valid(s, src->ids[i]))
			return -KLLM_PROG_EINVAL;
	return 0;
}

int kllm_kvb_fork(struct kllm_kvb_store *s, struct kllm_kvb_seq *dst,
		  const struct kllm_kvb_seq *src, kllm_u32 n_pos, struct kllm_kvb_work *w)
{
	kllm_u32 full, part, i, filled;
	int ret;

	if (w)
		w->n_copy = w->n_zero = 0;
	if (!seq_ok(s, dst))
		return -KLLM_PROG_EINVAL;
	ret = fork_check(s, dst, src, n_pos, w);
	if (ret)
		return ret;
	kllm_kvb_clear(s, dst);
	full = n_pos >> s->shift;
	part = n_pos & ((1u << s->shift) - 1);
	if (part && !available(s))
		return -KLLM_KVB_ENOSPC;
	for (i = 0; i < full; i++) {
		dst->ids[i] = src->ids[i];
		hold(s, dst->ids[i]);
	}
	if (part) {
		dst->ids[full] = take(s);
		w->copy[w->n_copy++] = (struct kllm_kvb_copy){
			.dst = dst->ids[full], .src = src->ids[full], .rows = part,
		};
	}
	dst->n_ids = full + !!part;
	filled = src->filled < n_pos ? src->filled : n_pos;
	copy_u32(dst->tokens, src->tokens, filled);
	for (i = 0; i < filled >> s->shift; i++)
		dst->keys[i] = src->keys[i];
	dst->filled = filled;
	dst->flags = n_pos > src->filled ? src->flags : 0;
	update_ro(s, dst);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookup */

kllm_u32 kllm_kvb_lookup(struct kllm_kvb_store *s, struct kllm_kvb_seq *q,
			 const kllm_s32 *tokens, kllm_u32 n)
{
	const kllm_u32 B = s && s->shift <= KLLM_KVB_MAX_SHIFT ? 1u << s->shift : 0;
	kllm_u32 parent = KVB_NONE, pgen = 0, i, id;
	kllm_u64 key;

	if (!seq_ok(s, q) || q->n_ids || !tokens || !n)
		return 0;
	q->flags = 0;
	q->filled = 0;
	key = kvb_root(s->seed, q->tag);
	for (i = 0; i < q->cap && ((kllm_u64)i + 1) * B <= n - 1; i++) {
		const kllm_u32 *t = (const kllm_u32 *)tokens + (kllm_u64)i * B;

		key = kvb_chain(key, t, B);
		id = find(s, key, q->tag, parent, pgen, t);
		if (id == KVB_NONE) {
			s->st.misses++;
			break;
		}
		hold(s, id);
		s->st.hits++;
		q->ids[i] = id;
		q->keys[i] = key;
		copy_u32(seq_tokens(q, i, s->shift), t, B);
		q->n_ids = i + 1;
		parent = id;
		pgen = s->blocks[id].gen;
	}
	q->filled = q->n_ids << s->shift;
	update_ro(s, q);
	return q->filled;
}

/* ------------------------------------------------------------------ */
/* Prepare */

static int prepare_check(const struct kllm_kvb_store *s, const struct kllm_kvb_seq *q,
			 kllm_u32 lo, kllm_u32 hi, const struct kllm_kvb_work *w)
{
	kllm_u32 first, last, i;
	kllm_u64 need = 0;

	if (!seq_ok(s, q) || !w || !w->copy || !w->zero || lo > hi)
		return -KLLM_PROG_EINVAL;
	last = hi >> s->shift;
	first = lo >> s->shift;
	first = first < q->n_ids ? first : q->n_ids;
	if (last >= q->cap || last - first >= w->cap)
		return -KLLM_PROG_EINVAL;
	for (i = first; i <= last; i++)
		need += i >= q->n_ids || !own(s, q->ids[i]);
	return need > available(s) ? -KLLM_KVB_ENOSPC : 0;
}

/* Entry @i of @q's table becomes a block of @q's own, listed in @w. */
static void prepare_block(struct kllm_kvb_store *s, struct kllm_kvb_seq *q, kllm_u32 i,
			  kllm_u32 lo, struct kllm_kvb_work *w)
{
	const kllm_u64 start = (kllm_u64)i << s->shift;
	kllm_u32 old = i < q->n_ids ? q->ids[i] : KVB_NONE;
	kllm_u32 id = take(s);	/* prepare_check counted it: never NONE */
	kllm_u64 rows = lo > start ? lo - start : 0;

	if (rows > (1u << s->shift))
		rows = 1u << s->shift;
	if (valid(s, old) && rows)
		w->copy[w->n_copy++] = (struct kllm_kvb_copy){
			.dst = id, .src = old, .rows = (kllm_u32)rows,
		};
	else
		w->zero[w->n_zero++] = id;
	q->ids[i] = id;
	if (i >= q->n_ids)
		q->n_ids = i + 1;
	release(s, old);	/* after the copy is listed: see the header */
}

int kllm_kvb_prepare(struct kllm_kvb_store *s, struct kllm_kvb_seq *q, kllm_u32 lo,
		     kllm_u32 hi, struct kllm_kvb_work *w)
{
	kllm_u32 first, last, i;
	int ret;

	if (w)
		w->n_copy = w->n_zero = 0;
	ret = prepare_check(s, q, lo, hi, w);
	if (ret)
		return ret;
	last = hi >> s->shift;
	first = lo >> s->shift;
	first = first < q->n_ids ? first : q->n_ids;
	if (q->filled > lo)
		q->filled = lo;
	for (i = first; i <= last; i++)
		if (i >= q->n_ids || !own(s, q->ids[i]))
			prepare_block(s, q, i, lo, w);
	update_ro(s, q);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Commit */

/* Block @i of @q was just filled in order: its key, and into the cache. */
static void block_done(struct kllm_kvb_store *s, struct kllm_kvb_seq *q, kllm_u32 i)
{
	const kllm_u32 *t = seq_tokens(q, i, s->shift);
	kllm_u64 prev = i ? q->keys[i - 1] : kvb_root(s->seed, q->tag);
	kllm_u32 id = q->ids[i], parent = KVB_NONE, pgen = 0;
	struct kllm_kvb_block *b;

	q->keys[i] = kvb_chain(prev, t, 1u << s->shift);
	if ((q->flags & KLLM_KVB_S_NOCACHE) || !own(s, id))
		return;
	if (i) {
		const struct kllm_kvb_block *pb;

		parent = q->ids[i - 1];
		if (!valid(s, parent))
			return;
		pb = &s->blocks[parent];
		if (!(pb->flags & KLLM_KVB_B_CACHED) || pb->tag != q->tag || pb->key != prev)
			return;
		pgen = pb->gen;
	}
	if (find(s, q->keys[i], q->tag, parent, pgen, t) != KVB_NONE)
		return;
	b = &s->blocks[id];
	b->key = q->keys[i];
	b->tag = q->tag;
	b->parent = parent;
	b->pgen = pgen;
	copy_u32(block_tokens(s, id), t, 1u << s->shift);
	b->flags |= KLLM_KVB_B_CACHED;
	hash_link(s, id);
	s->st.n_cached++;
	s->st.inserted++;
}

void kllm_kvb_commit(struct kllm_kvb_store *s, struct kllm_kvb_seq *q,
		     const kllm_s32 *pos, const kllm_s32 *tokens, kllm_u32 n)
{
	kllm_u32 i, p, low;

	if (!seq_ok(s, q) || (n && (!pos || !tokens)))
		return;
	low = q->filled;	/* rows from here on were (re)written */
	for (i = 0; i < n; i++) {
		p = (kllm_u32)pos[i];
		if (pos[i] < 0 || (kllm_u64)p >= (kllm_u64)q->n_ids << s->shift || p > q->filled) {
			q->flags |= KLLM_KVB_S_NOCACHE;
			continue;
		}
		if (p < q->filled) {	/* written twice: which write won is unknown */
			q->filled = p;
			low = p < low ? p : low;
			continue;
		}
		if (!own(s, q->ids[p >> s->shift])) {
			q->flags |= KLLM_KVB_S_NOCACHE;
			continue;
		}
		q->tokens[p] = (kllm_u32)tokens[i];
		q->filled = p + 1;
	}
	/* after every row: a block is cached with the tokens it ends up with */
	for (i = low >> s->shift; i < q->filled >> s->shift; i++)
		block_done(s, q, i);
	update_ro(s, q);
}

kllm_u32 kllm_kvb_evict(struct kllm_kvb_store *s, kllm_u32 n)
{
	kllm_u32 k = 0;

	if (!store_ok(s))
		return 0;
	while (k < n && evict_one(s))
		k++;
	return k;
}
