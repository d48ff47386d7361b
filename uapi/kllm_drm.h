/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * kllm_drm.h - the kllm DRM driver's ioctls (kernel and userspace).
 *
 * The device is /dev/accel/accelN on kernels with the accel subsystem
 * (6.2 and later) and /dev/dri/renderDN before; the DRM driver name is
 * "kllm".  Access is by the node's permissions (udev: group kllm, 0660).
 *
 * Rules every ioctl follows (docs/DRIVER.md has the full list):
 *  - structs are padded to 8 bytes; the ioctl number encodes the size, and
 *    DRM zero-extends a shorter (older) struct, so fields are only added at
 *    the end and a zero value always means "old behaviour";
 *  - flags outside the ioctl's *_FLAGS mask, and non-zero pad/reserved
 *    fields, fail with -EINVAL;
 *  - on failure no output field is changed and nothing was created;
 *  - handles are per open file: an unknown handle, or one of another file,
 *    is -ENOENT (DRM_IOCTL_GEM_CLOSE, from DRM core, says -EINVAL);
 *  - a file pin over the per-uid quota fails with -EDQUOT, over the
 *    module-wide cap with -ENOSPC; a userptr pin over RLIMIT_MEMLOCK fails
 *    with -ENOMEM (the mlock(2) convention).
 */
#ifndef KLLM_DRM_H
#define KLLM_DRM_H

#if defined(__KERNEL__)
#include <drm/drm.h>
#else
#include "drm.h"
#endif

#if defined(__cplusplus)
extern "C" {
#endif

/* GET_INFO.version: major << 16 | minor; minor grows with compatible additions. */
#define KLLM_UAPI_VERSION_MAJOR 1
#define KLLM_UAPI_VERSION_MINOR 0
#define KLLM_UAPI_VERSION ((KLLM_UAPI_VERSION_MAJOR << 16) | KLLM_UAPI_VERSION_MINOR)

#define DRM_KLLM_GET_INFO	0x00
#define DRM_KLLM_BO_CREATE	0x01
#define DRM_KLLM_BO_IMPORT_FILE	0x02
#define DRM_KLLM_BO_USERPTR	0x03
#define DRM_KLLM_BO_INFO	0x04
#define DRM_KLLM_GET_STATS	0x05
#define DRM_KLLM_BO_READ	0x06

/* Buffer object kinds (BO_INFO.type, GET_INFO.bo_types bit 1 << type). */
#define KLLM_BO_TYPE_SHMEM	1	/* BO_CREATE: pageable, mmap-able */
#define KLLM_BO_TYPE_FILE	2	/* BO_IMPORT_FILE: pinned page cache, read-only */
#define KLLM_BO_TYPE_USERPTR	3	/* BO_USERPTR: pinned anonymous memory */

/*
 * DRM_IOCTL_KLLM_GET_INFO: driver version and the limits that apply to the
 * caller.  In: flags, reserved (0).  Out: the rest.
 */
struct drm_kllm_get_info {
	__u32 flags;			/* in: no flags defined, 0 */
	__u32 version;			/* out: KLLM_UAPI_VERSION */
	__u64 max_pinned_bytes;		/* out: module-wide cap on file pins */
	__u64 uid_quota_bytes;		/* out: file-pin quota of each uid */
	__u64 memlock_limit_bytes;	/* out: caller's RLIMIT_MEMLOCK, ~0 unlimited */
	__u64 max_bo_bytes;		/* out: largest BO_CREATE size */
	__u32 page_size;		/* out: pin granularity */
	__u32 bo_types;			/* out: bit (1 << KLLM_BO_TYPE_*) per kind */
	__u64 reserved[4];		/* in: 0 */
};
#define KLLM_GET_INFO_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_CREATE: a shmem buffer (KV cache, activations,
 * outputs).  Pages are allocated when first touched and charged to the
 * memory cgroup of the task touching them.  size is rounded up to pages.
 * Errors: size 0 or not representable -EINVAL; over max_bo_bytes -E2BIG.
 */
