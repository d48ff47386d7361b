// SPDX-License-Identifier: MIT
/*
 * tok_pretok.c - the byte-level BPE pre-tokenizers: hand-written scanners
 * equivalent to the split regexes llama.cpp uses per tokenizer.ggml.pre
 * (ports of its unicode_regex_split_custom_gpt2/_llama3/_qwen2, same
 * quirks included: a fragment's end counts as "not whitespace" for the
 * \s+(?!\S) lookahead only when it is a real code point).
 */
#include "tok_int.h"

#define OUT_OF_RANGE 0xFFFFFFFFu

/* One fragment of code points [ini, end) being cut into words. */
struct scan {
	const uint32_t *cpts;
	size_t ini, end, prev;
	size_t *lens;
	size_t n;
};

static uint32_t cpt_at(const struct scan *s, size_t pos)
{
	return pos >= s->ini && pos < s->end ? s->cpts[pos] : OUT_OF_RANGE;
}

static unsigned flags_at(const struct scan *s, size_t pos)
{
	return pos >= s->ini && pos < s->end ? tok_cpt_flags(s->cpts[pos]) : 0;
}

/* End the current word at end; returns its length (0 adds nothing). */
static size_t add_word(struct scan *s, size_t end)
{
	size_t len = end - s->prev;

	if (len)
		s->lens[s->n++] = len;
	s->prev = end;
	return len;
}

static uint32_t ascii_lower(uint32_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive; length or 0. */
static size_t contraction(const struct scan *s, size_t pos, int icase)
{
	uint32_t a, b;

	if (cpt_at(s, pos) != '\'' || pos + 1 >= s->end)
		return 0;
	a = cpt_at(s, pos + 1);
	if (icase)
		a = ascii_lower(a);
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if (pos + 2 >= s->end)
		return 0;
	b = cpt_at(s, pos + 2);
	if (icase)
		b = ascii_lower(b);
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
	    (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

#define LNS (TOK_CPT_LETTER | TOK_CPT_NUMBER | TOK_CPT_SPACE)

/* \s+(?!\S) then \s+; returns 0 when pos is not whitespace. */
static int spaces(struct scan *s, size_t *pos)
{
	size_t n = 0;

	while (flags_at(s, *pos + n) & TOK_CPT_SPACE)
		n++;
	if (n > 1 && cpt_at(s, *pos + n) != OUT_OF_RANGE) {
		*pos += n - 1;
		add_word(s, *pos);
		return 1;
	}
	if (n > 0) {
		*pos += n;
		add_word(s, *pos);
		return 1;
	}
	return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static void split_gpt2(struct scan *s)
{
	size_t pos = s->ini;

	while (pos < s->end) {
		uint32_t c = cpt_at(s, pos);
		unsigned f = flags_at(s, pos);
		unsigned f2 = c == ' ' ? flags_at(s, pos + 1) : f;
		size_t k = contraction(s, pos, 0);

		if (k) {
			pos += add_word(s, pos + k);
			continue;
		}
		if (f2 & TOK_CPT_LETTER) {
			pos += c == ' ';
			while (f2 & TOK_CPT_LETTER)
				f2 = flags_at(s, ++pos);
			add_word(s, pos);
			continue;
		}
		if (f2 & TOK_CPT_NUMBER) {
			pos += c == ' ';
			while (f2 & TOK_CPT_NUMBER)
				f2 = flags_at(s, ++pos);
			add_word(s, pos);
			continue;
		}
		if (!(f2 & LNS) && f2) {
			pos += c == ' ';
			while (!(f2 & LNS) && f2)
				f2 = flags_at(s, ++pos);
			add_word(s, pos);
			continue;
		}
		if (spaces(s, &pos))
			continue;
		add_word(s, ++pos);
	}
}

/*
 * llama3 (max_digits 3) and qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
static void split_llama3(struct scan *s, size_t max_digits)
{
	size_t pos = s->ini;

	while (pos < s->end) {
		uint32_t c = cpt_at(s, pos);
		unsigned f = flags_at(s, pos);
		size_t k = contraction(s, pos, 1);
		unsigned f2;

		if (k) {
			pos += add_word(s, pos + k);
			continue;
		}
		if (!(c == '\r' || c == '\n' || (f & TOK_CPT_NUMBER)) &&
		    ((f & TOK_CPT_LETTER) ||
		     (flags_at(s, pos + 1) & TOK_CPT_LETTER))) {
			pos++;
			while (flags_at(s, pos) & TOK_CPT_LETTER)
				pos++;
			add_word(s, pos);
			continue;
		}
		if (f & TOK_CPT_NUMBER) {
			size_t ini = pos;

			while (flags_at(s, pos) & TOK_CPT_NUMBER) {
				if (++pos - ini >= max_digits) {
					add_word(s, pos);
					ini = pos;
				}
			}
			add_word(s, pos);
			continue;
		}
		f2 = c == ' ' ? flags_at(s, pos + 1) : f;
		if (!(f2 & LNS) && f) {
			uint32_t c2;

			pos += c == ' ';
			while (!(f2 & LNS) && f2)
				f2 = flags_at(s, ++pos);
			c2 = cpt_at(s, pos);
			while (c2 == '\r' || c2 == '\n')
				c2 = cpt_at(s, ++pos);
			add_word(s, pos);
			continue;
		}
		{
			size_t n = 0, last_rn = 0;

			while (flags_at(s, pos + n) & TOK_CPT_SPACE) {
				uint32_t c2 = cpt_at(s, pos + n);

				if (c2 == '\r' || c2 == '\n')
					last_rn = pos + n + 1;
				n++;
			}
			if (last_rn > 0) {
				pos = last_rn;
				add_word(s, pos);
				continue;
			}
		}
		if (spaces(s, &pos))
			continue;
		add_word(s, ++pos);
	}
}

static void split_one(int pre, struct scan *s)
{
	switch (pre) {
	case TOK_PRE_LLAMA3:
		split_llama3(s, 3);
		break;
	case TOK_PRE_QWEN2:
		split_llama3(s, 1);
		break;
	default:
		split_gpt2(s);
		break;
	}
}

size_t tok_pretok_split(int pre, const uint32_t *cpts, size_t n, size_t *lens)
{
	struct scan s = { .cpts = cpts, .lens = lens };

	if (pre != TOK_PRE_SMOLLM) {
		s.ini = s.prev = 0;
		s.end = n;
		split_one(pre, &s);
		return s.n;
	}
	/*
	 * smollm: "\p{N}" first isolates every number code point, then the
	 * gpt-2 regex runs inside each resulting fragment.
	 */
	for (size_t i = 0; i < n;) {
		size_t j = i;

		if (tok_cpt_flags(cpts[i]) & TOK_CPT_NUMBER)
			j = i + 1;
		else
			while (j < n && !(tok_cpt_flags(cpts[j]) & TOK_CPT_NUMBER))
				j++;
		s.ini = s.prev = i;
		s.end = j;
		split_gpt2(&s);
		i = j;
	}
	return s.n;
}
