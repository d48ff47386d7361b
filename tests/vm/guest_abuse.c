// SPDX-License-Identifier: MIT
/*
 * guest_abuse.c - regression tests for the findings of issue 14 (an abuse
 * suite run as uid 65534 against kllm.ko), one Check case per finding,
 * named after it; F5 and F7 (the FPU) are in guest_abuse_fpu.c.  Each
 * test loads kllm.ko itself (with the parameters it needs), runs its
 * jobs as nobody (root steps - debugfs, module parameters - through its
 * root parent: abuse_util.h), leaves the module unloaded, and fails on
 * any kernel splat written while it ran (BUG, WARNING, Oops, KASAN, SLUB
 * "Redzone"/"Poison", refcount, soft lockup; guests boot slub_debug=FZP).
 *
 *  F1  an OUTPUT tensor no op uses, past a too-small binding: JOB_SUBMIT
 *      -EINVAL whole, chunked and fused; bound big enough it runs chunked
 *      and fused and writes nothing past its binding
 *  F2  two ACTIVATIONS buffers of different sizes: refused at PROG_CREATE,
 *      or results equal the in-process engine's (no slab bytes)
 *  F3  repeated output rows: -EINVAL at submit, whole or chunked and
 *      fused (the fused pass overflowed pass_inputs and staging)
 *  F4  n_outputs > 0 without an OUT_ROWS input: -EINVAL, and the engine
 *      still runs a job after it
 *  F6  unreaped jobs' bookkeeping is charged to the submitter's memory
 *      cgroup, and a per-file cap refuses (-ENOMEM or -EBUSY)
 *  F8  a shared file pin is charged to every uid holding it, counted once
 *      module-wide, and dropped from a uid that closed its handle
 *  F9  uring commands cancelled (ring exit, io-wq issue) before their job
 *      is queued: no splat, every job accounted (debugfs delay_queue_us
 *      widens the window where the driver has it)
 *  F10 a job's timeout_ms is capped by the module's job_timeout_ms
 *
 * Tests run least destructive first: on a driver with the bugs, F3 (heap
 * overflow) may corrupt the slab, F9 on 6.7+ and F4 kill the engine with
 * its lock held (the guest then hangs until run.sh's timeout: F9, or
 * reports: F4 keeps the file open in a holder process of its own
 * session, so that its test process can report instead of spinning
 * forever in the file's release).
 */
#include "abuse_util.h"

#include <inttypes.h>
#include <sys/utsname.h>

/*
 * A small program with no weights: x (activations, rows = tokens, 64
 * floats) scaled into OUTPUT A; OUTPUT B holds one tensor no op uses,
 * 1024 floats a row (4 KiB), rows = tokens.  max_batch 64.
 */
#define F1_MB 64
static uint8_t *f1_prog(size_t *size)
{
	struct kb *b = kt_alloc(sizeof(*b));
	uint32_t act, oa, ob, x, ya;
	uint8_t *img;

	kb_init(b, F1_MB);
	act = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 256ull * F1_MB, 0);
	oa = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 256ull * F1_MB, 0);
	ob = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 4096ull * F1_MB, 0);
	x = kb_tensor(b, act, KLLM_PROG_TYPE_F32, 0, 256, 64, 0, KLLM_PROG_T_ROWS_TOKENS);
	ya = kb_tensor(b, oa, KLLM_PROG_TYPE_F32, 0, 256, 64, 0, KLLM_PROG_T_ROWS_TOKENS);
	kb_tensor(b, ob, KLLM_PROG_TYPE_F32, 0, 4096, 1024, 0, KLLM_PROG_T_ROWS_TOKENS);
	KB_OP(b, KK_OP_SCALE, 0, KB_T(x, ya), KB_T(0x3f000000u));
	img = kb_finish(b, size);
	free(b);
	return img;
}

/* A job of f1_prog: n tokens, OUTPUT A and B bound at the given BOs. */
static struct drm_kllm_job f1_job(uint32_t prog, uint32_t n, struct drm_kllm_bind *binds,
				  uint32_t a_bo, uint32_t b_bo)
{
	binds[0] = (struct drm_kllm_bind){ .handle = a_bo };
	binds[1] = (struct drm_kllm_bind){ .handle = b_bo };
	return (struct drm_kllm_job){ .prog = prog, .n_tokens = n, .n_binds = 2,
				      .binds_ptr = (uintptr_t)binds };
}

/* ================================================================ F10 */

#define F10_MODULE_MS 300
#define F10_JOB_MS 60000
#define F10_WAIT_MS 5000

static int f10_body(void *arg)
{
	size_t size;
	uint8_t *img = long_prog(&size, 1u << 18, 127);
	struct drm_kllm_job job;
	uint32_t prog;
	uint64_t id, t0, dt;
	int fd = kd_open(), ret, status = 0;

	(void)arg;
	if (fd < 0 || ab_prog_create(fd, img, size, &prog))
		AB_FAIL(2, "F10: setup failed");
	job = (struct drm_kllm_job){ .prog = prog, .n_tokens = 1, .timeout_ms = F10_JOB_MS };
	t0 = now_ns();
	ret = kj_submit(fd, &job, &id);
	if (ret)
		AB_FAIL(3, "F10: JOB_SUBMIT with timeout_ms %u: %s (a job may ask for more than the admin's limit; it is capped, not refused)",
			F10_JOB_MS, strerror(-ret));
	ret = kj_wait(fd, id, (int64_t)F10_WAIT_MS * 1000000, &status);
	dt = (now_ns() - t0) / 1000000;
	printf("vm: abuse: F10: module job_timeout_ms %u, job timeout_ms %u: wait %d status %d after %" PRIu64 " ms\n",
	       F10_MODULE_MS, F10_JOB_MS, ret, status, dt);
	close(fd);
	free(img);
	if (ret == -ETIMEDOUT)
		AB_FAIL(4, "F10: job still running after %u ms although job_timeout_ms is %u: its own timeout_ms %u was used",
			F10_WAIT_MS, F10_MODULE_MS, F10_JOB_MS);
	if (ret)
		AB_FAIL(5, "F10: JOB_WAIT: %s", strerror(-ret));
	if (status != -ETIMEDOUT)
		AB_FAIL(6, "F10: job ended with status %d after %" PRIu64 " ms, not -ETIMEDOUT (module limit %u ms; is the job long enough?)",
			status, dt, F10_MODULE_MS);
	return 0;
}

