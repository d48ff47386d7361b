/* SPDX-License-Identifier: MIT */
/*
 * engine.h - what models.c (the registry), engine.c (the engine threads)
 * and reuse.c (prompts and prompt reuse) share inside kllm-serve.
 *
 * Locking: one mutex, sv_lock, guards the registry (model states, user
 * counts), every engine's queue and gauges; sv_cond (with sv_lock) is
 * broadcast whenever a model's state or user count changes.  An engine's
 * kllm_engine, its active jobs and held sequences belong to its thread
 * alone.  Lock order: sv_lock, then an output channel's own lock (sv_out_*
 * may be called with sv_lock held, never the other way round).
 */
#ifndef KLLM_SERVE_ENGINE_H
#define KLLM_SERVE_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "kllm.h"
#include "serve.h"

#define SV_KEY_MAX (SV_NAME_MAX + 8)
#define SV_N_PRIO 3

extern pthread_mutex_t sv_lock;
extern pthread_cond_t sv_cond;

/* A public prefix's tokens (shareable across apps). */
struct sv_pub {
	int32_t *ids;
	uint32_t n;
};

/* One request on an engine. */
struct sv_job {
	struct sv_job *next;		/* queue */
	struct sv_out *o;		/* a reference is held */
	struct sv_req *r;
	struct sv_model *m;
	enum sv_prio prio;
	int32_t *ids;			/* prompt, then the generated tokens fed */
	uint32_t n_ids, cap_ids, n_prompt;
	uint32_t max_gen;		/* generated tokens at most */
	uint32_t n_gen, n_cached;
	uint32_t pub_cap;		/* longest public prefix the prompt starts with */
	int seq;			/* -1 until admitted */
	int n_sent;			/* sv_out_token calls */
	int ended;			/* its end is being written */
	struct kllm_sampler *smp;
	struct kllm_detok dt;
	char *held;			/* text held back (stop strings) */
	size_t n_held, cap_held;
	double t_admit, t_last;
};

/* A finished sequence kept for prompt reuse. */
struct sv_held {
	int seq;			/* -1: empty */
	int32_t *ids;
	uint32_t n;
	char app[SV_KEY_MAX];
	double t_used;
};

/* One engine and its thread. */
struct sv_eng {
	struct sv_eng *next;		/* the model's engines */
	struct sv_model *m;
	char app[SV_KEY_MAX];		/* device engine: its app key; "": shared */
	enum sv_prio prio;		/* device engine: its class */
	struct kllm_engine *e;
	pthread_t thr;
	pthread_cond_t cond;		/* with sv_lock: work queued, or stop */
	/* under sv_lock */
	struct sv_job *q_head[SV_N_PRIO], *q_tail[SV_N_PRIO];
	uint32_t n_queued, n_q[SV_N_PRIO];
	int stop;
	uint32_t st_active, st_held;
	uint64_t st_kv_tokens;
	uint64_t st_kv_block_bytes;	/* KV blocks in use: sequences' and cached */
	double t_idle;			/* when it last had nothing to do */
	double ewma_s;			/* recent request durations (admission to end) */
	/* the thread's */
	struct sv_job **act;
	uint32_t n_act, max_act;
	struct sv_held *hold;
	uint32_t max_held;
	char *piece;			/* detokenizer output */
	size_t cap_piece;
	float *masked;			/* logits with EOG masked (ignore_eos) */
	int trimmed;			/* malloc_trim since the last work */
};

enum sv_mstate { SV_M_UNLOADED, SV_M_LOADING, SV_M_LOADED, SV_M_UNLOADING };

/* A model of the registry. */
struct sv_model {
	const struct sv_model_cfg *cfg;
	uint64_t created;		/* the file's mtime */
	uint32_t n_ctx;			/* per sequence; 0 until known */
	/* under sv_lock */
	enum sv_mstate state;
	uint32_t load_gen;		/* loads tried (waiters see theirs end) */
	int load_err;
	uint32_t users;			/* submits in progress, queued and active jobs */
	uint32_t submitting;		/* of which submits in progress */
	uint32_t n_queued;
	double t_used;
	struct sv_eng *engs;
	/* set while loaded (read-only then) */
	struct kllm_llm *llm;
	int tmpl;			/* chat template id */
	int dev;			/* device engine: engines per (app, class) */
	struct sv_pub *pubs;
	size_t n_pubs;
	int32_t *eog;			/* the end-of-generation ids (ignore_eos) */
	uint32_t n_eog;
	uint64_t weights_bytes;
	uint64_t kv_tok_bytes;		/* KV bytes of one position */
	uint64_t cost;			/* weights + KV of every slot (the budget) */
	pthread_mutex_t eng_lock;	/* serialises creating engines */
};

