// SPDX-License-Identifier: MIT
/*
 * guest_kv.c - paged KV and the prefix cache in kllm.ko (kmod/kllm_kv*.c)
 * under QEMU, with a 1,088-position context, on run.sh's synthetic llama
 * (/data/engine.gguf, Q4_0, 4 layers, n_embd 256) for the bitwise checks
 * and a smaller f32 one (/data/prefix.gguf, kllm-mkmodel --layers 2
 * --embd 128 --type f32: tests/vm/data.sh) for the processes that time a
 * 1,000-token prefill.
 *
 *  - the device engine (runtime/engine_dev.c) on a paged program, its
 *    caches the driver's sequences, gives the CPU engine's logits (paged
 *    in process) bit for bit, at batch sizes 1, 5 and 16, for two
 *    sequences in one job, after a fork, and after a prefix-cache hit;
 *    a Q8_0 cache likewise (its blocks 34/64 of F16's bytes);
 *  - jobs of two files fused into passes and run in 8-token chunks give
 *    the logits they give whole and alone, bit for bit, also while one
 *    reads the prefix blocks it shares with the other (counted passes);
 *  - a second process of the same uid hits the first's 1,000-token
 *    system prompt: its time to first token against the cold one
 *    (printed; >= 10x required), the same logits;
 *  - another uid gets no hit, unless root marked the prefix public; a
 *    non-root file may not mark anything public;
 *  - four processes holding the prefix hold its blocks once;
 *  - drop_caches evicts the idle cached blocks (the shrinker) and never
 *    one a sequence holds: that sequence's logits stay the CPU's;
 *  - hostile use of the ioctls: unknown, freed and other files' handles,
 *    bad flags, fork past the source, huge or unreadable lookups, jobs
 *    on busy sequences, a handle named twice, a sequence freed and a file
 *    closed while their jobs wait: clean errors (run.sh's dmesg scan
 *    catches any oops or warning), and the pool back to empty after.
 */
#include "drm_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <sys/mount.h>

#include "cpu.h"
#include "engine_dev.h"
#include "kvraw_util.h"
#include "model.h"
#include "seq.h"

#define KLLM "kllm"
#define MODEL_PATH "/data/engine.gguf"
#define FAST_PATH "/data/prefix.gguf"	/* tests/vm/data.sh: kllm-mkmodel */
#define FAST_VOCAB 288
#define N_CTX 1088
#define MAX_BATCH 64
#define N_SYS 1000	/* the system prompt */
#define N_Q 20		/* the question after it */
#define N_ALL (N_SYS + N_Q)
#define UID_A 1000
#define UID_B 1001

static struct kllm_model *g_model, *g_fast;
static uint32_t g_vocab;
static uint32_t g_kv_type = KLLM_KV_F16;	/* the cache's type, both engines */
static int32_t g_tok[N_ALL];	/* system prompt, then question */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct kllm_ctx *ctx_new(const char *engine, uint32_t n_seqs, char *err, size_t n)
{
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = MAX_BATCH, .n_seqs = n_seqs,
				    .kv_type = g_kv_type };
	struct kllm_ctx *ctx = NULL;

	setenv("KLLM_ENGINE", engine, 1);
	if (kllm_ctx_create(&ctx, g_model, &co, err, n))
		return NULL;
	return ctx;
}

static struct kllm_ctx *ctx_must(const char *engine, uint32_t n_seqs)
{
	char err[256];
	struct kllm_ctx *ctx = ctx_new(engine, n_seqs, err, sizeof(err));

	ck_assert_msg(ctx != NULL, "KLLM_ENGINE=%s: %s", engine, err);
	return ctx;
}

static float *rows_alloc(uint32_t n)
{
	float *p = calloc((size_t)n * g_vocab, sizeof(float));

	ck_assert_ptr_nonnull(p);
	return p;
}

/* @n tokens of @seq from @pos0 in batches of @bs, every row's logits to @out. */
static int feed(struct kllm_ctx *ctx, int32_t seq, uint32_t pos0, const int32_t *tok,
		uint32_t n, uint32_t bs, float *out)
{
	int32_t pos[MAX_BATCH], sid[MAX_BATCH], rows[MAX_BATCH];
	int ret = 0;

	for (uint32_t off = 0; off < n && !ret; off += bs) {
		uint32_t len = n - off < bs ? n - off : bs;

		for (uint32_t i = 0; i < len; i++) {
			pos[i] = (int32_t)(pos0 + off + i);
			sid[i] = seq;
			rows[i] = (int32_t)i;
		}
		ret = kllm_forward(ctx, len, tok + off, pos, sid, rows, out ? len : 0,
				   out ? out + (size_t)off * g_vocab : NULL);
	}
	return ret;
}

static void feed_must(struct kllm_ctx *ctx, int32_t seq, uint32_t pos0, const int32_t *tok,
		      uint32_t n, uint32_t bs, float *out)
{
	int ret = feed(ctx, seq, pos0, tok, n, bs, out);

	ck_assert_msg(!ret, "forward on %s: %d %s", kllm_ctx_engine_name(ctx), ret,
		      kllm_ctx_error(ctx));
}