START_TEST(test_f10_job_timeout_above_module_limit)
{
	char params[64];

	snprintf(params, sizeof(params), "job_timeout_ms=%u", F10_MODULE_MS);
	ab_load(params);
	AB_AS_NOBODY(f10_body, NULL);
	ck_assert_int_eq(ab_wait_idle(10000), 0);
	ab_unload("F10");
}
END_TEST

/* ================================================================ F8 */

#define F8_QUOTA_MB 1
#define F8_SHARED (512u << 10)
#define F8_FILE "/tmp/ab-f8-shared"
#define F8_FILE2 "/tmp/ab-f8-other"

/* uid @uid: follow the script on @cmd, reporting on @rep (one int each step). */
struct f8_role {
	uid_t uid;
	int cmd, rep;
	int is_a;
};

static int f8_send(int fd, int64_t v)
{
	return write(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

static int64_t f8_recv(int fd)
{
	int64_t v = -999;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -999;
	return v;
}

static void f8_role_run(struct f8_role *r)
{
	int dev, ffd;
	uint32_t h = 0, h2;
	struct drm_kllm_get_stats st;
	int64_t step;

	if (setgroups(0, NULL) || setresgid(r->uid, r->uid, r->uid) ||
	    setresuid(r->uid, r->uid, r->uid))
		_exit(90);
	dev = kd_open();
	if (dev < 0)
		_exit(91);
	while ((step = f8_recv(r->cmd)) != -999) {
		int64_t out = 0;

		switch (step) {
		case 1:		/* pin the shared range */
			ffd = open(F8_FILE, O_RDONLY);
			out = kd_import(dev, ffd, 0, F8_SHARED, &h);
			close(ffd);
			break;
		case 2:		/* my uid's charge */
			st = kd_stats(dev);
			out = (int64_t)st.uid_pinned_bytes;
			break;
		case 3:		/* module-wide */
			st = kd_stats(dev);
			out = (int64_t)st.file_pinned_bytes;
			break;
		case 4:		/* drop my handle */
			out = kd_close(dev, h);
			break;
		case 5:		/* pin my whole quota elsewhere */
			ffd = open(F8_FILE2, O_RDONLY);
			out = kd_import(dev, ffd, 0, (uint64_t)F8_QUOTA_MB << 20, &h2);
			close(ffd);
			if (!out)
				kd_close(dev, h2);
			break;
		}
		if (f8_send(r->rep, out))
			break;
	}
	close(dev);
	_exit(0);
}

static pid_t f8_spawn(struct f8_role *r, uid_t uid, int *cmd_w, int *rep_r)
{
	int c[2], p[2];
	pid_t pid;

	ck_assert_int_eq(pipe(c), 0);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(c[1]);
		close(p[0]);
		r->uid = uid;
		r->cmd = c[0];
		r->rep = p[1];
		f8_role_run(r);
	}
	close(c[0]);
	close(p[1]);
	*cmd_w = c[1];
	*rep_r = p[0];
	return pid;
}

static int64_t f8_do(int cmd, int rep, int64_t step)
{
	ck_assert_int_eq(f8_send(cmd, step), 0);
	return f8_recv(rep);
}

START_TEST(test_f8_quota_hostage)
{
	struct f8_role ra = { 0 }, rb = { 0 };
	int a_cmd, a_rep, b_cmd, b_rep, fd;
	pid_t pa, pb;
	int64_t a_pin, b_pin, a_after, b_after, file_both, file_after, a_quota;
	char params[64];

	snprintf(params, sizeof(params), "uid_quota_mb=%u", F8_QUOTA_MB);
	ab_load(params);
	fd = kd_make_file(F8_FILE, F8_SHARED, 3);
	close(fd);
	fd = kd_make_file(F8_FILE2, (uint64_t)F8_QUOTA_MB << 20, 4);
	close(fd);
	pa = f8_spawn(&ra, 1000, &a_cmd, &a_rep);
	pb = f8_spawn(&rb, 1001, &b_cmd, &b_rep);
	a_pin = f8_do(a_cmd, a_rep, 1);
	b_pin = f8_do(b_cmd, b_rep, 1);
	file_both = f8_do(b_cmd, b_rep, 3);
	b_pin = b_pin ? b_pin : f8_do(b_cmd, b_rep, 2);
	a_after = f8_do(a_cmd, a_rep, 4);	/* close A's handle */
	a_after = a_after ? a_after : f8_do(a_cmd, a_rep, 2);
	b_after = f8_do(b_cmd, b_rep, 2);
	file_after = f8_do(b_cmd, b_rep, 3);
	a_quota = f8_do(a_cmd, a_rep, 5);
	printf("vm: abuse: F8: shared pin %u B: A pin %" PRId64 "; both holding: module-wide %" PRId64 ", B charged %" PRId64
	       "; after A closed: A charged %" PRId64 ", B charged %" PRId64 ", module-wide %" PRId64 "; A pins its full %u MiB quota: %" PRId64 "\n",
	       F8_SHARED, a_pin, file_both, b_pin, a_after, b_after, file_after, F8_QUOTA_MB, a_quota);
	close(a_cmd);
	close(b_cmd);
	ck_assert_int_eq(ab_wait_child(pa), 0);
	ck_assert_int_eq(ab_wait_child(pb), 0);
	close(a_rep);
	close(b_rep);
	unlink(F8_FILE);
	unlink(F8_FILE2);
	ck_assert_msg(a_pin == 0, "F8: uid A's pin failed: %" PRId64, a_pin);
	ck_assert_msg(file_both == F8_SHARED,
		      "F8: module-wide file_pinned_bytes %" PRId64 " with both uids holding the pin (once: %u)",
		      file_both, F8_SHARED);
	ck_assert_msg(b_pin == F8_SHARED,
		      "F8: uid B holds the shared pin but is charged %" PRId64 " B, not its full size %u",
		      b_pin, F8_SHARED);
	ck_assert_msg(a_after == 0,
		      "F8: uid A closed its handle but is still charged %" PRId64 " B (hostage of B's pin)", a_after);
	ck_assert_msg(b_after == F8_SHARED, "F8: after A closed, B is charged %" PRId64 " B, not %u",
		      b_after, F8_SHARED);
	ck_assert_msg(file_after == F8_SHARED, "F8: module-wide %" PRId64 " after A closed, not %u",
		      file_after, F8_SHARED);
	ck_assert_msg(a_quota == 0, "F8: uid A cannot pin its full quota after closing its handle: %s",
		      strerror((int)-a_quota));
	ab_unload("F8");
}
END_TEST

/* ================================================================ F6 */

#define F6_CG "/sys/fs/cgroup/kllm-abuse-f6"
#define F6_NKV 60
#define F6_SEQS KLLM_PROG_MAX_SEQS
#define F6_MAX_JOBS 64

static uint64_t cg_read(const char *file)
{
	char path[128];

	snprintf(path, sizeof(path), F6_CG "/%s", file);
	return read_u64(path);
}

static int f6_body(void *arg)
{
	const uint32_t n_kv_binds = F6_SEQS * F6_NKV;
	struct drm_kllm_bind *binds = kt_alloc(sizeof(*binds) * n_kv_binds);
	struct kb *b = kt_alloc(sizeof(*b));
	uint64_t before, after, expect, id;
	uint32_t act, x, prog, accepted = 0;
	int fd = kd_open(), refused = 0;
	size_t size;
	uint8_t *img;

	(void)arg;
	kb_init(b, 1);
	act = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 32, 0);
	for (int i = 0; i < F6_NKV; i++)
		kb_buffer(b, KLLM_PROG_BUF_KV, 64, 0);
	x = kb_tensor(b, act, KLLM_PROG_TYPE_F32, 0, 32, 8, 1, 0);
	KB_OP(b, KK_OP_SCALE, 0, KB_T(x, x), KB_T(0x3f800000u));
	img = kb_finish(b, &size);
	if (fd < 0 || ab_prog_create(fd, img, size, &prog))
		AB_FAIL(2, "F6: setup failed");
	/* held back: whether a driver frees a job's bookkeeping when it
	 * finishes or when it is reaped, these ones hold all of theirs */
	ab_root_write(AB_DEBUGFS "pause", "1\n");
	before = cg_read("memory.current");
	for (uint32_t i = 0; i < F6_MAX_JOBS; i++) {
		struct drm_kllm_job job = {
			.prog = prog, .n_tokens = 1, .n_seqs = F6_SEQS, .n_binds = n_kv_binds,
			.binds_ptr = (uintptr_t)binds,
		};
		int ret = kj_submit(fd, &job, &id);

		if (ret) {
			refused = ret;
			break;
		}
		accepted++;
	}
	after = cg_read("memory.current");
	ab_root_write(AB_DEBUGFS "pause", "0\n");
	/* at least the engine's view of every KV binding: a pointer and a size */
	expect = (uint64_t)accepted * n_kv_binds * 16;
	printf("vm: abuse: F6: %u jobs of n_seqs %u x n_kv %u accepted (engine paused, none reaped), then %s; memory.current %" PRIu64
	       " -> %" PRIu64 " KiB (+%" PRIu64 " KiB; their bindings alone are %" PRIu64 " KiB)\n",
	       accepted, F6_SEQS, F6_NKV, refused ? strerror(-refused) : "no refusal",
	       before >> 10, after >> 10, (after - before) >> 10, expect >> 10);
	close(fd);
	free(img);
	free(b);
	free(binds);
	if (!accepted)
		AB_FAIL(3, "F6: the first legal job was refused: %s", strerror(-refused));
	if (after < before || after - before < expect / 2)
		AB_FAIL(4, "F6: %u unfinished, unreaped jobs grew their memory cgroup by %" PRIu64 " KiB, less than half of their %" PRIu64 " KiB of bookkeeping: not charged to the submitter",
			accepted, (after - before) >> 10, expect >> 10);
	if (!refused)
		AB_FAIL(5, "F6: %u unreaped jobs (%" PRIu64 " KiB of bookkeeping) on one file and no cap refused (want -ENOMEM or -EBUSY)",
			accepted, expect >> 10);
	if (refused != -ENOMEM && refused != -EBUSY)
		AB_FAIL(6, "F6: refused with %s, want -ENOMEM or -EBUSY", strerror(-refused));
	printf("vm: abuse: F6: the per-file cap refused with %s\n", refused == -ENOMEM ? "-ENOMEM" : "-EBUSY");
	return 0;
}

