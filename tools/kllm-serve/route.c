// SPDX-License-Identifier: MIT
/*
 * route.c - who sent a request (the Unix peer's uid, the API key, else
 * anonymous), its priority under the app's cap, and where it runs: the
 * local engine or the cloud upstream (route local / cloud / auto, a
 * local_only app never leaves the device), with the engine's refusals
 * turned into OpenAI errors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

/* Compare two keys in time that does not depend on where they differ. */
static int key_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return !d;
}

static int keys_configured(const struct sv_config *cfg)
{
	if (cfg->n_api_keys)
		return 1;
	for (size_t i = 0; i < cfg->n_apps; i++)
		if (cfg->apps[i].api_key)
			return 1;
	return 0;
}

/* The app whose key @api_key is, or NULL. */
static const struct sv_app_cfg *app_of_key(const struct sv_config *cfg, const char *api_key)
{
	for (size_t i = 0; api_key && i < cfg->n_apps; i++)
		if (cfg->apps[i].api_key && key_eq(api_key, cfg->apps[i].api_key))
			return &cfg->apps[i];
	return NULL;
}

/*
 * A Unix-socket peer is its uid: the app listing that uid, else the app
 * whose key it presents, else the anonymous policy (its partition is its
 * uid all the same).  Over TCP the key decides; when keys are configured
 * a request without an accepted one is refused.
 */
int sv_app_resolve(const struct sv_config *cfg, int has_uid, uid_t uid,
		   const char *api_key, struct sv_app *app)
{
	const struct sv_app_cfg *a;

	memset(app, 0, sizeof(*app));
	app->pol = &cfg->anon;
	if (has_uid) {
		app->has_uid = 1;
		app->uid = uid;
		snprintf(app->key, sizeof(app->key), "uid:%u", (unsigned)uid);
		for (size_t i = 0; i < cfg->n_apps; i++)
			for (size_t j = 0; j < cfg->apps[i].n_uids; j++)
				if (cfg->apps[i].uids[j] == uid) {
					app->pol = &cfg->apps[i].pol;
					return 0;
				}
		if ((a = app_of_key(cfg, api_key))) {
			app->pol = &a->pol;
			snprintf(app->key, sizeof(app->key), "key:%s", a->pol.name);
		}
		return 0;
	}
	/*
	 * TCP.  --api-key-file (llama-server's --api-key) makes a key
	 * required; keys of apps alone do not: a keyless client is then
	 * anonymous (the "keyless TCP clients get the anonymous
	 * policy").  A key that is given must be one we know, once any is
	 * configured.
	 */
	snprintf(app->key, sizeof(app->key), "anon");
	if (!api_key)
		return cfg->n_api_keys ? -EACCES : 0;
	if ((a = app_of_key(cfg, api_key))) {
		app->pol = &a->pol;
		snprintf(app->key, sizeof(app->key), "key:%s", a->pol.name);
		return 0;
	}
	for (size_t i = 0; i < cfg->n_api_keys; i++)
		if (key_eq(api_key, cfg->api_keys[i]))
			return 0;
	return keys_configured(cfg) ? -EACCES : 0;
}

enum sv_prio sv_prio_cap(const struct sv_policy *pol, int asked)
{
	enum sv_prio p = asked < 0 ? pol->default_prio : (enum sv_prio)asked;

