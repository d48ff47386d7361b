// SPDX-License-Identifier: MIT
/*
 * out.c - struct sv_out, a request's output channel.  Producers (the
 * engine's thread, an upstream relay thread, a dispatcher) write into it;
 * the HTTP side (libmicrohttpd's thread) reads the response's head and
 * then its body from it.
 *
 * A non-stream request's tokens are gathered and turned into one OpenAI
 * JSON object when it finishes; a stream's become SSE events at once in a
 * byte queue.  Relayed upstream bytes go to the queue unchanged.  (The
 * engine records the token, TTFT and per-token metrics itself.)
 *
 * Wake-ups: when the reader finds nothing to do it "arms" the channel and
 * suspends its connection under the channel's lock (sv_out_head/read); a
 * producer that adds something and finds the channel armed disarms it and
 * runs the waker (MHD_resume_connection) after dropping the lock.  As
 * both happen under the lock no wake-up is lost, and a suspended
 * connection cannot go away before its waker ran.
 *
 * Backpressure: a relay waits (sv_out_room) while its queue holds more
 * unread bytes than it allows, so a slow client slows the upstream down
 * instead of growing the queue; the reader signals @room as it drains.
 * The queue moves its unread bytes to the front before it grows, so a
 * client that keeps reading never lets it grow past what it holds unread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_int.h"

enum { ST_PENDING, ST_BUFFER, ST_STREAM };

struct sv_out {
	pthread_mutex_t lock;
	pthread_cond_t room;		/* the reader drained the queue */
	int refs;
	struct sv_req *req;
	enum sv_endpoint ep;
	uint64_t created;
	int state;
	int ended;			/* the producer's last call came */
	int eof;			/* nothing more joins the queue */
	int cancelled;			/* the client went away */
	int stopping;			/* shutdown ended it */
	struct sv_out_head head;
	char *body;			/* ST_BUFFER */
	size_t body_len;
	char *q;			/* ST_STREAM: bytes not read yet */
	size_t q_off, q_len, q_cap;
	char *text;			/* non-stream: the answer so far */
	size_t text_len, text_cap;
	size_t offset;			/* text bytes produced (text_offset) */
	struct json_object *lp;		/* non-stream logprobs */
	uint32_t n_tokens;
	int sent_first;			/* a stream's first chunk went out */
	int armed;
	void (*wake)(void *);
	void *wake_arg;
};

struct sv_out *sv_out_new(struct sv_req *req, enum sv_endpoint ep)
{
	struct sv_out *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->room, NULL);
	o->refs = 1;
	o->req = req;
	o->ep = ep;
	o->created = (uint64_t)time(NULL);
	o->head.route = SV_ROUTE_LOCAL;
	return o;
}

void sv_out_get(struct sv_out *o)
{
	__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
}

void sv_out_put(struct sv_out *o)
{
	if (!o || __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL))
		return;
	sv_req_free(o->req);
	free(o->body);
	free(o->q);
	free(o->text);
	if (o->lp)
		json_object_put(o->lp);
	pthread_cond_destroy(&o->room);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

struct sv_req *sv_out_req(struct sv_out *o)
{
	return o->req;
}

enum sv_endpoint sv_out_endpoint(const struct sv_out *o)
{
	return o->ep;
}

int sv_out_cancelled(const struct sv_out *o)
{
	return __atomic_load_n(&o->cancelled, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&o->stopping, __ATOMIC_RELAXED);
}

void sv_out_set_route(struct sv_out *o, enum sv_route r)
{
	pthread_mutex_lock(&o->lock);
	o->head.route = r;
	o->head.routed = 1;
	pthread_mutex_unlock(&o->lock);
}

enum sv_route sv_out_route(struct sv_out *o, int *routed)
{
	enum sv_route r;

	pthread_mutex_lock(&o->lock);
	r = o->head.route;
	if (routed)
		*routed = o->head.routed;
	pthread_mutex_unlock(&o->lock);
	return r;
}

/* Drop the lock and wake the reader if it waits. */
static void unlock_wake(struct sv_out *o)
{
	void (*fn)(void *) = NULL;
	void *arg = NULL;

	if (o->armed && o->wake) {
		o->armed = 0;
		fn = o->wake;
		arg = o->wake_arg;
	}
	pthread_mutex_unlock(&o->lock);
	if (fn)
		fn(arg);
}

