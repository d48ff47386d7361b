/* SPDX-License-Identifier: MIT */
/*
 * kt_prog.h - building program images for the tests: a small builder over
 * uapi/kllm_prog.h, and a one-layer toy transformer program (embedding,
 * attention with a KV cache, gated FFN, logits, argmax, softmax) with
 * random Q8_0 weights.
 */
#ifndef KLLM_KT_PROG_H
#define KLLM_KT_PROG_H

#include "kt.h"
#include "kk.h"
#include "kllm_prog.h"

#define KB_MAX_T 256
#define KB_MAX_OPS 128
#define KB_N KLLM_PROG_NONE

struct kb {
	struct kllm_prog_header h;
	struct kllm_prog_buffer buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_prog_tensor t[KB_MAX_T];
	struct kllm_prog_op op[KB_MAX_OPS];
	uint32_t act;		/* the activation buffer, allocated as we go */
	uint64_t act_used;
};

static inline void kb_init(struct kb *b, uint32_t max_batch)
{
	memset(b, 0, sizeof(*b));
	b->h.magic = KLLM_PROG_MAGIC;
	b->h.version = KLLM_PROG_VERSION;
	b->h.header_size = sizeof(struct kllm_prog_header);
	b->h.buffer_size = sizeof(struct kllm_prog_buffer);
	b->h.tensor_size = sizeof(struct kllm_prog_tensor);
	b->h.op_size = sizeof(struct kllm_prog_op);
	b->h.max_batch = max_batch;
	b->act = KB_N;
}

static inline uint32_t kb_buffer(struct kb *b, uint32_t kind, uint64_t size,
				 uint32_t input)
{
	uint32_t id = b->h.n_buffers++;

	ck_assert_uint_lt(id, KLLM_PROG_MAX_BUFFERS);
	b->buf[id] = (struct kllm_prog_buffer){ .kind = kind, .size = size, .input = input };
	return id;
}

/* Rows: fixed ne1, or 0 with flags ROWS_TOKENS / ROWS_OUTPUTS. */
static inline uint32_t kb_tensor(struct kb *b, uint32_t buffer, uint32_t type,
				 uint64_t offset, uint64_t stride, uint32_t ne0,
				 uint32_t ne1, uint32_t flags)
{
	uint32_t id = b->h.n_tensors++;

	ck_assert_uint_lt(id, KB_MAX_T);
	b->t[id] = (struct kllm_prog_tensor){
		.buffer = buffer, .type = type, .offset = offset,
		.row_stride = stride, .ne = { ne0, ne1, 1, 1 }, .flags = flags };
	return id;
}

/* An f32 tensor of its own in the activation arena. */
static inline uint32_t kb_act(struct kb *b, uint32_t ne0, uint32_t flags)
{
	uint64_t stride = (uint64_t)ne0 * 4, off;
	uint32_t id;

	if (b->act == KB_N)
		b->act = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 0, 0);
	off = (b->act_used + 63) & ~63ull;
	id = kb_tensor(b, b->act, KLLM_PROG_TYPE_F32, off, stride, ne0,
		       flags ? 0 : 1, flags);
	b->act_used = off + stride * (flags ? b->h.max_batch : 1);
	b->buf[b->act].size = b->act_used;
	return id;
}

static inline uint32_t kb_op(struct kb *b, uint32_t kind, uint32_t flags,
			     const uint32_t *t, size_t nt, const uint32_t *p, size_t np)
{
	uint32_t id = b->h.n_ops++;
	struct kllm_prog_op *op = &b->op[id];

	ck_assert_uint_lt(id, KB_MAX_OPS);
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->flags = flags;
	for (size_t i = 0; i < KLLM_PROG_OP_SLOTS; i++)
		op->t[i] = i < nt ? t[i] : KB_N;
	for (size_t i = 0; i < np && i < KLLM_PROG_OP_PARAMS; i++)
		op->p[i] = p[i];
	return id;
}

#define KB_T(...) ((const uint32_t[]){ __VA_ARGS__ })
#define KB_OP(b, kind, flags, T, P) \
	kb_op(b, kind, flags, T, sizeof(T) / 4, P, sizeof(P) / 4)
#define KB_P0 KB_T(0)

