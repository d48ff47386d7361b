// SPDX-License-Identifier: MIT
/*
 * pp_tg.c - `kllm-bench pp` and `kllm-bench tg`: whole-model speed in
 * process, measured the way llama-bench measures it.
 *
 *   ppN: N prompt tokens of one sequence from an empty cache, in batches
 *        of -b tokens; tokens/s = N / time.
 *   tgM: after an untimed prompt of --tg-prompt tokens (default 1, like
 *        llama-bench's lone BOS), M tokens decoded one per forward pass;
 *        tokens/s = M / time.
 *
 * Each test runs once untimed (warm-up), then -r times; the table gives
 * mean +- sample standard deviation of tokens/s over the repetitions.
 */
#include "bench.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST BENCH_MAX_LIST
#define MAX_REPS 100

struct ptopts {
	struct bench_common c;	/* -m, -t (a list), -r, -o, --engine */
	int prompts[MAX_LIST], n_prompts;
	int gens[MAX_LIST], n_gens;
	int batch;
	int tg_prompt;
	int warmup;
};

struct ptresult {
	char test[32];
	const char *backend;	/* the engine that ran it */
	uint32_t threads, n_prompt, n_gen;
	int reps;
	double mean, sd;
	double samples[MAX_REPS];
};

static void usage_common(const char *mode, const char *what)
{
	printf("usage: kllm-bench %s -m MODEL [-p N,...] [-n M,...] [-t T,...] [-r REPS]\n"
	       "                     [-b BATCH] [--tg-prompt N] [--no-warmup]\n"
	       "                     [--engine cpu|dev|auto] [-o md|csv|json|jsonl|sql]\n"
	       "  %s\n"
	       "  -m, --model FILE   GGUF model\n"
	       "  -p N,...           prompt processing of N tokens (pp test)\n"
	       "  -n M,...           generation of M tokens one at a time (tg test)\n"
	       "                     (defaults: pp: -p 128, tg: -n 64; give both to run both)\n"
	       "  -t, --threads T,...  threads (default: every CPU)\n"
	       "  -r REPS            repetitions (default 5, at most %d)\n"
	       "  -b BATCH           tokens per forward pass in pp (default 512)\n"
	       "  --tg-prompt N      untimed prompt before tg (default 1)\n"
	       "  --no-warmup        skip the untimed run before each test\n"
	       "  --engine E         where the forward passes run: cpu (this process), dev\n"
	       "                     (the kllm driver; fails without a kllm node) or auto (dev\n"
	       "                     when a node opens, else cpu); default: KLLM_ENGINE, else\n"
	       "                     auto.  The backend column names the one that ran.\n"
	       "  -o, --output F     output format, as llama-bench's: md (default), csv, json,\n"
	       "                     jsonl, sql; --json is -o json.  Rows: model, model_type,\n"
	       "                     model_path, size_bytes, n_params, simd, engine, backend,\n"
	       "                     threads, test, n_prompt, n_gen, reps, tps_mean, tps_sd,\n"
	       "                     samples.\n"
	       "  -h, --help         this help\n"
	       "Prints mean +- standard deviation of tokens/s; progress on stderr.\n",
	       mode, what, MAX_REPS);
}

#define PP_WHAT "Prompt processing speed (like llama-bench -p)."
#define TG_WHAT "Text generation speed (like llama-bench -n)."

void bench_pp_usage(void)
{
	usage_common("pp", PP_WHAT);
}

void bench_tg_usage(void)
{
	usage_common("tg", TG_WHAT);
}

static int parse_pos(const char *s)
{
	int v = bench_parse_uint(s);

	return v >= 1 && v <= 65536 ? v : -1;
}