static int f6_child(void *arg)
{
	return f6_body(arg);
}

START_TEST(test_f6_job_memory_in_cgroup)
{
	char pidbuf[32];
	pid_t pid;
	int r;

	ab_load("");
	mkdir("/sys/fs/cgroup", 0755);
	if (!file_exists("/sys/fs/cgroup/cgroup.controllers"))
		mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	if (!file_exists("/sys/fs/cgroup/cgroup.controllers")) {
		printf("vm: abuse: F6: SKIPPED: no cgroup v2 on this kernel\n");
		ab_unload("F6");
		return;
	}
	{
		FILE *f = fopen("/sys/fs/cgroup/cgroup.subtree_control", "w");

		if (f) {
			fputs("+memory", f);
			fclose(f);
		}
	}
	rmdir(F6_CG);
	ck_assert_int_eq(mkdir(F6_CG, 0755), 0);
	if (!file_exists(F6_CG "/memory.current")) {
		printf("vm: abuse: F6: SKIPPED: the kernel has no memory cgroup controller\n");
		rmdir(F6_CG);
		ab_unload("F6");
		return;
	}
	kj_write_file(F6_CG "/memory.max", "536870912\n");	/* a safety net */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		snprintf(pidbuf, sizeof(pidbuf), "%d\n", getpid());
		kj_write_file(F6_CG "/cgroup.procs", pidbuf);
		_exit(ab_as_nobody(f6_child, NULL) == 0 ? 0 : 1);
	}
	r = ab_wait_child(pid);
	kj_write_file(AB_DEBUGFS "pause", "0\n");
	ck_assert_int_eq(ab_wait_idle(10000), 0);
	for (int i = 0; i < 100 && rmdir(F6_CG); i++)
		usleep(50000);
	ck_assert_msg(r == 0, "F6: the submitter in the memory cgroup failed (%d; output above)", r);
	ab_unload("F6");
}
END_TEST

