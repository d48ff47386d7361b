// SPDX-License-Identifier: MIT
/*
 * models.c - kllm-serve's model registry: the configured models by name
 * and alias, loaded on first use (concurrent callers wait on one load),
 * unloaded after idle_unload_s with nothing queued or running, within
 * mem_budget (a model costs its weights plus the KV of all its sequence
 * slots at n_ctx; a load evicts idle models, least recently used first,
 * else fails with -ENOMEM).
 *
 * n_ctx per sequence: the model's own setting, else the server's (-c),
 * else the model's trained context capped at SV_CTX_CAP (known once the
 * model was loaded; sv_model_find reports 0 until then).
 *
 * A janitor thread wakes every second for idle unloads and, on the device
 * engine, for freeing per-app engines idle for SV_DEV_IDLE_S.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"

#define SV_CTX_CAP 4096
#define SV_DEV_IDLE_S 60.0

pthread_mutex_t sv_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t sv_cond = PTHREAD_COND_INITIALIZER;
struct sv_model *sv_models;
size_t sv_n_models;
int sv_shutting;

const struct sv_config *sv_mcfg;
static pthread_t janitor;
static int janitor_on, janitor_stop;
static pthread_cond_t janitor_cond = PTHREAD_COND_INITIALIZER;

uint32_t sv_n_parallel(void)
{
	return sv_mcfg && sv_mcfg->n_parallel ? sv_mcfg->n_parallel : 4;
}

uint32_t sv_prefix_keep(void)
{
	return sv_mcfg ? sv_mcfg->prefix_keep : 0;
}

static int name_is(const struct sv_model_cfg *mc, const char *name)
{
	if (!strcmp(mc->name, name))
		return 1;
	for (size_t i = 0; i < mc->n_aliases; i++)
		if (!strcmp(mc->aliases[i], name))
			return 1;
	return 0;
}

static struct sv_model *model_by_name(const char *name)
{
	for (size_t i = 0; name && i < sv_n_models; i++)
		if (name_is(sv_models[i].cfg, name))
			return &sv_models[i];
	return NULL;
}

static uint32_t ctx_wanted(const struct sv_model *m)
{
	if (m->cfg->n_ctx)
		return m->cfg->n_ctx;
	return sv_mcfg->n_ctx;
}

static void info_fill(const struct sv_model *m, struct sv_model_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", m->cfg->name);
	info->n_ctx = m->n_ctx;
	info->loaded = m->state == SV_M_LOADED;
	info->created = m->created;
}

int sv_model_find(const char *name, struct sv_model_info *info)
{
	struct sv_model *m;

	pthread_mutex_lock(&sv_lock);
	m = model_by_name(name);
	if (m && info)
		info_fill(m, info);
	pthread_mutex_unlock(&sv_lock);
	return m ? 0 : -ENOENT;
}

void sv_models_each(void (*fn)(void *arg, const struct sv_model_info *m), void *arg)
{
	struct sv_model_info *info;
	size_t n;

	/* copied under the lock: fn may take its time */
	pthread_mutex_lock(&sv_lock);
	n = sv_n_models;
	info = calloc(n ? n : 1, sizeof(*info));
	for (size_t i = 0; info && i < n; i++)
		info_fill(&sv_models[i], &info[i]);
	pthread_mutex_unlock(&sv_lock);
	for (size_t i = 0; info && i < n; i++)
		fn(arg, &info[i]);
	free(info);
}

/* ------------------------------------------------------------------ */
/* Loading and unloading                                               */

/* Free what a load made (no engine runs). */
static void model_drop(struct sv_model *m)
{
	free(m->eog);
	m->eog = NULL;
	m->n_eog = 0;
	sv_pubs_free(m);
	kllm_llm_free(m->llm);
	m->llm = NULL;
}

/* Stop @m's engines and free it: sv_lock held, state LOADED, no users.
 * The lock is dropped meanwhile (state UNLOADING). */
static void model_unload_locked(struct sv_model *m, const char *why)
{
	struct sv_eng *g;

	m->state = SV_M_UNLOADING;
	/* submits between acquire and queueing still use the model */
	while (m->submitting)
		pthread_cond_wait(&sv_cond, &sv_lock);
	g = m->engs;
	m->engs = NULL;
	pthread_mutex_unlock(&sv_lock);
	while (g) {
		struct sv_eng *next = g->next;

		sv_eng_stop(g);
		g = next;
	}
	model_drop(m);
	sv_log("info", "model_unload", "model=%s reason=%s", m->cfg->name, why);
	pthread_mutex_lock(&sv_lock);
	m->state = SV_M_UNLOADED;
	m->cost = 0;
	pthread_cond_broadcast(&sv_cond);
}

