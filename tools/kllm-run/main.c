// SPDX-License-Identifier: MIT
/*
 * kllm-run - generate text with a GGUF model, llama.cpp-style options.
 *
 *	kllm-run -m MODEL -p PROMPT [-n N] [--temp T] ...
 *	kllm-run -m MODEL --chat [-sys TEXT] [-p QUESTION]
 *
 * Text streams to stdout; errors are one line on stderr with exit status
 * 1; the timings line goes to stderr at the end.  Ctrl-C stops a
 * generation: --chat waits for the next turn, a prompt run exits with
 * status 130.  Only the public API (kllm.h) is used.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static const char usage[] =
"usage: kllm-run -m MODEL [-p PROMPT | --chat] [options]\n"
"  -m, --model FILE        GGUF model\n"
"  -p, --prompt TEXT       prompt (special-token text is parsed)\n"
"  -n, --n-predict N       tokens to generate (default 128; -1: until the end)\n"
"  -c, --ctx-size N        context size (default 4096; 0: the model's)\n"
"  -b, --batch-size N      prompt tokens per forward pass (default 256)\n"
"  -t, --threads N         threads (default: every CPU)\n"
"  -s, --seed N            sampling seed (default: random)\n"
"  --temp T                temperature (default 0.8; 0: greedy)\n"
"  --top-k N               (default 40; 0: off)\n"
"  --top-p P               (default 0.95; 1: off)\n"
"  --min-p P               (default 0.05; 0: off)\n"
"  --repeat-penalty P      (default 1.0: off)\n"
"  --repeat-last-n N       (default 64)\n"
"  --chat                  chat with the model's template: with -p answer it\n"
"                          once, else read user turns from stdin\n"
"  -sys, --system TEXT     system prompt for --chat\n"
"  --template NAME         chat template (chatml, llama3, phi3, gemma, ...)\n"
"  --ids                   print generated token ids instead of text\n"
"  --engine cpu|dev|auto   where the model runs: this process, the kllm\n"
"                          driver, or the driver when present (default;\n"
"                          sets KLLM_ENGINE)\n"
"Ctrl-C stops a generation (--chat: back to the prompt; else exit 130).\n"
"env KLLM_SIMD=scalar|avx2|avx512|neon|dotprod picks the kernels' path,\n"
"    KLLM_ENGINE=cpu|dev|auto the engine (as --engine)\n";

static int bad_value(const char *opt, const char *v)
{
	fprintf(stderr, "kllm-run: %s: invalid value '%s'\n", opt, v ? v : "");
	return -1;
}

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out)
{
	char *end;

	if (!v)
		return bad_value(opt, v);
	errno = 0;
	*out = strtol(v, &end, 0);
	if (errno || end == v || *end || *out < lo || *out > hi)
		return bad_value(opt, v);
	return 0;
}

static int parse_float(const char *opt, const char *v, float *out)
{
	char *end;

	if (!v)
		return bad_value(opt, v);
	errno = 0;
	*out = strtof(v, &end);
	if (errno || end == v || *end || *out != *out)
		return bad_value(opt, v);
	return 0;
}

static int is(const char *a, const char *s, const char *l)
{
	return (s && !strcmp(a, s)) || (l && !strcmp(a, l));
}

/* Options that take a number; 1 if @a was one of them, -1 on a bad value. */
static int parse_number(struct run_opts *o, const char *a, const char *v)
{
	long n;

	if (is(a, "-n", "--n-predict")) {
		if (parse_long(a, v, -1, 1L << 30, &n))
			return -1;
		o->n_predict = (int)n;
	} else if (is(a, "-c", "--ctx-size")) {
		if (parse_long(a, v, 0, 1L << 24, &n))
			return -1;
		o->n_ctx = (uint32_t)n;
	} else if (is(a, "-b", "--batch-size")) {
		if (parse_long(a, v, 1, 4096, &n))
			return -1;
		o->n_batch = (uint32_t)n;
	} else if (is(a, "-t", "--threads")) {
		if (parse_long(a, v, 0, 512, &n))
			return -1;
		o->n_threads = (uint32_t)n;
	} else if (is(a, "-s", "--seed")) {
		unsigned long long s;
		char *end;

		if (!v)
			return bad_value(a, v);
		errno = 0;
		s = strtoull(v, &end, 0);
		if (errno || end == v || *end)
			return bad_value(a, v);
		o->sp.seed = s;
	} else if (is(a, NULL, "--top-k")) {
		if (parse_long(a, v, -1, 1L << 30, &n))
			return -1;
		o->sp.top_k = (int32_t)n;
	} else if (is(a, NULL, "--repeat-last-n")) {
		if (parse_long(a, v, 0, 1L << 20, &n))
			return -1;
		o->sp.penalty_last_n = (int32_t)n;
	} else if (is(a, NULL, "--temp")) {
		return parse_float(a, v, &o->sp.temperature) ? -1 : 1;
	} else if (is(a, NULL, "--top-p")) {
		return parse_float(a, v, &o->sp.top_p) ? -1 : 1;
	} else if (is(a, NULL, "--min-p")) {
		return parse_float(a, v, &o->sp.min_p) ? -1 : 1;
	} else if (is(a, NULL, "--repeat-penalty")) {
		return parse_float(a, v, &o->sp.penalty_repeat) ? -1 : 1;
	} else {
		return 0;
	}
	return 1;
}

