// SPDX-License-Identifier: MIT
/*
 * test_api_batch.c - sequences and batching of the public API (kllm.h) on
 * a synthetic model (kt_api.h), all bitwise:
 *
 *  - fork then continue == the same tokens computed from scratch;
 *  - continuous batching (sequences joining and leaving, a prefill chunk
 *    mixed with decode tokens) == each sequence alone;
 *  - decoding sequences are served in turn when the batch is too small;
 *  - chunked prefill (chunks of 1, 3, all) == single shot;
 *  - a batch cut into passes to bound attention's scratch (forced with
 *    KLLM_PASS_ATTN_BYTES) == one pass, prefill and mixed batches;
 *  - a full context gives -ENOSPC and changes nothing.
 */
#include <errno.h>

#include "kllm.h"
#include "kt_api.h"

START_TEST(fork_equals_recompute)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 4, 64, 8);
	int32_t p[24], x[5], both[17];
	float *lb, *lc, *la;
	int a = kllm_seq_new(e), b, c, d;

	fill_tokens(p, 20, 1);
	fill_tokens(x, 5, 2);
	ck_assert_int_eq(a, 0);
	ck_assert_int_eq(kllm_seq_feed(e, a, p, 20), 0);
	ck_assert_int_eq(kllm_seq_decode(e, a), 0);
	la = logits_copy(e, a);
	/* fork at 12 of 20 computed positions, continue with x */
	b = kllm_seq_fork(e, a, 12);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(kllm_seq_len(e, b), 12);
	ck_assert_ptr_null(kllm_seq_logits(e, b));
	ck_assert_int_eq(kllm_seq_feed(e, b, x, 5), 0);
	ck_assert_int_eq(kllm_seq_decode(e, b), 0);
	lb = logits_copy(e, b);
	/* the same tokens from scratch */
	memcpy(both, p, 12 * 4);
	memcpy(both + 12, x, 5 * 4);
	c = kllm_seq_new(e);
	ck_assert_int_eq(kllm_seq_feed(e, c, both, 17), 0);
	ck_assert_int_eq(kllm_seq_decode(e, c), 0);
	lc = logits_copy(e, c);
	expect_same(lb, lc, "fork at 12 + 5 vs 17 from scratch");
	/* the parent is untouched */
	expect_same(la, kllm_seq_logits(e, a), "parent after fork");
	/* a full fork carries the logits, and both continue the same way */
	ck_assert_int_eq(kllm_seq_free(e, c), 0);
	d = kllm_seq_fork(e, a, 20);
	expect_same(la, kllm_seq_logits(e, d), "full fork logits");
	ck_assert_int_eq(kllm_seq_feed(e, d, x, 1), 0);
	ck_assert_int_eq(kllm_seq_feed(e, a, x, 1), 0);
	ck_assert_int_eq(kllm_engine_step(e), 2);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, d), "full fork + 1");
	/* a fork that reaches into pending input takes it along */
	ck_assert_int_eq(kllm_seq_feed(e, a, x + 1, 4), 0);
	ck_assert_int_eq(kllm_seq_free(e, b), 0);
	b = kllm_seq_fork(e, a, 23);
	ck_assert_int_eq(kllm_seq_len(e, b), 23);
	ck_assert_int_eq(kllm_seq_pending(e, b), 2);
	ck_assert_int_eq(kllm_seq_feed(e, b, x + 3, 2), 0);
	ck_assert_int_eq(kllm_seq_decode(e, b), 0);
	ck_assert_int_eq(kllm_seq_decode(e, a), 0);
	expect_same(kllm_seq_logits(e, a), kllm_seq_logits(e, b), "fork into pending");
	free(la);
	free(lb);
	free(lc);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

/* A sequence's script for the batching test: a prompt, then tokens fed
 * one at a time; the logits after the prompt and after each token. */
struct script {
	int32_t toks[40];
	uint32_t n_prompt, n_total, join;
	int seq;		/* -1: not started or left */
	int done;		/* left */
	uint32_t fed, n_snap;
	float *snap;		/* (n_total - n_prompt + 1) rows */
};

static void script_init(struct script *s, uint32_t n_prompt, uint32_t n_total,
			uint32_t join, uint32_t salt)
{
	memset(s, 0, sizeof(*s));
	fill_tokens(s->toks, n_total, salt);
	s->n_prompt = n_prompt;
	s->n_total = n_total;
	s->join = join;
	s->seq = -1;
	s->snap = malloc(4ull * KTA_VOCAB * (n_total - n_prompt + 1));
}

static void snap(struct script *s, const struct kllm_engine *e)
{
	const float *l = kllm_seq_logits(e, s->seq);

	ck_assert_msg(l != NULL, "%s", kllm_last_error());
	memcpy(s->snap + (size_t)s->n_snap++ * KTA_VOCAB, l, 4 * KTA_VOCAB);
}

