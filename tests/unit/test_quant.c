// SPDX-License-Identifier: MIT
/*
 * test_quant.c - the scalar reference for every block format:
 *   golden   dequantization and quantization equal the gguf package's output
 *            (tests/golden/dequant.txt) bit for bit;
 *   roundtrip quantize -> dequantize stays within each format's error bound;
 *   vecdot   kk_ref_vec_dot agrees with a double dot of the dequantized rows,
 *            exactly when every float step is exact, else within a bound;
 *   errors   bad types and sizes are refused, kk_row_bytes never overflows.
 * Only kk_types.c and the kk_quant*.c / kk_dequant.c files are exercised.
 */
#include "kt.h"
#include "kk.h"
#include "kk_blocks.h"
#include "kk_fp.h"
#include "kk_quant.h"

#ifndef KLLM_SRCDIR
#define KLLM_SRCDIR "."
#endif
#define GOLDEN_PATH KLLM_SRCDIR "/tests/golden/dequant.txt"

#include "../golden/golden_reader.h"

static const unsigned dq_golden_types[] = {
	KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q4_0, KK_TYPE_Q4_1, KK_TYPE_Q5_0,
	KK_TYPE_Q5_1, KK_TYPE_Q8_0, KK_TYPE_Q4_K, KK_TYPE_Q5_K, KK_TYPE_Q6_K,
};
#define N_DQ_GOLDEN (sizeof(dq_golden_types) / sizeof(dq_golden_types[0]))

static const unsigned q_golden_types[] = {
	KK_TYPE_Q4_0, KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q8_0,
	KK_TYPE_F16, KK_TYPE_BF16,
};
#define N_Q_GOLDEN (sizeof(q_golden_types) / sizeof(q_golden_types[0]))

static void check_case_shape(const struct golden_case *c)
{
	ck_assert_str_eq(kk_type_name(c->type), c->name);
	ck_assert_uint_eq(kk_row_bytes(c->type, c->n), c->nbytes);
}

/* (a) dequantization: kk_dequantize_row == gguf, every bit. */
START_TEST(test_golden_dequant)
{
	const unsigned type = dq_golden_types[_i];
	const struct golden_case *c;
	float *y;

	golden_load();
	c = golden_find(0, type);
	ck_assert_msg(c, "no golden dequant case for %s (%s)", kk_type_name(type),
		      golden_header);
	check_case_shape(c);
	y = kt_alloc(c->n * sizeof(float));
	ck_assert_int_eq(kk_dequantize_row(type, c->raw, y, c->n), 0);
	for (size_t i = 0; i < c->n; i++) {
		uint32_t a, b;

		memcpy(&a, &y[i], 4);
		memcpy(&b, &c->vals[i], 4);
		ck_assert_msg(a == b, "%s element %zu (block %zu): got %08x (%g) want %08x (%g)",
			      c->name, i, i / kk_type_block_elems(type), a, y[i], b,
			      c->vals[i]);
	}
	free(y);
	golden_free();
}
END_TEST

/* Quantizers: kk_quantize_row == gguf's (== ggml's reference), every byte. */
START_TEST(test_golden_quant)
{
	const unsigned type = q_golden_types[_i];
	const struct golden_case *c;
	uint8_t *q;

	golden_load();
	c = golden_find(1, type);
	ck_assert_msg(c, "no golden quant case for %s", kk_type_name(type));
	check_case_shape(c);
	q = kt_alloc(c->nbytes);
	ck_assert_int_eq(kk_quantize_row(type, c->vals, q, c->n), 0);
	for (size_t i = 0; i < c->nbytes; i++)
		ck_assert_msg(q[i] == c->raw[i], "%s byte %zu (block %zu): got %02x want %02x",
			      c->name, i, i / kk_type_block_bytes(type), q[i], c->raw[i]);
	free(q);
	golden_free();
}
END_TEST

/* ------------------------------------------------------------------ */
/* (b) quantize -> dequantize error bounds                              */

static const unsigned quantizer_types[] = {
	KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q8_0, KK_TYPE_Q8_1,
	KK_TYPE_Q8_K, KK_TYPE_Q4_0, KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q5_1,
};
#define N_QUANTIZERS (sizeof(quantizer_types) / sizeof(quantizer_types[0]))

