// SPDX-License-Identifier: MIT
/*
 * input.c - kllm-run's user input: lines read with libedit (BSD-licensed
 * line editing and history, Debian libedit-dev) when stdin is a terminal
 * and the build found it (KLLM_HAVE_LIBEDIT), else with getline(), the
 * prompt printed on stdout only for a terminal.
 */
#define _GNU_SOURCE
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef KLLM_HAVE_LIBEDIT
#include <histedit.h>
#endif

#include "run.h"

struct input {
	int tty;
	char *line;		/* getline's buffer */
	size_t cap;
#ifdef KLLM_HAVE_LIBEDIT
	EditLine *el;
	History *hist;
#endif
};

#ifdef KLLM_HAVE_LIBEDIT
static const char *el_prompt_text = "";

static char *el_prompt(EditLine *el)
{
	(void)el;
	return (char *)el_prompt_text;
}

static void edit_open(struct input *in, const char *prog)
{
	HistEvent ev;

	/* multibyte (UTF-8) editing follows the locale's character type */
	setlocale(LC_CTYPE, "");
	in->el = el_init(prog, stdin, stdout, stderr);
	in->hist = history_init();
	if (!in->el || !in->hist) {
		if (in->el)
			el_end(in->el);
		if (in->hist)
			history_end(in->hist);
		in->el = NULL;
		in->hist = NULL;
		return;
	}
	history(in->hist, &ev, H_SETSIZE, 500);
	history(in->hist, &ev, H_SETUNIQUE, 1);
	el_set(in->el, EL_EDITOR, "emacs");
	/* the terminal is restored when a signal (Ctrl-C) ends the program */
	el_set(in->el, EL_SIGNAL, 1);
	el_set(in->el, EL_PROMPT, el_prompt);
	el_set(in->el, EL_HIST, history, in->hist);
	el_source(in->el, NULL);	/* ~/.editrc */
}
#endif

struct input *input_open(void)
{
	struct input *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->tty = isatty(STDIN_FILENO);
#ifdef KLLM_HAVE_LIBEDIT
	if (in->tty && isatty(STDOUT_FILENO))
		edit_open(in, "kllm-run");
#endif
	return in;
}

int input_is_tty(const struct input *in)
{
	return in->tty;
}

const char *input_editor(const struct input *in)
{
#ifdef KLLM_HAVE_LIBEDIT
	if (in->el)
		return "libedit";
#endif
	(void)in;
	return NULL;
}

static char *strip_newline(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

char *input_read(struct input *in, const char *prompt)
{
#ifdef KLLM_HAVE_LIBEDIT
	if (in->el) {
		HistEvent ev;
		const char *s;
		int n;

		el_prompt_text = prompt;
		fflush(stdout);
		s = el_gets(in->el, &n);
		if (!s || n <= 0)
			return NULL;
		free(in->line);
		in->line = strdup(s);
		in->cap = in->line ? strlen(in->line) + 1 : 0;
		if (!in->line)
			return NULL;
		strip_newline(in->line);
		if (in->line[0])
			history(in->hist, &ev, H_ENTER, in->line);
		return in->line;
	}
#endif
	if (in->tty && prompt[0]) {
		fputs(prompt, stdout);
		fflush(stdout);
	}
	if (getline(&in->line, &in->cap, stdin) < 0)
		return NULL;
	return strip_newline(in->line);
}

void input_close(struct input *in)
{
	if (!in)
		return;
#ifdef KLLM_HAVE_LIBEDIT
	if (in->el)
		el_end(in->el);
	if (in->hist)
		history_end(in->hist);
#endif
	free(in->line);
	free(in);
}
