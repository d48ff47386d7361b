// SPDX-License-Identifier: MIT
/*
 * test_sample.c - the sampler chain: greedy and its limits, each filter on
 * crafted distributions, llama.cpp's penalty arithmetic, the seeded
 * generator against values computed independently (Python), empirical
 * distributions against softmax (chi-square), and hostile logits.
 */
#include <errno.h>
#include <float.h>

#include "sample.h"
#include "kt.h"

/* Every filter off: temperature 1, plain softmax sampling. */
static void plain(struct kllm_sampler_params *p, uint64_t seed)
{
	kllm_sampler_default_params(p);
	p->temperature = 1.0f;
	p->top_k = 0;
	p->top_p = 1.0f;
	p->min_p = 0.0f;
	p->seed = seed;
}

static struct kllm_sampler *mk(const struct kllm_sampler_params *p)
{
	struct kllm_sampler *s = kllm_sampler_create(p);

	ck_assert_ptr_nonnull(s);
	return s;
}

/* Lowest index of the largest value. */
static int32_t ref_argmax(const float *x, int32_t n)
{
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Draw `draws` tokens; counts[] gets the histogram. */
static void histogram(struct kllm_sampler *s, const float *logits, int32_t n,
		      int draws, int *counts)
{
	memset(counts, 0, (size_t)n * sizeof(*counts));
	for (int i = 0; i < draws; i++) {
		int32_t t = kllm_sample(s, logits, n);

		ck_assert_msg(t >= 0 && t < n, "token %d out of [0, %d)", t, n);
		counts[t]++;
	}
}

/* ------------------------------------------------------------------ */

START_TEST(test_defaults)
{
	struct kllm_sampler_params p;

	kllm_sampler_default_params(&p);
	ck_assert(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f);
	ck_assert(p.min_p == 0.05f && p.penalty_last_n == 64);
	ck_assert(p.penalty_repeat == 1.0f && p.penalty_freq == 0.0f &&
		  p.penalty_present == 0.0f);
}
END_TEST

START_TEST(test_greedy)
{
	static const float temps[] = { 0.0f, -1.0f };
	struct kllm_sampler_params p;
	struct kt_rng r;
	float x[1000];

	kllm_sampler_default_params(&p);
	p.temperature = temps[_i];
	for (int it = 0; it < 50; it++) {
		struct kllm_sampler *s;
		int32_t n = 1 + it * 19;

		kt_rng_seed(&r, (uint64_t)it);
		kt_fill_f32(&r, x, (size_t)n, -5, 5);
		/* Quantise so that ties happen. */
		for (int32_t i = 0; i < n; i++)
			x[i] = (float)(int)(x[i] * 2) / 2;
		p.seed = (uint64_t)it;
		s = mk(&p);
		ck_assert_int_eq(kllm_sample(s, x, n), ref_argmax(x, n));
		kllm_sampler_free(s);
	}
	/* Ties: the lowest id wins. */
	{
		const float t[] = { 1, 3, 2, 3, 3 };
		struct kllm_sampler *s = mk(&p);

		ck_assert_int_eq(kllm_sample(s, t, 5), 1);
		kllm_sampler_free(s);
	}
}
END_TEST

/* top-k = 1 leaves one candidate: sampling is greedy, whatever the seed. */
START_TEST(test_top_k_1)
{
	struct kllm_sampler_params p;
	struct kt_rng r;
	float x[512];

	kllm_sampler_default_params(&p);
	p.top_k = 1;
	kt_rng_seed(&r, 7);
	for (int it = 0; it < 100; it++) {
		struct kllm_sampler *s;
		int32_t n = 2 + (int32_t)(kt_rng_u64(&r) % 500);

		kt_fill_f32(&r, x, (size_t)n, -3, 3);
		x[kt_rng_u64(&r) % (uint64_t)n] = 3.0f;	/* sometimes ties */
		x[kt_rng_u64(&r) % (uint64_t)n] = 3.0f;
		p.seed = (uint64_t)it;
		s = mk(&p);
		ck_assert_int_eq(kllm_sample(s, x, n), ref_argmax(x, n));
		kllm_sampler_free(s);
	}
}
END_TEST

/* Temperature -> 0 sharpens to the argmax. */
START_TEST(test_temperature_limit)
{
	const float x[] = { 0.1f, 1.0f, 0.9f, -2.0f, 0.95f, 0.3f };
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	int counts[6];

	plain(&p, 3);
	p.temperature = 1e-3f;
	s = mk(&p);
	histogram(s, x, 6, 2000, counts);
	ck_assert_int_eq(counts[1], 2000);
	kllm_sampler_free(s);

	/* At 0.02 the runner-up (0.05 below) has e^-2.5 = 8% odds. */
	p.temperature = 0.02f;
	s = mk(&p);
	histogram(s, x, 6, 2000, counts);
	ck_assert_int_gt(counts[4], 50);
	ck_assert_int_eq(counts[1] + counts[4] + counts[2], 2000);
	kllm_sampler_free(s);
}
END_TEST

/*
 * probs 0.5, 0.3, 0.15, 0.05 (shuffled); which tokens can come out for
 * a top-p or min-p setting.
 */
static const float quad[] = { -2.9957323f /* .05 */, -0.6931472f /* .5 */,
			      -1.8971200f /* .15 */, -1.2039728f /* .3 */ };

static unsigned support(const struct kllm_sampler_params *p, int draws)
{
	struct kllm_sampler *s = mk(p);
	unsigned mask = 0;
	int counts[4];

	histogram(s, quad, 4, draws, counts);
	for (int i = 0; i < 4; i++)
		if (counts[i])
			mask |= 1u << i;
	kllm_sampler_free(s);
	return mask;
}

START_TEST(test_top_p)
{
	struct kllm_sampler_params p;

	plain(&p, 11);
	p.top_p = 0.45f;	/* 0.5 alone reaches it */
	ck_assert_uint_eq(support(&p, 3000), 0x2);
	p.top_p = 0.75f;	/* 0.5 + 0.3 */
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8);
	p.top_p = 0.9f;		/* + 0.15 */
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
	p.top_p = 0.999f;
	ck_assert_uint_eq(support(&p, 3000), 0xf);
	p.top_p = 0.1f;		/* min_keep wins over p */
	p.min_keep = 3;
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
	/* Probabilities are taken before temperature: a hot temperature
	 * does not let the 0.05 token back in. */
	p.min_keep = 0;
	p.top_p = 0.9f;
	p.temperature = 50.0f;
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
}
END_TEST