/* The image: malloc'ed, 64-byte aligned; *size its length. */
static inline uint8_t *kb_finish(struct kb *b, size_t *size)
{
	size_t nb = b->h.n_buffers * sizeof(struct kllm_prog_buffer);
	size_t nt = b->h.n_tensors * sizeof(struct kllm_prog_tensor);
	size_t no = b->h.n_ops * sizeof(struct kllm_prog_op);
	uint8_t *img;

	*size = sizeof(b->h) + nb + nt + no;
	b->h.total_size = (uint32_t)*size;
	img = kt_alloc(*size);
	memcpy(img, &b->h, sizeof(b->h));
	memcpy(img + sizeof(b->h), b->buf, nb);
	memcpy(img + sizeof(b->h) + nb, b->t, nt);
	memcpy(img + sizeof(b->h) + nb + nt, b->op, no);
	return img;
}

/* Record pointers into a built image (standard record sizes). */
static inline struct kllm_prog_header *kb_hdr(uint8_t *img)
{
	return (struct kllm_prog_header *)img;
}

static inline struct kllm_prog_buffer *kb_buf(uint8_t *img, uint32_t id)
{
	return (struct kllm_prog_buffer *)(img + sizeof(struct kllm_prog_header)) + id;
}

static inline struct kllm_prog_tensor *kb_ten(uint8_t *img, uint32_t id)
{
	return (struct kllm_prog_tensor *)(kb_buf(img, kb_hdr(img)->n_buffers)) + id;
}

static inline struct kllm_prog_op *kb_opr(uint8_t *img, uint32_t id)
{
	return (struct kllm_prog_op *)(kb_ten(img, kb_hdr(img)->n_tensors)) + id;
}

/* ------------------------------------------------------------------ */
/* The toy model.                                                       */

#define TM_V 64		/* vocabulary */
#define TM_D 64		/* embedding */
#define TM_NH 4
#define TM_NKV 2
#define TM_HD 16
#define TM_Q (TM_NH * TM_HD)
#define TM_KV (TM_NKV * TM_HD)
#define TM_FF 96
#define TM_CTX 16
#define TM_MB 8		/* max_batch */
#define TM_EPS 0x3727c5acu	/* 1e-5f */

/* Weight tensors, in blob order. */
enum { W_EMBD, W_ANORM, W_Q, W_K, W_V, W_O, W_FNORM, W_GATE, W_UP, W_DOWN,
       W_BIAS, W_ONORM, W_OUT, W_FREQ, W_COUNT };

struct toy_model {
	uint8_t *img;
	size_t size;
	uint8_t *weights;	/* the WEIGHTS buffer's memory */
	uint64_t wsize;
	uint64_t woff[W_COUNT];
	uint32_t wt[W_COUNT];	/* tensor ids */
	uint32_t w_type[W_COUNT], w_k[W_COUNT], w_rows[W_COUNT];
	uint64_t w_stride[W_COUNT];
	uint32_t b_w, b_act, b_kv, b_logits, b_ids, b_probs;
	uint32_t t_kc, t_vc, t_x;
	uint64_t kv_bytes;	/* per sequence */
	uint64_t kv_v_off;	/* V cache offset in a sequence's memory */
};

static const struct { uint32_t type, k, rows; } tm_wshape[W_COUNT] = {
	[W_EMBD] = { KK_TYPE_Q8_0, TM_D, TM_V },
	[W_ANORM] = { KK_TYPE_F32, TM_D, 1 },
	[W_Q] = { KK_TYPE_Q8_0, TM_D, TM_Q },
	[W_K] = { KK_TYPE_Q8_0, TM_D, TM_KV },
	[W_V] = { KK_TYPE_Q8_0, TM_D, TM_KV },
	[W_O] = { KK_TYPE_Q8_0, TM_Q, TM_D },
	[W_FNORM] = { KK_TYPE_F32, TM_D, 1 },
	[W_GATE] = { KK_TYPE_Q8_0, TM_D, TM_FF },
	[W_UP] = { KK_TYPE_Q8_0, TM_D, TM_FF },
	[W_DOWN] = { KK_TYPE_Q8_0, TM_FF, TM_D },
	[W_BIAS] = { KK_TYPE_F32, TM_D, 1 },
	[W_ONORM] = { KK_TYPE_F32, TM_D, 1 },
	[W_OUT] = { KK_TYPE_Q8_0, TM_D, TM_V },
	[W_FREQ] = { KK_TYPE_F32, TM_HD / 2, 1 },
};

