// SPDX-License-Identifier: MIT
/*
 * http_load.c - `kllm-bench http`'s clients: K easy handles on one
 * libcurl multi loop, a fresh prompt per request, the server-sent events
 * read line by line (json-c for each chunk), the samples of a run.
 */
#ifdef KLLM_HAVE_SERVE
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

struct hrun;

/* One client: its easy handle and the request in flight. */
struct hreq {
	struct hrun *run;
	CURL *e;
	int client, seq;		/* which client, its request number */
	char *body;
	char *line;			/* the SSE line being read */
	size_t len, cap;
	char head[256];			/* the answer's first bytes, for errors */
	size_t head_len;
	char err[160];			/* an error event's message */
	double t0, t_first, t_prev;
	double *gaps;
	int n_gaps, cap_gaps, n_content;
	long usage_gen, usage_prompt;	/* -1: no usage chunk */
	int done, failed;
};

struct hrun {
	const struct hopts *o;
	CURLM *multi;
	struct curl_slist *hdrs;
	char url[512];
	unsigned int id;		/* seeds the prompts */
	int requests;			/* per client (0: until the duration) */
	double t_start, t_end;
	double *ttft, *tok;
	int n_ttft, cap_ttft, n_tok, cap_tok;
	long long gen, prompt;
	int n_prompt, ok, errors, no_usage;
};

/* ------------------------------------------------------------ requests */

static const char *const words[] = {
	"river", "house", "light", "morning", "garden", "stone", "bread", "window",
	"quiet", "road", "music", "winter", "paper", "bridge", "market", "cloud",
	"table", "green", "letter", "forest", "north", "summer", "glass", "horse",
	"child", "ocean", "silver", "book", "field", "city", "evening", "friend",
	"small", "door", "yellow", "mountain", "coffee", "train", "story", "island",
	"fire", "rain", "street", "village", "school", "dream", "water", "apple",
	"night", "bird", "happy", "old", "little", "garden", "sun", "moon",
	"king", "ship", "snow", "wind", "tree", "road", "star", "song",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * About @n tokens (most common words are one token with their space): an
 * instruction of about 10, then random words, different for every seed.
 */
static char *make_prompt(int n, uint64_t seed)
{
	static const char intro[] = "Write a short story that uses these words:";
	int n_words = n > 11 ? n - 10 : 1;
	size_t cap = sizeof(intro) + (size_t)n_words * 10 + 2, len;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	len = (size_t)snprintf(s, cap, "%s", intro);
	for (int i = 0; i < n_words; i++) {
		seed = mix64(seed);
		len += (size_t)snprintf(s + len, cap - len, " %s", words[seed % N_WORDS]);
	}
	snprintf(s + len, cap - len, ".");
	return s;
}

static json_object *message(const char *role, const char *content)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", json_object_new_string(content));
	return m;
}

