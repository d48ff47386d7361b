/* SPDX-License-Identifier: MIT */
/*
 * api_int.h - what the public API's files (api_*.c) share: the model and
 * engine handles and the per-thread error message.
 */
#ifndef KLLM_RUNTIME_API_INT_H
#define KLLM_RUNTIME_API_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "kllm.h"
#include "model.h"
#include "seq.h"
#include "tokenizer.h"

struct kllm_llm {
	struct kllm_model *m;
	struct kllm_tok *tok;
	struct kllm_llm_info info;
	char *arch, *name;	/* info.arch, info.name */
	char *chat_template;	/* tokenizer.chat_template, or NULL */
};

/* One sequence slot. */
struct api_seq {
	int used;
	uint32_t n_past;	/* positions computed (in the KV cache) */
	int32_t *pending;	/* fed, not yet run: positions n_past... */
	uint32_t n_pending, cap;
	int has_logits;		/* logits hold the row after position n_past - 1 */
	float *logits;		/* n_vocab, inside kllm_engine.logits */
	uint32_t partition;	/* prefix-cache partition (kllm_seq_set_partition) */
	int looked;		/* the prefix cache was asked (while n_past was 0) */
	uint32_t n_cached;	/* of n_past, positions the prefix cache gave */
	int32_t *toks;		/* every token, computed and pending (lookup) */
	uint32_t toks_cap;
};

struct kllm_engine {
	const struct kllm_llm *llm;
	struct kllm_ctx *ctx;
	struct kllm_engine_params p;
	uint32_t n_vocab;
	struct api_seq *seqs;	/* p.n_seqs */
	float *logits;		/* n_seqs rows of n_vocab */
	float *out;		/* forward output: min(n_seqs, max_batch) rows */
	int32_t *b_tok, *b_pos, *b_seq;	/* a batch: max_batch each */
	int32_t *b_rows;	/* its output rows */
	uint32_t *b_sid, *b_cnt;	/* its sequences, and tokens of each */
	uint32_t rr;		/* where the next prefill round starts */
	uint32_t rr_dec;	/* where the next decode round starts */
	uint64_t n_computed;	/* positions run through forward passes */
	uint64_t n_reused;	/* positions taken from the prefix cache */
	atomic_int abort;
};

/* Set this thread's message; returns @ret. */
int api_fail(int ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resolve @seq: the slot, or NULL after api_fail(-EINVAL). */
struct api_seq *api_seq_get(const struct kllm_engine *e, int seq, const char *fn);

/*
 * One forward pass over pending input; @only >= 0 restricts it to that
 * sequence.  Tokens run, 0 when nothing was pending, or a negative errno.
 */
int api_step(struct kllm_engine *e, int only);

/*
 * Prompt-lookup verification (api_gen.c): sequence @seq's pending input
 * (1..max_batch - n_draft tokens) and then @draft[0..n_draft) in one
 * forward pass, all of it computed afterwards; the logits after each of
 * the last 1 + n_draft positions, in order, to @rows.  The sequence has
 * no logits then: api_seq_rewind says which of them hold.  0 or a
 * negative errno (nothing changed).
 */
int api_seq_verify(struct kllm_engine *e, int seq, const int32_t *draft, uint32_t n_draft,
		   float *rows);

/*
 * Keep the first @n_keep (<= n_past) positions of sequence @seq, nothing
 * pending; @logits (n_vocab floats; NULL: none) become its logits.
 */
void api_seq_rewind(struct kllm_engine *e, int seq, uint32_t n_keep, const float *logits);

#endif /* KLLM_RUNTIME_API_INT_H */
