/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.h - text <-> token ids, matching llama.cpp's tokenizers.
 *
 * Two vocabulary kinds are read from a GGUF (tokenizer.ggml.model):
 *   "llama"  SentencePiece (llm_tokenizer_spm): spaces become U+2581, an
 *            optional leading space, bigram merges by best score, <0xNN>
 *            byte fallback.
 *   "gpt2"   byte-level BPE: regex pre-splitting chosen by
 *            tokenizer.ggml.pre ("gpt-2", "llama3"/"llama-v3"/"llama-bpe",
 *            "qwen2"/"deepseek-r1-qwen", "smollm"), GPT-2's byte mapping,
 *            merges by rank.
 * Anything else is refused at load time with a message naming it.
 *
 * A loaded tokenizer is read-only: any number of threads may encode and
 * decode with it at once (each call allocates its own scratch memory).
 *
 * Known departures from llama.cpp, all outside its defined behaviour:
 * special tokens of equal length are tried in id order (llama.cpp's sort
 * is unstable); with several end-of-turn candidates and no
 * tokenizer.ggml.eot_token_id, EOT is the first of <|eot_id|>,
 * <|im_end|>, <|end|>, ... (llama.cpp: hash order); per-model
 * LSTRIP/RSTRIP token attributes (phi-3, jina, modern-bert) are not
 * applied; a 4-byte sequence above U+10FFFF reads as U+FFFD and an SPM
 * byte without a byte token maps to the unknown token (llama.cpp
 * throws); letters/numbers follow the Unicode version recorded in
 * tok_unicode_data.c.
 *
 * Functions return a negative errno on failure: -EINVAL bad argument or
 * malformed vocabulary, -ENOMEM, -ENOTSUP unsupported model/pre-tokenizer,
 * -ENOENT a required key is missing, -EOVERFLOW a result does not fit int.
 */
#ifndef KLLM_TOKENIZER_H
#define KLLM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

struct gguf;
struct kllm_tok;

/* Token types (tokenizer.ggml.token_type). */
enum kllm_tok_type {
	KLLM_TOK_UNDEFINED = 0,
	KLLM_TOK_NORMAL = 1,
	KLLM_TOK_UNKNOWN = 2,
	KLLM_TOK_CONTROL = 3,
	KLLM_TOK_USER_DEFINED = 4,
	KLLM_TOK_UNUSED = 5,
	KLLM_TOK_BYTE = 6,
};

/*
 * Build a tokenizer from the tokenizer.ggml.* keys of g.  Everything is
 * copied: g may be closed afterwards.  On failure *out is NULL and err
 * (if not NULL) says why.
 */
int kllm_tok_load(struct kllm_tok **out, const struct gguf *g,
		  char *err, size_t errlen);
void kllm_tok_free(struct kllm_tok *t);

/*
 * Tokenize text[0..len) (any bytes; invalid UTF-8 is handled as
 * llama.cpp does).  add_special adds BOS/EOS as the vocabulary asks
 * (tokenizer.ggml.add_bos_token / add_eos_token, else the model's
 * default); parse_special turns the text of control tokens (e.g.
 * "<|im_start|>") into those tokens -- user-defined tokens are always
 * matched, as in llama.cpp.
 *
 * Returns the number of tokens the text encodes to, like snprintf: when
 * it exceeds max_ids only the first max_ids ids were stored, so call
 * again with a larger array (ids may be NULL when max_ids is 0).  A
 * negative errno on failure (-EINVAL, -ENOMEM, -EOVERFLOW).
 */
int kllm_tok_encode(const struct kllm_tok *t, const char *text, size_t len,
		    int add_special, int parse_special,
		    int32_t *ids, size_t max_ids);

/*
 * The bytes token id stands for (llama_token_to_piece with lstrip 0):
 * SentencePiece's U+2581 becomes a space, byte tokens one raw byte, BPE
 * pieces are GPT-2-byte-decoded.  Control and unknown tokens give ""
 * unless special is set (then their text); user-defined tokens always
 * give their text.  A piece may be part of a UTF-8 character.
 * Returns the piece length, snprintf-style (at most buflen bytes stored,
 * no NUL added), or -EINVAL for an id out of range.
 */
int kllm_tok_piece(const struct kllm_tok *t, int32_t id, int special,
		   char *buf, size_t buflen);
/* Concatenated pieces of ids[0..n); snprintf-style like kllm_tok_piece. */
int kllm_tok_decode(const struct kllm_tok *t, const int32_t *ids, size_t n,
		    int special, char *buf, size_t buflen);

/*
 * Streaming detokenizer: feeds tokens one at a time and emits only whole
 * UTF-8 characters, holding back the start of a character split across
 * tokens until it completes (or turns out invalid, then it is emitted
 * as is).  Zero-initialize (or kllm_tok_stream_init) before use.
 */
struct kllm_tok_stream {
	unsigned char held[4];
	unsigned n_held;
};

static inline void kllm_tok_stream_init(struct kllm_tok_stream *s)
{
	s->n_held = 0;
}

/*
 * Append token id's piece; writes the text now complete to out and
 * returns its length.  out needs the piece length + 3 bytes: when it is
 * smaller -ENOSPC is returned and the stream is unchanged.
 */
int kllm_tok_stream_push(const struct kllm_tok *t, struct kllm_tok_stream *s,
			 int32_t id, int special, char *out, size_t outlen);
/* Emit whatever is held back (an incomplete character); 0..3 bytes. */
int kllm_tok_stream_flush(struct kllm_tok_stream *s, char *out, size_t outlen);

/* Vocabulary facts.  Ids are -1 when the vocabulary has none. */
uint32_t kllm_tok_n_vocab(const struct kllm_tok *t);
int32_t kllm_tok_bos(const struct kllm_tok *t);
int32_t kllm_tok_eos(const struct kllm_tok *t);
int32_t kllm_tok_eot(const struct kllm_tok *t);
int32_t kllm_tok_eom(const struct kllm_tok *t);
int32_t kllm_tok_unk(const struct kllm_tok *t);
int32_t kllm_tok_pad(const struct kllm_tok *t);
int kllm_tok_add_bos(const struct kllm_tok *t);
int kllm_tok_add_eos(const struct kllm_tok *t);
/* End of generation: EOS, EOT, EOM and the usual end-marker tokens. */
int kllm_tok_is_eog(const struct kllm_tok *t, int32_t id);
/* "llama" or "gpt2"; the pre-tokenizer name ("" for SentencePiece). */
const char *kllm_tok_model(const struct kllm_tok *t);
const char *kllm_tok_pre(const struct kllm_tok *t);
/* Token id's vocabulary text (not NUL-terminated; *len set), or NULL. */
const char *kllm_tok_text(const struct kllm_tok *t, int32_t id, size_t *len);
/* enum kllm_tok_type of id, or -EINVAL. */
int kllm_tok_type(const struct kllm_tok *t, int32_t id);
/* Id of the token whose text is exactly s[0..len), or -1. */
int32_t kllm_tok_find(const struct kllm_tok *t, const char *s, size_t len);

#endif /* KLLM_TOKENIZER_H */
