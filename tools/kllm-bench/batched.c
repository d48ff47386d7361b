// SPDX-License-Identifier: MIT
/*
 * batched.c - `kllm-bench batched`: P parallel sequences through one
 * context, the way llama-batched-bench measures them: for each P, every
 * sequence gets its own prompt of npp tokens (batches of -b tokens that
 * may mix sequences), then ntg decode steps of one token per sequence in
 * one forward pass.  Aggregate tokens/s for the prompts (S_PP), the
 * generation (S_TG) and both (S); optionally a PNG plot via gnuplot
 * (--plot FILE).
 */
#include "bench.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST BENCH_MAX_LIST
#define MAX_REPS 4096

struct bopts {
	struct bench_common c;	/* -m, -t (one count), -r, -o, --plot, --engine */
	int npl[MAX_LIST], n_npl;
	int npp, ntg;
	int batch;
};

void bench_batched_usage(void)
{
	printf("usage: kllm-bench batched -m MODEL [-P 1,2,4,8,16] [-p NPP] [-n NTG] [-t T]\n"
	       "                          [-b BATCH] [-r REPS] [--plot FILE.png]\n"
	       "                          [--engine cpu|dev|auto] [-o md|csv|json|jsonl|sql]\n"
	       "  P parallel sequences (like llama-batched-bench -npl): each gets a prompt of\n"
	       "  NPP tokens, then NTG decode steps of one token per sequence per forward\n"
	       "  pass.  Aggregate tokens/s of prompts (S_PP), generation (S_TG) and both (S).\n"
	       "  -m, --model FILE    GGUF model\n"
	       "  -P P,...            parallel sequences (default 1,2,4,8,16)\n"
	       "  -p NPP              prompt tokens per sequence (default 64)\n"
	       "  -n NTG              generated tokens per sequence (default 32)\n"
	       "  -t, --threads T     threads (default: every CPU)\n"
	       "  -b BATCH            tokens per prompt forward pass (default 512)\n"
	       "  -r REPS             best of REPS runs by total time (default 1)\n"
	       "  --plot FILE.png     a PNG of tokens/s against P, with gnuplot if installed\n"
	       "  --engine E          cpu, dev (the kllm driver; fails without a kllm node) or\n"
	       "                      auto (dev when a node opens, else cpu); default:\n"
	       "                      KLLM_ENGINE, else auto.  The table's header and the\n"
	       "                      rows' \"backend\" name the one that ran.\n"
	       "  -o, --output F      md (default), csv, json, jsonl or sql; --json is -o json.\n"
	       "                      Rows: model, model_type, simd, engine, backend, threads,\n"
	       "                      pp, tg, pl, n_kv, t_pp, speed_pp, t_tg, speed_tg, t, speed.\n"
	       "  -h, --help          this help\n"
	       "Progress on stderr.\n");
}

static int parse_npl(const char *s)
{
	int v = bench_parse_uint(s);

	return v >= 1 && v <= 256 ? v : -1;
}

/* batched's own options; 0 if @c is not one of them, -1 on a bad value. */
static int own_opt(struct bopts *o, int c)
{
	int v;

	if (c == 'P') {
		o->n_npl = bench_parse_list(optarg, parse_npl, o->npl, MAX_LIST, "batched",
					    "-P", "1..256");
		return o->n_npl < 0 ? -1 : 1;
	}
	if (c != 'p' && c != 'n' && c != 'b')
		return 0;
	v = bench_parse_uint(optarg);
	if (v < (c == 'p' ? 0 : 1) || v > 4096) {
		fprintf(stderr, "kllm-bench batched: bad value '%s' for -%c (%d..4096)\n", optarg,
			c, c == 'p' ? 0 : 1);
		return -1;
	}
	*(c == 'p' ? &o->npp : c == 'n' ? &o->ntg : &o->batch) = v;
	return 1;
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct bopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		BENCH_PLOT_LONGOPT,
		{ NULL, 0, NULL, 0 },
	};
	static const int def_npl[] = { 1, 2, 4, 8, 16 };
	int c, ret;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 1, MAX_REPS);
	o->npp = 64;
	o->ntg = 32;
	o->batch = 512;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:P:p:n:t:b:r:o:h", lopts, NULL)) != -1) {
		ret = own_opt(o, c);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, "batched", argv);
		if (ret == BENCH_OPT_HELP) {
			bench_batched_usage();
			return 1;
		}
		if (ret <= 0)
			return -1;
	}
	if (bench_common_check(&o->c, "batched", argc, argv))
		return -1;
	if (!o->n_npl) {
		memcpy(o->npl, def_npl, sizeof(def_npl));
		o->n_npl = sizeof(def_npl) / sizeof(def_npl[0]);
	}
	return 0;
}