static void assert_same(const float *a, const float *b, uint32_t rows, const char *what)
{
	for (uint32_t r = 0; r < rows; r++)
		ck_assert_msg(!memcmp(a + (size_t)r * g_vocab, b + (size_t)r * g_vocab,
				      4ull * g_vocab), "%s: row %u differs", what, r);
}

/* ------------------------------------------------------------ the device */

/* The program compiled paged, in the driver; three sequences of it. */
struct dsess {
	struct kllm_dev *d;
	struct kllm_compiled c;
	struct kllm_prog_info info;
	uint32_t h[3];
	int public_ret;		/* CTX_SET KV_PUBLIC's, when asked */
};

static int ds_open_model(struct dsess *ds, const struct kllm_model *m, int public, char *err,
			 size_t n)
{
	struct kllm_compile_opts co = { .n_ctx = N_CTX, .max_batch = MAX_BATCH,
					.kv_block_shift = 4, .kv_type = g_kv_type };
	struct kllm_prog_err perr;
	int ret;

	memset(ds, 0, sizeof(*ds));
	ret = kllm_compile(m, &co, &ds->c, err, n);
	if (!ret && kllm_prog_check(ds->c.img, ds->c.size, &ds->info, &perr))
		ret = -EINVAL, snprintf(err, n, "program rejected");
	if (!ret)
		ret = kllm_dev_open(&ds->d, err, n);
	if (!ret)
		ret = kllm_dev_load(ds->d, &ds->c, &ds->info, m->fd, m->data_offset, err, n);
	if (!ret && public) {
		struct drm_kllm_ctx_set cs = { .param = KLLM_CTX_KV_PUBLIC, .value = 1 };

		ds->public_ret = kd_ioctl(kllm_dev_fd(ds->d), DRM_IOCTL_KLLM_CTX_SET, &cs);
	}
	for (int i = 0; i < 3 && !ret; i++)
		ret = kllm_dev_seq_create(ds->d, &ds->h[i]);
	if (ret && !err[0])
		snprintf(err, n, "%s", strerror(-ret));
	return ret;
}

static int ds_open(struct dsess *ds, int public, char *err, size_t n)
{
	return ds_open_model(ds, g_model, public, err, n);
}

static void ds_close(struct dsess *ds)
{
	for (int i = 0; i < 3; i++)
		if (ds->h[i])
			kllm_dev_seq_free(ds->d, ds->h[i]);
	kllm_dev_close(ds->d);
	kllm_compiled_free(&ds->c);
}

static void ds_must(struct dsess *ds)
{
	char err[256] = "";

	ck_assert_msg(!ds_open(ds, 0, err, sizeof(err)), "device: %s", err);
}

/* As feed(), on the device: sequence @s's handle, every row out. */
static int ds_feed(struct dsess *ds, int s, uint32_t pos0, const int32_t *tok, uint32_t n,
		   uint32_t bs, float *out)
{
	int32_t pos[MAX_BATCH], sid[MAX_BATCH], rows[MAX_BATCH];
	int ret = 0;

	for (uint32_t off = 0; off < n && !ret; off += bs) {
		uint32_t len = n - off < bs ? n - off : bs;
		struct kllm_dev_batch b = {
			.n_tokens = len, .n_outputs = len, .n_seqs = 1, .tokens = tok + off,
			.pos = pos, .seq = sid, .out_rows = rows, .kv = &ds->h[s] };

		for (uint32_t i = 0; i < len; i++) {
			pos[i] = (int32_t)(pos0 + off + i);
			sid[i] = 0;
			rows[i] = (int32_t)i;
		}
		b.n_outputs = out ? len : 0;
		ret = kllm_dev_forward(ds->d, &b);
		if (!ret && out)
			memcpy(out + (size_t)off * g_vocab, kllm_dev_output(ds->d)->map,
			       4ull * len * g_vocab);
	}
	return ret;
}

static void ds_feed_must(struct dsess *ds, int s, uint32_t pos0, const int32_t *tok,
			 uint32_t n, uint32_t bs, float *out)
{
	int ret = ds_feed(ds, s, pos0, tok, n, bs, out);

	ck_assert_msg(!ret, "device forward: %d %s", ret, kllm_dev_strerror(ret));
}

