// SPDX-License-Identifier: MIT
/*
 * arm64_node.c - tests/vm/arm64-smoke.sh's guest probe (static aarch64):
 * open kllm's node (argv[1]), ask DRM_IOCTL_VERSION for the driver's name
 * and DRM_IOCTL_KLLM_GET_INFO for the UAPI version.  One "vm-test:" line
 * each; exit status 0 when both pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kllm_drm.h"

int main(int argc, char **argv)
{
	struct drm_kllm_get_info info;
	struct drm_version v;
	char name[32] = "";
	int fd, bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s /dev/dri/renderDN\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("vm-test: open %s: FAIL (%s)\n", argv[1], strerror(errno));
		return 1;
	}
	memset(&v, 0, sizeof(v));
	v.name = name;
	v.name_len = sizeof(name) - 1;
	if (ioctl(fd, DRM_IOCTL_VERSION, &v) || strcmp(name, "kllm")) {
		printf("vm-test: DRM_IOCTL_VERSION: FAIL (name '%s', %s)\n", name, strerror(errno));
		bad = 1;
	} else {
		printf("vm-test: DRM_IOCTL_VERSION: ok (%s %d.%d.%d)\n", name,
		       v.version_major, v.version_minor, v.version_patchlevel);
	}
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info) || info.version != KLLM_UAPI_VERSION) {
		printf("vm-test: KLLM_GET_INFO: FAIL (version 0x%x, %s)\n", info.version, strerror(errno));
		bad = 1;
	} else {
		printf("vm-test: KLLM_GET_INFO: ok (uapi 0x%x, page %u, max bo %llu)\n", info.version,
		       info.page_size, (unsigned long long)info.max_bo_bytes);
	}
	close(fd);
	return bad;
}
