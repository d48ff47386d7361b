// SPDX-License-Identifier: MIT
/*
 * test_ppl.c - `kllm-bench ppl`'s computation (tools/kllm-bench/ppl_eval.c)
 * on a synthetic model (kt_api.h) over a short English text, against an
 * independent one written here: the text tokenized with BOS, each chunk of
 * n_ctx fed one token per forward pass from an empty cache with its first
 * token made BOS, log-softmax in double of the rows n_ctx/2 .. n_ctx-2
 * against the next token, the mean, the variance and llama-perplexity's
 * error (sqrt(var / (n - 1)) * ppl) from the list of values.
 *
 *  - every batch size (below n_ctx, equal, several chunks at once, a last
 *    pass with fewer chunks) and --chunks give the reference's numbers;
 *  - the tail shorter than n_ctx is dropped, too short a text and a batch
 *    that is neither below n_ctx nor a multiple of it are refused;
 *  - the log-softmax of a known case.
 */
#include <errno.h>
#include <math.h>

#include "kt_api.h"
#include "model.h"
#include "seq.h"
#include "tokenizer.h"

#include "../../tools/kllm-bench/bench.h"

#define N_CTX 32

static const char text[] =
	"Modern processors are generally able to enter states in which the execution "
	"of a program is suspended and instructions belonging to it are not fetched "
	"from memory or executed.  Those states are the idle states of the processor. "
	"Since part of the processor hardware is not used in idle states, entering "
	"them generally allows power drawn by the processor to be reduced.";

struct ref {
	size_t n_tokens;
	uint32_t n_chunk;
	double *v;		/* -log p of every scored token, in order */
	uint64_t n;
};

static struct kllm_model *model;
static struct kllm_tok *tok;
static int32_t *ids;
static size_t n_ids;

