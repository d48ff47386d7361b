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
 * --sweep reruns the scenario for several background loads (and -o plots
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
	struct bench_common c;	/* -m, -t (one count), -o, --engine, --json */
	struct serve_spec spec[SERVE_MAX_SPECS];
	int n_spec;
	int sweep[SERVE_MAX_RUNS], n_sweep;
	int requests;		/* -r: requests per client, not repetitions */
	int scale, scale_prompt, scale_gen;
};

void bench_serve_usage(void)
{
	fprintf(stderr,
		"usage: kllm-bench serve -m MODEL [-c CLASS:COUNT:PROMPT:GEN]... [-r N] [-t T]\n"
		"                        [--engine cpu|dev|auto] [--sweep L1,L2,...] [-o PLOT.png]\n"
		"                        [--decode-scaling[=PROMPT:GEN]] [--json]\n"
		"  COUNT client processes per -c, each with its own engine of priority CLASS\n"
		"  (interactive, normal, background), sending N (default 4) requests one after\n"
		"  another: PROMPT synthetic tokens, then GEN greedy tokens.  Default:\n"
		"  -c interactive:1:16:32 -c background:2:64:32.  -t threads per client for\n"
		"  the cpu engine (default 1).  --engine sets KLLM_ENGINE for the clients\n"
		"  (default: as inherited, else auto); dev needs a kllm node (and interactive\n"
		"  CAP_SYS_NICE).\n"
		"  Per class: requests, time to first token (TTFT) and per-token latency p50/p99\n"
		"  in ms, generated tokens/s from the start to the class's last request.\n"
		"  --sweep reruns with the background client count set to each Li; -o plots\n"
		"  the interactive class's latencies against it (gnuplot).  With 0 in the sweep,\n"
		"  the interactive p99 per-token latency under load / alone is printed.\n"
		"  --decode-scaling runs 1 then 4 normal clients (default prompt 8, gen 128)\n"
		"  and prints total tokens/s of four / one (alone, without -c/--sweep/-o,\n"
		"  only that).  Background clients go on past N requests until the other\n"
		"  classes are done, so those are measured under load throughout.\n"
		"  --json: one object {model, engine, backend, threads, requests_per_client,\n"
		"    runs: [{background, seconds, total_tps, classes: [{class, clients, prompt,\n"
		"      gen, requests, tokens, ttft_p50_ms, ttft_p99_ms, tok_p50_ms, tok_p99_ms,\n"
		"      gen_tps}]}],\n"
		"    interactive_p99_ratio: [{background, ratio}] (or null),\n"
		"    decode_scaling: {prompt, gen, tps_1, tps_4, ratio} (or null)}\n");
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
		fprintf(stderr, "kllm-bench serve: --sweep needs exactly one -c background:...\n");
		return -1;
	}
	if (o->c.plot && (!o->n_sweep || count_prio(o, KLLM_PRIORITY_INTERACTIVE) != 1)) {
		fprintf(stderr, "kllm-bench serve: -o needs --sweep and one -c interactive:...\n");
		return -1;
	}
	return 0;
}

/* serve's own options; 0 if @c is not one of them, -1 on a bad value. */
static int own_opt(struct sopts *o, int c, int *explicit_specs)
{
	int v, bad;

	switch (c) {
	case 'c':
		if (!(*explicit_specs)++)
			o->n_spec = 0;
		bad = o->n_spec >= SERVE_MAX_SPECS || parse_spec(optarg, &o->spec[o->n_spec]);
		o->n_spec += !bad;
		break;
	case 's':
		o->n_sweep = bench_parse_list(optarg, parse_load, o->sweep, SERVE_MAX_RUNS);
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
		c == 'c' ? "-c (CLASS:COUNT:PROMPT:GEN)" : c == 's' ? "--sweep" :
		c == 'd' ? "--decode-scaling (PROMPT:GEN)" : "-r (requests 1..100000)");
	return -1;
}

static int parse_opts(struct sopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
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
	bench_common_init(&o->c, 1, 1, 1, 1);
	memcpy(o->spec, def, sizeof(def));
	o->n_spec = 2;
	o->requests = 4;
	o->scale_prompt = 8;
	o->scale_gen = 128;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:c:r:t:o:", lopts, NULL)) != -1) {
		ret = own_opt(o, c, &explicit_specs);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, "serve");
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

	if (parse_opts(&o, argc, argv)) {
		bench_serve_usage();
		return 2;
	}
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