/* Each script alone, prompt in one pass, on an engine of its own. */
static void run_alone(const struct kllm_llm *llm, struct script *s)
{
	struct kllm_engine *e = kta_engine(llm, 1, 64, 64);

	s->seq = kllm_seq_new(e);
	ck_assert_int_eq(kllm_seq_feed(e, s->seq, s->toks, s->n_prompt), 0);
	ck_assert_int_eq(kllm_engine_step(e), (int)s->n_prompt);
	snap(s, e);
	for (uint32_t i = s->n_prompt; i < s->n_total; i++) {
		ck_assert_int_eq(kllm_seq_feed(e, s->seq, s->toks + i, 1), 0);
		ck_assert_int_eq(kllm_engine_step(e), 1);
		snap(s, e);
	}
	kllm_engine_free(e);
}

/* One round of the batching test: joins, then feeding whoever is ready. */
static void round_feed(struct kllm_engine *e, struct script *sc, int n, uint32_t t,
		       int *decoders)
{
	*decoders = 0;
	for (int i = 0; i < n; i++) {
		struct script *s = &sc[i];

		if (s->join == t && !s->done) {
			s->seq = kllm_seq_new(e);
			ck_assert_int_ge(s->seq, 0);
			ck_assert_int_eq(kllm_seq_feed(e, s->seq, s->toks, s->n_prompt), 0);
			s->fed = s->n_prompt;
			continue;
		}
		if (s->seq < 0 || kllm_seq_pending(e, s->seq))
			continue;
		snap(s, e);
		if (s->fed == s->n_total) {	/* done: leave */
			ck_assert_int_eq(kllm_seq_free(e, s->seq), 0);
			s->seq = -1;
			s->done = 1;
			continue;
		}
		ck_assert_int_eq(kllm_seq_feed(e, s->seq, s->toks + s->fed++, 1), 0);
		(*decoders)++;
	}
}

START_TEST(continuous_batching)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 3, 64, 6);
	struct script sc[4], ref;
	int mixed = 0, decoders, k;

	/* 4 scripts over 3 slots: the last joins in a slot another left */
	script_init(&sc[0], 13, 20, 0, 11);
	script_init(&sc[1], 3, 5, 0, 12);
	script_init(&sc[2], 17, 22, 3, 13);
	script_init(&sc[3], 9, 14, 6, 14);
	for (uint32_t t = 0; t < 200; t++) {
		int busy = 0;

		round_feed(e, sc, 4, t, &decoders);
		k = kllm_engine_step(e);
		ck_assert_int_ge(k, 0);
		ck_assert_int_le(k, 6);
		if (decoders && k > decoders)
			mixed++;
		for (int i = 0; i < 4; i++)
			busy |= !sc[i].done;
		if (!busy)
			break;
	}
	ck_assert_msg(mixed > 0, "no step mixed decode tokens with a prefill chunk");
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(sc[i].seq, -1);
		ck_assert(sc[i].done);
		ck_assert_uint_eq(sc[i].n_snap, sc[i].n_total - sc[i].n_prompt + 1);
		script_init(&ref, sc[i].n_prompt, sc[i].n_total, 0, 11 + (uint32_t)i);
		run_alone(llm, &ref);
		ck_assert_msg(!memcmp(ref.snap, sc[i].snap, 4ull * KTA_VOCAB * ref.n_snap),
			      "script %d: batched logits differ from its run alone", i);
		free(ref.snap);
		free(sc[i].snap);
	}
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

/* More decoding sequences than a batch holds: served in turn. */
START_TEST(decode_fairness)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 5, 32, 2);
	int32_t t = 7;
	int last[5] = { 0 };

	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(kllm_seq_new(e), i);
		ck_assert_int_eq(kllm_seq_feed(e, i, &t, 1), 0);
	}
	/* each fed again as soon as it is served: 2 of 5 a step, so every
	 * sequence within 3 steps */
	for (int st = 1; st <= 12; st++) {
		ck_assert_int_eq(kllm_engine_step(e), 2);
		for (int i = 0; i < 5; i++) {
			if (!kllm_seq_pending(e, i)) {
				last[i] = st;
				ck_assert_int_eq(kllm_seq_feed(e, i, &t, 1), 0);
			}
			ck_assert_msg(st - last[i] < 3, "step %d: sequence %d starved", st, i);
		}
	}
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(chunked_prefill)
{
	static const uint32_t chunk[] = { 1, 3, 20 };
	struct kllm_llm *llm = kta_load();
	int32_t p[20];
	float *ref = NULL;

	fill_tokens(p, 20, 5);
	for (int c = 0; c < 3; c++) {
		struct kllm_engine *e = kta_engine(llm, 2, 32, chunk[c]);
		int s = kllm_seq_new(e), k, steps = 0;

		ck_assert_int_eq(kllm_seq_feed(e, s, p, 20), 0);
		while ((k = kllm_engine_step(e)) > 0) {
			ck_assert_int_le(k, (int)chunk[c]);
			steps++;
			if (kllm_seq_pending(e, s))	/* no logits before the end */
				ck_assert_ptr_null(kllm_seq_logits(e, s));
		}
		ck_assert_int_eq(k, 0);
		ck_assert_int_eq(steps, (int)((20 + chunk[c] - 1) / chunk[c]));
		if (!ref)
			ref = logits_copy(e, s);
		else
			expect_same(ref, kllm_seq_logits(e, s), "chunked prefill");
		kllm_engine_free(e);
	}
	free(ref);
	kllm_llm_free(llm);
}
END_TEST

