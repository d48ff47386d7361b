// SPDX-License-Identifier: MIT
/*
 * gguf.c - a GGUF v2/v3 reader that trusts nothing in the file.
 *
 * The file is parsed once at open.  Every count, length, type, dimension and
 * offset is checked against the bytes that remain before it is used, with
 * overflow-checked arithmetic, so the accessors afterwards can index the
 * mapping without further checks.  Errors name what was wrong and where.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_int.h"
#include "kk.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

/* Tensor type numbers above this are rejected at open as garbage. */
#define GGUF_TENSOR_TYPE_LIMIT 64
/* Smallest possible tensor info and KV, for bounding counts by file size. */
#define GGUF_MIN_TENSOR_INFO (8 + 4 + 4 + 8)
#define GGUF_MIN_KV (8 + 1 + 4 + 1)
#define GGUF_MAX_ALIGNMENT (1u << 30)

/* Parser state: a cursor over the file plus the error buffer. */
struct cur {
	struct gguf *g;
	uint64_t pos;
	char *err;
	size_t errlen;
	char what[96];		/* what is being parsed, for messages */
};

static const char *const gguf_type_names[GGUF_TYPE_COUNT] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
	"array", "u64", "i64", "f64",
};

static const size_t gguf_type_sizes[GGUF_TYPE_COUNT] = {
	1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8,
};

/* ggml's names, including types kk does not support, for messages. */
static const char *const ggml_type_names[] = {
	[0] = "f32", [1] = "f16", [2] = "q4_0", [3] = "q4_1", [4] = "q4_2",
	[5] = "q4_3", [6] = "q5_0", [7] = "q5_1", [8] = "q8_0", [9] = "q8_1",
	[10] = "q2_K", [11] = "q3_K", [12] = "q4_K", [13] = "q5_K",
	[14] = "q6_K", [15] = "q8_K", [16] = "iq2_xxs", [17] = "iq2_xs",
	[18] = "iq3_xxs", [19] = "iq1_s", [20] = "iq4_nl", [21] = "iq3_s",
	[22] = "iq2_s", [23] = "iq4_xs", [24] = "i8", [25] = "i16",
	[26] = "i32", [27] = "i64", [28] = "f64", [29] = "iq1_m",
	[30] = "bf16", [31] = "q4_0_4_4", [32] = "q4_0_4_8",
	[33] = "q4_0_8_8", [34] = "tq1_0", [35] = "tq2_0",
	[36] = "iq4_nl_4_4", [37] = "iq4_nl_4_8", [38] = "iq4_nl_8_8",
	[39] = "mxfp4",
};

const char *gguf_type_name(uint32_t type)
{
	return type < GGUF_TYPE_COUNT ? gguf_type_names[type] : "?";
}

size_t gguf_type_size(uint32_t type)
{
	return type < GGUF_TYPE_COUNT ? gguf_type_sizes[type] : 0;
}

const char *gguf_tensor_type_name(uint32_t type)
{
	const size_t n = sizeof(ggml_type_names) / sizeof(ggml_type_names[0]);

	if (type < n && ggml_type_names[type])
		return ggml_type_names[type];
	return "?";
}

void gguf_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Record a corruption error prefixed with what was being parsed. */
__attribute__((format(printf, 2, 3)))
static int bad(struct cur *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gguf_errf(c->err, c->errlen, "%s: %s", c->what, msg);
	return -EINVAL;
}

static uint64_t left(const struct cur *c)
{
	return c->g->size - c->pos;
}

static int need(struct cur *c, uint64_t n, const char *field)
{
	if (left(c) < n)
		return bad(c, "truncated: %s needs %llu bytes at offset %llu, "
			   "file has %llu left", field, (unsigned long long)n,
			   (unsigned long long)c->pos,
			   (unsigned long long)left(c));
	return 0;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *field)
{
	int r = need(c, 4, field);

	if (r)
		return r;
	memcpy(v, c->g->base + c->pos, 4);
	c->pos += 4;
	return 0;
}

static int rd_u64(struct cur *c, uint64_t *v, const char *field)
{
	int r = need(c, 8, field);

	if (r)
		return r;
	memcpy(v, c->g->base + c->pos, 8);
	c->pos += 8;
	return 0;
}

