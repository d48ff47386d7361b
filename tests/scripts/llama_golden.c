// SPDX-License-Identifier: MIT
/*
 * llama_golden.c - writes the golden data kllm is checked against, with
 * llama.cpp (libllama) as the reference.  Built and run by gen_golden.sh;
 * never part of kllm's build.  Three modes:
 *
 *	llama_golden gen MODEL.gguf PROMPTS N_PREDICT
 *
 * For each prompt (tokenized as llama.cpp's tools do: BOS as the model
 * says, special-token text parsed), greedily generate N_PREDICT tokens one
 * decode at a time, and for every one of those positions write the chosen
 * id, llama.cpp's top-2 logit gap over the whole vocabulary, and the fp32
 * logits of the 16 highest tokens plus 16 pseudo-random token ids (a
 * splitmix64 stream seeded by prompt number and position, so the sample
 * covers the whole id range and is reproducible).  Generation does not
 * stop at end-of-generation tokens: every prompt gets N_PREDICT positions.
 *
 *	llama_golden tok MODEL.gguf CORPUS
 *
 * For each corpus line, its ids with special-token text parsed and then
 * with it taken as plain text (BOS as the model says, both times).
 *
 *	llama_golden bench MODEL.gguf PROMPT N_PREDICT THREADS
 *
 * kllm-run's workload on llama.cpp, for docs/PERF.md: the prompt (text,
 * no escapes) as one batch, then N_PREDICT greedy tokens one decode each
 * (not stopping at end of generation); prints the prompt and generation
 * rates in kllm-run's words.  Wall-clock times, sampling included.
 *
 * PROMPTS lines are "NAME<TAB>TEXT", CORPUS lines "TEXT"; TEXT uses the
 * escapes \n \t \r \\ \xHH; blank lines and lines starting with '#' are
 * skipped.  Output formats: see the top of the files gen_golden.sh writes
 * (tests/golden/models/, tests/golden/tokenizer/).
 *
 * llama.cpp's extra buffer types (AMX and CPU weight repacking) are turned
 * off: on the machines this runs on the AMX path dies with SIGILL, and
 * repacked weights are summed in another order than ggml's plain dot
 * products.  gen: two threads, f16 KV cache, flash attention OFF, and the
 * prompt fed ONE TOKEN PER llama_decode: llama.cpp is not batch-invariant
 * (for n >= 2 its f16 attention products go through tinyBLAS, for n = 1
 * through ggml_vec_dot_f16, which sum in other orders, and flash attention
 * accumulates V in f16), so only with every position on its n = 1 path is
 * there one llama.cpp answer per position for kllm, which is batch-
 * invariant, to reproduce (KLLM_SIMD=ggml, docs/PERF.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"
#include "../golden/corpus_escape.h"

#define MAX_TOKENS 1024
#define N_TOP 16
#define N_RAND 16

/* Read one line without its newline; 0 at end of file. */
static int read_line(FILE *f, char *buf, size_t size)
{
	size_t n;

	if (!fgets(buf, (int)size, f))
		return 0;
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	return 1;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The N_TOP highest logits' ids, best first (ties: lower id first). */
static void top_ids(const float *lg, int n_vocab, int *top)
{
	int n = 0;

	for (int j = 0; j < n_vocab; j++) {
		int k = n < N_TOP ? n++ : N_TOP;

		if (k == N_TOP && lg[j] <= lg[top[N_TOP - 1]])
			continue;
		if (k == N_TOP)
			k = N_TOP - 1;
		while (k > 0 && lg[top[k - 1]] < lg[j]) {
			top[k] = top[k - 1];
			k--;
		}
		top[k] = j;
	}
}

static int in_list(const int *ids, int n, int id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

/* One "p" line: position, greedy id, gap, then id:logit pairs. */
static void dump_position(const float *lg, int n_vocab, int prompt_no, int pos)
{
	int ids[N_TOP + N_RAND];
	uint64_t seed = 0x6b6c6c6d676f6c64ull ^ ((uint64_t)prompt_no << 32 | (uint32_t)pos);
	int n = N_TOP;

	top_ids(lg, n_vocab, ids);
	while (n < N_TOP + N_RAND) {
		int id = (int)(splitmix64(&seed) % (uint64_t)n_vocab);

		if (!in_list(ids, n, id))
			ids[n++] = id;
	}
	printf("p %d %d %.6f", pos, ids[0], lg[ids[0]] - lg[ids[1]]);
	for (int i = 0; i < n; i++)
		printf(" %d:%.4f", ids[i], lg[ids[i]]);
	printf("\n");
}

static struct llama_model *load(const char *path, int vocab_only)
{
	struct llama_model_params mp = llama_model_default_params();

	mp.use_extra_bufts = false;
	mp.vocab_only = vocab_only;
	return llama_model_load_from_file(path, mp);
}

static void print_escaped(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\\')
			fputs("\\\\", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static int greedy_prompt(struct llama_model *model, const char *name, char *text,
			 int prompt_no, int n_predict)
{
	struct llama_context_params cp = llama_context_default_params();
	const struct llama_vocab *vocab = llama_model_get_vocab(model);
	int n_vocab = llama_vocab_n_tokens(vocab);
	llama_token ids[MAX_TOKENS], next;
	struct llama_context *ctx;
	size_t len = unescape(text);
	int n;

	n = llama_tokenize(vocab, text, (int)len, ids, MAX_TOKENS, true, true);
	if (n <= 0 || n + n_predict > MAX_TOKENS) {
		fprintf(stderr, "%s: tokenize failed (%d)\n", name, n);
		return -1;
	}
	cp.n_ctx = (uint32_t)(n + n_predict + 16);
	cp.n_batch = cp.n_ctx;
	cp.n_threads = 2;
	cp.n_threads_batch = 2;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	ctx = llama_init_from_model(model, cp);
	if (!ctx) {
		fprintf(stderr, "%s: no context\n", name);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (llama_decode(ctx, llama_batch_get_one(&ids[i], 1))) {
			fprintf(stderr, "%s: prompt decode failed at %d\n", name, i);
			return -1;
		}
	}
	printf("prompt %s\ntext ", name);
	print_escaped(text, len);
	printf("\nids %d", n);
	for (int i = 0; i < n; i++)
		printf(" %d", ids[i]);
	printf("\n");
	for (int i = 0; i < n_predict; i++) {
		const float *lg = llama_get_logits_ith(ctx, -1);
		int top[N_TOP];

		top_ids(lg, n_vocab, top);
		next = top[0];
		dump_position(lg, n_vocab, prompt_no, i);
		if (llama_decode(ctx, llama_batch_get_one(&next, 1))) {
			fprintf(stderr, "%s: decode failed at %d\n", name, i);
			return -1;
		}
	}
	printf("end\n");
	llama_free(ctx);
	return 0;
}

static int gen(const char *model_path, const char *prompts, int n_predict)
{
	static char line[1 << 16];
	struct llama_model *model = load(model_path, 0);
	FILE *f = fopen(prompts, "r");
	int prompt_no = 0, rc = 0;

	if (!model || !f) {
		fprintf(stderr, "cannot open %s or %s\n", model_path, prompts);
		return 1;
	}
	printf("system_info %s\n", llama_print_system_info());
	printf("n_vocab %d\nn_predict %d\nn_top %d\nn_rand %d\n",
	       llama_vocab_n_tokens(llama_model_get_vocab(model)), n_predict, N_TOP, N_RAND);
	while (!rc && read_line(f, line, sizeof(line))) {
		char *tab = strchr(line, '\t');

		if (!line[0] || line[0] == '#')
			continue;
		if (!tab) {
			fprintf(stderr, "%s: no TAB after the name in '%s'\n", prompts, line);
			rc = 1;
			break;
		}
		*tab = 0;
		rc = greedy_prompt(model, line, tab + 1, prompt_no++, n_predict) ? 1 : 0;
	}
	fclose(f);
	llama_model_free(model);
	return rc;
}

static int print_ids(const struct llama_vocab *vocab, const char *kind, int case_no,
		     const char *text, size_t len, int parse_special)
{
	static llama_token ids[1 << 16];
	int n = llama_tokenize(vocab, text, (int)len, ids, 1 << 16, true, parse_special);

	if (n < 0)
		return -1;
	printf("%d %s %d", case_no, kind, n);
	for (int i = 0; i < n; i++)
		printf(" %d", ids[i]);
	printf("\n");
	return 0;
}

static int tok(const char *model_path, const char *corpus)
{
	static char line[1 << 16];
	struct llama_model *model = load(model_path, 1);
	FILE *f = fopen(corpus, "r");
	const struct llama_vocab *vocab;
	int case_no = 0, rc = 0;

	if (!model || !f) {
		fprintf(stderr, "cannot open %s or %s\n", model_path, corpus);
		return 1;
	}
	vocab = llama_model_get_vocab(model);
	printf("n_vocab %d\n", llama_vocab_n_tokens(vocab));
	while (!rc && read_line(f, line, sizeof(line))) {
		size_t len;

		if (!line[0] || line[0] == '#')
			continue;
		len = unescape(line);
		if (print_ids(vocab, "special", case_no, line, len, 1) ||
		    print_ids(vocab, "plain", case_no, line, len, 0)) {
			fprintf(stderr, "%s: case %d does not tokenize\n", corpus, case_no);
			rc = 1;
		}
		case_no++;
	}
	fclose(f);
	llama_model_free(model);
	return rc;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench(const char *model_path, const char *prompt, int n_predict, int threads)
{
	struct llama_context_params cp = llama_context_default_params();
	struct llama_model *model;
	const struct llama_vocab *vocab;
	struct llama_context *ctx;
	llama_token ids[MAX_TOKENS];
	double t0 = now_s(), t_load, t_prompt, t_gen;
	int n;

	model = load(model_path, 0);
	if (!model)
		return 1;
	t_load = now_s() - t0;
	vocab = llama_model_get_vocab(model);
	n = llama_tokenize(vocab, prompt, (int)strlen(prompt), ids, MAX_TOKENS, true, true);
	if (n <= 0 || n + n_predict > MAX_TOKENS)
		return 1;
	cp.n_ctx = (uint32_t)(n + n_predict + 16);
	cp.n_batch = cp.n_ctx;
	cp.n_threads = threads;
	cp.n_threads_batch = threads;
	ctx = llama_init_from_model(model, cp);
	t0 = now_s();
	if (!ctx || llama_decode(ctx, llama_batch_get_one(ids, n)))
		return 1;
	t_prompt = now_s() - t0;
	t0 = now_s();
	for (int i = 0; i < n_predict; i++) {
		int top[N_TOP];
		llama_token next;

		top_ids(llama_get_logits_ith(ctx, -1), llama_vocab_n_tokens(vocab), top);
		next = top[0];
		if (llama_decode(ctx, llama_batch_get_one(&next, 1)))
			return 1;
	}
	t_gen = now_s() - t0;
	printf("llama.cpp: load %.1f ms | prompt %d tokens, %.1f tok/s | "
	       "generation %d tokens, %.1f tok/s | %d threads\n", t_load * 1e3, n, n / t_prompt,
	       n_predict, n_predict / t_gen, threads);
	llama_free(ctx);
	llama_model_free(model);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc == 5 && !strcmp(argv[1], "gen")) {
		llama_backend_init();
		rc = gen(argv[2], argv[3], atoi(argv[4]));
	} else if (argc == 4 && !strcmp(argv[1], "tok")) {
		llama_backend_init();
		rc = tok(argv[2], argv[3]);
	} else if (argc == 6 && !strcmp(argv[1], "bench")) {
		llama_backend_init();
		rc = bench(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	} else {
		fprintf(stderr, "usage: %s gen MODEL PROMPTS N_PREDICT\n"
			"       %s tok MODEL CORPUS\n"
			"       %s bench MODEL PROMPT N_PREDICT THREADS\n",
			argv[0], argv[0], argv[0]);
		return 2;
	}
	llama_backend_free();
	return rc;
}