/* A long prompt as chunks handed over at once; the last token's logits. */
static int ds_chunks(struct dsess *ds, int s, uint32_t pos0, const int32_t *tok, uint32_t n,
		     float *out)
{
	static int32_t pos[N_CTX], zero[MAX_BATCH];
	struct kllm_dev_batch b[N_CTX / MAX_BATCH + 1];
	uint32_t k = 0;
	int32_t last;
	int ret;

	for (uint32_t i = 0; i < n; i++)
		pos[i] = (int32_t)(pos0 + i);
	for (uint32_t off = 0; off < n; off += MAX_BATCH, k++) {
		uint32_t len = n - off < MAX_BATCH ? n - off : MAX_BATCH;

		last = (int32_t)len - 1;
		b[k] = (struct kllm_dev_batch){
			.n_tokens = len, .n_outputs = off + len == n, .n_seqs = 1,
			.tokens = tok + off, .pos = pos + off, .seq = zero, .out_rows = &last,
			.kv = &ds->h[s] };
	}
	ret = kllm_dev_forward_many(ds->d, b, k);
	if (!ret)
		memcpy(out, kllm_dev_output(ds->d)->map, 4ull * ds->c.n_vocab);
	return ret;
}

static void ds_stats(struct dsess *ds, struct kllm_dev_kv_stats *st)
{
	ck_assert_int_eq(kllm_dev_kv_stats(ds->d, st), 0);
}

/* ------------------------------------------------------------ dev == cpu */

#define NP 40

/*
 * The device against the CPU, both with g_kv_type's cache: a prompt at
 * batch sizes @bs, a fork with a copied partial block, its source going
 * on, a prefix hit in the driver.  Returns the driver's block bytes.
 */
static uint64_t dev_equals_cpu(const uint32_t *bs, uint32_t n_bs)
{
	struct kllm_ctx *cpu = ctx_must("cpu", 3);
	float *a = rows_alloc(NP), *b = rows_alloc(NP);
	uint64_t block;
	struct dsess ds;

	ds_must(&ds);
	ck_assert_str_eq(kllm_ctx_engine_name(cpu), "cpu");
	ck_assert_uint_eq(kllm_ctx_program(cpu)->kv_type, g_kv_type);
	for (uint32_t k = 0; k < n_bs; k++) {
		ck_assert_int_eq(kllm_seq_clear(cpu, 0), 0);
		ck_assert_int_eq(kllm_dev_seq_truncate(ds.d, ds.h[0], 0), 0);
		feed_must(cpu, 0, 0, g_tok, NP, bs[k], a);
		ds_feed_must(&ds, 0, 0, g_tok, NP, bs[k], b);
		assert_same(a, b, NP, "prompt");
	}
	/* a fork at 37 (two full blocks shared, a partial one copied), then decode */
	ck_assert_int_eq(kllm_seq_copy(cpu, 1, 0, 37), 0);
	ck_assert_int_eq(kllm_dev_seq_fork(ds.d, ds.h[1], ds.h[0], 37), 0);
	feed_must(cpu, 1, 37, g_tok + 500, 9, 3, a);
	ds_feed_must(&ds, 1, 37, g_tok + 500, 9, 3, b);
	assert_same(a, b, 9, "after fork");
	/* the original goes on unchanged */
	feed_must(cpu, 0, NP, g_tok + 300, 4, 4, a);
	ds_feed_must(&ds, 0, NP, g_tok + 300, 4, 4, b);
	assert_same(a, b, 4, "fork source");
	/* a prefix hit in the driver: sequence 2 maps 0's first blocks */
	ck_assert_int_eq(kllm_dev_seq_lookup(ds.d, ds.h[2], g_tok, NP), 32);
	ds_feed_must(&ds, 2, 32, g_tok + 32, NP - 32, 8, b);
	ck_assert_int_eq(kllm_seq_clear(cpu, 2), 0);
	feed_must(cpu, 2, 0, g_tok, NP, 16, a);
	assert_same(a + 32ull * g_vocab, b, NP - 32, "after lookup");
	block = ds.c.kv_size;
	free(a);
	free(b);
	kllm_ctx_free(cpu);
	ds_close(&ds);
	return block;
}

START_TEST(test_dev_equals_cpu)
{
	static const uint32_t bs[] = { 1, 5, 16 };

	dev_equals_cpu(bs, sizeof(bs) / sizeof(bs[0]));
}
END_TEST

/* A Q8_0 cache likewise; the driver's blocks are 34/64 of F16's bytes. */
START_TEST(test_dev_equals_cpu_q8_0)
{
	static const uint32_t bs[] = { 16 };
	uint64_t f16_block, q8_block;

	f16_block = dev_equals_cpu(bs, 1);
	g_kv_type = KLLM_KV_Q8_0;
	q8_block = dev_equals_cpu(bs, 1);
	g_kv_type = KLLM_KV_F16;
	ck_assert_uint_eq(q8_block * 64, f16_block * 34);
}
END_TEST