/* Read a string's length word and check the bytes are there. */
static int rd_str(struct cur *c, struct gguf_str *s, uint64_t max,
		  const char *field)
{
	int r = rd_u64(c, &s->n, field);

	if (r)
		return r;
	if (s->n > left(c))
		return bad(c, "%s length %llu runs past end of file "
			   "(%llu bytes left at offset %llu)", field,
			   (unsigned long long)s->n,
			   (unsigned long long)left(c),
			   (unsigned long long)c->pos);
	if (s->n > max)
		return bad(c, "%s length %llu exceeds the limit of %llu", field,
			   (unsigned long long)s->n, (unsigned long long)max);
	s->s = (const char *)c->g->base + c->pos;
	c->pos += s->n;
	return 0;
}

/* Copy a key or tensor name into the arena; returns its offset there. */
static int arena_add(struct cur *c, const struct gguf_str *s, uint64_t *off,
		     const char *field)
{
	struct gguf *g = c->g;

	if (s->n == 0)
		return bad(c, "empty %s", field);
	if (memchr(s->s, 0, s->n))
		return bad(c, "%s contains a NUL byte", field);
	if (g->names_len + s->n + 1 > g->names_cap) {
		uint64_t cap = g->names_cap ? g->names_cap * 2 : 4096;
		char *p;

		while (cap < g->names_len + s->n + 1)
			cap *= 2;
		p = realloc(g->names, cap);
		if (!p) {
			gguf_errf(c->err, c->errlen, "%s: out of memory", c->what);
			return -ENOMEM;
		}
		g->names = p;
		g->names_cap = cap;
	}
	memcpy(g->names + g->names_len, s->s, s->n);
	g->names[g->names_len + s->n] = 0;
	*off = g->names_len;
	g->names_len += s->n + 1;
	return 0;
}

static int parse_header(struct cur *c)
{
	struct gguf *g = c->g;
	uint32_t magic;
	int r;

	snprintf(c->what, sizeof(c->what), "header");
	if (g->size < 4)
		return bad(c, "truncated: file is %llu bytes, too short for the "
			   "GGUF magic", (unsigned long long)g->size);
	memcpy(&magic, g->base, 4);
	if (magic != GGUF_MAGIC)
		return bad(c, "bad magic %02x %02x %02x %02x: not a GGUF file",
			   g->base[0], g->base[1], g->base[2], g->base[3]);
	c->pos = 4;
	r = rd_u32(c, &g->version, "version");
	if (r)
		return r;
	if (g->version == 0x02000000u || g->version == 0x03000000u)
		return bad(c, "big-endian GGUF files are not supported");
	if (g->version != 2 && g->version != 3)
		return bad(c, "unsupported GGUF version %u (only 2 and 3 are read)",
			   g->version);
	r = rd_u64(c, &g->n_tensors, "tensor count");
	if (!r)
		r = rd_u64(c, &g->n_kv, "kv count");
	if (r)
		return r;
	if (g->n_tensors > GGUF_MAX_TENSORS ||
	    g->n_tensors > left(c) / GGUF_MIN_TENSOR_INFO)
		return bad(c, "tensor count %llu is impossible for a %llu-byte file",
			   (unsigned long long)g->n_tensors,
			   (unsigned long long)g->size);
	if (g->n_kv > GGUF_MAX_KVS || g->n_kv > left(c) / GGUF_MIN_KV)
		return bad(c, "kv count %llu is impossible for a %llu-byte file",
			   (unsigned long long)g->n_kv,
			   (unsigned long long)g->size);
	return 0;
}

/* Walk an array of strings, recording where each element starts. */
static int parse_str_array(struct cur *c, struct gguf_kv_ent *kv)
{
	uint64_t i, start = c->pos;
	struct gguf_str s;
	int r;

	if (kv->arr_n > left(c) / 8)
		return bad(c, "array of %llu strings cannot fit in %llu bytes",
			   (unsigned long long)kv->arr_n,
			   (unsigned long long)left(c));
	kv->str_off = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof(uint64_t));
	if (!kv->str_off) {
		gguf_errf(c->err, c->errlen, "%s: out of memory", c->what);
		return -ENOMEM;
	}
	for (i = 0; i < kv->arr_n; i++) {
		kv->str_off[i] = c->pos - start;
		r = rd_str(c, &s, UINT64_MAX, "array string");
		if (r)
			return r;
	}
	return 0;
}

