// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_ops_neon.c - non-matmul row functions for aarch64 Advanced SIMD.
 *
 * The NEON twin of kk_ops_avx2.c.  Element-wise functions repeat the scalar
 * reference's IEEE operations lane by lane (separate multiplies and adds -
 * the build's -ffp-contract=off keeps GCC from fusing the vector operators
 * behind vmulq/vaddq - and the kk_math.h constants), so their results are
 * bitwise those of kk_ops_scalar.c; tails use the scalar formulas.
 * Reductions (RMSNorm sum of squares, softmax sum, attention dot products)
 * only differ in summation order.
 *
 * Maxima use FMAXNM, which, like the scalar "v > max ? v : max", skips NaN.
 */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kk_impl.h"
#include "kk_fp.h"
#include "kk_math.h"
#include "kk_attn.h"

#define V4(c) vdupq_n_f32(c)

static inline float32x4_t exp_v4(float32x4_t x)
{
	float32x4_t xc, fk, r, z, p;
	int32x4_t k, k1, k2;

	xc = vmaxq_f32(x, V4(KK_EXP_LO));
	xc = vminq_f32(xc, V4(KK_EXP_HI));
	fk = vmulq_f32(xc, V4(KK_EXP_LOG2E));
	fk = vaddq_f32(fk, V4(KK_EXP_MAGIC));
	fk = vsubq_f32(fk, V4(KK_EXP_MAGIC));
	k = vcvtq_s32_f32(fk);
	r = vsubq_f32(xc, vmulq_f32(fk, V4(KK_EXP_C1)));
	r = vsubq_f32(r, vmulq_f32(fk, V4(KK_EXP_C2)));
	z = vmulq_f32(r, r);
	p = V4(KK_EXP_P0);
	p = vaddq_f32(vmulq_f32(p, r), V4(KK_EXP_P1));
	p = vaddq_f32(vmulq_f32(p, r), V4(KK_EXP_P2));
	p = vaddq_f32(vmulq_f32(p, r), V4(KK_EXP_P3));
	p = vaddq_f32(vmulq_f32(p, r), V4(KK_EXP_P4));
	p = vaddq_f32(vmulq_f32(p, r), V4(KK_EXP_P5));
	p = vmulq_f32(p, z);
	p = vaddq_f32(p, r);
	p = vaddq_f32(p, V4(1.0f));
	k1 = vshrq_n_s32(k, 1);
	k2 = vsubq_s32(k, k1);
	k1 = vshlq_n_s32(vaddq_s32(k1, vdupq_n_s32(127)), 23);
	k2 = vshlq_n_s32(vaddq_s32(k2, vdupq_n_s32(127)), 23);
	p = vmulq_f32(p, vreinterpretq_f32_s32(k1));
	p = vmulq_f32(p, vreinterpretq_f32_s32(k2));
	/* NaN in, the same NaN out */
	return vbslq_f32(vceqq_f32(x, x), p, x);
}

static inline float32x4_t tanh_v4(float32x4_t x)
{
	const uint32x4_t sign = vdupq_n_u32(0x80000000u);
	float32x4_t a = vabsq_f32(x);
	float32x4_t z = vmulq_f32(x, x), p, e, big;

	p = V4(KK_TANH_P0);
	p = vaddq_f32(vmulq_f32(p, z), V4(KK_TANH_P1));
	p = vaddq_f32(vmulq_f32(p, z), V4(KK_TANH_P2));
	p = vaddq_f32(vmulq_f32(p, z), V4(KK_TANH_P3));
	p = vaddq_f32(vmulq_f32(p, z), V4(KK_TANH_P4));
	p = vmulq_f32(p, z);
	p = vmulq_f32(p, x);
	p = vaddq_f32(p, x);
	e = exp_v4(vaddq_f32(a, a));
	big = vsubq_f32(V4(1.0f), vdivq_f32(V4(2.0f), vaddq_f32(e, V4(1.0f))));
	big = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(big),
					      vandq_u32(vreinterpretq_u32_f32(x), sign)));
	return vbslq_f32(vcltq_f32(a, V4(KK_TANH_SMALL)), p, big);
}

static inline float32x4_t silu_v4(float32x4_t x)
{
	float32x4_t e = exp_v4(vnegq_f32(x));

	return vdivq_f32(x, vaddq_f32(V4(1.0f), e));
}

