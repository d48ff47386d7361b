/* SPDX-License-Identifier: MIT */
/*
 * kt_api.h - a small synthetic Llama GGUF with a SentencePiece vocabulary
 * (byte fallback, so any text tokenizes), written by the test itself, for
 * the public API's tests.
 *
 * Vocabulary: <unk> <s> </s>, the 256 byte tokens <0xNN>, then the
 * SentencePiece's space, the printable ASCII characters, and 30 letters
 * after a space;
 * every non-ASCII character is spelled in byte tokens, so multi-byte
 * characters are split across tokens.
 */
#ifndef KLLM_KT_API_H
#define KLLM_KT_API_H

#include <unistd.h>

#include "kllm.h"

#include "gguf.h"
#include "kk.h"
#include "kt.h"

#define KTA_VOCAB 384
#define KTA_EMBD 64
#define KTA_HEADS 4
#define KTA_KV_HEADS 2
#define KTA_FF 128
#define KTA_LAYERS 2
#define KTA_SPM_SPACE "\xe2\x96\x81"

/* kta_make runs before Check's runner: plain checks that abort. */
#define KTA_OK(cond)                                                            \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, \
				#cond);                                         \
			abort();                                                \
		}                                                               \
	} while (0)

static inline void kta_tensor(struct gguf_writer *w, struct kt_rng *r, const char *name,
			      uint32_t type, uint32_t ne0, uint32_t rows, float a)
{
	uint64_t rb = kk_row_bytes(type, ne0), ne[2] = { ne0, rows };
	uint8_t *data = kt_alloc(rb * rows);
	float *row = kt_alloc(4ull * ne0);

	for (uint32_t i = 0; i < rows; i++) {
		if (type == KK_TYPE_F32)
			kt_fill_f32(r, row, ne0, 0.5f, 1.5f);
		else
			kt_fill_f32(r, row, ne0, -a, a);
		KTA_OK((kk_quantize_row(type, row, data + i * rb, ne0)) == 0);
	}
	KTA_OK((gguf_writer_add_tensor(w, name, type, rows > 1 ? 2 : 1, ne, data)) >= 0);
	free(row);
	free(data);
}

static inline void kta_vocab(struct gguf_writer *w, int chat_template)
{
	static char text[KTA_VOCAB][8];
	const char *tok[KTA_VOCAB];
	float score[KTA_VOCAB];
	int32_t type[KTA_VOCAB];

	for (int i = 0; i < KTA_VOCAB; i++) {
		int k = i - 260;

		tok[i] = text[i];
		score[i] = i < 259 ? 0.0f : -(float)(i - 259);
		type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
		if (i < 3)
			snprintf(text[i], 8, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
		else if (i < 259)
			snprintf(text[i], 8, "<0x%02X>", i - 3);
		else if (k < 0)
			snprintf(text[i], 8, KTA_SPM_SPACE);
		else if (k < 94)
			snprintf(text[i], 8, "%c", '!' + k);
		else
			snprintf(text[i], 8, KTA_SPM_SPACE "%c", 'a' + (k - 94));
	}
	KTA_OK((gguf_writer_add_str(w, "tokenizer.ggml.model", "llama")) == 0);
	KTA_OK((gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tok, NULL,
						 KTA_VOCAB)) == 0);
	KTA_OK((gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32,
					     score, KTA_VOCAB)) == 0);
	KTA_OK((gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32,
					     type, KTA_VOCAB)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0)) == 0);
	KTA_OK((gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1)) == 0);
	if (chat_template)
		KTA_OK((gguf_writer_add_str(w, "tokenizer.chat_template",
			"{% for m in messages %}<|im_start|>{{ m.role }}\n"
			"{{ m.content }}<|im_end|>\n{% endfor %}")) == 0);
}

/* Write the model, with @heads query heads (a multiple of KTA_KV_HEADS;
 * head size KTA_EMBD / heads), to a temporary file named in @path (64
 * bytes); with a chatml tokenizer.chat_template when @chat_template. */
