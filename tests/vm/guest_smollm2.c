// SPDX-License-Identifier: MIT
/*
 * guest_smollm2.c - a real model through kllm.ko in the QEMU guest:
 * SmolLM2-135M-Instruct (Q4_1), packed by run.sh as /data/smollm2.gguf,
 * and a static kllm-run and kllm-bench under /usr/local/bin.
 *
 * The module and the library run the same SIMD path (simd=, KLLM_SIMD),
 * so the device engine must give the CPU engine's logits bit for bit:
 * one 16-token prompt in one job (every row out), and its first tokens
 * again one job each on a fresh sequence.  Then kllm-run (the public API,
 * kllm.h) with KLLM_ENGINE=cpu and =dev must print the same greedy text,
 * the dev run's timings line naming the device engine; and kllm-bench
 * submit must run its three columns.
 *
 * TCG runs this model at some 6 s per token (vector floating point is
 * emulated), so every part prints how long it took and the work is kept
 * to what the checks need: 16 tokens on each engine, 4 more one by one,
 * and kllm-run a 4-token prompt and 6 tokens.  The module's job time
 * limit is raised for the 16-token job.
 */
#include "drm_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <time.h>

#include "cpu.h"
#include "kllm.h"
#include "model.h"
#include "seq.h"

#define KLLM "kllm"
#define MODEL_PATH "/data/smollm2.gguf"
#define KLLM_RUN "/usr/local/bin/kllm-run"
#define KLLM_BENCH "/usr/local/bin/kllm-bench"
#define N_CTX 64
#define PL 16		/* prompt tokens */
#define N_ONE 4		/* of which run again one job each */
#define RUN_PROMPT "Once upon a time"	/* kllm-run's: 4 tokens */
#define N_GEN "6"	/* kllm-run's -n */
#define JOB_MS "900000"	/* job_timeout_ms: a 16-token job takes minutes */

/* 16 tokens with SmolLM2's vocabulary (no BOS: it adds none). */
static const char prompt_text[] =
	"The quick brown fox jumps over the lazy dog, and then it runs into the";

static const char *g_simd;
static struct kllm_model *g_model;	/* the context API's model (seq.h) */
static struct kllm_llm *g_llm;		/* the public API's (kllm.h) */
static uint32_t g_vocab;
static int32_t g_prompt[PL];
static float *g_ref;			/* PL rows: the CPU engine, one job */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void took(const char *what, double t0)
{
	printf("vm: guest_smollm2: %s: %.1f s\n", what, now() - t0);
	fflush(stdout);
}

/*
 * /init shows our output when we exit: name each slow step on the
 * console as it starts too, so that a boot that times out says where.
 */
static void progress(const char *what, const char *engine)
{
	FILE *f = fopen("/dev/console", "w");

	if (f) {
		fprintf(f, "vm-progress: guest_smollm2: %s%s\n", what, engine);
		fclose(f);
	}
}

/*
 * The whole prompt as one job on engine @engine ("cpu", "dev"), every
 * row of logits into @out.  0, or -1 after printing why (used outside a
 * test too, where Check's assertions are not).
 */
static int prompt_rows(const char *engine, float *out, struct kllm_ctx **keep)
{
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = PL, .n_seqs = 2 };
	int32_t pos[PL], sid[PL] = { 0 }, rows[PL];
	struct kllm_ctx *ctx;
	char err[256];
	double t0 = now();
	int ret;

	progress("prompt, one job, KLLM_ENGINE=", engine);
	setenv("KLLM_ENGINE", engine, 1);
	if (kllm_ctx_create(&ctx, g_model, &co, err, sizeof(err)))
		return printf("vm: guest_smollm2: KLLM_ENGINE=%s: %s\n", engine, err), -1;
	for (int32_t i = 0; i < PL; i++) {
		pos[i] = i;
		rows[i] = i;
	}
	ret = kllm_forward(ctx, PL, g_prompt, pos, sid, rows, PL, out);
	if (ret)
		printf("vm: guest_smollm2: %s: forward: %s\n", kllm_ctx_engine_name(ctx),
		       kllm_ctx_error(ctx));
	else
		printf("vm: guest_smollm2: %d-token prompt, one job, on %s: %.1f s\n", PL,
		       kllm_ctx_engine_name(ctx), now() - t0);
	fflush(stdout);
	if (keep && !ret)
		*keep = ctx;
	else
		kllm_ctx_free(ctx);
	return ret ? -1 : 0;
}

