// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_rope.c - rotary position embedding, as ggml_rope_ext without YaRN
 * (ext_factor 0, attn_factor 1).  One item is one token row (all heads).
 *
 * The angles follow ggml's float arithmetic exactly, because RoPE angles
 * grow with the position and any difference in them is amplified:
 *   theta_scale = powf(freq_base, -2.0f / n_dims)
 *   theta_0 = (float)pos, theta_{i+1} = theta_i * theta_scale
 *   angle_i = freq_scale * (theta_i / freq_factors[i])
 * sin/cos are computed once per token (kk_sincosf, ~correctly rounded) for a
 * block of pairs at a time and then applied to every head by the path's
 * rotation function, so all SIMD paths rotate with identical angles.
 */
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_ops_common.h"

static int rope_check(const struct kk_op *op)
{
	const struct kk_rope *p = &op->rope;
	kk_u64 row = (kk_u64)p->n_head * p->head_dim;

	if (!p->n_head || !p->head_dim)
		return -KK_EINVAL;
	if (!p->n_dims || (p->n_dims & 1) || p->n_dims > p->head_dim)
		return -KK_EINVAL;
	if (p->mode != KK_ROPE_NORMAL && p->mode != KK_ROPE_NEOX)
		return -KK_EINVAL;
	/* freq_base > 0 and finite; freq_scale finite */
	if (!kk_bits_finite(p->freq_base_bits) ||
	    (p->freq_base_bits & 0x80000000u) || kk_bits_zero(p->freq_base_bits))
		return -KK_EINVAL;
	if (!kk_bits_finite(p->freq_scale_bits))
		return -KK_EINVAL;
	if (!kk_rows_ok(p->rows, p->y_stride, row))
		return -KK_EINVAL;
	return 0;
}

static kk_u64 rope_items(const struct kk_op *op, kk_u32 stage)
{
	(void)stage;
	return op->rope.rows;
}

static kk_u64 rope_chunk(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_rope *p = &op->rope;

	(void)stage;
	/* the sin/cos of a pair costs about as much as rotating 16 pairs */
	return kk_chunk_rows((kk_u64)p->n_head * p->head_dim + 8ull * p->n_dims,
			     KK_CHUNK_CHEAP);
}

static void rope_row(const struct kk_rope *p, kk_u64 r, float theta_scale,
		     float freq_scale)
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
		for (h = 0; h < p->n_head; h++) {
			kk_u64 o = (kk_u64)h * p->head_dim + first;

			kk_impl_cur->ops.rope(y + o, x + o, cos_t, sin_t, cnt,
					      neox_half);
		}
	}
	if (x == y || p->n_dims == p->head_dim)
		return;
	for (h = 0; h < p->n_head; h++) {
		kk_u64 o = (kk_u64)h * p->head_dim + p->n_dims;

		__builtin_memcpy(y + o, x + o,
				 (kk_u64)(p->head_dim - p->n_dims) * sizeof(float));
	}
}

static void rope_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin,
		     kk_u64 end)
{
	const struct kk_rope *p = &op->rope;
	const float freq_base = kk_u32_as_f32(p->freq_base_bits);
	const float freq_scale = kk_u32_as_f32(p->freq_scale_bits);
	const float theta_scale = kk_powf(freq_base, -2.0f / (float)p->n_dims);
	kk_u64 r;

	(void)stage;
	for (r = begin; r < end; r++)
		rope_row(p, r, theta_scale, freq_scale);
}

const struct kk_op_class kk_class_rope = {
	.check = rope_check,
	.items = rope_items,
	.chunk_items = rope_chunk,
	.run = rope_run,
};
