/* SPDX-License-Identifier: MIT */
/*
 * gguf_int.h - internal: the reader's parsed state, shared by gguf.c (the
 * parser) and gguf_kv.c (typed getters, tensor access).
 */
#ifndef KLLM_GGUF_INT_H
#define KLLM_GGUF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

struct gguf_kv_ent {
	uint64_t key_off;	/* NUL-terminated key in the name arena */
	uint32_t type;
	uint32_t arr_type;
	uint64_t arr_n;
	const uint8_t *raw;	/* value bytes after the type word */
	uint64_t raw_len;
	const uint8_t *val;	/* scalar, string length word, or first element */
	uint64_t *str_off;	/* string arrays: element i's offset from val */
};

struct gguf_tensor_ent {
	uint64_t name_off;	/* in the name arena (which may move) */
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t n_elems;
	uint64_t offset;
	uint64_t size;		/* 0 when kk does not know the type */
};

struct gguf {
	const uint8_t *base;
	uint64_t size;
	int mapped;
	uint32_t version;
	uint32_t alignment;
	uint64_t data_off;
	uint64_t n_kv;
	uint64_t n_tensors;
	struct gguf_kv_ent *kv;
	struct gguf_tensor_ent *t;
	uint32_t *kv_sorted;	/* kv indices sorted by key */
	uint32_t *t_sorted;	/* tensor indices sorted by name */
	char *names;		/* NUL-terminated keys and tensor names */
	uint64_t names_len, names_cap;
};

/* Names live in an arena that grows while parsing: always go through it. */
static inline const char *gguf_int_kv_name(const struct gguf *g, uint64_t i)
{
	return g->names + g->kv[i].key_off;
}

static inline const char *gguf_int_tensor_name(const struct gguf *g, uint64_t i)
{
	return g->names + g->t[i].name_off;
}

/* The kv for a key, or NULL with *err = -ENOENT. */
const struct gguf_kv_ent *gguf_int_kv(const struct gguf *g, const char *key,
				      int *err);
/* snprintf into an optional error buffer. */
void gguf_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* KLLM_GGUF_INT_H */