/* Best of @reps runs (by total time) of P = @n_seqs. */
int bench_batched_run(const struct bench_lm *lm, uint32_t threads, uint32_t n_seqs,
		      uint32_t npp, uint32_t ntg, uint32_t batch, int reps,
		      struct bench_batched *best)
{
	struct kllm_ctx *ctx;
	struct bench_batched r;
	/* a decode step is one forward pass of n_seqs tokens */
	int ret = bench_lm_ctx(lm, npp + ntg, batch > n_seqs ? batch : n_seqs, n_seqs,
			       threads, &ctx);

	if (ret)
		return ret;
	best->backend = kllm_ctx_engine_name(ctx);
	/* warm-up: page in the weights, size the arena's first use */
	ret = bench_lm_batched(ctx, lm, n_seqs, npp < 8 ? npp : 8, ntg ? 1 : 0, batch, &r);
	for (int i = 0; i < reps && !ret; i++) {
		ret = bench_lm_batched(ctx, lm, n_seqs, npp, ntg, batch, &r);
		r.backend = best->backend;
		if (!ret && (!i || r.t_pp + r.t_tg < best->t_pp + best->t_tg))
			*best = r;
	}
	kllm_ctx_free(ctx);
	return ret;
}

static void print_table(const struct bopts *o, const struct bench_lm *lm,
			const struct bench_batched *r, int n)
{
	printf("kllm-bench batched: %s, engine %s (%s), %d threads, %s path\n\n", lm->name,
	       bench_engine_name(&o->c), n ? r[0].backend : "-", o->c.threads[0],
	       kk_simd_name(kk_simd_selected()));
	printf("|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s |\n", "PP", "TG",
	       "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s");
	printf("|-------|--------|------|--------|----------|----------|----------|----------"
	       "|----------|----------|\n");
	for (int i = 0; i < n; i++)
		printf("|%6u | %6u | %4u | %6u | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |\n",
		       r[i].npp, r[i].ntg, r[i].n_seqs, r[i].n_seqs * (r[i].npp + r[i].ntg),
		       r[i].t_pp, r[i].s_pp, r[i].t_tg, r[i].s_tg, r[i].t_pp + r[i].t_tg,
		       r[i].s_all);
}

static void print_rows(const struct bopts *o, const struct bench_lm *lm,
		       const struct bench_batched *r, int n)
{
	struct bench_rows rows;

	bench_rows_begin(&rows, o->c.fmt, "batched");
	for (int i = 0; i < n; i++) {
		bench_row_str(&rows, "model", lm->name);
		bench_row_str(&rows, "model_type", lm->type);
		bench_row_str(&rows, "simd", kk_simd_name(kk_simd_selected()));
		bench_row_str(&rows, "engine", bench_engine_name(&o->c));
		bench_row_str(&rows, "backend", r[i].backend);
		bench_row_int(&rows, "threads", o->c.threads[0]);
		bench_row_int(&rows, "pp", r[i].npp);
		bench_row_int(&rows, "tg", r[i].ntg);
		bench_row_int(&rows, "pl", r[i].n_seqs);
		bench_row_int(&rows, "n_kv", (long long)r[i].n_seqs * (r[i].npp + r[i].ntg));
		bench_row_num(&rows, "t_pp", r[i].t_pp, 6);
		bench_row_num(&rows, "speed_pp", r[i].s_pp, 4);
		bench_row_num(&rows, "t_tg", r[i].t_tg, 6);
		bench_row_num(&rows, "speed_tg", r[i].s_tg, 4);
		bench_row_num(&rows, "t", r[i].t_pp + r[i].t_tg, 6);
		bench_row_num(&rows, "speed", r[i].s_all, 4);
		bench_row_end(&rows);
	}
	bench_rows_end(&rows);
}

