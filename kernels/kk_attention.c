// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_attention.c - the KV cache: storing K/V rows, and causal attention of
 * query rows over it.
 *
 * Sequence indices and positions may come from userspace: every row is
 * checked at run time, and a row that points outside its cache is skipped
 * (KV store: nothing written) or answered with zeros (attention).
 *
 * A cache is contiguous or paged (struct kk_kv_seq): a paged one is checked
 * the same way per row (kk_kv_paged_ok), and each position is found through
 * its block table as it is read or written (kk_kv_read_at,
 * kk_kv_paged_off), so every path does the same arithmetic in the same
 * order on either layout: the results are bitwise the same.  A block id
 * outside the pool is never written and reads as zeros; the KV store skips
 * a sequence's read-only leading blocks.
 *
 * Attention: query head h reads KV head h / (n_head / n_kv_head)
 * (grouped-query attention) at positions
 * j = max(0, pos - window + 1) .. min(pos, ctx - 1, max_ctx - 1) of its
 * sequence.  Scores are scale * dot(q, k_j), optionally capped as
 * softcap * tanh(score / softcap); q is rounded to f16 before the dot
 * products as ggml does for an F16 cache, accumulation is in float.
 *
 * Work is split along the cache (flash-decoding), so that one item is
 * bounded work however long the context:
 *
 *   stage 0  item = (row, span, head group): up to KK_ATTN_MAX_GROUP query
 *            heads of one KV head over one span of at most `span`
 *            positions (a constant of the op's shape, never of the
 *            threads) write a partial softmax (max, sum, unnormalised
 *            output) into op->scratch.  A row whose range is one span is
 *            finished here (output = acc / sum).
 *   stage 1  item = (row, head, slice of head_dim): the partials of a row
 *            with several spans are combined in span order.
 *
 * Spans start at the row's first position, so a row's result depends only
 * on its own q, pos and cache: a batch gives bitwise the same rows as its
 * tokens one by one, whatever the threads.  Stage 0 has rows * n_spans *
 * groups items (n_spans from max_ctx or window): the spans a shorter row
 * lacks are empty items that return at once.
 *
 * A path with whole-row attention (ops.attn_row_f16, the ggml path) runs
 * an F16 cache as one stage of (row, head) items instead: its sums run over
 * all of a row's positions in one order, which spans would cut.
 *
 * A Q8_0 cache (head_dim a multiple of 32, so heads start on blocks) is
 * handled here with the scalar reference on every path, as ggml does it: K
 * rows are quantized with the reference Q8_0 rounding, q is quantized to
 * Q8_0 and dotted in integers per block, V blocks are dequantized.
 *
 * This file is an FPU unit, reached only through kk_op_run; the ops'
 * checks, scratch size and item counts are integer code in
 * kk_attention_shape.c (geometry: kk_attn_geo.h).
 */
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_attn.h"
#include "kk_attn_geo.h"
#include "kk_ops_common.h"
#include "kk_quant.h"

/* What a row outside a paged cache's pool reads as (kk_kv_read_at). */
const kk_u16 kk_kv_zeros[KK_ATTN_MAX_HEAD_DIM];

/* Bytes of @elems cache elements (a multiple of the block for Q8_0). */
static kk_u64 kv_bytes(kk_u32 kv_type, kk_u64 elems)
{
	return kv_type == KK_TYPE_Q8_0 ?
	       elems / QK8_0 * sizeof(struct kk_block_q8_0) : elems * 2;
}

/* ---- KV store ---- */

/*
 * The cache of a row's sequence (rows of @row_bytes), or NULL if seq/pos
 * are out of range or the sequence has no cache or a malformed table.
 */
static const struct kk_kv_seq *kv_row_seq(const struct kk_kv_seq *seqs,
					  kk_u32 n_seqs, kk_i32 seq, kk_i32 pos,
					  kk_u64 row_bytes)
{
	const struct kk_kv_seq *s;

	if (seq < 0 || (kk_u32)seq >= n_seqs || pos < 0)
		return (const struct kk_kv_seq *)0;
	s = &seqs[seq];
	if ((kk_u32)pos >= s->ctx || !s->k || !s->v)
		return (const struct kk_kv_seq *)0;
	if (s->blocks && !kk_kv_paged_ok(s, row_bytes))
		return (const struct kk_kv_seq *)0;
	return s;
}

/*
 * Byte offset of row @pos of cache @s from its k (v), or KK_KV_NO_ROW if
 * the row may not be written: a block outside the pool or read-only.
 */
static kk_u64 kv_store_off(const struct kk_kv_seq *s, kk_u32 pos,
			   kk_u64 row_bytes)
{
	if (!s->blocks)
		return (kk_u64)pos * row_bytes;
	if ((pos >> s->block_shift) < s->ro_blocks)
		return KK_KV_NO_ROW;
	return kk_kv_paged_off(s, pos, row_bytes);
}

