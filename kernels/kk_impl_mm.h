/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_impl_mm.h - internal: the matmul half of a SIMD path's table.
 * Owned by kk_matmul.c and the kk_mm_*.c files.
 *
 * A matmul runs in two stages (kk_matmul.c):
 *   0. each activation row x[c] is quantized once, by mm->quant[w_type],
 *      into kk_mm_xq_bytes(w_type, k) bytes of op->scratch;
 *   1. mm->gemm[w_type] computes tiles of y from weight rows and those
 *      quantized rows.
 * Every entry is indexed by the WEIGHT type, so a path may pair a weight
 * type with its own activation layout: it must start with the standard
 * blocks of kk_type_vec_dot_type(w_type) (what the scalar path and the
 * tests see), and may use the extras kk_mm_xq_bytes() leaves after them
 * (per-block scales as floats, for instance).  A path that overrides gemm
 * but not quant gets the scalar (standard) layout.  F32 weights need no
 * quantization: quant is NULL and the gemm reads x directly.
 *
 * The row size is the same for every path and computed with integers only:
 * check() and scratch_size() run outside FPU sections in the kernel home.
 *
 * Determinism: a gemm computes each y element with the same instruction
 * sequence whatever the tile shape (nr, nc) and the tile's position, so
 * results do not depend on the thread split nor on m (column c of a
 * matmul is bitwise equal to a matvec of x[c]).
 */
#ifndef KLLM_KK_IMPL_MM_H
#define KLLM_KK_IMPL_MM_H

#include "kk.h"

/* One tile: y[c * y_stride + r] (+)= dot(w row r, xq row c). */
struct kk_mm_tile {
	const void *w;		/* weight row 0 of the tile */
	kk_u64 w_row_bytes;
	const void *xq;		/* quantized activation row 0 of the tile */
	kk_u64 xq_row_bytes;	/* bytes between quantized rows */
	float *y;		/* element (row 0, column 0) */
	kk_u64 y_stride;	/* floats between columns */
	kk_u32 k;		/* elements per row */
	kk_u32 nr;		/* weight rows, >= 1 */
	kk_u32 nc;		/* activation rows (columns of y), >= 1 */
	kk_u32 accumulate;	/* add into y instead of storing */
};

typedef void (*kk_mm_quant_fn)(const float *x, void *xq, kk_u32 k);
typedef kk_u64 (*kk_mm_xq_bytes_fn)(kk_u32 k);
typedef void (*kk_mm_gemm_fn)(const struct kk_mm_tile *t);

struct kk_mm_impl {
	kk_mm_quant_fn quant[KK_TYPE_COUNT];		/* by weight type */
	kk_mm_gemm_fn gemm[KK_TYPE_COUNT];		/* by weight type */
	/*
	 * Ignored: the row size is kk_mm_xq_bytes() on every path.  Kept
	 * only until kk_mm_neon.c stops setting it; no new users.
	 */
	kk_mm_xq_bytes_fn xq_bytes[KK_TYPE_COUNT];
};

/* The standard vec_dot_type blocks of a row of k, padded to 64 bytes. */
static inline kk_u64 kk_mm_xq_bytes_std(kk_u32 w_type, kk_u32 k)
{
	kk_u64 n = kk_row_bytes(kk_type_vec_dot_type(w_type), k);

	return (n + 63) & ~(kk_u64)63;
}

/*
 * Bytes of one quantized activation row in op->scratch (0 for F32 weights,
 * which read x): the standard blocks, then for Q8_0/Q8_1 activations 8
 * bytes per block, padded to 16 blocks, of extras (kk_mm_x86.h keeps each
 * block's d and its sum of qs or s there as floats), then another
 * 32 bytes per padded block (kk_mm_x86_t.h: the qs transposed, one int32
 * lane per block).  A multiple of 64.
 */
static inline kk_u64 kk_mm_xq_bytes(kk_u32 w_type, kk_u32 k)
{
	kk_u32 vdt = kk_type_vec_dot_type(w_type);
	kk_u64 n = kk_mm_xq_bytes_std(w_type, k);

	if (w_type == KK_TYPE_F32)
		return 0;
	if (vdt == KK_TYPE_Q8_0 || vdt == KK_TYPE_Q8_1)
		n += 8 * (((kk_u64)k / 32 + 15) & ~(kk_u64)15);
	if (vdt == KK_TYPE_Q8_0 || vdt == KK_TYPE_Q8_1)
		n += 32 * (((kk_u64)k / 32 + 15) & ~(kk_u64)15);
	return n;
}

#if defined(__x86_64__)
/* kk_mm_avx512vnni.c; called by kk_mm_init_avx512 when the CPU has VNNI. */
void kk_mm_init_avx512vnni(struct kk_mm_impl *mm, kk_u32 cpu_flags);
#endif

#endif /* KLLM_KK_IMPL_MM_H */
