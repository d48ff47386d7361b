// SPDX-License-Identifier: MIT
/*
 * guest_engine.c - libkllm's device engine (runtime/engine_dev.c) against
 * kllm.ko in the QEMU guest, on a synthetic llama GGUF that run.sh makes
 * with kllm-mkmodel (/data/engine.gguf).
 *
 * The module and the library run the same SIMD path (simd=, KLLM_SIMD), so
 * the device must give the CPU engine's logits bit for bit: prefill and
 * decode steps, one sequence or two batched in one job, a forked cache
 * (memcpy on the mapped KV buffer objects), a context run from a thread
 * other than its maker's and from a forked child (the engine's ring is
 * single-issuer).  With io_uring_setup refused
 * by seccomp the engine uses the ioctls (the job counters say which path
 * ran) and still gives the same bits.  A job over job_timeout_ms fails
 * with a message saying so; a program the driver refuses, with its
 * validator's reason.  As a user who may not open the
 * node, auto falls back to the CPU and dev says why.  At the end every
 * pin is released and the module unloads.
 */
#include "drm_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "cpu.h"
#include "engine_dev.h"
#include "model.h"
#include "seq.h"

#define KLLM "kllm"
#define MODEL_PATH "/data/engine.gguf"
#define N_CTX 64
#define MAX_BATCH 16
#define PL 7		/* prompt tokens */
#define ND 4		/* decode steps */
#define N_ROWS (PL + ND)

static struct kllm_model *g_model;
static struct drm_kllm_get_stats g_base;	/* before anything ran */
static uint32_t g_vocab;

static const int32_t prompt_a[PL] = { 1, 17, 200, 33, 480, 5, 77 };
static const int32_t prompt_b[PL] = { 1, 300, 2, 151, 9, 409, 64 };
static const int32_t dec_a[ND] = { 12, 250, 3, 500 };
static const int32_t dec_b[ND] = { 99, 7, 311, 42 };

static struct kllm_ctx *ctx_new(const char *engine)
{
	struct kllm_ctx_opts co = {
		.n_ctx = N_CTX, .max_batch = MAX_BATCH, .n_seqs = 3, .n_threads = 0,
	};
	struct kllm_ctx *ctx;
	char err[256];
	int ret;

	ck_assert_int_eq(setenv("KLLM_ENGINE", engine, 1), 0);
	ret = kllm_ctx_create(&ctx, g_model, &co, err, sizeof(err));
	ck_assert_msg(ret == 0, "KLLM_ENGINE=%s: %s", engine, err);
	return ctx;
}

static float *rows_alloc(uint32_t n)
{
	float *p = calloc((size_t)n * g_vocab, sizeof(float));

	ck_assert_ptr_nonnull(p);
	return p;
}

static void forward(struct kllm_ctx *ctx, uint32_t n, const int32_t *tok,
		    const int32_t *pos, const int32_t *seq, const int32_t *rows,
		    uint32_t n_out, float *out)
{
	int ret = kllm_forward(ctx, n, tok, pos, seq, rows, n_out, out);

	ck_assert_msg(ret == 0, "forward on %s: %d %s", kllm_ctx_engine_name(ctx), ret,
		      kllm_ctx_error(ctx));
}

/* Sequence @seq alone: the prompt in one job (every row out), then the
 * decode steps one job each; N_ROWS rows of logits into @out.  0, or the
 * first forward's error (no Check assertion: threads and forks call it). */
static int feed_alone(struct kllm_ctx *ctx, int32_t seq, const int32_t *prompt,
		      const int32_t *dec, float *out)
{
	int32_t pos[PL], sid[PL], rows[PL];
	int ret;

	for (int32_t i = 0; i < PL; i++) {
		pos[i] = i;
		sid[i] = seq;
		rows[i] = i;
	}
	ret = kllm_forward(ctx, PL, prompt, pos, sid, rows, PL, out);
	for (int32_t d = 0; d < ND && !ret; d++) {
		int32_t p = PL + d, r = 0;

		ret = kllm_forward(ctx, 1, &dec[d], &p, &seq, &r, 1,
				   out + (size_t)(PL + d) * g_vocab);
	}
	return ret;
}

