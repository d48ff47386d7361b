// SPDX-License-Identifier: MIT
/*
 * tok_load.c - build a tokenizer from a GGUF's tokenizer.ggml.* keys,
 * following llama.cpp's llama_vocab::impl::load for the vocabulary
 * kinds we support.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tok_int.h"

#define KEY(k) "tokenizer.ggml." k

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int str_eq(struct gguf_str s, const char *c)
{
	return s.n == strlen(c) && !memcmp(s.s, c, s.n);
}

/* Append bytes to the arena; returns their offset or -1. */
static int64_t arena_add(struct kllm_tok *t, const char *s, size_t n)
{
	size_t off = t->arena_len;

	if (n > UINT32_MAX - off)
		return -1;
	if (off + n > t->arena_cap) {
		size_t cap = t->arena_cap ? t->arena_cap : 1 << 16;
		char *p;

		while (cap < off + n)
			cap *= 2;
		p = realloc(t->arena, cap);
		if (!p)
			return -1;
		t->arena = p;
		t->arena_cap = cap;
	}
	if (n)
		memcpy(t->arena + off, s, n);
	t->arena_len += n;
	return (int64_t)off;
}

static size_t table_size(size_t n)
{
	size_t s = 16;

	while (s < 2 * n)
		s *= 2;
	return s;
}

/* token_to_id[text] = i: a later duplicate wins, as in llama.cpp. */
static void hash_insert_token(struct kllm_tok *t, uint32_t id)
{
	const char *s = tok_str(t, (int32_t)id);
	size_t n = t->tok[id].len;
	size_t i = tok_hash_bytes(s, n, 0) & t->tok_mask;

	for (;; i = (i + 1) & t->tok_mask) {
		uint32_t e = t->tok_hash[i];

		if (!e) {
			t->tok_hash[i] = id + 1;
			return;
		}
		if (t->tok[e - 1].len == n && !memcmp(tok_str(t, (int32_t)e - 1), s, n)) {
			t->tok_hash[i] = id + 1;
			return;
		}
	}
}

static int load_tokens(struct kllm_tok *t, const struct gguf *g,
		       char *err, size_t errlen)
{
	uint32_t et;
	uint64_t n, ns = 0, nt = 0;
	int64_t idx = gguf_get_arr(g, KEY("tokens"), &et, &n), sidx, tidx;
	float *scores = NULL;
	int32_t *types = NULL;
	int rc = 0;

	if (idx < 0 || et != GGUF_TYPE_STRING)
		return fail(err, errlen, idx == -ENOENT ? -ENOENT : -EINVAL,
			    "tokenizer: " KEY("tokens") " missing or not a string array");
	if (n == 0 || n > (1u << 24))
		return fail(err, errlen, -EINVAL, "tokenizer: bad vocabulary size %llu",
			    (unsigned long long)n);
	t->n_vocab = (uint32_t)n;
	sidx = gguf_get_arr(g, KEY("scores"), &et, &ns);
	if (sidx >= 0) {
		if ((et != GGUF_TYPE_FLOAT32 && et != GGUF_TYPE_INT32) || ns < n)
			return fail(err, errlen, -EINVAL, "tokenizer: bad " KEY("scores"));
		scores = malloc(ns * sizeof(*scores));
		if (!scores)
			return -ENOMEM;
		if (et == GGUF_TYPE_FLOAT32) {
			rc = gguf_arr_copy_f32(g, (uint64_t)sidx, scores, ns);
		} else {
			const unsigned char *p = gguf_arr_data(g, (uint64_t)sidx);

			for (uint64_t i = 0; i < ns; i++) {
				int32_t v;

				memcpy(&v, p + 4 * i, 4);
				scores[i] = (float)v;
			}
		}
	}
	tidx = gguf_get_arr(g, KEY("token_type"), &et, &nt);
	if (!rc && tidx >= 0) {
		types = malloc(nt * sizeof(*types));
		if (nt < n || !types)
			rc = types ? -EINVAL : -ENOMEM;
		else
			rc = gguf_arr_copy_i32(g, (uint64_t)tidx, types, nt);
	}
	t->tok = calloc(n, sizeof(*t->tok));
	if (!rc && !t->tok)
		rc = -ENOMEM;
	for (uint64_t i = 0; !rc && i < n; i++) {
		struct tok_entry *e = &t->tok[i];
		struct gguf_str s;
		char tmp[32];
		int64_t off;

		rc = gguf_arr_str(g, (uint64_t)idx, i, &s);
		if (rc)
			break;
		if (!s.n) {	/* llama.cpp renames empty tokens */
			snprintf(tmp, sizeof(tmp), "[EMPTY_%llu]", (unsigned long long)i);
			s.s = tmp;
			s.n = strlen(tmp);
		}
		off = arena_add(t, s.s, s.n);
		if (off < 0) {
			rc = -ENOMEM;
			break;
		}
		e->off = (uint32_t)off;
		e->len = (uint32_t)s.n;
		e->score = scores ? scores[i] : 0.0f;
		e->type = types ? (uint8_t)(types[i] >= 0 && types[i] <= 6 ? types[i] : 0)
				: KLLM_TOK_NORMAL;
		switch (e->type) {
		case KLLM_TOK_NORMAL: e->attr = TOK_ATTR_NORMAL; break;
		case KLLM_TOK_UNKNOWN: e->attr = TOK_ATTR_UNKNOWN; break;
		case KLLM_TOK_CONTROL: e->attr = TOK_ATTR_CONTROL; break;
		case KLLM_TOK_USER_DEFINED: e->attr = TOK_ATTR_USER_DEFINED; break;
		case KLLM_TOK_UNUSED: e->attr = TOK_ATTR_UNUSED; break;
		case KLLM_TOK_BYTE: e->attr = TOK_ATTR_BYTE; break;
		default: e->attr = 0; break;
		}
	}
	free(scores);
	free(types);
	if (rc)
		return fail(err, errlen, rc, "tokenizer: cannot read the vocabulary (%d)", rc);
	t->tok_mask = table_size(n) - 1;
	t->tok_hash = calloc(t->tok_mask + 1, sizeof(*t->tok_hash));
	if (!t->tok_hash)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		hash_insert_token(t, i);
	return 0;
}

