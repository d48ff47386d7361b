// SPDX-License-Identifier: MIT
/*
 * main.c - kllm-bench: benchmarks of the kllm stack, one mode per file.
 *
 *   kllm-bench MODE [options]      (kllm-bench MODE --help for each)
 *
 * Every mode: help on stdout with status 0, a usage error in one line on
 * stderr with status 2, a failed run status 1.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static const struct bench_mode modes[] = {
	{ "kernels", "matvec/matmul speed of each weight format vs read bandwidth",
	  bench_kernels_main, bench_kernels_usage },
	{ "pp", "prompt processing tokens/s of a GGUF model (like llama-bench -p)",
	  bench_pp_main, bench_pp_usage },
	{ "tg", "text generation tokens/s of a GGUF model (like llama-bench -n)",
	  bench_tg_main, bench_tg_usage },
	{ "batched", "aggregate tokens/s of P parallel sequences (like llama-batched-bench)",
	  bench_batched_main, bench_batched_usage },
	{ "compare", "pp/tg/batched side by side with llama.cpp's own benches",
	  bench_compare_main, bench_compare_usage },
	{ "submit", "cost of one job: in-process call vs ioctl vs io_uring, batches 1-64",
	  bench_submit_main, bench_submit_usage },
	{ "serve", "client processes of priority classes: TTFT and per-token latency p50/p99",
	  bench_serve_main, bench_serve_usage },
	{ "http", "streaming clients against an OpenAI-compatible server: TTFT, tokens/s",
	  bench_http_main, bench_http_usage },
	{ "prefix", "TTFT after a system prompt, cold and from the prefix cache; KV of K apps",
	  bench_prefix_main, bench_prefix_usage },
	{ "ppl", "perplexity over a text file (like llama-perplexity)",
	  bench_ppl_main, bench_ppl_usage },
};

#define N_MODES (sizeof(modes) / sizeof(modes[0]))

static void usage(void)
{
	printf("usage: kllm-bench MODE [options]     (kllm-bench MODE --help for each)\n"
	       "       kllm-bench --help | --version\n"
	       "modes:\n");
	for (size_t i = 0; i < N_MODES; i++)
		printf("  %-10s %s\n", modes[i].name, modes[i].summary);
	printf("Shared options: -m model, -t threads (default: every CPU), -r repetitions,\n"
	       "-o output format (md, csv, json, jsonl, sql), --engine cpu|dev|auto.\n"
	       "Results go to stdout, progress to stderr.  Exit status: 0, 1 when a run\n"
	       "fails, 2 for a usage error.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "kllm-bench: no mode given (see --help)\n");
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage();
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("kllm-bench %s\n", KLLM_BENCH_VERSION);
		return 0;
	}
	for (size_t i = 0; i < N_MODES; i++) {
		if (strcmp(argv[1], modes[i].name))
			continue;
		return modes[i].main(argc - 1, argv + 1);
	}
	if (argv[1][0] == '-')
		fprintf(stderr, "kllm-bench: unknown option %s (see --help)\n", argv[1]);
	else
		fprintf(stderr, "kllm-bench: unknown mode '%s' (see --help)\n", argv[1]);
	return 2;
}
