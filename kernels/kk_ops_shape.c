// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops_shape.c - the shapes of the row-wise op classes (kk_ops.c):
 * RMSNorm, softmax, unary, GLU, binary, scale, get_rows and argmax.  One
 * item is one row, or one segment of a row longer than KK_ROW_SEG
 * (kk_ops_common.h); the reductions then take extra stages and a partial
 * result per segment in the scratch.
 *
 * Integers only, in a non-FPU unit: the validator, the lowering and the
 * engine call these outside any FPU section.  Float parameters are judged
 * by their bit patterns.
 */
#include "kk_impl.h"
#include "kk_ops_common.h"

/* ---- RMSNorm ---- */

static int rmsnorm_check(const struct kk_op *op)
{
	const struct kk_rmsnorm *p = &op->rmsnorm;

	if (!p->n || !kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->eps_bits) || kk_bits_negative(p->eps_bits))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 rmsnorm_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->rmsnorm.rows * kk_row_segs(op->rmsnorm.n);
}

static kk_u64 rmsnorm_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->rmsnorm.n, KK_CHUNK_CHEAP);
}

/* Long rows: sums of squares per segment, then the scaling. */
static kk_u32 rmsnorm_stages(const struct kk_op *op)
{
	return kk_row_segs(op->rmsnorm.n) > 1 ? 2 : 1;
}

static kk_u64 rmsnorm_scratch(const struct kk_op *op)
{
	const kk_u64 segs = kk_row_segs(op->rmsnorm.n);

	return segs > 1 ? op->rmsnorm.rows * segs * KK_ROW_PART_BYTES : 0;
}

const struct kk_op_class kk_class_rmsnorm = {
	.check = rmsnorm_check,
	.scratch_size = rmsnorm_scratch,
	.stages = rmsnorm_stages,
	.items = rmsnorm_items,
	.chunk_items = rmsnorm_chunk,
};

/* ---- softmax ---- */

static int softmax_check(const struct kk_op *op)
{
	const struct kk_softmax *p = &op->softmax;

	if (!p->n || !kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->scale_bits))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 softmax_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->softmax.rows * kk_row_segs(op->softmax.n);
}

static kk_u64 softmax_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->softmax.n, KK_CHUNK_EXP);
}

/* Long rows: maxima per segment, then exponentials and their sums, then
 * the normalisation. */
static kk_u32 softmax_stages(const struct kk_op *op)
{
	return kk_row_segs(op->softmax.n) > 1 ? 3 : 1;
}

static kk_u64 softmax_scratch(const struct kk_op *op)
{
	const kk_u64 segs = kk_row_segs(op->softmax.n);

	return segs > 1 ? op->softmax.rows * segs * KK_ROW_PART_BYTES : 0;
}

const struct kk_op_class kk_class_softmax = {
	.check = softmax_check,
	.scratch_size = softmax_scratch,
	.stages = softmax_stages,
	.items = softmax_items,
	.chunk_items = softmax_chunk,
};

/* ---- unary ---- */

static int unary_check(const struct kk_op *op)
{
	const struct kk_unary *p = &op->unary;

	if (p->fn != KK_UNARY_SILU && p->fn != KK_UNARY_GELU)
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 unary_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->unary.rows * kk_row_segs(op->unary.n);
}

static kk_u64 unary_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->unary.n, KK_CHUNK_EXP);
}

const struct kk_op_class kk_class_unary = {
	.check = unary_check,
	.items = unary_items,
	.chunk_items = unary_chunk,
};

/* ---- GLU ---- */

static int glu_check(const struct kk_op *op)
{
	const struct kk_glu *p = &op->glu;

	if (p->fn != KK_UNARY_SILU && p->fn != KK_UNARY_GELU)
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 glu_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->glu.rows * kk_row_segs(op->glu.n);
}

static kk_u64 glu_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->glu.n, KK_CHUNK_EXP);
}

const struct kk_op_class kk_class_glu = {
	.check = glu_check,
	.items = glu_items,
	.chunk_items = glu_chunk,
};

/* ---- binary ---- */

static int binary_check(const struct kk_op *op)
{
	const struct kk_binary *p = &op->binary;

	if (p->fn != KK_BINARY_ADD && p->fn != KK_BINARY_MUL)
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 binary_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->binary.rows * kk_row_segs(op->binary.n);
}

static kk_u64 binary_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->binary.n, KK_CHUNK_CHEAP);
}

const struct kk_op_class kk_class_binary = {
	.check = binary_check,
	.items = binary_items,
	.chunk_items = binary_chunk,
};

/* ---- scale ---- */

static int scale_check(const struct kk_op *op)
{
	const struct kk_scale *p = &op->scale;

	if (!kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->scale_bits))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 scale_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->scale.rows * kk_row_segs(op->scale.n);
}

static kk_u64 scale_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->scale.n, KK_CHUNK_CHEAP);
}

const struct kk_op_class kk_class_scale = {
	.check = scale_check,
	.items = scale_items,
	.chunk_items = scale_chunk,
};

/* ---- get_rows: gather table rows by id, dequantized to float ---- */

static int get_rows_check(const struct kk_op *op)
{
	const struct kk_get_rows *p = &op->get_rows;
	kk_u64 rb;

	if (!kk_type_is_weight(p->type) || !p->n)
		return -KK_EINVAL;
	rb = kk_row_bytes(p->type, p->n);
	if (!rb || p->table_row_bytes < rb)
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, p->n))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 get_rows_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->get_rows.rows * kk_row_segs(op->get_rows.n);
}

static kk_u64 get_rows_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_segs(op->get_rows.n, KK_CHUNK_CHEAP);
}

const struct kk_op_class kk_class_get_rows = {
	.check = get_rows_check,
	.items = get_rows_items,
	.chunk_items = get_rows_chunk,
};

/* ---- argmax ---- */

static int argmax_check(const struct kk_op *op)
{
	/* indices are returned as i32 */
	if (!op->argmax.n || op->argmax.n > 0x7fffffffu)
		return -KK_EINVAL;
	return 0;
}

static kk_u64 argmax_items(const struct kk_op *op, kk_u32 stage)
{
	/* stage 1 (long rows): one item per row combines its segments */
	if (stage == 1)
		return op->argmax.rows;
	return op->argmax.rows * kk_row_segs(op->argmax.n);
}

static kk_u64 argmax_chunk(const struct kk_op *op, kk_u32 stage)
{
	if (stage == 1)
		return kk_chunk_rows(kk_row_segs(op->argmax.n), KK_CHUNK_CHEAP);
	return kk_chunk_segs(op->argmax.n, KK_CHUNK_CHEAP);
}

/* Long rows: the largest element per segment, then per row. */
static kk_u32 argmax_stages(const struct kk_op *op)
{
	return kk_row_segs(op->argmax.n) > 1 ? 2 : 1;
}

static kk_u64 argmax_scratch(const struct kk_op *op)
{
	const kk_u64 segs = kk_row_segs(op->argmax.n);

	return segs > 1 ? op->argmax.rows * segs * KK_ROW_PART_BYTES : 0;
}

const struct kk_op_class kk_class_argmax = {
	.check = argmax_check,
	.scratch_size = argmax_scratch,
	.stages = argmax_stages,
	.items = argmax_items,
	.chunk_items = argmax_chunk,
};
