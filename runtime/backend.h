/* SPDX-License-Identifier: MIT */
/*
 * backend.h - who runs a context's forward passes (seq.c), behind one
 * table of operations: the in-process CPU engine (backend_cpu.c, over
 * engine_cpu.c) and the kllm driver (backend_dev.c, over engine_dev.c).
 *
 * The context (seq.c) owns what every backend shares: the checked
 * program and the batch checks.  KV memory is the backend's: it keeps
 * each sequence's cache behind the sequence operations below (clear,
 * truncate, copy, lookup in the prefix cache).  Both backends keep it
 * paged, with the bookkeeping of uapi/prog/kllm_kv_blocks.c: the CPU's
 * here, in its own pool of blocks; the device's in the driver, whose
 * blocks are never mapped into any process.  A backend owns everything
 * else it needs: threads and arenas, a device file and its buffer objects.
 *
 * The backend is chosen once, at kllm_ctx_create, from kllm_backends[]
 * by KLLM_ENGINE (seq.h): a name picks the backend of that name; auto
 * takes the last one that opens (the table ends with the most wanted).
 * A new backend is one file with its ops and one line in that table.
 */
#ifndef KLLM_RUNTIME_BACKEND_H
#define KLLM_RUNTIME_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "model.h"
#include "seq.h"

struct kllm_dev;

/* What a backend is given at open; it lives as long as the context. */
struct kllm_backend_env {
	const struct kllm_model *m;
	const struct kllm_compiled *prog;	/* the compiled program */
	const struct kllm_prog_info *info;	/* what kllm_prog_check learnt of it */
	const struct kllm_ctx_opts *opts;
	char *err;		/* the context's message buffer: failures say why here */
	size_t errlen;
};

/*
 * One batch, already checked by the context: every token, position,
 * sequence index and output row in range.
 */
struct kllm_backend_batch {
	uint32_t n_tokens, n_out;
	const int32_t *tokens, *pos, *seq, *out_rows;
};

struct kllm_backend;

struct kllm_backend_ops {
	/* KLLM_ENGINE's value for it: "cpu", "dev" */
	const char *kind;
	/* The KV layout it runs: positions per block, log2 (0: contiguous). */
	uint32_t kv_block_shift;
	/*
	 * Set up for env->prog.  0 and *out; 1 when @want_auto and this
	 * backend is not to be had here (auto goes on to the next; a message
	 * left in env->err is dropped); else a negative errno with the
	 * message in env->err (nothing left to close).
	 */
	int (*open)(struct kllm_backend **out, const struct kllm_backend_env *env,
		    int want_auto);
	/* Free everything it holds (its sequences' KV memory is freed first). */
	void (*close)(struct kllm_backend *b);
	/* kllm_ctx_engine_name: "cpu", "dev (io_uring)" ... */
	const char *(*name)(const struct kllm_backend *b);
	/*
	 * Sequence @seq's cache: forget it all (clear), keep its first
	 * @n_pos positions (truncate), make @dst hold @src's first @n_pos
	 * positions (copy: shared blocks, a copied partial one; @dst's old
	 * cache is dropped).  0 or a negative errno with a message.
	 */
	int (*seq_clear)(struct kllm_backend *b, uint32_t seq);
	int (*seq_truncate)(struct kllm_backend *b, uint32_t seq, uint32_t n_pos);
	int (*seq_copy)(struct kllm_backend *b, uint32_t dst, uint32_t src, uint32_t n_pos);
	/*
	 * Empty sequence @seq takes the longest cached prefix of
	 * @tokens[0..n) that the prefix cache has under partition @tag (the
	 * driver decides partitions itself: by uid, or public): whole blocks,
	 * never the last token.  The positions it now holds (>= 0), or a
	 * negative errno with a message.
	 */
	int (*seq_lookup)(struct kllm_backend *b, uint32_t seq, const int32_t *tokens,
			  uint32_t n, uint32_t tag);
	/* What the KV memory holds now. */
	void (*kv_stats)(struct kllm_backend *b, struct kllm_kv_stats *st);
	/*
	 * Run one batch; the n_vocab logits of each of its n_out output rows
	 * to @logits, in order.  0 or a negative errno with a message.
	 */
	int (*forward)(struct kllm_backend *b, const struct kllm_backend_batch *batch,
		       float *logits);
	/*
	 * Optional: sequence @seq's @n tokens (positions @pos) as chunks of
	 * max_batch handed over at once (one submission), the last token's
	 * logits to @logits; the chunks are checked.  NULL: the context runs the chunks through forward, one
	 * after the other (and kllm_seq_decode can stop between them).
	 */
	int (*forward_many)(struct kllm_backend *b, uint32_t seq, uint32_t n,
			    const int32_t *tokens, const int32_t *pos, float *logits);
};

/* Every backend starts with this (its own state follows). */
struct kllm_backend {
	const struct kllm_backend_ops *ops;
};

extern const struct kllm_backend_ops kllm_backend_cpu_ops;
extern const struct kllm_backend_ops kllm_backend_dev_ops;

/* The device engine behind @b, or NULL if @b is not the device backend. */
struct kllm_dev *kllm_backend_dev(const struct kllm_backend *b);

/* Printf into the env's message buffer; returns @ret. */
int kllm_backend_fail(const struct kllm_backend_env *env, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* KLLM_RUNTIME_BACKEND_H */
