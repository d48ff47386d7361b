// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_matmul.c - the matmul op: y[c][r] (+)= dot(W row r, x row c).
 *
 * Stage 0 quantizes every activation row once into op->scratch (item = one
 * row of x).  Stage 1 computes y in items of KK_MM_ROWS weight rows by
 * KK_MM_COLS columns, numbered row block major, so a chunk of consecutive
 * items keeps one block of weight rows hot while it sweeps the columns.
 * The path's gemm computes each y element with the same instructions
 * whatever the tile it falls in, so the split changes nothing.
 *
 * No floating point here (float pointers only), and nothing but
 * kk_run_matmul calls into the path's table: check, sizes and item counts
 * are integer code that may run outside an FPU section.
 */
#include "kk_impl.h"

#define KK_MM_ROWS 16u			/* weight rows per stage-1 item */
#define KK_MM_COLS 16u			/* columns per stage-1 item */
#define KK_MM_CHUNK_MACS (1u << 21)	/* ~10-40 us of integer MACs */
#define KK_MM_CHUNK_WBYTES (1u << 17)	/* ~10 us of weight streaming */
#define KK_MM_CHUNK_QELEMS (1u << 14)	/* activations quantized per chunk */
/*
 * Longest inner dimension: a stage-1 item is KK_MM_ROWS x KK_MM_COLS dot
 * products of k elements and a stage-0 item quantizes one row of k, so k
 * bounds the work of one FPU section.  Real models stay far below (7B:
 * 11008-14336; 405B: 53248).
 */
#define KK_MM_MAX_K (1u << 16)

static const struct kk_mm_impl *mm_impl(void)
{
	return &kk_impl_cur->mm;
}

/* Bytes of one quantized activation row in op->scratch; 0 = x is read. */
static kk_u64 mm_xq_bytes(const struct kk_matmul *mm)
{
	return kk_mm_xq_bytes(mm->w_type, mm->k);
}

static int mm_check(const struct kk_op *op)
{
	const struct kk_matmul *mm = &op->matmul;
	kk_u64 row_bytes, tmp;

	if (mm->flags & ~(kk_u32)KK_MATMUL_FLAGS_ALL)
		return -KK_EINVAL;
	if (!kk_type_is_weight(mm->w_type) || mm->k > KK_MM_MAX_K)
		return -KK_EINVAL;
	row_bytes = kk_row_bytes(mm->w_type, mm->k);
	if (!row_bytes || mm->w_row_bytes < row_bytes)
		return -KK_EINVAL;
	if (!mm->m || !mm->n_out)
		return -KK_EINVAL;
	if (mm->x_stride < mm->k || mm->y_stride < mm->n_out)
		return -KK_EINVAL;
	/* every offset the op forms must fit in 64 bits */
	if (kk_mul_overflows(mm->w_row_bytes, mm->n_out, &tmp) ||
	    kk_mul_overflows(mm->x_stride, (kk_u64)mm->m * sizeof(float), &tmp) ||
	    kk_mul_overflows(mm->y_stride, (kk_u64)mm->m * sizeof(float), &tmp) ||
	    kk_mul_overflows(mm_xq_bytes(mm), mm->m, &tmp))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 mm_scratch_size(const struct kk_op *op)
{
	return mm_xq_bytes(&op->matmul) * op->matmul.m;
}

static kk_u32 mm_stages(const struct kk_op *op)
{
	(void)op;
	return 2;
}

static kk_u64 mm_div_up(kk_u64 a, kk_u64 b)
{
	return (a + b - 1) / b;
}

static kk_u64 mm_col_blocks(const struct kk_matmul *mm)
{
	return mm_div_up(mm->m, KK_MM_COLS);
}

static kk_u64 mm_items(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_matmul *mm = &op->matmul;

	if (stage == 0)
		return mm_xq_bytes(mm) ? mm->m : 0;
	return mm_div_up(mm->n_out, KK_MM_ROWS) * mm_col_blocks(mm);
}

static kk_u64 mm_chunk_items(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_matmul *mm = &op->matmul;
	kk_u64 cols, macs, wbytes, n_macs, n_bytes;

	if (stage == 0)
		return mm->k >= KK_MM_CHUNK_QELEMS ? 1 : KK_MM_CHUNK_QELEMS / mm->k;
	cols = mm->m < KK_MM_COLS ? mm->m : KK_MM_COLS;
	macs = (kk_u64)KK_MM_ROWS * cols * mm->k;
	wbytes = (kk_u64)KK_MM_ROWS * kk_row_bytes(mm->w_type, mm->k);
	n_macs = KK_MM_CHUNK_MACS / macs;
	n_bytes = KK_MM_CHUNK_WBYTES / wbytes;
	if (n_bytes < n_macs)
		n_macs = n_bytes;
	return n_macs ? n_macs : 1;
}

static void mm_run_quant(const struct kk_op *op, kk_u64 begin, kk_u64 end)
{
	const struct kk_matmul *mm = &op->matmul;
	kk_mm_quant_fn quant = mm_impl()->quant[mm->w_type];
	kk_u64 xq_bytes = mm_xq_bytes(mm);

	for (kk_u64 c = begin; c < end; c++)
		quant(mm->x + c * mm->x_stride,
		      (kk_u8 *)op->scratch + c * xq_bytes, mm->k);
}

/* Items [begin, end) of stage 1, merged into one tile per row block. */
static void mm_run_gemm(const struct kk_op *op, kk_u64 begin, kk_u64 end)
{
	const struct kk_matmul *mm = &op->matmul;
	kk_mm_gemm_fn gemm = mm_impl()->gemm[mm->w_type];
	kk_u64 ncb = mm_col_blocks(mm), xq_bytes = mm_xq_bytes(mm);
	struct kk_mm_tile t = {
		.w_row_bytes = mm->w_row_bytes,
		.y_stride = mm->y_stride,
		.k = mm->k,
		.accumulate = !!(mm->flags & KK_MATMUL_ACCUMULATE),
	};
	const kk_u8 *xbase = xq_bytes ? (const kk_u8 *)op->scratch :
					(const kk_u8 *)mm->x;

	t.xq_row_bytes = xq_bytes ? xq_bytes : mm->x_stride * sizeof(float);
	while (begin < end) {
		kk_u64 rb = begin / ncb, cb = begin % ncb;
		kk_u64 cb_end = ncb - cb;
		kk_u64 r0 = rb * KK_MM_ROWS, c0 = cb * KK_MM_COLS, c1;

		if (cb_end > end - begin)
			cb_end = end - begin;
		begin += cb_end;
		c1 = (cb + cb_end) * KK_MM_COLS;
		if (c1 > mm->m)
			c1 = mm->m;
		t.nr = mm->n_out - r0 < KK_MM_ROWS ? mm->n_out - r0 : KK_MM_ROWS;
		t.nc = (kk_u32)(c1 - c0);
		t.w = (const kk_u8 *)mm->w + r0 * mm->w_row_bytes;
		t.xq = xbase + c0 * t.xq_row_bytes;
		t.y = mm->y + c0 * mm->y_stride + r0;
		gemm(&t);
	}
}

void kk_run_matmul(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end)
{
	if (stage == 0)
		mm_run_quant(op, begin, end);
	else
		mm_run_gemm(op, begin, end);
}

const struct kk_op_class kk_class_matmul = {
	.check = mm_check,
	.scratch_size = mm_scratch_size,
	.stages = mm_stages,
	.items = mm_items,
	.chunk_items = mm_chunk_items,
};
