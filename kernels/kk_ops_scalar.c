// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops_scalar.c - the portable reference for every non-matmul row
 * function.  Follows ggml-cpu's scalar code: RMSNorm sums squares in double,
 * softmax subtracts the row maximum and sums in double, SiLU/GELU use the
 * same formulas.  Built with -ffp-contract=off, so no FMA sneaks in and
 * the SIMD paths can reproduce element-wise results bit for bit.
 */
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_attn.h"

static void rmsnorm_scalar(float *y, const float *x, const float *w, kk_u32 n,
			   float eps)
{
	double sum = 0.0;
	float mean, scale;
	kk_u32 i;

	for (i = 0; i < n; i++)
		sum += (double)(x[i] * x[i]);
	mean = (float)(sum / (double)n);
	scale = 1.0f / __builtin_sqrtf(mean + eps);
	if (w) {
		for (i = 0; i < n; i++)
			y[i] = (x[i] * scale) * w[i];
	} else {
		for (i = 0; i < n; i++)
			y[i] = x[i] * scale;
	}
}

static void rope_scalar(float *y, const float *x, const float *cos_t,
			const float *sin_t, kk_u32 n_pairs, kk_u32 neox_half)
{
	/* distance between the two elements of a pair, and between pairs */
	kk_u32 off = neox_half ? neox_half : 1, step = neox_half ? 1 : 2;
	kk_u32 p;

	for (p = 0; p < n_pairs; p++) {
		const float x0 = x[p * step], x1 = x[p * step + off];
		const float c = cos_t[p], s = sin_t[p];

		y[p * step] = x0 * c - x1 * s;
		y[p * step + off] = x0 * s + x1 * c;
	}
}

static void softmax_scalar(float *y, const float *x, kk_u32 n, float scale)
{
	float max = -__builtin_inff(), inv;
	double sum = 0.0;
	kk_u32 i;

	for (i = 0; i < n; i++) {
		float v = x[i] * scale;

		max = v > max ? v : max;
	}
	for (i = 0; i < n; i++) {
		float e = kk_expf(x[i] * scale - max);

		y[i] = e;
		sum += (double)e;
	}
	inv = (float)(1.0 / sum);
	for (i = 0; i < n; i++)
		y[i] *= inv;
}

static void unary_scalar(float *y, const float *x, kk_u32 n, kk_u32 fn)
{
	kk_u32 i;

	if (fn == KK_UNARY_GELU) {
		for (i = 0; i < n; i++)
			y[i] = kk_geluf(x[i]);
	} else {
		for (i = 0; i < n; i++)
			y[i] = kk_siluf(x[i]);
	}
}

static void glu_scalar(float *y, const float *gate, const float *up, kk_u32 n,
		       kk_u32 fn)
{
	kk_u32 i;

	if (fn == KK_UNARY_GELU) {
		for (i = 0; i < n; i++)
			y[i] = kk_geluf(gate[i]) * up[i];
	} else {
		for (i = 0; i < n; i++)
			y[i] = kk_siluf(gate[i]) * up[i];
	}
}

static void binary_scalar(float *y, const float *a, const float *b, kk_u32 n,
			  kk_u32 fn)
{
	kk_u32 i;

	if (fn == KK_BINARY_MUL) {
		for (i = 0; i < n; i++)
			y[i] = a[i] * b[i];
	} else {
		for (i = 0; i < n; i++)
			y[i] = a[i] + b[i];
	}
}

static void scale_scalar(float *y, const float *x, kk_u32 n, float s)
{
	kk_u32 i;

	for (i = 0; i < n; i++)
		y[i] = x[i] * s;
}

static void f32_to_f16_scalar(kk_u16 *y, const float *x, kk_u32 n)
{
	kk_u32 i;

	for (i = 0; i < n; i++)
		y[i] = kk_f32_to_f16(x[i]);
}

/* ---- attention span (struct kk_attn_span), the reference ---- */

#define SB KK_ATTN_SCALAR_BLOCK
#define SC 8	/* head dimensions per step: q and K/V rows in small pieces */

/*
 * Scores of a block of @nb positions (K rows k[0 .. nb)) for every head:
 * the block's K rows are converted once for all heads, q is rounded to f16
 * piece by piece.
 */
