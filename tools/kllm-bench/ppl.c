// SPDX-License-Identifier: MIT
/*
 * ppl.c - `kllm-bench ppl`: the perplexity of a model over a text file,
 * computed as llama.cpp's llama-perplexity computes it (ppl_eval.c), with
 * its option spellings, so the two can be run side by side:
 *
 *   kllm-bench ppl -m MODEL -f FILE [-c 512] [-b N] [-t N] [--chunks N]
 *                  [-ctk f16|q8_0 -ctv f16|q8_0] [-o md|json]
 *
 * The file is read whole (one trailing newline dropped, as llama.cpp's -f
 * does) and tokenized with the model's special tokens added (BOS where the
 * vocabulary asks for it) and none parsed from the text.  The running
 * perplexity after each chunk and the final estimate go to stdout in
 * llama-perplexity's form ("[1]21.5217,[2]..." then "Final estimate: PPL
 * = X +/- Y"), or one JSON row with -o json; progress goes to stderr.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

#define MODE "ppl"

struct pplopts {
	struct bench_common c;	/* -m, -t (one count), -o md|json, --engine */
	const char *file;
	int n_ctx, n_batch, n_chunks;
	const char *ctk, *ctv;	/* -ctk, -ctv as given */
	uint32_t kv_type;
};

/* What the run prints as it goes and at the end. */
struct pplrun {
	const struct pplopts *o;
	double t0, t_first;	/* start; end of the first pass */
	double *chunk_ppl;	/* the running perplexity after each chunk */
};

void bench_ppl_usage(void)
{
	printf("usage: kllm-bench ppl -m MODEL -f FILE [-c N_CTX] [-b N] [-t N] [--chunks N]\n"
	       "                      [-ctk TYPE -ctv TYPE] [--engine cpu|dev|auto] [-o md|json]\n"
	       "  Perplexity over a text file, by llama-perplexity's method: the tokens\n"
	       "  (BOS first where the model adds it) cut into chunks of N_CTX, each chunk\n"
	       "  evaluated from an empty cache with its first token made BOS, the second\n"
	       "  half of each scored; PPL = exp(mean -log p) +/- its standard error.\n"
	       "  -m, --model FILE   GGUF model\n"
	       "  -f, --file FILE    the text (one trailing newline is dropped)\n"
	       "  -c, --ctx-size N   tokens a chunk (default 512)\n"
	       "  -b, --batch-size N tokens a forward pass (default N_CTX, at most 4096):\n"
	       "                     below N_CTX, or a multiple (then N / N_CTX chunks at once)\n"
	       "  -t, --threads N    threads (default: every CPU)\n"
	       "  --chunks N         at most N chunks (default: every whole chunk)\n"
	       "  -ctk, --cache-type-k TYPE, -ctv, --cache-type-v TYPE\n"
	       "                     the KV cache's type: f16 or q8_0 (default: KLLM_KV_TYPE,\n"
	       "                     else f16); kllm keeps K and V in one type, so both must\n"
	       "                     be the same\n"
	       "  --engine E         cpu, dev or auto (default: KLLM_ENGINE, else auto)\n"
	       "  -o, --output F     md (default: llama-perplexity's lines) or json (one row:\n"
	       "                     model, model_type, model_path, file, text_bytes,\n"
	       "                     n_tokens, n_ctx, n_batch, n_seq, n_chunks, n_scored,\n"
	       "                     kv_type, simd, engine, backend, threads, ppl, ppl_err,\n"
	       "                     nll_mean, seconds, chunk_ppl); --json is -o json\n"
	       "  -h, --help         this help\n"
	       "Progress on stderr.  llama.cpp's counterpart, same file and model:\n"
	       "  llama-perplexity -m MODEL -f FILE -c 512 -t 2 --chunks N\n");
}

static int bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "kllm-bench " MODE ": bad value '%s' for %s (%s)\n", arg, opt, want);
	return -1;
}

