// SPDX-License-Identifier: MIT
/*
 * config.c - kllm-serve's configuration file (--config FILE) into struct
 * sv_config.  Command-line options given beside --config override the
 * file's values (models from -m are added to the file's).
 *
 * The file is one JSON object (strict JSON, UTF-8).  Every key is
 * optional; an unknown key is reported as a warning and ignored; a value
 * of the wrong type is an error.
 *
 *   host            string   address to listen on (default "127.0.0.1")
 *   port            integer  TCP port (default 8080; 0: no TCP listener)
 *   unix            string   Unix socket path (default none); created
 *                            with mode 0666, a stale socket is replaced
 *   max_conns       integer  open connections at most (default 1024)
 *   timeout         integer  seconds a connection may stay idle (default 600)
 *   max_body        integer  request body bytes at most (default 1048576;
 *                            413 beyond)
 *   threads         integer  compute threads (default 0: every CPU)
 *   ctx_size        integer  default context per sequence (default 4096)
 *   parallel        integer  concurrent sequences per model (default 4)
 *   batch_size      integer  tokens per engine step, decodes and prefill
 *                            chunks together (default 64)
 *   max_queue       integer  requests queued per model (default 64; 429 beyond)
 *   idle_unload     integer  seconds before an idle model is unloaded (0: never)
 *   mem_budget      integer or string  bytes of weights + KV loaded at once,
 *                            a string may end in k, M or G (x1024); 0: no limit
 *   prefix_keep     integer  finished sequences kept per model for prompt
 *                            reuse (default 4)
 *   public_prefixes [string] texts whose KV may be reused across apps
 *   api_key_file    string   file of accepted API keys, one a line; these
 *                            keys get the anonymous policy
 *   log_format      string   "text" (default) or "json"
 *   models          [object] the local models:
 *       name          string   the API's "model" (required)
 *       path          string   GGUF file (required)
 *       aliases       [string] further names
 *       ctx_size      integer  context per sequence (default: ctx_size above)
 *       chat_template string   template family (default: the model's)
 *   apps            [object] apps with a policy of their own:
 *       name          string   name in logs and metrics (required)
 *       uids          [integer or string]  Unix-socket peers (uids or user
 *                              names) that are this app
 *       api_key_file  string   file holding this app's API key (first line)
 *       max_priority  string   "interactive", "normal" or "background":
 *                              requests are capped to it (default interactive)
 *       priority      string   default priority (default "normal")
 *       route         string   "local", "auto" or "cloud": default route of
 *                              its requests (default "local")
 *       local_only    boolean  never hand its requests to the cloud
 *       latency_budget_ms integer  auto: hand off when the expected local
 *                              wait exceeds it (0: never for that reason)
 *   anonymous       object   the policy of keyless TCP clients, of Unix
 *                            peers and keys without an app: the keys of an
 *                            app except name/uids/api_key_file (defaults:
 *                            max_priority and priority "background", route
 *                            as --route-default, i.e. "local")
 *   upstream        object   the cloud hand-off:
 *       base_url      string   OpenAI-compatible base, e.g.
 *                              "https://api.example.com/v1"
 *       key_file      string   file holding the upstream's API key
 *       model_map     object   {"local name": "upstream name", ...}
 *       timeout       integer  seconds for a whole request (0: none)
 *       connect_timeout_ms integer  (default 5000)
 *
 * Key files: the first line, its trailing newline (and CR) stripped; the
 * key never appears in logs.  Relative paths are taken from the current
 * directory.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

void sv_config_defaults(struct sv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->host = strdup("127.0.0.1");
	cfg->port = 8080;
	cfg->max_conns = SV_MAX_CONNS_DEFAULT;
	cfg->conn_timeout_s = SV_CONN_TIMEOUT_DEFAULT;
	cfg->max_body = SV_MAX_BODY_DEFAULT;
	cfg->n_ctx = 4096;
	cfg->n_parallel = 4;
	cfg->max_batch = 64;
	cfg->max_queue = 64;
	cfg->prefix_keep = 4;
	snprintf(cfg->anon.name, sizeof(cfg->anon.name), "anonymous");
	cfg->anon.max_prio = SV_PRIO_BACKGROUND;
	cfg->anon.default_prio = SV_PRIO_BACKGROUND;
	cfg->anon.route = SV_ROUTE_LOCAL;
	cfg->upstream.connect_timeout_ms = 5000;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void sv_config_free(struct sv_config *cfg)
{
	free(cfg->host);
	free(cfg->unix_path);
	free_strv(cfg->public_prefixes, cfg->n_public_prefixes);
	for (size_t i = 0; i < cfg->n_models; i++) {
		free_strv(cfg->models[i].aliases, cfg->models[i].n_aliases);
		free(cfg->models[i].path);
		free(cfg->models[i].chat_template);
	}
	free(cfg->models);
	for (size_t i = 0; i < cfg->n_apps; i++) {
		free(cfg->apps[i].uids);
		if (cfg->apps[i].api_key)
			memset(cfg->apps[i].api_key, 0, strlen(cfg->apps[i].api_key));
		free(cfg->apps[i].api_key);
	}
	free(cfg->apps);
	free_strv(cfg->api_keys, cfg->n_api_keys);
	free(cfg->upstream.base_url);
	free(cfg->upstream.key);
	free_strv(cfg->upstream.map_from, cfg->upstream.n_map);
	free_strv(cfg->upstream.map_to, cfg->upstream.n_map);
	memset(cfg, 0, sizeof(*cfg));
}

/* ------------------------------------------------------------------ */
/* Key files (also main.c's --api-key-file, --upstream-key-file)        */

