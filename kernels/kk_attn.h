/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_attn.h - internal: the scalar steps of an attention span (struct
 * kk_attn_span) shared by the scalar F16 reference (kk_ops_scalar.c) and
 * the Q8_0 cache (kk_attention.c).  FPU units only.
 *
 * A span is walked in blocks of positions: the scores of a block first,
 * then one softmax update per head, then the V sum of the block.  A
 * block's K and V rows are found first (kk_attn_f16_rows): the same
 * arithmetic runs on a contiguous and a paged cache.
 */
#ifndef KLLM_KK_ATTN_H
#define KLLM_KK_ATTN_H

#include "kk_impl.h"
#include "kk_math.h"
#include "kk_ops_common.h"

/* Positions per block of the scalar span functions. */
#define KK_ATTN_SCALAR_BLOCK 8
/* The most positions a path asks kk_attn_rows() for at once. */
#define KK_ATTN_ROWS_MAX 16

/*
 * The K and V rows (the span's KV head; @rb bytes apart in the cache) of
 * the span's positions j .. j + n - 1: contiguous or paged alike, so that
 * a path reads the same values in the same order either way.  One table
 * look-up per run of positions in one block (K and V share it).
 */
static inline void kk_attn_rows(const struct kk_attn_span *sp, kk_u32 j, kk_u32 n,
				kk_u64 rb, const kk_u8 **k, const kk_u8 **v)
{
	kk_u32 pos = sp->first + j, jj = 0, run;
	const kk_u8 *kr, *vr;
	kk_u64 o, step;

	while (jj < n) {
		run = n - jj;
		step = rb;
		if (!sp->pages) {
			kr = (const kk_u8 *)sp->k + pos * rb;
			vr = (const kk_u8 *)sp->v + pos * rb;
		} else {
			const kk_u32 left = (1u << sp->pages->block_shift) -
					    (pos & ((1u << sp->pages->block_shift) - 1));

			run = run < left ? run : left;
			o = kk_kv_paged_off(sp->pages, pos, rb);
			if (o == KK_KV_NO_ROW) {
				kr = vr = (const kk_u8 *)kk_kv_zeros;
				step = 0;
			} else {
				kr = (const kk_u8 *)sp->k + o;
				vr = (const kk_u8 *)sp->v + o;
			}
		}
		for (pos += run; run; run--, jj++, kr += step, vr += step) {
			k[jj] = kr;
			v[jj] = vr;
		}
	}
}

/* The same for an F16 cache (kv_stride counts elements). */
static inline void kk_attn_f16_rows(const struct kk_attn_span *sp, kk_u32 j,
				    kk_u32 n, const kk_u16 **k, const kk_u16 **v)
{
	const kk_u8 *kb[KK_ATTN_ROWS_MAX], *vb[KK_ATTN_ROWS_MAX];
	kk_u32 jj;

	kk_attn_rows(sp, j, n, sp->kv_stride * sizeof(kk_u16), kb, vb);
	for (jj = 0; jj < n; jj++) {
		k[jj] = (const kk_u16 *)kb[jj];
		v[jj] = (const kk_u16 *)vb[jj];
	}
}

/* Start of a span: m = -inf, l = 0 for @n_q heads. */
static inline void kk_attn_ml_init(float *ml, kk_u32 n_q)
{
	kk_u32 h;

	for (h = 0; h < n_q; h++) {
		ml[2 * h] = -__builtin_inff();
		ml[2 * h + 1] = 0.0f;
	}
}

/*
 * One head's softmax update for a block of scores: s[0..n) becomes
 * e^(s - m') with the new maximum m', l is rescaled and grows by their
 * sum.  Returns e^(m - m'), the factor the head's acc must be scaled by
 * (1 when the maximum did not grow, 0 for the first block).
 */
static inline float kk_attn_block_update(float *s, kk_u32 n, float *ml)
{
	float m = ml[0], alpha = 1.0f, sum = 0.0f;
	kk_u32 j;

	for (j = 0; j < n; j++)
		m = s[j] > m ? s[j] : m;
	if (m == -__builtin_inff()) {	/* only -inf scores so far */
		for (j = 0; j < n; j++)
			s[j] = 0.0f;
		return 1.0f;
	}
	if (m > ml[0])
		alpha = kk_expf(ml[0] - m);
	for (j = 0; j < n; j++) {
		s[j] = kk_expf(s[j] - m);
		sum += s[j];
	}
	ml[0] = m;
	ml[1] = ml[1] * alpha + sum;
	return alpha;
}

/* softcap * tanh(s) over a block (@scale already held 1/softcap). */
static inline void kk_attn_block_softcap(float *s, kk_u32 n, float softcap)
{
	kk_u32 j;

	if (softcap == 0.0f)
		return;
	for (j = 0; j < n; j++)
		s[j] = softcap * kk_tanhf(s[j]);
}

#endif /* KLLM_KK_ATTN_H */
