// SPDX-License-Identifier: MIT
/*
 * gen.c - kllm-run's generator: load a model, prefill a prompt in batches,
 * then decode one token at a time, streaming text as it completes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kllm.h"
#include "run.h"

double run_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int gen_fail(const char *what, const char *msg)
{
	/* the file's errors often name it already */
	if (!strncmp(msg, what, strlen(what)))
		fprintf(stderr, "kllm-run: %s\n", msg);
	else
		fprintf(stderr, "kllm-run: %s: %s\n", what, msg);
	return -1;
}

int gen_open(struct gen *g, const struct run_opts *o)
{
	struct kllm_ctx_opts co = { .n_seqs = 1 };
	char err[256] = "";
	double t0 = run_now();

	memset(g, 0, sizeof(*g));
	g->o = o;
	kllm_cpu_init();
	if (kllm_model_load(&g->m, o->model, err, sizeof(err)))
		return gen_fail(o->model, err);
	if (kllm_tok_load(&g->tok, g->m->gguf, err, sizeof(err)))
		return gen_fail(o->model, err[0] ? err : "cannot load the tokenizer");
	g->n_vocab = g->m->hp.n_vocab;
	if (kllm_tok_n_vocab(g->tok) > g->n_vocab)
		return gen_fail(o->model, "tokenizer has more tokens than token_embd rows");
	co.n_ctx = o->n_ctx ? o->n_ctx : g->m->hp.n_ctx_train;
	if (!co.n_ctx)
		co.n_ctx = 4096;
	co.max_batch = o->n_batch < co.n_ctx ? o->n_batch : co.n_ctx;
	co.n_threads = o->n_threads;
	if (kllm_ctx_create(&g->ctx, g->m, &co, err, sizeof(err)))
		return gen_fail(o->model, err);
	g->n_ctx = co.n_ctx;
	g->n_batch = co.max_batch;
	g->smp = kllm_sampler_create(&o->sp);
	g->logits = malloc(4ull * g->n_vocab);
	if (!g->smp || !g->logits)
		return gen_fail("memory", strerror(ENOMEM));
	g->t_load = run_now() - t0;
	return 0;
}

void gen_close(struct gen *g)
{
	free(g->logits);
	kllm_sampler_free(g->smp);
	if (g->ctx)
		kllm_ctx_free(g->ctx);
	kllm_tok_free(g->tok);
	if (g->m)
		kllm_model_free(g->m);
	memset(g, 0, sizeof(*g));
}

int gen_tokenize(struct gen *g, const char *text, int bos, int32_t **ids)
{
	size_t len = strlen(text);
	int n = kllm_tok_encode(g->tok, text, len, bos, 1, NULL, 0);

	if (n < 0)
		return gen_fail("tokenize", strerror(-n));
	*ids = malloc(sizeof(**ids) * (n ? n : 1));
	if (!*ids)
		return gen_fail("memory", strerror(ENOMEM));
	if (kllm_tok_encode(g->tok, text, len, bos, 1, *ids, n) != n) {
		free(*ids);
		return gen_fail("tokenize", "inconsistent token count");
	}
	return n;
}

/* One forward of ids[0..n) at positions n_past...; logits of the last
 * token when @want_logits. */
static int forward(struct gen *g, const int32_t *ids, uint32_t n, int want_logits)
{
	int32_t *pos = malloc(sizeof(*pos) * n), *seq = calloc(n, sizeof(*seq));
	int32_t row = (int32_t)n - 1;
	int ret;

	if (!pos || !seq) {
		free(pos);
		free(seq);
		return gen_fail("memory", strerror(ENOMEM));
	}
	for (uint32_t i = 0; i < n; i++)
		pos[i] = (int32_t)(g->n_past + i);
	ret = kllm_forward(g->ctx, n, ids, pos, seq, &row, want_logits ? 1 : 0,
			   g->logits);
	free(pos);
	free(seq);
	if (ret)
		return gen_fail("forward", kllm_ctx_error(g->ctx)[0] ?
				kllm_ctx_error(g->ctx) : strerror(-ret));
	g->n_past += n;
	g->have_logits = want_logits;
	return 0;
}

