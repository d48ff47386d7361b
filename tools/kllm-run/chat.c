// SPDX-License-Identifier: MIT
/*
 * chat.c - kllm-run's conversation: the messages are formatted with the
 * model's chat template after every user turn, and only the part the
 * cache does not hold yet is tokenized and fed (llama.cpp's simple-chat
 * approach).  The text the cache holds is kept, so when a template
 * rewrites earlier turns the conversation is simply fed again from the
 * start.
 *
 * The chat never ends on its own: Ctrl-C during a prompt or an answer
 * returns to the "> " prompt, and when the context fills up the older half
 * of the turns is dropped (the system prompt stays), the rest fed again
 * and the answer continued.  /bye (or /exit, Ctrl-D) ends it, /clear
 * forgets the turns.
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
	size_t n_sys;		/* 1 when msgs[0] is the system prompt */
	char *kv_text;		/* what the cache holds, as text */
	size_t kv_len;
	uint32_t kv_tokens;	/* ... and as a token count */
	int tmpl;
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

/* Forget messages [from, from + k). */
static void conv_drop(struct conv *c, size_t from, size_t k)
{
	for (size_t i = from; i < from + k; i++)
		free((char *)c->msgs[i].content);
	memmove(c->msgs + from, c->msgs + from + k, (c->n - from - k) * sizeof(*c->msgs));
	c->n -= k;
}

static void conv_free(struct conv *c)
{
	conv_drop(c, 0, c->n);
	free(c->msgs);
	free(c->kv_text);
}

/* The cache holds nothing. */
static void forget_cache(struct gen *g, struct conv *c)
{
	gen_reset(g);
	c->kv_len = 0;
	c->kv_tokens = 0;
}

/*
 * The context is full: drop the older half of the complete turns (a user
 * message and its answer) before the current user message, never the
 * system prompt.  The number of turns dropped (0: none left to drop).
 */
static size_t drop_older_turns(struct gen *g, struct conv *c, int mid_answer)
{
	size_t turns = (c->n - c->n_sys - 1) / 2, k = (turns + 1) / 2;

	if (!k)
		return 0;
	conv_drop(c, c->n_sys, 2 * k);
	forget_cache(g, c);
	if (mid_answer)		/* the note on a line of its own */
		fflush(stdout);
	fprintf(stderr, "%skllm-run: context of %u tokens full: dropped the %zu "
		"oldest of %zu turns%s\n", mid_answer ? "\n" : "", g->n_ctx, k, turns,
		c->n_sys ? ", kept the system prompt" : "");
	return k;
}

/* The template: --chat-template NAME, else the model's tokenizer.chat_template. */
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
		fprintf(stderr, "kllm-run: --chat-template %s: unknown template\n",
			g->o->tmpl_name);
	else
		fprintf(stderr, "kllm-run: %s: %s; pick one with --chat-template NAME "
			"(e.g. chatml)\n", g->o->model, kllm_last_error());
	return t;
}

/* The conversation formatted for an answer, then @tail (a partial answer). */
static char *format(const struct conv *c, const char *tail, size_t tail_len)
{
	int n = kllm_chat_apply(c->tmpl, c->msgs, c->n, 1, NULL, 0);
	char *out;

	if (n < 0)
		return NULL;
	out = malloc((size_t)n + tail_len + 1);
	if (out && kllm_chat_apply(c->tmpl, c->msgs, c->n, 1, out, (size_t)n + 1) != n) {
		free(out);
		return NULL;
	}
	if (out && tail_len)
		memcpy(out + n, tail, tail_len);
	if (out)
		out[n + tail_len] = '\0';
	return out;
}

/*
 * Feed what @full adds to the cache's text (all of it, from a clean cache,
 * when the cache holds something else).  0, 1 interrupted (the cache is
 * rewound to what it held), 2 it does not fit (nothing fed), -1.
 */
static int feed(struct gen *g, struct conv *c, const char *full)
{
	size_t len = strlen(full);
	const char *add = full;
	int32_t *ids;
	int n, ret;
	char *dup;

	if (c->kv_len && len >= c->kv_len && !memcmp(full, c->kv_text, c->kv_len))
		add = full + c->kv_len;
	else if (c->kv_len || kllm_seq_len(g->e, g->seq) > 0)
		forget_cache(g, c);
	n = gen_tokenize(g, add, add == full, &ids);
	if (n < 0)
		return -1;
	if (g->o->verbose_prompt)
		fprintf(stderr, "kllm-run: prompt (%d tokens%s):\n%s\n", n,
			add == full ? ", from the start" : "", add);
	ret = gen_prefill(g, ids, n);
	free(ids);
	if (ret == 1)
		kllm_seq_truncate(g->e, g->seq, c->kv_tokens);
	if (ret)
		return ret;
	dup = strdup(full);
	if (!dup)
		return -1;
	free(c->kv_text);
	c->kv_text = dup;
	c->kv_len = len;
	c->kv_tokens = (uint32_t)kllm_seq_len(g->e, g->seq);
	return 0;
}

/* Format and feed, dropping older turns while it does not fit. */
static int feed_conv(struct gen *g, struct conv *c, const char *answer, size_t alen)
{
	for (;;) {
		char *full = format(c, answer, alen);
		int ret;

		if (!full) {
			fprintf(stderr, "kllm-run: cannot format the conversation\n");
			return -1;
		}
		ret = feed(g, c, full);
		free(full);
		if (ret != 2 || !drop_older_turns(g, c, answer != NULL))
			return ret;
	}
}

