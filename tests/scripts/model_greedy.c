// SPDX-License-Identifier: MIT
/*
 * model_greedy.c - manual check of the model path on a real GGUF: load,
 * compile, feed the prompt's token ids in batches of up to 64, then
 * greedily append the argmax token n times (one forward per token) and
 * print the ids.
 *
 *	model_greedy MODEL.gguf N_PREDICT ID...	(up to 4096 ids)
 *
 * Built and run by tests/scripts/model_check.sh.  KLLM_GAP=1 prints each
 * step's margin of the top logit on stderr; KLLM_DUMP=FILE writes the
 * first step's logits as raw f32.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kllm_internal.h"
#include "model.h"
#include "seq.h"

#define MAX_IDS 4096

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
	static int32_t tok[MAX_IDS], pos[MAX_IDS], seq[64];
	int32_t row = 0;
	struct kllm_model *m;
	struct kllm_ctx *ctx;
	char err[256];
	uint32_t n, n_predict, off;
	float *logits;
	double t0;

	if (argc < 4 || argc - 3 > MAX_IDS) {
		fprintf(stderr, "usage: %s MODEL N_PREDICT ID... (1..%d ids)\n", argv[0],
			MAX_IDS);
		return 2;
	}
	n_predict = (uint32_t)atoi(argv[2]);
	n = (uint32_t)(argc - 3);
	/* room for the prompt and the continuation, in whole 256s */
	o.n_ctx = (n + n_predict + 255) / 256 * 256;
	kllm_cpu_init();
	if (kllm_model_load(&m, argv[1], err, sizeof(err)) ||
	    kllm_ctx_create(&ctx, m, &o, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		tok[i] = atoi(argv[3 + i]);
		pos[i] = (int32_t)i;
	}
	logits = malloc(4ull * m->hp.n_vocab);
	t0 = now();
	/* all of the prompt but its last batch: no logits wanted */
	for (off = 0; n - off > 64; off += 64) {
		if (kllm_forward(ctx, 64, tok + off, pos + off, seq, &row, 0, logits)) {
			fprintf(stderr, "forward: %s\n", kllm_ctx_error(ctx));
			return 1;
		}
	}
	n -= off;
	row = (int32_t)n - 1;
	for (uint32_t step = 0; step < n_predict; step++) {
		int next;

		if (kllm_forward(ctx, n, tok + off, pos + off, seq, &row, 1, logits)) {
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
		pos[0] = pos[off + n - 1] + 1;
		tok[0] = next;
		off = 0;
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
