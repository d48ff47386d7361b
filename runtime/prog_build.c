// SPDX-License-Identifier: MIT
/*
 * prog_build.c - the program builder (see prog_build.h).
 */
#include "prog_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void kllm_pb_init(struct kllm_pb *b, uint32_t max_batch)
{
	memset(b, 0, sizeof(*b));
	b->h.magic = KLLM_PROG_MAGIC;
	b->h.version = KLLM_PROG_VERSION;
	b->h.header_size = sizeof(struct kllm_prog_header);
	b->h.buffer_size = sizeof(struct kllm_prog_buffer);
	b->h.tensor_size = sizeof(struct kllm_prog_tensor);
	b->h.op_size = sizeof(struct kllm_prog_op);
	b->h.max_batch = max_batch;
	b->act = KLLM_PROG_NONE;
}

void kllm_pb_free(struct kllm_pb *b)
{
	free(b->t);
	free(b->op);
	b->t = NULL;
	b->op = NULL;
	b->t_cap = b->op_cap = 0;
}

static void pb_fail(struct kllm_pb *b, int err)
{
	if (!b->err)
		b->err = err;
}

/* Make room for one more record in a table of @size-byte records. */
static int pb_grow(struct kllm_pb *b, void **tab, uint32_t *cap, uint32_t n,
		   size_t size, uint32_t limit)
{
	uint32_t ncap;
	void *p;

	if (n >= limit) {
		pb_fail(b, -E2BIG);
		return -1;
	}
	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > limit)
		ncap = limit;
	p = realloc(*tab, (size_t)ncap * size);
	if (!p) {
		pb_fail(b, -ENOMEM);
		return -1;
	}
	*tab = p;
	*cap = ncap;
	return 0;
}

uint32_t kllm_pb_buffer(struct kllm_pb *b, uint32_t kind, uint64_t size,
			uint32_t input)
{
	uint32_t id = b->h.n_buffers;

	if (b->err)
		return KLLM_PROG_NONE;
	if (id >= KLLM_PROG_MAX_BUFFERS) {
		pb_fail(b, -E2BIG);
		return KLLM_PROG_NONE;
	}
	b->h.n_buffers++;
	b->buf[id] = (struct kllm_prog_buffer){ .kind = kind, .size = size,
						.input = input };
	return id;
}

void kllm_pb_paged(struct kllm_pb *b, uint32_t buffer, uint32_t block_shift,
		   uint32_t n_ctx)
{
	if (b->err || buffer >= b->h.n_buffers)
		return;
	b->buf[buffer].flags |= KLLM_PROG_BUF_PAGED;
	b->buf[buffer].reserved[0] = block_shift;
	b->buf[buffer].reserved[1] = n_ctx;
}

uint32_t kllm_pb_tensor(struct kllm_pb *b, uint32_t buffer, uint32_t type,
			uint64_t offset, uint64_t stride, uint32_t ne0,
			uint32_t ne1, uint32_t flags)
{
	uint32_t id = b->h.n_tensors;
	void *tab = b->t;

	if (b->err || pb_grow(b, &tab, &b->t_cap, id, sizeof(*b->t),
			      KLLM_PROG_MAX_TENSORS))
		return KLLM_PROG_NONE;
	b->t = tab;
	b->h.n_tensors++;
	b->t[id] = (struct kllm_prog_tensor){
		.buffer = buffer, .type = type, .offset = offset,
		.row_stride = stride, .ne = { ne0, ne1, 1, 1 }, .flags = flags };
	return id;
}

uint32_t kllm_pb_act(struct kllm_pb *b, uint32_t ne0, uint32_t flags)
{
	uint64_t stride = (uint64_t)ne0 * 4, off;
	uint32_t id;

	if (b->act == KLLM_PROG_NONE)
		b->act = kllm_pb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 0, 0);
	if (b->err)
		return KLLM_PROG_NONE;
	off = (b->act_used + 63) & ~63ull;
	id = kllm_pb_tensor(b, b->act, KLLM_PROG_TYPE_F32, off, stride, ne0,
			    flags ? 0 : 1, flags);
	if (id == KLLM_PROG_NONE)
		return id;
	b->act_used = off + stride * (flags ? b->h.max_batch : 1);
	b->buf[b->act].size = b->act_used;
	return id;
}

uint32_t kllm_pb_input(struct kllm_pb *b, uint32_t input)
{
	uint32_t flags = input == KLLM_PROG_IN_OUT_ROWS ?
		KLLM_PROG_T_ROWS_OUTPUTS : KLLM_PROG_T_ROWS_TOKENS;
	uint32_t buf = kllm_pb_buffer(b, KLLM_PROG_BUF_INPUT,
				      4ull * b->h.max_batch, input);

	if (buf == KLLM_PROG_NONE)
		return buf;
	return kllm_pb_tensor(b, buf, KLLM_PROG_TYPE_I32, 0, 4, 1, 0, flags);
}

uint32_t kllm_pb_op(struct kllm_pb *b, uint32_t kind, uint32_t flags,
		    const uint32_t *t, size_t nt, const uint32_t *p, size_t np)
{
	uint32_t id = b->h.n_ops;
	struct kllm_prog_op *op;
	void *tab = b->op;

	if (b->err || pb_grow(b, &tab, &b->op_cap, id, sizeof(*b->op),
			      KLLM_PROG_MAX_OPS))
		return KLLM_PROG_NONE;
	b->op = tab;
	b->h.n_ops++;
	op = &b->op[id];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->flags = flags;
	/* a tensor that could not be added left b->err set: no need to
	 * check the slots (NONE is also how optional slots are left out) */
	for (size_t i = 0; i < KLLM_PROG_OP_SLOTS; i++)
		op->t[i] = i < nt ? t[i] : KLLM_PROG_NONE;
	for (size_t i = 0; i < np && i < KLLM_PROG_OP_PARAMS; i++)
		op->p[i] = p[i];
	return id;
}

int kllm_pb_finish(struct kllm_pb *b, uint8_t **img, size_t *size)
{
	size_t nb = b->h.n_buffers * sizeof(struct kllm_prog_buffer);
	size_t nt = (size_t)b->h.n_tensors * sizeof(struct kllm_prog_tensor);
	size_t no = (size_t)b->h.n_ops * sizeof(struct kllm_prog_op);
	size_t total = sizeof(b->h) + nb + nt + no;
	void *p = NULL;

	*img = NULL;
	*size = 0;
	if (b->err)
		return b->err;
	if (total > KLLM_PROG_MAX_SIZE)
		return -E2BIG;
	if (posix_memalign(&p, 64, total))
		return -ENOMEM;
	b->h.total_size = (uint32_t)total;
	memcpy(p, &b->h, sizeof(b->h));
	memcpy((uint8_t *)p + sizeof(b->h), b->buf, nb);
	if (nt)
		memcpy((uint8_t *)p + sizeof(b->h) + nb, b->t, nt);
	if (no)
		memcpy((uint8_t *)p + sizeof(b->h) + nb + nt, b->op, no);
	*img = p;
	*size = total;
	return 0;
}
