// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_attention_shape.c - the shapes of the KV store and attention ops
 * (kk_attention.c): their checks, scratch size, stages and work items.
 * Integers only, in a non-FPU unit: the validator, the lowering and the
 * engine call these outside any FPU section.
 */
#include "kk_impl.h"
#include "kk_attn_geo.h"
#include "kk_blocks.h"
#include "kk_ops_common.h"

/* F16, or Q8_0 when every head starts on a block. */
static int kv_type_ok(kk_u32 kv_type, kk_u32 head_dim)
{
	if (kv_type == KK_TYPE_F16)
		return 1;
	return kv_type == KK_TYPE_Q8_0 && head_dim % QK8_0 == 0;
}

/* ---- KV store ---- */

static int kv_store_check(const struct kk_op *op)
{
	const struct kk_kv_store *p = &op->kv_store;

	if (!p->n_kv_head || !p->head_dim || !kv_type_ok(p->kv_type, p->head_dim))
		return -KK_EINVAL;
	if ((kk_u64)p->n_kv_head * p->head_dim > 0xffffffffull)
		return -KK_EINVAL;
	return 0;
}

/* One item per row, or per segment of a row longer than KK_ROW_SEG. */
static kk_u64 kv_store_items(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_kv_store *p = &op->kv_store;

	(void)stage;
	return p->rows * kk_row_segs((kk_u64)p->n_kv_head * p->head_dim);
}

static kk_u64 kv_store_chunk(const struct kk_op *op, kk_u32 stage)
{
	const kk_u64 row = (kk_u64)op->kv_store.n_kv_head * op->kv_store.head_dim;

	(void)stage;
	/* K and V: two elements per element of the segment */
	return kk_chunk_rows(2 * (row < KK_ROW_SEG ? row : KK_ROW_SEG),
			     KK_CHUNK_CHEAP);
}

const struct kk_op_class kk_class_kv_store = {
	.check = kv_store_check,
	.items = kv_store_items,
	.chunk_items = kv_store_chunk,
};

/* ---- attention ---- */

static kk_u32 pow2_floor(kk_u32 x)
{
	return x ? 1u << (31 - __builtin_clz(x)) : 0;
}

int kk_attn_geo(const struct kk_attention *p, struct kk_attn_geo *g)
{
	const kk_u32 hd = p->head_dim;
	kk_u32 gmax, lim = p->max_ctx;
	kk_u64 bytes;

	g->group = p->n_head / p->n_kv_head;
	gmax = KK_ATTN_SPAN_WORK / (KK_ATTN_MIN_SPAN * hd);
	gmax = gmax < 1 ? 1 : gmax > KK_ATTN_MAX_GROUP ? KK_ATTN_MAX_GROUP : gmax;
	g->n_sub = (g->group + gmax - 1) / gmax;
	g->gi = (g->group + g->n_sub - 1) / g->n_sub;
	g->span = pow2_floor(KK_ATTN_SPAN_WORK / (g->gi * hd));
	if (g->span < KK_ATTN_MIN_SPAN)
		g->span = KK_ATTN_MIN_SPAN;
	if (g->span > KK_ATTN_MAX_SPAN)
		g->span = KK_ATTN_MAX_SPAN;
	if (p->window && (!lim || p->window < lim))
		lim = p->window;
	if (!lim)
		g->span = KK_ATTN_SPAN_ALL;
	g->n_spans = lim ? (kk_u32)(((kk_u64)lim + g->span - 1) / g->span) : 1;
	g->n_slices = (hd + KK_ATTN_SLICE - 1) / KK_ATTN_SLICE;
	if (g->n_spans > KK_ATTN_MAX_SPANS)
		return -KK_EINVAL;
	/* partials: (head_dim + 2) floats each, the whole scratch < 2^62 */
	if (kk_mul_overflows((kk_u64)p->rows * g->n_spans, p->n_head, &g->slots) ||
	    kk_mul_overflows(g->slots, (hd + 2ull) * sizeof(float), &bytes) ||
	    bytes >> 62)
		return -KK_EINVAL;
	return 0;
}

static int attention_check(const struct kk_op *op)
{
	const struct kk_attention *p = &op->attention;
	kk_u64 row = (kk_u64)p->n_head * p->head_dim;
	struct kk_attn_geo g;

	if (!p->n_head || !p->n_kv_head || p->n_head % p->n_kv_head)
		return -KK_EINVAL;
	if (!p->head_dim || p->head_dim > KK_ATTN_MAX_HEAD_DIM)
		return -KK_EINVAL;
	if (!kv_type_ok(p->kv_type, p->head_dim))
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, row))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->scale_bits))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->softcap_bits) || kk_bits_negative(p->softcap_bits))
		return -KK_EINVAL;
	return kk_attn_geo(p, &g);
}

static kk_u64 attention_scratch(const struct kk_op *op)
{
	struct kk_attn_geo g;

	if (attention_check(op))
		return 0;
	kk_attn_geo(&op->attention, &g);
	return g.slots * (op->attention.head_dim + 2ull) * sizeof(float);
}

static kk_u32 attention_stages(const struct kk_op *op)
{
	struct kk_attn_geo g;

	if (attention_check(op) || kk_attn_by_rows(&op->attention))
		return 1;
	kk_attn_geo(&op->attention, &g);
	return g.n_spans > 1 ? 2 : 1;
}

static kk_u64 attention_items(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_attention *p = &op->attention;
	struct kk_attn_geo g;

	if (kk_attn_geo(p, &g))
		return 0;
	if (kk_attn_by_rows(p))
		return (kk_u64)p->rows * p->n_head;
	if (stage == 0)
		return (kk_u64)p->rows * g.n_spans * p->n_kv_head * g.n_sub;
	return (kk_u64)p->rows * p->n_head * g.n_slices;
}

static kk_u64 attention_chunk(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_attention *p = &op->attention;
	kk_u64 span, r;
	struct kk_attn_geo g;

	if (kk_attn_geo(p, &g))
		return 1;
	if (kk_attn_by_rows(p))
		return 1;
	if (stage == 1)
		return kk_chunk_rows((kk_u64)g.n_spans * (KK_ATTN_SLICE + 32),
				     KK_CHUNK_ATTN);
	span = g.span;
	if (span == KK_ATTN_SPAN_ALL) {	/* no bound: the longest row */
		span = 1;
		for (r = 0; r < p->rows; r++)
			if ((kk_i64)p->pos[r] + 1 > (kk_i64)span)
				span = (kk_u64)p->pos[r] + 1;
	}
	/* a chunk is about one full stage-0 item */
	return kk_chunk_rows(span * g.gi * p->head_dim, KK_ATTN_SPAN_WORK);
}

const struct kk_op_class kk_class_attention = {
	.check = attention_check,
	.scratch_size = attention_scratch,
	.stages = attention_stages,
	.items = attention_items,
	.chunk_items = attention_chunk,
};
