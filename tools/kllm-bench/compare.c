// SPDX-License-Identifier: MIT
/*
 * compare.c - `kllm-bench compare`: kllm next to llama.cpp on the same
 * GGUF, thread count and sizes.  llama.cpp's own tools measure it:
 * llama-bench for ppN and tgM, llama-batched-bench for batchedP (aggregate
 * generation tokens/s of P sequences).  Runs alternate, kllm then
 * llama.cpp, figure by figure and round by round, so that on a shared
 * machine both see the same load; the ratio of each figure comes from the
 * same rounds.
 *
 * The llama.cpp binaries are found in --llama-bin DIR or $LLAMA_CPP_BIN
 * (a build's bin/ directory); nothing about them is compiled in.  They
 * inherit the environment: on a machine shared with other jobs, an OpenMP
 * build's spinning barriers (OMP_WAIT_POLICY unset = active) can make
 * llama.cpp ten times slower than OMP_WAIT_POLICY=passive, so the policy
 * is reported with the figures.
 */
#include "bench.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROUNDS 20

struct copts {
	struct bench_common c;		/* -m, -t (one count), -r, -o, --engine */
	const char *bin;
	const char *backend;		/* the engine kllm's figures ran on */
	int pp, tg, par;		/* 0 skips the figure */
	int bpp, btg;			/* batched prompt / generated tokens */
	int rounds;
	int repack;			/* llama-bench --repack; -1: its default */
};

enum cfig { FIG_PP, FIG_TG, FIG_BATCHED, FIG_COUNT };

struct cfigure {
	char test[32];
	int enabled;
	double kllm[MAX_ROUNDS], llama[MAX_ROUNDS];
	double kllm_run_sd, llama_run_sd;	/* within the last round's runs */
	int n;
	double kllm_mean, kllm_sd, llama_mean, llama_sd;
};

void bench_compare_usage(void)
{
	printf("usage: kllm-bench compare -m MODEL [-t T] [-p N] [-n M] [-P PAR] [--bpp N]\n"
	       "                          [--btg M] [-r REPS] [--rounds R] [--repack 0|1]\n"
	       "                          [--llama-bin DIR] [--engine cpu|dev|auto]\n"
	       "                          [-o md|csv|json|jsonl|sql]\n"
	       "  kllm vs llama.cpp on the same GGUF: ppN and tgM (llama-bench, -r REPS\n"
	       "  each) and batchedPAR (llama-batched-bench: PAR sequences of --bpp prompt\n"
	       "  tokens, then --btg steps; figure = aggregate generation tokens/s).  0\n"
	       "  skips a figure.  R rounds alternate kllm and llama.cpp.\n"
	       "  -m, --model FILE    GGUF model\n"
	       "  -t, --threads T     threads, both sides (default: every CPU)\n"
	       "  -p N                pp test of N tokens (default 128)\n"
	       "  -n M                tg test of M tokens (default 64)\n"
	       "  -P PAR              batched figure of PAR sequences (default 8)\n"
	       "  --bpp N, --btg M    its prompt and generated tokens (default 64, 32)\n"
	       "  -r REPS             runs of each pp/tg test per round (default 3)\n"
	       "  --rounds R          rounds (default 1, at most %d)\n"
	       "  --repack 0|1        passed to llama-bench (its extra buffer types: Q4_0 etc.\n"
	       "                      repacked for its GEMM kernels; on by default there)\n"
	       "  --llama-bin DIR     llama.cpp's bin/ directory (default: $LLAMA_CPP_BIN)\n"
	       "  --engine E          where kllm's forward passes run (cpu, dev: the kllm\n"
	       "                      driver, auto; default KLLM_ENGINE, else auto); the rows'\n"
	       "                      kllm_backend names the one that ran\n"
	       "  -o, --output F      md (default), csv, json, jsonl or sql; --json is -o json.\n"
	       "                      Rows: model, model_type, test, threads, kllm_tps,\n"
	       "                      llamacpp_tps, ratio, kllm_sd, llamacpp_sd, rounds,\n"
	       "                      llamacpp_repack, kllm_simd, omp_wait_policy,\n"
	       "                      kllm_engine, kllm_backend.\n"
	       "  -h, --help          this help\n", MAX_ROUNDS);
}