static inline void tm_weights(struct toy_model *m, struct kb *b, struct kt_rng *r)
{
	float row[TM_FF];
	uint64_t off = 0;

	for (int w = 0; w < W_COUNT; w++) {
		m->w_type[w] = tm_wshape[w].type;
		m->w_k[w] = tm_wshape[w].k;
		m->w_rows[w] = tm_wshape[w].rows;
		m->w_stride[w] = kk_row_bytes(m->w_type[w], m->w_k[w]);
		m->woff[w] = off;
		off = (off + m->w_stride[w] * m->w_rows[w] + 31) & ~31ull;
	}
	m->wsize = off;
	m->weights = kt_alloc(off);
	m->b_w = kb_buffer(b, KLLM_PROG_BUF_WEIGHTS, off, 0);
	for (int w = 0; w < W_COUNT; w++) {
		for (uint32_t i = 0; i < m->w_rows[w]; i++) {
			int vec = m->w_type[w] == KK_TYPE_F32;

			kt_fill_f32(r, row, m->w_k[w], vec ? 0.5f : -1.0f, vec ? 1.5f : 1.0f);
			ck_assert_int_eq(kk_quantize_row(m->w_type[w], row,
							 m->weights + m->woff[w] +
							 i * m->w_stride[w], m->w_k[w]), 0);
		}
		m->wt[w] = kb_tensor(b, m->b_w, m->w_type[w], m->woff[w], m->w_stride[w],
				     m->w_k[w], m->w_rows[w], 0);
	}
}

