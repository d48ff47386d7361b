// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_kv.c - the KV store of a paged program: one pool of blocks per KV
 * buffer (vmalloc'd kernel memory, never mapped into a process: no mmap
 * offset exists for it), the block bookkeeping of
 * uapi/prog/kllm_kv_blocks.c over it, and the shrinker that evicts idle
 * prefix-cache blocks.
 *
 * A registered program (kllm_prog.c) gets its store at PROG_CREATE, sized
 * by the first creator (kv_blocks) and charged to that creator's uid like
 * pinned memory: the module cap (max_pinned_mb, -ENOSPC) and the uid's
 * quota (uid_quota_mb, -EDQUOT).  Every block, cached or not, stays
 * charged to that uid until the program goes.  The pool's pages are never
 * given back before that: eviction only forgets cache entries.
 */
#include <linux/jhash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/shrinker.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "kllm_compat.h"
#include "kllm_job.h"
#include "kllm_kv.h"
#include "kllm_prog_int.h"

/* Stores alive, for the shrinker.  Never held while allocating. */
static DEFINE_MUTEX(kllm_kv_list_lock);
static LIST_HEAD(kllm_kv_stores);
/* Serializes giving a program its store. */
static DEFINE_MUTEX(kllm_kv_create_lock);

void kllm_kv_lock(struct kllm_kv_store *store)
{
	mutex_lock(&store->lock);
}

void kllm_kv_unlock(struct kllm_kv_store *store)
{
	lockdep_assert_held(&store->lock);
	/* For the shrinker's count: a hint, the scan rechecks under the lock. */
	WRITE_ONCE(store->idle, store->kvb.st.n_idle);
	mutex_unlock(&store->lock);
}

/* Bytes of block @id of pool @kv. */
static u8 *kllm_kv_block(struct kllm_kv_store *store, u32 kv, u32 id)
{
	return (u8 *)store->pool[kv].base + (u64)id * store->block_size[kv];
}

static void kllm_kv_copy(struct kllm_kv_store *store, const struct kllm_kvb_copy *c)
{
	u32 i;

	if (c->rows >= (1u << store->shift)) {
		for (i = 0; i < store->n_kv; i++)
			memcpy(kllm_kv_block(store, i, c->dst), kllm_kv_block(store, i, c->src),
			       store->block_size[i]);
		return;
	}
	/*
	 * The first rows of every cache tensor (B rows each lie in the
	 * block); the block's other bytes zeroed, so that nothing of the
	 * block's last user (maybe another uid) stays in it.
	 */
	for (i = 0; i < store->n_kv; i++)
		memset(kllm_kv_block(store, i, c->dst), 0, store->block_size[i]);
	for (i = 0; i < store->n_rows; i++) {
		const struct kllm_kv_rows *r = &store->rows[i];

		memcpy(kllm_kv_block(store, r->kv, c->dst) + r->offset,
		       kllm_kv_block(store, r->kv, c->src) + r->offset,
		       (u64)c->rows * r->stride);
	}
}

void kllm_kv_do_work(struct kllm_kv_store *store)
{
	struct kllm_kvb_work *w = &store->work;
	u32 i, k;

	lockdep_assert_held(&store->lock);
	for (i = 0; i < w->n_copy; i++) {
		kllm_kv_copy(store, &w->copy[i]);
		cond_resched();
	}
	for (i = 0; i < w->n_zero; i++) {
		for (k = 0; k < store->n_kv; k++)
			memset(kllm_kv_block(store, k, w->zero[i]), 0, store->block_size[k]);
		cond_resched();
	}
	w->n_copy = 0;
	w->n_zero = 0;
}

/* The cache tensors' rows, for partial-block copies. */
static int kllm_kv_find_rows(struct kllm_kv_store *store, const struct kllm_prog_info *pi)
{
	struct kllm_prog_tensor t;
	u32 id, n = 0, pass;

	for (pass = 0; pass < 2; pass++) {
		for (id = 0, n = 0; id < pi->n_tensors; id++) {
			kp_read_tensor(pi, id, &t);
			if (t.buffer >= pi->n_buffers || pi->kv_index[t.buffer] == 0xff)
				continue;
			if (pass)
				store->rows[n] = (struct kllm_kv_rows){
					.kv = pi->kv_index[t.buffer], .offset = t.offset,
					.stride = t.row_stride };
			n++;
		}
		if (!pass) {
			store->rows = kvcalloc(n ? n : 1, sizeof(*store->rows), GFP_KERNEL_ACCOUNT);
			if (!store->rows)
				return -ENOMEM;
		}
	}
	store->n_rows = n;
	return 0;
}

