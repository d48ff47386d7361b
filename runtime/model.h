/* SPDX-License-Identifier: MIT */
/*
 * model.h - a model file (GGUF) as the compiler sees it: hyperparameters
 * and where every weight lies in the file's data section.
 *
 * Architectures: llama, qwen2 (llama with Q/K/V biases and NeoX RoPE) and
 * gemma3 (QK-norm, post-norms, GeGLU, scaled embeddings, sliding-window
 * layers with their own RoPE base).  Loading checks every tensor's
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
	const void *data;	/* the bytes (inside kllm_model.data); NULL: absent */
};

static inline int kllm_weight_present(const struct kllm_weight *w)
{
	return w->data != NULL;
}

/* Optional weights are absent (data NULL) where the architecture has none. */
struct kllm_layer {
	struct kllm_weight attn_norm, wq, wk, wv, wo;
	struct kllm_weight ffn_norm, gate, up, down;
	struct kllm_weight bq, bk, bv;		/* qwen2: f32 biases */
	struct kllm_weight q_norm, k_norm;	/* gemma3: RMSNorm per head */
	struct kllm_weight post_attn_norm, post_ffn_norm;	/* gemma3 */
	uint32_t window;	/* sliding-window size, 0 = global attention */
	float rope_freq_base, rope_freq_scale;	/* this layer's RoPE */
};

enum kllm_arch {
	KLLM_ARCH_LLAMA = 1,
	KLLM_ARCH_QWEN2 = 2,
	KLLM_ARCH_GEMMA3 = 3,
};

/* "llama", "qwen2", "gemma3" (general.architecture), or "?". */
const char *kllm_arch_name(uint32_t arch);

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
	uint32_t rope_mode;	/* KK_ROPE_NORMAL (llama) or KK_ROPE_NEOX */
	uint32_t ffn_act;	/* KK_UNARY_SILU (SwiGLU) or KK_UNARY_GELU (GeGLU) */
	uint32_t n_swa;		/* attention.sliding_window, 0 = none */
	float rope_freq_base_swa;	/* RoPE base of sliding-window layers */
	float attn_scale;	/* q.k scale: 1/sqrt(head_dim) unless the arch says */
	float embd_scale;	/* token embeddings times this (gemma3: sqrt(n_embd)) */
};

struct kllm_model {
	struct kllm_hparams hp;
	struct gguf *gguf;
	/* The data section: what a program's WEIGHTS buffer is bound to. */
	const void *data;	/* 32-byte aligned */
	uint64_t data_size;
	void *data_copy;	/* set when the file's section was misaligned */
	/* The file itself, for the device engine to pin the data section
	 * from: read-only fd (-1 when loaded from memory) and the section's
	 * file offset. */
	int fd;
	uint64_t data_offset;
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