static void run_alone(struct kllm_ctx *ctx, int32_t seq, const int32_t *prompt,
		      const int32_t *dec, float *out)
{
	int ret = feed_alone(ctx, seq, prompt, dec, out);

	ck_assert_msg(ret == 0, "forward on %s: %d %s", kllm_ctx_engine_name(ctx), ret,
		      kllm_ctx_error(ctx));
}

/* Sequences 0 (a) and 1 (b) together: interleaved prompts in one job, then
 * both decode tokens in one job per step. */
static void run_batched(struct kllm_ctx *ctx, float *out_a, float *out_b)
{
	int32_t tok[2 * PL], pos[2 * PL], sid[2 * PL], rows[2 * PL];
	float *both = rows_alloc(2 * PL);
	const size_t row = g_vocab * sizeof(float);

	for (int32_t i = 0; i < 2 * PL; i++) {
		tok[i] = i % 2 ? prompt_b[i / 2] : prompt_a[i / 2];
		pos[i] = i / 2;
		sid[i] = i % 2;
		rows[i] = i;
	}
	forward(ctx, 2 * PL, tok, pos, sid, rows, 2 * PL, both);
	for (int i = 0; i < PL; i++) {
		memcpy(out_a + (size_t)i * g_vocab, both + (size_t)(2 * i) * g_vocab, row);
		memcpy(out_b + (size_t)i * g_vocab, both + (size_t)(2 * i + 1) * g_vocab, row);
	}
	for (int32_t d = 0; d < ND; d++) {
		int32_t t[2] = { dec_a[d], dec_b[d] }, p[2] = { PL + d, PL + d };
		int32_t s[2] = { 0, 1 }, r[2] = { 0, 1 };

		forward(ctx, 2, t, p, s, r, 2, both);
		memcpy(out_a + (size_t)(PL + d) * g_vocab, both, row);
		memcpy(out_b + (size_t)(PL + d) * g_vocab, both + g_vocab, row);
	}
	free(both);
}

static struct drm_kllm_get_stats stats_now(void)
{
	int fd = kd_open();
	struct drm_kllm_get_stats st;

	ck_assert_msg(fd >= 0, "open kllm node: %s", strerror(-fd));
	st = kd_stats(fd);
	close(fd);
	return st;
}

/*
 * kllm_dev_run_many: three jobs, each prompt a for its own sequence (a
 * driver KV sequence of the context's paged program, and an output buffer
 * object), in one call; each must give @want (the PL prompt rows).  0, or 1 after printing what went wrong (usable in a
 * forked child, where Check's assertions are not).
 */
#define MANY 3
static int run_many_prompts(struct kllm_ctx *ctx, const float *want)
{
	struct kllm_dev *d = kllm_ctx_dev(ctx);
	const uint64_t out_size = (uint64_t)PL * g_vocab * sizeof(float);
	struct kllm_dev_bo out[MANY];
	uint32_t kv[MANY];
	struct drm_kllm_bind binds[MANY][2];
	struct drm_kllm_job jobs[MANY];
	int32_t status[MANY], pos[PL], sid[PL] = { 0 }, rows[PL];
	int bad = 0, ret;

	for (int32_t i = 0; i < PL; i++) {
		pos[i] = i;
		rows[i] = i;
	}
	for (int j = 0; j < MANY; j++) {
		if (kllm_dev_seq_create(d, &kv[j]) || kllm_dev_bo_create(d, out_size, &out[j]))
			return printf("vm: run_many: BO_CREATE failed\n"), 1;
		binds[j][0] = (struct drm_kllm_bind){ .handle = out[j].handle };
		binds[j][1] = (struct drm_kllm_bind){ .handle = kv[j] };
		jobs[j] = (struct drm_kllm_job){
			.n_tokens = PL, .n_outputs = PL, .n_seqs = 1, .n_binds = 2,
			.tokens_ptr = (uintptr_t)prompt_a, .pos_ptr = (uintptr_t)pos,
			.seq_ptr = (uintptr_t)sid, .out_rows_ptr = (uintptr_t)rows,
			.binds_ptr = (uintptr_t)binds[j] };
		status[j] = 1;
	}
	ret = kllm_dev_run_many(d, jobs, MANY, status);
	for (int j = 0; j < MANY; j++) {
		if (!ret && (status[j] || memcmp(out[j].map, want, out_size))) {
			printf("vm: run_many: job %d: status %d%s\n", j, status[j],
			       status[j] ? "" : ", logits differ");
			bad = 1;
		}
		kllm_dev_seq_free(d, kv[j]);
		kllm_dev_bo_free(d, &out[j]);
	}
	if (ret)
		printf("vm: run_many: %s\n", strerror(-ret));
	fflush(stdout);
	return ret || bad;
}

