// SPDX-License-Identifier: MIT
/*
 * lm.c - kllm-bench helpers for the modes that run a whole model in
 * process (pp, tg, batched, compare): load a GGUF, make a context, time
 * prompt processing, one-token decode and parallel sequences, and the
 * mean and standard deviation of repeated runs.
 *
 * Token ids are pseudo-random (fixed seed), as llama-bench uses: the
 * speed of a forward pass does not depend on which tokens go in.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"

static uint64_t weight_elems(const struct kllm_weight *w)
{
	return kllm_weight_present(w) ? (uint64_t)w->ne0 * w->rows : 0;
}

static uint64_t count_params(const struct kllm_model *m)
{
	/* a tied output is tok_embd again: counted once, as llama-bench does */
	uint64_t n = weight_elems(&m->tok_embd) + weight_elems(&m->output_norm) +
		     (m->tied_output || m->output.data == m->tok_embd.data ? 0 :
		      weight_elems(&m->output));

	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		const struct kllm_layer *y = &m->layers[l];
		const struct kllm_weight *ws[] = {
			&y->attn_norm, &y->wq, &y->wk, &y->wv, &y->wo, &y->ffn_norm,
			&y->gate, &y->up, &y->down, &y->bq, &y->bk, &y->bv,
			&y->q_norm, &y->k_norm, &y->post_attn_norm, &y->post_ffn_norm,
		};

		for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
			n += weight_elems(ws[i]);
	}
	return n;
}

/* llama.cpp's name of general.file_type (llama_model_ftype_name), or NULL. */
static const char *ftype_name(uint32_t ft)
{
	static const struct { uint32_t ft; const char *name; } names[] = {
		{ 0, "all F32" }, { 1, "F16" }, { 2, "Q4_0" }, { 3, "Q4_1" },
		{ 7, "Q8_0" }, { 8, "Q5_0" }, { 9, "Q5_1" }, { 10, "Q2_K - Medium" },
		{ 11, "Q3_K - Small" }, { 12, "Q3_K - Medium" }, { 13, "Q3_K - Large" },
		{ 14, "Q4_K - Small" }, { 15, "Q4_K - Medium" }, { 16, "Q5_K - Small" },
		{ 17, "Q5_K - Medium" }, { 18, "Q6_K" }, { 19, "IQ2_XXS - 2.0625 bpw" },
		{ 20, "IQ2_XS - 2.3125 bpw" }, { 21, "Q2_K - Small" },
		{ 22, "IQ3_XS - 3.3 bpw" }, { 23, "IQ3_XXS - 3.0625 bpw" },
		{ 24, "IQ1_S - 1.5625 bpw" }, { 25, "IQ4_NL - 4.5 bpw" },
		{ 26, "IQ3_S - 3.4375 bpw" }, { 27, "IQ3_S mix - 3.66 bpw" },
		{ 28, "IQ2_S - 2.5 bpw" }, { 29, "IQ2_M - 2.7 bpw" },
		{ 30, "IQ4_XS - 4.25 bpw" }, { 31, "IQ1_M - 1.75 bpw" }, { 32, "BF16" },
		{ 36, "TQ1_0 - 1.69 bpw ternary" }, { 37, "TQ2_0 - 2.06 bpw ternary" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].ft == ft)
			return names[i].name;
	return NULL;
}

/*
 * Without general.file_type, llama.cpp guesses from the most common type
 * of the weight matrices and says "(guessed)"; so does this.
 */
static const char *guess_ftype(const struct kllm_model *m)
{
	static const struct { uint32_t type; const char *name; } guess[] = {
		{ KK_TYPE_F32, "all F32" }, { KK_TYPE_F16, "F16" }, { KK_TYPE_BF16, "BF16" },
		{ KK_TYPE_Q4_0, "Q4_0" }, { KK_TYPE_Q4_1, "Q4_1" }, { KK_TYPE_Q5_0, "Q5_0" },
		{ KK_TYPE_Q5_1, "Q5_1" }, { KK_TYPE_Q8_0, "Q8_0" },
		{ KK_TYPE_Q4_K, "Q4_K - Medium" }, { KK_TYPE_Q5_K, "Q5_K - Medium" },
		{ KK_TYPE_Q6_K, "Q6_K" },
	};
	uint64_t count[KK_TYPE_COUNT] = { 0 };
	uint32_t best = KK_TYPE_COUNT;

	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		const struct kllm_layer *y = &m->layers[l];
		const struct kllm_weight *ws[] = { &y->wq, &y->wk, &y->wv, &y->wo, &y->gate,
						   &y->up, &y->down };

		for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
			if (kllm_weight_present(ws[i]) && ws[i]->type < KK_TYPE_COUNT)
				count[ws[i]->type]++;
	}
	for (uint32_t t = 0; t < KK_TYPE_COUNT; t++)
		if (count[t] && (best == KK_TYPE_COUNT || count[t] > count[best]))
			best = t;
	for (size_t i = 0; i < sizeof(guess) / sizeof(guess[0]); i++)
		if (guess[i].type == best)
			return guess[i].name;
	return "?";
}

