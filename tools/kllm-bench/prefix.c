// SPDX-License-Identifier: MIT
/*
 * prefix.c - `kllm-bench prefix`: what the prefix cache saves.  A
 * question of M tokens after a system prompt of N tokens: time to first
 * token (the question's logits) cold, then again for a second app whose
 * system prompt is the same and whose question differs, which finds the
 * system prompt's blocks cached.  Then K apps hold that prefix at once:
 * the KV bytes they hold against one app's.
 *
 * An "app" is a sequence of one context in process (the CPU engine's
 * cache is the process's), and a process of its own on the device
 * engine (the driver's cache serves every process of a uid).
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_APPS 64

struct popts {
	struct bench_common c;	/* -m, -t (one count), -r, -o, --engine */
	int n_system, n_question, n_apps, batch;
};

struct pres {
	const char *backend;
	double cold_s, cached_s;	/* best of reps */
	uint32_t reused;		/* positions the cached run took from the cache */
	uint64_t kv_one, kv_k;		/* bytes of blocks held */
	uint64_t block_bytes;
	uint32_t block_tokens;
	int same;			/* the cached run's logits = a cold run's */
};

void bench_prefix_usage(void)
{
	printf("usage: kllm-bench prefix -m MODEL [--system N] [--question M] [--apps K]\n"
	       "                         [-t T] [-b BATCH] [-r REPS] [--engine cpu|dev|auto]\n"
	       "                         [-o md|json|jsonl|csv|sql] [--json]\n"
	       "  Time to first token of an M-token question after an N-token system prompt:\n"
	       "  cold, and for a second app whose system prompt is cached (a sequence of the\n"
	       "  same process on the cpu engine; another process on the device engine,\n"
	       "  whose driver shares the cache between the processes of a uid).  Then K apps\n"
	       "  hold the prefix with questions of their own: the KV bytes held.\n"
	       "  --system N          system-prompt tokens (default 1000)\n"
	       "  --question M        question tokens (default 20)\n"
	       "  --apps K            apps holding the prefix at once (default 4, 1..%d)\n"
	       "  -t, --threads T     threads (default: every CPU)\n"
	       "  -b BATCH            tokens per forward pass (default 256)\n"
	       "  -r REPS             best of REPS (default 1)\n"
	       "  -o, --output F      md (default), json, jsonl, csv, sql.  Keys: model, engine,\n"
	       "                      backend, threads, system, question, apps, block_tokens,\n"
	       "                      cold_ttft_ms, cached_ttft_ms, speedup, reused_tokens,\n"
	       "                      same_logits, kv_bytes_one_app, kv_bytes_k_apps,\n"
	       "                      kv_bytes_k_copies (K apps without sharing).\n"
	       "  -h, --help          this help\n", MAX_APPS);
}

static int parse_opts(struct popts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		{ "system", required_argument, NULL, 'S' },
		{ "question", required_argument, NULL, 'Q' },
		{ "apps", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret, v;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 1, 100);
	o->n_system = 1000;
	o->n_question = 20;
	o->n_apps = 4;
	o->batch = 256;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:t:b:r:o:h", lopts, NULL)) != -1) {
		if (c == 'S' || c == 'Q' || c == 'K' || c == 'b') {
			v = bench_parse_uint(optarg);
			if (v < (c == 'S' ? 0 : 1) || v > (c == 'K' ? MAX_APPS : 32768)) {
				fprintf(stderr, "kllm-bench prefix: bad value '%s' for %s\n",
					optarg, c == 'S' ? "--system" : c == 'Q' ? "--question" :
					c == 'K' ? "--apps" : "-b");
				return -1;
			}
			*(c == 'S' ? &o->n_system : c == 'Q' ? &o->n_question :
			  c == 'K' ? &o->n_apps : &o->batch) = v;
			continue;
		}
		ret = bench_common_opt(&o->c, c, optarg, "prefix", argv);
		if (ret == BENCH_OPT_HELP) {
			bench_prefix_usage();
			return 1;
		}
		if (ret <= 0)
			return -1;
	}
	return bench_common_check(&o->c, "prefix", argc, argv) ? -1 : 0;
}