/* Build the toy program: see the op list in the body. */
static inline void tm_build(struct toy_model *m, uint64_t seed)
{
	const uint32_t TOK = KLLM_PROG_T_ROWS_TOKENS, OUT = KLLM_PROG_T_ROWS_OUTPUTS;
	const uint64_t kv_row = TM_KV * 2;
	struct kt_rng r;
	struct kb *b = kt_alloc(sizeof(*b));
	uint32_t in_tok, in_pos, in_seq, in_out, x, xn, q, k, v, att, g, u, xo, lg, ids, pr;
	uint32_t *wt = m->wt;

	kt_rng_seed(&r, seed);
	kb_init(b, TM_MB);
	tm_weights(m, b, &r);
	m->kv_v_off = TM_CTX * kv_row;
	m->kv_bytes = 2 * m->kv_v_off;
	m->b_kv = kb_buffer(b, KLLM_PROG_BUF_KV, m->kv_bytes, 0);
	m->t_kc = kb_tensor(b, m->b_kv, KK_TYPE_F16, 0, kv_row, TM_KV, TM_CTX, 0);
	m->t_vc = kb_tensor(b, m->b_kv, KK_TYPE_F16, m->kv_v_off, kv_row, TM_KV, TM_CTX, 0);
	in_tok = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 4 * TM_MB, KLLM_PROG_IN_TOKENS),
			   KLLM_PROG_TYPE_I32, 0, 4, 1, 0, TOK);
	in_pos = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 4 * TM_MB, KLLM_PROG_IN_POS),
			   KLLM_PROG_TYPE_I32, 0, 4, 1, 0, TOK);
	in_seq = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 4 * TM_MB, KLLM_PROG_IN_SEQ),
			   KLLM_PROG_TYPE_I32, 0, 4, 1, 0, TOK);
	in_out = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 4 * TM_MB, KLLM_PROG_IN_OUT_ROWS),
			   KLLM_PROG_TYPE_I32, 0, 4, 1, 0, OUT);
	m->b_logits = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 4ull * TM_V * TM_MB, 0);
	m->b_ids = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 4ull * TM_MB, 0);
	m->b_probs = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 4ull * TM_V * TM_MB, 0);
	lg = kb_tensor(b, m->b_logits, KLLM_PROG_TYPE_F32, 0, 4 * TM_V, TM_V, 0, OUT);
	ids = kb_tensor(b, m->b_ids, KLLM_PROG_TYPE_I32, 0, 4, 1, 0, OUT);
	pr = kb_tensor(b, m->b_probs, KLLM_PROG_TYPE_F32, 0, 4 * TM_V, TM_V, 0, OUT);
	m->t_x = x = kb_act(b, TM_D, TOK);
	xn = kb_act(b, TM_D, TOK);
	q = kb_act(b, TM_Q, TOK);
	k = kb_act(b, TM_KV, TOK);
	v = kb_act(b, TM_KV, TOK);
	att = kb_act(b, TM_Q, TOK);
	g = kb_act(b, TM_FF, TOK);
	u = kb_act(b, TM_FF, TOK);
	xo = kb_act(b, TM_D, OUT);
	m->b_act = b->act;

	/* 0 */ KB_OP(b, KK_OP_GET_ROWS, 0, KB_T(wt[W_EMBD], in_tok, x), KB_P0);
	/* 1 */ KB_OP(b, KK_OP_RMSNORM, 0, KB_T(x, wt[W_ANORM], xn), KB_T(TM_EPS));
	/* 2 */ KB_OP(b, KK_OP_MATMUL, 0, KB_T(wt[W_Q], xn, q), KB_P0);
	/* 3 */ KB_OP(b, KK_OP_MATMUL, 0, KB_T(wt[W_K], xn, k), KB_P0);
	/* 4 */ KB_OP(b, KK_OP_MATMUL, 0, KB_T(wt[W_V], xn, v), KB_P0);
	/* 5 */ KB_OP(b, KK_OP_ROPE, 0, KB_T(q, in_pos, wt[W_FREQ], q),
		      KB_T(TM_NH, TM_HD, TM_HD, KK_ROPE_NEOX, 0x461c4000u /* 1e4 */,
			   0x3f800000u));
	/* 6 */ KB_OP(b, KK_OP_ROPE, 0, KB_T(k, in_pos, wt[W_FREQ], k),
		      KB_T(TM_NKV, TM_HD, TM_HD, KK_ROPE_NEOX, 0x461c4000u, 0x3f800000u));
	/* 7 */ KB_OP(b, KK_OP_KV_STORE, 0, KB_T(k, v, in_seq, in_pos, m->t_kc, m->t_vc),
		      KB_T(TM_NKV, TM_HD));
	/* 8 */ KB_OP(b, KK_OP_ATTENTION, 0, KB_T(q, in_seq, in_pos, m->t_kc, m->t_vc, att),
		      KB_T(TM_NH, TM_NKV, TM_HD, 0, 0x3e800000u /* 0.25 */, 0));
	/* 9 */ KB_OP(b, KK_OP_MATMUL, KLLM_PROG_MATMUL_ACCUMULATE, KB_T(wt[W_O], att, x), KB_P0);
	/* 10 */ KB_OP(b, KK_OP_RMSNORM, 0, KB_T(x, wt[W_FNORM], xn), KB_T(TM_EPS));
	/* 11 */ KB_OP(b, KK_OP_MATMUL, 0, KB_T(wt[W_GATE], xn, g), KB_P0);
	/* 12 */ KB_OP(b, KK_OP_MATMUL, 0, KB_T(wt[W_UP], xn, u), KB_P0);
	/* 13 */ KB_OP(b, KK_OP_UNARY, 0, KB_T(u, u), KB_T(KK_UNARY_GELU));
	/* 14 */ KB_OP(b, KK_OP_GLU, 0, KB_T(g, u, g), KB_T(KK_UNARY_SILU));
	/* 15 */ KB_OP(b, KK_OP_MATMUL, KLLM_PROG_MATMUL_ACCUMULATE, KB_T(wt[W_DOWN], g, x), KB_P0);
	/* 16 */ KB_OP(b, KK_OP_BINARY, 0, KB_T(x, wt[W_BIAS], x), KB_T(KK_BINARY_ADD));
	/* 17 */ KB_OP(b, KK_OP_SCALE, 0, KB_T(x, x), KB_T(0x3f000000u /* 0.5 */));
	/* 18 */ KB_OP(b, KK_OP_GET_ROWS, 0, KB_T(x, in_out, xo), KB_P0);
	/* 19 */ KB_OP(b, KK_OP_RMSNORM, 0, KB_T(xo, wt[W_ONORM], xo), KB_T(TM_EPS));
	/* 20 */ KB_OP(b, KK_OP_MATMUL, 0, KB_T(wt[W_OUT], xo, lg), KB_P0);
	/* 21 */ KB_OP(b, KK_OP_ARGMAX, 0, KB_T(lg, ids), KB_P0);
	/* 22 */ KB_OP(b, KK_OP_SOFTMAX, 0, KB_T(lg, pr), KB_T(0x3f800000u));
	m->img = kb_finish(b, &m->size);
	free(b);
}

static inline void tm_free(struct toy_model *m)
{
	free(m->img);
	free(m->weights);
}

#endif /* KLLM_KT_PROG_H */
