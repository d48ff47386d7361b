/* SPDX-License-Identifier: MIT */
/*
 * serve.h - kllm-serve, the device's OpenAI-compatible LLM service: the
 * types and calls its parts share.
 *
 * Parts (one concern a file):
 *   main.c      options (llama-server's spelling), start-up, signals,
 *               descriptor limit, graceful shutdown
 *   config.c    the JSON config file -> struct sv_config
 *   http.c      libmicrohttpd daemons (loopback TCP, Unix socket, systemd
 *               socket activation), body limits, identity (SO_PEERCRED,
 *               API key), dispatch, suspended SSE connections
 *   out.c       struct sv_out: a request's output channel
 *   api.c       OpenAI JSON: request parsing into struct sv_req, response
 *               and chunk formatting, error bodies
 *   route.c     the app policy and the local/cloud decision
 *   metrics.c   Prometheus counters and histograms (/metrics)
 *   models.c    the model registry: load on first use, idle unload, budget
 *   engine.c    one continuous-batching engine thread per model (per app
 *               identity on the device engine)
 *   reuse.c     prompts (chat template, tokens) and prompt reuse (held
 *               sequences, public prefixes)
 *   text.c      a generated token's text: stop strings, log-probabilities
 *               (engine.h: what models.c, engine.c, reuse.c, text.c share)
 *   upstream.c  the cloud hand-off: libcurl relay to an OpenAI-compatible
 *               upstream
 *
 * Threads: libmicrohttpd's internal epoll thread runs http.c's callbacks;
 * dispatcher threads (http.c) run sv_dispatch() for each complete request
 * (it may block: a model load, tokenizing); each engine has its own thread;
 * each cloud request its own relay thread.  Producers (engine, upstream)
 * write into a request's struct sv_out from their thread; the HTTP side
 * reads it from the epoll thread.
 */
#ifndef KLLM_SERVE_H
#define KLLM_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>

#define SV_NAME_MAX 128

/* ------------------------------------------------------------------ */
/* Policies and identity                                               */

/* Ordered: a cap compares with <=. */
enum sv_prio {
	SV_PRIO_BACKGROUND = 0,
	SV_PRIO_NORMAL = 1,
	SV_PRIO_INTERACTIVE = 2,
};

enum sv_route {
	SV_ROUTE_LOCAL = 0,
	SV_ROUTE_CLOUD = 1,
	SV_ROUTE_AUTO = 2,
};

/* One app's policy (config "apps"; the anonymous policy is built in). */
struct sv_policy {
	char name[SV_NAME_MAX];		/* for logs and metrics labels */
	enum sv_prio max_prio;		/* requests are capped to this */
	enum sv_prio default_prio;
	enum sv_route route;		/* default route of its requests */
	int local_only;			/* never handed off */
	uint32_t latency_budget_ms;	/* auto: hand off when the expected
					 * local wait exceeds it (0: no limit) */
};

/* Who sent a request. */
struct sv_app {
	/*
	 * The partition key: "uid:1000" (Unix socket peer), "key:NAME" (API
	 * key of app NAME), "anon" (keyless TCP).  Prompt reuse and the
	 * device engine's driver file are per key.
	 */
	char key[SV_NAME_MAX + 8];
	const struct sv_policy *pol;	/* never NULL */
	int has_uid;
	uid_t uid;
};

/* ------------------------------------------------------------------ */
/* Configuration (config.c fills it from the file, main.c from options) */

struct sv_model_cfg {
	char name[SV_NAME_MAX];		/* the API's "model" */
	char **aliases;			/* further names */
	size_t n_aliases;
	char *path;			/* GGUF file */
	uint32_t n_ctx;			/* per sequence; 0: server default */
	char *chat_template;		/* template family; NULL: the model's */
};

struct sv_app_cfg {
	struct sv_policy pol;
	uid_t *uids;			/* Unix-socket peers of this app */
	size_t n_uids;
	char *api_key;			/* its key (from api_key_file), or NULL */
};

