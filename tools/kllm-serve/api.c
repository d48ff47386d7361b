// SPDX-License-Identifier: MIT
/*
 * api.c - kllm-serve's OpenAI JSON (json-c): completion request bodies
 * into struct sv_req (strict JSON, valid UTF-8, types checked, unknown
 * fields ignored), and the response objects, stream chunks, log-probs,
 * model list and error bodies in OpenAI's shapes.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define API_MAX_STOP 4
#define API_MAX_TOP_LOGPROBS 20

static const char *const prio_names[] = { "background", "normal", "interactive" };
static const char *const route_names[] = { "local", "cloud", "auto" };

int api_parse_prio(const char *s, enum sv_prio *p)
{
	for (int i = 0; i < 3; i++)
		if (!strcasecmp(s, prio_names[i])) {
			*p = (enum sv_prio)i;
			return 0;
		}
	return -EINVAL;
}

int api_parse_route(const char *s, enum sv_route *rt)
{
	for (int i = 0; i < 3; i++)
		if (!strcasecmp(s, route_names[i])) {
			*rt = (enum sv_route)i;
			return 0;
		}
	return -EINVAL;
}

const char *api_route_name(enum sv_route rt)
{
	return (unsigned)rt < 3 ? route_names[rt] : "local";
}

void sv_req_free(struct sv_req *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_msgs; i++) {
		free(r->msgs[i].role);
		free(r->msgs[i].content);
	}
	free(r->msgs);
	free(r->prompt);
	for (size_t i = 0; i < r->n_stop; i++)
		free(r->stop[i]);
	free(r->stop);
	if (r->body)
		json_object_put(r->body);
	free(r);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

struct pctx {
	char *why;
	size_t why_len;
	const char **param;
};

static int fail(struct pctx *c, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct pctx *c, const char *param, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, c->why_len, fmt, ap);
	va_end(ap);
	*c->param = param;
	return -EINVAL;
}

/* The value of @key, NULL when absent or null. */
static struct json_object *field(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static int get_number(struct pctx *c, struct json_object *o, const char *key, double lo,
		      double hi, float *dst)
{
	struct json_object *v = field(o, key);
	double d;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return fail(c, key, "'%s' must be a number", key);
	d = json_object_get_double(v);
	if (!(d >= lo && d <= hi))
		return fail(c, key, "'%s' must be in [%g, %g]", key, lo, hi);
	*dst = (float)d;
	return 0;
}

static int get_int(struct pctx *c, struct json_object *o, const char *key, int64_t lo,
		   int64_t hi, int64_t *dst)
{
	struct json_object *v = field(o, key);
	int64_t x;

	if (!v)
		return 1;
	if (!json_object_is_type(v, json_type_int))
		return fail(c, key, "'%s' must be an integer", key);
	x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return fail(c, key, "'%s' must be in [%lld, %lld]", key, (long long)lo,
			    (long long)hi);
	*dst = x;
	return 0;
}

static int get_bool(struct pctx *c, struct json_object *o, const char *key, int *dst)
{
	struct json_object *v = field(o, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return fail(c, key, "'%s' must be a boolean", key);
	*dst = json_object_get_boolean(v);
	return 0;
}

/* A message's content: a string, or an array of {"type":"text","text":...}
 * parts joined. */
static int content_text(struct pctx *c, struct json_object *v, char **dst)
{
	size_t n, len = 0;
	char *s;

	if (!v) {
		*dst = strdup("");
		return *dst ? 0 : -ENOMEM;
	}
	if (json_object_is_type(v, json_type_string)) {
		*dst = strdup(json_object_get_string(v));
		return *dst ? 0 : -ENOMEM;
	}
	if (!json_object_is_type(v, json_type_array))
		return fail(c, "messages", "a message's 'content' must be a string or an array of parts");
	n = json_object_array_length(v);
	s = calloc(1, 1);
	for (size_t i = 0; s && i < n; i++) {
		struct json_object *p = json_object_array_get_idx(v, i), *type, *text;
		const char *t;
		char *ns;

		if (!json_object_is_type(p, json_type_object) ||
		    !(type = field(p, "type")) || !json_object_is_type(type, json_type_string)) {
			free(s);
			return fail(c, "messages", "a content part must be an object with a 'type'");
		}
		if (strcmp(json_object_get_string(type), "text")) {
			free(s);
			return fail(c, "messages", "content parts of type '%s' are not supported",
				    json_object_get_string(type));
		}
		text = field(p, "text");
		if (!text || !json_object_is_type(text, json_type_string)) {
			free(s);
			return fail(c, "messages", "a text part needs a string 'text'");
		}
		t = json_object_get_string(text);
		ns = realloc(s, len + strlen(t) + 1);
		if (!ns)
			break;
		s = ns;
		memcpy(s + len, t, strlen(t) + 1);
		len += strlen(t);
	}
	if (!s)
		return -ENOMEM;
	*dst = s;
	return 0;
}

static int parse_messages(struct pctx *c, struct json_object *root, struct sv_req *r)
{
	struct json_object *v = field(root, "messages");
	size_t n;

	if (!v)
		return fail(c, "messages", "'messages' is required");
	if (!json_object_is_type(v, json_type_array) || !(n = json_object_array_length(v)))
		return fail(c, "messages", "'messages' must be a non-empty array");
	r->msgs = calloc(n, sizeof(*r->msgs));
	if (!r->msgs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(v, i), *role;
		int err;

		if (!json_object_is_type(m, json_type_object))
			return fail(c, "messages", "messages[%zu] must be an object", i);
		role = field(m, "role");
		if (!role || !json_object_is_type(role, json_type_string))
			return fail(c, "messages", "messages[%zu].role must be a string", i);
		if (!(r->msgs[i].role = strdup(json_object_get_string(role))))
			return -ENOMEM;
		r->n_msgs = i + 1;
		err = content_text(c, field(m, "content"), &r->msgs[i].content);
		if (err)
			return err;
	}
	return 0;
}

static int parse_prompt(struct pctx *c, struct json_object *root, struct sv_req *r)
{
	struct json_object *v = field(root, "prompt");

	if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 1)
		v = json_object_array_get_idx(v, 0);
	if (!v)
		return fail(c, "prompt", "'prompt' is required");
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "prompt", "'prompt' must be a string (or an array of one string)");
	r->prompt = strdup(json_object_get_string(v));
	return r->prompt ? 0 : -ENOMEM;
}

