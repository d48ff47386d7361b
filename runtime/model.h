/* SPDX-License-Identifier: MIT */
/*
 * model.h - a model file (GGUF) as the compiler sees it: hyperparameters
 * and where every weight lies in the file's data section.
 *
 * Only the Llama architecture so far.  Loading checks every tensor's
 * presence, shape and type (one the kernels support), so the compiler can
 * trust what it gets; any problem is reported as one line naming it.
 */
#ifndef KLLM_RUNTIME_MODEL_H
#define KLLM_RUNTIME_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct gguf;

/* One weight: a tensor of the data section, in rows of ne0 elements. */
struct kllm_weight {
	uint32_t type;		/* enum kk_type */
	uint32_t ne0;		/* elements per row */
	uint32_t rows;		/* ne[1] * ne[2] * ne[3] */
	uint32_t pad;
	uint64_t offset;	/* bytes from the start of the data section */
	uint64_t row_bytes;
	const void *data;	/* the bytes (inside kllm_model.data) */
};

struct kllm_layer {
	struct kllm_weight attn_norm, wq, wk, wv, wo;
	struct kllm_weight ffn_norm, gate, up, down;
};

enum kllm_arch {
	KLLM_ARCH_LLAMA = 1,
};

struct kllm_hparams {
	uint32_t arch;		/* enum kllm_arch */
	uint32_t n_layer;
	uint32_t n_embd;
	uint32_t n_ff;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim;	/* key_length, else n_embd / n_head */
	uint32_t n_rot;		/* rope.dimension_count, else head_dim */
	uint32_t n_vocab;	/* rows of token_embd */
	uint32_t n_ctx_train;	/* context_length */
	float rope_freq_base;	/* default 10000 */
	float rope_freq_scale;	/* 1 / linear scaling factor; 1 = none */
	float rms_eps;		/* default 1e-5 */
};

struct kllm_model {
	struct kllm_hparams hp;
	struct gguf *gguf;
	/* The data section: what a program's WEIGHTS buffer is bound to. */
	const void *data;	/* 32-byte aligned */
	uint64_t data_size;
	void *data_copy;	/* set when the file's section was misaligned */
	struct kllm_weight tok_embd, output_norm, output, rope_freqs;
	int tied_output;	/* no output.weight: logits use tok_embd */
	int has_rope_freqs;
	struct kllm_layer *layers;	/* n_layer */
};

/*
 * Open and check the GGUF at @path.  0 and *out, or a negative errno with
 * a one-line message in @err, e.g. "unsupported architecture 'gpt2'",
 * "tensor blk.3.ffn_up.weight: type iq2_xxs not supported",
 * "tensor blk.0.attn_q.weight: missing".
 */
int kllm_model_load(struct kllm_model **out, const char *path, char *err,
		    size_t errlen);
/* The same from an open reader, which the model then owns (closed on
 * failure too). */
int kllm_model_from_gguf(struct kllm_model **out, struct gguf *g, char *err,
			 size_t errlen);
void kllm_model_free(struct kllm_model *m);

#endif /* KLLM_RUNTIME_MODEL_H */
