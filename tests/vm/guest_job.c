// SPDX-License-Identifier: MIT
/*
 * guest_job.c - programs and jobs on kllm.ko (uapi 1.1): the toy
 * transformer of tests/unit/kt_prog.h runs through the ioctls and through
 * io_uring, bitwise equal to the in-process engine with the same kernels/
 * path; every new ioctl and the uring command get the bad-input checklist
 * (ERRNO exact, outputs untouched, counters unchanged); inputs rewritten
 * by another thread while jobs run; processes killed with jobs parked, 50
 * times; rings torn down with commands parked; the longest FPU section.
 *
 * Loads the module itself with simd=<path> and selects the same path in
 * process, so both homes run the same code.
 */
#include "job_util.h"

#include <pthread.h>
#include <signal.h>

#define KLLM "kllm"
#define KJ_OUT_PAGES ((KJ_OUT_BYTES + 4095) & ~4095ull)	/* the BO's real size */

static char g_simd[16];
static struct drm_kllm_get_stats g_base;

static void setup(void)
{
	int fd = kd_open();

	ck_assert_msg(fd >= 0, "open kllm node: %s", strerror(-fd));
	g_base = kd_stats(fd);
	close(fd);
}

/* After each test: nothing pinned, no program, no job left. */
static void teardown(void)
{
	struct drm_kllm_get_stats st;
	int fd;

	ck_assert_msg(kd_wait_global(&g_base, 5000) == 0,
		      "module-wide counters did not return to baseline");
	for (int waited = 0;; waited += 10) {
		fd = kd_open();
		ck_assert_int_ge(fd, 0);
		st = kd_stats(fd);
		close(fd);
		if ((!st.programs && !st.jobs_in_flight) || waited > 5000)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(st.programs, 0);
	ck_assert_uint_eq(st.jobs_in_flight, 0);
}

/* ------------------------------------------------------------ programs */

START_TEST(test_prog_create)
{
	struct kj j;
	struct drm_kllm_get_stats st;

	kj_setup(&j, 1);
	st = kd_stats(j.fd);
	ck_assert_uint_eq(st.programs, g_base.programs + 1);
	ck_assert_int_eq(kj_prog_destroy(j.fd, j.prog), 0);
	ck_assert_int_eq(kj_prog_destroy(j.fd, j.prog), -ENOENT);
	st = kd_stats(j.fd);
	ck_assert_uint_eq(st.programs, g_base.programs);
	kj_teardown(&j);
}
END_TEST

START_TEST(test_prog_create_bad)
{
	struct kj j;
	struct drm_kllm_prog_create a;
	struct drm_kllm_bind bind;
	struct drm_kllm_get_stats before;
	uint8_t *bad;
	char log[128];
	uint32_t h, small, other;
	int fd2;

	kj_setup(&j, 2);
	before = kd_stats(j.fd);
	bind = (struct drm_kllm_bind){ .handle = j.w_bo };
#define PC_INIT() (a = (struct drm_kllm_prog_create){ .prog_ptr = (uintptr_t)j.m.img, \
	.prog_size = (uint32_t)j.m.size, .binds_ptr = (uintptr_t)&bind, .n_binds = 1, \
	.handle = KD_SENTINEL })
