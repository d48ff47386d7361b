// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops.c - the float work of the row-wise op classes: RMSNorm, softmax,
 * unary, GLU, binary, scale, get_rows and argmax, one row per item,
 * through the selected path's table.  Their shapes (check, item counts)
 * are in kk_ops_shape.c; RoPE lives in kk_rope.c, the KV store and
 * attention in kk_attention.c.
 *
 * An FPU unit: reached only through kk_op_run.
 *
 * A row longer than KK_ROW_SEG is cut into segments, one item each (its
 * shape: kk_ops_shape.c).  Element-wise ops and get_rows just run each
 * segment: the path computes every element alone, so the bits are the
 * whole row's.  Reductions take stages and keep a partial per segment in
 * op->scratch: argmax combines them exactly; softmax and RMSNorm then use
 * the scalar formulas with the sums grouped by segment.
 */
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_ops_common.h"
#include "kk_quant.h"

/*
 * Item i of a row op (kk_ops_common.h): row, first element and length of
 * its segment.  A row of at most KK_ROW_SEG elements is one whole item,
 * which the path's row function computes as it always has.
 */
struct row_seg {
	kk_u64 row, first;
	kk_u32 len;
};

static struct row_seg row_seg_of(kk_u64 i, kk_u32 n)
{
	const kk_u64 segs = kk_row_segs(n);
	struct row_seg s = { .row = i / segs, .first = i % segs * KK_ROW_SEG };

	s.len = n - s.first < KK_ROW_SEG ? (kk_u32)(n - s.first) : KK_ROW_SEG;
	return s;
}

/* A segment's partial result (KK_ROW_PART_BYTES in op->scratch). */
struct row_part {
	double sum;
	float max;
	kk_u32 idx;
};

_Static_assert(sizeof(struct row_part) == KK_ROW_PART_BYTES, "row_part");

/* The partials of row @row, or NULL if the op has no scratch. */
static struct row_part *row_parts(const struct kk_op *op, kk_u64 row,
				  kk_u32 n)
{
	struct row_part *parts = op->scratch;

	return parts ? parts + row * kk_row_segs(n) : parts;
}

/* ---- RMSNorm ---- */

/* Stage 0 of a long row: the segment's sum of squares, as rmsnorm_scalar. */
static void rmsnorm_seg_sum(const struct kk_rmsnorm *p, struct row_seg s,
			    struct row_part *part)
{
	const float *x = p->x + s.row * p->x_stride + s.first;
	double sum = 0.0;
	kk_u32 i;

	for (i = 0; i < s.len; i++)
		sum += (double)(x[i] * x[i]);
	part->sum = sum;
}

/* Stage 1: the row's scale from every segment's sum, applied to this one. */
static void rmsnorm_seg_scale(const struct kk_rmsnorm *p, struct row_seg s,
			      const struct row_part *parts)
{
	const float *x = p->x + s.row * p->x_stride + s.first;
	float *y = p->y + s.row * p->y_stride + s.first;
	const kk_u64 segs = kk_row_segs(p->n);
	float mean, scale;
	double sum = 0.0;
	kk_u64 k;
	kk_u32 i;

	for (k = 0; k < segs; k++)
		sum += parts[k].sum;
	mean = (float)(sum / (double)p->n);
	scale = 1.0f / __builtin_sqrtf(mean + kk_u32_as_f32(p->eps_bits));
	for (i = 0; i < s.len; i++)
		y[i] = p->w ? (x[i] * scale) * p->w[s.first + i] : x[i] * scale;
}

void kk_run_rmsnorm(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		    kk_u64 end)
{
	const struct kk_rmsnorm *p = &op->rmsnorm;
	const float eps = kk_u32_as_f32(p->eps_bits);
	struct row_part *parts;
	struct row_seg s;
	kk_u64 i;

	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		if (s.len == p->n) {
			kk_impl_cur->ops.rmsnorm(p->y + s.row * p->y_stride,
						 p->x + s.row * p->x_stride,
						 p->w, p->n, eps);
			continue;
		}
		parts = row_parts(op, s.row, p->n);
		if (!parts)
			return;
		if (stage == 0)
			rmsnorm_seg_sum(p, s, &parts[s.first / KK_ROW_SEG]);
		else
			rmsnorm_seg_scale(p, s, parts);
	}
}

/* ---- softmax ---- */

/*
 * A long row, as softmax_scalar in three stages: each segment's maximum;
 * then e = exp(x * scale - row maximum) and the segment's sum of them; then
 * e * (1 / row sum).  The maximum and e are the whole row's; only the
 * double sum is grouped by segment.
 */
static void softmax_seg(const struct kk_softmax *p, kk_u32 stage,
			struct row_seg s, struct row_part *parts)
{
	const float *x = p->x + s.row * p->x_stride + s.first;
	float *y = p->y + s.row * p->y_stride + s.first;
	const float scale = kk_u32_as_f32(p->scale_bits);
	const kk_u64 segs = kk_row_segs(p->n);
	struct row_part *part = &parts[s.first / KK_ROW_SEG];
	float max = -__builtin_inff(), inv;
	double sum = 0.0;
	kk_u64 k;
	kk_u32 i;

	if (stage == 0) {
		for (i = 0; i < s.len; i++) {
			float v = x[i] * scale;

			max = v > max ? v : max;
		}
		part->max = max;
		return;
	}
	if (stage == 1) {
		for (k = 0; k < segs; k++)
			max = parts[k].max > max ? parts[k].max : max;
		for (i = 0; i < s.len; i++) {
			float e = kk_expf(x[i] * scale - max);

			y[i] = e;
			sum += (double)e;
		}
		part->sum = sum;
		return;
	}
	for (k = 0; k < segs; k++)
		sum += parts[k].sum;
	inv = (float)(1.0 / sum);
	for (i = 0; i < s.len; i++)
		y[i] *= inv;
}

