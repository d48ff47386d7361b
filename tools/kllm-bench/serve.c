// SPDX-License-Identifier: MIT
/*
 * serve.c - `kllm-bench serve`: many client processes, each with its own
 * engine (kllm_engine_create with its priority class) on one GGUF, each
 * sending a closed-loop stream of requests: a prompt of P synthetic
 * tokens (different for every client and request, so nothing can be
 * shared or cached), then G greedy tokens.  The clients are forked and
 * start together; each request's time to first token and the latency of
 * every later token (CLOCK_MONOTONIC) go back to the parent over a pipe.
 *
 * With the device engine this is what the driver's scheduler is for:
 * interactive decodes served before background prefill, fair share within
 * a class, jobs of the same model fused across processes.  With the cpu
 * engine every client computes on its own threads: the baseline.
 *
 * --sweep reruns the scenario for several background loads (and --plot draws
 * the interactive latencies against it); --decode-scaling compares four
 * decoding clients with one.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "serve.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sopts {
	struct bench_common c;	/* -m, -t (one count), -o md|json, --plot, --engine */
	struct serve_spec spec[SERVE_MAX_SPECS];
	int n_spec;
	int sweep[SERVE_MAX_RUNS], n_sweep;
	int requests;		/* -r: requests per client, not repetitions */
	int scale, scale_prompt, scale_gen;
};

void bench_serve_usage(void)
{
	printf("usage: kllm-bench serve -m MODEL [--class CLASS:COUNT:PROMPT:GEN]... [-r N]\n"
	       "                        [-t T] [--engine cpu|dev|auto] [--sweep L1,L2,...]\n"
	       "                        [--plot FILE.png] [--decode-scaling[=PROMPT:GEN]]\n"
	       "                        [-o md|json]\n"
	       "  COUNT client processes per --class, each with its own engine of priority\n"
	       "  CLASS (interactive, normal, background), sending N requests one after\n"
	       "  another: PROMPT synthetic tokens, then GEN greedy tokens.  Per class:\n"
	       "  requests, time to first token (TTFT) and per-token latency p50/p99 in ms,\n"
	       "  generated tokens/s from the start to the class's last request.\n"
	       "  -m, --model FILE    GGUF model\n"
	       "  --class C:N:P:G     a class of clients (default: --class interactive:1:16:32\n"
	       "                      --class background:2:64:32)\n"
	       "  -r N                requests per client (default 4)\n"
	       "  -t, --threads T     threads per client for the cpu engine (default: every\n"
	       "                      CPU; the clients then share the cores)\n"
	       "  --engine E          sets KLLM_ENGINE for the clients (default: as inherited,\n"
	       "                      else auto); dev needs a kllm node (and interactive\n"
	       "                      CAP_SYS_NICE)\n"
	       "  --sweep L1,...      rerun with the background client count set to each Li;\n"
	       "                      with 0 in the sweep, the interactive p99 per-token\n"
	       "                      latency under load / alone is printed\n"
	       "  --plot FILE.png     the interactive class's latencies against the sweep\n"
	       "                      (gnuplot)\n"
	       "  --decode-scaling[=PROMPT:GEN]  run 1 then 4 normal clients (default 8:128)\n"
	       "                      and print total tokens/s of four / one (alone, without\n"
	       "                      --class/--sweep/--plot, only that)\n"
	       "  -o, --output F      md (default) or json; --json is -o json: one object\n"
	       "                      {model, engine, backend, threads, requests_per_client,\n"
	       "                      runs: [{background, seconds, total_tps, classes: [{class,\n"
	       "                      clients, prompt, gen, requests, tokens, ttft_p50_ms,\n"
	       "                      ttft_p99_ms, tok_p50_ms, tok_p99_ms, gen_tps}]}],\n"
	       "                      interactive_p99_ratio: [{background, ratio}] (or null),\n"
	       "                      decode_scaling: {prompt, gen, tps_1, tps_4, ratio} (or\n"
	       "                      null)}\n"
	       "  -h, --help          this help\n"
	       "Background clients go on past N requests until the other classes are done,\n"
	       "so those are measured under load throughout.\n");
}

