/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kllm_kv_blocks.h - paged KV memory's bookkeeping, one home for both
 * engines: the runtime's CPU backend (runtime/backend_cpu.c) and the
 * driver (kmod/kllm_kv.c, under its lock).  Freestanding, integers only;
 * it never touches the blocks' bytes: it says which blocks to zero and
 * which rows to copy, and the caller does it before the job runs.
 *
 * A store has n_blocks block ids (0..n_blocks-1, each 1 << shift
 * positions of every layer's K and V: the pool of a KLLM_PROG_BUF_PAGED
 * program).  A sequence (struct kllm_kvb_seq) is a table of ids plus the
 * token id at each position it has filled in order.  A block is held by
 * the sequences whose tables name it (ref), and may also be in:
 *
 *  - the prefix cache: a FULL block filled in order, keyed by a hash
 *    chain key_i = H(key_{i-1}, tokens of block i), key_{-1} =
 *    H(store seed, partition tag).  A hit is verified exactly (tag,
 *    parent block id and that parent's generation, the block's B token
 *    ids), never on the hash alone, so a collision cannot hand anyone a
 *    wrong block: a block's parent is the cached block that precedes it
 *    in the table of the sequence that inserted it, and evicting a block
 *    bumps its generation, so its cached children become unreachable
 *    (they age out of the LRU) rather than follow a reused id.  Cached
 *    blocks are read-only; a cached block no sequence holds (ref 0)
 *    sits on an LRU list and is evicted, oldest first, when the store
 *    needs a free block, when kllm_kvb_evict asks (a shrinker), or when
 *    more than max_idle such blocks exist.  A block with ref > 0 is never
 *    evicted.
 *  - the free list.
 *
 * Writes never reach a shared block: kllm_kvb_prepare, called with the
 * positions a job will write, gives the sequence its own copy of any
 * block it would write that is shared or cached (copy-on-write: the
 * caller copies the rows listed) and fresh zeroed blocks where it has
 * none.  After the job, kllm_kvb_commit records its tokens (and so fills
 * blocks and caches the full ones); a failed job calls kllm_kvb_truncate
 * to its first position instead.  The table's leading read-only entries
 * (ro_blocks) are the blocks still shared or cached: the kernels refuse
 * to write those, whatever a job says.
 *
 * A sequence that computed a block already in the cache (two cold
 * prefills of one prompt) keeps its own copy uncached, and the blocks it
 * completes after it are not cached either (their parent is not a cached
 * block); the first sequence's chain serves every later lookup.
 *
 * Sizes: kllm_kvb_store_bytes(n_blocks, n_buckets, shift) bytes of
 * caller memory for the store (8-byte aligned); a sequence's arrays are
 * the caller's too (kllm_kvb_seq_bytes).  No function allocates, none
 * recurses; a block operation costs O(B) plus its hash bucket's chain.
 * Any call sequence keeps the lists and counts consistent: bad sizes or
 * positions are refused (-KLLM_PROG_EINVAL) or clamped as each function
 * says, never used to index.  The store is not locked here: the driver
 * calls every function under its lock.
 *
 * The seed: a driver should mix a secret random value into it (keys
 * never leave the store), so no app can aim token ids at one bucket and
 * make every lookup walk a long chain.
 */
#ifndef KLLM_UAPI_KV_BLOCKS_H
#define KLLM_UAPI_KV_BLOCKS_H

#include "kllm_prog.h"
#include "kllm_prog_check.h"

#define KLLM_KVB_NONE 0xffffffffu
#define KLLM_KVB_ENOSPC 28	/* returned negated, as the kernel's -ENOSPC */
#define KLLM_KVB_MAX_SHIFT 16	/* largest block: 1 << 16 positions */

/* A block's flags: where it is (a held block that is not cached: none). */
#define KLLM_KVB_B_FREE (1u << 0)	/* on the free list (ref 0) */
#define KLLM_KVB_B_CACHED (1u << 1)	/* in the prefix cache's hash */
#define KLLM_KVB_B_IDLE (1u << 2)	/* cached, ref 0: on the LRU list */

/* One block's state (internal; in the store's memory). */
struct kllm_kvb_block {
	kllm_u64 key;		/* cached: its chain key */
	kllm_u32 ref;		/* sequence tables naming it */
	kllm_u32 flags;		/* KLLM_KVB_B_* */
	kllm_u32 tag;		/* cached: partition it was filled under */
	kllm_u32 parent;	/* cached: previous block of its chain, or NONE */
	kllm_u32 pgen;		/* cached: the parent's gen when it was inserted */
	kllm_u32 gen;		/* bumped when the block leaves the cache */
	kllm_u32 prev, next;	/* LRU (cached, ref 0) or free list links */
	kllm_u32 hprev, hnext;	/* hash bucket chain */
};