static int grow(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 1024;
	char *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static void push(struct sv_out *o, const char *s, size_t n)
{
	if (o->q_off == o->q_len)
		o->q_off = o->q_len = 0;
	if (o->q_off && o->q_len + n > o->q_cap) {
		/* the unread bytes to the front before growing */
		memmove(o->q, o->q + o->q_off, o->q_len - o->q_off);
		o->q_len -= o->q_off;
		o->q_off = 0;
	}
	if (grow(&o->q, &o->q_cap, o->q_len + n))
		return;		/* out of memory: the event is lost */
	memcpy(o->q + o->q_len, s, n);
	o->q_len += n;
}

/* One SSE event "data: JSON\n\n"; @json is consumed. */
static void push_event(struct sv_out *o, char *json, size_t len)
{
	if (!json)
		return;
	push(o, "data: ", 6);
	push(o, json, len);
	push(o, "\n\n", 2);
	free(json);
}

static void start_stream(struct sv_out *o, int status, const char *ctype)
{
	o->state = ST_STREAM;
	o->head.status = status;
	snprintf(o->head.content_type, sizeof(o->head.content_type), "%s", ctype);
}

static void set_buffer(struct sv_out *o, int status, char *body, size_t len)
{
	o->state = ST_BUFFER;
	o->head.status = status;
	snprintf(o->head.content_type, sizeof(o->head.content_type), "application/json");
	o->body = body;
	o->body_len = len;
	o->eof = 1;
}

void sv_out_token(struct sv_out *o, const struct sv_token *t)
{
	struct sv_req *r = o->req;
	struct json_object *lp = NULL;
	int news = 0;

	pthread_mutex_lock(&o->lock);
	if (o->ended || o->cancelled) {
		pthread_mutex_unlock(&o->lock);
		return;
	}
	o->n_tokens++;
	if (r->stream) {
		if (o->state == ST_PENDING)
			start_stream(o, 200, "text/event-stream");
		if (r->logprobs && t->has_logprob) {
			lp = api_logprobs_new(r->chat);
			api_logprobs_add(lp, r->chat, t, o->offset);
		}
		if (t->len || lp || !o->sent_first) {
			size_t n;
			char *js = api_chunk(r, o->created, t->text, t->len, lp, NULL,
					     !o->sent_first, NULL, &n);

			push_event(o, js, n);
			o->sent_first = 1;
			news = 1;
		}
	} else {
		if (r->logprobs && t->has_logprob) {
			if (!o->lp)
				o->lp = api_logprobs_new(r->chat);
			api_logprobs_add(o->lp, r->chat, t, o->offset);
		}
		if (!grow(&o->text, &o->text_cap, o->text_len + t->len + 1)) {
			memcpy(o->text + o->text_len, t->text, t->len);
			o->text_len += t->len;
			o->text[o->text_len] = '\0';
		}
	}
	o->offset += t->len;
	/* a non-stream answer waits for the finish: nothing to wake for */
	if (news)
		unlock_wake(o);
	else
		pthread_mutex_unlock(&o->lock);
}

/* The error, with the lock held. */
static void error_locked(struct sv_out *o, int status, const char *type, const char *code,
			 const char *msg, int retry_after_s)
{
	size_t n;
	char *js = api_error_json(type, code, msg, NULL, &n);

	o->ended = 1;
	if (o->state == ST_PENDING) {
		o->head.retry_after_s = retry_after_s;
		set_buffer(o, status, js, n);
	} else {
		push_event(o, js, n);
		o->eof = 1;
	}
}

void sv_out_finish(struct sv_out *o, enum sv_finish why, const struct sv_usage *u)
{
	struct sv_req *r = o->req;
	struct sv_usage usage = { 0, 0, 0 };
	size_t n;
	char *js;

	pthread_mutex_lock(&o->lock);
	if (o->ended) {
		pthread_mutex_unlock(&o->lock);
		return;
	}
	if (why == SV_FINISH_CANCELLED) {
		/* Cut short by a shutdown or an engine failure (a client that
		 * left reads nothing more): a 503, or an error event and no
		 * [DONE] once a stream started, never a normal end. */
		error_locked(o, 503, "server_error", "cancelled",
			     "The request was cut short (the server is shutting down); retry.", 5);
		unlock_wake(o);
		return;
	}
	o->ended = 1;
	if (u)
		usage = *u;
	else
		usage.completion_tokens = o->n_tokens;
	if (r->stream) {
		if (o->state == ST_PENDING)
			start_stream(o, 200, "text/event-stream");
		if (!o->sent_first) {
			js = api_chunk(r, o->created, "", 0, NULL, NULL, 1, NULL, &n);
			push_event(o, js, n);
		}
		js = api_chunk(r, o->created, "", 0, NULL, api_finish_name(why), 0, NULL, &n);
		push_event(o, js, n);
		if (r->include_usage) {
			js = api_chunk(r, o->created, NULL, 0, NULL, NULL, 0, &usage, &n);
			push_event(o, js, n);
		}
		push(o, "data: [DONE]\n\n", 14);
		o->eof = 1;
	} else if (o->state == ST_PENDING) {
		js = api_response(r, o->created, o->text ? o->text : "", o->text_len, o->lp, why,
				  &usage, &n);
		o->lp = NULL;
		if (js)
			set_buffer(o, 200, js, n);
		else
			set_buffer(o, 500, api_error_json("server_error", "internal_error",
				   "out of memory formatting the response", NULL, &o->body_len),
				   o->body_len);
	}
	unlock_wake(o);
}


void sv_out_error(struct sv_out *o, int status, const char *type, const char *code,
		  const char *msg, int retry_after_s)
{
	pthread_mutex_lock(&o->lock);
	if (o->ended) {
		pthread_mutex_unlock(&o->lock);
		return;
	}
	error_locked(o, status, type, code, msg, retry_after_s);
	unlock_wake(o);
}

void sv_out_raw_begin(struct sv_out *o, int status, const char *content_type)
{
	pthread_mutex_lock(&o->lock);
	if (!o->ended && o->state == ST_PENDING)
		start_stream(o, status, content_type ? content_type : "application/octet-stream");
	unlock_wake(o);
}

void sv_out_raw(struct sv_out *o, const void *buf, size_t n)
{
	pthread_mutex_lock(&o->lock);
	if (o->ended || o->cancelled) {
		pthread_mutex_unlock(&o->lock);
		return;
	}
	if (o->state == ST_PENDING)
		start_stream(o, 200, "text/event-stream");
	push(o, buf, n);
	unlock_wake(o);
}

int sv_out_room(struct sv_out *o, size_t max, unsigned ms)
{
	struct timespec until;
	int room;

	sv_deadline(&until, ms);
	pthread_mutex_lock(&o->lock);
	for (;;) {
		room = o->q_len - o->q_off <= max || o->ended || o->cancelled ||
		       __atomic_load_n(&o->stopping, __ATOMIC_RELAXED);
		if (room || pthread_cond_timedwait(&o->room, &o->lock, &until))
			break;
	}
	pthread_mutex_unlock(&o->lock);
	return room;
}

void sv_out_raw_end(struct sv_out *o)
{
	pthread_mutex_lock(&o->lock);
	if (o->ended) {
		pthread_mutex_unlock(&o->lock);
		return;
	}
	if (o->state == ST_PENDING) {
		error_locked(o, 502, "upstream_error", "upstream_unavailable",
			     "the upstream sent no response", 0);
	} else {
		o->ended = 1;
		o->eof = 1;
	}
	unlock_wake(o);
}

/* ------------------------------------------------------------------ */
/* The HTTP side                                                        */

int sv_out_head(struct sv_out *o, struct sv_out_head *h, char **body, size_t *len,
		void (*suspend)(void *), void *arg)
{
	pthread_mutex_lock(&o->lock);
	if (o->state == ST_PENDING) {
		o->armed = 1;
		suspend(arg);
		pthread_mutex_unlock(&o->lock);
		return -EAGAIN;
	}
	*h = o->head;
	h->stream = o->state == ST_STREAM;
	*body = NULL;
	*len = 0;
	if (o->state == ST_BUFFER) {
		*body = o->body;
		*len = o->body_len;
		o->body = NULL;
	}
	pthread_mutex_unlock(&o->lock);
	return 0;
}

ssize_t sv_out_read(struct sv_out *o, char *buf, size_t max, void (*suspend)(void *), void *arg)
{
	size_t n;

	pthread_mutex_lock(&o->lock);
	if (o->cancelled) {
		pthread_mutex_unlock(&o->lock);
		return -2;
	}
	n = o->q_len - o->q_off;
	if (n) {
		if (n > max)
			n = max;
		memcpy(buf, o->q + o->q_off, n);
		o->q_off += n;
		pthread_cond_broadcast(&o->room);
		pthread_mutex_unlock(&o->lock);
		return (ssize_t)n;
	}
	if (o->eof) {
		pthread_mutex_unlock(&o->lock);
		return -1;
	}
	o->armed = 1;
	suspend(arg);
	pthread_mutex_unlock(&o->lock);
	return 0;
}

void sv_out_set_waker(struct sv_out *o, void (*wake)(void *), void *arg)
{
	pthread_mutex_lock(&o->lock);
	o->wake = wake;
	o->wake_arg = arg;
	if (!wake)
		o->armed = 0;
	pthread_mutex_unlock(&o->lock);
}

void sv_out_cancel(struct sv_out *o)
{
	pthread_mutex_lock(&o->lock);
	__atomic_store_n(&o->cancelled, 1, __ATOMIC_RELAXED);
	o->wake = NULL;
	o->armed = 0;
	pthread_cond_broadcast(&o->room);
	pthread_mutex_unlock(&o->lock);
}

void sv_out_hangup(struct sv_out *o)
{
	__atomic_store_n(&o->stopping, 1, __ATOMIC_RELAXED);
}

void sv_out_abort(struct sv_out *o)
{
	pthread_mutex_lock(&o->lock);
	__atomic_store_n(&o->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&o->room);
	if (!o->ended)
		error_locked(o, 503, "server_error", "shutting_down",
			     "the server is shutting down", 0);
	else
		o->eof = 1;
	unlock_wake(o);
}
