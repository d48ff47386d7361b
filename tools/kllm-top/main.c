// SPDX-License-Identifier: MIT
/*
 * kllm-top - a live view of kllm.ko: the driver's totals from
 * <debugfs>/kllm/stats and one row per DRM client from /proc fdinfo.
 *
 *	kllm-top [-d SECONDS] [-n ITERATIONS] [--once] [--json]
 *
 * The live view redraws every -d seconds until q, Ctrl-C or -n screens;
 * --once prints one plain snapshot; --json prints one JSON object per line
 * per refresh.  Errors are one line on stderr: exit status 2 for a usage
 * error, 1 for any other.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kllm.h"
#include "top.h"
#include "../tool_opt.h"

/* The Makefile's VERSION (-DKLLM_VERSION); a build without it asks the library. */
#ifndef KLLM_VERSION
#define KLLM_VERSION kllm_version()
#endif

static const char usage[] =
"usage: kllm-top [-d SECONDS] [-n ITERATIONS] [--once] [--json]\n"
"  -d, --delay SECONDS   time between refreshes (default 1)\n"
"  -n, --iterations N    stop after N refreshes (default: until q or Ctrl-C)\n"
"  --once                one snapshot as plain text, no screen control\n"
"  --json                one JSON object per line per refresh (with -n 1:\n"
"                        one object); rates need a second refresh\n"
"  --debugfs DIR         debugfs mount point (default /sys/kernel/debug)\n"
"  --proc DIR            procfs mount point (default /proc)\n"
"  -h, --help            this help\n"
"  --version             print the version and exit\n"
"Rates and shares cover the last interval; the first screen has none, and\n"
"its means (wait, run, batch size) cover everything since the module loaded.\n"
"Reading debugfs and other users' fdinfo needs root.\n";

struct opts {
	double delay;
	long iters;		/* 0: until quit */
	bool once, json;
	const char *debugfs, *proc;
};

static int bad_value(const char *opt, const char *v)
{
	fprintf(stderr, "kllm-top: %s: invalid value '%s'\n", opt, v);
	return -1;
}

static int opt_error(int c, char **argv)
{
	tool_opt_error("kllm-top", c, argv);
	return -1;
}

/* 0, 1 after --help or --version, -1 after a one-line message. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "once", no_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "debugfs", required_argument, NULL, 'D' },
		{ "proc", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	char *end;
	int c;

	*o = (struct opts){ 1.0, 0, false, false, "/sys/kernel/debug", "/proc" };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:n:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			errno = 0;
			o->delay = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(o->delay >= 0.01 && o->delay <= 86400))
				return bad_value("-d", optarg);
			break;
		case 'n':
			errno = 0;
			o->iters = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o->iters < 1)
				return bad_value("-n", optarg);
			break;
		case 'o':
			o->once = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'D':
			o->debugfs = optarg;
			break;
		case 'P':
			o->proc = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case 'V':
			printf("kllm-top %s\n", KLLM_VERSION);
			return 1;
		default:
			return opt_error(c, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kllm-top: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return -1;
	}
	if (o->once)
		o->iters = 1;
	return 0;
}

static int screen_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_row)
		return 0;
	return ws.ws_row;
}

/* Take a snapshot into cur and show it against prev (may be NULL). */
static int refresh(const struct opts *o, const struct top_snap *prev,
		   struct top_snap *cur, char *err, size_t errlen)
{
	bool live = !o->once && !o->json;
	struct top_render_opts ro = { .ansi = live, .max_rows = 0 };
	struct top_view v;
	int ret;

	ret = top_snap_take(o->debugfs, o->proc, cur, err, errlen);
	if (ret)
		return ret;
	ret = top_view_make(prev, cur, &v);
	if (ret) {
		snprintf(err, errlen, "%s", strerror(-ret));
		top_snap_free(cur);
		return ret;
	}
	if (o->json) {
		top_render_json(stdout, &v);
	} else {
		ro.max_rows = live ? screen_rows() : 0;
		top_render_text(stdout, &v, &ro);
	}
	top_view_free(&v);
	return 0;
}

static int run(const struct opts *o)
{
	bool live = !o->once && !o->json, have_prev = false;
	struct top_snap snap[2];
	char err[8192];
	int cur = 0, ret = 0;

	if (top_term_signals())
		perror("kllm-top: signals");
	if (live && top_term_raw())
		perror("kllm-top: terminal");
	for (long i = 0; !o->iters || i < o->iters; i++) {
		if (i && top_term_wait(o->delay, live))
			break;
		ret = refresh(o, have_prev ? &snap[!cur] : NULL, &snap[cur],
			      err, sizeof(err));
		if (ret)
			break;
		if (have_prev)
			top_snap_free(&snap[!cur]);
		have_prev = true;
		cur = !cur;
	}
	if (have_prev)
		top_snap_free(&snap[!cur]);
	top_term_restore();
	if (ret) {
		fprintf(stderr, "kllm-top: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	int r = parse_opts(argc, argv, &o);

	if (r)
		return r > 0 ? 0 : 2;
	return run(&o);
}