/* The JSON body of request @seq of client @client; NULL on no memory. */
static char *make_body(const struct hrun *run, int client, int seq)
{
	const struct hopts *o = run->o;
	uint64_t seed = (uint64_t)run->id << 40 ^ (uint64_t)client << 20 ^ (uint64_t)seq;
	char *text = o->prompt ? strdup(o->prompt) : make_prompt(o->prompt_tokens, seed);
	json_object *b = json_object_new_object(), *so = json_object_new_object();
	char *out = NULL;

	if (!text || !b || !so)
		goto out_free;
	json_object_object_add(b, "model", json_object_new_string(o->c.model));
	if (o->chat) {
		json_object *msgs = json_object_new_array();

		if (o->system)
			json_object_array_add(msgs, message("system", o->system));
		json_object_array_add(msgs, message("user", text));
		json_object_object_add(b, "messages", msgs);
	} else {
		json_object_object_add(b, "prompt", json_object_new_string(text));
	}
	json_object_object_add(b, "max_tokens", json_object_new_int(o->max_tokens));
	json_object_object_add(b, "temperature", json_object_new_double(o->temperature));
	json_object_object_add(b, "stream", json_object_new_boolean(1));
	json_object_object_add(so, "include_usage", json_object_new_boolean(1));
	json_object_object_add(b, "stream_options", so);
	so = NULL;
	if (o->ignore_eos)
		json_object_object_add(b, "ignore_eos", json_object_new_boolean(1));
	out = strdup(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
out_free:
	json_object_put(so);
	json_object_put(b);
	free(text);
	return out;
}

/* A chunk with content: the first gives the TTFT, later ones a gap each. */
static void on_content(struct hreq *r, double now)
{
	if (!r->n_content++) {
		r->t_first = now;
	} else if (!bench_grow(&r->gaps, &r->cap_gaps, r->n_gaps + 1)) {
		r->gaps[r->n_gaps++] = now - r->t_prev;
	}
	r->t_prev = now;
}

/* Does choice @c0 of a chunk carry generated text? */
static int has_content(const struct hreq *r, json_object *c0)
{
	json_object *d, *t;

	if (!r->run->o->chat)
		return json_object_object_get_ex(c0, "text", &t) &&
		       json_object_get_string_len(t) > 0;
	if (!json_object_object_get_ex(c0, "delta", &d))
		return 0;
	/* A reasoning model's thinking is generated text too. */
	return (json_object_object_get_ex(d, "content", &t) &&
		json_object_is_type(t, json_type_string) && json_object_get_string_len(t)) ||
	       (json_object_object_get_ex(d, "reasoning_content", &t) &&
		json_object_is_type(t, json_type_string) && json_object_get_string_len(t));
}

static void on_chunk(struct hreq *r, const char *s, double now)
{
	json_object *j = json_tokener_parse(s), *v, *t;

	if (!j || !json_object_is_type(j, json_type_object)) {
		r->failed = 1;
		snprintf(r->err, sizeof(r->err), "a chunk that is not a JSON object: %.80s", s);
		json_object_put(j);
		return;
	}
	if (json_object_object_get_ex(j, "error", &v)) {
		r->failed = 1;
		snprintf(r->err, sizeof(r->err), "error event: %.120s",
			 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
	if (json_object_object_get_ex(j, "usage", &v) && json_object_is_type(v, json_type_object)) {
		if (json_object_object_get_ex(v, "completion_tokens", &t))
			r->usage_gen = json_object_get_int(t);
		if (json_object_object_get_ex(v, "prompt_tokens", &t))
			r->usage_prompt = json_object_get_int(t);
	}
	if (json_object_object_get_ex(j, "choices", &v) &&
	    json_object_is_type(v, json_type_array) && json_object_array_length(v) &&
	    has_content(r, json_object_array_get_idx(v, 0)))
		on_content(r, now);
	json_object_put(j);
}

/* One line of the event stream (without its end of line). */
static void on_line(struct hreq *r, char *s, size_t len, double now)
{
	if (len && s[len - 1] == '\r')
		s[--len] = '\0';
	if (!strncmp(s, "error:", 6)) {
		r->failed = 1;
		snprintf(r->err, sizeof(r->err), "%.150s", s);
		return;
	}
	if (strncmp(s, "data:", 5))
		return;		/* blank lines, comments, event:, id: */
	s += 5 + (s[5] == ' ');
	if (!strcmp(s, "[DONE]"))
		r->done = 1;
	else if (*s)
		on_chunk(r, s, now);
}

/* @k bytes at @p after the @len in @buf, with a '\0' after them: 0 or -1. */
static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t k)
{
	char *q;

	if (*len + k + 1 > *cap) {
		if (!(q = realloc(*buf, (*len + k + 1) * 2)))
			return -1;
		*buf = q;
		*cap = (*len + k + 1) * 2;
	}
	memcpy(*buf + *len, p, k);
	*len += k;
	(*buf)[*len] = '\0';
	return 0;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct hreq *r = arg;
	size_t n = size * nmemb, left = n;
	double now = bench_now();

	if (r->head_len < sizeof(r->head) - 1) {
		size_t k = sizeof(r->head) - 1 - r->head_len;

		k = k < n ? k : n;
		memcpy(r->head + r->head_len, p, k);
		r->head_len += k;
		r->head[r->head_len] = '\0';
	}
	while (left) {
		char *nl = memchr(p, '\n', left);
		size_t k = nl ? (size_t)(nl - p) : left;

		if (append(&r->line, &r->len, &r->cap, p, k))
			return 0;	/* CURLE_WRITE_ERROR */
		if (!nl)
			break;
		on_line(r, r->line, r->len, now);
		r->len = 0;
		p += k + 1;
		left -= k + 1;
	}
	return n;
}

/* Send the client's next request. */
static int start(struct hrun *run, struct hreq *r)
{
	free(r->body);
	r->body = make_body(run, r->client, r->seq);
	if (!r->body)
		return -1;
	r->len = r->head_len = 0;
	r->head[0] = r->err[0] = '\0';
	r->n_gaps = r->n_content = r->done = r->failed = 0;
	r->usage_gen = r->usage_prompt = -1;
	curl_easy_setopt(r->e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(r->e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	r->t0 = bench_now();
	return curl_multi_add_handle(run->multi, r->e) == CURLM_OK ? 0 : -1;
}

static void request_error(struct hrun *run, struct hreq *r, const char *what)
{
	if (run->errors++ < 3)
		bench_progress("kllm-bench http: client %d request %d: %s\n", r->client, r->seq,
			       what);
}

/* Request @r ended with @rc: its samples, or an error. */
static void finish(struct hrun *run, struct hreq *r, CURLcode rc)
{
	long status = 0, tokens;
	char what[400];
	double scale;

	curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status);
	run->t_end = bench_now();
	if (rc != CURLE_OK) {
		snprintf(what, sizeof(what), "%s", curl_easy_strerror(rc));
	} else if (status != 200) {
		snprintf(what, sizeof(what), "HTTP %ld: %.300s", status, r->head);
	} else if (r->failed) {
		snprintf(what, sizeof(what), "%s", r->err);
	} else if (!r->done) {
		snprintf(what, sizeof(what), "the stream ended without data: [DONE]");
	} else {
		what[0] = '\0';
	}
	if (what[0]) {
		request_error(run, r, what);
		return;
	}
	run->ok++;
	tokens = r->usage_gen >= 0 ? r->usage_gen : r->n_content;
	run->no_usage += r->usage_gen < 0;
	run->gen += tokens;
	if (r->usage_prompt >= 0) {
		run->prompt += r->usage_prompt;
		run->n_prompt++;
	}
	if (!r->n_content)
		return;		/* an end of sequence at once: nothing to time */
	if (bench_grow(&run->ttft, &run->cap_ttft, run->n_ttft + 1) ||
	    bench_grow(&run->tok, &run->cap_tok, run->n_tok + r->n_gaps))
		return;
	run->ttft[run->n_ttft++] = r->t_first - r->t0;
	/* Chunks of several tokens: each gap spread over its share of them. */
	scale = tokens >= 2 && r->n_content >= 2 ? (double)(r->n_content - 1) / (tokens - 1) : 1;
	for (int i = 0; i < r->n_gaps; i++)
		run->tok[run->n_tok++] = r->gaps[i] * scale;
}

static int more(const struct hrun *run, const struct hreq *r)
{
	if (run->requests)
		return r->seq + 1 < run->requests;
	return bench_now() - run->t_start < run->o->duration;
}

static int setup(struct hrun *run, struct hreq *r)
{
	const struct hopts *o = run->o;

	r->run = run;
	r->e = curl_easy_init();
	if (!r->e)
		return -1;
	curl_easy_setopt(r->e, CURLOPT_URL, run->url);
	curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, run->hdrs);
	curl_easy_setopt(r->e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(r->e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(r->e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1e3));
	if (o->unix_path)
		curl_easy_setopt(r->e, CURLOPT_UNIX_SOCKET_PATH, o->unix_path);
	return 0;
}

/* Every client's handle done: its messages, a next request, or not. */
static int drain(struct hrun *run, int *active)
{
	struct CURLMsg *msg;
	struct hreq *r;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(run->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct hreq *)priv;
		finish(run, r, msg->data.result);
		curl_multi_remove_handle(run->multi, r->e);
		(*active)--;
		if (!more(run, r))
			continue;
		r->seq++;
		if (start(run, r))
			return -1;
		(*active)++;
	}
	return 0;
}

static int loop(struct hrun *run, struct hreq *reqs, int k)
{
	int active = 0, running;

	run->t_start = bench_now();
	for (int i = 0; i < k; i++) {
		if (start(run, &reqs[i]))
			return -1;
		active++;
	}
	while (active) {
		if (curl_multi_perform(run->multi, &running) != CURLM_OK || drain(run, &active))
			return -1;
		if (active && curl_multi_poll(run->multi, NULL, 0, 100, NULL) != CURLM_OK)
			return -1;
	}
	return 0;
}

static void summarize(struct hrun *run, int k, struct hresult *res)
{
	int reqs = run->ok + run->errors;

	bench_sort(run->ttft, run->n_ttft);
	bench_sort(run->tok, run->n_tok);
	*res = (struct hresult){
		.clients = k, .requests = reqs, .errors = run->errors, .gen_tokens = run->gen,
		.seconds = run->t_end - run->t_start,
		.prompt_mean = run->n_prompt ? (double)run->prompt / run->n_prompt : 0,
		.gen_mean = run->ok ? (double)run->gen / run->ok : 0,
		.ttft_p50 = bench_pct_ms(run->ttft, run->n_ttft, 50),
		.ttft_p99 = bench_pct_ms(run->ttft, run->n_ttft, 99),
		.tok_p50 = bench_pct_ms(run->tok, run->n_tok, 50),
		.tok_p99 = bench_pct_ms(run->tok, run->n_tok, 99),
	};
	res->tps = res->seconds > 0 ? run->gen / res->seconds : 0;
	if (run->no_usage)
		bench_progress("kllm-bench http: %d answers without a usage chunk: their content "
			       "chunks were counted as tokens\n", run->no_usage);
}

static struct curl_slist *headers(const struct hopts *o)
{
	/* No "Expect: 100-continue" wait before a large body. */
	static const char *const fixed[] = { "Content-Type: application/json",
					     "Accept: text/event-stream", "Expect:" };
	struct curl_slist *h = NULL, *n;
	char auth[600];

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!(n = curl_slist_append(h, fixed[i])))
			goto out_free;
		h = n;
	}
	if (o->api_key) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->api_key);
		if (!(n = curl_slist_append(h, auth)))
			goto out_free;
		h = n;
	}
	return h;
