/* SPDX-License-Identifier: MIT */
/*
 * gguf.h - reading and writing GGUF files (ggml's model container).
 *
 * The reader maps a file read-only (or takes a caller's buffer) and checks
 * every count, length, offset and dimension against the file size before it
 * uses it, so a corrupt or hostile file yields an error string, never a
 * crash.  Strings in the file are not NUL-terminated: string values come
 * back as (pointer, length).  Keys and tensor names are copied and
 * NUL-terminated.  Only little-endian GGUF v2 and v3 are read.
 *
 * The writer builds a GGUF v3 in memory or streams it to a file descriptor,
 * so a multi-gigabyte model never has to sit in RAM.
 *
 * Functions return 0 (or an index) on success and a negative errno on
 * failure: -EINVAL corrupt file / bad argument, -ENOMEM, -EIO and friends
 * from the OS, -ENOENT missing key or tensor, -ENOTSUP valid but unsupported
 * (e.g. a tensor type the kernels do not know), -ERANGE a value that does
 * not fit the requested C type.
 */
#ifndef KLLM_GGUF_H
#define KLLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#define GGUF_MAGIC 0x46554747u	/* "GGUF" read as little-endian u32 */
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64	/* tensor names are shorter (ggml's GGML_MAX_NAME) */
#define GGUF_MAX_KEY 65535	/* longest key the spec allows */
#define GGUF_MAX_TENSORS (1u << 20)
#define GGUF_MAX_KVS (1u << 20)

/* Value types of key/value pairs (GGUF's gguf_type). */
enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT = 13,
};

/* "u32", "string", "array"...; "?" for an unknown type. */
const char *gguf_type_name(uint32_t type);
/* Bytes of one scalar value of the type; 0 for string, array, unknown. */
size_t gguf_type_size(uint32_t type);
/* ggml's name of a tensor type ("q4_K", "iq2_xxs"), or "?". */
const char *gguf_tensor_type_name(uint32_t type);

/* A string inside the file: not NUL-terminated. */
struct gguf_str {
	const char *s;
	uint64_t n;
};

/* ------------------------------------------------------------------ */
/* Reader                                                              */

struct gguf;

struct gguf_tensor_info {
	const char *name;	/* NUL-terminated copy */
	uint32_t type;		/* ggml type number (enum kk_type for known ones) */
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];	/* ne[0] innermost; unused dims are 1 */
	uint64_t n_elems;
	uint64_t offset;	/* relative to the data section */
	uint64_t file_offset;	/* from the start of the file */
	uint64_t size;		/* bytes; 0 when the type is not supported */
	const void *data;	/* NULL when the type is not supported */
};

/*
 * Map and parse a file.  On failure *out is NULL, a negative errno is
 * returned and err (if not NULL) holds a description naming the problem.
 */
int gguf_open(struct gguf **out, const char *path, char *err, size_t errlen);
/* The same over a caller's buffer, which must outlive the handle. */
int gguf_open_mem(struct gguf **out, const void *buf, size_t size,
		  char *err, size_t errlen);
void gguf_close(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
uint32_t gguf_alignment(const struct gguf *g);
const void *gguf_file_base(const struct gguf *g);
uint64_t gguf_file_size(const struct gguf *g);
/* File offset of the data section (aligned; may equal the file size). */
uint64_t gguf_data_offset(const struct gguf *g);

/* Key/value pairs, in file order. */
uint64_t gguf_n_kv(const struct gguf *g);
/* Index of the key, or -ENOENT. */
int64_t gguf_find_kv(const struct gguf *g, const char *key);
const char *gguf_kv_key(const struct gguf *g, uint64_t idx);
uint32_t gguf_kv_type(const struct gguf *g, uint64_t idx);

/*
 * Typed getters by key: -ENOENT if missing, -EINVAL if the value's type
 * cannot convert, -ERANGE if the value does not fit.  The integer getters
 * accept any GGUF integer type (writers disagree on u32/i32/u64), the
 * float getters f32 or f64.
 */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out);
int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out);
int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out);
int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf *g, const char *key, float *out);
int gguf_get_f64(const struct gguf *g, const char *key, double *out);
int gguf_get_bool(const struct gguf *g, const char *key, int *out);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out);
/*
 * An array: returns its kv index (>= 0) and fills the element type and
 * count, or -ENOENT / -EINVAL (not an array).
 */
int64_t gguf_get_arr(const struct gguf *g, const char *key,
		     uint32_t *elem_type, uint64_t *n);

