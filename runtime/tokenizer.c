// SPDX-License-Identifier: MIT
/*
 * tokenizer.c - encode/decode entry points (see tokenizer.h): special
 * token partitioning (llama.cpp's tokenizer_st_partition), BOS/EOS,
 * pieces, the streaming decoder, lookups and the shared helpers.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tok_int.h"

uint64_t tok_hash_bytes(const char *s, size_t n, uint64_t h)
{
	h ^= 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

int32_t tok_lookup(const struct kllm_tok *t, const char *s, size_t n)
{
	size_t i = tok_hash_bytes(s, n, 0) & t->tok_mask;

	for (;; i = (i + 1) & t->tok_mask) {
		uint32_t e = t->tok_hash[i];

		if (!e)
			return -1;
		if (t->tok[e - 1].len == n && !memcmp(tok_str(t, (int32_t)e - 1), s, n))
			return (int32_t)e - 1;
	}
}

void tok_ids_push(struct tok_ids *o, int32_t id)
{
	if (o->err)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		int32_t *v = realloc(o->v, cap * sizeof(*v));

		if (!v) {
			o->err = -ENOMEM;
			return;
		}
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = id;
}

/* a goes before b */
static int heap_before(const struct tok_bigram *a, const struct tok_bigram *b)
{
	return a->key > b->key || (a->key == b->key && a->left < b->left);
}

