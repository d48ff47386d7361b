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

#endif /* KLLM_KK_OPS_COMMON_H */
