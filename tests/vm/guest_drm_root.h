/* SPDX-License-Identifier: MIT */
/*
 * guest_drm_root.h - the part of guest_drm.c that needs root: node
 * permissions, module parameters, the module-wide cap, per-uid quotas
 * (children running as other uids), CAP_IPC_LOCK, memcg charging of
 * shmem buffers, and rmmod.  Included by
 * guest_drm.c only (each guest_*.c is one static binary).
 */
#ifndef KLLM_VM_GUEST_DRM_ROOT_H
#define KLLM_VM_GUEST_DRM_ROOT_H

#include <sys/mount.h>

#define PARAMS "/sys/module/kllm/parameters/"
#define MIB (1024u * 1024u)

static unsigned long param_read(const char *name)
{
	char path[128], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	return strtoul(buf, NULL, 10);
}

static int param_write(const char *name, unsigned long val)
{
	char path[128], buf[32];
	int fd, len, ret = 0;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	len = snprintf(buf, sizeof(buf), "%lu\n", val);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

static unsigned long g_saved_cap, g_saved_quota;

static void root_setup(void)
{
	baseline_setup();
	g_saved_cap = param_read("max_pinned_mb");
	g_saved_quota = param_read("uid_quota_mb");
}

static void root_teardown(void)
{
	ck_assert_int_eq(param_write("max_pinned_mb", g_saved_cap), 0);
	ck_assert_int_eq(param_write("uid_quota_mb", g_saved_quota), 0);
	baseline_teardown();
}

/* Become @uid (groups: kllm when @in_group); 0 or -errno. */
static int become(uid_t uid, int in_group)
{
	gid_t g = KD_GROUP_GID;

	if (setgroups(in_group ? 1 : 0, &g) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid))
		return -errno;
	return 0;
}

/* Exit status of a child: its code, or 100 + signal. */
static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return 200;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

START_TEST(test_node_permissions)
{
	char path[64];
	struct stat st;
	pid_t pid;

	ck_assert_int_eq(kd_find_node(path, sizeof(path)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, KD_NODE_MODE);
	ck_assert_uint_eq(st.st_gid, KD_GROUP_GID);
	for (int in_group = 0; in_group < 2; in_group++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int fd;

			if (become(VM_NOBODY, in_group))
				_exit(10);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (in_group)
				_exit(fd >= 0 ? 0 : 11);
			_exit(fd < 0 && errno == EACCES ? 0 : 12);
		}
		ck_assert_int_eq(child_status(pid), 0);
	}
}
END_TEST

START_TEST(test_params)
{
	int fd = kd_open_tracked();
	struct drm_kllm_get_info info = { 0 };
	struct stat st;
	pid_t pid;

	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info), 0);
	ck_assert_uint_eq(info.max_pinned_bytes, (uint64_t)param_read("max_pinned_mb") * MIB);
	ck_assert_uint_eq(info.uid_quota_bytes, (uint64_t)param_read("uid_quota_mb") * MIB);
	ck_assert_int_eq(stat(PARAMS "max_pinned_mb", &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(param_write("uid_quota_mb", 3), 0);
	memset(&info, 0, sizeof(info));
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info), 0);
	ck_assert_uint_eq(info.uid_quota_bytes, 3ull * MIB);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (become(VM_NOBODY, 1))
			_exit(10);
		_exit(param_write("max_pinned_mb", 1) == -EACCES ? 0 : 11);
	}
	ck_assert_int_eq(child_status(pid), 0);
}
END_TEST

/*
 * A child of @uid pins @pages pages of MODEL from page @first, checks its
 * uid's charge, that one more page is over the quota, tells the parent and
 * waits for it.  (Another uid's pin of the same range would be shared, not
 * charged again: see guest_share.c.)
 */
static pid_t quota_child(uid_t uid, unsigned int first, unsigned int pages, int ready_fd,
			 int go_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	{
		int fd, mf;
		uint32_t h, h2 = KD_SENTINEL;
		struct drm_kllm_get_stats st, st2;
		char c;

		if (become(uid, 1))
			_exit(10);
		fd = kd_open();
		mf = open(MODEL, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || mf < 0)
			_exit(11);
		if (kd_import(fd, mf, (uint64_t)first * PAGE, (uint64_t)pages * PAGE, &h))
			_exit(12);
		st = kd_stats(fd);
		if (st.uid_pinned_bytes != (uint64_t)pages * PAGE)
			_exit(13);
		if (kd_import(fd, mf, 0, 1, &h2) != -EDQUOT || h2 != KD_SENTINEL)
			_exit(14);
		st2 = kd_stats(fd);
		if (memcmp(&st, &st2, sizeof(st)))
			_exit(15);
		if (write(ready_fd, "r", 1) != 1 || read(go_fd, &c, 1) != 1)
			_exit(16);
		_exit(0);
	}
}