/* pp and tg's own options; 0 if @c is not one of them, -1 on a bad value. */
static int own_opt(struct ptopts *o, int c, const char *mode)
{
	int v;

	switch (c) {
	case 'p':
		o->n_prompts = bench_parse_list(optarg, parse_pos, o->prompts, MAX_LIST, mode,
						 "-p", "1..65536");
		return o->n_prompts < 0 ? -1 : 1;
	case 'n':
		o->n_gens = bench_parse_list(optarg, parse_pos, o->gens, MAX_LIST, mode,
					      "-n", "1..65536");
		return o->n_gens < 0 ? -1 : 1;
	case 'b':
	case 'P':
		v = bench_parse_uint(optarg);
		if (v < (c == 'b') || v > 4096) {
			fprintf(stderr, "kllm-bench %s: bad value '%s' for %s (%s..4096)\n", mode,
				optarg, c == 'b' ? "-b" : "--tg-prompt", c == 'b' ? "1" : "0");
			return -1;
		}
		*(c == 'b' ? &o->batch : &o->tg_prompt) = v;
		return 1;
	case 'W':
		o->warmup = 0;
		return 1;
	}
	return 0;
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct ptopts *o, int is_tg, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		{ "tg-prompt", required_argument, NULL, 'P' },
		{ "no-warmup", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = is_tg ? "tg" : "pp";
	int c, ret;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, MAX_LIST, 5, MAX_REPS);
	o->batch = 512;
	o->tg_prompt = 1;
	o->warmup = 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:p:n:t:r:b:o:h", lopts, NULL)) != -1) {
		ret = own_opt(o, c, mode);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, mode, argv);
		if (ret == BENCH_OPT_HELP) {
			usage_common(mode, is_tg ? TG_WHAT : PP_WHAT);
			return 1;
		}
		if (ret <= 0)
			return -1;
	}
	if (bench_common_check(&o->c, mode, argc, argv))
		return -1;
	if (!o->n_prompts && !o->n_gens) {
		if (is_tg)
			o->gens[o->n_gens++] = 64;
		else
			o->prompts[o->n_prompts++] = 128;
	}
	return 0;
}

/* One test (pp if n_prompt, else tg) at one thread count. */
static int run_test(const struct ptopts *o, const struct bench_lm *lm, uint32_t threads,
		    uint32_t n_prompt, uint32_t n_gen, struct ptresult *r)
{
	const uint32_t n_ctx = n_prompt ? n_prompt : o->tg_prompt + n_gen;
	const uint32_t batch = n_prompt ? (n_prompt < (uint32_t)o->batch ? n_prompt :
					   (uint32_t)o->batch) :
				(o->tg_prompt > 1 ? (uint32_t)o->tg_prompt : 1);
	struct kllm_ctx *ctx;
	double secs, tps[MAX_REPS];
	int ret;

	memset(r, 0, sizeof(*r));
	r->threads = threads;
	r->n_prompt = n_prompt;
	r->n_gen = n_gen;
	snprintf(r->test, sizeof(r->test), n_prompt ? "pp%u" : "tg%u",
		 n_prompt ? n_prompt : n_gen);
	ret = bench_lm_ctx(lm, n_ctx, batch, 1, threads, &ctx);
	if (ret)
		return ret;
	r->backend = kllm_ctx_engine_name(ctx);
	for (int i = -o->warmup; i < o->c.reps && !ret; i++) {
		if (n_prompt)
			ret = bench_lm_pp(ctx, lm, n_prompt, batch, &secs);
		else
			ret = bench_lm_tg(ctx, lm, o->tg_prompt, i < 0 ? (n_gen < 4 ? n_gen : 4) :
					  n_gen, &secs);
		if (ret || i < 0)
			continue;
		tps[i] = (n_prompt ? n_prompt : n_gen) / secs;
		r->samples[i] = tps[i];
		bench_progress("  %s t=%u rep %d/%d: %.2f tok/s\n", r->test, threads, i + 1,
			       o->c.reps, tps[i]);
	}
	kllm_ctx_free(ctx);
	if (ret)
		return ret;
	r->reps = o->c.reps;
	bench_stats(tps, o->c.reps, &r->mean, &r->sd);
	return 0;
}

int bench_pptg_run(const struct bench_lm *lm, uint32_t threads, uint32_t n_prompt,
		   uint32_t n_gen, int reps, double *mean, double *sd)
{
	struct ptopts o = { .c.reps = reps, .batch = 512, .tg_prompt = 1, .warmup = 1 };
	struct ptresult r;
	int ret = run_test(&o, lm, threads, n_prompt, n_gen, &r);

	*mean = r.mean;
	*sd = r.sd;
	return ret;
}