#define PC_FAILS(err) do { \
	ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_PROG_CREATE, &a), err); \
	ck_assert_uint_eq(a.handle, KD_SENTINEL); \
	ck_assert_uint_eq(a.act_bytes, 0); \
} while (0)
	PC_INIT(); a.flags = 1; PC_FAILS(-EINVAL);
	PC_INIT(); a.flags = 1u << 31; PC_FAILS(-EINVAL);
	PC_INIT(); a.pad = 1; PC_FAILS(-EINVAL);
	PC_INIT(); a.reserved[1] = 1; PC_FAILS(-EINVAL);
	PC_INIT(); a.prog_size = 0; PC_FAILS(-EINVAL);
	PC_INIT(); a.prog_size = KLLM_PROG_MAX_SIZE + 1; PC_FAILS(-EINVAL);
	PC_INIT(); a.prog_size = (uint32_t)j.m.size - 1; PC_FAILS(-EINVAL);
	PC_INIT(); a.prog_ptr = 0; PC_FAILS(-EFAULT);
	PC_INIT(); a.prog_ptr = 8; PC_FAILS(-EFAULT);
	PC_INIT(); a.binds_ptr = 0; PC_FAILS(-EFAULT);
	PC_INIT(); a.n_binds = 0; PC_FAILS(-EINVAL);
	PC_INIT(); a.n_binds = KLLM_PROG_MAX_BUFFERS + 1; PC_FAILS(-EINVAL);
	/* bindings: unknown, zero, misaligned, flagged, too small */
	PC_INIT(); bind.handle = 9999; PC_FAILS(-ENOENT);
	PC_INIT(); bind.handle = 0; PC_FAILS(-EINVAL);
	PC_INIT(); bind.handle = j.w_bo; bind.offset = 8; PC_FAILS(-EINVAL);
	PC_INIT(); bind.offset = 32; PC_FAILS(-EINVAL);	/* wsize - 32 < declared */
	PC_INIT(); bind.offset = ~0ull & ~31ull; PC_FAILS(-EINVAL);
	PC_INIT(); bind.offset = 0; bind.flags = 1; PC_FAILS(-EINVAL);
	bind.flags = 0;
	ck_assert_int_eq(kd_bo_create(j.fd, 4096, &small), 0);
	PC_INIT(); bind.handle = small; PC_FAILS(-EINVAL);
	/* another file's buffer */
	fd2 = kd_open();
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(kd_bo_create(fd2, j.m.wsize, &other), 0);
	PC_INIT(); bind.handle = other + 100; PC_FAILS(-ENOENT);
	bind.handle = j.w_bo;
	/* a corrupt image: refused with the validator's reason */
	bad = kt_alloc(j.m.size);
	memcpy(bad, j.m.img, j.m.size);
	kb_opr(bad, 2)->t[0] = 5000;
	memset(log, 'x', sizeof(log));
	ck_assert_int_eq(kj_prog_create(j.fd, bad, j.m.size, j.w_bo, 0, &h, log, sizeof(log)),
			 -EINVAL);
	ck_assert_msg(memchr(log, 0, sizeof(log)) && strstr(log, "op 2"),
		      "log: %.*s", (int)sizeof(log), log);
	kb_hdr(bad)->magic ^= 1;
	ck_assert_int_eq(kj_prog_create(j.fd, bad, j.m.size, j.w_bo, 0, &h, log, sizeof(log)),
			 -EINVAL);
	ck_assert_int_eq(kj_prog_create(j.fd, bad, j.m.size, j.w_bo, 0, &h, (char *)8, 64),
			 -EFAULT);
	free(bad);
	/* nothing was created */
	ck_assert_uint_eq(kd_stats(j.fd).programs, before.programs);
	/* destroy: unknown, flags, reserved */
	ck_assert_int_eq(kj_prog_destroy(j.fd, 0), -ENOENT);
	ck_assert_int_eq(kj_prog_destroy(j.fd, j.prog + 1), -ENOENT);
	ck_assert_int_eq(kj_prog_destroy(fd2, j.prog), -ENOENT);
	{
		struct drm_kllm_prog_destroy d = { .handle = j.prog, .flags = 1 };

		ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_PROG_DESTROY, &d), -EINVAL);
		d.flags = 0;
		d.reserved[0] = 1;
		ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_PROG_DESTROY, &d), -EINVAL);
	}
	close(fd2);
	kj_teardown(&j);
#undef PC_INIT
#undef PC_FAILS
}
END_TEST

/* Flip, overwrite or set bytes of a valid image (mostly its records). */
static void mutate(uint8_t *img, size_t size, struct kt_rng *r)
{
	static const uint32_t vals[] = { 0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 63, 64,
		TM_MB, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0xfffffffeu };
	uint32_t n = 1 + (uint32_t)(kt_rng_u64(r) % 3);

	for (uint32_t i = 0; i < n; i++) {
		uint64_t at = kt_rng_u64(r) % size, v = kt_rng_u64(r);

		if (v % 4)
			at = sizeof(struct kllm_prog_header) +
			     at % (size - sizeof(struct kllm_prog_header));
		v >>= 2;
		if (v % 3 == 0) {
			img[at] ^= (uint8_t)(1u << ((v >> 8) % 8));
		} else if (v % 3 == 1) {
			at &= ~3ull;
			if (at + 4 <= size)
				memcpy(img + at, &vals[(v >> 8) % (sizeof(vals) / 4)], 4);
		} else {
			img[at] = (uint8_t)(v >> 8);
		}
	}
}