/* 0, 1 after --help, -1 on a usage error (message printed). */
static int parse_args(struct run_opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r;

		if (is(a, "-h", "--help")) {
			fputs(usage, stdout);
			return 1;
		} else if (is(a, NULL, "--chat") || is(a, "-cnv", "--conversation")) {
			o->chat = 1;
			continue;
		} else if (is(a, NULL, "--ids")) {
			o->ids = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "kllm-run: %s: missing value or unknown option "
				"(see --help)\n", a);
			return -1;
		}
		i++;
		if (is(a, "-m", "--model")) {
			o->model = v;
		} else if (is(a, "-p", "--prompt")) {
			o->prompt = v;
		} else if (is(a, "-sys", "--system")) {
			o->system = v;
		} else if (is(a, NULL, "--template")) {
			o->tmpl_name = v;
		} else if (is(a, NULL, "--engine")) {
			if (strcmp(v, "cpu") && strcmp(v, "dev") && strcmp(v, "auto"))
				return bad_value(a, v);
			/* the library reads it when the engine is created */
			if (setenv("KLLM_ENGINE", v, 1)) {
				perror("kllm-run: setenv");
				return -1;
			}
		} else {
			r = parse_number(o, a, v);
			if (r < 0)
				return -1;
			if (!r) {
				fprintf(stderr, "kllm-run: unknown option %s (see --help)\n", a);
				return -1;
			}
		}
	}
	if (!o->model) {
		fprintf(stderr, "kllm-run: no model (-m FILE; see --help)\n");
		return -1;
	}
	if (!o->chat && !o->prompt) {
		fprintf(stderr, "kllm-run: no prompt (-p TEXT, or --chat)\n");
		return -1;
	}
	return 0;
}

static int run_prompt(struct gen *g)
{
	int32_t *ids;
	int n = gen_tokenize(g, g->o->prompt, 1, &ids), ret;

	if (n < 0)
		return -1;
	if (!n) {
		free(ids);
		fprintf(stderr, "kllm-run: the prompt encodes to no token\n");
		return -1;
	}
	ret = gen_prefill(g, ids, n);
	free(ids);
	if (!ret)
		ret = gen_generate(g, g->o->n_predict, NULL, NULL);
	if (!ret && g->o->ids)
		putchar('\n');
	fflush(stdout);
	return ret;
}

int main(int argc, char **argv)
{
	struct run_opts o = { .n_predict = 128, .n_ctx = 4096, .n_batch = 256 };
	struct gen g;
	int r;

	kllm_sampler_default_params(&o.sp);
	o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	r = parse_args(&o, argc, argv);
	if (r)
		return r > 0 ? 0 : 1;
	if (gen_open(&g, &o)) {
		gen_close(&g);
		return 1;
	}
	/* 1: interrupted (Ctrl-C), which exits as a shell expects */
	r = o.chat ? run_chat(&g) : run_prompt(&g);
	if (r >= 0)
		gen_print_timings(&g);
	gen_close(&g);
	return r < 0 ? 1 : r ? 128 + SIGINT : 0;
}