/* The least recently used loaded model without users, other than @skip. */
static struct sv_model *lru_idle(const struct sv_model *skip)
{
	struct sv_model *best = NULL;

	for (size_t i = 0; i < sv_n_models; i++) {
		struct sv_model *m = &sv_models[i];

		if (m == skip || m->state != SV_M_LOADED || m->users)
			continue;
		if (!best || m->t_used < best->t_used)
			best = m;
	}
	return best;
}

static uint64_t cost_loaded(const struct sv_model *skip)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < sv_n_models; i++)
		if (&sv_models[i] != skip && sv_models[i].state != SV_M_UNLOADED)
			sum += sv_models[i].cost;
	return sum;
}

/* Make room for @m's cost (sv_lock held): 0 or -ENOMEM. */
static int budget_fit(struct sv_model *m)
{
	struct sv_model *v;

	if (!sv_mcfg->mem_budget)
		return 0;
	if (m->cost > sv_mcfg->mem_budget)
		return -ENOMEM;
	while (cost_loaded(m) + m->cost > sv_mcfg->mem_budget) {
		v = lru_idle(m);
		if (!v)
			return -ENOMEM;
		model_unload_locked(v, "budget");
		/* the lock was dropped: shutdown may have begun */
		if (sv_shutting)
			return -ESHUTDOWN;
	}
	return 0;
}

/* The end-of-generation ids, for requests that ignore them. */
static int eog_list(struct sv_model *m)
{
	uint32_t n_vocab = kllm_llm_info(m->llm)->n_vocab, n = 0;

	for (uint32_t id = 0; id < n_vocab; id++)
		n += kllm_token_is_eog(m->llm, (int32_t)id) == 1;
	m->eog = malloc(sizeof(*m->eog) * (n ? n : 1));
	if (!m->eog)
		return -ENOMEM;
	for (uint32_t id = 0; id < n_vocab; id++)
		if (kllm_token_is_eog(m->llm, (int32_t)id) == 1)
			m->eog[m->n_eog++] = (int32_t)id;
	return 0;
}

/* The model file's facts: n_ctx and cost (set by the caller under the
 * lock), KV per position; template, EOG ids, public prefixes. */
static int model_setup(struct sv_model *m, uint32_t *n_ctx, uint64_t *cost,
		       const char **why)
{
	const struct kllm_llm_info *in = kllm_llm_info(m->llm);
	uint32_t head_dim = in->n_head ? in->n_embd / in->n_head : 0;
	uint64_t n_seqs = sv_n_parallel() + sv_prefix_keep();

	*n_ctx = ctx_wanted(m);
	if (!*n_ctx)
		*n_ctx = in->n_ctx_train && in->n_ctx_train < SV_CTX_CAP ? in->n_ctx_train
									 : SV_CTX_CAP;
	m->weights_bytes = in->weights_bytes;
	/* K and V, f16, of every layer (runtime/compile.c's layout) */
	m->kv_tok_bytes = 2ull * 2 * in->n_layer * in->n_head_kv * head_dim;
	*cost = m->weights_bytes + m->kv_tok_bytes * *n_ctx * n_seqs;
	m->tmpl = kllm_chat_template(m->llm, m->cfg->chat_template);
	if (m->tmpl < 0) {
		if (m->cfg->chat_template) {
			*why = "unknown chat template in the configuration";
			return -EINVAL;
		}
		sv_log("warn", "chat_template", "model=%s msg=\"%s\" using=chatml",
		       m->cfg->name, kllm_last_error());
		m->tmpl = kllm_chat_template(m->llm, "chatml");
	}
	if (eog_list(m) ||
	    sv_pubs_load(m, sv_mcfg->public_prefixes, sv_mcfg->n_public_prefixes)) {
		*why = "out of memory";
		return -ENOMEM;
	}
	return 0;
}

/*
 * Load @m (sv_lock held, state UNLOADED; the lock is dropped meanwhile):
 * the file, then the first engine (which tells whether the device engine
 * runs: then engines are per app and class, made on use).
 */