#define assert_same(a, b, n, what) \
	ck_assert_msg(!memcmp((a), (b), (size_t)(n) * g_vocab * sizeof(float)), \
		      "%s: logits differ", (what))

/* ------------------------------------------------------------ tests */

START_TEST(test_cpu_vs_dev)
{
	float *cpu = rows_alloc(N_ROWS), *dev = rows_alloc(N_ROWS);
	struct drm_kllm_get_stats st0, st1;
	struct kllm_ctx *ctx;

	ctx = ctx_new("cpu");
	ck_assert_str_eq(kllm_ctx_engine_name(ctx), "cpu");
	run_alone(ctx, 0, prompt_a, dec_a, cpu);
	kllm_ctx_free(ctx);

	st0 = stats_now();
	ctx = ctx_new("dev");
	ck_assert_uint_eq(stats_now().programs, st0.programs + 1);
	run_alone(ctx, 0, prompt_a, dec_a, dev);
	ck_assert_str_eq(kllm_ctx_engine_name(ctx), "dev (io_uring)");
	ck_assert_int_eq(run_many_prompts(ctx, cpu), 0);
	st1 = stats_now();
	kllm_ctx_free(ctx);
	assert_same(cpu, dev, N_ROWS, "cpu vs dev");
	/* One job per forward and per run_many job, all through io_uring. */
	ck_assert_uint_eq(st1.jobs_submitted - st0.jobs_submitted, 1 + ND + MANY);
	ck_assert_uint_eq(st1.jobs_via_uring - st0.jobs_via_uring, 1 + ND + MANY);
	ck_assert_uint_eq(st1.jobs_completed - st0.jobs_completed, 1 + ND + MANY);
	ck_assert_uint_eq(st1.jobs_failed, st0.jobs_failed);
	ck_assert_uint_eq(st1.jobs_in_flight, 0);
	/* Not a no-op: the logits are not all zero. */
	for (size_t i = 0; i < (size_t)N_ROWS * g_vocab; i++)
		if (dev[i] != 0)
			goto nonzero;
	ck_abort_msg("all logits are zero");
nonzero:
	free(cpu);
	free(dev);
}
END_TEST

/* Sequence 1 fed as run_alone feeds one, on a thread of its own. */
struct other_thread {
	struct kllm_ctx *ctx;
	float *out;
	int ret;
};

static void *other_thread_main(void *arg)
{
	struct other_thread *t = arg;

	t->ret = feed_alone(t->ctx, 1, prompt_a, dec_a, t->out);
	return NULL;
}

/*
 * The engine's ring is single-issuer (DEFER_TASKRUN, 6.1 on): a context
 * made on one thread and run on another must still work, through
 * io_uring, with the same bits, and then again on the first thread.
 */
