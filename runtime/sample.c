// SPDX-License-Identifier: MIT
/*
 * sample.c - the sampler chain of sample.h.
 *
 * Candidates live in one scratch array of (logit, id, p); the filters
 * shrink its length n.  The order of the candidates after a full or partial
 * sort is total (logit descending, then id ascending), so which sort routine
 * ran never changes the result.
 *
 * Floating point: GCC contracts a*b+c into an FMA on targets that have one
 * (-ffp-contract=fast is its default), which would make aarch64 and x86-64
 * round differently, so this file turns contraction off.  exp() is our own
 * for the same reason: libm implementations differ in the last bit.
 *
 * NaN never enters the chain: NaN logits become -inf, and so does any NaN
 * that odd parameters (an infinite temperature or penalty) would create.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

/* Every operation rounded on its own (see above); clang does not
 * contract across statements, which is all the code below relies on. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

struct cand {
	float logit;
	int32_t id;
	double p;
};

struct kllm_sampler {
	struct kllm_sampler_params p;
	uint64_t rng[4];

	int32_t *hist;		/* ring of the last p.penalty_last_n tokens */
	int32_t hist_len;
	int32_t hist_pos;	/* where the next token goes */

	struct cand *cand;	/* the thread's scratch (struct scratch), */
	int32_t *count;		/* set by grow for the call */
};

/*
 * Scratch of the calling thread, shared by every sampler it runs: one
 * per vocabulary entry, whatever the number of samplers alive.
 */
struct scratch {
	struct cand *cand;
	int32_t *count;		/* per-token counts, kept all zero */
	int32_t cap;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p)
{
	struct scratch *sc = p;

	free(sc->cand);
	free(sc->count);
	free(sc);
}

static void scratch_key_init(void)
{
	scratch_key_ok = !pthread_key_create(&scratch_key, scratch_free);
}