/*
 * Item i = row * segs + segment: KK_ROW_SEG elements of the row's K and V
 * at most (kk_ops_common.h).  Both conversions work element by element
 * (F16) or block by block (Q8_0; segments start on a block), so the cut
 * changes no bit.
 */
void kk_run_kv_store(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		     kk_u64 end)
{
	const struct kk_kv_store *p = &op->kv_store;
	const kk_u32 row = p->n_kv_head * p->head_dim;
	const kk_u64 segs = kk_row_segs(row), rb = kv_bytes(p->kv_type, row);
	const struct kk_kv_seq *s;
	kk_u64 i, r, c, o;
	kk_u32 len;
	kk_i32 pos;

	(void)stage;
	for (i = begin; i < end; i++) {
		r = i / segs;
		c = i % segs * KK_ROW_SEG;
		len = row - c < KK_ROW_SEG ? (kk_u32)(row - c) : KK_ROW_SEG;
		pos = p->pos[r];
		s = kv_row_seq(p->seqs, p->n_seqs, p->seq[r], pos, rb);
		if (!s)
			continue;
		o = kv_store_off(s, (kk_u32)pos, rb);
		if (o == KK_KV_NO_ROW)
			continue;
		o += kv_bytes(p->kv_type, c);
		if (p->kv_type == KK_TYPE_Q8_0) {
			kk_ref_quantize_row(KK_TYPE_Q8_0, p->k + r * p->k_stride + c,
					    (kk_u8 *)s->k + o, len);
			kk_ref_quantize_row(KK_TYPE_Q8_0, p->v + r * p->v_stride + c,
					    (kk_u8 *)s->v + o, len);
			continue;
		}
		kk_impl_cur->ops.f32_to_f16((kk_u16 *)((kk_u8 *)s->k + o),
					    p->k + r * p->k_stride + c, len);
		kk_impl_cur->ops.f32_to_f16((kk_u16 *)((kk_u8 *)s->v + o),
					    p->v + r * p->v_stride + c, len);
	}
}

/* ---- attention ---- */

/* The positions [j0, j1) row t attends to; NULL (and 0, 0) if none. */
static const struct kk_kv_seq *attn_range(const struct kk_attention *p,
					  kk_u64 t, kk_u32 *j0, kk_u32 *j1)
{
	const kk_i32 pos = p->pos[t];
	const kk_u64 rb = kv_bytes(p->kv_type, (kk_u64)p->n_kv_head * p->head_dim);
	const struct kk_kv_seq *s = kv_row_seq(p->seqs, p->n_seqs, p->seq[t], 0, rb);
	kk_u32 end;

	*j0 = *j1 = 0;
	if (!s || pos < 0)
		return (const struct kk_kv_seq *)0;
	/* causal: j <= pos, and the cache only holds ctx positions */
	end = (kk_u32)pos < s->ctx ? (kk_u32)pos + 1 : s->ctx;
	if (p->max_ctx && end > p->max_ctx)
		end = p->max_ctx;
	if (p->window && (kk_u32)pos >= p->window)
		*j0 = (kk_u32)pos - p->window + 1;
	*j1 = end;
	if (*j0 > *j1)
		*j0 = *j1;
	return s;
}

/* Spans of a range of @n positions: at least one (an empty range too). */
static kk_u32 attn_row_spans(const struct kk_attn_geo *g, kk_u32 n)
{
	kk_u64 ns = ((kk_u64)n + g->span - 1) / g->span;

	if (!ns)
		return 1;
	return ns < g->n_spans ? (kk_u32)ns : g->n_spans;
}

/*
 * acc += p * v over @nblk Q8_0 blocks of one V row (dequantized).  Out of
 * line: inlined in attn_q8_0_span, gcc 12 moves vd between registers at
 * every element.
 */
static __attribute__((__noinline__)) void
attn_q8_0_axpy(float *acc, const struct kk_block_q8_0 *vb,
	       kk_u32 nblk, float p)
{
	kk_u32 b, d;

	for (b = 0; b < nblk; b++) {
		const float vd = kk_f16_to_f32(vb[b].d);

		for (d = 0; d < QK8_0; d++)
			acc[b * QK8_0 + d] += p * ((float)vb[b].qs[d] * vd);
	}
}

/*
 * Q8_0 cache: the scalar reference on every path, as ggml does it (q is
 * quantized to Q8_0 and dotted in integers per block, V blocks are
 * dequantized), one head at a time.  k, v are bytes; kv_stride counts
 * elements.
 */
