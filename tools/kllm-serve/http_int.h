/* SPDX-License-Identifier: MIT */
/*
 * http_int.h - kllm-serve's HTTP side among its own files (http.c,
 * out.c, api.c, route.c, main.c): the output channel's reader calls, the
 * OpenAI JSON formatting and the listener start/stop.  The other parts
 * (models.c, engine.c, upstream.c) use serve.h only.
 */
#ifndef KLLM_SERVE_HTTP_INT_H
#define KLLM_SERVE_HTTP_INT_H

#include <stdio.h>
#include <sys/types.h>

#include "serve.h"

/* Default limits (main.c's options and the config file can change them). */
#define SV_MAX_BODY_DEFAULT	(1u << 20)	/* 1 MiB: 413 beyond */
#define SV_MAX_CONNS_DEFAULT	1024
#define SV_CONN_TIMEOUT_DEFAULT	600		/* seconds, as llama-server */
#define SV_SHUTDOWN_GRACE	10		/* seconds in-flight requests get */

/* ------------------------------------------------------------------ */
/* config.c helpers (main.c's options use them too)                    */

/* Keys of @path (every non-empty line with @all, else the first) appended
 * to @v / @n; 0 or -errno after a message. */
int sv_config_read_keys(const char *path, int all, char ***v, size_t *n);
/* "123", "64k", "2G" (x1024) -> bytes; -1 when malformed. */
int64_t sv_config_size(const char *s);

/* ------------------------------------------------------------------ */
/* out.c: the HTTP side of struct sv_out                               */

/* A new channel answering @req (owned from now on) at endpoint @ep; one
 * reference, the connection's. */
struct sv_out *sv_out_new(struct sv_req *req, enum sv_endpoint ep);

/* What the response starts with, once the producer decided it. */
struct sv_out_head {
	int status;
	char content_type[64];
	int retry_after_s;		/* > 0: Retry-After */
	enum sv_route route;
	int routed;			/* sv_out_set_route was called */
	int stream;			/* body comes with sv_out_read */
};

/*
 * 0 and @h once the head is decided; for a complete (non-stream) answer
 * *body / *len get the malloc'd body (the caller frees it).  Else -EAGAIN
 * after calling @suspend(@arg) under the channel's lock: the next
 * producer call runs the waker (sv_out_set_waker).
 */
int sv_out_head(struct sv_out *o, struct sv_out_head *h, char **body, size_t *len,
		void (*suspend)(void *), void *arg);
/*
 * Up to @max queued bytes into @buf: > 0 bytes, 0 when nothing is queued
 * yet (after @suspend(@arg) under the lock), -1 at the end, -2 when the
 * channel was cancelled (drop the connection).
 */
ssize_t sv_out_read(struct sv_out *o, char *buf, size_t max, void (*suspend)(void *), void *arg);
/* @wake(@arg) resumes a connection suspended by sv_out_head/read; NULL: none. */
void sv_out_set_waker(struct sv_out *o, void (*wake)(void *), void *arg);
/* The client went away: producers see sv_out_cancelled() and stop. */
void sv_out_cancel(struct sv_out *o);
/* The client hung up while its connection was suspended: producers stop
 * (sv_out_cancelled), the reader still gets the end and is woken. */
void sv_out_hangup(struct sv_out *o);
/* Shutdown: end a channel still open with a 503 (or end its stream). */
void sv_out_abort(struct sv_out *o);
enum sv_route sv_out_route(struct sv_out *o, int *routed);
enum sv_endpoint sv_out_endpoint(const struct sv_out *o);

/* ------------------------------------------------------------------ */
/* api.c: OpenAI JSON                                                  */

/*
 * Parse a completion request body into @r (zeroed by the caller).
 * @hdr_prio / @hdr_route: the X-Priority / X-Kllm-Route headers (NULL:
 * absent; the body's fields win).  0, or -EINVAL with @why (and @param,
 * the offending field, or NULL) for a 400.
 */
int api_parse(struct sv_req *r, int chat, const char *body, size_t len,
	      const char *hdr_prio, const char *hdr_route,
	      char *why, size_t why_len, const char **param);
int api_parse_prio(const char *s, enum sv_prio *p);
int api_parse_route(const char *s, enum sv_route *rt);
const char *api_route_name(enum sv_route rt);

/* {"error": {...}} as a malloc'd string (length in *len if non-NULL). */
char *api_error_json(const char *type, const char *code, const char *msg,
		     const char *param, size_t *len);

/* Log-probabilities of a response: the chat or completions shape. */
struct json_object *api_logprobs_new(int chat);
void api_logprobs_add(struct json_object *lp, int chat, const struct sv_token *t,
		      size_t text_offset);

const char *api_finish_name(enum sv_finish why);
/*
 * A whole response (non-stream) or one stream chunk as malloc'd JSON.
 * @logprobs (may be NULL) is consumed.  Chunk: @finish NULL for a token
 * chunk, @first adds the chat role; @usage_only: the final usage chunk
 * (empty "choices").
 */
char *api_response(const struct sv_req *r, uint64_t created, const char *text, size_t len,
		   struct json_object *logprobs, enum sv_finish why,
		   const struct sv_usage *u, size_t *out_len);
char *api_chunk(const struct sv_req *r, uint64_t created, const char *text, size_t len,
		struct json_object *logprobs, const char *finish, int first,
		const struct sv_usage *usage_only, size_t *out_len);
/* GET /v1/models. */
char *api_models_json(size_t *len);

/* ------------------------------------------------------------------ */
/* route.c                                                             */

/* The request's priority after the app's cap; @asked < 0: the default. */
enum sv_prio sv_prio_cap(const struct sv_policy *pol, int asked);

/* ------------------------------------------------------------------ */
/* http.c, listen.c: listeners                                                   */

/* listen.c: a listening socket's descriptor, or -errno (logged). */
int sv_listen_tcp(const char *host, int port);
int sv_listen_unix(const char *path);
/* systemd's sockets into @fds / @is_unix: their count (0: none), or -errno. */
int sv_listen_systemd(int *fds, int max, int *is_unix);

int sv_http_start(const struct sv_config *cfg);	/* 0 or -errno (logged) */
void sv_http_quiesce(void);	/* stop accepting, keep serving */
void sv_http_stop(void);	/* end everything */

#endif /* KLLM_SERVE_HTTP_INT_H */
