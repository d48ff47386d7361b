/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_blocks.h - quantized block layouts, bit-compatible with ggml/GGUF
 * (ggml-common.h).  f16 fields are raw IEEE half bit patterns.
 */
#ifndef KLLM_KK_BLOCKS_H
#define KLLM_KK_BLOCKS_H

#include "kk.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

struct kk_block_q4_0 {
	kk_u16 d;
	kk_u8 qs[QK4_0 / 2];	/* element j: low nibble of qs[j]; j+16: high */
};

struct kk_block_q4_1 {
	kk_u16 d;
	kk_u16 m;
	kk_u8 qs[QK4_1 / 2];
};

struct kk_block_q5_0 {
	kk_u16 d;
	kk_u8 qh[4];		/* 5th bit of each element, little endian u32 */
	kk_u8 qs[QK5_0 / 2];
};

struct kk_block_q5_1 {
	kk_u16 d;
	kk_u16 m;
	kk_u8 qh[4];
	kk_u8 qs[QK5_1 / 2];
};

struct kk_block_q8_0 {
	kk_u16 d;
	kk_i8 qs[QK8_0];
};

struct kk_block_q8_1 {
	kk_u16 d;
	kk_u16 s;		/* d * sum(qs) */
	kk_i8 qs[QK8_1];
};

struct kk_block_q4_K {
	kk_u16 d;
	kk_u16 dmin;
	kk_u8 scales[K_SCALE_SIZE];	/* 6-bit scales and mins, packed */
	kk_u8 qs[QK_K / 2];
};

struct kk_block_q5_K {
	kk_u16 d;
	kk_u16 dmin;
	kk_u8 scales[K_SCALE_SIZE];
	kk_u8 qh[QK_K / 8];
	kk_u8 qs[QK_K / 2];
};

struct kk_block_q6_K {
	kk_u8 ql[QK_K / 2];	/* low 4 bits */
	kk_u8 qh[QK_K / 4];	/* high 2 bits */
	kk_i8 scales[QK_K / 16];
	kk_u16 d;
};

struct kk_block_q8_K {
	float d;		/* note: f32, not f16 */
	kk_i8 qs[QK_K];
	kk_i16 bsums[QK_K / 16];	/* sums of groups of 16 */
};

_Static_assert(sizeof(struct kk_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(struct kk_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(struct kk_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(struct kk_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(struct kk_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(struct kk_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(struct kk_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(struct kk_block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(struct kk_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(struct kk_block_q8_K) == 292, "q8_K");

#endif /* KLLM_KK_BLOCKS_H */