static int model_load_locked(struct sv_model *m, const char **why)
{
	static __thread char msg[256];
	struct sv_eng *g = NULL;
	double t0 = sv_now();
	uint32_t n_ctx = 0;
	uint64_t cost = 0;
	int ret;

	m->state = SV_M_LOADING;
	m->load_gen++;
	pthread_mutex_unlock(&sv_lock);
	ret = kllm_llm_load(m->cfg->path, &m->llm);
	if (ret) {
		snprintf(msg, sizeof(msg), "model '%s' failed to load: %s", m->cfg->name,
			 kllm_last_error());
		*why = msg;
		ret = ret == -ENOMEM ? -ENOMEM : -EIO;
	}
	if (!ret)
		ret = model_setup(m, &n_ctx, &cost, why);
	pthread_mutex_lock(&sv_lock);
	if (!ret) {
		m->n_ctx = n_ctx;
		m->cost = cost;
	}
	if (!ret && sv_shutting) {
		*why = "server shutting down";
		ret = -ESHUTDOWN;
	}
	if (!ret) {
		ret = budget_fit(m);
		if (ret == -ENOMEM) {
			snprintf(msg, sizeof(msg), "model '%s' does not fit the memory budget",
				 m->cfg->name);
			*why = msg;
		}
	}
	if (!ret) {
		pthread_mutex_unlock(&sv_lock);
		ret = sv_eng_start(m, "", SV_PRIO_NORMAL, &g, why);
		if (!ret) {
			m->dev = strncmp(kllm_engine_backend(g->e), "dev", 3) == 0;
			if (m->dev) {
				sv_eng_stop(g);	/* the device's engines are per app */
				g = NULL;
			}
		}
		pthread_mutex_lock(&sv_lock);
	}
	if (ret) {
		pthread_mutex_unlock(&sv_lock);
		model_drop(m);
		pthread_mutex_lock(&sv_lock);
		m->state = SV_M_UNLOADED;
		m->cost = 0;
		m->load_err = ret;
		sv_log("error", "model_load", "model=%s err=%d msg=\"%s\"", m->cfg->name, ret,
		       *why ? *why : "");
	} else {
		m->engs = g;
		m->state = SV_M_LOADED;
		m->load_err = 0;
		m->t_used = sv_now();
		sv_log("info", "model_load", "model=%s n_ctx=%u weights=%llu cost=%llu "
		       "engine=%s seconds=%.3f", m->cfg->name, m->n_ctx,
		       (unsigned long long)m->weights_bytes, (unsigned long long)m->cost,
		       m->dev ? "dev" : "cpu", sv_now() - t0);
	}
	pthread_cond_broadcast(&sv_cond);
	return ret;
}

int sv_model_acquire(const char *name, struct sv_model **out, const char **why)
{
	struct sv_model *m;
	uint32_t waited = 0;
	int ret = 0;

	pthread_mutex_lock(&sv_lock);
	m = model_by_name(name);
	if (!m) {
		pthread_mutex_unlock(&sv_lock);
		return -ENOENT;
	}
	/* not unloaded nor evicted under us */
	m->users++;
	m->submitting++;
	for (;;) {
		if (sv_shutting) {
			ret = -ESHUTDOWN;
			*why = "server shutting down";
			break;
		}
		if (m->state == SV_M_LOADED)
			break;
		if (m->state == SV_M_UNLOADED) {
			if (waited && waited == m->load_gen && m->load_err) {
				ret = m->load_err;	/* the load we waited on */
				*why = "the model failed to load";
				break;
			}
			ret = model_load_locked(m, why);
			if (ret)
				break;
			continue;
		}
		waited = m->state == SV_M_LOADING ? m->load_gen : 0;
		pthread_cond_wait(&sv_cond, &sv_lock);
	}
	if (ret)
		sv_model_submitted_locked(m, 0);
	else
		*out = m;
	pthread_mutex_unlock(&sv_lock);
	return ret;
}

void sv_model_submitted_locked(struct sv_model *m, int queued)
{
	m->submitting--;
	if (!queued)
		m->users--;
	m->t_used = sv_now();
	pthread_cond_broadcast(&sv_cond);
}

void sv_model_release_locked(struct sv_model *m)
{
	m->users--;
	m->t_used = sv_now();
	pthread_cond_broadcast(&sv_cond);
}

struct sv_eng *sv_model_engine_locked(struct sv_model *m, const char *app,
				      enum sv_prio prio)
{
	for (struct sv_eng *g = m->engs; g; g = g->next)
		if (!m->dev || (g->prio == prio && !strcmp(g->app, app)))
			return g;
	return NULL;
}