/* Two sequences interleaved in one job, against the CPU's. */
START_TEST(test_batched)
{
	struct kllm_ctx *cpu = ctx_must("cpu", 2);
	int32_t tok[32], pos[32], sid[32], rows[32];
	float *a = rows_alloc(32);
	struct dsess ds;
	struct kllm_dev_batch jb = {
		.n_tokens = 32, .n_outputs = 32, .n_seqs = 2, .tokens = tok, .pos = pos,
		.seq = sid, .out_rows = rows };

	ds_must(&ds);
	jb.kv = ds.h;
	for (int32_t i = 0; i < 32; i++) {
		tok[i] = g_tok[(i & 1) ? 600 + i / 2 : i / 2];
		pos[i] = i / 2;
		sid[i] = i & 1;
		rows[i] = i;
	}
	ck_assert_int_eq(kllm_forward(cpu, 32, tok, pos, sid, rows, 32, a), 0);
	ck_assert_int_eq(kllm_dev_forward(ds.d, &jb), 0);
	assert_same(a, kllm_dev_output(ds.d)->map, 32, "two sequences in one job");
	free(a);
	kllm_ctx_free(cpu);
	ds_close(&ds);
}
END_TEST

/* ------------------------------------------------------------ fused, chunked */

/* A job of @n tokens @tok of session @ds's sequence @s from @p0; logits to @out. */
static struct kvr_job fj(struct dsess *ds, int s, const int32_t *tok, int32_t p0, uint32_t n,
			 float *out)
{
	return (struct kvr_job){
		.fd = kllm_dev_fd(ds->d), .prog = kllm_dev_prog(ds->d),
		.out_bo = kllm_dev_output(ds->d)->handle, .h = ds->h[s],
		.map = kllm_dev_output(ds->d)->map, .tok = tok, .p0 = p0, .n = n, .out = out };
}

START_TEST(test_fused_chunked)
{
	float *ref[2] = { rows_alloc(40), rows_alloc(40) };
	float *got[2] = { rows_alloc(40), rows_alloc(40) };
	struct kvr_stats st;
	struct dsess a, b;
	struct kvr_job f[2];

	ds_must(&a);
	ds_must(&b);
	f[0] = fj(&a, 0, g_tok, 0, 40, ref[0]);
	f[1] = fj(&b, 0, g_tok + 600, 0, 40, ref[1]);
	st = kvr_run_two(f, g_vocab, "N", "0");	/* whole and alone */
	ck_assert_uint_eq(st.batches, 2);
	ck_assert_uint_eq(st.batched_jobs, 2);
	ck_assert_uint_eq(st.chunks, 0);
	ck_assert_int_eq(kllm_dev_seq_truncate(a.d, a.h[0], 0), 0);
	ck_assert_int_eq(kllm_dev_seq_truncate(b.d, b.h[0], 0), 0);
	f[0].out = got[0];
	f[1].out = got[1];
	st = kvr_run_two(f, g_vocab, "Y", "8");	/* both in every pass, 8 tokens each */
	printf("vm: guest_kv: two files' 40-token jobs in 8-token chunks: %llu passes, "
	       "%llu slices, %llu chunks\n", st.batches, st.batched_jobs, st.chunks);
	ck_assert_uint_eq(st.batches, 5);
	ck_assert_uint_eq(st.batched_jobs, 10);
	ck_assert_uint_eq(st.chunks, 8);
	assert_same(ref[0], got[0], 40, "fused and chunked, first file");
	assert_same(ref[1], got[1], 40, "fused and chunked, second file");
	/* b maps a's cached blocks and reads them in the passes a writes in:
	 * positions 40.. of the same tokens, the same logits in both */
	ck_assert_int_eq(kllm_dev_seq_lookup(b.d, b.h[1], g_tok, 40), 32);
	f[0] = fj(&a, 0, g_tok + 40, 40, 24, got[0]);
	f[1] = fj(&b, 1, g_tok + 32, 32, 32, got[1]);
	st = kvr_run_two(f, g_vocab, "Y", "8");
	ck_assert_uint_eq(st.batches, 4);
	ck_assert_uint_eq(st.batched_jobs, 7);
	assert_same(got[0], got[1] + 8ull * g_vocab, 24, "a shared prefix, fused");
	param_write("fuse", "Y");
	param_write("chunk_tokens", "32");
	for (int k = 0; k < 2; k++) {
		free(ref[k]);
		free(got[k]);
	}
	ds_close(&b);
	ds_close(&a);
}
END_TEST

/* Reclaim slab caches: every shrinker, ours too. */
static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "2", 1), 1);
	close(fd);
}

/* ------------------------------------------------------------ processes */

/* What a child reports to the test. */
struct kv_report {
	int ret;
	int hit;		/* positions the lookup gave */
	double ttft_s;		/* lookup + prefill of the rest + first logits */
	struct kllm_dev_kv_stats st;
	float logits[512];	/* the last token's (vocab 512) */
};

struct kv_child {
	pid_t pid;
	int rep;	/* read: its report */
	int hold;	/* write end: closing it lets the child exit */
};

/*
 * A child as @uid (0: root) on the device: optionally marks its file's
 * sequences public, takes the longest cached prefix of the system prompt
 * + question, prefills the rest, reports, then holds its context (and so
 * the program and its cache) until the test closes @hold.
 */
static struct kv_child kv_spawn(uid_t uid, int public, int lookup)
{
	struct kv_child c;
	int rp[2], hp[2];

