// SPDX-License-Identifier: MIT
/*
 * serve_client.c - a client process of `kllm-bench serve`: its own model
 * and engine (of its priority class), a warm-up, then a closed-loop stream
 * of requests after the parent's start signal; every request's timings go
 * to the parent as one message on the client's pipe (serve.h).
 */
#include "bench.h"
#include "serve.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int serve_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_msg(int fd, uint32_t type, const void *payload, uint32_t n, size_t elem,
		    double ttft, double end)
{
	struct smsg m = { .type = type, .n = n, .ttft = ttft, .end = end };

	if (serve_write_all(fd, &m, sizeof(m)))
		return -1;
	return n ? serve_write_all(fd, payload, n * elem) : 0;
}

static void send_text(int fd, uint32_t type, const char *s)
{
	send_msg(fd, type, s, (uint32_t)strlen(s), 1, 0, 0);
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

struct creq {
	struct kllm_engine *e;
	struct kllm_sampler *smp;
	int32_t *ids;
	float *lat;
	uint32_t n_vocab;
};

/* Prompt in, the first token out (the TTFT), then gen - 1 decodes. */
static int client_request(struct creq *q, const struct serve_spec *sp, int id, int r,
			  double *ttft)
{
	int seq, ret;
	int32_t tok = 0;
	double t0, prev, now;

	for (int i = 0; i < sp->prompt; i++)
		q->ids[i] = (int32_t)(mix64((uint64_t)id << 40 ^ (uint64_t)r << 20 ^ (uint64_t)i) %
				      q->n_vocab);
	seq = kllm_seq_new(q->e);
	if (seq < 0)
		return seq;
	t0 = prev = bench_now();
	ret = kllm_seq_feed(q->e, seq, q->ids, (size_t)sp->prompt);
	for (int g = 0; !ret && g < sp->gen; g++) {
		if (g && (ret = kllm_seq_feed(q->e, seq, &tok, 1)))
			break;
		ret = kllm_seq_decode(q->e, seq);
		tok = ret ? ret : kllm_seq_sample(q->e, seq, q->smp);
		if (tok < 0) {
			ret = tok;
			break;
		}
		now = bench_now();
		if (g)
			q->lat[g - 1] = (float)(now - prev);
		else
			*ttft = now - t0;
		prev = now;
	}
	kllm_seq_free(q->e, seq);
	return ret;
}

/*
 * Background clients go on after their N requests until the other classes
 * are done (the parent closes @stop), so that every token of those is
 * measured under the load the run claims.
 */
static int client_more(const struct serve_child *c, int r)
{
	struct pollfd p = { .fd = c->stop, .events = POLLIN };

	if (r < c->requests)
		return 1;
	return c->sp->prio == KLLM_PRIORITY_BACKGROUND && poll(&p, 1, 0) == 0;
}

/* The engine, the sampler and the buffers of a client; 0 or -errno. */
static int client_setup(const struct serve_child *c, struct kllm_llm **llm, struct creq *q)
{
	struct kllm_sampler_params sp;
	struct kllm_engine_params ep;
	int ret;

	kllm_sampler_default_params(&sp);
	sp.temperature = 0;
	sp.penalty_last_n = 0;
	kllm_engine_default_params(&ep);
	ep.n_ctx = (uint32_t)c->n_ctx;
	ep.n_threads = (uint32_t)c->threads;
	ep.priority = c->sp->prio;
	ret = kllm_llm_load(c->model, llm);
	if (!ret)
		ret = kllm_engine_create(*llm, &ep, &q->e);
	if (ret)
		return ret;
	q->n_vocab = kllm_llm_info(*llm)->n_vocab;
	q->smp = kllm_sampler_create(&sp);
	q->ids = calloc((size_t)c->sp->prompt, sizeof(*q->ids));
	q->lat = calloc((size_t)c->sp->gen, sizeof(*q->lat));
	return q->smp && q->ids && q->lat ? 0 : -ENOMEM;
}

/* One token through a fresh sequence: pages in the weights, sizes memory. */
static int client_warm_up(struct creq *q)
{
	int seq = kllm_seq_new(q->e), ret;

	ret = seq < 0 ? seq : kllm_seq_feed(q->e, seq, q->ids, 1);
	if (!ret)
		ret = kllm_seq_decode(q->e, seq);
	if (seq >= 0)
		kllm_seq_free(q->e, seq);
	return ret;
}

/* Requests until done, each reported to the parent; 0 or -errno. */
static int client_serve(const struct serve_child *c, struct creq *q)
{
	double ttft = 0;
	int ret;

	for (int r = 0; client_more(c, r); r++) {
		ret = client_request(q, c->sp, c->id, r, &ttft);
		if (ret)
			return ret;
		if (send_msg(c->fd, MSG_REQ, q->lat, (uint32_t)c->sp->gen - 1, sizeof(float),
			     ttft, bench_now()))
			return -EPIPE;
	}
	return 0;
}

int serve_client_main(const struct serve_child *c)
{
	struct kllm_llm *llm = NULL;
	struct creq q = { 0 };
	char b;
	int ret;

	ret = client_setup(c, &llm, &q);
	if (!ret)
		ret = client_warm_up(&q);
	if (!ret) {
		send_text(c->fd, MSG_READY, kllm_engine_backend(q.e));
		/* EOF instead of a start byte: another client failed */
		if (read(c->go, &b, 1) == 1)
			ret = client_serve(c, &q);
	}
	if (ret && ret != -EPIPE)
		send_text(c->fd, MSG_ERR, ret != -ENOMEM && kllm_last_error()[0] ?
			  kllm_last_error() : strerror(-ret));
	kllm_sampler_free(q.smp);
	kllm_engine_free(q.e);
	kllm_llm_free(llm);
	free(q.ids);
	free(q.lat);
	return ret ? 1 : 0;
}