START_TEST(test_ring_follows_thread)
{
	float *cpu = rows_alloc(N_ROWS), *dev1 = rows_alloc(N_ROWS), *dev0 = rows_alloc(N_ROWS);
	struct drm_kllm_get_stats st0, st1;
	struct other_thread t;
	struct kllm_ctx *ctx;
	pthread_t th;

	ctx = ctx_new("cpu");
	run_alone(ctx, 0, prompt_a, dec_a, cpu);
	kllm_ctx_free(ctx);

	ctx = ctx_new("dev");
	st0 = stats_now();
	run_alone(ctx, 0, prompt_a, dec_a, dev0);	/* the maker's thread */
	assert_same(cpu, dev0, N_ROWS, "cpu vs dev, first thread");
	t = (struct other_thread){ .ctx = ctx, .out = dev1 };
	ck_assert_int_eq(pthread_create(&th, NULL, other_thread_main, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(t.ret == 0, "forward on a second thread: %d %s", t.ret, kllm_ctx_error(ctx));
	assert_same(cpu, dev1, N_ROWS, "cpu vs dev, second thread");
	memset(dev0, 0, (size_t)N_ROWS * g_vocab * sizeof(float));
	run_alone(ctx, 2, prompt_a, dec_a, dev0);	/* and back */
	st1 = stats_now();
	ck_assert_str_eq(kllm_ctx_engine_name(ctx), "dev (io_uring)");
	kllm_ctx_free(ctx);
	assert_same(cpu, dev0, N_ROWS, "cpu vs dev, back on the first thread");
	ck_assert_uint_eq(st1.jobs_via_uring - st0.jobs_via_uring, 3 * (1 + ND));
	ck_assert_uint_eq(st1.jobs_completed - st0.jobs_completed, 3 * (1 + ND));
	ck_assert_uint_eq(st1.jobs_in_flight, 0);
	free(cpu);
	free(dev0);
	free(dev1);
}
END_TEST

/*
 * A forked child runs its parent's context (the same device file and
 * buffer objects): it must make its own ring, not submit to the parent's
 * (single-issuer: -EEXIST) or share its SQ memory; the parent's ring
 * goes on working.
 */
START_TEST(test_ring_in_forked_child)
{
	const size_t bytes = (size_t)N_ROWS * g_vocab * sizeof(float);
	float *cpu = rows_alloc(N_ROWS), *dev = rows_alloc(N_ROWS), *child;
	struct drm_kllm_get_stats st0, st1;
	struct kllm_ctx *ctx;
	int status;
	pid_t pid;

	ctx = ctx_new("cpu");
	run_alone(ctx, 0, prompt_a, dec_a, cpu);
	kllm_ctx_free(ctx);

	child = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(child, MAP_FAILED);
	ctx = ctx_new("dev");
	st0 = stats_now();
	run_alone(ctx, 0, prompt_a, dec_a, dev);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct other_thread t = { .ctx = ctx, .out = child };

		other_thread_main(&t);	/* sequence 1, in this process */
		if (t.ret)
			printf("vm: guest_engine: forked child: %d %s\n", t.ret,
			       kllm_ctx_error(ctx));
		fflush(stdout);
		_exit(t.ret ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	assert_same(cpu, child, N_ROWS, "cpu vs dev, forked child");
	memset(dev, 0, bytes);
	run_alone(ctx, 2, prompt_a, dec_a, dev);	/* the parent's ring still works */
	st1 = stats_now();
	ck_assert_str_eq(kllm_ctx_engine_name(ctx), "dev (io_uring)");
	kllm_ctx_free(ctx);
	assert_same(cpu, dev, N_ROWS, "cpu vs dev, parent after the child");
	ck_assert_uint_eq(st1.jobs_via_uring - st0.jobs_via_uring, 3 * (1 + ND));
	ck_assert_uint_eq(st1.jobs_in_flight, 0);
	munmap(child, bytes);
	free(cpu);
	free(dev);
}
END_TEST

START_TEST(test_batched_vs_alone)
{
	float *a1 = rows_alloc(N_ROWS), *b1 = rows_alloc(N_ROWS);
	float *a2 = rows_alloc(N_ROWS), *b2 = rows_alloc(N_ROWS);
	float *f = rows_alloc(2);
	struct kllm_ctx *ctx = ctx_new("dev");

	run_alone(ctx, 0, prompt_a, dec_a, a1);
	run_alone(ctx, 1, prompt_b, dec_b, b1);
	ck_assert_int_eq(kllm_seq_clear(ctx, 0), 0);
	ck_assert_int_eq(kllm_seq_clear(ctx, 1), 0);
	run_batched(ctx, a2, b2);
	assert_same(a1, a2, N_ROWS, "sequence a batched vs alone");
	assert_same(b1, b2, N_ROWS, "sequence b batched vs alone");
	ck_assert(memcmp(a1, b1, (size_t)N_ROWS * g_vocab * sizeof(float)));

	/* A fork: sequence 2 gets a copy of 0's cache; the same next token
	 * in both, in one job, gives the same row. */
	ck_assert_int_eq(kllm_seq_copy(ctx, 2, 0, N_ROWS), 0);
	{
		int32_t t[2] = { 123, 123 }, p[2] = { N_ROWS, N_ROWS };
		int32_t s[2] = { 0, 2 }, r[2] = { 0, 1 };

		forward(ctx, 2, t, p, s, r, 2, f);
	}
	assert_same(f, f + g_vocab, 1, "forked sequence");
	kllm_ctx_free(ctx);
	free(a1);
	free(b1);
	free(a2);
	free(b2);
	free(f);
}
END_TEST

/* A program the driver's validator refuses: its reason reaches the message. */
/*
 * A prompt of 40 tokens (MAX_BATCH 16: three chunks) through
 * kllm_forward_chunks: the device hands all three jobs to the driver in
 * one submission, and the last token's logits are the CPU engine's bits.
 */
START_TEST(test_long_prompt_one_submission)
{
	struct kllm_ctx *cpu = ctx_new("cpu"), *dev = ctx_new("dev");
	struct drm_kllm_get_stats st0, st1;
	float *want = rows_alloc(1), *got = rows_alloc(1);
	int32_t toks[40];

	for (int i = 0; i < 40; i++)
		toks[i] = (int32_t)((i * 37 + 5) % g_vocab);
	ck_assert_int_eq(kllm_forward_chunks(cpu, 0, 0, 40, toks, want), 0);
	st0 = stats_now();
	ck_assert_msg(kllm_forward_chunks(dev, 0, 0, 40, toks, got) == 0, "%s",
		      kllm_ctx_error(dev));
	st1 = stats_now();
	ck_assert_uint_eq(st1.jobs_submitted - st0.jobs_submitted, 3);
	ck_assert_uint_eq(st1.jobs_via_uring - st0.jobs_via_uring, 3);
	ck_assert_msg(!memcmp(want, got, 4ull * g_vocab), "last-token logits differ");
	free(want);
	free(got);
	kllm_ctx_free(cpu);
	kllm_ctx_free(dev);
}
END_TEST

START_TEST(test_prog_rejected)
{
	struct kllm_ctx *ctx = ctx_new("cpu");
	struct kllm_compiled bad = *kllm_ctx_program(ctx);
	struct drm_kllm_get_stats st0 = stats_now();
	struct kllm_prog_info info;
	struct kllm_dev *d;
	char err[256];

	ck_assert_int_eq(kllm_prog_check(bad.img, bad.size, &info, NULL), 0);
	bad.img = malloc(bad.size);
	ck_assert_ptr_nonnull(bad.img);
	memcpy(bad.img, kllm_ctx_program(ctx)->img, bad.size);
	((struct kllm_prog_header *)bad.img)->reserved[0] = 1;
	ck_assert_int_eq(kllm_dev_open(&d, err, sizeof(err)), 0);
	ck_assert_int_eq(kllm_dev_load(d, &bad, &info, g_model->fd, g_model->data_offset,
				       err, sizeof(err)), -EINVAL);
	printf("vm: rejected program: %s\n", err);
	ck_assert_msg(strstr(err, "driver rejected the program: ") &&
		      strlen(strstr(err, "program: ")) > strlen("program: "), "%s", err);
	ck_assert_uint_eq(stats_now().programs, st0.programs);
	kllm_dev_close(d);
	free(bad.img);
	kllm_ctx_free(ctx);
}
END_TEST

static void write_param(const char *name, const char *val)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/kllm/parameters/%s", name);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_ge(fputs(val, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* A job over the module's time fails with a message saying so; the
 * context goes on working once the limit is back. */
START_TEST(test_job_timeout)
{
	float *out = rows_alloc(N_ROWS);
	struct kllm_ctx *ctx = ctx_new("dev");
	int32_t pos[PL], sid[PL] = { 0 }, rows[PL];
	char old[32] = "";
	FILE *f = fopen("/sys/module/kllm/parameters/job_timeout_ms", "r");
	int ret;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(old, sizeof(old), f));
	fclose(f);
	for (int32_t i = 0; i < PL; i++) {
		pos[i] = i;
		rows[i] = i;
	}
	/* 1 ms: a prompt of this model takes far longer under TCG. */
	write_param("job_timeout_ms", "1");
	ret = kllm_forward(ctx, PL, prompt_a, pos, sid, rows, PL, out);
	write_param("job_timeout_ms", old);
	ck_assert_int_eq(ret, -ETIMEDOUT);
	ck_assert_msg(strstr(kllm_ctx_error(ctx), "device job timed out"), "%s",
		      kllm_ctx_error(ctx));
	ck_assert_int_eq(kllm_seq_clear(ctx, 0), 0);
	forward(ctx, PL, prompt_a, pos, sid, rows, PL, out);
	kllm_ctx_free(ctx);
	free(out);
}
END_TEST

/* seccomp: io_uring_setup fails with ENOSYS, everything else is allowed
 * (a call of another architecture's ABI passes unfiltered). */
#if defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#else
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#endif

static int block_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

#define NO_SECCOMP 77	/* the child's exit: a kernel without seccomp filters */

/*
 * The child of test_ioctl_fallback: 0, or a line saying what went wrong.
 * io_uring_setup is refused with ENOSYS by seccomp, or (@sysctl, where
 * the kernel has no seccomp filters) already with EPERM by
 * kernel.io_uring_disabled.
 */
static int fallback_child(const float *want, int sysctl)
{
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = MAX_BATCH, .n_seqs = 1 };
	char params[128] = { 0 }, err[256];
	struct kllm_ctx *ctx;
	float *got = calloc((size_t)N_ROWS * g_vocab, sizeof(float));
	int ret = sysctl ? 0 : block_io_uring();

	if (ret == -EINVAL)
		return NO_SECCOMP;
	if (!got || ret)
		return printf("vm: fallback: seccomp: %s\n", strerror(-ret)), 1;
	if (syscall(__NR_io_uring_setup, 1, params) != -1 ||
	    errno != (sysctl ? EPERM : ENOSYS))
		return printf("vm: fallback: io_uring_setup not refused\n"), 1;
	setenv("KLLM_ENGINE", "dev", 1);
	if (kllm_ctx_create(&ctx, g_model, &co, err, sizeof(err)))
		return printf("vm: fallback: %s\n", err), 1;
	if (strcmp(kllm_ctx_engine_name(ctx), "dev (ioctl)"))
		return printf("vm: fallback: engine %s\n", kllm_ctx_engine_name(ctx)), 1;
	if (feed_alone(ctx, 0, prompt_a, dec_a, got))
		return printf("vm: fallback: forward: %s\n", kllm_ctx_error(ctx)), 1;
	if (run_many_prompts(ctx, want))
		return 1;
	kllm_ctx_free(ctx);
	if (memcmp(got, want, (size_t)N_ROWS * g_vocab * sizeof(float)))
		return printf("vm: fallback: logits differ from the CPU's\n"), 1;
	return 0;
}

/* Run fallback_child in a child; its exit status. */
static int fallback_fork(const float *want, int sysctl)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int r = fallback_child(want, sysctl);

		fflush(stdout);
		_exit(r);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "fallback child died (status %#x)", status);
	return WEXITSTATUS(status);
}

