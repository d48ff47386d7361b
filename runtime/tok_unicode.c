// SPDX-License-Identifier: MIT
/*
 * tok_unicode.c - UTF-8 and code point classes for the tokenizers.
 */
#include "tok_unicode.h"

static int in_ranges(const struct tok_urange *r, unsigned n, uint32_t c)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (c < r[mid].lo)
			hi = mid;
		else if (c > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* llama.cpp's whitespace set (Unicode White_Space). */
static int is_space(uint32_t c)
{
	if ((c >= 0x09 && c <= 0x0D) || c == 0x20)
		return 1;
	if (c < 0x85)
		return 0;
	return c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000;
}

unsigned tok_cpt_flags(uint32_t c)
{
	unsigned f;

	if (c >= 0x110000)
		return 0;
	f = TOK_CPT_VALID;
	if (c < 0x80) {
		if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			return f | TOK_CPT_LETTER;
		if (c >= '0' && c <= '9')
			return f | TOK_CPT_NUMBER;
		return is_space(c) ? f | TOK_CPT_SPACE : f;
	}
	if (is_space(c))
		f |= TOK_CPT_SPACE;
	if (in_ranges(tok_letter_ranges, tok_letter_ranges_n, c))
		f |= TOK_CPT_LETTER;
	else if (in_ranges(tok_number_ranges, tok_number_ranges_n, c))
		f |= TOK_CPT_NUMBER;
	return f;
}

static int cont(const unsigned char *p)
{
	return (*p & 0xC0) == 0x80;
}

/* One code point at s[0..n), n >= 1; *len gets its length, 0 if invalid. */
static uint32_t decode_one(const unsigned char *s, size_t n, size_t *len)
{
	*len = 0;
	if (!(s[0] & 0x80)) {
		*len = 1;
		return s[0];
	}
	if (!(s[0] & 0x40))
		return 0;
	if (!(s[0] & 0x20)) {
		if (n < 2 || !cont(s + 1))
			return 0;
		*len = 2;
		return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
	}
	if (!(s[0] & 0x10)) {
		if (n < 3 || !cont(s + 1) || !cont(s + 2))
			return 0;
		*len = 3;
		return ((uint32_t)(s[0] & 0x0F) << 12) |
		       ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	}
	if (!(s[0] & 0x08)) {
		if (n < 4 || !cont(s + 1) || !cont(s + 2) || !cont(s + 3))
			return 0;
		*len = 4;
		return ((uint32_t)(s[0] & 0x07) << 18) |
		       ((uint32_t)(s[1] & 0x3F) << 12) |
		       ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
	}
	return 0;
}

size_t tok_utf8_decode(const char *s, size_t n, uint32_t *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k = 0;

	while (i < n) {
		size_t len;
		uint32_t c = decode_one(p + i, n - i, &len);

		/*
		 * llama.cpp re-encodes decoded code points, and throws for
		 * ones above U+10FFFF; we map those to U+FFFD like the
		 * malformed sequences it does catch.
		 */
		if (!len || c >= 0x110000) {
			out[k++] = 0xFFFD;
			i++;
			continue;
		}
		out[k++] = c;
		i += len;
	}
	return k;
}

size_t tok_utf8_encode(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* Bytes GPT-2 keeps as themselves: printable Latin-1 but space, 0xAD. */
static int byte_is_direct(unsigned b)
{
	return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
	       (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cpt(uint8_t b)
{
	unsigned n = 0;

	if (byte_is_direct(b))
		return b;
	/* The others get 256, 257, ... in byte order. */
	for (unsigned i = 0; i < b; i++)
		n += !byte_is_direct(i);
	return 256 + n;
}

int tok_cpt_to_byte(uint32_t c)
{
	if (c < 256)
		return byte_is_direct(c) ? (int)c : -1;
	if (c >= 256 + 68)
		return -1;
	for (unsigned i = 0, n = 0; i < 256; i++) {
		if (byte_is_direct(i))
			continue;
		if (n++ == c - 256)
			return (int)i;
	}
	return -1;
}
