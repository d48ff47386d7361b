/* SPDX-License-Identifier: MIT */
/*
 * lookup.h - prompt-lookup drafting: guess the tokens that come next from
 * an n-gram already in the context (the prompt and what was generated so
 * far).  kllm_generate (api_gen.c) verifies the guesses in one forward
 * pass and keeps those the sampler would have chosen anyway.
 */
#ifndef KLLM_RUNTIME_LOOKUP_H
#define KLLM_RUNTIME_LOOKUP_H

#include <stdint.h>

/* Defaults of kllm_gen_params' ngram_min / ngram_max (0 there). */
#define KLLM_LOOKUP_NGRAM_MIN 1
#define KLLM_LOOKUP_NGRAM_MAX 4
/* Largest n_draft and ngram_max kllm_generate takes. */
#define KLLM_LOOKUP_DRAFT_MAX 32
#define KLLM_LOOKUP_NGRAM_LIMIT 16

/*
 * The last g tokens of @ctx[0..n), for g from @g_max down to @g_min (>= 1),
 * searched for in the rest of @ctx, latest occurrence first: the tokens
 * that followed the first match found (at most @n_max) go to @draft.  The
 * number of draft tokens (0: no match, or n < g_min + 1).  No allocation;
 * O(n * g_max) compares.
 */
uint32_t kllm_lookup_draft(const int32_t *ctx, uint32_t n, uint32_t g_min, uint32_t g_max,
			   int32_t *draft, uint32_t n_max);

#endif /* KLLM_RUNTIME_LOOKUP_H */