/* general.size_label ("135M"), else the parameter count in its style. */
static void size_label(const struct bench_lm *lm, char *out, size_t len)
{
	struct gguf_str s;
	double n = (double)lm->n_params;

	if (!gguf_get_str(lm->m->gguf, "general.size_label", &s) && s.n && s.n < 32)
		snprintf(out, len, "%.*s", (int)s.n, s.s);
	else if (n < 1e6)
		snprintf(out, len, "%.0fK", n / 1e3);
	else if (n < 1e9)
		snprintf(out, len, "%.0fM", n / 1e6);
	else if (n < 1e10 && (long)(n / 1e8 + 0.5) % 10)
		snprintf(out, len, "%.1fB", n / 1e9);
	else
		snprintf(out, len, "%.0fB", n / 1e9);
}

/* llama-bench's model column: "<arch> <size> <file type>". */
static void model_type(struct bench_lm *lm)
{
	char size[40];
	uint32_t ft;
	const char *name = gguf_get_u32(lm->m->gguf, "general.file_type", &ft) ? NULL :
			   ftype_name(ft & ~1024u);

	size_label(lm, size, sizeof(size));
	snprintf(lm->type, sizeof(lm->type), "%s %s %s%s", kllm_arch_name(lm->m->hp.arch), size,
		 name ? name : guess_ftype(lm->m), name && !(ft & 1024u) ? "" : " (guessed)");
}

int bench_lm_load(struct bench_lm *lm, const char *path)
{
	const char *base = strrchr(path, '/');
	char err[256];
	struct stat st;
	int ret;

	memset(lm, 0, sizeof(*lm));
	lm->path = path;
	ret = kllm_model_load(&lm->m, path, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kllm-bench: %s: %s\n", path, err);
		return ret;
	}
	lm->file_bytes = stat(path, &st) ? 0 : (uint64_t)st.st_size;
	lm->n_params = count_params(lm->m);
	snprintf(lm->name, sizeof(lm->name), "%s", base ? base + 1 : path);
	model_type(lm);
	return 0;
}

void bench_lm_free(struct bench_lm *lm)
{
	kllm_model_free(lm->m);
	lm->m = NULL;
}

int bench_lm_ctx(const struct bench_lm *lm, uint32_t n_ctx, uint32_t max_batch,
		 uint32_t n_seqs, uint32_t threads, struct kllm_ctx **out)
{
	struct kllm_ctx_opts co = {
		.n_ctx = n_ctx, .max_batch = max_batch, .n_seqs = n_seqs,
		.n_threads = threads,
	};
	char err[256];
	int ret = kllm_ctx_create(out, lm->m, &co, err, sizeof(err));

	if (ret)
		fprintf(stderr, "kllm-bench: context (n_ctx %u, batch %u, %u seqs, %u threads): %s\n",
			n_ctx, max_batch, n_seqs, threads, err);
	return ret;
}

const char *bench_lm_engine(const struct bench_lm *lm, const char *mode, const char *engine)
{
	struct kllm_ctx_opts co = { .n_ctx = 1, .max_batch = 1, .n_seqs = 1, .n_threads = 1 };
	struct kllm_ctx *ctx;
	const char *name;
	char err[256];

	if (kllm_ctx_create(&ctx, lm->m, &co, err, sizeof(err))) {
		fprintf(stderr, "kllm-bench %s: engine %s: %s\n", mode, engine, err);
		return NULL;
	}
	name = kllm_ctx_engine_name(ctx);	/* a static string */
	kllm_ctx_free(ctx);
	return name;
}

/* xorshift ids in [0, n_vocab) */
static int32_t next_token(const struct bench_lm *lm, uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (int32_t)(*s % lm->m->hp.n_vocab);
}

/*
 * Feed @n tokens per sequence to sequences [0, n_seqs), starting at
 * position @pos0, in batches of at most @max_batch tokens (sequences in
 * turn, each sequence's tokens at increasing positions); the logits of
 * the last token of each batch are computed, as a prompt would need.
 */