START_TEST(test_ioctl_fallback)
{
	static const char sysctl[] = "/proc/sys/kernel/io_uring_disabled";
	float *want = rows_alloc(N_ROWS);
	struct drm_kllm_get_stats st0, st1;
	struct kllm_ctx *ctx = ctx_new("cpu");
	int r;

	run_alone(ctx, 0, prompt_a, dec_a, want);
	kllm_ctx_free(ctx);
	st0 = stats_now();
	r = fallback_fork(want, 0);
	if (r == NO_SECCOMP) {
		/* (the debug kernel) kernel.io_uring_disabled=2: for everyone */
		char old[16] = "0";
		FILE *f = fopen(sysctl, "r");

		ck_assert_msg(f != NULL, "no seccomp filters and no %s", sysctl);
		ck_assert_ptr_nonnull(fgets(old, sizeof(old), f));
		fclose(f);
		f = fopen(sysctl, "w");
		ck_assert_ptr_nonnull(f);
		printf("vm: fallback: no seccomp filters; %s=2 instead\n", sysctl);
		ck_assert_int_ge(fputs("2", f), 0);
		ck_assert_int_eq(fclose(f), 0);
		r = fallback_fork(want, 1);
		f = fopen(sysctl, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_ge(fputs(old, f), 0);
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_msg(r == 0, "fallback child failed (exit %d)", r);
	st1 = stats_now();
	ck_assert_uint_eq(st1.jobs_submitted - st0.jobs_submitted, 1 + ND + MANY);
	ck_assert_uint_eq(st1.jobs_via_uring, st0.jobs_via_uring);
	ck_assert_uint_eq(st1.jobs_completed - st0.jobs_completed, 1 + ND + MANY);
	free(want);
}
END_TEST

static int nobody_engines(void *arg)
{
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = MAX_BATCH, .n_seqs = 1 };
	struct kllm_ctx *ctx;
	char err[256];

	(void)arg;
	setenv("KLLM_ENGINE", "auto", 1);
	if (kllm_ctx_create(&ctx, g_model, &co, err, sizeof(err)))
		return printf("vm: nobody auto: %s\n", err), 1;
	if (strcmp(kllm_ctx_engine_name(ctx), "cpu"))
		return printf("vm: nobody auto: engine %s\n", kllm_ctx_engine_name(ctx)), 2;
	kllm_ctx_free(ctx);
	setenv("KLLM_ENGINE", "dev", 1);
	if (!kllm_ctx_create(&ctx, g_model, &co, err, sizeof(err)))
		return printf("vm: nobody dev: created\n"), 3;
	printf("vm: nobody, KLLM_ENGINE=dev: %s\n", err);
	fflush(stdout);
	return strstr(err, "no kllm node this user may open") ? 0 : 4;
}

/* The node is root's 0600 (set in main): auto runs on the CPU. */
START_TEST(test_node_not_openable)
{
	fflush(stdout);
	ck_assert_int_eq(vm_as_nobody(nobody_engines, NULL), 0);
}
END_TEST

/* Last: every context is gone, so every pin is released; rmmod works. */
START_TEST(test_unload_clean)
{
	struct drm_kllm_get_stats st;

	ck_assert_int_eq(kd_wait_global(&g_base, 5000), 0);
	st = stats_now();
	ck_assert_uint_eq(st.file_pinned_bytes, g_base.file_pinned_bytes);
	ck_assert_uint_eq(st.shmem_bytes, g_base.shmem_bytes);
	ck_assert_uint_eq(st.programs, 0);
	ck_assert_uint_eq(st.jobs_in_flight, 0);
	ck_assert_int_eq(vm_unload(KLLM), 0);
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("guest_engine");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 240);	/* TCG */
	tcase_add_test(tc, test_cpu_vs_dev);
	tcase_add_test(tc, test_ring_follows_thread);
	tcase_add_test(tc, test_ring_in_forked_child);
	tcase_add_test(tc, test_batched_vs_alone);
	tcase_add_test(tc, test_long_prompt_one_submission);
	tcase_add_test(tc, test_ioctl_fallback);
	tcase_add_test(tc, test_job_timeout);
	tcase_add_test(tc, test_prog_rejected);
	tcase_add_test(tc, test_node_not_openable);
	tcase_add_test(tc, test_unload_clean);
	suite_add_tcase(s, tc);
	return s;
}

