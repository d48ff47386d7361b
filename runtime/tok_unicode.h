/* SPDX-License-Identifier: MIT */
/*
 * tok_unicode.h - the little Unicode the tokenizers need: UTF-8 decoding
 * with llama.cpp's error behaviour, letter/number/whitespace classes, and
 * GPT-2's byte <-> code point mapping.
 */
#ifndef KLLM_TOK_UNICODE_H
#define KLLM_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

struct tok_urange {
	uint32_t lo, hi;	/* inclusive */
};

/* Generated tables (tok_unicode_data.c). */
extern const struct tok_urange tok_letter_ranges[];
extern const unsigned tok_letter_ranges_n;
extern const struct tok_urange tok_number_ranges[];
extern const unsigned tok_number_ranges_n;

/* Code point classes, as llama.cpp's unicode_cpt_flags. */
#define TOK_CPT_LETTER 0x1u	/* \p{L} */
#define TOK_CPT_NUMBER 0x2u	/* \p{N} */
#define TOK_CPT_SPACE 0x4u	/* \s (White_Space) */
#define TOK_CPT_VALID 0x8u	/* any code point < 0x110000 */

unsigned tok_cpt_flags(uint32_t cpt);

/* Length of the UTF-8 sequence a lead byte announces (1 for junk). */
static inline size_t tok_utf8_len(unsigned char c)
{
	static const unsigned char lookup[16] = {
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4
	};
	return lookup[c >> 4];
}

/*
 * Decode all of s into code points (out must hold n entries) the way
 * llama.cpp's unicode_cpts_from_utf8 does: a malformed sequence yields
 * U+FFFD and consumes one byte.  Returns the number of code points.
 */
size_t tok_utf8_decode(const char *s, size_t n, uint32_t *out);
/* Encode one code point (up to 4 bytes); returns bytes written. */
size_t tok_utf8_encode(uint32_t cpt, char *out);

/* GPT-2 byte-level mapping: byte -> code point, and back (-1: none). */
uint32_t tok_byte_to_cpt(uint8_t b);
int tok_cpt_to_byte(uint32_t cpt);

#endif /* KLLM_TOK_UNICODE_H */