/* compare's own options; 0 if @c is not one of them, -1 on a bad value. */
static int own_opt(struct copts *o, int c)
{
	int v, *dst;

	switch (c) {
	case 'L':
		o->bin = optarg;
		return 1;
	case 'p': dst = &o->pp; break;
	case 'n': dst = &o->tg; break;
	case 'P': dst = &o->par; break;
	case 'A': dst = &o->bpp; break;
	case 'B': dst = &o->btg; break;
	case 'R': dst = &o->rounds; break;
	case 'K': dst = &o->repack; break;
	default:
		return 0;
	}
	v = bench_parse_uint(optarg);
	if (v < 0 || v > 4096 || (c == 'K' && v > 1) || ((c == 'B' || c == 'R') && v < 1) ||
	    (c == 'R' && v > MAX_ROUNDS) || (c == 'P' && v > 256)) {
		fprintf(stderr, "kllm-bench compare: bad value '%s' for %s\n", optarg,
			c == 'A' ? "--bpp" : c == 'B' ? "--btg" : c == 'R' ? "--rounds" :
			c == 'K' ? "--repack" : c == 'p' ? "-p" : c == 'n' ? "-n" : "-P");
		return -1;
	}
	*dst = v;
	return 1;
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct copts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		{ "llama-bin", required_argument, NULL, 'L' },
		{ "bpp", required_argument, NULL, 'A' },
		{ "btg", required_argument, NULL, 'B' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "repack", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 3, 100);
	o->pp = 128;
	o->tg = 64;
	o->par = 8;
	o->bpp = 64;
	o->btg = 32;
	o->rounds = 1;
	o->repack = -1;
	o->bin = getenv("LLAMA_CPP_BIN");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:t:p:n:P:r:o:h", lopts, NULL)) != -1) {
		ret = own_opt(o, c);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, "compare", argv);
		if (ret == BENCH_OPT_HELP) {
			bench_compare_usage();
			return 1;
		}
		if (ret <= 0)
			return -1;
	}
	if (bench_common_check(&o->c, "compare", argc, argv))
		return -1;
	if (!o->bin || !*o->bin) {
		fprintf(stderr, "kllm-bench compare: where is llama.cpp?  Set LLAMA_CPP_BIN or "
			"--llama-bin to the directory holding llama-bench\n");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ llama.cpp */

/* @s single-quoted for sh into @out. */
static void shell_quote(char *out, size_t len, const char *s)
{
	size_t n = 0;

	if (len < 3)
		return;
	out[n++] = '\'';
	for (; *s && n + 6 < len; s++) {
		if (*s == '\'') {
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			out[n++] = *s;
		}
	}
	out[n++] = '\'';
	out[n] = 0;
}

/* The number after "key": in a one-line JSON object; -1 if absent. */
static double json_num(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (!strncmp(p, "true", 4))
		return 1;
	if (!strncmp(p, "false", 5))
		return 0;
	return strtod(p, NULL);
}

/*
 * Run @cmd, return the first output line that starts with @prefix
 * (malloc'd) or NULL; the command's own log goes to @log.
 */
static char *run_for_line(const char *cmd, const char *prefix)
{
	FILE *f = popen(cmd, "r");
	char *line = NULL, *found = NULL;
	size_t cap = 0;

	if (!f) {
		perror("kllm-bench: popen");
		return NULL;
	}
	while (getline(&line, &cap, f) > 0)
		if (!found && !strncmp(line, prefix, strlen(prefix)))
			found = strdup(line);
	free(line);
	if (pclose(f) && found) {
		free(found);
		found = NULL;
	}
	return found;
}

static const char *llama_log = "/tmp/kllm-bench-llamacpp.log";

/* llama-bench, one test; tokens/s mean (and sd, repack) or -1. */
static double llama_bench(const struct copts *o, const char *qmodel, int pp, int tg,
			  double *sd, int *repack)
{
	char cmd[4096], qbin[1024], extra[32] = "";
	char *line;
	double ts;

	shell_quote(qbin, sizeof(qbin), o->bin);
	if (o->repack >= 0)
		snprintf(extra, sizeof(extra), " --repack %d", o->repack);
	snprintf(cmd, sizeof(cmd), "%s/llama-bench -m %s -t %d -p %d -n %d -r %d%s -o jsonl "
		 "2>>%s", qbin, qmodel, o->c.threads[0], pp, tg, o->c.reps, extra, llama_log);
	line = run_for_line(cmd, "{");
	if (!line) {
		fprintf(stderr, "kllm-bench: llama-bench failed (its log: %s)\n", llama_log);
		return -1;
	}
	ts = json_num(line, "avg_ts");
	*sd = json_num(line, "stddev_ts");
	*repack = (int)json_num(line, "repack");
	free(line);
	return ts;
}

/* llama-batched-bench, one P; aggregate generation tokens/s or -1. */
static double llama_batched(const struct copts *o, const char *qmodel)
{
	char cmd[4096], qbin[1024];
	char *line;
	double ts;

	shell_quote(qbin, sizeof(qbin), o->bin);
	snprintf(cmd, sizeof(cmd), "%s/llama-batched-bench -m %s -t %d -tb %d -c %d -b 512 "
		 "-ub 512 -npp %d -ntg %d -npl %d --output-format jsonl 2>>%s", qbin, qmodel,
		 o->c.threads[0], o->c.threads[0], o->par * (o->bpp + o->btg), o->bpp, o->btg,
		 o->par, llama_log);
	line = run_for_line(cmd, "{\"n_kv_max\"");
	if (!line) {
		fprintf(stderr, "kllm-bench: llama-batched-bench failed (its log: %s)\n",
			llama_log);
		return -1;
	}
	ts = json_num(line, "speed_tg");
	free(line);
	return ts;
}

/* What llama.cpp's OpenMP threads do while they wait. */
static const char *omp_policy(void)
{
	const char *p = getenv("OMP_WAIT_POLICY");

	return p && *p ? p : "unset (active)";
}

/* ------------------------------------------------------------ rounds */

static double kllm_figure(const struct copts *o, const struct bench_lm *lm, enum cfig f,
			  double *sd)
{
	struct bench_batched b;
	double mean = -1;

	*sd = 0;
	if (f == FIG_BATCHED)
		return bench_batched_run(lm, o->c.threads[0], o->par, o->bpp, o->btg, 512, 1, &b) ?
		       -1 : b.s_tg;
	if (bench_pptg_run(lm, o->c.threads[0], f == FIG_PP ? o->pp : 0, f == FIG_TG ? o->tg : 0,
			   o->c.reps, &mean, sd))
		return -1;
	return mean;
}

static double llama_figure(const struct copts *o, const char *qmodel, enum cfig f,
			   double *sd, int *repack)
{
	*sd = 0;
	if (f == FIG_BATCHED)
		return llama_batched(o, qmodel);
	return llama_bench(o, qmodel, f == FIG_PP ? o->pp : 0, f == FIG_TG ? o->tg : 0, sd,
			   repack);
}

static void print_table(const struct copts *o, const struct bench_lm *lm,
			const struct cfigure *fig, int repack)
{
	printf("kllm vs llama.cpp: %s, %d threads, kllm on %s, %s path, %d round(s)%s\n",
	       lm->name, o->c.threads[0], o->backend, kk_simd_name(kk_simd_selected()),
	       o->rounds, o->rounds > 1 ? " (mean +- sd over rounds)" : " (+- sd of the runs)");
	printf("llama.cpp: %s; repacking (extra buffer types) %s; OMP_WAIT_POLICY %s\n\n",
	       o->bin, repack < 0 ? "unknown" : repack ? "on" : "off", omp_policy());
	printf("| %-10s | %7s | %20s | %20s | %6s |\n", "test", "threads", "kllm t/s",
	       "llama.cpp t/s", "ratio");
	printf("|------------|---------|----------------------|----------------------|--------|\n");
	for (int f = 0; f < FIG_COUNT; f++) {
		if (!fig[f].enabled)
			continue;
		printf("| %-10s | %7d | %9.2f +- %7.2f | %9.2f +- %7.2f | %6.3f |\n",
		       fig[f].test, o->c.threads[0], fig[f].kllm_mean, fig[f].kllm_sd,
		       fig[f].llama_mean, fig[f].llama_sd,
		       fig[f].kllm_mean / fig[f].llama_mean);
	}
	printf("(pp/tg: within a round each side is the mean of %d runs; batched%d: "
	       "aggregate generation t/s, %d prompt + %d generated tokens per sequence)\n",
	       o->c.reps, o->par, o->bpp, o->btg);
}

static void print_rows(const struct copts *o, const struct bench_lm *lm,
		       const struct cfigure *fig, int repack)
{
	struct bench_rows rows;

	bench_rows_begin(&rows, o->c.fmt, "compare");
	for (int f = 0; f < FIG_COUNT; f++) {
		if (!fig[f].enabled)
			continue;
		bench_row_str(&rows, "model", lm->name);
		bench_row_str(&rows, "model_type", lm->type);
		bench_row_str(&rows, "test", fig[f].test);
		bench_row_int(&rows, "threads", o->c.threads[0]);
		bench_row_num(&rows, "kllm_tps", fig[f].kllm_mean, 4);
		bench_row_num(&rows, "llamacpp_tps", fig[f].llama_mean, 4);
		bench_row_num(&rows, "ratio", fig[f].kllm_mean / fig[f].llama_mean, 4);
		bench_row_num(&rows, "kllm_sd", fig[f].kllm_sd, 4);
		bench_row_num(&rows, "llamacpp_sd", fig[f].llama_sd, 4);
		bench_row_int(&rows, "rounds", fig[f].n);
		bench_row_bool(&rows, "llamacpp_repack", repack);
		bench_row_str(&rows, "kllm_simd", kk_simd_name(kk_simd_selected()));
		bench_row_str(&rows, "omp_wait_policy", omp_policy());
		bench_row_str(&rows, "kllm_engine", bench_engine_name(&o->c));
		bench_row_str(&rows, "kllm_backend", o->backend);
		bench_row_end(&rows);
	}
	bench_rows_end(&rows);
}

int bench_compare_main(int argc, char **argv)
{
	struct cfigure fig[FIG_COUNT];
	struct bench_lm lm;
	struct copts o;
	char qmodel[2048], probe[1100];
	int repack = -1, ret = 0;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	snprintf(probe, sizeof(probe), "%s/llama-bench", o.bin);
	if (access(probe, X_OK)) {
		fprintf(stderr, "kllm-bench compare: no llama-bench in %s\n", o.bin);
		return 1;
	}
	shell_quote(qmodel, sizeof(qmodel), o.c.model);
	memset(fig, 0, sizeof(fig));
	snprintf(fig[FIG_PP].test, sizeof(fig[FIG_PP].test), "pp%d", o.pp);
	snprintf(fig[FIG_TG].test, sizeof(fig[FIG_TG].test), "tg%d", o.tg);
	snprintf(fig[FIG_BATCHED].test, sizeof(fig[FIG_BATCHED].test), "batched%d", o.par);
	fig[FIG_PP].enabled = o.pp > 0;
	fig[FIG_TG].enabled = o.tg > 0;
	fig[FIG_BATCHED].enabled = o.par > 0;
	if (bench_engine_apply(&o.c, "compare") || bench_lm_load(&lm, o.c.model))
		return 1;
	o.backend = bench_lm_engine(&lm, "compare", bench_engine_name(&o.c));
	if (!o.backend) {
		bench_lm_free(&lm);
		return 1;
	}
	if (truncate(llama_log, 0) && access(llama_log, F_OK) == 0)
		perror("kllm-bench: llama.cpp log");
	for (int r = 0; r < o.rounds && !ret; r++) {
		for (int f = 0; f < FIG_COUNT && !ret; f++) {
			struct cfigure *g = &fig[f];
			double k, l;

			if (!g->enabled)
				continue;
			bench_progress("round %d/%d %s: kllm\n", r + 1, o.rounds, g->test);
			k = kllm_figure(&o, &lm, f, &g->kllm_run_sd);
			bench_progress("round %d/%d %s: kllm %.2f t/s; llama.cpp...", r + 1, o.rounds,
				       g->test, k);
			l = llama_figure(&o, qmodel, f, &g->llama_run_sd,
					 f == FIG_BATCHED ? &(int){ 0 } : &repack);
			bench_progress(" %.2f t/s (ratio %.3f)\n", l, k / l);
			if (k <= 0 || l <= 0) {
				ret = 1;
				break;
			}
			g->kllm[g->n] = k;
			g->llama[g->n++] = l;
		}
	}
	if (!ret) {
		for (int f = 0; f < FIG_COUNT; f++) {
			bench_stats(fig[f].kllm, fig[f].n, &fig[f].kllm_mean, &fig[f].kllm_sd);
			bench_stats(fig[f].llama, fig[f].n, &fig[f].llama_mean, &fig[f].llama_sd);
			if (fig[f].n == 1) {	/* one round: the spread of its runs */
				fig[f].kllm_sd = fig[f].kllm_run_sd;
				fig[f].llama_sd = fig[f].llama_run_sd;
			}
		}
		if (o.c.fmt == BENCH_FMT_MD)
			print_table(&o, &lm, fig, repack);
		else
			print_rows(&o, &lm, fig, repack);
	}
	bench_lm_free(&lm);
	return ret;
}
