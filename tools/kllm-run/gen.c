// SPDX-License-Identifier: MIT
/*
 * gen.c - kllm-run's generator on the public API: load a model, feed a
 * prompt to one sequence (run in chunks of -b tokens, with a progress
 * line on a terminal), then kllm_generate streams text as whole UTF-8
 * characters complete, stopping at -r strings.  Ctrl-C during a prefill or
 * a generation stops it through kllm_abort().
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

/* The engine a SIGINT aborts (set while a generation runs). */
static struct kllm_engine *volatile abort_target;

double run_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int gen_fail(const char *what, const char *msg)
{
	/* the library's messages often name it already */
	if (!strncmp(msg, what, strlen(what)))
		fprintf(stderr, "kllm-run: %s\n", msg);
	else
		fprintf(stderr, "kllm-run: %s: %s\n", what, msg);
	return -1;
}

/* --ignore-eos: the ids that end a generation, masked before sampling. */
static int find_eog(struct gen *g)
{
	size_t n = 0;

	for (uint32_t id = 0; id < g->n_vocab; id++)
		n += kllm_token_is_eog(g->llm, (int32_t)id) == 1;
	g->eog = malloc(sizeof(*g->eog) * (n ? n : 1));
	g->logits = malloc(sizeof(*g->logits) * g->n_vocab);
	if (!g->eog || !g->logits)
		return -1;
	for (uint32_t id = 0; id < g->n_vocab; id++)
		if (kllm_token_is_eog(g->llm, (int32_t)id) == 1)
			g->eog[g->n_eog++] = (int32_t)id;
	return 0;
}

int gen_open(struct gen *g, const struct run_opts *o)
{
	struct kllm_engine_params ep;
	const struct kllm_llm_info *info;
	double t0 = run_now();
	uint32_t n_ctx = o->n_ctx;

	memset(g, 0, sizeof(*g));
	g->o = o;
	g->seq = -1;
	g->progress = isatty(STDERR_FILENO);
	if (kllm_llm_load(o->model, &g->llm))
		return gen_fail(o->model, kllm_last_error());
	info = kllm_llm_info(g->llm);
	g->n_vocab = info->n_vocab;
	/* as llama.cpp: a context above the trained one works, with a warning;
	 * the default (4096) is lowered to a smaller trained context */
	if (info->n_ctx_train && n_ctx > info->n_ctx_train) {
		if (o->n_ctx_set)
			fprintf(stderr, "kllm-run: warning: -c %u is above the %u tokens "
				"the model was trained with\n", n_ctx, info->n_ctx_train);
		else
			n_ctx = info->n_ctx_train;
	}
	kllm_engine_default_params(&ep);
	ep.n_ctx = n_ctx;		/* 0: the model's */
	ep.max_batch = o->n_batch;
	ep.n_threads = o->n_threads;
	ep.kv_type = o->kv_type_k ? o->kv_type_k : o->kv_type_v;
	if (kllm_engine_create(g->llm, &ep, &g->e))
		return gen_fail(o->model, kllm_last_error());
	g->n_ctx = kllm_engine_params(g->e)->n_ctx;
	g->seq = kllm_seq_new(g->e);
	g->smp = kllm_sampler_create(&o->sp);
	if (g->seq < 0 || !g->smp || (o->ignore_eos && find_eog(g)))
		return gen_fail("memory", strerror(ENOMEM));
	g->t_load = run_now() - t0;
	return 0;
}

void gen_close(struct gen *g)
{
	kllm_sampler_free(g->smp);
	kllm_engine_free(g->e);
	kllm_llm_free(g->llm);
	free(g->eog);
	free(g->logits);
	free(g->gen_ids);
	free(g->shown);
	memset(g, 0, sizeof(*g));
}

int gen_tokenize(struct gen *g, const char *text, int bos, int32_t **ids)
{
	size_t len = strlen(text);
	int n = kllm_tokenize(g->llm, text, len, bos, 1, NULL, 0);

	if (n < 0)
		return gen_fail("tokenize", kllm_last_error());
	*ids = malloc(sizeof(**ids) * (n ? n : 1));
	if (!*ids)
		return gen_fail("memory", strerror(ENOMEM));
	if (kllm_tokenize(g->llm, text, len, bos, 1, *ids, (size_t)n) != n) {
		free(*ids);
		return gen_fail("tokenize", "inconsistent token count");
	}
	return n;
}

static void on_sigint(int sig)
{
	(void)sig;
	kllm_abort(abort_target);
}