/*
 * The store's seed: the program and its weights (the registry's key is
 * exact, this only separates stores' keys), and a secret random value, so
 * that no app can compute keys and pile blocks into one hash bucket.
 */
static u64 kllm_kv_seed(const struct kllm_prog *prog)
{
	u32 lo = jhash(prog->img, prog->info.size, 0x6b766c6c);
	u32 hi = jhash(prog->img, prog->info.size, 0x5eed);
	u32 id;

	for (id = 0; id < KLLM_PROG_MAX_BUFFERS; id++)
		if (prog->weights[id])
			hi = jhash(&prog->mem[id].base, sizeof(prog->mem[id].base), hi);
	return ((u64)hi << 32 | lo) ^ get_random_u64();
}

/* Pools, one per KV buffer: @blocks of its size each; charged first. */
static int kllm_kv_alloc_pools(struct kllm_kv_store *store, const struct kllm_prog_info *pi,
			       u32 blocks)
{
	struct kllm_prog_buffer b;
	u64 total = 0, bytes;
	u32 id, i;
	int ret;

	for (id = 0; id < pi->n_buffers; id++) {
		if (pi->kv_index[id] == 0xff)
			continue;
		kllm_prog_buffer_get(pi, id, &b);
		i = pi->kv_index[id];
		store->block_size[i] = b.size;
		if (check_mul_overflow(b.size, (u64)blocks, &bytes) ||
		    check_add_overflow(total, PAGE_ALIGN(bytes), &total))
			return -E2BIG;
	}
	if (total > ((u64)totalram_pages() << (PAGE_SHIFT - 1)))
		return -E2BIG;
	ret = kllm_acct_charge_pinned(total);
	if (ret)
		return ret;
	store->acct = kllm_acct_charge(current_euid(), total, &ret);
	if (!store->acct) {
		kllm_acct_uncharge_pinned(total);
		return ret;
	}
	store->charged = total;
	for (i = 0; i < store->n_kv; i++) {
		bytes = store->block_size[i] * blocks;
		store->pool[i].base = __vmalloc(PAGE_ALIGN(bytes), GFP_KERNEL_ACCOUNT |
						__GFP_ZERO | __GFP_NOWARN);
		if (!store->pool[i].base)
			return -ENOMEM;
		store->pool[i].size = bytes;
	}
	return 0;
}