struct drm_kllm_bo_create {
	__u64 size;			/* in: bytes, > 0 */
	__u32 flags;			/* in: 0 */
	__u32 handle;			/* out */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_CREATE_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_IMPORT_FILE: pin bytes [offset, offset + size) of a
 * regular file's page cache read-only, without copying (model weights).
 * fd must be open for reading (else -EBADF) and name a regular file (else
 * -EINVAL); the range must lie inside the file (else -EINVAL).  Charged in
 * whole pages to the caller's effective uid (uid_quota_mb, -EDQUOT) and the
 * module-wide cap (max_pinned_mb, -ENOSPC), not to RLIMIT_MEMLOCK.  The
 * pages stay resident until the handle is closed, even if the file is
 * truncated or rewritten meanwhile (the engine then sees the old pages).
 */
struct drm_kllm_bo_import_file {
	__s32 fd;			/* in: O_RDONLY or O_RDWR fd */
	__u32 flags;			/* in: 0 */
	__u64 offset;			/* in: byte offset in the file */
	__u64 size;			/* in: bytes, > 0 */
	__u32 handle;			/* out */
	__u32 pad;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_IMPORT_FILE_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_USERPTR: pin the caller's anonymous memory [addr,
 * addr + size) (both page-aligned, else -EINVAL).  Charged to the calling
 * process's pinned memory against RLIMIT_MEMLOCK (-ENOMEM) unless it has
 * CAP_IPC_LOCK.  Unmapped ranges fail with -EFAULT.
 */
struct drm_kllm_bo_userptr {
	__u64 addr;			/* in: page-aligned user address */
	__u64 size;			/* in: page-aligned bytes, > 0 */
	__u32 flags;			/* in: KLLM_USERPTR_* */
	__u32 handle;			/* out */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_USERPTR_WRITABLE	(1u << 0)	/* the engine may write it */
#define KLLM_BO_USERPTR_FLAGS	KLLM_USERPTR_WRITABLE

/*
 * DRM_IOCTL_KLLM_BO_INFO: what a handle is.  mmap_offset is the offset to
 * mmap() the device file at (shmem buffers only; 0 for pins, which cannot
 * be mapped through the device).
 */
struct drm_kllm_bo_info {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 size;			/* out: bytes asked for at creation */
	__u64 mmap_offset;		/* out */
	__u64 pinned_bytes;		/* out: whole pages pinned (0 for shmem) */
	__u32 type;			/* out: KLLM_BO_TYPE_* */
	__u32 pad;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_INFO_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_GET_STATS: accounting counters (bytes), for tests and
 * monitoring.  Module-wide and per-uid figures are charged bytes (whole
 * pages); fd_* cover the handles of the file the ioctl is made on.
 */
struct drm_kllm_get_stats {
	__u32 flags;			/* in: 0 */
	__u32 fd_handles;		/* out: handles open on this file */
	__u64 file_pinned_bytes;	/* out: all file pins, module-wide */
	__u64 uid_pinned_bytes;		/* out: file pins of the caller's euid */
	__u64 userptr_bytes;		/* out: all userptr pins, module-wide */
	__u64 shmem_bytes;		/* out: all shmem BOs alive, module-wide */
	__u64 fd_file_pinned_bytes;	/* out: this file's file pins */
	__u64 fd_userptr_bytes;		/* out: this file's userptr pins */
	__u64 fd_shmem_bytes;		/* out: this file's shmem BOs */
	__u64 reserved[4];		/* in: 0 */
};
#define KLLM_GET_STATS_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_READ: copy bytes [offset, offset + size) of a pinned
 * buffer (file or userptr pin) to data_ptr through the kernel mapping the
 * engine uses.  shmem buffers are read through mmap instead (-EINVAL).
 * The range must lie inside the buffer's size (-EINVAL); an unwritable
 * data_ptr is -EFAULT.
 */
struct drm_kllm_bo_read {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 offset;			/* in: byte offset in the buffer */
	__u64 size;			/* in: bytes, > 0 */
	__u64 data_ptr;			/* in: user buffer of size bytes */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_READ_FLAGS 0u

#define DRM_IOCTL_KLLM_GET_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_GET_INFO, struct drm_kllm_get_info)
#define DRM_IOCTL_KLLM_BO_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_CREATE, struct drm_kllm_bo_create)
#define DRM_IOCTL_KLLM_BO_IMPORT_FILE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_IMPORT_FILE, struct drm_kllm_bo_import_file)
#define DRM_IOCTL_KLLM_BO_USERPTR \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_USERPTR, struct drm_kllm_bo_userptr)
#define DRM_IOCTL_KLLM_BO_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_INFO, struct drm_kllm_bo_info)
#define DRM_IOCTL_KLLM_GET_STATS \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_GET_STATS, struct drm_kllm_get_stats)
#define DRM_IOCTL_KLLM_BO_READ \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_BO_READ, struct drm_kllm_bo_read)

#if defined(__cplusplus)
}
#endif

#endif /* KLLM_DRM_H */
