// SPDX-License-Identifier: MIT
/*
 * reuse.c - kllm-serve's prompts and prompt reuse.
 *
 * Prompts: a chat request's messages through the model's chat template
 * (with the assistant's opening), a completion's prompt as it is; both
 * tokenized with BOS as the vocabulary asks and control-token text parsed
 * (as llama-server).
 *
 * Reuse: a finished request's sequence (prompt and generated tokens, KV
 * computed) is held for its app, up to prefix_keep per engine, least
 * recently used out first.  A new request forks the held sequence with
 * the longest common token prefix (kllm_seq_fork copies those KV rows)
 * and feeds only the rest.  Another app's held sequence serves only up to
 * the end of a public prefix both start with (config public_prefixes:
 * sharing leaks timing between apps, so only text marked public is).
 * A held sequence that a newer one of its app extends is dropped.
 *
 * Below that, the engine's prefix cache (kllm.h) keeps the full KV blocks
 * of sequences no longer held: a new sequence is put in its app's
 * partition (a hash of the app's key), so it finds only its own app's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Fewest reused tokens worth a fork (below it the prompt is fed whole). */
#define SV_REUSE_MIN 16

static int tokenize(const struct kllm_llm *llm, const char *text, size_t len, int32_t **ids,
		    uint32_t *n)
{
	int k = kllm_tokenize(llm, text, len, 1, 1, NULL, 0);

	*ids = NULL;
	*n = 0;
	if (k < 0)
		return k;
	*ids = malloc(sizeof(**ids) * (k ? (size_t)k : 1));
	if (!*ids)
		return -ENOMEM;
	if (kllm_tokenize(llm, text, len, 1, 1, *ids, (size_t)k) != k) {
		free(*ids);
		*ids = NULL;
		return -EINVAL;
	}
	*n = (uint32_t)k;
	return 0;
}

/* The chat request's messages formatted: a malloc'd string. */
static int chat_text(const struct sv_model *m, const struct sv_req *r, char **out,
		     size_t *len, const char **why)
{
	static __thread char msg[256];
	struct kllm_chat_message *cm;
	char *text = NULL;
	int k;

	if (!r->n_msgs) {
		*why = "messages: at least one message is needed";
		return -EINVAL;
	}
	cm = calloc(r->n_msgs, sizeof(*cm));
	if (!cm)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_msgs; i++) {
		cm[i].role = r->msgs[i].role ? r->msgs[i].role : "user";
		cm[i].content = r->msgs[i].content ? r->msgs[i].content : "";
	}
	k = kllm_chat_apply(m->tmpl, cm, r->n_msgs, 1, NULL, 0);
	if (k >= 0) {
		text = malloc((size_t)k + 1);
		if (!text)
			k = -ENOMEM;
		else
			k = kllm_chat_apply(m->tmpl, cm, r->n_msgs, 1, text, (size_t)k + 1);
	}
	free(cm);
	if (k < 0) {
		free(text);
		if (k == -ENOMEM)
			return k;
		snprintf(msg, sizeof(msg), "messages: %s", kllm_last_error());
		*why = msg;
		return -EINVAL;
	}
	*out = text;
	*len = (size_t)k;
	return 0;
}