out_free:
	curl_slist_free_all(h);
	return NULL;
}

/*
 * One run of @k clients, @requests each (0: for the duration); run @id
 * seeds the prompts.  0, or -1 after a message.
 */
int http_run_once(const struct hopts *o, int k, int requests, unsigned int id,
		  struct hresult *res)
{
	struct hrun run = { .o = o, .id = id, .requests = requests };
	struct hreq *reqs = calloc((size_t)k, sizeof(*reqs));
	int ret = -1;

	snprintf(run.url, sizeof(run.url), "%s/%s", o->url,
		 o->chat ? "chat/completions" : "completions");
	run.multi = curl_multi_init();
	run.hdrs = headers(o);
	if (!reqs || !run.multi || !run.hdrs)
		goto out_free;
	for (int i = 0; i < k; i++) {
		reqs[i].client = i;
		if (setup(&run, &reqs[i]))
			goto out_free;
	}
	if (loop(&run, reqs, k)) {
		fprintf(stderr, "kllm-bench http: libcurl failed (out of memory?)\n");
		goto out_free;
	}
	summarize(&run, k, res);
	ret = 0;
out_free:
	if (ret)
		fprintf(stderr, "kllm-bench http: cannot set up %d clients\n", k);
	for (int i = 0; reqs && i < k; i++) {
		if (reqs[i].e) {
			curl_multi_remove_handle(run.multi, reqs[i].e);
			curl_easy_cleanup(reqs[i].e);
		}
		free(reqs[i].body);
		free(reqs[i].line);
		free(reqs[i].gaps);
	}
	free(reqs);
	free(run.ttft);
	free(run.tok);
	curl_slist_free_all(run.hdrs);
	if (run.multi)
		curl_multi_cleanup(run.multi);
	return ret;
}