static void attn_q8_0_span(const struct kk_attn_span *sp)
{
	struct kk_block_q8_0 qq[KK_ATTN_MAX_HEAD_DIM / QK8_0];
	const kk_u64 row = sp->kv_stride / QK8_0 * sizeof(struct kk_block_q8_0);
	const kk_u32 nblk = sp->head_dim / QK8_0;
	float s[KK_ATTN_SCALAR_BLOCK], alpha, *acc;
	kk_u32 h, j, jj, nb, d;

	kk_attn_ml_init(sp->ml, sp->n_q);
	for (h = 0; h < sp->n_q; h++) {
		acc = sp->acc + h * sp->acc_stride;
		__builtin_memset(acc, 0, sp->head_dim * sizeof(float));
		kk_ref_quantize_row(KK_TYPE_Q8_0, sp->q + h * sp->q_stride, qq,
				    sp->head_dim);
		for (j = 0; j < sp->n_pos; j += nb) {
			nb = sp->n_pos - j;
			nb = nb < KK_ATTN_SCALAR_BLOCK ? nb : KK_ATTN_SCALAR_BLOCK;
			for (jj = 0; jj < nb; jj++)
				s[jj] = kk_ref_vec_dot(KK_TYPE_Q8_0, sp->head_dim,
						       kk_kv_read_at(sp->k, sp->pages, row,
								     sp->first + j + jj),
						       qq) * sp->scale;
			kk_attn_block_softcap(s, nb, sp->softcap);
			alpha = kk_attn_block_update(s, nb, sp->ml + 2 * h);
			for (d = 0; d < sp->head_dim; d++)
				acc[d] *= alpha;
			for (jj = 0; jj < nb; jj++)
				attn_q8_0_axpy(acc, kk_kv_read_at(sp->v, sp->pages, row,
								  sp->first + j + jj),
					       nblk, s[jj]);
		}
	}
}

/* y = acc / l for @n_q heads (0 where l is 0: nothing attended to). */
static void attn_finish(float *y, const float *acc, const float *ml,
			kk_u32 n_q, kk_u32 hd)
{
	kk_u32 h, d;

	for (h = 0; h < n_q; h++) {
		const float l = ml[2 * h + 1], inv = l == 0.0f ? 0.0f : 1.0f / l;

		for (d = 0; d < hd; d++)
			y[h * hd + d] = acc[h * hd + d] * inv;
	}
}

/* Stage 0, item i = ((kv head * n_sub + group) * n_spans + span) * rows + row. */
static void attn_span_item(const struct kk_op *op, const struct kk_attn_geo *g,
			   kk_u64 i, float scale, float softcap)
{
	const struct kk_attention *p = &op->attention;
	const kk_u32 hd = p->head_dim;
	const kk_u64 t = i % p->rows, u = i / p->rows / g->n_spans;
	const kk_u32 si = (kk_u32)(i / p->rows % g->n_spans);
	const kk_u32 kvh = (kk_u32)(u / g->n_sub), sub = (kk_u32)(u % g->n_sub);
	const kk_u32 h0 = kvh * g->group + sub * g->gi;
	const kk_u64 stride = (kk_u64)p->n_kv_head * hd;
	struct kk_attn_span sp = { .kv_stride = stride, .head_dim = hd,
				   .q_stride = hd, .acc_stride = hd,
				   .scale = scale, .softcap = softcap };
	const struct kk_kv_seq *s;
	kk_u32 j0, j1, ns;
	kk_u64 a, slot;

	s = attn_range(p, t, &j0, &j1);
	ns = attn_row_spans(g, j1 - j0);
	if (si >= ns)
		return;		/* the row is shorter than n_spans spans */
	a = j0 + (kk_u64)si * g->span;
	sp.n_pos = (kk_u32)((kk_u64)j1 - a < g->span ? (kk_u64)j1 - a : g->span);
	sp.n_q = g->group - sub * g->gi < g->gi ? g->group - sub * g->gi : g->gi;
	sp.q = p->q + t * p->q_stride + (kk_u64)h0 * hd;
	/* span-major: a batch whose rows use few spans touches few pages */
	slot = ((kk_u64)si * p->rows + t) * p->n_head + h0;
	sp.acc = (float *)op->scratch + slot * hd;
	sp.ml = (float *)op->scratch + g->slots * hd + 2 * slot;
	if (s) {
		/* contiguous: from the span's first row; paged: from block 0 */
		kk_u64 o = kv_bytes(p->kv_type, (s->blocks ? 0 : a * stride) +
						(kk_u64)kvh * hd);

		sp.k = (const kk_u8 *)s->k + o;
		sp.v = (const kk_u8 *)s->v + o;
		if (s->blocks) {
			sp.pages = s;
			sp.first = (kk_u32)a;
		}
	}
	if (p->kv_type == KK_TYPE_Q8_0 && kk_impl_cur->ops.attn_q8_0)
		kk_impl_cur->ops.attn_q8_0(&sp);
	else if (p->kv_type == KK_TYPE_Q8_0)
		attn_q8_0_span(&sp);
	else
		kk_impl_cur->ops.attn_f16(&sp);
	if (ns == 1)
		attn_finish(p->y + t * p->y_stride + (kk_u64)h0 * hd, sp.acc,
			    sp.ml, sp.n_q, hd);
}

