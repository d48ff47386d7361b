// SPDX-License-Identifier: MIT
/*
 * gguf_kv.c - access to a parsed GGUF file: its key/value pairs, typed,
 * and its tensors.
 *
 * Everything here reads values the parser already bounds-checked.  Values
 * in the file may be unaligned, so they are read with memcpy.  Integer
 * getters convert between widths and signedness because GGUF writers
 * disagree on them (u32 vs i32 vs u64 for the same key), refusing values
 * that do not fit.
 */
#include <errno.h>
#include <float.h>
#include <string.h>

#include "gguf.h"
#include "gguf_int.h"
#include "kk.h"

/* An integer value of any GGUF integer type. */
struct ival {
	int is_signed;
	uint64_t u;
	int64_t i;
};

static int load_int(uint32_t type, const uint8_t *p, struct ival *v)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	int8_t i8;
	int16_t i16;
	int32_t i32;

	v->is_signed = 0;
	v->u = 0;
	v->i = 0;
	switch (type) {
	case GGUF_TYPE_UINT8:
		memcpy(&u8, p, 1);
		v->u = u8;
		return 0;
	case GGUF_TYPE_UINT16:
		memcpy(&u16, p, 2);
		v->u = u16;
		return 0;
	case GGUF_TYPE_UINT32:
		memcpy(&u32, p, 4);
		v->u = u32;
		return 0;
	case GGUF_TYPE_UINT64:
		memcpy(&v->u, p, 8);
		return 0;
	}
	v->is_signed = 1;
	switch (type) {
	case GGUF_TYPE_INT8:
		memcpy(&i8, p, 1);
		v->i = i8;
		return 0;
	case GGUF_TYPE_INT16:
		memcpy(&i16, p, 2);
		v->i = i16;
		return 0;
	case GGUF_TYPE_INT32:
		memcpy(&i32, p, 4);
		v->i = i32;
		return 0;
	case GGUF_TYPE_INT64:
		memcpy(&v->i, p, 8);
		return 0;
	}
	return -EINVAL;
}

static int ival_u64(const struct ival *v, uint64_t *out)
{
	if (v->is_signed && v->i < 0)
		return -ERANGE;
	*out = v->is_signed ? (uint64_t)v->i : v->u;
	return 0;
}

static int ival_i64(const struct ival *v, int64_t *out)
{
	if (!v->is_signed && v->u > INT64_MAX)
		return -ERANGE;
	*out = v->is_signed ? v->i : (int64_t)v->u;
	return 0;
}

static int load_f64(uint32_t type, const uint8_t *p, double *out)
{
	float f;

	if (type == GGUF_TYPE_FLOAT32) {
		memcpy(&f, p, 4);
		*out = f;
		return 0;
	}
	if (type == GGUF_TYPE_FLOAT64) {
		memcpy(out, p, 8);
		return 0;
	}
	return -EINVAL;
}

static int f64_to_f32(double d, float *out)
{
	/* NaN and infinities convert as themselves; finite overflow does not. */
	if (d == d && (d > FLT_MAX || d < -FLT_MAX) && d - d == 0)
		return -ERANGE;
	*out = (float)d;
	return 0;
}

int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out)
{
	const struct gguf_kv_ent *kv;
	struct ival v;
	int r;

	kv = gguf_int_kv(g, key, &r);
	if (!kv)
		return r;
	r = load_int(kv->type, kv->val, &v);
	return r ? r : ival_u64(&v, out);
}

int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out)
{
	const struct gguf_kv_ent *kv;
	struct ival v;
	int r;

	kv = gguf_int_kv(g, key, &r);
	if (!kv)
		return r;
	r = load_int(kv->type, kv->val, &v);
	return r ? r : ival_i64(&v, out);
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out)
{
	uint64_t v = 0;
	int r = gguf_get_u64(g, key, &v);

	if (r)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out)
{
	int64_t v = 0;
	int r = gguf_get_i64(g, key, &v);

	if (r)
		return r;
	if (v > INT32_MAX || v < INT32_MIN)
		return -ERANGE;
	*out = (int32_t)v;
	return 0;
}

int gguf_get_f64(const struct gguf *g, const char *key, double *out)
{
	const struct gguf_kv_ent *kv;
	int r;

	kv = gguf_int_kv(g, key, &r);
	if (!kv)
		return r;
	return load_f64(kv->type, kv->val, out);
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out)
{
	double d = 0;
	int r = gguf_get_f64(g, key, &d);

	return r ? r : f64_to_f32(d, out);
}

