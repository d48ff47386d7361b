// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_kv_seq.c - KV sequences of paged programs: per-file handles and
 * the KV_SEQ_CREATE / FREE / FORK / TRUNCATE / LOOKUP and KV_STATS
 * ioctls (uapi/kllm_drm.h).  A sequence is a block table in its
 * program's store (kllm_kv.c); its blocks are the store's, never mapped.
 *
 * A sequence's partition (the tag its full blocks are cached under) is
 * the uid that opened the file, or public if the file set
 * KLLM_CTX_KV_PUBLIC (root only) before creating it.  Lookups try the
 * sequence's own partition, then the public one.
 */
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>
#include <drm/drm_file.h>

#include "kllm_job.h"
#include "kllm_kv.h"

static void kllm_kv_seq_release(struct kref *ref)
{
	struct kllm_kv_seq *seq = container_of(ref, struct kllm_kv_seq, ref);
	struct kllm_kv_store *store = seq->store;

	/* No job names it any more: its blocks go (cached ones stay cached). */
	kllm_kv_lock(store);
	kllm_kvb_clear(&store->kvb, &seq->q);
	kllm_kv_unlock(store);
	kvfree(seq->mem);
	kllm_prog_put(seq->prog);
	kfree(seq);
}

void kllm_kv_seq_put(struct kllm_kv_seq *seq)
{
	kref_put(&seq->ref, kllm_kv_seq_release);
}

struct kllm_kv_seq *kllm_kv_seq_lookup(struct kllm_file *kf, u32 handle)
{
	struct kllm_kv_seq *seq;

	xa_lock(&kf->kv_seqs);
	seq = xa_load(&kf->kv_seqs, handle);
	if (seq)
		kref_get(&seq->ref);
	xa_unlock(&kf->kv_seqs);
	return seq;
}

void kllm_kv_seq_settle(struct kllm_kv_seq *seq)
{
	lockdep_assert_held(&seq->store->lock);
	if (seq->inflight || seq->fail_pos < 0)
		return;
	kllm_kvb_truncate(&seq->store->kvb, &seq->q, seq->fail_pos);
	seq->fail_pos = -1;
}

/* The partition of a new sequence of @file. */
static u32 kllm_kv_tag(struct drm_file *file)
{
	if (READ_ONCE(kllm_file_of(file)->kv_public))	/* a flag: CTX_SET */
		return KLLM_KV_TAG_PUBLIC;
	return from_kuid(&init_user_ns, file->filp->f_cred->euid);
}

static struct kllm_kv_seq *kllm_kv_seq_new(struct kllm_prog *prog, u32 tag)
{
	struct kllm_kv_store *store = prog->kv;
	struct kllm_kv_seq *seq;
	u64 bytes = kllm_kvb_seq_bytes(store->cap, store->shift);

	seq = kzalloc(sizeof(*seq), GFP_KERNEL_ACCOUNT);
	if (!seq)
		return NULL;
	seq->mem = kvzalloc(bytes, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!seq->mem) {
		kfree(seq);
		return NULL;
	}
	kref_init(&seq->ref);
	seq->prog = prog;
	seq->store = store;
	seq->fail_pos = -1;
	seq->busy_max = -1;
	kllm_kvb_seq_init(&seq->q, seq->mem, store->cap, store->shift, tag);
	return seq;
}

int kllm_ioctl_kv_seq_create(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_kv_seq_create *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_kv_seq *seq;
	struct kllm_prog *prog;
	u32 handle;
	int ret;

	if (args->flags & ~KLLM_KV_SEQ_CREATE_FLAGS || args->pad ||
	    args->reserved[0] || args->reserved[1])
		return -EINVAL;
	prog = kllm_prog_lookup(kf, args->prog);
	if (!prog)
		return -ENOENT;
	if (!prog->kv) {
		kllm_prog_put(prog);
		return -EINVAL;
	}
	seq = kllm_kv_seq_new(prog, kllm_kv_tag(file));
	if (!seq) {
		kllm_prog_put(prog);
		return -ENOMEM;
	}
	ret = xa_alloc(&kf->kv_seqs, &handle, seq, XA_LIMIT(1, KLLM_MAX_KV_SEQS_PER_FILE),
		       GFP_KERNEL_ACCOUNT);
	if (ret) {
		kllm_kv_seq_put(seq);
		return ret == -EBUSY ? -EMFILE : ret;
	}
	args->handle = handle;
	return 0;
}