static uint64_t merge_hash(const char *a, size_t na, const char *b, size_t nb)
{
	return tok_hash_bytes(b, nb, tok_hash_bytes(a, na, 0) * 31 + 7);
}

static int load_merges(struct kllm_tok *t, const struct gguf *g,
		       char *err, size_t errlen)
{
	uint32_t et;
	uint64_t n;
	int64_t idx = gguf_get_arr(g, KEY("merges"), &et, &n);

	if (idx < 0 || et != GGUF_TYPE_STRING)
		return fail(err, errlen, idx == -ENOENT ? -ENOENT : -EINVAL,
			    "tokenizer: " KEY("merges") " missing or not a string array");
	if (n > (1u << 24))
		return fail(err, errlen, -EINVAL, "tokenizer: too many merges");
	t->merges = calloc(n ? n : 1, sizeof(*t->merges));
	t->merge_mask = table_size(n) - 1;
	t->merge_hash = calloc(t->merge_mask + 1, sizeof(*t->merge_hash));
	if (!t->merges || !t->merge_hash)
		return -ENOMEM;
	t->n_merges = (uint32_t)n;
	for (uint64_t r = 0; r < n; r++) {
		struct tok_merge *m = &t->merges[r];
		struct gguf_str s;
		const char *sp;
		int64_t off;
		size_t i;
		int rc = gguf_arr_str(g, (uint64_t)idx, r, &s);

		if (rc)
			return fail(err, errlen, rc, "tokenizer: bad merge %llu",
				    (unsigned long long)r);
		off = arena_add(t, s.s, s.n);
		if (off < 0)
			return -ENOMEM;
		/* "first second", split at the first space after byte 0. */
		sp = s.n > 1 ? memchr(s.s + 1, ' ', s.n - 1) : NULL;
		if (sp) {
			m->a_off = (uint32_t)off;
			m->a_len = (uint32_t)(sp - s.s);
			m->b_off = m->a_off + m->a_len + 1;
			m->b_len = (uint32_t)(s.n - m->a_len - 1);
		} else {
			m->a_off = m->b_off = (uint32_t)off;
			m->a_len = m->b_len = 0;
		}
		/* emplace: the first (lowest) rank of a pair wins. */
		if (tok_merge_rank(t, t->arena + m->a_off, m->a_len,
				   t->arena + m->b_off, m->b_len) >= 0)
			continue;
		i = merge_hash(t->arena + m->a_off, m->a_len, t->arena + m->b_off,
			       m->b_len) & t->merge_mask;
		while (t->merge_hash[i])
			i = (i + 1) & t->merge_mask;
		t->merge_hash[i] = (uint32_t)r + 1;
	}
	return 0;
}

