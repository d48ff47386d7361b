// SPDX-License-Identifier: MIT
/*
 * compile.c - the forward pass of llama, qwen2 and gemma3 as a program
 * (see compile.h).
 *
 * x = token_embd[tok] (gemma3: times sqrt(n_embd)), then per layer, on the
 * residual stream x of n_embd floats per token:
 *
 *	xn = rmsnorm(x) * attn_norm
 *	q, k, v = Wq xn, Wk xn, Wv xn  (+ bq, bk, bv where present: qwen2)
 *	gemma3: q, k = rmsnorm per head * q_norm, k_norm
 *	rope(q), rope(k): normal mode for llama (the GGUF conversion
 *		permuted Wq/Wk so pairs are adjacent), NeoX for qwen2 and
 *		gemma3; gemma3's sliding-window layers have their own base
 *	kv_store(k, v);  a = attention(q) over the cache (gemma3: a window
 *		on sliding-window layers), scale 1/sqrt(hd) (gemma3: q scaled)
 *	x += Wo a		(gemma3: x += rmsnorm(Wo a) * post_attention_norm)
 *	xn = rmsnorm(x) * ffn_norm
 *	x += Wdown (act(Wgate xn) * Wup xn)   act: SiLU, or GELU for gemma3
 *				(gemma3: the sum normalized by post_ffw_norm)
 *
 * then the selected rows: logits = Wout (rmsnorm(x[rows]) * output_norm).
 */
#include "compile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kk.h"
#include "kk_blocks.h"
#include "kllm_prog_check.h"
#include "prog_build.h"

#define TOK KLLM_PROG_T_ROWS_TOKENS
#define OUT KLLM_PROG_T_ROWS_OUTPUTS
#define T KLLM_PB_T

/* Tensor ids shared by every layer. */
struct cc {
	struct kllm_pb *b;
	const struct kllm_model *m;
	struct kllm_compiled *c;
	uint32_t in_tok, in_pos, in_seq, in_out;
	uint32_t x, xn, q, k, v, att, g, u, xo, logits;
	uint32_t freqs;		/* rope_freqs tensor or NONE */
};

static uint32_t weight(struct cc *cc, const struct kllm_weight *w)
{
	return kllm_pb_tensor(cc->b, cc->c->b_weights, w->type, w->offset,
			      w->row_bytes, w->ne0, w->rows, 0);
}

static void emit_rope(struct cc *cc, const struct kllm_layer *ly, uint32_t x,
		      uint32_t n_head)
{
	const struct kllm_hparams *hp = &cc->m->hp;

	KLLM_PB_OP(cc->b, KK_OP_ROPE, 0, T(x, cc->in_pos, cc->freqs, x),
		   T(n_head, hp->head_dim, hp->n_rot, hp->rope_mode,
		     kk_fbits(ly->rope_freq_base), kk_fbits(ly->rope_freq_scale)));
}

/* y += bias (one broadcast row), where the layer has one. */
static void emit_bias(struct cc *cc, const struct kllm_weight *bias, uint32_t y)
{
	if (kllm_weight_present(bias))
		KLLM_PB_OP(cc->b, KK_OP_BINARY, 0, T(y, weight(cc, bias), y),
			   T(KK_BINARY_ADD));
}

/*
 * QK-norm: RMSNorm over each head's head_dim elements, in place.  One op
 * per head on a view of x: head h's head_dim floats of every row, at the
 * row stride of x (views of one row interleave without overlapping).
 */
static void emit_head_norm(struct cc *cc, const struct kllm_weight *w, uint32_t x,
			   uint32_t n_head)
{
	const struct kllm_hparams *hp = &cc->m->hp;
	uint64_t off, stride;
	uint32_t wt;

	if (cc->b->err)		/* x may be NONE: the builder failed already */
		return;
	off = cc->b->t[x].offset;
	stride = cc->b->t[x].row_stride;
	wt = weight(cc, w);
	for (uint32_t h = 0; h < n_head; h++) {
		uint32_t v = kllm_pb_tensor(cc->b, cc->b->act, KLLM_PROG_TYPE_F32,
					    off + 4ull * h * hp->head_dim, stride,
					    hp->head_dim, 0, TOK);

		KLLM_PB_OP(cc->b, KK_OP_RMSNORM, 0, T(v, wt, v), T(kk_fbits(hp->rms_eps)));
	}
}