static inline float32x4_t gelu_v4(float32x4_t x)
{
	float32x4_t t = vmulq_f32(vmulq_f32(V4(KK_GELU_COEF_A), x), x);

	t = vaddq_f32(V4(1.0f), t);
	t = vmulq_f32(vmulq_f32(V4(KK_SQRT_2_OVER_PI), x), t);
	t = vaddq_f32(V4(1.0f), tanh_v4(t));
	return vmulq_f32(vmulq_f32(V4(0.5f), x), t);
}

/* acc += (double)v, four lanes into two double pairs */
static inline void acc_f64(float64x2_t *lo, float64x2_t *hi, float32x4_t v)
{
	*lo = vaddq_f64(*lo, vcvt_f64_f32(vget_low_f32(v)));
	*hi = vaddq_f64(*hi, vcvt_high_f64_f32(v));
}

static void rmsnorm_neon(float *y, const float *x, const float *w, kk_u32 n,
			 float eps)
{
	float64x2_t acc0 = vdupq_n_f64(0.0), acc1 = vdupq_n_f64(0.0);
	double sum;
	float mean, scale;
	float32x4_t vs;
	kk_u32 i;

	for (i = 0; i + 4 <= n; i += 4) {
		float32x4_t v = vld1q_f32(x + i);

		acc_f64(&acc0, &acc1, vmulq_f32(v, v));
	}
	sum = vaddvq_f64(vaddq_f64(acc0, acc1));
	for (; i < n; i++)
		sum += (double)(x[i] * x[i]);
	mean = (float)(sum / (double)n);
	scale = 1.0f / __builtin_sqrtf(mean + eps);
	vs = V4(scale);
	for (i = 0; i + 4 <= n; i += 4) {
		float32x4_t v = vmulq_f32(vld1q_f32(x + i), vs);

		if (w)
			v = vmulq_f32(v, vld1q_f32(w + i));
		vst1q_f32(y + i, v);
	}
	for (; i < n; i++)
		y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
}

static void rope_neon(float *y, const float *x, const float *cos_t,
		      const float *sin_t, kk_u32 n_pairs, kk_u32 neox_half)
{
	kk_u32 p = 0;

	if (neox_half) {
		for (; p + 4 <= n_pairs; p += 4) {
			float32x4_t x0 = vld1q_f32(x + p);
			float32x4_t x1 = vld1q_f32(x + p + neox_half);
			float32x4_t c = vld1q_f32(cos_t + p);
			float32x4_t s = vld1q_f32(sin_t + p);

			vst1q_f32(y + p, vsubq_f32(vmulq_f32(x0, c), vmulq_f32(x1, s)));
			vst1q_f32(y + p + neox_half,
				  vaddq_f32(vmulq_f32(x0, s), vmulq_f32(x1, c)));
		}
		for (; p < n_pairs; p++) {
			const float x0 = x[p], x1 = x[p + neox_half];

			y[p] = x0 * cos_t[p] - x1 * sin_t[p];
			y[p + neox_half] = x0 * sin_t[p] + x1 * cos_t[p];
		}
		return;
	}
	/* interleaved pairs: LD2/ST2 split and rejoin the even and odd lanes */
	for (; p + 4 <= n_pairs; p += 4) {
		float32x4x2_t v = vld2q_f32(x + 2 * p), o;
		float32x4_t c = vld1q_f32(cos_t + p);
		float32x4_t s = vld1q_f32(sin_t + p);

		o.val[0] = vsubq_f32(vmulq_f32(v.val[0], c), vmulq_f32(v.val[1], s));
		o.val[1] = vaddq_f32(vmulq_f32(v.val[0], s), vmulq_f32(v.val[1], c));
		vst2q_f32(y + 2 * p, o);
	}
	for (; p < n_pairs; p++) {
		const float x0 = x[2 * p], x1 = x[2 * p + 1];

		y[2 * p] = x0 * cos_t[p] - x1 * sin_t[p];
		y[2 * p + 1] = x0 * sin_t[p] + x1 * cos_t[p];
	}
}