/* ------------------------------------------------------------ the model */

/* The whole answer, in a struct hreq's line buffer. */
static size_t on_models(char *p, size_t size, size_t nmemb, void *arg)
{
	struct hreq *r = arg;
	size_t n = size * nmemb;

	return r->len + n <= (1u << 20) && !append(&r->line, &r->len, &r->cap, p, n) ? n : 0;
}

/* data[0].id of GET BASE/models, into @name; 0 or -1 after a message. */
int http_first_model(const struct hopts *o, char *name, size_t size)
{
	struct curl_slist *h = headers(o);
	struct hreq m = { .line = NULL };
	json_object *j = NULL, *data, *id;
	char url[512];
	long status = 0;
	CURL *e = curl_easy_init();
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int ret = -1;

	snprintf(url, sizeof(url), "%s/models", o->url);
	if (e && h) {
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_models);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &m);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1e3));
		if (o->unix_path)
			curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, o->unix_path);
		rc = curl_easy_perform(e);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	}
	if (rc == CURLE_OK && status == 200 && m.line && (j = json_tokener_parse(m.line)) &&
	    json_object_object_get_ex(j, "data", &data) &&
	    json_object_is_type(data, json_type_array) && json_object_array_length(data) &&
	    json_object_object_get_ex(json_object_array_get_idx(data, 0), "id", &id) &&
	    json_object_is_type(id, json_type_string)) {
		snprintf(name, size, "%s", json_object_get_string(id));
		ret = 0;
	} else if (rc != CURLE_OK) {
		fprintf(stderr, "kllm-bench http: GET %s: %s\n", url, curl_easy_strerror(rc));
	} else {
		fprintf(stderr, "kllm-bench http: GET %s: HTTP %ld, no model in the answer "
			"(give -m NAME)\n", url, status);
	}
	json_object_put(j);
	free(m.line);
	curl_slist_free_all(h);
	if (e)
		curl_easy_cleanup(e);
	return ret;
}

#endif /* KLLM_HAVE_SERVE */