void tok_heap_push(struct tok_heap *h, const struct tok_bigram *b)
{
	size_t i;

	if (h->err)
		return;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct tok_bigram *v = realloc(h->v, cap * sizeof(*v));

		if (!v) {
			h->err = -ENOMEM;
			return;
		}
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	while (i && heap_before(b, &h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = *b;
}

struct tok_bigram tok_heap_pop(struct tok_heap *h)
{
	struct tok_bigram top = h->v[0], last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!heap_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

/* A run of raw text (id < 0) or a special token. */
struct frag {
	int32_t id;
	size_t off, len;
};

struct frags {
	struct frag *v;
	size_t n, cap;
};

static int frag_push(struct frags *f, int32_t id, size_t off, size_t len)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct frag *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = (struct frag){ id, off, len };
	return 0;
}

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
	const char *end = h + hn;

	while (nn && (size_t)(end - h) >= nn) {
		h = memchr(h, n[0], (size_t)(end - h) - nn + 1);
		if (!h)
			return NULL;
		if (!memcmp(h, n, nn))
			return h;
		h++;
	}
	return NULL;
}

/*
 * Cut raw fragments at every occurrence of each special token, longest
 * token first; without parse_special only user-defined tokens count.
 */
static int partition(const struct kllm_tok *t, const char *text, size_t len,
		     int parse_special, struct frags *out)
{
	struct frags a = { 0 }, b = { 0 };
	int rc = 0;

	if (len && frag_push(&a, -1, 0, len))
		return -ENOMEM;
	for (uint32_t s = 0; s < t->n_special && !rc; s++) {
		int32_t id = t->special[s];
		const char *st = tok_str(t, id);
		size_t sn = t->tok[id].len;
		struct frags tmp;

		if (!parse_special &&
		    (t->tok[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
			continue;
		b.n = 0;
		for (size_t i = 0; i < a.n && !rc; i++) {
			struct frag f = a.v[i];
			const char *m;

			if (f.id >= 0) {
				rc = frag_push(&b, f.id, 0, 0);
				continue;
			}
			while (!rc && (m = find_bytes(text + f.off, f.len, st, sn))) {
				size_t at = (size_t)(m - text);

				if (at > f.off)
					rc = frag_push(&b, -1, f.off, at - f.off);
				if (!rc)
					rc = frag_push(&b, id, 0, 0);
				f.len -= at + sn - f.off;
				f.off = at + sn;
			}
			if (!rc && f.len)
				rc = frag_push(&b, -1, f.off, f.len);
		}
		tmp = a;
		a = b;
		b = tmp;
	}
	free(b.v);
	if (rc) {
		free(a.v);
		return rc;
	}
	*out = a;
	return 0;
}

/* SentencePiece fragment: optional leading space, spaces -> U+2581. */
static int spm_fragment(const struct kllm_tok *t, const char *s, size_t n,
			int prefix, struct tok_ids *ids)
{
	size_t spaces = prefix, k = 0;
	char *buf;
	int rc;

	for (size_t i = 0; i < n; i++)
		spaces += s[i] == ' ';
	buf = malloc(n + 2 * spaces + 1);
	if (!buf)
		return -ENOMEM;
	if (prefix) {
		memcpy(buf, "\xe2\x96\x81", 3);
		k = 3;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			memcpy(buf + k, "\xe2\x96\x81", 3);
			k += 3;
		} else {
			buf[k++] = s[i];
		}
	}
	rc = tok_spm_encode(t, buf, k, ids);
	free(buf);
	return rc;
}

static int encode_all(const struct kllm_tok *t, const char *text, size_t len,
		      int add_special, int parse_special, struct tok_ids *ids)
{
	struct frags f = { 0 };
	int prev_special = 1;	/* SPM: prefix a space at the start */
	int rc = partition(t, text, len, parse_special, &f);

	if (rc)
		return rc;
	if (add_special && t->add_bos && t->bos >= 0)
		tok_ids_push(ids, t->bos);
	for (size_t i = 0; i < f.n && !rc; i++) {
		if (f.v[i].id >= 0) {
			tok_ids_push(ids, f.v[i].id);
			prev_special = 1;
			continue;
		}
		if (t->model == TOK_MODEL_SPM)
			rc = spm_fragment(t, text + f.v[i].off, f.v[i].len,
					  t->add_space_prefix && prev_special, ids);
		else
			rc = tok_bpe_encode(t, text + f.v[i].off, f.v[i].len, ids);
		prev_special = 0;
	}
	if (add_special && t->add_eos && t->eos >= 0)
		tok_ids_push(ids, t->eos);
	free(f.v);
	return rc ? rc : ids->err;
}

int kllm_tok_encode(const struct kllm_tok *t, const char *text, size_t len,
		    int add_special, int parse_special,
		    int32_t *ids, size_t max_ids)
{
	struct tok_ids o = { 0 };
	int rc;

	if (!t || (!text && len) || (!ids && max_ids))
		return -EINVAL;
	rc = encode_all(t, text, len, add_special, parse_special, &o);
	if (!rc && o.n > INT_MAX)
		rc = -EOVERFLOW;
	if (!rc) {
		if (o.n && max_ids)
			memcpy(ids, o.v, (o.n < max_ids ? o.n : max_ids) * sizeof(*ids));
		rc = (int)o.n;
	}
	free(o.v);
	return rc;
}

/* The piece's bytes, or NULL (with *n = 0) when it renders empty. */
static const char *piece_of(const struct kllm_tok *t, int32_t id, int special,
			    size_t *n)
{
	const struct tok_entry *e = &t->tok[id];

	*n = 0;
	if (!special && (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL)))
		return NULL;
	*n = e->piece_len;
	return t->arena + e->piece_off;
}

int kllm_tok_piece(const struct kllm_tok *t, int32_t id, int special,
		   char *buf, size_t buflen)
{
	const char *p;
	size_t n;

	if (!t || id < 0 || (uint32_t)id >= t->n_vocab || (!buf && buflen))
		return -EINVAL;
	p = piece_of(t, id, special, &n);
	if (n && buflen)
		memcpy(buf, p, n < buflen ? n : buflen);
	return (int)n;
}

int kllm_tok_decode(const struct kllm_tok *t, const int32_t *ids, size_t n,
		    int special, char *buf, size_t buflen)
{
	size_t total = 0;

	if (!t || (!ids && n) || (!buf && buflen))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *p;
		size_t k;

		if (ids[i] < 0 || (uint32_t)ids[i] >= t->n_vocab)
			return -EINVAL;
		p = piece_of(t, ids[i], special, &k);
		if (total < buflen && k)
			memcpy(buf + total, p, k < buflen - total ? k : buflen - total);
		total += k;
		if (total > INT_MAX)
			return -EOVERFLOW;
	}
	return (int)total;
}

/* Bytes at the end of s[0..n) that start a character still incomplete. */
static size_t incomplete_tail(const unsigned char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = s[n - back];
		size_t need;

		if ((c & 0xC0) == 0x80)
			continue;	/* continuation: look further back */
		need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 :
		       c >= 0xC0 && c < 0xE0 ? 2 : 1;
		return need > back ? back : 0;
	}
	return 0;
}