int kllm_ioctl_kv_seq_free(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_kv_seq_free *args = data;
	struct kllm_kv_seq *seq;

	if (args->flags & ~KLLM_KV_SEQ_FREE_FLAGS || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	seq = xa_erase(&kllm_file_of(file)->kv_seqs, args->handle);
	if (!seq)
		return -ENOENT;
	kllm_kv_seq_put(seq);	/* its jobs hold their own references */
	return 0;
}

int kllm_ioctl_kv_seq_fork(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_kv_seq_fork *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_kv_seq *dst, *src;
	struct kllm_kv_store *store;
	int ret;

	if (args->flags & ~KLLM_KV_SEQ_FORK_FLAGS || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	dst = kllm_kv_seq_lookup(kf, args->dst);
	src = kllm_kv_seq_lookup(kf, args->src);
	ret = -ENOENT;
	if (!dst || !src)
		goto put_seqs;
	ret = -EINVAL;
	if (dst == src || dst->store != src->store)
		goto put_seqs;
	store = dst->store;
	kllm_kv_lock(store);
	if (dst->inflight || src->inflight) {
		ret = -EBUSY;
	} else {
		ret = kllm_kvb_fork(&store->kvb, &dst->q, &src->q, args->n_pos, &store->work);
		kllm_kv_do_work(store);	/* what was taken, even on failure */
		if (ret == -KLLM_PROG_EINVAL)
			ret = -EINVAL;
	}
	kllm_kv_unlock(store);
put_seqs:
	if (dst)
		kllm_kv_seq_put(dst);
	if (src)
		kllm_kv_seq_put(src);
	return ret;
}

int kllm_ioctl_kv_seq_truncate(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_kv_seq_truncate *args = data;
	struct kllm_kv_seq *seq;
	int ret = 0;

	if (args->flags & ~KLLM_KV_SEQ_TRUNCATE_FLAGS || args->pad ||
	    args->reserved[0] || args->reserved[1])
		return -EINVAL;
	seq = kllm_kv_seq_lookup(kllm_file_of(file), args->handle);
	if (!seq)
		return -ENOENT;
	kllm_kv_lock(seq->store);
	if (seq->inflight)
		ret = -EBUSY;
	else
		kllm_kvb_truncate(&seq->store->kvb, &seq->q, args->n_pos);
	kllm_kv_unlock(seq->store);
	kllm_kv_seq_put(seq);
	return ret;
}

/* Own partition first, then the public one.  store->lock. */
static u32 kllm_kv_seq_find(struct kllm_kv_seq *seq, const s32 *tokens, u32 n)
{
	struct kllm_kvb_store *kvb = &seq->store->kvb;
	u32 tag = seq->q.tag, got;

	lockdep_assert_held(&seq->store->lock);
	got = kllm_kvb_lookup(kvb, &seq->q, tokens, n);
	if (got || tag == KLLM_KV_TAG_PUBLIC)
		return got;
	kllm_kvb_clear(kvb, &seq->q);
	seq->q.tag = KLLM_KV_TAG_PUBLIC;
	got = kllm_kvb_lookup(kvb, &seq->q, tokens, n);
	/* Blocks it fills from here on are cached in its own partition. */
	seq->q.tag = tag;
	return got;
}

int kllm_ioctl_kv_seq_lookup(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_kv_seq_lookup *args = data;
	struct kllm_kv_seq *seq;
	s32 *tokens = NULL;
	u32 n = args->n_tokens;
	int ret = 0;

	if (args->flags & ~KLLM_KV_SEQ_LOOKUP_FLAGS || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	seq = kllm_kv_seq_lookup(kllm_file_of(file), args->handle);
	if (!seq)
		return -ENOENT;
	if (!n || n > seq->prog->info.n_ctx) {
		ret = -EINVAL;
		goto put_seq;
	}
	tokens = kvmalloc_array(n, sizeof(*tokens), GFP_KERNEL_ACCOUNT);
	if (!tokens) {
		ret = -ENOMEM;
		goto put_seq;
	}
	if (copy_from_user(tokens, u64_to_user_ptr(args->tokens_ptr), (u64)n * sizeof(*tokens))) {
		ret = -EFAULT;
		goto put_seq;
	}
	kllm_kv_lock(seq->store);
	if (seq->inflight)
		ret = -EBUSY;
	else if (seq->q.n_ids || seq->q.filled)
		ret = -EINVAL;
	else
		args->n_pos = kllm_kv_seq_find(seq, tokens, n);
	kllm_kv_unlock(seq->store);
put_seq:
	kvfree(tokens);
	kllm_kv_seq_put(seq);
	return ret;
}

int kllm_ioctl_kv_stats(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_kv_stats *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_kv_store *store;
	struct kllm_kvb_stats st;
	struct kllm_prog *prog;
	u64 block = 0;
	u32 i;

	if (args->flags & ~KLLM_KV_STATS_FLAGS || args->reserved[0] || args->reserved[1] ||
	    args->reserved[2] || args->reserved[3])
		return -EINVAL;
	prog = kllm_prog_lookup(kf, args->prog);
	if (!prog)
		return -ENOENT;
	store = prog->kv;
	if (!store) {
		kllm_prog_put(prog);
		return -EINVAL;
	}
	kllm_kv_lock(store);
	st = store->kvb.st;
	kllm_kv_unlock(store);
	for (i = 0; i < store->n_kv; i++)
		block += store->block_size[i];
	args->block_bytes = block;
	args->block_tokens = 1u << store->shift;
	args->n_blocks = st.n_blocks;
	args->n_used = st.n_blocks - st.n_free;
	args->n_cached = st.n_cached;
	args->n_idle = st.n_idle;
	args->fd_seqs = kllm_kv_file_seqs(kf);
	args->hits = st.hits;
	args->misses = st.misses;
	args->inserted = st.inserted;
	args->evicted = st.evicted;
	kllm_prog_put(prog);
	return 0;
}

/* ------------------------------------------------------------ per file */

void kllm_kv_file_init(struct kllm_file *kf)
{
	xa_init_flags(&kf->kv_seqs, XA_FLAGS_ALLOC1);
}

/* The file is closing: its handles go; jobs still running hold their sequences. */
void kllm_kv_file_release(struct kllm_file *kf)
{
	struct kllm_kv_seq *seq;
	unsigned long id;

	xa_for_each(&kf->kv_seqs, id, seq) {
		xa_erase(&kf->kv_seqs, id);
		kllm_kv_seq_put(seq);
	}
	xa_destroy(&kf->kv_seqs);
}

u32 kllm_kv_file_seqs(struct kllm_file *kf)
{
	struct kllm_kv_seq *seq;
	unsigned long id;
	u32 n = 0;

	xa_lock(&kf->kv_seqs);
	xa_for_each(&kf->kv_seqs, id, seq)
		n++;
	xa_unlock(&kf->kv_seqs);
	return n;
}
