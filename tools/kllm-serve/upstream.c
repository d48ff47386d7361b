// SPDX-License-Identifier: MIT
/*
 * upstream.c - kllm-serve's cloud hand-off: a request routed to the cloud
 * is relayed with libcurl to an OpenAI-compatible upstream
 * (cfg->upstream.base_url + "/chat/completions" or "/completions").
 *
 * Each relay runs on a detached thread of its own, counted so that
 * shutdown can wait for the relays in flight (and abort the ones that
 * outlast the grace).  The body forwarded is the client's parsed body,
 * copied, less kllm's own fields ("route", "priority"), with "model"
 * mapped through the config's name map; the header list is built from
 * scratch (Content-Type and the upstream key), so nothing of the client's
 * (its Authorization above all) reaches the upstream.
 *
 * The upstream's answer is relayed as it arrives: its status and content
 * type once the first body byte is there (sv_out_raw_begin), then the
 * bytes (sv_out_raw), then sv_out_raw_end.  A failure before the first
 * byte (no connection, a timeout, a 5xx answer) is a 502 with OpenAI's
 * error JSON, unless the request's route is "auto" and its model is served
 * locally: then it runs on the local engine after all.  After the first
 * byte, sv_out_error ends the stream with an error event (no [DONE]).
 * Upstream answers below 500 (a 4xx) are relayed as they are.  The key
 * never appears in a log line or an error message: only curl's error text
 * (which never holds headers), the status, byte count and time are
 * reported, with the count of relays in flight.
 */
#define _GNU_SOURCE
#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#ifndef KLLM_VERSION
#define KLLM_VERSION "0"
#endif

#define UP_STACK_SIZE	(512 * 1024)	/* curl + TLS need far less */
#define UP_GRACE_S	10		/* shutdown: relays may finish this long */
#define UP_ABORT_S	5		/* then: aborted relays must be gone */
/*
 * Backpressure: a relay stops reading the upstream while more than this
 * is queued for its client and unread (libcurl then stops reading the
 * socket, and TCP slows the upstream); it checks for a client gone or a
 * shutdown every UP_ROOM_MS meanwhile.
 */
#define UP_QUEUE_MAX	(256u << 10)
#define UP_ROOM_MS	100

/* The upstream's settings, copied at init (the key's bytes included). */
static struct {
	char *base_url;			/* without a trailing '/' */
	char *auth;			/* "Authorization: Bearer KEY", or NULL */
	char **map_from, **map_to;
	size_t n_map;
	long timeout_s;
	long connect_timeout_ms;
} up;

/* Relays in flight; shutdown waits for in_flight to reach zero. */
static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t up_idle = PTHREAD_COND_INITIALIZER;
static int up_enabled;		/* configured and not shut down */
static int up_closing;		/* shutdown began: no new relay */
static int up_stopping;		/* shutdown gave up waiting: abort */
static unsigned up_in_flight;

/* One relay's state, owned by its thread. */
struct relay {
	struct sv_out *o;
	char *body;			/* the JSON forwarded */
	size_t body_len;
	char url[1024];
	char model[SV_NAME_MAX];	/* the upstream's name, for the log */
	uint64_t id;			/* the request's, for the log */
	int stream;
	CURL *curl;
	int begun;			/* sv_out_raw_begin called */
	int aborted;			/* a callback stopped the transfer */
	int may_fallback;		/* auto, and the model is local */
	int refused;			/* a 5xx swallowed to answer locally */
	long status;
	size_t bytes;
	double t0;
	char err[CURL_ERROR_SIZE];
};

/* ------------------------------------------------------------ settings */

static void up_free(void)
{
	free(up.base_url);
	if (up.auth) {
		/* The key's bytes do not outlive the relay. */
		memset(up.auth, 0, strlen(up.auth));
		free(up.auth);
	}
	for (size_t i = 0; i < up.n_map; i++) {
		free(up.map_from[i]);
		free(up.map_to[i]);
	}
	free(up.map_from);
	free(up.map_to);
	memset(&up, 0, sizeof(up));
}

/* "Authorization: Bearer KEY" from the key's bytes (trailing space cut). */
static int up_auth_header(const char *key)
{
	size_t n = strlen(key);
	static const char pfx[] = "Authorization: Bearer ";

	while (n && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' ' ||
		     key[n - 1] == '\t'))
		n--;
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return -EINVAL;	/* no header injection */
	up.auth = malloc(sizeof(pfx) + n);
	if (!up.auth)
		return -ENOMEM;
	memcpy(up.auth, pfx, sizeof(pfx) - 1);
	memcpy(up.auth + sizeof(pfx) - 1, key, n);
	up.auth[sizeof(pfx) - 1 + n] = '\0';
	return 0;
}

