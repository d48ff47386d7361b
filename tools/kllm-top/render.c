// SPDX-License-Identifier: MIT
/*
 * render.c - one screen of text (header, class table, client rows) or one
 * line of JSON per refresh.  Unknown values print as "-" (text) or null
 * (JSON).  Process names are untrusted: control bytes never reach the
 * terminal, and JSON strings stay valid UTF-8.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "top.h"

void top_fmt_bytes(char *buf, size_t n, uint64_t bytes)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double x = (double)bytes;
	int u = -1;

	if (bytes == TOP_NA) {
		snprintf(buf, n, "-");
		return;
	}
	if (bytes < 1024) {
		snprintf(buf, n, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (x >= 1024 && u < 3) {
		x /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f %s", x, unit[u]);
}

static void put_u64(FILE *f, int w, uint64_t v)
{
	if (v == TOP_NA)
		fprintf(f, "%*s", w, "-");
	else
		fprintf(f, "%*llu", w, (unsigned long long)v);
}

static void put_f(FILE *f, int w, int prec, double x)
{
	if (isnan(x))
		fprintf(f, "%*s", w, "-");
	else
		fprintf(f, "%*.*f", w, prec, x);
}

static void put_bytes(FILE *f, int w, uint64_t v)
{
	char b[32];

	top_fmt_bytes(b, sizeof(b), v);
	fprintf(f, "%*s", w, b);
}

/* top's TIME+: minutes:seconds.hundredths. */
static void put_time(FILE *f, int w, uint64_t ns)
{
	char b[48];
	uint64_t cs = ns / 10000000u;

	if (ns == TOP_NA)
		snprintf(b, sizeof(b), "-");
	else
		snprintf(b, sizeof(b), "%llu:%02llu.%02llu",
			 (unsigned long long)(cs / 6000),
			 (unsigned long long)(cs / 100 % 60),
			 (unsigned long long)(cs % 100));
	fprintf(f, "%*s", w, b);
}

static void put_comm(FILE *f, const char *comm)
{
	char b[32];
	size_t i;

	for (i = 0; comm[i] && i < 15; i++)
		b[i] = (unsigned char)comm[i] < 0x20 || comm[i] == 0x7f ? '?' : comm[i];
	b[i] = '\0';
	fprintf(f, " %-15s", b);
}

static void header(FILE *f, const struct top_view *v)
{
	const uint64_t *s = v->cur->st.v;
	const struct top_stats *st = &v->cur->st;

	fprintf(f, "kllm-top: %zu clients, ", v->n_cl);
	put_u64(f, 0, s[TOP_JOBS_IN_FLIGHT]);
	fprintf(f, " jobs in flight, ");
	put_u64(f, 0, s[TOP_PROGRAMS]);
	fprintf(f, " programs, ");
	put_u64(f, 0, s[TOP_ENGINE_THREADS]);
	fprintf(f, " engine threads\nJobs:   ");
	put_u64(f, 0, s[TOP_JOBS_SUBMITTED]);
	fprintf(f, " submitted, ");
	put_u64(f, 0, s[TOP_JOBS_COMPLETED]);
	fprintf(f, " completed, ");
	put_u64(f, 0, s[TOP_JOBS_FAILED]);
	fprintf(f, " failed, ");
	put_u64(f, 0, s[TOP_JOBS_TIMED_OUT]);
	fprintf(f, " timed out, ");
	put_u64(f, 0, s[TOP_JOBS_CANCELLED]);
	fprintf(f, " cancelled, ");
	put_u64(f, 0, s[TOP_JOBS_KILLED]);
	fprintf(f, " killed\nRate:   ");
	put_f(f, 0, 1, v->jobs_per_s);
	fprintf(f, " jobs/s completed, ");
	put_f(f, 0, 1, v->submitted_per_s);
	fprintf(f, " jobs/s submitted\nEngine: ");
	put_f(f, 0, 1, v->busy_pct);
	fprintf(f, "%% busy, ");
	put_u64(f, 0, s[TOP_BATCHES]);
	fprintf(f, " batches, ");
	put_f(f, 0, 2, v->mean_batch);
	fprintf(f, " jobs/batch, fpu max ");
	put_f(f, 0, 1, s[TOP_FPU_MAX_NS] == TOP_NA ? NAN : (double)s[TOP_FPU_MAX_NS] / 1e3);
	fprintf(f, " us\nMemory: ");
	put_bytes(f, 0, s[TOP_PINNED_BYTES]);
	fprintf(f, " pinned, ");
	put_bytes(f, 0, s[TOP_USERPTR_BYTES]);
	fprintf(f, " userptr, ");
	put_bytes(f, 0, s[TOP_SHMEM_BYTES]);
	fprintf(f, " shmem\nPinned:");
	for (size_t i = 0; i < st->n_uids; i++) {
		fprintf(f, "%s uid %u ", i ? "," : "", st->uids[i].uid);
		put_bytes(f, 0, st->uids[i].bytes);
	}
	fprintf(f, "%s\n", st->n_uids ? "" : " -");
}