/* ================================================================ F2 */

/*
 * Two ACTIVATIONS buffers: a large one first (16 KiB), a small one last
 * (256 B).  GET_ROWS writes 4 rows of a weights table into the large one
 * at offset 0; SCALE copies them (x 0.5) to OUTPUT rows 0-3 and SCALE
 * (x 1) copies the large buffer's rows at 8 KiB (never written: zero) to
 * OUTPUT rows 4-11.  The in-process engine, every buffer in memory of its
 * own, is the expectation.
 */
static int f2_body(void *arg)
{
	struct kb *b = kt_alloc(sizeof(*b));
	struct kllm_prog_mem mem[KLLM_PROG_MAX_BUFFERS] = { 0 };
	struct kllm_prog_bindings bind = { .buf = mem };
	struct kllm_prog_info pinfo;
	struct kllm_prog_err perr;
	uint32_t w, in, big, small, out, tw, ttok, r1, r2, o1, o2, prog, wbo, obo, n_cc = 0;
	int32_t tok[4] = { 3, 1, 0, 2 };
	static float table[4][64] __attribute__((aligned(64)));
	uint8_t *img, *dev_out, *ref_out, *ref_big, *ref_small;
	struct drm_kllm_bind wb, ob;
	char log[160] = "";
	size_t size;
	uint64_t id;
	int fd = kd_open(), wfd, status, ret;

	(void)arg;
	kllm_cpu_init();
	for (int r = 0; r < 4; r++)
		for (int k = 0; k < 64; k++)
			table[r][k] = (float)(r * 64 + k) + 0.25f;
	kb_init(b, 4);
	w = kb_buffer(b, KLLM_PROG_BUF_WEIGHTS, sizeof(table), 0);
	in = kb_buffer(b, KLLM_PROG_BUF_INPUT, 16, KLLM_PROG_IN_TOKENS);
	big = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 16384, 0);
	out = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 256 * 12, 0);
	small = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 256, 0);
	tw = kb_tensor(b, w, KLLM_PROG_TYPE_F32, 0, 256, 64, 4, 0);
	ttok = kb_tensor(b, in, KLLM_PROG_TYPE_I32, 0, 4, 1, 0, KLLM_PROG_T_ROWS_TOKENS);
	r1 = kb_tensor(b, big, KLLM_PROG_TYPE_F32, 0, 256, 64, 0, KLLM_PROG_T_ROWS_TOKENS);
	r2 = kb_tensor(b, big, KLLM_PROG_TYPE_F32, 8192, 256, 64, 8, 0);
	o1 = kb_tensor(b, out, KLLM_PROG_TYPE_F32, 0, 256, 64, 0, KLLM_PROG_T_ROWS_TOKENS);
	o2 = kb_tensor(b, out, KLLM_PROG_TYPE_F32, 1024, 256, 64, 8, 0);
	kb_tensor(b, small, KLLM_PROG_TYPE_F32, 0, 256, 64, 1, 0);
	KB_OP(b, KK_OP_GET_ROWS, 0, KB_T(tw, ttok, r1), KB_P0);
	KB_OP(b, KK_OP_SCALE, 0, KB_T(r1, o1), KB_T(0x3f000000u));
	KB_OP(b, KK_OP_SCALE, 0, KB_T(r2, o2), KB_T(0x3f800000u));	/* x 1: bytes as read */
	img = kb_finish(b, &size);
	free(b);

	/* the in-process expectation: every buffer its own zeroed memory */
	ref_out = kt_alloc(256 * 12);
	ref_big = kt_alloc(16384);
	ref_small = kt_alloc(256);
	if (kllm_prog_check(img, size, &pinfo, &perr))
		AB_FAIL(2, "F2: the program does not pass the validator in process: %s", perr.reason);
	mem[w] = (struct kllm_prog_mem){ table, sizeof(table) };
	mem[big] = (struct kllm_prog_mem){ ref_big, 16384 };
	mem[small] = (struct kllm_prog_mem){ ref_small, 256 };
	mem[out] = (struct kllm_prog_mem){ ref_out, 256 * 12 };
	{
		struct kllm_prog_batch batch = { .n_tokens = 4, .tokens = tok };

		if (kllm_engine_cpu_run(&pinfo, &bind, &batch, NULL, &perr))
			AB_FAIL(3, "F2: in-process run failed: %s", perr.reason);
	}

	/* on the device */
	wfd = kd_make_file("/tmp/ab-f2-w", 0, 0);
	close(wfd);
	wfd = open("/tmp/ab-f2-w", O_WRONLY | O_TRUNC);
	if (fd < 0 || wfd < 0 || write(wfd, table, sizeof(table)) != sizeof(table))
		AB_FAIL(4, "F2: setup failed");
	close(wfd);
	wfd = open("/tmp/ab-f2-w", O_RDONLY);
	if (kd_import(fd, wfd, 0, sizeof(table), &wbo))
		AB_FAIL(4, "F2: weights import failed");
	close(wfd);
	wb = (struct drm_kllm_bind){ .handle = wbo };
	ret = kj_prog_create(fd, img, size, wbo, 0, &prog, log, sizeof(log));
	if (ret == -EINVAL) {
		printf("vm: abuse: F2: PROG_CREATE refused two ACTIVATIONS buffers: %s\n", log);
		goto done;
	}
	if (ret)
		AB_FAIL(5, "F2: PROG_CREATE: %s (%s)", strerror(-ret), log);
	if (kd_bo_create(fd, 256 * 12, &obo))
		AB_FAIL(6, "F2: BO_CREATE failed");
	dev_out = kj_map(fd, obo, 256 * 12);
	memset(dev_out, 0x77, 256 * 12);
	ob = (struct drm_kllm_bind){ .handle = obo };
	{
		struct drm_kllm_job job = { .prog = prog, .n_tokens = 4, .n_binds = 1,
					    .tokens_ptr = (uintptr_t)tok, .binds_ptr = (uintptr_t)&ob };

		if (kj_submit(fd, &job, &id) || kj_wait(fd, id, 10000000000ll, &status) || status)
			AB_FAIL(7, "F2: the job failed");
	}
	for (int i = 0; i < 256 * 12 / 4; i++)
		n_cc += ((uint32_t *)dev_out)[i] == 0xccccccccu;
	if (memcmp(dev_out, ref_out, 1024))
		AB_FAIL(8, "F2: rows the program wrote to its first ACTIVATIONS buffer came back different");
	if (memcmp(dev_out + 1024, ref_out + 1024, 256 * 8)) {
		uint32_t v = 0;

		for (int i = 256; i < 256 * 12 / 4 && !v; i++)
			v = ((uint32_t *)dev_out)[i];
		AB_FAIL(9, "F2: a SCALE of the larger ACTIVATIONS buffer returned bytes that are not the program's (first non-zero word 0x%08x; %u words 0xcccccccc: slab red zone)",
			v, n_cc);
	}
	munmap(dev_out, 256 * 12);
