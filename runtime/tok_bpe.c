// SPDX-License-Identifier: MIT
/*
 * tok_bpe.c - byte-level BPE (llama.cpp's llm_tokenizer_bpe_session):
 * pre-split the text into words, map each word's bytes through GPT-2's
 * byte -> code point table, then merge adjacent symbols by merge rank
 * (lowest first, ties leftmost) and look the symbols up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_int.h"

static void add_bigram(const struct kllm_tok *t, const struct tok_sym *sym,
		       int left, int right, struct tok_heap *h)
{
	struct tok_bigram b;
	int32_t rank;

	if (left == -1 || right == -1)
		return;
	rank = tok_merge_rank(t, sym[left].text, sym[left].n,
			      sym[right].text, sym[right].n);
	if (rank < 0)
		return;
	b.key = -(double)rank;
	b.left = left;
	b.right = right;
	b.size = sym[left].n + sym[right].n;
	tok_heap_push(h, &b);
}

/* One byte-encoded word. */
static int encode_word(const struct kllm_tok *t, const char *w, size_t n,
		       struct tok_sym *sym, struct tok_heap *h,
		       struct tok_ids *out)
{
	size_t nsym = 0, offs = 0;

	h->n = 0;
	if (t->ignore_merges && tok_lookup(t, w, n) >= 0) {
		sym[0] = (struct tok_sym){ -1, -1, w, n };
		nsym = 1;
		offs = n;
	}
	while (offs < n) {
		size_t len = tok_utf8_len((unsigned char)w[offs]);

		if (len > n - offs)
			len = n - offs;
		sym[nsym].text = w + offs;
		sym[nsym].n = len;
		offs += len;
		sym[nsym].prev = (int)nsym - 1;
		sym[nsym].next = offs == n ? -1 : (int)nsym + 1;
		nsym++;
	}
	for (size_t i = 1; i < nsym; i++)
		add_bigram(t, sym, (int)i - 1, (int)i, h);
	while (h->n && !h->err) {
		struct tok_bigram b = tok_heap_pop(h);
		struct tok_sym *l = &sym[b.left], *r = &sym[b.right];

		/* Stale: a side merged since (text check in llama.cpp). */
		if (!l->n || !r->n || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = b.left;
		add_bigram(t, sym, l->prev, b.left, h);
		add_bigram(t, sym, b.left, l->next, h);
	}
	if (h->err)
		return h->err;
	for (size_t i = 0; i < nsym; i++) {
		int32_t id;

		if (!sym[i].n)
			continue;
		id = tok_lookup(t, sym[i].text, sym[i].n);
		if (id >= 0) {
			tok_ids_push(out, id);
			continue;
		}
		/* llama.cpp: each byte of the symbol as a one-byte token. */
		for (size_t j = 0; j < sym[i].n; j++) {
			id = tok_lookup(t, sym[i].text + j, 1);
			if (id >= 0)
				tok_ids_push(out, id);
		}
	}
	return 0;
}

/* Byte-encode cpts[0..n) into w (8 bytes per code point suffice). */
static size_t byte_encode(const uint32_t *cpts, size_t n, char *w)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char u[4];
		size_t m = tok_utf8_encode(cpts[i], u);

		for (size_t j = 0; j < m; j++)
			k += tok_utf8_encode(tok_byte_to_cpt((uint8_t)u[j]), w + k);
	}
	return k;
}

int tok_bpe_encode(const struct kllm_tok *t, const char *text, size_t n,
		   struct tok_ids *out)
{
	struct tok_heap h = { 0 };
	uint32_t *cpts = NULL;
	size_t *lens = NULL;
	struct tok_sym *sym = NULL;
	char *w = NULL;
	size_t ncp, nw, start = 0, maxw = 0;
	int rc = -ENOMEM;

	if (!n)
		return 0;
	cpts = malloc(n * sizeof(*cpts));
	lens = malloc(n * sizeof(*lens));
	if (!cpts || !lens)
		goto out;
	ncp = tok_utf8_decode(text, n, cpts);
	nw = tok_pretok_split(t->pre, cpts, ncp, lens);
	for (size_t i = 0; i < nw; i++)
		maxw = lens[i] > maxw ? lens[i] : maxw;
	w = malloc(maxw * 8);
	sym = malloc(maxw * 8 * sizeof(*sym));
	if (!w || !sym)
		goto out;
	rc = 0;
	for (size_t i = 0; i < nw && !rc; i++) {
		size_t wn = byte_encode(cpts + start, lens[i], w);

		rc = encode_word(t, w, wn, sym, &h, out);
		start += lens[i];
	}
out:
	free(cpts);
	free(lens);
	free(w);
	free(sym);
	free(h.v);
	return rc;
}