/* The bookkeeping: kvb store memory and the work arrays. */
static int kllm_kv_alloc_kvb(struct kllm_kv_store *store, const struct kllm_prog *prog,
			     u32 blocks)
{
	u32 buckets = roundup_pow_of_two(blocks);
	u64 bytes = kllm_kvb_store_bytes(blocks, buckets, store->shift);

	if (!bytes)
		return -E2BIG;
	store->kvb_mem = kvzalloc(bytes, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	store->work.copy = kvcalloc(store->cap, sizeof(*store->work.copy), GFP_KERNEL_ACCOUNT);
	store->work.zero = kvcalloc(store->cap, sizeof(*store->work.zero), GFP_KERNEL_ACCOUNT);
	if (!store->kvb_mem || !store->work.copy || !store->work.zero)
		return -ENOMEM;
	store->work.cap = store->cap;
	if (kllm_kvb_store_init(&store->kvb, store->kvb_mem, blocks, buckets, store->shift,
				blocks, kllm_kv_seed(prog)))
		return -EINVAL;
	return 0;
}

void kllm_kv_store_free(struct kllm_kv_store *store)
{
	u32 i;

	if (!store)
		return;
	if (!list_empty(&store->node)) {
		mutex_lock(&kllm_kv_list_lock);
		list_del(&store->node);
		mutex_unlock(&kllm_kv_list_lock);
	}
	for (i = 0; i < store->n_kv; i++)
		vfree(store->pool[i].base);
	if (store->acct) {
		kllm_acct_uncharge(store->acct, store->charged);
		kllm_acct_uncharge_pinned(store->charged);
	}
	kvfree(store->work.copy);
	kvfree(store->work.zero);
	kvfree(store->kvb_mem);
	kvfree(store->rows);
	mutex_destroy(&store->lock);
	kfree(store);
}

static struct kllm_kv_store *kllm_kv_store_create(struct kllm_prog *prog, u32 blocks)
{
	const struct kllm_prog_info *pi = &prog->info;
	struct kllm_kv_store *store;
	int ret;

	store = kzalloc(sizeof(*store), GFP_KERNEL_ACCOUNT);
	if (!store)
		return ERR_PTR(-ENOMEM);
	mutex_init(&store->lock);
	INIT_LIST_HEAD(&store->node);
	store->n_kv = pi->n_kv;
	store->shift = pi->block_shift;
	store->cap = pi->max_blocks;
	ret = kllm_kv_find_rows(store, pi);
	if (!ret)
		ret = kllm_kv_alloc_pools(store, pi, blocks);
	if (!ret)
		ret = kllm_kv_alloc_kvb(store, prog, blocks);
	if (ret) {
		kllm_kv_store_free(store);
		return ERR_PTR(ret);
	}
	mutex_lock(&kllm_kv_list_lock);
	list_add_tail(&store->node, &kllm_kv_stores);
	mutex_unlock(&kllm_kv_list_lock);
	return store;
}

int kllm_kv_store_get(struct kllm_prog *prog, u32 blocks)
{
	const struct kllm_prog_info *pi = &prog->info;
	struct kllm_kv_store *store;
	int ret = 0;

	if (!pi->paged)
		return blocks ? -EINVAL : 0;
	if (!blocks)
		blocks = KLLM_KV_DEFAULT_SEQS * pi->max_blocks;
	if (blocks > KLLM_PROG_MAX_POOL_BLOCKS || !pi->n_kv || !pi->max_blocks)
		return -EINVAL;
	mutex_lock(&kllm_kv_create_lock);
	/* Written once, here; read by holders of a program reference after
	 * PROG_CREATE returned (the xarray's lock publishes it). */
	if (!prog->kv) {
		store = kllm_kv_store_create(prog, blocks);
		if (IS_ERR(store))
			ret = PTR_ERR(store);
		else
			prog->kv = store;
	}
	mutex_unlock(&kllm_kv_create_lock);
	return ret;
}

/* ------------------------------------------------------------ shrinker */

static unsigned long kllm_kv_count(struct shrinker *s, struct shrink_control *sc)
{
	struct kllm_kv_store *store;
	unsigned long n = 0;

	if (!mutex_trylock(&kllm_kv_list_lock))
		return 0;
	list_for_each_entry(store, &kllm_kv_stores, node)
		n += READ_ONCE(store->idle);	/* a hint, see kllm_kv_unlock() */
	mutex_unlock(&kllm_kv_list_lock);
	return n ? n : SHRINK_EMPTY;
}

/*
 * Evict idle cached blocks, oldest first.  Trylocks only: reclaim may come
 * from a thread that holds a store's lock.  Blocks a sequence holds have
 * a reference and are never evicted (kllm_kvb_evict).
 */
static unsigned long kllm_kv_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct kllm_kv_store *store;
	unsigned long freed = 0;
	u32 n;

	if (!mutex_trylock(&kllm_kv_list_lock))
		return SHRINK_STOP;
	list_for_each_entry(store, &kllm_kv_stores, node) {
		if (freed >= sc->nr_to_scan)
			break;
		if (!mutex_trylock(&store->lock))
			continue;
		n = min_t(unsigned long, sc->nr_to_scan - freed, U32_MAX);
		freed += kllm_kvb_evict(&store->kvb, n);
		kllm_kv_unlock(store);
	}
	mutex_unlock(&kllm_kv_list_lock);
	return freed;
}

#ifdef KLLM_HAVE_SHRINKER_ALLOC
static struct shrinker *kllm_kv_shrinker;

int kllm_kv_init(void)
{
	kllm_kv_shrinker = shrinker_alloc(0, "kllm-kv");
	if (!kllm_kv_shrinker)
		return -ENOMEM;
	kllm_kv_shrinker->count_objects = kllm_kv_count;
	kllm_kv_shrinker->scan_objects = kllm_kv_scan;
	kllm_kv_shrinker->seeks = DEFAULT_SEEKS;
	shrinker_register(kllm_kv_shrinker);
	return 0;
}

void kllm_kv_exit(void)
{
	shrinker_free(kllm_kv_shrinker);
}
#else
static struct shrinker kllm_kv_shrinker = {
	.count_objects = kllm_kv_count,
	.scan_objects = kllm_kv_scan,
	.seeks = DEFAULT_SEEKS,
};

int kllm_kv_init(void)
{
	return register_shrinker(&kllm_kv_shrinker, "kllm-kv");
}

void kllm_kv_exit(void)
{
	unregister_shrinker(&kllm_kv_shrinker);
}
#endif