static void softmax_neon(float *y, const float *x, kk_u32 n, float scale)
{
	float32x4_t vmax = V4(-__builtin_inff()), vs = V4(scale), vinv;
	float64x2_t acc0 = vdupq_n_f64(0.0), acc1 = vdupq_n_f64(0.0);
	float max, inv;
	double sum;
	kk_u32 i;

	for (i = 0; i + 4 <= n; i += 4)
		vmax = vmaxnmq_f32(vmulq_f32(vld1q_f32(x + i), vs), vmax);
	max = vmaxnmvq_f32(vmax);
	for (; i < n; i++) {
		float v = x[i] * scale;

		max = v > max ? v : max;
	}
	vmax = V4(max);
	for (i = 0; i + 4 <= n; i += 4) {
		float32x4_t e = vsubq_f32(vmulq_f32(vld1q_f32(x + i), vs), vmax);

		e = exp_v4(e);
		vst1q_f32(y + i, e);
		acc_f64(&acc0, &acc1, e);
	}
	sum = vaddvq_f64(vaddq_f64(acc0, acc1));
	for (; i < n; i++) {
		float e = kk_expf(x[i] * scale - max);

		y[i] = e;
		sum += (double)e;
	}
	inv = (float)(1.0 / sum);
	vinv = V4(inv);
	for (i = 0; i + 4 <= n; i += 4)
		vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), vinv));
	for (; i < n; i++)
		y[i] *= inv;
}

static void unary_neon(float *y, const float *x, kk_u32 n, kk_u32 fn)
{
	kk_u32 i = 0;

	if (fn == KK_UNARY_GELU) {
		for (; i + 4 <= n; i += 4)
			vst1q_f32(y + i, gelu_v4(vld1q_f32(x + i)));
		for (; i < n; i++)
			y[i] = kk_geluf(x[i]);
	} else {
		for (; i + 4 <= n; i += 4)
			vst1q_f32(y + i, silu_v4(vld1q_f32(x + i)));
		for (; i < n; i++)
			y[i] = kk_siluf(x[i]);
	}
}

static void glu_neon(float *y, const float *gate, const float *up, kk_u32 n,
		     kk_u32 fn)
{
	kk_u32 i = 0;

	if (fn == KK_UNARY_GELU) {
		for (; i + 4 <= n; i += 4)
			vst1q_f32(y + i, vmulq_f32(gelu_v4(vld1q_f32(gate + i)),
						   vld1q_f32(up + i)));
		for (; i < n; i++)
			y[i] = kk_geluf(gate[i]) * up[i];
	} else {
		for (; i + 4 <= n; i += 4)
			vst1q_f32(y + i, vmulq_f32(silu_v4(vld1q_f32(gate + i)),
						   vld1q_f32(up + i)));
		for (; i < n; i++)
			y[i] = kk_siluf(gate[i]) * up[i];
	}
}

static void binary_neon(float *y, const float *a, const float *b, kk_u32 n,
			kk_u32 fn)
{
	kk_u32 i = 0;

	if (fn == KK_BINARY_MUL) {
		for (; i + 4 <= n; i += 4)
			vst1q_f32(y + i, vmulq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
		for (; i < n; i++)
			y[i] = a[i] * b[i];
	} else {
		for (; i + 4 <= n; i += 4)
			vst1q_f32(y + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
		for (; i < n; i++)
			y[i] = a[i] + b[i];
	}
}

static void scale_neon(float *y, const float *x, kk_u32 n, float s)
{
	float32x4_t vs = V4(s);
	kk_u32 i;

	for (i = 0; i + 4 <= n; i += 4)
		vst1q_f32(y + i, vmulq_f32(vld1q_f32(x + i), vs));
	for (; i < n; i++)
		y[i] = x[i] * s;
}

/* FCVTN rounds to nearest even (FPCR.RMode is 0 in Linux threads). */
static void f32_to_f16_neon(kk_u16 *y, const float *x, kk_u32 n)
{
	kk_u32 i;

	for (i = 0; i + 4 <= n; i += 4)
		vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
	for (; i < n; i++)
		y[i] = kk_f32_to_f16(x[i]);
}

static inline float32x4_t load_f16x4(const kk_u16 *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* ---- attention span (struct kk_attn_span) ---- */

#define NB 8	/* positions per block: two vectors of scores */

/* x rounded to f16 and back */
static inline float32x4_t round_f16_v4(float32x4_t x)
{
	return vcvt_f32_f16(vcvt_f16_f32(x));
}

/* lane i = sum of v[i]'s lanes */
static inline float32x4_t reduce4_v4(const float32x4_t *v)
{
	return vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3]));
}

/*
 * Scores of one head for a block of nb <= 8 positions (K rows k[0 .. nb);
 * lane jj of sc[jj/4] for position jj); q is rounded to f16 once per
 * block, 16 dimensions at a time.
 */
