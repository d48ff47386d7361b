/* SPDX-License-Identifier: MIT */
/*
 * tool_opt.h - the tools' one report of a getopt_long error: '?' (unknown
 * option, or a value given to a flag) or ':' (missing value) as one line
 * on stderr, "WHO: ... (see --help)".  WHO is the tool ("kllm-top") or
 * the tool and its mode ("kllm-bench pp").
 */
#ifndef KLLM_TOOL_OPT_H
#define KLLM_TOOL_OPT_H

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static inline void tool_opt_error(const char *who, int opt, char **argv)
{
	/* getopt has moved optind past the option (and its value, if any) */
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	char name[64];

	if (!strncmp(arg, "--", 2) || !optopt)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
	else
		snprintf(name, sizeof(name), "-%c", optopt);
	if (opt == ':')
		fprintf(stderr, "%s: %s needs a value (see --help)\n", who, name);
	else if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '='))
		fprintf(stderr, "%s: %s takes no value (see --help)\n", who, name);
	else
		fprintf(stderr, "%s: unknown option %s (see --help)\n", who, name);
}

#endif
