// SPDX-License-Identifier: MIT
/*
 * gen.c - random quantized blocks that are valid by construction.
 *
 * No float -> quant conversion: the quant bits are random bytes (every bit
 * pattern is a valid quant) and the block scales are chosen so that the
 * dequantized weights have mean ~0 and standard deviation ~sigma, with
 * ggml's sign conventions (q4_1/q5_1 mins negative, K-quant d and dmin
 * positive with the mins subtracted, q6_K scales signed).  That keeps
 * generating a 7B-shaped model I/O bound.
 */
#include <errno.h>
#include <string.h>

#include "kk.h"
#include "kk_blocks.h"
#include "kk_fp.h"
#include "mkmodel.h"

/* Standard deviation of a uniform integer on [0, 2^bits). */
#define SD_U4 4.6098f	/* sqrt((16^2 - 1) / 12) */
#define SD_U5 9.2331f
#define SD_U6 18.4730f
#define SD_U8 73.9003f

void mk_rng_seed(struct mk_rng *r, uint64_t seed, const char *salt)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a of the salt */

	while (salt && *salt)
		h = (h ^ (uint8_t)*salt++) * 0x100000001b3ull;
	r->s = (seed ^ h) * 0x9E3779B97F4A7C15ull + 1;
	if (!r->s)
		r->s = 1;
}

