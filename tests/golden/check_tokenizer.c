// SPDX-License-Identifier: MIT
/*
 * check_tokenizer.c - kllm's tokenizer against llama.cpp's token ids for
 * a corpus (tests/golden/tokenizer/corpus.txt and MODEL.ids, written by
 * tests/scripts/gen_golden.sh).
 *
 *	check_tokenizer MODEL.gguf CORPUS IDS
 *
 * Every case is encoded twice, with special-token text parsed and taken
 * as plain text, BOS as the vocabulary says (add_special), and must give
 * exactly llama.cpp's ids.  A mismatch prints the case, the first
 * differing index and both id runs around it.  Exit status 0 when every
 * case matches, 1 on a mismatch, 2 on bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"
#include "corpus_escape.h"

#define MAX_IDS 4096

/* The next corpus case (skipping blank and '#' lines); 0 at end of file. */
static int next_case(FILE *f, char *buf, size_t size)
{
	while (fgets(buf, (int)size, f)) {
		buf[strcspn(buf, "\n")] = 0;
		if (buf[0] && buf[0] != '#')
			return 1;
	}
	return 0;
}

/* The next "CASE KIND N ID..." line of the ids file; 0 at end, <0 bad. */
static int next_ids(FILE *f, int *case_no, char *kind, int32_t *ids, int *n)
{
	static char line[1 << 17];
	char *p;

	while (fgets(line, sizeof(line), f)) {
		int used;

		if (sscanf(line, "%d %15s %d%n", case_no, kind, n, &used) != 3)
			continue;	/* the header's key-value and comment lines */
		if (*n < 0 || *n > MAX_IDS)
			return -EINVAL;
		p = line + used;
		for (int i = 0; i < *n; i++)
			ids[i] = (int32_t)strtol(p, &p, 10);
		return 1;
	}
	return 0;
}

static void print_run(const char *who, const int32_t *ids, int n, int at)
{
	int from = at > 3 ? at - 3 : 0, to = at + 5 < n ? at + 5 : n;

	printf("       %-9s (%d ids) ...", who, n);
	for (int i = from; i < to; i++)
		printf(i == at ? " [%d]" : " %d", ids[i]);
	printf("%s\n", to < n ? " ..." : "");
}

static int check_case(const struct kllm_tok *t, const char *raw, const char *text, size_t len,
		      int case_no, const char *kind, const int32_t *want, int n_want)
{
	static int32_t got[MAX_IDS];
	int n = kllm_tok_encode(t, text, len, 1, !strcmp(kind, "special"), got, MAX_IDS);
	int at = 0;

	if (n < 0) {
		printf("FAIL case %d %s: encode error %d: %s\n", case_no, kind, n, raw);
		return 1;
	}
	while (at < n && at < n_want && got[at] == want[at])
		at++;
	if (n == n_want && at == n)
		return 0;
	printf("FAIL case %d %s: %.120s\n", case_no, kind, raw);
	print_run("llama.cpp", want, n_want, at);
	print_run("kllm", got, n > MAX_IDS ? MAX_IDS : n, at);
	return 1;
}

int main(int argc, char **argv)
{
	static char raw[1 << 16], text[1 << 16];
	static int32_t want[MAX_IDS];
	int n_cases = 0, n_checked = 0, n_failed = 0, rc;
	struct kllm_tok *t;
	struct gguf *g;
	FILE *corpus, *ids;
	char err[256];

	if (argc != 4) {
		fprintf(stderr, "usage: %s MODEL.gguf CORPUS IDS\n", argv[0]);
		return 2;
	}
	if (gguf_open(&g, argv[1], err, sizeof(err)) || kllm_tok_load(&t, g, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", argv[1], err);
		return 1;
	}
	gguf_close(g);
	corpus = fopen(argv[2], "r");
	ids = fopen(argv[3], "r");
	if (!corpus || !ids) {
		perror(corpus ? argv[3] : argv[2]);
		return 2;
	}
	while (next_case(corpus, raw, sizeof(raw))) {
		size_t len;

		memcpy(text, raw, sizeof(raw));
		len = unescape(text);
		for (int pass = 0; pass < 2; pass++) {
			char kind[16];
			int case_no, n_want;

			rc = next_ids(ids, &case_no, kind, want, &n_want);
			if (rc <= 0 || case_no != n_cases ||
			    strcmp(kind, pass ? "plain" : "special")) {
				fprintf(stderr, "%s: no ids for case %d %s: regenerate it"
					" (tests/scripts/gen_golden.sh tok)\n", argv[3], n_cases,
					pass ? "plain" : "special");
				return 2;
			}
			n_failed += check_case(t, raw, text, len, case_no, kind, want, n_want);
			n_checked++;
		}
		n_cases++;
	}
	printf("tokenizer %s (%s%s%s): %d cases, %d encodings, %d differ from llama.cpp\n",
	       argv[1], kllm_tok_model(t), *kllm_tok_pre(t) ? " " : "", kllm_tok_pre(t),
	       n_cases, n_checked, n_failed);
	fclose(corpus);
	fclose(ids);
	kllm_tok_free(t);
	return n_failed ? 1 : 0;
}
