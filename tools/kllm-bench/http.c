// SPDX-License-Identifier: MIT
/*
 * http.c - `kllm-bench http`: a load generator for any OpenAI-compatible
 * server (kllm-serve, llama.cpp's llama-server, ...).  K clients, each a
 * closed loop of streaming requests (chat or completions, a fresh prompt
 * every time so that no server can answer from a cache of whole prompts);
 * one thread drives them all with libcurl's multi interface, one easy
 * handle per client, and reads the server-sent events line by line as they
 * arrive (json-c for each chunk).
 *
 * Per request: the time to the first chunk with content (TTFT), the gaps
 * between later content chunks (per-token latency; a chunk carrying several
 * tokens has its gap spread over them, counted by the final usage chunk that
 * stream_options.include_usage asks for) and the completion tokens.  Per run:
 * p50/p99 of both, and the aggregate tokens/s (every completion token over
 * the run's wall time).  Built only with libcurl and json-c (KLLM_HAVE_SERVE).
 */
#include "http.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_http_usage(void)
{
	printf("usage: kllm-bench http [--url BASE | --unix PATH] [-m NAME] [-P K[,K...]]\n"
	       "                       [-n N | --duration S] [--prompt-tokens P | --prompt TEXT]\n"
	       "                       [--max-tokens G] [--chat | --completions] [-o md|json]\n"
	       "  K concurrent clients against an OpenAI-compatible server (kllm-serve,\n"
	       "  llama-server, ...), each sending streaming requests one after another.\n"
	       "  Per run: time to first token (TTFT) and per-token latency p50/p99 in ms,\n"
	       "  aggregate tokens/s (every completion token over the run's wall time).\n"
	       "  --url BASE          the API's base URL (default http://127.0.0.1:8080/v1)\n"
	       "  --unix PATH         connect to this Unix socket (the URL's host is then\n"
	       "                      only the Host header; default URL http://localhost/v1)\n"
	       "  -m, --model NAME    the model in requests (default: the first of GET /models)\n"
	       "  -P K[,K...]         concurrent clients, one run per count (default 1; 1..%d)\n"
	       "  -n N                requests per client (default 4)\n"
	       "  --duration S        instead of -n: start requests for S seconds, then let\n"
	       "                      those in flight finish\n"
	       "  --prompt-tokens P   prompt of about P tokens (and the chat template's): an\n"
	       "                      instruction and random common words, different for\n"
	       "                      every request (default 100)\n"
	       "  --prompt TEXT       this prompt for every request instead\n"
	       "  --system TEXT       chat: a system message first (servers then render the\n"
	       "                      same template whatever default system prompt they add)\n"
	       "  --max-tokens G      max_tokens of every request (default 64)\n"
	       "  --chat              POST /chat/completions (the default)\n"
	       "  --completions       POST /completions\n"
	       "  --temperature T     (default 0)\n"
	       "  --ignore-eos        send \"ignore_eos\": true (llama-server, kllm-serve): every\n"
	       "                      request then generates G tokens\n"
	       "  --api-key KEY       sent as Authorization: Bearer KEY\n"
	       "  --warmup N          untimed requests before the first run (default 1)\n"
	       "  --timeout S         per request (default 300)\n"
	       "  -o, --output F      md (default) or json; --json is -o json: one object\n"
	       "                      {url, unix, model, api, prompt_tokens, max_tokens,\n"
	       "                      requests_per_client, duration_s, runs: [{clients,\n"
	       "                      requests, errors, seconds, prompt_tokens_mean,\n"
	       "                      completion_tokens, completion_tokens_mean, ttft_p50_ms,\n"
	       "                      ttft_p99_ms, tok_p50_ms, tok_p99_ms, tps}]}\n"
	       "  -h, --help          this help\n"
	       "Requests ask for stream_options.include_usage; the usage chunk's\n"
	       "completion_tokens counts the tokens (else each content chunk is one).\n"
	       "Exit status 1 when a request failed (the first errors go to stderr).\n",
	       HTTP_MAX_CLIENTS);
}

#ifndef KLLM_HAVE_SERVE

int bench_http_main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			bench_http_usage();
			return 0;
		}
	}
	fprintf(stderr, "kllm-bench http: built without libcurl (install libcurl4-openssl-dev "
		"and libjson-c-dev, or `make deps`, and rebuild)\n");
	return 1;
}

#else /* KLLM_HAVE_SERVE */

#include <curl/curl.h>

/* ------------------------------------------------------------ report */