/* The f16 scale a block stores, as a double. */
static double blk_f16(const uint8_t *blk, size_t off)
{
	uint16_t h;

	memcpy(&h, blk + off, 2);
	return kk_f16_to_f32(h);
}

/*
 * Largest error allowed for element x of a block whose values are xs[0..n).
 * d is the ideal scale (computed in double), D the one stored, M/min the
 * stored and ideal offsets; 1e-4 of a step and 2^-20 of the block's
 * magnitude cover the float rounding of x * id and of the dequantization.
 *   Q8_0, Q8_1: 0.5 d + 127 |D - d|           (d = amax / 127)
 *   Q8_K:       0.5 d                          (d = amax / 127, f32 scale)
 *   Q4_0:       d + 8 |D - d|                  (d = amax / 8; the top value
 *                                               clamps from 16 to 15: 1 step)
 *   Q5_0:       d + 16 |D - d|                 (d = amax / 16, same clamp)
 *   Q4_1:       0.5 d + 15 |D - d| + |M - min| (d = (max - min) / 15)
 *   Q5_1:       0.5 d + 31 |D - d| + |M - min| (d = (max - min) / 31)
 *   F16:        2^-11 |x| + 2^-25;  BF16: 2^-8 |x|;  F32: exact.
 */
static double block_bound(unsigned type, const float *xs, int n, const uint8_t *blk)
{
	double amax = 0, mn = INFINITY, mx = -INFINITY, d, D, bound;

	for (int j = 0; j < n; j++) {
		amax = fmax(amax, fabs(xs[j]));
		mn = fmin(mn, xs[j]);
		mx = fmax(mx, xs[j]);
	}
	switch (type) {
	case KK_TYPE_Q8_0:
	case KK_TYPE_Q8_1:
		d = amax / 127;
		D = blk_f16(blk, 0);
		bound = 0.5001 * d + 127 * fabs(D - d);
		break;
	case KK_TYPE_Q8_K: {
		float fd;

		memcpy(&fd, blk, 4);
		d = amax / 127;
		bound = 0.5001 * d + 127 * fabs(fabs(fd) - d);
		break;
	}
	case KK_TYPE_Q4_0:
		d = amax / 8;
		bound = 1.0001 * d + 8 * fabs(fabs(blk_f16(blk, 0)) - d);
		break;
	case KK_TYPE_Q5_0:
		d = amax / 16;
		bound = 1.0001 * d + 16 * fabs(fabs(blk_f16(blk, 0)) - d);
		break;
	case KK_TYPE_Q4_1:
		d = (mx - mn) / 15;
		bound = 0.5001 * d + 15 * fabs(blk_f16(blk, 0) - d) +
			fabs(blk_f16(blk, 2) - mn);
		break;
	case KK_TYPE_Q5_1:
		d = (mx - mn) / 31;
		bound = 0.5001 * d + 31 * fabs(blk_f16(blk, 0) - d) +
			fabs(blk_f16(blk, 2) - mn);
		break;
	default:
		return 0;
	}
	return bound + ldexp(amax, -20);
}

static double elem_bound(unsigned type, float x)
{
	switch (type) {
	case KK_TYPE_F16:
		return ldexp(fabs(x), -11) + ldexp(1, -25);
	case KK_TYPE_BF16:
		return ldexp(fabs(x), -8);
	default:
		return 0;	/* F32: exact */
	}
}