static int up_copy_map(const struct sv_upstream_cfg *cfg)
{
	if (!cfg->n_map)
		return 0;
	up.map_from = calloc(cfg->n_map, sizeof(*up.map_from));
	up.map_to = calloc(cfg->n_map, sizeof(*up.map_to));
	if (!up.map_from || !up.map_to)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_map; i++) {
		up.map_from[i] = strdup(cfg->map_from[i]);
		up.map_to[i] = strdup(cfg->map_to[i]);
		up.n_map = i + 1;
		if (!up.map_from[i] || !up.map_to[i])
			return -ENOMEM;
	}
	return 0;
}

int sv_upstream_init(const struct sv_upstream_cfg *cfg)
{
	const char *url = cfg->base_url;
	size_t n;
	int err;

	if (!url || !*url)
		return 0;	/* no upstream: cloud requests get an error */
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		fprintf(stderr, "kllm-serve: upstream URL must be http:// or https://\n");
		return -EINVAL;
	}
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	if (n > 900) {
		fprintf(stderr, "kllm-serve: upstream URL too long\n");
		return -EINVAL;
	}
	up.base_url = strndup(url, n);
	if (!up.base_url) {
		err = -ENOMEM;
		goto free_up;
	}
	if (cfg->key) {
		err = up_auth_header(cfg->key);
		if (err == -EINVAL)
			fprintf(stderr, "kllm-serve: upstream key holds control characters\n");
		if (err)
			goto free_up;
	}
	err = up_copy_map(cfg);
	if (err)
		goto free_up;
	up.timeout_s = cfg->timeout_s;
	up.connect_timeout_ms = cfg->connect_timeout_ms;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "kllm-serve: curl_global_init failed\n");
		err = -EIO;
		goto free_up;
	}
	pthread_mutex_lock(&up_lock);
	up_closing = 0;
	up_stopping = 0;
	up_enabled = 1;
	pthread_mutex_unlock(&up_lock);
	return 0;

free_up:
	up_free();
	return err;
}

int sv_upstream_enabled(void)
{
	int on;

	pthread_mutex_lock(&up_lock);
	on = up_enabled && !up_closing;
	pthread_mutex_unlock(&up_lock);
	return on;
}

/* A relay ended (or never started): shutdown may go on once none is left. */
static void up_release(void)
{
	pthread_mutex_lock(&up_lock);
	if (!--up_in_flight)
		pthread_cond_broadcast(&up_idle);
	pthread_mutex_unlock(&up_lock);
}

/* Waits until no relay is in flight or @secs passed; 1 when none is. */
static int up_wait_idle(unsigned secs)
{
	struct timespec until;
	int idle;

	sv_deadline(&until, secs * 1000);
	pthread_mutex_lock(&up_lock);
	while (up_in_flight &&
	       pthread_cond_timedwait(&up_idle, &up_lock, &until) != ETIMEDOUT)
		;
	idle = !up_in_flight;
	pthread_mutex_unlock(&up_lock);
	return idle;
}

void sv_upstream_shutdown(void)
{
	pthread_mutex_lock(&up_lock);
	if (!up_enabled || up_closing) {
		pthread_mutex_unlock(&up_lock);
		return;
	}
	up_closing = 1;
	pthread_mutex_unlock(&up_lock);
	/* Relays end on their own (sv_out_cancelled is set at shutdown). */
	if (!up_wait_idle(UP_GRACE_S)) {
		pthread_mutex_lock(&up_lock);
		up_stopping = 1;
		pthread_mutex_unlock(&up_lock);
		if (!up_wait_idle(UP_ABORT_S)) {
			/* A thread still uses curl and the settings: leave them. */
			sv_log("warn", "upstream_shutdown", "relays still in flight");
			return;
		}
	}
	pthread_mutex_lock(&up_lock);
	up_enabled = 0;
	pthread_mutex_unlock(&up_lock);
	curl_global_cleanup();
	up_free();
}

/* ------------------------------------------------------------ the body */

static const char *up_map_model(const char *name)
{
	for (size_t i = 0; i < up.n_map; i++)
		if (!strcmp(name, up.map_from[i]))
			return up.map_to[i];
	return name;
}