/* Past the 256-candidate head that top-p sorts first: the rest is sorted
 * on demand and the cut lands at the same rank. */
START_TEST(test_top_p_long_tail)
{
	enum { N = 1000 };
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	static float x[N];
	static int32_t rank[N];
	struct kt_rng r;
	double sum = 0, cum = 0;
	int32_t keep = 0, deepest = 0;

	/* x[id] = -0.002 * rank, ids shuffled */
	for (int32_t i = 0; i < N; i++)
		rank[i] = i;
	kt_rng_seed(&r, 4);
	for (int32_t i = N - 1; i > 0; i--) {
		int32_t j = (int32_t)(kt_rng_u64(&r) % (uint64_t)(i + 1)), t = rank[i];

		rank[i] = rank[j];
		rank[j] = t;
	}
	for (int32_t i = 0; i < N; i++) {
		x[i] = -0.002f * (float)rank[i];
		sum += exp(-0.002 * rank[i]);
	}
	while (keep < N && cum < 0.8) {
		cum += exp(-0.002 * keep) / sum;
		keep++;
	}
	ck_assert_int_gt(keep, 400);
	plain(&p, 21);
	p.top_p = 0.8f;
	s = mk(&p);
	for (int i = 0; i < 2000; i++) {
		int32_t t = kllm_sample(s, x, N);

		ck_assert(t >= 0 && t < N);
		/* one rank of slack for exp rounding at the boundary */
		ck_assert_msg(rank[t] <= keep, "rank %d kept, cut at %d", rank[t], keep);
		if (rank[t] > deepest)
			deepest = rank[t];
	}
	ck_assert_int_ge(deepest, keep - 5);
	kllm_sampler_free(s);
}
END_TEST

