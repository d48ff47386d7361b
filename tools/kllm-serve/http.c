// SPDX-License-Identifier: MIT
/*
 * http.c - kllm-serve's HTTP side on libmicrohttpd: one daemon per
 * listening socket (loopback TCP, the Unix socket, or the sockets systemd
 * passed), each an internal epoll thread with a connection limit and an
 * idle timeout; routes, body limit (413), identity (SO_PEERCRED on the
 * Unix socket, Authorization: Bearer on TCP), a pool of dispatcher
 * threads for complete requests, and responses read from the request's
 * struct sv_out while the connection is suspended between events.
 *
 * A suspended connection does not notice its client leaving, so a watcher
 * thread polls the sockets of requests still running (POLLRDHUP) and
 * tells their producers to stop (sv_out_hangup).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_int.h"

#define MAX_LISTENERS 8
#define N_DISPATCH 4
#define WATCH_MS 200

struct listener {
	struct MHD_Daemon *d;
	int fd;
	int is_unix;
	char *unlink_path;		/* our Unix socket's path, removed at stop */
};

enum kind { K_NONE, K_HEALTH, K_METRICS, K_MODELS, K_CHAT, K_COMPLETIONS };

struct conn {
	struct listener *l;
	struct MHD_Connection *mc;
	enum kind kind;
	char path[64];
	char *body;
	size_t len, cap;
	int too_big;
	struct sv_app app;
	struct sv_out *o;
	int status;
	enum sv_route route;
	double t0;
	struct conn *prev, *next;	/* live list, while o is set */
};

static const struct sv_config *cfg;
static struct listener listeners[MAX_LISTENERS];
static int n_listeners;
static uint64_t next_id;

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *live;
static size_t n_live;

static pthread_t dthreads[N_DISPATCH], watcher;
static int n_dthreads, have_watcher;
static pthread_mutex_t dq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dq_cond = PTHREAD_COND_INITIALIZER;
struct dq_item {
	struct sv_out *o;
	struct dq_item *next;
};
static struct dq_item *dq_head, *dq_tail;
static int stopping;		/* dispatchers and watcher: exit */
static int closing;		/* sv_http_stop began: no new request */

/* ------------------------------------------------------------------ */
/* Dispatchers and the watcher                                          */

static void *dispatcher(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&dq_lock);
	for (;;) {
		struct dq_item *it;

		while (!dq_head && !stopping)
			pthread_cond_wait(&dq_cond, &dq_lock);
		if (!dq_head)
			break;
		it = dq_head;
		dq_head = it->next;
		if (!dq_head)
			dq_tail = NULL;
		pthread_mutex_unlock(&dq_lock);
		sv_dispatch(it->o);
		sv_out_put(it->o);
		free(it);
		pthread_mutex_lock(&dq_lock);
	}
	pthread_mutex_unlock(&dq_lock);
	return NULL;
}

static int dispatch(struct sv_out *o)
{
	struct dq_item *it = malloc(sizeof(*it));

	if (!it)
		return -ENOMEM;
	sv_out_get(o);
	it->o = o;
	it->next = NULL;
	pthread_mutex_lock(&dq_lock);
	if (dq_tail)
		dq_tail->next = it;
	else
		dq_head = it;
	dq_tail = it;
	pthread_cond_signal(&dq_cond);
	pthread_mutex_unlock(&dq_lock);
	return 0;
}

