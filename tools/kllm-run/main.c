// SPDX-License-Identifier: MIT
/*
 * kllm-run - generate text or chat with a GGUF model, with llama.cpp's
 * options (llama-cli's and llama-completion's spellings and meanings;
 * docs/man/kllm-run.1 lists which exist and which differ).
 *
 *	kllm-run -m MODEL -p PROMPT [-n N] [--temp T] ...
 *	kllm-run -m MODEL -cnv [-sys TEXT] [-p QUESTION]
 *
 * Text streams to stdout; the timings line and messages go to stderr.
 * Exit status: 0, 1 on a runtime error (one line on stderr), 2 on a usage
 * error (one line), 130 after Ctrl-C stopped a plain (not chat) run; in a
 * chat Ctrl-C returns to the "> " prompt.  Only the public API (kllm.h) is
 * used.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

/* The tree's version (the Makefile defines it for the tools), else the
 * library's. */
#ifndef KLLM_VERSION
#define KLLM_VERSION kllm_version()
#endif

static const char usage[] =
"usage: kllm-run -m MODEL [-p PROMPT | -f FILE] [options]\n"
"       kllm-run -m MODEL -cnv [-sys TEXT] [-p QUESTION] [options]\n"
"\n"
"  -m, --model FILE          GGUF model\n"
"  -p, --prompt TEXT         prompt (special-token text is parsed); in a chat\n"
"                            the first user message\n"
"  -f, --file FILE           the prompt from FILE (one final newline dropped)\n"
"  -e, --escape              process \\n \\r \\t \\' \\\" \\\\ \\xHH in the prompt and -r\n"
"                            (default)\n"
"      --no-escape           take them literally\n"
"  -n, --n-predict, --predict N\n"
"                            tokens to generate (default 128; -1: until the end)\n"
"  -c, --ctx-size N          context size (default 4096, at most the model's\n"
"                            trained context; 0: the model's)\n"
"  -b, --batch-size, -ub, --ubatch-size N\n"
"                            prompt tokens per forward pass (default 256)\n"
"  -t, --threads N           threads (default, 0 or -1: every CPU)\n"
"  -s, --seed N              sampling seed (default -1: random)\n"
"  --temp, --temperature T   temperature (default 0.8; <= 0: greedy)\n"
"  --top-k N                 top-k (default 40; <= 0: off)\n"
"  --top-p P                 top-p in [0, 1] (default 0.95; 1: off)\n"
"  --min-p P                 min-p in [0, 1] (default 0.05; 0: off)\n"
"  --repeat-penalty P        > 0 (default 1.0: off)\n"
"  --repeat-last-n N         tokens the penalties look at (default 64; 0: off)\n"
"  --presence-penalty P      (default 0.0: off)\n"
"  --frequency-penalty P     (default 0.0: off)\n"
"  --ignore-eos              never stop at an end-of-generation token\n"
"  --draft-max, --draft, --draft-n N\n"
"                            prompt-lookup decoding: draft up to N (0..32) tokens\n"
"                            from n-grams already in the context, checked in one\n"
"                            pass; the same output, faster where the answer\n"
"                            repeats the context (default 0: off)\n"
"  --ngram-min N, --ngram-max N\n"
"                            n-gram lengths it looks up (default 1 and 4)\n"
"  -r, --reverse-prompt TEXT stop generating at TEXT (repeatable); in a chat,\n"
"                            hand the turn back to the user\n"
"  -sp, --special            print control tokens' text\n"
"  -cnv, --conversation, --chat\n"
"                            chat with the model's chat template: with -p answer\n"
"                            it, else read user turns from stdin\n"
"  -no-cnv, --no-conversation\n"
"                            plain text completion (the default without -sys)\n"
"  -i, --interactive         read more input from stdin after the prompt: chat\n"
"                            turns, or with -no-cnv text to continue with\n"
"  -st, --single-turn        one user turn, then exit\n"
"  -sys, --system-prompt TEXT\n"
"                            system prompt (turns on the chat)\n"
"  -sysf, --system-prompt-file FILE\n"
"                            system prompt from FILE\n"
"  --chat-template NAME      chat template (chatml, llama3, phi3, gemma, ...);\n"
"                            also --template\n"
"  --verbose-prompt          show the text fed to the model on stderr, and the\n"
"                            tokens each prefill computed\n"
"  --show-timings, --no-show-timings\n"
"                            the timings line at the end (default: shown)\n"
"  -ngl, --gpu-layers, --n-gpu-layers N\n"
"                            accepted with a note: there is no GPU offload\n"
"  --ids                     print generated token ids instead of text\n"
"  -ctk, --cache-type-k T, -ctv, --cache-type-v T\n"
"                            the KV cache's type, f16 (default) or q8_0 (34/64\n"
"                            of the memory); K and V take one type\n"
"  --engine cpu|dev|auto     where the model runs: this process, the kllm\n"
"                            driver, or the driver when present (default;\n"
"                            sets KLLM_ENGINE)\n"
"  -h, --help, --usage       this help\n"
"  --version                 print the version\n"
"\n"
"Chat commands: /bye (or /exit, Ctrl-D) quits, /clear forgets the conversation.\n"
"Ctrl-C stops a prompt or a generation: a chat returns to its prompt, a plain\n"
"run exits with status 130.  Exit status 1: runtime error, 2: usage error.\n"
"env KLLM_SIMD=scalar|avx2|avx512|neon|dotprod|i8mm|ggml picks the kernels' path,\n"
"    KLLM_ENGINE=cpu|dev|auto the engine (as --engine)\n";

