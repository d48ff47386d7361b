// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_rope_shape.c - the shape of the RoPE op (kk_rope.c): one item is one
 * token row, all heads, or a block of its heads where the row is longer
 * than KK_ROW_SEG elements.  Integers only, in a non-FPU unit: the validator,
 * the lowering and the engine call these outside any FPU section.
 */
#include "kk_impl.h"
#include "kk_ops_common.h"

static int rope_check(const struct kk_op *op)
{
	const struct kk_rope *p = &op->rope;
	kk_u64 row = (kk_u64)p->n_head * p->head_dim;

	/* a head is rotated within one work item: bound it */
	if (!p->n_head || !p->head_dim || p->head_dim > KK_ROW_SEG)
		return -KK_EINVAL;
	if (!p->n_dims || (p->n_dims & 1) || p->n_dims > p->head_dim)
		return -KK_EINVAL;
	if (p->mode != KK_ROPE_NORMAL && p->mode != KK_ROPE_NEOX)
		return -KK_EINVAL;
	/* freq_base > 0 and finite; freq_scale finite */
	if (!kk_bits_finite(p->freq_base_bits) ||
	    (p->freq_base_bits & 0x80000000u) || kk_bits_zero(p->freq_base_bits))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->freq_scale_bits))
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, row))
		return -KK_EINVAL;
	return 0;
}

/* One item per row, or per block of heads of a row longer than KK_ROW_SEG. */
static kk_u64 rope_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return (kk_u64)op->rope.rows * kk_rope_row_items(&op->rope);
}

static kk_u64 rope_chunk(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_rope *p = &op->rope;

	(void)stage;
	/* the sin/cos of a pair costs about as much as rotating 16 pairs */
	return kk_chunk_rows((kk_u64)kk_rope_item_heads(p) * p->head_dim +
			     8ull * p->n_dims, KK_CHUNK_CHEAP);
}

const struct kk_op_class kk_class_rope = {
	.check = rope_check,
	.items = rope_items,
	.chunk_items = rope_chunk,
};