static int feed(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n_seqs,
		uint32_t pos0, uint32_t n, uint32_t max_batch, uint64_t *seed)
{
	const uint64_t total = (uint64_t)n_seqs * n;
	int32_t *tok = malloc(sizeof(int32_t) * 3 * max_batch);
	float *logits = malloc(sizeof(float) * lm->m->hp.n_vocab);
	int ret = 0;

	if (!tok || !logits) {
		free(tok);
		free(logits);
		return -ENOMEM;
	}
	for (uint64_t done = 0; done < total && !ret;) {
		int32_t *pos = tok + max_batch, *seq = pos + max_batch, row;
		uint32_t b = 0;

		for (; b < max_batch && done < total; b++, done++) {
			tok[b] = next_token(lm, seed);
			seq[b] = (int32_t)(done / n);
			pos[b] = (int32_t)(pos0 + done % n);
		}
		row = (int32_t)b - 1;
		ret = kllm_forward(ctx, b, tok, pos, seq, &row, 1, logits);
		if (ret)
			fprintf(stderr, "kllm-bench: forward: %s\n", kllm_ctx_error(ctx));
	}
	free(tok);
	free(logits);
	return ret;
}

/* One decode step: one token for each of sequences [0, n_seqs) at @pos. */
static int step(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n_seqs,
		uint32_t pos, int32_t *buf, float *logits, uint64_t *seed)
{
	int32_t *tok = buf, *p = buf + n_seqs, *seq = p + n_seqs, *rows = seq + n_seqs;
	int ret;

	for (uint32_t s = 0; s < n_seqs; s++) {
		tok[s] = next_token(lm, seed);
		p[s] = (int32_t)pos;
		seq[s] = (int32_t)s;
		rows[s] = (int32_t)s;
	}
	ret = kllm_forward(ctx, n_seqs, tok, p, seq, rows, n_seqs, logits);
	if (ret)
		fprintf(stderr, "kllm-bench: forward: %s\n", kllm_ctx_error(ctx));
	return ret;
}

static void clear_seqs(struct kllm_ctx *ctx, uint32_t n_seqs)
{
	for (uint32_t s = 0; s < n_seqs; s++)
		kllm_seq_clear(ctx, s);
}

int bench_lm_pp(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n,
		uint32_t max_batch, double *seconds)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	double t0;
	int ret;

	clear_seqs(ctx, 1);
	t0 = bench_now();
	ret = feed(ctx, lm, 1, 0, n, max_batch, &seed);
	*seconds = bench_now() - t0;
	return ret;
}

int bench_lm_tg(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n_prompt,
		uint32_t n_gen, double *seconds)
{
	uint64_t seed = 0x2545f4914f6cdd1dull;
	float *logits = malloc(sizeof(float) * lm->m->hp.n_vocab);
	int32_t buf[4];
	int ret = logits ? 0 : -ENOMEM;
	double t0;

	clear_seqs(ctx, 1);
	if (!ret && n_prompt)
		ret = feed(ctx, lm, 1, 0, n_prompt, n_prompt, &seed);
	t0 = bench_now();
	for (uint32_t i = 0; i < n_gen && !ret; i++)
		ret = step(ctx, lm, 1, n_prompt + i, buf, logits, &seed);
	*seconds = bench_now() - t0;
	free(logits);
	return ret;
}

int bench_lm_batched(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n_seqs,
		     uint32_t npp, uint32_t ntg, uint32_t max_batch,
		     struct bench_batched *r)
{
	uint64_t seed = 0x853c49e6748fea9bull;
	float *logits = malloc(sizeof(float) * lm->m->hp.n_vocab * n_seqs);
	int32_t *buf = malloc(sizeof(int32_t) * 4 * n_seqs);
	int ret = logits && buf ? 0 : -ENOMEM;
	double t0;

	clear_seqs(ctx, n_seqs);
	memset(r, 0, sizeof(*r));
	r->n_seqs = n_seqs;
	r->npp = npp;
	r->ntg = ntg;
	t0 = bench_now();
	if (!ret && npp)
		ret = feed(ctx, lm, n_seqs, 0, npp, max_batch, &seed);
	r->t_pp = bench_now() - t0;
	t0 = bench_now();
	for (uint32_t i = 0; i < ntg && !ret; i++)
		ret = step(ctx, lm, n_seqs, npp + i, buf, logits, &seed);
	r->t_tg = bench_now() - t0;
	r->s_pp = r->t_pp > 0 ? (double)n_seqs * npp / r->t_pp : 0;
	r->s_tg = r->t_tg > 0 ? (double)n_seqs * ntg / r->t_tg : 0;
	r->s_all = (double)n_seqs * (npp + ntg) / (r->t_pp + r->t_tg);
	free(logits);
	free(buf);
	return ret;
}

void bench_stats(const double *v, int n, double *mean, double *sd)
{
	double s = 0, q = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	*mean = n ? s / n : 0;
	for (int i = 0; i < n; i++)
		q += (v[i] - *mean) * (v[i] - *mean);
	*sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

void bench_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}