/* A usage error: one line on stderr (exit status 2); -1. */
__attribute__((format(printf, 1, 2)))
static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("kllm-run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	return -1;
}

static int bad_value(const char *opt, const char *v)
{
	return usage_err("%s: invalid value '%s'\n", opt, v ? v : "");
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

/* A finite float; NaN and infinities are refused. */
static int parse_float(const char *opt, const char *v, float *out)
{
	char *end;

	if (!v)
		return bad_value(opt, v);
	errno = 0;
	*out = strtof(v, &end);
	if (errno || end == v || *end || !isfinite(*out))
		return bad_value(opt, v);
	return 0;
}

/* A float in [lo, hi]. */
static int parse_range(const char *opt, const char *v, float lo, float hi, float *out)
{
	if (parse_float(opt, v, out))
		return -1;
	if (*out < lo || *out > hi)
		return usage_err("%s %s: must be between %g and %g\n", opt, v, lo, hi);
	return 0;
}

static int is(const char *a, const char *s, const char *l)
{
	return (s && !strcmp(a, s)) || (l && !strcmp(a, l));
}

/* A seed: -1 (or llama.cpp's LLAMA_DEFAULT_SEED, 4294967295) draws one. */
static int parse_seed(struct run_opts *o, const char *a, const char *v)
{
	unsigned long long s;
	char *end;

	if (!v)
		return bad_value(a, v);
	if (!strcmp(v, "-1"))
		return 0;	/* the random default stays */
	errno = 0;
	s = strtoull(v, &end, 0);
	if (errno || end == v || *end || v[0] == '-')
		return bad_value(a, v);
	if (s != 0xFFFFFFFFull)
		o->sp.seed = s;
	return 0;
}

/* Options that take a number; 1 if @a was one of them, -1 on a bad value. */
static int parse_number(struct run_opts *o, const char *a, const char *v)
{
	long n;

	if (is(a, "-n", "--n-predict") || is(a, NULL, "--predict")) {
		/* llama.cpp: -1 infinity, -2 until the context is full */
		if (parse_long(a, v, -2, 1L << 30, &n))
			return -1;
		o->n_predict = n < 0 ? -1 : (int)n;
	} else if (is(a, "-c", "--ctx-size")) {
		if (parse_long(a, v, 0, 1L << 24, &n))
			return -1;
		o->n_ctx = (uint32_t)n;
		o->n_ctx_set = 1;
	} else if (is(a, "-b", "--batch-size") || is(a, "-ub", "--ubatch-size")) {
		if (parse_long(a, v, 1, 4096, &n))
			return -1;
		o->n_batch = (uint32_t)n;
	} else if (is(a, "-t", "--threads")) {
		/* llama.cpp: <= 0 means every CPU */
		if (parse_long(a, v, -(1L << 30), KLLM_POOL_MAX_THREADS, &n))
			return -1;
		o->n_threads = n > 0 ? (uint32_t)n : 0;
	} else if (is(a, "-s", "--seed")) {
		return parse_seed(o, a, v) ? -1 : 1;
	} else if (is(a, NULL, "--top-k")) {
		if (parse_long(a, v, -(1L << 30), 1L << 30, &n))
			return -1;
		o->sp.top_k = (int32_t)n;
	} else if (is(a, NULL, "--repeat-last-n")) {
		if (parse_long(a, v, 0, 1L << 20, &n))
			return -1;
		o->sp.penalty_last_n = (int32_t)n;
	} else if (is(a, NULL, "--temp") || is(a, NULL, "--temperature")) {
		if (parse_float(a, v, &o->sp.temperature))
			return -1;
		if (o->sp.temperature < 0)	/* llama.cpp: greedy */
			o->sp.temperature = 0;
	} else if (is(a, NULL, "--top-p")) {
		return parse_range(a, v, 0, 1, &o->sp.top_p) ? -1 : 1;
	} else if (is(a, NULL, "--min-p")) {
		return parse_range(a, v, 0, 1, &o->sp.min_p) ? -1 : 1;
	} else if (is(a, NULL, "--repeat-penalty")) {
		if (parse_float(a, v, &o->sp.penalty_repeat))
			return -1;
		if (o->sp.penalty_repeat <= 0 || !isfinite(1.0f / o->sp.penalty_repeat))
			return usage_err("%s %s: must be greater than 0\n", a, v);
	} else if (is(a, NULL, "--presence-penalty")) {
		return parse_float(a, v, &o->sp.penalty_present) ? -1 : 1;
	} else if (is(a, NULL, "--frequency-penalty")) {
		return parse_float(a, v, &o->sp.penalty_freq) ? -1 : 1;
	} else if (is(a, NULL, "--draft-max") || is(a, NULL, "--draft") ||
		   is(a, NULL, "--draft-n")) {
		if (parse_long(a, v, 0, 32, &n))
			return -1;
		o->n_draft = (uint32_t)n;
	} else if (is(a, NULL, "--ngram-min")) {
		if (parse_long(a, v, 1, 16, &n))
			return -1;
		o->ngram_min = (uint32_t)n;
	} else if (is(a, NULL, "--ngram-max")) {
		if (parse_long(a, v, 1, 16, &n))
			return -1;
		o->ngram_max = (uint32_t)n;
	} else if (is(a, "-ngl", "--gpu-layers") || is(a, NULL, "--n-gpu-layers")) {
		if (strcmp(v, "auto") && strcmp(v, "all") &&
		    parse_long(a, v, -2, 1L << 30, &n))
			return -1;
		fprintf(stderr, "kllm-run: note: %s ignored: kllm runs on the CPU or "
			"the kllm driver, there is no GPU offload\n", a);
	} else {
		return 0;
	}
	return 1;
}

/* llama.cpp's string_process_escapes, in place. */
static void process_escapes(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			*out++ = *s;
			continue;
		}
		switch (*++s) {
		case 'n': *out++ = '\n'; break;
		case 'r': *out++ = '\r'; break;
		case 't': *out++ = '\t'; break;
		case '\'': *out++ = '\''; break;
		case '"': *out++ = '"'; break;
		case '\\': *out++ = '\\'; break;
		case 'x':
			if (s[1] && s[2]) {
				char x[3] = { s[1], s[2], 0 }, *end;
				long val = strtol(x, &end, 16);

				if (end == x + 2) {
					*out++ = (char)val;
					s += 2;
					break;
				}
			}
			/* fall through */
		default:
			*out++ = '\\';
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Strings the options own (the prompt and system prompt read from files or
 * copied for escapes, the -r strings); freed at exit. */
static char *owned[3 + RUN_MAX_REVERSE];
static size_t n_owned;

static char *own(char *s)
{
	if (s)
		owned[n_owned++] = s;
	return s;
}

/* FILE's text without one final newline (as llama.cpp); NULL after a
 * message. */
static char *read_text(const char *opt, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "kllm-run: %s %s: %s\n", opt, path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *p = realloc(buf, cap = 2 * cap + 8192);

			if (!p) {
				fprintf(stderr, "kllm-run: %s %s: %s\n", opt, path, strerror(ENOMEM));
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "kllm-run: %s %s: %s\n", opt, path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (len && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	if (strlen(buf) != len) {
		fprintf(stderr, "kllm-run: %s %s: the file holds a NUL byte\n", opt, path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Is NAME one of libkllm's chat template families? */
static int known_template(const char *name)
{
	const char *t;

	for (int i = 0; (t = kllm_chat_template_name(i)); i++)
		if (!strcmp(t, name))
			return 1;
	return 0;
}

enum { PARSE_OK, PARSE_EXIT, PARSE_USAGE, PARSE_FAIL };

static int parse_args(struct run_opts *o, int argc, char **argv)
{
	int escape = 1, cnv = 0, no_cnv = 0;
	const char *prompt_file = NULL, *system_file = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r;

		if (is(a, "-h", "--help") || is(a, NULL, "--usage")) {
			fputs(usage, stdout);
			return PARSE_EXIT;
		} else if (is(a, NULL, "--version")) {
			printf("kllm-run %s\n", KLLM_VERSION);
			return PARSE_EXIT;
		} else if (is(a, NULL, "--chat") || is(a, "-cnv", "--conversation")) {
			cnv = 1;
			continue;
		} else if (is(a, "-no-cnv", "--no-conversation")) {
			no_cnv = 1;
			continue;
		} else if (is(a, "-i", "--interactive")) {
			o->interactive = 1;
			continue;
		} else if (is(a, "-st", "--single-turn")) {
			o->single_turn = 1;
			continue;
		} else if (is(a, "-e", "--escape")) {
			escape = 1;
			continue;
		} else if (is(a, NULL, "--no-escape")) {
			escape = 0;
			continue;
		} else if (is(a, NULL, "--ignore-eos")) {
			o->ignore_eos = 1;
			continue;
		} else if (is(a, "-sp", "--special")) {
			o->special = 1;
			continue;
		} else if (is(a, NULL, "--verbose-prompt")) {
			o->verbose_prompt = 1;
			continue;
		} else if (is(a, NULL, "--show-timings")) {
			o->show_timings = 1;
			continue;
		} else if (is(a, NULL, "--no-show-timings")) {
			o->show_timings = 0;
			continue;
		} else if (is(a, NULL, "--ids")) {
			o->ids = 1;
			continue;
		}
		if (!v) {
			usage_err("%s: missing value or unknown option (see --help)\n", a);
			return PARSE_USAGE;
		}
		i++;
		if (is(a, "-m", "--model")) {
			o->model = v;
		} else if (is(a, "-p", "--prompt")) {
			o->prompt = v;
			prompt_file = NULL;
		} else if (is(a, "-f", "--file")) {
			prompt_file = v;
		} else if (is(a, "-sys", "--system-prompt") || is(a, NULL, "--system")) {
			o->system = v;
			system_file = NULL;
		} else if (is(a, "-sysf", "--system-prompt-file")) {
			system_file = v;
		} else if (is(a, "-r", "--reverse-prompt")) {
			if (!v[0]) {
				usage_err("%s: the text must not be empty\n", a);
				return PARSE_USAGE;
			}
			if (o->n_reverse == RUN_MAX_REVERSE) {
				usage_err("%s: at most %d\n", a, RUN_MAX_REVERSE);
				return PARSE_USAGE;
			}
			o->reverse[o->n_reverse++] = v;
		} else if (is(a, NULL, "--chat-template") || is(a, NULL, "--template")) {
			if (!known_template(v)) {
				usage_err("%s %s: unknown template (chatml, llama3, phi3, "
					  "gemma, ...)\n", a, v);
				return PARSE_USAGE;
			}
			o->tmpl_name = v;
		} else if (is(a, "-ctk", "--cache-type-k") || is(a, "-ctv", "--cache-type-v")) {
			uint32_t t = kllm_kv_type_parse(v);

			if (!t) {
				usage_err("%s %s: kllm's KV cache is f16 or q8_0\n", a, v);
				return PARSE_USAGE;
			}
			*(is(a, "-ctv", "--cache-type-v") ? &o->kv_type_v : &o->kv_type_k) = t;
		} else if (is(a, NULL, "--engine")) {
			if (strcmp(v, "cpu") && strcmp(v, "dev") && strcmp(v, "auto")) {
				bad_value(a, v);
				return PARSE_USAGE;
			}
			/* the library reads it when the engine is created */
			if (setenv("KLLM_ENGINE", v, 1)) {
				perror("kllm-run: setenv");
				return PARSE_FAIL;
			}
		} else {
			r = parse_number(o, a, v);
			if (r < 0)
				return PARSE_USAGE;
			if (!r) {
				usage_err("unknown option %s (see --help)\n", a);
				return PARSE_USAGE;
			}
		}
	}
	if (!o->model) {
		usage_err("no model (-m FILE; see --help)\n");
		return PARSE_USAGE;
	}
	if (system_file)
		o->system = "";		/* read below, after the usage checks */
	if (no_cnv && (cnv || o->system)) {
		usage_err("%s needs a conversation: drop -no-cnv\n",
			  cnv ? "-cnv" : "-sys");
		return PARSE_USAGE;
	}
	/* llama-completion: -sys and -i imply a conversation (kllm-run does
	 * not start one on its own for a model with a template) */
	o->chat = !no_cnv && (cnv || o->system || o->interactive);
	/* without a prompt a chat reads its turns */
	if (o->chat && !o->prompt && !prompt_file)
		o->interactive = 1;
	if (!o->chat && !o->interactive && !o->prompt && !prompt_file) {
		usage_err("no prompt (-p TEXT, -f FILE, -cnv or -i)\n");
		return PARSE_USAGE;
	}
	if (o->ids && o->interactive && !o->chat) {
		usage_err("--ids: not with -i -no-cnv\n");
		return PARSE_USAGE;
	}
	if (prompt_file) {
		o->prompt = own(read_text("-f", prompt_file));
		if (!o->prompt)
			return PARSE_FAIL;
	}
	if (system_file) {
		o->system = own(read_text("-sysf", system_file));
		if (!o->system)
			return PARSE_FAIL;
	}
	if (escape) {
		if (o->prompt && !prompt_file) {
			o->prompt = own(strdup(o->prompt));
			if (!o->prompt) {
				perror("kllm-run");
				return PARSE_FAIL;
			}
		}
		if (o->prompt)	/* a copy: -f's text, or the one above */
			process_escapes((char *)o->prompt);
		for (size_t i = 0; i < o->n_reverse; i++) {
			char *r = own(strdup(o->reverse[i]));

			if (!r) {
				perror("kllm-run");
				return PARSE_FAIL;
			}
			process_escapes(r);
			if (!r[0]) {
				usage_err("-r: the text must not be empty\n");
				return PARSE_USAGE;
			}
			o->reverse[i] = r;
		}
	}
	if (o->n_threads) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		if (cpus > 0 && o->n_threads > (unsigned long)cpus)
			fprintf(stderr, "kllm-run: warning: -t %u is more than the %ld "
				"online CPUs\n", o->n_threads, cpus);
	}
	if (o->kv_type_k && o->kv_type_v && o->kv_type_k != o->kv_type_v) {
		usage_err("-ctk and -ctv: kllm keeps K and V in one type; give both "
			  "the same (f16 or q8_0)\n");
		return PARSE_USAGE;
	}
	return PARSE_OK;
}

/*
 * Plain text: feed @text (with BOS when @bos); 0, 1 interrupted (the
 * sequence rewound to before it when @rewind), 2 the context is full
 * (message printed), -1.
 */
static int feed_text(struct gen *g, const char *text, int bos, int rewind)
{
	int len = kllm_seq_len(g->e, g->seq), n, ret;
	int32_t *ids;

	n = gen_tokenize(g, text, bos, &ids);
	if (n < 0)
		return -1;
	if (!n && !kllm_seq_len(g->e, g->seq)) {
		free(ids);
		fprintf(stderr, "kllm-run: the prompt encodes to no token\n");
		return -1;
	}
	if (g->o->verbose_prompt)
		fprintf(stderr, "kllm-run: prompt (%d tokens%s):\n%s\n", n,
			bos ? ", from the start" : "", text);
	ret = gen_prefill(g, ids, n);
	free(ids);
	if (ret == 2)
		fprintf(stderr, "kllm-run: %s: the context holds %u tokens (use -c to "
			"enlarge it)\n", bos ? "prompt too long" : "context full", g->n_ctx);
	if (ret == 1 && rewind)
		kllm_seq_truncate(g->e, g->seq, (uint32_t)len);
	return ret;
}

/*
 * Plain text: generate.  0, 1 interrupted, 2 the context is full (message
 * printed), -1.  In interactive mode a -r string is shown (it is in the
 * context and the user goes on after it, as in llama-completion), and
 * after an end of generation the first -r string is fed and shown.
 */
static int generate_text(struct gen *g, int interactive)
{
	const struct run_opts *o = g->o;
	int ret = gen_generate(g, o->n_predict, NULL, NULL);

	if (ret == 2)
		fprintf(stderr, "\nkllm-run: context of %u tokens full\n", g->n_ctx);
	if (ret || !interactive || o->ids)
		return ret;
	if (g->last_stop == KLLM_STOP_STRING) {
		char *tail = gen_stop_tail(g);

		if (tail)
			fputs(tail, stdout);
		free(tail);
	} else if (g->last_stop == KLLM_STOP_EOG && o->n_reverse) {
		fputs(o->reverse[0], stdout);
		ret = feed_text(g, o->reverse[0], 0, 0);
		if (ret == 1)
			ret = 0;
	}
	fflush(stdout);
	return ret;
}

/*
 * A plain (not chat) run: generate from the prompt; with -i (-no-cnv)
 * then read lines, each fed with a newline, and go on after each
 * (llama-completion's interactive mode; Ctrl-C returns to the input).
 * 0, 1 interrupted (a run without -i), -1.
 */
static int run_prompt(struct gen *g)
{
	const struct run_opts *o = g->o;
	struct input *in = NULL;
	int ret = 0, bos = 1;

	if (o->interactive) {
		in = input_open();
		if (!in)
			return -1;
	}
	if (o->prompt) {
		ret = feed_text(g, o->prompt, 1, 0);
		bos = 0;
		if (ret == 2)		/* the prompt does not fit: an error */
			ret = -1;
		else if (!ret)
			ret = generate_text(g, in != NULL);
		if (ret == 1 && in)
			ret = 0;
	}
	while (in && !ret) {
		char *line = input_read(in, ""), *text;

		if (!line)
			break;
		if (bos && !line[0])
			continue;
		text = malloc(strlen(line) + 2);
		if (!text) {
			ret = -1;
			break;
		}
		strcpy(text, line);
		strcat(text, "\n");
		ret = feed_text(g, text, bos, 1);
		free(text);
		bos = 0;
		if (!ret)
			ret = generate_text(g, 1);
		if (ret == 1)
			ret = 0;	/* Ctrl-C: back to the input */
	}
	if (ret == 2)		/* a full context ends a plain run */
		ret = 0;
	if (!ret && o->ids)
		putchar('\n');
	fflush(stdout);
	input_close(in);
	return ret;
}

int main(int argc, char **argv)
{
	struct run_opts o = { .n_predict = 128, .n_ctx = 4096, .n_batch = 256,
			      .show_timings = 1 };
	struct gen g;
	int r;

	kllm_sampler_default_params(&o.sp);
	o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	r = parse_args(&o, argc, argv);
	if (r != PARSE_OK) {
		while (n_owned)
			free(owned[--n_owned]);
		return r == PARSE_EXIT ? 0 : r == PARSE_USAGE ? RUN_EXIT_USAGE : RUN_EXIT_FAIL;
	}
	if (gen_open(&g, &o)) {
		gen_close(&g);
		r = RUN_EXIT_FAIL;
	} else {
		/* 1: interrupted (Ctrl-C), which exits as a shell expects */
		r = o.chat ? run_chat(&g) : run_prompt(&g);
		if (r >= 0)
			gen_print_timings(&g);
		gen_close(&g);
		r = r < 0 ? RUN_EXIT_FAIL : r ? 128 + SIGINT : 0;
	}
	while (n_owned)
		free(owned[--n_owned]);
	return r;
}
