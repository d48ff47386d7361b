/* SPDX-License-Identifier: MIT */
/*
 * corpus_escape.h - the escapes of the golden prompt and corpus files
 * (tests/golden/models/prompts-*.txt, tests/golden/tokenizer/corpus.txt):
 * \n \t \r \\ \xHH.  Shared by the generator (tests/scripts/llama_golden.c,
 * built against llama.cpp) and the checkers (built against libkllm), so
 * both read the same texts.
 */
#ifndef KLLM_TESTS_CORPUS_ESCAPE_H
#define KLLM_TESTS_CORPUS_ESCAPE_H

#include <stddef.h>

static int hexdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo the escapes of a line in place (a lone or unknown escape stays as
 * it is); the new length. */
static size_t unescape(char *s)
{
	size_t o = 0;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] != '\\' || !s[i + 1]) {
			s[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case 'n': s[o++] = '\n'; break;
		case 't': s[o++] = '\t'; break;
		case 'r': s[o++] = '\r'; break;
		case '\\': s[o++] = '\\'; break;
		case 'x':
			if (hexdigit(s[i + 1]) >= 0 && hexdigit(s[i + 2]) >= 0) {
				s[o++] = (char)(hexdigit(s[i + 1]) * 16 + hexdigit(s[i + 2]));
				i += 2;
				break;
			}
			s[o++] = '\\';	/* a lone \x stays as it is */
			s[o++] = 'x';
			break;
		default:
			s[o++] = '\\';
			s[o++] = s[i];
		}
	}
	s[o] = 0;
	return o;
}

#endif /* KLLM_TESTS_CORPUS_ESCAPE_H */
