// SPDX-License-Identifier: MIT
/*
 * test_lookup.c - prompt-lookup decoding (runtime/lookup.c, kllm_generate
 * with n_draft > 0):
 *  - drafting: the longest n-gram first, its latest occurrence, the
 *    limits, no match;
 *  - a verify pass's rows are the bits a decode of each position alone
 *    gives (the property everything below rests on);
 *  - kllm_generate with n_draft 4 and 8 gives the tokens, text, stop
 *    reason, counts and sequence state of n_draft 0: greedy and seeded
 *    sampling, on a repetitive (code-like) and a chat prompt, cut by
 *    n_predict, by a stop string and by the end of the context; drafts
 *    were accepted;
 *  - drafts follow the sequence's token history through fork and
 *    truncate.
 *
 * Models: the synthetic llama of kt_api.h, and SmolLM2-135M when its GGUF
 * is in the cache (skipped otherwise, and under qemu-user).
 */
#include <errno.h>

#include "kt.h"
#include "kt_api.h"
#include "kt_models.h"

#include "api_int.h"
#include "lookup.h"

#define MAX_GEN 512
#define MAX_PROMPT 1024

static const char code_prompt[] =
	"<|im_start|>user\nRewrite this C function with the variable `count` "
	"renamed to `total`.\n\nstatic int count_lines(const char *s)\n{\n"
	"\tint count = 0;\n\n\twhile (*s) {\n\t\tif (*s == '\\n')\n\t\t\tcount++;\n"
	"\t\ts++;\n\t}\n\treturn count;\n}\n<|im_end|>\n<|im_start|>assistant\n";
static const char chat_prompt[] =
	"<|im_start|>user\nWhat is the capital of France, and what is it known "
	"for?<|im_end|>\n<|im_start|>assistant\n";

/* ------------------------------------------------------------------ */
/* Drafting                                                            */

static uint32_t draft(const int32_t *ctx, uint32_t n, uint32_t g_min, uint32_t g_max,
		      int32_t *out, uint32_t n_max)
{
	return kllm_lookup_draft(ctx, n, g_min, g_max, out, n_max);
}

