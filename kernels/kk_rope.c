// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_rope.c - rotary position embedding, as ggml_rope_ext without YaRN
 * (ext_factor 0, attn_factor 1).  One item is one token row (all heads), or
 * a block of its heads where the row is longer than KK_ROW_SEG.
 *
 * The angles follow ggml's float arithmetic exactly, because RoPE angles
 * grow with the position and any difference in them is amplified:
 *   theta_scale = powf(freq_base, -2.0f / n_dims)
 *   theta_0 = (float)pos, theta_{i+1} = theta_i * theta_scale
 *   angle_i = freq_scale * (theta_i / freq_factors[i])
 * sin/cos are computed once per token (kk_sincosf, ~correctly rounded) for a
 * block of pairs at a time and then applied to every head by the path's
 * rotation function, so all SIMD paths rotate with identical angles.
 *
 * An FPU unit, reached only through kk_op_run; the op's shape (check, item
 * counts) is integer code in kk_rope_shape.c.
 */
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_ops_common.h"

/*
 * Heads [h0, h1) of row r.  Every item of a row computes the row's angles
 * the same way, so splitting a row's heads among items changes no bit.
 */
static void rope_row(const struct kk_rope *p, kk_u64 r, kk_u32 h0, kk_u32 h1,
		     float theta_scale, float freq_scale)
{
	float cos_t[KK_ROPE_PAIRS_BLOCK], sin_t[KK_ROPE_PAIRS_BLOCK];
	const float *x = p->x + r * p->x_stride;
	float *y = p->y + r * p->y_stride;
	const kk_u32 n_pairs = p->n_dims / 2;
	const kk_u32 neox_half = p->mode == KK_ROPE_NEOX ? n_pairs : 0;
	float theta = (float)p->pos[r];
	kk_u32 b, i, h;

	for (b = 0; b < n_pairs; b += KK_ROPE_PAIRS_BLOCK) {
		kk_u32 cnt = n_pairs - b < KK_ROPE_PAIRS_BLOCK ?
			     n_pairs - b : KK_ROPE_PAIRS_BLOCK;
		/* first element of pair b: 2b for NORMAL, b for NEOX */
		kk_u32 first = neox_half ? b : 2 * b;

		for (i = 0; i < cnt; i++) {
			const float ff = p->freq_factors ?
					 p->freq_factors[b + i] : 1.0f;

			kk_impl_cur->ops.sincos(freq_scale * (theta / ff),
						&sin_t[i], &cos_t[i]);
			theta *= theta_scale;
		}
		for (h = h0; h < h1; h++) {
			kk_u64 o = (kk_u64)h * p->head_dim + first;

			kk_impl_cur->ops.rope(y + o, x + o, cos_t, sin_t, cnt,
					      neox_half);
		}
	}
	if (x == y || p->n_dims == p->head_dim)
		return;
	for (h = h0; h < h1; h++) {
		kk_u64 o = (kk_u64)h * p->head_dim + p->n_dims;

		__builtin_memcpy(y + o, x + o,
				 (kk_u64)(p->head_dim - p->n_dims) * sizeof(float));
	}
}

void kk_run_rope(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		 kk_u64 end)
{
	const struct kk_rope *p = &op->rope;
	const float freq_base = kk_u32_as_f32(p->freq_base_bits);
	const float freq_scale = kk_u32_as_f32(p->freq_scale_bits);
	const float theta_scale = kk_powf(freq_base, -2.0f / (float)p->n_dims);
	const kk_u32 per = kk_rope_row_items(p), hb = kk_rope_item_heads(p);
	kk_u32 h0, h1;
	kk_u64 i;

	(void)stage;
	for (i = begin; i < end; i++) {
		h0 = (kk_u32)(i % per) * hb;
		h1 = p->n_head - h0 < hb ? p->n_head : h0 + hb;
		rope_row(p, i / per, h0, h1, theta_scale, freq_scale);
	}
}
