// SPDX-License-Identifier: MIT
/*
 * ppl_eval.c - the perplexity computation of `kllm-bench ppl`, done as
 * llama.cpp's llama-perplexity does it (tools/perplexity/perplexity.cpp,
 * perplexity()):
 *
 *   - the text's tokens (BOS first when the vocabulary adds it) are cut
 *     into chunks of n_ctx tokens; a tail shorter than n_ctx is dropped;
 *   - each chunk is evaluated from an empty cache, all n_ctx tokens, its
 *     first token replaced by BOS when the vocabulary adds BOS;
 *   - only the second half is scored: the logits of positions
 *     first = n_ctx / 2 .. n_ctx - 2 predict the tokens after them
 *     (n_ctx - first - 1 tokens a chunk);
 *   - -log softmax(logits)[next] is summed in double, as is its square,
 *     for llama.cpp's estimate exp(mean) +/- its standard error.
 *
 * A forward pass takes n_batch tokens; an n_batch that is a multiple of
 * n_ctx evaluates n_batch / n_ctx chunks at once, in as many sequences
 * (llama-perplexity's n_seq).  kllm's results do not depend on how the
 * tokens are batched, so neither does the perplexity.
 *
 * Only the runtime is used here (no other kllm-bench file), so the unit
 * test (tests/unit/test_ppl.c) links this file alone.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest batch a context takes (struct kllm_ctx_opts). */
#define PPL_MAX_BATCH 4096

double bench_ppl_nll(const float *logits, uint32_t n_vocab, int32_t tok)
{
	/* perplexity.cpp's log_softmax(): float max and differences, expf,
	 * a double sum */
	float max = logits[0];
	double sum = 0.0;

	for (uint32_t i = 1; i < n_vocab; i++)
		max = logits[i] > max ? logits[i] : max;
	for (uint32_t i = 0; i < n_vocab; i++)
		sum += expf(logits[i] - max);
	return -((double)(logits[tok] - max) - log(sum));
}

double bench_ppl_value(const struct bench_ppl *r)
{
	return r->count ? exp(r->nll / (double)r->count) : NAN;
}

double bench_ppl_error(const struct bench_ppl *r)
{
	double mean, var;

	if (r->count < 2)
		return NAN;
	mean = r->nll / (double)r->count;
	var = r->nll2 / (double)r->count - mean * mean;
	if (!(var > 0))
		return NAN;
	return sqrt(var / (double)(r->count - 1)) * exp(mean);
}

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

int bench_ppl_plan(const struct bench_ppl_opts *o, size_t n_tokens, struct bench_ppl *r,
		   char *err, size_t errlen)
{
	const uint32_t n_ctx = o->n_ctx;

	memset(r, 0, sizeof(*r));
	if (n_ctx < 4 || n_ctx > 1u << 20)
		return fail(err, errlen, -EINVAL, "context of %u tokens: 4..%u", n_ctx, 1u << 20);
	if (!o->n_batch || (o->n_batch >= n_ctx && o->n_batch % n_ctx))
		return fail(err, errlen, -EINVAL,
			    "batch of %u tokens: below n_ctx (%u) or a multiple of it",
			    o->n_batch, n_ctx);
	r->n_seq = o->n_batch >= n_ctx ? o->n_batch / n_ctx : 1;
	r->seq_batch = r->n_seq > 1 ? n_ctx : o->n_batch;
	if ((uint64_t)r->n_seq * r->seq_batch > PPL_MAX_BATCH)
		return fail(err, errlen, -EINVAL, "batch of %u tokens: at most %u",
			    r->n_seq * r->seq_batch, PPL_MAX_BATCH);
	if (n_tokens < 2ull * n_ctx)
		return fail(err, errlen, -EINVAL,
			    "you need at least %u tokens to evaluate perplexity with a context "
			    "of %u; the text tokenizes to only %zu", 2 * n_ctx, n_ctx, n_tokens);
	r->n_tokens = n_tokens;
	r->n_chunk_max = (uint32_t)(n_tokens / n_ctx);
	r->n_chunk = o->n_chunks && o->n_chunks < r->n_chunk_max ? o->n_chunks : r->n_chunk_max;
	return 0;
}

/* What one evaluation pass holds: its batch and the logits of its scored rows. */
struct ppl_pass {
	int32_t *tok, *pos, *seq, *rows;	/* a batch: n_seq * seq_batch each */
	int32_t *next;		/* the token each row predicts */
	uint32_t *row_seq;	/* the sequence (chunk of the group) of each row */
	float *logits;		/* max_rows * n_vocab */
	double *nll, *nll2;	/* per sequence of the group */
	uint32_t max_rows;
};

static void pass_free(struct ppl_pass *p)
{
	free(p->tok);
	free(p->next);
	free(p->logits);
	free(p->nll);
}

static int pass_alloc(struct ppl_pass *p, const struct bench_ppl *r, uint32_t n_ctx,
		      uint32_t n_vocab)
{
	const uint32_t n = r->n_seq * r->seq_batch, scored = n_ctx - n_ctx / 2 - 1;

	memset(p, 0, sizeof(*p));
	p->max_rows = r->n_seq * (r->seq_batch < scored ? r->seq_batch : scored);
	p->tok = malloc(sizeof(int32_t) * 4 * n);
	p->next = malloc((sizeof(int32_t) + sizeof(uint32_t)) * p->max_rows);
	p->logits = malloc(sizeof(float) * n_vocab * p->max_rows);
	p->nll = calloc(2 * r->n_seq, sizeof(double));
	if (!p->tok || !p->next || !p->logits || !p->nll) {
		pass_free(p);
		return -ENOMEM;
	}
	p->pos = p->tok + n;
	p->seq = p->pos + n;
	p->rows = p->seq + n;
	p->row_seq = (uint32_t *)(p->next + p->max_rows);
	p->nll2 = p->nll + r->n_seq;
	return 0;
}