START_TEST(test_roundtrip)
{
	const unsigned type = quantizer_types[_i];
	const size_t n = 4096 + 256, be = kk_type_block_elems(type);
	const size_t bs = kk_type_block_bytes(type), nb = n / be;
	const int is_float = be == 1;
	float *x = kt_alloc(n * sizeof(float)), *y = kt_alloc(n * sizeof(float));
	uint8_t *q = kt_alloc(kk_row_bytes(type, n));
	struct kt_rng rng;

	kt_rng_seed(&rng, 0x51 + type);
	/* 32-element stretches of very different magnitudes, some one-signed */
	for (size_t i = 0; i < n; i += 32) {
		float mag = powf(10.0f, kt_rng_f32(&rng, -3, 3));
		float lo = (i / 32) % 5 == 3 ? 0 : -mag;

		kt_fill_f32(&rng, x + i, 32, lo, mag);
	}
	ck_assert_int_eq(kk_quantize_row(type, x, q, n), 0);
	ck_assert_int_eq(kk_dequantize_row(type, q, y, n), 0);
	for (size_t b = 0; b < nb; b++) {
		const float *xb = x + b * be;
		const uint8_t *blk = q + b * bs;
		const double bound = is_float ? 0 : block_bound(type, xb, (int)be, blk);

		for (size_t j = 0; j < be; j++) {
			const double err = fabs((double)y[b * be + j] - xb[j]);
			const double lim = is_float ? elem_bound(type, xb[j]) : bound;

			ck_assert_msg(err <= lim, "%s element %zu: x=%.9g y=%.9g err %.3g > %.3g",
				      kk_type_name(type), b * be + j, xb[j], y[b * be + j], err, lim);
		}
	}
	free(x);
	free(y);
	free(q);
}
END_TEST

/* The redundant fields of the activation formats: Q8_1 s, Q8_K bsums. */
START_TEST(test_activation_sums)
{
	const size_t n = 1024;
	float *x = kt_alloc(n * sizeof(float));
	struct kk_block_q8_1 *q1 = kt_alloc(kk_row_bytes(KK_TYPE_Q8_1, n));
	struct kk_block_q8_K *qk = kt_alloc(kk_row_bytes(KK_TYPE_Q8_K, n));
	struct kt_rng rng;

	kt_rng_seed(&rng, 7);
	kt_fill_f32(&rng, x, n, -2, 3);
	memset(x + 256, 0, 256 * sizeof(float));	/* an all-zero super-block */
	memset(qk, 0xa5, kk_row_bytes(KK_TYPE_Q8_K, n));	/* stale bytes */
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_1, x, q1, n), 0);
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_K, x, qk, n), 0);
	/* s = f16(sum * d) with d = amax / 127 before its own f16 rounding */
	for (size_t b = 0; b < n / QK8_1; b++) {
		float amax = 0, d;
		int sum = 0;

		for (int j = 0; j < QK8_1; j++)
			sum += q1[b].qs[j];
		/* (a separate loop: gcc 12's aarch64 vectorizer crashes on
		 * fmaxf and an int sum reduced together) */
		for (int j = 0; j < QK8_1; j++)
			amax = fmaxf(amax, fabsf(x[b * QK8_1 + j]));
		d = amax / 127;
		ck_assert_uint_eq(q1[b].d, kk_f32_to_f16(d));
		ck_assert_uint_eq(q1[b].s, kk_f32_to_f16((float)sum * d));
	}
	for (size_t b = 0; b < n / QK_K; b++) {
		for (int g = 0; g < QK_K / 16; g++) {
			int sum = 0;

			for (int j = 0; j < 16; j++)
				sum += qk[b].qs[16 * g + j];
			ck_assert_int_eq(qk[b].bsums[g], sum);
		}
	}
	ck_assert(qk[1].d == 0.0f);
	free(x);
	free(q1);
	free(qk);
}
END_TEST

/*
 * Ties: with the block's scale exactly 1, Q8_1 (like Q8_0) rounds halves
 * away from zero (ggml's roundf) and Q8_K to even (ggml's nearest_int).
 * libm is the oracle here.
 */
