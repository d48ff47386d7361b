// SPDX-License-Identifier: MIT
/*
 * tok_spm.c - SentencePiece-style tokenization (llama.cpp's
 * llm_tokenizer_spm_session): start from UTF-8 characters, repeatedly
 * merge the adjacent pair whose concatenation is the vocabulary token
 * with the best score (ties: leftmost), then map each symbol to its
 * token or, failing that, to <0xNN> byte tokens.
 */
#include <errno.h>
#include <stdlib.h>

#include "tok_int.h"

static void try_add_bigram(const struct kllm_tok *t, const struct tok_sym *sym,
			   int left, int right, struct tok_heap *h)
{
	struct tok_bigram b;
	int32_t id;

	if (left == -1 || right == -1)
		return;
	/* Adjacent symbols are contiguous in the text. */
	id = tok_lookup(t, sym[left].text, sym[left].n + sym[right].n);
	if (id < 0)
		return;
	b.key = t->tok[id].score;
	b.left = left;
	b.right = right;
	b.size = sym[left].n + sym[right].n;
	tok_heap_push(h, &b);
}

/*
 * A symbol that is no token: llama.cpp's rev_merge lookup can never
 * succeed here (merged symbols are always tokens), so this is its byte
 * fallback.  A byte with no <0xNN> token falls back to the one-byte
 * token, then (where llama.cpp would throw) to the unknown token.
 */
static void emit_bytes(const struct kllm_tok *t, const char *s, size_t n,
		       struct tok_ids *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t j = 0; j < n; j++) {
		unsigned char c = (unsigned char)s[j];
		char buf[6] = { '<', '0', 'x', hex[c >> 4], hex[c & 15], '>' };
		int32_t id = tok_lookup(t, buf, 6);

		if (id < 0)
			id = tok_lookup(t, s + j, 1);
		if (id < 0)
			id = t->unk;
		if (id >= 0)
			tok_ids_push(out, id);
	}
}

int tok_spm_encode(const struct kllm_tok *t, const char *text, size_t n,
		   struct tok_ids *out)
{
	struct tok_heap h = { 0 };
	struct tok_sym *sym;
	size_t nsym = 0, offs = 0;

	if (!n)
		return 0;
	sym = malloc(n * sizeof(*sym));
	if (!sym)
		return -ENOMEM;
	while (offs < n) {
		size_t len = tok_utf8_len((unsigned char)text[offs]);

		if (len > n - offs)
			len = n - offs;
		sym[nsym].text = text + offs;
		sym[nsym].n = len;
		offs += len;
		sym[nsym].prev = (int)nsym - 1;
		sym[nsym].next = offs == n ? -1 : (int)nsym + 1;
		nsym++;
	}
	for (size_t i = 1; i < nsym; i++)
		try_add_bigram(t, sym, (int)i - 1, (int)i, &h);

	while (h.n && !h.err) {
		struct tok_bigram b = tok_heap_pop(&h);
		struct tok_sym *l = &sym[b.left], *r = &sym[b.right];

		/* Skip pairs that went stale when a side merged. */
		if (!l->n || !r->n || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = b.left;
		try_add_bigram(t, sym, l->prev, b.left, &h);
		try_add_bigram(t, sym, b.left, l->next, &h);
	}

	for (int i = 0; !h.err && i != -1; i = sym[i].next) {
		int32_t id = tok_lookup(t, sym[i].text, sym[i].n);

		if (id >= 0)
			tok_ids_push(out, id);
		else
			emit_bytes(t, sym[i].text, sym[i].n, out);
	}
	free(sym);
	free(h.v);
	return h.err;
}
