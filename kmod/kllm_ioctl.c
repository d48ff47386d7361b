// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_ioctl.c - the driver's ioctls (uapi/kllm_drm.h).  DRM core copies
 * each argument struct into kernel memory once (zero-extending older,
 * shorter structs) and copies it back afterwards, also on failure: so every
 * handler validates all of its input before acting, and writes its outputs
 * only once nothing can fail any more.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sizes.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <drm/drm_ioctl.h>

#include "kllm_drv.h"
#include "kllm_job.h"

static bool kllm_all_zero(const u64 *v, size_t n)
{
	while (n--)
		if (v[n])
			return false;
	return true;
}

#define KLLM_RESERVED_ZERO(args) \
	kllm_all_zero((args)->reserved, ARRAY_SIZE((args)->reserved))

static int kllm_ioctl_get_info(struct drm_device *dev, void *data,
			       struct drm_file *file)
{
	struct drm_kllm_get_info *args = data;
	u64 memlock = rlimit(RLIMIT_MEMLOCK);

	if (args->flags & ~KLLM_GET_INFO_FLAGS || !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	args->version = KLLM_UAPI_VERSION;
	args->max_pinned_bytes = kllm_acct_max_bytes();
	args->uid_quota_bytes = kllm_acct_uid_quota_bytes();
	args->memlock_limit_bytes = memlock == RLIM_INFINITY ? ~0ull : memlock;
	args->max_bo_bytes = kllm_gem_max_bytes();
	args->page_size = PAGE_SIZE;
	args->bo_types = BIT(KLLM_BO_TYPE_SHMEM) | BIT(KLLM_BO_TYPE_FILE) |
			 BIT(KLLM_BO_TYPE_USERPTR);
	return 0;
}

static int kllm_ioctl_bo_create(struct drm_device *dev, void *data,
				struct drm_file *file)
{
	struct drm_kllm_bo_create *args = data;
	u64 size = args->size;
	u32 handle;
	int ret;

	if (args->flags & ~KLLM_BO_CREATE_FLAGS || !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	if (!size || size > U64_MAX - (PAGE_SIZE - 1))
		return -EINVAL;
	size = PAGE_ALIGN(size);
	if (size > kllm_gem_max_bytes())
		return -E2BIG;
	ret = kllm_gem_create(file, size, &handle);
	if (ret)
		return ret;
	args->handle = handle;
	return 0;
}

static int kllm_ioctl_bo_import_file(struct drm_device *dev, void *data,
				     struct drm_file *file)
{
	struct drm_kllm_bo_import_file *args = data;
	u64 end;
	u32 handle;
	int ret;

	if (args->flags & ~KLLM_BO_IMPORT_FILE_FLAGS || args->pad ||
	    !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	if (!args->size || check_add_overflow(args->offset, args->size, &end) ||
	    end > (u64)MAX_LFS_FILESIZE)
		return -EINVAL;
	ret = kllm_pin_file(file, args->fd, args->offset, args->size, &handle);
	if (ret)
		return ret;
	args->handle = handle;
	return 0;
}

static int kllm_ioctl_bo_userptr(struct drm_device *dev, void *data,
				 struct drm_file *file)
{
	struct drm_kllm_bo_userptr *args = data;
	u64 end;
	u32 handle;
	int ret;

	if (args->flags & ~KLLM_BO_USERPTR_FLAGS || !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	if (!args->size || !PAGE_ALIGNED(args->addr) || !PAGE_ALIGNED(args->size) ||
	    check_add_overflow(args->addr, args->size, &end))
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(args->addr), args->size))
		return -EFAULT;
	/* More than RAM can never be pinned (and bounds the page array). */
	if (args->size > ((u64)totalram_pages() << PAGE_SHIFT))
		return -ENOMEM;
	ret = kllm_pin_userptr(file, args->addr, args->size,
			       args->flags & KLLM_USERPTR_WRITABLE, &handle);
	if (ret)
		return ret;
	args->handle = handle;
	return 0;
}

static int kllm_ioctl_bo_info(struct drm_device *dev, void *data,
			      struct drm_file *file)
{
	struct drm_kllm_bo_info *args = data;
	struct drm_gem_object *obj;
	u64 size, pinned, offset = 0;
	u32 type;
	int ret = 0;

	if (args->flags & ~KLLM_BO_INFO_FLAGS || args->pad || !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	if (kllm_is_shmem_bo(obj)) {
		ret = drm_gem_create_mmap_offset(obj);
		if (ret)
			goto put_obj;
		type = KLLM_BO_TYPE_SHMEM;
		size = obj->size;
		pinned = 0;
		offset = drm_vma_node_offset_addr(&obj->vma_node);
	} else if (kllm_is_pin_bo(obj)) {
		kllm_pin_describe(obj, &type, &size, &pinned);
	} else {
		ret = -ENOENT;	/* not ours (cannot happen: no import) */
		goto put_obj;
	}
	args->size = size;
	args->mmap_offset = offset;
	args->pinned_bytes = pinned;
	args->type = type;
put_obj:
	drm_gem_object_put(obj);
	return ret;
}

static int kllm_ioctl_get_stats(struct drm_device *dev, void *data,
				struct drm_file *file)
{
	struct drm_kllm_get_stats *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_job_stats js;