/* The JSON sent upstream: the client's body less kllm's fields, mapped. */
static int relay_body(struct relay *r, const struct sv_req *req)
{
	struct json_object *copy = NULL, *model;
	const char *s;

	if (!req->body || json_object_deep_copy(req->body, &copy, NULL) || !copy)
		return -ENOMEM;
	json_object_object_del(copy, "route");
	json_object_object_del(copy, "priority");
	if (json_object_object_get_ex(copy, "model", &model) &&
	    json_object_is_type(model, json_type_string)) {
		const char *to = up_map_model(json_object_get_string(model));

		snprintf(r->model, sizeof(r->model), "%s", to);
		if (to != json_object_get_string(model))
			json_object_object_add(copy, "model", json_object_new_string(to));
	}
	s = json_object_to_json_string_length(copy, JSON_C_TO_STRING_PLAIN, &r->body_len);
	r->body = s ? strdup(s) : NULL;
	json_object_put(copy);
	return r->body ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------ libcurl */

static int relay_stop(struct relay *r)
{
	int stop;

	if (sv_out_cancelled(r->o))
		return 1;
	pthread_mutex_lock(&up_lock);
	stop = up_stopping;
	pthread_mutex_unlock(&up_lock);
	return stop;
}

static void relay_begin(struct relay *r)
{
	char *ctype = NULL;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(r->curl, CURLINFO_CONTENT_TYPE, &ctype);
	if (!ctype || !*ctype)
		ctype = r->stream ? "text/event-stream" : "application/json";
	sv_out_raw_begin(r->o, (int)r->status, ctype);
	r->begun = 1;
}

static size_t relay_write(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct relay *r = arg;
	size_t n = size * nmemb;

	if (relay_stop(r)) {
		r->aborted = 1;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	if (!r->begun) {
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->status >= 500 && r->may_fallback) {
			r->refused = 1;	/* answered locally instead */
			return 0;
		}
		relay_begin(r);
	}
	while (!sv_out_room(r->o, UP_QUEUE_MAX, UP_ROOM_MS)) {
		if (relay_stop(r)) {
			r->aborted = 1;
			return 0;
		}
	}
	if (n)
		sv_out_raw(r->o, buf, n);
	r->bytes += n;
	return n;
}

static int relay_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			  curl_off_t ultotal, curl_off_t ulnow)
{
	struct relay *r = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (relay_stop(r)) {
		r->aborted = 1;
		return 1;	/* CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

static struct curl_slist *relay_headers(void)
{
	struct curl_slist *h = NULL, *t;
	static const char *const fixed[] = {
		"Content-Type: application/json",
		"Expect:",	/* no 100-continue round trip */
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		t = curl_slist_append(h, fixed[i]);
		if (!t)
			goto free_list;
		h = t;
	}
	if (up.auth) {
		t = curl_slist_append(h, up.auth);
		if (!t)
			goto free_list;
		h = t;
	}
	return h;

free_list:
	curl_slist_free_all(h);
	return NULL;
}

static CURLcode relay_perform(struct relay *r, struct curl_slist *hdrs)
{
	CURL *c = r->curl;

	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kllm-serve/" KLLM_VERSION);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, up.timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, up.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, relay_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, relay_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->err);
	return curl_easy_perform(c);
}

/*
 * An auto request (its model served locally) that the upstream failed
 * before the first byte runs on the local engine after all: the policy
 * allows it.  1 when the engine took it.
 */
static int relay_fallback(struct relay *r)
{
	const char *why = NULL;
	uint32_t n_prompt = 0;

	if (!r->may_fallback)
		return 0;
	sv_out_set_route(r->o, SV_ROUTE_LOCAL);
	if (!sv_engine_submit(r->o, 0, &n_prompt, &why))
		return 1;
	sv_out_set_route(r->o, SV_ROUTE_CLOUD);
	return 0;
}