START_TEST(draft_cases)
{
	const int32_t a[] = { 1, 2, 3, 9, 8, 1, 2, 3 };
	const int32_t latest[] = { 5, 7, 5, 8, 5 };
	const int32_t longest[] = { 1, 2, 3, 4, 9, 2, 3, 6, 1, 2, 3 };
	const int32_t none[] = { 1, 2, 3, 4 };
	const int32_t short_only[] = { 1, 2, 9, 2 };
	const int32_t run[] = { 7, 7, 7 };
	int32_t d[8];

	/* the 3-gram 1 2 3 was seen: what followed, up to n_max */
	ck_assert_uint_eq(draft(a, 8, 1, 3, d, 8), 5);
	ck_assert(d[0] == 9 && d[1] == 8 && d[2] == 1 && d[3] == 2 && d[4] == 3);
	ck_assert_uint_eq(draft(a, 8, 1, 3, d, 2), 2);
	ck_assert(d[0] == 9 && d[1] == 8);
	ck_assert_uint_eq(draft(a, 8, 1, 3, d, 0), 0);
	/* the latest occurrence of the 1-gram 5 */
	ck_assert_uint_eq(draft(latest, 5, 1, 4, d, 8), 2);
	ck_assert(d[0] == 8 && d[1] == 5);
	/* the longer match wins over a later shorter one */
	ck_assert_uint_eq(draft(longest, 11, 1, 3, d, 1), 1);
	ck_assert_int_eq(d[0], 4);
	ck_assert_uint_eq(draft(longest, 11, 1, 2, d, 1), 1);
	ck_assert_int_eq(d[0], 6);
	/* nothing seen before */
	ck_assert_uint_eq(draft(none, 4, 1, 4, d, 8), 0);
	/* only a 1-gram matches: ngram_min decides */
	ck_assert_uint_eq(draft(short_only, 4, 2, 3, d, 8), 0);
	ck_assert_uint_eq(draft(short_only, 4, 1, 3, d, 8), 2);
	ck_assert(d[0] == 9 && d[1] == 2);
	/* a run: the match may overlap the tail */
	ck_assert_uint_eq(draft(run, 3, 1, 4, d, 8), 1);
	ck_assert_int_eq(d[0], 7);
	ck_assert_uint_eq(draft(run, 3, 2, 2, d, 8), 1);
	/* too short a context */
	ck_assert_uint_eq(draft(run, 1, 1, 4, d, 8), 0);
	ck_assert_uint_eq(draft(run, 0, 1, 4, d, 8), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Models                                                              */

static int smol_path(char *path, size_t len)
{
	return kt_model_path("test_lookup", KT_SMOLLM2, path, len);
}

static struct kllm_llm *load(const char *path)
{
	struct kllm_llm *llm = NULL;

	ck_assert_msg(kllm_llm_load(path, &llm) == 0, "%s", kllm_last_error());
	return llm;
}

static struct kllm_engine *engine(const struct kllm_llm *llm, uint32_t n_ctx)
{
	struct kllm_engine_params p = { .n_seqs = 2, .n_ctx = n_ctx, .max_batch = 64,
					.n_threads = 2 };
	struct kllm_engine *e = NULL;

	ck_assert_msg(kllm_engine_create(llm, &p, &e) == 0, "%s", kllm_last_error());
	return e;
}

static int tokenize(const struct kllm_llm *llm, const char *text, int32_t *ids)
{
	int n = kllm_tokenize(llm, text, strlen(text), 1, 1, ids, MAX_PROMPT);

	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, MAX_PROMPT);
	return n;
}

/* ------------------------------------------------------------------ */
/* Verify rows equal single decodes                                    */

static void rows_equal_decodes(const char *path, const char *text)
{
	struct kllm_llm *llm = load(path);
	struct kllm_engine *e = engine(llm, 512);
	const uint32_t nv = kllm_llm_info(llm)->n_vocab, k = 6;
	int32_t ids[MAX_PROMPT];
	float *rows = malloc(4ull * nv * (k + 1)), *one = malloc(4ull * nv * (k + 1));
	int n = tokenize(llm, text, ids), a = kllm_seq_new(e), b = kllm_seq_new(e);

	ck_assert(rows && one && a >= 0 && b >= 0 && n > (int)k + 2);
	/* a: the prompt less k + 1 tokens, then those one decode at a time */
	ck_assert_int_eq(kllm_seq_feed(e, a, ids, (size_t)n - k - 1), 0);
	ck_assert_int_eq(kllm_seq_decode(e, a), 0);
	for (uint32_t i = 0; i <= k; i++) {
		ck_assert_int_eq(kllm_seq_feed(e, a, ids + n - k - 1 + i, 1), 0);
		ck_assert_int_eq(kllm_seq_decode(e, a), 0);
		memcpy(one + (size_t)i * nv, kllm_seq_logits(e, a), 4ull * nv);
	}
	/* b: the same prefix, then 1 pending and k drafts in one verify pass */
	ck_assert_int_eq(kllm_seq_feed(e, b, ids, (size_t)n - k - 1), 0);
	ck_assert_int_eq(kllm_seq_decode(e, b), 0);
	ck_assert_int_eq(kllm_seq_feed(e, b, ids + n - k - 1, 1), 0);
	ck_assert_int_eq(api_seq_verify(e, b, ids + n - k, k, rows), 0);
	ck_assert_int_eq(kllm_seq_len(e, b), n);
	ck_assert_int_eq(kllm_seq_pending(e, b), 0);
	for (uint32_t i = 0; i <= k; i++)
		ck_assert_msg(!memcmp(rows + (size_t)i * nv, one + (size_t)i * nv, 4ull * nv),
			      "%s: verify row %u differs from a decode", path, i);
	/* rewound to 3 rows in, with row 2's logits: as a decoding there */
	api_seq_rewind(e, b, (uint32_t)n - k - 1 + 3, rows + 2ull * nv);
	ck_assert_int_eq(kllm_seq_len(e, b), n - (int)k + 2);
	ck_assert(!memcmp(kllm_seq_logits(e, b), one + 2ull * nv, 4ull * nv));
	ck_assert_int_eq(kllm_seq_feed(e, b, ids + n - k + 2, 1), 0);
	ck_assert_int_eq(kllm_seq_decode(e, b), 0);
	ck_assert(!memcmp(kllm_seq_logits(e, b), one + 3ull * nv, 4ull * nv));
	free(rows);
	free(one);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}

/* ------------------------------------------------------------------ */
/* kllm_generate with and without drafts                               */

struct outcome {
	int ret;
	struct kllm_gen_result r;
	int32_t ids[MAX_GEN];
	uint32_t n_ids;
	char text[8192];
	size_t n_text;
	int len, pending;
	int32_t cont[8];	/* plain greedy tokens after it */
	int cont_ret;
	uint32_t n_cont;
};

static int collect(void *arg, int32_t id, const char *s, size_t n)
{
	struct outcome *o = arg;

	if (id >= 0 && o->n_ids < MAX_GEN)
		o->ids[o->n_ids++] = id;
	ck_assert_uint_lt(o->n_text + n, sizeof(o->text));
	memcpy(o->text + o->n_text, s, n);
	o->n_text += n;
	return 0;
}

static int collect_cont(void *arg, int32_t id, const char *s, size_t n)
{
	struct outcome *o = arg;

	(void)s;
	(void)n;
	if (id >= 0 && o->n_cont < 8)
		o->cont[o->n_cont++] = id;
	return 0;
}

struct scenario {
	const int32_t *prompt;
	int n_prompt;
	uint32_t n_ctx;
	int32_t n_predict;
	const char *stop;	/* or NULL */
	float temp;		/* 0: greedy; else seeded sampling */
};

static void run(const struct kllm_llm *llm, const struct scenario *sc, uint32_t n_draft,
		struct outcome *o)
{
	struct kllm_engine *e = engine(llm, sc->n_ctx);
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	const char *stops[1] = { sc->stop };
	struct kllm_gen_params gp = { .n_predict = sc->n_predict, .stop = stops,
				      .n_stop = sc->stop ? 1 : 0, .on_token = collect,
				      .arg = o, .n_draft = n_draft };
	struct kllm_gen_params cp = { .n_predict = 8, .on_token = collect_cont, .arg = o };
	struct kllm_sampler *greedy;
	int seq;

	memset(o, 0, sizeof(*o));
	kllm_sampler_default_params(&sp);
	sp.temperature = sc->temp;
	sp.seed = 1234;
	smp = kllm_sampler_create(&sp);
	sp.temperature = 0;
	greedy = kllm_sampler_create(&sp);
	ck_assert(smp && greedy);
	/* a neighbour sequence shares the engine (it must not matter) */
	ck_assert_int_eq(kllm_seq_new(e), 0);
	seq = kllm_seq_new(e);
	ck_assert_int_eq(seq, 1);
	ck_assert_int_eq(kllm_seq_feed(e, 0, sc->prompt, 3), 0);
	ck_assert_int_eq(kllm_seq_feed(e, seq, sc->prompt, (size_t)sc->n_prompt), 0);
	o->ret = kllm_generate(e, seq, smp, &gp, &o->r);
	o->len = kllm_seq_len(e, seq);
	o->pending = kllm_seq_pending(e, seq);
	o->cont_ret = kllm_generate(e, seq, greedy, &cp, NULL);
	kllm_sampler_free(smp);
	kllm_sampler_free(greedy);
	kllm_engine_free(e);
}

static void expect_same_outcome(const struct outcome *a, const struct outcome *b,
				const char *what, uint32_t n_draft)
{
	ck_assert_msg(a->ret == b->ret, "%s, n_draft %u: ret %d vs %d", what, n_draft,
		      a->ret, b->ret);
	ck_assert_msg(a->r.stop == b->r.stop, "%s, n_draft %u: stop %d vs %d", what,
		      n_draft, a->r.stop, b->r.stop);
	ck_assert_msg(a->r.n_gen == b->r.n_gen && a->r.n_prompt == b->r.n_prompt,
		      "%s, n_draft %u: n_gen %u vs %u", what, n_draft, a->r.n_gen, b->r.n_gen);
	ck_assert_uint_eq(a->n_ids, b->n_ids);
	for (uint32_t i = 0; i < a->n_ids; i++)
		ck_assert_msg(a->ids[i] == b->ids[i], "%s, n_draft %u: token %u: %d vs %d",
			      what, n_draft, i, a->ids[i], b->ids[i]);
	ck_assert_msg(a->n_text == b->n_text && !memcmp(a->text, b->text, a->n_text),
		      "%s, n_draft %u: the text differs", what, n_draft);
	ck_assert_msg(a->len == b->len && a->pending == b->pending,
		      "%s, n_draft %u: sequence %d+%d vs %d+%d", what, n_draft, a->len,
		      a->pending, b->len, b->pending);
	ck_assert_int_eq(a->cont_ret, b->cont_ret);
	ck_assert_uint_eq(a->n_cont, b->n_cont);
	ck_assert_msg(!memcmp(a->cont, b->cont, 4ull * a->n_cont),
		      "%s, n_draft %u: the continuation differs", what, n_draft);
	ck_assert_uint_eq(a->r.n_draft, 0);
}

/* @sc with n_draft 0, 4 and 8: the same outcome.  Tokens accepted (n_draft 4). */
static uint32_t same_with_drafts(const struct kllm_llm *llm, const struct scenario *sc,
				 const char *what, struct outcome *plain)
{
	struct outcome *d = kt_alloc(sizeof(*d));
	uint32_t accepted = 0;

	run(llm, sc, 0, plain);
	for (uint32_t nd = 4; nd <= 8; nd += 4) {
		run(llm, sc, nd, d);
		expect_same_outcome(plain, d, what, nd);
		ck_assert_uint_le(d->r.n_draft_accepted, d->r.n_draft);
		if (nd == 4)
			accepted = d->r.n_draft_accepted;
		printf("test_lookup: %s, n_draft %u: %u tokens, %u drafted, %u accepted\n",
		       what, nd, d->r.n_gen, d->r.n_draft, d->r.n_draft_accepted);
	}
	free(d);
	return accepted;
}

/*
 * Greedy on @ids (100 tokens), with drafts accepted where @need_accept;
 * with @all also every cut: n_predict (1, 2, 37), a stop string taken
 * from the middle of the plain output, the context's end, and seeded
 * sampling.  (SmolLM2 runs the first part alone: under ASan its 40 runs
 * would take over ten minutes.)
 */
static void generate_cases(const struct kllm_llm *llm, const int32_t *ids, int n,
			   const char *what, int need_accept, int all)
{
	struct outcome *plain = kt_alloc(sizeof(*plain));
	struct scenario sc = { .prompt = ids, .n_prompt = n, .n_ctx = 1024,
			       .n_predict = 100 };
	const int32_t cuts[] = { 1, 2, 37 };
	char stop[8] = "";
	uint32_t acc;

	acc = same_with_drafts(llm, &sc, what, plain);
	if (need_accept)
		ck_assert_msg(acc > 0, "%s: no draft token was accepted", what);
	if (!all) {
		free(plain);
		return;
	}
	/* a stop string from the middle of the plain text */
	if (plain->n_text > 40) {
		memcpy(stop, plain->text + plain->n_text / 2, 3);
		if (!memchr(stop, 0, 3) && !(stop[0] & 0x80) && !(stop[2] & 0x80)) {
			sc.stop = stop;
			same_with_drafts(llm, &sc, "stop string", plain);
			ck_assert_int_eq(plain->r.stop, KLLM_STOP_STRING);
			sc.stop = NULL;
		}
	}
	for (size_t i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
		sc.n_predict = cuts[i];
		same_with_drafts(llm, &sc, "n_predict", plain);
		ck_assert_int_eq(plain->r.stop, KLLM_STOP_LIMIT);
	}
	/* the end of the context, 30 tokens after the prompt */
	sc.n_predict = -1;
	sc.n_ctx = (uint32_t)n + 30;
	same_with_drafts(llm, &sc, "context end", plain);
	ck_assert(plain->ret == -ENOSPC || plain->r.stop == KLLM_STOP_EOG);
	/* seeded sampling */
	sc.n_ctx = 1024;
	sc.n_predict = 100;
	sc.temp = 0.8f;
	same_with_drafts(llm, &sc, "seeded", plain);
	free(plain);
}

START_TEST(synthetic_rows_equal_decodes)
{
	rows_equal_decodes(kta_path, "int a = b + c; int a = b + c; int a = b + c;");
}
END_TEST

START_TEST(synthetic_same_output)
{
	struct kllm_llm *llm = load(kta_path);
	int32_t *ids = kt_alloc(4 * MAX_PROMPT);
	int n = tokenize(llm, "for (i = 0; i < n; i++) a[i] = b[i]; "
			 "for (j = 0; j < n; j++) a[j] = b[j]; for (", ids);

	/* twice: the random model's greedy text then repeats itself in part */
	memcpy(ids + n, ids, 4ull * n);
	generate_cases(llm, ids, 2 * n, "synthetic", 1, 1);
	free(ids);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(smollm2_rows_equal_decodes)
{
	char path[512];

	if (smol_path(path, sizeof(path)))
		return;
	rows_equal_decodes(path, code_prompt);
}
END_TEST

START_TEST(smollm2_same_output)
{
	struct scenario sc = { .n_ctx = 1024, .n_predict = 100, .temp = 0.8f };
	struct outcome *plain;
	struct kllm_llm *llm;
	int32_t *ids;
	char path[512];
	int n;

	if (smol_path(path, sizeof(path)))
		return;
	plain = kt_alloc(sizeof(*plain));
	llm = load(path);
	ids = kt_alloc(4 * MAX_PROMPT);
	n = tokenize(llm, code_prompt, ids);
	generate_cases(llm, ids, n, "smollm2 code", 1, 0);
	n = tokenize(llm, chat_prompt, ids);
	generate_cases(llm, ids, n, "smollm2 chat", 0, 0);
	/* seeded sampling on the real model */
	sc.prompt = ids;
	sc.n_prompt = n;
	same_with_drafts(llm, &sc, "smollm2 seeded", plain);
	free(plain);
	free(ids);
	kllm_llm_free(llm);
}
END_TEST

/* Greedy drafting generation of sequence @seq: its tokens and counts. */
static void gen_greedy(struct kllm_engine *e, int seq, struct outcome *o)
{
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	struct kllm_gen_params gp = { .n_predict = 60, .on_token = collect, .arg = o,
				      .n_draft = 6 };

	memset(o, 0, sizeof(*o));
	kllm_sampler_default_params(&sp);
	sp.temperature = 0;
	smp = kllm_sampler_create(&sp);
	ck_assert(smp != NULL);
	o->ret = kllm_generate(e, seq, smp, &gp, &o->r);
	ck_assert_msg(o->ret == 0, "%s", kllm_last_error());
	kllm_sampler_free(smp);
}

/*
 * The drafts come from the sequence's whole token history: a fork and a
 * truncated-and-refed sequence draft exactly as a fresh sequence fed the
 * same tokens (same drafted and accepted counts, not just same output).
 */
START_TEST(history_follows_fork_and_truncate)
{
	struct kllm_llm *llm = load(kta_path);
	struct kllm_engine *e = engine(llm, 1024);
	struct outcome *a = kt_alloc(sizeof(*a)), *b = kt_alloc(sizeof(*b));
	int32_t *ids = kt_alloc(4 * MAX_PROMPT);
	int n = tokenize(llm, "x = y + z; x = y + z; w = y + z; x = y + ", ids);
	int s0 = kllm_seq_new(e), s1, s2;

	memcpy(ids + n, ids, 4ull * n);
	n *= 2;
	/* fresh */
	ck_assert_int_eq(kllm_seq_feed(e, s0, ids, (size_t)n), 0);
	gen_greedy(e, s0, a);
	ck_assert_uint_gt(a->r.n_draft, 0);
	ck_assert_int_eq(kllm_seq_free(e, s0), 0);
	/* a fork of a sequence that computed the prompt */
	s0 = kllm_seq_new(e);
	ck_assert_int_eq(kllm_seq_feed(e, s0, ids, (size_t)n), 0);
	ck_assert_int_eq(kllm_seq_decode(e, s0), 0);
	s1 = kllm_seq_fork(e, s0, (uint32_t)n);
	ck_assert_int_ge(s1, 0);
	gen_greedy(e, s1, b);
	ck_assert_uint_eq(a->n_ids, b->n_ids);
	ck_assert(!memcmp(a->ids, b->ids, 4ull * a->n_ids));
	ck_assert_uint_eq(a->r.n_draft, b->r.n_draft);
	ck_assert_uint_eq(a->r.n_draft_accepted, b->r.n_draft_accepted);
	/* cut back into the prompt, other tokens fed, cut again, the rest refed */
	s2 = s0;
	ck_assert_int_eq(kllm_seq_truncate(e, s2, (uint32_t)n / 2), 0);
	ck_assert_int_eq(kllm_seq_feed(e, s2, ids + 3, 7), 0);
	ck_assert_int_eq(kllm_seq_decode(e, s2), 0);
	ck_assert_int_eq(kllm_seq_truncate(e, s2, (uint32_t)n / 2), 0);
	ck_assert_int_eq(kllm_seq_feed(e, s2, ids + n / 2, (size_t)(n - n / 2)), 0);
	gen_greedy(e, s2, b);
	ck_assert_uint_eq(a->n_ids, b->n_ids);
	ck_assert(!memcmp(a->ids, b->ids, 4ull * a->n_ids));
	ck_assert_uint_eq(a->r.n_draft, b->r.n_draft);
	ck_assert_uint_eq(a->r.n_draft_accepted, b->r.n_draft_accepted);
	free(ids);
	free(a);
	free(b);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(bad_params)
{
	struct kllm_llm *llm = load(kta_path);
	struct kllm_engine *e = engine(llm, 64);
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	struct kllm_gen_params gp = { .n_predict = 4, .n_draft = KLLM_LOOKUP_DRAFT_MAX + 1 };
	int32_t ids[4] = { 1, 40, 41, 42 };
	int seq = kllm_seq_new(e);

	kllm_sampler_default_params(&sp);
	smp = kllm_sampler_create(&sp);
	ck_assert_int_eq(kllm_seq_feed(e, seq, ids, 4), 0);
	ck_assert_int_eq(kllm_generate(e, seq, smp, &gp, NULL), -EINVAL);
	gp.n_draft = 4;
	gp.ngram_min = 3;
	gp.ngram_max = 2;
	ck_assert_int_eq(kllm_generate(e, seq, smp, &gp, NULL), -EINVAL);
	gp.ngram_max = KLLM_LOOKUP_NGRAM_LIMIT + 1;
	ck_assert_int_eq(kllm_generate(e, seq, smp, &gp, NULL), -EINVAL);
	gp.ngram_max = 3;
	ck_assert_int_eq(kllm_generate(e, seq, smp, &gp, NULL), 0);
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lookup");
	TCase *tc = tcase_create("lookup");
	int ret;

	kta_make(kta_path, 77, 1);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, draft_cases);
	tcase_add_test(tc, bad_params);
	tcase_add_test(tc, history_follows_fork_and_truncate);
	tcase_add_test(tc, synthetic_rows_equal_decodes);
	tcase_add_test(tc, synthetic_same_output);
	tcase_add_test(tc, smollm2_rows_equal_decodes);
	tcase_add_test(tc, smollm2_same_output);
	suite_add_tcase(s, tc);
	ret = kt_run(s);
	unlink(kta_path);
	return ret;
}