static int parse_value(struct cur *c, struct gguf_kv_ent *kv)
{
	uint64_t bytes;
	struct gguf_str s;
	int r;

	kv->raw = c->g->base + c->pos;
	if (kv->type == GGUF_TYPE_STRING) {
		kv->val = kv->raw;
		return rd_str(c, &s, UINT64_MAX, "string value");
	}
	if (kv->type != GGUF_TYPE_ARRAY) {
		kv->val = kv->raw;
		r = need(c, gguf_type_sizes[kv->type], "value");
		if (!r)
			c->pos += gguf_type_sizes[kv->type];
		return r;
	}
	r = rd_u32(c, &kv->arr_type, "array element type");
	if (!r)
		r = rd_u64(c, &kv->arr_n, "array length");
	if (r)
		return r;
	kv->val = c->g->base + c->pos;
	if (kv->arr_type == GGUF_TYPE_ARRAY)
		return bad(c, "nested arrays are not supported");
	if (kv->arr_type >= GGUF_TYPE_COUNT)
		return bad(c, "invalid array element type %u", kv->arr_type);
	if (kv->arr_type == GGUF_TYPE_STRING)
		return parse_str_array(c, kv);
	if (__builtin_mul_overflow(kv->arr_n, (uint64_t)gguf_type_sizes[kv->arr_type],
				   &bytes) || bytes > left(c))
		return bad(c, "array of %llu %s runs past end of file "
			   "(%llu bytes left at offset %llu)",
			   (unsigned long long)kv->arr_n,
			   gguf_type_name(kv->arr_type),
			   (unsigned long long)left(c),
			   (unsigned long long)c->pos);
	c->pos += bytes;
	return 0;
}

static int parse_kvs(struct cur *c)
{
	struct gguf *g = c->g;
	struct gguf_str key;
	uint64_t i;
	int r;

	g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kv));
	if (!g->kv) {
		gguf_errf(c->err, c->errlen, "out of memory for %llu kvs",
			  (unsigned long long)g->n_kv);
		return -ENOMEM;
	}
	for (i = 0; i < g->n_kv; i++) {
		struct gguf_kv_ent *kv = &g->kv[i];

		snprintf(c->what, sizeof(c->what), "kv %llu", (unsigned long long)i);
		r = rd_str(c, &key, GGUF_MAX_KEY, "key");
		if (!r)
			r = arena_add(c, &key, &kv->key_off, "key");
		if (r)
			return r;
		snprintf(c->what, sizeof(c->what), "kv %llu (%.*s)",
			 (unsigned long long)i, (int)(key.n > 64 ? 64 : key.n),
			 key.s);
		r = rd_u32(c, &kv->type, "value type");
		if (r)
			return r;
		if (kv->type >= GGUF_TYPE_COUNT)
			return bad(c, "invalid value type %u", kv->type);
		r = parse_value(c, kv);
		if (r)
			return r;
		kv->raw_len = (uint64_t)(g->base + c->pos - kv->raw);
	}
	return 0;
}

static int parse_dims(struct cur *c, struct gguf_tensor_ent *t)
{
	uint32_t d;
	int r;

	r = rd_u32(c, &t->n_dims, "n_dims");
	if (r)
		return r;
	if (t->n_dims > GGUF_MAX_DIMS)
		return bad(c, "n_dims %u exceeds the maximum of %d", t->n_dims,
			   GGUF_MAX_DIMS);
	t->n_elems = 1;
	for (d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		r = rd_u64(c, &t->ne[d], "dimension");
		if (r)
			return r;
		if (t->ne[d] > INT64_MAX)
			return bad(c, "dimension %u is negative (%lld)", d,
				   (long long)t->ne[d]);
		if (__builtin_mul_overflow(t->n_elems, t->ne[d], &t->n_elems) ||
		    t->n_elems > INT64_MAX)
			return bad(c, "element count overflows at dimension %u",
				   d);
	}
	return 0;
}