int sv_prompt_tokens(const struct sv_model *m, const struct sv_req *r, int32_t **ids,
		     uint32_t *n, const char **why)
{
	char *text = NULL;
	const char *p;
	size_t len;
	int ret;

	if (r->chat) {
		ret = chat_text(m, r, &text, &len, why);
		if (ret)
			return ret;
		p = text;
	} else {
		p = r->prompt ? r->prompt : "";
		len = strlen(p);
	}
	ret = tokenize(m->llm, p, len, ids, n);
	free(text);
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		*why = "the prompt cannot be tokenized";
		return -EINVAL;
	}
	if (!*n) {
		free(*ids);
		*ids = NULL;
		*why = "the prompt is empty";
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Public prefixes                                                     */

int sv_pubs_load(struct sv_model *m, char *const *texts, size_t n)
{
	m->pubs = calloc(n ? n : 1, sizeof(*m->pubs));
	if (!m->pubs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct sv_pub *p = &m->pubs[m->n_pubs];
		int ret = tokenize(m->llm, texts[i], strlen(texts[i]), &p->ids, &p->n);

		if (ret == -ENOMEM)
			return ret;
		/* its last token may merge with what follows it in a prompt */
		if (!ret && p->n > 1) {
			p->n--;
			m->n_pubs++;
		} else {
			free(p->ids);
			p->ids = NULL;
		}
	}
	return 0;
}

void sv_pubs_free(struct sv_model *m)
{
	for (size_t i = 0; m->pubs && i < m->n_pubs; i++)
		free(m->pubs[i].ids);
	free(m->pubs);
	m->pubs = NULL;
	m->n_pubs = 0;
}

uint32_t sv_pub_len(const struct sv_model *m, const int32_t *ids, uint32_t n)
{
	uint32_t best = 0;

	for (size_t i = 0; i < m->n_pubs; i++) {
		const struct sv_pub *p = &m->pubs[i];

		if (p->n > best && p->n <= n && !memcmp(p->ids, ids, 4ull * p->n))
			best = p->n;
	}
	return best;
}

/* ------------------------------------------------------------------ */
/* Held sequences                                                      */

static uint32_t common_len(const int32_t *a, uint32_t na, const int32_t *b, uint32_t nb)
{
	uint32_t n = na < nb ? na : nb, i;

	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return i;
}

static void held_free(struct sv_eng *g, struct sv_held *h)
{
	if (h->seq >= 0)
		kllm_seq_free(g->e, h->seq);
	free(h->ids);
	h->ids = NULL;
	h->n = 0;
	h->seq = -1;
}

/* The least recently used held sequence other than @skip, or NULL. */
static struct sv_held *held_lru(struct sv_eng *g, const struct sv_held *skip)
{
	struct sv_held *best = NULL;

	for (uint32_t i = 0; i < g->max_held; i++) {
		struct sv_held *h = &g->hold[i];

		if (h->seq >= 0 && h != skip && (!best || h->t_used < best->t_used))
			best = h;
	}
	return best;
}

/* The held sequence sharing the longest prefix with @j's prompt that @j
 * may use, and how many tokens to take (at least one is left to feed). */
static struct sv_held *held_best(struct sv_eng *g, const struct sv_job *j, uint32_t *n_keep)
{
	struct sv_held *best = NULL;
	uint32_t best_n = 0;

	for (uint32_t i = 0; i < g->max_held; i++) {
		struct sv_held *h = &g->hold[i];
		uint32_t n;

		if (h->seq < 0)
			continue;
		n = common_len(h->ids, h->n, j->ids, j->n_prompt);
		if (strcmp(h->app, j->r->app.key))
			n = sv_pub_len(g->m, j->ids, n);	/* both start with it */
		if (n >= j->n_prompt)
			n = j->n_prompt - 1;
		if (n >= SV_REUSE_MIN && n > best_n) {
			best = h;
			best_n = n;
		}
	}
	*n_keep = best_n;
	return best;
}

/* The prefix-cache partition of an app: FNV-1a of its key. */
static uint32_t app_partition(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (uint8_t)*key) * 16777619u;
	return h;
}

int sv_reuse_start(struct sv_eng *g, struct sv_job *j)
{
	uint32_t n_keep = 0;
	struct sv_held *h = held_best(g, j, &n_keep), *v;
	int seq, ret;

	for (;;) {
		seq = h ? kllm_seq_fork(g->e, h->seq, n_keep) : kllm_seq_new(g->e);
		if (seq != -EBUSY)
			break;
		/* a slot for an active request before one for reuse */
		v = held_lru(g, h);
		if (!v)
			break;
		held_free(g, v);
	}
	if (seq < 0)
		return seq;
	if (h)
		h->t_used = sv_now();
	else
		kllm_seq_set_partition(g->e, seq, app_partition(j->r->app.key));
	ret = kllm_seq_feed(g->e, seq, j->ids + n_keep, j->n_prompt - n_keep);
	if (ret) {
		kllm_seq_free(g->e, seq);
		return ret;
	}
	j->seq = seq;
	j->n_cached = n_keep;
	return 0;
}

void sv_reuse_hold(struct sv_eng *g, struct sv_job *j)
{
	const char *app = j->r->app.key;
	struct sv_held *slot = NULL;

	if (j->seq < 0)
		return;
	if (!g->max_held || kllm_seq_pending(g->e, j->seq) != 0 ||
	    kllm_seq_len(g->e, j->seq) != (int)j->n_ids) {
		kllm_seq_free(g->e, j->seq);
		j->seq = -1;
		return;
	}
	for (uint32_t i = 0; i < g->max_held; i++) {
		struct sv_held *h = &g->hold[i];

		if (h->seq < 0 || strcmp(h->app, app))
			continue;
		if (common_len(h->ids, h->n, j->ids, j->n_ids) == j->n_ids) {
			/* already held, as much or more: keep that one */
			h->t_used = sv_now();
			kllm_seq_free(g->e, j->seq);
			j->seq = -1;
			return;
		}
		if (common_len(h->ids, h->n, j->ids, j->n_ids) == h->n)
			held_free(g, h);	/* the new one extends it */
	}
	for (uint32_t i = 0; i < g->max_held && !slot; i++)
		if (g->hold[i].seq < 0)
			slot = &g->hold[i];
	if (!slot) {
		slot = held_lru(g, NULL);
		held_free(g, slot);
	}
	slot->seq = j->seq;
	slot->ids = j->ids;
	slot->n = j->n_ids;
	snprintf(slot->app, sizeof(slot->app), "%s", app);
	slot->t_used = sv_now();
	j->ids = NULL;
	j->seq = -1;
}

void sv_reuse_clear(struct sv_eng *g)
{
	for (uint32_t i = 0; i < g->max_held; i++)
		held_free(g, &g->hold[i]);
}

uint32_t sv_reuse_count(const struct sv_eng *g, uint64_t *tokens)
{
	uint32_t n = 0;

	*tokens = 0;
	for (uint32_t i = 0; i < g->max_held; i++)
		if (g->hold[i].seq >= 0) {
			n++;
			*tokens += g->hold[i].n;
		}
	return n;
}