/* Every non-empty line of @path appended to @v / @n (all: 1), else the
 * first line.  0 or -errno (message on stderr). */
int sv_config_read_keys(const char *path, int all, char ***v, size_t *n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	if (!f) {
		err = -errno;
		fprintf(stderr, "kllm-serve: key file %s: %s\n", path, strerror(errno));
		return err;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char **nv;

		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		nv = realloc(*v, (*n + 1) * sizeof(*nv));
		if (!nv || !(nv[*n] = strdup(line))) {
			if (nv)
				*v = nv;
			err = -ENOMEM;
			break;
		}
		*v = nv;
		(*n)++;
		if (!all)
			break;
	}
	if (line)
		memset(line, 0, cap);
	free(line);
	fclose(f);
	if (!err && !*n) {
		fprintf(stderr, "kllm-serve: key file %s: no key in it\n", path);
		return -EINVAL;
	}
	return err;
}

static char *read_one_key(const char *path, int *err)
{
	char **v = NULL, *k;
	size_t n = 0;

	*err = sv_config_read_keys(path, 0, &v, &n);
	if (*err) {
		free_strv(v, n);
		return NULL;
	}
	k = v[0];
	free(v);
	return k;
}

/* 123, "123", "123k", "4G" -> bytes; -1 on a bad value. */
int64_t sv_config_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	return *end ? -1 : (int64_t)v;
}

/* ------------------------------------------------------------------ */
/* Typed getters: 0, 1 when absent, -EINVAL after a message             */

struct ctx {
	const char *file;
	char where[96];
};

static int bad(const struct ctx *c, const char *key, const char *want)
{
	fprintf(stderr, "kllm-serve: %s: %s%s%s must be %s\n", c->file, c->where,
		*c->where ? "." : "", key, want);
	return -EINVAL;
}

static int get_str(const struct ctx *c, struct json_object *o, const char *key, char **dst)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return bad(c, key, "a string");
	free(*dst);
	*dst = strdup(json_object_get_string(v));
	return *dst ? 0 : -ENOMEM;
}

static int get_u32(const struct ctx *c, struct json_object *o, const char *key, uint32_t *dst)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_int))
		return bad(c, key, "an integer");
	x = json_object_get_int64(v);
	if (x < 0 || x > UINT32_MAX)
		return bad(c, key, "an integer in [0, 4294967295]");
	*dst = (uint32_t)x;
	return 0;
}

static int get_bool(const struct ctx *c, struct json_object *o, const char *key, int *dst)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_boolean))
		return bad(c, key, "true or false");
	*dst = json_object_get_boolean(v);
	return 0;
}