static void print_table(const struct hopts *o, const struct hresult *res, int n)
{
	printf("kllm-bench http: %s%s%s (%s), model %s, prompt ", o->url,
	       o->unix_path ? " via " : "", o->unix_path ? o->unix_path : "",
	       o->chat ? "chat" : "completions", o->c.model);
	if (o->prompt)
		printf("given");
	else
		printf("~%d tokens", o->prompt_tokens);
	printf(", max_tokens %d, ", o->max_tokens);
	if (o->duration > 0)
		printf("%.0f s of requests per run\n", o->duration);
	else
		printf("%d request%s per client\n", o->requests, o->requests == 1 ? "" : "s");
	printf("times in ms: TTFT from sending a request to its first content, tok: each later "
	       "token;\nprompt, gen: tokens per request (usage); tok/s: every client's "
	       "generated tokens over the run\n\n");
	printf("| clients | reqs | errors | prompt |   gen | TTFT p50 | TTFT p99 | tok p50 | "
	       "tok p99 |    tok/s | seconds |\n");
	printf("|---------|------|--------|--------|-------|----------|----------|---------|"
	       "---------|----------|---------|\n");
	for (int i = 0; i < n; i++) {
		const struct hresult *r = &res[i];

		printf("| %7d | %4d | %6d | %6.1f | %5.1f | %8.2f | %8.2f | %7.2f | %7.2f | "
		       "%8.1f | %7.2f |\n", r->clients, r->requests, r->errors, r->prompt_mean,
		       r->gen_mean, r->ttft_p50, r->ttft_p99, r->tok_p50, r->tok_p99, r->tps,
		       r->seconds);
	}
}

static void print_json(const struct hopts *o, const struct hresult *res, int n)
{
	printf("{\"url\": ");
	bench_json_str(o->url);
	printf(", \"unix\": ");
	if (o->unix_path)
		bench_json_str(o->unix_path);
	else
		printf("null");
	printf(", \"model\": ");
	bench_json_str(o->c.model);
	printf(", \"api\": \"%s\", \"prompt_tokens\": ", o->chat ? "chat" : "completions");
	if (o->prompt)
		printf("null");
	else
		printf("%d", o->prompt_tokens);
	printf(", \"max_tokens\": %d, ", o->max_tokens);
	if (o->duration > 0)
		printf("\"requests_per_client\": null, \"duration_s\": %.3f,", o->duration);
	else
		printf("\"requests_per_client\": %d, \"duration_s\": null,", o->requests);
	printf("\n  \"runs\": [");
	for (int i = 0; i < n; i++) {
		const struct hresult *r = &res[i];

		printf("%s\n    {\"clients\": %d, \"requests\": %d, \"errors\": %d, "
		       "\"seconds\": %.6f, \"prompt_tokens_mean\": %.2f, "
		       "\"completion_tokens\": %lld, \"completion_tokens_mean\": %.2f, "
		       "\"ttft_p50_ms\": %.4f, \"ttft_p99_ms\": %.4f, \"tok_p50_ms\": %.4f, "
		       "\"tok_p99_ms\": %.4f, \"tps\": %.4f}", i ? "," : "", r->clients,
		       r->requests, r->errors, r->seconds, r->prompt_mean, r->gen_tokens,
		       r->gen_mean, r->ttft_p50, r->ttft_p99, r->tok_p50, r->tok_p99, r->tps);
	}
	printf("]}\n");
}

/* ------------------------------------------------------------ options */

static int parse_clients(const char *s)
{
	int v = bench_parse_uint(s);

	return v >= 1 && v <= HTTP_MAX_CLIENTS ? v : -1;
}

/* A number in [lo, hi] from @s; 0, or -1 after a message. */
static int num_opt(const char *s, double lo, double hi, const char *opt, double *v)
{
	char *end;

	*v = strtod(s, &end);
	if (end != s && !*end && *v >= lo && *v <= hi)
		return 0;
	fprintf(stderr, "kllm-bench http: bad value '%s' for %s (%g..%g)\n", s, opt, lo, hi);
	return -1;
}