static inline void kta_make_heads(char *path, uint64_t seed, int chat_template,
				  uint32_t heads)
{
	struct gguf_writer *w = gguf_writer_new();
	const uint32_t hd = KTA_EMBD / heads, kv = KTA_KV_HEADS * hd;
	const float a = sqrtf(3.0f / KTA_EMBD), af = sqrtf(3.0f / KTA_FF);
	const uint32_t q8 = KK_TYPE_Q8_0, f32 = KK_TYPE_F32;
	struct kt_rng r;
	char n[64];
	int fd;

	KTA_OK(w != NULL);
	kt_rng_seed(&r, seed);
	KTA_OK((gguf_writer_add_str(w, "general.architecture", "llama")) == 0);
	KTA_OK((gguf_writer_add_str(w, "general.name", "kt-api")) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.block_count", KTA_LAYERS)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.context_length", 4096)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.embedding_length", KTA_EMBD)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.feed_forward_length", KTA_FF)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.attention.head_count", heads)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.attention.head_count_kv",
					     KTA_KV_HEADS)) == 0);
	KTA_OK((gguf_writer_add_u32(w, "llama.rope.dimension_count", hd)) == 0);
	KTA_OK((gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon",
					     1e-5f)) == 0);
	kta_vocab(w, chat_template);
	kta_tensor(w, &r, "token_embd.weight", q8, KTA_EMBD, KTA_VOCAB, 1.0f);
	for (uint32_t i = 0; i < KTA_LAYERS; i++) {
#define L(s) (snprintf(n, sizeof(n), "blk.%u." s ".weight", i), n)
		kta_tensor(w, &r, L("attn_norm"), f32, KTA_EMBD, 1, 0);
		kta_tensor(w, &r, L("attn_q"), q8, KTA_EMBD, KTA_EMBD, a);
		kta_tensor(w, &r, L("attn_k"), q8, KTA_EMBD, kv, a);
		kta_tensor(w, &r, L("attn_v"), q8, KTA_EMBD, kv, a);
		kta_tensor(w, &r, L("attn_output"), q8, KTA_EMBD, KTA_EMBD, a);
		kta_tensor(w, &r, L("ffn_norm"), f32, KTA_EMBD, 1, 0);
		kta_tensor(w, &r, L("ffn_gate"), q8, KTA_EMBD, KTA_FF, a);
		kta_tensor(w, &r, L("ffn_up"), q8, KTA_EMBD, KTA_FF, a);
		kta_tensor(w, &r, L("ffn_down"), q8, KTA_FF, KTA_EMBD, af);
#undef L
	}
	kta_tensor(w, &r, "output_norm.weight", f32, KTA_EMBD, 1, 0);
	kta_tensor(w, &r, "output.weight", q8, KTA_EMBD, KTA_VOCAB, 4 * a);
	snprintf(path, 64, "/tmp/kllm-test-api-XXXXXX");
	fd = mkstemp(path);
	KTA_OK((fd) >= 0);
	close(fd);
	KTA_OK((gguf_writer_write_file(w, path)) == 0);
	gguf_writer_free(w);
}

/* The model of the API tests: KTA_HEADS heads of 16. */
static inline void kta_make(char *path, uint64_t seed, int chat_template)
{
	kta_make_heads(path, seed, chat_template, KTA_HEADS);
}

/* ------------------------------------------------------------------ */
/* Helpers of the API tests                                            */

/* The model file of the test program (kta_make in main). */
static char kta_path[64];

static inline struct kllm_llm *kta_load(void)
{
	struct kllm_llm *llm = NULL;

	ck_assert_msg(kllm_llm_load(kta_path, &llm) == 0, "%s", kllm_last_error());
	return llm;
}

static inline struct kllm_engine *kta_engine(const struct kllm_llm *llm, uint32_t n_seqs,
						     uint32_t n_ctx, uint32_t max_batch)
{
	struct kllm_engine_params p = { .n_seqs = n_seqs, .n_ctx = n_ctx,
					.max_batch = max_batch, .n_threads = 2 };
	struct kllm_engine *e = NULL;

	ck_assert_msg(kllm_engine_create(llm, &p, &e) == 0, "%s", kllm_last_error());
	return e;
}

/* A reproducible token in the model's vocabulary (BOS..). */
static inline int32_t tok_at(uint32_t i, uint32_t salt)
{
	return (int32_t)(3 + (i * 2654435761u + salt * 40503u) % (KTA_VOCAB - 3));
}

static inline void fill_tokens(int32_t *ids, uint32_t n, uint32_t salt)
{
	for (uint32_t i = 0; i < n; i++)
		ids[i] = tok_at(i, salt);
}

static inline float *logits_copy(const struct kllm_engine *e, int seq)
{
	const float *l = kllm_seq_logits(e, seq);
	float *c = malloc(4 * KTA_VOCAB);

	ck_assert_msg(l != NULL, "%s", kllm_last_error());
	memcpy(c, l, 4 * KTA_VOCAB);
	return c;
}

static inline void expect_same(const float *a, const float *b, const char *what)
{
	ck_assert_msg(!memcmp(a, b, 4 * KTA_VOCAB), "%s: logits differ", what);
}


/*
 * Whether a chunk boundary at @b of the stream s[0..n) cuts a UTF-8
 * character in two: a lead byte before b whose continuation bytes, all
 * present in the stream, run past b.  (A character cut short by a byte
 * that cannot continue it is invalid anyway and may be emitted.)
 */
static inline int splits_char(const unsigned char *s, size_t n, size_t b)
{
	for (size_t j = b; j-- > 0 && b - j <= 3;) {
		size_t need = s[j] >= 0xF0 && s[j] < 0xF8 ? 4 : s[j] >= 0xE0 && s[j] < 0xF0 ? 3 :
			      s[j] >= 0xC0 && s[j] < 0xE0 ? 2 : 0;

		if ((s[j] & 0xC0) == 0x80)
			continue;
		if (j + need <= b || j + need > n)
			return 0;
		for (size_t i = j + 1; i < j + need; i++)
			if ((s[i] & 0xC0) != 0x80)
				return 0;
		return 1;
	}
	return 0;
}

/* A stream of chunks: the bytes and where each chunk ended. */
struct chunks {
	unsigned char s[4096];
	size_t len, end[2048];
	int n;
};

static inline void chunk_add(struct chunks *c, const char *p, size_t n)
{
	ck_assert_uint_lt(c->len + n, sizeof(c->s));
	ck_assert_int_lt(c->n, 2048);
	memcpy(c->s + c->len, p, n);
	c->len += n;
	c->end[c->n++] = c->len;
}

static inline void expect_whole_chars(const struct chunks *c)
{
	for (int i = 0; i < c->n; i++)
		ck_assert_msg(!splits_char(c->s, c->len, c->end[i]),
			      "chunk %d ends inside a UTF-8 character", i);
}

#endif /* KLLM_KT_API_H */
