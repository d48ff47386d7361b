// SPDX-License-Identifier: MIT
/*
 * submit.c - `kllm-bench submit`: what one job costs on its own, apart
 * from the work it does.  The same one-token forward pass of a model
 * (best a tiny one: kllm-mkmodel) runs
 *
 *   in-process  kllm_forward() on this process's CPU engine;
 *   ioctl       JOB_SUBMIT for each job of a batch, then JOB_WAIT for each;
 *   io_uring    the batch's jobs as IORING_OP_URING_CMD entries, submitted
 *               and waited for by one io_uring_enter (a ring of 64, set
 *               up as the runtime sets up its own: kllm_dev_ring_init).
 *
 * for batch sizes 1..64 (jobs in flight at once; each job of a batch has
 * its own KV sequence and output buffer object, so they are independent).  The
 * table gives, per job (best of -r runs of -n jobs): wall µs; this
 * process's CPU µs (CLOCK_PROCESS_CPUTIME_ID: for the device columns what
 * submitting and reaping cost the app, the engine's own work being
 * kernel threads'; in process, the forward pass itself); and the
 * submission syscalls, counted as they are made (the in-process call
 * makes none; the thread pool's own futex wake-ups are not submissions).
 *
 * Without a kllm node only the in-process column runs ("device engine: no
 * kllm node"); --engine dev makes that an error, --engine cpu skips the
 * device.  The device columns need the library's device engine, built
 * with liburing and libdrm (KLLM_HAVE_DEV).
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef KLLM_HAVE_DEV
#include "engine_dev.h"
#include "kllm_dev_access.h"
#endif

#define MAX_LIST BENCH_MAX_LIST
#define MAX_BATCH 64	/* the ring's entries: a batch is one io_uring_enter */
#define N_CTX 16
#define TOKEN 1

enum { COL_CPU, COL_IOCTL, COL_URING, N_COLS };
static const char *const col_names[N_COLS] = { "in-process", "ioctl", "io_uring" };

enum { ENG_AUTO, ENG_CPU, ENG_DEV };

struct sopts {
	struct bench_common c;	/* -m, -t (one count), -r, -o, --engine */
	int batch[MAX_LIST], n_batch;
	int jobs;
	int engine;	/* ENG_*, from bench_engine_name() */
};

/* One batch size: per column, wall µs, CPU µs and syscalls per job (us < 0: not run). */
struct srow {
	int batch, jobs;
	double us[N_COLS], cpu_us[N_COLS], sys[N_COLS];
};

/* The device side: a context on it, and per batch slot its own buffers. */
struct sdev {
	struct kllm_ctx *ctx;
	struct kllm_dev *d;
	char why[320];			/* why there is no device */
	const char *name;		/* "dev (io_uring)" ... */
	int have_ring;
	unsigned int ring_flags;	/* IORING_SETUP_* of the ring */
	uint64_t syscalls;
#ifdef KLLM_HAVE_DEV
	struct io_uring ring;
	uint32_t kv[MAX_BATCH];		/* the driver's KV sequences */
	struct kllm_dev_bo out[MAX_BATCH];
	struct drm_kllm_bind binds[MAX_BATCH][2];
	struct drm_kllm_job jobs[MAX_BATCH];
#endif
};

static const int32_t j_token = TOKEN, j_pos, j_seq, j_row;

