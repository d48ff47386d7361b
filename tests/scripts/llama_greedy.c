// SPDX-License-Identifier: MIT
/*
 * llama_greedy.c - the comparison side of smollm2_check.sh: llama.cpp's
 * tokenization of a prompt and its greedy continuation, as token ids.
 * Like llama-simple, but with llama.cpp's extra buffer types (AMX repacking)
 * off: this machine's AMX path dies with SIGILL.
 *
 *	llama_greedy MODEL.gguf N_PREDICT PROMPT
 *
 * prints "prompt: ID..." and "greedy: ID...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

int main(int argc, char **argv)
{
	struct llama_model_params mp = llama_model_default_params();
	struct llama_context_params cp = llama_context_default_params();
	struct llama_model *model;
	struct llama_context *ctx;
	const struct llama_vocab *vocab;
	struct llama_sampler *smpl;
	llama_token ids[512], next;
	int n, n_predict;

	if (argc != 4) {
		fprintf(stderr, "usage: %s MODEL N_PREDICT PROMPT\n", argv[0]);
		return 2;
	}
	n_predict = atoi(argv[2]);
	llama_backend_init();
	mp.use_extra_bufts = false;
	model = llama_model_load_from_file(argv[1], mp);
	if (!model)
		return 1;
	vocab = llama_model_get_vocab(model);
	n = llama_tokenize(vocab, argv[3], (int)strlen(argv[3]), ids, 512, true, true);
	if (n < 0)
		return 1;
	cp.n_ctx = 512;
	cp.n_batch = 512;
	cp.n_threads = 2;
	cp.n_threads_batch = 2;
	ctx = llama_init_from_model(model, cp);
	smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
	llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
	printf("prompt:");
	for (int i = 0; i < n; i++)
		printf(" %d", ids[i]);
	printf("\ngreedy:");
	if (llama_decode(ctx, llama_batch_get_one(ids, n)))
		return 1;
	for (int i = 0; i < n_predict; i++) {
		next = llama_sampler_sample(smpl, ctx, -1);
		if (getenv("KLLM_GAP")) {	/* how close was the runner-up? */
			const float *lg = llama_get_logits_ith(ctx, -1);
			float second = -1e30f;

			for (int j = 0; j < llama_vocab_n_tokens(vocab); j++)
				if (j != next && lg[j] > second)
					second = lg[j];
			fprintf(stderr, "step %d: %d by %.4f\n", i, next, lg[next] - second);
		}
		printf(" %d", next);
		if (llama_decode(ctx, llama_batch_get_one(&next, 1)))
			return 1;
	}
	printf("\n");
	llama_sampler_free(smpl);
	llama_free(ctx);
	llama_model_free(model);
	return 0;
}
