// SPDX-License-Identifier: MIT
/*
 * text.c - a generated token's text for kllm-serve's engines: whole UTF-8
 * characters from the streaming detokenizer, text that may be the start
 * of a stop string held back until it is known not to be one (as
 * kllm_generate does), and log-probabilities (log-softmax of the raw
 * logits: the sampled token's and the top N, with their pieces).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Token @id's piece as valid UTF-8 (invalid bytes as U+FFFD), cut to fit. */
static void piece_text(const struct kllm_llm *llm, int32_t id, char *out, size_t size)
{
	char raw[64];
	int n = kllm_token_to_piece(llm, id, 1, raw, sizeof(raw));
	size_t o = 0;

	if (n < 0)
		n = 0;
	if (n > (int)sizeof(raw))
		n = sizeof(raw);
	for (int i = 0; i < n;) {
		unsigned char c = (unsigned char)raw[i];
		int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
			  (c & 0xf8) == 0xf0 ? 4 : 0;
		int ok = len && i + len <= n;

		for (int k = 1; ok && k < len; k++)
			ok = ((unsigned char)raw[i + k] & 0xc0) == 0x80;
		if (!ok)
			len = 1;
		if (o + (ok ? (size_t)len : 3) >= size)
			break;
		if (ok)
			memcpy(out + o, raw + i, (size_t)len);
		else
			memcpy(out + o, "\xef\xbf\xbd", 3);
		o += ok ? (size_t)len : 3;
		i += len;
	}
	out[o] = 0;
}

/* Log-probabilities from the raw logits: the chosen token's and the top N. */
void sv_logprobs_fill(const struct kllm_llm *llm, int n_top, const float *lg, int32_t id,
		      struct sv_token *t)
{
	const int32_t n_vocab = (int32_t)kllm_llm_info(llm)->n_vocab;
	float mx = -INFINITY, lse;
	double sum = 0;

	n_top = n_top < 0 ? 0 : n_top > 20 ? 20 : n_top;
	for (int32_t v = 0; v < n_vocab; v++)
		mx = lg[v] > mx ? lg[v] : mx;
	for (int32_t v = 0; v < n_vocab; v++)
		sum += exp((double)lg[v] - mx);
	lse = mx + (float)log(sum);
	t->has_logprob = 1;
	t->logprob = lg[id] - lse;
	piece_text(llm, id, t->tok_text, sizeof(t->tok_text));
	t->n_top = 0;
	for (int32_t v = 0; v < n_vocab && n_top; v++) {
		int k = t->n_top;

		if (k == n_top && lg[v] <= t->top[k - 1].logprob)
			continue;
		if (k < n_top)
			t->n_top++;
		else
			k--;
		for (; k > 0 && t->top[k - 1].logprob < lg[v]; k--)
			t->top[k] = t->top[k - 1];
		t->top[k].token = v;
		t->top[k].logprob = lg[v];
	}
	for (int k = 0; k < t->n_top; k++) {
		t->top[k].logprob -= lse;
		piece_text(llm, t->top[k].token, t->top[k].text, sizeof(t->top[k].text));
	}
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
		return -ENOMEM;
	*buf = p;
	*cap = c;
	return 0;
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_tail(const struct sv_req *r, const char *s, size_t n)
{
	size_t best = 0;

	for (size_t i = 0; i < r->n_stop; i++) {
		size_t len = strlen(r->stop[i]);

		if (!len)
			continue;
		for (size_t k = len - 1 < n ? len - 1 : n; k > best; k--)
			if (!memcmp(s + n - k, r->stop[i], k)) {
				best = k;
				break;
			}
	}
	return best;
}

/* Where the earliest stop string starts in s[0..n), or n. */
static size_t stop_find(const struct sv_req *r, const char *s, size_t n)
{
	size_t at = n;

	for (size_t i = 0; i < r->n_stop; i++) {
		size_t len = strlen(r->stop[i]);
		const char *m = len ? memmem(s, n, r->stop[i], len) : NULL;

		if (m && (size_t)(m - s) < at)
			at = (size_t)(m - s);
	}
	return at;
}

/*
 * Token @id's text (with everything held when @last) into t->text/len:
 * the text shown now; j->held keeps what may start a stop string.  1 when
 * a stop string ended the text, 0, or -ENOMEM.  The caller drops the
 * shown text from j->held (sv_text_shown) after sv_out_token.
 */
int sv_text_push(struct sv_eng *g, struct sv_job *j, int32_t id, int last,
		     struct sv_token *t)
{
	const struct kllm_llm *llm = g->m->llm;
	int n = id >= 0 ? kllm_token_to_piece(llm, id, 0, NULL, 0) : 0;
	size_t at, keep;

	if (n < 0 || grow(&g->piece, &g->cap_piece, (size_t)n + 8))
		return -ENOMEM;
	n = id >= 0 ? kllm_detok_push(llm, &j->dt, id, 0, g->piece, g->cap_piece) : 0;
	if (n < 0)
		return n;
	if (last)
		n += kllm_detok_flush(&j->dt, g->piece + n, g->cap_piece - (size_t)n);
	if (grow(&j->held, &j->cap_held, j->n_held + (size_t)n + 1))
		return -ENOMEM;
	memcpy(j->held + j->n_held, g->piece, (size_t)n);
	j->n_held += (size_t)n;
	t->text = j->held;
	at = stop_find(j->r, j->held, j->n_held);
	if (at < j->n_held) {
		t->len = at;
		return 1;
	}
	keep = last ? 0 : stop_tail(j->r, j->held, j->n_held);
	t->len = j->n_held - keep;
	return 0;
}

void sv_text_shown(struct sv_job *j, size_t n)
{
	memmove(j->held, j->held + n, j->n_held - n);
	j->n_held -= n;
}
