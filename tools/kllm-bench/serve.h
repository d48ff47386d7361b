/* SPDX-License-Identifier: MIT */
/*
 * serve.h - `kllm-bench serve` (serve.c: options, runs, report;
 * serve_run.c: one run, the parent that forks, starts and collects the
 * clients; serve_client.c: a client process; serve_stats.c: per-class
 * statistics, table, JSON, plot).
 */
#ifndef KLLM_BENCH_SERVE_H
#define KLLM_BENCH_SERVE_H

#include <stddef.h>
#include <stdint.h>

#define SERVE_MAX_SPECS 8
#define SERVE_MAX_CLIENTS 64
#define SERVE_MAX_RUNS 16

/* One -c CLASS:COUNT:PROMPT:GEN: COUNT clients of a priority class. */
struct serve_spec {
	uint32_t prio;		/* KLLM_PRIORITY_* */
	int count, prompt, gen;
};

/* One class of one run, aggregated over its clients' requests (ms). */
struct serve_class {
	struct serve_spec spec;
	int requests;
	uint64_t tokens;		/* generated */
	double ttft_p50, ttft_p99, tok_p50, tok_p99;
	double gen_tps;			/* tokens / (its last request's end - start) */
};

/* One run of the scenario: every client, started together. */
struct serve_run {
	int background;			/* background clients in this run */
	struct serve_class cls[SERVE_MAX_SPECS];
	int n_cls;
	double seconds;			/* start to the last request's end */
	double total_tps;		/* every class's tokens / seconds */
	char backend[32];		/* kllm_engine_backend() of the clients */
};

struct serve_report {
	const char *model;		/* file name */
	const char *engine;		/* "cpu", "dev" or "auto" */
	int threads, requests;
	const struct serve_run *runs;	/* the scenario (a sweep: one per load) */
	int n_runs;
	const struct serve_run *scale;	/* --decode-scaling: 1 then 4 clients */
	int scale_prompt, scale_gen;
};

const char *serve_prio_name(uint32_t prio);

/* What every client of every run gets. */
struct serve_cfg {
	const char *model;
	int threads, requests;
};

/* One run of the clients of @sp, all started at once; 0, or -1 with the
 * reason on stderr (one line). */
int serve_run_once(const struct serve_cfg *cfg, const struct serve_spec *sp, int n_sp,
		   struct serve_run *run, const char *label);

/* Client to parent: a header, then n bytes (READY, ERR) or n floats (REQ). */
enum { MSG_READY = 1, MSG_ERR, MSG_REQ };

struct smsg {
	uint32_t type, n;	/* READY: the backend's name; ERR: the message */
	double ttft, end;	/* REQ: seconds; end is CLOCK_MONOTONIC */
};

/* What a client process is told (its fds are its ends of the pipes). */
struct serve_child {
	const char *model;
	int threads, requests, n_ctx;
	int id;			/* unique across runs: prompts never repeat */
	const struct serve_spec *sp;
	int fd;			/* messages to the parent */
	int go;			/* one byte: start; EOF: give up */
	int stop;		/* EOF: background clients stop after N requests */
};

/* The process's exit status. */
int serve_client_main(const struct serve_child *c);
int serve_write_all(int fd, const void *p, size_t n);	/* 0 or -1 */

/* Collected samples of one class in one run (seconds). */
struct serve_samples {
	double *ttft, *tok;
	int n_ttft, n_tok, cap_ttft, cap_tok;
	uint64_t tokens;
	double last_end;
};

int serve_samples_add(struct serve_samples *s, double ttft, const float *tok, int n,
		      double end);
void serve_samples_free(struct serve_samples *s);
/* Percentiles and tokens/s of @s (started at @t_start) into @c. */
void serve_class_finish(struct serve_class *c, struct serve_samples *s, double t_start);

/* The interactive class of a run, or NULL. */
const struct serve_class *serve_find_class(const struct serve_run *r, uint32_t prio);

void serve_print_table(const struct serve_report *rep);
void serve_print_json(const struct serve_report *rep);
/* PNG of the interactive class's latencies against background load. */
int serve_plot(const struct serve_report *rep, const char *path);

#endif /* KLLM_BENCH_SERVE_H */
