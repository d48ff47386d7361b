/* SPDX-License-Identifier: MIT */
/*
 * run.h - kllm-run's pieces: options (main.c), the generator that owns the
 * model, engine and sampler (gen.c), and the chat loop (chat.c).  Only
 * the public API (kllm.h) is used.
 */
#ifndef KLLM_RUN_H
#define KLLM_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "kllm.h"

struct run_opts {
	const char *model;
	const char *prompt;	/* -p; NULL: none */
	const char *system;	/* -sys */
	const char *tmpl_name;	/* --template */
	int n_predict;		/* -n; < 0: until end of generation */
	uint32_t n_ctx;		/* -c; 0: the model's training context */
	uint32_t n_batch;	/* -b */
	uint32_t n_threads;	/* -t; 0: every CPU */
	int chat;		/* --chat */
	int ids;		/* --ids: print token ids, not text */
	struct kllm_sampler_params sp;
};

struct gen {
	const struct run_opts *o;
	struct kllm_llm *llm;
	struct kllm_engine *e;
	struct kllm_sampler *smp;
	int seq;		/* the conversation's sequence */
	uint32_t n_ctx;
	int ids_printed;	/* ids written on the current output line */
	/* timings */
	double t_load;
	double t_prompt, t_gen;
	uint64_t n_prompt, n_gen;
};

double run_now(void);

/* Load everything; 0 or -1 with one line printed on stderr. */
int gen_open(struct gen *g, const struct run_opts *o);
void gen_close(struct gen *g);

/* Tokenize text (parse_special on; BOS per the vocabulary when @bos) into
 * a malloc'ed array; its length, or -1 after printing an error. */
int gen_tokenize(struct gen *g, const char *text, int bos, int32_t **ids);

/* Feed ids[0..n) and run them (in batches of -b); 0, 1 when interrupted,
 * or -1 after printing an error (e.g. the prompt does not fit in the
 * context). */
int gen_prefill(struct gen *g, const int32_t *ids, int n);

/*
 * Sample and stream up to n_predict tokens (< 0: until end of generation
 * or context end).  When @text is not NULL the generated text (without
 * the end-of-generation token) is appended to the malloc'ed *text.
 * 0, 1 when interrupted (Ctrl-C), or -1 after printing an error.
 */
int gen_generate(struct gen *g, int n_predict, char **text, size_t *text_len);

/* Forget the conversation (cache and position). */
void gen_reset(struct gen *g);

/* The timings line on stderr. */
void gen_print_timings(const struct gen *g);

/* --chat: one-shot with o->prompt, else interactive on stdin. */
int run_chat(struct gen *g);

#endif /* KLLM_RUN_H */
