// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops_ggml_avx2.c - the non-matmul half of the "ggml" path (kk_ggml.h):
 * the row functions whose results differ between kllm's own paths and
 * ggml-cpu's x86 build (AVX-512), written to give ggml's bits.
 *
 *   RoPE: sin/cos from the C library; y0 = fma(x0, c, -(x1 s)),
 *     y1 = fma(x0, s, x1 c) (the contraction GCC makes of ggml's
 *     x0*c - x1*s and x0*s + x1*c).
 *   SiLU: x / (1 + e(0 - x)) with e ggml's AVX-512 exp polynomial, in
 *     blocks of 16; tails x / (1 + expf(-x)) with the C library's expf.
 *   GELU: ggml's table of f16 results indexed by f16(x), built from the C
 *     library's tanhf; 0 below -10, x above 10.
 *   Attention (F16 cache, no flash attention, one token per decode):
 *     q rounded to f16; each score as ggml_vec_dot_f16 (four 16-lane fma
 *     chains over 64-element steps, reduced 0+2, 1+3, 0+1, then 16 lanes),
 *     times scale; e = exp(s - max) in 16-position blocks from position 0,
 *     summed in double block by block; p = f16(e * (float)(1 / sum)); the
 *     output as ggml_vec_dot_f16 over positions (position j in chain
 *     (j mod 64) / 16, lane j mod 16).  Positions are absolute, so a row
 *     gives the same bits alone or in any batch.  One row per item: the
 *     chains run over all positions, they cannot be cut into spans.
 *
 * Everything else (RMSNorm, adds, scales, f16 stores) is already ggml's
 * arithmetic on the scalar path.  Built with -ffp-contract=off; userspace
 * only (the module has no C library), with 8 MiB thread stacks, hence the
 * one large frame below.  FPU unit.
 */
#if defined(__x86_64__) && !defined(__KERNEL__)
#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_ggml.h"
#include "kk_ops_common.h"

#define FMA(a, b, c) __builtin_fmaf(a, b, c)

static kk_u16 gelu_f16_table[1 << 16];

