// SPDX-License-Identifier: MIT
/*
 * gguf_write.c - build a GGUF v3 file in memory or stream it to a file.
 *
 * Key/value pairs are serialized as they are added.  Tensors are declared
 * first (name, type, shape) so the header, which holds every tensor's
 * offset, can be written before any data; the data then follows in
 * declaration order, each tensor padded to the alignment as ggml does.
 * That lets a tool write a 4 GB model while holding one chunk in RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "kk.h"

#define OUT_BUF_BYTES (1u << 20)

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;		/* sticky -ENOMEM */
};

struct wtensor {
	char name[GGUF_MAX_NAME];
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t size;
	uint64_t offset;	/* in the data section, set at begin */
	void *data;		/* owned copy, or NULL when streamed */
};

enum wstate { W_BUILDING, W_STREAMING, W_DONE, W_FAILED };

struct gguf_writer {
	struct wbuf kvs;	/* serialized key/value pairs */
	uint64_t n_kv;
	char **keys;
	uint64_t keys_cap;
	struct wtensor *t;
	uint64_t n_t, cap_t;
	uint32_t alignment;
	enum wstate state;
	/* streaming */
	int fd;			/* -1: output goes to mem */
	struct wbuf out;	/* pending bytes for fd, or the whole file */
	uint64_t cur;		/* tensor being streamed */
	uint64_t cur_done;	/* its bytes so far */
};

static int wb_reserve(struct wbuf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->err)
		return b->err;
	if (n <= b->cap - b->len)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return b->err = -ENOMEM;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		return b->err = -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void wb_put(struct wbuf *b, const void *data, size_t n)
{
	if (!n || wb_reserve(b, n))
		return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void wb_u32(struct wbuf *b, uint32_t v)
{
	wb_put(b, &v, 4);
}

static void wb_u64(struct wbuf *b, uint64_t v)
{
	wb_put(b, &v, 8);
}

static void wb_str(struct wbuf *b, const char *s, uint64_t n)
{
	if (n > SIZE_MAX) {
		b->err = -ENOMEM;
		return;
	}
	wb_u64(b, n);
	wb_put(b, s, (size_t)n);
}

static uint64_t align_up(uint64_t x, uint32_t a)
{
	return (x + a - 1) / a * a;
}

struct gguf_writer *gguf_writer_new(void)
{
	struct gguf_writer *w = calloc(1, sizeof(*w));

	if (w) {
		w->alignment = GGUF_DEFAULT_ALIGNMENT;
		w->fd = -1;
	}
	return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
	uint64_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_kv; i++)
		free(w->keys[i]);
	free(w->keys);
	for (i = 0; i < w->n_t; i++)
		free(w->t[i].data);
	free(w->t);
	free(w->kvs.p);
	free(w->out.p);
	free(w);
}

int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment)
{
	if (w->state != W_BUILDING)
		return -EINVAL;
	if (!alignment || (alignment & (alignment - 1)) || alignment > (1u << 30))
		return -EINVAL;
	w->alignment = alignment;
	return 0;
}