/*
 * One user turn: format, feed, answer.  0 (also after Ctrl-C or a message
 * too long for the context: back to the prompt), or -1 on an error.
 */
static int turn(struct gen *g, struct conv *c, const char *user)
{
	char *answer = NULL, *p;
	size_t alen = 0, in_kv = 0;
	int n_left = g->o->n_predict, ret;

	if (conv_add(c, "user", user))
		return -1;
	ret = feed_conv(g, c, NULL, 0);
	if (ret) {
		conv_drop(c, c->n - 1, 1);
		if (ret == 2)
			fprintf(stderr, "kllm-run: the message does not fit in the context "
				"of %u tokens (-c)\n", g->n_ctx);
		return ret < 0 ? -1 : 0;
	}
	for (;;) {
		uint64_t n0 = g->n_gen;

		ret = gen_generate(g, n_left, &answer, &alen);
		if (n_left >= 0) {
			n_left -= (int)(g->n_gen - n0);
			if (n_left < 0)
				n_left = 0;
		}
		if (ret != 2)
			break;
		/* the context is full: make room, feed the turn and the answer
		 * so far again, and go on with the answer */
		if (!drop_older_turns(g, c, 1)) {
			fprintf(stderr, "\nkllm-run: context of %u tokens full: the "
				"answer is cut\n", g->n_ctx);
			ret = 0;
			break;
		}
		ret = feed_conv(g, c, answer ? answer : "", alen);
		if (ret == 2) {
			fprintf(stderr, "\nkllm-run: context of %u tokens full: the "
				"answer is cut\n", g->n_ctx);
			ret = 0;
		}
		if (ret)
			break;
		in_kv = alen;
		if (!n_left)
			break;
	}
	if (ret >= 0 && (g->o->ids || !alen || answer[alen - 1] != '\n'))
		putchar('\n');
	g->out_open = 0;
	fflush(stdout);
	if (ret < 0 || conv_add(c, "assistant", answer ? answer : "")) {
		free(answer);
		return -1;
	}
	if (g->last_stop == KLLM_STOP_STRING || c->kv_len == 0) {
		/* the cache holds the stop string (or was rewound by an
		 * interrupted re-feed): back to the text it matches */
		kllm_seq_truncate(g->e, g->seq, c->kv_tokens);
	} else {
		p = realloc(c->kv_text, c->kv_len + alen - in_kv + 1);
		if (!p) {
			free(answer);
			return -1;
		}
		if (alen > in_kv)
			memcpy(p + c->kv_len, answer + in_kv, alen - in_kv);
		c->kv_len += alen - in_kv;
		p[c->kv_len] = '\0';
		c->kv_text = p;
		c->kv_tokens = (uint32_t)kllm_seq_len(g->e, g->seq);
	}
	free(answer);
	return 0;
}

static void banner(const struct gen *g, const struct conv *c, const struct input *in)
{
	const struct kllm_llm_info *info = kllm_llm_info(g->llm);
	const char *name = info->name && info->name[0] ? info->name : g->o->model;
	const char *ed = input_editor(in);

	fprintf(stderr, "kllm-run %s: %s (%s), context %u tokens, template %s, %s%s%s\n",
		kllm_version(), name, info->arch, g->n_ctx,
		kllm_chat_template_name(c->tmpl), kllm_engine_backend(g->e),
		c->n_sys ? ", system prompt set" : "", ed ? ", line editing" : "");
	fprintf(stderr, "  /bye or Ctrl-D: quit   /clear: forget the conversation   "
		"Ctrl-C: stop an answer\n");
}

static int is_cmd(const char *line, const char *cmd)
{
	size_t n = strlen(cmd);

	return !strncmp(line, cmd, n) && (!line[n] || line[n] == ' ');
}

int run_chat(struct gen *g)
{
	struct conv c = { 0 };
	struct input *in;
	int ret = 0, turns = 0;
	char *line;

	c.tmpl = pick_template(g);
	if (c.tmpl < 0)
		return -1;
	if (g->o->system) {
		if (conv_add(&c, "system", g->o->system)) {
			conv_free(&c);
			return -1;
		}
		c.n_sys = 1;
	}
	if (g->o->prompt) {
		ret = turn(g, &c, g->o->prompt);
		turns++;
		if (ret || !g->o->interactive) {
			conv_free(&c);
			return ret;
		}
	}
	in = input_open();
	if (!in) {
		conv_free(&c);
		return -1;
	}
	banner(g, &c, in);
	for (;;) {
		if (g->o->single_turn && turns)
			break;
		line = input_read(in, "> ");
		if (!line) {
			/* Ctrl-D: end the "> " line before anything else prints */
			if (input_is_tty(in))
				putchar('\n');
			break;
		}
		if (!line[0])
			continue;
		if (is_cmd(line, "/bye") || is_cmd(line, "/exit"))
			break;
		if (is_cmd(line, "/clear")) {
			conv_drop(&c, c.n_sys, c.n - c.n_sys);
			forget_cache(g, &c);
			fprintf(stderr, "kllm-run: conversation cleared%s\n",
				c.n_sys ? " (the system prompt stays)" : "");
			continue;
		}
		if (turn(g, &c, line)) {
			ret = -1;
			break;
		}
		turns++;
	}
	fflush(stdout);
	input_close(in);
	conv_free(&c);
	return ret;
}
