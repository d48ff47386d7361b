// SPDX-License-Identifier: MIT
/*
 * chat.c - kllm-run --chat: the conversation is formatted with the model's
 * chat template after every user turn, and only the part the cache does
 * not hold yet is tokenized and fed (llama.cpp's simple-chat approach).
 * The text the cache holds is kept, so when a template rewrites earlier
 * turns the conversation is simply fed again from the start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

struct conv {
	struct kllm_chat_message *msgs;
	size_t n, cap;
	char *kv_text;		/* what the cache holds, as text */
	size_t kv_len;
};

static int conv_add(struct conv *c, const char *role, const char *content)
{
	char *dup = strdup(content);

	if (!dup)
		return -1;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct kllm_chat_message *p = realloc(c->msgs, cap * sizeof(*p));

		if (!p) {
			free(dup);
			return -1;
		}
		c->msgs = p;
		c->cap = cap;
	}
	c->msgs[c->n].role = role;
	c->msgs[c->n].content = dup;
	c->n++;
	return 0;
}

static void conv_free(struct conv *c)
{
	for (size_t i = 0; i < c->n; i++)
		free((char *)c->msgs[i].content);
	free(c->msgs);
	free(c->kv_text);
}

/* The template: --template NAME, else the model's tokenizer.chat_template. */
static int pick_template(const struct gen *g)
{
	int t = kllm_chat_template(g->llm, g->o->tmpl_name);

	if (t >= 0 && !g->o->tmpl_name && !kllm_llm_info(g->llm)->chat_template)
		fprintf(stderr, "kllm-run: %s: no tokenizer.chat_template; using "
			"%s, the template of its architecture\n", g->o->model,
			kllm_chat_template_name(t));
	if (t >= 0)
		return t;
	if (g->o->tmpl_name)
		fprintf(stderr, "kllm-run: --template %s: unknown template\n",
			g->o->tmpl_name);
	else
		fprintf(stderr, "kllm-run: %s: %s; pick one with --template NAME "
			"(e.g. chatml)\n", g->o->model, kllm_last_error());
	return t;
}

static char *format(int tmpl, const struct conv *c, int add_gen)
{
	int n = kllm_chat_apply(tmpl, c->msgs, c->n, add_gen, NULL, 0);
	char *out;

	if (n < 0)
		return NULL;
	out = malloc((size_t)n + 1);
	if (out && kllm_chat_apply(tmpl, c->msgs, c->n, add_gen, out, (size_t)n + 1) != n) {
		free(out);
		return NULL;
	}
	return out;
}

/* Feed what the formatted conversation adds to the cache's text. */
static int feed(struct gen *g, struct conv *c, const char *full)
{
	size_t len = strlen(full);
	const char *add = full;
	int32_t *ids;
	int n, ret, first;

	if (c->kv_len && len >= c->kv_len && !memcmp(full, c->kv_text, c->kv_len)) {
		add = full + c->kv_len;
	} else if (c->kv_len) {
		gen_reset(g);
		c->kv_len = 0;
	}
	first = add == full;
	n = gen_tokenize(g, add, first, &ids);
	if (n < 0)
		return -1;
	ret = gen_prefill(g, ids, n);
	free(ids);
	if (ret)
		return -1;
	free(c->kv_text);
	c->kv_text = strdup(full);
	if (!c->kv_text)
		return -1;
	c->kv_len = len;
	return 0;
}

/* One user turn: format, feed, answer. */
static int turn(struct gen *g, struct conv *c, int tmpl, const char *user)
{
	char *full, *answer = NULL, *p;
	size_t answer_len = 0;
	int ret;

	if (conv_add(c, "user", user))
		return -1;
	full = format(tmpl, c, 1);
	if (!full) {
		fprintf(stderr, "kllm-run: cannot format the conversation\n");
		return -1;
	}
	ret = feed(g, c, full);
	free(full);
	if (ret)
		return -1;
	/* interrupted (1): the answer so far stays in the conversation */
	ret = gen_generate(g, g->o->n_predict, &answer, &answer_len);
	if (ret >= 0 && (g->o->ids || !answer_len || answer[answer_len - 1] != '\n'))
		putchar('\n');
	fflush(stdout);
	if (ret < 0) {
		free(answer);
		return -1;
	}
	p = realloc(c->kv_text, c->kv_len + answer_len + 1);
	if (!p || conv_add(c, "assistant", answer ? answer : "")) {
		free(answer);
		return -1;
	}
	memcpy(p + c->kv_len, answer ? answer : "", answer_len);
	c->kv_len += answer_len;
	p[c->kv_len] = '\0';
	c->kv_text = p;
	free(answer);
	return 0;
}

static void strip_newline(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int run_chat(struct gen *g)
{
	struct conv c = { 0 };
	int tmpl = pick_template(g), tty = isatty(0), ret = 0;
	char *line = NULL;
	size_t cap = 0;

	if (tmpl < 0)
		return -1;
	if (g->o->system && conv_add(&c, "system", g->o->system)) {
		conv_free(&c);
		return -1;
	}
	if (g->o->prompt) {
		ret = turn(g, &c, tmpl, g->o->prompt);
		conv_free(&c);
		return ret;
	}
	for (;;) {
		if (tty) {
			printf("> ");
			fflush(stdout);
		}
		if (getline(&line, &cap, stdin) < 0)
			break;
		strip_newline(line);
		if (!line[0])
			continue;
		if (turn(g, &c, tmpl, line)) {
			ret = -1;
			break;
		}
	}
	free(line);
	conv_free(&c);
	return ret;
}