static void classes(FILE *f, const struct top_view *v)
{
	fprintf(f, "\n%-12s%10s%11s%10s%10s\n", "CLASS", "QUEUED", "JOBS",
		"WAIT ms", "RUN ms");
	for (int i = 0; i < TOP_NCLASS; i++) {
		const struct top_class *c = &v->cur->st.cls[i];

		fprintf(f, "%-12s", top_class_names[i]);
		put_u64(f, 10, c->queued);
		put_u64(f, 11, c->jobs);
		put_f(f, 10, 3, v->cls[i].wait_ms);
		put_f(f, 10, 3, v->cls[i].run_ms);
		fputc('\n', f);
	}
}

static void client_row(FILE *f, const struct top_client_view *cv)
{
	const struct top_client *c = cv->c;

	fprintf(f, "%7d", c->pid);
	put_comm(f, c->comm);
	put_u64(f, 7, c->id);
	fprintf(f, " %-11s", c->prio >= 0 ? top_class_names[c->prio] : "-");
	put_time(f, 10, c->engine_ns);
	put_f(f, 6, 1, cv->engine_pct);
	put_bytes(f, 11, c->shmem);
	put_bytes(f, 11, c->resident);
	put_bytes(f, 11, c->pinned);
	put_u64(f, 8, c->jobs);
	put_u64(f, 7, c->queued);
	fputc('\n', f);
}

/* Header 6 lines, class table 5, client title 2. */
#define TOP_FIXED_ROWS 13

void top_render_text(FILE *f, const struct top_view *v,
		     const struct top_render_opts *o)
{
	size_t rows = v->n_cl;

	if (o->ansi)
		fputs("\033[H\033[J", f);
	header(f, v);
	classes(f, v);
	/* The widths of client_row(). */
	fprintf(f, "\n%7s %-15s%7s %-11s%10s%6s%11s%11s%11s%8s%7s\n", "PID",
		"COMMAND", "CLIENT", "PRIO", "TIME", "ENG%", "SHMEM", "RES",
		"PINNED", "JOBS", "QUEUED");
	if (o->max_rows > 0) {
		/* Leave the last line free so the screen does not scroll. */
		int room = o->max_rows - TOP_FIXED_ROWS - 1;

		if (room < 0)
			room = 0;
		if ((size_t)room < rows)
			rows = (size_t)room;
	}
	for (size_t i = 0; i < rows; i++)
		client_row(f, &v->cl[i]);
	fflush(f);
}

/* Length of the well-formed UTF-8 sequence at s, 0 if none (RFC 3629). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			fputc(*p++, f);
		} else if ((n = utf8_len(p))) {
			fwrite(p, 1, n, f);
			p += n;
		} else {
			fputs("\\ufffd", f);	/* a cut or invalid sequence */
			p++;
		}
	}
	fputc('"', f);
}