/* The first differing row and element of @got against g_ref, for messages. */
static void first_diff(const float *got, uint32_t n_rows, uint32_t *row, uint32_t *col)
{
	for (uint32_t i = 0; i < n_rows * g_vocab; i++) {
		if (memcmp(&got[i], &g_ref[i], sizeof(float))) {
			*row = i / g_vocab;
			*col = i % g_vocab;
			return;
		}
	}
	*row = *col = 0;
}

#define assert_rows(got, n, what) do { \
	uint32_t r_, c_; \
	first_diff((got), (n), &r_, &c_); \
	ck_assert_msg(!memcmp((got), g_ref, (size_t)(n) * g_vocab * sizeof(float)), \
		      "%s: logits differ from the CPU's (row %u, token %u: %a vs %a)", \
		      (what), r_, c_, (double)(got)[r_ * g_vocab + c_], \
		      (double)g_ref[r_ * g_vocab + c_]); \
} while (0)

/* ------------------------------------------------------------ tests */

/*
 * The prompt in one device job: all 16 rows as the CPU engine's.  Then
 * its first N_ONE tokens one job each on sequence 1 (empty): the same
 * rows again.
 */
START_TEST(test_prompt_dev)
{
	float *dev = calloc((size_t)PL * g_vocab, sizeof(float));
	struct kllm_ctx *ctx = NULL;
	double t0;

	ck_assert_ptr_nonnull(dev);
	ck_assert_int_eq(prompt_rows("dev", dev, &ctx), 0);
	assert_rows(dev, PL, "one device job");
	progress("one token a job, KLLM_ENGINE=", "dev");
	t0 = now();
	memset(dev, 0, (size_t)PL * g_vocab * sizeof(float));
	for (int32_t i = 0; i < N_ONE; i++) {
		int32_t seq = 1, row = 0;
		int ret = kllm_forward(ctx, 1, &g_prompt[i], &i, &seq, &row, 1,
				       dev + (size_t)i * g_vocab);

		ck_assert_msg(ret == 0, "token %d: %s", i, kllm_ctx_error(ctx));
	}
	printf("vm: guest_smollm2: its first %d tokens, one job each, on %s: %.1f s\n",
	       N_ONE, kllm_ctx_engine_name(ctx), now() - t0);
	assert_rows(dev, N_ONE, "one token a device job");
	kllm_ctx_free(ctx);
	free(dev);
}
END_TEST

/*
 * Run kllm-run with KLLM_ENGINE=@engine on the prompt: stdout into @out,
 * stderr into @err (both NUL-terminated); its exit status, or -1.
 */
