// SPDX-License-Identifier: MIT
/*
 * common.c - kllm-bench helpers: model shapes, random weights, timing,
 * option parsing, and the machine's read bandwidth.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "../tool_opt.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ shapes */

static const struct bench_shape shapes[] = {
	{ "1.1b", "TinyLlama-1.1B", 22, 2048, 32, 4, 64, 5632, 32000 },
	{ "7b", "Llama-2-7B", 32, 4096, 32, 32, 128, 11008, 32000 },
	{ "135m", "SmolLM2-135M", 30, 576, 9, 3, 64, 1536, 49152 },
};

const struct bench_shape *bench_shape_find(const char *name)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (!strcasecmp(name, shapes[i].name))
			return &shapes[i];
	return NULL;
}

const char *bench_shape_names(void)
{
	return "1.1b|7b|135m";
}

void bench_mat_dims(const struct bench_shape *s, enum bench_mat mat,
		    uint32_t *n_out, uint32_t *k)
{
	uint32_t d = s->d_model, kv = s->n_kv_head * s->head_dim;

	switch (mat) {
	case MAT_K:
	case MAT_V:
		*n_out = kv;
		*k = d;
		break;
	case MAT_GATE:
	case MAT_UP:
		*n_out = s->d_ff;
		*k = d;
		break;
	case MAT_DOWN:
		*n_out = d;
		*k = s->d_ff;
		break;
	default:	/* Q, O */
		*n_out = s->n_head * s->head_dim;
		*k = d;
		break;
	}
}

const char *bench_mat_name(enum bench_mat mat)
{
	static const char *const names[MAT_COUNT] = {
		"wq", "wk", "wv", "wo", "gate", "up", "down",
	};

	return mat < MAT_COUNT ? names[mat] : "?";
}

/* ------------------------------------------------------------ weights */

static const uint32_t weight_types[] = {
	KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q8_0, KK_TYPE_Q4_0,
	KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
	KK_TYPE_Q6_K,
};

int bench_type_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(weight_types) / sizeof(weight_types[0]); i++)
		if (!strcasecmp(name, kk_type_name(weight_types[i])))
			return (int)weight_types[i];
	return -1;
}

const char *bench_type_label(uint32_t type)
{
	static char labels[KK_TYPE_COUNT][8];
	const char *n = kk_type_name(type);
	size_t i;

	if (type >= KK_TYPE_COUNT)
		return "?";
	if (!labels[type][0]) {
		for (i = 0; n[i] && i + 1 < sizeof(labels[type]); i++)
			labels[type][i] = (char)tolower((unsigned char)n[i]);
		labels[type][i] = 0;
	}
	return labels[type];
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static uint64_t xs64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* An fp16 scale in [2^-8, 2^-6): random nibbles times it stay near [-1, 1]. */
static void put_scale(uint8_t *p, uint64_t r)
{
	uint16_t h = (uint16_t)(0x1c00 + (r & 0x7ff));

	memcpy(p, &h, 2);
}

/* Element bits in about +-[2^-6, 1) for the float types. */
static void fill_float_row(uint32_t type, uint8_t *row, uint32_t k, uint64_t *s)
{
	for (uint32_t i = 0; i < k; i++) {
		uint64_t r = xs64(s);
		uint32_t sign = (uint32_t)(r >> 63), e = (uint32_t)((r >> 32) % 6);

		if (type == KK_TYPE_F32) {
			uint32_t v = sign << 31 | (121 + e) << 23 | (uint32_t)(r & 0x7fffff);

			memcpy(row + 4 * i, &v, 4);
		} else if (type == KK_TYPE_BF16) {
			uint16_t v = (uint16_t)(sign << 15 | (121 + e) << 7 | (r & 0x7f));

			memcpy(row + 2 * i, &v, 2);
		} else {
			uint16_t v = (uint16_t)(sign << 15 | (9 + e) << 10 | (r & 0x3ff));

			memcpy(row + 2 * i, &v, 2);
		}
	}
}

static void fill_block_row(uint32_t type, uint8_t *row, uint64_t row_bytes,
			   uint32_t k, uint64_t *s)
{
	uint32_t bb = kk_type_block_bytes(type), nb = k / kk_type_block_elems(type);
	uint64_t i;

	for (i = 0; i + 8 <= row_bytes; i += 8) {
		uint64_t r = xs64(s);

		memcpy(row + i, &r, 8);
	}
	for (; i < row_bytes; i++)
		row[i] = (uint8_t)xs64(s);
	for (uint32_t b = 0; b < nb; b++) {
		uint8_t *blk = row + (uint64_t)b * bb;
		uint64_t r = xs64(s);

		switch (type) {
		case KK_TYPE_Q6_K:
			put_scale(blk + bb - 2, r);	/* d is last */
			break;
		case KK_TYPE_Q4_1:
		case KK_TYPE_Q5_1:
		case KK_TYPE_Q4_K:
		case KK_TYPE_Q5_K:
			put_scale(blk, r);		/* d */
			put_scale(blk + 2, r >> 16);	/* m / dmin */
			break;
		default:
			put_scale(blk, r);
		}
	}
}

struct fill_job {
	uint32_t type, k;
	uint8_t *w;
	uint64_t row_bytes, seed;
};

static void fill_rows(void *arg, uint64_t begin, uint64_t end)
{
	const struct fill_job *j = arg;

	for (uint64_t r = begin; r < end; r++) {
		uint64_t s = mix64(j->seed ^ mix64(r)) | 1;
		uint8_t *row = j->w + r * j->row_bytes;

		if (j->type == KK_TYPE_F32 || j->type == KK_TYPE_F16 || j->type == KK_TYPE_BF16)
			fill_float_row(j->type, row, j->k, &s);
		else
			fill_block_row(j->type, row, j->row_bytes, j->k, &s);
	}
}

void bench_fill_weights(struct kllm_pool *pool, uint32_t type, void *w,
			uint64_t row_bytes, uint32_t k, uint32_t rows, uint64_t seed)
{
	struct fill_job j = { .type = type, .k = k, .w = w, .row_bytes = row_bytes,
			      .seed = seed };

	kllm_pool_parallel_for(pool, fill_rows, &j, rows, 64);
}

/* ------------------------------------------------------------ helpers */

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void *bench_alloc(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
		fprintf(stderr, "kllm-bench: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	memset(p, 0, bytes);
	return p;
}

uint64_t bench_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

int bench_parse_uint(const char *s)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 1000000)
		return -1;
	return (int)v;
}