int gguf_get_bool(const struct gguf *g, const char *key, int *out)
{
	const struct gguf_kv_ent *kv;
	int r;

	kv = gguf_int_kv(g, key, &r);
	if (!kv)
		return r;
	if (kv->type != GGUF_TYPE_BOOL)
		return -EINVAL;
	*out = kv->val[0] != 0;
	return 0;
}

static void load_str(const uint8_t *p, struct gguf_str *out)
{
	memcpy(&out->n, p, 8);
	out->s = (const char *)p + 8;
}

int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out)
{
	const struct gguf_kv_ent *kv;
	int r;

	kv = gguf_int_kv(g, key, &r);
	if (!kv)
		return r;
	if (kv->type != GGUF_TYPE_STRING)
		return -EINVAL;
	load_str(kv->val, out);
	return 0;
}

int64_t gguf_get_arr(const struct gguf *g, const char *key,
		     uint32_t *elem_type, uint64_t *n)
{
	int64_t i = gguf_find_kv(g, key);
	int r;

	if (i < 0)
		return i;
	r = gguf_arr_info(g, (uint64_t)i, elem_type, n);
	return r ? r : i;
}

static const struct gguf_kv_ent *arr_at(const struct gguf *g, uint64_t idx)
{
	const struct gguf_kv_ent *kv;

	if (idx >= gguf_n_kv(g))
		return NULL;
	kv = &g->kv[idx];
	return kv->type == GGUF_TYPE_ARRAY ? kv : NULL;
}

int gguf_arr_info(const struct gguf *g, uint64_t idx, uint32_t *elem_type,
		  uint64_t *n)
{
	const struct gguf_kv_ent *kv = arr_at(g, idx);

	if (!kv)
		return -EINVAL;
	if (elem_type)
		*elem_type = kv->arr_type;
	if (n)
		*n = kv->arr_n;
	return 0;
}

int gguf_arr_str(const struct gguf *g, uint64_t idx, uint64_t i,
		 struct gguf_str *out)
{
	const struct gguf_kv_ent *kv = arr_at(g, idx);

	if (!kv || kv->arr_type != GGUF_TYPE_STRING)
		return -EINVAL;
	if (i >= kv->arr_n)
		return -ERANGE;
	load_str(kv->val + kv->str_off[i], out);
	return 0;
}

const void *gguf_arr_data(const struct gguf *g, uint64_t idx)
{
	const struct gguf_kv_ent *kv = arr_at(g, idx);

	if (!kv || kv->arr_type == GGUF_TYPE_STRING)
		return NULL;
	return kv->val;
}

int gguf_arr_copy_f32(const struct gguf *g, uint64_t idx, float *dst, uint64_t n)
{
	const struct gguf_kv_ent *kv = arr_at(g, idx);
	size_t esz;
	uint64_t i;
	double d;
	int r;

	if (!kv || (kv->arr_type != GGUF_TYPE_FLOAT32 &&
		    kv->arr_type != GGUF_TYPE_FLOAT64))
		return -EINVAL;
	if (n != kv->arr_n)
		return -ERANGE;
	if (kv->arr_type == GGUF_TYPE_FLOAT32) {
		memcpy(dst, kv->val, n * 4);
		return 0;
	}
	esz = gguf_type_size(kv->arr_type);
	for (i = 0; i < n; i++) {
		load_f64(kv->arr_type, kv->val + i * esz, &d);
		r = f64_to_f32(d, &dst[i]);
		if (r)
			return r;
	}
	return 0;
}

int gguf_arr_copy_i32(const struct gguf *g, uint64_t idx, int32_t *dst, uint64_t n)
{
	const struct gguf_kv_ent *kv = arr_at(g, idx);
	struct ival v = { 0 };
	int64_t x = 0;
	size_t esz;
	uint64_t i;

	if (!kv)
		return -EINVAL;
	esz = gguf_type_size(kv->arr_type);
	if (!esz || kv->arr_type == GGUF_TYPE_FLOAT32 ||
	    kv->arr_type == GGUF_TYPE_FLOAT64 || kv->arr_type == GGUF_TYPE_BOOL)
		return -EINVAL;
	if (n != kv->arr_n)
		return -ERANGE;
	for (i = 0; i < n; i++) {
		load_int(kv->arr_type, kv->val + i * esz, &v);
		if (ival_i64(&v, &x) || x > INT32_MAX || x < INT32_MIN)
			return -ERANGE;
		dst[i] = (int32_t)x;
	}
	return 0;
}

