// SPDX-License-Identifier: MIT
/*
 * log.c - kllm-serve's structured log lines on stderr and its clock.
 *
 * Text (default):  2026-01-02T03:04:05.678Z info request_done id=7 status=200
 * JSON (--log-format json), one object a line:
 *   {"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"request_done","id":7,"status":200}
 *
 * The caller's format gives space-separated key=value pairs; a value is
 * either one word or a double-quoted string (\" and \\ escaped inside),
 * e.g. sv_log("warn", "config", "file=\"%s\" key=%s", ...).  In JSON a
 * value that reads fully as a number is a number, else a string.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "serve.h"

double sv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void sv_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void timestamp(char *buf, size_t n)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000));
}

/* The next key=value pair of @s into @obj; returns the rest, NULL at the end. */
static const char *json_pair(const char *s, struct json_object *obj)
{
	char key[64], *val;
	size_t k = 0, v = 0;

	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	while (*s && *s != '=' && *s != ' ' && k + 1 < sizeof(key))
		key[k++] = *s++;
	key[k] = '\0';
	while (*s && *s != '=' && *s != ' ')
		s++;
	if (*s != '=') {
		json_object_object_add(obj, key, json_object_new_boolean(1));
		return s;
	}
	s++;
	val = malloc(strlen(s) + 1);
	if (!val)
		return NULL;
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			val[v++] = *s;
		}
		if (*s == '"')
			s++;
		val[v] = '\0';
		json_object_object_add(obj, key, json_object_new_string(val));
	} else {
		char *end;
		double d;

		while (*s && *s != ' ')
			val[v++] = *s++;
		val[v] = '\0';
		d = strtod(val, &end);
		if (v && !*end && (isdigit((unsigned char)val[0]) || val[0] == '-'))
			json_object_object_add(obj, key, strchr(val, '.') || strchr(val, 'e') ?
					       json_object_new_double(d) :
					       json_object_new_int64(strtoll(val, NULL, 10)));
		else
			json_object_object_add(obj, key, json_object_new_string(val));
	}
	free(val);
	return s;
}

void sv_log(const char *level, const char *event, const char *fmt, ...)
{
	char ts[96], line[2048];
	va_list ap;

	if (sv_cfg && !sv_cfg->verbose && !strcmp(level, "debug"))
		return;
	timestamp(ts, sizeof(ts));
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (sv_cfg && sv_cfg->log_json) {
		struct json_object *obj = json_object_new_object();
		const char *s = line;

		if (!obj)
			return;
		json_object_object_add(obj, "ts", json_object_new_string(ts));
		json_object_object_add(obj, "level", json_object_new_string(level));
		json_object_object_add(obj, "event", json_object_new_string(event));
		while (s)
			s = json_pair(s, obj);
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(obj);
	} else {
		fprintf(stderr, "%s %s %s%s%s\n", ts, level, event, *line ? " " : "", line);
	}
}