/* Run one job on an accepted mutant: whatever it says, nothing breaks. */
static void run_mutant_job(struct kj *j, uint32_t prog, const struct kllm_prog_info *pi,
			   uint32_t scratch_bo)
{
	struct drm_kllm_bind binds[KLLM_PROG_MAX_BUFFERS + 2 * KLLM_PROG_MAX_BUFFERS];
	struct kj_batch b;
	struct drm_kllm_job job;
	uint32_t n_out = 0, n = 0;
	uint64_t id;
	int status;

	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		struct kllm_prog_buffer rec;

		memcpy(&rec, pi->base + pi->buffers_off + (uint64_t)id * pi->buffer_size,
		       sizeof(rec));
		n_out += rec.kind == KLLM_PROG_BUF_OUTPUT;
	}
	for (uint32_t i = 0; i < n_out + 2 * pi->n_kv; i++)
		binds[n++] = (struct drm_kllm_bind){ .handle = scratch_bo };
	kj_batch_seq(&b, 1, 0, pi->max_batch < TM_MB ? pi->max_batch : TM_MB, 9);
	job = (struct drm_kllm_job){
		.prog = prog, .n_tokens = b.n, .n_outputs = b.n_out, .n_seqs = 2,
		.n_binds = n,
		.tokens_ptr = pi->inputs & (1u << KLLM_PROG_IN_TOKENS) ? (uintptr_t)b.tok : 0,
		.pos_ptr = pi->inputs & (1u << KLLM_PROG_IN_POS) ? (uintptr_t)b.pos : 0,
		.seq_ptr = pi->inputs & (1u << KLLM_PROG_IN_SEQ) ? (uintptr_t)b.seq : 0,
		.out_rows_ptr = pi->inputs & (1u << KLLM_PROG_IN_OUT_ROWS) ? (uintptr_t)b.out : 0,
		.binds_ptr = (uintptr_t)binds,
	};
	if (kj_submit(j->fd, &job, &id))
		return;		/* refused at submission: fine */
	ck_assert_int_eq(kj_wait(j->fd, id, 30000000000ll, &status), 0);
	ck_assert_int_le(status, 0);
}

/*
 * The driver runs the runtime's validator on its own copy: for hundreds
 * of mutants of a valid image its verdict is the in-process verdict, down
 * to the message; accepted mutants are created and run one job.
 */
START_TEST(test_prog_mutants_same_verdict)
{
	struct kj j;
	struct kt_rng r;
	uint8_t *img;
	uint32_t h, scratch_bo, accepted = 0, ran = 0;
	const int rounds = 400;

	kj_setup(&j, 12);
	ck_assert_int_eq(kd_bo_create(j.fd, 1 << 20, &scratch_bo), 0);
	kt_rng_seed(&r, 1234);
	img = kt_alloc(j.m.size);
	for (int i = 0; i < rounds; i++) {
		struct kllm_prog_info pi;
		struct kllm_prog_err err;
		char want[256], got[256];
		int ret, user;

		memcpy(img, j.m.img, j.m.size);
		mutate(img, j.m.size, &r);
		user = kllm_prog_check(img, j.m.size, &pi, &err);
		memset(got, 0, sizeof(got));
		ret = kj_prog_create(j.fd, img, j.m.size, j.w_bo, 0, &h, got, sizeof(got));
		if (user) {
			kllm_prog_err_format(&err, want, sizeof(want));
			ck_assert_msg(ret == -EINVAL && !strcmp(got, want),
				      "mutant %d: in-process \"%s\", driver %d \"%s\"", i, want,
				      ret, got);
			continue;
		}
		accepted++;
		/* bindings checked after the validator: sizes may not fit */
		ck_assert_msg(ret == 0 || ((ret == -EINVAL || ret == -E2BIG) && !got[0]),
			      "mutant %d: accepted in process, driver %d \"%s\"", i, ret, got);
		if (ret)
			continue;
		run_mutant_job(&j, h, &pi, scratch_bo);
		ran++;
		ck_assert_int_eq(kj_prog_destroy(j.fd, h), 0);
	}
	printf("vm: guest_job: %d mutants: %u accepted by both homes, %u created and run\n",
	       rounds, accepted, ran);
	free(img);
	kj_teardown(&j);
}
END_TEST

/* ------------------------------------------------------------ results */

/* A prompt on sequence 0, then decode steps, ioctl path vs in-process. */
START_TEST(test_job_matches_cpu)
{
	struct kj j;
	struct kj_ref r;
	struct kj_batch b;

	kj_setup(&j, 3);
	kj_ref_init(&r, &j);
	kj_batch_seq(&b, 0, 0, 5, 11);
	ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
	kj_ref_run(&r, &j, &b);
	kj_assert_same(&j, &r, b.n_out);
	for (uint32_t p = 5; p < 12; p++) {
		kj_batch_seq(&b, 0, p, 1, 3 * p);
		ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
		kj_ref_run(&r, &j, &b);
		kj_assert_same(&j, &r, 1);
	}
	kj_ref_free(&r);
	kj_teardown(&j);
}
END_TEST

