// SPDX-License-Identifier: MIT
/*
 * guest_share.c - one pinned copy of a model however many processes use
 * it (kmod/kllm_share.c): three processes import the same range of the
 * same file; the module-wide pinned bytes are one copy's, the creator's
 * uid is charged once; killing them in every order frees everything.  A
 * file rewritten in between gets a pin of its own.
 */
#include "drm_util.h"

#include <signal.h>

#define KLLM "kllm"
#define PAGE 4096u
#define MODEL "/tmp/share-model.bin"
#define MODEL_PAGES 512u

static struct drm_kllm_get_stats g_base;

static void setup(void)
{
	int fd = kd_open();

	ck_assert_int_ge(fd, 0);
	g_base = kd_stats(fd);
	close(fd);
}

static void teardown(void)
{
	unlink(MODEL);
	ck_assert_msg(kd_wait_global(&g_base, 5000) == 0,
		      "module-wide counters did not return to baseline");
}

/* A child that imports [off, off + len) of MODEL, reports, and waits. */
static pid_t importer(uint64_t off, uint64_t len, int ready_fd)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	{
		int fd = kd_open(), mf = open(MODEL, O_RDONLY | O_CLOEXEC);
		uint32_t h;

		if (fd < 0 || mf < 0 || kd_import(fd, mf, off, len, &h))
			_exit(1);
		if (write(ready_fd, "r", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
}

static uint64_t pinned_now(void)
{
	int fd = kd_open();
	uint64_t v;

	ck_assert_int_ge(fd, 0);
	v = kd_stats(fd).file_pinned_bytes;
	close(fd);
	return v;
}

/* Three importers of one range, killed in the order @order (a permutation). */
static void three_then_kill(const int order[3])
{
	const uint64_t len = (uint64_t)MODEL_PAGES * PAGE - 100;
	int ready[2];
	pid_t pid[3];
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	for (int i = 0; i < 3; i++) {
		pid[i] = importer(100, len, ready[1]);
		ck_assert_int_ge(pid[i], 0);
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
		/* pages 0..MODEL_PAGES: one copy, whoever holds it */
		ck_assert_uint_eq(pinned_now(), g_base.file_pinned_bytes +
				  (uint64_t)MODEL_PAGES * PAGE);
	}
	for (int k = 0; k < 3; k++) {
		int i = order[k];

		ck_assert_int_eq(kill(pid[i], SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid[i], NULL, 0), pid[i]);
		if (k < 2)	/* the others still hold the one copy */
			ck_assert_uint_eq(pinned_now(), g_base.file_pinned_bytes +
					  (uint64_t)MODEL_PAGES * PAGE);
	}
	close(ready[0]);
	close(ready[1]);
	ck_assert_int_eq(kd_wait_global(&g_base, 5000), 0);
}

START_TEST(test_three_processes_one_copy)
{
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};

	close(kd_make_file(MODEL, (uint64_t)MODEL_PAGES * PAGE, 5));
	for (int o = 0; o < 6; o++)
		three_then_kill(orders[o]);
}
END_TEST

/* Two handles of one file: one charge; after a rewrite, a new pin. */
START_TEST(test_same_file_and_rewrite)
{
	int fd = kd_open(), mf;
	uint32_t h1, h2, h3;
	struct drm_kllm_get_stats st;
	uint8_t byte;

	ck_assert_int_ge(fd, 0);
	mf = kd_make_file(MODEL, 64 * PAGE, 6);
	ck_assert_int_eq(kd_import(fd, mf, 0, 64 * PAGE, &h1), 0);
	ck_assert_int_eq(kd_import(fd, mf, 0, 64 * PAGE, &h2), 0);
	st = kd_stats(fd);
	ck_assert_uint_eq(st.file_pinned_bytes, g_base.file_pinned_bytes + 64 * PAGE);
	ck_assert_uint_eq(st.uid_pinned_bytes, g_base.uid_pinned_bytes + 64 * PAGE);
	/* per file, each handle counts: the file holds both */
	ck_assert_uint_eq(st.fd_file_pinned_bytes, 2 * 64 * PAGE);
	/* a different range is a different pin */
	ck_assert_int_eq(kd_import(fd, mf, PAGE, 63 * PAGE, &h3), 0);
	ck_assert_uint_eq(kd_stats(fd).file_pinned_bytes,
			  g_base.file_pinned_bytes + 127 * PAGE);
	ck_assert_int_eq(kd_close(fd, h3), 0);
	/* rewriting the file changes its change time: a fresh pin, old bytes kept */
	close(mf);
	usleep(20000);
	mf = kd_make_file(MODEL, 64 * PAGE, 7);
	ck_assert_int_eq(kd_import(fd, mf, 0, 64 * PAGE, &h3), 0);
	ck_assert_uint_eq(kd_stats(fd).file_pinned_bytes,
			  g_base.file_pinned_bytes + 128 * PAGE);
	ck_assert_int_eq(kd_read(fd, h1, 5, 1, &byte), 0);
	ck_assert_uint_eq(byte, kd_pattern(5, 6));
	ck_assert_int_eq(kd_read(fd, h3, 5, 1, &byte), 0);
	ck_assert_uint_eq(byte, kd_pattern(5, 7));
	ck_assert_int_eq(kd_close(fd, h1), 0);
	ck_assert_int_eq(kd_close(fd, h2), 0);
	ck_assert_uint_eq(kd_stats(fd).file_pinned_bytes, g_base.file_pinned_bytes + 64 * PAGE);
	close(mf);
	close(fd);
}
END_TEST

static Suite *share_suite(void)
{
	Suite *s = suite_create("guest_share");
	TCase *tc = tcase_create("share");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_three_processes_one_copy);
	tcase_add_test(tc, test_same_file_and_rewrite);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed, ret;

	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	ret = vm_load_kllm("");
	if (ret) {
		printf("vm: guest_share: insmod kllm: %s\n", strerror(-ret));
		return 1;
	}
	failed = kt_run(share_suite());
	if (vm_unload(KLLM)) {
		printf("vm: guest_share: rmmod kllm failed\n");
		failed = 1;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