int32_t tok_merge_rank(const struct kllm_tok *t, const char *a, size_t na,
		       const char *b, size_t nb)
{
	size_t i = merge_hash(a, na, b, nb) & t->merge_mask;

	for (;; i = (i + 1) & t->merge_mask) {
		uint32_t e = t->merge_hash[i];
		const struct tok_merge *m;

		if (!e)
			return -1;
		m = &t->merges[e - 1];
		if (m->a_len == na && m->b_len == nb &&
		    !memcmp(t->arena + m->a_off, a, na) &&
		    !memcmp(t->arena + m->b_off, b, nb))
			return (int32_t)e - 1;
	}
}

/* tokenizer.ggml.pre names we implement, and what llama.cpp sets. */
static const struct {
	const char *name;
	int pre;
	int ignore_merges;
	int add_bos;
} pre_names[] = {
	{ "gpt-2", TOK_PRE_GPT2, 0, 0 },
	{ "llama3", TOK_PRE_LLAMA3, 1, 1 },
	{ "llama-v3", TOK_PRE_LLAMA3, 1, 1 },
	{ "llama-bpe", TOK_PRE_LLAMA3, 1, 1 },
	{ "qwen2", TOK_PRE_QWEN2, 0, 0 },
	{ "deepseek-r1-qwen", TOK_PRE_QWEN2, 0, 0 },
	{ "smollm", TOK_PRE_SMOLLM, 0, 0 },
};

static int load_model(struct kllm_tok *t, const struct gguf *g,
		      char *err, size_t errlen)
{
	struct gguf_str m, p;
	int rc = gguf_get_str(g, KEY("model"), &m);

	if (rc)
		return fail(err, errlen, rc, "tokenizer: " KEY("model") " missing");
	if (str_eq(m, "llama")) {
		t->model = TOK_MODEL_SPM;
		strcpy(t->model_name, "llama");
		t->bos = 1;
		t->eos = 2;
		t->unk = 0;
		t->add_space_prefix = 1;
		t->add_bos = 1;
		return 0;
	}
	if (!str_eq(m, "gpt2"))
		return fail(err, errlen, -ENOTSUP,
			    "tokenizer: unsupported tokenizer model '%.*s' (supported: llama, gpt2)",
			    (int)(m.n > 64 ? 64 : m.n), m.s);
	t->model = TOK_MODEL_BPE;
	strcpy(t->model_name, "gpt2");
	t->bos = t->eos = 11;
	rc = gguf_get_str(g, KEY("pre"), &p);
	if (rc)
		return fail(err, errlen, -ENOTSUP,
			    "tokenizer: gpt2 vocabulary without " KEY("pre") " (the 'default' pre-tokenizer is not supported)");
	for (size_t i = 0; i < sizeof(pre_names) / sizeof(pre_names[0]); i++) {
		if (!str_eq(p, pre_names[i].name))
			continue;
		t->pre = pre_names[i].pre;
		t->ignore_merges = pre_names[i].ignore_merges;
		t->add_bos = pre_names[i].add_bos;
		snprintf(t->pre_name, sizeof(t->pre_name), "%s", pre_names[i].name);
		return 0;
	}
	return fail(err, errlen, -ENOTSUP,
		    "tokenizer: unsupported pre-tokenizer '%.*s' (supported: gpt-2, llama3, llama-v3, llama-bpe, qwen2, deepseek-r1-qwen, smollm)",
		    (int)(p.n > 64 ? 64 : p.n), p.s);
}

static void get_flag(const struct gguf *g, const char *key, int *v)
{
	int b;

	if (!gguf_get_bool(g, key, &b))
		*v = !!b;
}

