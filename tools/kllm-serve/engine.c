// SPDX-License-Identifier: MIT
/*
 * engine.c - kllm-serve's local engines: a continuous-batching engine
 * thread per model (per app and priority class on the device engine).
 *
 * sv_engine_submit() tokenizes the prompt in the caller's thread (so a
 * prompt over the context is refused at once), then queues the job.  The
 * thread admits queued jobs up to n_parallel running (interactive, then
 * normal, then background; FIFO within a class), each on a sequence of
 * its own (a fork of a held one when the prompt starts with it: reuse.c),
 * and loops: drop jobs whose client went away, one kllm_engine_step (the
 * decode tokens of every generating job and a prefill chunk), then for
 * every job whose input is used up sample a token, stream its text (held
 * back while it may start a stop string) and feed it for the next step.
 * A job ends at an end-of-generation token, a stop string, max_tokens or
 * the context's end; its sequence is then kept for prompt reuse.
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine.h"


/* ------------------------------------------------------------------ */
/* Jobs                                                                */

static void job_free(struct sv_job *j)
{
	kllm_sampler_free(j->smp);
	free(j->ids);
	free(j->held);
	if (j->o)
		sv_out_put(j->o);
	free(j);
}

static uint64_t random_seed(void)
{
	uint64_t s;

	if (getrandom(&s, sizeof(s), 0) != sizeof(s))
		s = (uint64_t)(sv_now() * 1e9);
	return s;
}

static struct kllm_sampler *sampler_make(const struct sv_req *r, uint32_t n_ctx)
{
	struct kllm_sampler_params p;

	kllm_sampler_default_params(&p);
	p.temperature = r->temperature;
	p.top_k = r->top_k;
	p.top_p = r->top_p;
	p.min_p = r->min_p;
	p.min_keep = 1;
	p.penalty_repeat = 1.0f;
	p.penalty_freq = r->frequency_penalty;
	p.penalty_present = r->presence_penalty;
	/* the penalties see every generated token */
	p.penalty_last_n = p.penalty_freq != 0 || p.penalty_present != 0 ? (int32_t)n_ctx : 0;
	p.seed = r->has_seed ? r->seed : random_seed();
	return kllm_sampler_create(&p);
}