/*
 * Positions [p0, p0 + bs) of chunks [c0, c0 + ns), one sequence each: run
 * them and add the scored rows' -log p to their sequence's sums.
 */
static int eval_batch(struct kllm_ctx *ctx, const struct bench_ppl_opts *o,
		      const int32_t *tokens, uint32_t c0, uint32_t ns, uint32_t p0, uint32_t bs,
		      uint32_t n_vocab, struct ppl_pass *p)
{
	const uint32_t n_ctx = o->n_ctx, first = n_ctx / 2;
	uint32_t nt = 0, nout = 0;
	int ret;

	for (uint32_t s = 0; s < ns; s++) {
		const int32_t *chunk = tokens + (size_t)(c0 + s) * n_ctx;

		for (uint32_t k = 0; k < bs; k++, nt++) {
			const uint32_t pos = p0 + k;

			p->tok[nt] = pos == 0 && o->bos >= 0 ? o->bos : chunk[pos];
			p->pos[nt] = (int32_t)pos;
			p->seq[nt] = (int32_t)s;
			if (pos < first || pos + 1 >= n_ctx)
				continue;
			p->rows[nout] = (int32_t)nt;
			p->next[nout] = chunk[pos + 1];
			p->row_seq[nout++] = s;
		}
	}
	ret = kllm_forward(ctx, nt, p->tok, p->pos, p->seq, p->rows, nout, p->logits);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < nout; i++) {
		const double v = bench_ppl_nll(p->logits + (size_t)i * n_vocab, n_vocab,
					       p->next[i]);

		p->nll[p->row_seq[i]] += v;
		p->nll2[p->row_seq[i]] += v * v;
	}
	return 0;
}

/* Chunks [c0, c0 + ns) from empty caches; their sums added in chunk order. */
static int eval_group(struct kllm_ctx *ctx, const struct bench_ppl_opts *o,
		      const int32_t *tokens, uint32_t c0, uint32_t ns, uint32_t n_vocab,
		      struct ppl_pass *p, struct bench_ppl *r, bench_ppl_fn on_chunk, void *arg)
{
	const uint32_t n_ctx = o->n_ctx;
	int ret = 0;

	for (uint32_t s = 0; s < ns; s++) {
		kllm_seq_clear(ctx, s);
		p->nll[s] = p->nll2[s] = 0;
	}
	for (uint32_t p0 = 0; p0 < n_ctx && !ret; p0 += r->seq_batch)
		ret = eval_batch(ctx, o, tokens, c0, ns, p0,
				 n_ctx - p0 < r->seq_batch ? n_ctx - p0 : r->seq_batch, n_vocab, p);
	for (uint32_t s = 0; s < ns && !ret; s++) {
		r->nll += p->nll[s];
		r->nll2 += p->nll2[s];
		r->count += n_ctx - n_ctx / 2 - 1;
		r->done++;
		if (on_chunk)
			on_chunk(arg, r);
	}
	return ret;
}

int bench_ppl_eval(const struct kllm_model *m, const int32_t *tokens, size_t n_tokens,
		   const struct bench_ppl_opts *o, bench_ppl_fn on_chunk, void *arg,
		   struct bench_ppl *r, char *err, size_t errlen)
{
	const uint32_t n_vocab = m->hp.n_vocab;
	struct kllm_ctx_opts co = { .n_ctx = o->n_ctx, .n_threads = o->n_threads,
				    .kv_type = o->kv_type };
	struct kllm_ctx *ctx;
	struct ppl_pass p;
	int ret = bench_ppl_plan(o, n_tokens, r, err, errlen);

	if (ret)
		return ret;
	if (o->bos >= (int32_t)n_vocab)
		return fail(err, errlen, -EINVAL, "BOS %d out of the vocabulary", o->bos);
	for (size_t i = 0; i < (size_t)r->n_chunk * o->n_ctx; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
			return fail(err, errlen, -EINVAL, "token %zu: id %d out of range", i,
				    tokens[i]);
	co.max_batch = r->n_seq * r->seq_batch;
	co.n_seqs = r->n_seq;
	ret = kllm_ctx_create(&ctx, m, &co, err, errlen);
	if (ret)
		return ret;
	r->backend = kllm_ctx_engine_name(ctx);
	r->kv_type = kllm_ctx_program(ctx)->kv_type;
	ret = pass_alloc(&p, r, o->n_ctx, n_vocab);
	if (ret) {
		fail(err, errlen, ret, "out of memory for %u rows of logits",
		     r->n_seq * r->seq_batch);
		goto free_ctx;
	}
	for (uint32_t c = 0; c < r->n_chunk && !ret; c += r->n_seq) {
		const uint32_t ns = r->n_chunk - c < r->n_seq ? r->n_chunk - c : r->n_seq;

		ret = eval_group(ctx, o, tokens, c, ns, n_vocab, &p, r, on_chunk, arg);
		if (ret)
			fail(err, errlen, ret, "forward: %s", kllm_ctx_error(ctx));
	}
	pass_free(&p);
free_ctx:
	kllm_ctx_free(ctx);
	return ret;
}
