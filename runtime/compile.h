/* SPDX-License-Identifier: MIT */
/*
 * compile.h - a loaded model (model.h) compiled into a program
 * (uapi/kllm_prog.h) that the CPU engine or the driver runs.
 *
 * Buffers of the program:
 *   WEIGHTS      the model file's data section; tensors by their offsets
 *   ACTIVATIONS  scratch rows for max_batch tokens
 *   KV           one sequence's caches, all layers in one buffer:
 *                [layer][K, V][ctx][n_head_kv * head_dim] of f16;
 *                paged (kv_block_shift > 0, KLLM_PROG_BUF_PAGED): one
 *                block of B = 1 << kv_block_shift positions,
 *                [layer][K, V][B][n_head_kv * head_dim]
 *   INPUT x4     token ids, positions, sequence indices, output rows
 *   OUTPUT       logits, one row of n_vocab floats per selected output row
 */
#ifndef KLLM_RUNTIME_COMPILE_H
#define KLLM_RUNTIME_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "kllm.h"
#include "model.h"

struct kllm_compile_opts {
	uint32_t n_ctx;		/* positions each sequence's cache holds */
	uint32_t max_batch;	/* tokens per forward pass, 1..4096 */
	uint32_t kv_block_shift; /* 0: a contiguous cache per sequence; else paged */
	uint32_t kv_type;	/* KLLM_KV_F16 (also 0) or KLLM_KV_Q8_0 */
};

struct kllm_compiled {
	uint8_t *img;		/* the program image (malloc'ed) */
	size_t size;
	uint32_t n_ctx, max_batch, n_vocab;
	uint32_t b_weights, b_act, b_kv, b_logits;	/* buffer ids */
	uint64_t weights_size;	/* bytes of the WEIGHTS binding */
	uint64_t act_size;	/* bytes of the activation arena */
	uint64_t kv_size;	/* bytes of the KV buffer: a sequence's, or one block */
	uint64_t kv_layer_size;	/* of which one layer's K and V caches */
	uint32_t kv_block_shift; /* 0: contiguous; else positions per block, log2 */
	uint32_t kv_blocks_per_seq; /* paged: ceil(n_ctx / B), a full table */
	uint32_t kv_type;	/* KLLM_KV_F16 or KLLM_KV_Q8_0 */
	uint64_t kv_row_bytes;	/* one position's K (or V) of one layer */
};

/*
 * Compile @m.  0 and *out, or a negative errno with a one-line message in
 * @err.  The program is checked (kllm_prog_check) before it is returned;
 * the SIMD path must have been selected (kllm_cpu_init).
 */
int kllm_compile(const struct kllm_model *m, const struct kllm_compile_opts *opts,
		 struct kllm_compiled *out, char *err, size_t errlen);
void kllm_compiled_free(struct kllm_compiled *c);

#endif /* KLLM_RUNTIME_COMPILE_H */