/* ggml's AVX-512 exp: a degree-5 polynomial on a reduced argument, scalef. */
static float ggml_v_expf(float x)
{
	const float r = 0x1.8p23f;
	const float z = FMA(x, 0x1.715476p+0f, r);
	const float n = z - r;
	const float b = FMA(-n, 0x1.7f7d1cp-20f, FMA(-n, 0x1.62e4p-1f, x));
	const float u = b * b;
	const float j = FMA(FMA(FMA(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
				FMA(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
			    u, FMA(0x1.ffffecp-1f, b, 1.0f));

	if (__builtin_fabsf(n) > 192.0f)	/* false for NaN, as _CMP_GT_OQ */
		return n <= 0.0f ? 0.0f : __builtin_inff();
	/* scalef: j * 2^n rounded once; exact in double, then to float */
	return (float)((double)j * kk_u64_as_f64((kk_u64)(1023 + (kk_i64)n) << 52));
}

static void ggml_sincos(float a, float *s, float *c)
{
	*s = kk_libm_cur->sinf(a);
	*c = kk_libm_cur->cosf(a);
}

static void ggml_rope(float *y, const float *x, const float *cos_t,
		      const float *sin_t, kk_u32 n_pairs, kk_u32 neox_half)
{
	kk_u32 off = neox_half ? neox_half : 1, step = neox_half ? 1 : 2;
	kk_u32 p;

	for (p = 0; p < n_pairs; p++) {
		const float x0 = x[p * step], x1 = x[p * step + off];
		const float c = cos_t[p], s = sin_t[p];

		y[p * step] = FMA(x0, c, -(x1 * s));
		y[p * step + off] = FMA(x0, s, x1 * c);
	}
}

static float ggml_silu(float x, kk_u32 i, kk_u32 n16)
{
	if (i < n16)
		return x / (1.0f + ggml_v_expf(0.0f - x));
	return x / (1.0f + kk_libm_cur->expf(-x));
}

static float ggml_gelu(float x)
{
	if (x <= -10.0f)
		return 0.0f;
	if (x >= 10.0f)
		return x;
	return kk_f16_to_f32(gelu_f16_table[kk_f32_to_f16(x)]);
}

static void ggml_unary(float *y, const float *x, kk_u32 n, kk_u32 fn)
{
	kk_u32 i, n16 = n & ~15u;

	for (i = 0; i < n; i++)
		y[i] = fn == KK_UNARY_GELU ? ggml_gelu(x[i]) : ggml_silu(x[i], i, n16);
}

/* geglu: 0 below -10, gate * up above 10 (not gelu(gate) = gate) */
static void ggml_glu(float *y, const float *gate, const float *up, kk_u32 n,
		     kk_u32 fn)
{
	kk_u32 i, n16 = n & ~15u;

	for (i = 0; i < n; i++) {
		if (fn != KK_UNARY_GELU)
			y[i] = ggml_silu(gate[i], i, n16) * up[i];
		else if (gate[i] <= -10.0f)
			y[i] = 0.0f;
		else if (gate[i] >= 10.0f)
			y[i] = gate[i] * up[i];
		else
			y[i] = ggml_gelu(gate[i]) * up[i];
	}
}

/* ---- attention ---- */

/* ggml_vec_dot_f16's four 16-lane accumulators, reduced; plus its tail. */
static float f16_chains_reduce(float (*acc)[16], double tail)
{
	int l;

	for (l = 0; l < 16; l++) {
		acc[0][l] = acc[0][l] + acc[2][l];
		acc[1][l] = acc[1][l] + acc[3][l];
	}
	for (l = 0; l < 16; l++)
		acc[0][l] = acc[0][l] + acc[1][l];
	return (float)((double)kk_ggml_reduce16(acc[0]) + tail);
}

static float ggml_score(const struct kk_attn_row *r, const float *q16, kk_u32 j)
{
	const kk_u16 *k = kk_kv_read_at(r->k, r->pages, r->kv_stride * 2, j);
	const kk_u32 hd = r->head_dim, np = hd & ~63u;
	float acc[4][16] = { { 0 } };
	double tail = 0.0;
	kk_u32 i, c, l;

	for (i = 0; i < np; i += 64)
		for (c = 0; c < 4; c++)
			for (l = 0; l < 16; l++)
				acc[c][l] = FMA(kk_f16_to_f32(k[i + 16 * c + l]),
						q16[i + 16 * c + l], acc[c][l]);
	for (i = np; i < hd; i++)
		tail += (double)(kk_f16_to_f32(k[i]) * q16[i]);
	return f16_chains_reduce(acc, tail);
}

/* The scaled (and capped) score of position j, as soft_max sees it. */
static float ggml_scaled(const struct kk_attn_row *r, const float *q16, kk_u32 j)
{
	float s = ggml_score(r, q16, j) * r->scale;

	if (r->softcap != 0.0f)
		s = kk_libm_cur->tanhf(s * (1.0f / r->softcap)) * r->softcap;
	return s;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wframe-larger-than="
static void ggml_attn_row(const struct kk_attn_row *r)
{
	const kk_u32 hd = r->head_dim, j0 = r->j0, j1 = r->j1;
	float q16[KK_ATTN_MAX_HEAD_DIM], e[64], m = -__builtin_inff(), inv;
	float acc[KK_ATTN_MAX_HEAD_DIM][4][16];
	double sum = 0.0;
	kk_u32 j, b, d, i;

	for (d = 0; d < hd; d++) {
		q16[d] = kk_f16_to_f32(kk_f32_to_f16(r->q[d]));
		r->y[d] = 0.0f;
	}
	if (j0 >= j1)
		return;
	for (j = j0; j < j1; j++) {
		const float s = ggml_scaled(r, q16, j);

		m = s > m ? s : m;
	}
	/* sum: 16-position blocks aligned to position 0, outside [j0, j1) e = 0 */
	for (b = j0 & ~15u; b < j1; b += 16) {
		for (i = 0; i < 16; i++)
			e[i] = b + i >= j0 && b + i < j1 ?
			       ggml_v_expf(ggml_scaled(r, q16, b + i) - m) : 0.0f;
		sum += (double)kk_ggml_reduce16(e);
	}
	inv = (float)(1.0 / sum);
	__builtin_memset(acc, 0, sizeof(float) * 64 * hd);
	for (b = j0 & ~63u; b < j1; b += 64) {
		for (i = 0; i < 64; i++)
			e[i] = b + i >= j0 && b + i < j1 ?
			       kk_f16_to_f32(kk_f32_to_f16(
				       ggml_v_expf(ggml_scaled(r, q16, b + i) - m) * inv)) : 0.0f;
		for (i = 0; i < 64; i++) {
			const kk_u16 *v;

			if (e[i] == 0.0f)
				continue;	/* fma(0, v, a) = a for finite v */
			v = kk_kv_read_at(r->v, r->pages, r->kv_stride * 2, b + i);
			for (d = 0; d < hd; d++)
				acc[d][i / 16][i % 16] = FMA(kk_f16_to_f32(v[d]), e[i],
							     acc[d][i / 16][i % 16]);
		}
	}
	for (d = 0; d < hd; d++)
		r->y[d] = f16_chains_reduce(acc[d], 0.0);
}
#pragma GCC diagnostic pop

/* ggml's table: f16(gelu(f)) for every f16 f, with one fma as GCC makes it. */
static void build_gelu_table(void)
{
	kk_u32 i;

	for (i = 0; i < (1u << 16); i++) {
		const float x = kk_f16_to_f32((kk_u16)i);
		const float in = FMA(KK_GELU_COEF_A * x, x, 1.0f);
		const float t = kk_libm_cur->tanhf(KK_SQRT_2_OVER_PI * x * in);

		gelu_f16_table[i] = kk_f32_to_f16(0.5f * x * (1.0f + t));
	}
}

void kk_ops_init_ggml(struct kk_ops_impl *ops)
{
	build_gelu_table();
	ops->sincos = ggml_sincos;
	ops->rope = ggml_rope;
	ops->unary = ggml_unary;
	ops->glu = ggml_glu;
	ops->attn_row_f16 = ggml_attn_row;
}
#endif
