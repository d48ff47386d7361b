/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_ops_common.h - internal helpers shared by the non-matmul op classes.
 * Integers only.
 */
#ifndef KLLM_KK_OPS_COMMON_H
#define KLLM_KK_OPS_COMMON_H

#include "kk.h"

/*
 * Elements per chunk.  A chunk must stay well under 100 us natively even on
 * the scalar path: about 2-5 ns per element for exp-based ops, under 1 ns
 * for the rest.
 */
#define KK_CHUNK_EXP 4096
#define KK_CHUNK_CHEAP 16384
/* Multiply-adds per attention chunk (K dot + V axpy per position). */
#define KK_CHUNK_ATTN 32768

/* A float bit pattern that is neither inf nor NaN. */
static inline int kk_bits_finite(kk_u32 bits)
{
	return (bits & 0x7f800000u) != 0x7f800000u;
}

static inline int kk_bits_negative(kk_u32 bits)
{
	return (bits & 0x80000000u) && (bits & 0x7fffffffu);
}

static inline int kk_bits_zero(kk_u32 bits)
{
	return !(bits & 0x7fffffffu);
}

/* Output rows must not overlap, or results would depend on thread order. */
static inline int kk_rows_ok(kk_u32 rows, kk_u64 stride, kk_u64 row_elems)
{
	return rows <= 1 || stride >= row_elems;
}

/* Rows per chunk for rows of @n elements and a budget of @elems. */
static inline kk_u64 kk_chunk_rows(kk_u64 n, kk_u64 elems)
{
	kk_u64 c = n ? elems / n : elems;

	return c ? c : 1;
}

/*
 * The most elements of one row that one work item touches.  The caller
 * picks row lengths, and an item runs in one non-preemptible FPU section in
 * the kernel home, so a longer row is cut into segments of KK_ROW_SEG
 * elements (the last one shorter), numbered row-major: item = row * segs +
 * segment.  The cut depends on the shape alone.  8k elements (32 KiB of
 * floats) keep the longest item of an adversarial shape within a small
 * multiple of a real model's longest (attention spans, matmul tiles), even
 * where a long row takes the scalar formula (softmax's exp).  Every row a
 * real model normalises (8k elements up to 70B models) is one segment, so
 * its bits are the path's row function's; element-wise ops, RoPE's heads, the KV
 * store and get_rows compute each element alone, so cutting their rows
 * changes no bit; an argmax over a vocabulary runs in segments and is
 * exact; no real program has a softmax op.
 */
#define KK_ROW_SEG (1u << 13)

/* Segments of a row of @n elements (1 for an empty row). */
static inline kk_u64 kk_row_segs(kk_u64 n)
{
	return n > KK_ROW_SEG ? (n + KK_ROW_SEG - 1) / KK_ROW_SEG : 1;
}

/* Items per chunk of a segmented row op: kk_chunk_rows of one segment. */
static inline kk_u64 kk_chunk_segs(kk_u64 n, kk_u64 elems)
{
	return kk_chunk_rows(n < KK_ROW_SEG ? n : KK_ROW_SEG, elems);
}

/*
 * RoPE: heads per item, so that an item rotates at most KK_ROW_SEG elements
 * of its row (a whole row for every real model).  kk_rope_shape.c caps
 * head_dim at KK_ROW_SEG, so one head always fits.
 */
static inline kk_u32 kk_rope_item_heads(const struct kk_rope *p)
{
	kk_u32 h = p->head_dim ? KK_ROW_SEG / p->head_dim : 1;

	h = h ? h : 1;
	return h < p->n_head ? h : p->n_head;
}

/* RoPE items per row. */
static inline kk_u32 kk_rope_row_items(const struct kk_rope *p)
{
	const kk_u32 h = kk_rope_item_heads(p);

	return h ? (p->n_head + h - 1) / h : 1;
}

/*
 * Scratch bytes per (row, segment) of a reduction whose rows are cut
 * (softmax, RMSNorm, argmax): one partial result (kk_ops.c).
 */
#define KK_ROW_PART_BYTES 16u

/* ---- KV caches (struct kk_kv_seq) ---- */

/* kk_kv_paged_off(): the row's block id is not in the pool. */
#define KK_KV_NO_ROW (~0ull)

/*
 * Whether paged cache @s (blocks not NULL) is well formed for rows of
 * @row_bytes: a block holds its B rows, the pool's offsets fit 64 bits and
 * the table covers ctx.  O(1), so the kernels check every row they serve.
 */
static inline int kk_kv_paged_ok(const struct kk_kv_seq *s, kk_u64 row_bytes)
{
	kk_u64 pool;

	if (s->block_shift > KK_KV_MAX_BLOCK_SHIFT ||
	    __builtin_mul_overflow((kk_u64)s->n_pool, s->block_bytes, &pool))
		return 0;
	if (row_bytes > (~0ull >> KK_KV_MAX_BLOCK_SHIFT) ||
	    s->block_bytes < row_bytes << s->block_shift)
		return 0;
	return ((kk_u64)s->n_blocks << s->block_shift) >= s->ctx;
}

/*
 * Byte offset from the pool base of row @pos (< ctx) of paged cache @s
 * (kk_kv_paged_ok), or KK_KV_NO_ROW where its block id is not in the pool.
 * The id is read once: a table that changes meanwhile cannot get a
 * checked id swapped for an unchecked one.
 */
static inline kk_u64 kk_kv_paged_off(const struct kk_kv_seq *s, kk_u32 pos,
				     kk_u64 row_bytes)
{
	const kk_u32 id = ((const volatile kk_u32 *)s->blocks)[pos >> s->block_shift];

	if (id >= s->n_pool)
		return KK_KV_NO_ROW;
	return id * s->block_bytes +
	       (kk_u64)(pos & ((1u << s->block_shift) - 1)) * row_bytes;
}

/* A head of zeros (F16 or Q8_0): what a row outside the pool reads as. */
extern const kk_u16 kk_kv_zeros[];

/*
 * Where row @pos of a cache is read, @base being row 0 (@pages NULL:
 * contiguous) or pool block 0 (@pages: the paged sequence, checked with
 * kk_kv_paged_ok), offset to the KV head read; rows @row_bytes apart.
 */
static inline const void *kk_kv_read_at(const void *base,
					const struct kk_kv_seq *pages,
					kk_u64 row_bytes, kk_u32 pos)
{
	kk_u64 o;

	if (!pages)
		return (const kk_u8 *)base + pos * row_bytes;
	o = kk_kv_paged_off(pages, pos, row_bytes);
	return o == KK_KV_NO_ROW ? (const void *)kk_kv_zeros :
	       (const void *)((const kk_u8 *)base + o);
}

#endif /* KLLM_KK_OPS_COMMON_H */