static void attn_scores_neon(const struct kk_attn_span *sp, const float *q,
			     const kk_u16 *const *k, kk_u32 nb, float32x4_t *sc)
{
	const kk_u32 hd = sp->head_dim;
	float32x4_t dot[NB], q0, q1, q2, q3, a, b;
	kk_u32 c = 0, jj;

	for (jj = 0; jj < NB; jj++)
		dot[jj] = V4(0.0f);
	for (; c + 16 <= hd; c += 16) {
		q0 = round_f16_v4(vld1q_f32(q + c));
		q1 = round_f16_v4(vld1q_f32(q + c + 4));
		q2 = round_f16_v4(vld1q_f32(q + c + 8));
		q3 = round_f16_v4(vld1q_f32(q + c + 12));
		for (jj = 0; jj < nb; jj++) {
			const kk_u16 *kj = k[jj] + c;

			a = vfmaq_f32(dot[jj], q0, load_f16x4(kj));
			b = vmulq_f32(q1, load_f16x4(kj + 4));
			a = vfmaq_f32(a, q2, load_f16x4(kj + 8));
			b = vfmaq_f32(b, q3, load_f16x4(kj + 12));
			dot[jj] = vaddq_f32(a, b);
		}
	}
	for (; c + 4 <= hd; c += 4) {
		q0 = round_f16_v4(vld1q_f32(q + c));
		for (jj = 0; jj < nb; jj++)
			dot[jj] = vfmaq_f32(dot[jj], q0, load_f16x4(k[jj] + c));
	}
	if (c < hd) {		/* the last hd % 4 dimensions, zero padded */
		float qt[4] = { 0 };
		kk_u16 kt[4] = { 0 };

		__builtin_memcpy(qt, q + c, (hd - c) * sizeof(float));
		q0 = round_f16_v4(vld1q_f32(qt));
		for (jj = 0; jj < nb; jj++) {
			__builtin_memcpy(kt, k[jj] + c, (hd - c) * sizeof(kk_u16));
			dot[jj] = vfmaq_f32(dot[jj], q0, load_f16x4(kt));
		}
	}
	sc[0] = vmulq_f32(reduce4_v4(dot), V4(sp->scale));
	sc[1] = vmulq_f32(reduce4_v4(dot + 4), V4(sp->scale));
}

/*
 * Softcap, then the softmax update of one head for a block (lanes >= nb
 * are not positions): p gets e^(s - m'), returns e^(m - m').
 */
static float attn_update_neon(float32x4_t *sc, kk_u32 nb, float softcap,
			      float *ml, float *p)
{
	static const float lanes[NB] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	float m = ml[0], bm, alpha = 1.0f;
	float32x4_t e0, e1;
	int i;

	for (i = 0; i < 2; i++) {
		if (softcap != 0.0f)
			sc[i] = vmulq_f32(V4(softcap), tanh_v4(sc[i]));
		sc[i] = vbslq_f32(vcltq_f32(vld1q_f32(lanes + 4 * i), V4((float)nb)),
				  sc[i], V4(-__builtin_inff()));
	}
	bm = vmaxnmvq_f32(vmaxnmq_f32(sc[0], sc[1]));
	if (bm == -__builtin_inff()) {	/* only -inf scores so far */
		vst1q_f32(p, V4(0.0f));
		vst1q_f32(p + 4, V4(0.0f));
		return 1.0f;
	}
	if (bm > m) {
		alpha = kk_expf(m - bm);
		m = bm;
	}
	e0 = exp_v4(vsubq_f32(sc[0], V4(m)));
	e1 = exp_v4(vsubq_f32(sc[1], V4(m)));
	vst1q_f32(p, e0);
	vst1q_f32(p + 4, e1);
	ml[0] = m;
	ml[1] = ml[1] * alpha + vaddvq_f32(vaddq_f32(e0, e1));
	return alpha;
}

/*
 * acc_h = acc_h * alpha_h + sum_jj p[h][jj] v_jj for NQ heads (a constant
 * once inlined); each V element is converted once for all heads.
 */