/* http's own options: 1 if taken, 0 if not one, -1 on a bad value. */
static int own_opt(struct hopts *o, int c, const char *arg)
{
	double v = 0;
	int bad = 0;

	switch (c) {
	case 'U': o->url = arg; break;
	case 'u': o->unix_path = arg; break;
	case 'k': o->api_key = arg; break;
	case 'p': o->prompt = arg; break;
	case 'S': o->system = arg; break;
	case 'C': o->chat = 1; break;
	case 'L': o->chat = 0; break;
	case 'E': o->ignore_eos = 1; break;
	case 'P':
		o->n_clients = bench_parse_list(arg, parse_clients, o->clients, BENCH_MAX_LIST,
						"http", "-P", "1..1024");
		return o->n_clients > 0 ? 1 : -1;
	case 'n': bad = num_opt(arg, 1, 1e6, "-n", &v); o->requests = (int)v; break;
	case 'D': bad = num_opt(arg, 0.1, 86400, "--duration", &o->duration); break;
	case 'R': bad = num_opt(arg, 1, 100000, "--prompt-tokens", &v); o->prompt_tokens = (int)v;
		break;
	case 'G': bad = num_opt(arg, 1, 1000000, "--max-tokens", &v); o->max_tokens = (int)v;
		break;
	case 'T': bad = num_opt(arg, 0, 10, "--temperature", &o->temperature); break;
	case 'W': bad = num_opt(arg, 0, 1000, "--warmup", &v); o->warmup = (int)v; break;
	case 'O': bad = num_opt(arg, 0.1, 86400, "--timeout", &o->timeout); break;
	default:
		return 0;
	}
	return bad ? -1 : 1;
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct hopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "model", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "url", required_argument, NULL, 'U' },
		{ "unix", required_argument, NULL, 'u' },
		{ "api-key", required_argument, NULL, 'k' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "system", required_argument, NULL, 'S' },
		{ "prompt-tokens", required_argument, NULL, 'R' },
		{ "max-tokens", required_argument, NULL, 'G' },
		{ "chat", no_argument, NULL, 'C' },
		{ "completions", no_argument, NULL, 'L' },
		{ "ignore-eos", no_argument, NULL, 'E' },
		{ "duration", required_argument, NULL, 'D' },
		{ "temperature", required_argument, NULL, 'T' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 1, 1);
	o->c.fmts = BENCH_FMTS_MD_JSON;
	o->clients[0] = 1;
	o->n_clients = 1;
	o->requests = 4;
	o->prompt_tokens = 100;
	o->max_tokens = 64;
	o->chat = 1;
	o->warmup = 1;
	o->timeout = 300;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:P:n:o:h", lopts, NULL)) != -1) {
		ret = own_opt(o, c, optarg);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, "http", argv);
		if (ret == BENCH_OPT_HELP) {
			bench_http_usage();
			return 1;
		}
		if (ret <= 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "kllm-bench http: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->url)
		o->url = o->unix_path ? "http://localhost/v1" : "http://127.0.0.1:8080/v1";
	return 0;
}

/* ------------------------------------------------------------ main */

static int run_all(struct hopts *o, struct hresult *res)
{
	struct hresult warm;

	if (o->warmup) {
		bench_progress("kllm-bench http: warm-up, %d request%s\n", o->warmup,
			       o->warmup == 1 ? "" : "s");
		if (http_run_once(o, 1, o->warmup, 0, &warm))
			return -1;
		if (warm.errors == warm.requests) {
			fprintf(stderr, "kllm-bench http: the warm-up failed: is the server up "
				"at %s?\n", o->url);
			return -1;
		}
	}
	for (int i = 0; i < o->n_clients; i++) {
		bench_progress("kllm-bench http: run %d/%d, %d client%s\n", i + 1, o->n_clients,
			       o->clients[i], o->clients[i] == 1 ? "" : "s");
		if (http_run_once(o, o->clients[i], o->duration > 0 ? 0 : o->requests,
			     (unsigned int)i + 1, &res[i]))
			return -1;
		bench_progress("kllm-bench http: %d request%s, %lld tokens in %.2f s: %.1f "
			       "tok/s\n", res[i].requests, res[i].requests == 1 ? "" : "s",
			       res[i].gen_tokens, res[i].seconds, res[i].tps);
	}
	return 0;
}

int bench_http_main(int argc, char **argv)
{
	struct hresult res[BENCH_MAX_LIST] = { { 0 } };
	char model[256];
	struct hopts o;
	int ret, errors = 0;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "kllm-bench http: libcurl failed to start\n");
		return 1;
	}
	ret = 1;
	if (!o.c.model) {
		if (http_first_model(&o, model, sizeof(model)))
			goto out_curl;
		o.c.model = model;
	}
	if (run_all(&o, res))
		goto out_curl;
	if (o.c.json)
		print_json(&o, res, o.n_clients);
	else
		print_table(&o, res, o.n_clients);
	for (int i = 0; i < o.n_clients; i++)
		errors += res[i].errors;
	if (errors)
		fprintf(stderr, "kllm-bench http: %d request%s failed\n", errors,
			errors == 1 ? "" : "s");
	ret = errors ? 1 : 0;
out_curl:
	curl_global_cleanup();
	return ret;
}

#endif /* KLLM_HAVE_SERVE */