static void attn_scores_scalar(const struct kk_attn_span *sp,
			       const kk_u16 *const *k, kk_u32 nb,
			       float s[KK_ATTN_MAX_GROUP][SB])
{
	float qr[KK_ATTN_MAX_GROUP][SC], kc[SC], t;
	const kk_u32 hd = sp->head_dim;
	kk_u32 h, jj, c, d, n;

	for (h = 0; h < sp->n_q; h++)
		for (jj = 0; jj < nb; jj++)
			s[h][jj] = 0.0f;
	for (c = 0; c < hd; c += n) {
		n = hd - c < SC ? hd - c : SC;
		for (h = 0; h < sp->n_q; h++)
			for (d = 0; d < n; d++)
				qr[h][d] = kk_f16_to_f32(kk_f32_to_f16(sp->q[h * sp->q_stride + c + d]));
		for (jj = 0; jj < nb; jj++) {
			for (d = 0; d < n; d++)
				kc[d] = kk_f16_to_f32(k[jj][c + d]);
			for (h = 0; h < sp->n_q; h++) {
				t = 0.0f;
				for (d = 0; d < n; d++)
					t += qr[h][d] * kc[d];
				s[h][jj] += t;
			}
		}
	}
	for (h = 0; h < sp->n_q; h++)
		for (jj = 0; jj < nb; jj++)
			s[h][jj] *= sp->scale;
}

/* acc_h = acc_h * alpha_h + sum_jj p[h][jj] v_jj (acc_h = 0 first). */
static void attn_values_scalar(const struct kk_attn_span *sp,
			       const kk_u16 *const *v, kk_u32 nb,
			       float p[KK_ATTN_MAX_GROUP][SB],
			       const float *alpha, int first)
{
	const kk_u32 hd = sp->head_dim;
	float vc[SC], *a;
	kk_u32 h, jj, c, d, n;

	for (c = 0; c < hd; c += n) {
		n = hd - c < SC ? hd - c : SC;
		for (h = 0; h < sp->n_q; h++) {
			a = sp->acc + h * sp->acc_stride + c;
			for (d = 0; d < n; d++)
				a[d] = first ? 0.0f : a[d] * alpha[h];
		}
		for (jj = 0; jj < nb; jj++) {
			for (d = 0; d < n; d++)
				vc[d] = kk_f16_to_f32(v[jj][c + d]);
			for (h = 0; h < sp->n_q; h++) {
				a = sp->acc + h * sp->acc_stride + c;
				for (d = 0; d < n; d++)
					a[d] += p[h][jj] * vc[d];
			}
		}
	}
}

static void attn_f16_scalar(const struct kk_attn_span *sp)
{
	float s[KK_ATTN_MAX_GROUP][SB], alpha[KK_ATTN_MAX_GROUP];
	const kk_u16 *k[SB], *v[SB];
	kk_u32 j, nb, h;

	kk_attn_ml_init(sp->ml, sp->n_q);
	if (!sp->n_pos)
		for (h = 0; h < sp->n_q; h++)
			__builtin_memset(sp->acc + h * sp->acc_stride, 0,
					 sp->head_dim * sizeof(float));
	for (j = 0; j < sp->n_pos; j += nb) {
		nb = sp->n_pos - j < SB ? sp->n_pos - j : SB;
		kk_attn_f16_rows(sp, j, nb, k, v);
		attn_scores_scalar(sp, k, nb, s);
		for (h = 0; h < sp->n_q; h++) {
			kk_attn_block_softcap(s[h], nb, sp->softcap);
			alpha[h] = kk_attn_block_update(s[h], nb, sp->ml + 2 * h);
		}
		attn_values_scalar(sp, v, nb, s, alpha, j == 0);
	}
}

#undef SB
#undef SC

static kk_u32 argmax_scalar(const float *x, kk_u32 n)
{
	float max = -__builtin_inff();
	kk_u32 i, idx = 0;

	for (i = 0; i < n; i++) {
		if (x[i] > max) {
			max = x[i];
			idx = i;
		}
	}
	return idx;
}

void kk_ops_init_scalar(struct kk_ops_impl *ops)
{
	ops->rmsnorm = rmsnorm_scalar;
	ops->rope = rope_scalar;
	ops->softmax = softmax_scalar;
	ops->unary = unary_scalar;
	ops->glu = glu_scalar;
	ops->binary = binary_scalar;
	ops->scale = scale_scalar;
	ops->f32_to_f16 = f32_to_f16_scalar;
	ops->attn_f16 = attn_f16_scalar;
	ops->argmax = argmax_scalar;
	ops->sincos = kk_sincosf;
}