START_TEST(test_uid_quota_independent)
{
	int fd = kd_open_tracked();
	int ready_a[2], ready_b[2], go[2];
	unsigned int pages = MIB / PAGE;
	pid_t a, b;
	char c;

	kd_make_file(MODEL, 2 * MIB, 19);
	ck_assert_int_eq(param_write("uid_quota_mb", 1), 0);
	ck_assert_int_eq(pipe(ready_a), 0);
	ck_assert_int_eq(pipe(ready_b), 0);
	ck_assert_int_eq(pipe(go), 0);
	a = quota_child(1000, 0, pages, ready_a[1], go[0]);
	ck_assert_int_ge(a, 0);
	close(ready_a[1]);	/* a child that fails closes its end: read() sees EOF */
	ck_assert_msg(read(ready_a[0], &c, 1) == 1, "uid 1000 child: exit %d", child_status(a));
	/* uid 1000 is at its quota; uid 1001 still has all of its own. */
	b = quota_child(1001, pages, pages, ready_b[1], go[0]);
	ck_assert_int_ge(b, 0);
	close(ready_b[1]);
	ck_assert_msg(read(ready_b[0], &c, 1) == 1, "uid 1001 child: exit %d", child_status(b));
	ck_assert_uint_eq(kd_stats(fd).file_pinned_bytes, g_base.file_pinned_bytes + 2 * MIB);
	/* Root's own quota is untouched by theirs. */
	ck_assert_uint_eq(kd_stats(fd).uid_pinned_bytes, g_base.uid_pinned_bytes);
	ck_assert_int_eq(write(go[1], "gg", 2), 2);
	ck_assert_int_eq(child_status(a), 0);
	ck_assert_int_eq(child_status(b), 0);
	ck_assert_int_eq(kd_wait_global(&g_base, 5000), 0);
	close(ready_a[0]);
	close(ready_b[0]);
	close(go[0]);
	close(go[1]);
}
END_TEST

START_TEST(test_module_cap)
{
	int fd = kd_open_tracked();
	int mf = kd_make_file(MODEL, 2 * MIB, 23);
	struct drm_kllm_get_stats before;
	uint32_t h, h2 = KD_SENTINEL;

	ck_assert_uint_eq(g_base.file_pinned_bytes, 0);
	ck_assert_int_eq(param_write("max_pinned_mb", 1), 0);
	ck_assert_int_eq(kd_import(fd, mf, 0, MIB, &h), 0);
	before = kd_stats(fd);
	ck_assert_int_eq(kd_import(fd, mf, MIB, 1, &h2), -ENOSPC);
	ck_assert_int_eq(kd_import(fd, mf, 0, 2 * MIB, &h2), -ENOSPC);
	ck_assert_uint_eq(h2, KD_SENTINEL);
	kd_assert_stats_eq(before, kd_stats(fd));
	/* Lowering the cap below what is pinned keeps the pins. */
	ck_assert_int_eq(param_write("max_pinned_mb", 0), 0);
	ck_assert_int_eq(kd_import(fd, mf, 0, 1, &h2), -ENOSPC);
	check_read(fd, h, MIB - 16, 16, 0, 23);
	ck_assert_int_eq(kd_close(fd, h), 0);
	close(mf);
}
END_TEST

START_TEST(test_root_memlock_bypass)
{
	int fd = kd_open_tracked();
	struct rlimit rl = { 16 * PAGE, 16 * PAGE };
	uint8_t *mem = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t h;

	ck_assert(mem != MAP_FAILED);
	ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	ck_assert_int_eq(kd_userptr(fd, mem, 64 * PAGE, KLLM_USERPTR_WRITABLE, &h), 0);
	ck_assert_int_eq(kd_vmpin_kb(), (long)(64 * PAGE / 1024));
	ck_assert_int_eq(kd_close(fd, h), 0);
	ck_assert_int_eq(kd_vmpin_kb(), 0);
	munmap(mem, 64 * PAGE);
}
END_TEST

/*
 * Memory cgroups: a shmem BO's pages are charged to the memcg of the task
 * that touches them, and uncharged when the buffer goes.  Needs a kernel
 * with the memory controller (Debian's have it; the small debug kernel is
 * built without, and says so).
 */
