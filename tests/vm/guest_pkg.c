// SPDX-License-Identifier: MIT
/*
 * guest_pkg.c - the driver's packaging, exercised by the tools a
 * distribution runs, on the files `make install-driver-files` installed.
 *
 * tests/vm/run.sh packs, when this test is among the guest's: the files as
 * `make install-driver-files DESTDIR=<initramfs root>` installed them
 * (/usr/lib/udev/rules.d/70-kllm.rules, /usr/lib/sysusers.d/kllm.conf,
 * /usr/lib/modules-load.d/kllm.conf), Debian's own systemd-sysusers, udevadm
 * and systemd-udevd with their shared libraries, Debian's
 * 50-udev-default.rules (which gives render nodes to group "render": ours
 * must win), and an /etc/passwd with alice (1000) and bob (1001).
 *
 * Here: systemd-sysusers creates the system group kllm from the installed
 * entry, and a sysusers.d "m alice kllm" line makes alice a member (what
 * `usermod -aG kllm alice` does).  Then udevd applies the installed rule to
 * the kllm node twice: after `udevadm trigger --action=add` for a module
 * loaded before udevd ran (coldplug, as at boot with modules-load.d), and on
 * the kernel's own uevent when the module is loaded under a running udevd
 * (hotplug).  Each time the node must be root:kllm 0660, alice (uid 1000,
 * supplementary groups from /etc/group) opens it and GET_INFO answers, and
 * bob (uid 1001, not a member) gets EACCES.
 */
#include "drm_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <sys/mount.h>

#define KLLM "kllm"
#define SYSUSERS "/usr/bin/systemd-sysusers"
#define UDEVADM "/usr/bin/udevadm"
#define UDEVD "/usr/lib/systemd/systemd-udevd"
#define RULE "/usr/lib/udev/rules.d/70-kllm.rules"
#define SYSUSERS_CONF "/usr/lib/sysusers.d/kllm.conf"
#define MODLOAD_CONF "/usr/lib/modules-load.d/kllm.conf"
#define MEMBERS_CONF "/etc/sysusers.d/50-guest-kllm-members.conf"
#define TOOLS_LOG "/tmp/guest_pkg.log"
#define MEMBER "alice"
#define MEMBER_UID 1000
#define OTHER "bob"
#define OTHER_UID 1001

/*
 * Run @argv (an absolute path first) with its output appended to TOOLS_LOG;
 * its exit status, 128 + signal, or -1.  systemd's tools log to the console
 * (the log file) unless SYSTEMD_LOG_TARGET says otherwise.
 */
static int run_tool(const char *const argv[])
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(TOOLS_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		printf("+");
		for (int i = 0; argv[i]; i++)
			printf(" %s", argv[i]);
		printf("\n");
		fflush(stdout);
		setenv("SYSTEMD_LOG_TARGET", getenv("SYSTEMD_LOG_TARGET") ?: "console", 1);
		setenv("PATH", "/usr/bin:/usr/sbin:/bin:/sbin", 1);
		execv(argv[0], (char *const *)argv);
		perror(argv[0]);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define RUN(...) run_tool((const char *const[]){ __VA_ARGS__, NULL })
#define ck_run(...) do { \
	const char *const ck_argv_[] = { __VA_ARGS__, NULL }; \
	int ck_rc_ = run_tool(ck_argv_); \
	ck_assert_msg(ck_rc_ == 0, "%s %s: exit %d (output in " TOOLS_LOG ")", \
		      ck_argv_[0], ck_argv_[1] ? ck_argv_[1] : "", ck_rc_); \
} while (0)

/*
 * Split an /etc/group line in place: name, gid and member list (fields may
 * be empty, as in "kllm:x:999:").  0, or -1 for a malformed line.
 */
static int group_fields(char *line, char **name, long *gid, char **members)
{
	char *f[4];

	line[strcspn(line, "\n")] = '\0';
	for (int i = 0; i < 4; i++) {
		f[i] = strsep(&line, ":");
		if (!f[i])
			return -1;
	}
	*name = f[0];
	*gid = strtol(f[2], NULL, 10);
	*members = f[3];
	return 0;
}

/* Is @user in the comma-separated @members (modified)? */
static int in_members(char *members, const char *user)
{
	char *m;

	while ((m = strsep(&members, ",")))
		if (user && !strcmp(m, user))
			return 1;
	return 0;
}

/*
 * The entry of group @name in /etc/group: its gid (or -1 when there is
 * none) and, in @is_member, whether @user is in its member list.  @count
 * gets the number of entries of that name.
 */
static long group_entry(const char *name, const char *user, int *is_member, int *count)
{
	char line[1024], *gname, *members;
	FILE *f = fopen("/etc/group", "re");
	long gid = -1, g;

	if (is_member)
		*is_member = 0;
	if (count)
		*count = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (group_fields(line, &gname, &g, &members) || strcmp(gname, name))
			continue;
		gid = g;
		if (count)
			(*count)++;
		if (is_member && in_members(members, user))
			*is_member = 1;
	}
	fclose(f);
	return gid;
}