START_TEST(test_activation_ties)
{
	float *x = kt_alloc(QK_K * sizeof(float));
	struct kk_block_q8_1 *q1 = kt_alloc(kk_row_bytes(KK_TYPE_Q8_1, QK_K));
	struct kk_block_q8_K qk;

	for (int j = 0; j < QK_K; j++)
		x[j] = ((float)(j % 15) + 0.5f) * (j % 2 ? -1.0f : 1.0f);
	for (int b = 0; b < QK_K / QK8_1; b++)
		x[b * QK8_1] = b % 2 ? 127.0f : -127.0f;	/* amax: d = 1 */
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_1, x, q1, QK_K), 0);
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_K, x, &qk, QK_K), 0);
	ck_assert(qk.d == 1.0f);
	for (int j = 0; j < QK_K; j++) {
		ck_assert_int_eq(q1[j / QK8_1].qs[j % QK8_1], (int)roundf(x[j]));
		ck_assert_int_eq(qk.qs[j], (int)nearbyintf(x[j]));
	}
	ck_assert_uint_eq(q1[0].d, 0x3c00);	/* f16 1.0 */
	free(x);
	free(q1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (c) dot products                                                     */

static const unsigned weight_types[] = {
	KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q4_0, KK_TYPE_Q4_1,
	KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q8_0, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
	KK_TYPE_Q6_K,
};
#define N_WEIGHTS (sizeof(weight_types) / sizeof(weight_types[0]))

/* Byte offsets of a block's f16 scale and min/dmin (-1: none). */
static void scale_offsets(unsigned type, int *d_off, int *m_off)
{
	*d_off = 0;
	*m_off = -1;
	switch (type) {
	case KK_TYPE_Q4_1:
	case KK_TYPE_Q5_1:
	case KK_TYPE_Q4_K:
	case KK_TYPE_Q5_K:
		*m_off = 2;
		break;
	case KK_TYPE_Q6_K:
		*d_off = offsetof(struct kk_block_q6_K, d);
		break;
	}
}

static void put_f16(uint8_t *p, float f)
{
	uint16_t h = kk_f32_to_f16(f);

	memcpy(p, &h, 2);
}

/*
 * A weight row of random quants.  exact: scales 2^-4 and small integer
 * elements, so that every float step of the dot product is exact.
 */
static void make_weights(unsigned type, size_t k, uint8_t *w, struct kt_rng *rng, int exact)
{
	const size_t be = kk_type_block_elems(type), bs = kk_type_block_bytes(type);
	int d_off, m_off;

	if (be == 1) {
		float *tmp = kt_alloc(k * sizeof(float));

		for (size_t i = 0; i < k; i++)
			tmp[i] = exact ? ldexpf((float)((int)(kt_rng_u64(rng) % 31) - 15), -4)
				       : kt_rng_f32(rng, -1, 1);
		ck_assert_int_eq(kk_quantize_row(type, tmp, w, k), 0);
		free(tmp);
		return;
	}
	kt_fill_bytes(rng, w, kk_row_bytes(type, k));
	scale_offsets(type, &d_off, &m_off);
	for (size_t b = 0; b < k / be; b++) {
		uint8_t *blk = w + b * bs;

		put_f16(blk + d_off, exact ? 0.0625f : kt_rng_f32(rng, -0.05f, 0.05f));
		if (m_off >= 0)
			put_f16(blk + m_off, exact ? 0.0625f * (float)((int)(kt_rng_u64(rng) % 9) - 4)
						   : kt_rng_f32(rng, -0.05f, 0.05f));
	}
	if (exact && (type == KK_TYPE_Q4_K || type == KK_TYPE_Q5_K))
		for (size_t b = 0; b < k / be; b++)	/* dmin: a power of two too */
			put_f16(w + b * bs + 2, 0.0625f);
}

/*
 * The activation row, in the weight's vec_dot type.  exact: built directly
 * with scale 2^-3 and quants in [-7, 7] (so Q8_1's s is exact in f16);
 * otherwise random floats through the reference quantizer.
 */
static void make_acts(unsigned vt, size_t k, uint8_t *xq, struct kt_rng *rng, int exact)
{
	const size_t be = kk_type_block_elems(vt), bs = kk_type_block_bytes(vt);

	if (!exact || be == 1) {
		float *tmp = kt_alloc(k * sizeof(float));

		for (size_t i = 0; i < k; i++)
			tmp[i] = exact ? ldexpf((float)((int)(kt_rng_u64(rng) % 15) - 7), -3)
				       : kt_rng_f32(rng, -1, 1);
		ck_assert_int_eq(kk_quantize_row(vt, tmp, xq, k), 0);
		free(tmp);
		return;
	}
	for (size_t b = 0; b < k / be; b++) {
		uint8_t *blk = xq + b * bs;
		int8_t qs[QK_K];
		int sum = 0;

		for (size_t j = 0; j < be; j++) {
			qs[j] = (int8_t)((int)(kt_rng_u64(rng) % 15) - 7);
			sum += qs[j];
		}
		if (vt == KK_TYPE_Q8_K) {
			struct kk_block_q8_K *y = (void *)blk;

			y->d = 0.125f;
			memcpy(y->qs, qs, QK_K);
			for (int g = 0; g < QK_K / 16; g++) {
				int s = 0;

				for (int j = 0; j < 16; j++)
					s += qs[16 * g + j];
				y->bsums[g] = (int16_t)s;
			}
		} else if (vt == KK_TYPE_Q8_1) {
			struct kk_block_q8_1 *y = (void *)blk;

			y->d = kk_f32_to_f16(0.125f);
			y->s = kk_f32_to_f16(0.125f * (float)sum);
			memcpy(y->qs, qs, QK8_1);
		} else {
			struct kk_block_q8_0 *y = (void *)blk;

			y->d = kk_f32_to_f16(0.125f);
			memcpy(y->qs, qs, QK8_0);
		}
	}
}

/* Has the format a per-block min/offset term? */
static int has_min(unsigned type)
{
	return type == KK_TYPE_Q4_1 || type == KK_TYPE_Q5_1 || type == KK_TYPE_Q4_K ||
	       type == KK_TYPE_Q5_K;
}

/*
 * The offset part of each dequantized weight (the value with every quant
 * zeroed): -dmin*m for K-quants, m for Q4_1/Q5_1.  Its magnitude enters the
 * error bound because the kernel rounds the scale and offset parts apart.
 */
static void min_parts(unsigned type, size_t k, const uint8_t *w, float *out)
{
	const size_t be = kk_type_block_elems(type), bs = kk_type_block_bytes(type);
	uint8_t *z = kt_alloc(kk_row_bytes(type, k));

	memcpy(z, w, kk_row_bytes(type, k));
	for (size_t b = 0; b < k / be; b++) {
		uint8_t *blk = z + b * bs;

		if (type == KK_TYPE_Q4_K || type == KK_TYPE_Q5_K)
			memset(blk + 4 + K_SCALE_SIZE, 0, bs - 4 - K_SCALE_SIZE); /* qh, qs */
		else
			memset(blk + 4, 0, bs - 4);	/* Q4_1: qs; Q5_1: qh, qs */
	}
	kk_ref_dequant_row(type, z, out, k);
	free(z);
}

struct dot_ref {
	double dot;	/* of the dequantized rows */
	double mag;	/* sum |x| (|w| + |offset part of w|) */
	double s_err;	/* Q8_1: what rounding s = d*sum to f16 may cost */
};

static struct dot_ref dot_reference(unsigned type, size_t k, const uint8_t *w,
				    const uint8_t *xq)
{
	const unsigned vt = kk_type_vec_dot_type(type);
	float *wf = kt_alloc(k * sizeof(float)), *xf = kt_alloc(k * sizeof(float));
	float *mp = kt_alloc(k * sizeof(float));
	struct dot_ref r = { 0, 0, 0 };

	kk_ref_dequant_row(type, w, wf, k);
	kk_ref_dequant_row(vt, xq, xf, k);
	if (has_min(type))
		min_parts(type, k, w, mp);
	for (size_t i = 0; i < k; i++) {
		r.dot += (double)wf[i] * xf[i];
		r.mag += fabs(xf[i]) * (fabs(wf[i]) + fabs(mp[i]));
	}
	if (vt == KK_TYPE_Q8_1) {
		for (size_t b = 0; b < k / QK8_1; b++) {
			double s = 0;

			for (int j = 0; j < QK8_1; j++)
				s += xf[b * QK8_1 + j];
			/*
			 * s = f16(d * sum) uses the unrounded d, the dequantized
			 * row f16(d): two f16 roundings, 2^-11 relative each.
			 */
			r.s_err += fabs(mp[b * QK8_1]) * (ldexp(fabs(s), -10) + ldexp(1, -24));
		}
	}
	free(wf);
	free(xf);
	free(mp);
	return r;
}

static const size_t dot_ks[] = { 32, 96, 256, 4096 + 256 };

/*
 * Random scales: |got - dot| <= 4 (blocks + 16) 2^-24 mag + s_err.  Each
 * block adds a few roundings (scale products, the conversion of the integer
 * sum) relative to its own terms, and the float accumulation over blocks
 * (or elements, for float rows) adds one rounding per step.
 */
START_TEST(test_vec_dot_bound)
{
	const unsigned type = weight_types[_i];
	const unsigned vt = kk_type_vec_dot_type(type);
	struct kt_rng rng;
	int tested = 0;

	kt_rng_seed(&rng, 1000 + type);
	for (size_t t = 0; t < sizeof(dot_ks) / sizeof(dot_ks[0]); t++) {
		const size_t k = dot_ks[t];

		if (k % kk_type_block_elems(type))
			continue;
		for (int rep = 0; rep < 3; rep++) {
			uint8_t *w = kt_alloc(kk_row_bytes(type, k));
			uint8_t *xq = kt_alloc(kk_row_bytes(vt, k));
			struct dot_ref r;
			double got, tol;

			make_weights(type, k, w, &rng, 0);
			make_acts(vt, k, xq, &rng, 0);
			got = kk_ref_vec_dot(type, (kk_u32)k, w, xq);
			r = dot_reference(type, k, w, xq);
			tol = 4.0 * (double)(k / kk_type_block_elems(type) + 16) *
			      ldexp(r.mag, -24) + r.s_err;
			ck_assert_msg(fabs(got - r.dot) <= tol,
				      "%s k=%zu rep %d: got %.9g want %.9g (diff %.3g > tol %.3g)",
				      kk_type_name(type), k, rep, got, r.dot,
				      fabs(got - r.dot), tol);
			ck_assert(r.mag > 0);
			tested++;
			free(w);
			free(xq);
		}
	}
	ck_assert_int_ge(tested, 6);
}
END_TEST

/*
 * Power-of-two scales and small quants: every product and partial sum is an
 * integer multiple of 2^-7 and smaller than 2^24 such units (at most 512
 * elements of at most 128*32*7 units each, Q6_K's worst case), so each
 * float step is exact and the result must equal the exact dot.  This pins
 * down the unpacking of every format with no tolerance at all.
 */
START_TEST(test_vec_dot_exact)
{
	static const size_t ks[] = { 32, 96, 256, 512 };
	const unsigned type = weight_types[_i];
	const unsigned vt = kk_type_vec_dot_type(type);
	struct kt_rng rng;
	int tested = 0;

	kt_rng_seed(&rng, 2000 + type);
	for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
		const size_t k = ks[t];

		if (k % kk_type_block_elems(type))
			continue;
		for (int rep = 0; rep < 4; rep++) {
			uint8_t *w = kt_alloc(kk_row_bytes(type, k));
			uint8_t *xq = kt_alloc(kk_row_bytes(vt, k));
			struct dot_ref r;
			float got;

			make_weights(type, k, w, &rng, 1);
			make_acts(vt, k, xq, &rng, 1);
			got = kk_ref_vec_dot(type, (kk_u32)k, w, xq);
			r = dot_reference(type, k, w, xq);
			ck_assert_msg((double)got == r.dot, "%s k=%zu rep %d: got %.9g want %.9g",
				      kk_type_name(type), k, rep, got, r.dot);
			tested++;
			free(w);
			free(xq);
		}
	}
	ck_assert_int_ge(tested, 8);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (d) type traits and error paths                                      */

START_TEST(test_type_traits)
{
	static const struct {
		unsigned type, elems, bytes, vdt;
		const char *name;
		int weight;
	} t[] = {
		{ KK_TYPE_F32, 1, 4, KK_TYPE_F32, "f32", 1 },
		{ KK_TYPE_F16, 1, 2, KK_TYPE_F16, "f16", 1 },
		{ KK_TYPE_BF16, 1, 2, KK_TYPE_BF16, "bf16", 1 },
		{ KK_TYPE_Q4_0, 32, 18, KK_TYPE_Q8_0, "q4_0", 1 },
		{ KK_TYPE_Q4_1, 32, 20, KK_TYPE_Q8_1, "q4_1", 1 },
		{ KK_TYPE_Q5_0, 32, 22, KK_TYPE_Q8_0, "q5_0", 1 },
		{ KK_TYPE_Q5_1, 32, 24, KK_TYPE_Q8_1, "q5_1", 1 },
		{ KK_TYPE_Q8_0, 32, 34, KK_TYPE_Q8_0, "q8_0", 1 },
		{ KK_TYPE_Q8_1, 32, 36, KK_TYPE_COUNT, "q8_1", 0 },
		{ KK_TYPE_Q4_K, 256, 144, KK_TYPE_Q8_K, "q4_K", 1 },
		{ KK_TYPE_Q5_K, 256, 176, KK_TYPE_Q8_K, "q5_K", 1 },
		{ KK_TYPE_Q6_K, 256, 210, KK_TYPE_Q8_K, "q6_K", 1 },
		{ KK_TYPE_Q8_K, 256, 292, KK_TYPE_COUNT, "q8_K", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_uint_eq(kk_type_block_elems(t[i].type), t[i].elems);
		ck_assert_uint_eq(kk_type_block_bytes(t[i].type), t[i].bytes);
		ck_assert_uint_eq(kk_type_vec_dot_type(t[i].type), t[i].vdt);
		ck_assert_str_eq(kk_type_name(t[i].type), t[i].name);
		ck_assert_int_eq(!!kk_type_is_weight(t[i].type), t[i].weight);
		ck_assert_uint_eq(kk_row_bytes(t[i].type, 4096),
				  4096 / t[i].elems * t[i].bytes);
	}
	/* unsupported and out-of-range types */
	for (unsigned type = 0; type < 40; type++) {
		int known = 0;

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			known |= t[i].type == type;
		if (known)
			continue;
		ck_assert_uint_eq(kk_type_block_elems(type), 0);
		ck_assert_uint_eq(kk_type_block_bytes(type), 0);
		ck_assert_str_eq(kk_type_name(type), "?");
		ck_assert_int_eq(kk_type_is_weight(type), 0);
		ck_assert_uint_eq(kk_row_bytes(type, 256), 0);
	}
	ck_assert_uint_eq(kk_row_bytes(0xffffffffu, 256), 0);
}
END_TEST

START_TEST(test_row_bytes_limits)
{
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q4_0, 0), 0);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q4_0, 33), 0);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q4_K, 128), 0);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q6_K, 256 * 3), 630);
	/* the largest n that fits, and the first that does not */
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_F32, UINT64_MAX / 4), UINT64_MAX / 4 * 4);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_F32, UINT64_MAX / 4 + 1), 0);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_F16, UINT64_MAX), 0);
	/* 34 bytes per 32 elements: more bytes than elements overflows */
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q8_0, UINT64_MAX - 31), 0);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q4_0, UINT64_MAX - 31),
			  (UINT64_MAX - 31) / 32 * 18);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q8_K, (UINT64_MAX / 292) * 256),
			  UINT64_MAX / 292 * 292);
	ck_assert_uint_eq(kk_row_bytes(KK_TYPE_Q8_K, (UINT64_MAX / 292 + 1) * 256), 0);
}
END_TEST

