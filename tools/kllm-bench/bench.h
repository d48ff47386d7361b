/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shared pieces of kllm-bench: one file per mode (kernels.c,
 * pp_tg.c, batched.c, compare.c, submit.c, serve.c, http.c, prefix.c, ppl.c),
 * helpers in common.c (shapes, timing, options), lm.c (whole models in
 * process) and ppl_eval.c (perplexity by llama-perplexity's method).
 */
#ifndef KLLM_BENCH_H
#define KLLM_BENCH_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "kllm_internal.h"
#include "seq.h"

/* The Makefile's VERSION (-DKLLM_VERSION); a build without it asks the library. */
#ifdef KLLM_VERSION
#define KLLM_BENCH_VERSION KLLM_VERSION
#else
#define KLLM_BENCH_VERSION kllm_version()
#endif

/*
 * A mode: argv[0] is the mode name; returns the process exit status (0,
 * 1 for a runtime error, 2 for a usage error).  usage() prints the mode's
 * --help on stdout.
 */
struct bench_mode {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
	void (*usage)(void);
};

int bench_kernels_main(int argc, char **argv);
void bench_kernels_usage(void);
int bench_pp_main(int argc, char **argv);		/* pp_tg.c */
void bench_pp_usage(void);
int bench_tg_main(int argc, char **argv);
void bench_tg_usage(void);
int bench_batched_main(int argc, char **argv);	/* batched.c */
void bench_batched_usage(void);
int bench_compare_main(int argc, char **argv);	/* compare.c */
void bench_compare_usage(void);
int bench_submit_main(int argc, char **argv);	/* submit.c */
void bench_submit_usage(void);
int bench_serve_main(int argc, char **argv);	/* serve.c */
void bench_serve_usage(void);
int bench_http_main(int argc, char **argv);	/* http.c */
void bench_http_usage(void);
int bench_prefix_main(int argc, char **argv);	/* prefix.c */
void bench_prefix_usage(void);
int bench_ppl_main(int argc, char **argv);	/* ppl.c */
void bench_ppl_usage(void);

/* ------------------------------------------------------------ output */

/* -o FORMAT, as llama-bench's: md (the default), csv, json, jsonl, sql. */
enum bench_fmt { BENCH_FMT_MD, BENCH_FMT_CSV, BENCH_FMT_JSON, BENCH_FMT_JSONL,
		 BENCH_FMT_SQL, BENCH_FMT_COUNT };
#define BENCH_FMTS_ALL ((1u << BENCH_FMT_COUNT) - 1)
#define BENCH_FMTS_MD_JSON (1u << BENCH_FMT_MD | 1u << BENCH_FMT_JSON)

/*
 * -o @arg for mode @mode, which prints the formats in @mask: 0 and *fmt,
 * or -EINVAL after a one-line message.
 */
int bench_fmt_opt(const char *arg, unsigned int mask, const char *mode, int *fmt);

#define BENCH_ROW_FIELDS 48

/*
 * Rows of results in csv, json (an array of objects), jsonl (one object
 * a line) or sql (CREATE TABLE, then one INSERT a row), the same keys in
 * every row; md tables are each mode's own.  Fields are added in order
 * between bench_row_end calls; bench_rows_end closes the output.
 */
struct bench_rows {
	int fmt;
	const char *table;	/* sql: the table's name */
	int n_rows, n_fields;
	struct bench_field {
		const char *key;
		char type;	/* 'T' text, 'I' integer, 'R' real, 'B' boolean, 'L' list */
		char *val;	/* NULL: null */
	} f[BENCH_ROW_FIELDS];
};

void bench_rows_begin(struct bench_rows *r, int fmt, const char *table);
void bench_row_str(struct bench_rows *r, const char *key, const char *v);	/* NULL: null */
void bench_row_int(struct bench_rows *r, const char *key, long long v);
/* @v with @decimals digits after the point; NaN is null. */
void bench_row_num(struct bench_rows *r, const char *key, double v, int decimals);
void bench_row_bool(struct bench_rows *r, const char *key, int v);	/* < 0: null */
void bench_row_list(struct bench_rows *r, const char *key, const double *v, int n,
		    int decimals);
void bench_row_end(struct bench_rows *r);
void bench_rows_end(struct bench_rows *r);

/* ------------------------------------------------------------ options */

#define BENCH_MAX_LIST 16

/* bench_common_opt's answer to -h/--help: the mode prints its usage, exit 0. */
#define BENCH_OPT_HELP 2

/*
 * The options the model modes share: -m MODEL, -t T[,T...], -r REPS,
 * -o FORMAT (and --json, the same as -o json), --plot FILE (the modes
 * that plot), --engine cpu|dev|auto and -h/--help.  A mode fills in its
 * defaults and limits (bench_common_init, then fmts if it prints fewer
 * formats), handles its own letters first (serve's -r is its request
 * count) and hands the rest to bench_common_opt; letters missing from its
 * getopt string never come.  Mode getopt strings start with ':' so that
 * a missing value is told from an unknown option.
 */
struct bench_common {
	const char *model;
	const char *plot;
	const char *engine;	/* --engine; NULL: KLLM_ENGINE as inherited */
	int fmt;		/* enum bench_fmt */
	unsigned int fmts;	/* the formats the mode prints */
	int json;		/* fmt == BENCH_FMT_JSON */
	int threads[BENCH_MAX_LIST], n_threads;
	int max_threads;	/* -t values the mode takes (1: a single count) */
	int reps, max_reps;
};

/* The long options of struct bench_common, for a mode's option table. */
#define BENCH_COMMON_LONGOPTS \
	{ "json", no_argument, NULL, 'j' }, \
	{ "model", required_argument, NULL, 'm' }, \
	{ "threads", required_argument, NULL, 't' }, \
	{ "output", required_argument, NULL, 'o' }, \
	{ "engine", required_argument, NULL, 'e' }, \
	{ "help", no_argument, NULL, 'h' }
/* --plot FILE, for the modes that draw one. */
#define BENCH_PLOT_LONGOPT { "plot", required_argument, NULL, 'g' }

/* The default thread count of every mode: every CPU this process may use. */
int bench_default_threads(void);
/* Defaults: -t every CPU, -o md of every format, no model. */
void bench_common_init(struct bench_common *c, int max_threads, int reps, int max_reps);
/*
 * One option of getopt (@opt, @arg) for mode @mode: 1 if taken,
 * BENCH_OPT_HELP for -h, 0 if it is not a shared one, -EINVAL after a
 * one-line message on a bad value, an unknown option or a missing value.
 */
int bench_common_opt(struct bench_common *c, int opt, const char *arg, const char *mode,
		     char **argv);
/* getopt's '?' or ':' as one line on stderr; -EINVAL. */
int bench_opt_error(const char *mode, int opt, char **argv);
/* After getopt: -m given and no argument left (optind): 0, else -EINVAL. */
int bench_common_check(const struct bench_common *c, const char *mode, int argc,
		       char **argv);
/* Is @name an engine choice (cpu, dev, auto)? */
int bench_engine_valid(const char *name);
/* The engine asked for: --engine, else KLLM_ENGINE, else "auto". */
const char *bench_engine_name(const struct bench_common *c);
/*
 * Check the choice and make it the library's (KLLM_ENGINE, read when a
 * context is created: there is no engine field in the parameters).
 * 0 or -EINVAL / -errno after a message.
 */
int bench_engine_apply(const struct bench_common *c, const char *mode);

/* ------------------------------------------------------------ shapes */

/* Weight matrices of one transformer layer, in the order a decode runs. */
enum bench_mat { MAT_Q, MAT_K, MAT_V, MAT_O, MAT_GATE, MAT_UP, MAT_DOWN, MAT_COUNT };

struct bench_shape {
	const char *name;	/* "1.1b" */
	const char *model;	/* what it mimics */
	uint32_t n_layer;
	uint32_t d_model;
	uint32_t n_head, n_kv_head, head_dim;
	uint32_t d_ff;
	uint32_t n_vocab;
};

const struct bench_shape *bench_shape_find(const char *name);
const char *bench_shape_names(void);	/* "1.1b|7b|135m" */
/* Rows (n_out) and inner dimension (k) of matrix @mat. */
void bench_mat_dims(const struct bench_shape *s, enum bench_mat mat,
		    uint32_t *n_out, uint32_t *k);
const char *bench_mat_name(enum bench_mat mat);

/* ------------------------------------------------------------ weights */

/* Random but valid weights: values in about [-1, 1], sane block scales. */
void bench_fill_weights(struct kllm_pool *pool, uint32_t type, void *w,
			uint64_t row_bytes, uint32_t k, uint32_t rows, uint64_t seed);
/* Weight types kk supports, by name ("q4_0", "Q4_K" any case); -1 if none. */
int bench_type_parse(const char *name);
/* Lowercase name for reports ("q4_k"). */
const char *bench_type_label(uint32_t type);

/* ------------------------------------------------------------ helpers */

double bench_now(void);			/* monotonic seconds */
void *bench_alloc(size_t bytes);		/* 64-byte aligned, zeroed, or exit */
/* Physical memory available now, bytes (0 if unknown). */
uint64_t bench_mem_available(void);
/*
 * Parse "a,b,c" into @out (at most @max); the element parser returns < 0
 * on error.  The count, or -1 after a one-line message naming @mode, the
 * option @opt and what an element may be (@what: "1..64").
 */
int bench_parse_list(const char *s, int (*parse)(const char *), int *out, int max,
		     const char *mode, const char *opt, const char *what);
/* The same without a message: -1 with the bad element in @bad. */
int bench_parse_list_quiet(const char *s, int (*parse)(const char *), int *out, int max,
			   char *bad, size_t bad_len);
int bench_parse_uint(const char *s);	/* >= 0, or -1 */
/* Progress on stderr (whatever the output format: stdout holds only results). */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read bandwidth of @bytes with the pool's threads, best of @reps: GB/s. */
double bench_read_bw(struct kllm_pool *pool, const void *buf, uint64_t bytes, int reps);

/* ------------------------------------------------------------ models (lm.c) */

struct kllm_ctx;

struct bench_lm {
	struct kllm_model *m;
	const char *path;
	char name[128];		/* file name without the directory */
	/* llama-bench's model column: architecture, size, file type
	 * ("llama 135M Q4_1", "qwen2 494M Q4_K - Medium") */
	char type[128];
	uint64_t file_bytes;
	uint64_t n_params;
};

/* One batched run: n_seqs sequences of npp prompt then ntg decoded tokens. */
struct bench_batched {
	const char *backend;		/* kllm_ctx_engine_name(): "cpu", "dev (io_uring)" */
	uint32_t n_seqs, npp, ntg;
	double t_pp, t_tg;		/* seconds */
	double s_pp, s_tg, s_all;	/* aggregate tokens/s */
};

int bench_lm_load(struct bench_lm *lm, const char *path);	/* 0 or -errno */
void bench_lm_free(struct bench_lm *lm);
int bench_lm_ctx(const struct bench_lm *lm, uint32_t n_ctx, uint32_t max_batch,
		 uint32_t n_seqs, uint32_t threads, struct kllm_ctx **out);
/*
 * The engine a context of @lm gets (KLLM_ENGINE, see bench_engine_apply),
 * tried on a one-token context so that a missing device fails at once:
 * "cpu", "dev (io_uring)"..., or NULL after a one-line message naming
 * @mode and @engine (what was asked for).
 */
const char *bench_lm_engine(const struct bench_lm *lm, const char *mode, const char *engine);
/* Sequence 0 from empty: @n prompt tokens in batches of @max_batch. */
int bench_lm_pp(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n,
		uint32_t max_batch, double *seconds);
/* Sequence 0 from empty: an untimed prompt, then @n_gen timed 1-token steps. */
int bench_lm_tg(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n_prompt,
		uint32_t n_gen, double *seconds);
/* Sequences [0, n_seqs) from empty: prompts, then ntg steps of n_seqs tokens. */
int bench_lm_batched(struct kllm_ctx *ctx, const struct bench_lm *lm, uint32_t n_seqs,
		     uint32_t npp, uint32_t ntg, uint32_t max_batch,
		     struct bench_batched *r);
/* pp_tg.c: one pp (n_prompt > 0) or tg test, warm-up then @reps runs. */
int bench_pptg_run(const struct bench_lm *lm, uint32_t threads, uint32_t n_prompt,
		   uint32_t n_gen, int reps, double *mean, double *sd);
/* batched.c: best of @reps runs of P = @n_seqs, after a short warm-up. */
int bench_batched_run(const struct bench_lm *lm, uint32_t threads, uint32_t n_seqs,
		      uint32_t npp, uint32_t ntg, uint32_t batch, int reps,
		      struct bench_batched *best);
/* Mean and sample standard deviation (0 for n < 2). */
void bench_stats(const double *v, int n, double *mean, double *sd);
/* Room for @need doubles in *v (capacity *cap, doubling from 256): 0 or -1. */
int bench_grow(double **v, int *cap, int need);
/* v[0..n) ascending. */
void bench_sort(double *v, int n);
/* The nearest-rank @p-th percentile of sorted v[0..n) (seconds), in ms;
 * 0 without samples. */
double bench_pct_ms(const double *v, int n, double p);
/* @s as a JSON string literal on stdout. */
void bench_json_str(const char *s);

/* ------------------------------------------------------------ perplexity (ppl_eval.c) */

/* How `kllm-bench ppl` evaluates a text (llama-perplexity's method). */
struct bench_ppl_opts {
	uint32_t n_ctx;		/* tokens a chunk (-c); the second half is scored */
	/* tokens a forward pass (-b): below n_ctx, or a multiple of it (then
	 * n_batch / n_ctx chunks at once, one sequence each) */
	uint32_t n_batch;
	uint32_t n_chunks;	/* at most this many chunks; 0: every whole one */
	uint32_t n_threads;	/* 0: every CPU */
	uint32_t kv_type;	/* KLLM_KV_* */
	int32_t bos;		/* each chunk's first token becomes this; -1: kept */
};

/* The plan and the sums so far. */
struct bench_ppl {
	size_t n_tokens;	/* of the whole text */
	uint32_t n_chunk_max;	/* whole chunks in it */
	uint32_t n_chunk;	/* chunks evaluated in all */
	uint32_t n_seq;		/* chunks a forward pass */
	uint32_t seq_batch;	/* tokens of one chunk a forward pass */
	uint32_t done;		/* chunks evaluated so far */
	uint64_t count;		/* tokens scored so far */
	double nll, nll2;	/* sums of -log p and of its square */
	const char *backend;	/* kllm_ctx_engine_name() */
	uint32_t kv_type;	/* the cache's type in effect: KLLM_KV_F16 or _Q8_0 */
};

/* Called after each chunk (in order) with the sums so far. */
typedef void (*bench_ppl_fn)(void *arg, const struct bench_ppl *r);

/*
 * Check @o against a text of @n_tokens and fill in *r's plan (n_tokens,
 * n_chunk_max, n_chunk, n_seq, seq_batch).  0, or -EINVAL with a message
 * in @err (fewer than 2 * n_ctx tokens, as llama-perplexity refuses too).
 */
int bench_ppl_plan(const struct bench_ppl_opts *o, size_t n_tokens, struct bench_ppl *r,
		   char *err, size_t errlen);
/*
 * Evaluate tokens[0..n_tokens) of model @m as planned: 0 and *r, or a
 * negative errno with a one-line message in @err.
 */
int bench_ppl_eval(const struct kllm_model *m, const int32_t *tokens, size_t n_tokens,
		   const struct bench_ppl_opts *o, bench_ppl_fn on_chunk, void *arg,
		   struct bench_ppl *r, char *err, size_t errlen);
/* -log softmax(@logits)[@tok], summed in double as llama-perplexity does. */
double bench_ppl_nll(const float *logits, uint32_t n_vocab, int32_t tok);
/* exp(mean -log p): the perplexity; NaN before any token is scored. */
double bench_ppl_value(const struct bench_ppl *r);
/* llama-perplexity's +/-: sqrt(var / (count - 1)) * ppl; NaN if var <= 0. */
double bench_ppl_error(const struct bench_ppl *r);

#endif /* KLLM_BENCH_H */