/* ------------------------------------------------------------ options */

static int parse_prio(const char *s, size_t n, uint32_t *prio)
{
	for (uint32_t p = 0; p <= KLLM_PRIORITY_BACKGROUND; p++) {
		const char *name = serve_prio_name(p);

		if (strlen(name) == n && !strncmp(s, name, n)) {
			*prio = p;
			return 0;
		}
	}
	return -1;
}

/* "PROMPT:GEN" into two counts >= 1. */
static int parse_pg(const char *s, int *prompt, int *gen)
{
	char tail;

	return sscanf(s, "%d:%d%c", prompt, gen, &tail) == 2 && *prompt >= 1 &&
	       *prompt <= 4096 && *gen >= 1 && *gen <= 4096 ? 0 : -1;
}

static int parse_spec(const char *s, struct serve_spec *sp)
{
	const char *colon = strchr(s, ':');
	char tail;

	if (!colon || parse_prio(s, (size_t)(colon - s), &sp->prio) ||
	    sscanf(colon + 1, "%d:%d:%d%c", &sp->count, &sp->prompt, &sp->gen, &tail) != 3 ||
	    sp->count < 0 || sp->count > SERVE_MAX_CLIENTS || sp->prompt < 1 ||
	    sp->prompt > 4096 || sp->gen < 1 || sp->gen > 4096)
		return -1;
	return 0;
}

static int parse_load(const char *s)
{
	int v = bench_parse_uint(s);

	return v <= SERVE_MAX_CLIENTS ? v : -1;
}

static int count_prio(const struct sopts *o, uint32_t prio)
{
	int n = 0;

	for (int i = 0; i < o->n_spec; i++)
		n += o->spec[i].prio == prio;
	return n;
}

/* What the options need of each other, after parsing. */
static int check_opts(struct sopts *o, int explicit_specs)
{
	if (!o->c.model) {
		fprintf(stderr, "kllm-bench serve: -m MODEL is required "
			"(e.g. -m \"$(tools/fetch-model.sh smollm2)\")\n");
		return -1;
	}
	if (!explicit_specs && o->scale && !o->n_sweep && !o->c.plot)
		o->n_spec = 0;		/* --decode-scaling alone */
	if (o->n_sweep && count_prio(o, KLLM_PRIORITY_BACKGROUND) != 1) {
		fprintf(stderr, "kllm-bench serve: --sweep needs exactly one --class "
			"background:...\n");
		return -1;
	}
	if (o->c.plot && (!o->n_sweep || count_prio(o, KLLM_PRIORITY_INTERACTIVE) != 1)) {
		fprintf(stderr, "kllm-bench serve: --plot needs --sweep and one --class "
			"interactive:...\n");
		return -1;
	}
	return 0;
}

/* serve's own options; 0 if @c is not one of them, -1 on a bad value. */
static int own_opt(struct sopts *o, int c, int *explicit_specs)
{
	char badel[64];
	int v, bad;

	switch (c) {
	case 'C':
		if (!(*explicit_specs)++)
			o->n_spec = 0;
		bad = o->n_spec >= SERVE_MAX_SPECS || parse_spec(optarg, &o->spec[o->n_spec]);
		o->n_spec += !bad;
		break;
	case 's':
		o->n_sweep = bench_parse_list_quiet(optarg, parse_load, o->sweep,
						     SERVE_MAX_RUNS, badel, sizeof(badel));
		bad = o->n_sweep < 0;
		break;
	case 'd':
		o->scale = 1;
		bad = optarg && parse_pg(optarg, &o->scale_prompt, &o->scale_gen);
		break;
	case 'r':
		v = bench_parse_uint(optarg);
		bad = v < 1 || v > 100000;
		o->requests = v;
		break;
	default:
		return 0;
	}
	if (!bad)
		return 1;
	fprintf(stderr, "kllm-bench serve: bad value '%s' for %s\n", optarg,
		c == 'C' ? "--class (CLASS:COUNT:PROMPT:GEN)" :
		c == 's' ? "--sweep (up to 16 of 0..64, comma-separated)" :
		c == 'd' ? "--decode-scaling (PROMPT:GEN)" : "-r (requests 1..100000)");
	return -1;
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct sopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		BENCH_PLOT_LONGOPT,
		{ "class", required_argument, NULL, 'C' },
		{ "sweep", required_argument, NULL, 's' },
		{ "decode-scaling", optional_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct serve_spec def[] = {
		{ KLLM_PRIORITY_INTERACTIVE, 1, 16, 32 },
		{ KLLM_PRIORITY_BACKGROUND, 2, 64, 32 },
	};
	int c, ret, explicit_specs = 0;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 1, 1);
	o->c.fmts = BENCH_FMTS_MD_JSON;
	memcpy(o->spec, def, sizeof(def));
	o->n_spec = 2;
	o->requests = 4;
	o->scale_prompt = 8;
	o->scale_gen = 128;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:r:t:o:h", lopts, NULL)) != -1) {
		ret = own_opt(o, c, &explicit_specs);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, "serve", argv);
		if (ret == BENCH_OPT_HELP) {
			bench_serve_usage();
			return 1;
		}
		if (ret <= 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "kllm-bench serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return check_opts(o, explicit_specs);
}