done:
	(void)wb;
	close(fd);
	unlink("/tmp/ab-f2-w");
	free(img);
	free(ref_out);
	free(ref_big);
	free(ref_small);
	return 0;
}

START_TEST(test_f2_several_activation_buffers)
{
	ab_load("");
	AB_AS_NOBODY(f2_body, NULL);
	ck_assert_int_eq(ab_wait_idle(10000), 0);
	ab_unload("F2");
}
END_TEST

/* ================================================================ F1 */

/*
 * OUTPUT B's tensor is used by no op.  A job binds B to one page although
 * its 64 rows of 4 KiB need 256 KiB: JOB_SUBMIT must refuse it, run
 * whole, in chunks and fused.  Jobs are submitted while the engine is
 * paused, so a driver that accepts them does not run them here.  A job
 * that binds B big enough still succeeds, chunked and fused, and writes
 * nothing past its bindings.
 */
static int f1_body(void *arg)
{
	size_t size;
	uint8_t *img = f1_prog(&size);
	const uint64_t b_need = 4096ull * F1_MB;
	struct drm_kllm_bind binds[2];
	struct drm_kllm_job job;
	uint32_t prog1, prog2, a1, a2, small1, small2, big1, big2;
	uint8_t *bigmap1, *bigmap2;
	int fd1 = kd_open(), fd2 = kd_open(), bad = 0, ret, status;
	uint64_t id1 = 0, id2 = 0, idx = 0;

	(void)arg;
	if (fd1 < 0 || fd2 < 0 || ab_prog_create(fd1, img, size, &prog1) ||
	    ab_prog_create(fd2, img, size, &prog2))
		AB_FAIL(2, "F1: setup failed");
	if (kd_bo_create(fd1, 256ull * F1_MB, &a1) || kd_bo_create(fd2, 256ull * F1_MB, &a2) ||
	    kd_bo_create(fd1, 4096, &small1) || kd_bo_create(fd2, 4096, &small2) ||
	    kd_bo_create(fd1, b_need + 4096, &big1) || kd_bo_create(fd2, b_need + 4096, &big2))
		AB_FAIL(2, "F1: BO_CREATE failed");
	bigmap1 = kj_map(fd1, big1, b_need + 4096);
	bigmap2 = kj_map(fd2, big2, b_need + 4096);

	/* (1) whole: 2 tokens, B needs 8 KiB, bound to 4 KiB; chunking off */
	ab_root_write(AB_PARAM "chunk_tokens", "0\n");
	ab_root_write(AB_PARAM "fuse", "N\n");
	ab_root_write(AB_DEBUGFS "pause", "1\n");
	job = f1_job(prog1, 2, binds, a1, small1);
	ret = kj_submit(fd1, &job, &idx);
	if (ret != -EINVAL) {
		printf("vm: abuse: F1: whole job, unused OUTPUT tensor past its 4 KiB binding: JOB_SUBMIT %s, want -EINVAL\n",
		       ret ? strerror(-ret) : "accepted it");
		bad++;
	}
	/* (2) chunked: 64 tokens in chunks of 8 */
	ab_root_write(AB_PARAM "chunk_tokens", "8\n");
	job = f1_job(prog1, F1_MB, binds, a1, small1);
	ret = kj_submit(fd1, &job, &idx);
	if (ret != -EINVAL) {
		printf("vm: abuse: F1: chunked job (64 tokens, chunk_tokens 8), unused OUTPUT tensor needs 256 KiB, bound 4 KiB: JOB_SUBMIT %s, want -EINVAL\n",
		       ret ? strerror(-ret) : "accepted it");
		bad++;
	}
	/* (3) fused: a good job of file 2 and a bad one of file 1 */
	ab_root_write(AB_PARAM "chunk_tokens", "0\n");
	ab_root_write(AB_PARAM "fuse", "Y\n");
	job = f1_job(prog2, 2, binds, a2, big2);
	ret = kj_submit(fd2, &job, &id2);
	if (ret)
		AB_FAIL(3, "F1: a good job of the second file: %s", strerror(-ret));
	job = f1_job(prog1, 2, binds, a1, small1);
	ret = kj_submit(fd1, &job, &idx);
	if (ret != -EINVAL) {
		printf("vm: abuse: F1: fused job (two files), unused OUTPUT tensor past its 4 KiB binding: JOB_SUBMIT %s, want -EINVAL\n",
		       ret ? strerror(-ret) : "accepted it");
		bad++;
	}
	if (bad) {
		/* do not let the accepted ones run: closing the file cancels them */
		close(fd1);
		close(fd2);
		ab_root_write(AB_DEBUGFS "pause", "0\n");
		AB_FAIL(4, "F1: %d of 3 jobs with an unused OUTPUT tensor past its binding were accepted", bad);
	}
	ab_root_write(AB_DEBUGFS "pause", "0\n");
	if (kj_wait(fd2, id2, 10000000000ll, &status) || status)
		AB_FAIL(5, "F1: the good job failed");

	/* good jobs, B big enough, chunked and fused: nothing past the binding */
	memset(bigmap1 + b_need, 0xa5, 4096);
	memset(bigmap2 + b_need, 0x5a, 4096);
	ab_root_write(AB_PARAM "chunk_tokens", "8\n");
	ab_root_write(AB_DEBUGFS "pause", "1\n");
	job = f1_job(prog1, F1_MB, binds, a1, big1);
	ret = kj_submit(fd1, &job, &id1);
	job = f1_job(prog2, 16, binds, a2, big2);
	ret = ret ? ret : kj_submit(fd2, &job, &id2);
	ab_root_write(AB_DEBUGFS "pause", "0\n");
	if (ret)
		AB_FAIL(6, "F1: jobs with OUTPUT B bound big enough refused: %s", strerror(-ret));
	if (kj_wait(fd1, id1, 20000000000ll, &status) || status ||
	    kj_wait(fd2, id2, 20000000000ll, &status) || status)
		AB_FAIL(7, "F1: jobs with OUTPUT B bound big enough failed");
	for (int i = 0; i < 4096; i++)
		if (bigmap1[b_need + i] != 0xa5 || bigmap2[b_need + i] != 0x5a)
			AB_FAIL(8, "F1: bytes past OUTPUT B's binding were written (offset +%d)", i);
	munmap(bigmap1, b_need + 4096);
	munmap(bigmap2, b_need + 4096);
	close(fd1);
	close(fd2);
	free(img);
	return 0;
}

