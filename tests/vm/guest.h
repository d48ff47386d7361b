/* SPDX-License-Identifier: MIT */
/*
 * guest.h - helpers for the tests that run inside the QEMU guest (see
 * tests/vm/run.sh): load and unload kllm.ko through the syscalls (so a test
 * sees the exact errno), capture the kernel log lines a step printed, and
 * run a function as an unprivileged user.
 *
 * Every tests/vm/guest_*.c is linked -static into the initramfs and run by
 * /init in name order; each is a Check program (main returns kt_run()).
 */
#ifndef KLLM_VM_GUEST_H
#define KLLM_VM_GUEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"

#define VM_NOBODY 65534

/*
 * util-linux-style setpriv (tests/vm/setpriv.c).  Always use the full path:
 * busybox's sh runs its own applets first, and its setpriv has no --reuid.
 */
#define VM_SETPRIV "/usr/local/bin/setpriv"
#define VM_AS_NOBODY VM_SETPRIV " --reuid 65534 --regid 65534 --clear-groups "

/* Where /init put our module; KLLM_KO overrides it. */
static inline const char *vm_ko_path(void)
{
	const char *p = getenv("KLLM_KO");

	return p ? p : "/modules/kllm.ko";
}

/* Copy with truncation (snprintf("%s") trips -Wformat-truncation). */
static inline void vm_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* finit_module(2): 0 or -errno. */
static inline int vm_load(const char *ko, const char *params)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

static inline int vm_load_kllm(const char *params)
{
	return vm_load(vm_ko_path(), params);
}

/* delete_module(2): 0 or -errno. */
static inline int vm_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/* delete_module(2), retried for up to 10 s while the module is still in
 * use (files closed by exiting processes or udev's workers still
 * releasing): 0 or the last -errno. */
static inline int vm_unload_wait(const char *name)
{
	int ret = 0;

	for (int i = 0; i < 200; i++) {
		ret = vm_unload(name);
		if (ret != -EWOULDBLOCK && ret != -EAGAIN && ret != -EBUSY)
			break;
		usleep(50000);
	}
	return ret;
}

static inline int vm_module_loaded(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return stat(path, &st) == 0;
}

/*
 * Kernel log capture: vm_kmsg_open() marks the end of the log; vm_kmsg_find()
 * returns the message text (without the "prio,seq,ts,flags;" prefix) of the
 * last record written since the mark that contains @needle.
 */
static inline int vm_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * The text of the next kernel log record on @fd (read into @rec, @size
 * bytes), without its header or newline; NULL when none is left.
 */
static inline char *vm_kmsg_next(int fd, char *rec, size_t size)
{
	ssize_t n;
	char *msg;

	do
		n = read(fd, rec, size - 1);
	while (n < 0 && errno == EPIPE);	/* overwritten records: go on */
	if (n <= 0)
		return NULL;
	rec[n] = '\0';
	msg = strchr(rec, ';');
	msg = msg ? msg + 1 : rec;
	msg[strcspn(msg, "\n")] = '\0';
	return msg;
}

static inline int vm_kmsg_find(int fd, const char *needle, char *out, size_t outsz)
{
	char rec[8192], *msg;
	int found = 0;

	while ((msg = vm_kmsg_next(fd, rec, sizeof(rec)))) {
		if (strstr(msg, needle)) {
			vm_strlcpy(out, msg, outsz);
			found = 1;
		}
	}
	return found;
}

/* Drop to nobody/nogroup with no supplementary groups; 0 or -errno. */
static inline int vm_drop_privileges(void)
{
	if (setgroups(0, NULL) || setresgid(VM_NOBODY, VM_NOBODY, VM_NOBODY) ||
	    setresuid(VM_NOBODY, VM_NOBODY, VM_NOBODY))
		return -errno;
	return 0;
}

/*
 * Run fn(arg) in a child that dropped to nobody; returns fn's return value
 * (0..255), or -1 if the child could not drop privileges or crashed.
 */
static inline int vm_as_nobody(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (vm_drop_privileges())
			_exit(255);
		_exit(fn(arg) & 0xff);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 255)
		return -1;
	return WEXITSTATUS(status);
}

/* Does /proc/cpuinfo list @flag for the first CPU ("flags" on x86-64,
 * "Features" on arm64)? */
static inline int vm_cpu_has(const char *flag)
{
	char line[8192], pat[64];
	FILE *f = fopen("/proc/cpuinfo", "r");
	int has = 0;

	if (!f)
		return 0;
	snprintf(pat, sizeof(pat), " %s", flag);
	while (fgets(line, sizeof(line) - 1, f)) {
		if (strncmp(line, "flags", 5) && strncmp(line, "Features", 8))
			continue;
		line[strcspn(line, "\n")] = ' ';
		strcat(line, " ");
		char *p = line;
		size_t len = strlen(pat);
		while ((p = strstr(p, pat)) != NULL) {
			if (p[len] == ' ') {
				has = 1;
				break;
			}
			p += len;
		}
		break;
	}
	fclose(f);
	return has;
}

/*
 * The kernels/ path a suite runs in both homes (the module's simd= and
 * the library's KLLM_SIMD), so that their results can be compared bit for
 * bit: the best one the guest CPU has of those both homes build.  AVX-512
 * is left to the x86 host's own tests (TCG's -cpu max has none); on arm64
 * the module runs the path inside kernel_neon_begin/end.
 */
static inline const char *vm_same_simd(void)
{
#if defined(__aarch64__)
	if (vm_cpu_has("asimddp") && vm_cpu_has("i8mm"))
		return "i8mm";
	return vm_cpu_has("asimddp") ? "dotprod" : vm_cpu_has("asimd") ? "neon" : "scalar";
#else
	return vm_cpu_has("avx2") && vm_cpu_has("fma") && vm_cpu_has("f16c") ? "avx2" : "scalar";
#endif
}

#endif /* KLLM_VM_GUEST_H */