/* llama-bench's md table: the same columns, "±" and all. */
static void print_table(const struct bench_lm *lm, const struct ptresult *r, int n)
{
	const double mib = (double)lm->file_bytes / (1 << 20);
	const int giga = lm->n_params >= 1000000000ull;

	printf("| %-30s | %10s | %10s | %-14s | %7s | %13s | %20s |\n", "model", "size",
	       "params", "backend", "threads", "test", "t/s");
	printf("| %.30s | %.10s | %.10s | %.14s | %.7s | %.13s | %.20s |\n",
	       "------------------------------", "---------:", "---------:", "--------------",
	       "------:", "------------:", "-------------------:");
	for (int i = 0; i < n; i++)
		printf("| %-30.30s | %6.2f %s | %8.2f %c | %-14s | %7u | %13s | %9.2f ± %8.2f |\n",
		       lm->type, mib >= 1024 ? mib / 1024 : mib, mib >= 1024 ? "GiB" : "MiB",
		       lm->n_params / (giga ? 1e9 : 1e6), giga ? 'B' : 'M', r[i].backend,
		       r[i].threads, r[i].test, r[i].mean, r[i].sd);
	printf("\nkllm %s, %s path, mean ± sd of %d runs\n", KLLM_BENCH_VERSION,
	       kk_simd_name(kk_simd_selected()), n ? r[0].reps : 0);
}

/* csv, json, jsonl or sql: one row per test. */
static void print_rows(const struct ptopts *o, const struct bench_lm *lm,
		       const struct ptresult *r, int n)
{
	struct bench_rows rows;

	bench_rows_begin(&rows, o->c.fmt, "test");
	for (int i = 0; i < n; i++) {
		bench_row_str(&rows, "model", lm->name);
		bench_row_str(&rows, "model_type", lm->type);
		bench_row_str(&rows, "model_path", lm->path);
		bench_row_int(&rows, "size_bytes", (long long)lm->file_bytes);
		bench_row_int(&rows, "n_params", (long long)lm->n_params);
		bench_row_str(&rows, "simd", kk_simd_name(kk_simd_selected()));
		bench_row_str(&rows, "engine", bench_engine_name(&o->c));
		bench_row_str(&rows, "backend", r[i].backend);
		bench_row_int(&rows, "threads", r[i].threads);
		bench_row_str(&rows, "test", r[i].test);
		bench_row_int(&rows, "n_prompt", r[i].n_prompt);
		bench_row_int(&rows, "n_gen", r[i].n_gen);
		bench_row_int(&rows, "reps", r[i].reps);
		bench_row_num(&rows, "tps_mean", r[i].mean, 4);
		bench_row_num(&rows, "tps_sd", r[i].sd, 4);
		bench_row_list(&rows, "samples", r[i].samples, r[i].reps, 4);
		bench_row_end(&rows);
	}
	bench_rows_end(&rows);
}

static int pptg_main(int is_tg, int argc, char **argv)
{
	const char *mode = is_tg ? "tg" : "pp";
	const struct bench_common *c;
	const char *backend;
	struct ptopts o;
	struct bench_lm lm;
	struct ptresult *res;
	int n = 0, ret = 0;

	ret = parse_opts(&o, is_tg, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	c = &o.c;
	if (bench_engine_apply(c, mode) || bench_lm_load(&lm, c->model))
		return 1;
	backend = bench_lm_engine(&lm, mode, bench_engine_name(c));
	if (!backend) {
		bench_lm_free(&lm);
		return 1;
	}
	res = calloc((size_t)c->n_threads * (o.n_prompts + o.n_gens), sizeof(*res));
	if (!res) {
		bench_lm_free(&lm);
		return 1;
	}
	bench_progress("kllm-bench %s: %s, engine %s (%s), %d rep(s)\n", mode, lm.name,
		       bench_engine_name(c), backend, c->reps);
	for (int t = 0; t < c->n_threads && !ret; t++) {
		for (int i = 0; i < o.n_prompts && !ret; i++)
			ret = run_test(&o, &lm, c->threads[t], o.prompts[i], 0, &res[n++]);
		for (int i = 0; i < o.n_gens && !ret; i++)
			ret = run_test(&o, &lm, c->threads[t], 0, o.gens[i], &res[n++]);
	}
	if (!ret) {
		if (c->fmt == BENCH_FMT_MD)
			print_table(&lm, res, n);
		else
			print_rows(&o, &lm, res, n);
	}
	free(res);
	bench_lm_free(&lm);
	return ret ? 1 : 0;
}

int bench_pp_main(int argc, char **argv)
{
	return pptg_main(0, argc, argv);
}

int bench_tg_main(int argc, char **argv)
{
	return pptg_main(1, argc, argv);
}