void bench_submit_usage(void)
{
	printf("usage: kllm-bench submit -m MODEL [-b 1,2,4,8,16,32,64] [-n JOBS] [-r REPS]\n"
	       "                         [-t T] [--engine auto|cpu|dev]\n"
	       "                         [-o md|csv|json|jsonl|sql]\n"
	       "  The cost of one job on its own: the same one-token forward pass as an\n"
	       "  in-process call, through the ioctls (JOB_SUBMIT then JOB_WAIT) and\n"
	       "  through io_uring (one io_uring_enter per batch).  µs per job, best of\n"
	       "  REPS runs, this process's CPU µs per job (for the device columns: what\n"
	       "  submitting and reaping cost the app), and syscalls per job.  Use a tiny\n"
	       "  model so the job itself is cheap, e.g.\n"
	       "    kllm-mkmodel -o tiny.gguf --layers 1 --embd 32 --heads 1 --kv-heads 1\n"
	       "                 --ffn 32 --vocab 288 --type f32\n"
	       "  -m, --model FILE    GGUF model\n"
	       "  -b B,...            jobs in flight at a time (default 1,2,4,8,16,32,64; at\n"
	       "                      most 64)\n"
	       "  -n JOBS             jobs per run (default 256, rounded up to whole batches)\n"
	       "  -r REPS             runs, the best counts (default 3)\n"
	       "  -t, --threads T     in-process threads (default: every CPU)\n"
	       "  --engine E          cpu: the in-process column only; dev: fail without the\n"
	       "                      kllm driver; auto: without it the in-process column\n"
	       "                      alone.  Default: KLLM_ENGINE, else auto.\n"
	       "  -o, --output F      md (default), csv, json, jsonl or sql; --json is -o json.\n"
	       "                      Rows: model, model_type, simd, threads, reps, batch, jobs,\n"
	       "                      device, device_note, ring, inproc_us, inproc_cpu_us,\n"
	       "                      inproc_syscalls, ioctl_us, ioctl_cpu_us, ioctl_syscalls,\n"
	       "                      uring_us, uring_cpu_us, uring_syscalls (null where a\n"
	       "                      column did not run).\n"
	       "  -h, --help          this help\n"
	       "Progress on stderr.\n");
}

static int parse_batch(const char *s)
{
	int v = bench_parse_uint(s);

	return v >= 1 && v <= MAX_BATCH ? v : -1;
}

/* 0, 1 after -h (usage printed), -1 (-2: a bad KLLM_ENGINE) after a one-line message. */
static int parse_opts(struct sopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	static const int def_batch[] = { 1, 2, 4, 8, 16, 32, 64 };
	const char *eng;
	int c, v, ret;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 3, 1 << 20);
	o->jobs = 256;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:b:n:r:t:o:h", lopts, NULL)) != -1) {
		if (c == 'b') {
			o->n_batch = bench_parse_list(optarg, parse_batch, o->batch, MAX_LIST,
						     "submit", "-b", "1..64");
			if (o->n_batch < 0)
				return -1;
		} else if (c == 'n') {
			v = bench_parse_uint(optarg);
			if (v < 1 || v > 1 << 20) {
				fprintf(stderr, "kllm-bench submit: bad value '%s' for -n "
					"(jobs 1..%d)\n", optarg, 1 << 20);
				return -1;
			}
			o->jobs = v;
		} else if ((ret = bench_common_opt(&o->c, c, optarg, "submit", argv)) ==
			   BENCH_OPT_HELP) {
			bench_submit_usage();
			return 1;
		} else if (ret <= 0) {
			return -1;
		}
	}
	if (bench_common_check(&o->c, "submit", argc, argv))
		return -1;
	/* the choice decides the columns here: KLLM_ENGINE is set per context */
	eng = bench_engine_name(&o->c);
	if (!bench_engine_valid(eng)) {
		fprintf(stderr, "kllm-bench submit: KLLM_ENGINE=%s: expected cpu, dev or auto\n",
			eng);
		return -2;	/* the environment's, not the command line's: status 1 */
	}
	o->engine = !strcmp(eng, "cpu") ? ENG_CPU : !strcmp(eng, "dev") ? ENG_DEV : ENG_AUTO;
	if (!o->n_batch) {
		memcpy(o->batch, def_batch, sizeof(def_batch));
		o->n_batch = sizeof(def_batch) / sizeof(def_batch[0]);
	}
	return 0;
}

/* ------------------------------------------------------------ in-process */