#define CG_ROOT "/sys/fs/cgroup"
#define CG_TEST CG_ROOT "/kllm-test"

static long cg_read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -EIO;
}

static int cg_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/* In a child inside CG_TEST: a 4 MiB BO, every page touched through mmap. */
static int memcg_child(void)
{
	char pid[32];
	long before, touched, after;
	struct drm_kllm_bo_info info;
	uint32_t h;
	uint8_t *p;
	int fd;

	snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (cg_write(CG_TEST "/cgroup.procs", pid))
		return 10;
	fd = kd_open();
	before = cg_read_long(CG_TEST "/memory.current");
	if (fd < 0 || before < 0 || kd_bo_create(fd, 4 * MIB, &h) || kd_info(fd, h, &info))
		return 11;
	p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, info.mmap_offset);
	if (p == MAP_FAILED)
		return 12;
	for (unsigned int i = 0; i < 4 * MIB; i += PAGE)
		p[i] = (uint8_t)i;
	touched = cg_read_long(CG_TEST "/memory.current");
	munmap(p, 4 * MIB);
	kd_close(fd, h);
	close(fd);
	after = cg_read_long(CG_TEST "/memory.current");
	printf("memcg: memory.current %ld -> %ld (4 MiB BO touched) -> %ld (closed)\n",
	       before, touched, after);
	fflush(stdout);		/* the child leaves by _exit */
	if (touched - before < 4 * (long)MIB)
		return 13;		/* not charged */
	if (touched - after < 4 * (long)MIB)
		return 14;		/* not uncharged */
	return 0;
}

START_TEST(test_shmem_memcg)
{
	char ctl[256] = "";
	int fd;
	pid_t pid;

	/* Without CONFIG_CGROUPS sysfs has no fs/cgroup directory (ENOENT). */
	if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL) && errno != EBUSY) {
		ck_assert_msg(errno == ENODEV || errno == ENOENT, "mount cgroup2: %s",
			      strerror(errno));
		printf("memcg: no cgroup2 in this kernel, not tested\n");
		fflush(stdout);
		return;
	}
	fd = open(CG_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(read(fd, ctl, sizeof(ctl) - 1), 0);
	close(fd);
	if (!strstr(ctl, "memory")) {
		printf("memcg: no memory controller in this kernel, not tested\n");
		fflush(stdout);
		return;
	}
	ck_assert_int_eq(cg_write(CG_ROOT "/cgroup.subtree_control", "+memory"), 0);
	ck_assert(!mkdir(CG_TEST, 0755) || errno == EEXIST);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(memcg_child());
	ck_assert_int_eq(child_status(pid), 0);
	ck_assert_int_eq(rmdir(CG_TEST), 0);
}
END_TEST

/* Last: rmmod is refused while a file is open, and works once none is. */
START_TEST(test_rmmod)
{
	char path[64];
	int fd = kd_open();
	uint32_t h;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kd_bo_create(fd, PAGE, &h), 0);
	ck_assert_int_eq(vm_unload(KLLM), -EWOULDBLOCK);
	ck_assert(vm_module_loaded(KLLM));
	close(fd);
	ck_assert_int_eq(vm_unload(KLLM), 0);
	ck_assert(!vm_module_loaded(KLLM));
	ck_assert_int_eq(kd_find_node(path, sizeof(path)), -ENOENT);
	/* And it comes back clean. */
	ck_assert_int_eq(vm_load_kllm(""), 0);
	fd = kd_open();
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(kd_stats(fd).shmem_bytes, 0);
	close(fd);
	ck_assert_int_eq(vm_unload(KLLM), 0);
}
END_TEST

static Suite *root_suite(void)
{
	Suite *s = suite_create("guest_drm_root");
	TCase *tc = tcase_create("root");
	TCase *tc_end = tcase_create("rmmod");

	/* Each test takes about a second under TCG: a hang fails fast. */
	tcase_set_timeout(tc, 60);
	tcase_set_timeout(tc_end, 60);
	tcase_add_checked_fixture(tc, root_setup, root_teardown);
	tcase_add_test(tc, test_node_permissions);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_uid_quota_independent);
	tcase_add_test(tc, test_module_cap);
	tcase_add_test(tc, test_root_memlock_bypass);
	tcase_add_test(tc, test_shmem_memcg);
	suite_add_tcase(s, tc);
	tcase_add_test(tc_end, test_rmmod);
	suite_add_tcase(s, tc_end);
	return s;
}

#endif /* KLLM_VM_GUEST_DRM_ROOT_H */
