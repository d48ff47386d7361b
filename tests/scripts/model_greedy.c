// SPDX-License-Identifier: MIT
/*
 * model_greedy.c - manual check of the model path on a real GGUF: load,
 * compile, feed the prompt's token ids as one batch, then greedily append
 * the argmax token n times (one forward per token) and print the ids.
 *
 *	model_greedy MODEL.gguf N_PREDICT ID...
 *
 * Built and run by tests/scripts/smollm2_check.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kllm.h"
#include "model.h"
#include "seq.h"

static int argmax(const float *x, uint32_t n)
{
	uint32_t best = 0;

	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return (int)best;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct kllm_ctx_opts o = { .n_ctx = 256, .max_batch = 64, .n_seqs = 1 };
	int32_t tok[64], pos[64], seq[64] = { 0 }, row;
	struct kllm_model *m;
	struct kllm_ctx *ctx;
	char err[256];
	uint32_t n, n_predict;
	float *logits;
	double t0;

	if (argc < 4 || argc - 3 > 64) {
		fprintf(stderr, "usage: %s MODEL N_PREDICT ID... (1..64 ids)\n", argv[0]);
		return 2;
	}
	kllm_cpu_init();
	if (kllm_model_load(&m, argv[1], err, sizeof(err)) ||
	    kllm_ctx_create(&ctx, m, &o, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	n_predict = (uint32_t)atoi(argv[2]);
	n = (uint32_t)(argc - 3);
	for (uint32_t i = 0; i < n; i++) {
		tok[i] = atoi(argv[3 + i]);
		pos[i] = (int32_t)i;
	}
	logits = malloc(4ull * m->hp.n_vocab);
	row = (int32_t)n - 1;
	t0 = now();
	for (uint32_t step = 0; step < n_predict; step++) {
		int next;

		if (kllm_forward(ctx, n, tok, pos, seq, &row, 1, logits)) {
			fprintf(stderr, "forward: %s\n", kllm_ctx_error(ctx));
			return 1;
		}
		next = argmax(logits, m->hp.n_vocab);
		if (getenv("KLLM_GAP")) {	/* how close was the runner-up? */
			float top = logits[next], second = -INFINITY;

			for (uint32_t i = 0; i < m->hp.n_vocab; i++)
				if ((int)i != next && logits[i] > second)
					second = logits[i];
			fprintf(stderr, "step %u: %d by %.4f\n", step, next, top - second);
		}
		if (step == 0 && getenv("KLLM_DUMP")) {	/* the first logits, raw f32 */
			FILE *f = fopen(getenv("KLLM_DUMP"), "wb");

			if (!f || fwrite(logits, 4, m->hp.n_vocab, f) != m->hp.n_vocab)
				perror("KLLM_DUMP");
			if (f)
				fclose(f);
		}
		printf("%d%c", next, step + 1 < n_predict ? ' ' : '\n');
		fflush(stdout);
		/* the next pass feeds only the new token */
		tok[0] = next;
		pos[0] = pos[n - 1] + 1;
		n = 1;
		row = 0;
	}
	fprintf(stderr, "%u tokens in %.2f s (%s)\n", n_predict, now() - t0,
		kk_simd_name(kk_simd_selected()));
	free(logits);
	kllm_ctx_free(ctx);
	kllm_model_free(m);
	return 0;
}