/* A job for @r on @m: the prompt tokenized and checked against n_ctx. */
static int job_make(struct sv_model *m, struct sv_out *o, struct sv_job **out,
		    uint32_t *n_prompt, const char **why)
{
	struct sv_req *r = sv_out_req(o);
	struct sv_job *j = calloc(1, sizeof(*j));
	uint32_t n, want;
	int32_t *ids;
	int ret;

	if (!j)
		return -ENOMEM;
	ret = sv_prompt_tokens(m, r, &j->ids, &j->n_prompt, why);
	if (ret)
		goto fail;
	n = j->n_prompt;
	*n_prompt = n;
	want = r->max_tokens > 0 ? (uint32_t)r->max_tokens : 1;
	if ((uint64_t)n + want > m->n_ctx) {
		*why = "prompt + max_tokens exceed the context";
		ret = -E2BIG;
		goto fail;
	}
	j->max_gen = r->max_tokens >= 0 ? (uint32_t)r->max_tokens : m->n_ctx - n;
	j->cap_ids = n + j->max_gen;
	ids = realloc(j->ids, sizeof(*ids) * (j->cap_ids ? j->cap_ids : 1));
	j->smp = sampler_make(r, m->n_ctx);
	if (!ids || !j->smp) {
		if (ids)
			j->ids = ids;
		ret = -ENOMEM;
		goto fail;
	}
	j->ids = ids;
	j->n_ids = n;
	j->pub_cap = sv_pub_len(m, ids, n);
	j->r = r;
	j->m = m;
	j->prio = r->prio <= SV_PRIO_INTERACTIVE ? r->prio : SV_PRIO_NORMAL;
	j->seq = -1;
	j->o = o;
	sv_out_get(o);
	*out = j;
	return 0;
fail:
	kllm_sampler_free(j->smp);
	free(j->ids);
	free(j);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Queue (sv_lock held)                                                */

/* Expected seconds before a job of class @prio queued now starts. */
static double expected_wait(const struct sv_eng *g, enum sv_prio prio)
{
	uint32_t ahead = 0, waves;

	for (int p = prio; p < SV_N_PRIO; p++)
		ahead += g->n_q[p];
	if (g->st_active + ahead < g->max_act)
		return 0;
	waves = (g->st_active + ahead - g->max_act) / g->max_act + 1;
	return waves * g->ewma_s;
}

/* Places to run not taken yet, by running or queued jobs. */
static uint32_t free_slots(const struct sv_eng *g)
{
	return g->st_active < g->max_act ? g->max_act - g->st_active : 0;
}

static void queue_add(struct sv_eng *g, struct sv_job *j)
{
	j->next = NULL;
	if (g->q_tail[j->prio])
		g->q_tail[j->prio]->next = j;
	else
		g->q_head[j->prio] = j;
	g->q_tail[j->prio] = j;
	g->n_q[j->prio]++;
	g->n_queued++;
	j->m->n_queued++;
}

static struct sv_job *queue_pop(struct sv_eng *g)
{
	for (int p = SV_N_PRIO - 1; p >= 0; p--) {
		struct sv_job *j = g->q_head[p];

		if (!j)
			continue;
		g->q_head[p] = j->next;
		if (!j->next)
			g->q_tail[p] = NULL;
		g->n_q[p]--;
		g->n_queued--;
		j->m->n_queued--;
		return j;
	}
	return NULL;
}

/* Unlink queued jobs whose client went away; the list of them. */
static struct sv_job *queue_reap(struct sv_eng *g)
{
	struct sv_job *dead = NULL;

	for (int p = 0; p < SV_N_PRIO; p++) {
		struct sv_job **pp = &g->q_head[p], *j;

		g->q_tail[p] = NULL;
		while ((j = *pp)) {
			if (!sv_out_cancelled(j->o)) {
				g->q_tail[p] = j;
				pp = &j->next;
				continue;
			}
			*pp = j->next;
			g->n_q[p]--;
			g->n_queued--;
			j->m->n_queued--;
			j->next = dead;
			dead = j;
		}
	}
	return dead;
}

/* Queue @j on its model's engine for its app and class. */
static int job_queue(struct sv_model *m, struct sv_job *j, uint32_t max_wait_ms,
		     const char **why)
{
	const uint32_t max_queue = sv_mcfg->max_queue;
	struct sv_eng *g;
	int ret = 0;

	pthread_mutex_lock(&sv_lock);
	for (;;) {
		if (sv_shutting || m->state != SV_M_LOADED) {
			*why = "server shutting down";
			ret = -ESHUTDOWN;
			break;
		}
		g = sv_model_engine_locked(m, j->r->app.key, j->prio);
		if (g)
			break;
		pthread_mutex_unlock(&sv_lock);
		ret = sv_model_engine_add(m, j->r->app.key, j->prio, why);
		pthread_mutex_lock(&sv_lock);
		if (ret)
			break;
	}
	/* jobs the engine is about to admit are not waiting in the queue */
	if (!ret && max_queue && m->n_queued >= max_queue + free_slots(g)) {
		*why = "too many queued requests";
		ret = -EBUSY;
	}
	if (!ret && max_wait_ms && expected_wait(g, j->prio) * 1e3 > max_wait_ms) {
		*why = "the expected wait exceeds the latency budget";
		ret = -EAGAIN;
	}
	if (!ret) {
		queue_add(g, j);
		pthread_cond_signal(&g->cond);
	}
	sv_model_submitted_locked(m, !ret);
	pthread_mutex_unlock(&sv_lock);
	return ret;
}

int sv_engine_submit(struct sv_out *o, uint32_t max_wait_ms, uint32_t *n_prompt,
		     const char **why)
{
	struct sv_req *r = sv_out_req(o);
	const char *msg = NULL;
	struct sv_model *m;
	struct sv_job *j;
	uint32_t n = 0;
	int ret;

	ret = sv_model_acquire(r->model, &m, &msg);
	if (!ret) {
		ret = job_make(m, o, &j, &n, &msg);
		if (!ret) {
			ret = job_queue(m, j, max_wait_ms, &msg);
			if (ret) {
				j->o = NULL;
				sv_out_put(o);
				job_free(j);
			}
		} else {
			pthread_mutex_lock(&sv_lock);
			sv_model_submitted_locked(m, 0);
			pthread_mutex_unlock(&sv_lock);
		}
	}
	if (n_prompt)
		*n_prompt = n;
	if (why)
		*why = msg;
	return ret;
}

/* ------------------------------------------------------------------ */
/* Gauges                                                              */

/* Publish the engine's running, held and KV counts; called before a job's
 * end is written, so a client that saw its end sees the counts without it. */
static void gauges(struct sv_eng *g, int locked)
{
	struct kllm_engine_stats es;
	uint32_t n_act = 0, n_held;
	uint64_t kv = 0, held_tok, blocks = 0;

	for (uint32_t i = 0; i < g->n_act; i++) {
		const struct sv_job *j = g->act[i];

		if (!j || j->ended)
			continue;
		n_act++;
		if (j->seq >= 0)
			kv += (uint64_t)kllm_seq_len(g->e, j->seq);
	}
	n_held = sv_reuse_count(g, &held_tok);
	if (!kllm_engine_get_stats(g->e, &es))
		blocks = es.kv_block_bytes * es.kv_blocks_used;
	if (!locked)
		pthread_mutex_lock(&sv_lock);
	g->st_active = n_act;
	g->st_held = n_held;
	g->st_kv_tokens = kv + held_tok;
	g->st_kv_block_bytes = blocks;
	if (!locked)
		pthread_mutex_unlock(&sv_lock);
}

/* ------------------------------------------------------------------ */
/* Ending jobs (engine thread, sv_lock not held)                       */

static void job_release(struct sv_eng *g, struct sv_job *j, int done)
{
	double dur = sv_now() - j->t_admit;

	pthread_mutex_lock(&sv_lock);
	if (done)
		g->ewma_s = g->ewma_s > 0 ? 0.8 * g->ewma_s + 0.2 * dur : dur;
	sv_model_release_locked(j->m);
	pthread_mutex_unlock(&sv_lock);
	job_free(j);
}

static void seq_drop(struct sv_eng *g, struct sv_job *j)
{
	if (j->seq >= 0)
		kllm_seq_free(g->e, j->seq);
	j->seq = -1;
}

static void job_finish(struct sv_eng *g, struct sv_job *j, enum sv_finish why)
{
	struct sv_usage u = { .prompt_tokens = j->n_prompt, .completion_tokens = j->n_gen,
			      .cached_tokens = j->n_cached };
	int c = j->seq >= 0 ? kllm_seq_cached(g->e, j->seq) : 0;

	u.cached_tokens += c > 0 ? (uint32_t)c : 0;	/* the engine's prefix cache */
	j->ended = 1;
	if (why == SV_FINISH_CANCELLED)
		seq_drop(g, j);
	else
		sv_reuse_hold(g, j);
	gauges(g, 0);
	sv_out_finish(j->o, why, &u);
	if (j->t_admit > 0)	/* not for one dropped from the queue */
		sv_metrics_tokens(u.prompt_tokens, u.completion_tokens, u.cached_tokens);
	job_release(g, j, why != SV_FINISH_CANCELLED);
}

/* Shutdown or an engine failure: an error before any output, else the
 * end of the stream. */
static void job_abort(struct sv_eng *g, struct sv_job *j, int status, const char *code,
		      const char *msg)
{
	if (j->n_sent && status == 503) {
		job_finish(g, j, SV_FINISH_CANCELLED);
		return;
	}
	j->ended = 1;
	seq_drop(g, j);
	gauges(g, 0);
	sv_out_error(j->o, status, "server_error", code, msg, status == 503 ? 1 : 0);
	job_release(g, j, 0);
}

/* ------------------------------------------------------------------ */
/* Tokens                                                              */

static void token_out(struct sv_job *j, struct sv_token *t)
{
	double now = sv_now();

	if (!j->n_sent)
		sv_metrics_ttft(now - j->r->t_arrive);
	else
		sv_metrics_token_time(now - j->t_last);
	j->t_last = now;
	sv_out_token(j->o, t);
	j->n_sent++;
	sv_text_shown(j, t->len);
}

/* End of generation: what is still held back goes out, then the end. */
static int job_eog(struct sv_eng *g, struct sv_job *j)
{
	struct sv_token t = { .token = -1 };
	int ret = sv_text_push(g, j, -1, 1, &t);

	if (ret >= 0 && t.len)
		token_out(j, &t);
	job_finish(g, j, SV_FINISH_STOP);
	return 1;
}

/* A token from logits @lg with @j's sampler (EOG masked for ignore_eos). */
static int32_t sample(struct sv_eng *g, struct sv_job *j, const float *lg)
{
	const struct sv_model *m = g->m;
	uint32_t n_vocab = kllm_llm_info(m->llm)->n_vocab;

	if (!lg)
		return -EINVAL;
	if (!j->r->ignore_eos || !m->n_eog)
		return kllm_seq_sample(g->e, j->seq, j->smp);
	if (!g->masked) {
		g->masked = malloc(sizeof(*g->masked) * n_vocab);
		if (!g->masked)
			return -ENOMEM;
	}
	memcpy(g->masked, lg, sizeof(*g->masked) * n_vocab);
	for (uint32_t i = 0; i < m->n_eog; i++)
		g->masked[m->eog[i]] = -INFINITY;
	return kllm_sample(j->smp, g->masked, (int32_t)n_vocab);
}

/* Sample, stream and feed @j's next token (its logits are ready): 0, or
 * 1 when the job ended (and was freed). */
static int job_token(struct sv_eng *g, struct sv_job *j)
{
	struct kllm_engine *e = g->e;
	const float *lg = kllm_seq_logits(e, j->seq);
	struct sv_token t = { 0 };
	int32_t id = sample(g, j, lg);
	int last, ret;

	if (id < 0) {
		job_abort(g, j, 500, NULL, "sampling failed");
		return 1;
	}
	kllm_sampler_accept(j->smp, id);
	if (kllm_token_is_eog(g->m->llm, id))
		return job_eog(g, j);
	j->n_gen++;
	if (j->r->logprobs)
		sv_logprobs_fill(g->m->llm, j->r->top_logprobs, lg, id, &t);
	last = j->n_gen >= j->max_gen || j->n_ids >= j->m->n_ctx;
	ret = sv_text_push(g, j, id, last, &t);
	if (ret < 0) {
		job_abort(g, j, 500, NULL, "out of memory");
		return 1;
	}
	t.token = id;
	token_out(j, &t);
	if (ret || last) {
		job_finish(g, j, ret ? SV_FINISH_STOP : SV_FINISH_LENGTH);
		return 1;
	}
	if (kllm_seq_feed(e, j->seq, &id, 1)) {
		job_finish(g, j, SV_FINISH_LENGTH);
		return 1;
	}
	j->ids[j->n_ids++] = id;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The engine thread                                                   */

/* Drop the ended jobs (NULL entries) from the active list. */
static void act_compact(struct sv_eng *g)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < g->n_act; i++)
		if (g->act[i])
			g->act[k++] = g->act[i];
	g->n_act = k;
}

