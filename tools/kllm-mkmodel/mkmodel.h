/* SPDX-License-Identifier: MIT */
/*
 * mkmodel.h - kllm-mkmodel internals: random valid quant blocks (gen.c)
 * and the tokenizer section (vocab.c).
 */
#ifndef KLLM_MKMODEL_H
#define KLLM_MKMODEL_H

#include <stdint.h>

#include "gguf.h"

/* xorshift64*: the same stream on every machine. */
struct mk_rng {
	uint64_t s;
};

void mk_rng_seed(struct mk_rng *r, uint64_t seed, const char *salt);
uint64_t mk_rng_u64(struct mk_rng *r);
/* Uniform in [0, 1). */
float mk_rng_unif(struct mk_rng *r);
/* Roughly N(0, 1) (Irwin-Hall of 4), bounded to +-3.5. */
float mk_rng_gauss(struct mk_rng *r);

/*
 * Fill n elements (a multiple of the type's block size) of type with random
 * but valid data whose dequantized values have mean about 0 and standard
 * deviation about sigma.  Returns 0 or -EINVAL for an unknown type.
 */
int mk_gen(uint32_t type, struct mk_rng *r, float sigma, void *dst, uint64_t n);
/* n floats near 1 (norm weights). */
void mk_gen_norm(struct mk_rng *r, float *dst, uint64_t n);

/* The synthetic vocabulary's sizes: 3 specials and 256 bytes at least. */
#define MK_VOCAB_MIN (3u + 256u)
#define MK_VOCAB_MAX (1u << 22)

/*
 * Add the tokenizer.* keys: copied from the GGUF at path if not NULL (then
 * *n_vocab becomes its token count), else a byte-fallback SentencePiece
 * vocab of *n_vocab tokens.  Messages go to err.
 */
int mk_add_tokenizer(struct gguf_writer *w, const char *path,
		     uint32_t *n_vocab, char *err, size_t errlen);

#endif /* KLLM_MKMODEL_H */
