/* SPDX-License-Identifier: MIT */
/*
 * run.h - kllm-run's pieces: options (main.c), the generator that owns the
 * model, engine and sampler (gen.c), the chat loop (chat.c) and user input
 * with line editing (input.c).  Only the public API (kllm.h) is used.
 */
#ifndef KLLM_RUN_H
#define KLLM_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "kllm.h"

/* Exit statuses: a usage error (a bad option or value), a runtime error. */
#define RUN_EXIT_USAGE 2
#define RUN_EXIT_FAIL 1

#define RUN_MAX_REVERSE 16

struct run_opts {
	const char *model;
	const char *prompt;	/* -p / -f (escapes processed unless --no-escape); NULL: none */
	const char *system;	/* -sys / -sysf */
	const char *tmpl_name;	/* --chat-template / --template */
	const char *reverse[RUN_MAX_REVERSE];	/* -r, stop strings */
	size_t n_reverse;
	int n_predict;		/* -n; < 0: until end of generation */
	uint32_t n_ctx;		/* -c; 0: the model's training context */
	int n_ctx_set;		/* -c was given */
	uint32_t n_batch;	/* -b */
	uint32_t n_threads;	/* -t; 0: every CPU */
	int chat;		/* a conversation: --chat, -cnv, -i, -sys */
	int interactive;	/* read turns / text from stdin (after -p) */
	int single_turn;	/* -st */
	int ids;		/* --ids: print token ids, not text */
	int special;		/* -sp: render control tokens */
	int ignore_eos;		/* --ignore-eos */
	int verbose_prompt;	/* --verbose-prompt: show what is fed */
	int show_timings;	/* --show-timings (default) */
	uint32_t n_draft;	/* --draft-max: prompt-lookup decoding; 0: off */
	uint32_t ngram_min, ngram_max;	/* --ngram-min / --ngram-max; 0: defaults */
	uint32_t kv_type_k, kv_type_v;	/* -ctk / -ctv: KLLM_KV_*; 0: default */
	struct kllm_sampler_params sp;
};

struct gen {
	const struct run_opts *o;
	struct kllm_llm *llm;
	struct kllm_engine *e;
	struct kllm_sampler *smp;
	int seq;		/* the conversation's sequence */
	uint32_t n_ctx;
	uint32_t n_vocab;
	int ids_printed;	/* ids written on the current output line */
	int out_open;		/* stdout's text does not end in a newline */
	int progress;		/* stderr is a terminal: show prefill progress */
	/* --ignore-eos: the end-of-generation ids, and a logits copy */
	int32_t *eog;
	size_t n_eog;
	float *logits;
	/* the last generation: how it stopped, its token ids and shown text */
	int last_stop;		/* enum kllm_stop, 0 on error or interrupt */
	int32_t *gen_ids;
	size_t n_gen_ids, gen_ids_cap;
	char *shown;
	size_t n_shown, shown_cap;
	/* timings */
	double t_load;
	double t_prompt, t_gen;
	uint64_t n_prompt, n_gen;
	uint64_t n_draft, n_draft_accepted;	/* --draft-max */
};

double run_now(void);

/* Load everything; 0 or -1 with one line printed on stderr. */
int gen_open(struct gen *g, const struct run_opts *o);
void gen_close(struct gen *g);

/* Tokenize text (parse_special on; BOS per the vocabulary when @bos) into
 * a malloc'ed array; its length, or -1 after printing an error. */
int gen_tokenize(struct gen *g, const char *text, int bos, int32_t **ids);

/*
 * Feed ids[0..n) and run them (in batches of -b, a progress line on a
 * terminal for a prompt of several batches).  0; 1 when interrupted
 * (Ctrl-C: "interrupted" printed; what ran stays computed, the rest
 * pending); 2 when it does not fit in the context (nothing fed, nothing
 * printed); -1 after printing an error.  The timings count the tokens
 * actually run.
 */
int gen_prefill(struct gen *g, const int32_t *ids, int n);

/*
 * Sample and stream up to n_predict tokens (< 0: until end of generation
 * or context end), stopping at a -r string.  When @text is not NULL the
 * generated text (without the end-of-generation token or stop string) is
 * appended to the malloc'ed *text.  0 done (g->last_stop says why); 1
 * interrupted (Ctrl-C); 2 the context is full (what was generated stays);
 * -1 after printing an error.
 */
int gen_generate(struct gen *g, int n_predict, char **text, size_t *text_len);

/* After a stop at a -r string: the generated text from the stop string
 * on (the stop string and the rest of its token), malloc'ed, or NULL. */
char *gen_stop_tail(struct gen *g);

/* Forget the conversation (cache and position). */
void gen_reset(struct gen *g);

/* The timings line on stderr. */
void gen_print_timings(const struct gen *g);

/* A conversation with the chat template: one-shot with o->prompt unless
 * interactive, else turns read from stdin.  0, or -1 after an error. */
int run_chat(struct gen *g);

/* User input, edited with libedit on a terminal when built with it. */
struct input;
struct input *input_open(void);
/* A line without its newline (valid until the next call), NULL at the end
 * of input.  @prompt is shown on a terminal. */
char *input_read(struct input *in, const char *prompt);
int input_is_tty(const struct input *in);
/* "libedit" when lines are edited, else NULL. */
const char *input_editor(const struct input *in);
void input_close(struct input *in);

#endif /* KLLM_RUN_H */
