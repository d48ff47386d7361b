/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_ggml.h - internal: what the two halves of the "ggml" path
 * (kk_mm_ggml_avx2.c, kk_ops_ggml_avx2.c) share.
 *
 * The path reproduces the arithmetic of llama.cpp's ggml-cpu as built for
 * x86 with AVX2/AVX-512 (GGML_NATIVE on such a CPU, weight repacking off,
 * flash attention off, one token per decode): the same operations on the
 * same values in the same order, so that kllm's logits equal llama.cpp's
 * bit for bit and a golden test can hold kllm to llama.cpp exactly
 * (docs/PERF.md, "Matching llama.cpp's logits").  It is written from that
 * arithmetic, not from ggml's source.  Speed is not its point: most of it
 * is scalar code that spells the order out.
 *
 * ggml takes sin, cos, tanh and exp (in tails) from the C library, so the
 * path does too, through the functions the userspace home lends it
 * (kk_ggml_set_libm); without them, and in the module, the path does not
 * exist.
 */
#ifndef KLLM_KK_GGML_H
#define KLLM_KK_GGML_H

#include "kk_impl.h"

/* ggml's hsum_float_8: ((a4+a0)+(a6+a2)) + ((a5+a1)+(a7+a3)). */
static inline float kk_ggml_hsum8(const float *a)
{
	return ((a[4] + a[0]) + (a[6] + a[2])) + ((a[5] + a[1]) + (a[7] + a[3]));
}

/* GCC's _mm512_reduce_add_ps: halves of 8, of 4, then (0+2) + (1+3). */
static inline float kk_ggml_reduce16(const float *a)
{
	float t[8];
	int i;

	for (i = 0; i < 8; i++)
		t[i] = a[i + 8] + a[i];
	for (i = 0; i < 4; i++)
		t[i] = t[i + 4] + t[i];
	return (t[0] + t[2]) + (t[1] + t[3]);
}

#endif /* KLLM_KK_GGML_H */
