/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kllm_prog_int.h - internal to uapi/: reading records out of a program
 * image and what a tensor record means.  Integers only.
 *
 * Records are copied out with memcpy: the image may sit at any alignment
 * and its records may be longer than ours (newer writers).
 */
#ifndef KLLM_UAPI_PROG_INT_H
#define KLLM_UAPI_PROG_INT_H

#include "kk.h"
#include "kllm_prog.h"
#include "kllm_prog_check.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the program format is little endian; big-endian hosts need byte swaps"
#endif

_Static_assert((int)KLLM_PROG_OP_MATMUL == (int)KK_OP_MATMUL &&
	       (int)KLLM_PROG_OP_ATTENTION == (int)KK_OP_ATTENTION &&
	       (int)KLLM_PROG_OP_ARGMAX == (int)KK_OP_ARGMAX &&
	       (int)KLLM_PROG_OP_KIND_MAX == (int)KK_OP_KIND_MAX,
	       "op numbers follow kk.h");
_Static_assert(KLLM_PROG_TYPE_F32 == KK_TYPE_F32 &&
	       KLLM_PROG_TYPE_F16 == KK_TYPE_F16, "types follow kk.h");

static inline void kp_read_buffer(const struct kllm_prog_info *pi, kllm_u32 id,
				  struct kllm_prog_buffer *b)
{
	__builtin_memcpy(b, pi->base + pi->buffers_off +
			 (kllm_u64)id * pi->buffer_size, sizeof(*b));
}

static inline void kp_read_tensor(const struct kllm_prog_info *pi, kllm_u32 id,
				  struct kllm_prog_tensor *t)
{
	__builtin_memcpy(t, pi->base + pi->tensors_off +
			 (kllm_u64)id * pi->tensor_size, sizeof(*t));
}

static inline void kp_read_op(const struct kllm_prog_info *pi, kllm_u32 index,
			      struct kllm_prog_op *op)
{
	__builtin_memcpy(op, pi->base + pi->ops_off +
			 (kllm_u64)index * pi->op_size, sizeof(*op));
}

/* Bytes of a row of @n elements of @type; 0 if unknown or not whole blocks. */
static inline kllm_u64 kp_row_bytes(kllm_u32 type, kllm_u64 n)
{
	if (type == KLLM_PROG_TYPE_I32)
		return n <= (~0ull >> 2) ? n * 4 : 0;
	return kk_row_bytes(type, n);
}

/* Alignment a tensor's offset and row stride need for its element type. */
static inline kllm_u32 kp_type_align(kllm_u32 type)
{
	if (type == KLLM_PROG_TYPE_I32 || type == KK_TYPE_F32 ||
	    type == KK_TYPE_Q8_K)
		return 4;
	return 2;
}

/* Row count modes. */
#define KP_ROWS_FIXED 0u
#define KP_ROWS_TOKENS KLLM_PROG_T_ROWS_TOKENS
#define KP_ROWS_OUTPUTS KLLM_PROG_T_ROWS_OUTPUTS

/* A tensor record and what follows from it (valid after the check). */
struct kp_tensor {
	struct kllm_prog_tensor r;
	kllm_u64 row_bytes;
	kllm_u32 mode;		/* KP_ROWS_* */
	kllm_u32 rows;		/* KP_ROWS_FIXED: ne[1] * ne[2] * ne[3] */
	kllm_u32 buf_kind;	/* kind of its buffer */
	kllm_u32 pad;
};

/* Rows of @t for a batch of @n_tokens tokens and @n_outputs outputs. */
static inline kllm_u32 kp_rows_at(const struct kp_tensor *t, kllm_u32 n_tokens,
				  kllm_u32 n_outputs)
{
	if (t->mode == KP_ROWS_TOKENS)
		return n_tokens;
	if (t->mode == KP_ROWS_OUTPUTS)
		return n_outputs;
	return t->rows;
}

/* Same rows for every batch? */
static inline int kp_same_rows(const struct kp_tensor *a, const struct kp_tensor *b)
{
	return a->mode == b->mode && (a->mode != KP_ROWS_FIXED || a->rows == b->rows);
}

/*
 * One past the last byte @rows rows of @t touch, relative to the buffer;
 * -1 on overflow.  0 rows touch nothing (*end = 0).
 */
static inline int kp_tensor_end(const struct kp_tensor *t, kllm_u32 rows,
				kllm_u64 *end)
{
	kllm_u64 e;

	if (!rows) {
		*end = 0;
		return 0;
	}
	if (__builtin_mul_overflow((kllm_u64)(rows - 1), t->r.row_stride, &e) ||
	    __builtin_add_overflow(e, t->r.offset, &e) ||
	    __builtin_add_overflow(e, t->row_bytes, &e))
		return -1;
	*end = e;
	return 0;
}

/*
 * Decode tensor @id of a checked program (kllm_prog_check has validated
 * every field, so this cannot fail on its output).
 */
void kp_tensor_get(const struct kllm_prog_info *pi, kllm_u32 id, struct kp_tensor *t);

/* kllm_prog_check.c: record an error (err may be NULL); -KLLM_PROG_EINVAL. */
int kp_fail(struct kllm_prog_err *err, kllm_s32 op, kllm_u32 kind,
	    const char *role, kllm_s32 tensor, kllm_s32 buffer,
	    const char *reason);
int kp_zero_tail(const kllm_u8 *rec, kllm_u32 from, kllm_u32 to);
int kp_all_zero(const kllm_u32 *v, kllm_u32 n);

/* kllm_prog_check_ops.c: check op @index (header, buffers, tensors done). */
const char *kp_slot_name(kllm_u32 kind, kllm_u32 slot);
int kp_check_op(struct kllm_prog_info *pi, kllm_u32 index, struct kllm_prog_err *err);

/* Lower op @index of a checked program for the dummy job the validator
 * uses: every tensor at max_batch rows, pointers to a static dummy. */
struct kllm_prog_job;
int kp_lower_dummy(const struct kllm_prog_info *pi, kllm_u32 index, struct kk_op *op);

#endif /* KLLM_UAPI_PROG_INT_H */