static int parse_stop(struct pctx *c, struct json_object *root, struct sv_req *r)
{
	struct json_object *v = field(root, "stop");
	size_t n = 1;

	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_array))
		n = json_object_array_length(v);
	else if (!json_object_is_type(v, json_type_string))
		return fail(c, "stop", "'stop' must be a string or an array of strings");
	if (n > API_MAX_STOP)
		return fail(c, "stop", "'stop' takes at most %d strings", API_MAX_STOP);
	r->stop = calloc(n ? n : 1, sizeof(char *));
	if (!r->stop)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_is_type(v, json_type_array) ?
					json_object_array_get_idx(v, i) : v;

		if (!json_object_is_type(s, json_type_string))
			return fail(c, "stop", "'stop' must be a string or an array of strings");
		if (!json_object_get_string_len(s))
			continue;
		if (!(r->stop[r->n_stop] = strdup(json_object_get_string(s))))
			return -ENOMEM;
		r->n_stop++;
	}
	return 0;
}

static int parse_logprobs(struct pctx *c, struct json_object *root, struct sv_req *r)
{
	int64_t x;
	int err;

	if (r->chat) {
		err = get_bool(c, root, "logprobs", &r->logprobs);
		if (err)
			return err;
		err = get_int(c, root, "top_logprobs", 0, API_MAX_TOP_LOGPROBS, &x);
		if (err < 0)
			return err;
		if (!err) {
			if (!r->logprobs && x)
				return fail(c, "top_logprobs",
					    "'top_logprobs' needs 'logprobs' set to true");
			r->top_logprobs = (int)x;
		}
		return 0;
	}
	/* completions: "logprobs": N, the sampled token's and N more */
	err = get_int(c, root, "logprobs", 0, API_MAX_TOP_LOGPROBS, &x);
	if (err < 0)
		return err;
	if (!err) {
		r->logprobs = 1;
		r->top_logprobs = (int)x;
	}
	return 0;
}