static int conn_fd(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

/* Poll the running requests' sockets for a client that hung up. */
static void *watch(void *arg)
{
	struct pollfd *pf = NULL;
	struct sv_out **outs = NULL;
	size_t cap = 0;

	(void)arg;
	for (;;) {
		size_t n = 0;

		usleep(WATCH_MS * 1000);
		pthread_mutex_lock(&dq_lock);
		if (stopping) {
			pthread_mutex_unlock(&dq_lock);
			break;
		}
		pthread_mutex_unlock(&dq_lock);
		pthread_mutex_lock(&live_lock);
		if (n_live > cap) {
			struct pollfd *npf = realloc(pf, n_live * sizeof(*pf));
			struct sv_out **no;

			if (npf)
				pf = npf;
			no = realloc(outs, n_live * sizeof(*outs));
			if (no)
				outs = no;
			if (npf && no)
				cap = n_live;
		}
		for (struct conn *c = live; c && n < cap; c = c->next) {
			pf[n].fd = conn_fd(c->mc);
			pf[n].events = POLLRDHUP;
			pf[n].revents = 0;
			outs[n++] = c->o;
		}
		if (n && poll(pf, n, 0) > 0)
			for (size_t i = 0; i < n; i++)
				if (pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
					sv_out_hangup(outs[i]);
		pthread_mutex_unlock(&live_lock);
	}
	free(pf);
	free(outs);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Responses                                                            */

static int is_completion(const struct conn *c)
{
	return c->kind == K_CHAT || c->kind == K_COMPLETIONS;
}

static enum sv_endpoint endpoint(enum kind k)
{
	return k == K_CHAT ? SV_EP_CHAT : k == K_COMPLETIONS ? SV_EP_COMPLETIONS :
	       k == K_MODELS ? SV_EP_MODELS : SV_EP_OTHER;
}

static enum MHD_Result queue(struct conn *c, int status, struct MHD_Response *resp,
			     const char *ctype, int retry_after)
{
	enum MHD_Result ret;
	char ra[16];

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (is_completion(c))
		MHD_add_response_header(resp, "X-Kllm-Route", c->route == SV_ROUTE_CLOUD ?
					"cloud" : "local");
	if (retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	c->status = status;
	ret = MHD_queue_response(c->mc, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A malloc'd body (freed here in every case). */
static enum MHD_Result queue_body(struct conn *c, int status, char *body, size_t len,
				  const char *ctype, int retry_after)
{
	struct MHD_Response *resp;

	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(body);
	return queue(c, status, resp, ctype, retry_after);
}

static enum MHD_Result queue_error(struct conn *c, int status, const char *type,
				   const char *code, const char *msg, const char *param)
{
	size_t len = 0;
	char *body = api_error_json(type, code, msg, param, &len);

	return queue_body(c, status, body, len, "application/json", 0);
}

static void suspend_conn(void *arg)
{
	MHD_suspend_connection(((struct conn *)arg)->mc);
}

static void wake_conn(void *arg)
{
	MHD_resume_connection(((struct conn *)arg)->mc);
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct conn *c = cls;
	ssize_t n;

	(void)pos;
	n = sv_out_read(c->o, buf, max, suspend_conn, c);
	if (n == -1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

/* The response once the producer decided its head; else stay suspended. */
static enum MHD_Result answer(struct conn *c)
{
	struct sv_out_head h;
	struct MHD_Response *resp;
	char *body;
	size_t len;

	if (sv_out_head(c->o, &h, &body, &len, suspend_conn, c))
		return MHD_YES;
	c->route = h.route;
	if (!h.stream)
		return queue_body(c, h.status, body, len, h.content_type, h.retry_after_s);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_stream, c,
						 NULL);
	if (resp && !strncmp(h.content_type, "text/event-stream", 17))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return queue(c, h.status, resp, h.content_type, h.retry_after_s);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

static enum kind route_of(const char *url)
{
	static const struct {
		const char *path;
		enum kind k;
	} routes[] = {
		{ "/health", K_HEALTH }, { "/metrics", K_METRICS },
		{ "/v1/models", K_MODELS }, { "/models", K_MODELS },
		{ "/v1/chat/completions", K_CHAT }, { "/chat/completions", K_CHAT },
		{ "/v1/completions", K_COMPLETIONS }, { "/completions", K_COMPLETIONS },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(url, routes[i].path))
			return routes[i].k;
	return K_NONE;
}

static enum MHD_Result simple_get(struct conn *c)
{
	size_t len = 0;
	char *body;

	switch (c->kind) {
	case K_HEALTH:
		return queue_body(c, 200, strdup("{\"status\":\"ok\"}"), 15, "application/json", 0);
	case K_METRICS:
		body = sv_metrics_render(&len);
		return queue_body(c, 200, body, len, "text/plain; version=0.0.4; charset=utf-8", 0);
	default:
		body = api_models_json(&len);
		return queue_body(c, 200, body, len, "application/json", 0);
	}
}

/* The app sending the request, or a 401. */
static int identify(struct conn *c)
{
	const char *auth = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	const char *key = NULL;
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	int has_uid = 0;

	if (auth && !strncasecmp(auth, "Bearer ", 7)) {
		key = auth + 7;
		while (*key == ' ')
			key++;
	}
	if (c->l->is_unix && !getsockopt(conn_fd(c->mc), SOL_SOCKET, SO_PEERCRED, &cred, &sl))
		has_uid = 1;
	return sv_app_resolve(cfg, has_uid, has_uid ? cred.uid : 0, key, &c->app);
}

static enum MHD_Result first_call(struct conn *c, const char *url, const char *method)
{
	int post = !strcmp(method, MHD_HTTP_METHOD_POST);
	int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	const char *cl;
	char msg[160];

	c->kind = route_of(url);
	snprintf(c->path, sizeof(c->path), "%s", url);
	if (c->kind == K_NONE) {
		snprintf(msg, sizeof(msg), "Invalid URL (%s %.100s)", method, url);
		return queue_error(c, 404, "invalid_request_error", "not_found", msg, NULL);
	}
	if (is_completion(c) ? !post : !get) {
		struct MHD_Response *resp;
		size_t len = 0;
		char *body;

		snprintf(msg, sizeof(msg), "Method %s is not allowed on %s", method, url);
		body = api_error_json("invalid_request_error", "method_not_allowed", msg, NULL, &len);
		resp = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE) : NULL;
		if (!resp) {
			free(body);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, is_completion(c) ? "POST" : "GET");
		return queue(c, 405, resp, "application/json", 0);
	}
	if ((c->kind == K_MODELS || is_completion(c)) && identify(c)) {
		struct MHD_Response *resp;
		size_t len = 0;
		char *body = api_error_json("invalid_request_error", "invalid_api_key",
					    "Incorrect or missing API key (Authorization: Bearer KEY).",
					    NULL, &len);

		resp = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE) : NULL;
		if (!resp) {
			free(body);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		return queue(c, 401, resp, "application/json", 0);
	}
	if (!is_completion(c))
		return MHD_YES;	/* answered after the (empty) body: keep-alive */
	cl = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > cfg->max_body)
		goto too_big;
	return MHD_YES;
too_big:
	snprintf(msg, sizeof(msg), "The request body exceeds the limit of %zu bytes.",
		 cfg->max_body);
	return queue_error(c, 413, "invalid_request_error", "request_too_large", msg, NULL);
}

static void add_body(struct conn *c, const char *data, size_t n)
{
	if (c->too_big || c->len + n > cfg->max_body) {
		c->too_big = 1;
		return;
	}
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *p;

		while (cap < c->len + n + 1)
			cap *= 2;
		p = realloc(c->body, cap);
		if (!p) {
			c->too_big = 1;
			return;
		}
		c->body = p;
		c->cap = cap;
	}
	memcpy(c->body + c->len, data, n);
	c->len += n;
}

static enum MHD_Result body_done(struct conn *c)
{
	const char *hp = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "X-Priority");
	const char *hr = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "X-Kllm-Route");
	struct sv_req *r = calloc(1, sizeof(*r));
	const char *param;
	char why[256];
	int err;

	if (c->too_big) {
		sv_req_free(r);
		snprintf(why, sizeof(why), "The request body exceeds the limit of %zu bytes.",
			 cfg->max_body);
		return queue_error(c, 413, "invalid_request_error", "request_too_large", why, NULL);
	}
	if (!r)
		return queue_error(c, 500, "server_error", "internal_error", "out of memory", NULL);
	r->app = c->app;
	r->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
	r->t_arrive = sv_now();
	err = api_parse(r, c->kind == K_CHAT, c->body ? c->body : "", c->len, hp, hr, why,
			sizeof(why), &param);
	free(c->body);
	c->body = NULL;
	if (err) {
		sv_req_free(r);
		if (err == -EINVAL)
			return queue_error(c, 400, "invalid_request_error", NULL, why, param);
		return queue_error(c, 500, "server_error", "internal_error", "out of memory", NULL);
	}
	c->o = sv_out_new(r, endpoint(c->kind));
	if (!c->o) {
		sv_req_free(r);
		return queue_error(c, 500, "server_error", "internal_error", "out of memory", NULL);
	}
	sv_out_set_waker(c->o, wake_conn, c);
	pthread_mutex_lock(&live_lock);
	if (closing) {
		pthread_mutex_unlock(&live_lock);
		sv_out_put(c->o);
		c->o = NULL;
		return queue_error(c, 503, "server_error", "shutting_down",
				   "the server is shutting down", NULL);
	}
	c->next = live;
	if (live)
		live->prev = c;
	live = c;
	n_live++;
	pthread_mutex_unlock(&live_lock);
	if (dispatch(c->o))
		sv_out_error(c->o, 500, "server_error", "internal_error", "out of memory", 0);
	return answer(c);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	struct conn *c = *req_cls;

	(void)version;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		c->l = cls;
		c->mc = mc;
		c->t0 = sv_now();
		*req_cls = c;
		return first_call(c, url, method);
	}
	if (c->o)
		return answer(c);
	if (!is_completion(c))
		return *upload_data_size ? (*upload_data_size = 0, MHD_YES) : simple_get(c);
	if (*upload_data_size) {
		add_body(c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return body_done(c);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *c = *req_cls;

	(void)cls;
	(void)mc;
	if (!c)
		return;
	*req_cls = NULL;
	if (c->o) {
		struct sv_req *r = sv_out_req(c->o);

		pthread_mutex_lock(&live_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			live = c->next;
		if (c->next)
			c->next->prev = c->prev;
		n_live--;
		pthread_mutex_unlock(&live_lock);
		sv_out_cancel(c->o);
		c->route = sv_out_route(c->o, NULL);
		sv_log("info", "request", "id=%llu path=%s app=%s model=\"%s\" stream=%d status=%d "
		       "route=%s prio=%d ms=%.1f%s", (unsigned long long)r->id, c->path,
		       r->app.pol->name, r->model, r->stream, c->status,
		       api_route_name(c->route), (int)r->prio, (sv_now() - c->t0) * 1e3,
		       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " client_gone");
		sv_out_put(c->o);
	} else if (cfg->verbose) {
		sv_log("debug", "request", "path=%s status=%d", c->path, c->status);
	}
	if (c->status)
		sv_metrics_request(endpoint(c->kind), c->status, c->route);
	free(c->body);
	free(c);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)mc;
	(void)socket_ctx;
	sv_metrics_conn(toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '"')
			*p = '\'';
	/* a client that went away is routine: only -v shows it */
	sv_log(strstr(msg, "no longer available") || strstr(msg, "connection limit") ?
	       "debug" : "warn", "mhd", "msg=\"%s\"", msg);
}

/* ------------------------------------------------------------------ */
/* Daemons                                                              */

static int start_daemon(int fd, int is_unix, const char *unlink_path)
{
	struct listener *l;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (n_listeners == MAX_LISTENERS) {
		close(fd);
		return -EMFILE;
	}
	l = &listeners[n_listeners];
	l->fd = fd;
	l->is_unix = is_unix;
	l->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_conns,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->conn_timeout_s,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
				MHD_OPTION_END);
	if (!l->d) {
		sv_log("error", "listen", "err=\"libmicrohttpd could not start\" fd=%d", fd);
		close(fd);
		return -EIO;
	}
	if (unlink_path)
		l->unlink_path = strdup(unlink_path);
	n_listeners++;
	return 0;
}

int sv_http_start(const struct sv_config *config)
{
	int fds[MAX_LISTENERS], unix_flags[MAX_LISTENERS];
	int fd, err;

	cfg = config;
	next_id = (uint64_t)time(NULL) << 20;
	err = sv_listen_systemd(fds, MAX_LISTENERS, unix_flags);
	if (err < 0)
		goto fail;
	for (int i = 0; i < err; i++) {
		int e = start_daemon(fds[i], unix_flags[i], NULL);

		if (e) {
			for (int j = i + 1; j < err; j++)
				close(fds[j]);
			err = e;
			goto fail;
		}
		sv_log("info", "listen", "fd=%d systemd=1 unix=%d", fds[i], unix_flags[i]);
	}
	if (!err) {
		if (cfg->port > 0) {
			fd = sv_listen_tcp(cfg->host, cfg->port);
			if (fd < 0 || (err = start_daemon(fd, 0, NULL)))
				goto fail_fd;
			sv_log("info", "listen", "host=%s port=%d", cfg->host, cfg->port);
		}
		if (cfg->unix_path) {
			fd = sv_listen_unix(cfg->unix_path);
			if (fd < 0 || (err = start_daemon(fd, 1, cfg->unix_path)))
				goto fail_fd;
			sv_log("info", "listen", "unix=\"%s\"", cfg->unix_path);
		}
	}
	if (!n_listeners) {
		sv_log("error", "listen", "err=\"nothing to listen on (--port 0 and no --unix)\"");
		err = -EINVAL;
		goto fail;
	}
	for (; n_dthreads < N_DISPATCH; n_dthreads++)
		if ((err = -pthread_create(&dthreads[n_dthreads], NULL, dispatcher, NULL)))
			goto fail;
	if ((err = -pthread_create(&watcher, NULL, watch, NULL)))
		goto fail;
	have_watcher = 1;
	return 0;
fail_fd:
	if (fd < 0)
		err = fd;
fail:
	sv_http_stop();
	return err;
}

void sv_http_quiesce(void)
{
	for (int i = 0; i < n_listeners; i++) {
		MHD_socket fd = MHD_quiesce_daemon(listeners[i].d);

		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		if (listeners[i].unlink_path)
			unlink(listeners[i].unlink_path);
	}
}

void sv_http_stop(void)
{
	double t_end = sv_now() + 2;
	struct sv_out **outs;
	size_t n_outs = 0;

	/* every request still open ends (503 or the stream's end) and resumes
	 * (outside live_lock: resuming takes libmicrohttpd's locks); one
	 * arriving now on a keep-alive connection gets a 503 at once */
	pthread_mutex_lock(&live_lock);
	closing = 1;
	outs = calloc(n_live + 1, sizeof(*outs));
	for (struct conn *c = live; c && outs; c = c->next) {
		sv_out_get(c->o);
		outs[n_outs++] = c->o;
	}
	pthread_mutex_unlock(&live_lock);
	for (size_t i = 0; i < n_outs; i++) {
		sv_out_abort(outs[i]);
		sv_out_put(outs[i]);
	}
	free(outs);
	for (;;) {
		size_t n;

		pthread_mutex_lock(&live_lock);
		n = n_live;
		pthread_mutex_unlock(&live_lock);
		if (!n || sv_now() > t_end)
			break;
		usleep(10000);
	}
	for (int i = 0; i < n_listeners; i++) {
		MHD_stop_daemon(listeners[i].d);
		if (listeners[i].unlink_path)
			unlink(listeners[i].unlink_path);
		free(listeners[i].unlink_path);
	}
	n_listeners = 0;
	pthread_mutex_lock(&dq_lock);
	stopping = 1;
	pthread_cond_broadcast(&dq_cond);
	pthread_mutex_unlock(&dq_lock);
	for (int i = 0; i < n_dthreads; i++)
		pthread_join(dthreads[i], NULL);
	n_dthreads = 0;
	if (have_watcher)
		pthread_join(watcher, NULL);
	have_watcher = 0;
}