	return p > pol->max_prio ? pol->max_prio : p;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */

static void to_cloud(struct sv_out *o)
{
	int err;

	sv_out_set_route(o, SV_ROUTE_CLOUD);
	err = sv_upstream_start(o);
	if (err) {
		sv_log("error", "upstream_start", "id=%llu err=%d",
		       (unsigned long long)sv_out_req(o)->id, err);
		sv_out_error(o, 502, "upstream_error", "upstream_unavailable",
			     "the request could not be handed to the upstream", 0);
	}
}

/* Answer a refusal of sv_engine_submit. */
static void refused(struct sv_out *o, int err, uint32_t n_prompt, const char *why)
{
	struct sv_req *r = sv_out_req(o);
	struct sv_model_info info;
	char msg[512];

	switch (err) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "The model `%s` does not exist or you do not have "
			 "access to it.", r->model);
		sv_out_error(o, 404, "invalid_request_error", "model_not_found", msg, 0);
		break;
	case -E2BIG:
		memset(&info, 0, sizeof(info));
		sv_model_find(r->model, &info);
		if (r->max_tokens >= 0)
			snprintf(msg, sizeof(msg), "This model's maximum context length is %u "
				 "tokens. However, you requested %llu tokens (%u in the prompt, %d "
				 "in the completion). Please reduce the length of the prompt or "
				 "the completion.", info.n_ctx,
				 (unsigned long long)n_prompt + (unsigned)r->max_tokens, n_prompt,
				 r->max_tokens);
		else
			snprintf(msg, sizeof(msg), "This model's maximum context length is %u "
				 "tokens. However, your prompt has %u tokens.", info.n_ctx,
				 n_prompt);
		sv_out_error(o, 400, "invalid_request_error", "context_length_exceeded", msg, 0);
		break;
	case -EAGAIN:
	case -EBUSY:
		sv_out_error(o, 429, "rate_limit_error", "queue_full",
			     "The server's queue for this model is full; retry later.", 1);
		break;
	case -ENOMEM:
		sv_out_error(o, 503, "server_error", "insufficient_memory",
			     "The model does not fit the server's memory budget now; retry later.",
			     5);
		break;
	case -ESHUTDOWN:
		sv_out_error(o, 503, "server_error", "shutting_down",
			     "The server is shutting down; retry later.", 5);
		break;
	case -EINVAL:
		sv_out_error(o, 400, "invalid_request_error", NULL,
			     why ? why : "invalid request", 0);
		break;
	case -EIO:	/* the model failed to load: why says how */
		sv_out_error(o, 500, "server_error", "model_load_failed",
			     why ? why : "the model failed to load", 0);
		break;
	default:
		snprintf(msg, sizeof(msg), "internal error (%s)", strerror(-err));
		sv_out_error(o, 500, "server_error", "internal_error", msg, 0);
	}
}

static int model_missing(const char *name)
{
	struct sv_model_info info;

	return sv_model_find(name, &info) == -ENOENT;
}

void sv_dispatch(struct sv_out *o)
{
	struct sv_req *r = sv_out_req(o);
	const struct sv_policy *pol = r->app.pol;
	enum sv_route route = r->route;
	int cloud_ok = !pol->local_only && sv_upstream_enabled();
	const char *why = NULL;
	uint32_t n_prompt = 0;
	int err;

	if (pol->local_only && route != SV_ROUTE_LOCAL) {
		if (route == SV_ROUTE_CLOUD)
			sv_log("info", "route_local_only", "id=%llu app=%s asked=cloud ran=local",
			       (unsigned long long)r->id, pol->name);
		route = SV_ROUTE_LOCAL;
	}
	if (route == SV_ROUTE_CLOUD) {
		if (!sv_upstream_enabled()) {
			sv_out_set_route(o, SV_ROUTE_CLOUD);
			sv_out_error(o, 503, "server_error", "no_upstream",
				     "route \"cloud\" was asked for but no upstream is configured",
				     0);
			return;
		}
		to_cloud(o);
		return;
	}
	if (route == SV_ROUTE_AUTO && cloud_ok && model_missing(r->model)) {
		sv_log("debug", "route_auto", "id=%llu to=cloud why=model", (unsigned long long)r->id);
		to_cloud(o);
		return;
	}
	sv_out_set_route(o, SV_ROUTE_LOCAL);
	err = sv_engine_submit(o, route == SV_ROUTE_AUTO && cloud_ok ? pol->latency_budget_ms : 0,
			       &n_prompt, &why);
	if (!err)
		return;
	if (route == SV_ROUTE_AUTO && cloud_ok && (err == -E2BIG || err == -EAGAIN)) {
		sv_log("debug", "route_auto", "id=%llu to=cloud why=%s", (unsigned long long)r->id,
		       err == -E2BIG ? "context" : "latency");
		to_cloud(o);
		return;
	}
	refused(o, err, n_prompt, why);
}
