// SPDX-License-Identifier: MIT
/*
 * api_gen.c - kllm_generate(): prefill, then sample / append / decode one
 * token at a time, streaming whole UTF-8 characters through the caller's
 * callback.  Text that might be the start of a stop string is held back
 * until it is known not to be one, so a stop string is never shown.
 *
 * Prompt-lookup decoding (n_draft > 0): after a token, the tokens that
 * followed an earlier occurrence of the context's last n-gram (lookup.h)
 * run with it in one forward pass, with logits for every row.  Row i's
 * logits are those a decode of position i alone would give (kllm_forward
 * does not depend on batching), so sampling row after row exactly as the
 * plain loop would, while the sampled token equals the draft, gives the
 * plain loop's tokens; at the first difference (or a stop) the sequence
 * is cut back to what the plain loop would hold.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "lookup.h"

/* The last verify pass of prompt-lookup decoding. */
struct draft {
	uint32_t n_max, g_min, g_max;	/* from kllm_gen_params */
	uint32_t k;		/* tokens to draft next: 1..n_max */
	uint32_t misses;	/* passes in a row that kept nothing (at most 8) */
	uint32_t skip;		/* tokens to decode without looking up */
	int32_t tok[KLLM_LOOKUP_DRAFT_MAX];
	uint32_t n;		/* draft tokens in the pass; 0: its rows are spent */
	uint32_t at;		/* the row to sample next */
	uint32_t base;		/* the position of the pass's first token */
	float *rows;		/* its logits: n_max + 1 rows */
};