/*
 * x += W a, or with a post-norm (gemma3) x += rmsnorm(W a) * post: the
 * product goes to tmp, is normalized in place and added.
 */
static void emit_residual(struct cc *cc, const struct kllm_weight *w, uint32_t a,
			  const struct kllm_weight *post, uint32_t tmp)
{
	struct kllm_pb *b = cc->b;

	if (!kllm_weight_present(post)) {
		KLLM_PB_OP(b, KK_OP_MATMUL, KLLM_PROG_MATMUL_ACCUMULATE,
			   T(weight(cc, w), a, cc->x), KLLM_PB_P0);
		return;
	}
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, w), a, tmp), KLLM_PB_P0);
	KLLM_PB_OP(b, KK_OP_RMSNORM, 0, T(tmp, weight(cc, post), tmp),
		   T(kk_fbits(cc->m->hp.rms_eps)));
	KLLM_PB_OP(b, KK_OP_BINARY, 0, T(cc->x, tmp, cc->x), T(KK_BINARY_ADD));
}

/* Positions a cache tensor holds: n_ctx, or one block's when paged. */
static uint32_t kv_rows(const struct kllm_compiled *c)
{
	return c->kv_block_shift ? 1u << c->kv_block_shift : c->n_ctx;
}

static void emit_layer(struct cc *cc, uint32_t il)
{
	const struct kllm_hparams *hp = &cc->m->hp;
	const struct kllm_layer *ly = &cc->m->layers[il];
	struct kllm_pb *b = cc->b;
	const uint32_t kvd = hp->n_head_kv * hp->head_dim, rows = kv_rows(cc->c);
	const uint64_t rb = cc->c->kv_row_bytes, cache = rows * rb;
	const uint32_t kt = cc->c->kv_type == KLLM_KV_Q8_0 ? KK_TYPE_Q8_0 : KK_TYPE_F16;
	const uint64_t base = il * cc->c->kv_layer_size;
	const uint32_t eps = kk_fbits(hp->rms_eps);
	/* gemma3 scales q itself before attention, as llama.cpp does (q
	 * meets the f16 cache rounded after the scale) */
	const int scale_q = hp->arch == KLLM_ARCH_GEMMA3;
	const uint32_t scale = kk_fbits(scale_q ? 1.0f : hp->attn_scale);
	uint32_t kc, vc;

	kc = kllm_pb_tensor(b, cc->c->b_kv, kt, base, rb, kvd, rows, 0);
	vc = kllm_pb_tensor(b, cc->c->b_kv, kt, base + cache, rb, kvd, rows, 0);
	KLLM_PB_OP(b, KK_OP_RMSNORM, 0, T(cc->x, weight(cc, &ly->attn_norm), cc->xn), T(eps));
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, &ly->wq), cc->xn, cc->q), KLLM_PB_P0);
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, &ly->wk), cc->xn, cc->k), KLLM_PB_P0);
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, &ly->wv), cc->xn, cc->v), KLLM_PB_P0);
	emit_bias(cc, &ly->bq, cc->q);
	emit_bias(cc, &ly->bk, cc->k);
	emit_bias(cc, &ly->bv, cc->v);
	if (kllm_weight_present(&ly->q_norm)) {
		emit_head_norm(cc, &ly->q_norm, cc->q, hp->n_head);
		emit_head_norm(cc, &ly->k_norm, cc->k, hp->n_head_kv);
	}
	emit_rope(cc, ly, cc->q, hp->n_head);
	emit_rope(cc, ly, cc->k, hp->n_head_kv);
	if (scale_q)
		KLLM_PB_OP(b, KK_OP_SCALE, 0, T(cc->q, cc->q), T(kk_fbits(hp->attn_scale)));
	KLLM_PB_OP(b, KK_OP_KV_STORE, 0, T(cc->k, cc->v, cc->in_seq, cc->in_pos, kc, vc),
		   T(hp->n_head_kv, hp->head_dim));
	KLLM_PB_OP(b, KK_OP_ATTENTION, 0, T(cc->q, cc->in_seq, cc->in_pos, kc, vc, cc->att),
		   T(hp->n_head, hp->n_head_kv, hp->head_dim, ly->window, scale, 0));
	emit_residual(cc, &ly->wo, cc->att, &ly->post_attn_norm, cc->xn);
	KLLM_PB_OP(b, KK_OP_RMSNORM, 0, T(cc->x, weight(cc, &ly->ffn_norm), cc->xn), T(eps));
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, &ly->gate), cc->xn, cc->g), KLLM_PB_P0);
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, &ly->up), cc->xn, cc->u), KLLM_PB_P0);
	KLLM_PB_OP(b, KK_OP_GLU, 0, T(cc->g, cc->u, cc->g), T(hp->ffn_act));
	emit_residual(cc, &ly->down, cc->g, &ly->post_ffn_norm, cc->xn);
}