/* Ctrl-C aborts the engine between forward passes while @on. */
static void catch_sigint(struct gen *g, int on)
{
	struct sigaction sa = { .sa_handler = on ? on_sigint : SIG_DFL };

	abort_target = on ? g->e : NULL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

/* "prompt: 4096/9000 tokens (45%), 312 t/s", redrawn in place. */
static void show_progress(int done, int total, double t)
{
	fprintf(stderr, "\rprompt: %d/%d tokens (%d%%), %.0f t/s\033[K", done, total,
		(int)(100.0 * done / total), t > 0 ? done / t : 0.0);
	fflush(stderr);
}

/* --verbose-prompt: what the prefill computed, and took from the cache. */
static void show_prefilled(struct gen *g, const struct kllm_engine_stats *a, int total)
{
	struct kllm_engine_stats b;

	if (!g->o->verbose_prompt || kllm_engine_get_stats(g->e, &b))
		return;
	fprintf(stderr, "kllm-run: prefilled %llu of %d pending tokens (%llu from the "
		"prefix cache)\n", (unsigned long long)(b.tokens_computed - a->tokens_computed),
		total, (unsigned long long)(b.tokens_cached - a->tokens_cached));
}

int gen_prefill(struct gen *g, const int32_t *ids, int n)
{
	double t0 = run_now();
	struct kllm_engine_stats st0 = { 0 };
	int ret = 0, total, left, shown = 0;

	if (n <= 0)
		return 0;
	ret = kllm_seq_feed(g->e, g->seq, ids, (size_t)n);
	if (ret == -ENOSPC)
		return 2;
	if (ret)
		return gen_fail("prompt", kllm_last_error());
	for (int i = 0; i < n; i++)
		kllm_sampler_accept(g->smp, ids[i]);
	/* what is pending now: this input, and a token a generation left */
	total = kllm_seq_pending(g->e, g->seq);
	left = total;
	kllm_engine_get_stats(g->e, &st0);
	catch_sigint(g, 1);
	/* one forward pass of -b tokens at a time: the abort flag is checked
	 * and the progress drawn between them (kllm_seq_decode would hand a
	 * device engine every chunk at once) */
	while (left > 0) {
		ret = kllm_engine_step(g->e);
		if (ret <= 0)
			break;		/* an error, or nothing ran (never expected) */
		ret = 0;
		left = kllm_seq_pending(g->e, g->seq);
		if (left < 0) {
			ret = left;
			break;
		}
		if (g->progress && total > (int)g->o->n_batch && left > 0) {
			show_progress(total - left, total, run_now() - t0);
			shown = 1;
		}
	}
	catch_sigint(g, 0);
	if (shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	left = kllm_seq_pending(g->e, g->seq);
	g->t_prompt += run_now() - t0;
	g->n_prompt += (uint64_t)(total - (left > 0 ? left : 0));
	show_prefilled(g, &st0, total);
	if (ret == -ECANCELED) {
		kllm_abort_clear(g->e);
		fprintf(stderr, "kllm-run: interrupted\n");
		return 1;
	}
	return ret ? gen_fail("prompt", kllm_last_error()) : 0;
}

struct sink {
	struct gen *g;
	char **text;
	size_t *len;
	int oom;
};

static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c * size);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

static void append(struct sink *k, char **buf, size_t *len, size_t *cap,
		   const char *s, size_t n)
{
	size_t c = cap ? *cap : *len + (*buf != NULL);

	if (k->oom)
		return;
	if (grow((void **)buf, &c, *len + n + 1, 1)) {
		k->oom = 1;
		return;
	}
	if (cap)
		*cap = c;
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Stream one token: its id with --ids, else its completed text. */
static int on_token(void *arg, int32_t id, const char *text, size_t len)
{
	struct sink *k = arg;
	struct gen *g = k->g;

	if (g->o->ids) {
		if (id >= 0)
			printf("%s%d", g->ids_printed++ ? " " : "", id);
	} else {
		fwrite(text, 1, len, stdout);
		if (len)
			g->out_open = text[len - 1] != '\n';
	}
	fflush(stdout);
	if (id >= 0) {
		if (grow((void **)&g->gen_ids, &g->gen_ids_cap, g->n_gen_ids + 1,
			 sizeof(*g->gen_ids)))
			k->oom = 1;
		else
			g->gen_ids[g->n_gen_ids++] = id;
	}
	append(k, &g->shown, &g->n_shown, &g->shown_cap, text, len);
	if (k->text)	/* the caller's buffer, sized exactly */
		append(k, k->text, k->len, NULL, text, len);
	return 0;
}

/*
 * --ignore-eos: kllm_generate stopped at an end-of-generation token; draw
 * again from the same logits without them and feed the draw, so the
 * generation can go on.  0, 2 (context full) or -1.
 */
static int redraw_without_eog(struct gen *g, struct sink *k)
{
	const float *l = kllm_seq_logits(g->e, g->seq);
	struct kllm_detok dt;
	char piece[KLLM_DETOK_MAX];
	int32_t id;
	int n;

	if (!l)
		return gen_fail("generate", kllm_last_error());
	memcpy(g->logits, l, sizeof(*l) * g->n_vocab);
	for (size_t i = 0; i < g->n_eog; i++)
		g->logits[g->eog[i]] = -INFINITY;
	id = kllm_sample(g->smp, g->logits, (int32_t)g->n_vocab);
	if (id < 0)
		return gen_fail("generate", kllm_last_error());
	kllm_sampler_accept(g->smp, id);
	n = kllm_seq_feed(g->e, g->seq, &id, 1);
	if (n == -ENOSPC)
		return 2;
	if (n)
		return gen_fail("generate", kllm_last_error());
	g->n_gen++;
	kllm_detok_init(&dt);
	n = kllm_detok_push(g->llm, &dt, id, g->o->special, piece, sizeof(piece));
	if (n < 0)
		n = 0;
	n += kllm_detok_flush(&dt, piece + n, sizeof(piece) - (size_t)n);
	on_token(k, id, piece, (size_t)n);
	return 0;
}

int gen_generate(struct gen *g, int n_predict, char **text, size_t *text_len)
{
	struct sink k = { .g = g, .text = text, .len = text_len };
	struct kllm_gen_params p = {
		.stop = g->o->n_reverse ? g->o->reverse : NULL,
		.n_stop = g->o->n_reverse, .special = g->o->special,
		.on_token = on_token, .arg = &k,
		.n_draft = g->o->n_draft, .ngram_min = g->o->ngram_min,
		.ngram_max = g->o->ngram_max,
	};
	struct kllm_gen_result r;
	int ret;

	g->n_gen_ids = 0;
	g->n_shown = 0;
	g->last_stop = 0;
	for (;;) {
		p.n_predict = n_predict;
		catch_sigint(g, 1);
		ret = kllm_generate(g->e, g->seq, g->smp, &p, &r);
		catch_sigint(g, 0);
		g->t_prompt += r.t_prompt_s;
		g->t_gen += r.t_gen_s;
		g->n_gen += r.n_gen;
		g->n_draft += r.n_draft;
		g->n_draft_accepted += r.n_draft_accepted;
		g->last_stop = r.stop;
		if (ret || k.oom || r.stop != KLLM_STOP_EOG || !g->o->ignore_eos ||
		    !g->n_eog)
			break;
		if (n_predict >= 0) {
			n_predict -= (int)r.n_gen;
			if (n_predict <= 0) {
				g->last_stop = KLLM_STOP_LIMIT;
				break;
			}
		}
		ret = redraw_without_eog(g, &k);
		if (ret)
			return ret;
		if (n_predict > 0 && !--n_predict) {
			g->last_stop = KLLM_STOP_LIMIT;
			break;
		}
	}
	if (k.oom)
		return gen_fail("memory", strerror(ENOMEM));
	if (ret == -ENOSPC)
		return 2;
	if (ret == -ECANCELED) {
		kllm_abort_clear(g->e);
		fprintf(stderr, "\nkllm-run: interrupted\n");
		g->out_open = 0;
		return 1;
	}
	return ret ? gen_fail("generate", kllm_last_error()) : 0;
}

char *gen_stop_tail(struct gen *g)
{
	int n = kllm_detokenize(g->llm, g->gen_ids, g->n_gen_ids, g->o->special, NULL, 0);
	char *all;

	if (n < 0 || (size_t)n < g->n_shown)
		return NULL;
	all = malloc((size_t)n + 1);
	if (!all)
		return NULL;
	kllm_detokenize(g->llm, g->gen_ids, g->n_gen_ids, g->o->special, all, (size_t)n + 1);
	all[n] = '\0';
	if (memcmp(all, g->shown, g->n_shown)) {
		free(all);
		return NULL;
	}
	memmove(all, all + g->n_shown, (size_t)n - g->n_shown + 1);
	return all;
}

void gen_reset(struct gen *g)
{
	kllm_seq_truncate(g->e, g->seq, 0);
}

static double rate(uint64_t n, double t)
{
	return t > 0 ? (double)n / t : 0;
}

void gen_print_timings(const struct gen *g)
{
	if (!g->o->show_timings)
		return;
	/* on a terminal, not on the end of the answer's last line */
	if (g->out_open && isatty(STDOUT_FILENO))
		fputc('\n', stderr);
	fprintf(stderr, "kllm-run: load %.1f ms | prompt %llu tokens, %.1f tok/s | "
		"generation %llu tokens, %.1f tok/s | %s, %s, %u ctx\n",
		g->t_load * 1e3, (unsigned long long)g->n_prompt,
		rate(g->n_prompt, g->t_prompt), (unsigned long long)g->n_gen,
		rate(g->n_gen, g->t_gen), kllm_engine_backend(g->e),
		kllm_simd_name(kllm_cpu_init()), g->n_ctx);
	if (g->o->n_draft)
		fprintf(stderr, "kllm-run: draft %llu tokens, %llu accepted (%.1f %%)\n",
			(unsigned long long)g->n_draft,
			(unsigned long long)g->n_draft_accepted,
			g->n_draft ? 100.0 * (double)g->n_draft_accepted / (double)g->n_draft : 0);
}