	ck_assert_int_eq(pipe(rp), 0);
	ck_assert_int_eq(pipe(hp), 0);
	c.pid = fork();
	ck_assert_int_ge(c.pid, 0);
	if (!c.pid) {
		struct kv_report r = { 0 };
		struct dsess ds;
		char err[256] = "", x;
		double t0;

		close(rp[0]);
		close(hp[1]);
		if (uid && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
			    setresuid(uid, uid, uid)))
			_exit(3);
		if (ds_open_model(&ds, g_fast, public, err, sizeof(err))) {
			fprintf(stderr, "kv child: %s\n", err);
			_exit(4);
		}
		r.ret = ds.public_ret;
		t0 = now_s();
		if (!r.ret && lookup)
			r.hit = kllm_dev_seq_lookup(ds.d, ds.h[0], g_tok, N_ALL);
		if (!r.ret && r.hit >= 0)
			r.ret = ds_chunks(&ds, 0, r.hit, g_tok + r.hit, N_ALL - r.hit, r.logits);
		r.ttft_s = now_s() - t0;
		kllm_dev_kv_stats(ds.d, &r.st);
		if (write(rp[1], &r, sizeof(r)) != sizeof(r))
			_exit(5);
		(void)!read(hp[0], &x, 1);	/* until the test lets go */
		ds_close(&ds);
		_exit(0);
	}
	close(rp[1]);
	close(hp[0]);
	c.rep = rp[0];
	c.hold = hp[1];
	return c;
}

static struct kv_report kv_report(struct kv_child *c)
{
	struct kv_report r;
	ssize_t n = 0, got;

	while (n < (ssize_t)sizeof(r) && (got = read(c->rep, (char *)&r + n, sizeof(r) - n)) > 0)
		n += got;
	ck_assert_msg(n == sizeof(r), "child %d reported nothing", (int)c->pid);
	ck_assert_msg(r.ret == 0 && r.hit >= 0, "child %d: ret %d hit %d", (int)c->pid,
		      r.ret, r.hit);
	return r;
}

static void kv_release(struct kv_child *c)
{
	int status;

	close(c->hold);
	close(c->rep);
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	ck_assert_msg(WIFEXITED(status) && !WEXITSTATUS(status), "child status %#x", status);
}

START_TEST(test_prefix_second_process)
{
	struct kv_child a = kv_spawn(UID_A, 0, 1), b;
	struct kv_report ra = kv_report(&a), rb;

	ck_assert_int_eq(ra.hit, 0);	/* nothing cached yet: cold */
	b = kv_spawn(UID_A, 0, 1);
	rb = kv_report(&b);
	/* every whole block but the one holding the last token */
	ck_assert_int_eq(rb.hit, (N_ALL - 1) / 16 * 16);
	ck_assert_msg(!memcmp(ra.logits, rb.logits, 4ull * FAST_VOCAB),
		      "cached prefix changed the logits");
	printf("vm: guest_kv: %u+%u tokens: cold TTFT %.3f s, cached %.3f s (second "
	       "process), speedup %.1fx; blocks used %u, cached %u, hits %llu\n",
	       N_SYS, N_Q, ra.ttft_s, rb.ttft_s, ra.ttft_s / rb.ttft_s, rb.st.n_used,
	       rb.st.n_cached, (unsigned long long)rb.st.hits);
	ck_assert_msg(ra.ttft_s >= 10 * rb.ttft_s, "cached TTFT %.3f s not 10x under cold %.3f s",
		      rb.ttft_s, ra.ttft_s);
	kv_release(&b);
	kv_release(&a);
}
END_TEST

/*
 * kllm-bench prefix --engine dev: apps as processes of their own over the
 * driver's cache (the bench's parent keeps the program, and so the store,
 * alive between them).  Its JSON: the cached app reused every whole block
 * of the system prompt, the same question gave the same logits, and 3
 * apps hold less than 3 copies.
 */