/* Ends @r->o after the transfer; returns the outcome for the log. */
static const char *relay_end(struct relay *r, CURLcode res)
{
	char msg[256];

	if (r->aborted) {
		/* The client left (nobody reads this) or shutdown: a clean end. */
		sv_out_error(r->o, 503, "server_error", "shutting_down",
			     "the server is shutting down", 0);
		return "cancelled";
	}
	if (!r->begun)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (res == CURLE_OK && (r->begun || r->status < 500 || !r->may_fallback)) {
		if (!r->begun)
			relay_begin(r);	/* an empty body */
		sv_out_raw_end(r->o);
		return "ok";
	}
	if (r->begun) {
		snprintf(msg, sizeof(msg), "the upstream connection failed: %s",
			 res == CURLE_OPERATION_TIMEDOUT ? "timed out" : curl_easy_strerror(res));
		sv_out_error(r->o, 502, "upstream_error", "upstream_interrupted", msg, 0);
		return "interrupted";
	}
	/* Nothing relayed yet: the upstream is down, or said 5xx. */
	if (r->refused)
		snprintf(r->err, sizeof(r->err), "the upstream answered %ld", r->status);
	if (relay_fallback(r))
		return "fallback_local";
	if (r->refused || res == CURLE_OK)
		snprintf(msg, sizeof(msg), "the upstream answered with status %ld", r->status);
	else
		snprintf(msg, sizeof(msg), "the upstream is unavailable: %s",
			 res == CURLE_OPERATION_TIMEDOUT ? "timed out" : curl_easy_strerror(res));
	sv_out_error(r->o, 502, "upstream_error", "upstream_unavailable", msg, 0);
	return "unavailable";
}

/* @src as a log value inside double quotes: \" and \\ escaped, controls '?'. */
static void log_quote(char *dst, size_t n, const char *src)
{
	size_t k = 0;

	for (; *src && k + 3 < n; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == '"' || c == '\\')
			dst[k++] = '\\';
		dst[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[k] = '\0';
}

static void relay_done(struct relay *r, const char *outcome)
{
	char model[2 * SV_NAME_MAX], err[2 * CURL_ERROR_SIZE];
	unsigned left;

	pthread_mutex_lock(&up_lock);
	left = up_in_flight - 1;
	pthread_mutex_unlock(&up_lock);
	log_quote(model, sizeof(model), r->model);
	log_quote(err, sizeof(err), r->err);
	sv_log(strcmp(outcome, "ok") ? "warn" : "info", "upstream",
	       "id=%llu outcome=%s status=%ld bytes=%zu ms=%.0f model=\"%s\" stream=%d "
	       "in_flight=%u%s%s%s", (unsigned long long)r->id, outcome, r->status, r->bytes,
	       (sv_now() - r->t0) * 1e3, model, r->stream, left,
	       err[0] ? " error=\"" : "", err, err[0] ? "\"" : "");
	sv_out_put(r->o);
	free(r->body);
	free(r);
	/* Last: shutdown may free the settings once in_flight is zero. */
	up_release();
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct curl_slist *hdrs;
	CURLcode res = CURLE_OUT_OF_MEMORY;
	const char *outcome;

	sv_out_set_route(r->o, SV_ROUTE_CLOUD);
	hdrs = relay_headers();
	r->curl = curl_easy_init();
	if (hdrs && r->curl)
		res = relay_perform(r, hdrs);
	else
		snprintf(r->err, sizeof(r->err), "out of memory");
	outcome = relay_end(r, res);
	curl_easy_cleanup(r->curl);
	curl_slist_free_all(hdrs);
	relay_done(r, outcome);
	return NULL;
}

/* ------------------------------------------------------------ start */

static int relay_spawn(struct relay *r)
{
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, UP_STACK_SIZE);
	err = pthread_create(&tid, &attr, relay_main, r);
	pthread_attr_destroy(&attr);
	return -err;
}

int sv_upstream_start(struct sv_out *o)
{
	struct sv_req *req = sv_out_req(o);
	struct sv_model_info info;
	struct relay *r;
	int err;

	/* Counted first: shutdown keeps the settings while this runs. */
	pthread_mutex_lock(&up_lock);
	err = !up_enabled ? -ENODEV : up_closing ? -ESHUTDOWN : 0;
	if (!err)
		up_in_flight++;
	pthread_mutex_unlock(&up_lock);
	if (err)
		return err;

	err = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto release;
	r->o = o;
	r->id = req->id;
	r->stream = req->stream;
	r->may_fallback = req->route == SV_ROUTE_AUTO && !req->app.pol->local_only &&
			  !sv_model_find(req->model, &info);
	r->t0 = sv_now();
	snprintf(r->model, sizeof(r->model), "%s", req->model);
	snprintf(r->url, sizeof(r->url), "%s%s", up.base_url,
		 req->chat ? "/chat/completions" : "/completions");
	err = relay_body(r, req);
	if (err)
		goto free_relay;
	sv_out_get(o);
	err = relay_spawn(r);
	if (err)
		goto put_out;
	return 0;

put_out:
	sv_out_put(o);
free_relay:
	free(r->body);
	free(r);
release:
	up_release();
	return err;
}
