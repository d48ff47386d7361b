/* SPDX-License-Identifier: MIT */
/*
 * sample.h - picking the next token from a row of logits.
 *
 * The sampler is public API: its parameters, chain order and functions
 * are declared and documented in kllm.h.  Details the chain keeps:
 *
 * - top-p's probabilities are the softmax of the logits at that point of
 *   the chain, before temperature.
 * - dist draws from the softmax of what is left with the sampler's own
 *   xoshiro256** generator seeded by splitmix64, and computes exp() itself.
 * - Logits that are NaN never win; +inf logits share the draw equally; a
 *   row of nothing but NaN or -inf yields token 0.  The only allocation is
 *   a scratch buffer kept in the sampler, grown when n_vocab grows.
 */
#ifndef KLLM_SAMPLE_H
#define KLLM_SAMPLE_H

#include "kllm.h"

#endif /* KLLM_SAMPLE_H */