/*
 * Stage 1, item i = (row * n_head + head) * n_slices + slice: the row's
 * partials, in span order, weighted by e^(m_i - max m).
 */
static void attn_combine_item(const struct kk_op *op, const struct kk_attn_geo *g,
			      kk_u64 i)
{
	const struct kk_attention *p = &op->attention;
	const kk_u32 hd = p->head_dim, c = (kk_u32)(i % g->n_slices) * KK_ATTN_SLICE;
	const kk_u64 t = i / g->n_slices / p->n_head;
	const kk_u32 h = (kk_u32)(i / g->n_slices % p->n_head);
	const kk_u32 n = hd - c < KK_ATTN_SLICE ? hd - c : KK_ATTN_SLICE;
	const kk_u64 slot0 = t * p->n_head + h, step = (kk_u64)p->rows * p->n_head;
	const float *ml = (const float *)op->scratch + g->slots * hd;
	float *y = p->y + t * p->y_stride + (kk_u64)h * hd + c;
	float m = -__builtin_inff(), l = 0.0f, w, inv;
	kk_u32 j0, j1, ns, si, d;

	attn_range(p, t, &j0, &j1);
	ns = attn_row_spans(g, j1 - j0);
	if (ns <= 1)
		return;		/* finished in stage 0 */
	for (si = 0; si < ns; si++) {
		const float mi = ml[2 * (slot0 + si * step)];

		m = mi > m ? mi : m;
	}
	for (d = 0; d < n; d++)
		y[d] = 0.0f;
	for (si = 0; si < ns; si++) {
		const kk_u64 slot = slot0 + si * step;
		const float *acc = (const float *)op->scratch + slot * hd + c;
		const float mi = ml[2 * slot];

		w = mi == -__builtin_inff() ? 0.0f : kk_expf(mi - m);
		l += ml[2 * slot + 1] * w;
		for (d = 0; d < n; d++)
			y[d] += acc[d] * w;
	}
	inv = l == 0.0f ? 0.0f : 1.0f / l;
	for (d = 0; d < n; d++)
		y[d] *= inv;
}

/* Whole-row item i = row * n_head + head (kk_attn_by_rows). */
static void attn_row_item(const struct kk_op *op, kk_u64 i, float scale,
			  float softcap)
{
	const struct kk_attention *p = &op->attention;
	const kk_u32 hd = p->head_dim, h = (kk_u32)(i % p->n_head);
	const kk_u64 t = i / p->n_head, stride = (kk_u64)p->n_kv_head * hd;
	const kk_u32 kvh = h / (p->n_head / p->n_kv_head);
	struct kk_attn_row r = {
		.q = p->q + t * p->q_stride + (kk_u64)h * hd,
		.y = p->y + t * p->y_stride + (kk_u64)h * hd,
		.kv_stride = stride, .head_dim = hd,
		.scale = scale, .softcap = softcap,
	};
	const struct kk_kv_seq *s = attn_range(p, t, &r.j0, &r.j1);

	if (s) {
		r.k = (const kk_u16 *)s->k + (kk_u64)kvh * hd;
		r.v = (const kk_u16 *)s->v + (kk_u64)kvh * hd;
		r.pages = s->blocks ? s : (const struct kk_kv_seq *)0;
	} else {
		r.j0 = r.j1 = 0;
	}
	kk_impl_cur->ops.attn_row_f16(&r);
}

void kk_run_attention(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		      kk_u64 end)
{
	const struct kk_attention *p = &op->attention;
	const float softcap = kk_u32_as_f32(p->softcap_bits);
	float scale = kk_u32_as_f32(p->scale_bits);
	struct kk_attn_geo g;
	kk_u64 i;

	if (kk_attn_geo(p, &g))
		return;
	if (kk_attn_by_rows(p)) {
		for (i = begin; i < end; i++)
			attn_row_item(op, i, scale, softcap);
		return;
	}
	if (!op->scratch)
		return;
	/* as ggml's flash attention: fold 1/softcap into the scale */
	if (softcap != 0.0f)
		scale /= softcap;
	for (i = begin; i < end; i++) {
		if (stage == 0)
			attn_span_item(op, &g, i, scale, softcap);
		else
			attn_combine_item(op, &g, i);
	}
}
