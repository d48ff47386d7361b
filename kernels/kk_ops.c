// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops.c - the row-wise op classes: RMSNorm, softmax, unary, GLU, binary,
 * scale, get_rows and argmax.  One item is one row.  RoPE lives in
 * kk_rope.c, the KV store and attention in kk_attention.c.
 *
 * check/items/chunk_items use integers only (float parameters are judged by
 * their bit patterns), so they may run outside the home's FPU section; run
 * does the float work through the selected path's table.
 */
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_ops_common.h"
#include "kk_quant.h"

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
	return op->rmsnorm.rows;
}

static kk_u64 rmsnorm_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->rmsnorm.n, KK_CHUNK_CHEAP);
}

static void rmsnorm_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
			kk_u64 end)
{
	const struct kk_rmsnorm *p = &op->rmsnorm;
	const float eps = kk_u32_as_f32(p->eps_bits);
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		kk_impl_cur->ops.rmsnorm(p->y + r * p->y_stride,
					 p->x + r * p->x_stride, p->w, p->n,
					 eps);
}

const struct kk_op_class kk_class_rmsnorm = {
	.check = rmsnorm_check,
	.items = rmsnorm_items,
	.chunk_items = rmsnorm_chunk,
	.run = rmsnorm_run,
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
	return op->softmax.rows;
}

static kk_u64 softmax_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->softmax.n, KK_CHUNK_EXP);
}

static void softmax_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
			kk_u64 end)
{
	const struct kk_softmax *p = &op->softmax;
	const float scale = kk_u32_as_f32(p->scale_bits);
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		kk_impl_cur->ops.softmax(p->y + r * p->y_stride,
					 p->x + r * p->x_stride, p->n, scale);
}

const struct kk_op_class kk_class_softmax = {
	.check = softmax_check,
	.items = softmax_items,
	.chunk_items = softmax_chunk,
	.run = softmax_run,
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
	return op->unary.rows;
}

static kk_u64 unary_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->unary.n, KK_CHUNK_EXP);
}

static void unary_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		      kk_u64 end)
{
	const struct kk_unary *p = &op->unary;
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		kk_impl_cur->ops.unary(p->y + r * p->y_stride,
				       p->x + r * p->x_stride, p->n, p->fn);
}

const struct kk_op_class kk_class_unary = {
	.check = unary_check,
	.items = unary_items,
	.chunk_items = unary_chunk,
	.run = unary_run,
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
	return op->glu.rows;
}

static kk_u64 glu_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->glu.n, KK_CHUNK_EXP);
}

static void glu_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		    kk_u64 end)
{
	const struct kk_glu *p = &op->glu;
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		kk_impl_cur->ops.glu(p->y + r * p->y_stride,
				     p->gate + r * p->gate_stride,
				     p->up + r * p->up_stride, p->n, p->fn);
}

const struct kk_op_class kk_class_glu = {
	.check = glu_check,
	.items = glu_items,
	.chunk_items = glu_chunk,
	.run = glu_run,
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
	return op->binary.rows;
}

static kk_u64 binary_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->binary.n, KK_CHUNK_CHEAP);
}

static void binary_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		       kk_u64 end)
{
	const struct kk_binary *p = &op->binary;
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		kk_impl_cur->ops.binary(p->y + r * p->y_stride,
					p->a + r * p->a_stride,
					p->b + r * p->b_stride, p->n, p->fn);
}

const struct kk_op_class kk_class_binary = {
	.check = binary_check,
	.items = binary_items,
	.chunk_items = binary_chunk,
	.run = binary_run,
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
	return op->scale.rows;
}

static kk_u64 scale_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->scale.n, KK_CHUNK_CHEAP);
}

static void scale_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		      kk_u64 end)
{
	const struct kk_scale *p = &op->scale;
	const float s = kk_u32_as_f32(p->scale_bits);
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		kk_impl_cur->ops.scale(p->y + r * p->y_stride,
				       p->x + r * p->x_stride, p->n, s);
}

const struct kk_op_class kk_class_scale = {
	.check = scale_check,
	.items = scale_items,
	.chunk_items = scale_chunk,
	.run = scale_run,
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
	return op->get_rows.rows;
}

static kk_u64 get_rows_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->get_rows.n, KK_CHUNK_CHEAP);
}

static void get_rows_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
			 kk_u64 end)
{
	const struct kk_get_rows *p = &op->get_rows;
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++) {
		const kk_i32 id = p->ids[r];
		float *y = p->y + r * p->y_stride;

		/* ids may come from userspace: never read outside the table */
		if (id < 0 || (kk_u32)id >= p->n_rows_table) {
			__builtin_memset(y, 0, (kk_u64)p->n * sizeof(float));
			continue;
		}
		kk_ref_dequant_row(p->type,
				   (const kk_u8 *)p->table +
				   (kk_u64)id * p->table_row_bytes, y, p->n);
	}
}

const struct kk_op_class kk_class_get_rows = {
	.check = get_rows_check,
	.items = get_rows_items,
	.chunk_items = get_rows_chunk,
	.run = get_rows_run,
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
	(void)stage;
	return op->argmax.rows;
}

static kk_u64 argmax_chunk(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return kk_chunk_rows(op->argmax.n, KK_CHUNK_CHEAP);
}

static void argmax_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		       kk_u64 end)
{
	const struct kk_argmax *p = &op->argmax;
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		p->idx[r] = (kk_i32)kk_impl_cur->ops.argmax(p->x + r * p->x_stride,
							   p->n);
}

const struct kk_op_class kk_class_argmax = {
	.check = argmax_check,
	.items = argmax_items,
	.chunk_items = argmax_chunk,
	.run = argmax_run,
};
