/* SPDX-License-Identifier: MIT */
/*
 * kt.h - small helpers shared by the unit tests: a seeded RNG, float
 * comparison, and Check boilerplate.
 */
#ifndef KLLM_KT_H
#define KLLM_KT_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: reproducible across machines and architectures. */
struct kt_rng {
	uint64_t s;
};

static inline void kt_rng_seed(struct kt_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 1;
}

static inline uint64_t kt_rng_u64(struct kt_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi). */
static inline float kt_rng_f32(struct kt_rng *r, float lo, float hi)
{
	return lo + (hi - lo) * (float)(kt_rng_u64(r) >> 40) / (float)(1u << 24);
}

static inline void kt_fill_f32(struct kt_rng *r, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = kt_rng_f32(r, lo, hi);
}

static inline void kt_fill_bytes(struct kt_rng *r, void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)kt_rng_u64(r);
}

/* Largest |a-b| / max(1, |b|) over n floats; index of it in *at. */
static inline double kt_max_rel_err(const float *a, const float *b, size_t n, size_t *at)
{
	double worst = 0;

	for (size_t i = 0; i < n; i++) {
		double den = fabs((double)b[i]) > 1.0 ? fabs((double)b[i]) : 1.0;
		double e = fabs((double)a[i] - (double)b[i]) / den;

		if (e > worst || isnan(e)) {
			worst = isnan(e) ? INFINITY : e;
			if (at)
				*at = i;
		}
	}
	return worst;
}

static inline void *kt_alloc(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, n ? n : 64))
		abort();
	memset(p, 0, n);
	return p;
}

/* Run one suite with Check's default runner; exit status = failures != 0. */
static inline int kt_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* KLLM_KT_H */