uint64_t mk_rng_u64(struct mk_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

float mk_rng_unif(struct mk_rng *r)
{
	return (float)(mk_rng_u64(r) >> 40) / (float)(1u << 24);
}

float mk_rng_gauss(struct mk_rng *r)
{
	uint64_t u = mk_rng_u64(r);
	float s = 0;
	int i;

	/* four 16-bit uniforms: mean 2, variance 1/3 */
	for (i = 0; i < 4; i++, u >>= 16)
		s += (float)(u & 0xffff) / 65536.0f;
	return (s - 2.0f) * 1.7320508f;
}

static void fill(struct mk_rng *r, void *dst, size_t n)
{
	uint8_t *p = dst;
	uint64_t v;

	while (n >= 8) {
		v = mk_rng_u64(r);
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		v = mk_rng_u64(r);
		memcpy(p, &v, n);
	}
}

/* A block scale: the nominal one jittered by +-25 %, maybe negated. */
static float jitter(struct mk_rng *r, float nominal, int random_sign)
{
	uint64_t u = mk_rng_u64(r);
	float s = nominal * (0.75f + 0.5f * (float)(u >> 40) / (float)(1u << 24));

	return random_sign && (u & 1) ? -s : s;
}

static uint16_t h(float f)
{
	return kk_f32_to_f16(f);
}

/*
 * K-quant 6-bit scales and mins, packed as ggml's get_scale_min_k4()
 * unpacks them.  sc in [16, 63]; min chosen so that dmin * min cancels the
 * mean d * sc * center, given dmin = d * ratio.
 */
static void k_scales(struct mk_rng *r, uint8_t q[K_SCALE_SIZE], float center,
		     float ratio)
{
	uint8_t sc[8], mn[8];
	int j;

	for (j = 0; j < 8; j++) {
		sc[j] = (uint8_t)(16 + mk_rng_u64(r) % 48);
		mn[j] = (uint8_t)((float)sc[j] * center / ratio + 0.5f);
	}
	memset(q, 0, K_SCALE_SIZE);
	for (j = 0; j < 4; j++) {
		q[j] = sc[j];
		q[j + 4] = mn[j];
	}
	for (j = 4; j < 8; j++) {
		q[j + 4] = (uint8_t)((sc[j] & 0xf) | ((mn[j] & 0xf) << 4));
		q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
		q[j] |= (uint8_t)((mn[j] >> 4) << 6);
	}
}

#define MEAN_K_SCALE 39.5f	/* mean of sc over [16, 63] */

static void gen_blocks(uint32_t type, struct mk_rng *r, float sigma,
		       uint8_t *p, uint64_t nb)
{
	uint64_t i;

	for (i = 0; i < nb; i++) {
		switch (type) {
		case KK_TYPE_Q4_0: {
			struct kk_block_q4_0 *b = (void *)(p + i * sizeof(*b));

			b->d = h(jitter(r, sigma / SD_U4, 1));
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q4_1: {
			struct kk_block_q4_1 *b = (void *)(p + i * sizeof(*b));
			float d = jitter(r, sigma / SD_U4, 0);

			b->d = h(d);
			b->m = h(-7.5f * d);
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q5_0: {
			struct kk_block_q5_0 *b = (void *)(p + i * sizeof(*b));

			b->d = h(jitter(r, sigma / SD_U5, 1));
			fill(r, b->qh, sizeof(b->qh));
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q5_1: {
			struct kk_block_q5_1 *b = (void *)(p + i * sizeof(*b));
			float d = jitter(r, sigma / SD_U5, 0);

			b->d = h(d);
			b->m = h(-15.5f * d);
			fill(r, b->qh, sizeof(b->qh));
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q8_0: {
			struct kk_block_q8_0 *b = (void *)(p + i * sizeof(*b));

			b->d = h(jitter(r, sigma / SD_U8, 1));
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q4_K: {
			struct kk_block_q4_K *b = (void *)(p + i * sizeof(*b));
			float d = jitter(r, sigma / (SD_U4 * MEAN_K_SCALE), 0);

			b->d = h(d);
			b->dmin = h(d * 8.0f);
			k_scales(r, b->scales, 7.5f, 8.0f);
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q5_K: {
			struct kk_block_q5_K *b = (void *)(p + i * sizeof(*b));
			float d = jitter(r, sigma / (SD_U5 * MEAN_K_SCALE), 0);

			b->d = h(d);
			b->dmin = h(d * 16.0f);
			k_scales(r, b->scales, 15.5f, 16.0f);
			fill(r, b->qh, sizeof(b->qh));
			fill(r, b->qs, sizeof(b->qs));
			break;
		}
		case KK_TYPE_Q6_K: {
			struct kk_block_q6_K *b = (void *)(p + i * sizeof(*b));
			int j;

			fill(r, b->ql, sizeof(b->ql));
			fill(r, b->qh, sizeof(b->qh));
			for (j = 0; j < QK_K / 16; j++) {
				uint64_t u = mk_rng_u64(r);
				int s = 16 + (int)(u % 112);	/* |scale| in [16, 127] */

				b->scales[j] = (int8_t)(u & (1ull << 32) ? -s : s);
			}
			b->d = h(jitter(r, sigma / (SD_U6 * 71.5f), 0));
			break;
		}
		}
	}
}

int mk_gen(uint32_t type, struct mk_rng *r, float sigma, void *dst, uint64_t n)
{
	uint32_t be = kk_type_block_elems(type);
	uint64_t i;

	if (!be || n % be)
		return -EINVAL;
	switch (type) {
	case KK_TYPE_F32:
		for (i = 0; i < n; i++)
			((float *)dst)[i] = mk_rng_gauss(r) * sigma;
		return 0;
	case KK_TYPE_F16:
		for (i = 0; i < n; i++)
			((uint16_t *)dst)[i] = kk_f32_to_f16(mk_rng_gauss(r) * sigma);
		return 0;
	case KK_TYPE_BF16:
		for (i = 0; i < n; i++)
			((uint16_t *)dst)[i] = kk_f32_to_bf16(mk_rng_gauss(r) * sigma);
		return 0;
	case KK_TYPE_Q4_0: case KK_TYPE_Q4_1: case KK_TYPE_Q5_0:
	case KK_TYPE_Q5_1: case KK_TYPE_Q8_0: case KK_TYPE_Q4_K:
	case KK_TYPE_Q5_K: case KK_TYPE_Q6_K:
		gen_blocks(type, r, sigma, dst, n / be);
		return 0;
	}
	return -EINVAL;
}

void mk_gen_norm(struct mk_rng *r, float *dst, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		dst[i] = 1.0f + 0.1f * mk_rng_gauss(r);
}
