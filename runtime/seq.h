/* SPDX-License-Identifier: MIT */
/*
 * seq.h - running a compiled model: a context holds the checked program
 * and the KV memory of its sequences, and runs it on a backend
 * (backend.h): in process (backend_cpu.c: the activation arena, scratch,
 * a thread pool and the KV blocks are then its own) or in the kllm driver
 * (backend_dev.c, engine_dev.h; the KV memory is then the driver's);
 * kllm_forward() runs one batch of tokens.
 *
 * KV memory is paged: blocks of KLLM_KV_BLOCK positions (default 16),
 * shared between sequences (kllm_seq_copy) and kept in a prefix cache
 * once full (kllm_seq_lookup), copied on write.  KLLM_PREFIX_CACHE=N
 * keeps at most N positions of cached blocks no sequence holds (default
 * n_ctx; 0 turns the cache off).  Results are the same bits as with one
 * contiguous cache per sequence.
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
	uint32_t kv_type;	/* KLLM_KV_*: the cache's element type */
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
 * Forget sequence @seq's cache (its blocks are released; the next forward
 * that uses the sequence starts from an empty cache).  0 or -EINVAL.
 */
int kllm_seq_clear(struct kllm_ctx *ctx, uint32_t seq);

/* Keep the first @n_pos positions of sequence @seq's cache.  0 or -EINVAL. */
int kllm_seq_keep(struct kllm_ctx *ctx, uint32_t seq, uint32_t n_pos);

/*
 * Make sequence @dst's cache hold sequence @src's first @n_pos positions
 * (and nothing else): full blocks are shared, a partial last one copied.
 * 0, -EINVAL (out of range), -ENOMEM / -ENOSPC.
 */
int kllm_seq_copy(struct kllm_ctx *ctx, uint32_t dst, uint32_t src, uint32_t n_pos);

/*
 * Empty sequence @seq takes the longest run of cached blocks that starts
 * @tokens[0..n) (whole blocks; never the last token, whose logits are
 * still to compute), looked up under partition @tag (sequences of
 * different tags share nothing; the device engine's driver partitions by
 * uid itself).  The positions now in its cache (>= 0) or a negative
 * errno.
 */
int kllm_seq_lookup(struct kllm_ctx *ctx, uint32_t seq, const int32_t *tokens,
		    uint32_t n, uint32_t tag);

/* What a backend's KV memory holds now (kllm_ctx_kv_stats). */
struct kllm_kv_stats {
	uint64_t block_bytes;	/* bytes of one block (every layer's K and V) */
	uint32_t block_tokens;	/* positions per block */
	uint32_t n_blocks;	/* blocks the pool has room for */
	uint32_t n_used;	/* held by a sequence or cached */
	uint32_t n_cached;	/* in the prefix cache (held or idle) */
	uint32_t n_idle;	/* cached, held by none: evictable */
	uint32_t pad;
	uint64_t hits, misses;	/* prefix-cache blocks found / lookups cut short */
	uint64_t inserted, evicted;
};

void kllm_ctx_kv_stats(const struct kllm_ctx *ctx, struct kllm_kv_stats *st);

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