/* "a,b,c" into @out (at most @max): the count, or -1 at the bad element *@bad. */
int bench_parse_list_quiet(const char *s, int (*parse)(const char *), int *out, int max,
		      char *bad, size_t bad_len)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int v = parse(tok);

		if (v < 0 || n >= max) {
			snprintf(bad, bad_len, "%s", tok);
			free(copy);
			return -1;
		}
		out[n++] = v;
	}
	free(copy);
	snprintf(bad, bad_len, "(empty)");
	return n ? n : -1;
}

int bench_parse_list(const char *s, int (*parse)(const char *), int *out, int max,
		     const char *mode, const char *opt, const char *what)
{
	char bad[64];
	int n = bench_parse_list_quiet(s, parse, out, max, bad, sizeof(bad));

	if (n < 0)
		fprintf(stderr, "kllm-bench %s: bad value '%s' in '%s' for %s (up to %d of %s, "
			"comma-separated)\n", mode, bad, s, opt, max, what);
	return n;
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

/* ------------------------------------------------------------ output */

static const char *const fmt_names[BENCH_FMT_COUNT] = { "md", "csv", "json", "jsonl", "sql" };

int bench_fmt_opt(const char *arg, unsigned int mask, const char *mode, int *fmt)
{
	char want[64] = "";
	int n = 0, last = -1;

	for (int f = 0; f < BENCH_FMT_COUNT; f++) {
		if ((mask & 1u << f) && !strcmp(arg, fmt_names[f])) {
			*fmt = f;
			return 0;
		}
	}
	for (int f = 0; f < BENCH_FMT_COUNT; f++)
		if (mask & 1u << f)
			last = f;
	for (int f = 0; f < BENCH_FMT_COUNT; f++) {
		if (!(mask & 1u << f))
			continue;
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
			 !n ? "" : f == last ? " or " : ", ", fmt_names[f]);
		n++;
	}
	fprintf(stderr, "kllm-bench %s: bad value '%s' for -o (%s)\n", mode, arg, want);
	return -EINVAL;
}

void bench_rows_begin(struct bench_rows *r, int fmt, const char *table)
{
	memset(r, 0, sizeof(*r));
	r->fmt = fmt;
	r->table = table;
	if (fmt == BENCH_FMT_JSON)
		printf("[\n");
}