struct gen {
	struct kllm_engine *e;
	struct draft d;
	const struct kllm_gen_params *p;
	struct kllm_detok dt;
	char *piece;		/* detokenizer output */
	size_t piece_cap;
	char *held;		/* text not shown yet (stop strings only) */
	size_t n_held, held_cap;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int grow(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 256;
	char *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (!p)
		return api_fail(-ENOMEM, "out of memory for generated text");
	*buf = p;
	*cap = c;
	return 0;
}

static int show(struct gen *g, int32_t id, const char *s, size_t n)
{
	return g->p->on_token ? g->p->on_token(g->p->arg, id, s, n) : 0;
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_prefix_tail(const struct gen *g, const char *s, size_t n)
{
	size_t best = 0;

	for (size_t i = 0; i < g->p->n_stop; i++) {
		size_t len = strlen(g->p->stop[i]);

		for (size_t k = len - 1 < n ? len - 1 : n; k > best; k--)
			if (!memcmp(s + n - k, g->p->stop[i], k)) {
				best = k;
				break;
			}
	}
	return best;
}

/* Where the earliest stop string starts in s[0..n), or n. */
static size_t stop_find(const struct gen *g, const char *s, size_t n)
{
	size_t at = n;

	for (size_t i = 0; i < g->p->n_stop; i++) {
		const char *m = memmem(s, n, g->p->stop[i], strlen(g->p->stop[i]));

		if (m && (size_t)(m - s) < at)
			at = (size_t)(m - s);
	}
	return at;
}

/*
 * Show token @id's text; with stop strings through the held text.  0,
 * KLLM_STOP_STRING / KLLM_STOP_CALLBACK, or a negative errno.
 */
static int emit(struct gen *g, int32_t id)
{
	const struct kllm_llm *llm = g->e->llm;
	int n = kllm_token_to_piece(llm, id, g->p->special, NULL, 0);
	size_t at, keep;

	if (n < 0)
		return n;
	if (grow(&g->piece, &g->piece_cap, (size_t)n + 4))
		return -ENOMEM;
	n = kllm_detok_push(llm, &g->dt, id, g->p->special, g->piece, g->piece_cap);
	if (n < 0)
		return n;
	if (!g->p->n_stop)
		return show(g, id, g->piece, (size_t)n) ? KLLM_STOP_CALLBACK : 0;
	if (grow(&g->held, &g->held_cap, g->n_held + (size_t)n))
		return -ENOMEM;
	memcpy(g->held + g->n_held, g->piece, (size_t)n);
	g->n_held += (size_t)n;
	at = stop_find(g, g->held, g->n_held);
	if (at < g->n_held) {
		show(g, id, g->held, at);
		g->n_held = 0;
		kllm_detok_init(&g->dt);
		return KLLM_STOP_STRING;
	}
	keep = stop_prefix_tail(g, g->held, g->n_held);
	if (show(g, id, g->held, g->n_held - keep))
		return KLLM_STOP_CALLBACK;
	memmove(g->held, g->held + g->n_held - keep, keep);
	g->n_held = keep;
	return 0;
}

/* At the end: what is still held back (text, an incomplete character). */
static void flush(struct gen *g)
{
	char tail[4];
	int n = kllm_detok_flush(&g->dt, tail, sizeof(tail));

	if (n > 0 && !grow(&g->held, &g->held_cap, g->n_held + (size_t)n)) {
		memcpy(g->held + g->n_held, tail, (size_t)n);
		g->n_held += (size_t)n;
	}
	if (g->n_held)
		show(g, -1, g->held, g->n_held);
	g->n_held = 0;
}

static int check_params(const struct kllm_gen_params *p)
{
	if (!p)
		return api_fail(-EINVAL, "kllm_generate: NULL params");
	if (p->n_stop && !p->stop)
		return api_fail(-EINVAL, "kllm_generate: NULL stop strings");
	for (size_t i = 0; i < p->n_stop; i++)
		if (!p->stop[i] || !p->stop[i][0])
			return api_fail(-EINVAL, "kllm_generate: stop string %zu is empty", i);
	if (p->n_draft > KLLM_LOOKUP_DRAFT_MAX)
		return api_fail(-EINVAL, "kllm_generate: n_draft %u: at most %u", p->n_draft,
				KLLM_LOOKUP_DRAFT_MAX);
	if (p->ngram_max > KLLM_LOOKUP_NGRAM_LIMIT)
		return api_fail(-EINVAL, "kllm_generate: ngram_max %u: at most %u",
				p->ngram_max, KLLM_LOOKUP_NGRAM_LIMIT);
	return 0;
}

/* Drafting set up from @p: 0, or a negative errno. */
static int draft_init(struct gen *g, const struct kllm_gen_params *p)
{
	struct draft *d = &g->d;

	if (!p->n_draft)
		return 0;
	d->g_min = p->ngram_min ? p->ngram_min : KLLM_LOOKUP_NGRAM_MIN;
	d->g_max = p->ngram_max ? p->ngram_max : KLLM_LOOKUP_NGRAM_MAX;
	if (d->g_min > d->g_max)
		return api_fail(-EINVAL, "kllm_generate: ngram_min %u over ngram_max %u",
				d->g_min, d->g_max);
	d->rows = malloc(4ull * g->e->n_vocab * (p->n_draft + 1));
	if (!d->rows)
		return api_fail(-ENOMEM, "out of memory for draft logits");
	d->n_max = p->n_draft;
	d->k = p->n_draft;
	return 0;
}

static const float *draft_row(const struct gen *g, uint32_t i)
{
	return g->d.rows + (size_t)i * g->e->n_vocab;
}

/* The next token: from the verify pass's next row, or the sequence's logits. */
static int32_t sample_next(struct gen *g, int seq, struct kllm_sampler *smp)
{
	int32_t id;

	if (!g->d.n)
		return kllm_seq_sample(g->e, seq, smp);
	id = kllm_sample(smp, draft_row(g, g->d.at), (int32_t)g->e->n_vocab);
	return id < 0 ? api_fail(id, "sample: out of memory") : id;
}

/*
 * A pass of n draft tokens kept @kept: draft more next time when all were
 * right, else one more than were; after passes that kept nothing, decode
 * as many tokens plainly as there were such passes in a row.  A row costs
 * nearly what a decode does on a CPU, so drafting pays only where the
 * text keeps matching.  (Only the speed depends on this, never the
 * tokens.)
 */
static void draft_adapt(struct draft *d, uint32_t kept)
{
	if (kept == d->n)
		d->k = d->k * 2 < d->n_max ? d->k * 2 : d->n_max;
	else
		d->k = kept + 1;
	if (kept) {
		d->misses = 0;
		return;
	}
	if (d->misses < 8)
		d->misses++;
	d->skip = d->misses;
}

/*
 * Token @id, sampled from the pass's row at, becomes pending input, as the
 * plain loop would leave it: the positions after that row are cut.
 */
static int settle(struct gen *g, int seq, int32_t id)
{
	struct draft *d = &g->d;

	if (d->n) {
		api_seq_rewind(g->e, seq, d->base + d->at + 1, NULL);
		draft_adapt(d, d->at);
		d->n = 0;
	}
	return kllm_seq_feed(g->e, seq, &id, 1);
}

/*
 * Run the pending token: with draft tokens in one verify pass when the
 * context has a match and there is room, else as a plain decode.
 */
static int advance(struct gen *g, int seq, struct kllm_gen_result *r)
{
	struct kllm_engine *e = g->e;
	const struct api_seq *s = &e->seqs[seq];
	const uint32_t len = s->n_past + s->n_pending;
	struct draft *d = &g->d;
	uint32_t room = d->k, k = 0;
	int ret;

	if (room > e->p.n_ctx - len)
		room = e->p.n_ctx - len;
	if (room > e->p.max_batch - s->n_pending)
		room = e->p.max_batch - s->n_pending;
	/* the tokens still to sample after the pending one's: n_predict - n_gen */
	if (g->p->n_predict >= 0 && room >= (uint32_t)g->p->n_predict - r->n_gen)
		room = (uint32_t)g->p->n_predict - r->n_gen - 1;
	if (d->skip) {
		d->skip--;
		room = 0;
	}
	if (room)
		k = kllm_lookup_draft(s->toks, len, d->g_min, d->g_max, d->tok, room);
	if (!k)
		return kllm_seq_decode(e, seq);
	ret = api_seq_verify(e, seq, d->tok, k, d->rows);
	if (ret)
		return ret;
	d->n = k;
	d->at = 0;
	d->base = s->n_past - k - 1;
	r->n_draft += k;
	return 0;
}

/* The token loop; 0 with *stop set, or a negative errno. */
static int gen_loop(struct gen *g, int seq, struct kllm_sampler *smp,
		    struct kllm_gen_result *r)
{
	const int32_t limit = g->p->n_predict;
	struct draft *d = &g->d;
	int ret, ret2, hit, last;
	int32_t id;

	for (;;) {
		if (limit >= 0 && r->n_gen >= (uint32_t)limit) {
			r->stop = KLLM_STOP_LIMIT;
			return 0;
		}
		if (atomic_load(&g->e->abort))
			return api_fail(-ECANCELED, "aborted (kllm_abort)");
		id = sample_next(g, seq, smp);
		if (id < 0)
			return id;
		kllm_sampler_accept(smp, id);
		if (kllm_token_is_eog(g->e->llm, id)) {
			if (d->n)	/* the plain loop holds the row's logits */
				api_seq_rewind(g->e, seq, d->base + d->at + 1,
					       draft_row(g, d->at));
			r->stop = KLLM_STOP_EOG;
			return 0;
		}
		hit = d->at < d->n && id == d->tok[d->at];
		if (hit) {	/* computed already, at position base + at */
			d->at++;
			r->n_draft_accepted++;
		} else {
			ret = settle(g, seq, id);
			if (ret)
				return ret;
		}
		r->n_gen++;
		ret = emit(g, id);
		last = limit >= 0 && r->n_gen >= (uint32_t)limit;
		if (hit && (ret || last)) {	/* @id pending, as the plain loop has it */
			d->at--;
			ret2 = settle(g, seq, id);
			if (ret2 && ret >= 0)
				ret = ret2;
		}
		if (ret) {
			r->stop = ret > 0 ? ret : 0;
			return ret > 0 ? 0 : ret;
		}
		/* the last token is left pending: no forward pass it may not need */
		if (last || hit)
			continue;
		ret = advance(g, seq, r);
		if (ret)
			return ret;
	}
}

int kllm_generate(struct kllm_engine *e, int seq, struct kllm_sampler *smp,
		  const struct kllm_gen_params *p, struct kllm_gen_result *res)
{
	const struct api_seq *s = api_seq_get(e, seq, "kllm_generate");
	struct kllm_gen_result r = { 0 };
	struct gen g = { .e = e, .p = p };
	double t0 = now_s(), t1;
	int ret;

	if (res)
		*res = r;
	if (!s)
		return -EINVAL;
	if (!smp)
		return api_fail(-EINVAL, "kllm_generate: NULL sampler");
	ret = check_params(p);
	if (ret)
		return ret;
	if (!s->n_pending && !s->has_logits)
		return api_fail(-EINVAL, "kllm_generate: sequence %d is empty "
				"(feed a prompt first)", seq);
	ret = draft_init(&g, p);
	if (ret)
		return ret;
	r.n_prompt = s->n_pending;
	ret = kllm_seq_decode(e, seq);
	t1 = now_s();
	r.t_prompt_s = t1 - t0;
	if (!ret) {
		ret = gen_loop(&g, seq, smp, &r);
		if (r.stop != KLLM_STOP_STRING && r.stop != KLLM_STOP_CALLBACK)
			flush(&g);
	}
	r.t_gen_s = now_s() - t1;
	free(g.piece);
	free(g.held);
	free(g.d.rows);
	if (res)
		*res = r;
	return ret;
}