struct kllm_kvb_stats {
	kllm_u32 n_blocks;	/* in the store */
	kllm_u32 n_free;	/* on the free list */
	kllm_u32 n_cached;	/* in the prefix cache (held or idle) */
	kllm_u32 n_idle;	/* cached and held by no sequence (evictable) */
	kllm_u64 hits;		/* blocks a lookup mapped */
	kllm_u64 misses;	/* lookups that stopped at a missing block */
	kllm_u64 inserted;	/* blocks put in the cache */
	kllm_u64 evicted;	/* cached blocks taken back */
};

struct kllm_kvb_store {
	kllm_u32 n_blocks, shift;	/* ids 0..n_blocks-1; 1 << shift positions each */
	kllm_u32 n_buckets;		/* power of two */
	kllm_u32 max_idle;		/* cached ref-0 blocks kept at most */
	kllm_u64 seed;			/* program and weights identity */
	struct kllm_kvb_block *blocks;	/* [n_blocks] */
	kllm_u32 *bucket;		/* [n_buckets]: first block, or NONE */
	kllm_u32 *tokens;		/* [n_blocks << shift]: a cached block's ids */
	kllm_u32 free_head;
	kllm_u32 lru_head, lru_tail;	/* oldest first */
	struct kllm_kvb_stats st;
};

/* Flags of a sequence. */
#define KLLM_KVB_S_NOCACHE (1u << 0)	/* written out of order: nothing more cached */

struct kllm_kvb_seq {
	kllm_u32 *ids;		/* [cap] block table */
	kllm_u32 *tokens;	/* [cap << shift]: token at each filled position */
	kllm_u64 *keys;		/* [cap]: chain key of each full block */
	kllm_u32 cap;		/* table entries: ceil(n_ctx / B) */
	kllm_u32 n_ids;		/* entries in use */
	kllm_u32 filled;	/* positions [0, filled) written in order, tokens known */
	kllm_u32 ro_blocks;	/* leading entries shared or cached */
	kllm_u32 tag;		/* partition its blocks are cached under and looked up in */
	kllm_u32 flags;		/* KLLM_KVB_S_* */
	kllm_u32 shift;		/* its arrays' block size: only a store of it is served */
};

/*
 * What a caller does before a job, in order: copies, then zeroes, before
 * the store changes again (a source may be free, or another copy's
 * destination, once the call returns).  A copy's rows past `rows` keep
 * whatever its destination held (positions the job writes or that are
 * past the sequence's end): a caller that must not show one user's rows
 * to another (the driver) zeroes them after copying.
 */
struct kllm_kvb_copy {
	kllm_u32 dst, src;	/* block ids */
	kllm_u32 rows;		/* first rows (positions) of the block to copy */
	kllm_u32 pad;
};

struct kllm_kvb_work {
	struct kllm_kvb_copy *copy;	/* caller's array of cap entries */
	kllm_u32 *zero;			/* caller's array of cap entries: blocks to zero */
	kllm_u32 cap;			/* entries of each */
	kllm_u32 n_copy, n_zero;	/* filled in */
};

/* Bytes of store memory for these sizes; 0 if they overflow. */
kllm_u64 kllm_kvb_store_bytes(kllm_u32 n_blocks, kllm_u32 n_buckets, kllm_u32 shift);

/*
 * Set up @s in @mem (kllm_kvb_store_bytes of it, 8-byte aligned): every
 * block free.  @n_buckets a power of two; @seed names the program and
 * weights (only blocks of the same seed ever match).  0 or -KLLM_PROG_EINVAL.
 */
int kllm_kvb_store_init(struct kllm_kvb_store *s, void *mem, kllm_u32 n_blocks,
			kllm_u32 n_buckets, kllm_u32 shift, kllm_u32 max_idle,
			kllm_u64 seed);

/*
 * Bytes of a sequence's arrays for @cap table entries (ids, tokens,
 * keys); 0 if cap << shift positions do not fit 32 bits.
 */
kllm_u64 kllm_kvb_seq_bytes(kllm_u32 cap, kllm_u32 shift);
/*
 * An empty sequence over @mem (kllm_kvb_seq_bytes, 8-byte aligned); with
 * no memory or sizes seq_bytes refuses, a sequence of cap 0.  Only a
 * store of the same shift serves it (other stores ignore it or refuse).
 */