static void row_add(struct bench_rows *r, const char *key, char type, char *val)
{
	if (r->n_fields >= BENCH_ROW_FIELDS) {	/* a bug: the rows are fixed in the source */
		fprintf(stderr, "kllm-bench: too many fields in a row (%s)\n", key);
		abort();
	}
	r->f[r->n_fields++] = (struct bench_field){ key, type, val };
}

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		fprintf(stderr, "kllm-bench: out of memory\n");
		exit(1);
	}
	return d;
}

void bench_row_str(struct bench_rows *r, const char *key, const char *v)
{
	row_add(r, key, 'T', v ? dup_or_die(v) : NULL);
}

void bench_row_int(struct bench_rows *r, const char *key, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	row_add(r, key, 'I', dup_or_die(buf));
}

void bench_row_num(struct bench_rows *r, const char *key, double v, int decimals)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	row_add(r, key, 'R', v == v ? dup_or_die(buf) : NULL);
}

void bench_row_bool(struct bench_rows *r, const char *key, int v)
{
	row_add(r, key, 'B', v < 0 ? NULL : dup_or_die(v ? "true" : "false"));
}

void bench_row_list(struct bench_rows *r, const char *key, const double *v, int n,
		    int decimals)
{
	char *buf = dup_or_die(""), *next;

	for (int i = 0; i < n; i++) {
		if (asprintf(&next, "%s%s%.*f", buf, i ? ", " : "", decimals, v[i]) < 0) {
			fprintf(stderr, "kllm-bench: out of memory\n");
			exit(1);
		}
		free(buf);
		buf = next;
	}
	row_add(r, key, 'L', buf);
}

/* @s quoted with @q, a quote inside doubled (csv "", sql ''). */
static void put_quoted(const char *s, char q)
{
	putchar(q);
	for (; *s; s++) {
		if (*s == q)
			putchar(q);
		putchar(*s);
	}
	putchar(q);
}

static void put_json_value(const struct bench_field *f)
{
	if (!f->val)
		printf("null");
	else if (f->type == 'T')
		bench_json_str(f->val);
	else if (f->type == 'L')
		printf("[%s]", f->val);
	else
		printf("%s", f->val);
}

static void put_sql_value(const struct bench_field *f)
{
	if (!f->val)
		printf("NULL");
	else if (f->type == 'T' || f->type == 'L')
		put_quoted(f->val, '\'');
	else if (f->type == 'B')
		printf("%d", f->val[0] == 't');
	else
		printf("%s", f->val);
}

void bench_row_end(struct bench_rows *r)
{
	const int n = r->n_fields;

	switch (r->fmt) {
	case BENCH_FMT_CSV:
		for (int i = 0; !r->n_rows && i < n; i++)
			printf("%s%s", r->f[i].key, i + 1 < n ? "," : "\n");
		for (int i = 0; i < n; i++) {
			if (r->f[i].val && (r->f[i].type == 'T' || r->f[i].type == 'L'))
				put_quoted(r->f[i].val, '"');
			else if (r->f[i].val)
				printf("%s", r->f[i].val);
			printf("%s", i + 1 < n ? "," : "\n");
		}
		break;
	case BENCH_FMT_SQL:
		if (!r->n_rows) {
			printf("CREATE TABLE IF NOT EXISTS %s (\n", r->table);
			for (int i = 0; i < n; i++)
				printf("  %s %s%s\n", r->f[i].key,
				       r->f[i].type == 'I' || r->f[i].type == 'B' ? "INTEGER" :
				       r->f[i].type == 'R' ? "REAL" : "TEXT", i + 1 < n ? "," : "");
			printf(");\n\n");
		}
		printf("INSERT INTO %s (", r->table);
		for (int i = 0; i < n; i++)
			printf("%s%s", r->f[i].key, i + 1 < n ? ", " : ") VALUES (");
		for (int i = 0; i < n; i++) {
			put_sql_value(&r->f[i]);
			printf("%s", i + 1 < n ? ", " : ");\n");
		}
		break;
	default:	/* json, jsonl */
		printf("%s%s{", r->n_rows && r->fmt == BENCH_FMT_JSON ? ",\n" : "",
		       r->fmt == BENCH_FMT_JSON ? "  " : "");
		for (int i = 0; i < n; i++) {
			printf("%s\"%s\": ", i ? ", " : "", r->f[i].key);
			put_json_value(&r->f[i]);
		}
		printf("}%s", r->fmt == BENCH_FMT_JSONL ? "\n" : "");
	}
	for (int i = 0; i < n; i++)
		free(r->f[i].val);
	r->n_fields = 0;
	r->n_rows++;
}