struct sv_upstream_cfg {
	char *base_url;			/* "http://127.0.0.1:8081/v1"; NULL: none */
	char *key;			/* the key's bytes (never logged) */
	char **map_from, **map_to;	/* model-name map */
	size_t n_map;
	uint32_t timeout_s;		/* whole request; 0: none */
	uint32_t connect_timeout_ms;
};

struct sv_config {
	/* Listening */
	char *host;			/* "127.0.0.1" */
	int port;			/* 8080; 0: no TCP */
	char *unix_path;		/* NULL: no Unix socket */
	uint32_t max_conns;		/* connection limit */
	uint32_t conn_timeout_s;	/* idle / slow client */
	size_t max_body;		/* bytes; larger bodies get 413 */
	/* Engines */
	uint32_t n_threads;		/* 0: every CPU */
	uint32_t n_ctx;			/* default per-sequence context */
	uint32_t n_parallel;		/* concurrent sequences per model */
	uint32_t max_batch;		/* tokens per engine step (prefill chunks + decodes) */
	uint32_t max_queue;		/* queued requests per model; more: 429 */
	uint32_t idle_unload_s;		/* unload a model idle this long; 0: never */
	uint64_t mem_budget;		/* bytes of weights + KV loaded at once; 0: no limit */
	uint32_t prefix_keep;		/* finished sequences held for prompt reuse per model */
	char **public_prefixes;		/* texts whose KV may be shared across apps */
	size_t n_public_prefixes;
	/* Models, apps, upstream */
	struct sv_model_cfg *models;
	size_t n_models;
	struct sv_app_cfg *apps;
	size_t n_apps;
	struct sv_policy anon;		/* keyless TCP and apps without a policy */
	char **api_keys;		/* --api-key-file: accepted keys (any app) */
	size_t n_api_keys;
	struct sv_upstream_cfg upstream;
	/* Logging */
	int log_json;			/* structured logs as JSON lines */
	int verbose;
};

int sv_config_load(const char *path, struct sv_config *cfg);	/* 0 or -errno, message on stderr */
void sv_config_defaults(struct sv_config *cfg);
void sv_config_free(struct sv_config *cfg);

/* ------------------------------------------------------------------ */
/* A request (api.c parses it; the producers read it)                 */

struct sv_msg {
	char *role;
	char *content;			/* text parts joined */
};

struct sv_req {
	uint64_t id;			/* "chatcmpl-<id>" / "cmpl-<id>" */
	int chat;			/* /v1/chat/completions, else /v1/completions */
	char model[SV_NAME_MAX];
	struct sv_msg *msgs;		/* chat */
	size_t n_msgs;
	char *prompt;			/* completions */
	int32_t max_tokens;		/* < 0: until EOG or the context's end */
	float temperature;		/* OpenAI default 1.0 */
	float top_p;			/* 1: off */
	int32_t top_k;			/* 0: off (extension, as llama-server) */
	float min_p;			/* 0: off (extension) */
	float presence_penalty, frequency_penalty;
	int has_seed;
	uint64_t seed;
	char **stop;
	size_t n_stop;
	int logprobs;			/* chat: logprobs true; completions: logprobs N >= 0 */
	int top_logprobs;		/* 0..20 */
	int ignore_eos;			/* EOG tokens never sampled (extension, as llama-server) */
	int stream;
	int include_usage;		/* stream_options.include_usage */
	enum sv_prio prio;		/* after the policy's cap */
	enum sv_route route;		/* asked for (body "route", X-Kllm-Route), else the policy's */
	struct sv_app app;
	struct json_object *body;	/* the parsed body (for the upstream); owned */
	double t_arrive;		/* sv_now() when the body was complete */
};

void sv_req_free(struct sv_req *r);

/* ------------------------------------------------------------------ */
/* Output channel (out.c): producers write, http.c reads               */

