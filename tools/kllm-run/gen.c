// SPDX-License-Identifier: MIT
/*
 * gen.c - kllm-run's generator on the public API: load a model, feed a
 * prompt to one sequence (run in chunks of -b tokens), then kllm_generate
 * streams text as whole UTF-8 characters complete.  Ctrl-C during a
 * generation stops it through kllm_abort().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int gen_open(struct gen *g, const struct run_opts *o)
{
	struct kllm_engine_params ep;
	double t0 = run_now();

	memset(g, 0, sizeof(*g));
	g->o = o;
	g->seq = -1;
	if (kllm_llm_load(o->model, &g->llm))
		return gen_fail(o->model, kllm_last_error());
	kllm_engine_default_params(&ep);
	ep.n_ctx = o->n_ctx;		/* 0: the model's */
	ep.max_batch = o->n_batch;
	ep.n_threads = o->n_threads;
	if (kllm_engine_create(g->llm, &ep, &g->e))
		return gen_fail(o->model, kllm_last_error());
	g->n_ctx = kllm_engine_params(g->e)->n_ctx;
	g->seq = kllm_seq_new(g->e);
	g->smp = kllm_sampler_create(&o->sp);
	if (g->seq < 0 || !g->smp)
		return gen_fail("memory", strerror(ENOMEM));
	g->t_load = run_now() - t0;
	return 0;
}

void gen_close(struct gen *g)
{
	kllm_sampler_free(g->smp);
	kllm_engine_free(g->e);
	kllm_llm_free(g->llm);
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

int gen_prefill(struct gen *g, const int32_t *ids, int n)
{
	double t0 = run_now();
	int ret;

	if (n <= 0)
		return 0;
	if (kllm_seq_feed(g->e, g->seq, ids, (size_t)n)) {
		fprintf(stderr, "kllm-run: prompt too long: %s (use -c to enlarge it)\n",
			kllm_last_error());
		return -1;
	}
	for (int i = 0; i < n; i++)
		kllm_sampler_accept(g->smp, ids[i]);
	catch_sigint(g, 1);
	ret = kllm_seq_decode(g->e, g->seq);
	catch_sigint(g, 0);
	g->t_prompt += run_now() - t0;
	g->n_prompt += (uint64_t)n;
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

static void append(struct sink *k, const char *s, size_t n)
{
	char *p;

	if (!k->text || k->oom)
		return;
	p = realloc(*k->text, *k->len + n + 1);
	if (!p) {
		k->oom = 1;
		return;
	}
	memcpy(p + *k->len, s, n);
	*k->len += n;
	p[*k->len] = '\0';
	*k->text = p;
}

/* Stream one token: its id with --ids, else its completed text. */
static int on_token(void *arg, int32_t id, const char *text, size_t len)
{
	struct sink *k = arg;

	if (k->g->o->ids) {
		if (id >= 0)
			printf("%s%d", k->g->ids_printed++ ? " " : "", id);
	} else {
		fwrite(text, 1, len, stdout);
	}
	fflush(stdout);
	append(k, text, len);
	return 0;
}

int gen_generate(struct gen *g, int n_predict, char **text, size_t *text_len)
{
	struct sink k = { .g = g, .text = text, .len = text_len };
	struct kllm_gen_params p = { .n_predict = n_predict, .on_token = on_token,
				     .arg = &k };
	struct kllm_gen_result r;
	int ret;

	catch_sigint(g, 1);
	ret = kllm_generate(g->e, g->seq, g->smp, &p, &r);
	catch_sigint(g, 0);
	g->t_prompt += r.t_prompt_s;
	g->t_gen += r.t_gen_s;
	g->n_gen += r.n_gen;
	if (k.oom)
		return gen_fail("memory", strerror(ENOMEM));
	if (ret == -ENOSPC) {
		fprintf(stderr, "\nkllm-run: context of %u tokens full\n", g->n_ctx);
		return 0;
	}
	if (ret == -ECANCELED) {
		kllm_abort_clear(g->e);
		fprintf(stderr, "\nkllm-run: interrupted\n");
		return 1;
	}
	return ret ? gen_fail("generate", kllm_last_error()) : 0;
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
	fprintf(stderr, "kllm-run: load %.1f ms | prompt %llu tokens, %.1f tok/s | "
		"generation %llu tokens, %.1f tok/s | %s, %s, %u ctx\n",
		g->t_load * 1e3, (unsigned long long)g->n_prompt,
		rate(g->n_prompt, g->t_prompt), (unsigned long long)g->n_gen,
		rate(g->n_gen, g->t_gen), kllm_engine_backend(g->e),
		kllm_simd_name(kllm_cpu_init()), g->n_ctx);
}