/* Give newly admitted jobs (seq -1) their sequences. */
static void jobs_start(struct sv_eng *g)
{
	for (uint32_t i = 0; i < g->n_act; i++) {
		struct sv_job *j = g->act[i];
		int ret;

		if (j->seq >= 0)
			continue;
		j->t_admit = sv_now();
		sv_metrics_queue_time(j->t_admit - j->r->t_arrive);
		if (!j->max_gen) {
			g->act[i] = NULL;
			job_finish(g, j, SV_FINISH_LENGTH);
			continue;
		}
		ret = sv_reuse_start(g, j);
		if (ret) {
			sv_log("error", "seq_start", "model=%s err=%d msg=\"%s\"",
			       g->m->cfg->name, ret, kllm_last_error());
			g->act[i] = NULL;
			job_abort(g, j, 500, NULL, "cannot start a sequence");
		}
	}
	act_compact(g);
}

/* One round: cancellations, a forward pass, a token for each ready job. */
static void eng_round(struct sv_eng *g)
{
	int ret;

	for (uint32_t i = 0; i < g->n_act; i++)
		if (sv_out_cancelled(g->act[i]->o)) {
			job_finish(g, g->act[i], SV_FINISH_CANCELLED);
			g->act[i] = NULL;
		}
	act_compact(g);
	if (!g->n_act)
		return;
	ret = kllm_engine_step(g->e);
	if (ret < 0) {
		sv_log("error", "engine_step", "model=%s err=%d msg=\"%s\"", g->m->cfg->name,
		       ret, kllm_last_error());
		for (uint32_t i = 0; i < g->n_act; i++) {
			job_abort(g, g->act[i], 500, NULL, "the engine failed");
			g->act[i] = NULL;
		}
		g->n_act = 0;
		return;
	}
	for (uint32_t i = 0; i < g->n_act; i++) {
		struct sv_job *j = g->act[i];

		if (kllm_seq_pending(g->e, j->seq) == 0 && job_token(g, j))
			g->act[i] = NULL;
	}
	act_compact(g);
}