static int get_strv(const struct ctx *c, struct json_object *o, const char *key,
		    char ***dst, size_t *n)
{
	struct json_object *v;
	size_t len;

	if (!json_object_object_get_ex(o, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_array))
		return bad(c, key, "an array of strings");
	len = json_object_array_length(v);
	for (size_t i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		char **nv;

		if (!json_object_is_type(e, json_type_string))
			return bad(c, key, "an array of strings");
		nv = realloc(*dst, (*n + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*dst = nv;
		if (!(nv[*n] = strdup(json_object_get_string(e))))
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static int get_enum(const struct ctx *c, struct json_object *o, const char *key,
		    int (*parse)(const char *, void *), void *dst, const char *want)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 1;
	if (!json_object_is_type(v, json_type_string) || parse(json_object_get_string(v), dst))
		return bad(c, key, want);
	return 0;
}

static int parse_prio(const char *s, void *p)
{
	return api_parse_prio(s, p);
}

static int parse_route(const char *s, void *p)
{
	return api_parse_route(s, p);
}

/* Warn about the keys of @o not in the NULL-ended @known. */
static void check_keys(const struct ctx *c, struct json_object *o, const char *const *known)
{
	json_object_object_foreach(o, key, val) {
		size_t i;

		(void)val;
		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i])
			sv_log("warn", "config_unknown_key", "file=\"%s\" key=\"%s%s%s\"", c->file,
			       c->where, *c->where ? "." : "", key);
	}
}

#define TRY(x) do { int _r = (x); if (_r < 0) return _r; } while (0)

/* ------------------------------------------------------------------ */
/* Sections                                                             */

static int load_policy(struct ctx *c, struct json_object *o, struct sv_policy *p)
{
	int b = p->local_only;

	TRY(get_enum(c, o, "max_priority", parse_prio, &p->max_prio,
		     "\"interactive\", \"normal\" or \"background\""));
	TRY(get_enum(c, o, "priority", parse_prio, &p->default_prio,
		     "\"interactive\", \"normal\" or \"background\""));
	TRY(get_enum(c, o, "route", parse_route, &p->route, "\"local\", \"auto\" or \"cloud\""));
	TRY(get_bool(c, o, "local_only", &b));
	p->local_only = b;
	TRY(get_u32(c, o, "latency_budget_ms", &p->latency_budget_ms));
	if (p->default_prio > p->max_prio)
		p->default_prio = p->max_prio;
	return 0;
}

static int load_uids(struct ctx *c, struct json_object *o, struct sv_app_cfg *a)
{
	struct json_object *v;
	size_t n;

	if (!json_object_object_get_ex(o, "uids", &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return bad(c, "uids", "an array of uids or user names");
	n = json_object_array_length(v);
	a->uids = calloc(n ? n : 1, sizeof(*a->uids));
	if (!a->uids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (json_object_is_type(e, json_type_int) && json_object_get_int64(e) >= 0) {
			a->uids[a->n_uids++] = (uid_t)json_object_get_int64(e);
		} else if (json_object_is_type(e, json_type_string)) {
			struct passwd *pw = getpwnam(json_object_get_string(e));

			if (!pw) {
				fprintf(stderr, "kllm-serve: %s: %s.uids: no user %s\n", c->file,
					c->where, json_object_get_string(e));
				return -EINVAL;
			}
			a->uids[a->n_uids++] = pw->pw_uid;
		} else {
			return bad(c, "uids", "an array of uids or user names");
		}
	}
	return 0;
}

static int load_app(struct ctx *c, struct json_object *o, const struct sv_config *cfg,
		    struct sv_app_cfg *a)
{
	static const char *const known[] = { "name", "uids", "api_key_file", "max_priority",
		"priority", "route", "local_only", "latency_budget_ms", NULL };
	char *name = NULL, *key_file = NULL;
	int err;

	(void)cfg;
	a->pol.max_prio = SV_PRIO_INTERACTIVE;
	a->pol.default_prio = SV_PRIO_NORMAL;
	a->pol.route = SV_ROUTE_LOCAL;
	check_keys(c, o, known);
	err = get_str(c, o, "name", &name);
	if (err) {
		if (err > 0)
			fprintf(stderr, "kllm-serve: %s: %s.name is required\n", c->file, c->where);
		return err > 0 ? -EINVAL : err;
	}
	snprintf(a->pol.name, sizeof(a->pol.name), "%s", name);
	free(name);
	TRY(load_policy(c, o, &a->pol));
	TRY(load_uids(c, o, a));
	TRY(get_str(c, o, "api_key_file", &key_file));
	if (key_file) {
		a->api_key = read_one_key(key_file, &err);
		free(key_file);
		if (err)
			return err;
	}
	return 0;
}

static int load_model(struct ctx *c, struct json_object *o, struct sv_model_cfg *m)
{
	static const char *const known[] = { "name", "path", "aliases", "ctx_size",
		"chat_template", NULL };
	char *name = NULL;
	int err;

	check_keys(c, o, known);
	err = get_str(c, o, "name", &name);
	if (err > 0 || (!err && !*name)) {
		free(name);
		fprintf(stderr, "kllm-serve: %s: %s.name is required\n", c->file, c->where);
		return -EINVAL;
	}
	if (err)
		return err;
	snprintf(m->name, sizeof(m->name), "%s", name);
	free(name);
	err = get_str(c, o, "path", &m->path);
	if (err > 0) {
		fprintf(stderr, "kllm-serve: %s: %s.path is required\n", c->file, c->where);
		return -EINVAL;
	}
	TRY(err);
	TRY(get_strv(c, o, "aliases", &m->aliases, &m->n_aliases));
	TRY(get_u32(c, o, "ctx_size", &m->n_ctx));
	TRY(get_str(c, o, "chat_template", &m->chat_template));
	return 0;
}

/* Load the array @key of objects into *@arr (element size @size) with @fn. */
static int load_list(struct ctx *c, struct json_object *root, const char *key, size_t size,
		     void **arr, size_t *n,
		     int (*fn)(struct ctx *, struct json_object *, void *, const struct sv_config *),
		     const struct sv_config *cfg)
{
	struct json_object *v;
	size_t len;
	char *p;

	if (!json_object_object_get_ex(root, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return bad(c, key, "an array of objects");
	len = json_object_array_length(v);
	p = realloc(*arr, (*n + len + 1) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	for (size_t i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		void *dst = p + (*n) * size;

		memset(dst, 0, size);
		snprintf(c->where, sizeof(c->where), "%s[%zu]", key, i);
		if (!json_object_is_type(e, json_type_object))
			return bad(c, "", "an object");
		(*n)++;	/* counted now: sv_config_free frees a half-filled one */
		TRY(fn(c, e, dst, cfg));
	}
	c->where[0] = '\0';
	return 0;
}

static int model_fn(struct ctx *c, struct json_object *o, void *dst, const struct sv_config *cfg)
{
	(void)cfg;
	return load_model(c, o, dst);
}

static int app_fn(struct ctx *c, struct json_object *o, void *dst, const struct sv_config *cfg)
{
	return load_app(c, o, cfg, dst);
}

static int load_upstream(struct ctx *c, struct json_object *root, struct sv_upstream_cfg *u)
{
	static const char *const known[] = { "base_url", "key_file", "model_map", "timeout",
		"connect_timeout_ms", NULL };
	struct json_object *o, *map;
	char *key_file = NULL;
	int err;

	if (!json_object_object_get_ex(root, "upstream", &o))
		return 0;
	snprintf(c->where, sizeof(c->where), "upstream");
	if (!json_object_is_type(o, json_type_object))
		return bad(c, "", "an object");
	check_keys(c, o, known);
	TRY(get_str(c, o, "base_url", &u->base_url));
	TRY(get_u32(c, o, "timeout", &u->timeout_s));
	TRY(get_u32(c, o, "connect_timeout_ms", &u->connect_timeout_ms));
	TRY(get_str(c, o, "key_file", &key_file));
	if (key_file) {
		free(u->key);
		u->key = read_one_key(key_file, &err);
		free(key_file);
		if (err)
			return err;
	}
	if (json_object_object_get_ex(o, "model_map", &map)) {
		size_t n = (size_t)json_object_object_length(map);

		if (!json_object_is_type(map, json_type_object))
			return bad(c, "model_map", "an object of strings");
		u->map_from = calloc(n + 1, sizeof(char *));
		u->map_to = calloc(n + 1, sizeof(char *));
		if (!u->map_from || !u->map_to)
			return -ENOMEM;
		json_object_object_foreach(map, from, to) {
			if (!json_object_is_type(to, json_type_string))
				return bad(c, "model_map", "an object of strings");
			u->map_from[u->n_map] = strdup(from);
			u->map_to[u->n_map] = strdup(json_object_get_string(to));
			u->n_map++;
			if (!u->map_from[u->n_map - 1] || !u->map_to[u->n_map - 1])
				return -ENOMEM;
		}
	}
	c->where[0] = '\0';
	return 0;
}

static int load_anon(struct ctx *c, struct json_object *root, struct sv_policy *p)
{
	static const char *const known[] = { "max_priority", "priority", "route", "local_only",
		"latency_budget_ms", NULL };
	struct json_object *o;

	if (!json_object_object_get_ex(root, "anonymous", &o))
		return 0;
	snprintf(c->where, sizeof(c->where), "anonymous");
	if (!json_object_is_type(o, json_type_object))
		return bad(c, "", "an object");
	check_keys(c, o, known);
	TRY(load_policy(c, o, p));
	c->where[0] = '\0';
	return 0;
}

static int load_scalars(struct ctx *c, struct json_object *root, struct sv_config *cfg)
{
	struct json_object *v;
	char *s = NULL;
	uint32_t u;
	int r;

	TRY(get_str(c, root, "host", &cfg->host));
	TRY(get_str(c, root, "unix", &cfg->unix_path));
	if (!(r = get_u32(c, root, "port", &u))) {
		if (u > 65535)
			return bad(c, "port", "in [0, 65535]");
		cfg->port = (int)u;
	}
	TRY(r);
	TRY(get_u32(c, root, "max_conns", &cfg->max_conns));
	TRY(get_u32(c, root, "timeout", &cfg->conn_timeout_s));
	if (!(r = get_u32(c, root, "max_body", &u)))
		cfg->max_body = u;
	TRY(r);
	TRY(get_u32(c, root, "threads", &cfg->n_threads));
	TRY(get_u32(c, root, "ctx_size", &cfg->n_ctx));
	TRY(get_u32(c, root, "parallel", &cfg->n_parallel));
	TRY(get_u32(c, root, "batch_size", &cfg->max_batch));
	TRY(get_u32(c, root, "max_queue", &cfg->max_queue));
	TRY(get_u32(c, root, "idle_unload", &cfg->idle_unload_s));
	TRY(get_u32(c, root, "prefix_keep", &cfg->prefix_keep));
	TRY(get_strv(c, root, "public_prefixes", &cfg->public_prefixes, &cfg->n_public_prefixes));
	if (json_object_object_get_ex(root, "mem_budget", &v)) {
		int64_t b = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) :
			    json_object_is_type(v, json_type_string) ?
			    sv_config_size(json_object_get_string(v)) : -1;

		if (b < 0)
			return bad(c, "mem_budget", "bytes (an integer, or a string like \"2G\")");
		cfg->mem_budget = (uint64_t)b;
	}
	TRY(r = get_str(c, root, "log_format", &s));
	if (!r) {
		if (strcmp(s, "json") && strcmp(s, "text")) {
			free(s);
			return bad(c, "log_format", "\"text\" or \"json\"");
		}
		cfg->log_json = !strcmp(s, "json");
		free(s);
	}
	s = NULL;
	TRY(r = get_str(c, root, "api_key_file", &s));
	if (!r) {
		r = sv_config_read_keys(s, 1, &cfg->api_keys, &cfg->n_api_keys);
		free(s);
		TRY(r);
	}
	return 0;
}

int sv_config_load(const char *path, struct sv_config *cfg)
{
	static const char *const known[] = { "host", "port", "unix", "max_conns", "timeout",
		"max_body", "threads", "ctx_size", "parallel", "batch_size", "max_queue", "idle_unload",
		"mem_budget", "prefix_keep", "public_prefixes", "api_key_file", "log_format",
		"models", "apps", "anonymous", "upstream", NULL };
	struct ctx c = { .file = path, .where = "" };
	struct json_object *root;
	int err;

	root = json_object_from_file(path);
	if (!root) {
		fprintf(stderr, "kllm-serve: %s: %s\n", path, json_util_get_last_err());
		return -EINVAL;
	}
	if (!json_object_is_type(root, json_type_object)) {
		fprintf(stderr, "kllm-serve: %s: not a JSON object\n", path);
		json_object_put(root);
		return -EINVAL;
	}
	err = load_scalars(&c, root, cfg);	/* first: its log_format applies below */
	check_keys(&c, root, known);
	if (!err)
		err = load_list(&c, root, "models", sizeof(struct sv_model_cfg),
				(void **)&cfg->models, &cfg->n_models, model_fn, cfg);
	if (!err)
		err = load_list(&c, root, "apps", sizeof(struct sv_app_cfg),
				(void **)&cfg->apps, &cfg->n_apps, app_fn, cfg);
	if (!err)
		err = load_anon(&c, root, &cfg->anon);
	if (!err)
		err = load_upstream(&c, root, &cfg->upstream);
	if (err == -ENOMEM)
		fprintf(stderr, "kllm-serve: %s: %s\n", path, strerror(ENOMEM));
	json_object_put(root);
	return err;
}
