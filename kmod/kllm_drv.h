/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_drv.h - what the driver's files share: the device, the per-open-file
 * state, buffer-object kinds and the accounting entry points.
 */
#ifndef KLLM_DRV_H
#define KLLM_DRV_H

#include <linux/spinlock.h>
#include <linux/types.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>

#include "kllm_drm.h"

struct kllm_device {
	struct drm_device drm;
};

/*
 * Per open file.  The counters cover the buffer objects this file holds a
 * handle to; they change in the GEM open/close callbacks (handle created /
 * deleted), so a buffer is counted once per file that can reach it.
 */
struct kllm_file {
	spinlock_t lock;	/* protects every field below */
	u64 shmem_bytes;
	u64 file_pinned_bytes;
	u64 userptr_bytes;
	u32 handles;
};

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
u64 kllm_pin_userptr_bytes(void);

/* kllm_acct.c: file-pin cap and per-uid quota. */
int kllm_acct_init(void);
void kllm_acct_exit(void);
struct kllm_uid_acct;
struct kllm_uid_acct *kllm_acct_charge(kuid_t uid, u64 bytes, int *err);
void kllm_acct_uncharge(struct kllm_uid_acct *acct, u64 bytes);
struct kllm_uid_acct *kllm_acct_charge_userptr(kuid_t uid, u64 bytes, u64 limit,
					       int *err);
void kllm_acct_uncharge_userptr(struct kllm_uid_acct *acct, u64 bytes);
u64 kllm_acct_total(void);
u64 kllm_acct_uid_bytes(kuid_t uid);
u64 kllm_acct_max_bytes(void);
u64 kllm_acct_uid_quota_bytes(void);

/* kllm_ioctl.c */
#define KLLM_NUM_IOCTLS (DRM_KLLM_BO_READ + 1)
extern const struct drm_ioctl_desc kllm_ioctls[KLLM_NUM_IOCTLS];

#endif /* KLLM_DRV_H */
