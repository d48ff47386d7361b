/* SPDX-License-Identifier: MIT */
/*
 * sample.h - picking the next token from a row of logits.
 *
 * A sampler is a fixed chain with llama.cpp's default order and semantics
 * (src/llama-sampling.cpp, common/sampling.cpp):
 *
 *   penalties -> top-k -> top-p -> min-p -> temperature -> dist
 *
 * - penalties: over the last penalty_last_n accepted tokens, a token seen
 *   `count` times gets its logit divided by penalty_repeat when positive
 *   (multiplied when <= 0), then minus count * penalty_freq and minus
 *   penalty_present.
 * - top-k keeps the k largest logits (k <= 0: off).
 * - top-p keeps the smallest prefix, by decreasing probability, whose
 *   probability sum reaches p (p >= 1: off).  Probabilities are the softmax
 *   of the logits at that point of the chain, before temperature.
 * - min-p keeps the tokens whose probability is at least p times the
 *   largest one (p <= 0: off).
 * - temperature divides the logits; temperature <= 0 means greedy: the
 *   largest (penalised) logit, the lowest token id on ties.
 * - dist draws from the softmax of what is left with the sampler's own
 *   xoshiro256** generator seeded by splitmix64, and computes exp() itself,
 *   so a seed gives the same tokens on every machine and libc.
 *
 * Logits that are NaN never win; +inf logits share the draw equally; a row
 * of nothing but NaN or -inf yields token 0.  The only allocation is a
 * scratch buffer kept in the sampler, grown when n_vocab grows.
 */
#ifndef KLLM_SAMPLE_H
#define KLLM_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct kllm_sampler_params {
	float temperature;	/* <= 0: greedy */
	int32_t top_k;		/* <= 0: off */
	float top_p;		/* >= 1: off */
	float min_p;		/* <= 0: off */
	int32_t min_keep;	/* top-p and min-p keep at least this many */
	int32_t penalty_last_n;	/* history window; 0: penalties off */
	float penalty_repeat;	/* 1: off */
	float penalty_freq;	/* 0: off */
	float penalty_present;	/* 0: off */
	uint64_t seed;
};

struct kllm_sampler;

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05,
 * last_n 64, no penalties; seed 0 (callers wanting fresh randomness pass
 * their own). */
void kllm_sampler_default_params(struct kllm_sampler_params *p);

/* NULL on allocation failure or a NULL params pointer. */
struct kllm_sampler *kllm_sampler_create(const struct kllm_sampler_params *p);
void kllm_sampler_free(struct kllm_sampler *s);

/*
 * Token id in [0, n_vocab), or a negative errno: -EINVAL for a NULL
 * argument or n_vocab <= 0, -ENOMEM when the scratch buffer cannot grow.
 * Does not record the token: call kllm_sampler_accept() with the token
 * actually appended (it may differ, e.g. a forced token).
 */
int32_t kllm_sample(struct kllm_sampler *s, const float *logits, int32_t n_vocab);

/*
 * The penalty stage alone, in place on logits[0..n_vocab): what
 * kllm_sample() does first.  0, -EINVAL or -ENOMEM.
 */
int kllm_sampler_penalize(struct kllm_sampler *s, float *logits, int32_t n_vocab);

/* Append a token to the penalty history (ids out of any vocabulary are
 * kept but never match). */
void kllm_sampler_accept(struct kllm_sampler *s, int32_t token);

/* Forget the history and restart the generator from the seed. */
void kllm_sampler_reset(struct kllm_sampler *s);

/* Raw generator output, for tests and for callers that need a seeded
 * uniform number from the same stream: a double in [0, 1). */
double kllm_sampler_uniform(struct kllm_sampler *s);

#endif /* KLLM_SAMPLE_H */