int kllm_tok_stream_push(const struct kllm_tok *t, struct kllm_tok_stream *s,
			 int32_t id, int special, char *out, size_t outlen)
{
	const char *p;
	size_t n, total, keep;

	if (!t || !s || s->n_held > 3 || id < 0 || (uint32_t)id >= t->n_vocab ||
	    (!out && outlen))
		return -EINVAL;
	p = piece_of(t, id, special, &n);
	total = s->n_held + n;
	if (outlen < n + 3)
		return -ENOSPC;
	memcpy(out, s->held, s->n_held);
	if (n)
		memcpy(out + s->n_held, p, n);
	keep = incomplete_tail((const unsigned char *)out, total);
	memcpy(s->held, out + total - keep, keep);
	s->n_held = (unsigned)keep;
	if (total - keep > INT_MAX)
		return -EOVERFLOW;
	return (int)(total - keep);
}

int kllm_tok_stream_flush(struct kllm_tok_stream *s, char *out, size_t outlen)
{
	int n;

	if (!s || s->n_held > 3 || (!out && outlen))
		return -EINVAL;
	if (outlen < s->n_held)
		return -ENOSPC;
	n = (int)s->n_held;
	memcpy(out, s->held, s->n_held);
	s->n_held = 0;
	return n;
}

void kllm_tok_free(struct kllm_tok *t)
{
	if (!t)
		return;
	free(t->tok);
	free(t->arena);
	free(t->tok_hash);
	free(t->merges);
	free(t->merge_hash);
	free(t->special);
	free(t);
}

uint32_t kllm_tok_n_vocab(const struct kllm_tok *t) { return t->n_vocab; }
int32_t kllm_tok_bos(const struct kllm_tok *t) { return t->bos; }
int32_t kllm_tok_eos(const struct kllm_tok *t) { return t->eos; }
int32_t kllm_tok_eot(const struct kllm_tok *t) { return t->eot; }
int32_t kllm_tok_eom(const struct kllm_tok *t) { return t->eom; }
int32_t kllm_tok_unk(const struct kllm_tok *t) { return t->unk; }
int32_t kllm_tok_pad(const struct kllm_tok *t) { return t->pad; }
int kllm_tok_add_bos(const struct kllm_tok *t) { return t->add_bos; }
int kllm_tok_add_eos(const struct kllm_tok *t) { return t->add_eos; }
const char *kllm_tok_model(const struct kllm_tok *t) { return t->model_name; }
const char *kllm_tok_pre(const struct kllm_tok *t) { return t->pre_name; }

int kllm_tok_is_eog(const struct kllm_tok *t, int32_t id)
{
	return id >= 0 && (uint32_t)id < t->n_vocab && t->tok[id].eog;
}

const char *kllm_tok_text(const struct kllm_tok *t, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return NULL;
	if (len)
		*len = t->tok[id].len;
	return tok_str(t, id);
}

int kllm_tok_type(const struct kllm_tok *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return -EINVAL;
	return t->tok[id].type;
}

int32_t kllm_tok_find(const struct kllm_tok *t, const char *s, size_t len)
{
	return s || !len ? tok_lookup(t, s ? s : "", len) : -1;
}