uint32_t gguf_version(const struct gguf *g)
{
	return g->version;
}

uint32_t gguf_alignment(const struct gguf *g)
{
	return g->alignment;
}

const void *gguf_file_base(const struct gguf *g)
{
	return g->base;
}

uint64_t gguf_file_size(const struct gguf *g)
{
	return g->size;
}

uint64_t gguf_data_offset(const struct gguf *g)
{
	return g->data_off;
}

uint64_t gguf_n_kv(const struct gguf *g)
{
	return g->n_kv;
}

/* Binary search over names sorted by strcmp; -ENOENT if absent. */
static int64_t bsearch_name(const struct gguf *g, const uint32_t *sorted,
			    uint64_t n, const char *name,
			    const char *(*name_of)(const struct gguf *, uint64_t))
{
	uint64_t lo = 0, hi = n;

	if (!sorted || !name)
		return -ENOENT;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int d = strcmp(name, name_of(g, sorted[mid]));

		if (!d)
			return sorted[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

int64_t gguf_find_kv(const struct gguf *g, const char *key)
{
	return bsearch_name(g, g->kv_sorted, g->n_kv, key, gguf_int_kv_name);
}

const char *gguf_kv_key(const struct gguf *g, uint64_t idx)
{
	return idx < g->n_kv ? gguf_int_kv_name(g, idx) : NULL;
}

uint32_t gguf_kv_type(const struct gguf *g, uint64_t idx)
{
	return idx < g->n_kv ? g->kv[idx].type : GGUF_TYPE_COUNT;
}

const void *gguf_kv_raw(const struct gguf *g, uint64_t idx, uint64_t *len)
{
	if (idx >= g->n_kv)
		return NULL;
	*len = g->kv[idx].raw_len;
	return g->kv[idx].raw;
}

const struct gguf_kv_ent *gguf_int_kv(const struct gguf *g, const char *key,
				      int *err)
{
	int64_t i = gguf_find_kv(g, key);

	if (i < 0) {
		*err = -ENOENT;
		return NULL;
	}
	*err = 0;
	return &g->kv[i];
}

uint64_t gguf_n_tensors(const struct gguf *g)
{
	return g->n_tensors;
}

int64_t gguf_find_tensor(const struct gguf *g, const char *name)
{
	return bsearch_name(g, g->t_sorted, g->n_tensors, name, gguf_int_tensor_name);
}

int gguf_tensor_at(const struct gguf *g, uint64_t idx,
		   struct gguf_tensor_info *ti, char *err, size_t errlen)
{
	const struct gguf_tensor_ent *t;

	if (idx >= g->n_tensors) {
		gguf_errf(err, errlen, "tensor index %llu out of range (%llu tensors)",
			  (unsigned long long)idx, (unsigned long long)g->n_tensors);
		return -EINVAL;
	}
	t = &g->t[idx];
	memset(ti, 0, sizeof(*ti));
	ti->name = gguf_int_tensor_name(g, idx);
	ti->type = t->type;
	ti->n_dims = t->n_dims;
	memcpy(ti->ne, t->ne, sizeof(ti->ne));
	ti->n_elems = t->n_elems;
	ti->offset = t->offset;
	ti->file_offset = g->data_off + t->offset;
	if (!kk_type_block_elems(t->type)) {
		gguf_errf(err, errlen, "tensor %s: type %u (%s) is not supported",
			  ti->name, t->type, gguf_tensor_type_name(t->type));
		return -ENOTSUP;
	}
	ti->size = t->size;
	ti->data = g->base + ti->file_offset;
	return 0;
}

int gguf_get_tensor(const struct gguf *g, const char *name,
		    struct gguf_tensor_info *ti, char *err, size_t errlen)
{
	int64_t i = gguf_find_tensor(g, name);

	if (i < 0) {
		gguf_errf(err, errlen, "no tensor named %s", name ? name : "(null)");
		return -ENOENT;
	}
	return gguf_tensor_at(g, (uint64_t)i, ti, err, errlen);
}