/* Array access by kv index. */
int gguf_arr_info(const struct gguf *g, uint64_t idx, uint32_t *elem_type,
		  uint64_t *n);
/* Element i of an array of strings. */
int gguf_arr_str(const struct gguf *g, uint64_t idx, uint64_t i,
		 struct gguf_str *out);
/* Raw little-endian elements of a numeric array (maybe unaligned). */
const void *gguf_arr_data(const struct gguf *g, uint64_t idx);
/* Copy n elements (n must equal the array's count) converting to float
 * (from f32/f64) or int32 (from any integer type, range-checked). */
int gguf_arr_copy_f32(const struct gguf *g, uint64_t idx, float *dst, uint64_t n);
int gguf_arr_copy_i32(const struct gguf *g, uint64_t idx, int32_t *dst, uint64_t n);

/* Raw value bytes as stored after the type word (for copying a KV). */
const void *gguf_kv_raw(const struct gguf *g, uint64_t idx, uint64_t *len);

/* Tensors, in file order. */
uint64_t gguf_n_tensors(const struct gguf *g);
/* Index of the tensor, or -ENOENT. */
int64_t gguf_find_tensor(const struct gguf *g, const char *name);
/*
 * Fill *ti for tensor idx.  Returns 0, or -ENOTSUP if its type is not one
 * the kernels support (ti is then filled but size is 0 and data NULL; err
 * names the tensor and its type), or -EINVAL for a bad index.
 */
int gguf_tensor_at(const struct gguf *g, uint64_t idx,
		   struct gguf_tensor_info *ti, char *err, size_t errlen);
/* The same by name; -ENOENT (with a message) if there is no such tensor. */
int gguf_get_tensor(const struct gguf *g, const char *name,
		    struct gguf_tensor_info *ti, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Writer                                                              */

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

/*
 * Alignment of tensor data (power of two, default 32).  A value other than
 * 32 is also recorded as general.alignment (u32).  Call before begin.
 */
int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment);

/*
 * Key/value pairs.  Keys must be unique (-EEXIST), non-empty and at most
 * GGUF_MAX_KEY bytes.  val points to one value of a scalar type, stored
 * little-endian as in the file (bool: one byte 0/1).
 */
int gguf_writer_add_scalar(struct gguf_writer *w, const char *key,
			   uint32_t type, const void *val);
int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, int v);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s);
int gguf_writer_add_strn(struct gguf_writer *w, const char *key,
			 const char *s, uint64_t len);
/* Numeric (or bool) array: n elements of elem_type, raw little-endian. */
int gguf_writer_add_arr(struct gguf_writer *w, const char *key,
			uint32_t elem_type, const void *data, uint64_t n);
/* Array of strings; lens may be NULL for NUL-terminated strings. */
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key,
			    const char *const *strs, const uint64_t *lens,
			    uint64_t n);
/* Copy key/value idx of a reader, under the same key. */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *g,
			uint64_t idx);

/*
 * Declare a tensor.  ne has n_dims (1..4) entries, ne[0] innermost; the
 * type must be one kk knows and ne[0] a multiple of its block size.  data
 * (copied) may be NULL when the data will be streamed.  Returns the
 * tensor's index.
 */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
			   uint32_t type, uint32_t n_dims, const uint64_t *ne,
			   const void *data);
/* The same with an explicit byte size, for types kk does not know. */
int gguf_writer_add_tensor_raw(struct gguf_writer *w, const char *name,
			       uint32_t type, uint32_t n_dims,
			       const uint64_t *ne, uint64_t size,
			       const void *data);
/* Bytes of a declared tensor's data (without padding). */
uint64_t gguf_writer_tensor_size(const struct gguf_writer *w, uint64_t idx);
/* Total file size once everything is written. */
uint64_t gguf_writer_total_size(const struct gguf_writer *w);

/*
 * Streaming: begin writes the header to fd; stream appends tensor data in
 * declaration order (any chunking; padding is inserted between tensors);
 * end checks that every tensor got exactly its bytes.
 */
int gguf_writer_begin(struct gguf_writer *w, int fd);
int gguf_writer_stream(struct gguf_writer *w, const void *data, size_t n);
int gguf_writer_end(struct gguf_writer *w);

/* Whole file at once; every tensor must have been given data. */
int gguf_writer_write_file(struct gguf_writer *w, const char *path);
/* The file in a malloc'd buffer (caller frees). */
int gguf_writer_to_mem(struct gguf_writer *w, void **buf, size_t *size);

#endif /* KLLM_GGUF_H */