/* The uid /etc/passwd gives @user, or -1. */
static long passwd_uid(const char *user)
{
	char line[1024];
	FILE *f = fopen("/etc/passwd", "re");
	long uid = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *name = strsep(&p, ":"), *uidstr;

		strsep(&p, ":");	/* password */
		uidstr = strsep(&p, ":");
		if (name && uidstr && !strcmp(name, user))
			uid = strtol(uidstr, NULL, 10);
	}
	fclose(f);
	return uid;
}

/*
 * @user's supplementary groups as login's initgroups() would set them:
 * every /etc/group entry listing the user (static glibc has no NSS here,
 * so the file is read directly).  The count, at most @max.
 */
static int user_groups(const char *user, gid_t *groups, int max)
{
	char line[1024], *gname, *members;
	FILE *f = fopen("/etc/group", "re");
	long gid;
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n < max)
		if (!group_fields(line, &gname, &gid, &members) && in_members(members, user))
			groups[n++] = (gid_t)gid;
	fclose(f);
	return n;
}

/*
 * Log in as @user (uid @uid, primary group @uid, supplementary groups from
 * /etc/group), open @node and ask GET_INFO.  0 when both worked; else the
 * errno of open(), or 150 + the ioctl's errno, 149 for a wrong version,
 * 148 when the identity could not be taken.
 */
static int open_as(const char *user, uid_t uid, const char *node)
{
	gid_t groups[32];
	int n = user_groups(user, groups, 32), status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct drm_kllm_get_info info;
		int fd, ret;

		if (setgroups(n, groups) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(148);
		fd = open(node, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(errno & 0x7f);
		memset(&info, 0, sizeof(info));
		ret = kd_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info);
		if (ret)
			_exit(150 + (-ret & 0x3f));
		_exit(info.version == KLLM_UAPI_VERSION ? 0 : 149);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void assert_node(const char *node, uid_t uid, gid_t gid, unsigned mode)
{
	struct stat st;

	ck_assert_int_eq(stat(node, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_msg(st.st_uid == uid && st.st_gid == gid && (st.st_mode & 07777) == mode,
		      "%s is %u:%u %04o, expected %u:%u %04o", node,
		      (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777),
		      (unsigned)uid, (unsigned)gid, mode);
}

/* alice (a member of kllm) gets in, bob (not one) gets EACCES. */
static void assert_access(const char *node)
{
	ck_assert_int_eq(open_as(MEMBER, MEMBER_UID, node), 0);
	ck_assert_int_eq(open_as(OTHER, OTHER_UID, node), EACCES);
}

/*
 * systemd-sysusers on the installed entry (what install-driver-files and a
 * package's postinst run; idempotent), then alice made a member through a
 * sysusers.d "m" line.  The gid of kllm.
 */
static gid_t group_ready(void)
{
	int member, count;
	long gid;
	FILE *f;

	ck_run(SYSUSERS, "kllm.conf");
	gid = group_entry(KLLM, MEMBER, &member, &count);
	ck_assert_msg(gid > 0 && gid < 1000, "group kllm: gid %ld (want a system gid)", gid);
	ck_assert_int_eq(count, 1);
	if (!member) {
		mkdir("/etc/sysusers.d", 0755);
		f = fopen(MEMBERS_CONF, "we");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "m " MEMBER " " KLLM "\n");
		ck_assert_int_eq(fclose(f), 0);
		ck_run(SYSUSERS);
		ck_assert_int_eq(group_entry(KLLM, MEMBER, &member, &count), gid);
		ck_assert_msg(member, MEMBER " is not a member of kllm after systemd-sysusers");
		ck_assert_int_eq(count, 1);
	}
	/* the existing user joined; sysusers did not make a new one */
	ck_assert_int_eq(passwd_uid(MEMBER), MEMBER_UID);
	ck_assert_int_eq(group_entry(KLLM, OTHER, &member, NULL), gid);
	ck_assert(!member);
	return (gid_t)gid;
}

static int udevd_running(void)
{
	return RUN(UDEVADM, "control", "--ping", "--timeout=5") == 0;
}

static void udevd_start(void)
{
	if (udevd_running())
		return;
	/*
	 * --daemon points its stdio at /dev/null: it logs to the kernel log
	 * instead (shown after the tests; udevd's lines do not match the scan).
	 */
	setenv("SYSTEMD_LOG_TARGET", "kmsg", 1);
	ck_run(UDEVD, "--daemon");
	unsetenv("SYSTEMD_LOG_TARGET");
	for (int i = 0; !udevd_running(); i++) {
		ck_assert_msg(i < 60, "systemd-udevd does not answer a ping");
		usleep(100000);
	}
}

static void udevd_stop(void)
{
	if (udevd_running())
		RUN(UDEVADM, "control", "--exit");
}

static void settle(void)
{
	ck_run(UDEVADM, "settle", "--timeout=120");
}

static void load_kllm(char *node, size_t size)
{
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	ck_assert_int_eq(vm_load_kllm(""), 0);
	ck_assert_int_eq(kd_find_node(node, size), 0);
}

/* rmmod, retried while udev's workers may still hold the node. */
static void unload_kllm(void)
{
	int ret = vm_unload_wait(KLLM);

	ck_assert_msg(ret == 0, "rmmod kllm: %s", strerror(-ret));
}

/* Read the first line of @path that is neither blank nor a comment. */
static void first_entry(const char *path, char *out, size_t size)
{
	char line[512];
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	ck_assert_msg(f != NULL, "%s not installed", path);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] && line[0] != '#' && line[0] != ';') {
			vm_strlcpy(out, line, size);
			break;
		}
	}
	fclose(f);
}

