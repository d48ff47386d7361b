// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_scalar.c - the portable matmul path: activations quantized by the
 * reference quantizers, every y element one kk_ref_vec_dot.  Every other
 * path starts from this table and is tested against it.  FPU unit.
 */
#include "kk_impl.h"
#include "kk_quant.h"

static inline void mm_scalar_tile(kk_u32 w_type, const struct kk_mm_tile *t)
{
	const kk_u8 *w = t->w;

	for (kk_u32 r = 0; r < t->nr; r++, w += t->w_row_bytes) {
		const kk_u8 *xq = t->xq;
		float *y = t->y + r;

		for (kk_u32 c = 0; c < t->nc; c++) {
			const float v = kk_ref_vec_dot(w_type, t->k, w, xq);

			*y = t->accumulate ? *y + v : v;
			xq += t->xq_row_bytes;
			y += t->y_stride;
		}
	}
}

/* One gemm and one quantizer per weight type. */
#define KK_MM_SCALAR(name, wtype, vtype)					\
static void mm_gemm_##name(const struct kk_mm_tile *t)			\
{									\
	mm_scalar_tile(wtype, t);					\
}									\
static void mm_quant_##name(const float *x, void *xq, kk_u32 k)		\
{									\
	kk_ref_quantize_row(vtype, x, xq, k);				\
}

KK_MM_SCALAR(f16, KK_TYPE_F16, KK_TYPE_F16)
KK_MM_SCALAR(bf16, KK_TYPE_BF16, KK_TYPE_BF16)
KK_MM_SCALAR(q4_0, KK_TYPE_Q4_0, KK_TYPE_Q8_0)
KK_MM_SCALAR(q4_1, KK_TYPE_Q4_1, KK_TYPE_Q8_1)
KK_MM_SCALAR(q5_0, KK_TYPE_Q5_0, KK_TYPE_Q8_0)
KK_MM_SCALAR(q5_1, KK_TYPE_Q5_1, KK_TYPE_Q8_1)
KK_MM_SCALAR(q8_0, KK_TYPE_Q8_0, KK_TYPE_Q8_0)
KK_MM_SCALAR(q4_K, KK_TYPE_Q4_K, KK_TYPE_Q8_K)
KK_MM_SCALAR(q5_K, KK_TYPE_Q5_K, KK_TYPE_Q8_K)
KK_MM_SCALAR(q6_K, KK_TYPE_Q6_K, KK_TYPE_Q8_K)

/* F32 weights read x itself: no quantizer, no scratch. */
static void mm_gemm_f32(const struct kk_mm_tile *t)
{
	mm_scalar_tile(KK_TYPE_F32, t);
}

#define KK_MM_SET(mm, T, name)						\
	do {								\
		(mm)->gemm[T] = mm_gemm_##name;				\
		(mm)->quant[T] = mm_quant_##name;			\
	} while (0)

void kk_mm_init_scalar(struct kk_mm_impl *mm)
{
	__builtin_memset(mm, 0, sizeof(*mm));
	mm->gemm[KK_TYPE_F32] = mm_gemm_f32;
	KK_MM_SET(mm, KK_TYPE_F16, f16);
	KK_MM_SET(mm, KK_TYPE_BF16, bf16);
	KK_MM_SET(mm, KK_TYPE_Q4_0, q4_0);
	KK_MM_SET(mm, KK_TYPE_Q4_1, q4_1);
	KK_MM_SET(mm, KK_TYPE_Q5_0, q5_0);
	KK_MM_SET(mm, KK_TYPE_Q5_1, q5_1);
	KK_MM_SET(mm, KK_TYPE_Q8_0, q8_0);
	KK_MM_SET(mm, KK_TYPE_Q4_K, q4_K);
	KK_MM_SET(mm, KK_TYPE_Q5_K, q5_K);
	KK_MM_SET(mm, KK_TYPE_Q6_K, q6_K);
}