static void json_u64(FILE *f, const char *k, uint64_t v, const char *sep)
{
	if (v == TOP_NA)
		fprintf(f, "\"%s\":null%s", k, sep);
	else
		fprintf(f, "\"%s\":%llu%s", k, (unsigned long long)v, sep);
}

static void json_f(FILE *f, const char *k, double x, const char *sep)
{
	if (isnan(x) || isinf(x))
		fprintf(f, "\"%s\":null%s", k, sep);
	else
		fprintf(f, "\"%s\":%.6g%s", k, x, sep);
}

static void json_stats(FILE *f, const struct top_view *v)
{
	const struct top_stats *st = &v->cur->st;

	fputs("\"stats\":{", f);
	for (int i = 0; i < TOP_NKEYS; i++)
		json_u64(f, top_key_names[i], st->v[i], i + 1 < TOP_NKEYS ? "," : "");
	fputs("},\"pinned_bytes_uid\":[", f);
	for (size_t i = 0; i < st->n_uids; i++) {
		fprintf(f, "%s{\"uid\":%u,", i ? "," : "", st->uids[i].uid);
		json_u64(f, "bytes", st->uids[i].bytes, "}");
	}
	fputs("],\"classes\":[", f);
	for (int i = 0; i < TOP_NCLASS; i++) {
		const struct top_class *c = &st->cls[i];

		fprintf(f, "%s{\"name\":\"%s\",", i ? "," : "", top_class_names[i]);
		json_u64(f, "queued", c->queued, ",");
		json_u64(f, "jobs", c->jobs, ",");
		json_u64(f, "wait_ns", c->wait_ns, ",");
		json_u64(f, "run_ns", c->run_ns, ",");
		json_f(f, "mean_wait_ms", v->cls[i].wait_ms, ",");
		json_f(f, "mean_run_ms", v->cls[i].run_ms, "}");
	}
	fputs("],", f);
}

static void json_client(FILE *f, const struct top_client_view *cv)
{
	const struct top_client *c = cv->c;

	fprintf(f, "{\"pid\":%d,\"comm\":", c->pid);
	json_str(f, c->comm);
	fputc(',', f);
	json_u64(f, "client_id", c->id, ",");
	if (c->prio >= 0)
		fprintf(f, "\"priority\":\"%s\",", top_class_names[c->prio]);
	else
		fputs("\"priority\":null,", f);
	json_u64(f, "engine_ns", c->engine_ns, ",");
	json_f(f, "engine_pct", cv->engine_pct, ",");
	json_f(f, "jobs_per_s", cv->jobs_per_s, ",");
	json_u64(f, "shmem_bytes", c->shmem, ",");
	json_u64(f, "resident_bytes", c->resident, ",");
	json_u64(f, "pinned_bytes", c->pinned, ",");
	json_u64(f, "jobs", c->jobs, ",");
	json_u64(f, "queued", c->queued, "}");
}

void top_render_json(FILE *f, const struct top_view *v)
{
	fputc('{', f);
	json_u64(f, "monotonic_ns", v->cur->t_ns, ",");
	json_f(f, "interval_s", v->interval_s, ",");
	json_stats(f, v);
	fputs("\"rates\":{", f);
	json_f(f, "jobs_per_s", v->jobs_per_s, ",");
	json_f(f, "submitted_per_s", v->submitted_per_s, ",");
	json_f(f, "busy_pct", v->busy_pct, ",");
	json_f(f, "mean_batch", v->mean_batch, "},");
	fputs("\"clients\":[", f);
	for (size_t i = 0; i < v->n_cl; i++) {
		if (i)
			fputc(',', f);
		json_client(f, &v->cl[i]);
	}
	fputs("]}\n", f);
	fflush(f);
}