/* A special id from its key; out-of-range defaults and values ignored. */
static void get_id(const struct kllm_tok *t, const struct gguf *g,
		   const char *key, int32_t *id)
{
	uint32_t v;

	if (*id >= 0 && (uint32_t)*id >= t->n_vocab)
		*id = -1;
	if (!gguf_get_u32(g, key, &v) && v < t->n_vocab)
		*id = (int32_t)v;
}

static int text_is(const struct kllm_tok *t, uint32_t id, const char *s)
{
	return t->tok[id].len == strlen(s) && !memcmp(tok_str(t, (int32_t)id), s, t->tok[id].len);
}

static int32_t find_named(const struct kllm_tok *t, const char *const *names)
{
	for (; *names; names++) {
		int32_t id = tok_lookup(t, *names, strlen(*names));

		if (id >= 0)
			return id;
	}
	return -1;
}

static const char *const eot_names[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
	"<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
	"<end_of_utterance>", NULL
};

static const char *const eog_names[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
	"<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
	"<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
	"<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
	"<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
	"[e~[", NULL
};

static void mark_control(struct kllm_tok *t, int32_t id)
{
	if (id >= 0)
		t->tok[id].attr |= TOK_ATTR_CONTROL;
}

/*
 * EOT/EOM detection by text and the EOG set, as llama.cpp: tokens found
 * by name are made control tokens.  Where several EOT candidates exist
 * llama.cpp's pick depends on hash order; we take the first in
 * eot_names order (so <|im_end|> over <|endoftext|>).
 */
static void find_eog(struct kllm_tok *t)
{
	static const char *const eom_names[] = { "<|eom_id|>", NULL };
	static const char *const ud_names[] = {
		"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL
	};

	if (t->eot < 0) {
		t->eot = find_named(t, eot_names);
		mark_control(t, t->eot);
	}
	if (t->eom < 0) {
		t->eom = find_named(t, eom_names);
		mark_control(t, t->eom);
	}
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		for (const char *const *n = eog_names; *n; n++) {
			if (text_is(t, i, *n) && tok_lookup(t, *n, strlen(*n)) == (int32_t)i) {
				t->tok[i].eog = 1;
				t->tok[i].attr |= TOK_ATTR_CONTROL;
			}
		}
		for (const char *const *n = ud_names; *n; n++)
			if (text_is(t, i, *n) && tok_lookup(t, *n, strlen(*n)) == (int32_t)i)
				t->tok[i].attr = TOK_ATTR_USER_DEFINED;
	}
	if (t->eos >= 0)
		t->tok[t->eos].eog = 1;
	if (t->eot >= 0)
		t->tok[t->eot].eog = 1;
	if (t->eom >= 0)
		t->tok[t->eom].eog = 1;
}

/* Special tokens for parsing, longest text first (ties: lower id). */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int build_special(struct kllm_tok *t)
{
	const unsigned mask = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
	uint64_t *keys;
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->n_vocab; i++)
		n += !!(t->tok[i].attr & mask);
	keys = malloc((n ? n : 1) * sizeof(*keys));
	t->special = malloc((n ? n : 1) * sizeof(*t->special));
	if (!keys || !t->special) {
		free(keys);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->n_vocab; i++)
		if (t->tok[i].attr & mask)
			keys[t->n_special++] = (uint64_t)(UINT32_MAX - t->tok[i].len) << 32 | i;
	qsort(keys, t->n_special, sizeof(*keys), cmp_u64);
	for (uint32_t i = 0; i < t->n_special; i++)
		t->special[i] = (int32_t)(uint32_t)keys[i];
	free(keys);
	return 0;
}