/* Deterministic ids in [0, n_vocab): @which 0 is the system prompt. */
static void make_tokens(int32_t *t, uint32_t n, uint32_t n_vocab, uint64_t which)
{
	uint64_t s = 0x9e3779b97f4a7c15ull ^ (which * 0xbf58476d1ce4e5b9ull);

	for (uint32_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		t[i] = (int32_t)(s % n_vocab);
	}
}

/* App @app's prompt: the system prompt, then its own question. */
static int32_t *app_prompt(const struct popts *o, uint32_t n_vocab, int app)
{
	uint32_t n = (uint32_t)(o->n_system + o->n_question);
	int32_t *t = malloc(4ull * n);

	if (!t)
		return NULL;
	make_tokens(t, (uint32_t)o->n_system, n_vocab, 0);
	make_tokens(t + o->n_system, (uint32_t)o->n_question, n_vocab, 1 + (uint64_t)app);
	return t;
}

/*
 * Sequence @seq of @ctx takes app @app's prompt: the cached part from the
 * cache (@lookup), the rest computed; seconds to its logits.
 */
static int run_app(const struct popts *o, struct kllm_ctx *ctx, uint32_t n_vocab,
		   uint32_t seq, int app, int lookup, float *logits, double *s,
		   uint32_t *reused)
{
	const uint32_t n = (uint32_t)(o->n_system + o->n_question);
	int32_t *t = app_prompt(o, n_vocab, app);
	int r = 0, ret;
	double t0;

	if (!t)
		return -ENOMEM;
	kllm_seq_clear(ctx, seq);
	t0 = bench_now();
	if (lookup)
		r = kllm_seq_lookup(ctx, seq, t, n, 0);
	ret = r < 0 ? r : kllm_forward_chunks(ctx, seq, (uint32_t)r, n - (uint32_t)r,
					       t + r, logits);
	*s = bench_now() - t0;
	if (ret)
		fprintf(stderr, "kllm-bench prefix: app %d: %s\n", app, kllm_ctx_error(ctx));
	*reused = r > 0 ? (uint32_t)r : 0;
	free(t);
	return ret;
}

static uint64_t held_bytes(const struct kllm_ctx *ctx, struct pres *r)
{
	struct kllm_kv_stats st;

	kllm_ctx_kv_stats(ctx, &st);
	r->block_bytes = st.block_bytes;
	r->block_tokens = st.block_tokens;
	return (uint64_t)(st.n_used - st.n_idle) * st.block_bytes;
}

static int ctx_for(const struct popts *o, const struct bench_lm *lm, uint32_t n_seqs,
		   struct kllm_ctx **ctx)
{
	uint32_t n = (uint32_t)(o->n_system + o->n_question);

	return bench_lm_ctx(lm, n, (uint32_t)o->batch < n ? (uint32_t)o->batch : n, n_seqs,
			    (uint32_t)o->c.threads[0], ctx);
}

/* Cold then cached in one process: sequences 0 and 1; then K sequences. */
static int run_in_process(const struct popts *o, const struct bench_lm *lm, struct pres *r)
{
	const uint32_t n_vocab = lm->m->hp.n_vocab;
	float *a = malloc(4ull * n_vocab), *b = malloc(4ull * n_vocab);
	struct kllm_ctx *ctx = NULL;
	uint32_t reused;
	double s;
	int ret = a && b ? 0 : -ENOMEM;

	for (int rep = 0; rep < o->c.reps && !ret; rep++) {
		ret = ctx_for(o, lm, (uint32_t)o->n_apps + 1, &ctx);
		if (!ret)
			ret = run_app(o, ctx, n_vocab, 0, 1, 1, a, &s, &reused);
		if (!ret && (!rep || s < r->cold_s))
			r->cold_s = s;
		if (!ret)
			r->kv_one = held_bytes(ctx, r);
		/* the same question: the same logits, from the cache */
		if (!ret)
			ret = run_app(o, ctx, n_vocab, 1, 1, 1, b, &s, &reused);
		if (!ret)
			r->same = !memcmp(a, b, 4ull * n_vocab);
		/* another question: the TTFT an app with the same system prompt sees */
		if (!ret)
			ret = run_app(o, ctx, n_vocab, 1, 2, 1, b, &s, &r->reused);
		if (!ret && (!rep || s < r->cached_s))
			r->cached_s = s;
		kllm_seq_clear(ctx, 0);
		for (int k = 0; k < o->n_apps && !ret; k++)
			ret = run_app(o, ctx, n_vocab, 1 + (uint32_t)k, 3 + k, 1, b, &s, &reused);
		if (!ret)
			r->kv_k = held_bytes(ctx, r);
		r->backend = kllm_ctx_engine_name(ctx);
		kllm_ctx_free(ctx);
		ctx = NULL;
	}
	free(a);
	free(b);
	return ret;
}

