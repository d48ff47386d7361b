/* SPDX-License-Identifier: MIT */
/*
 * drm_util.h - guest-side helpers for the kllm DRM device: find and open
 * its node, issue its ioctls with the exact errno, read its accounting
 * counters, and wait for them to fall back to a baseline.  Finding the
 * node, the ioctls and the buffer objects are the device-access layer's
 * (runtime/kllm_dev_node.c, which run.sh compiles into every guest test):
 * kd_* keep their names as thin wrappers.
 */
#ifndef KLLM_VM_DRM_UTIL_H
#define KLLM_VM_DRM_UTIL_H

#include "guest.h"	/* first: it asks for _GNU_SOURCE */

#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <xf86drm.h>

#include "kllm_dev_node.h"
#include "kllm_drm.h"

/* The group the udev rule (kmod/70-kllm.rules) gives the node. */
#define KD_GROUP_GID 990
#define KD_NODE_MODE 0660
#define KD_SENTINEL 0xdeadbeefu

/* Any kllm node of this UAPI major (the tests check the minor themselves). */
#define KD_MIN_VERSION KLLM_NODE_VERSION(KLLM_UAPI_VERSION_MAJOR, 0)

/* 0 or -errno; EINTR retried (libdrm's drmIoctl also retries EAGAIN). */
static inline int kd_ioctl(int fd, unsigned long req, void *arg)
{
	return kllm_node_ioctl(fd, req, arg);
}

/* Path of the kllm node (accel or render) in @path; 0, -ENOENT (none, or none
 * this process may open) or -EPROTO (another UAPI major). */
static inline int kd_find_node(char *path, size_t size)
{
	int fd = kllm_node_open(KD_MIN_VERSION, path, size, NULL, 0);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Open the node; the fd or -errno. */
static inline int kd_open(void)
{
	return kllm_node_open(KD_MIN_VERSION, NULL, 0, NULL, 0);
}

static inline struct drm_kllm_get_stats kd_stats(int fd)
{
	struct drm_kllm_get_stats st;

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_STATS, &st), 0);
	return st;
}

/* The module-wide counters (what other files' activity changes too). */
static inline int kd_global_eq(const struct drm_kllm_get_stats *a,
			       const struct drm_kllm_get_stats *b)
{
	return a->file_pinned_bytes == b->file_pinned_bytes &&
	       a->userptr_bytes == b->userptr_bytes &&
	       a->shmem_bytes == b->shmem_bytes &&
	       a->uid_pinned_bytes == b->uid_pinned_bytes;
}

#define kd_assert_stats_eq(a, b) do { \
	struct drm_kllm_get_stats kd_x_ = (a), kd_y_ = (b); \
	ck_assert_msg(!memcmp(&kd_x_, &kd_y_, sizeof(kd_x_)), \
		      "stats changed: handles %u->%u file %llu->%llu userptr %llu->%llu shmem %llu->%llu", \
		      kd_x_.fd_handles, kd_y_.fd_handles, \
		      (unsigned long long)kd_x_.file_pinned_bytes, (unsigned long long)kd_y_.file_pinned_bytes, \
		      (unsigned long long)kd_x_.userptr_bytes, (unsigned long long)kd_y_.userptr_bytes, \
		      (unsigned long long)kd_x_.shmem_bytes, (unsigned long long)kd_y_.shmem_bytes); \
} while (0)

/* Poll (fresh file each time) until the module-wide counters equal @base. */
static inline int kd_wait_global(const struct drm_kllm_get_stats *base, int timeout_ms)
{
	for (int waited = 0;; waited += 10) {
		int fd = kd_open();
		struct drm_kllm_get_stats st;

		if (fd < 0)
			return fd;
		st = kd_stats(fd);
		close(fd);
		if (kd_global_eq(&st, base))
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

static inline int kd_bo_create(int fd, uint64_t size, uint32_t *handle)
{
	return kllm_node_bo_create(fd, size, handle);
}

static inline int kd_import(int fd, int file_fd, uint64_t off, uint64_t size,
			    uint32_t *handle)
{
	return kllm_node_bo_import(fd, file_fd, off, size, handle);
}

static inline int kd_userptr(int fd, const void *addr, uint64_t size, uint32_t flags,
			     uint32_t *handle)
{
	struct drm_kllm_bo_userptr a = {
		.addr = (uintptr_t)addr, .size = size, .flags = flags, .handle = KD_SENTINEL,
	};
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_BO_USERPTR, &a);

	if (!ret)
		*handle = a.handle;
	return ret;
}

static inline int kd_info(int fd, uint32_t handle, struct drm_kllm_bo_info *info)
{
	memset(info, 0, sizeof(*info));
	info->handle = handle;
	return kd_ioctl(fd, DRM_IOCTL_KLLM_BO_INFO, info);
}

static inline int kd_read(int fd, uint32_t handle, uint64_t off, uint64_t size, void *buf)
{
	struct drm_kllm_bo_read a = {
		.handle = handle, .offset = off, .size = size, .data_ptr = (uintptr_t)buf,
	};

	return kd_ioctl(fd, DRM_IOCTL_KLLM_BO_READ, &a);
}

static inline int kd_close(int fd, uint32_t handle)
{
	return kllm_node_bo_close(fd, handle);
}

/* Byte i of the synthetic "model" files. */
static inline uint8_t kd_pattern(uint64_t i, unsigned int seed)
{
	return (uint8_t)(i * 131 + (i >> 12) * 7 + seed);
}

/* Create @path with @size pattern bytes; an O_RDONLY fd of it. */
static inline int kd_make_file(const char *path, uint64_t size, unsigned int seed)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	for (uint64_t done = 0; done < size;) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = kd_pattern(done + i, seed);
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* VmPin of this process, kB (the mm's pinned_vm). */
static inline long kd_vmpin_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#endif /* KLLM_VM_DRM_UTIL_H */