static int run_all(const struct sopts *o, struct serve_run *runs, int *n_runs,
		   struct serve_run *scale)
{
	const struct serve_cfg cfg = { o->c.model, o->c.threads[0], o->requests };
	struct serve_spec sp[SERVE_MAX_SPECS];
	char label[64];
	int n = o->n_sweep ? o->n_sweep : o->n_spec ? 1 : 0;

	for (int i = 0; i < n; i++) {
		memcpy(sp, o->spec, sizeof(sp));
		for (int s = 0; o->n_sweep && s < o->n_spec; s++)
			if (sp[s].prio == KLLM_PRIORITY_BACKGROUND)
				sp[s].count = o->sweep[i];
		snprintf(label, sizeof(label), "run %d/%d", i + 1, n);
		if (serve_run_once(&cfg, sp, o->n_spec, &runs[i], label))
			return -1;
		for (int s = 0; s < o->n_spec; s++)
			if (sp[s].prio == KLLM_PRIORITY_BACKGROUND)
				runs[i].background += sp[s].count;
		*n_runs = i + 1;
	}
	for (int i = 0; o->scale && i < 2; i++) {
		sp[0] = (struct serve_spec){ KLLM_PRIORITY_NORMAL, i ? 4 : 1, o->scale_prompt,
					     o->scale_gen };
		snprintf(label, sizeof(label), "decode scaling, %d client%s", sp[0].count,
			 i ? "s" : "");
		if (serve_run_once(&cfg, sp, 1, &scale[i], label))
			return -1;
	}
	return 0;
}

int bench_serve_main(int argc, char **argv)
{
	static struct serve_run runs[SERVE_MAX_RUNS], scale[2];
	struct serve_report rep = { 0 };
	struct sopts o;
	const char *name;
	int n_runs = 0, plot = 0, ret;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (bench_engine_apply(&o.c, "serve"))
		return 1;
	if (o.c.plot) {
		plot = !system("command -v gnuplot >/dev/null 2>&1");
		if (!plot)
			fprintf(stderr, "kllm-bench: gnuplot is not installed: no plot "
				"(install gnuplot-nox); the table follows\n");
	}
	/* A client that dies must not take the parent with it (SIGPIPE). */
	signal(SIGPIPE, SIG_IGN);
	ret = run_all(&o, runs, &n_runs, scale);
	if (ret)
		return 1;
	name = strrchr(o.c.model, '/');
	rep = (struct serve_report){
		.model = name ? name + 1 : o.c.model, .engine = bench_engine_name(&o.c),
		.threads = o.c.threads[0], .requests = o.requests, .runs = runs, .n_runs = n_runs,
		.scale = o.scale ? scale : NULL, .scale_prompt = o.scale_prompt,
		.scale_gen = o.scale_gen,
	};
	if (o.c.json)
		serve_print_json(&rep);
	else
		serve_print_table(&rep);
	if (plot && serve_plot(&rep, o.c.plot))
		return 1;
	return 0;
}