void kk_run_softmax(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		    kk_u64 end)
{
	const struct kk_softmax *p = &op->softmax;
	const float scale = kk_u32_as_f32(p->scale_bits);
	struct row_part *parts;
	struct row_seg s;
	kk_u64 i;

	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		if (s.len == p->n) {
			kk_impl_cur->ops.softmax(p->y + s.row * p->y_stride,
						 p->x + s.row * p->x_stride,
						 p->n, scale);
			continue;
		}
		parts = row_parts(op, s.row, p->n);
		if (!parts)
			return;
		softmax_seg(p, stage, s, parts);
	}
}

/* ---- unary ---- */

void kk_run_unary(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		  kk_u64 end)
{
	const struct kk_unary *p = &op->unary;
	struct row_seg s;
	kk_u64 i;

	(void)stage;
	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		kk_impl_cur->ops.unary(p->y + s.row * p->y_stride + s.first,
				       p->x + s.row * p->x_stride + s.first,
				       s.len, p->fn);
	}
}

/* ---- GLU ---- */

void kk_run_glu(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		kk_u64 end)
{
	const struct kk_glu *p = &op->glu;
	struct row_seg s;
	kk_u64 i;

	(void)stage;
	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		kk_impl_cur->ops.glu(p->y + s.row * p->y_stride + s.first,
				     p->gate + s.row * p->gate_stride + s.first,
				     p->up + s.row * p->up_stride + s.first,
				     s.len, p->fn);
	}
}

/* ---- binary ---- */

void kk_run_binary(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		   kk_u64 end)
{
	const struct kk_binary *p = &op->binary;
	struct row_seg s;
	kk_u64 i;

	(void)stage;
	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		kk_impl_cur->ops.binary(p->y + s.row * p->y_stride + s.first,
					p->a + s.row * p->a_stride + s.first,
					p->b + s.row * p->b_stride + s.first,
					s.len, p->fn);
	}
}

/* ---- scale ---- */

void kk_run_scale(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		  kk_u64 end)
{
	const struct kk_scale *p = &op->scale;
	const float f = kk_u32_as_f32(p->scale_bits);
	struct row_seg s;
	kk_u64 i;

	(void)stage;
	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		kk_impl_cur->ops.scale(p->y + s.row * p->y_stride + s.first,
				       p->x + s.row * p->x_stride + s.first,
				       s.len, f);
	}
}

/* ---- get_rows: gather table rows by id, dequantized to float ---- */

void kk_run_get_rows(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		     kk_u64 end)
{
	const struct kk_get_rows *p = &op->get_rows;
	struct row_seg s;
	kk_i32 id;
	float *y;
	kk_u64 i;

	(void)stage;
	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		id = p->ids[s.row];
		y = p->y + s.row * p->y_stride + s.first;

		/* ids may come from userspace: never read outside the table */
		if (id < 0 || (kk_u32)id >= p->n_rows_table) {
			__builtin_memset(y, 0, (kk_u64)s.len * sizeof(float));
			continue;
		}
		/* segments start on a block: KK_ROW_SEG is a multiple of 256 */
		kk_ref_dequant_row(p->type,
				   (const kk_u8 *)p->table +
				   (kk_u64)id * p->table_row_bytes +
				   kk_row_bytes(p->type, s.first), y, s.len);
	}
}

/* ---- argmax ---- */

/*
 * A long row: the path's argmax of each segment, then the largest of
 * those, the earliest segment on ties.  That is exactly the whole row's
 * answer: the largest element, lowest index on ties, NaNs skipped, 0 if
 * there is no element above -inf.
 */
static void argmax_seg(const struct kk_argmax *p, struct row_seg s,
		       struct row_part *part)
{
	const float *x = p->x + s.row * p->x_stride + s.first;
	const kk_u32 idx = kk_impl_cur->ops.argmax(x, s.len);
	const float v = x[idx];

	/* idx 0 also means "nothing above -inf" (v NaN or -inf then) */
	part->max = v > -__builtin_inff() ? v : -__builtin_inff();
	part->idx = (kk_u32)s.first + idx;
}

static void argmax_combine(const struct kk_argmax *p, kk_u64 row,
			   const struct row_part *parts)
{
	const kk_u64 segs = kk_row_segs(p->n);
	float max = -__builtin_inff();
	kk_u32 idx = 0;
	kk_u64 k;

	if (!parts)
		return;
	for (k = 0; k < segs; k++) {
		if (parts[k].max > max) {
			max = parts[k].max;
			idx = parts[k].idx;
		}
	}
	p->idx[row] = (kk_i32)idx;
}

void kk_run_argmax(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		   kk_u64 end)
{
	const struct kk_argmax *p = &op->argmax;
	struct row_part *parts;
	struct row_seg s;
	kk_u64 i;

	if (stage == 1) {
		for (i = begin; i < end; i++)
			argmax_combine(p, i, row_parts(op, i, p->n));
		return;
	}
	for (i = begin; i < end; i++) {
		s = row_seg_of(i, p->n);
		if (s.len == p->n) {
			p->idx[s.row] = (kk_i32)kk_impl_cur->ops.argmax(
				p->x + s.row * p->x_stride, p->n);
			continue;
		}
		parts = row_parts(op, s.row, p->n);
		if (!parts)
			return;
		argmax_seg(p, s, &parts[s.first / KK_ROW_SEG]);
	}
}