int sv_model_engine_add(struct sv_model *m, const char *app, enum sv_prio prio,
			const char **why)
{
	struct sv_eng *g;
	int ret = 0;

	pthread_mutex_lock(&m->eng_lock);
	pthread_mutex_lock(&sv_lock);
	g = sv_model_engine_locked(m, app, prio);
	pthread_mutex_unlock(&sv_lock);
	if (!g) {
		ret = sv_eng_start(m, app, prio, &g, why);
		if (!ret) {
			pthread_mutex_lock(&sv_lock);
			g->next = m->engs;
			m->engs = g;
			pthread_mutex_unlock(&sv_lock);
		}
	}
	pthread_mutex_unlock(&m->eng_lock);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Idle unloading                                                      */

/* Device engines idle too long (sv_lock held): unlinked, then stopped. */
static void dev_engines_reap(struct sv_model *m, double now)
{
	struct sv_eng **pp = &m->engs, *dead = NULL, *g;

	while ((g = *pp)) {
		if (sv_eng_idle(g) && now - g->t_idle >= SV_DEV_IDLE_S) {
			*pp = g->next;
			g->next = dead;
			dead = g;
		} else {
			pp = &g->next;
		}
	}
	if (!dead)
		return;
	pthread_mutex_unlock(&sv_lock);
	while ((g = dead)) {
		dead = g->next;
		sv_eng_stop(g);
	}
	pthread_mutex_lock(&sv_lock);
}

static void janitor_pass(void)
{
	double now = sv_now();

	for (size_t i = 0; i < sv_n_models && !janitor_stop; i++) {
		struct sv_model *m = &sv_models[i];

		if (m->state != SV_M_LOADED)
			continue;
		if (sv_mcfg->idle_unload_s && !m->users && now - m->t_used >= sv_mcfg->idle_unload_s)
			model_unload_locked(m, "idle");
		else if (m->dev)
			dev_engines_reap(m, now);
	}
}

static void *janitor_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&sv_lock);
	while (!janitor_stop) {
		sv_deadline(&ts, 1000);
		pthread_cond_timedwait(&janitor_cond, &sv_lock, &ts);
		if (!janitor_stop && !sv_shutting)
			janitor_pass();
	}
	pthread_mutex_unlock(&sv_lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Start-up and shutdown                                               */

int sv_models_init(const struct sv_config *c)
{
	struct stat st;

	sv_mcfg = c;
	sv_shutting = 0;
	janitor_stop = 0;
	sv_models = calloc(c->n_models ? c->n_models : 1, sizeof(*sv_models));
	if (!sv_models)
		return -ENOMEM;
	sv_n_models = c->n_models;
	for (size_t i = 0; i < c->n_models; i++) {
		struct sv_model *m = &sv_models[i];

		m->cfg = &c->models[i];
		m->n_ctx = ctx_wanted(m);
		pthread_mutex_init(&m->eng_lock, NULL);
		if (m->cfg->path && !stat(m->cfg->path, &st))
			m->created = (uint64_t)st.st_mtime;
		else
			sv_log("warn", "model_file", "model=%s path=%s msg=\"cannot stat\"",
			       m->cfg->name, m->cfg->path ? m->cfg->path : "(none)");
	}
	if (pthread_create(&janitor, NULL, janitor_main, NULL)) {
		free(sv_models);
		sv_models = NULL;
		sv_n_models = 0;
		return -EAGAIN;
	}
	janitor_on = 1;
	return 0;
}

static int all_idle(void)
{
	for (size_t i = 0; i < sv_n_models; i++)
		if (sv_models[i].users || sv_models[i].state == SV_M_LOADING ||
		    sv_models[i].state == SV_M_UNLOADING)
			return 0;
	return 1;
}

void sv_models_shutdown(unsigned grace_s)
{
	struct sv_model *models;
	struct timespec ts;
	size_t n;
	double end = sv_now() + grace_s;

	pthread_mutex_lock(&sv_lock);
	sv_shutting = 1;
	janitor_stop = 1;
	pthread_cond_broadcast(&janitor_cond);
	pthread_mutex_unlock(&sv_lock);
	if (janitor_on)
		pthread_join(janitor, NULL);
	janitor_on = 0;
	pthread_mutex_lock(&sv_lock);
	/* running requests finish, up to the grace time */
	while (!all_idle() && sv_now() < end) {
		sv_deadline(&ts, 100);
		pthread_cond_timedwait(&sv_cond, &sv_lock, &ts);
	}
	/* loads in flight end by themselves (they see sv_shutting) */
	for (size_t i = 0; i < sv_n_models; i++)
		while (sv_models[i].state == SV_M_LOADING || sv_models[i].state == SV_M_UNLOADING)
			pthread_cond_wait(&sv_cond, &sv_lock);
	/* the engines end the rest (503 or cancelled) as they stop */
	for (size_t i = 0; i < sv_n_models; i++)
		if (sv_models[i].state == SV_M_LOADED)
			model_unload_locked(&sv_models[i], "shutdown");
	models = sv_models;
	n = sv_n_models;
	sv_models = NULL;
	sv_n_models = 0;
	pthread_mutex_unlock(&sv_lock);
	for (size_t i = 0; i < n; i++)
		pthread_mutex_destroy(&models[i].eng_lock);
	free(models);
}
