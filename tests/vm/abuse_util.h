/* SPDX-License-Identifier: MIT */
/*
 * abuse_util.h - helpers of the issue-14 regression tests (guest_abuse.c,
 * guest_abuse_fpu.c): load kllm.ko fresh for one test, scan the kernel log
 * written since for splats (BUG, WARNING, Oops, KASAN, SLUB red zone and
 * poison reports, refcount, lockups), unload it, wait for the engine to be
 * idle, and build the programs the tests share.
 */
#ifndef KLLM_VM_ABUSE_UTIL_H
#define KLLM_VM_ABUSE_UTIL_H

#include "job_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <ctype.h>

#include <inttypes.h>
#include <signal.h>
#include <sys/utsname.h>
#include <time.h>

#define KLLM "kllm"
#define AB_DEBUGFS "/sys/kernel/debug/kllm/"
#define AB_PARAM "/sys/module/kllm/parameters/"

static int g_kmsg = -1;

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static inline uint64_t read_u64(const char *path)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	return strtoull(buf, NULL, 0);
}

/* Fresh kllm with @params; node open to everyone; debugfs mounted. */
static inline void ab_load(const char *params)
{
	char node[64];
	int ret;

	if (g_kmsg < 0)
		g_kmsg = vm_kmsg_open();
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	ret = vm_load_kllm(params);
	ck_assert_msg(ret == 0, "insmod kllm %s: %s", params, strerror(-ret));
	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	ck_assert_int_eq(kd_find_node(node, sizeof(node)), 0);
	ck_assert_int_eq(chmod(node, 0666), 0);
}

/* Kernel log lines since the test began that name a kernel problem. */
static inline int ab_kmsg_bad(char *first, size_t size)
{
	static const char *const bad[] = {
		"BUG", "WARNING", "Oops", "KASAN", "Redzone", "Poison", "Padding",
		"refcount_t", "general protection", "list_del", "soft lockup",
		"hard LOCKUP", "detected stall", "NULL pointer", "Object already free",
		"kernel paging request", "Call Trace",
	};
	char rec[8192], *msg;
	int n_bad = 0;

	if (g_kmsg < 0)
		return 0;
	while ((msg = vm_kmsg_next(g_kmsg, rec, sizeof(rec)))) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const char *hit = strstr(msg, bad[i]);

			/* BUG as a word: not DEBUG */
			if (hit && i == 0 && hit > msg && (isalnum((unsigned char)hit[-1]) || hit[-1] == '_'))
				hit = strstr(hit + 3, bad[i]);
			if (hit) {
				if (!n_bad++)
					vm_strlcpy(first, msg, size);
				printf("vm: abuse: kernel: %s\n", msg);
				break;
			}
		}
	}
	return n_bad;
}

static inline void ab_assert_kmsg_clean(const char *who)
{
	char first[512] = "";
	int n = ab_kmsg_bad(first, sizeof(first));

	ck_assert_msg(n == 0, "%s: %d kernel log line(s) of trouble, first: %s", who, n, first);
}

/* Unload (files closed by exiting children may still be releasing). */
static inline void ab_unload(const char *who)
{
	int ret = vm_unload_wait(KLLM);

	ab_assert_kmsg_clean(who);
	ck_assert_msg(ret == 0, "%s: rmmod kllm: %s", who, strerror(-ret));
}

static inline void ab_teardown(void)
{
	if (g_kmsg >= 0)
		close(g_kmsg);
	g_kmsg = -1;
}

/* Module-wide stats from a fresh file. */
static inline struct drm_kllm_get_stats ab_stats(void)
{
	int fd = kd_open();
	struct drm_kllm_get_stats st;

	ck_assert_int_ge(fd, 0);
	st = kd_stats(fd);
	close(fd);
	return st;
}

/* Wait up to @ms for no job in flight and no program; 0 or -ETIMEDOUT. */
static inline int ab_wait_idle(int ms)
{
	for (int waited = 0;; waited += 20) {
		struct drm_kllm_get_stats st = ab_stats();

		if (!st.jobs_in_flight && !st.programs)
			return 0;
		if (waited >= ms)
			return -ETIMEDOUT;
		usleep(20000);
	}
}

static inline int ab_prog_create(int fd, const void *img, size_t size, uint32_t *handle)
{
	struct drm_kllm_prog_create a = {
		.prog_ptr = (uintptr_t)img, .prog_size = (uint32_t)size, .handle = KD_SENTINEL,
	};
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_PROG_CREATE, &a);

	if (!ret)
		*handle = a.handle;
	return ret;
}

static inline int ab_wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * The few root-only steps of an unprivileged test (debugfs, module
 * parameters) go through its root parent: ab_as_nobody() runs @fn as
 * nobody and serves ab_root_write() / ab_root_read() requests on a pipe.
 */
