/* SPDX-License-Identifier: MIT */
/*
 * prog_build.h - building program images (uapi/kllm_prog.h) in memory:
 * add buffers, tensors and ops, then emit the flat image.  Adapted from the
 * tests' builder (tests/unit/kt_prog.h) with growable tables and a sticky
 * error instead of assertions, so a compiler can add everything and check
 * once at the end.
 */
#ifndef KLLM_RUNTIME_PROG_BUILD_H
#define KLLM_RUNTIME_PROG_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "kllm_prog.h"

struct kllm_pb {
	struct kllm_prog_header h;
	struct kllm_prog_buffer buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_prog_tensor *t;
	struct kllm_prog_op *op;
	uint32_t t_cap, op_cap;
	uint32_t act;		/* the activation buffer, or KLLM_PROG_NONE */
	uint64_t act_used;	/* bytes of it handed out so far */
	int err;		/* first failure (-ENOMEM, -E2BIG), sticky */
};

/* Start an empty program for batches of up to @max_batch tokens. */
void kllm_pb_init(struct kllm_pb *b, uint32_t max_batch);
void kllm_pb_free(struct kllm_pb *b);

/* A buffer (enum kllm_prog_buf_kind); @input only for INPUT buffers. */
uint32_t kllm_pb_buffer(struct kllm_pb *b, uint32_t kind, uint64_t size,
			uint32_t input);

/*
 * Make KV buffer @buffer paged (KLLM_PROG_BUF_PAGED): its size is one
 * block of 1 << @block_shift positions; sequences hold @n_ctx positions.
 */
void kllm_pb_paged(struct kllm_pb *b, uint32_t buffer, uint32_t block_shift,
		   uint32_t n_ctx);

/*
 * A tensor of @type in @buffer.  Rows: @ne1 fixed rows, or (with flags
 * KLLM_PROG_T_ROWS_TOKENS / _OUTPUTS) @ne1 = 0 and one row per token /
 * selected output.  Returns its id, or KLLM_PROG_NONE after a failure.
 */
uint32_t kllm_pb_tensor(struct kllm_pb *b, uint32_t buffer, uint32_t type,
			uint64_t offset, uint64_t stride, uint32_t ne0,
			uint32_t ne1, uint32_t flags);

/*
 * An f32 tensor of its own in the activation arena (created on first use,
 * its declared size grown as tensors are added): @ne0 floats per row, one
 * row (flags 0) or a batch of rows (flags as above).  Rows start 64-byte
 * aligned.
 */
uint32_t kllm_pb_act(struct kllm_pb *b, uint32_t ne0, uint32_t flags);

/* An i32 batch-shaped input array (KLLM_PROG_IN_*): buffer and tensor. */
uint32_t kllm_pb_input(struct kllm_pb *b, uint32_t input);

/* An op: @nt tensor slots (the rest NONE), @np parameters (the rest 0). */
uint32_t kllm_pb_op(struct kllm_pb *b, uint32_t kind, uint32_t flags,
		    const uint32_t *t, size_t nt, const uint32_t *p, size_t np);

#define KLLM_PB_T(...) ((const uint32_t[]){ __VA_ARGS__ })
#define KLLM_PB_OP(b, kind, flags, T, P) \
	kllm_pb_op(b, kind, flags, T, sizeof(T) / 4, P, sizeof(P) / 4)
#define KLLM_PB_P0 KLLM_PB_T(0)

/*
 * The image, malloc'ed (64-byte aligned) into *img with its length in
 * *size.  0, or the builder's first error (-ENOMEM, -E2BIG: a limit of the
 * format exceeded).  The builder stays valid; free it after.
 */
int kllm_pb_finish(struct kllm_pb *b, uint8_t **img, size_t *size);

#endif /* KLLM_RUNTIME_PROG_BUILD_H */