START_TEST(test_f1_unused_output_tensor_oob)
{
	ab_load("");
	AB_AS_NOBODY(f1_body, NULL);	/* debugfs pause and parameters: through root */
	kj_write_file(AB_DEBUGFS "pause", "0\n");
	ck_assert_int_eq(ab_wait_idle(10000), 0);
	ab_unload("F1");
}
END_TEST

/* ================================================================ F9 */

#define F9_WORKERS 2
#define F9_ROUNDS 60
#define F9_CMDS 4

static int f9_worker(void *arg)
{
	struct kj j;
	struct kj_batch b;
	struct drm_kllm_job job;
	int w = *(int *)arg, fails = 0;

	kj_setup(&j, 90 + (uint64_t)w);
	kj_batch_seq(&b, 0, 0, 4, (uint32_t)w);
	job = kj_job(&j, &b);
	for (int i = 0; i < F9_ROUNDS; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct io_uring ring;
			struct io_uring_sqe *sqe;

			if (io_uring_queue_init(8, &ring, KLLM_RING_SETUP_FLAGS))
				_exit(2);
			for (int k = 0; k < F9_CMDS; k++) {
				sqe = io_uring_get_sqe(&ring);
				kj_prep_uring(sqe, j.fd, &job, (uint64_t)k);
				if ((i + k) % 4)	/* issued from io-wq: races the exit */
					sqe->flags |= IOSQE_ASYNC;
			}
			io_uring_submit(&ring);
			if (i % 3 == 0)
				io_uring_queue_exit(&ring);	/* ring torn down first */
			_exit(0);	/* ring exit with commands in flight */
		}
		if (pid < 0 || ab_wait_child(pid) != 0)
			fails++;
	}
	kj_teardown(&j);
	return fails ? 3 : 0;
}