static int parse_sampling(struct pctx *c, struct json_object *root, struct sv_req *r)
{
	int64_t x;
	int err;

	r->max_tokens = -1;
	r->temperature = 1.0f;
	r->top_p = 1.0f;
	if ((err = get_int(c, root, "max_completion_tokens", 0, INT32_MAX, &x)) < 0)
		return err;
	if (err && (err = get_int(c, root, "max_tokens", 0, INT32_MAX, &x)) < 0)
		return err;
	if (!err)
		r->max_tokens = (int32_t)x;
	if ((err = get_int(c, root, "n", 1, 1, &x)) < 0)
		return fail(c, "n", "only 'n': 1 is supported");
	if ((err = get_number(c, root, "temperature", 0, 2, &r->temperature)) ||
	    (err = get_number(c, root, "top_p", 0, 1, &r->top_p)) ||
	    (err = get_number(c, root, "min_p", 0, 1, &r->min_p)) ||
	    (err = get_number(c, root, "presence_penalty", -2, 2, &r->presence_penalty)) ||
	    (err = get_number(c, root, "frequency_penalty", -2, 2, &r->frequency_penalty)))
		return err;
	if ((err = get_int(c, root, "top_k", -1, INT32_MAX, &x)) < 0)
		return err;
	if (!err)
		r->top_k = x < 0 ? 0 : (int32_t)x;
	if ((err = get_int(c, root, "seed", INT64_MIN, INT64_MAX, &x)) < 0)
		return err;
	if (!err) {
		r->has_seed = 1;
		r->seed = (uint64_t)x;
	}
	/* llama-server's extension: generate max_tokens whatever the model says */
	if ((err = get_bool(c, root, "ignore_eos", &r->ignore_eos)) < 0)
		return err;
	return 0;
}

static int parse_stream(struct pctx *c, struct json_object *root, struct sv_req *r)
{
	struct json_object *so;
	int err = get_bool(c, root, "stream", &r->stream);

	if (err)
		return err;
	so = field(root, "stream_options");
	if (!so)
		return 0;
	if (!json_object_is_type(so, json_type_object))
		return fail(c, "stream_options", "'stream_options' must be an object");
	return get_bool(c, so, "include_usage", &r->include_usage);
}

/* "priority" and "route": the body's field, else the header, else the
 * app's policy; the priority capped by it. */
