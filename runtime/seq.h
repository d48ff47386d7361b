/* SPDX-License-Identifier: MIT */
/*
 * seq.h - running a compiled model: a context holds the checked program
 * and the KV memory of its sequences, and runs it on a backend
 * (backend.h): in process (backend_cpu.c: the activation arena, scratch
 * and a thread pool are then its own) or in the kllm driver
 * (backend_dev.c, engine_dev.h; the KV memory is then the device's buffer
 * objects, mapped here); kllm_forward() runs one batch of tokens.
 *
 * The backend is chosen once, at kllm_ctx_create, by the environment:
 * KLLM_ENGINE=cpu, dev (the driver, else an error saying why) or auto
 * (the default: the driver when this library has the device engine, the
 * model was loaded from a file and a kllm node opens; else the CPU; a
 * node that opens but refuses the model is an error).
 *
 * A batch may mix sequences: every token carries its sequence index and
 * position, and attends to the positions <= its own of its sequence's
 * cache (so a prompt goes in as one batch, its tokens at increasing
 * positions).  Results do not depend on how tokens are batched.
 */
#ifndef KLLM_RUNTIME_SEQ_H
#define KLLM_RUNTIME_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "model.h"

struct kllm_ctx;
struct kllm_dev;

struct kllm_ctx_opts {
	uint32_t n_ctx;		/* positions per sequence */
	uint32_t max_batch;	/* tokens per kllm_forward, 1..4096 */
	uint32_t n_seqs;	/* sequence indices 0..n_seqs-1 */
	uint32_t n_threads;	/* 0: every CPU this process may use */
	uint32_t priority;	/* KLLM_PRIORITY_* (device engine only) */
};

/*
 * Compile @m for @opts and set up the memory.  The model must outlive the
 * context.  0 and *out, or a negative errno with a one-line message.
 */
int kllm_ctx_create(struct kllm_ctx **out, const struct kllm_model *m,
		    const struct kllm_ctx_opts *opts, char *err, size_t errlen);
void kllm_ctx_free(struct kllm_ctx *ctx);

/* The compiled program and its layout. */
const struct kllm_compiled *kllm_ctx_program(const struct kllm_ctx *ctx);

/*
 * Forget sequence @seq's cache (its memory is released; the next forward
 * that uses the sequence starts from an empty cache).  0 or -EINVAL.
 */
int kllm_seq_clear(struct kllm_ctx *ctx, uint32_t seq);

/*
 * Make sequence @dst's cache hold sequence @src's first @n_pos positions
 * (K and V rows of every layer are copied; the rest of @dst is left as it
 * is, to be overwritten as it is filled).  Copies within the layout of
 * compile.h using kv_layer_size and n_ctx only.  0, -EINVAL (out of
 * range, @src has no cache while n_pos > 0), -ENOMEM.
 */
int kllm_seq_copy(struct kllm_ctx *ctx, uint32_t dst, uint32_t src, uint32_t n_pos);

/*
 * Run @n_tokens (1..max_batch) tokens: token ids, positions (0..n_ctx-1)
 * and sequence indices (0..n_seqs-1) per token.  Their K and V go into the
 * caches; then for each of the @n_out rows in @out_rows (token indices
 * 0..n_tokens-1) n_vocab logits are written to @logits (n_out * n_vocab
 * floats).  0, -EINVAL (bad argument; message in the context, see
 * kllm_ctx_error), -ENOMEM.
 */
int kllm_forward(struct kllm_ctx *ctx, uint32_t n_tokens, const int32_t *tokens,
		 const int32_t *pos, const int32_t *seq_ids, const int32_t *out_rows,
		 uint32_t n_out, float *logits);

/*
 * Sequence @seq's @n tokens at positions @pos0.. in chunks of max_batch, in
 * order, and the last token's logits (n_vocab floats) to @logits: a long
 * prompt.  The device engine hands every chunk to the driver at once (one
 * io_uring_enter), the CPU engine runs them one after the other; the
 * results are those of kllm_forward on the same chunks.  0 or as
 * kllm_forward.
 */
int kllm_forward_chunks(struct kllm_ctx *ctx, uint32_t seq, uint32_t pos0, uint32_t n,
			const int32_t *tokens, float *logits);

/* The last error's message ("" if none). */
const char *kllm_ctx_error(const struct kllm_ctx *ctx);

/* "cpu", "dev (io_uring)" or "dev (ioctl)": who runs the forward passes. */
const char *kllm_ctx_engine_name(const struct kllm_ctx *ctx);
/* The device engine, or NULL on the CPU (for kllm_dev_run_many users). */
struct kllm_dev *kllm_ctx_dev(const struct kllm_ctx *ctx);
/*
 * Does kllm_forward_chunks hand all its chunks over at once (the device:
 * one submission, nothing to stop between them)?  0: it runs them one
 * after the other, as kllm_forward would.
 */
int kllm_ctx_chunks_at_once(const struct kllm_ctx *ctx);

#endif /* KLLM_RUNTIME_SEQ_H */