/* The three files, as install-driver-files left them (0644 root). */
START_TEST(test_installed_files)
{
	static const char *const files[] = { RULE, SYSUSERS_CONF, MODLOAD_CONF };
	char entry[512];
	struct stat st;

	for (size_t i = 0; i < 3; i++) {
		ck_assert_msg(stat(files[i], &st) == 0, "%s not installed", files[i]);
		ck_assert(S_ISREG(st.st_mode));
		ck_assert_uint_eq(st.st_mode & 07777, 0644);
		ck_assert_uint_eq(st.st_uid, 0);
	}
	first_entry(SYSUSERS_CONF, entry, sizeof(entry));
	ck_assert_str_eq(entry, "g kllm - -");
	first_entry(MODLOAD_CONF, entry, sizeof(entry));
	ck_assert_str_eq(entry, "kllm");
	/* nothing under /lib/udev (the old place) */
	ck_assert_int_ne(stat("/lib/udev/rules.d/70-kllm.rules", &st), 0);
}
END_TEST

/* systemd-sysusers creates kllm once, as a system group; members join. */
START_TEST(test_sysusers_group)
{
	gid_t gid = group_ready();

	ck_run(SYSUSERS, "kllm.conf");
	ck_assert_int_eq(group_entry(KLLM, NULL, NULL, NULL), (long)gid);
	printf("vm: guest_pkg: systemd-sysusers made group kllm, gid %u, member " MEMBER "\n",
	       (unsigned)gid);
}
END_TEST

/*
 * Coldplug: the module loaded before udevd runs (devtmpfs leaves the node
 * 0600 root, so alice is refused); udevd started, every device triggered
 * as at boot, settled: the rule has given the node to kllm.
 */
START_TEST(test_coldplug)
{
	char node[64];
	gid_t gid = group_ready();

	udevd_stop();
	load_kllm(node, sizeof(node));
	assert_node(node, 0, 0, 0600);
	ck_assert_int_eq(open_as(MEMBER, MEMBER_UID, node), EACCES);
	udevd_start();
	ck_run(UDEVADM, "trigger", "--type=devices", "--action=add");
	settle();
	assert_node(node, 0, gid, 0660);
	assert_access(node);
	printf("vm: guest_pkg: coldplug: %s root:kllm 0660; " MEMBER " in, " OTHER " EACCES\n", node);
	unload_kllm();
	settle();
}
END_TEST

/* Hotplug: the module loaded under a running udevd; no trigger needed. */
START_TEST(test_hotplug)
{
	char node[64];
	gid_t gid = group_ready();

	udevd_start();
	load_kllm(node, sizeof(node));
	settle();
	assert_node(node, 0, gid, 0660);
	assert_access(node);
	printf("vm: guest_pkg: hotplug: %s root:kllm 0660; " MEMBER " in, " OTHER " EACCES\n", node);
	unload_kllm();
	settle();
}
END_TEST

/* udevd needs /run (it keeps its database and control socket there). */
static void pkg_setup(void)
{
	mkdir("/run", 0755);
	if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"))
		printf("vm: guest_pkg: mount /run: %s\n", strerror(errno));
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
}

/* Leave no udevd behind (later tests set the node's mode themselves). */
static void pkg_teardown(void)
{
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	udevd_stop();
}

static Suite *pkg_suite(void)
{
	Suite *s = suite_create("guest_pkg");
	TCase *tc = tcase_create("pkg");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, pkg_setup, pkg_teardown);
	tcase_add_test(tc, test_installed_files);
	tcase_add_test(tc, test_sysusers_group);
	tcase_add_test(tc, test_coldplug);
	tcase_add_test(tc, test_hotplug);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed = kt_run(pkg_suite());
	char line[512];
	FILE *f;

	/* What the tools said, for the serial log. */
	f = fopen(TOOLS_LOG, "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			printf("vm: guest_pkg: | %s", line);
		fclose(f);
	}
	return failed;
}