static int kllm_run(const char *engine, char *out, size_t outsz, char *err, size_t errsz)
{
	char *const argv[] = { KLLM_RUN, "-m", MODEL_PATH, "-p", RUN_PROMPT, "-n", N_GEN,
			       "--temp", "0", "-c", "64", NULL };
	const char *paths[2] = { "/tmp/run.out", "/tmp/run.err" };
	char *bufs[2] = { out, err };
	size_t sizes[2] = { outsz, errsz };
	int status;
	pid_t pid;

	progress("kllm-run, KLLM_ENGINE=", engine);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fo = open(paths[0], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(paths[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(126);
		setenv("KLLM_ENGINE", engine, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(paths[i], "r");
		size_t n = f ? fread(bufs[i], 1, sizes[i] - 1, f) : 0;

		bufs[i][n] = '\0';
		if (f)
			fclose(f);
	}
	return WEXITSTATUS(status);
}

/* kllm-run: the same greedy text on both engines; dev says it ran there. */
START_TEST(test_kllm_run)
{
	static char out_cpu[4096], out_dev[4096], err_cpu[4096], err_dev[4096];
	char want_cpu[64], want_dev[64];
	double t0 = now();
	int rc;

	rc = kllm_run("cpu", out_cpu, sizeof(out_cpu), err_cpu, sizeof(err_cpu));
	took("kllm-run -n " N_GEN ", KLLM_ENGINE=cpu", t0);
	ck_assert_msg(rc == 0, "kllm-run (cpu): exit %d: %s", rc, err_cpu);
	t0 = now();
	rc = kllm_run("dev", out_dev, sizeof(out_dev), err_dev, sizeof(err_dev));
	took("kllm-run -n " N_GEN ", KLLM_ENGINE=dev", t0);
	ck_assert_msg(rc == 0, "kllm-run (dev): exit %d: %s", rc, err_dev);
	printf("vm: kllm-run cpu: %s", err_cpu);
	printf("vm: kllm-run dev: %s", err_dev);
	printf("vm: kllm-run text: \"%s\"\n", out_dev);
	fflush(stdout);
	snprintf(want_cpu, sizeof(want_cpu), "| cpu, %s, 64 ctx\n", g_simd);
	snprintf(want_dev, sizeof(want_dev), "| dev (io_uring), %s, 64 ctx\n", g_simd);
	ck_assert_msg(strstr(err_cpu, want_cpu), "cpu timings line: %s", err_cpu);
	ck_assert_msg(strstr(err_dev, want_dev), "dev timings line: %s", err_dev);
	ck_assert_msg(strstr(err_dev, "generation " N_GEN " tokens"), "%s", err_dev);
	ck_assert_msg(strlen(out_cpu) > 0, "kllm-run printed nothing");
	ck_assert_msg(!strcmp(out_cpu, out_dev), "text differs:\ncpu \"%s\"\ndev \"%s\"",
		      out_cpu, out_dev);
}
END_TEST

/* kllm-bench submit: in-process, ioctl and io_uring columns, exit 0. */
START_TEST(test_bench_submit)
{
	/* --engine dev: the tests before leave KLLM_ENGINE=cpu in the environment */
	char *const argv[] = { KLLM_BENCH, "submit", "-m", "/data/submit.gguf", "-b", "1,8,64",
			       "-n", "64", "-r", "3", "--engine", "dev", NULL };
	char line[512];
	int status, rows = 0, deferred = 0;
	double t0 = now();
	pid_t pid;
	FILE *f;

	progress("kllm-bench submit", "");
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open("/tmp/bench.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fo < 0 || dup2(fo, 1) < 0 || dup2(fo, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	took("kllm-bench submit", t0);
	f = fopen("/tmp/bench.out", "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		int batch, jobs;
		double v[9];

		printf("vm: bench: %s", line);
		/* both target kernels (6.1 on) give the runtime's deferred ring */
		deferred |= !!strstr(line, "io_uring ring: single-issuer, deferred task work");
		/* a row: batch, jobs, then wall µs, CPU µs and syscalls per job
		 * of each column */
		if (sscanf(line, " %d | %d | %lf %lf %lf | %lf %lf %lf | %lf %lf %lf |", &batch,
			   &jobs, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
			   &v[8]) != 11)
			continue;
		rows++;
		ck_assert_msg(v[0] > 0 && v[3] > 0 && v[6] > 0, "%s", line);
		ck_assert_msg(v[1] > 0 && v[4] > 0 && v[7] > 0, "%s", line);
		/* syscalls: none in process, 2 per job by ioctl, 1 per batch */
		ck_assert_msg(v[2] == 0 && v[5] >= 2 && v[8] >= 1.0 / batch, "%s", line);
	}
	fclose(f);
	fflush(stdout);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	ck_assert_int_eq(rows, 3);
	ck_assert_msg(deferred, "no \"io_uring ring: single-issuer, deferred task work\" line");
}
END_TEST

/* Last: every context is gone; rmmod works. */
START_TEST(test_unload_clean)
{
	int fd = kd_open();
	struct drm_kllm_get_stats st;

	ck_assert_int_ge(fd, 0);
	st = kd_stats(fd);
	close(fd);
	ck_assert_uint_eq(st.programs, 0);
	ck_assert_uint_eq(st.jobs_in_flight, 0);
	ck_assert_int_eq(vm_unload(KLLM), 0);
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

static Suite *smollm2_suite(void)
{
	Suite *s = suite_create("guest_smollm2");
	TCase *tc = tcase_create("smollm2");

	tcase_set_timeout(tc, 600);	/* TCG */
	tcase_add_test(tc, test_prompt_dev);
	tcase_add_test(tc, test_kllm_run);
	tcase_add_test(tc, test_bench_submit);
	tcase_add_test(tc, test_unload_clean);
	suite_add_tcase(s, tc);
	return s;
}

/* Tokenize the prompt with the public API; 0 or -1. */
static int tokenize_prompt(void)
{
	int n = kllm_tokenize(g_llm, prompt_text, strlen(prompt_text), 1, 1, g_prompt, PL);

	if (n != PL)
		return printf("vm: guest_smollm2: the prompt is %d tokens, not %d (%s)\n", n,
			      PL, n < 0 ? kllm_last_error() : ""), -1;
	return 0;
}

/* Module and library on the same SIMD path; the models; the reference. */
static int setup(void)
{
	char params[64], err[256], node[64];
	double t0 = now();

	progress("load", "");
	g_simd = vm_same_simd();
	snprintf(params, sizeof(params), "simd=%s job_timeout_ms=" JOB_MS, g_simd);
	setenv("KLLM_SIMD", g_simd, 1);	/* also for kllm-run and kllm-bench */
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	if (vm_load_kllm(params) || kd_find_node(node, sizeof(node)))
		return printf("vm: guest_smollm2: kllm.ko (%s) did not load or has no node\n",
			      params), -1;
	kllm_cpu_init();
	if (strcmp(kk_simd_name(kk_simd_selected()), g_simd))
		return printf("vm: guest_smollm2: runtime path %s, not %s\n",
			      kk_simd_name(kk_simd_selected()), g_simd), -1;
	if (kllm_model_load(&g_model, MODEL_PATH, err, sizeof(err)))
		return printf("vm: guest_smollm2: %s\n", err), -1;
	if (kllm_llm_load(MODEL_PATH, &g_llm))
		return printf("vm: guest_smollm2: %s\n", kllm_last_error()), -1;
	g_vocab = g_model->hp.n_vocab;
	if (tokenize_prompt())
		return -1;
	took("load", t0);
	printf("vm: guest_smollm2: %s, simd %s, %u layers, n_embd %u, vocab %u\n",
	       node, g_simd, g_model->hp.n_layer, g_model->hp.n_embd, g_vocab);
	g_ref = calloc((size_t)PL * g_vocab, sizeof(float));
	if (!g_ref)
		return -1;
	return prompt_rows("cpu", g_ref, NULL);
}

int main(void)
{
	int failed;

	if (getuid() != 0) {
		printf("vm: guest_smollm2 needs root\n");
		return 1;
	}
	if (setup()) {
		if (vm_module_loaded(KLLM))
			vm_unload(KLLM);
		return 1;
	}
	failed = kt_run(smollm2_suite());
	free(g_ref);
	kllm_llm_free(g_llm);
	kllm_model_free(g_model);
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	return failed;
}