static inline __attribute__((always_inline)) void
attn_values_neon_n(const struct kk_attn_span *sp, const kk_u16 *const *v,
		   kk_u32 nb, const float p[KK_ATTN_MAX_GROUP][NB],
		   const float *alpha, int first, const kk_u32 NQ)
{
	const kk_u32 hd = sp->head_dim;
	float32x4_t a[KK_ATTN_MAX_GROUP], vv;
	kk_u32 c, jj, h;
	float x;

	for (c = 0; c + 4 <= hd; c += 4) {
		for (h = 0; h < NQ; h++)
			a[h] = first ? V4(0.0f) :
			       vmulq_n_f32(vld1q_f32(sp->acc + h * sp->acc_stride + c),
					   alpha[h]);
		for (jj = 0; jj < nb; jj++) {
			vv = load_f16x4(v[jj] + c);
			for (h = 0; h < NQ; h++)
				a[h] = vfmaq_n_f32(a[h], vv, p[h][jj]);
		}
		for (h = 0; h < NQ; h++)
			vst1q_f32(sp->acc + h * sp->acc_stride + c, a[h]);
	}
	for (; c < hd; c++) {
		for (h = 0; h < NQ; h++) {
			float *acc = sp->acc + h * sp->acc_stride + c;

			x = first ? 0.0f : *acc * alpha[h];
			for (jj = 0; jj < nb; jj++)
				x += p[h][jj] * kk_f16_to_f32(v[jj][c]);
			*acc = x;
		}
	}
}

static void attn_values_neon(const struct kk_attn_span *sp,
			     const kk_u16 *const *v, kk_u32 nb,
			     const float p[KK_ATTN_MAX_GROUP][NB],
			     const float *alpha, int first)
{
	switch (sp->n_q) {
	case 1: attn_values_neon_n(sp, v, nb, p, alpha, first, 1); break;
	case 2: attn_values_neon_n(sp, v, nb, p, alpha, first, 2); break;
	case 3: attn_values_neon_n(sp, v, nb, p, alpha, first, 3); break;
	case 4: attn_values_neon_n(sp, v, nb, p, alpha, first, 4); break;
	case 5: attn_values_neon_n(sp, v, nb, p, alpha, first, 5); break;
	case 6: attn_values_neon_n(sp, v, nb, p, alpha, first, 6); break;
	case 7: attn_values_neon_n(sp, v, nb, p, alpha, first, 7); break;
	default: attn_values_neon_n(sp, v, nb, p, alpha, first, 8); break;
	}
}

static void attn_f16_neon(const struct kk_attn_span *sp)
{
	float p[KK_ATTN_MAX_GROUP][NB] __attribute__((aligned(16)));
	float alpha[KK_ATTN_MAX_GROUP];
	const kk_u16 *k[NB], *v[NB];
	float32x4_t sc[2];
	kk_u32 j, nb, h;

	kk_attn_ml_init(sp->ml, sp->n_q);
	if (!sp->n_pos)
		for (h = 0; h < sp->n_q; h++)
			__builtin_memset(sp->acc + h * sp->acc_stride, 0,
					 sp->head_dim * sizeof(float));
	for (j = 0; j < sp->n_pos; j += nb) {
		nb = sp->n_pos - j < NB ? sp->n_pos - j : NB;
		kk_attn_f16_rows(sp, j, nb, k, v);
		for (h = 0; h < sp->n_q; h++) {
			attn_scores_neon(sp, sp->q + h * sp->q_stride, k, nb, sc);
			alpha[h] = attn_update_neon(sc, nb, sp->softcap,
						    sp->ml + 2 * h, p[h]);
		}
		attn_values_neon(sp, v, nb, p, alpha, j == 0);
	}
}

#undef NB

static kk_u32 argmax_neon(const float *x, kk_u32 n)
{
	float32x4_t vmax = V4(-__builtin_inff()), vm;
	float max;
	kk_u32 i, l;

	for (i = 0; i + 4 <= n; i += 4)
		vmax = vmaxnmq_f32(vld1q_f32(x + i), vmax);
	max = vmaxnmvq_f32(vmax);
	for (; i < n; i++)
		max = x[i] > max ? x[i] : max;
	if (!(max > -__builtin_inff()))
		return 0;
	vm = V4(max);
	for (i = 0; i + 4 <= n; i += 4) {
		if (vmaxvq_u32(vceqq_f32(vld1q_f32(x + i), vm)))
			for (l = 0; l < 4; l++)
				if (x[i + l] == max)
					return i + l;
	}
	for (; i < n; i++)
		if (x[i] == max)
			return i;
	return 0;
}

void kk_ops_init_neon(struct kk_ops_impl *ops, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	ops->rmsnorm = rmsnorm_neon;
	ops->rope = rope_neon;
	ops->softmax = softmax_neon;
	ops->unary = unary_neon;
	ops->glu = glu_neon;
	ops->binary = binary_neon;
	ops->scale = scale_neon;
	ops->f32_to_f16 = f32_to_f16_neon;
	ops->attn_f16 = attn_f16_neon;
	ops->argmax = argmax_neon;
}
#endif /* __aarch64__ */