/* The same steps through io_uring, several jobs per io_uring_enter. */
START_TEST(test_job_uring_matches_cpu)
{
	struct kj j;
	struct kj_ref r;
	struct kj_batch b[4];
	struct drm_kllm_job jobs[4];
	struct io_uring ring;
	struct drm_kllm_get_stats st0, st1;
	int res[4];

	kj_setup(&j, 4);
	kj_ref_init(&r, &j);
	ck_assert_int_eq(io_uring_queue_init(16, &ring, KLLM_RING_SETUP_FLAGS), 0);
	st0 = kd_stats(j.fd);
	/* four sequences' prompts in one enter: jobs of a file run in order */
	for (int s = 0; s < 4; s++) {
		kj_batch_seq(&b[s], (uint32_t)s, 0, 3 + (uint32_t)s, 5 + 9 * (uint32_t)s);
		b[s].n_out = 1;
		b[s].out[0] = (int32_t)b[s].n - 1;
		jobs[s] = kj_job(&j, &b[s]);
	}
	kj_run_uring(&ring, j.fd, jobs, 4, res);
	for (int s = 0; s < 4; s++) {
		ck_assert_int_eq(res[s], 0);
		kj_ref_run(&r, &j, &b[s]);
	}
	/* outputs hold the last job's; every cache must match */
	kj_assert_same(&j, &r, 1);
	st1 = kd_stats(j.fd);
	ck_assert_uint_eq(st1.jobs_via_uring, st0.jobs_via_uring + 4);
	ck_assert_uint_eq(st1.jobs_completed, st0.jobs_completed + 4);
	io_uring_queue_exit(&ring);
	kj_ref_free(&r);
	kj_teardown(&j);
}
END_TEST

/* Two sequences in one job give what they give one at a time. */
START_TEST(test_job_batched_equals_unbatched)
{
	struct kj j1, j2;
	struct kj_batch a, b, ab;

	kj_setup(&j1, 5);
	kj_setup(&j2, 5);
	kj_batch_seq(&a, 0, 0, 3, 21);
	kj_batch_seq(&b, 1, 0, 4, 40);
	ck_assert_int_eq(kj_run_ioctl(&j1, &a), 0);
	ck_assert_int_eq(kj_run_ioctl(&j1, &b), 0);
	ab = a;
	for (uint32_t i = 0; i < b.n; i++) {
		ab.tok[a.n + i] = b.tok[i];
		ab.pos[a.n + i] = b.pos[i];
		ab.seq[a.n + i] = b.seq[i];
	}
	ab.n = a.n + b.n;
	ab.n_out = 2;
	ab.out[0] = 2;			/* last of a */
	ab.out[1] = (int32_t)ab.n - 1;	/* last of b */
	ck_assert_int_eq(kj_run_ioctl(&j2, &ab), 0);
	ck_assert(!memcmp(j1.kv[0], j2.kv[0], j1.m.kv_bytes));
	ck_assert(!memcmp(j1.kv[1], j2.kv[1], j1.m.kv_bytes));
	/* j1's outputs are b's: its last row equals ab's second */
	ck_assert(!memcmp(j1.out + 4ull * TM_V * (b.n - 1), j2.out + 4ull * TM_V, 4ull * TM_V));
	kj_teardown(&j1);
	kj_teardown(&j2);
}
END_TEST

/* ------------------------------------------------------------ bad jobs */

START_TEST(test_job_submit_bad)
{
	struct kj j;
	struct kj_batch b;
	struct drm_kllm_job job;
	struct drm_kllm_get_stats before;
	uint64_t id;
	uint32_t small, wro;
	int fd2;

	kj_setup(&j, 6);
	kj_batch_seq(&b, 0, 0, 2, 1);
	before = kd_stats(j.fd);
#define JB(field, val, err) do { \
	job = kj_job(&j, &b); job.field = val; \
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), err); \
} while (0)
	JB(flags, 4, -EINVAL);		/* past the priority bits */
	JB(flags, 1u << 31, -EINVAL);
	JB(pad, 1, -EINVAL);
	JB(reserved, 1, -EINVAL);
	JB(prog, 0, -ENOENT);
	JB(prog, j.prog + 1, -ENOENT);
	JB(n_tokens, 0, -EINVAL);
	JB(n_tokens, TM_MB + 1, -EINVAL);
	JB(n_tokens, ~0u, -EINVAL);
	JB(n_outputs, 3, -EINVAL);
	JB(n_seqs, KLLM_PROG_MAX_SEQS + 1, -EINVAL);
	JB(n_seqs, 2, -EINVAL);		/* n_binds no longer matches */
	JB(n_binds, 3 + KJ_SEQS - 1, -EINVAL);
	JB(n_binds, ~0u, -EINVAL);
	JB(tokens_ptr, 0, -EFAULT);
	JB(pos_ptr, 8, -EFAULT);
	JB(seq_ptr, ~0ull, -EFAULT);
	JB(out_rows_ptr, 0, -EFAULT);
	JB(binds_ptr, 0, -EFAULT);
	/* bindings */
	ck_assert_int_eq(kd_bo_create(j.fd, 4096, &small), 0);
	wro = j.w_bo;	/* a read-only file pin */