static void emit(struct cc *cc)
{
	const struct kllm_model *m = cc->m;
	const struct kllm_hparams *hp = &m->hp;
	struct kllm_compiled *c = cc->c;
	struct kllm_pb *b = cc->b;
	const uint32_t qd = hp->n_head * hp->head_dim, kvd = hp->n_head_kv * hp->head_dim;

	c->b_weights = kllm_pb_buffer(b, KLLM_PROG_BUF_WEIGHTS, m->data_size, 0);
	c->b_kv = kllm_pb_buffer(b, KLLM_PROG_BUF_KV, c->kv_size, 0);
	if (c->kv_block_shift)
		kllm_pb_paged(b, c->b_kv, c->kv_block_shift, c->n_ctx);
	cc->in_tok = kllm_pb_input(b, KLLM_PROG_IN_TOKENS);
	cc->in_pos = kllm_pb_input(b, KLLM_PROG_IN_POS);
	cc->in_seq = kllm_pb_input(b, KLLM_PROG_IN_SEQ);
	cc->in_out = kllm_pb_input(b, KLLM_PROG_IN_OUT_ROWS);
	c->b_logits = kllm_pb_buffer(b, KLLM_PROG_BUF_OUTPUT,
				     4ull * hp->n_vocab * c->max_batch, 0);
	cc->logits = kllm_pb_tensor(b, c->b_logits, KLLM_PROG_TYPE_F32, 0,
				    4ull * hp->n_vocab, hp->n_vocab, 0, OUT);
	cc->x = kllm_pb_act(b, hp->n_embd, TOK);
	cc->xn = kllm_pb_act(b, hp->n_embd, TOK);
	cc->q = kllm_pb_act(b, qd, TOK);
	cc->k = kllm_pb_act(b, kvd, TOK);
	cc->v = kllm_pb_act(b, kvd, TOK);
	cc->att = kllm_pb_act(b, qd, TOK);
	cc->g = kllm_pb_act(b, hp->n_ff, TOK);
	cc->u = kllm_pb_act(b, hp->n_ff, TOK);
	cc->xo = kllm_pb_act(b, hp->n_embd, OUT);
	c->b_act = b->act;
	cc->freqs = m->has_rope_freqs ? weight(cc, &m->rope_freqs) : KLLM_PROG_NONE;

	KLLM_PB_OP(b, KK_OP_GET_ROWS, 0, T(weight(cc, &m->tok_embd), cc->in_tok, cc->x),
		   KLLM_PB_P0);
	if (hp->embd_scale != 1.0f)
		KLLM_PB_OP(b, KK_OP_SCALE, 0, T(cc->x, cc->x), T(kk_fbits(hp->embd_scale)));
	for (uint32_t il = 0; il < hp->n_layer; il++)
		emit_layer(cc, il);
	KLLM_PB_OP(b, KK_OP_GET_ROWS, 0, T(cc->x, cc->in_out, cc->xo), KLLM_PB_P0);
	KLLM_PB_OP(b, KK_OP_RMSNORM, 0, T(cc->xo, weight(cc, &m->output_norm), cc->xo),
		   T(kk_fbits(hp->rms_eps)));
	KLLM_PB_OP(b, KK_OP_MATMUL, 0, T(weight(cc, &m->output), cc->xo, cc->logits),
		   KLLM_PB_P0);
	c->act_size = b->act_used;
}

static int check(struct kllm_compiled *c, char *err, size_t errlen)
{
	struct kllm_prog_info info;
	struct kllm_prog_err perr;
	char msg[200];

	if (!kllm_prog_check(c->img, c->size, &info, &perr))
		return 0;
	kllm_prog_err_format(&perr, msg, sizeof(msg));
	snprintf(err, errlen, "compiled program rejected: %s", msg);
	return -EINVAL;
}