/* Size in bytes for types kk knows; leaves 0 for the others. */
static int tensor_size(struct cur *c, struct gguf_tensor_ent *t)
{
	uint32_t be = kk_type_block_elems(t->type);
	uint64_t row, rows;

	t->size = 0;
	if (!be || !kk_type_block_bytes(t->type))
		return 0;
	if (t->ne[0] % be)
		return bad(c, "ne[0]=%llu is not a multiple of %s's block size %u",
			   (unsigned long long)t->ne[0],
			   gguf_tensor_type_name(t->type), be);
	if (t->n_elems == 0)
		return 0;
	row = kk_row_bytes(t->type, t->ne[0]);
	rows = t->n_elems / t->ne[0];
	if (!row || __builtin_mul_overflow(row, rows, &t->size))
		return bad(c, "byte size overflows");
	return 0;
}

static int parse_tensor_infos(struct cur *c)
{
	struct gguf *g = c->g;
	struct gguf_str name;
	uint64_t i;
	int r;

	g->t = calloc(g->n_tensors ? g->n_tensors : 1, sizeof(*g->t));
	if (!g->t) {
		gguf_errf(c->err, c->errlen, "out of memory for %llu tensors",
			  (unsigned long long)g->n_tensors);
		return -ENOMEM;
	}
	for (i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor_ent *t = &g->t[i];

		snprintf(c->what, sizeof(c->what), "tensor %llu",
			 (unsigned long long)i);
		r = rd_str(c, &name, GGUF_MAX_NAME - 1, "name");
		if (!r)
			r = arena_add(c, &name, &t->name_off, "name");
		if (r)
			return r;
		snprintf(c->what, sizeof(c->what), "tensor %.*s",
			 (int)name.n, name.s);
		r = parse_dims(c, t);
		if (!r)
			r = rd_u32(c, &t->type, "type");
		if (r)
			return r;
		if (t->type >= GGUF_TENSOR_TYPE_LIMIT)
			return bad(c, "invalid type %u", t->type);
		r = rd_u64(c, &t->offset, "offset");
		if (r)
			return r;
		if (t->offset % g->alignment)
			return bad(c, "offset %llu is not a multiple of the "
				   "alignment %u", (unsigned long long)t->offset,
				   g->alignment);
		r = tensor_size(c, t);
		if (r)
			return r;
	}
	return 0;
}