	if (args->flags & ~KLLM_GET_STATS_FLAGS || !KLLM_RESERVED_ZERO(args) ||
	    !kllm_all_zero(args->reserved2, ARRAY_SIZE(args->reserved2)))
		return -EINVAL;
	kllm_job_stats(&js);
	args->jobs_submitted = js.submitted;
	args->jobs_via_uring = js.via_uring;
	args->jobs_completed = js.completed;
	args->jobs_failed = js.failed;
	args->jobs_in_flight = js.in_flight;
	args->programs = kllm_prog_count();
	args->file_pinned_bytes = kllm_acct_total();
	args->uid_pinned_bytes = kllm_acct_uid_bytes(current_euid());
	args->userptr_bytes = kllm_pin_userptr_bytes();
	args->shmem_bytes = kllm_gem_shmem_bytes();
	spin_lock(&kf->lock);
	args->fd_handles = kf->handles;
	args->fd_file_pinned_bytes = kf->file_pinned_bytes;
	args->fd_userptr_bytes = kf->userptr_bytes;
	args->fd_shmem_bytes = kf->shmem_bytes;
	spin_unlock(&kf->lock);
	return 0;
}

/* Copy a pinned range out in 1 MiB steps (a long copy can reschedule). */
static int kllm_copy_out(void __user *to, const void *from, u64 size)
{
	while (size) {
		u64 n = min_t(u64, size, SZ_1M);

		if (copy_to_user(to, from, n))
			return -EFAULT;
		to += n;
		from += n;
		size -= n;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

static int kllm_ioctl_bo_read(struct drm_device *dev, void *data,
			      struct drm_file *file)
{
	struct drm_kllm_bo_read *args = data;
	struct drm_gem_object *obj;
	u64 end, bo_size;
	void *vaddr;
	int ret;

	if (args->flags & ~KLLM_BO_READ_FLAGS || !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	if (!args->size || check_add_overflow(args->offset, args->size, &end))
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	if (!kllm_is_pin_bo(obj)) {
		ret = -EINVAL;
		goto put_obj;
	}
	vaddr = kllm_pin_vaddr(obj, &bo_size);
	if (end > bo_size) {
		ret = -EINVAL;
		goto put_obj;
	}
	/* Our reference keeps the pages and their mapping until we are done. */
	ret = kllm_copy_out(u64_to_user_ptr(args->data_ptr), vaddr + args->offset,
			    args->size);
put_obj:
	drm_gem_object_put(obj);
	return ret;
}

int kllm_ioctl_ctx_set(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_ctx_set *args = data;
	struct kllm_file *kf = kllm_file_of(file);

	if (args->flags & ~KLLM_CTX_SET_FLAGS || !KLLM_RESERVED_ZERO(args))
		return -EINVAL;
	if (args->param == KLLM_CTX_KV_PUBLIC) {
		if (args->value > 1)
			return -EINVAL;
		if (args->value && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		/* Sequences created from now on (kllm_kv_seq.c): a flag. */
		WRITE_ONCE(kf->kv_public, args->value);
		return 0;
	}
	if (args->param != KLLM_CTX_PRIORITY)
		return -EINVAL;
	if (args->value < KLLM_PRIO_INTERACTIVE || args->value > KLLM_PRIO_BACKGROUND)
		return -EINVAL;
	if (args->value == KLLM_PRIO_INTERACTIVE && !capable(CAP_SYS_NICE))
		return -EPERM;
	/* Jobs already queued keep their class; new ones take this. */
	WRITE_ONCE(kf->ctx.class, kllm_class_of_prio((u32)args->value));
	return 0;
}

#define KLLM_IOCTL(name, fn) \
	DRM_IOCTL_DEF_DRV(KLLM_##name, fn, DRM_RENDER_ALLOW)

const struct drm_ioctl_desc kllm_ioctls[KLLM_NUM_IOCTLS] = {
	KLLM_IOCTL(GET_INFO, kllm_ioctl_get_info),
	KLLM_IOCTL(BO_CREATE, kllm_ioctl_bo_create),
	KLLM_IOCTL(BO_IMPORT_FILE, kllm_ioctl_bo_import_file),
	KLLM_IOCTL(BO_USERPTR, kllm_ioctl_bo_userptr),
	KLLM_IOCTL(BO_INFO, kllm_ioctl_bo_info),
	KLLM_IOCTL(GET_STATS, kllm_ioctl_get_stats),
	KLLM_IOCTL(BO_READ, kllm_ioctl_bo_read),
	KLLM_IOCTL(PROG_CREATE, kllm_ioctl_prog_create),
	KLLM_IOCTL(PROG_DESTROY, kllm_ioctl_prog_destroy),
	KLLM_IOCTL(JOB_SUBMIT, kllm_ioctl_job_submit),
	KLLM_IOCTL(JOB_WAIT, kllm_ioctl_job_wait),
	KLLM_IOCTL(CTX_SET, kllm_ioctl_ctx_set),
	KLLM_IOCTL(KV_SEQ_CREATE, kllm_ioctl_kv_seq_create),
	KLLM_IOCTL(KV_SEQ_FREE, kllm_ioctl_kv_seq_free),
	KLLM_IOCTL(KV_SEQ_FORK, kllm_ioctl_kv_seq_fork),
	KLLM_IOCTL(KV_SEQ_TRUNCATE, kllm_ioctl_kv_seq_truncate),
	KLLM_IOCTL(KV_SEQ_LOOKUP, kllm_ioctl_kv_seq_lookup),
	KLLM_IOCTL(KV_STATS, kllm_ioctl_kv_stats),
};