/*
 * One app process on the device engine: its prompt, its TTFT and logits
 * written to @fd; then it holds its sequence until @hold is readable.
 */
static void device_app(const struct popts *o, const struct bench_lm *lm, int app,
		       int fd, int hold)
{
	const uint32_t n_vocab = lm->m->hp.n_vocab;
	float *l = malloc(4ull * n_vocab);
	struct kllm_ctx *ctx;
	uint32_t reused = 0;
	double s = 0;
	int ret = l ? ctx_for(o, lm, 1, &ctx) : -ENOMEM;
	char c;

	if (!ret) {
		ret = run_app(o, ctx, n_vocab, 0, app, 1, l, &s, &reused);
		if (write(fd, &ret, sizeof(ret)) != sizeof(ret) ||
		    write(fd, &s, sizeof(s)) != sizeof(s) ||
		    write(fd, &reused, sizeof(reused)) != sizeof(reused) ||
		    write(fd, l, 4ull * n_vocab) != (ssize_t)(4ull * n_vocab))
			_exit(1);
		if (read(hold, &c, 1) < 0)
			_exit(1);
		kllm_ctx_free(ctx);
	} else if (write(fd, &ret, sizeof(ret)) != sizeof(ret)) {
		_exit(1);
	}
	_exit(ret ? 1 : 0);
}

struct app_proc {
	pid_t pid;
	int res, hold;		/* read end of its results; write end of its hold */
};

static int app_start(const struct popts *o, const struct bench_lm *lm, int app,
		     struct app_proc *p)
{
	int res[2], hold[2];

	if (pipe(res) || pipe(hold))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (!p->pid) {
		close(res[0]);
		close(hold[1]);
		device_app(o, lm, app, res[1], hold[0]);
	}
	close(res[1]);
	close(hold[0]);
	p->res = res[0];
	p->hold = hold[1];
	return 0;
}

static int app_result(struct app_proc *p, uint32_t n_vocab, double *s, uint32_t *reused,
		      float *l)
{
	int ret;

	if (read(p->res, &ret, sizeof(ret)) != sizeof(ret))
		return -EIO;
	if (ret)
		return ret;
	if (read(p->res, s, sizeof(*s)) != sizeof(*s) ||
	    read(p->res, reused, sizeof(*reused)) != sizeof(*reused))
		return -EIO;
	for (size_t got = 0; got < 4ull * n_vocab;) {
		ssize_t k = read(p->res, (char *)l + got, 4ull * n_vocab - got);

		if (k <= 0)
			return -EIO;
		got += (size_t)k;
	}
	return 0;
}

static void app_end(struct app_proc *p)
{
	int st;

	close(p->hold);
	close(p->res);
	waitpid(p->pid, &st, 0);
}

/* The same on the device: each app a process of its own. */
static int run_processes(const struct popts *o, const struct bench_lm *lm, struct pres *r)
{
	const uint32_t n_vocab = lm->m->hp.n_vocab;
	float *a = malloc(4ull * n_vocab), *b = malloc(4ull * n_vocab);
	struct app_proc p[MAX_APPS + 2];
	struct kllm_ctx *probe = NULL;
	int ret = a && b ? 0 : -ENOMEM, n = 0;
	uint32_t reused;
	double s;

	if (!ret)
		ret = ctx_for(o, lm, 1, &probe);	/* the device's stats */
	/* cold: app 1; cached: app 1 again (same logits?), then app 2 */
	for (int i = 0; i < 3 && !ret; i++) {
		ret = app_start(o, lm, i < 2 ? 1 : 2, &p[n]);
		if (!ret)
			ret = app_result(&p[n++], n_vocab, &s, &reused, i == 0 ? a : b);
		if (!ret && i == 0) {
			r->cold_s = s;
			r->kv_one = held_bytes(probe, r);
		}
		if (!ret && i == 1)
			r->same = !memcmp(a, b, 4ull * n_vocab);
		if (!ret && i == 2) {
			r->cached_s = s;
			r->reused = reused;
		}
		app_end(&p[--n]);
	}
	for (int k = 0; k < o->n_apps && !ret; k++) {
		ret = app_start(o, lm, 3 + k, &p[n]);
		if (!ret)
			ret = app_result(&p[n++], n_vocab, &s, &reused, b);
	}
	if (!ret)
		r->kv_k = held_bytes(probe, r);
	while (n > 0)
		app_end(&p[--n]);
	if (probe) {
		r->backend = kllm_ctx_engine_name(probe);
		kllm_ctx_free(probe);
	}
	free(a);
	free(b);
	return ret;
}