START_TEST(test_f9_cancel_before_queue)
{
	struct utsname u;
	struct drm_kllm_get_stats st;
	pid_t pid[F9_WORKERS];
	int arg[F9_WORKERS], r, knob;

	uname(&u);
	ab_load("");
	knob = file_exists(AB_DEBUGFS "delay_queue_us");
	if (knob)
		kj_write_file(AB_DEBUGFS "delay_queue_us", "300\n");
	printf("vm: abuse: F9: kernel %s (%s cancel path); %s\n", u.release,
	       strncmp(u.release, "6.1.", 4) ? "6.7+" : "pre-6.7",
	       knob ? "debugfs delay_queue_us 300" : "no debugfs delay_queue_us: the natural window only");
	for (int i = 0; i < F9_WORKERS; i++) {
		arg[i] = i;
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0)
			_exit(vm_as_nobody(f9_worker, &arg[i]) == 0 ? 0 : 1);
	}
	for (int i = 0; i < F9_WORKERS; i++) {
		r = ab_wait_child(pid[i]);
		ck_assert_msg(r == 0, "F9: worker %d: %d", i, r);
	}
	if (knob)
		kj_write_file(AB_DEBUGFS "delay_queue_us", "0\n");
	r = ab_wait_idle(20000);
	st = ab_stats();
	printf("vm: abuse: F9: jobs submitted %llu completed %llu failed %llu in flight %llu\n",
	       (unsigned long long)st.jobs_submitted, (unsigned long long)st.jobs_completed,
	       (unsigned long long)st.jobs_failed, (unsigned long long)st.jobs_in_flight);
	ab_assert_kmsg_clean("F9");
	ck_assert_msg(r == 0, "F9: %llu jobs still in flight 20 s after every ring was gone",
		      (unsigned long long)st.jobs_in_flight);
	ck_assert_msg(st.jobs_submitted == st.jobs_completed + st.jobs_failed,
		      "F9: jobs not accounted: submitted %llu != completed %llu + failed %llu",
		      (unsigned long long)st.jobs_submitted, (unsigned long long)st.jobs_completed,
		      (unsigned long long)st.jobs_failed);
	ab_unload("F9");
}
END_TEST

/* ================================================================ F3 */

#define F3_W "/tmp/ab-f3-weights"

static int f3_body(void *arg)
{
	static struct kj j1, j2;
	struct kj_batch b1, b2, b3;
	struct drm_kllm_job job;
	struct toy_model m;
	uint64_t id1 = 0, id2 = 0, id3 = 0;
	int r1, r2, r3, status = 0, fd, bad = 0;

	(void)arg;
	tm_build(&m, 33);
	fd = open(F3_W, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, m.weights, m.wsize) != (ssize_t)m.wsize)
		AB_FAIL(64, "F3: cannot write %s", F3_W);
	close(fd);
	tm_free(&m);
	kj_setup_from(&j1, 33, F3_W, 0);
	kj_setup_from(&j2, 33, F3_W, 0);	/* same pin, same program: fusable */
	ab_root_write(AB_PARAM "chunk_tokens", "2\n");
	ab_root_write(AB_PARAM "fuse", "Y\n");
	ab_root_write(AB_DEBUGFS "pause", "1\n");
	/* whole-size job, every output row 0: 8 outputs in its first chunk */
	kj_batch_seq(&b1, 0, 0, TM_MB, 1);
	for (uint32_t i = 0; i < b1.n_out; i++)
		b1.out[i] = 0;
	job = kj_job(&j1, &b1);
	r1 = kj_submit(j1.fd, &job, &id1);
	/* a small job {0, 0}: not chunked */
	kj_batch_seq(&b3, 1, 0, 2, 5);
	b3.out[1] = 0;
	job = kj_job(&j1, &b3);
	r3 = kj_submit(j1.fd, &job, &id3);
	/* another file's good job: fused with the first one's chunks */
	kj_batch_seq(&b2, 0, 0, 6, 9);
	job = kj_job(&j2, &b2);
	r2 = kj_submit(j2.fd, &job, &id2);
	printf("vm: abuse: F3: out_rows all 0 (8 tokens, chunk_tokens 2, fused with another file): %s; {0,0} (2 tokens): %s\n",
	       r1 ? strerror(-r1) : "accepted", r3 ? strerror(-r3) : "accepted");
	ab_root_write(AB_DEBUGFS "pause", "0\n");
	/* a driver that accepted them runs the fused pass now */
	if (!r1)
		kj_wait(j1.fd, id1, 20000000000ll, &status);
	if (!r3)
		kj_wait(j1.fd, id3, 20000000000ll, &status);
	status = 0;
	r2 = r2 ? r2 : kj_wait(j2.fd, id2, 20000000000ll, &status);
	kj_teardown(&j1);
	kj_teardown(&j2);
	unlink(F3_W);
	if (r1 != -EINVAL) {
		printf("vm: abuse: F3: a job whose output rows repeat (all 0, chunked and fused) was %s, want -EINVAL\n",
		       r1 ? strerror(-r1) : "accepted");
		bad |= 1;
	}
	if (r3 != -EINVAL) {
		printf("vm: abuse: F3: a job with output rows {0, 0} was %s, want -EINVAL\n",
		       r3 ? strerror(-r3) : "accepted");
		bad |= 2;
	}
	if (r2 || status) {
		printf("vm: abuse: F3: another file's good job, run with them, failed: %d status %d\n", r2, status);
		bad |= 4;
	}
	return bad;
}