/* ppl's own options; 0 if @c is not one of them, -1 on a bad value. */
static int own_opt(struct pplopts *o, int c, const char *arg)
{
	int v;

	switch (c) {
	case 'f':
		o->file = arg;
		return 1;
	case 'c':
		v = bench_parse_uint(arg);
		if (v < 4 || v > 1 << 20)
			return bad("-c", arg, "4..1048576");
		o->n_ctx = v;
		return 1;
	case 'b':
		v = bench_parse_uint(arg);
		if (v < 1 || v > 4096)
			return bad("-b", arg, "1..4096");
		o->n_batch = v;
		return 1;
	case 'C':
		v = bench_parse_uint(arg);
		if (v < 1)
			return bad("--chunks", arg, "1 or more");
		o->n_chunks = v;
		return 1;
	case 'K':
	case 'V':
		if (!kllm_kv_type_parse(arg))
			return bad(c == 'K' ? "-ctk" : "-ctv", arg, "f16 or q8_0");
		*(c == 'K' ? &o->ctk : &o->ctv) = arg;
		return 1;
	}
	return 0;
}

/*
 * llama.cpp spells -ctk and -ctv with one dash, which getopt would read as
 * -c tk: a copy of argv with them spelt long.  NULL if out of memory.
 */
static char **long_spellings(int argc, char **argv)
{
	char **v = calloc((size_t)argc + 1, sizeof(*v));

	for (int i = 0; v && i < argc; i++)
		v[i] = !strcmp(argv[i], "-ctk") ? "--cache-type-k" :
		       !strcmp(argv[i], "-ctv") ? "--cache-type-v" : argv[i];
	return v;
}

