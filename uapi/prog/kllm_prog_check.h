/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kllm_prog_check.h - the program validator.
 *
 * kllm_prog_check() reads every byte of a program image once and accepts it
 * only if nothing it says can make an op read or write outside its buffers,
 * for any batch of 1..max_batch tokens and any values of the job's inputs
 * (token ids, positions, sequence indices, output rows; the kernels guard
 * those at run time).  The driver runs it on its own kernel copy of the
 * bytes; the image must not change afterwards, since struct kllm_prog_info
 * points into it.
 *
 * Integers only: no floating point anywhere in uapi/.
 */
#ifndef KLLM_UAPI_PROG_CHECK_H
#define KLLM_UAPI_PROG_CHECK_H

#include "kllm_prog.h"

#define KLLM_PROG_EINVAL 22	/* returned negated, as the kernel's -EINVAL */

/*
 * Where and why a program was rejected.  Negative fields are "not about
 * one".  role is the op slot's name ("weight", "x", "k_cache"...), reason a
 * static string; both stay valid forever.  kllm_prog_err_format() turns it
 * into e.g. "op 17 (matmul): weight tensor 5: row length differs from x".
 */
struct kllm_prog_err {
	kllm_s32 op;		/* op index, or -1 */
	kllm_s32 tensor;	/* tensor id, or -1 */
	kllm_s32 buffer;	/* buffer id, or -1 */
	kllm_u32 kind;		/* op kind when op >= 0 */
	const char *role;	/* op slot name, or NULL */
	const char *reason;
};

/* What the validator learnt; the lowering and the engines run from it. */
struct kllm_prog_info {
	const kllm_u8 *base;	/* the checked image */
	kllm_u32 size;
	kllm_u32 header_size, buffer_size, tensor_size, op_size;
	kllm_u32 buffers_off, tensors_off, ops_off;
	kllm_u32 n_buffers, n_tensors, n_ops, max_batch;
	kllm_u32 n_kv;		/* KV buffers: bindings per sequence */
	kllm_u32 inputs;	/* 1u << KLLM_PROG_IN_* of declared INPUT buffers */
	/* Paged KV (KLLM_PROG_BUF_PAGED: every KV buffer or none); else 0. */
	kllm_u32 paged;		/* 1: jobs bind pools and block tables */
	kllm_u32 block_shift;	/* positions per block, log2 */
	kllm_u32 n_ctx;		/* positions a sequence holds */
	kllm_u32 max_blocks;	/* ceil(n_ctx / B): entries of a full table */
	/* Scratch bytes the ops need at max_batch (matmul activation
	 * quantization), for the SIMD path selected while checking. */
	kllm_u64 scratch_bytes;
	/* Per buffer id: its index among the KV buffers, or 0xff. */
	kllm_u8 kv_index[KLLM_PROG_MAX_BUFFERS];
};

/*
 * Check @size bytes at @prog.  0 and *info filled, or -KLLM_PROG_EINVAL and
 * *err (if not NULL) saying where and why.
 */
int kllm_prog_check(const void *prog, kllm_u64 size, struct kllm_prog_info *info,
		    struct kllm_prog_err *err);

/* Buffer record @id (< info->n_buffers) of a checked program. */
void kllm_prog_buffer_get(const struct kllm_prog_info *info, kllm_u32 id,
			  struct kllm_prog_buffer *b);

/* "matmul", "rmsnorm" ...; "?" for an unknown kind. */
const char *kllm_prog_op_name(kllm_u32 kind);

/*
 * Write the error as one line (no newline) into @buf of @n bytes, always
 * NUL-terminated when n > 0.  Returns the length it wanted (as snprintf).
 */
kllm_u32 kllm_prog_err_format(const struct kllm_prog_err *err, char *buf, kllm_u32 n);

#endif /* KLLM_UAPI_PROG_CHECK_H */