struct ab_req {
	char op;		/* 'W' write, 'R' read a number */
	char path[119];
	char val[32];
};

static int ab_req_fd[2] = { -1, -1 }, ab_rep_fd[2] = { -1, -1 };

static inline int64_t ab_root_do(const struct ab_req *q)
{
	int64_t rep = 0;

	if (ab_req_fd[1] < 0) {		/* root already */
		FILE *f = fopen(q->path, q->op == 'W' ? "w" : "r");
		char buf[64] = "";

		if (!f)
			return -errno;
		if (q->op == 'W')
			fputs(q->val, f);
		else if (fgets(buf, sizeof(buf), f))
			rep = (int64_t)strtoull(buf, NULL, 0);
		if (fclose(f))
			return -errno;
		return rep;
	}
	if (write(ab_req_fd[1], q, sizeof(*q)) != sizeof(*q) ||
	    read(ab_rep_fd[0], &rep, sizeof(rep)) != sizeof(rep))
		return -EPIPE;
	return rep;
}

/* Write @val to @path as root; asserts. */
static inline void ab_root_write(const char *path, const char *val)
{
	struct ab_req q = { .op = 'W' };
	int64_t r;

	vm_strlcpy(q.path, path, sizeof(q.path));
	vm_strlcpy(q.val, val, sizeof(q.val));
	r = ab_root_do(&q);
	ck_assert_msg(r == 0, "%s: %s", path, strerror((int)-r));
}

/* The number in @path, read as root; asserts. */
static inline uint64_t ab_root_read(const char *path)
{
	struct ab_req q = { .op = 'R' };
	int64_t r;

	vm_strlcpy(q.path, path, sizeof(q.path));
	r = ab_root_do(&q);
	ck_assert_msg(r >= 0, "%s: %s", path, strerror((int)-r));
	return (uint64_t)r;
}

/* fn(arg) as uid/gid 65534 with no groups, its root steps served here; its
 * return value (0..255), or 1000 + signal. */
static inline int ab_as_nobody(int (*fn)(void *), void *arg)
{
	struct ab_req q;
	pid_t pid;
	int ret;

	ck_assert_int_eq(pipe(ab_req_fd), 0);
	ck_assert_int_eq(pipe(ab_rep_fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ab_req_fd[0]);
		close(ab_rep_fd[1]);
		if (vm_drop_privileges())
			_exit(255);
		_exit(fn(arg) & 0xff);
	}
	close(ab_req_fd[1]);
	close(ab_rep_fd[0]);
	ab_req_fd[1] = ab_rep_fd[0] = -1;
	while (read(ab_req_fd[0], &q, sizeof(q)) == sizeof(q)) {
		int64_t rep;

		q.path[sizeof(q.path) - 1] = q.val[sizeof(q.val) - 1] = '\0';
		rep = ab_root_do(&q);
		if (write(ab_rep_fd[1], &rep, sizeof(rep)) != sizeof(rep))
			break;
	}
	close(ab_req_fd[0]);
	close(ab_rep_fd[1]);
	ab_req_fd[0] = ab_rep_fd[1] = -1;
	ret = ab_wait_child(pid);
	return ret;
}

/* Run @fn as nobody; assert it returned 0. */
#define AB_AS_NOBODY(fn, arg) do { \
	int ab_r_ = ab_as_nobody(fn, arg); \
	ck_assert_msg(ab_r_ == 0, #fn " as uid 65534 returned %d (its output says why)", ab_r_); \
} while (0)

#define AB_FAIL(code, ...) do { \
	printf("vm: abuse: " __VA_ARGS__); \
	printf("\n"); \
	return code; \
} while (0)

/*
 * One program of 128 softmax ops over a 1 MiB row each: seconds of engine
 * time under TCG, in sections (ops) a timeout can stop between.
 */
static inline uint8_t *long_prog(size_t *size, uint32_t row, uint32_t n_ops)
{
	struct kb *b = kt_alloc(sizeof(*b));
	uint32_t act, x;
	uint8_t *img;

	kb_init(b, 1);
	act = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 4ull * row, 0);
	x = kb_tensor(b, act, KLLM_PROG_TYPE_F32, 0, 4ull * row, row, 1, 0);
	for (uint32_t i = 0; i < n_ops; i++)
		KB_OP(b, KK_OP_SOFTMAX, 0, KB_T(x, x), KB_T(0x3f800000u));
	img = kb_finish(b, size);
	free(b);
	return img;
}


/*
 * One Check case per finding, tagged with its name: CK_RUN_CASE=f4 runs
 * just that one, CK_EXCLUDE_TAGS=f9 all but that one (the kernel passes
 * such command-line words to /init's environment).
 */
static inline void ab_add(Suite *s, const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_set_tags(tc, name);
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, NULL, ab_teardown);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

#endif /* KLLM_VM_ABUSE_UTIL_H */