void bench_rows_end(struct bench_rows *r)
{
	if (r->fmt == BENCH_FMT_JSON)
		printf("%s]\n", r->n_rows ? "\n" : "");
	fflush(stdout);
}

/* ------------------------------------------------------------ options */

int bench_default_threads(void)
{
	unsigned int n = kllm_cpu_count();

	return n < KLLM_POOL_MAX_THREADS ? (int)n : KLLM_POOL_MAX_THREADS;
}

void bench_common_init(struct bench_common *c, int max_threads, int reps, int max_reps)
{
	memset(c, 0, sizeof(*c));
	c->threads[0] = bench_default_threads();
	c->n_threads = 1;
	c->max_threads = max_threads;
	c->reps = reps;
	c->max_reps = max_reps;
	c->fmt = BENCH_FMT_MD;
	c->fmts = BENCH_FMTS_ALL;
}

static int parse_threads(const char *s)
{
	int v = bench_parse_uint(s);

	return v >= 1 && v <= KLLM_POOL_MAX_THREADS ? v : -1;
}

static int bad_value(const char *mode, const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "kllm-bench %s: bad value '%s' for %s (%s)\n", mode, arg, opt, want);
	return -EINVAL;
}

static int opt_threads(struct bench_common *c, const char *arg, const char *mode)
{
	char want[96], bad[64];
	int n = bench_parse_list_quiet(arg, parse_threads, c->threads, c->max_threads, bad,
				       sizeof(bad));

	if (n > 0) {
		c->n_threads = n;
		return 1;
	}
	if (c->max_threads > 1)
		snprintf(want, sizeof(want), "up to %d thread counts 1..%d, comma-separated",
			 c->max_threads, KLLM_POOL_MAX_THREADS);
	else
		snprintf(want, sizeof(want), "a thread count 1..%d", KLLM_POOL_MAX_THREADS);
	return bad_value(mode, "-t", arg, want);
}

int bench_opt_error(const char *mode, int opt, char **argv)
{
	char who[64];

	snprintf(who, sizeof(who), "kllm-bench %s", mode);
	tool_opt_error(who, opt, argv);
	return -EINVAL;
}

int bench_common_opt(struct bench_common *c, int opt, const char *arg, const char *mode,
		     char **argv)
{
	char want[32];
	int v;

	switch (opt) {
	case 'h':
		return BENCH_OPT_HELP;
	case '?':
	case ':':
		return bench_opt_error(mode, opt, argv);
	case 'j':
		c->fmt = BENCH_FMT_JSON;
		c->json = 1;
		return 1;
	case 'o':
		if (bench_fmt_opt(arg, c->fmts, mode, &c->fmt))
			return -EINVAL;
		c->json = c->fmt == BENCH_FMT_JSON;
		return 1;
	case 'g':
		c->plot = arg;
		return 1;
	case 'm':
		c->model = arg;
		return 1;
	case 'e':
		if (!bench_engine_valid(arg))
			return bad_value(mode, "--engine", arg, "cpu, dev or auto");
		c->engine = arg;
		return 1;
	case 't':
		return opt_threads(c, arg, mode);
	case 'r':
		v = bench_parse_uint(arg);
		if (v < 1 || v > c->max_reps) {
			snprintf(want, sizeof(want), "repetitions 1..%d", c->max_reps);
			return bad_value(mode, "-r", arg, want);
		}
		c->reps = v;
		return 1;
	}
	return 0;
}

int bench_common_check(const struct bench_common *c, const char *mode, int argc,
		       char **argv)
{
	if (optind < argc) {
		fprintf(stderr, "kllm-bench %s: unexpected argument '%s'\n", mode, argv[optind]);
		return -EINVAL;
	}
	if (!c->model) {
		fprintf(stderr, "kllm-bench %s: -m MODEL is required\n", mode);
		return -EINVAL;
	}
	return 0;
}

int bench_engine_valid(const char *name)
{
	return name && (!strcmp(name, "cpu") || !strcmp(name, "dev") || !strcmp(name, "auto"));
}

const char *bench_engine_name(const struct bench_common *c)
{
	const char *env = getenv("KLLM_ENGINE");

	if (c->engine)
		return c->engine;
	return env && *env ? env : "auto";
}

