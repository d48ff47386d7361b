// SPDX-License-Identifier: MIT
/*
 * vocab.c - the tokenizer.* keys of a synthetic model: copied from a real
 * GGUF, or a small self-consistent SentencePiece ("llama") vocab with byte
 * fallback, so any text can be tokenized and detokenized.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "mkmodel.h"

/* llama.cpp's token types. */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };

#define N_SPECIAL 3		/* <unk> <s> </s> */
#define N_FIXED (N_SPECIAL + 256)
#define SPM_SPACE "\xe2\x96\x81"	/* U+2581, SentencePiece's space */
#define MAX_PIECE 32
#define MAX_VOCAB MK_VOCAB_MAX
_Static_assert(N_FIXED == MK_VOCAB_MIN, "MK_VOCAB_MIN: the specials and the bytes");

static int copy_tokenizer(struct gguf_writer *w, const char *path,
			  uint32_t *n_vocab, char *err, size_t errlen)
{
	struct gguf *g;
	uint32_t et;
	uint64_t i, n;
	int r;

	r = gguf_open(&g, path, err, errlen);
	if (r)
		return r;
	if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) < 0 ||
	    et != GGUF_TYPE_STRING || n == 0 || n > UINT32_MAX) {
		snprintf(err, errlen, "%s: no tokenizer.ggml.tokens string array",
			 path);
		gguf_close(g);
		return -EINVAL;
	}
	*n_vocab = (uint32_t)n;
	for (i = 0; i < gguf_n_kv(g) && !r; i++) {
		if (strncmp(gguf_kv_key(g, i), "tokenizer.", 10))
			continue;
		r = gguf_writer_copy_kv(w, g, i);
		if (r)
			snprintf(err, errlen, "copying %s: %s", gguf_kv_key(g, i),
				 strerror(-r));
	}
	gguf_close(g);
	return r;
}

/*
 * Normal piece k: single printable ASCII characters, then the same after a
 * space, then all lowercase strings of length 2, 3, ... each followed by
 * its spaced form.  Unique by construction.
 */
static void piece(uint64_t k, char *out)
{
	uint64_t count = 94, len = 1, i;
	int spaced;
	char *p = out;

	while (k >= 2 * count) {
		k -= 2 * count;
		len++;
		count = 1;
		for (i = 0; i < len; i++)
			count *= 26;
	}
	spaced = k >= count;
	if (spaced) {
		k -= count;
		memcpy(p, SPM_SPACE, 3);
		p += 3;
	}
	if (len == 1) {
		*p++ = (char)('!' + k);
	} else {
		for (i = len; i--;) {
			p[i] = (char)('a' + k % 26);
			k /= 26;
		}
		p += len;
	}
	*p = 0;
}

static int synth_tokenizer(struct gguf_writer *w, uint32_t n, char *err,
			   size_t errlen)
{
	char *text = NULL;
	const char **tok = NULL;
	float *score = NULL;
	int32_t *type = NULL;
	uint32_t i;
	int r = -ENOMEM;

	if (n < N_FIXED || n > MAX_VOCAB) {
		snprintf(err, errlen, "--vocab must be in [%u, %u] without --tokenizer",
			 N_FIXED, MAX_VOCAB);
		return -EINVAL;
	}
	text = malloc((size_t)n * MAX_PIECE);
	tok = malloc(n * sizeof(*tok));
	score = malloc(n * sizeof(*score));
	type = malloc(n * sizeof(*type));
	if (!text || !tok || !score || !type)
		goto out;
	for (i = 0; i < n; i++) {
		char *t = text + (size_t)i * MAX_PIECE;

		tok[i] = t;
		score[i] = 0;
		if (i < N_SPECIAL) {
			strcpy(t, i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
			type[i] = i == 0 ? TT_UNKNOWN : TT_CONTROL;
		} else if (i < N_FIXED) {
			snprintf(t, MAX_PIECE, "<0x%02X>", i - N_SPECIAL);
			type[i] = TT_BYTE;
		} else {
			piece(i - N_FIXED, t);
			score[i] = -(float)(i - N_FIXED);
			type[i] = TT_NORMAL;
		}
	}
	r = gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
	if (!r)
		r = gguf_writer_add_str(w, "tokenizer.ggml.pre", "default");
	if (!r)
		r = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tok, NULL, n);
	if (!r)
		r = gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32,
					score, n);
	if (!r)
		r = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32,
					type, n);
	if (!r)
		r = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
	if (!r)
		r = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
	if (!r)
		r = gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	if (!r)
		r = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
	if (!r)
		r = gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0);
out:
	if (r)
		snprintf(err, errlen, "writing the tokenizer: %s", strerror(-r));
	free(text);
	free(tok);
	free(score);
	free(type);
	return r;
}

int mk_add_tokenizer(struct gguf_writer *w, const char *path,
		     uint32_t *n_vocab, char *err, size_t errlen)
{
	if (path)
		return copy_tokenizer(w, path, n_vocab, err, errlen);
	return synth_tokenizer(w, *n_vocab, err, errlen);
}