/* Module and library on the same SIMD path; the node root's alone. */
static int setup(void)
{
	const char *simd = vm_same_simd();
	char params[32], err[256], node[64];
	int fd, ret;

	snprintf(params, sizeof(params), "simd=%s", simd);
	setenv("KLLM_SIMD", simd, 1);
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	if (vm_load_kllm(params) || kd_find_node(node, sizeof(node)) ||
	    chown(node, 0, 0) || chmod(node, 0600))
		return printf("vm: guest_engine: kllm.ko (%s) did not load or has no node\n",
			      params), -1;
	kllm_cpu_init();
	if (strcmp(kk_simd_name(kk_simd_selected()), simd))
		return printf("vm: guest_engine: runtime path %s, not %s\n",
			      kk_simd_name(kk_simd_selected()), simd), -1;
	if (kllm_model_load(&g_model, MODEL_PATH, err, sizeof(err)))
		return printf("vm: guest_engine: %s\n", err), -1;
	g_vocab = g_model->hp.n_vocab;
	/* (no Check assertion outside a test: kd_stats is not usable here) */
	fd = kd_open();
	if (fd < 0)
		return printf("vm: guest_engine: open %s: %s\n", node, strerror(-fd)), -1;
	memset(&g_base, 0, sizeof(g_base));
	ret = kd_ioctl(fd, DRM_IOCTL_KLLM_GET_STATS, &g_base);
	close(fd);
	if (ret)
		return printf("vm: guest_engine: GET_STATS: %s\n", strerror(-ret)), -1;
	printf("vm: guest_engine: %s, simd %s, %u layers, n_embd %u, vocab %u\n",
	       node, simd, g_model->hp.n_layer, g_model->hp.n_embd, g_vocab);
	return 0;
}

int main(void)
{
	int failed;

	if (getuid() != 0) {
		printf("vm: guest_engine needs root\n");
		return 1;
	}
	if (setup()) {
		if (vm_module_loaded(KLLM))
			vm_unload(KLLM);
		return 1;
	}
	failed = kt_run(engine_suite());
	kllm_model_free(g_model);
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	return failed;
}