#define BB(i, h, off, err) do { \
	job = kj_job(&j, &b); b.binds[i].handle = h; b.binds[i].offset = off; \
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), err); \
} while (0)
	BB(0, 0, 0, -EINVAL);			/* outputs are always bound */
	BB(0, 9999, 0, -ENOENT);
	BB(0, wro, 0, -EINVAL);			/* read-only for an output */
	BB(3, wro, 0, -EINVAL);			/* ... or a KV cache */
	BB(0, j.out_bo, 4, -EINVAL);		/* misaligned */
	BB(0, j.out_bo, KJ_OUT_PAGES, -EINVAL);	/* past the end (whole pages) */
	BB(0, j.out_bo, ~0ull & ~31ull, -EINVAL);
	BB(2, j.out_bo, KJ_OUT_PAGES - 32, -EINVAL);	/* too small for 2 rows */
	BB(3, small, 4096 - 32, -EINVAL);	/* KV smaller than declared */
	job = kj_job(&j, &b);
	b.binds[1].flags = 1;
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), -EINVAL);
	/* another file's program handle */
	fd2 = kd_open();
	ck_assert_int_ge(fd2, 0);
	job = kj_job(&j, &b);
	ck_assert_int_eq(kj_submit(fd2, &job, &id), -ENOENT);
	close(fd2);
	/* nothing was queued */
	ck_assert_uint_eq(kd_stats(j.fd).jobs_submitted, before.jobs_submitted);
	/* an unbound sequence that a token uses: its rows are skipped */
	job = kj_job(&j, &b);
	b.binds[3].handle = 0;
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), 0);
	{
		int status;

		ck_assert_int_eq(kj_wait(j.fd, id, 10000000000ll, &status), 0);
		ck_assert_int_eq(status, 0);
	}
	kj_teardown(&j);
#undef JB
#undef BB
}
END_TEST

START_TEST(test_job_wait_bad)
{
	struct kj j;
	struct kj_batch b;
	struct drm_kllm_job job;
	struct drm_kllm_job_wait w;
	uint64_t id;
	int status;

	kj_setup(&j, 7);
	kj_batch_seq(&b, 0, 0, 2, 1);
	job = kj_job(&j, &b);
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), 0);
	ck_assert_int_eq(kj_wait(j.fd, 0, 0, &status), -ENOENT);
	ck_assert_int_eq(kj_wait(j.fd, id + 1, 0, &status), -ENOENT);
	ck_assert_int_eq(kj_wait(j.fd, 1ull << 40, 0, &status), -ENOENT);
	ck_assert_int_eq(kj_wait(j.fd, id, -1, &status), -EINVAL);
	w = (struct drm_kllm_job_wait){ .id = id, .flags = 1, .status = 12345 };
	ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_JOB_WAIT, &w), -EINVAL);
	w = (struct drm_kllm_job_wait){ .id = id, .reserved = { 0, 1 }, .status = 12345 };
	ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_JOB_WAIT, &w), -EINVAL);
	ck_assert_int_eq(w.status, 12345);
	ck_assert_int_eq(kj_wait(j.fd, id, 10000000000ll, &status), 0);
	ck_assert_int_eq(status, 0);
	ck_assert_int_eq(kj_wait(j.fd, id, 0, &status), -ENOENT);	/* reaped */
	kj_teardown(&j);
}
END_TEST