#define KLLM_BENCH "/usr/local/bin/kllm-bench"
START_TEST(test_bench_prefix)
{
	char *const argv[] = { KLLM_BENCH, "prefix", "-m", FAST_PATH, "--system", "200",
			       "--question", "8", "--apps", "3", "-t", "2", "--engine", "dev",
			       "-o", "jsonl", NULL };
	long long one = 0, k = 0, copies = 0, reused = -1;
	char line[1024], *p;
	int status, same = 0;
	pid_t pid;
	FILE *f;

	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open("/tmp/prefix.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fo < 0 || dup2(fo, 1) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	f = fopen("/tmp/prefix.out", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	printf("vm: guest_kv: kllm-bench prefix: %s", line);
	ck_assert_ptr_nonnull(strstr(line, "\"backend\": \"dev"));
	same = strstr(line, "\"same_logits\": true") != NULL;
	if ((p = strstr(line, "\"reused_tokens\": ")))
		reused = strtoll(p + 17, NULL, 10);
	if ((p = strstr(line, "\"kv_bytes_one_app\": ")))
		one = strtoll(p + 20, NULL, 10);
	if ((p = strstr(line, "\"kv_bytes_k_apps\": ")))
		k = strtoll(p + 19, NULL, 10);
	if ((p = strstr(line, "\"kv_bytes_k_copies\": ")))
		copies = strtoll(p + 21, NULL, 10);
	ck_assert_msg(same, "the cached app's logits differ");
	ck_assert_int_eq(reused, 192);	/* 200 system tokens: 12 whole blocks */
	ck_assert_msg(one > 0 && one < k && k < copies, "KV bytes: one %lld, 3 apps %lld, "
		      "3 copies %lld", one, k, copies);
}
END_TEST

START_TEST(test_partitions)
{
	struct kv_child a = kv_spawn(UID_A, 0, 1), b, r, b2, n;
	struct kv_report ra = kv_report(&a), rb, rr, rb2;
	int pub_ret;

	(void)ra;
	/* another uid: no hit on uid A's prefix */
	b = kv_spawn(UID_B, 0, 1);
	rb = kv_report(&b);
	ck_assert_int_eq(rb.hit, 0);
	kv_release(&b);
	drop_caches();	/* uid B's own blocks (idle now) go */
	/* a non-root file may not mark its prefixes public */
	n = kv_spawn(UID_B, 1, 0);
	{
		struct kv_report rn;
		ssize_t got = read(n.rep, &rn, sizeof(rn));

		ck_assert_int_eq(got, (ssize_t)sizeof(rn));
		pub_ret = rn.ret;
	}
	ck_assert_int_eq(pub_ret, -EPERM);
	kv_release(&n);
	/* root marks its prefix public: now uid B hits it */
	r = kv_spawn(0, 1, 0);
	rr = kv_report(&r);
	b2 = kv_spawn(UID_B, 0, 1);
	rb2 = kv_report(&b2);
	ck_assert_int_eq(rb2.hit, (N_ALL - 1) / 16 * 16);
	ck_assert(!memcmp(rr.logits, rb2.logits, 4ull * FAST_VOCAB));
	kv_release(&b2);
	kv_release(&r);
	kv_release(&a);
}
END_TEST

START_TEST(test_k_apps_hold_once)
{
	struct kv_child c[4];
	struct kv_report r[4];

	for (int i = 0; i < 4; i++) {
		c[i] = kv_spawn(UID_A, 0, 1);
		r[i] = kv_report(&c[i]);
	}
	printf("vm: guest_kv: KV held by 1 app %llu bytes (%u blocks), by 4 apps %llu bytes "
	       "(%u blocks)\n", (unsigned long long)(r[0].st.n_used * r[0].st.block_bytes),
	       r[0].st.n_used, (unsigned long long)(r[3].st.n_used * r[3].st.block_bytes),
	       r[3].st.n_used);
	/* each later app adds only the block its own last tokens are in */
	ck_assert_uint_le(r[3].st.n_used, r[0].st.n_used + 3);
	ck_assert_uint_ge(r[0].st.n_used, N_ALL / 16);
	for (int i = 3; i >= 0; i--)
		kv_release(&c[i]);
}
END_TEST

/* ------------------------------------------------------------ shrinker */

START_TEST(test_evict_idle_not_held)
{
	struct kllm_ctx *cpu = ctx_must("cpu", 1);
	float *a = rows_alloc(64), *b = rows_alloc(64);
	struct kllm_dev_kv_stats s0, s1;
	struct dsess ds;

	ds_must(&ds);
	ds_feed_must(&ds, 0, 0, g_tok, 64, 64, NULL);	/* 4 blocks, cached, held */
	ds_feed_must(&ds, 1, 0, g_tok + 700, 64, 64, NULL);
	ck_assert_int_eq(kllm_dev_seq_truncate(ds.d, ds.h[1], 0), 0);	/* 4 cached, idle */
	ds_stats(&ds, &s0);
	ck_assert_uint_eq(s0.n_cached, 8);
	ck_assert_uint_eq(s0.n_idle, 4);
	drop_caches();
	ds_stats(&ds, &s1);
	printf("vm: guest_kv: drop_caches: idle %u -> %u, cached %u -> %u, evicted %llu\n",
	       s0.n_idle, s1.n_idle, s0.n_cached, s1.n_cached,
	       (unsigned long long)s1.evicted);
	ck_assert_uint_eq(s1.n_idle, 0);
	ck_assert_uint_eq(s1.n_cached, 4);	/* the held ones stay */
	ck_assert_uint_ge(s1.evicted, s0.evicted + 4);
	/* the holder reads its blocks as before */
	feed_must(cpu, 0, 0, g_tok, 64, 64, NULL);
	feed_must(cpu, 0, 64, g_tok + 64, 8, 8, a);
	ds_feed_must(&ds, 0, 64, g_tok + 64, 8, 8, b);
	assert_same(a, b, 8, "after eviction");
	free(a);
	free(b);
	kllm_ctx_free(cpu);
	ds_close(&ds);
}
END_TEST

/* ------------------------------------------------------------ hostile */

START_TEST(test_bad_args)
{
	struct dsess ds;
	struct kllm_dev *d = (ds_must(&ds), ds.d);
	int fd = kllm_dev_fd(d), fd2 = kd_open();
	uint32_t prog = kllm_dev_prog(d), h, h2, far;
	struct drm_kllm_kv_seq_create c = { .prog = prog, .flags = 1 };
	struct drm_kllm_kv_seq_lookup l = { 0 };
	struct drm_kllm_kv_stats st = { .prog = prog };
	struct raw r = { .fd = fd, .prog = prog, .out = kllm_dev_output(d)->handle };
	uint64_t id;

	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &c), -EINVAL);
	c = (struct drm_kllm_kv_seq_create){ .prog = prog, .pad = 1 };
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &c), -EINVAL);
	c = (struct drm_kllm_kv_seq_create){ .prog = prog + 7 };
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &c), -ENOENT);
	/* another file's program handle is unknown here */
	c = (struct drm_kllm_kv_seq_create){ .prog = prog };
	ck_assert_int_eq(kd_ioctl(fd2, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &c), -ENOENT);
	st.flags = 1;
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_STATS, &st), -EINVAL);
	h = seq_new(fd, prog);
	h2 = seq_new(fd, prog);
	far = h2 + 100;
	ck_assert_int_eq(seq_free(fd, far), -ENOENT);
	ck_assert_int_eq(seq_free(fd2, h), -ENOENT);	/* not that file's */
	ck_assert_int_eq(seq_trunc(fd, far, 0), -ENOENT);
	ck_assert_int_eq(seq_fork(fd, h, far, 1), -ENOENT);
	ck_assert_int_eq(seq_fork(fd, h, h, 0), -EINVAL);
	/* fork past what the source holds */
	ck_assert_int_eq(seq_fork(fd, h2, h, 1), -EINVAL);
	ck_assert_int_eq(raw_submit(&r, raw_job(&r, h, 0, 0), &id), 0);
	ck_assert_int_eq(raw_wait(&r, id), 0);
	ck_assert_int_eq(seq_fork(fd, h2, h, 17), -EINVAL);
	ck_assert_int_eq(seq_fork(fd, h2, h, 4), 0);
	/* lookups: empty sequence only, n in 1..n_ctx, readable tokens */
	ck_assert_int_eq(seq_lookup(fd, h, g_tok, 8), -EINVAL);	/* holds 4 */
	ck_assert_int_eq(seq_trunc(fd, h2, 0), 0);
	ck_assert_int_eq(seq_lookup(fd, h2, g_tok, 0), -EINVAL);
	ck_assert_int_eq(seq_lookup(fd, h2, g_tok, 0xffffffffu), -EINVAL);
	ck_assert_int_eq(seq_lookup(fd, h2, g_tok, N_CTX + 1), -EINVAL);
	ck_assert_int_eq(seq_lookup(fd, h2, (const int32_t *)8, 64), -EFAULT);
	l = (struct drm_kllm_kv_seq_lookup){ .handle = h2, .tokens_ptr = (uintptr_t)g_tok,
					     .n_tokens = 4, .reserved = { 1 } };
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_LOOKUP, &l), -EINVAL);
	/* jobs: unknown / other file's handle, a handle twice, an offset */
	ck_assert_int_eq(raw_submit(&r, raw_job(&r, far, 0, 0), &id), -ENOENT);
	ck_assert_int_eq(raw_submit(&r, raw_job(&r, h, 4, h), &id), -EINVAL);
	{
		struct drm_kllm_job j = raw_job(&r, h, 4, 0);

		r.binds[1].offset = 32;
		ck_assert_int_eq(raw_submit(&r, j, &id), -EINVAL);
	}
	ck_assert_int_eq(seq_free(fd, h), 0);
	ck_assert_int_eq(seq_free(fd, h), -ENOENT);
	ck_assert_int_eq(seq_free(fd, h2), 0);
	close(fd2);
	ds_close(&ds);
}
END_TEST

