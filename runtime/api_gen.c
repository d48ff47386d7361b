// SPDX-License-Identifier: MIT
/*
 * api_gen.c - kllm_generate(): prefill, then sample / append / decode one
 * token at a time, streaming whole UTF-8 characters through the caller's
 * callback.  Text that might be the start of a stop string is held back
 * until it is known not to be one, so a stop string is never shown.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"

struct gen {
	struct kllm_engine *e;
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
	return 0;
}

/* The token loop; 0 with *stop set, or a negative errno. */
static int gen_loop(struct gen *g, int seq, struct kllm_sampler *smp,
		    struct kllm_gen_result *r)
{
	const int32_t limit = g->p->n_predict;
	int32_t id;
	int ret;

	for (;;) {
		if (limit >= 0 && r->n_gen >= (uint32_t)limit) {
			r->stop = KLLM_STOP_LIMIT;
			return 0;
		}
		if (atomic_load(&g->e->abort))
			return api_fail(-ECANCELED, "aborted (kllm_abort)");
		id = kllm_seq_sample(g->e, seq, smp);
		if (id < 0)
			return id;
		kllm_sampler_accept(smp, id);
		if (kllm_token_is_eog(g->e->llm, id)) {
			r->stop = KLLM_STOP_EOG;
			return 0;
		}
		ret = kllm_seq_feed(g->e, seq, &id, 1);
		if (ret)
			return ret;
		r->n_gen++;
		ret = emit(g, id);
		if (ret) {
			r->stop = ret > 0 ? ret : 0;
			return ret > 0 ? 0 : ret;
		}
		/* the last token is left pending: no forward pass it may not need */
		if (limit >= 0 && r->n_gen >= (uint32_t)limit)
			continue;
		ret = kllm_seq_decode(g->e, seq);
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
	if (res)
		*res = r;
	return ret;
}
