// SPDX-License-Identifier: MIT
/*
 * test_tokenizer.c - the SentencePiece and byte-level BPE tokenizers
 * against llama.cpp's own test cases (ggml-vocab-*.gguf + .inp/.out),
 * round trips, special-token parsing, streaming decode and errors.
 */
#include <errno.h>
#include <unistd.h>

#include "gguf.h"
#include "kt.h"
#include "tokenizer.h"

#ifndef KLLM_SRCDIR
#define KLLM_SRCDIR "."
#endif

static char err[512];

static int ci(void)
{
	return getenv("CI") && !strcmp(getenv("CI"), "true");
}

/* Shared test data: $KLLM_TESTDATA, else shared/testdata near the tree. */
static int shared_path(char *path, size_t n, const char *name)
{
	const char *env = getenv("KLLM_TESTDATA");
	const char *dirs[] = { KLLM_SRCDIR "/shared/testdata",
			       KLLM_SRCDIR "/../shared/testdata",
			       "/work/shared/testdata" };

	if (env) {
		snprintf(path, n, "%s/tokenizer/%s", env, name);
		if (access(path, R_OK) == 0)
			return 1;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, n, "%s/tokenizer/%s", dirs[i], name);
		if (access(path, R_OK) == 0)
			return 1;
	}
	snprintf(path, n, "%s/tests/testdata/tokenizer/%s", KLLM_SRCDIR, name);
	if (access(path, R_OK) == 0)
		return 1;
	if (ci())
		ck_abort_msg("test_tokenizer: %s not found (set KLLM_TESTDATA)", name);
	fprintf(stderr, "test_tokenizer: %s not found: skipped\n", name);
	return 0;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	ck_assert(buf != NULL);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = 0;
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static struct kllm_tok *load(const char *name, struct gguf **gp)
{
	char path[1024];
	struct gguf *g;
	struct kllm_tok *t;

	if (!shared_path(path, sizeof(path), name))
		return NULL;
	ck_assert_msg(gguf_open(&g, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(kllm_tok_load(&t, g, err, sizeof(err)) == 0, "%s: %s", name, err);
	if (gp)
		*gp = g;
	else
		gguf_close(g);
	return t;
}

/* Encode into a malloc'd array; *n gets the count. */
static int32_t *encode(const struct kllm_tok *t, const char *s, size_t len,
		       int add_special, int parse_special, int *n)
{
	int32_t *ids;
	int k = kllm_tok_encode(t, s, len, add_special, parse_special, NULL, 0);

	ck_assert_int_ge(k, 0);
	ids = malloc(((size_t)k + 1) * sizeof(*ids));
	ck_assert_int_eq(kllm_tok_encode(t, s, len, add_special, parse_special,
					 ids, (size_t)k), k);
	*n = k;
	return ids;
}

static char *decode(const struct kllm_tok *t, const int32_t *ids, int n,
		    int special, size_t *len)
{
	int k = kllm_tok_decode(t, ids, (size_t)n, special, NULL, 0);
	char *s;

	ck_assert_int_ge(k, 0);
	s = malloc((size_t)k + 1);
	ck_assert_int_eq(kllm_tok_decode(t, ids, (size_t)n, special, s, (size_t)k), k);
	s[k] = 0;
	*len = (size_t)k;
	return s;
}

/*
 * Every case of llama.cpp's test-tokenizer-0 data must give the same
 * ids (add_special = false, parse_special = false).  round: 1 = decode
 * gives the input back, 2 = the same with SentencePiece's leading space.
 */
static void run_vocab(const char *name, int round)
{
	char path[1024], opath[1040];
	struct kllm_tok *t = load(name, NULL);
	char *inp, *out, *ip, *op;
	size_t ni, no;
	const char *sep = "\n__ggml_vocab_test__\n";
	int cases = 0, bad = 0;

	if (!t)
		return;
	shared_path(path, sizeof(path), name);
	snprintf(opath, sizeof(opath), "%s.inp", path);
	inp = slurp(opath, &ni);
	snprintf(opath, sizeof(opath), "%s.out", path);
	out = slurp(opath, &no);
	for (ip = inp, op = out; ip < inp + ni && op < out + no; cases++) {
		char *end = strstr(ip, sep), *eol = strchr(op, '\n');
		size_t len = end ? (size_t)(end - ip) : strlen(ip);
		int32_t want[512];
		int nw = 0, n;
		int32_t *ids;
		char *p;

		if (!eol)
			eol = op + strlen(op);
		*eol = 0;
		for (p = op; *p;) {
			char *q;
			long v = strtol(p, &q, 10);

			if (q == p)
				break;
			ck_assert_int_lt(nw, 512);
			want[nw++] = (int32_t)v;
			p = q;
		}
		ids = encode(t, ip, len, 0, 0, &n);
		if (n != nw || memcmp(ids, want, (size_t)n * sizeof(*ids))) {
			bad++;
			fprintf(stderr, "%s case %d: '%.*s'\n  want:", name, cases,
				(int)len, ip);
			for (int i = 0; i < nw; i++)
				fprintf(stderr, " %d", want[i]);
			fprintf(stderr, "\n  got: ");
			for (int i = 0; i < n; i++)
				fprintf(stderr, " %d", ids[i]);
			fprintf(stderr, "\n");
		} else if (round && len) {
			size_t dl;
			char *d = decode(t, ids, n, 0, &dl);
			size_t off = round == 2 ? 1 : 0;

			ck_assert_msg(dl == len + off && !memcmp(d + off, ip, len) &&
				      (!off || d[0] == ' '),
				      "%s case %d: round trip gave '%s'", name, cases, d);
			free(d);
		}
		free(ids);
		ip = end ? end + strlen(sep) : inp + ni;
		op = eol + 1;
	}
	ck_assert_msg(bad == 0, "%s: %d of %d cases differ from llama.cpp", name, bad, cases);
	ck_assert_int_gt(cases, 20);
	free(inp);
	free(out);
	kllm_tok_free(t);
}

START_TEST(vocab_spm)
{
	run_vocab("ggml-vocab-llama-spm.gguf", 2);
}
END_TEST

START_TEST(vocab_gpt2)
{
	run_vocab("ggml-vocab-gpt-2.gguf", 1);
}
END_TEST

START_TEST(vocab_llama_bpe)
{
	run_vocab("ggml-vocab-llama-bpe.gguf", 1);
}
END_TEST

START_TEST(vocab_qwen2)
{
	run_vocab("ggml-vocab-qwen2.gguf", 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Special tokens, BOS/EOS, pieces                                     */

static void expect_ids(const struct kllm_tok *t, const char *s, int add_special,
		       int parse_special, const int32_t *want, int nw)
{
	int n;
	int32_t *ids = encode(t, s, strlen(s), add_special, parse_special, &n);

	ck_assert_msg(n == nw && !memcmp(ids, want, (size_t)n * sizeof(*ids)),
		      "'%s': got %d ids, first %d", s, n, n ? ids[0] : -1);
	free(ids);
}

START_TEST(special_gpt2)
{
	struct kllm_tok *t = load("ggml-vocab-gpt-2.gguf", NULL);
	const int32_t eot[] = { 50256 }, aeb[] = { 64, 50256, 65 };
	int32_t *ids;
	int n;
	char buf[32];

	if (!t)
		return;
	ck_assert_int_eq(kllm_tok_eos(t), 50256);
	ck_assert(kllm_tok_is_eog(t, 50256));
	ck_assert(!kllm_tok_is_eog(t, 64));
	ck_assert_int_eq(kllm_tok_type(t, 50256), KLLM_TOK_CONTROL);
	expect_ids(t, "<|endoftext|>", 0, 1, eot, 1);
	expect_ids(t, "a<|endoftext|>b", 0, 1, aeb, 3);
	/* gpt-2 adds no BOS */
	expect_ids(t, "<|endoftext|>", 1, 1, eot, 1);
	/* without parse_special it is plain text */
	ids = encode(t, "<|endoftext|>", 13, 0, 0, &n);
	ck_assert_int_gt(n, 1);
	for (int i = 0; i < n; i++)
		ck_assert_int_ne(ids[i], 50256);
	free(ids);
	/* control pieces render only on request */
	ck_assert_int_eq(kllm_tok_piece(t, 50256, 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(kllm_tok_piece(t, 50256, 1, buf, sizeof(buf)), 13);
	ck_assert(!memcmp(buf, "<|endoftext|>", 13));
	/* " world" is one token whose piece starts with a real space */
	ck_assert_int_eq(kllm_tok_piece(t, 995, 0, buf, sizeof(buf)), 6);
	ck_assert(!memcmp(buf, " world", 6));
	ck_assert_int_eq(kllm_tok_find(t, "\xc4\xa0world", 7), 995);
	ck_assert_int_eq(kllm_tok_piece(t, 50257, 0, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(kllm_tok_piece(t, -1, 0, buf, sizeof(buf)), -EINVAL);
	kllm_tok_free(t);
}
END_TEST

START_TEST(special_spm)
{
	struct kllm_tok *t = load("ggml-vocab-llama-spm.gguf", NULL);
	int32_t *ids;
	int n;
	char buf[16];
	size_t len;
	const char *txt;

	if (!t)
		return;
	ck_assert_int_eq(kllm_tok_bos(t), 1);
	ck_assert_int_eq(kllm_tok_eos(t), 2);
	ck_assert(kllm_tok_add_bos(t));
	/* BOS with add_special, none without */
	ids = encode(t, "hi", 2, 1, 0, &n);
	ck_assert_int_ge(n, 2);
	ck_assert_int_eq(ids[0], 1);
	free(ids);
	ids = encode(t, "hi", 2, 0, 0, &n);
	ck_assert_int_ne(ids[0], 1);
	free(ids);
	/* "<s>" parsed, and the text after it gets the space prefix again */
	{
		int32_t *a = encode(t, "<s>hi", 5, 0, 1, &n), *b;
		int m;

		ck_assert_int_eq(a[0], 1);
		b = encode(t, "hi", 2, 0, 0, &m);
		ck_assert_int_eq(n, m + 1);
		ck_assert(!memcmp(a + 1, b, (size_t)m * sizeof(*b)));
		free(a);
		free(b);
	}
	/* without parse_special "<s>" is text */
	ids = encode(t, "<s>", 3, 0, 0, &n);
	ck_assert_int_gt(n, 1);
	for (int i = 0; i < n; i++)
		ck_assert_int_ne(ids[i], 1);
	free(ids);
	/* byte token <0x0A> decodes to a newline */
	ck_assert_int_eq(kllm_tok_find(t, "<0x0A>", 6), 13);
	ck_assert_int_eq(kllm_tok_type(t, 13), KLLM_TOK_BYTE);
	ck_assert_int_eq(kllm_tok_piece(t, 13, 0, buf, sizeof(buf)), 1);
	ck_assert_int_eq(buf[0], '\n');
	ck_assert_int_eq(kllm_tok_piece(t, 1, 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(kllm_tok_piece(t, 1, 1, buf, sizeof(buf)), 3);
	txt = kllm_tok_text(t, 1, &len);
	ck_assert(txt && len == 3 && !memcmp(txt, "<s>", 3));
	ck_assert(kllm_tok_text(t, 32000, &len) == NULL);
	kllm_tok_free(t);
}
END_TEST

START_TEST(special_qwen2)
{
	struct kllm_tok *t = load("ggml-vocab-qwen2.gguf", NULL);
	const char *chat = "<|im_start|>user\nhi<|im_end|>";
	int32_t *ids;
	int n;

	if (!t)
		return;
	ids = encode(t, chat, strlen(chat), 1, 1, &n);
	ck_assert_int_ge(n, 4);
	ck_assert_int_eq(ids[0], 151644);
	ck_assert_int_eq(ids[n - 1], 151645);
	ck_assert(kllm_tok_is_eog(t, 151645));
	ck_assert(kllm_tok_is_eog(t, 151643));
	ck_assert_int_eq(kllm_tok_eot(t), 151645);
	free(ids);
	ids = encode(t, chat, strlen(chat), 1, 0, &n);
	for (int i = 0; i < n; i++)
		ck_assert(ids[i] != 151644 && ids[i] != 151645);
	free(ids);
	/* user-defined tokens are matched even without parse_special */
	{
		int32_t pad = kllm_tok_find(t, "[PAD151650]", 11);
		const char *s = "x[PAD151650]y";

		ck_assert_int_eq(kllm_tok_type(t, pad), KLLM_TOK_USER_DEFINED);
		ids = encode(t, s, strlen(s), 0, 0, &n);
		ck_assert_int_eq(n, 3);
		ck_assert_int_eq(ids[1], pad);
		free(ids);
	}
	kllm_tok_free(t);
}
END_TEST

/* snprintf-style counts: a short array gets a prefix, the rest untouched. */
START_TEST(short_buffer)
{
	struct kllm_tok *t = load("ggml-vocab-gpt-2.gguf", NULL);
	int32_t ids[4] = { -7, -7, -7, -7 };
	const char *s = "Hello world, this is a test";
	int n;

	if (!t)
		return;
	n = kllm_tok_encode(t, s, strlen(s), 0, 0, ids, 2);
	ck_assert_int_gt(n, 2);
	ck_assert_int_eq(ids[0], 15496);
	ck_assert_int_eq(ids[1], 995);
	ck_assert_int_eq(ids[2], -7);
	ck_assert_int_eq(kllm_tok_encode(t, s, strlen(s), 0, 0, NULL, 0), n);
	ck_assert_int_eq(kllm_tok_encode(t, NULL, 3, 0, 0, ids, 4), -EINVAL);
	ck_assert_int_eq(kllm_tok_encode(t, s, 3, 0, 0, NULL, 4), -EINVAL);
	ck_assert_int_eq(kllm_tok_encode(t, "", 0, 0, 0, ids, 4), 0);
	kllm_tok_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Round trips, invalid UTF-8, streaming                               */

/* Random valid UTF-8 from ASCII, Latin, CJK, emoji and spaces. */
static size_t rand_utf8(struct kt_rng *r, char *out, size_t max_cp)
{
	static const uint32_t base[] = { 0x20, 0x61, 0xC0, 0x400, 0x4E00, 0x1F600, 0x0A, 0x30 };
	static const uint32_t span[] = { 0x5F, 26, 0x140, 0x100, 0x500, 0x50, 1, 10 };
	size_t n = 0, k = kt_rng_u64(r) % max_cp;

	for (size_t i = 0; i < k; i++) {
		unsigned j = (unsigned)(kt_rng_u64(r) % 8);
		uint32_t c = base[j] + (uint32_t)(kt_rng_u64(r) % span[j]);

		if (c < 0x80) {
			out[n++] = (char)c;
		} else if (c < 0x800) {
			out[n++] = (char)(0xC0 | (c >> 6));
			out[n++] = (char)(0x80 | (c & 0x3F));
		} else if (c < 0x10000) {
			out[n++] = (char)(0xE0 | (c >> 12));
			out[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
			out[n++] = (char)(0x80 | (c & 0x3F));
		} else {
			out[n++] = (char)(0xF0 | (c >> 18));
			out[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
			out[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
			out[n++] = (char)(0x80 | (c & 0x3F));
		}
	}
	return n;
}

/* Stream ids one by one: every chunk whole UTF-8, all of it = decode. */
static void check_stream(const struct kllm_tok *t, const int32_t *ids, int n,
			 const char *want, size_t wlen)
{
	struct kllm_tok_stream st;
	char *acc = malloc(wlen + 64), chunk[512];
	size_t al = 0;

	kllm_tok_stream_init(&st);
	for (int i = 0; i < n; i++) {
		int k = kllm_tok_stream_push(t, &st, ids[i], 0, chunk, sizeof(chunk));

		ck_assert_int_ge(k, 0);
		/* a chunk never ends inside a character */
		for (int b = 1; b <= 3 && b <= k; b++) {
			unsigned char c = (unsigned char)chunk[k - b];

			if ((c & 0xC0) == 0x80)
				continue;
			ck_assert_msg(!(c >= 0xC0 && (c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2) > b),
				      "chunk ends in a split character");
			break;
		}
		ck_assert_uint_le(al + (size_t)k, wlen);
		memcpy(acc + al, chunk, (size_t)k);
		al += (size_t)k;
	}
	al += (size_t)kllm_tok_stream_flush(&st, acc + al, 4);
	ck_assert(al == wlen && !memcmp(acc, want, wlen));
	free(acc);
}

static void round_trip(const char *name, int spm)
{
	struct kllm_tok *t = load(name, NULL);
	struct kt_rng r;
	char s[1024];

	if (!t)
		return;
	kt_rng_seed(&r, 42);
	for (int it = 0; it < 150; it++) {
		size_t len = rand_utf8(&r, s, 200), dl;
		int n;
		int32_t *ids = encode(t, s, len, 0, 0, &n);
		char *d = decode(t, ids, n, 0, &dl);
		size_t off = spm && len ? 1 : 0;

		ck_assert_msg(dl == len + off && !memcmp(d + off, s, len),
			      "%s: round trip %d failed", name, it);
		check_stream(t, ids, n, d, dl);
		free(d);
		free(ids);
	}
	kllm_tok_free(t);
}

START_TEST(round_spm)
{
	round_trip("ggml-vocab-llama-spm.gguf", 1);
}
END_TEST

START_TEST(round_gpt2)
{
	round_trip("ggml-vocab-gpt-2.gguf", 0);
}
END_TEST

START_TEST(round_qwen2)
{
	round_trip("ggml-vocab-qwen2.gguf", 0);
}
END_TEST

START_TEST(round_llama_bpe)
{
	round_trip("ggml-vocab-llama-bpe.gguf", 0);
}
END_TEST

/* Invalid UTF-8: BPE sees U+FFFD (as llama.cpp), SPM keeps the bytes. */
START_TEST(invalid_utf8)
{
	struct kllm_tok *bpe = load("ggml-vocab-gpt-2.gguf", NULL);
	struct kllm_tok *spm = load("ggml-vocab-llama-spm.gguf", NULL);
	/*
	 * (SPM splits on lead-byte lengths, so a truncated sequence right
	 * before a space would swallow part of its U+2581, as in llama.cpp:
	 * the input avoids that case.)
	 */
	const char in[] = "a\xff" "bcd \xc3(x \xe2\x82z \xf0\x9f\x98";
	const char want[] = "a\xef\xbf\xbd" "bcd \xef\xbf\xbd(x \xef\xbf\xbd\xef\xbf\xbdz "
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
	size_t dl;
	int n;
	int32_t *ids;
	char *d;

	if (!bpe || !spm)
		return;
	ids = encode(bpe, in, sizeof(in) - 1, 0, 0, &n);
	d = decode(bpe, ids, n, 0, &dl);
	ck_assert_msg(dl == sizeof(want) - 1 && !memcmp(d, want, dl), "got '%s'", d);
	free(d);
	free(ids);
	ids = encode(spm, in, sizeof(in) - 1, 0, 0, &n);
	d = decode(spm, ids, n, 0, &dl);
	ck_assert(dl == sizeof(in) && d[0] == ' ' && !memcmp(d + 1, in, dl - 1));
	/* the incomplete emoji at the end stays held until the flush */
	{
		struct kllm_tok_stream st = { 0 };
		char out[64];
		int k, tot = 0;

		for (int i = 0; i < n; i++) {
			k = kllm_tok_stream_push(spm, &st, ids[i], 0, out + tot,
						 sizeof(out) - (size_t)tot);
			ck_assert_int_ge(k, 0);
			tot += k;
		}
		ck_assert_int_eq(tot, (int)dl - 3);
		ck_assert_int_eq(kllm_tok_stream_flush(&st, out + tot, 3), 3);
		ck_assert(!memcmp(out, d, dl));
		ck_assert_int_eq(kllm_tok_stream_push(spm, &st, ids[0], 0, out, 2), -ENOSPC);
	}
	free(d);
	free(ids);
	kllm_tok_free(bpe);
	kllm_tok_free(spm);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Gemma-style SentencePiece                                           */

/*
 * A vocabulary shaped like Gemma 3's: SentencePiece without the leading
 * space (add_space_prefix false), control tokens <start_of_turn> and
 * <end_of_turn>, "\n" as a user-defined token, EOS 1 and BOS 2.
 */
static struct kllm_tok *gemma_vocab(void)
{
	static const char *const fixed[] = { "<pad>", "<eos>", "<bos>", "<unk>",
		"<start_of_turn>", "<end_of_turn>", "\n" };
	static const char *const words[] = { "\xe2\x96\x81", "h", "i", "u", "s", "e",
		"r", "hi", "\xe2\x96\x81hi", "us", "er", "user" };
	enum { NF = 7, NW = 12, N = NF + 256 + NW };
	static char bytes[256][8];
	const char *toks[N];
	float scores[N];
	int32_t types[N];
	struct gguf_writer *w = gguf_writer_new();
	struct kllm_tok *t;
	struct gguf *g;
	void *buf;
	size_t size;

	for (int i = 0; i < N; i++) {
		if (i < NF) {
			toks[i] = fixed[i];
			types[i] = i == NF - 1 ? KLLM_TOK_USER_DEFINED : KLLM_TOK_CONTROL;
			scores[i] = -1000;
		} else if (i < NF + 256) {
			snprintf(bytes[i - NF], sizeof(bytes[0]), "<0x%02X>", i - NF);
			toks[i] = bytes[i - NF];
			types[i] = KLLM_TOK_BYTE;
			scores[i] = 0;
		} else {
			toks[i] = words[i - NF - 256];
			types[i] = KLLM_TOK_NORMAL;
			/* longer pieces score higher: they win the merges */
			scores[i] = -10.0f + (float)strlen(toks[i]);
		}
	}
	ck_assert_int_eq(gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"), 0);
	ck_assert_int_eq(gguf_writer_add_str(w, "tokenizer.ggml.pre", "default"), 0);
	ck_assert_int_eq(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, N), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32,
					     scores, N), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32,
					     types, N), 0);
	ck_assert_int_eq(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2), 0);
	ck_assert_int_eq(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1), 0);
	ck_assert_int_eq(gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 3), 0);
	ck_assert_int_eq(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0), 0);
	ck_assert_int_eq(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1), 0);
	ck_assert_int_eq(gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", 0), 0);
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), 0);
	gguf_writer_free(w);
	ck_assert_int_eq(gguf_open_mem(&g, buf, size, err, sizeof(err)), 0);
	ck_assert_msg(kllm_tok_load(&t, g, err, sizeof(err)) == 0, "%s", err);
	gguf_close(g);
	free(buf);
	return t;
}

START_TEST(special_gemma)
{
	struct kllm_tok *t = gemma_vocab();
	const char *chat = "<start_of_turn>user\nhi<end_of_turn>";
	const int32_t hi = kllm_tok_find(t, "hi", 2), user = kllm_tok_find(t, "user", 4);
	const int32_t sp_hi = kllm_tok_find(t, "\xe2\x96\x81hi", 5);
	const int32_t want[] = { 2, 4, user, 6, hi, 5 };
	int32_t *ids;
	int n;

	ck_assert_int_ge(hi, 0);
	ck_assert_int_ge(user, 0);
	/* no space prefix: "hi" is "hi", " hi" is "_hi" */
	ids = encode(t, "hi", 2, 1, 1, &n);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(ids[1], hi);
	free(ids);
	ids = encode(t, " hi", 3, 0, 0, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ids[0], sp_hi);
	free(ids);
	/* the turn markers parse as control tokens; "\n" is user-defined */
	ids = encode(t, chat, strlen(chat), 1, 1, &n);
	ck_assert_int_eq(n, 6);
	ck_assert(!memcmp(ids, want, sizeof(want)));
	free(ids);
	ids = encode(t, chat, strlen(chat), 1, 0, &n);
	for (int i = 0; i < n; i++)
		ck_assert(ids[i] != 4 && ids[i] != 5);
	free(ids);
	/* <end_of_turn> ends a generation, as in llama.cpp, and so does EOS */
	ck_assert_int_eq(kllm_tok_eot(t), 5);
	ck_assert(kllm_tok_is_eog(t, 5));
	ck_assert(kllm_tok_is_eog(t, 1));
	ck_assert(!kllm_tok_is_eog(t, 4));
	ck_assert(!kllm_tok_is_eog(t, 2));
	ck_assert(!kllm_tok_is_eog(t, hi));
	kllm_tok_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals                                                            */

/* A vocabulary GGUF in memory with the given model/pre (NULL: absent). */
static int try_load(const char *model, const char *pre, int with_tokens,
		    struct kllm_tok **t)
{
	struct gguf_writer *w = gguf_writer_new();
	const char *toks[] = { "a", "b", "ab" };
	const char *merges[] = { "a b" };
	struct gguf *g;
	void *buf;
	size_t size;
	int rc;

	if (model)
		ck_assert_int_eq(gguf_writer_add_str(w, "tokenizer.ggml.model", model), 0);
	if (pre)
		ck_assert_int_eq(gguf_writer_add_str(w, "tokenizer.ggml.pre", pre), 0);
	if (with_tokens) {
		ck_assert_int_eq(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3), 0);
		ck_assert_int_eq(gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1), 0);
	}
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), 0);
	gguf_writer_free(w);
	ck_assert_int_eq(gguf_open_mem(&g, buf, size, err, sizeof(err)), 0);
	err[0] = 0;
	rc = kllm_tok_load(t, g, err, sizeof(err));
	gguf_close(g);
	free(buf);
	return rc;
}

START_TEST(refuse)
{
	struct kllm_tok *t = (struct kllm_tok *)&t;
	int32_t ids[8];

	ck_assert_int_eq(try_load("bert", NULL, 1, &t), -ENOTSUP);
	ck_assert(t == NULL);
	ck_assert_msg(strstr(err, "'bert'") != NULL, "%s", err);
	ck_assert_int_eq(try_load("gpt2", "falcon", 1, &t), -ENOTSUP);
	ck_assert_msg(strstr(err, "'falcon'") != NULL, "%s", err);
	ck_assert_int_eq(try_load("gpt2", NULL, 1, &t), -ENOTSUP);
	ck_assert_int_lt(try_load(NULL, NULL, 1, &t), 0);
	ck_assert_int_eq(try_load("llama", NULL, 0, &t), -ENOENT);
	ck_assert_msg(strstr(err, "tokens") != NULL, "%s", err);
	ck_assert_int_eq(kllm_tok_load(NULL, NULL, NULL, 0), -EINVAL);
	/* a tiny BPE vocab works: "ab" merges */
	ck_assert_int_eq(try_load("gpt2", "gpt-2", 1, &t), 0);
	ck_assert_int_eq(kllm_tok_encode(t, "ab", 2, 0, 0, ids, 8), 1);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(kllm_tok_encode(t, "ba", 2, 0, 0, ids, 8), 2);
	ck_assert_int_eq(ids[0], 1);
	/* a byte with no token is dropped, as in llama.cpp */
	ck_assert_int_eq(kllm_tok_encode(t, "xab", 3, 0, 0, ids, 8), 1);
	kllm_tok_free(t);
}
END_TEST

/*
 * Real model files named in $KLLM_TOK_MODELS (colon-separated GGUF
 * paths; skipped when unset): random round trips through their
 * tokenizer and a ChatML prompt whose markers must parse as tokens.
 */
START_TEST(extra_models)
{
	const char *env = getenv("KLLM_TOK_MODELS");
	char *list, *save = NULL;

	if (!env || !*env)
		return;
	list = strdup(env);
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		struct gguf *g;
		struct kllm_tok *t;
		struct kt_rng r;
		char s[1024];
		int32_t im_start;

		ck_assert_msg(gguf_open(&g, p, err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(kllm_tok_load(&t, g, err, sizeof(err)) == 0, "%s: %s", p, err);
		gguf_close(g);
		kt_rng_seed(&r, 7);
		for (int it = 0; it < 100; it++) {
			size_t len = rand_utf8(&r, s, 200), dl;
			int n;
			int32_t *ids = encode(t, s, len, 0, 0, &n);
			char *d = decode(t, ids, n, 0, &dl);
			size_t off = !strcmp(kllm_tok_model(t), "llama") && len ? 1 : 0;

			ck_assert_msg(dl == len + off && !memcmp(d + off, s, len),
				      "%s: round trip %d failed", p, it);
			free(d);
			free(ids);
		}
		im_start = kllm_tok_find(t, "<|im_start|>", 12);
		if (im_start >= 0) {
			const char *chat = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n";
			int n;
			int32_t *ids = encode(t, chat, strlen(chat), 0, 1, &n);

			ck_assert_int_eq(ids[0], im_start);
			ck_assert(kllm_tok_is_eog(t, ids[n - 2]));
			free(ids);
		}
		fprintf(stderr, "test_tokenizer: %s (%s/%s) ok\n", p,
			kllm_tok_model(t), kllm_tok_pre(t));
		kllm_tok_free(t);
	}
	free(list);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tokenizer");
	TCase *tc = tcase_create("vocab");
	TCase *tm = tcase_create("misc");

	tcase_set_timeout(tc, 60);
	tcase_set_timeout(tm, 60);
	tcase_add_test(tc, vocab_spm);
	tcase_add_test(tc, vocab_gpt2);
	tcase_add_test(tc, vocab_llama_bpe);
	tcase_add_test(tc, vocab_qwen2);
	tcase_add_test(tm, special_gpt2);
	tcase_add_test(tm, special_spm);
	tcase_add_test(tm, special_qwen2);
	tcase_add_test(tm, special_gemma);
	tcase_add_test(tm, short_buffer);
	tcase_add_test(tm, round_spm);
	tcase_add_test(tm, round_gpt2);
	tcase_add_test(tm, round_qwen2);
	tcase_add_test(tm, round_llama_bpe);
	tcase_add_test(tm, invalid_utf8);
	tcase_add_test(tm, refuse);
	tcase_add_test(tm, extra_models);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tm);
	return kt_run(s);
}