/* Sequences busy with a queued job; one freed, a file closed meanwhile. */
START_TEST(test_busy_and_close)
{
	struct dsess ds;
	struct kllm_dev *d = (ds_must(&ds), ds.d);
	int fd = kllm_dev_fd(d);
	uint32_t prog = kllm_dev_prog(d), h, h2;
	struct raw r = { .fd = fd, .prog = prog, .out = kllm_dev_output(d)->handle };
	struct drm_kllm_kv_stats s0 = kv_stats(fd, prog), s1;
	uint64_t id, id2, id3;
	pid_t pid;
	int status, pfd[2];

	h = seq_new(fd, prog);
	h2 = seq_new(fd, prog);
	dbg_write("pause", "1");
	ck_assert_int_eq(raw_submit(&r, raw_job(&r, h, 0, 0), &id), 0);
	ck_assert_int_eq(seq_trunc(fd, h, 0), -EBUSY);
	ck_assert_int_eq(seq_fork(fd, h2, h, 2), -EBUSY);
	ck_assert_int_eq(seq_fork(fd, h, h2, 0), -EBUSY);
	ck_assert_int_eq(raw_submit(&r, raw_job(&r, h, 2, 0), &id2), -EBUSY);	/* overlaps */
	ck_assert_int_eq(raw_submit(&r, raw_job(&r, h, 4, 0), &id2), 0);	/* above: fine */
	ck_assert_int_eq(seq_free(fd, h), 0);	/* freed while its jobs wait */
	ck_assert_int_eq(seq_trunc(fd, h, 0), -ENOENT);
	/* a child submits on its own file and exits with the job queued */
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		struct dsess ds2;
		struct kllm_dev *d2 = ds_open(&ds2, 0, (char[64]){ 0 }, 64) ? NULL : ds2.d;
		struct raw r2;

		if (!d2)
			_exit(2);
		r2 = (struct raw){ .fd = kllm_dev_fd(d2), .prog = kllm_dev_prog(d2),
				   .out = kllm_dev_output(d2)->handle };
		if (raw_submit(&r2, raw_job(&r2, seq_new(r2.fd, r2.prog), 0, 0), &id3))
			_exit(3);
		_exit(write(pfd[1], "s", 1) == 1 ? 0 : 4);	/* closes with it queued */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && !WEXITSTATUS(status), "child %#x", status);
	close(pfd[0]);
	close(pfd[1]);
	dbg_write("pause", "0");
	ck_assert_int_eq(raw_wait(&r, id), 0);
	ck_assert_int_eq(raw_wait(&r, id2), 0);
	ck_assert_int_eq(seq_free(fd, h2), 0);
	/* every sequence gone: only cached blocks stay used, none held */
	for (int i = 0; i < 200; i++) {
		s1 = kv_stats(fd, prog);
		if (s1.n_used == s1.n_idle)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(s1.n_used, s1.n_idle);
	ck_assert_uint_eq(s1.fd_seqs, 3);	/* the session's own three */
	(void)s0;
	ds_close(&ds);
}
END_TEST