int gen_prefill(struct gen *g, const int32_t *ids, int n)
{
	double t0 = run_now();
	char msg[128];

	if (n <= 0)
		return 0;
	if ((uint64_t)g->n_past + (uint64_t)n > g->n_ctx) {
		snprintf(msg, sizeof(msg), "%d tokens after %u do not fit in the "
			 "context of %u (use -c to enlarge it)", n, g->n_past, g->n_ctx);
		return gen_fail("prompt too long", msg);
	}
	for (int i = 0; i < n; i += (int)g->n_batch) {
		uint32_t k = (uint32_t)(n - i) < g->n_batch ? (uint32_t)(n - i) : g->n_batch;

		if (forward(g, ids + i, k, i + (int)k == n))
			return -1;
	}
	for (int i = 0; i < n; i++)
		kllm_sampler_accept(g->smp, ids[i]);
	g->t_prompt += run_now() - t0;
	g->n_prompt += (uint64_t)n;
	return 0;
}

static int append(char **text, size_t *len, const char *s, size_t n)
{
	char *p;

	if (!text)
		return 0;
	p = realloc(*text, *len + n + 1);
	if (!p)
		return gen_fail("memory", strerror(ENOMEM));
	memcpy(p + *len, s, n);
	*len += n;
	p[*len] = '\0';
	*text = p;
	return 0;
}

/* Write one token: its id, or its completed text. */
static int emit(struct gen *g, struct kllm_tok_stream *st, int32_t id,
		char **text, size_t *text_len)
{
	char buf[512];
	int n;

	if (g->o->ids) {
		printf("%s%d", g->ids_printed++ ? " " : "", id);
		fflush(stdout);
		return 0;
	}
	n = kllm_tok_stream_push(g->tok, st, id, 0, buf, sizeof(buf));
	if (n < 0)
		return gen_fail("detokenize", strerror(-n));
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	return append(text, text_len, buf, (size_t)n);
}

int gen_generate(struct gen *g, int n_predict, char **text, size_t *text_len)
{
	struct kllm_tok_stream st;
	double t0 = run_now();
	char tail[8];
	int ret = 0, n;

	kllm_tok_stream_init(&st);
	if (!g->have_logits)
		return gen_fail("generate", "no prompt");
	for (int i = 0; n_predict < 0 || i < n_predict; i++) {
		int32_t id = kllm_sample(g->smp, g->logits, (int32_t)g->n_vocab);

		if (id < 0) {
			ret = gen_fail("sample", strerror(-id));
			break;
		}
		kllm_sampler_accept(g->smp, id);
		if (kllm_tok_is_eog(g->tok, id))
			break;
		g->n_gen++;
		if (emit(g, &st, id, text, text_len)) {
			ret = -1;
			break;
		}
		/* the last token needs a forward only when a chat goes on */
		if (n_predict >= 0 && i + 1 == n_predict && !g->o->chat)
			break;
		if (g->n_past >= g->n_ctx) {
			fprintf(stderr, "\nkllm-run: context of %u tokens full\n", g->n_ctx);
			break;
		}
		if (forward(g, &id, 1, 1)) {
			ret = -1;
			break;
		}
		if (n_predict >= 0 && i + 1 == n_predict)
			break;
	}
	n = kllm_tok_stream_flush(&st, tail, sizeof(tail));
	if (n > 0) {
		fwrite(tail, 1, (size_t)n, stdout);
		append(text, text_len, tail, (size_t)n);
	}
	g->t_gen += run_now() - t0;
	return ret;
}

void gen_reset(struct gen *g)
{
	kllm_seq_clear(g->ctx, 0);
	g->n_past = 0;
	g->have_logits = 0;
}

static double rate(uint64_t n, double t)
{
	return t > 0 ? (double)n / t : 0;
}

void gen_print_timings(const struct gen *g)
{
	fprintf(stderr, "kllm-run: load %.1f ms | prompt %llu tokens, %.1f tok/s | "
		"generation %llu tokens, %.1f tok/s | %s, %u ctx\n",
		g->t_load * 1e3, (unsigned long long)g->n_prompt,
		rate(g->n_prompt, g->t_prompt), (unsigned long long)g->n_gen,
		rate(g->n_gen, g->t_gen), kk_simd_name(kk_simd_selected()), g->n_ctx);
}
