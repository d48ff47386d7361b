// SPDX-License-Identifier: MIT
/*
 * kllm_dev_node.c - the device-access layer's node half (kllm_dev_node.h):
 * node discovery, ioctls, buffer objects, the ioctl job path.  One copy
 * for the runtime's device engine, kllm-bench and the guest tests (which
 * compile this file with -DKLLM_HAVE_DEV).  Needs libdrm (drmGetVersion):
 * empty without KLLM_HAVE_DEV.
 */
#include "kllm_dev_node.h"

#ifdef KLLM_HAVE_DEV

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

#include "kllm_drm.h"

/* JOB_WAIT slice: the job's own timeout (timeout_ms) bounds the total. */
#define NODE_WAIT_NS 1000000000ll

int kllm_node_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret == -1 && errno == EINTR);
	return ret ? -errno : 0;
}

int kllm_node_check(int fd, uint32_t min_version, uint32_t *version)
{
	struct drm_kllm_get_info info;
	drmVersionPtr v = drmGetVersion(fd);
	int is_kllm = v && v->name && !strcmp(v->name, "kllm");

	drmFreeVersion(v);
	if (version)
		*version = 0;
	if (!is_kllm)
		return -ENODEV;
	memset(&info, 0, sizeof(info));
	if (kllm_node_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info))
		return -EPROTO;
	if (version)
		*version = info.version;
	if (info.version >> 16 != min_version >> 16 ||
	    (info.version & 0xffff) < (min_version & 0xffff))
		return -EPROTO;
	return 0;
}

static void say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int kllm_node_open(uint32_t min_version, char *path, size_t path_size,
		   char *err, size_t errlen)
{
	static const char *const pats[] = { KLLM_NODE_GLOB_ACCEL, KLLM_NODE_GLOB_RENDER };
	int ret = -ENOENT, denied = 0;

	say(err, errlen, "no kllm device node (%s, %s): is kllm.ko loaded?",
	    KLLM_NODE_GLOB_ACCEL, KLLM_NODE_GLOB_RENDER);
	for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
		glob_t g;

		if (glob(pats[p], 0, NULL, &g))
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			int fd = open(g.gl_pathv[i], O_RDWR | O_CLOEXEC);
			uint32_t ver;
			int r;

			if (fd < 0) {
				/* A node we cannot open says nothing of its driver:
				 * report the first (accel nodes come first) unless
				 * a better reason turns up. */
				if ((errno == EACCES || errno == EPERM) && ret == -ENOENT &&
				    !denied++)
					say(err, errlen, "%s: %s (no kllm node this user may "
					    "open; group kllm?)", g.gl_pathv[i], strerror(errno));
				continue;
			}
			r = kllm_node_check(fd, min_version, &ver);
			if (!r) {
				if (path && path_size)
					snprintf(path, path_size, "%s", g.gl_pathv[i]);
				globfree(&g);
				return fd;
			}
			close(fd);
			if (r == -EPROTO) {
				ret = -EPROTO;
				say(err, errlen, "%s: kllm driver UAPI %u.%u (%u.%u or later "
				    "needed)", g.gl_pathv[i], ver >> 16, ver & 0xffff,
				    min_version >> 16, min_version & 0xffff);
			}
		}
		globfree(&g);
	}
	return ret;
}

int kllm_node_bo_create(int fd, uint64_t size, uint32_t *handle)
{
	struct drm_kllm_bo_create a = { .size = size };
	int ret = kllm_node_ioctl(fd, DRM_IOCTL_KLLM_BO_CREATE, &a);

	if (!ret)
		*handle = a.handle;
	return ret;
}

int kllm_node_bo_import(int fd, int file_fd, uint64_t offset, uint64_t size,
			uint32_t *handle)
{
	struct drm_kllm_bo_import_file a = { .fd = file_fd, .offset = offset, .size = size };
	int ret = kllm_node_ioctl(fd, DRM_IOCTL_KLLM_BO_IMPORT_FILE, &a);

	if (!ret)
		*handle = a.handle;
	return ret;
}

int kllm_node_bo_map(int fd, uint32_t handle, uint64_t size, void **map)
{
	struct drm_kllm_bo_info info = { .handle = handle };
	void *p;
	int ret;

	if (size > SIZE_MAX)
		return -E2BIG;
	ret = kllm_node_ioctl(fd, DRM_IOCTL_KLLM_BO_INFO, &info);
	if (ret)
		return ret;
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)info.mmap_offset);
	if (p == MAP_FAILED)
		return -errno;
	*map = p;
	return 0;
}

int kllm_node_bo_close(int fd, uint32_t handle)
{
	struct drm_gem_close a = { .handle = handle };

	return kllm_node_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &a);
}

int kllm_node_job_submit(int fd, const struct drm_kllm_job *job, uint64_t *id)
{
	struct drm_kllm_job_submit a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.job = *job;
	ret = kllm_node_ioctl(fd, DRM_IOCTL_KLLM_JOB_SUBMIT, &a);
	if (!ret)
		*id = a.id;
	return ret;
}

int kllm_node_job_wait(int fd, uint64_t id, int32_t *status)
{
	struct drm_kllm_job_wait w;
	int ret;

	do {
		memset(&w, 0, sizeof(w));
		w.id = id;
		w.timeout_ns = NODE_WAIT_NS;
		ret = kllm_node_ioctl(fd, DRM_IOCTL_KLLM_JOB_WAIT, &w);
	} while (ret == -ETIMEDOUT);
	if (!ret)
		*status = w.status;
	return ret;
}

#endif /* KLLM_HAVE_DEV */