static Suite *kv_suite(void)
{
	Suite *s = suite_create("kv");
	TCase *tc = tcase_create("kv");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_dev_equals_cpu);
	tcase_add_test(tc, test_dev_equals_cpu_q8_0);
	tcase_add_test(tc, test_batched);
	tcase_add_test(tc, test_fused_chunked);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_busy_and_close);
	tcase_add_test(tc, test_evict_idle_not_held);
	tcase_add_test(tc, test_prefix_second_process);
	tcase_add_test(tc, test_bench_prefix);
	tcase_add_test(tc, test_partitions);
	tcase_add_test(tc, test_k_apps_hold_once);
	suite_add_tcase(s, tc);
	return s;
}

/* Module and library on the same SIMD path; the node open to every uid. */
static int setup(void)
{
	const char *simd = vm_same_simd();
	char params[32], err[256], node[64];

	snprintf(params, sizeof(params), "simd=%s", simd);
	setenv("KLLM_SIMD", simd, 1);
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	if (vm_load_kllm(params) || kd_find_node(node, sizeof(node)) ||
	    chown(node, 0, 0) || chmod(node, 0666))
		return printf("vm: guest_kv: kllm.ko (%s) did not load or has no node\n",
			      params), -1;
	kllm_cpu_init();
	/* (the debugfs knobs: pause) */
	if (access(KV_DBG, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (kllm_model_load(&g_model, MODEL_PATH, err, sizeof(err)))
		return printf("vm: guest_kv: %s\n", err), -1;
	if (kllm_model_load(&g_fast, FAST_PATH, err, sizeof(err)))
		return printf("vm: guest_kv: the timing model: %s\n", err), -1;
	g_vocab = g_model->hp.n_vocab;
	if (g_vocab > 512 || g_fast->hp.n_vocab != FAST_VOCAB)
		return printf("vm: guest_kv: vocab %u\n", g_vocab), -1;
	/* token ids valid in both models */
	for (uint32_t i = 0; i < N_ALL; i++)
		g_tok[i] = (int32_t)(3 + (i * 7919u + i / 13) % (FAST_VOCAB - 3));
	printf("vm: guest_kv: %s, simd %s, %u layers, n_embd %u\n", node, simd,
	       g_model->hp.n_layer, g_model->hp.n_embd);
	return 0;
}

int main(void)
{
	int failed;

	if (getuid() != 0) {
		printf("vm: guest_kv needs root\n");
		return 1;
	}
	if (setup()) {
		if (vm_module_loaded(KLLM))
			vm_unload(KLLM);
		return 1;
	}
	failed = kt_run(kv_suite());
	kllm_model_free(g_model);
	kllm_model_free(g_fast);
	if (vm_module_loaded(KLLM) && vm_unload_wait(KLLM))
		printf("vm: guest_kv: kllm.ko did not unload\n"), failed++;
	return failed;
}