START_TEST(test_min_p)
{
	struct kllm_sampler_params p;

	plain(&p, 12);
	p.min_p = 0.25f;	/* >= 0.125 */
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
	p.min_p = 0.5f;		/* >= 0.25 */
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8);
	p.min_p = 0.9f;
	ck_assert_uint_eq(support(&p, 3000), 0x2);
	p.min_p = 1.5f;		/* nothing passes: the top token stays */
	ck_assert_uint_eq(support(&p, 3000), 0x2);
	p.min_keep = 3;		/* unsorted pass falls back to sorting */
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
	p.min_keep = 0;
	p.top_k = 4;		/* sorted path, after top-k */
	p.min_p = 0.25f;
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
	p.min_p = 0.5f;
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8);
	p.min_keep = 3;
	ck_assert_uint_eq(support(&p, 3000), 0x2 | 0x8 | 0x4);
	p.min_keep = 0;
	p.top_k = 1;
	ck_assert_uint_eq(support(&p, 3000), 0x2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Penalties                                                            */

/* llama.cpp's llama_sampler_penalties_apply, written out independently. */
static void ref_penalties(float *x, int32_t n, const int32_t *hist, int nh,
			  int last_n, float rep, float freq, float present)
{
	int from = nh > last_n ? nh - last_n : 0;

	for (int32_t t = 0; t < n; t++) {
		int cnt = 0;

		for (int i = from; i < nh; i++)
			cnt += hist[i] == t;
		if (!cnt)
			continue;
		if (x[t] <= 0)
			x[t] *= rep;
		else
			x[t] /= rep;
		/* freq and present are exact binary fractions below, so
		 * a contracted multiply-add rounds the same. */
		x[t] -= (float)cnt * freq + present;
	}
}

START_TEST(test_penalties_math)
{
	static const struct {
		int last_n;
		float rep, freq, present;
	} cfg[] = {
		{ 64, 1.1f, 0.0f, 0.0f },
		{ 64, 1.0f, 0.5f, 0.0f },
		{ 64, 1.0f, 0.0f, 0.75f },
		{ 8, 1.3f, 0.25f, 0.5f },
		{ 1, 0.8f, 0.125f, 1.0f },
	};
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	struct kt_rng r;
	int32_t hist[200];
	float x[50], want[50];

	plain(&p, 0);
	p.penalty_last_n = cfg[_i].last_n;
	p.penalty_repeat = cfg[_i].rep;
	p.penalty_freq = cfg[_i].freq;
	p.penalty_present = cfg[_i].present;
	s = mk(&p);
	kt_rng_seed(&r, 99 + (uint64_t)_i);
	for (int nh = 0; nh < 200; nh++) {
		/* Some ids fall outside the vocabulary: never matched. */
		hist[nh] = (int32_t)(kt_rng_u64(&r) % 60) - 5;
		kllm_sampler_accept(s, hist[nh]);
		kt_fill_f32(&r, x, 50, -4, 4);
		x[7] = 0.0f;
		memcpy(want, x, sizeof(x));
		ref_penalties(want, 50, hist, nh + 1, cfg[_i].last_n,
			      cfg[_i].rep, cfg[_i].freq, cfg[_i].present);
		ck_assert_int_eq(kllm_sampler_penalize(s, x, 50), 0);
		for (int t = 0; t < 50; t++)
			ck_assert_msg(x[t] == want[t], "hist %d token %d: %a want %a",
				      nh, t, (double)x[t], (double)want[t]);
	}
	/* reset forgets the history */
	kllm_sampler_reset(s);
	kt_fill_f32(&r, x, 50, -4, 4);
	memcpy(want, x, sizeof(x));
	ck_assert_int_eq(kllm_sampler_penalize(s, x, 50), 0);
	ck_assert(!memcmp(x, want, sizeof(x)));
	kllm_sampler_free(s);
}
END_TEST

/* The penalty decides greedy picks: divide positive, multiply negative. */
START_TEST(test_penalties_greedy)
{
	const float pos[] = { 2.0f, 1.9f }, neg[] = { -1.0f, -1.05f };
	struct kllm_sampler_params p;
	struct kllm_sampler *s;

	kllm_sampler_default_params(&p);
	p.temperature = 0;
	p.penalty_repeat = 1.1f;
	p.penalty_last_n = 2;
	s = mk(&p);
	ck_assert_int_eq(kllm_sample(s, pos, 2), 0);
	kllm_sampler_accept(s, 0);
	ck_assert_int_eq(kllm_sample(s, pos, 2), 1);	/* 2/1.1 < 1.9 */
	ck_assert_int_eq(kllm_sample(s, neg, 2), 1);	/* -1*1.1 < -1.05 */
	/* Two newer tokens push token 0 out of the window. */
	kllm_sampler_accept(s, 1);
	kllm_sampler_accept(s, 1);
	ck_assert_int_eq(kllm_sample(s, pos, 2), 0);
	kllm_sampler_free(s);

	/* penalty_last_n = 0 turns penalties off. */
	p.penalty_last_n = 0;
	s = mk(&p);
	kllm_sampler_accept(s, 0);
	ck_assert_int_eq(kllm_sample(s, pos, 2), 0);
	kllm_sampler_free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Generator and reproducibility                                        */

/*
 * Golden values from an independent Python model of splitmix64 seeding,
 * xoshiro256** and the running-sum draw: any machine must match them.
 */
START_TEST(test_golden)
{
	static const uint64_t u42[] = { 0x2af0165c185d8ull, 0xc209b30cda227ull,
					0x15c2ea66473c93ull, 0x1d9715a8e0766cull };
	static const int32_t tok[] = { 0, 6, 4, 6, 2, 6, 4, 2, 4, 4, 4, 2,
				       2, 4, 4, 6, 4, 7, 7, 6, 6, 3, 4, 0 };
	const float x[] = { 0.25f, -1.5f, 1.0f, 0.5f, 2.0f, -0.75f, 1.25f, 0.0f };
	struct kllm_sampler_params p;
	struct kllm_sampler *s;

	plain(&p, 42);
	s = mk(&p);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq((uint64_t)(kllm_sampler_uniform(s) * 0x1.0p53), u42[i]);
	kllm_sampler_free(s);

	plain(&p, 1234);
	s = mk(&p);
	for (int i = 0; i < 24; i++)
		ck_assert_int_eq(kllm_sample(s, x, 8), tok[i]);
	kllm_sampler_free(s);
}
END_TEST

START_TEST(test_reproducible)
{
	struct kllm_sampler_params p;
	struct kllm_sampler *a, *b, *c;
	struct kt_rng r;
	float x[300];
	int32_t first[200];
	int differ = 0;

	kllm_sampler_default_params(&p);
	p.temperature = 1.5f;
	p.top_k = 100;
	p.top_p = 0.98f;
	p.min_p = 0.01f;
	p.penalty_repeat = 1.2f;
	p.seed = 77;
	a = mk(&p);
	b = mk(&p);
	p.seed = 78;
	c = mk(&p);
	kt_rng_seed(&r, 5);
	kt_fill_f32(&r, x, 300, -2, 2);
	for (int i = 0; i < 200; i++) {
		int32_t ta = kllm_sample(a, x, 300);

		ck_assert_int_eq(kllm_sample(b, x, 300), ta);
		differ += kllm_sample(c, x, 300) != ta;
		kllm_sampler_accept(a, ta);
		kllm_sampler_accept(b, ta);
		kllm_sampler_accept(c, ta);
		first[i] = ta;
	}
	ck_assert_int_gt(differ, 100);	/* another seed, another stream */
	/* reset replays the stream from the seed */
	kllm_sampler_reset(a);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(kllm_sample(a, x, 300), first[i]);
		kllm_sampler_accept(a, first[i]);
	}
	kllm_sampler_free(a);
	kllm_sampler_free(b);
	kllm_sampler_free(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Empirical distribution                                               */

/*
 * 20000 draws against softmax(logits / T) over the kept tokens.  Pearson's
 * chi-square with 7 degrees of freedom: 24.32 is its 0.999 quantile, so a
 * correct sampler fails about once in a thousand seeds (the seed is fixed,
 * so the test is deterministic); a wrong temperature or normalisation gives
 * values in the hundreds.  Also |freq - p| <= 0.012 (about 4 sigma).
 */
START_TEST(test_distribution)
{
	static const struct {
		float temp;
		int32_t top_k;
	} cfg[] = { { 1.0f, 0 }, { 0.7f, 0 }, { 2.0f, 0 }, { 1.0f, 5 } };
	const float x[] = { 1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f, 0.3f, 1.5f };
	const int draws = 20000, n = 8;
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	double prob[8], sum = 0, chi2 = 0, worst = 0;
	int counts[8], kept = 0;

	plain(&p, 2024 + (uint64_t)_i);
	p.temperature = cfg[_i].temp;
	p.top_k = cfg[_i].top_k;
	/* top-k 5 keeps 2.0, 1.5, 1.0, 0.5, 0.3 */
	for (int i = 0; i < n; i++) {
		int in = !p.top_k || x[i] >= 0.3f;

		prob[i] = in ? exp((double)x[i] / p.temperature) : 0;
		sum += prob[i];
		kept += in;
	}
	s = mk(&p);
	histogram(s, x, n, draws, counts);
	for (int i = 0; i < n; i++) {
		double e = prob[i] / sum * draws, f = (double)counts[i] / draws;

		if (e == 0) {
			ck_assert_int_eq(counts[i], 0);
			continue;
		}
		chi2 += (counts[i] - e) * (counts[i] - e) / e;
		if (fabs(f - prob[i] / sum) > worst)
			worst = fabs(f - prob[i] / sum);
	}
	ck_assert_msg(chi2 < (kept == 8 ? 24.32 : 18.47),
		      "chi-square %.2f over %d tokens", chi2, kept);
	ck_assert_msg(worst <= 0.012, "max |freq - p| = %.4f", worst);
	kllm_sampler_free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hostile input                                                        */

START_TEST(test_nan_inf)
{
	const float nanf_ = NAN, inf = INFINITY;
	const float a[] = { nanf_, 1.0f, nanf_, 3.0f, nanf_ };
	const float b[] = { 0.0f, inf, 5.0f, inf, -inf };
	const float c[] = { nanf_, nanf_, nanf_ };
	const float d[] = { -inf, -inf, -inf, -inf };
	const float e[] = { -inf, nanf_, -inf, 0.5f };
	const float f[] = { FLT_MAX, -FLT_MAX, FLT_MAX, 0.0f };
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	int counts[5];

	for (int greedy = 0; greedy < 2; greedy++) {
		plain(&p, 8);
		p.temperature = greedy ? 0.0f : 0.5f;
		p.penalty_repeat = 1.5f;
		s = mk(&p);
		kllm_sampler_accept(s, 3);
		histogram(s, a, 5, 500, counts);
		ck_assert_int_eq(counts[0] + counts[2] + counts[4], 0);
		histogram(s, b, 5, 500, counts);
		ck_assert_int_eq(counts[1] + counts[3], 500);
		if (!greedy)	/* +inf logits share the draw */
			ck_assert(counts[1] > 150 && counts[3] > 150);
		histogram(s, c, 3, 50, counts);
		ck_assert_int_eq(counts[0], 50);
		histogram(s, d, 4, 50, counts);
		ck_assert_int_eq(counts[0], 50);
		histogram(s, e, 4, 50, counts);
		ck_assert_int_eq(counts[3], 50);
		/* temperature 0.5 overflows FLT_MAX to inf: still the two */
		histogram(s, f, 4, 500, counts);
		ck_assert_int_eq(counts[0] + counts[2], 500);
		kllm_sampler_free(s);
	}
	/* Parameters that would turn inf into NaN: infinite temperature
	 * (inf / inf), zero repeat penalty (-inf * 0). */
	plain(&p, 9);
	p.temperature = INFINITY;
	p.penalty_repeat = 0.0f;
	s = mk(&p);
	kllm_sampler_accept(s, 4);
	histogram(s, b, 5, 200, counts);
	ck_assert_int_eq(counts[0] + counts[2], 200);	/* the finite ones */
	kllm_sampler_free(s);
}
END_TEST

/* Random bit patterns (NaN, inf, subnormals) under every filter. */
START_TEST(test_fuzz)
{
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	struct kt_rng r;
	float x[257];

	kt_rng_seed(&r, 31337);
	for (int it = 0; it < 400; it++) {
		int32_t n = 1 + (int32_t)(kt_rng_u64(&r) % 257), t;

		kllm_sampler_default_params(&p);
		p.temperature = (float)(int)(kt_rng_u64(&r) % 4) * 0.5f;
		p.top_k = (int32_t)(kt_rng_u64(&r) % 5) * 20;
		p.top_p = kt_rng_f32(&r, 0, 1.2f);
		p.min_p = kt_rng_f32(&r, -0.1f, 1.5f);
		p.min_keep = (int32_t)(kt_rng_u64(&r) % 4);
		p.penalty_repeat = kt_rng_f32(&r, 0.5f, 2);
		p.penalty_freq = kt_rng_f32(&r, -1, 1);
		p.penalty_present = kt_rng_f32(&r, -1, 1);
		p.seed = (uint64_t)it;
		s = mk(&p);
		for (int k = 0; k < 10; k++)
			kllm_sampler_accept(s, (int32_t)(kt_rng_u64(&r) % 300));
		if (it & 1)
			kt_fill_bytes(&r, x, (size_t)n * sizeof(float));
		else
			kt_fill_f32(&r, x, (size_t)n, -30, 30);
		t = kllm_sample(s, x, n);
		ck_assert_msg(t >= 0 && t < n, "iteration %d: token %d of %d", it, t, n);
		kllm_sampler_free(s);
	}
}
END_TEST

START_TEST(test_errors_and_growth)
{
	struct kllm_sampler_params p;
	struct kllm_sampler *s;
	float x[1000];
	struct kt_rng r;

	kllm_sampler_default_params(&p);
	ck_assert_ptr_null(kllm_sampler_create(NULL));
	s = mk(&p);
	ck_assert_int_eq(kllm_sample(NULL, x, 10), -EINVAL);
	ck_assert_int_eq(kllm_sample(s, NULL, 10), -EINVAL);
	ck_assert_int_eq(kllm_sample(s, x, 0), -EINVAL);
	ck_assert_int_eq(kllm_sample(s, x, -3), -EINVAL);
	ck_assert_int_eq(kllm_sampler_penalize(s, NULL, 3), -EINVAL);
	/* The scratch buffer follows the vocabulary up and down. */
	kt_rng_seed(&r, 1);
	kt_fill_f32(&r, x, 1000, -1, 1);
	for (int32_t n = 1; n <= 1000; n = n * 3 + 1) {
		int32_t t = kllm_sample(s, x, n);

		ck_assert(t >= 0 && t < n);
	}
	ck_assert_int_ge(kllm_sample(s, x, 5), 0);
	kllm_sampler_free(s);
	kllm_sampler_free(NULL);
	kllm_sampler_accept(NULL, 1);
	kllm_sampler_reset(NULL);
}
END_TEST

static Suite *sample_suite(void)
{
	Suite *s = suite_create("sample");
	TCase *tc = tcase_create("sample");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_defaults);
	tcase_add_loop_test(tc, test_greedy, 0, 2);
	tcase_add_test(tc, test_top_k_1);
	tcase_add_test(tc, test_temperature_limit);
	tcase_add_test(tc, test_top_p);
	tcase_add_test(tc, test_top_p_long_tail);
	tcase_add_test(tc, test_min_p);
	tcase_add_loop_test(tc, test_penalties_math, 0, 5);
	tcase_add_test(tc, test_penalties_greedy);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_reproducible);
	tcase_add_loop_test(tc, test_distribution, 0, 4);
	tcase_add_test(tc, test_nan_inf);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_errors_and_growth);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(sample_suite());
}