/* io_uring: wrong cmd_op, 64-byte SQEs, reserved fields, bad handles. */
START_TEST(test_uring_bad)
{
	struct kj j;
	struct kj_batch b;
	struct drm_kllm_job jobs[4];
	struct io_uring ring, small;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct drm_kllm_get_stats before;
	int res[4];

	kj_setup(&j, 8);
	kj_batch_seq(&b, 0, 0, 2, 1);
	before = kd_stats(j.fd);
	ck_assert_int_eq(io_uring_queue_init(8, &ring, KLLM_RING_SETUP_FLAGS), 0);
	for (int i = 0; i < 4; i++)
		jobs[i] = kj_job(&j, &b);
	jobs[0].reserved = 1;
	jobs[1].prog = 77;
	jobs[2].n_tokens = TM_MB + 1;
	jobs[3].binds_ptr = 0;
	kj_run_uring(&ring, j.fd, jobs, 4, res);
	ck_assert_int_eq(res[0], -EINVAL);
	ck_assert_int_eq(res[1], -ENOENT);
	ck_assert_int_eq(res[2], -EINVAL);
	ck_assert_int_eq(res[3], -EFAULT);
	/* wrong cmd_op */
	sqe = io_uring_get_sqe(&ring);
	jobs[0] = kj_job(&j, &b);
	kj_prep_uring(sqe, j.fd, &jobs[0], 9);
	sqe->cmd_op = KLLM_URING_CMD_SUBMIT + 1;
	ck_assert_int_eq(io_uring_submit_and_wait(&ring, 1), 1);
	ck_assert_int_eq(io_uring_wait_cqe(&ring, &cqe), 0);
	ck_assert_int_eq(cqe->res, -EINVAL);
	io_uring_cqe_seen(&ring, cqe);
	/* a 64-byte SQE cannot hold a job: the layer will not prepare one, and
	 * the driver refuses one made by hand */
	ck_assert_int_eq(io_uring_queue_init(8, &small, 0), 0);
	ck_assert_int_eq(kllm_ring_queue_job(&small, j.fd, &jobs[0], 0), -EINVAL);
	sqe = io_uring_get_sqe(&small);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, j.fd, NULL, 0, 0);
	sqe->cmd_op = KLLM_URING_CMD_SUBMIT;
	ck_assert_int_eq(io_uring_submit_and_wait(&small, 1), 1);
	ck_assert_int_eq(io_uring_wait_cqe(&small, &cqe), 0);
	ck_assert_int_eq(cqe->res, -EINVAL);
	io_uring_cqe_seen(&small, cqe);
	io_uring_queue_exit(&small);
	ck_assert_uint_eq(kd_stats(j.fd).jobs_submitted, before.jobs_submitted);
	io_uring_queue_exit(&ring);
	kj_teardown(&j);
}
END_TEST

/* ------------------------------------------------------------ TOCTOU */

struct scribble {
	struct kj_batch *b;
	uint8_t *sqes;		/* the victim ring's SQE array (KLLM_SQE_BYTES each) */
	unsigned int n_sqes;
	volatile int stop;
};

/*
 * Rewrite the victim's arrays and, in the victim ring's SQE memory, the
 * job's counts and timeout, endlessly.  Pointers and bindings are left
 * alone: a descriptor pointing at other memory of the caller's own is not
 * an attack, just another job.
 */
static void *scribbler(void *arg)
{
	static const unsigned int words[] = { 2, 3, 4, 18 };	/* n_tokens n_outputs n_seqs timeout */
	struct scribble *s = arg;
	uint32_t x = 12345;

	while (!s->stop) {
		volatile uint32_t *cmd;

		x = x * 1103515245u + 12345u;
		s->b->tok[x % TM_MB] = (int32_t)(x >> 3);
		s->b->pos[(x >> 7) % TM_MB] = (int32_t)(x >> 5) - 1000;
		s->b->seq[(x >> 9) % TM_MB] = (int32_t)(x >> 11) - 2;
		s->b->out[(x >> 13) % TM_MB] = (int32_t)(x >> 2);
		cmd = (volatile uint32_t *)(s->sqes + KLLM_SQE_BYTES * ((x >> 16) % s->n_sqes) +
					    KLLM_SQE_CMD_OFFSET);
		cmd[words[(x >> 24) % 4]] = (x & 0x10) ? x >> 28 : 1;
	}
	return NULL;
}

/*
 * A victim job's inputs and its SQE change under the submission (another
 * thread writes them while io_uring_enter runs and while the engine runs
 * the jobs); an honest job on sequence 0 runs right after it through the
 * ioctl path.  The victim binds sequences 1..3 only: whatever happens to
 * it, sequence 0's cache and the honest job's outputs are exactly the
 * in-process engine's.
 */