static int check_opts(struct pplopts *o)
{
	if (!o->file) {
		fprintf(stderr, "kllm-bench " MODE ": -f FILE is required\n");
		return -1;
	}
	if (o->ctk && o->ctv && kllm_kv_type_parse(o->ctk) != kllm_kv_type_parse(o->ctv)) {
		fprintf(stderr, "kllm-bench " MODE ": -ctk %s and -ctv %s differ: kllm keeps K and "
			"V in one type\n", o->ctk, o->ctv);
		return -1;
	}
	o->kv_type = kllm_kv_type_parse(o->ctk ? o->ctk : o->ctv);
	if (!o->n_batch)
		o->n_batch = o->n_ctx < 4096 ? o->n_ctx : 4096;
	if (o->n_batch >= o->n_ctx && o->n_batch % o->n_ctx) {
		fprintf(stderr, "kllm-bench " MODE ": -b %d: below -c (%d) or a multiple of it\n",
			o->n_batch, o->n_ctx);
		return -1;
	}
	return 0;
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct pplopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		BENCH_COMMON_LONGOPTS,
		{ "file", required_argument, NULL, 'f' },
		{ "ctx-size", required_argument, NULL, 'c' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "chunks", required_argument, NULL, 'C' },
		{ "cache-type-k", required_argument, NULL, 'K' },
		{ "cache-type-v", required_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char **av = long_spellings(argc, argv);
	int c, ret = 0;

	if (!av)
		return -1;
	memset(o, 0, sizeof(*o));
	bench_common_init(&o->c, 1, 1, 1);
	o->c.fmts = BENCH_FMTS_MD_JSON;
	o->n_ctx = 512;
	optind = 1;
	opterr = 0;
	while (!ret && (c = getopt_long(argc, av, ":m:f:c:b:t:o:h", lopts, NULL)) != -1) {
		ret = own_opt(o, c, optarg);
		if (!ret)
			ret = bench_common_opt(&o->c, c, optarg, MODE, av);
		if (ret == BENCH_OPT_HELP) {
			bench_ppl_usage();
			ret = 1;
		} else {
			ret = ret <= 0 ? -1 : 0;
		}
	}
	if (!ret && (bench_common_check(&o->c, MODE, argc, av) || check_opts(o)))
		ret = -1;
	free(av);
	return ret;
}

/* The whole file in *text (NUL-terminated), one trailing newline dropped. */
static int read_text(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0, k;
	char *buf, *nb;

	if (!f) {
		fprintf(stderr, "kllm-bench " MODE ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(cap);
	if (!buf) {
		fprintf(stderr, "kllm-bench " MODE ": %s: out of memory\n", path);
		goto fail;
	}
	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n > 1)
			continue;
		nb = realloc(buf, cap * 2);
		if (!nb) {
			fprintf(stderr, "kllm-bench " MODE ": %s: out of memory\n", path);
			goto fail;
		}
		buf = nb;
		cap *= 2;
	}
	if (ferror(f)) {
		fprintf(stderr, "kllm-bench " MODE ": %s: read error\n", path);
		goto fail;
	}
	fclose(f);
	if (n && buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	*text = buf;
	*len = n;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

/* The text's tokens, special ones added as the vocabulary says (common_tokenize). */
static int tokenize(const struct kllm_tok *tok, const char *text, size_t len,
		    int32_t **ids, size_t *n)
{
	size_t cap = len + 2;
	int32_t *v = malloc(sizeof(int32_t) * cap);
	int got = v ? kllm_tok_encode(tok, text, len, 1, 0, v, cap) : -ENOMEM;

	if (got >= 0 && (size_t)got > cap) {
		free(v);
		cap = (size_t)got;
		v = malloc(sizeof(int32_t) * cap);
		got = v ? kllm_tok_encode(tok, text, len, 1, 0, v, cap) : -ENOMEM;
	}
	if (got < 0) {
		fprintf(stderr, "kllm-bench " MODE ": tokenizing: %s\n", strerror(-got));
		free(v);
		return -1;
	}
	*ids = v;
	*n = (size_t)got;
	return 0;
}

static void on_chunk(void *arg, const struct bench_ppl *r)
{
	struct pplrun *run = arg;
	const double ppl = bench_ppl_value(r);

	run->chunk_ppl[r->done - 1] = ppl;
	if (!run->t_first && (r->done == r->n_seq || r->done == r->n_chunk)) {
		run->t_first = bench_now() - run->t0;
		bench_progress("kllm-bench " MODE ": %.2f seconds per pass - ETA %.2f minutes\n",
			       run->t_first, run->t_first * r->n_chunk / r->n_seq / 60.0);
	}
	if (run->o->c.fmt != BENCH_FMT_MD)
		return;
	printf("[%u]%.4f,", r->done, ppl);
	fflush(stdout);
}

static void print_json(const struct pplopts *o, const struct bench_lm *lm,
		       const struct bench_ppl *r, const struct pplrun *run, size_t text_bytes,
		       double secs)
{
	struct bench_rows rows;

	bench_rows_begin(&rows, o->c.fmt, MODE);
	bench_row_str(&rows, "model", lm->name);
	bench_row_str(&rows, "model_type", lm->type);
	bench_row_str(&rows, "model_path", lm->path);
	bench_row_str(&rows, "file", o->file);
	bench_row_int(&rows, "text_bytes", (long long)text_bytes);
	bench_row_int(&rows, "n_tokens", (long long)r->n_tokens);
	bench_row_int(&rows, "n_ctx", o->n_ctx);
	bench_row_int(&rows, "n_batch", o->n_batch);
	bench_row_int(&rows, "n_seq", r->n_seq);
	bench_row_int(&rows, "n_chunks", r->done);
	bench_row_int(&rows, "n_scored", (long long)r->count);
	bench_row_str(&rows, "kv_type", kllm_kv_type_name(r->kv_type));
	bench_row_str(&rows, "simd", kk_simd_name(kk_simd_selected()));
	bench_row_str(&rows, "engine", bench_engine_name(&o->c));
	bench_row_str(&rows, "backend", r->backend);
	bench_row_int(&rows, "threads", o->c.threads[0]);
	bench_row_num(&rows, "ppl", bench_ppl_value(r), 6);
	bench_row_num(&rows, "ppl_err", bench_ppl_error(r), 6);
	bench_row_num(&rows, "nll_mean", r->count ? r->nll / (double)r->count : NAN, 8);
	bench_row_num(&rows, "seconds", secs, 3);
	bench_row_list(&rows, "chunk_ppl", run->chunk_ppl, (int)r->done, 6);
	bench_row_end(&rows);
	bench_rows_end(&rows);
}

static void print_final(const struct pplopts *o, const struct bench_lm *lm,
			const struct bench_ppl *r, double secs)
{
	const double err = bench_ppl_error(r);

	printf("\n");
	if (isnan(err))
		printf("Unexpected negative standard deviation of log(prob)\n");
	else
		printf("Final estimate: PPL = %.4f +/- %.5f\n", bench_ppl_value(r), err);
	printf("kllm %s, %s path, %s, %s: %u chunk%s of %d (%llu tokens scored), kv %s, "
	       "%d thread%s, %.1f s\n", KLLM_BENCH_VERSION, kk_simd_name(kk_simd_selected()),
	       r->backend, lm->type, r->done, r->done == 1 ? "" : "s", o->n_ctx,
	       (unsigned long long)r->count, kllm_kv_type_name(r->kv_type), o->c.threads[0],
	       o->c.threads[0] == 1 ? "" : "s", secs);
}

/* Tokenize, plan, evaluate, print: 0 or 1. */
static int run_ppl(const struct pplopts *o, const struct bench_lm *lm, const char *text,
		   size_t len)
{
	struct bench_ppl_opts po = { .n_ctx = (uint32_t)o->n_ctx,
				     .n_batch = (uint32_t)o->n_batch,
				     .n_chunks = (uint32_t)o->n_chunks,
				     .n_threads = (uint32_t)o->c.threads[0],
				     .kv_type = o->kv_type, .bos = -1 };
	struct pplrun run = { .o = o };
	struct kllm_tok *tok;
	struct bench_ppl r;
	char err[256];
	int32_t *ids = NULL;
	size_t n = 0;
	int ret;

	if (kllm_tok_load(&tok, lm->m->gguf, err, sizeof(err))) {
		fprintf(stderr, "kllm-bench " MODE ": %s: tokenizer: %s\n", lm->path, err);
		return 1;
	}
	if (kllm_tok_add_eos(tok)) {
		/* llama-perplexity asserts the same */
		fprintf(stderr, "kllm-bench " MODE ": the vocabulary adds EOS: not supported\n");
		kllm_tok_free(tok);
		return 1;
	}
	if (kllm_tok_add_bos(tok))
		po.bos = kllm_tok_bos(tok);
	run.t0 = bench_now();
	ret = tokenize(tok, text, len, &ids, &n);
	kllm_tok_free(tok);
	if (ret)
		return 1;
	bench_progress("kllm-bench " MODE ": %s: %zu bytes, %zu tokens (%s BOS), tokenized in "
		       "%.0f ms\n", o->file, len, n, po.bos >= 0 ? "with" : "no",
		       (bench_now() - run.t0) * 1e3);
	ret = bench_ppl_plan(&po, n, &r, err, sizeof(err));
	run.chunk_ppl = ret ? NULL : calloc(r.n_chunk, sizeof(double));
	if (ret || !run.chunk_ppl) {
		fprintf(stderr, "kllm-bench " MODE ": %s\n", ret ? err : "out of memory");
		free(ids);
		return 1;
	}
	bench_progress("kllm-bench " MODE ": calculating perplexity over %u chunks, n_ctx=%d, "
		       "batch_size=%d, n_seq=%u, %d thread(s)\n", r.n_chunk, o->n_ctx, o->n_batch,
		       r.n_seq, o->c.threads[0]);
	run.t0 = bench_now();
	ret = bench_ppl_eval(lm->m, ids, n, &po, on_chunk, &run, &r, err, sizeof(err));
	if (ret)
		fprintf(stderr, "\nkllm-bench " MODE ": %s\n", err);
	else if (o->c.fmt == BENCH_FMT_MD)
		print_final(o, lm, &r, bench_now() - run.t0);
	else
		print_json(o, lm, &r, &run, len, bench_now() - run.t0);
	free(run.chunk_ppl);
	free(ids);
	return ret ? 1 : 0;
}

int bench_ppl_main(int argc, char **argv)
{
	struct pplopts o;
	struct bench_lm lm;
	char *text;
	size_t len;
	int ret = parse_opts(&o, argc, argv);

	if (ret)
		return ret > 0 ? 0 : 2;
	if (bench_engine_apply(&o.c, MODE) || read_text(o.file, &text, &len))
		return 1;
	if (bench_lm_load(&lm, o.c.model)) {
		free(text);
		return 1;
	}
	bench_progress("kllm-bench " MODE ": %s (%s), engine %s\n", lm.name, lm.type,
		       bench_engine_name(&o.c));
	ret = run_ppl(&o, &lm, text, len);
	bench_lm_free(&lm);
	free(text);
	return ret;
}
