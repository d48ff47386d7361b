/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_attn_geo.h - internal: how an attention op is cut into work items
 * (kk_attention.c explains the two stages).  Integers only, computed from
 * the op's scalars by kk_attn_geo() in the non-FPU unit
 * kk_attention_shape.c, so the op's shape never needs an FPU section; the
 * FPU unit kk_attention.c uses the same geometry to find its items.
 */
#ifndef KLLM_KK_ATTN_GEO_H
#define KLLM_KK_ATTN_GEO_H

#include "kk_impl.h"

/*
 * Work of a stage-0 item: query heads * head_dim * positions.  Measured
 * on a loaded 2-core x86 VM: about 60 us scalar, 5 us AVX2 (so some 25 us
 * and 2 us unloaded).  Spans are powers of two in [KK_ATTN_MIN_SPAN,
 * KK_ATTN_MAX_SPAN]; heads per item are capped so that the shortest span
 * stays within the budget.
 */
#define KK_ATTN_SPAN_WORK 16384u
#define KK_ATTN_MIN_SPAN 32u
#define KK_ATTN_MAX_SPAN 512u
/* Most spans per row (stage-1 items stay bounded too): max_ctx >= 32k. */
#define KK_ATTN_MAX_SPANS 1024u
/* head_dim floats per stage-1 item. */
#define KK_ATTN_SLICE 64u
/* No bound (max_ctx and window 0): one span covers any range. */
#define KK_ATTN_SPAN_ALL 0xffffffffu

/* How an op is cut into items; integers only, from the op's scalars. */
struct kk_attn_geo {
	kk_u32 group;		/* query heads per KV head */
	kk_u32 n_sub, gi;	/* head groups per KV head, heads per group */
	kk_u32 span;		/* positions per span */
	kk_u32 n_spans;		/* spans per row, at most */
	kk_u32 n_slices;	/* stage-1 items per (row, head) */
	kk_u64 slots;		/* partials in the scratch */
};

/* Fill @g for @p; -KK_EINVAL if the op has too many spans or partials. */
int kk_attn_geo(const struct kk_attention *p, struct kk_attn_geo *g);

/* Whole rows, one (row, head) per item: the path asks, the cache is F16. */
static inline int kk_attn_by_rows(const struct kk_attention *p)
{
	return kk_impl_cur && kk_impl_cur->ops.attn_row_f16 &&
	       p->kv_type == KK_TYPE_F16;
}

#endif /* KLLM_KK_ATTN_GEO_H */
