// SPDX-License-Identifier: MIT
/*
 * llama_logits.c - llama.cpp's logits for the last of a list of token ids,
 * written as raw f32 to a file: the other side of a logit comparison with
 * kllm (model_greedy with KLLM_DUMP).  Extra buffer types (AMX) are off.
 *
 *	llama_logits MODEL.gguf OUT.f32 ID...	(up to 4096 ids)
 *
 * KLLM_FA=0/1 forces llama.cpp's flash attention off/on (default: auto);
 * the two differ by rounding, a yardstick for kllm's differences.  Build
 * like llama_greedy.c (see model_check.sh); compare with gemma3_ref.py
 * (-- llama=OUT.f32) or any two f32 files.
 */
#include <stdio.h>
#include <stdlib.h>

#include "llama.h"

int main(int argc, char **argv)
{
	struct llama_model_params mp = llama_model_default_params();
	struct llama_context_params cp = llama_context_default_params();
	struct llama_model *model;
	struct llama_context *ctx;
	static llama_token ids[4096];
	const float *lg;
	FILE *f;
	int n = argc - 3, nv;

	if (argc < 4 || n > 4096) {
		fprintf(stderr, "usage: %s MODEL OUT.f32 ID... (1..4096 ids)\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < n; i++)
		ids[i] = atoi(argv[3 + i]);
	llama_backend_init();
	mp.use_extra_bufts = false;
	model = llama_model_load_from_file(argv[1], mp);
	if (!model)
		return 1;
	cp.n_ctx = (uint32_t)(n + 255) / 256 * 256;
	cp.n_batch = cp.n_ctx;
	cp.n_threads = 2;
	cp.n_threads_batch = 2;
	if (getenv("KLLM_FA"))
		cp.flash_attn_type = atoi(getenv("KLLM_FA")) ? LLAMA_FLASH_ATTN_TYPE_ENABLED :
			LLAMA_FLASH_ATTN_TYPE_DISABLED;
	ctx = llama_init_from_model(model, cp);
	if (!ctx || llama_decode(ctx, llama_batch_get_one(ids, n)))
		return 1;
	lg = llama_get_logits_ith(ctx, -1);
	nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
	f = fopen(argv[2], "wb");
	if (!f || fwrite(lg, 4, (size_t)nv, f) != (size_t)nv) {
		perror(argv[2]);
		return 1;
	}
	fclose(f);
	llama_free(ctx);
	llama_model_free(model);
	return 0;
}