START_TEST(test_conversion_errors)
{
	float *x = kt_alloc(512 * sizeof(float)), *y = kt_alloc(512 * sizeof(float));
	uint8_t *q = kt_alloc(1024);
	static const unsigned bad_types[] = { 4, 5, 10, 11, 16, 29, 31, 1000, 0xffffffffu };
	static const unsigned no_quantizer[] = { KK_TYPE_Q4_K, KK_TYPE_Q5_K, KK_TYPE_Q6_K };

	for (int i = 0; i < 512; i++)
		x[i] = (float)i;
	memset(q, 0xa5, 1024);
	for (int i = 0; i < 512; i++)
		y[i] = -1.0f;
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		ck_assert_int_eq(kk_dequantize_row(bad_types[i], q, y, 32), -KK_EINVAL);
		ck_assert_int_eq(kk_quantize_row(bad_types[i], x, q, 32), -KK_EINVAL);
	}
	for (size_t i = 0; i < sizeof(no_quantizer) / sizeof(no_quantizer[0]); i++)
		ck_assert_int_eq(kk_quantize_row(no_quantizer[i], x, q, 256), -KK_EINVAL);
	ck_assert_int_eq(kk_dequantize_row(KK_TYPE_Q4_0, q, y, 33), -KK_EINVAL);
	ck_assert_int_eq(kk_dequantize_row(KK_TYPE_Q4_K, q, y, 128), -KK_EINVAL);
	ck_assert_int_eq(kk_dequantize_row(KK_TYPE_Q8_K, q, y, 300), -KK_EINVAL);
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_0, x, q, 48), -KK_EINVAL);
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_K, x, q, 32), -KK_EINVAL);
	/* failed calls wrote nothing */
	for (int i = 0; i < 512; i++)
		ck_assert(y[i] == -1.0f);
	for (size_t i = 0; i < 1024; i++)
		ck_assert_uint_eq(q[i], 0xa5);
	/* zero elements is a valid, empty row */
	ck_assert_int_eq(kk_dequantize_row(KK_TYPE_Q4_0, q, y, 0), 0);
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_0, x, q, 0), 0);
	ck_assert(y[0] == -1.0f && q[0] == 0xa5);
	/* and odd element counts are fine for the float formats */
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_F16, x, q, 7), 0);
	ck_assert_int_eq(kk_dequantize_row(KK_TYPE_F16, q, y, 7), 0);
	for (int i = 0; i < 7; i++)
		ck_assert(y[i] == x[i]);
	ck_assert(y[7] == -1.0f);
	free(x);
	free(y);
	free(q);
}
END_TEST