START_TEST(test_f3_duplicate_output_rows)
{
	int r;

	ab_load("");
	r = ab_as_nobody(f3_body, NULL);
	kj_write_file(AB_DEBUGFS "pause", "0\n");
	ck_assert_int_eq(ab_wait_idle(10000), 0);	/* the program's staging freed */
	ab_assert_kmsg_clean("F3");
	ck_assert_msg(!(r & 1) && !(r & 2), "F3: jobs with repeated output rows accepted (%s%s), want -EINVAL",
		      r & 1 ? "all rows 0, chunked and fused" : "", r & 2 ? "; {0, 0}" : "");
	ck_assert_msg(r == 0, "F3: f3_body returned %d (output above)", r);
	ab_unload("F3");
}
END_TEST

/* ================================================================ F4 */

/*
 * A program with no OUT_ROWS input, and a job asking for one output row.
 * If the driver accepts it and its engine dies, a holder process in a
 * session of its own keeps the file open (its release would spin on the
 * dead engine's lock), and the test reports.
 */
static int f4_body(void *arg)
{
	size_t size;
	uint8_t *img = f1_prog(&size);
	struct drm_kllm_bind binds[2];
	struct drm_kllm_job job;
	uint32_t prog, a, bo;
	uint64_t id;
	int fd = kd_open(), ret, status = 1, *accepted = arg;
	int kfd = vm_kmsg_open();

	if (fd < 0 || ab_prog_create(fd, img, size, &prog) ||
	    kd_bo_create(fd, 256ull * F1_MB, &a) || kd_bo_create(fd, 4096ull * F1_MB, &bo))
		AB_FAIL(2, "F4: setup failed");
	job = f1_job(prog, 2, binds, a, bo);
	job.n_outputs = 1;	/* no OUT_ROWS input: out_rows_ptr must be 0 */
	ret = kj_submit(fd, &job, &id);
	if (!ret) {
		char line[512] = "";

		*accepted = 1;
		/* give the engine time to pick it */
		for (int i = 0; i < 30; i++) {
			usleep(100000);
			if (vm_kmsg_find(kfd, "BUG", line, sizeof(line)) ||
			    vm_kmsg_find(kfd, "Oops", line, sizeof(line)))
				break;
		}
		if (fork() == 0) {	/* the holder */
			close(ab_req_fd[1]);	/* ab_as_nobody() must see EOF */
			close(ab_rep_fd[0]);
			setsid();
			for (;;)
				pause();
		}
		AB_FAIL(3, "F4: JOB_SUBMIT accepted n_outputs 1 for a program without an OUT_ROWS input (want -EINVAL)%s%s",
			line[0] ? "; engine: " : "", line);
	}
	if (ret != -EINVAL)
		AB_FAIL(4, "F4: JOB_SUBMIT: %s, want -EINVAL", strerror(-ret));
	/* the engine still serves a normal job */
	job.n_outputs = 0;
	ret = kj_submit(fd, &job, &id);
	if (ret)
		AB_FAIL(5, "F4: a normal job after it: %s", strerror(-ret));
	ret = kj_wait(fd, id, 10000000000ll, &status);
	if (ret || status)
		AB_FAIL(6, "F4: a normal job after it did not complete: wait %d status %d", ret, status);
	close(fd);
	close(kfd);
	free(img);
	return 0;
}

START_TEST(test_f4_outputs_without_out_rows)
{
	int accepted = 0, r;
	pid_t pid;

	ab_load("");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (vm_drop_privileges())
			_exit(99);
		_exit(f4_body(&accepted));
	}
	r = ab_wait_child(pid);
	if (r == 3) {
		char first[512] = "";

		ab_kmsg_bad(first, sizeof(first));
		ck_abort_msg("F4: n_outputs without OUT_ROWS accepted; engine state unknown (kllm left loaded)%s%s",
			     first[0] ? "; kernel: " : "", first);
	}
	ck_assert_msg(r == 0, "F4: see the output above (%d)", r);
	ck_assert_int_eq(ab_wait_idle(10000), 0);
	ab_unload("F4");
}
END_TEST

/*
 * One case per finding (CK_RUN_CASE=f4 runs one), least destructive first;
 * F5 and F7 are in guest_abuse_fpu.c.
 */
static Suite *abuse_suite(void)
{
	Suite *s = suite_create("guest_abuse");

	ab_add(s, "f10", test_f10_job_timeout_above_module_limit);
	ab_add(s, "f8", test_f8_quota_hostage);
	ab_add(s, "f6", test_f6_job_memory_in_cgroup);
	ab_add(s, "f2", test_f2_several_activation_buffers);
	ab_add(s, "f1", test_f1_unused_output_tensor_oob);
	ab_add(s, "f9", test_f9_cancel_before_queue);
	ab_add(s, "f3", test_f3_duplicate_output_rows);
	ab_add(s, "f4", test_f4_outputs_without_out_rows);
	return s;
}

int main(void)
{
	int failed;

	/* children _exit(): every line out as it is printed */
	setvbuf(stdout, NULL, _IOLBF, 0);
	failed = kt_run(abuse_suite());

	if (vm_module_loaded(KLLM) && vm_unload(KLLM)) {
		printf("vm: guest_abuse: kllm still loaded after the suite\n");
		failed = 1;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