int bench_engine_apply(const struct bench_common *c, const char *mode)
{
	const char *name = bench_engine_name(c);

	/* Said here, before a model is loaded, rather than by the first context. */
	if (!bench_engine_valid(name)) {
		fprintf(stderr, "kllm-bench %s: KLLM_ENGINE=%s: expected cpu, dev or auto\n",
			mode, name);
		return -EINVAL;
	}
	if (c->engine && setenv("KLLM_ENGINE", c->engine, 1)) {
		int err = errno;

		fprintf(stderr, "kllm-bench %s: setenv KLLM_ENGINE: %s\n", mode, strerror(err));
		return -err;
	}
	return 0;
}

/* ------------------------------------------------------------ bandwidth */

typedef uint64_t bw_vec __attribute__((vector_size(16)));

#define BW_CHUNK_BYTES (1u << 20)

struct bw_job {
	const uint8_t *buf;
	uint64_t *sums;		/* one per chunk: no sharing, no atomics */
};

/* Four independent 128-bit accumulators: loads, not adds, are the limit. */
static void bw_range_sse(void *arg, uint64_t begin, uint64_t end)
{
	const struct bw_job *j = arg;

	for (uint64_t c = begin; c < end; c++) {
		const bw_vec *v = (const bw_vec *)(j->buf + c * BW_CHUNK_BYTES);
		bw_vec a = { 0, 0 }, b = a, d = a, e = a;

		for (size_t i = 0; i < BW_CHUNK_BYTES / sizeof(bw_vec); i += 4) {
			a += v[i];
			b += v[i + 1];
			d += v[i + 2];
			e += v[i + 3];
		}
		a += b + d + e;
		j->sums[c] = a[0] + a[1];
	}
}

#if defined(__x86_64__)
/*
 * The same with 256-bit loads: on AVX2 machines 128-bit loads leave read
 * bandwidth on the table (measured 10.7 vs 14 GB/s on one core), which
 * would flatter every ratio printed next to it.
 */
typedef uint64_t bw_vec4 __attribute__((vector_size(32)));

__attribute__((target("avx2")))
static void bw_range_avx2(void *arg, uint64_t begin, uint64_t end)
{
	const struct bw_job *j = arg;

	for (uint64_t c = begin; c < end; c++) {
		const bw_vec4 *v = (const bw_vec4 *)(j->buf + c * BW_CHUNK_BYTES);
		bw_vec4 a = { 0, 0, 0, 0 }, b = a, d = a, e = a;

		for (size_t i = 0; i < BW_CHUNK_BYTES / sizeof(bw_vec4); i += 4) {
			a += v[i];
			b += v[i + 1];
			d += v[i + 2];
			e += v[i + 3];
		}
		a += b + d + e;
		j->sums[c] = a[0] + a[1] + a[2] + a[3];
	}
}
#endif

static void bw_range(void *arg, uint64_t begin, uint64_t end)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		bw_range_avx2(arg, begin, end);
		return;
	}
#endif
	bw_range_sse(arg, begin, end);
}

double bench_read_bw(struct kllm_pool *pool, const void *buf, uint64_t bytes, int reps)
{
	uint64_t n = bytes / BW_CHUNK_BYTES, total = 0;
	struct bw_job j = { .buf = buf, .sums = bench_alloc(n * sizeof(uint64_t)) };
	double best = 1e30;

	for (int r = 0; r < reps + 1; r++) {
		double t = bench_now();

		kllm_pool_parallel_for(pool, bw_range, &j, n, 4);
		t = bench_now() - t;
		if (r && t < best)	/* the first pass warms up */
			best = t;
		for (uint64_t c = 0; c < n; c++)
			total += j.sums[c];
	}
	free(j.sums);
	/* Keep the sums observable so the loads are not optimised away. */
	if (total == 42)
		fputc(' ', stderr);
	return (double)(n * BW_CHUNK_BYTES) / best / 1e9;
}

/* ------------------------------------------------------------ samples */

int bench_grow(double **v, int *cap, int need)
{
	int c = *cap ? *cap : 256;
	double *p;

	while (c < need)
		c *= 2;
	if (c == *cap)
		return 0;
	p = realloc(*v, (size_t)c * sizeof(*p));
	if (!p)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void bench_sort(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
}

double bench_pct_ms(const double *v, int n, double p)
{
	int k = (int)(p / 100.0 * n + 0.999999);

	if (!n)
		return 0;
	k = k < 1 ? 1 : k > n ? n : k;
	return v[k - 1] * 1e3;
}