static void print_result(const struct popts *o, const struct bench_lm *lm,
			 const struct pres *r)
{
	const uint64_t copies = r->kv_one * (uint64_t)o->n_apps;
	struct bench_rows rows;

	if (o->c.fmt == BENCH_FMT_MD) {
		printf("kllm-bench prefix: %s, engine %s (%s), %d threads, %s path, "
		       "blocks of %u positions\n\n", lm->name, bench_engine_name(&o->c),
		       r->backend, o->c.threads[0], kk_simd_name(kk_simd_selected()),
		       r->block_tokens);
		printf("| system | question | cold TTFT ms | cached TTFT ms | speed-up | "
		       "reused | same logits |\n|---|---|---|---|---|---|---|\n");
		printf("| %d | %d | %.1f | %.1f | %.1fx | %u | %s |\n\n", o->n_system,
		       o->n_question, r->cold_s * 1e3, r->cached_s * 1e3,
		       r->cold_s / r->cached_s, r->reused, r->same ? "yes" : "NO");
		printf("| apps | KV bytes, one app | KV bytes, %d apps | without sharing |\n"
		       "|---|---|---|---|\n| %d | %llu | %llu | %llu |\n", o->n_apps,
		       o->n_apps, (unsigned long long)r->kv_one, (unsigned long long)r->kv_k,
		       (unsigned long long)copies);
		return;
	}
	bench_rows_begin(&rows, o->c.fmt, "prefix");
	bench_row_str(&rows, "model", lm->name);
	bench_row_str(&rows, "engine", bench_engine_name(&o->c));
	bench_row_str(&rows, "backend", r->backend);
	bench_row_int(&rows, "threads", o->c.threads[0]);
	bench_row_int(&rows, "system", o->n_system);
	bench_row_int(&rows, "question", o->n_question);
	bench_row_int(&rows, "apps", o->n_apps);
	bench_row_int(&rows, "block_tokens", r->block_tokens);
	bench_row_num(&rows, "cold_ttft_ms", r->cold_s * 1e3, 3);
	bench_row_num(&rows, "cached_ttft_ms", r->cached_s * 1e3, 3);
	bench_row_num(&rows, "speedup", r->cold_s / r->cached_s, 3);
	bench_row_int(&rows, "reused_tokens", r->reused);
	bench_row_bool(&rows, "same_logits", r->same);
	bench_row_int(&rows, "kv_bytes_one_app", (long long)r->kv_one);
	bench_row_int(&rows, "kv_bytes_k_apps", (long long)r->kv_k);
	bench_row_int(&rows, "kv_bytes_k_copies", (long long)copies);
	bench_row_end(&rows);
	bench_rows_end(&rows);
}

int bench_prefix_main(int argc, char **argv)
{
	struct pres r = { 0 };
	struct bench_lm lm;
	struct popts o;
	const char *backend;
	int ret;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (bench_engine_apply(&o.c, "prefix") || bench_lm_load(&lm, o.c.model))
		return 1;
	backend = bench_lm_engine(&lm, "prefix", bench_engine_name(&o.c));
	if (!backend) {
		bench_lm_free(&lm);
		return 1;
	}
	bench_progress("  prefix: system %d, question %d, %d apps (%s)...\n", o.n_system,
		       o.n_question, o.n_apps, backend);
	if (!strncmp(backend, "dev", 3))
		ret = run_processes(&o, &lm, &r);
	else
		ret = run_in_process(&o, &lm, &r);
	if (!ret)
		print_result(&o, &lm, &r);
	bench_lm_free(&lm);
	return ret ? 1 : 0;
}
