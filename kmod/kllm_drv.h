/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_drv.h - what the driver's files share: the device, the per-open-file
 * state, buffer-object kinds and the accounting entry points.
 */
#ifndef KLLM_DRV_H
#define KLLM_DRV_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/xarray.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>

#include "kllm_drm.h"
#include "kllm_sched.h"

struct kllm_device {
	struct drm_device drm;
};

/*
 * Per open file.  The counters cover the buffer objects this file holds a
 * handle to; they change in the GEM open/close callbacks (handle created /
 * deleted), so a buffer is counted once per file that can reach it.
 * Refcounted: jobs of the file outlive its close (they are cancelled).
 */
struct kllm_file {
	struct kref ref;	/* the DRM file, each unfinished job */
	spinlock_t lock;	/* protects the counters below */
	u64 shmem_bytes;
	u64 file_pinned_bytes;
	u64 userptr_bytes;
	u32 handles;
	/* Own locks (xa_lock): program handles, ioctl jobs by id. */
	struct xarray progs;	/* u32 handle -> struct kllm_prog */
	struct xarray jobs;	/* u32 id -> struct kllm_job (ioctl path) */
	u32 next_job_id;	/* xa_alloc_cyclic cursor (jobs' xa_lock) */
	atomic_t unfinished;	/* jobs alive: not finished, or not yet reaped */
	atomic64_t job_bytes;	/* their bookkeeping's kernel memory (job_mem_mb) */
	struct kllm_ctx ctx;	/* scheduling state (engine lock) */
	/* KV sequences (kllm_kv_seq.c): u32 handle -> struct kllm_kv_seq. */
	struct xarray kv_seqs;
	bool kv_public;		/* CTX_SET KV_PUBLIC: a flag, WRITE_ONCE */
};

void kllm_file_put(struct kllm_file *kf);

static inline struct kllm_file *kllm_file_of(struct drm_file *file)
{
	return file->driver_priv;
}

/* kllm_drv.c */
int kllm_drv_register(void);
void kllm_drv_unregister(void);

/* kllm_gem.c: shmem buffer objects. */
struct drm_gem_object *kllm_gem_create_object(struct drm_device *dev, size_t size);
int kllm_gem_create(struct drm_file *file, u64 size, u32 *handle);
u64 kllm_gem_shmem_bytes(void);
u64 kllm_gem_max_bytes(void);
bool kllm_is_shmem_bo(struct drm_gem_object *obj);
/*
 * The engine's view of a shmem BO: its pages, taken and mapped on first
 * use (in the caller's context, which is charged) and kept until the BO is
 * freed.  ERR_PTR on failure.
 */
void *kllm_gem_vaddr(struct drm_gem_object *obj, u64 *size);

/* Per-file counting, called from each BO kind's open/close callbacks. */
void kllm_file_count(struct drm_file *file, u32 type, u64 bytes, bool add);

/* kllm_pin.c: pinned buffer objects (file page cache, userptr). */
int kllm_pin_file(struct drm_file *file, int fd, u64 offset, u64 size, u32 *handle);
int kllm_pin_userptr(struct drm_file *file, u64 addr, u64 size, bool writable,
		     u32 *handle);
bool kllm_is_pin_bo(struct drm_gem_object *obj);
/* Kind, user size and pinned bytes of a pin BO. */
void kllm_pin_describe(struct drm_gem_object *obj, u32 *type, u64 *size, u64 *pinned);
/* The engine's view of a pin BO: its kernel mapping and user size. */
void *kllm_pin_vaddr(struct drm_gem_object *obj, u64 *size);
bool kllm_pin_writable(struct drm_gem_object *obj);
u64 kllm_pin_userptr_bytes(void);

/* kllm_acct.c: file-pin cap and per-uid quota. */
int kllm_acct_init(void);
void kllm_acct_exit(void);
struct kllm_uid_acct;
int kllm_acct_charge_pinned(u64 bytes);
void kllm_acct_uncharge_pinned(u64 bytes);
struct kllm_uid_acct *kllm_acct_charge(kuid_t uid, u64 bytes, int *err);
void kllm_acct_uncharge(struct kllm_uid_acct *acct, u64 bytes);
struct kllm_uid_acct *kllm_acct_charge_userptr(kuid_t uid, u64 bytes, u64 limit,
					       int *err);
void kllm_acct_uncharge_userptr(struct kllm_uid_acct *acct, u64 bytes);
u64 kllm_acct_total(void);
u64 kllm_acct_uid_bytes(kuid_t uid);
u64 kllm_acct_max_bytes(void);
u64 kllm_acct_uid_quota_bytes(void);
struct seq_file;
/* "pinned_bytes N" and one "pinned_bytes_uid UID N" per uid charged. */
void kllm_acct_show(struct seq_file *m);

/* kllm_ioctl.c */
#define KLLM_NUM_IOCTLS (DRM_KLLM_KV_STATS + 1)
extern const struct drm_ioctl_desc kllm_ioctls[KLLM_NUM_IOCTLS];

/* kllm_prog.c, kllm_job.c: ioctl handlers. */
int kllm_ioctl_prog_create(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_prog_destroy(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_job_submit(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_job_wait(struct drm_device *dev, void *data, struct drm_file *file);
int kllm_ioctl_ctx_set(struct drm_device *dev, void *data, struct drm_file *file);
/* kllm_fdinfo.c: DRM usage statistics of an open file. */
void kllm_show_fdinfo(struct seq_file *m, struct file *f);

#endif /* KLLM_DRV_H */