/* ------------------------------------------------------------------ */
/* Generator: xoshiro256** seeded through splitmix64                   */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t *s)
{
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static void rng_seed(struct kllm_sampler *s)
{
	uint64_t x = s->p.seed;

	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
}

double kllm_sampler_uniform(struct kllm_sampler *s)
{
	/* 53 random bits: exactly representable, in [0, 1). */
	return (double)(xoshiro_next(s->rng) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------ */
/* exp(x) for x <= 0, bit-identical everywhere                         */

static double exp_neg(double x)
{
	const double ln2_hi = 6.93147180369123816490e-01;
	const double ln2_lo = 1.90821492927058770002e-10;
	const double log2e = 1.44269504088896338700e+00;
	double t, r, y;
	uint64_t bits;
	int k;

	if (!(x > -708.0))	/* also NaN: such terms are below any sum */
		return 0.0;
	if (x >= 0.0)
		return 1.0;
	t = x * log2e;
	k = (int)(t - 0.5);	/* t < 0: rounds to nearest */
	r = x - (double)k * ln2_hi;
	r = r - (double)k * ln2_lo;
	/*
	 * |r| <= ln2/2 + tiny: Taylor to r^8 is within 2e-10 relative,
	 * far below what sampling can notice (llama.cpp uses expf).
	 */
	y = 1.0 / 40320.0;
	y = y * r;
	y = y + 1.0 / 5040.0;
	y = y * r;
	y = y + 1.0 / 720.0;
	y = y * r;
	y = y + 1.0 / 120.0;
	y = y * r;
	y = y + 1.0 / 24.0;
	y = y * r;
	y = y + 1.0 / 6.0;
	y = y * r;
	y = y + 0.5;
	y = y * r;
	y = y + 1.0;
	y = y * r;
	y = y + 1.0;
	/* k >= -1022 here, so 2^k is a normal double. */
	bits = (uint64_t)(k + 1023) << 52;
	memcpy(&t, &bits, sizeof(t));
	return y * t;
}

/* ------------------------------------------------------------------ */
/* Candidate ordering                                                   */

static inline int better(const struct cand *a, const struct cand *b)
{
	return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (better(a, b))
		return -1;
	return better(b, a) ? 1 : 0;
}

/* Min-heap on "better": the root is the worst of the kept k. */
static void sift_down(struct cand *h, int32_t k, int32_t i)
{
	for (;;) {
		int32_t l = 2 * i + 1, r = l + 1, w = i;
		struct cand tmp;

		if (l < k && better(&h[w], &h[l]))
			w = l;
		if (r < k && better(&h[w], &h[r]))
			w = r;
		if (w == i)
			return;
		tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

/* Move the k best of c[0..n) to the front, sorted. */
static void select_top(struct cand *c, int32_t n, int32_t k)
{
	if (k < n) {
		for (int32_t i = k / 2 - 1; i >= 0; i--)
			sift_down(c, k, i);
		for (int32_t i = k; i < n; i++) {
			if (better(&c[i], &c[0])) {
				struct cand tmp = c[0];

				c[0] = c[i];
				c[i] = tmp;
				sift_down(c, k, 0);
			}
		}
	}
	qsort(c, (size_t)k, sizeof(*c), cmp_cand);
}

/* ------------------------------------------------------------------ */
/* The chain                                                            */

static float penalize(const struct kllm_sampler_params *p, float l,
		      int32_t cnt)
{
	float sub;

	/* Dividing a negative logit would make it likelier. */
	if (l <= 0)
		l *= p->penalty_repeat;
	else
		l /= p->penalty_repeat;
	sub = (float)cnt * p->penalty_freq;
	sub = sub + p->penalty_present;
	l = l - sub;
	return isnan(l) ? -INFINITY : l;
}

/*
 * Penalise the logits of the tokens in the history window, each once with
 * its count there; logit t lives at base + t * stride bytes.
 */
static void apply_penalties(struct kllm_sampler *s, int32_t n_vocab,
			    void *base, size_t stride)
{
	const struct kllm_sampler_params *p = &s->p;
	int32_t i;

	if (!p->penalty_last_n || (p->penalty_repeat == 1.0f &&
	    p->penalty_freq == 0.0f && p->penalty_present == 0.0f))
		return;
	for (i = 0; i < s->hist_len; i++)
		if (s->hist[i] >= 0 && s->hist[i] < n_vocab)
			s->count[s->hist[i]]++;
	for (i = 0; i < s->hist_len; i++) {
		int32_t t = s->hist[i];
		float *l;

		if (t < 0 || t >= n_vocab || !s->count[t])
			continue;
		l = (float *)((char *)base + (size_t)t * stride);
		*l = penalize(p, *l, s->count[t]);
		s->count[t] = 0;	/* once per token; scratch back to zero */
	}
}

/* softmax of c[0..n) into c[].p (unnormalised); returns the sum. */
static double softmax(struct cand *c, int32_t n)
{
	float max = c[0].logit;
	double sum = 0;
	int32_t i;

	for (i = 1; i < n; i++)
		if (c[i].logit > max)
			max = c[i].logit;
	for (i = 0; i < n; i++) {
		if (max == INFINITY)	/* +inf logits share everything */
			c[i].p = c[i].logit == INFINITY ? 1.0 : 0.0;
		else
			c[i].p = exp_neg((double)c[i].logit - (double)max);
		sum += c[i].p;
	}
	return sum;
}

#define TOP_P_HEAD 256

/*
 * Keep the shortest prefix, by decreasing probability, whose probability
 * reaches top.  Like llama.cpp, sort only a head of TOP_P_HEAD candidates
 * first (a real model's mass sits in a few tokens), and the rest only when
 * the head does not reach top.  Leaves c[] sorted.
 */
static int32_t top_p(struct cand *c, int32_t n, int sorted, float top,
		     int32_t min_keep)
{
	double sum = softmax(c, n), cum = 0;
	int32_t head = n;

	if (!sorted) {
		head = n < TOP_P_HEAD ? n : TOP_P_HEAD;
		select_top(c, n, head);
	}
	for (int32_t i = 0; i < n; i++) {
		if (i == head) {
			/* c[head..n) are all worse than the head */
			qsort(c + head, (size_t)(n - head), sizeof(*c), cmp_cand);
			head = n;
		}
		cum += c[i].p / sum;
		if (cum >= (double)top && i + 1 >= min_keep)
			return i + 1;
	}
	return n;
}

/*
 * Whether min-p keeps a logit: p_i >= p * p_max, i.e. exp(l - max) >= p.
 * llama.cpp compares l >= max + logf(p); comparing through our exp keeps
 * the cut the same on every libm.
 */
static int min_p_keeps(float l, float max, float p)
{
	if (max == INFINITY)
		return l == INFINITY;
	if (max == -INFINITY)
		return 1;
	return exp_neg((double)l - (double)max) >= (double)p;
}

/* c[] sorted: keep the head that passes, and at least min_keep. */
static int32_t min_p_sorted(const struct cand *c, int32_t n, float p,
			    int32_t min_keep)
{
	int32_t i;

	for (i = 1; i < n; i++)
		if (!min_p_keeps(c[i].logit, c[0].logit, p) && i >= min_keep)
			break;
	return i;
}

static int32_t min_p(struct cand *c, int32_t n, int *sorted, float p,
		     int32_t min_keep)
{
	float max;
	int32_t i, kept = 0;

	if (*sorted)
		return min_p_sorted(c, n, p, min_keep);
	max = c[0].logit;
	for (i = 1; i < n; i++)
		if (c[i].logit > max)
			max = c[i].logit;
	for (i = 0; i < n; i++)
		kept += min_p_keeps(c[i].logit, max, p);
	if (kept && kept >= min_keep) {
		kept = 0;
		for (i = 0; i < n; i++)
			if (min_p_keeps(c[i].logit, max, p))
				c[kept++] = c[i];
		return kept;
	}
	/* Too few pass (or none: p > 1): sorted, the head is kept anyway. */
	qsort(c, (size_t)n, sizeof(*c), cmp_cand);
	*sorted = 1;
	return min_p_sorted(c, n, p, min_keep);
}

static void temperature(struct cand *c, int32_t n, float temp)
{
	for (int32_t i = 0; i < n; i++) {
		c[i].logit /= temp;
		if (isnan(c[i].logit))	/* inf / inf */
			c[i].logit = -INFINITY;
	}
}

static int32_t dist(struct kllm_sampler *s, struct cand *c, int32_t n)
{
	double sum = softmax(c, n), target, run = 0;
	int32_t i, last = 0;

	target = sum * kllm_sampler_uniform(s);
	/* '>' (not '>='): a zero-probability candidate is never picked. */
	for (i = 0; i < n; i++) {
		if (c[i].p <= 0)
			continue;
		run += c[i].p;
		last = i;
		if (run > target)
			return c[i].id;
	}
	return c[last].id;
}

static int32_t argmax(const struct cand *c, int32_t n)
{
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (c[i].logit > c[best].logit)
			best = i;
	return c[best].id;
}

static int grow(struct kllm_sampler *s, int32_t n_vocab)
{
	struct scratch *sc;
	struct cand *c;
	int32_t *cnt;

	pthread_once(&scratch_once, scratch_key_init);
	if (!scratch_key_ok)
		return -ENOMEM;
	sc = pthread_getspecific(scratch_key);
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc || pthread_setspecific(scratch_key, sc)) {
			free(sc);
			return -ENOMEM;
		}
	}
	if (n_vocab > sc->cap) {
		c = malloc((size_t)n_vocab * sizeof(*c));
		cnt = calloc((size_t)n_vocab, sizeof(*cnt));
		if (!c || !cnt) {
			free(c);
			free(cnt);
			return -ENOMEM;
		}
		free(sc->cand);
		free(sc->count);
		sc->cand = c;
		sc->count = cnt;
		sc->cap = n_vocab;
	}
	s->cand = sc->cand;
	s->count = sc->count;
	return 0;
}

int32_t kllm_sample(struct kllm_sampler *s, const float *logits, int32_t n_vocab)
{
	const struct kllm_sampler_params *p;
	struct cand *c;
	int32_t n = n_vocab;
	int sorted = 0;

	if (!s || !logits || n_vocab <= 0)
		return -EINVAL;
	if (grow(s, n_vocab))
		return -ENOMEM;
	p = &s->p;
	c = s->cand;
	for (int32_t i = 0; i < n; i++) {
		c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
		c[i].id = i;
	}
	apply_penalties(s, n_vocab, &c[0].logit, sizeof(*c));
	/* The filters always keep the top token: greedy needs none of them. */
	if (!(p->temperature > 0))
		return argmax(c, n);

	if (p->top_k > 0) {
		if (p->top_k < n)
			n = p->top_k;
		select_top(c, n_vocab, n);
		sorted = 1;
	}
	if (p->top_p < 1.0f) {
		n = top_p(c, n, sorted, p->top_p, p->min_keep);
		sorted = 1;
	}
	if (p->min_p > 0.0f)
		n = min_p(c, n, &sorted, p->min_p, p->min_keep);
	temperature(c, n, p->temperature);
	return dist(s, c, n);
}

int kllm_sampler_penalize(struct kllm_sampler *s, float *logits,
			  int32_t n_vocab)
{
	if (!s || !logits || n_vocab <= 0)
		return -EINVAL;
	if (grow(s, n_vocab))
		return -ENOMEM;
	apply_penalties(s, n_vocab, logits, sizeof(*logits));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */

void kllm_sampler_default_params(struct kllm_sampler_params *p)
{
	memset(p, 0, sizeof(*p));
	p->temperature = 0.8f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->min_keep = 0;
	p->penalty_last_n = 64;
	p->penalty_repeat = 1.0f;
	p->penalty_freq = 0.0f;
	p->penalty_present = 0.0f;
	p->seed = 0;
}

struct kllm_sampler *kllm_sampler_create(const struct kllm_sampler_params *p)
{
	struct kllm_sampler *s;

	if (!p)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->p = *p;
	if (s->p.penalty_last_n < 0)	/* as llama.cpp: callers resolve -1 */
		s->p.penalty_last_n = 0;
	if (s->p.min_keep < 0)
		s->p.min_keep = 0;
	if (s->p.penalty_last_n) {
		s->hist = calloc((size_t)s->p.penalty_last_n, sizeof(*s->hist));
		if (!s->hist) {
			free(s);
			return NULL;
		}
	}
	rng_seed(s);
	return s;
}

void kllm_sampler_free(struct kllm_sampler *s)
{
	if (!s)
		return;
	free(s->hist);
	free(s);
}

void kllm_sampler_accept(struct kllm_sampler *s, int32_t token)
{
	if (!s || !s->p.penalty_last_n)
		return;
	s->hist[s->hist_pos] = token;
	s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
	if (s->hist_len < s->p.penalty_last_n)
		s->hist_len++;
}

void kllm_sampler_reset(struct kllm_sampler *s)
{
	if (!s)
		return;
	s->hist_len = 0;
	s->hist_pos = 0;
	rng_seed(s);
}