/* Shutdown: end what runs and what is queued. */
static void eng_end_all(struct sv_eng *g)
{
	struct sv_job *j;

	for (uint32_t i = 0; i < g->n_act; i++) {
		job_abort(g, g->act[i], 503, "server_shutting_down", "server shutting down");
		g->act[i] = NULL;
	}
	g->n_act = 0;
	for (;;) {
		pthread_mutex_lock(&sv_lock);
		j = queue_pop(g);
		pthread_mutex_unlock(&sv_lock);
		if (!j)
			break;
		job_abort(g, j, 503, "server_shutting_down", "server shutting down");
	}
	sv_reuse_clear(g);
}

static void *eng_main(void *arg)
{
	struct sv_eng *g = arg;
	struct sv_job *dead, *j;

	pthread_mutex_lock(&sv_lock);
	for (;;) {
		dead = g->stop ? NULL : queue_reap(g);
		while (!g->stop && g->n_act < g->max_act && (j = queue_pop(g)))
			g->act[g->n_act++] = j;
		gauges(g, 1);
		if (g->stop)
			break;
		if (!g->n_act && !dead && !g->trimmed) {
			/* idle: the finished requests' free heap back to the
			 * system (samplers, buffers of every thread's arena) */
			pthread_mutex_unlock(&sv_lock);
			malloc_trim(0);
			g->trimmed = 1;
			pthread_mutex_lock(&sv_lock);
			continue;
		}
		if (!g->n_act && !dead) {
			g->t_idle = sv_now();
			pthread_cond_wait(&g->cond, &sv_lock);
			continue;
		}
		g->trimmed = 0;
		pthread_mutex_unlock(&sv_lock);
		while ((j = dead)) {
			dead = j->next;
			job_finish(g, j, SV_FINISH_CANCELLED);
		}
		jobs_start(g);
		eng_round(g);
		pthread_mutex_lock(&sv_lock);
	}
	pthread_mutex_unlock(&sv_lock);
	eng_end_all(g);
	pthread_mutex_lock(&sv_lock);
	g->st_active = g->st_held = 0;
	g->st_kv_tokens = g->st_kv_block_bytes = 0;
	pthread_mutex_unlock(&sv_lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Engines                                                             */

static uint32_t kllm_prio(enum sv_prio p)
{
	return p == SV_PRIO_INTERACTIVE ? KLLM_PRIORITY_INTERACTIVE :
	       p == SV_PRIO_BACKGROUND ? KLLM_PRIORITY_BACKGROUND : KLLM_PRIORITY_NORMAL;
}

static void eng_free(struct sv_eng *g)
{
	kllm_engine_free(g->e);
	free(g->act);
	free(g->hold);
	free(g->piece);
	free(g->masked);
	pthread_cond_destroy(&g->cond);
	free(g);
}

int sv_eng_start(struct sv_model *m, const char *app, enum sv_prio prio,
		 struct sv_eng **out, const char **why)
{
	static __thread char msg[256];
	struct kllm_engine_params ep;
	struct sv_eng *g = calloc(1, sizeof(*g));
	int ret;

	if (!g)
		return -ENOMEM;
	g->m = m;
	snprintf(g->app, sizeof(g->app), "%s", app);
	g->prio = prio;
	g->max_act = sv_n_parallel();
	g->max_held = sv_prefix_keep();
	pthread_cond_init(&g->cond, NULL);
	kllm_engine_default_params(&ep);
	ep.n_seqs = g->max_act + g->max_held;
	ep.n_ctx = m->n_ctx;
	ep.max_batch = sv_cfg->max_batch ? sv_cfg->max_batch : 64;
	ep.n_threads = sv_mcfg->n_threads;
	ep.priority = kllm_prio(prio);
	ret = kllm_engine_create(m->llm, &ep, &g->e);
	if (ret == -EPERM && ep.priority == KLLM_PRIORITY_INTERACTIVE) {
		sv_log("warn", "engine_priority", "model=%s app=%s msg=\"%s\" using=normal",
		       m->cfg->name, app, kllm_last_error());
		ep.priority = KLLM_PRIORITY_NORMAL;
		ret = kllm_engine_create(m->llm, &ep, &g->e);
	}
	if (ret) {
		snprintf(msg, sizeof(msg), "engine for '%s': %s", m->cfg->name,
			 kllm_last_error());
		*why = msg;
		goto fail;
	}
	g->act = calloc(g->max_act, sizeof(*g->act));
	g->hold = calloc(g->max_held ? g->max_held : 1, sizeof(*g->hold));
	ret = -ENOMEM;
	if (!g->act || !g->hold)
		goto fail;
	for (uint32_t i = 0; i < g->max_held; i++)
		g->hold[i].seq = -1;
	g->t_idle = sv_now();
	ret = -pthread_create(&g->thr, NULL, eng_main, g);
	if (ret)
		goto fail;
	*out = g;
	return 0;
fail:
	eng_free(g);
	return ret;
}

void sv_eng_stop(struct sv_eng *g)
{
	pthread_mutex_lock(&sv_lock);
	g->stop = 1;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&sv_lock);
	pthread_join(g->thr, NULL);
	eng_free(g);
}

int sv_eng_idle(const struct sv_eng *g)
{
	return !g->n_queued && !g->st_active;
}

void sv_engine_stats(struct sv_engine_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&sv_lock);
	for (size_t i = 0; i < sv_n_models; i++) {
		const struct sv_model *m = &sv_models[i];

		if (m->state == SV_M_LOADED || m->state == SV_M_UNLOADING) {
			st->models_loaded++;
			st->weights_bytes += m->weights_bytes;
		}
		st->queued += m->n_queued;
		for (const struct sv_eng *g = m->engs; g; g = g->next) {
			st->seqs_active += g->st_active;
			st->seqs_held += g->st_held;
			st->kv_bytes += g->st_kv_tokens * m->kv_tok_bytes;
			st->kv_block_bytes += g->st_kv_block_bytes;
		}
	}
	pthread_mutex_unlock(&sv_lock);
}
