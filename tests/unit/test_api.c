// SPDX-License-Identifier: MIT
/*
 * test_api.c - the public API (kllm.h) on a synthetic model (kt_api.h):
 *
 *  - model facts, tokenize / detokenize, chat templates, load errors;
 *  - streaming detokenization never emits part of a UTF-8 character;
 *  - generation: token limit, stop strings, a stopping callback, streamed
 *    text in whole characters, abort from another thread (generation and
 *    chunked prefill);
 *  - bad arguments give -EINVAL and a message.
 *
 * Batching, forks, chunked prefill and a full context: test_api_batch.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "kllm.h"
#include "kt_api.h"

/* ------------------------------------------------------------------ */

START_TEST(model_info)
{
	struct kllm_llm *llm = kta_load(), *none = (struct kllm_llm *)&none;
	const struct kllm_llm_info *in = kllm_llm_info(llm);

	ck_assert_str_eq(in->arch, "llama");
	ck_assert_str_eq(in->name, "kt-api");
	ck_assert_uint_eq(in->n_vocab, KTA_VOCAB);
	ck_assert_uint_eq(in->n_ctx_train, 4096);
	ck_assert_uint_eq(in->n_layer, KTA_LAYERS);
	ck_assert_uint_eq(in->n_head_kv, KTA_KV_HEADS);
	ck_assert_int_eq(in->bos, 1);
	ck_assert_int_eq(in->eos, 2);
	ck_assert_int_eq(in->add_bos, 1);
	ck_assert(kllm_token_is_eog(llm, 2));
	ck_assert(!kllm_token_is_eog(llm, 300));
	/* a file that is not there: an errno and one line naming it */
	ck_assert_int_eq(kllm_llm_load("/nonexistent/m.gguf", &none), -ENOENT);
	ck_assert_ptr_null(none);
	ck_assert_ptr_nonnull(strstr(kllm_last_error(), "/nonexistent/m.gguf"));
	ck_assert_ptr_null(strchr(kllm_last_error(), '\n'));
	kllm_llm_free(llm);
}
END_TEST

