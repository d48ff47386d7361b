// SPDX-License-Identifier: MIT
/*
 * measure_app.c - one "app" for tests/vm/measure.sh (not a test: it
 * prints figures for docs/PERF.md).  It loads a model through the public
 * API (KLLM_ENGINE says which engine), optionally feeds a prompt of
 * @n_prompt tokens and decodes one token, prints how long each step took,
 * then (hold) says "ready" and sleeps until killed, so the parent can read
 * its resident memory while it holds the model.
 *
 *   measure_app MODEL N_PROMPT hold|exit
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kllm.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct kllm_engine_params p;
	struct kllm_engine *e;
	struct kllm_llm *llm;
	double t0 = now(), t_load, t_engine, t_first = 0;
	int n_prompt, seq;

	if (argc != 4) {
		fprintf(stderr, "usage: measure_app MODEL N_PROMPT hold|exit\n");
		return 2;
	}
	n_prompt = atoi(argv[2]);
	if (kllm_llm_load(argv[1], &llm)) {
		fprintf(stderr, "measure_app: %s\n", kllm_last_error());
		return 1;
	}
	t_load = now();
	kllm_engine_default_params(&p);
	p.n_ctx = getenv("MEASURE_CTX") ? (uint32_t)atoi(getenv("MEASURE_CTX")) : 256;
	p.max_batch = getenv("MEASURE_BATCH") ? (uint32_t)atoi(getenv("MEASURE_BATCH")) : 32;
	if (kllm_engine_create(llm, &p, &e)) {
		fprintf(stderr, "measure_app: %s\n", kllm_last_error());
		return 1;
	}
	t_engine = now();
	if (n_prompt > 0) {
		int32_t *ids = calloc((size_t)n_prompt, sizeof(*ids));

		for (int i = 0; i < n_prompt; i++)
			ids[i] = 100 + 37 * i % 30000;	/* inside any 32k vocab */
		seq = kllm_seq_new(e);
		if (seq < 0 || kllm_seq_feed(e, seq, ids, (size_t)n_prompt) ||
		    kllm_seq_decode(e, seq) < 0) {
			fprintf(stderr, "measure_app: %s\n", kllm_last_error());
			return 1;
		}
		t_first = now();
		free(ids);
	}
	printf("measure: app pid %d engine %s load %.3f s engine %.3f s first-token %.3f s total %.3f s\n",
	       getpid(), kllm_engine_backend(e), t_load - t0, t_engine - t_load,
	       n_prompt > 0 ? t_first - t_engine : 0.0, (n_prompt > 0 ? t_first : t_engine) - t0);
	fflush(stdout);
	{
		char line[128];
		FILE *f = fopen("/proc/self/status", "r");

		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmRSS", 5) || !strncmp(line, "RssAnon", 7) ||
			    !strncmp(line, "RssFile", 7))
				printf("measure: %s", line);
		if (f)
			fclose(f);
	}
	if (!strcmp(argv[3], "hold")) {
		printf("measure: ready %d\n", getpid());
		fflush(stdout);
		for (;;)
			pause();
	}
	kllm_engine_free(e);
	kllm_llm_free(llm);
	return 0;
}