static int parse_policy(struct pctx *c, struct json_object *root, struct sv_req *r,
			const char *hdr_prio, const char *hdr_route)
{
	struct json_object *v;
	const char *s;
	enum sv_prio p;
	int asked = -1;

	v = field(root, "priority");
	if (v && !json_object_is_type(v, json_type_string))
		return fail(c, "priority", "'priority' must be a string");
	s = v ? json_object_get_string(v) : hdr_prio;
	if (s) {
		if (api_parse_prio(s, &p))
			return fail(c, "priority",
				    "'priority' must be \"interactive\", \"normal\" or \"background\"");
		asked = (int)p;
	}
	r->prio = sv_prio_cap(r->app.pol, asked);
	v = field(root, "route");
	if (v && !json_object_is_type(v, json_type_string))
		return fail(c, "route", "'route' must be a string");
	s = v ? json_object_get_string(v) : hdr_route;
	r->route = r->app.pol->route;
	if (s && api_parse_route(s, &r->route))
		return fail(c, "route", "'route' must be \"local\", \"auto\" or \"cloud\"");
	return 0;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Offset of the first byte of s[0..n) that is not strict UTF-8 (overlong
 * forms, surrogates, above U+10FFFF, a NUL byte), or n. */
static size_t utf8_bad(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, len;

	for (i = 0; i < n && u[i] && (len = utf8_seq(u + i, n - i)); i += len)
		;
	return i;
}

/* 1 when a string anywhere in @o holds U+0000 ("\u0000"): C strings would
 * cut it there, so "smollm2\u0000x" must not be taken for "smollm2". */
static int has_nul(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		return strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o);
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (has_nul(json_object_array_get_idx(o, i)))
				return 1;
		return 0;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			if (has_nul(val))
				return 1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* The body as a strict JSON object with valid UTF-8 and nothing after it. */
static struct json_object *parse_json(struct pctx *c, const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	end = utf8_bad(body, len);
	if (end < len) {
		fail(c, NULL, "invalid JSON body: not valid UTF-8 (byte %zu)", end);
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root || jerr != json_tokener_success) {
		if (root)
			json_object_put(root);
		fail(c, NULL, "invalid JSON body: %s", jerr == json_tokener_continue ?
		     "unexpected end of input" : json_tokener_error_desc(jerr));
		return NULL;
	}
	while (end < len && strchr(" \t\r\n", body[end]))
		end++;
	if (end == len && has_nul(root)) {
		json_object_put(root);
		fail(c, NULL, "invalid JSON body: a string holds U+0000");
		return NULL;
	}
	if (end < len || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		fail(c, NULL, "invalid JSON body: %s", end < len ? "data after the object" :
		     "the body must be a JSON object");
		return NULL;
	}
	return root;
}

int api_parse(struct sv_req *r, int chat, const char *body, size_t len,
	      const char *hdr_prio, const char *hdr_route,
	      char *why, size_t why_len, const char **param)
{
	struct pctx c = { why, why_len, param };
	struct json_object *root, *model;
	int err;

	*param = NULL;
	why[0] = '\0';
	if (len > INT32_MAX)
		return fail(&c, NULL, "body too large");
	root = parse_json(&c, body, len);
	if (!root)
		return why[0] ? -EINVAL : -ENOMEM;
	r->body = root;
	r->chat = chat;
	model = field(root, "model");
	if (!model)
		return fail(&c, "model", "'model' is required");
	if (!json_object_is_type(model, json_type_string) ||
	    json_object_get_string_len(model) >= SV_NAME_MAX)
		return fail(&c, "model", "'model' must be a string shorter than %d bytes",
			    SV_NAME_MAX);
	snprintf(r->model, sizeof(r->model), "%s", json_object_get_string(model));
	err = chat ? parse_messages(&c, root, r) : parse_prompt(&c, root, r);
	if (!err)
		err = parse_sampling(&c, root, r);
	if (!err)
		err = parse_stop(&c, root, r);
	if (!err)
		err = parse_logprobs(&c, root, r);
	if (!err)
		err = parse_stream(&c, root, r);
	if (!err)
		err = parse_policy(&c, root, r, hdr_prio, hdr_route);
	return err;
}

/* ------------------------------------------------------------------ */
/* Formatting                                                           */


/*
 * A JSON string of s[0..n) that is valid UTF-8 whatever the producer gave:
 * each invalid byte becomes U+FFFD (the detokenizer holds an incomplete
 * character back, but a model may still emit a stray byte token).
 */
static struct json_object *jstr(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	struct json_object *o;
	size_t i, k, len;
	char *fix;

	for (i = 0; i < n && (len = utf8_seq(u + i, n - i)); i += len)
		;
	if (i == n)
		return json_object_new_string_len(s, (int)n);
	fix = malloc(3 * n + 1);
	if (!fix)
		return json_object_new_string("");
	memcpy(fix, s, i);
	for (k = i; i < n; ) {
		len = utf8_seq(u + i, n - i);
		if (len) {
			memcpy(fix + k, s + i, len);
			k += len;
			i += len;
		} else {
			memcpy(fix + k, "\xef\xbf\xbd", 3);
			k += 3;
			i++;
		}
	}
	o = json_object_new_string_len(fix, (int)k);
	free(fix);
	return o;
}

static struct json_object *jstr0(const char *s)
{
	return jstr(s, strlen(s));
}

static char *finish_json(struct json_object *o, size_t *len)
{
	const char *s;
	size_t n;
	char *out = NULL;

	if (!o)
		return NULL;
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (s && (out = malloc(n + 1))) {
		memcpy(out, s, n + 1);
		if (len)
			*len = n;
	}
	json_object_put(o);
	return out;
}

char *api_error_json(const char *type, const char *code, const char *msg,
		     const char *param, size_t *len)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();

	if (!o || !e) {
		json_object_put(o);
		json_object_put(e);
		return NULL;
	}
	json_object_object_add(e, "message", json_object_new_string(msg ? msg : ""));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "param", param ? json_object_new_string(param) : NULL);
	json_object_object_add(e, "code", code ? json_object_new_string(code) : NULL);
	json_object_object_add(o, "error", e);
	return finish_json(o, len);
}