enum sv_finish {
	SV_FINISH_STOP = 0,		/* EOG or a stop string */
	SV_FINISH_LENGTH,		/* max_tokens or the context's end */
	SV_FINISH_CANCELLED,		/* the client went away / shutdown */
};

struct sv_usage {
	uint32_t prompt_tokens;
	uint32_t completion_tokens;
	uint32_t cached_tokens;		/* prompt tokens whose KV was reused */
};

struct sv_top_logprob {
	int32_t token;
	char text[64];
	float logprob;
};

/* One generated token's text and, when asked for, its log-probabilities. */
struct sv_token {
	const char *text;		/* may be "" (held back: UTF-8, stop strings) */
	size_t len;
	int32_t token;
	int has_logprob;
	float logprob;
	char tok_text[64];		/* the token's own piece (logprobs "token") */
	struct sv_top_logprob top[20];
	int n_top;
};

struct sv_out;

/*
 * Producer side.  Every call is thread-safe; each wakes the connection.
 * A request ends with exactly one sv_out_finish() or sv_out_error() (or,
 * for a relayed upstream response, sv_out_raw_end()).
 */
void sv_out_token(struct sv_out *o, const struct sv_token *t);
void sv_out_finish(struct sv_out *o, enum sv_finish why, const struct sv_usage *u);
/*
 * An error: before anything was sent, an HTTP @status response with
 * OpenAI's error JSON (type, code, message); in a stream already started,
 * a final `data: {"error": ...}` event and no [DONE].  @retry_after_s > 0
 * adds Retry-After.
 */
void sv_out_error(struct sv_out *o, int status, const char *type, const char *code,
		  const char *msg, int retry_after_s);
/* Upstream relay: the status and content type once, then bytes as they arrive. */
void sv_out_raw_begin(struct sv_out *o, int status, const char *content_type);
void sv_out_raw(struct sv_out *o, const void *buf, size_t n);
/*
 * Backpressure: waits up to @ms while more than @max bytes are queued
 * and unread (a slow client), the client went away or shutdown began.
 * 1 when there is room (or nothing more will be read), 0 on time-out.
 */
int sv_out_room(struct sv_out *o, size_t max, unsigned ms);
void sv_out_raw_end(struct sv_out *o);
/* Where the request runs: sets X-Kllm-Route (call before output starts). */
void sv_out_set_route(struct sv_out *o, enum sv_route r);
/* 1 once the client went away (or the server is shutting down): stop. */
int sv_out_cancelled(const struct sv_out *o);
/* The request this channel answers (valid while the channel lives). */
struct sv_req *sv_out_req(struct sv_out *o);
/* Producers hold a reference while they may still write. */
void sv_out_get(struct sv_out *o);
void sv_out_put(struct sv_out *o);

/* ------------------------------------------------------------------ */
/* Local engines (models.c, engine.c)                                  */

struct sv_model_info {
	char name[SV_NAME_MAX];
	uint32_t n_ctx;			/* per-sequence context */
	int loaded;
	uint64_t created;		/* unix time (OpenAI "created") */
};

int sv_models_init(const struct sv_config *cfg);
/* Graceful: stop admitting, let running requests finish (up to @grace_s),
 * cancel the rest with an error, free everything. */
void sv_models_shutdown(unsigned grace_s);
/* 0 and @info when @name (or an alias) is served locally, else -ENOENT. */
int sv_model_find(const char *name, struct sv_model_info *info);
/* Calls @fn for every local model (for GET /v1/models). */
void sv_models_each(void (*fn)(void *arg, const struct sv_model_info *m), void *arg);

/*
 * Queue @o's request on its model's engine.  May block (loading the model,
 * tokenizing).  On success the engine owns a reference to @o and ends it
 * with sv_out_finish / sv_out_error; returns 0.  Otherwise nothing was
 * queued and nothing was written to @o:
 *   -ENOENT  no such local model
 *   -E2BIG   prompt + max_tokens exceed the local context (*n_prompt set)
 *   -EAGAIN  the expected wait exceeds @max_wait_ms (> 0) (auto routing)
 *   -EBUSY   the model's queue is full (429)
 *   -ENOMEM  the memory budget cannot fit the model (503)
 *   -EINVAL  a bad request (message in *why)
 */