static void load(void)
{
	char err[256];
	int n;

	ck_assert_msg(kllm_model_load(&model, kta_path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(kllm_tok_load(&tok, model->gguf, err, sizeof(err)) == 0, "%s", err);
	ck_assert(kllm_tok_add_bos(tok));
	ids = malloc(sizeof(int32_t) * (sizeof(text) + 2));
	n = kllm_tok_encode(tok, text, sizeof(text) - 1, 1, 0, ids, sizeof(text) + 2);
	ck_assert_int_gt(n, 3 * N_CTX);
	ck_assert_int_eq(ids[0], kllm_tok_bos(tok));
	n_ids = (size_t)n;
}

static void unload(void)
{
	free(ids);
	kllm_tok_free(tok);
	kllm_model_free(model);
}

/* -log softmax(l)[t], all in double: max, exp of the differences, log of the sum. */
static double nll_double(const float *l, uint32_t n, int32_t t)
{
	double max = l[0], sum = 0;

	for (uint32_t i = 1; i < n; i++)
		max = l[i] > max ? l[i] : max;
	for (uint32_t i = 0; i < n; i++)
		sum += exp((double)l[i] - max);
	return log(sum) - ((double)l[t] - max);
}

/* The reference: each chunk one token at a time. */
static void reference(uint32_t n_chunks, struct ref *r)
{
	const uint32_t n_vocab = model->hp.n_vocab, first = N_CTX / 2;
	struct kllm_ctx_opts co = { .n_ctx = N_CTX, .max_batch = 1, .n_seqs = 1,
				    .n_threads = 2 };
	float *l = malloc(4ull * n_vocab);
	struct kllm_ctx *ctx;
	char err[256];

	ck_assert_msg(kllm_ctx_create(&ctx, model, &co, err, sizeof(err)) == 0, "%s", err);
	memset(r, 0, sizeof(*r));
	r->n_tokens = n_ids;
	r->n_chunk = (uint32_t)(n_ids / N_CTX);
	if (n_chunks && n_chunks < r->n_chunk)
		r->n_chunk = n_chunks;
	r->v = malloc(sizeof(double) * r->n_chunk * N_CTX);
	for (uint32_t c = 0; c < r->n_chunk; c++) {
		const int32_t *chunk = ids + (size_t)c * N_CTX;

		kllm_seq_clear(ctx, 0);
		for (int32_t p = 0; p < N_CTX; p++) {
			int32_t t = p ? chunk[p] : kllm_tok_bos(tok), seq = 0, row = 0;

			ck_assert_int_eq(kllm_forward(ctx, 1, &t, &p, &seq, &row, 1, l), 0);
			if (p >= (int32_t)first && p + 1 < N_CTX)
				r->v[r->n++] = nll_double(l, n_vocab, chunk[p + 1]);
		}
	}
	kllm_ctx_free(ctx);
	free(l);
}

/* ppl_eval's result against the reference's. */
static void expect_ref(const struct bench_ppl *got, const struct ref *r, const char *what)
{
	double mean = 0, var = 0, ppl, err;

	for (uint64_t i = 0; i < r->n; i++)
		mean += r->v[i];
	mean /= (double)r->n;
	for (uint64_t i = 0; i < r->n; i++)
		var += (r->v[i] - mean) * (r->v[i] - mean);
	var /= (double)r->n;
	ppl = exp(mean);
	err = sqrt(var / (double)(r->n - 1)) * ppl;
	ck_assert_msg(got->n_tokens == r->n_tokens && got->n_chunk == r->n_chunk &&
		      got->done == r->n_chunk, "%s: %zu tokens, %u of %u chunks; want %zu, %u",
		      what, got->n_tokens, got->done, got->n_chunk, r->n_tokens, r->n_chunk);
	ck_assert_msg(got->count == r->n && r->n == (uint64_t)r->n_chunk * (N_CTX - N_CTX / 2 - 1),
		      "%s: %llu tokens scored, want %llu", what, (unsigned long long)got->count,
		      (unsigned long long)r->n);
	ck_assert_msg(fabs(got->nll / (double)got->count - mean) < 1e-6,
		      "%s: mean -log p %.9f, want %.9f", what, got->nll / (double)got->count, mean);
	ck_assert_msg(fabs(bench_ppl_value(got) / ppl - 1) < 1e-6, "%s: ppl %.9f, want %.9f",
		      what, bench_ppl_value(got), ppl);
	ck_assert_msg(fabs(bench_ppl_error(got) / err - 1) < 1e-4, "%s: +/- %.9f, want %.9f",
		      what, bench_ppl_error(got), err);
}

/* The running values handed out after each chunk, in order. */
struct seen {
	uint32_t n;
	double ppl[64];
};

static void on_chunk(void *arg, const struct bench_ppl *r)
{
	struct seen *s = arg;

	ck_assert_uint_eq(r->done, s->n + 1);
	ck_assert_uint_eq(r->count, (uint64_t)r->done * (N_CTX - N_CTX / 2 - 1));
	s->ppl[s->n++] = bench_ppl_value(r);
}

static void run(uint32_t n_batch, uint32_t n_chunks, uint32_t want_seq, const struct ref *r)
{
	struct bench_ppl_opts o = { .n_ctx = N_CTX, .n_batch = n_batch, .n_chunks = n_chunks,
				    .n_threads = 2, .bos = kllm_tok_bos(tok) };
	struct bench_ppl got;
	struct seen seen = { 0 };
	char err[256], what[64];

	snprintf(what, sizeof(what), "-b %u --chunks %u", n_batch, n_chunks);
	ck_assert_msg(bench_ppl_eval(model, ids, n_ids, &o, on_chunk, &seen, &got, err,
				     sizeof(err)) == 0, "%s: %s", what, err);
	ck_assert_msg(got.n_seq == want_seq, "%s: %u chunks a pass, want %u", what, got.n_seq,
		      want_seq);
	ck_assert_str_eq(got.backend, "cpu");
	ck_assert_uint_eq(seen.n, r->n_chunk);
	ck_assert(seen.ppl[seen.n - 1] == bench_ppl_value(&got));
	expect_ref(&got, r, what);
}

START_TEST(matches_token_by_token)
{
	struct ref all, two;

	setenv("KLLM_ENGINE", "cpu", 1);
	load();
	reference(0, &all);
	ck_assert_uint_ge(all.n_chunk, 3);
	ck_assert_uint_ne(n_ids % N_CTX, 0);	/* a tail to drop */
	run(N_CTX, 0, 1, &all);
	run(8, 0, 1, &all);
	run(5, 0, 1, &all);		/* the last pass of each chunk shorter */
	run(2 * N_CTX, 0, 2, &all);	/* with 3+ chunks: a last pass of fewer */
	run(4 * N_CTX, 0, 4, &all);
	reference(2, &two);
	run(N_CTX, 2, 1, &two);
	run(3 * N_CTX, 2, 3, &two);	/* fewer chunks than a pass takes */
	free(all.v);
	free(two.v);
	unload();
}
END_TEST

START_TEST(refusals)
{
	struct bench_ppl_opts o = { .n_ctx = N_CTX, .n_batch = N_CTX, .bos = -1 };
	struct bench_ppl r;
	char err[256];

	ck_assert_int_eq(bench_ppl_plan(&o, 2 * N_CTX, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n_chunk, 2);
	ck_assert_int_eq(bench_ppl_plan(&o, 2 * N_CTX - 1, &r, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "at least 64 tokens") != NULL, "%s", err);
	o.n_batch = N_CTX + 8;
	ck_assert_int_eq(bench_ppl_plan(&o, 4 * N_CTX, &r, err, sizeof(err)), -EINVAL);
	o.n_batch = 0;
	ck_assert_int_eq(bench_ppl_plan(&o, 4 * N_CTX, &r, err, sizeof(err)), -EINVAL);
	o.n_batch = 7;
	o.n_chunks = 3;
	ck_assert_int_eq(bench_ppl_plan(&o, 5 * N_CTX + 3, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n_chunk_max, 5);
	ck_assert_uint_eq(r.n_chunk, 3);
	ck_assert_uint_eq(r.n_seq, 1);
	ck_assert_uint_eq(r.seq_batch, 7);
}
END_TEST

START_TEST(log_softmax)
{
	/* softmax(0, ln 3, -inf-ish) = (1/4, 3/4, ~0) */
	const float l[3] = { 0.0f, logf(3.0f), -200.0f };
	struct bench_ppl r = { .count = 4, .nll = 4 * log(2.0), .nll2 = 4 * log(2.0) * log(2.0) };

	ck_assert_double_eq_tol(bench_ppl_nll(l, 3, 0), log(4.0), 1e-6);
	ck_assert_double_eq_tol(bench_ppl_nll(l, 3, 1), -log(0.75), 1e-6);
	ck_assert_double_eq_tol(bench_ppl_value(&r), 2.0, 1e-12);
	/* every value the same: no variance, no error estimate (llama.cpp's
	 * "unexpected negative standard deviation") */
	ck_assert(isnan(bench_ppl_error(&r)));
	r.nll2 += 1.0;		/* values ln 2 +/- 0.5 (two each): var 0.25 */
	ck_assert_double_eq_tol(bench_ppl_error(&r), sqrt(0.25 / 3) * 2.0, 1e-9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ppl");
	TCase *tc = tcase_create("ppl");
	int ret;

	kta_make(kta_path, 7, 0);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, matches_token_by_token);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, log_softmax);
	suite_add_tcase(s, tc);
	ret = kt_run(s);
	unlink(kta_path);
	return ret;
}