void kllm_kvb_seq_init(struct kllm_kvb_seq *q, void *mem, kllm_u32 cap,
		       kllm_u32 shift, kllm_u32 tag);

/* Drop every block of @q (back to empty, flags cleared; tag and memory kept). */
void kllm_kvb_clear(struct kllm_kvb_store *s, struct kllm_kvb_seq *q);

/*
 * Keep positions [0, n_pos) of @q: blocks past ceil(n_pos / B) dropped
 * (the last first, so a chain's deeper blocks are older in the LRU),
 * filled = min(filled, n_pos).  A kept partial block that is cached or
 * shared stays: prepare copies it before anything writes it.
 */
void kllm_kvb_truncate(struct kllm_kvb_store *s, struct kllm_kvb_seq *q, kllm_u32 n_pos);

/*
 * Make @dst (cleared first) hold @src's first @n_pos positions: full
 * blocks shared (ref + 1), a partial last block copied (a new block and
 * one entry in @w->copy, whose n_copy/n_zero are reset).  filled and
 * the tokens follow: min(src's filled, n_pos); @dst keeps its own tag.
 * 0, -KLLM_KVB_ENOSPC (no free block; @dst left empty), -KLLM_PROG_EINVAL (n_pos
 * past what @src's table covers or @dst's cap, @dst == @src; @dst
 * untouched).  @src's ro_blocks may now be low: its next prepare
 * recomputes it before any job writes.
 */
int kllm_kvb_fork(struct kllm_kvb_store *s, struct kllm_kvb_seq *dst,
		  const struct kllm_kvb_seq *src, kllm_u32 n_pos, struct kllm_kvb_work *w);

/*
 * Map the longest cached chain of @tokens[0..n) into @q, which must be
 * empty: whole blocks only, and never position n - 1 (its logits must be
 * computed).  Returns the positions now held (a multiple of B, maybe 0;
 * 0 and nothing done if @q is not empty).  A lookup that stops at a
 * block the cache lacks counts one miss.
 */
kllm_u32 kllm_kvb_lookup(struct kllm_kvb_store *s, struct kllm_kvb_seq *q,
			 const kllm_s32 *tokens, kllm_u32 n);

/*
 * Before a job writes positions [lo, hi] (inclusive) of @q: every block
 * they touch becomes @q's own (shared or cached ones are copied: an entry
 * in @w->copy with the rows the old block had; missing ones are fresh:
 * an entry in @w->zero; so are the gaps between the table's end and
 * lo), and ro_blocks is updated; filled drops to lo if past it.  A copy
 * lists rows min(B, lo - first position of the block): those before lo.
 * Evicts idle cached blocks when the free list is empty.  0,
 * -KLLM_KVB_ENOSPC or
 * -KLLM_PROG_EINVAL (lo > hi, hi past the table's cap, @w too small:
 * it needs as many entries as the blocks from min(lo / B, n_ids) to
 * hi / B, and the table's cap always suffices); on an error nothing
 * changed and @w lists nothing.  @w's counts are reset first.
 */
int kllm_kvb_prepare(struct kllm_kvb_store *s, struct kllm_kvb_seq *q, kllm_u32 lo,
		     kllm_u32 hi, struct kllm_kvb_work *w);

/*
 * After a job that wrote @q's rows at @pos[i] with @tokens[i] (i < n, in
 * row order) succeeded: positions written at `filled` extend the in-order
 * prefix (a block it completes is inserted into the cache unless an equal
 * one is there, @q is NOCACHE, or the block before it in @q's table is
 * not a cached block of @q's tag); a position below `filled` (written
 * twice, or by a job prepared before an earlier one committed) is not
 * trusted: filled drops to it; one above it, or outside the table, marks
 * @q NOCACHE, and so does one in a block @q does not own alone (cached or
 * shared: prepare was skipped).  Blocks are cached only after every row
 * of the call is recorded, so pass all of one job's rows of @q in ONE
 * call: a call per row could cache a block before a later row of the same
 * job writes one of its positions again, and the block would then hold a
 * row its token ids do not say.
 */
void kllm_kvb_commit(struct kllm_kvb_store *s, struct kllm_kvb_seq *q,
		     const kllm_s32 *pos, const kllm_s32 *tokens, kllm_u32 n);

/* Evict up to @n idle cached blocks, oldest first; the number evicted. */
kllm_u32 kllm_kvb_evict(struct kllm_kvb_store *s, kllm_u32 n);

#endif /* KLLM_UAPI_KV_BLOCKS_H */