/* Check a new key and remember it; the caller then serializes the value. */
static int claim_key(struct gguf_writer *w, const char *key, uint64_t len)
{
	uint64_t i;
	char *copy;

	if (w->state != W_BUILDING || !key)
		return -EINVAL;
	if (!len || len > GGUF_MAX_KEY || memchr(key, 0, len))
		return -EINVAL;
	for (i = 0; i < w->n_kv; i++)
		if (strlen(w->keys[i]) == len && !memcmp(w->keys[i], key, len))
			return -EEXIST;
	if (w->n_kv == w->keys_cap) {
		uint64_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
		char **k = realloc(w->keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		w->keys = k;
		w->keys_cap = cap;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, key, len);
	copy[len] = 0;
	w->keys[w->n_kv++] = copy;
	wb_str(&w->kvs, key, len);
	return w->kvs.err;
}

/* general.alignment is the writer's own business: route it there. */
static int is_alignment_key(const char *key)
{
	return key && !strcmp(key, "general.alignment");
}

static int alignment_from_scalar(struct gguf_writer *w, uint32_t type,
				 const void *val)
{
	uint32_t a;

	if (type != GGUF_TYPE_UINT32)
		return -EINVAL;
	memcpy(&a, val, 4);
	return gguf_writer_set_alignment(w, a);
}

int gguf_writer_add_scalar(struct gguf_writer *w, const char *key,
			   uint32_t type, const void *val)
{
	size_t n = gguf_type_size(type);
	uint8_t b;
	int r;

	if (!n || !val)
		return -EINVAL;
	if (is_alignment_key(key))
		return alignment_from_scalar(w, type, val);
	r = claim_key(w, key, key ? strlen(key) : 0);
	if (r)
		return r;
	wb_u32(&w->kvs, type);
	if (type == GGUF_TYPE_BOOL) {
		b = *(const uint8_t *)val != 0;
		val = &b;
	}
	wb_put(&w->kvs, val, n);
	return w->kvs.err;
}

#define GGUF_ADD_SCALAR(fn, ctype, gtype)				\
int gguf_writer_add_##fn(struct gguf_writer *w, const char *key, ctype v) \
{									\
	return gguf_writer_add_scalar(w, key, gtype, &v);		\
}

GGUF_ADD_SCALAR(u8, uint8_t, GGUF_TYPE_UINT8)
GGUF_ADD_SCALAR(i8, int8_t, GGUF_TYPE_INT8)
GGUF_ADD_SCALAR(u16, uint16_t, GGUF_TYPE_UINT16)
GGUF_ADD_SCALAR(i16, int16_t, GGUF_TYPE_INT16)
GGUF_ADD_SCALAR(u32, uint32_t, GGUF_TYPE_UINT32)
GGUF_ADD_SCALAR(i32, int32_t, GGUF_TYPE_INT32)
GGUF_ADD_SCALAR(f32, float, GGUF_TYPE_FLOAT32)
GGUF_ADD_SCALAR(u64, uint64_t, GGUF_TYPE_UINT64)
GGUF_ADD_SCALAR(i64, int64_t, GGUF_TYPE_INT64)
GGUF_ADD_SCALAR(f64, double, GGUF_TYPE_FLOAT64)

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, int v)
{
	uint8_t b = v != 0;

	return gguf_writer_add_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_writer_add_strn(struct gguf_writer *w, const char *key,
			 const char *s, uint64_t len)
{
	int r;

	if (!s && len)
		return -EINVAL;
	if (is_alignment_key(key))
		return -EINVAL;
	r = claim_key(w, key, key ? strlen(key) : 0);
	if (r)
		return r;
	wb_u32(&w->kvs, GGUF_TYPE_STRING);
	wb_str(&w->kvs, s, len);
	return w->kvs.err;
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s)
{
	if (!s)
		return -EINVAL;
	return gguf_writer_add_strn(w, key, s, strlen(s));
}

int gguf_writer_add_arr(struct gguf_writer *w, const char *key,
			uint32_t elem_type, const void *data, uint64_t n)
{
	size_t esz = gguf_type_size(elem_type);
	uint64_t bytes, i;
	int r;

	if (!esz || (!data && n) || is_alignment_key(key) ||
	    __builtin_mul_overflow(n, (uint64_t)esz, &bytes) || bytes > SIZE_MAX)
		return -EINVAL;
	r = claim_key(w, key, key ? strlen(key) : 0);
	if (r)
		return r;
	wb_u32(&w->kvs, GGUF_TYPE_ARRAY);
	wb_u32(&w->kvs, elem_type);
	wb_u64(&w->kvs, n);
	if (elem_type != GGUF_TYPE_BOOL) {
		wb_put(&w->kvs, data, (size_t)bytes);
		return w->kvs.err;
	}
	for (i = 0; i < n; i++) {
		uint8_t b = ((const uint8_t *)data)[i] != 0;

		wb_put(&w->kvs, &b, 1);
	}
	return w->kvs.err;
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key,
			    const char *const *strs, const uint64_t *lens,
			    uint64_t n)
{
	uint64_t i;
	int r;

	if ((!strs && n) || is_alignment_key(key))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!strs[i] && (!lens || lens[i]))
			return -EINVAL;
	r = claim_key(w, key, key ? strlen(key) : 0);
	if (r)
		return r;
	wb_u32(&w->kvs, GGUF_TYPE_ARRAY);
	wb_u32(&w->kvs, GGUF_TYPE_STRING);
	wb_u64(&w->kvs, n);
	for (i = 0; i < n; i++)
		wb_str(&w->kvs, strs[i], lens ? lens[i] : strlen(strs[i]));
	return w->kvs.err;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *g,
			uint64_t idx)
{
	const char *key = gguf_kv_key(g, idx);
	uint32_t type = gguf_kv_type(g, idx);
	uint64_t len = 0;
	const void *raw = gguf_kv_raw(g, idx, &len);
	int r;

	if (!key || !raw || len > SIZE_MAX)
		return -EINVAL;
	if (is_alignment_key(key))
		return alignment_from_scalar(w, type, raw);
	r = claim_key(w, key, strlen(key));
	if (r)
		return r;
	wb_u32(&w->kvs, type);
	wb_put(&w->kvs, raw, (size_t)len);
	return w->kvs.err;
}

/* ------------------------------------------------------------------ */
/* Tensors                                                             */