/* The rounding helpers against libm (this is userspace: libm is allowed). */
START_TEST(test_rounding_helpers)
{
	static const float v[] = { 0.0f, -0.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f,
				   0.49999997f, -0.49999997f, 126.5f, -127.5f,
				   8388607.5f, 1e30f, -1e30f, 4194303.0f, -4194303.0f };
	struct kt_rng rng;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		float r = roundf(v[i]);
		long want = r > 8388608.f ? 8388608 : r < -8388608.f ? -8388608 : (long)r;

		ck_assert_int_eq(kk_round_away(v[i]), want);
		if (fabsf(v[i]) <= 4194303.f)
			ck_assert_int_eq(kk_nearest_int(v[i]), (long)nearbyintf(v[i]));
	}
	ck_assert_int_eq(kk_round_away(NAN), 0);
	kt_rng_seed(&rng, 99);
	for (int i = 0; i < 100000; i++) {
		float f = kt_rng_f32(&rng, -300, 300);

		if (i & 1)	/* exact halves */
			f = floorf(f) + 0.5f;
		ck_assert_int_eq(kk_round_away(f), (long)roundf(f));
		ck_assert_int_eq(kk_nearest_int(f), (long)nearbyintf(f));
	}
}
END_TEST

static Suite *quant_suite(void)
{
	Suite *s = suite_create("quant");
	TCase *tc = tcase_create("golden");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_golden_dequant, 0, (int)N_DQ_GOLDEN);
	tcase_add_loop_test(tc, test_golden_quant, 0, (int)N_Q_GOLDEN);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_roundtrip, 0, (int)N_QUANTIZERS);
	tcase_add_test(tc, test_activation_sums);
	tcase_add_test(tc, test_activation_ties);
	suite_add_tcase(s, tc);

	tc = tcase_create("vecdot");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_vec_dot_bound, 0, (int)N_WEIGHTS);
	tcase_add_loop_test(tc, test_vec_dot_exact, 0, (int)N_WEIGHTS);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_type_traits);
	tcase_add_test(tc, test_row_bytes_limits);
	tcase_add_test(tc, test_conversion_errors);
	tcase_add_test(tc, test_rounding_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(quant_suite());
}