/* llama_decode_text: GPT-2 code points back to bytes. */
static int64_t bpe_piece(struct kllm_tok *t, const char *s, size_t n)
{
	uint32_t *cpts = malloc((n ? n : 1) * sizeof(*cpts));
	size_t m, start = t->arena_len;
	int64_t rc = (int64_t)start;

	if (!cpts)
		return -1;
	m = tok_utf8_decode(s, n, cpts);
	for (size_t i = 0; i < m && rc >= 0; i++) {
		int b = tok_cpt_to_byte(cpts[i]);
		char u[4], buf[24];
		size_t k;

		if (b >= 0) {
			char c = (char)b;

			rc = arena_add(t, &c, 1) < 0 ? -1 : rc;
			continue;
		}
		/* What llama.cpp writes for a code point outside the map. */
		k = tok_utf8_encode(cpts[i], u);
		rc = arena_add(t, "[UNK_BYTE_0x", 12) < 0 ? -1 : rc;
		for (size_t j = 0; j < k && rc >= 0; j++) {
			snprintf(buf, sizeof(buf), "%02x", (unsigned char)u[j]);
			rc = arena_add(t, buf, 2) < 0 ? -1 : rc;
		}
		if (rc >= 0 && (arena_add(t, s, n) < 0 || arena_add(t, "]", 1) < 0))
			rc = -1;
	}
	free(cpts);
	return rc;
}

/* SentencePiece: U+2581 back to spaces. */
static int64_t spm_piece(struct kllm_tok *t, const char *s, size_t n)
{
	int64_t rc = (int64_t)t->arena_len;

	for (size_t i = 0; i < n && rc >= 0;) {
		if (n - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3)) {
			rc = arena_add(t, " ", 1) < 0 ? -1 : rc;
			i += 3;
		} else {
			rc = arena_add(t, s + i, 1) < 0 ? -1 : rc;
			i++;
		}
	}
	return rc;
}

/* The piece of every token (as llama.cpp's cache: special = true). */
static int build_pieces(struct kllm_tok *t)
{
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		struct tok_entry *e = &t->tok[i];
		size_t start = t->arena_len;
		int64_t rc = (int64_t)start;
		/* a copy: appending to the arena may move it */
		char *tmp = malloc(e->len ? e->len : 1);

		if (!tmp)
			return -ENOMEM;
		memcpy(tmp, t->arena + e->off, e->len);
		if (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
			rc = arena_add(t, tmp, e->len);
		} else if (e->attr & TOK_ATTR_NORMAL) {
			rc = t->model == TOK_MODEL_SPM ? spm_piece(t, tmp, e->len)
						       : bpe_piece(t, tmp, e->len);
		} else if (e->attr & TOK_ATTR_BYTE) {
			/* strtol(text.substr(3, 2), 16) */
			char hex[3] = { 0 };
			char c;

			if (e->len > 3)
				memcpy(hex, tmp + 3, e->len >= 5 ? 2 : 1);
			c = (char)strtol(hex, NULL, 16);
			rc = arena_add(t, &c, 1);
		}
		free(tmp);
		if (rc < 0)
			return -ENOMEM;
		e->piece_off = (uint32_t)start;
		e->piece_len = (uint32_t)(t->arena_len - start);
	}
	return 0;
}

int kllm_tok_load(struct kllm_tok **out, const struct gguf *g,
		  char *err, size_t errlen)
{
	struct kllm_tok *t;
	int rc;

	if (!out || !g)
		return -EINVAL;
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
	rc = load_model(t, g, err, errlen);
	if (!rc)
		rc = load_tokens(t, g, err, errlen);
	if (!rc && t->model == TOK_MODEL_BPE)
		rc = load_merges(t, g, err, errlen);
	if (rc)
		goto bad;
	get_flag(g, KEY("add_space_prefix"), &t->add_space_prefix);
	get_id(t, g, KEY("bos_token_id"), &t->bos);
	get_id(t, g, KEY("eos_token_id"), &t->eos);
	get_id(t, g, KEY("eot_token_id"), &t->eot);
	get_id(t, g, KEY("eom_token_id"), &t->eom);
	get_id(t, g, KEY("unknown_token_id"), &t->unk);
	get_id(t, g, KEY("padding_token_id"), &t->pad);
	get_flag(g, KEY("add_bos_token"), &t->add_bos);
	get_flag(g, KEY("add_eos_token"), &t->add_eos);
	find_eog(t);
	rc = build_special(t);
	if (!rc)
		rc = build_pieces(t);
	if (rc)
		goto bad;
	*out = t;
	return 0;
bad:
	if (err && errlen && !err[0])
		fail(err, errlen, rc, "tokenizer: out of memory");
	kllm_tok_free(t);
	return rc;
}