static int check_shape(uint32_t n_dims, const uint64_t *ne, uint64_t *n_elems)
{
	uint32_t d;

	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
		return -EINVAL;
	*n_elems = 1;
	for (d = 0; d < n_dims; d++)
		if (ne[d] > INT64_MAX ||
		    __builtin_mul_overflow(*n_elems, ne[d], n_elems) ||
		    *n_elems > INT64_MAX)
			return -EINVAL;
	return 0;
}

static int add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
		      uint32_t n_dims, const uint64_t *ne, uint64_t size,
		      const void *data)
{
	struct wtensor *t;
	size_t len;
	uint64_t i;

	if (w->state != W_BUILDING || !name)
		return -EINVAL;
	len = strlen(name);
	if (!len || len >= GGUF_MAX_NAME || w->n_t >= GGUF_MAX_TENSORS)
		return -EINVAL;
	for (i = 0; i < w->n_t; i++)
		if (!strcmp(w->t[i].name, name))
			return -EEXIST;
	if (w->n_t == w->cap_t) {
		uint64_t cap = w->cap_t ? w->cap_t * 2 : 64;

		t = realloc(w->t, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		w->t = t;
		w->cap_t = cap;
	}
	t = &w->t[w->n_t];
	memset(t, 0, sizeof(*t));
	memcpy(t->name, name, len + 1);
	t->type = type;
	t->n_dims = n_dims;
	for (i = 0; i < GGUF_MAX_DIMS; i++)
		t->ne[i] = i < n_dims ? ne[i] : 1;
	t->size = size;
	if (data && size) {
		if (size > SIZE_MAX || !(t->data = malloc((size_t)size)))
			return -ENOMEM;
		memcpy(t->data, data, (size_t)size);
	}
	return (int)w->n_t++;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
			   uint32_t type, uint32_t n_dims, const uint64_t *ne,
			   const void *data)
{
	uint64_t n, row, size = 0;

	if (check_shape(n_dims, ne, &n))
		return -EINVAL;
	if (!kk_type_block_elems(type))
		return -ENOTSUP;
	if (ne[0] % kk_type_block_elems(type))
		return -EINVAL;
	if (n) {
		row = kk_row_bytes(type, ne[0]);
		if (!row || __builtin_mul_overflow(row, n / ne[0], &size))
			return -EINVAL;
	}
	return add_tensor(w, name, type, n_dims, ne, size, data);
}

int gguf_writer_add_tensor_raw(struct gguf_writer *w, const char *name,
			       uint32_t type, uint32_t n_dims,
			       const uint64_t *ne, uint64_t size,
			       const void *data)
{
	uint64_t n;

	if (check_shape(n_dims, ne, &n) || size > INT64_MAX)
		return -EINVAL;
	return add_tensor(w, name, type, n_dims, ne, size, data);
}

uint64_t gguf_writer_tensor_size(const struct gguf_writer *w, uint64_t idx)
{
	return idx < w->n_t ? w->t[idx].size : 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static uint64_t alignment_kv_bytes(const struct gguf_writer *w)
{
	static const size_t keylen = sizeof("general.alignment") - 1;

	return w->alignment == GGUF_DEFAULT_ALIGNMENT ? 0 : 8 + keylen + 4 + 4;
}

static uint64_t header_bytes(const struct gguf_writer *w)
{
	uint64_t n = 4 + 4 + 8 + 8 + w->kvs.len + alignment_kv_bytes(w), i;

	for (i = 0; i < w->n_t; i++)
		n += 8 + strlen(w->t[i].name) + 4 + 8ull * w->t[i].n_dims + 4 + 8;
	return n;
}

uint64_t gguf_writer_total_size(const struct gguf_writer *w)
{
	uint64_t n = align_up(header_bytes(w), w->alignment), i;

	for (i = 0; i < w->n_t; i++)
		n += align_up(w->t[i].size, w->alignment);
	return n;
}

static int flush_out(struct gguf_writer *w)
{
	size_t done = 0;

	if (w->fd < 0)
		return w->out.err;
	while (done < w->out.len) {
		ssize_t k = write(w->fd, w->out.p + done, w->out.len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		done += (size_t)k;
	}
	w->out.len = 0;
	return 0;
}

/* Append to the output; for a file, flush when the buffer fills. */
static int emit(struct gguf_writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	int r;

	while (n) {
		size_t k = n;

		if (w->fd >= 0 && k > OUT_BUF_BYTES - w->out.len)
			k = OUT_BUF_BYTES - w->out.len;
		wb_put(&w->out, b, k);
		if (w->out.err)
			return w->out.err;
		if (w->fd >= 0 && w->out.len == OUT_BUF_BYTES) {
			r = flush_out(w);
			if (r)
				return r;
		}
		b += k;
		n -= k;
	}
	return 0;
}

static int emit_zeros(struct gguf_writer *w, uint64_t n)
{
	static const uint8_t zeros[64];
	int r = 0;

	while (n && !r) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		r = emit(w, zeros, k);
		n -= k;
	}
	return r;
}

static int emit_header(struct gguf_writer *w)
{
	struct wbuf h = { 0 };
	uint64_t off = 0, i, d;
	int r;

	wb_u32(&h, GGUF_MAGIC);
	wb_u32(&h, GGUF_VERSION);
	wb_u64(&h, w->n_t);
	wb_u64(&h, w->n_kv + (alignment_kv_bytes(w) ? 1 : 0));
	wb_put(&h, w->kvs.p, w->kvs.len);
	if (alignment_kv_bytes(w)) {
		wb_str(&h, "general.alignment", strlen("general.alignment"));
		wb_u32(&h, GGUF_TYPE_UINT32);
		wb_u32(&h, w->alignment);
	}
	for (i = 0; i < w->n_t; i++) {
		struct wtensor *t = &w->t[i];

		t->offset = off;
		off += align_up(t->size, w->alignment);
		wb_str(&h, t->name, strlen(t->name));
		wb_u32(&h, t->n_dims);
		for (d = 0; d < t->n_dims; d++)
			wb_u64(&h, t->ne[d]);
		wb_u32(&h, t->type);
		wb_u64(&h, t->offset);
	}
	r = h.err;
	if (!r)
		r = emit(w, h.p, h.len);
	if (!r)
		r = emit_zeros(w, align_up(h.len, w->alignment) - h.len);
	free(h.p);
	return r;
}

/* Pad finished tensors and skip empty ones. */
static int advance(struct gguf_writer *w)
{
	int r = 0;

	while (!r && w->cur < w->n_t && w->cur_done == w->t[w->cur].size) {
		struct wtensor *t = &w->t[w->cur];

		r = emit_zeros(w, align_up(t->size, w->alignment) - t->size);
		w->cur++;
		w->cur_done = 0;
	}
	return r;
}

static int fail(struct gguf_writer *w, int r)
{
	if (r)
		w->state = W_FAILED;
	return r;
}

static int begin_sink(struct gguf_writer *w, int fd)
{
	int r;

	if (w->state != W_BUILDING)
		return -EINVAL;
	if (w->kvs.err)
		return fail(w, w->kvs.err);
	w->fd = fd;
	w->state = W_STREAMING;
	w->cur = 0;
	w->cur_done = 0;
	r = emit_header(w);
	if (!r)
		r = advance(w);
	return fail(w, r);
}

int gguf_writer_begin(struct gguf_writer *w, int fd)
{
	if (fd < 0)
		return -EBADF;
	return begin_sink(w, fd);
}

int gguf_writer_stream(struct gguf_writer *w, const void *data, size_t n)
{
	const uint8_t *p = data;
	int r;

	if (w->state != W_STREAMING || (!data && n))
		return -EINVAL;
	while (n) {
		uint64_t room;
		size_t k;

		if (w->cur >= w->n_t)
			return fail(w, -EINVAL);	/* more data than declared */
		room = w->t[w->cur].size - w->cur_done;
		k = n < room ? n : (size_t)room;
		r = emit(w, p, k);
		if (r)
			return fail(w, r);
		w->cur_done += k;
		p += k;
		n -= k;
		r = advance(w);
		if (r)
			return fail(w, r);
	}
	return 0;
}

int gguf_writer_end(struct gguf_writer *w)
{
	if (w->state != W_STREAMING)
		return -EINVAL;
	if (w->cur != w->n_t)
		return fail(w, -EINVAL);	/* some tensor is short */
	w->state = W_DONE;
	return fail(w, flush_out(w));
}

/* Stream every tensor's own data. */
static int stream_all(struct gguf_writer *w)
{
	uint64_t i;
	int r;

	for (i = 0; i < w->n_t; i++) {
		if (w->t[i].size && !w->t[i].data)
			return fail(w, -EINVAL);
		r = gguf_writer_stream(w, w->t[i].data, (size_t)w->t[i].size);
		if (r)
			return r;
	}
	return gguf_writer_end(w);
}

int gguf_writer_write_file(struct gguf_writer *w, const char *path)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = gguf_writer_begin(w, fd);
	if (!r)
		r = stream_all(w);
	if (close(fd) < 0 && !r)
		r = -errno;
	w->fd = -1;
	if (r)
		unlink(path);
	return r;
}

int gguf_writer_to_mem(struct gguf_writer *w, void **buf, size_t *size)
{
	int r = begin_sink(w, -1);

	if (!r)
		r = stream_all(w);
	if (r)
		return r;
	*buf = w->out.p;
	*size = w->out.len;
	w->out.p = NULL;
	w->out.len = w->out.cap = 0;
	return 0;
}
