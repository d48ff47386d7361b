// SPDX-License-Identifier: MIT
/*
 * fuzz_tokenizer.c - libFuzzer target: arbitrary bytes (invalid UTF-8
 * included) through the gpt-2 and llama-spm tokenizers, with and without
 * special-token parsing, then decoded back, piece by piece and streamed.
 * The vocabularies are loaded once from shared/testdata/tokenizer
 * ($KLLM_TESTDATA overrides).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer.h"

#ifndef KLLM_SRCDIR
#define KLLM_SRCDIR "."
#endif

static struct kllm_tok *toks[2];

static struct kllm_tok *load(const char *name)
{
	const char *env = getenv("KLLM_TESTDATA");
	const char *dirs[] = { env ? env : KLLM_SRCDIR "/shared/testdata",
			       KLLM_SRCDIR "/../shared/testdata",
			       "/work/shared/testdata" };
	char path[1024], err[256];
	struct gguf *g;
	struct kllm_tok *t;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/tokenizer/%s", dirs[i], name);
		if (access(path, R_OK))
			continue;
		if (gguf_open(&g, path, err, sizeof(err)) ||
		    kllm_tok_load(&t, g, err, sizeof(err))) {
			fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, err);
			abort();
		}
		gguf_close(g);
		return t;
	}
	fprintf(stderr, "fuzz_tokenizer: %s not found\n", name);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	toks[0] = load("ggml-vocab-gpt-2.gguf");
	toks[1] = load("ggml-vocab-llama-spm.gguf");
	return 0;
}

static void run(const struct kllm_tok *t, const char *s, size_t n, int special)
{
	int k = kllm_tok_encode(t, s, n, special, special, NULL, 0);
	int32_t *ids;
	char *d, out[512];
	struct kllm_tok_stream st = { 0 };
	int dl;

	if (k < 0)
		abort();
	ids = malloc(((size_t)k + 1) * sizeof(*ids));
	if (!ids || kllm_tok_encode(t, s, n, special, special, ids, (size_t)k) != k)
		abort();
	for (int i = 0; i < k; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= kllm_tok_n_vocab(t))
			abort();
	dl = kllm_tok_decode(t, ids, (size_t)k, special, NULL, 0);
	d = malloc((size_t)dl + 1);
	if (dl < 0 || !d || kllm_tok_decode(t, ids, (size_t)k, special, d, (size_t)dl) != dl)
		abort();
	/* streaming must reproduce the whole decode exactly */
	{
		size_t at = 0;

		for (int i = 0; i < k; i++) {
			int m = kllm_tok_stream_push(t, &st, ids[i], special, out, sizeof(out));

			if (m < 0 || at + (size_t)m > (size_t)dl || memcmp(d + at, out, (size_t)m))
				abort();
			at += (size_t)m;
		}
		at += (size_t)kllm_tok_stream_flush(&st, out, sizeof(out));
		if (at != (size_t)dl)
			abort();
	}
	free(d);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	if (size > 16384)
		return 0;
	for (int i = 0; i < 2; i++) {
		run(toks[i], s, size, 0);
		run(toks[i], s, size, 1);
	}
	return 0;
}