START_TEST(test_inputs_rewritten_while_running)
{
	struct kj j;
	struct kj_ref r;
	struct kj_batch good, victim;
	struct drm_kllm_job vjob;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct scribble s = { .b = &victim };
	unsigned int failed = 0;
	pthread_t th;

	kj_setup(&j, 9);
	kj_ref_init(&r, &j);
	ck_assert_int_eq(io_uring_queue_init(8, &ring, KLLM_RING_SETUP_FLAGS), 0);
	s.sqes = (uint8_t *)ring.sq.sqes;
	s.n_sqes = ring.sq.ring_entries;
	kj_batch_seq(&victim, 1, 0, TM_MB, 2);
	ck_assert_int_eq(pthread_create(&th, NULL, scribbler, &s), 0);
	for (uint32_t p = 0; p < 12; p++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		vjob = kj_job(&j, &victim);
		victim.binds[3] = (struct drm_kllm_bind){ 0 };	/* never sequence 0 */
		for (int o = 0; o < 3; o++)	/* its outputs past the honest job's rows */
			victim.binds[o].offset = j.out_off[o] + (o == 1 ? 32 : 4ull * TM_V);
		vjob.n_outputs = 0;
		kj_prep_uring(sqe, j.fd, &vjob, 1);
		ck_assert_int_eq(io_uring_submit(&ring), 1);

		kj_batch_seq(&good, 0, p, 1, 5 * p + 1);
		ck_assert_int_eq(kj_run_ioctl(&j, &good), 0);
		kj_ref_run(&r, &j, &good);
		ck_assert_msg(!memcmp(j.kv[0], r.kv[0], j.m.kv_bytes),
			      "sequence 0's cache differs at step %u", p);
		ck_assert_msg(!memcmp(j.out, r.out, 4ull * TM_V), "logits differ at step %u", p);

		ck_assert_int_eq(io_uring_wait_cqe(&ring, &cqe), 0);
		ck_assert_int_le(cqe->res, 0);
		failed += cqe->res < 0;
		io_uring_cqe_seen(&ring, cqe);
	}
	s.stop = 1;
	pthread_join(th, NULL);
	printf("vm: guest_job: %u of 12 rewritten victim jobs refused or failed\n", failed);
	io_uring_queue_exit(&ring);
	kj_ref_free(&r);
	kj_teardown(&j);
}
END_TEST

/* ------------------------------------------------------------ faults */

/* Child: upload the model, park @n jobs through io_uring (or the ioctl),
 * tell the parent, then wait to be killed or (@exit_early) tear the ring
 * down and exit at once. */