/* @n calls of kllm_forward: the same token at position 0 of sequence 0. */
static int run_cpu(struct kllm_ctx *ctx, float *logits, int n)
{
	for (int i = 0; i < n; i++) {
		int ret = kllm_forward(ctx, 1, &j_token, &j_pos, &j_seq, &j_row, 1, logits);

		if (ret) {
			fprintf(stderr, "kllm-bench: in-process forward: %s\n",
				kllm_ctx_error(ctx));
			return ret;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ device */

#ifdef KLLM_HAVE_DEV
/* Buffers and the job of each batch slot; the ring where the kernel lets us. */
static int dev_prepare(struct sdev *s, const struct bench_lm *lm)
{
	const uint64_t out_size = (uint64_t)lm->m->hp.n_vocab * sizeof(float);
	int ret;

	for (int j = 0; j < MAX_BATCH; j++) {
		ret = kllm_dev_seq_create(s->d, &s->kv[j]);
		if (ret) {
			fprintf(stderr, "kllm-bench: KV_SEQ_CREATE: %s\n", strerror(-ret));
			return ret;
		}
		ret = kllm_dev_bo_create(s->d, out_size, &s->out[j]);
		if (ret) {
			fprintf(stderr, "kllm-bench: BO_CREATE: %s\n", strerror(-ret));
			return ret;
		}
		s->binds[j][0] = (struct drm_kllm_bind){ .handle = s->out[j].handle };
		s->binds[j][1] = (struct drm_kllm_bind){ .handle = s->kv[j] };
		s->jobs[j] = (struct drm_kllm_job){
			.prog = kllm_dev_prog(s->d), .n_tokens = 1, .n_outputs = 1,
			.n_seqs = 1, .n_binds = 2, .tokens_ptr = (uintptr_t)&j_token,
			.pos_ptr = (uintptr_t)&j_pos, .seq_ptr = (uintptr_t)&j_seq,
			.out_rows_ptr = (uintptr_t)&j_row, .binds_ptr = (uintptr_t)s->binds[j] };
	}
	/* the runtime's own ring: DEFER_TASKRUN where the kernel has it */
	ret = kllm_dev_ring_init(&s->ring, MAX_BATCH, &s->ring_flags);
	if (ret)
		snprintf(s->why, sizeof(s->why), "io_uring: %s", strerror(-ret));
	s->have_ring = !ret;
	return 0;
}

static void dev_release(struct sdev *s)
{
	if (s->have_ring)
		io_uring_queue_exit(&s->ring);
	for (int j = 0; j < MAX_BATCH; j++) {
		if (s->kv[j])
			kllm_dev_seq_free(s->d, s->kv[j]);
		kllm_dev_bo_free(s->d, &s->out[j]);
	}
}

/*
 * One batch of @b jobs: every JOB_SUBMIT, then every JOB_WAIT (one
 * syscall each: a wait's 1-second slices and EINTR retries, which a job
 * this small never needs, are not counted).
 */
static int batch_ioctl(struct sdev *s, int b)
{
	const int fd = kllm_dev_fd(s->d);
	uint64_t ids[MAX_BATCH];
	int32_t status;
	int ret;

	for (int j = 0; j < b; j++) {
		s->syscalls++;
		ret = kllm_node_job_submit(fd, &s->jobs[j], &ids[j]);
		if (ret)
			return fprintf(stderr, "kllm-bench: JOB_SUBMIT: %s\n", strerror(-ret)), ret;
	}
	for (int j = 0; j < b; j++) {
		s->syscalls++;
		ret = kllm_node_job_wait(fd, ids[j], &status);
		if (ret || status)
			return fprintf(stderr, "kllm-bench: JOB_WAIT: %s\n",
				       ret ? strerror(-ret) : kllm_dev_strerror(status)),
			       ret ? ret : status;
	}
	return 0;
}

/* One batch of @b jobs: fill the ring, one enter submits and waits for all. */
static int batch_uring(struct sdev *s, int b)
{
	struct io_uring_cqe *cqe;
	int done = 0, ret;

	for (int j = 0; j < b; j++) {
		ret = kllm_ring_queue_job(&s->ring, kllm_dev_fd(s->d), &s->jobs[j], (__u64)j);
		if (ret)	/* (a batch is at most the ring's 64 entries) */
			return fprintf(stderr, "kllm-bench: io_uring SQE: %s\n",
				       strerror(-ret)), ret;
	}
	while (done < b) {
		s->syscalls++;	/* no SQPOLL: one io_uring_enter per call */
		ret = io_uring_submit_and_wait(&s->ring, (unsigned)(b - done));
		if (ret < 0 && ret != -EINTR)
			return fprintf(stderr, "kllm-bench: io_uring_enter: %s\n",
				       strerror(-ret)), ret;
		while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
			ret = cqe->res;
			io_uring_cqe_seen(&s->ring, cqe);
			done++;
			if (ret)
				return fprintf(stderr, "kllm-bench: uring job: %s\n",
					       kllm_dev_strerror(ret)), ret;
		}
	}
	return 0;
}

static int run_dev(struct sdev *s, int col, int b, int n)
{
	for (int i = 0; i < n; i += b) {
		int ret = col == COL_IOCTL ? batch_ioctl(s, b) : batch_uring(s, b);

		if (ret)
			return ret;
	}
	return 0;
}
#else
static int run_dev(struct sdev *s, int col, int b, int n)
{
	(void)s, (void)col, (void)b, (void)n;
	return -ENOTSUP;
}
#endif

/* ------------------------------------------------------------ runs */

/* CPU seconds of every thread of this process so far. */
static double process_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Best of o->c.reps runs of @n jobs in column @col: wall µs, CPU µs (each
 * the least of the runs) and syscalls per job.
 */
static int measure(const struct sopts *o, struct kllm_ctx *cpu, struct sdev *s, float *logits,
		   int col, int b, int n, struct srow *r)
{
	double best = 0, best_cpu = 0;
	int ret;

	/* warm-up: the first job pages in the weights and proves the path */
	ret = col == COL_CPU ? run_cpu(cpu, logits, b) : run_dev(s, col, b, b);
	for (int i = 0; i < o->c.reps && !ret; i++) {
		uint64_t sys0 = s->syscalls;
		double c0 = process_cpu(), t0 = bench_now(), t, c;

		ret = col == COL_CPU ? run_cpu(cpu, logits, n) : run_dev(s, col, b, n);
		t = bench_now() - t0;
		c = process_cpu() - c0;
		if (!i || t < best)
			best = t;
		if (!i || c < best_cpu)
			best_cpu = c;
		r->sys[col] = (double)(s->syscalls - sys0) / n;
	}
	r->us[col] = best * 1e6 / n;
	r->cpu_us[col] = best_cpu * 1e6 / n;
	return ret;
}

/* The device context (KLLM_ENGINE=dev); 1 and s->why when there is none. */
static int dev_open(const struct sopts *o, const struct bench_lm *lm, struct sdev *s)
{
	/* MAX_BATCH sequences: the driver's KV pool then has a block for
	 * each of the raw jobs' sequences (dev_prepare) */
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = 1, .n_seqs = MAX_BATCH };
	char err[256];
	const char *e;
	int ret;

	if (o->engine == ENG_CPU)
		return snprintf(s->why, sizeof(s->why), "not asked for (engine cpu)"), 1;
	setenv("KLLM_ENGINE", "dev", 1);
	ret = kllm_ctx_create(&s->ctx, lm->m, &co, err, sizeof(err));
	/* (the library's messages start with "device engine: ") */
	e = strncmp(err, "device engine: ", 15) ? err : err + 15;
	if (ret == -ENOENT)
		snprintf(s->why, sizeof(s->why), "no kllm node (%s)", e);
	else if (ret)
		snprintf(s->why, sizeof(s->why), "%s", e);
	if (ret)
		return 1;
#ifdef KLLM_HAVE_DEV
	s->d = kllm_ctx_dev(s->ctx);
	s->name = kllm_dev_name(s->d);
	return dev_prepare(s, lm);
#else
	snprintf(s->why, sizeof(s->why), "this kllm-bench has no device columns (built "
		 "without KLLM_HAVE_DEV: liburing and libdrm)");
	return 1;
#endif
}

static void dev_close(struct sdev *s)
{
#ifdef KLLM_HAVE_DEV
	if (s->d)
		dev_release(s);
#endif
	kllm_ctx_free(s->ctx);
}

/* ------------------------------------------------------------ output */

/* How the io_uring column's ring was set up; NULL: no ring. */
static const char *ring_kind(const struct sdev *s)
{
#ifdef KLLM_HAVE_DEV
	if (s->have_ring)
		return s->ring_flags & IORING_SETUP_DEFER_TASKRUN ?
			"single-issuer, deferred task work" : "plain";
#else
	(void)s;
#endif
	return NULL;
}

static void cell(double us, double cpu_us, double sys)
{
	if (us < 0)
		printf(" %9s %8s %7s |", "-", "-", "-");
	else
		printf(" %9.2f %8.2f %7.3f |", us, cpu_us, sys);
}

static void print_table(const struct sopts *o, const struct bench_lm *lm,
			const struct sdev *s, const struct srow *r, int n)
{
	printf("kllm-bench submit: %s, one-token jobs, best of %d runs, %s path, "
	       "%d in-process thread%s\n", lm->name, o->c.reps, kk_simd_name(kk_simd_selected()),
	       o->c.threads[0], o->c.threads[0] == 1 ? "" : "s");
	if (s->name)
		printf("device engine: %s; io_uring ring: %s\n", s->name,
		       s->have_ring ? ring_kind(s) : s->why);
	else
		printf("device engine: %s\n", s->why);
	printf("\n  batch |  jobs | %-26s | %-26s | %-26s | ioctl/in | uring/in |"
	       " uring/ioctl\n", "in-process", "ioctl", "io_uring");
	printf("        |       |");
	for (int c = 0; c < N_COLS; c++)
		printf("    µs/job  cpu µs  sys/job |");
	printf("   (wall) |   (wall) |  (wall, cpu)\n");
	for (int i = 0; i < n; i++) {
		const double *us = r[i].us, *cpu = r[i].cpu_us;

		printf("  %5d | %5d |", r[i].batch, r[i].jobs);
		for (int c = 0; c < N_COLS; c++)
			cell(us[c], cpu[c], r[i].sys[c]);
		for (int c = COL_IOCTL; c < N_COLS; c++) {
			if (us[c] >= 0 && us[COL_CPU] > 0)
				printf(" %7.2fx |", us[c] / us[COL_CPU]);
			else
				printf(" %8s |", "-");
		}
		if (us[COL_IOCTL] > 0 && us[COL_URING] > 0 && cpu[COL_IOCTL] > 0)
			printf(" %5.2fx %5.2fx", us[COL_URING] / us[COL_IOCTL],
			       cpu[COL_URING] / cpu[COL_IOCTL]);
		else
			printf(" %6s %6s", "-", "-");
		printf("\n");
	}
}

static void print_rows(const struct sopts *o, const struct bench_lm *lm,
		       const struct sdev *s, const struct srow *r, int n)
{
	static const char *const keys[N_COLS][3] = {
		{ "inproc_us", "inproc_cpu_us", "inproc_syscalls" },
		{ "ioctl_us", "ioctl_cpu_us", "ioctl_syscalls" },
		{ "uring_us", "uring_cpu_us", "uring_syscalls" },
	};
	struct bench_rows rows;

	bench_rows_begin(&rows, o->c.fmt, "submit");
	for (int i = 0; i < n; i++) {
		bench_row_str(&rows, "model", lm->name);
		bench_row_str(&rows, "model_type", lm->type);
		bench_row_str(&rows, "simd", kk_simd_name(kk_simd_selected()));
		bench_row_int(&rows, "threads", o->c.threads[0]);
		bench_row_int(&rows, "reps", o->c.reps);
		bench_row_int(&rows, "batch", r[i].batch);
		bench_row_int(&rows, "jobs", r[i].jobs);
		bench_row_str(&rows, "device", s->name);
		bench_row_str(&rows, "device_note", s->why);
		bench_row_str(&rows, "ring", ring_kind(s));
		for (int c = 0; c < N_COLS; c++) {
			const int ran = r[i].us[c] >= 0;

			bench_row_num(&rows, keys[c][0], ran ? r[i].us[c] : NAN, 4);
			bench_row_num(&rows, keys[c][1], ran ? r[i].cpu_us[c] : NAN, 4);
			bench_row_num(&rows, keys[c][2], ran ? r[i].sys[c] : NAN, 4);
		}
		bench_row_end(&rows);
	}
	bench_rows_end(&rows);
}

/* ------------------------------------------------------------ main */

static int run_all(const struct sopts *o, struct kllm_ctx *cpu, struct sdev *s,
		   float *logits, struct srow *rows)
{
	for (int i = 0; i < o->n_batch; i++) {
		struct srow *r = &rows[i];
		int b = o->batch[i], ret;

		r->batch = b;
		r->jobs = (o->jobs + b - 1) / b * b;
		for (int c = 0; c < N_COLS; c++)
			r->us[c] = r->cpu_us[c] = r->sys[c] = -1;
		bench_progress("  submit batch %d (%d jobs)...", b, r->jobs);
		for (int c = 0; c < N_COLS; c++) {
			if (c != COL_CPU && (!s->d || (c == COL_URING && !s->have_ring)))
				continue;
			ret = measure(o, cpu, s, logits, c, b, r->jobs, r);
			if (ret)
				return ret;
			bench_progress(" %s %.2f µs", col_names[c], r->us[c]);
		}
		bench_progress("\n");
	}
	return 0;
}

int bench_submit_main(int argc, char **argv)
{
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = 1, .n_seqs = 1 };
	struct srow rows[MAX_LIST];
	struct kllm_ctx *cpu = NULL;
	struct sdev *s;
	struct bench_lm lm;
	struct sopts o;
	float *logits;
	char err[256];
	int ret;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : ret == -2 ? 1 : 2;
	if (bench_lm_load(&lm, o.c.model))
		return 1;
	s = calloc(1, sizeof(*s));
	logits = calloc(lm.m->hp.n_vocab, sizeof(float));
	if (!s || !logits) {
		fprintf(stderr, "kllm-bench: out of memory\n");
		return 1;
	}
	co.n_threads = (uint32_t)o.c.threads[0];
	ret = dev_open(&o, &lm, s);
	if (ret > 0) {
		fprintf(stderr, "kllm-bench: device engine: %s\n", s->why);
		ret = o.engine == ENG_DEV ? -ENODEV : 0;
	}
	if (!ret) {
		setenv("KLLM_ENGINE", "cpu", 1);
		ret = kllm_ctx_create(&cpu, lm.m, &co, err, sizeof(err));
		if (ret)
			fprintf(stderr, "kllm-bench: in-process context: %s\n", err);
	}
	if (!ret)
		ret = run_all(&o, cpu, s, logits, rows);
	if (!ret && o.c.fmt != BENCH_FMT_MD)
		print_rows(&o, &lm, s, rows, o.n_batch);
	else if (!ret)
		print_table(&o, &lm, s, rows, o.n_batch);
	kllm_ctx_free(cpu);
	dev_close(s);
	free(s);
	free(logits);
	bench_lm_free(&lm);
	return ret ? 1 : 0;
}
