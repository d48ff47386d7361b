/* SPDX-License-Identifier: MIT */
/*
 * http.h - `kllm-bench http`: its options and results (http.c: options,
 * report, main; http_load.c: the clients, libcurl's multi loop, the
 * server-sent events).
 */
#ifndef KLLM_BENCH_HTTP_H
#define KLLM_BENCH_HTTP_H

#include "bench.h"

#define HTTP_MAX_CLIENTS 1024

struct hopts {
	struct bench_common c;	/* -m (the model's name here), -o md|json */
	const char *url, *unix_path, *api_key, *prompt, *system;
	int clients[BENCH_MAX_LIST], n_clients;
	int requests;		/* -n, per client */
	double duration;	/* --duration S (> 0: instead of -n) */
	int prompt_tokens, max_tokens, chat, ignore_eos, warmup;
	double temperature, timeout;
};

/* One run's numbers (times in ms). */
struct hresult {
	int clients, requests, errors;
	long long gen_tokens;
	double seconds, prompt_mean, gen_mean;
	double ttft_p50, ttft_p99, tok_p50, tok_p99, tps;
};

/*
 * One run of @k clients, @requests each (0: for the duration); run @id
 * seeds the prompts.  0, or -1 after a message.
 */
int http_run_once(const struct hopts *o, int k, int requests, unsigned int id,
		  struct hresult *res);
/* data[0].id of GET BASE/models, into @name; 0 or -1 after a message. */
int http_first_model(const struct hopts *o, char *name, size_t size);

#endif /* KLLM_BENCH_HTTP_H */