static void child_park_jobs(int ready_fd, int n, int use_uring, int exit_early)
{
	static struct kj j;
	static struct kj_batch b;
	struct drm_kllm_job job;
	struct io_uring ring;
	uint64_t id;

	kj_setup(&j, 10);
	kj_batch_seq(&b, 0, 0, TM_MB, 3);
	job = kj_job(&j, &b);
	if (use_uring) {
		if (io_uring_queue_init(256, &ring, KLLM_RING_SETUP_FLAGS))
			_exit(2);
		for (int i = 0; i < n; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			if (!sqe)
				break;
			kj_prep_uring(sqe, j.fd, &job, (uint64_t)i);
		}
		if (io_uring_submit(&ring) < 1)
			_exit(3);
	} else {
		for (int i = 0; i < n; i++)
			if (kj_submit(j.fd, &job, &id))
				_exit(4);
	}
	if (write(ready_fd, "r", 1) != 1)
		_exit(5);
	if (exit_early) {
		if (use_uring)
			io_uring_queue_exit(&ring);
		_exit(0);
	}
	for (;;)
		pause();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Kill a process with @n jobs parked; seconds from SIGKILL to reaped. */
static double kill_with_jobs(int n, int use_uring, int exit_early)
{
	int ready[2], status;
	double t0;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		child_park_jobs(ready[1], n, use_uring, exit_early);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	t0 = now_s();
	if (!exit_early)
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (exit_early)
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return now_s() - t0;
}

START_TEST(test_kill_with_jobs_parked)
{
	double worst = 0, sum = 0;

	for (int i = 0; i < 50; i++) {
		double t = kill_with_jobs(200, i % 5 != 4, 0);

		if (t > worst)
			worst = t;
		sum += t;
		if (t > 0.25)
			printf("vm: guest_job: kill round %d (%s): %.3f s\n", i,
			       i % 5 != 4 ? "io_uring" : "ioctl", t);
		ck_assert_msg(t < 1.0, "round %d: killed process took %.3f s to exit", i, t);
	}
	printf("vm: guest_job: 50 kills with 200 jobs parked: exit mean %.3f s, slowest %.3f s\n",
	       sum / 50, worst);
	ck_assert_int_eq(kd_wait_global(&g_base, 5000), 0);
}
END_TEST

START_TEST(test_ring_torn_down_with_jobs_parked)
{
	for (int i = 0; i < 10; i++) {
		double t = kill_with_jobs(200, 1, 1);

		ck_assert_msg(t < 5.0, "round %d: exit took %.3f s", i, t);
	}
	ck_assert_int_eq(kd_wait_global(&g_base, 5000), 0);
}
END_TEST

/* ------------------------------------------------------------ engine */

static uint64_t debugfs_u64(const char *name)
{
	char path[128], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kllm/%s", name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	return strtoull(buf, NULL, 0);
}

/* Is @sym a kernel symbol (root reads real names in /proc/kallsyms)? */
static int kallsyms_has(const char *sym)
{
	char line[256], name[128];
	FILE *f = fopen("/proc/kallsyms", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %127s", name) == 1 && !strcmp(name, sym);
	fclose(f);
	return found;
}

/*
 * Every FPU section is short: <= 5 ms under TCG (about 100 us natively).
 * Guest time includes moments the host deschedules a vCPU, which no
 * driver can prevent; a section that is really long is long in every run,
 * so the bound applies to the shortest of three runs' maxima.
 */
START_TEST(test_fpu_sections_short)
{
	uint64_t best = UINT64_MAX, max_ns[5], limit = 5000000;
	int kasan = kallsyms_has("kasan_report");
	struct kj j;
	struct kj_batch b;

	kj_setup(&j, 11);
	/* best of 5: under TCG a busy host preempts the vCPU mid-section */
	for (int run = 0; run < 5; run++) {
		kj_write_file("/sys/kernel/debug/kllm/fpu_max_ns", "0\n");
		for (uint32_t p = 0; p + TM_MB <= TM_CTX; p += TM_MB) {
			kj_batch_seq(&b, (uint32_t)run, p, TM_MB, p);
			ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
		}
		max_ns[run] = debugfs_u64("fpu_max_ns");
		printf("vm: guest_job: run %d: longest section in op 0x%llx (kind << 32 | index)\n",
		       run, (unsigned long long)debugfs_u64("fpu_max_op"));
		ck_assert_uint_gt(max_ns[run], 0);
		if (max_ns[run] < best)
			best = max_ns[run];
	}
	kj_teardown(&j);
	/* KASAN (the debug kernel) instruments kernels/ too: every access checked */
	if (kasan)
		limit = 25000000;
	printf("vm: guest_job: longest FPU section per run %llu %llu %llu %llu %llu us (limit %llu us%s); %llu sections in all, %llu engine threads\n",
	       (unsigned long long)max_ns[0] / 1000, (unsigned long long)max_ns[1] / 1000,
	       (unsigned long long)max_ns[2] / 1000, (unsigned long long)max_ns[3] / 1000,
	       (unsigned long long)max_ns[4] / 1000, (unsigned long long)limit / 1000,
	       kasan ? ", KASAN kernel" : "",
	       (unsigned long long)debugfs_u64("fpu_sections"),
	       (unsigned long long)debugfs_u64("threads"));
	ck_assert_msg(best <= limit, "FPU sections of %llu us in every run",
		      (unsigned long long)best / 1000);
}
END_TEST

static Suite *job_suite(void)
{
	Suite *s = suite_create("guest_job");
	TCase *tc = tcase_create("jobs");

	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_prog_create);
	tcase_add_test(tc, test_prog_create_bad);
	tcase_add_test(tc, test_prog_mutants_same_verdict);
	tcase_add_test(tc, test_job_matches_cpu);
	tcase_add_test(tc, test_job_uring_matches_cpu);
	tcase_add_test(tc, test_job_batched_equals_unbatched);
	tcase_add_test(tc, test_job_submit_bad);
	tcase_add_test(tc, test_job_wait_bad);
	tcase_add_test(tc, test_uring_bad);
	tcase_add_test(tc, test_inputs_rewritten_while_running);
	tcase_add_test(tc, test_kill_with_jobs_parked);
	tcase_add_test(tc, test_ring_torn_down_with_jobs_parked);
	tcase_add_test(tc, test_fpu_sections_short);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed, ret;

	if (kj_load_same_simd("guest_job", g_simd))
		return 1;
	printf("vm: guest_job: kernels path %s in both homes\n", g_simd);
	failed = kt_run(job_suite());
	ret = vm_unload(KLLM);
	if (ret) {
		printf("vm: guest_job: rmmod kllm after the jobs: %s\n", strerror(-ret));
		failed = 1;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
