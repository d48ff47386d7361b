/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_kv.h - the KV memory of paged programs (KLLM_PROG_BUF_PAGED),
 * owned by the kernel:
 *
 *   kllm_kv.c        the store of a program (pool of blocks in kernel
 *                    memory, never mapped to user space, and the block
 *                    bookkeeping of uapi/prog/kllm_kv_blocks.c), its
 *                    charge, the shrinker
 *   kllm_kv_seq.c    sequence handles and the KV_SEQ_* / KV_STATS ioctls
 *   kllm_kv_job.c    a job's sequences: blocks made writable and tables
 *                    built at submission, committed or cut back at the end
 *
 * One store per registered program (kllm_prog.c: identical image over
 * the same weights pages is one program), so every file running that
 * program shares the pool and its prefix cache.
 *
 * Locking: store->lock (a mutex) protects the bookkeeping (kvb) and the
 * state of every sequence of the store (q, inflight, busy_max, fail_pos).
 * Nothing else is taken under it except memory allocation (never: the
 * work arrays are the store's own).  The shrinker only trylocks it.
 *
 * Why a block a job reads or writes is never reused while the job runs:
 * the job's tables are copies of its sequences' tables taken at
 * submission, and every id in them stays in its sequence's table (so
 * held, ref >= 1: never freed or evicted) until the job is finished,
 * because a busy sequence (inflight > 0) cannot be forked from or into,
 * truncated or looked up (-EBUSY), is cut back after a failure only once
 * idle, is cleared only when its last reference (each job holds one)
 * goes, and takes new jobs only above its busy positions (so copy-on-
 * write never replaces an entry an unfinished job reads).
 */
#ifndef KLLM_KV_H
#define KLLM_KV_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/list.h>
#include <linux/types.h>

#include "kllm_kv_blocks.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"

struct kllm_prog;
struct kllm_file;
struct kllm_job;
struct kllm_uid_acct;
struct drm_file;
struct drm_device;
struct seq_file;

/* A partition tag no uid has (INVALID_UID): prefixes root marks public. */
#define KLLM_KV_TAG_PUBLIC 0xffffffffu

/* Rows of one cache tensor inside a block, for partial copies. */
struct kllm_kv_rows {
	u32 kv;			/* KV buffer index */
	u64 offset, stride;	/* bytes into the block; between rows */
};

struct kllm_kv_store {
	struct mutex lock;
	struct kllm_kvb_store kvb;	/* lock */
	void *kvb_mem;
	struct kllm_kvb_work work;	/* lock: the store's scratch for kvb */
	u32 n_kv;			/* KV buffers (one pool each) */
	u32 shift, cap;			/* positions per block (log2); table entries */
	u32 n_rows;
	struct kllm_kv_rows *rows;	/* every cache tensor of the KV buffers */
	u64 block_size[KLLM_PROG_MAX_BUFFERS];	/* [n_kv]: bytes of a block */
	struct kllm_prog_mem pool[KLLM_PROG_MAX_BUFFERS];	/* [n_kv] */
	u64 charged;			/* bytes charged to acct and the module cap */
	struct kllm_uid_acct *acct;	/* the creator's uid */
	struct list_head node;		/* kllm_kv_stores (shrinker) */
	unsigned long idle;		/* lock to write; st.n_idle for the shrinker */
};

/* One sequence.  Refcounted: the file's handle, each job naming it. */
struct kllm_kv_seq {
	struct kref ref;
	struct kllm_prog *prog;		/* reference: holds the store */
	struct kllm_kv_store *store;
	struct kllm_kvb_seq q;		/* store->lock */
	void *mem;			/* q's arrays */
	u32 inflight;			/* store->lock: jobs submitted, not finished */
	s32 busy_max;			/* store->lock: highest position of those */
	s32 fail_pos;			/* store->lock: cut back here once idle; -1 */
	struct kllm_job *mark;		/* store->lock: the job being bound */
};

/* kllm_kv.c */
int kllm_kv_init(void);
void kllm_kv_exit(void);
/* Give a paged @prog (registered) its store, if it has none: @blocks (0: default). */
int kllm_kv_store_get(struct kllm_prog *prog, u32 blocks);
void kllm_kv_store_free(struct kllm_kv_store *store);
void kllm_kv_lock(struct kllm_kv_store *store);
void kllm_kv_unlock(struct kllm_kv_store *store);
/* Do what kvb asked (@store->work): copies, then zeroes.  store->lock. */
void kllm_kv_do_work(struct kllm_kv_store *store);

/* kllm_kv_seq.c */
void kllm_kv_seq_put(struct kllm_kv_seq *seq);
/* The file's sequence @handle with a reference, or NULL. */
struct kllm_kv_seq *kllm_kv_seq_lookup(struct kllm_file *kf, u32 handle);
/* If @seq is idle, apply a cut back a failed job left.  store->lock. */
void kllm_kv_seq_settle(struct kllm_kv_seq *seq);
void kllm_kv_file_init(struct kllm_file *kf);
void kllm_kv_file_release(struct kllm_file *kf);
u32 kllm_kv_file_seqs(struct kllm_file *kf);
int kllm_ioctl_kv_seq_create(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_kv_seq_free(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_kv_seq_fork(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_kv_seq_truncate(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_kv_seq_lookup(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_kv_stats(struct drm_device *dev, void *data, struct drm_file *file);

/* kllm_kv_job.c */
/* A paged job's sequences from its binds (after the OUTPUT ones). */
int kllm_kv_job_bind(struct kllm_job *job, const u32 *handles);
/* Once, when the job has finished (status set) or failed to be built. */
void kllm_kv_job_end(struct kllm_job *job, int status);
void kllm_kv_job_free(struct kllm_job *job);

#endif /* KLLM_KV_H */