/*
 * The cache's element type and one position's bytes: F16 rows, or Q8_0
 * blocks (32 int8 and an f16 scale), which must not straddle heads.
 */
static int kv_layout(const struct kllm_model *m, const struct kllm_compile_opts *opts,
		     struct kllm_compiled *c, char *err, size_t errlen)
{
	const struct kllm_hparams *hp = &m->hp;
	const uint64_t kvd = (uint64_t)hp->n_head_kv * hp->head_dim;

	switch (opts->kv_type) {
	case 0:
	case KLLM_KV_F16:
		c->kv_type = KLLM_KV_F16;
		c->kv_row_bytes = kvd * 2;
		return 0;
	case KLLM_KV_Q8_0:
		if (hp->head_dim % QK8_0) {
			snprintf(err, errlen, "a q8_0 KV cache needs a head size that is a "
				 "multiple of %u (this model's is %u)", QK8_0, hp->head_dim);
			return -EINVAL;
		}
		c->kv_type = KLLM_KV_Q8_0;
		c->kv_row_bytes = kvd / QK8_0 * sizeof(struct kk_block_q8_0);
		return 0;
	}
	snprintf(err, errlen, "KV type %u: expected KLLM_KV_F16 or KLLM_KV_Q8_0",
		 opts->kv_type);
	return -EINVAL;
}

int kllm_compile(const struct kllm_model *m, const struct kllm_compile_opts *opts,
		 struct kllm_compiled *out, char *err, size_t errlen)
{
	const struct kllm_hparams *hp = &m->hp;
	struct kllm_compiled *c = out;
	struct kllm_pb b;
	struct cc cc = { .b = &b, .m = m, .c = out };
	int ret;

	memset(c, 0, sizeof(*c));
	if (!opts->n_ctx || !opts->max_batch || opts->max_batch > KLLM_PROG_MAX_BATCH) {
		snprintf(err, errlen, "n_ctx must be non-zero and max_batch 1..%u",
			 KLLM_PROG_MAX_BATCH);
		return -EINVAL;
	}
	if (opts->kv_block_shift &&
	    (opts->kv_block_shift < KLLM_PROG_MIN_BLOCK_SHIFT ||
	     opts->kv_block_shift > KLLM_PROG_MAX_BLOCK_SHIFT ||
	     opts->n_ctx > KLLM_PROG_MAX_CTX)) {
		snprintf(err, errlen, "paged KV needs kv_block_shift %u..%u and n_ctx <= %u",
			 KLLM_PROG_MIN_BLOCK_SHIFT, KLLM_PROG_MAX_BLOCK_SHIFT,
			 KLLM_PROG_MAX_CTX);
		return -EINVAL;
	}
	if (kv_layout(m, opts, c, err, errlen))
		return -EINVAL;
	c->n_ctx = opts->n_ctx;
	c->max_batch = opts->max_batch;
	c->n_vocab = hp->n_vocab;
	c->weights_size = m->data_size;
	c->kv_block_shift = opts->kv_block_shift;
	if (c->kv_block_shift)
		c->kv_blocks_per_seq = (c->n_ctx + (1u << c->kv_block_shift) - 1) >>
				       c->kv_block_shift;
	c->kv_layer_size = 2ull * kv_rows(c) * c->kv_row_bytes;
	c->kv_size = c->kv_layer_size * hp->n_layer;
	if (c->kv_size > KLLM_PROG_MAX_BUFFER_BYTES) {
		snprintf(err, errlen, "KV cache of %llu bytes per %s is too large",
			 (unsigned long long)c->kv_size,
			 c->kv_block_shift ? "block" : "sequence");
		return -EINVAL;
	}
	kllm_pb_init(&b, opts->max_batch);
	emit(&cc);
	ret = kllm_pb_finish(&b, &c->img, &c->size);
	kllm_pb_free(&b);
	if (ret) {
		snprintf(err, errlen, "program: %s", ret == -ENOMEM ? "out of memory" :
			 "the model exceeds the program format's limits");
		return ret;
	}
	ret = check(c, err, errlen);
	if (ret)
		kllm_compiled_free(c);
	return ret;
}

void kllm_compiled_free(struct kllm_compiled *c)
{
	free(c->img);
	c->img = NULL;
	c->size = 0;
}
