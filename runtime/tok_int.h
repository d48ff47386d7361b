/* SPDX-License-Identifier: MIT */
/*
 * tok_int.h - tokenizer internals shared by tokenizer.c, tok_load.c,
 * tok_spm.c, tok_bpe.c and tok_pretok.c.
 */
#ifndef KLLM_TOK_INT_H
#define KLLM_TOK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tok_unicode.h"
#include "tokenizer.h"

enum { TOK_MODEL_SPM = 1, TOK_MODEL_BPE = 2 };
enum { TOK_PRE_NONE = 0, TOK_PRE_GPT2, TOK_PRE_LLAMA3, TOK_PRE_QWEN2,
       TOK_PRE_SMOLLM };

/* llama.cpp's llama_token_attr bits. */
#define TOK_ATTR_UNKNOWN (1u << 0)
#define TOK_ATTR_UNUSED (1u << 1)
#define TOK_ATTR_NORMAL (1u << 2)
#define TOK_ATTR_CONTROL (1u << 3)
#define TOK_ATTR_USER_DEFINED (1u << 4)
#define TOK_ATTR_BYTE (1u << 5)

struct tok_entry {
	uint32_t off, len;		/* text in the arena */
	uint32_t piece_off, piece_len;	/* piece (special) in the arena */
	float score;
	uint8_t type;			/* enum kllm_tok_type as read */
	uint8_t attr;			/* TOK_ATTR_* */
	uint8_t eog;
};

struct tok_merge {
	uint32_t a_off, a_len, b_off, b_len;	/* in the arena */
};

struct kllm_tok {
	int model, pre;
	char model_name[8];
	char pre_name[32];
	uint32_t n_vocab;
	struct tok_entry *tok;
	char *arena;
	size_t arena_len, arena_cap;
	uint32_t *tok_hash;	/* id + 1, 0 = empty; open addressing */
	size_t tok_mask;
	struct tok_merge *merges;	/* index = rank */
	uint32_t n_merges;
	uint32_t *merge_hash;	/* rank + 1 */
	size_t merge_mask;
	int32_t bos, eos, eot, eom, unk, pad;
	int add_bos, add_eos, add_space_prefix, ignore_merges;
	int32_t *special;	/* control/user-defined/unknown ids, longest first */
	uint32_t n_special;
};

/* A growable id array; err latches -ENOMEM. */
struct tok_ids {
	int32_t *v;
	size_t n, cap;
	int err;
};

void tok_ids_push(struct tok_ids *o, int32_t id);

/* Max-heap of candidate merges: larger key first, then smaller left. */
struct tok_bigram {
	double key;
	int left, right;
	size_t size;
};

struct tok_heap {
	struct tok_bigram *v;
	size_t n, cap;
	int err;
};

void tok_heap_push(struct tok_heap *h, const struct tok_bigram *b);
struct tok_bigram tok_heap_pop(struct tok_heap *h);

/* The linked symbols both merge loops work on. */
struct tok_sym {
	int prev, next;
	const char *text;
	size_t n;
};

uint64_t tok_hash_bytes(const char *s, size_t n, uint64_t seed);
int32_t tok_lookup(const struct kllm_tok *t, const char *s, size_t n);
int32_t tok_merge_rank(const struct kllm_tok *t, const char *a, size_t na,
		       const char *b, size_t nb);
static inline const char *tok_str(const struct kllm_tok *t, int32_t id)
{
	return t->arena + t->tok[id].off;
}

/* Tokenize one raw fragment (already ▁-escaped for SPM). */
int tok_spm_encode(const struct kllm_tok *t, const char *text, size_t n,
		   struct tok_ids *out);
int tok_bpe_encode(const struct kllm_tok *t, const char *text, size_t n,
		   struct tok_ids *out);

/* Split code points into words; lens (n entries) gets word lengths. */
size_t tok_pretok_split(int pre, const uint32_t *cpts, size_t n, size_t *lens);

#endif /* KLLM_TOK_INT_H */