const char *api_finish_name(enum sv_finish why)
{
	return why == SV_FINISH_LENGTH ? "length" : "stop";
}

static struct json_object *bytes_array(const char *s)
{
	struct json_object *a = json_object_new_array();

	for (; *s; s++)
		json_object_array_add(a, json_object_new_int((unsigned char)*s));
	return a;
}

/* A finite log-probability (-inf as -9999, as llama-server). */
static struct json_object *lp_value(float lp)
{
	return json_object_new_double(isfinite(lp) ? lp : -9999.0);
}

static struct json_object *chat_lp_item(const char *text, float lp)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "token", jstr0(text));
	json_object_object_add(o, "logprob", lp_value(lp));
	json_object_object_add(o, "bytes", bytes_array(text));
	return o;
}

struct json_object *api_logprobs_new(int chat)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (chat) {
		json_object_object_add(o, "content", json_object_new_array());
	} else {
		json_object_object_add(o, "tokens", json_object_new_array());
		json_object_object_add(o, "token_logprobs", json_object_new_array());
		json_object_object_add(o, "top_logprobs", json_object_new_array());
		json_object_object_add(o, "text_offset", json_object_new_array());
	}
	return o;
}

void api_logprobs_add(struct json_object *lp, int chat, const struct sv_token *t,
		      size_t text_offset)
{
	struct json_object *a;
	int n_top = t->n_top < 0 ? 0 : t->n_top > 20 ? 20 : t->n_top;

	if (!lp)
		return;
	if (chat) {
		struct json_object *item = chat_lp_item(t->tok_text, t->logprob);
		struct json_object *tops = json_object_new_array();

		for (int i = 0; i < n_top; i++)
			json_object_array_add(tops, chat_lp_item(t->top[i].text, t->top[i].logprob));
		json_object_object_add(item, "top_logprobs", tops);
		json_object_object_get_ex(lp, "content", &a);
		json_object_array_add(a, item);
		return;
	}
	json_object_object_get_ex(lp, "tokens", &a);
	json_object_array_add(a, jstr0(t->tok_text));
	json_object_object_get_ex(lp, "token_logprobs", &a);
	json_object_array_add(a, lp_value(t->logprob));
	json_object_object_get_ex(lp, "top_logprobs", &a);
	{
		struct json_object *tops = json_object_new_object();

		for (int i = 0; i < n_top; i++)
			json_object_object_add(tops, t->top[i].text, lp_value(t->top[i].logprob));
		json_object_array_add(a, tops);
	}
	json_object_object_get_ex(lp, "text_offset", &a);
	json_object_array_add(a, json_object_new_int64((int64_t)text_offset));
}

