/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_impl_ops.h - internal: the non-matmul half of a SIMD path's table.
 * Owned by kk_ops.c and the kk_ops_*.c files.
 *
 * Every entry works on one row (or one attention span, kk_attention.c) and is
 * called from the op classes' run functions (kk_ops.c, kk_rope.c,
 * kk_attention.c) inside the home's FPU section.  The scalar entries are the reference; a SIMD
 * entry is either bitwise equal to it (element-wise ops: the same IEEE
 * operations in the same order, no FMA) or differs only by the order of a
 * reduction (rmsnorm, softmax, attention dot products).
 */
#ifndef KLLM_KK_IMPL_OPS_H
#define KLLM_KK_IMPL_OPS_H

#include "kk.h"

/* Largest attention head the kernels take. */
#define KK_ATTN_MAX_HEAD_DIM 256
/* Most query heads (of one KV head) that one attention span computes. */
#define KK_ATTN_MAX_GROUP 8

/*
 * One attention work item (kk_attention.c): positions 0 .. n_pos-1 of one
 * span of a KV head's cache, for n_q query heads that share that KV head.
 * k and v point at the span's first position, positions are kv_stride
 * elements apart.  For each head h it writes the unnormalised partial
 * softmax of the span:
 *
 *   m_h = max_j s_hj,  l_h = sum_j e^(s_hj - m_h),
 *   acc_h = sum_j e^(s_hj - m_h) v_j,   s_hj = scale * dot(f16(q_h), k_j)
 *
 * (softcap: s = softcap * tanh(s); @scale then already includes
 * 1/softcap) into acc + h * acc_stride and ml[2h], ml[2h + 1].  An empty
 * span gives acc 0, m -inf, l 0.  q is rounded to f16 as ggml does for an
 * F16 cache; sums are in float, in an order of the path's choosing.  acc
 * must not overlap q.
 *
 * A paged cache (pages not NULL, struct kk_kv_seq): k and v point at the
 * KV head in pool block 0, and the span's position j is the sequence's
 * position first + j (kk_attn_f16_rows() in kk_attn.h finds its rows).
 */
struct kk_attn_span {
	const float *q;
	kk_u64 q_stride;	/* floats between the heads' q */
	const void *k, *v;
	kk_u64 kv_stride;	/* cache elements between positions */
	const struct kk_kv_seq *pages;	/* NULL: contiguous from k, v */
	float *acc;
	kk_u64 acc_stride;	/* floats between the heads' acc */
	float *ml;
	kk_u32 n_pos, n_q, head_dim;
	kk_u32 first;		/* paged: the sequence's position of j = 0 */
	float scale, softcap;
};
/*
 * One (row, query head) of attention computed whole, for a path whose
 * sums run over all positions in one order (the ggml path): q (head_dim
 * floats), the KV head's cache from position 0 (k, v; positions kv_stride
 * elements apart), the positions [j0, j1) to attend to, and y (head_dim
 * floats; 0 if the range is empty).  s_j = scale * dot(f16(q), k_j),
 * capped as softcap * tanh(s_j / softcap) when softcap is not 0.  A
 * paged cache (pages not NULL): k and v point at the KV head in pool block
 * 0 (kk_kv_read_at() in kk_ops_common.h finds position j).
 */
struct kk_attn_row {
	const float *q;
	const kk_u16 *k, *v;
	kk_u64 kv_stride;
	const struct kk_kv_seq *pages;	/* NULL: contiguous from k, v */
	float *y;
	kk_u32 j0, j1, head_dim;
	float scale, softcap;
};
/* RoPE sin/cos are computed this many frequency pairs at a time. */
#define KK_ROPE_PAIRS_BLOCK 32

struct kk_ops_impl {
	/* y = x / sqrt(mean(x^2) + eps), then * w if w; x^2 summed in double */
	void (*rmsnorm)(float *y, const float *x, const float *w, kk_u32 n,
			float eps);
	/*
	 * Rotate pairs p = 0 .. n_pairs-1 of one head: (x[2p], x[2p+1]) when
	 * @neox_half is 0, else (x[p], x[p + neox_half]); by angles with
	 * cos_t[p], sin_t[p].  Only the rotated elements are written.
	 * x may equal y.
	 */
	void (*rope)(float *y, const float *x, const float *cos_t,
		     const float *sin_t, kk_u32 n_pairs, kk_u32 neox_half);
	/* y = softmax(x * scale); y may equal x */
	void (*softmax)(float *y, const float *x, kk_u32 n, float scale);
	/* y = f(x), enum kk_unary_fn */
	void (*unary)(float *y, const float *x, kk_u32 n, kk_u32 fn);
	/* y = f(gate) * up */
	void (*glu)(float *y, const float *gate, const float *up, kk_u32 n,
		    kk_u32 fn);
	/* y = a op b, enum kk_binary_fn */
	void (*binary)(float *y, const float *a, const float *b, kk_u32 n,
		       kk_u32 fn);
	/* y = x * s */
	void (*scale)(float *y, const float *x, kk_u32 n, float s);
	/* f32 -> IEEE half, round to nearest even */
	void (*f32_to_f16)(kk_u16 *y, const float *x, kk_u32 n);
	/* One span of attention over an F16 cache (struct kk_attn_span). */
	void (*attn_f16)(const struct kk_attn_span *sp);
	/*
	 * NULL (the scalar reference of kk_attention.c, ggml's arithmetic),
	 * or one span over a Q8_0 cache: k, v bytes, kv_stride in elements;
	 * q of each head is quantized to Q8_0 and meets K in integers per
	 * block.
	 */
	void (*attn_q8_0)(const struct kk_attn_span *sp);
	/*
	 * NULL, or whole rows of attention over an F16 cache instead of
	 * spans (struct kk_attn_row): kk_attention.c then runs one stage of
	 * rows * n_head items.
	 */
	void (*attn_row_f16)(const struct kk_attn_row *r);
	/* sin and cos of one angle, for the RoPE tables */
	void (*sincos)(float a, float *s, float *c);
	/* Index of the largest element; lowest on ties; NaNs are skipped;
	 * 0 if there is no element above -inf. */
	kk_u32 (*argmax)(const float *x, kk_u32 n);
};

#endif /* KLLM_KK_IMPL_OPS_H */