START_TEST(tokenize_roundtrip)
{
	struct kllm_llm *llm = kta_load();
	const char *s = "Hi there, caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80!";
	int32_t ids[128];
	char buf[256];
	int n, m;

	n = kllm_tokenize(llm, s, strlen(s), 1, 0, ids, 128);
	ck_assert_int_gt(n, 10);
	ck_assert_int_eq(ids[0], 1);		/* BOS */
	ck_assert_int_eq(kllm_tokenize(llm, s, strlen(s), 0, 0, NULL, 0), n - 1);
	/* snprintf-style: a short array gets the first ids, the count stays */
	ck_assert_int_eq(kllm_tokenize(llm, s, strlen(s), 1, 0, ids, 3), n);
	m = kllm_detokenize(llm, ids, (size_t)n, 0, buf, sizeof(buf));
	ck_assert_int_ge(m, (int)strlen(s));
	buf[m] = 0;
	/* SentencePiece's leading space */
	ck_assert_str_eq(buf + (m - (int)strlen(s)), s);
	/* control tokens: text only when asked, parsed only when asked */
	ck_assert_int_eq(kllm_token_to_piece(llm, 2, 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(kllm_token_to_piece(llm, 2, 1, buf, sizeof(buf)), 4);
	ck_assert_int_eq(kllm_tokenize(llm, "</s>", 4, 0, 1, ids, 8), 1);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_gt(kllm_tokenize(llm, "</s>", 4, 0, 0, ids, 8), 1);
	ck_assert_int_eq(kllm_token_to_piece(llm, KTA_VOCAB, 0, buf, sizeof(buf)), -EINVAL);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(chat_template)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_chat_message msgs[] = { { "system", "Be brief." }, { "user", "Hi" } };
	int t = kllm_chat_template(llm, NULL), n;
	char out[256], path[64];

	ck_assert_msg(t >= 0, "%s", kllm_last_error());
	ck_assert_str_eq(kllm_chat_template_name(t), "chatml");
	n = kllm_chat_apply(t, msgs, 2, 1, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(out, "<|im_start|>system\nBe brief.<|im_end|>\n"
			 "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
	ck_assert_int_eq(kllm_chat_apply(t, msgs, 2, 1, NULL, 0), n);
	ck_assert_int_ge(kllm_chat_template(llm, "llama3"), 0);
	ck_assert_int_eq(kllm_chat_template(llm, "no-such"), -ENOENT);
	ck_assert_ptr_nonnull(strstr(kllm_last_error(), "no-such"));
	ck_assert_int_eq(kllm_chat_apply(-1, msgs, 2, 1, out, sizeof(out)), -EINVAL);
	ck_assert_ptr_nonnull(kllm_llm_info(llm)->chat_template);
	kllm_llm_free(llm);
	/* a llama model without a template: -ENOENT, saying so */
	kta_make(path, 43, 0);
	ck_assert_int_eq(kllm_llm_load(path, &llm), 0);
	unlink(path);
	ck_assert_ptr_null(kllm_llm_info(llm)->chat_template);
	ck_assert_int_eq(kllm_chat_template(llm, NULL), -ENOENT);
	ck_assert_ptr_nonnull(strstr(kllm_last_error(), "no tokenizer.chat_template"));
	ck_assert_int_ge(kllm_chat_template(llm, "chatml"), 0);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(detok_stream)
{
	struct kllm_llm *llm = kta_load();
	const char *s = "a\xc3\xa9\xe6\x97\xa5 \xf0\x9f\x98\x80z\xe6\x97";
	static struct chunks c;
	struct kllm_detok d;
	int32_t ids[64];
	char out[KLLM_DETOK_MAX];
	int n = kllm_tokenize(llm, s, strlen(s), 0, 0, ids, 64), k;
	struct kt_rng r;

	kllm_detok_init(&d);
	for (int i = 0; i < n; i++) {
		k = kllm_detok_push(llm, &d, ids[i], 0, out, sizeof(out));
		ck_assert_int_ge(k, 0);
		chunk_add(&c, out, (size_t)k);
	}
	/* the unfinished character at the end comes out only on flush */
	ck_assert_int_eq(kllm_detok_flush(&d, out, sizeof(out)), 2);
	chunk_add(&c, out, 2);
	expect_whole_chars(&c);
	ck_assert_uint_eq(c.len, strlen(s) + 1);	/* SentencePiece's space */
	ck_assert(!memcmp(c.s + 1, s, strlen(s)));
	/* random byte tokens: no character cut, nothing lost */
	kt_rng_seed(&r, 7);
	kllm_detok_init(&d);
	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 2000; i++) {
		int32_t id = (int32_t)(3 + kt_rng_u64(&r) % 256);

		k = kllm_detok_push(llm, &d, id, 0, out, sizeof(out));
		ck_assert_int_ge(k, 0);
		chunk_add(&c, out, (size_t)k);
	}
	chunk_add(&c, out, (size_t)kllm_detok_flush(&d, out, sizeof(out)));
	ck_assert_uint_eq(c.len, 2000);
	expect_whole_chars(&c);
	ck_assert_int_eq(kllm_detok_push(llm, &d, 300, 0, out, 2), -ENOSPC);
	kllm_llm_free(llm);
}
END_TEST

/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */

struct collect {
	char text[4096];
	size_t len;
	int32_t ids[256];
	int n_ids;
	int stop_after;		/* the callback asks to stop after this many */
	struct chunks ch;
};

static int collect_token(void *arg, int32_t id, const char *text, size_t len)
{
	struct collect *c = arg;

	if (id >= 0)
		c->ids[c->n_ids++] = id;
	chunk_add(&c->ch, text, len);
	ck_assert_uint_lt(c->len + len, sizeof(c->text));
	memcpy(c->text + c->len, text, len);
	c->len += len;
	return c->n_ids == c->stop_after;
}

/* Greedy generation from a fixed prompt on a fresh engine. */
static int gen_greedy(const struct kllm_llm *llm, const struct kllm_gen_params *gp,
		      struct collect *c, int stop_after, struct kllm_gen_result *res)
{
	struct kllm_engine *e = kta_engine(llm, 1, 256, 16);
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	struct kllm_gen_params p = *gp;
	int32_t prompt[10];
	int s = kllm_seq_new(e), ret;

	memset(c, 0, sizeof(*c));
	c->stop_after = stop_after;
	kllm_sampler_default_params(&sp);
	sp.temperature = 0;
	sp.penalty_repeat = 1.3f;	/* keeps a random model from repeating */
	smp = kllm_sampler_create(&sp);
	fill_tokens(prompt, 10, 21);
	ck_assert_int_eq(kllm_seq_feed(e, s, prompt, 10), 0);
	p.on_token = collect_token;
	p.arg = c;
	ret = kllm_generate(e, s, smp, &p, res);
	if (!ret && res->stop != KLLM_STOP_EOG && res->n_gen)
		ck_assert_int_eq(kllm_seq_pending(e, s), 1);	/* the last token */
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	return ret;
}

START_TEST(generate_limit_and_stop)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_gen_params gp = { .n_predict = 40 };
	struct kllm_gen_result res;
	static struct collect full, cut;
	char dec[4096];
	const char *stop[1];
	char needle[4];
	const char *at;
	int n;

	ck_assert_int_eq(gen_greedy(llm, &gp, &full, -1, &res), 0);
	ck_assert_int_eq(res.stop, KLLM_STOP_LIMIT);
	ck_assert_uint_eq(res.n_gen, 40);
	ck_assert_uint_eq(res.n_prompt, 10);
	ck_assert_int_eq(full.n_ids, 40);
	expect_whole_chars(&full.ch);
	/* the streamed text is the detokenized ids */
	n = kllm_detokenize(llm, full.ids, 40, 0, dec, sizeof(dec));
	ck_assert_int_eq(n, (int)full.len);
	ck_assert(!memcmp(dec, full.text, full.len));
	ck_assert_uint_ge(full.len, 12);
	/* a stop string from the middle: the text before its first match */
	memcpy(needle, full.text + full.len / 2, 3);
	needle[3] = 0;
	ck_assert_uint_eq(strlen(needle), 3);
	stop[0] = needle;
	gp.stop = stop;
	gp.n_stop = 1;
	ck_assert_int_eq(gen_greedy(llm, &gp, &cut, -1, &res), 0);
	ck_assert_int_eq(res.stop, KLLM_STOP_STRING);
	at = memmem(full.text, full.len, needle, 3);
	ck_assert_uint_eq(cut.len, (size_t)(at - full.text));
	ck_assert(!memcmp(cut.text, full.text, cut.len));
	/* the callback stops it */
	gp = (struct kllm_gen_params){ .n_predict = 40 };
	ck_assert_int_eq(gen_greedy(llm, &gp, &cut, 5, &res), 0);
	ck_assert_int_eq(res.stop, KLLM_STOP_CALLBACK);
	ck_assert_uint_eq(res.n_gen, 5);
	ck_assert(!memcmp(cut.ids, full.ids, sizeof(int32_t) * 5));
	/* a limit of 0 samples nothing */
	gp = (struct kllm_gen_params){ .n_predict = 0 };
	ck_assert_int_eq(gen_greedy(llm, &gp, &cut, -1, &res), 0);
	ck_assert_int_eq(res.stop, KLLM_STOP_LIMIT);
	ck_assert_uint_eq(res.n_gen, 0);
	kllm_llm_free(llm);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct aborter {
	struct kllm_engine *e;
	atomic_int tokens;	/* tokens the callback saw */
	atomic_int fired;
	double t_abort;
};

/* Blocks the generation after its 3rd token until the abort has been
 * sent, so the abort always lands while the generation runs. */
static int wait_token(void *arg, int32_t id, const char *text, size_t len)
{
	struct aborter *a = arg;

	(void)text;
	(void)len;
	if (id >= 0 && atomic_fetch_add(&a->tokens, 1) + 1 == 3)
		while (!atomic_load(&a->fired))
			;
	return 0;
}

static void *abort_thread(void *arg)
{
	struct aborter *a = arg;

	while (atomic_load(&a->tokens) < 3)
		;
	a->t_abort = now_s();
	kllm_abort(a->e);
	atomic_store(&a->fired, 1);
	return NULL;
}

/* Aborts 5 ms after it starts. */
static void *abort_later(void *arg)
{
	struct aborter *a = arg;
	struct timespec ts = { 0, 5000000 };

	nanosleep(&ts, NULL);
	a->t_abort = now_s();
	kllm_abort(a->e);
	return NULL;
}

START_TEST(abort_generation)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 1, 4096, 1);
	struct aborter a = { .e = e };
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	struct kllm_gen_params gp = { .n_predict = -1, .on_token = wait_token, .arg = &a };
	struct kllm_gen_result res;
	int32_t p[400];
	pthread_t th;
	int s = kllm_seq_new(e), ret;
	double t_end;

	kllm_sampler_default_params(&sp);
	sp.seed = 3;
	smp = kllm_sampler_create(&sp);
	fill_tokens(p, 400, 31);
	ck_assert_int_eq(kllm_seq_feed(e, s, p, 10), 0);
	atomic_init(&a.tokens, 0);
	atomic_init(&a.fired, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, abort_thread, &a), 0);
	ret = kllm_generate(e, s, smp, &gp, &res);
	t_end = now_s();
	pthread_join(th, NULL);
	ck_assert_msg(ret == -ECANCELED, "generate: %d (stop %d) %s", ret, res.stop,
		      kllm_last_error());
	ck_assert_uint_eq(res.n_gen, 3);
	ck_assert_msg(t_end - a.t_abort < 1.0, "abort took %.3f s", t_end - a.t_abort);
	/* sticky until cleared; then the sequence goes on where it stopped */
	ck_assert_int_eq(kllm_engine_step(e), -ECANCELED);
	kllm_abort_clear(e);
	ck_assert_int_eq(kllm_seq_len(e, s), 13);
	ck_assert_int_eq(kllm_seq_decode(e, s), 0);
	/* an abort before a prefill: nothing runs */
	ck_assert_int_eq(kllm_seq_feed(e, s, p, 400), 0);
	kllm_abort(e);
	ck_assert_int_eq(kllm_seq_decode(e, s), -ECANCELED);
	ck_assert_int_eq(kllm_seq_pending(e, s), 400);
	kllm_abort_clear(e);
	ck_assert_int_eq(kllm_engine_step(e), 1);
	/* during a prefill in chunks of one: it stops between chunks */
	ck_assert_int_eq(kllm_seq_truncate(e, s, 13), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(kllm_seq_feed(e, s, p, 400), 0);
	atomic_store(&a.fired, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, abort_later, &a), 0);
	ret = kllm_seq_decode(e, s);
	t_end = now_s();
	pthread_join(th, NULL);
	ck_assert_int_eq(ret, -ECANCELED);
	ck_assert_int_gt(kllm_seq_pending(e, s), 0);
	ck_assert_int_lt(kllm_seq_pending(e, s), 4000);
	ck_assert_msg(t_end - a.t_abort < 1.0, "abort took %.3f s", t_end - a.t_abort);
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

/* ------------------------------------------------------------------ */

#define EXPECT_EINVAL(call, msg)                                                \
	do {                                                                    \
		ck_assert_int_eq((call), -EINVAL);                              \
		ck_assert_msg(strstr(kllm_last_error(), (msg)) != NULL,         \
			      "%s: message '%s'", #call, kllm_last_error());    \
	} while (0)

START_TEST(bad_arguments)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 2, 32, 4), *none = NULL;
	struct kllm_llm *no_llm = NULL;
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	struct kllm_gen_params gp = { .n_predict = 4 };
	const char *empty[] = { "" };
	int32_t t = 5, bad = KTA_VOCAB;
	int s;

	kllm_sampler_default_params(&sp);
	smp = kllm_sampler_create(&sp);
	EXPECT_EINVAL(kllm_llm_load(NULL, &no_llm), "NULL");
	EXPECT_EINVAL(kllm_llm_load(kta_path, NULL), "NULL");
	EXPECT_EINVAL(kllm_engine_create(NULL, NULL, &none), "NULL");
	EXPECT_EINVAL(kllm_seq_new(NULL), "NULL engine");
	EXPECT_EINVAL(kllm_seq_feed(NULL, 0, &t, 1), "NULL engine");
	EXPECT_EINVAL(kllm_engine_step(NULL), "NULL engine");
	EXPECT_EINVAL(kllm_generate(NULL, 0, smp, &gp, NULL), "NULL engine");
	EXPECT_EINVAL(kllm_tokenize(NULL, "a", 1, 0, 0, NULL, 0), "NULL");
	ck_assert_ptr_null(kllm_seq_logits(NULL, 0));
	ck_assert_ptr_nonnull(strstr(kllm_last_error(), "NULL engine"));
	/* sequences out of range, never created, freed */
	EXPECT_EINVAL(kllm_seq_feed(e, -1, &t, 1), "out of range");
	EXPECT_EINVAL(kllm_seq_feed(e, 2, &t, 1), "out of range");
	EXPECT_EINVAL(kllm_seq_feed(e, 0, &t, 1), "not in use");
	s = kllm_seq_new(e);
	ck_assert_int_eq(kllm_seq_feed(e, s, &t, 1), 0);
	ck_assert_int_eq(kllm_seq_free(e, s), 0);
	EXPECT_EINVAL(kllm_seq_feed(e, s, &t, 1), "not in use");
	EXPECT_EINVAL(kllm_seq_decode(e, s), "not in use");
	EXPECT_EINVAL(kllm_seq_free(e, s), "not in use");
	EXPECT_EINVAL(kllm_seq_fork(e, s, 0), "not in use");
	EXPECT_EINVAL(kllm_generate(e, s, smp, &gp, NULL), "not in use");
	ck_assert_ptr_null(kllm_seq_logits(e, s));
	/* bad values on a live sequence */
	s = kllm_seq_new(e);
	EXPECT_EINVAL(kllm_seq_feed(e, s, &bad, 1), "out of");
	EXPECT_EINVAL(kllm_seq_feed(e, s, NULL, 1), "NULL");
	EXPECT_EINVAL(kllm_seq_fork(e, s, 1), "tokens of a sequence of 0");
	EXPECT_EINVAL(kllm_seq_truncate(e, s, 1), "tokens of a sequence of 0");
	EXPECT_EINVAL(kllm_generate(e, s, smp, &gp, NULL), "empty");
	EXPECT_EINVAL(kllm_generate(e, s, NULL, &gp, NULL), "NULL sampler");
	ck_assert_ptr_null(kllm_seq_logits(e, s));
	ck_assert_int_eq(kllm_seq_feed(e, s, &t, 1), 0);
	gp.stop = empty;
	gp.n_stop = 1;
	EXPECT_EINVAL(kllm_generate(e, s, smp, &gp, NULL), "empty");
	/* nothing above changed the sequence */
	ck_assert_int_eq(kllm_seq_len(e, s), 1);
	/* every slot taken */
	ck_assert_int_eq(kllm_seq_new(e), 1);
	ck_assert_int_eq(kllm_seq_new(e), -EBUSY);
	ck_assert_int_eq(kllm_seq_fork(e, s, 1), -EBUSY);
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");
	int ret;

	kta_make(kta_path, 42, 1);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, model_info);
	tcase_add_test(tc, tokenize_roundtrip);
	tcase_add_test(tc, chat_template);
	tcase_add_test(tc, detok_stream);
	tcase_add_test(tc, generate_limit_and_stop);
	tcase_add_test(tc, abort_generation);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	ret = kt_run(s);
	unlink(kta_path);
	return ret;
}
