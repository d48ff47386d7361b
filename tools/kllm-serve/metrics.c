// SPDX-License-Identifier: MIT
/*
 * metrics.c - kllm-serve's Prometheus counters, histograms and gauges
 * (GET /metrics, text exposition format 0.0.4).  One mutex guards them;
 * every update is a few additions.
 *
 *   kllm_requests_total{endpoint,status,route}   completed HTTP requests
 *   kllm_prompt_tokens_total, kllm_completion_tokens_total,
 *   kllm_cached_tokens_total                      (local requests)
 *   kllm_queue_seconds, kllm_ttft_seconds, kllm_token_seconds  histograms
 *   kllm_open_connections, kllm_models_loaded, kllm_sequences_active,
 *   kllm_sequences_held, kllm_requests_queued, kllm_kv_bytes,
 *   kllm_kv_block_bytes, kllm_weights_bytes       gauges
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define N_REQ_ROWS 128

struct req_row {
	enum sv_endpoint ep;
	int status;
	enum sv_route route;
	uint64_t n;
};

static const double lat_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};
static const double tok_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};
#define N_LAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))
#define N_TOK (sizeof(tok_bounds) / sizeof(tok_bounds[0]))

struct hist {
	const double *bounds;
	size_t n_bounds;
	uint64_t count[16];		/* per bucket, not cumulative */
	uint64_t total;
	double sum;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct req_row rows[N_REQ_ROWS];
static size_t n_rows;
static uint64_t tok_prompt, tok_completion, tok_cached;
static struct hist h_queue = { lat_bounds, N_LAT, { 0 }, 0, 0 };
static struct hist h_ttft = { lat_bounds, N_LAT, { 0 }, 0, 0 };
static struct hist h_token = { tok_bounds, N_TOK, { 0 }, 0, 0 };
static long conns;

static const char *const ep_names[SV_EP__N] = {
	[SV_EP_CHAT] = "chat_completions",
	[SV_EP_COMPLETIONS] = "completions",
	[SV_EP_MODELS] = "models",
	[SV_EP_OTHER] = "other",
};

void sv_metrics_request(enum sv_endpoint ep, int status, enum sv_route where)
{
	size_t i;

	if ((unsigned)ep >= SV_EP__N)
		ep = SV_EP_OTHER;
	pthread_mutex_lock(&lock);
	for (i = 0; i < n_rows; i++)
		if (rows[i].ep == ep && rows[i].status == status && rows[i].route == where)
			break;
	if (i == n_rows && n_rows < N_REQ_ROWS)
		rows[n_rows++] = (struct req_row){ ep, status, where, 0 };
	if (i < n_rows)
		rows[i].n++;
	pthread_mutex_unlock(&lock);
}

void sv_metrics_tokens(uint32_t prompt, uint32_t completion, uint32_t cached)
{
	pthread_mutex_lock(&lock);
	tok_prompt += prompt;
	tok_completion += completion;
	tok_cached += cached;
	pthread_mutex_unlock(&lock);
}

static void observe(struct hist *h, double v)
{
	size_t i;

	for (i = 0; i < h->n_bounds && v > h->bounds[i]; i++)
		;
	pthread_mutex_lock(&lock);
	h->count[i]++;
	h->total++;
	h->sum += v;
	pthread_mutex_unlock(&lock);
}

void sv_metrics_queue_time(double seconds)
{
	observe(&h_queue, seconds);
}

void sv_metrics_ttft(double seconds)
{
	observe(&h_ttft, seconds);
}

void sv_metrics_token_time(double seconds)
{
	observe(&h_token, seconds);
}

void sv_metrics_conn(int delta)
{
	pthread_mutex_lock(&lock);
	conns += delta;
	pthread_mutex_unlock(&lock);
}

static void render_hist(FILE *f, const char *name, const char *help, const struct hist *h)
{
	uint64_t cum = 0;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < h->n_bounds; i++) {
		cum += h->count[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
			(unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->total);
	fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
		(unsigned long long)h->total);
}

static void gauge(FILE *f, const char *name, const char *help, unsigned long long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, v);
}

static void counter(FILE *f, const char *name, const char *help, unsigned long long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

char *sv_metrics_render(size_t *len)
{
	struct sv_engine_stats st;
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	memset(&st, 0, sizeof(st));
	sv_engine_stats(&st);
	f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	pthread_mutex_lock(&lock);
	fputs("# HELP kllm_requests_total HTTP requests answered, by endpoint, status and where they ran.\n"
	      "# TYPE kllm_requests_total counter\n", f);
	for (size_t i = 0; i < n_rows; i++)
		fprintf(f, "kllm_requests_total{endpoint=\"%s\",status=\"%d\",route=\"%s\"} %llu\n",
			ep_names[rows[i].ep], rows[i].status,
			rows[i].route == SV_ROUTE_CLOUD ? "cloud" : "local",
			(unsigned long long)rows[i].n);
	counter(f, "kllm_prompt_tokens_total", "Prompt tokens of local requests.", tok_prompt);
	counter(f, "kllm_completion_tokens_total", "Tokens generated locally.", tok_completion);
	counter(f, "kllm_cached_tokens_total", "Prompt tokens whose KV was reused.", tok_cached);
	render_hist(f, "kllm_queue_seconds", "Time a local request waited for its engine.", &h_queue);
	render_hist(f, "kllm_ttft_seconds", "Time from the complete request to its first token.",
		    &h_ttft);
	render_hist(f, "kllm_token_seconds", "Time between two generated tokens.", &h_token);
	gauge(f, "kllm_open_connections", "Open HTTP connections.",
	      conns > 0 ? (unsigned long long)conns : 0);
	pthread_mutex_unlock(&lock);
	gauge(f, "kllm_models_loaded", "Models loaded.", st.models_loaded);
	gauge(f, "kllm_sequences_active", "Sequences generating or prefilling.", st.seqs_active);
	gauge(f, "kllm_sequences_held", "Finished sequences held for prompt reuse.", st.seqs_held);
	gauge(f, "kllm_requests_queued", "Requests waiting for a sequence.", st.queued);
	gauge(f, "kllm_kv_bytes", "Bytes of KV cache of every sequence.", st.kv_bytes);
	gauge(f, "kllm_kv_block_bytes", "Bytes of the KV blocks in use: the sequences' "
	      "and the prefix cache's (idle cached blocks too).", st.kv_block_bytes);
	gauge(f, "kllm_weights_bytes", "Bytes of model weights loaded.", st.weights_bytes);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
