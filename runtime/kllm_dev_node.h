/* SPDX-License-Identifier: MIT */
/*
 * kllm_dev_node.h - the device-access layer, node half: where kllm.ko's
 * node lives, finding and opening it, its ioctls with EINTR retried, and
 * buffer objects (create, import a file range, map, close).  Functions
 * return 0 (or an fd) and -errno.  Internal: used by the device engine
 * (engine_dev.c), kllm-bench and the guest tests (tests/vm, which compile
 * kllm_dev_node.c themselves), never exported by libkllm.so.
 *
 * This header needs nothing beyond libc (kllm-top includes it for the
 * node paths); the functions are in kllm_dev_node.c, built where libdrm
 * is (KLLM_HAVE_DEV).  kllm_dev_access.h adds the io_uring half.
 */
#ifndef KLLM_DEV_NODE_H
#define KLLM_DEV_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The node: /dev/accel/accelN on kernels with the accel subsystem (6.2
 * on), /dev/dri/renderDN before (the DRM driver name "kllm" tells it from
 * other drivers' nodes).  Accel nodes are tried first.
 */
#define KLLM_NODE_DIR_ACCEL "/dev/accel/"
#define KLLM_NODE_DIR_DRI "/dev/dri/"
#define KLLM_NODE_GLOB_ACCEL KLLM_NODE_DIR_ACCEL "accel*"
#define KLLM_NODE_GLOB_RENDER KLLM_NODE_DIR_DRI "renderD*"
/* Room for a node's path. */
#define KLLM_NODE_PATH_MAX 64

/* UAPI versions as GET_INFO gives them: major << 16 | minor. */
#define KLLM_NODE_VERSION(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))

/*
 * Could @path (a /proc/PID/fd link's target) be a kllm node: a node under
 * /dev/accel or /dev/dri?  Whose it is, fdinfo's drm-driver says.
 */
static inline int kllm_node_path_is_drm(const char *path)
{
	return !strncmp(path, KLLM_NODE_DIR_ACCEL, sizeof(KLLM_NODE_DIR_ACCEL) - 1) ||
	       !strncmp(path, KLLM_NODE_DIR_DRI, sizeof(KLLM_NODE_DIR_DRI) - 1);
}

struct drm_kllm_job;	/* uapi/kllm_drm.h */

/*
 * Find and open the kllm node (O_RDWR | O_CLOEXEC): the first node whose
 * DRM driver is "kllm" with a UAPI of @min_version's major and at least its
 * minor.  The fd, its path in @path (may be NULL); or
 *   -ENOENT  no kllm node, or none this process may open (a node it may
 *            not open, EACCES/EPERM, says nothing of its driver);
 *   -EPROTO  a kllm node of another UAPI.
 * A one-line reason in @err (may be NULL; no prefix): "no kllm device node
 * (...): is kllm.ko loaded?", "PATH: Permission denied (no kllm node this
 * user may open; group kllm?)", "PATH: kllm driver UAPI 1.0 (1.1 or later
 * needed)".
 */
int kllm_node_open(uint32_t min_version, char *path, size_t path_size,
		   char *err, size_t errlen);
/*
 * Is @fd a kllm node of UAPI @min_version or later (same major)?  0;
 * -ENODEV another driver; -EPROTO another UAPI (then *version, may be NULL,
 * says which; 0 when GET_INFO failed).
 */
int kllm_node_check(int fd, uint32_t min_version, uint32_t *version);

/* ioctl(2): 0 or -errno, EINTR retried (the errno is the driver's own). */
int kllm_node_ioctl(int fd, unsigned long req, void *arg);

/* BO_CREATE: a shmem buffer object of @size bytes (zero until touched). */
int kllm_node_bo_create(int fd, uint64_t size, uint32_t *handle);
/* BO_IMPORT_FILE: [@offset, @offset + @size) of @file_fd pinned read-only. */
int kllm_node_bo_import(int fd, int file_fd, uint64_t offset, uint64_t size,
			uint32_t *handle);
/* A shmem buffer object's first @size bytes mapped shared, read-write (BO_INFO + mmap). */
int kllm_node_bo_map(int fd, uint32_t handle, uint64_t size, void **map);
/* GEM_CLOSE (any handle, 0 included: that is the caller's to skip). */
int kllm_node_bo_close(int fd, uint32_t handle);

/* JOB_SUBMIT of @job: 0 and its id, or the submission's -errno. */
int kllm_node_job_submit(int fd, const struct drm_kllm_job *job, uint64_t *id);
/*
 * JOB_WAIT for job @id until it finishes (in 1-second waits: the job's own
 * timeout bounds the total): 0 and its status (0, -ETIMEDOUT, -EINTR,
 * -ECANCELED), or the wait's -errno (-ENOENT: no such job).
 */
int kllm_node_job_wait(int fd, uint64_t id, int32_t *status);

#endif /* KLLM_DEV_NODE_H */