static int read_alignment(struct cur *c)
{
	struct gguf *g = c->g;
	uint64_t a;
	int r;

	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	r = gguf_get_u64(g, "general.alignment", &a);
	snprintf(c->what, sizeof(c->what), "kv general.alignment");
	if (r == -ENOENT)
		return 0;
	if (r == -EINVAL)
		return bad(c, "has type %s, expected an unsigned integer",
			   gguf_type_name(g->kv[gguf_find_kv(g, "general.alignment")].type));
	if (r || a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
		return bad(c, "alignment must be a power of two up to 2^30");
	g->alignment = (uint32_t)a;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Tensors' data must lie inside the file and not overlap each other. */
static int check_tensor_data(struct cur *c)
{
	struct gguf *g = c->g;
	uint64_t avail = g->size - g->data_off, i;
	uint64_t (*span)[3];
	int r = 0;

	for (i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor_ent *t = &g->t[i];
		uint64_t end;

		snprintf(c->what, sizeof(c->what), "tensor %s", gguf_int_tensor_name(g, i));
		if (t->offset > avail)
			return bad(c, "data starts %llu bytes past end of file",
				   (unsigned long long)(t->offset - avail));
		if (__builtin_add_overflow(t->offset, t->size, &end))
			return bad(c, "data end overflows");
		if (end > avail)
			return bad(c, "data ends %llu bytes past end of file",
				   (unsigned long long)(end - avail));
	}
	span = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof(*span));
	if (!span) {
		gguf_errf(c->err, c->errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < g->n_tensors; i++) {
		span[i][0] = g->t[i].offset;
		span[i][1] = g->t[i].offset + g->t[i].size;
		span[i][2] = i;
	}
	qsort(span, g->n_tensors, sizeof(*span), cmp_u64);
	for (i = 1; i < g->n_tensors && !r; i++) {
		if (span[i][0] < span[i - 1][1] && g->t[span[i][2]].size) {
			snprintf(c->what, sizeof(c->what), "tensor %s",
				 gguf_int_tensor_name(g, span[i][2]));
			r = bad(c, "data overlaps tensor %s",
				gguf_int_tensor_name(g, span[i - 1][2]));
		}
	}
	free(span);
	return r;
}

static int parse_data_section(struct cur *c)
{
	struct gguf *g = c->g;
	uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;

	snprintf(c->what, sizeof(c->what), "data section");
	g->data_off = c->pos + pad;	/* pos <= size < 2^63: no overflow */
	if (g->data_off > g->size) {
		if (g->n_tensors)
			return bad(c, "truncated: starts at offset %llu, past "
				   "end of file (%llu bytes)",
				   (unsigned long long)g->data_off,
				   (unsigned long long)g->size);
		g->data_off = g->size;	/* vocab-only files may omit padding */
	}
	return check_tensor_data(c);
}

/* qsort has no context argument: sort (name pointer, index) pairs. */
struct name_idx {
	const char *name;
	uint32_t idx;
};

static int cmp_name(const void *a, const void *b)
{
	const struct name_idx *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int sort_names(struct cur *c, uint64_t n, uint32_t **out,
		      const char *(*name_of)(const struct gguf *, uint64_t),
		      const char *what)
{
	struct name_idx *v = malloc((n ? n : 1) * sizeof(*v));
	uint64_t i;

	if (!v) {
		gguf_errf(c->err, c->errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		v[i].name = name_of(c->g, i);
		v[i].idx = (uint32_t)i;
	}
	qsort(v, n, sizeof(*v), cmp_name);
	*out = malloc((n ? n : 1) * sizeof(**out));
	if (!*out) {
		free(v);
		gguf_errf(c->err, c->errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		(*out)[i] = v[i].idx;
		if (i && !strcmp(v[i].name, v[i - 1].name)) {
			snprintf(c->what, sizeof(c->what), "%s", what);
			bad(c, "duplicate name %s", v[i].name);
			free(v);
			return -EINVAL;
		}
	}
	free(v);
	return 0;
}

static int parse(struct gguf *g, char *err, size_t errlen)
{
	struct cur c = { .g = g, .err = err, .errlen = errlen };
	int r;

	r = parse_header(&c);
	if (!r)
		r = parse_kvs(&c);
	if (r)
		return r;
	r = sort_names(&c, g->n_kv, &g->kv_sorted, gguf_int_kv_name, "kvs");
	if (!r)
		r = read_alignment(&c);
	if (!r)
		r = parse_tensor_infos(&c);
	if (r)
		return r;
	r = sort_names(&c, g->n_tensors, &g->t_sorted, gguf_int_tensor_name, "tensors");
	if (!r)
		r = parse_data_section(&c);
	return r;
}

static int finish_open(struct gguf *g, struct gguf **out, char *err,
		       size_t errlen)
{
	int r = parse(g, err, errlen);

	if (r) {
		gguf_close(g);
		return r;
	}
	*out = g;
	return 0;
}

int gguf_open_mem(struct gguf **out, const void *buf, size_t size,
		  char *err, size_t errlen)
{
	struct gguf *g;

	*out = NULL;
	if (!buf && size) {
		gguf_errf(err, errlen, "NULL buffer");
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		gguf_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->base = buf;
	g->size = size;
	return finish_open(g, out, err, errlen);
}

int gguf_open(struct gguf **out, const char *path, char *err, size_t errlen)
{
	struct gguf *g;
	struct stat st;
	void *p;
	int fd, r;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		gguf_errf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		gguf_errf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		gguf_errf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		close(fd);
		gguf_errf(err, errlen, "%s: header: truncated: empty file", path);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	r = -errno;
	close(fd);
	if (p == MAP_FAILED) {
		gguf_errf(err, errlen, "%s: mmap: %s", path, strerror(-r));
		return r;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		munmap(p, (size_t)st.st_size);
		gguf_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->base = p;
	g->size = (uint64_t)st.st_size;
	g->mapped = 1;
	return finish_open(g, out, err, errlen);
}

void gguf_close(struct gguf *g)
{
	uint64_t i;

	if (!g)
		return;
	if (g->kv)
		for (i = 0; i < g->n_kv; i++)
			free(g->kv[i].str_off);
	free(g->kv);
	free(g->t);
	free(g->kv_sorted);
	free(g->t_sorted);
	free(g->names);
	if (g->mapped)
		munmap((void *)g->base, g->size);
	free(g);
}