extern struct sv_model *sv_models;
extern size_t sv_n_models;
extern int sv_shutting;			/* under sv_lock */
extern const struct sv_config *sv_mcfg;	/* sv_models_init's */

/* models.c */
/* The model named @name (or alias), loaded, with a user counted; or
 * -ENOENT, -ENOMEM, -ESHUTDOWN, -EIO (a message in *why). */
int sv_model_acquire(const char *name, struct sv_model **out, const char **why);
/* The submit that acquired @m ended, with its job @queued or not
 * (sv_lock held; a queued job keeps its user until it ends). */
void sv_model_submitted_locked(struct sv_model *m, int queued);
/* A job ended: a user less (sv_lock held). */
void sv_model_release_locked(struct sv_model *m);
/* The engine for (@app, @prio) of a loaded model: the shared engine on
 * the CPU, else the app's for that class; NULL when there is none yet
 * (sv_lock held). */
struct sv_eng *sv_model_engine_locked(struct sv_model *m, const char *app,
				      enum sv_prio prio);
/* Create (@app, @prio)'s device engine unless it exists (sv_lock not held). */
int sv_model_engine_add(struct sv_model *m, const char *app, enum sv_prio prio,
			const char **why);
uint32_t sv_n_parallel(void);
uint32_t sv_prefix_keep(void);

/* engine.c */
/* A kllm_engine and its thread for @m; KLLM priority from @prio. */
int sv_eng_start(struct sv_model *m, const char *app, enum sv_prio prio,
		 struct sv_eng **out, const char **why);
/* Stop the thread (ending what it runs or queues), join, free. */
void sv_eng_stop(struct sv_eng *g);
/* Nothing queued or running (sv_lock held). */
int sv_eng_idle(const struct sv_eng *g);

/* reuse.c */
/* The prompt's tokens (chat template applied for chat requests): 0, or
 * -EINVAL / -ENOMEM with a message in *why. */
int sv_prompt_tokens(const struct sv_model *m, const struct sv_req *r, int32_t **ids,
		     uint32_t *n, const char **why);
/* Tokenize the configured public prefixes into @m. */
int sv_pubs_load(struct sv_model *m, char *const *texts, size_t n);
void sv_pubs_free(struct sv_model *m);
/* The longest public prefix ids[0..n) starts with (0: none). */
uint32_t sv_pub_len(const struct sv_model *m, const int32_t *ids, uint32_t n);
/* A sequence for @j (fork of a held one when worth it, else new), its
 * prompt fed: 0, or a negative errno. */
int sv_reuse_start(struct sv_eng *g, struct sv_job *j);
/* Keep @j's sequence as a held one (or free it); j->seq becomes -1. */
void sv_reuse_hold(struct sv_eng *g, struct sv_job *j);
/* Free every held sequence. */
void sv_reuse_clear(struct sv_eng *g);
/* Held sequences in use, and their tokens. */
uint32_t sv_reuse_count(const struct sv_eng *g, uint64_t *tokens);

/* text.c */
/* Token @id's log-probability and the @n_top best (0..20) from raw logits. */
void sv_logprobs_fill(const struct kllm_llm *llm, int n_top, const float *lg, int32_t id,
		      struct sv_token *t);
/*
 * Token @id's text (id < 0: none; with @last everything held) into
 * t->text/len, the text to show now, held back while it may start a stop
 * string: 1 when a stop string ended it (t->len stops before it), 0, or
 * -ENOMEM.  After sv_out_token, sv_text_shown drops the text shown.
 */
int sv_text_push(struct sv_eng *g, struct sv_job *j, int32_t id, int last,
		 struct sv_token *t);
void sv_text_shown(struct sv_job *j, size_t n);

#endif /* KLLM_SERVE_ENGINE_H */