int sv_engine_submit(struct sv_out *o, uint32_t max_wait_ms, uint32_t *n_prompt,
		     const char **why);

/* Gauges for /metrics and the tests' resource counts. */
struct sv_engine_stats {
	uint32_t models_loaded;
	uint32_t seqs_active;		/* sequences generating or prefilling */
	uint32_t seqs_held;		/* finished ones held for prompt reuse */
	uint32_t queued;
	uint64_t kv_bytes;		/* KV of every sequence */
	uint64_t kv_block_bytes;	/* KV blocks in use, the prefix cache's too */
	uint64_t weights_bytes;
};
void sv_engine_stats(struct sv_engine_stats *st);

/* ------------------------------------------------------------------ */
/* Cloud hand-off (upstream.c)                                         */

int sv_upstream_init(const struct sv_upstream_cfg *cfg);	/* 0 or -errno */
void sv_upstream_shutdown(void);
/* 1 when an upstream is configured. */
int sv_upstream_enabled(void);
/*
 * Relay @o's request (path "/chat/completions" or "/completions" under
 * the base URL) from a thread of its own: kllm's fields ("route",
 * "priority") and the client's Authorization are dropped, the model name
 * mapped, the upstream key added.  Returns 0 (the relay owns a reference
 * and ends @o), or -errno when the thread could not start.
 * A failure before the first byte gives 502 (sv_out_error) -- or, for a
 * request routed "auto" whose model is also served locally, a local
 * answer (sv_engine_submit from the relay thread); after the first byte,
 * the error event.
 */
int sv_upstream_start(struct sv_out *o);

/* ------------------------------------------------------------------ */
/* Routing (route.c) and dispatch                                      */

/* The app of a request: @uid from SO_PEERCRED (has_uid), @api_key from
 * Authorization: Bearer (NULL: none).  -EACCES for a key that is not
 * accepted (401). */
int sv_app_resolve(const struct sv_config *cfg, int has_uid, uid_t uid,
		   const char *api_key, struct sv_app *app);

/*
 * Run a complete request (dispatcher thread): route it (local, cloud,
 * auto per the policy), submit it to the engine or the upstream, and on
 * refusal answer @o with the right error.  Ends with @o answered or owned
 * by a producer.
 */
void sv_dispatch(struct sv_out *o);

/* ------------------------------------------------------------------ */
/* Metrics (metrics.c)                                                 */

enum sv_endpoint { SV_EP_CHAT, SV_EP_COMPLETIONS, SV_EP_MODELS, SV_EP_OTHER, SV_EP__N };

void sv_metrics_request(enum sv_endpoint ep, int status, enum sv_route where);
void sv_metrics_tokens(uint32_t prompt, uint32_t completion, uint32_t cached);
void sv_metrics_queue_time(double seconds);
void sv_metrics_ttft(double seconds);
void sv_metrics_token_time(double seconds);	/* between two generated tokens */
void sv_metrics_conn(int delta);		/* open connections */
/* Prometheus text exposition into a malloc'd string (caller frees). */
char *sv_metrics_render(size_t *len);

/* ------------------------------------------------------------------ */
/* Misc                                                                */

double sv_now(void);		/* CLOCK_MONOTONIC seconds */
/* @ts = CLOCK_REALTIME now + @ms: a pthread_cond_timedwait deadline. */
void sv_deadline(struct timespec *ts, unsigned ms);
/* Structured log line: level "info"/"warn"/"error", then key=value pairs
 * as a printf format; JSON lines with --log-format json. */
void sv_log(const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
extern const struct sv_config *sv_cfg;	/* the running configuration */

#endif /* KLLM_SERVE_H */