/* gnuplot on PATH?  (checked before running anything long) */
static int have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

static int write_plot(const struct bopts *o, const struct bench_lm *lm,
		      const struct bench_batched *r, int n)
{
	char data[] = "/tmp/kllm-bench-plot-XXXXXX";
	int fd = mkstemp(data);
	FILE *f, *gp;
	int ret;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		perror("kllm-bench: plot data");
		return -1;
	}
	fprintf(f, "# P S_PP S_TG S\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "%u %.4f %.4f %.4f\n", r[i].n_seqs, r[i].s_pp, r[i].s_tg, r[i].s_all);
	fclose(f);
	gp = popen("gnuplot", "w");
	if (!gp) {
		unlink(data);
		return -1;
	}
	fprintf(gp, "set terminal png size 800,500\nset output '%s'\n"
		"set title 'kllm batched: %s, %s, %d threads (npp %d, ntg %d)' noenhanced\n"
		"set xlabel 'parallel sequences P'\nset ylabel 'tokens/s'\n"
		"set logscale x 2\nset grid\nset key top left\n"
		"plot '%s' using 1:2 with linespoints title 'prompt (S_PP)' noenhanced, "
		"'' using 1:3 with linespoints title 'generation (S_TG)' noenhanced, "
		"'' using 1:4 with linespoints title 'total (S)' noenhanced\n",
		o->c.plot, lm->name, n ? r[0].backend : "-", o->c.threads[0], o->npp, o->ntg,
		data);
	ret = pclose(gp);
	unlink(data);
	if (ret) {
		fprintf(stderr, "kllm-bench: gnuplot failed (status %d)\n", ret);
		return -1;
	}
	fprintf(stderr, "kllm-bench: plot written to %s\n", o->c.plot);
	return 0;
}

int bench_batched_main(int argc, char **argv)
{
	struct bench_batched res[MAX_LIST] = { 0 };
	struct bench_lm lm;
	struct bopts o;
	const char *backend;
	int ret = 0, plot = 0;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (o.c.plot) {
		plot = have_gnuplot();
		if (!plot)
			fprintf(stderr, "kllm-bench: gnuplot is not installed: no plot "
				"(install gnuplot-nox); the table follows\n");
	}
	if (bench_engine_apply(&o.c, "batched") || bench_lm_load(&lm, o.c.model))
		return 1;
	backend = bench_lm_engine(&lm, "batched", bench_engine_name(&o.c));
	if (!backend) {
		bench_lm_free(&lm);
		return 1;
	}
	for (int i = 0; i < o.n_npl && !ret; i++) {
		bench_progress("  batched P=%d (npp %d, ntg %d, %d threads, %s)...", o.npl[i],
			       o.npp, o.ntg, o.c.threads[0], backend);
		ret = bench_batched_run(&lm, o.c.threads[0], o.npl[i], o.npp, o.ntg, o.batch,
					o.c.reps, &res[i]);
		if (!ret)
			bench_progress(" S_PP %.1f, S_TG %.1f tok/s\n", res[i].s_pp, res[i].s_tg);
	}
	if (!ret) {
		if (o.c.fmt == BENCH_FMT_MD)
			print_table(&o, &lm, res, o.n_npl);
		else
			print_rows(&o, &lm, res, o.n_npl);
		if (plot && write_plot(&o, &lm, res, o.n_npl))
			ret = 1;
	}
	bench_lm_free(&lm);
	return ret ? 1 : 0;
}