static struct json_object *usage_json(const struct sv_usage *u)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();

	json_object_object_add(o, "prompt_tokens", json_object_new_int64(u->prompt_tokens));
	json_object_object_add(o, "completion_tokens", json_object_new_int64(u->completion_tokens));
	json_object_object_add(o, "total_tokens",
			       json_object_new_int64((int64_t)u->prompt_tokens + u->completion_tokens));
	json_object_object_add(d, "cached_tokens", json_object_new_int64(u->cached_tokens));
	json_object_object_add(o, "prompt_tokens_details", d);
	return o;
}

static struct json_object *head_json(const struct sv_req *r, uint64_t created, const char *object)
{
	struct json_object *o = json_object_new_object();
	char id[48];

	if (!o)
		return NULL;
	snprintf(id, sizeof(id), "%s-%016llx", r->chat ? "chatcmpl" : "cmpl",
		 (unsigned long long)r->id);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "object", json_object_new_string(object));
	json_object_object_add(o, "created", json_object_new_int64((int64_t)created));
	json_object_object_add(o, "model", json_object_new_string(r->model));
	return o;
}

char *api_response(const struct sv_req *r, uint64_t created, const char *text, size_t len,
		   struct json_object *logprobs, enum sv_finish why,
		   const struct sv_usage *u, size_t *out_len)
{
	struct json_object *o = head_json(r, created, r->chat ? "chat.completion" :
					  "text_completion");
	struct json_object *choices = json_object_new_array(), *ch = json_object_new_object();

	json_object_object_add(ch, "index", json_object_new_int(0));
	if (r->chat) {
		struct json_object *m = json_object_new_object();

		json_object_object_add(m, "role", json_object_new_string("assistant"));
		json_object_object_add(m, "content", jstr(text, len));
		json_object_object_add(ch, "message", m);
	} else {
		json_object_object_add(ch, "text", jstr(text, len));
	}
	json_object_object_add(ch, "logprobs", logprobs);
	json_object_object_add(ch, "finish_reason", json_object_new_string(api_finish_name(why)));
	json_object_array_add(choices, ch);
	json_object_object_add(o, "choices", choices);
	json_object_object_add(o, "usage", usage_json(u));
	return finish_json(o, out_len);
}

char *api_chunk(const struct sv_req *r, uint64_t created, const char *text, size_t len,
		struct json_object *logprobs, const char *finish, int first,
		const struct sv_usage *usage_only, size_t *out_len)
{
	struct json_object *o = head_json(r, created, r->chat ? "chat.completion.chunk" :
					  "text_completion");
	struct json_object *choices = json_object_new_array(), *ch;

	if (usage_only) {
		json_object_object_add(o, "choices", choices);
		json_object_object_add(o, "usage", usage_json(usage_only));
		return finish_json(o, out_len);
	}
	ch = json_object_new_object();
	json_object_object_add(ch, "index", json_object_new_int(0));
	if (r->chat) {
		struct json_object *d = json_object_new_object();

		if (first)
			json_object_object_add(d, "role", json_object_new_string("assistant"));
		if (!finish)
			json_object_object_add(d, "content", jstr(text, len));
		json_object_object_add(ch, "delta", d);
	} else {
		json_object_object_add(ch, "text", jstr(text, len));
	}
	json_object_object_add(ch, "logprobs", logprobs);
	json_object_object_add(ch, "finish_reason", finish ? json_object_new_string(finish) : NULL);
	json_object_array_add(choices, ch);
	json_object_object_add(o, "choices", choices);
	return finish_json(o, out_len);
}

static void model_fn(void *arg, const struct sv_model_info *m)
{
	struct json_object *data = arg, *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(m->name));
	json_object_object_add(o, "object", json_object_new_string("model"));
	json_object_object_add(o, "created", json_object_new_int64((int64_t)m->created));
	json_object_object_add(o, "owned_by", json_object_new_string("kllm"));
	json_object_array_add(data, o);
}

char *api_models_json(size_t *len)
{
	struct json_object *o = json_object_new_object(), *data = json_object_new_array();

	json_object_object_add(o, "object", json_object_new_string("list"));
	sv_models_each(model_fn, data);
	json_object_object_add(o, "data", data);
	return finish_json(o, len);
}