/*
 * The in-process engine runs a batch whose attention partials would pass
 * KLLM_PASS_ATTN_BYTES as several passes; a tiny budget forces one row a
 * pass.  Results stay bitwise those of one pass, outputs in their places.
 */
START_TEST(attention_passes)
{
	struct kllm_llm *llm = kta_load();
	int32_t p[20], q[6], x[3];
	float *ref[3] = { NULL };

	fill_tokens(p, 20, 9);
	fill_tokens(q, 6, 10);
	fill_tokens(x, 3, 11);
	for (int pass = 0; pass < 2; pass++) {
		struct kllm_engine *e;
		float *got[3];
		int a, b;

		if (pass)
			ck_assert_int_eq(setenv("KLLM_PASS_ATTN_BYTES", "1", 1), 0);
		e = kta_engine(llm, 2, 64, 20);
		unsetenv("KLLM_PASS_ATTN_BYTES");
		a = kllm_seq_new(e);
		ck_assert_int_eq(kllm_seq_feed(e, a, p, 20), 0);
		ck_assert_int_eq(kllm_seq_decode(e, a), 0);
		got[0] = logits_copy(e, a);
		/* one step of two sequences: 6 prompt rows and 3 more of a */
		b = kllm_seq_new(e);
		ck_assert_int_eq(kllm_seq_feed(e, b, q, 6), 0);
		ck_assert_int_eq(kllm_seq_feed(e, a, x, 3), 0);
		ck_assert_int_eq(kllm_engine_step(e), 9);
		got[1] = logits_copy(e, a);
		got[2] = logits_copy(e, b);
		for (int i = 0; i < 3; i++) {
			if (!pass)
				ref[i] = got[i];
			else {
				expect_same(ref[i], got[i], "batch in passes");
				free(got[i]);
			}
		}
		kllm_engine_free(e);
	}
	for (int i = 0; i < 3; i++)
		free(ref[i]);
	kllm_llm_free(llm);
}
END_TEST

START_TEST(context_overflow)
{
	struct kllm_llm *llm = kta_load();
	struct kllm_engine *e = kta_engine(llm, 1, 16, 8);
	struct kllm_sampler_params sp;
	struct kllm_sampler *smp;
	struct kllm_gen_params gp = { .n_predict = -1 };
	struct kllm_gen_result res;
	int32_t p[17];
	float *l;
	int s = kllm_seq_new(e);

	fill_tokens(p, 17, 9);
	ck_assert_int_eq(kllm_seq_feed(e, s, p, 17), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(kllm_last_error(), "context of 16"));
	ck_assert_int_eq(kllm_seq_len(e, s), 0);
	ck_assert_int_eq(kllm_seq_feed(e, s, p, 16), 0);
	ck_assert_int_eq(kllm_seq_decode(e, s), 0);
	l = logits_copy(e, s);
	ck_assert_int_eq(kllm_seq_feed(e, s, p, 1), -ENOSPC);
	ck_assert_int_eq(kllm_seq_len(e, s), 16);
	ck_assert_int_eq(kllm_seq_pending(e, s), 0);
	expect_same(l, kllm_seq_logits(e, s), "after a refused feed");
	/* generating from a full context: the first token does not fit */
	kllm_sampler_default_params(&sp);
	sp.temperature = 0;
	smp = kllm_sampler_create(&sp);
	ck_assert_int_eq(kllm_generate(e, s, smp, &gp, &res), -ENOSPC);
	ck_assert_uint_eq(res.n_gen, 0);
	ck_assert_int_eq(kllm_seq_len(e, s), 16);
	/* with room for 3 more: 3 tokens, then -ENOSPC */
	ck_assert_int_eq(kllm_seq_truncate(e, s, 13), 0);
	ck_assert_int_eq(kllm_seq_feed(e, s, p, 0), 0);
	ck_assert_ptr_null(kllm_seq_logits(e, s));
	ck_assert_int_eq(kllm_seq_truncate(e, s, 12), 0);
	ck_assert_int_eq(kllm_seq_feed(e, s, p + 12, 1), 0);
	ck_assert_int_eq(kllm_generate(e, s, smp, &gp, &res), -ENOSPC);
	ck_assert_uint_eq(res.n_prompt, 1);
	ck_assert_uint_eq(res.n_gen, 3);
	ck_assert_int_eq(kllm_seq_len(e, s), 16);
	free(l);
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	kllm_llm_free(llm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_batch");
	TCase *tc = tcase_create("api_batch");
	int ret;

	kta_make(kta_path, 42, 1);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fork_equals_recompute);
	tcase_add_test(tc, continuous_batching);
	tcase_add_test(tc, decode_fairness);
	tcase_add_test(tc, chunked_prefill);
	tcase_add_test(tc, attention_passes);
	tcase_add_test(tc, context_overflow);
	suite_add_tcase(s, tc);
	ret = kt_run(s);
	unlink(kta_path);
	return ret;
}
