/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shared pieces of kllm-bench: one file per mode (kernels.c, and
 * later pp/tg/batched/submit/compare/serve), helpers in common.c.
 */
#ifndef KLLM_BENCH_H
#define KLLM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "../../kernels/kk.h"
#include "../../runtime/pool.h"

/* A mode: argv[0] is the mode name; returns the process exit status. */
struct bench_mode {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
	void (*usage)(void);
};

int bench_kernels_main(int argc, char **argv);
void bench_kernels_usage(void);

/* ------------------------------------------------------------ shapes */

/* Weight matrices of one transformer layer, in the order a decode runs. */
enum bench_mat { MAT_Q, MAT_K, MAT_V, MAT_O, MAT_GATE, MAT_UP, MAT_DOWN, MAT_COUNT };

struct bench_shape {
	const char *name;	/* "1.1b" */
	const char *model;	/* what it mimics */
	uint32_t n_layer;
	uint32_t d_model;
	uint32_t n_head, n_kv_head, head_dim;
	uint32_t d_ff;
	uint32_t n_vocab;
};

const struct bench_shape *bench_shape_find(const char *name);
const char *bench_shape_names(void);	/* "1.1b|7b|135m" */
/* Rows (n_out) and inner dimension (k) of matrix @mat. */
void bench_mat_dims(const struct bench_shape *s, enum bench_mat mat,
		    uint32_t *n_out, uint32_t *k);
const char *bench_mat_name(enum bench_mat mat);

/* ------------------------------------------------------------ weights */

/* Random but valid weights: values in about [-1, 1], sane block scales. */
void bench_fill_weights(struct kllm_pool *pool, uint32_t type, void *w,
			uint64_t row_bytes, uint32_t k, uint32_t rows, uint64_t seed);
/* Weight types kk supports, by name ("q4_0", "Q4_K" any case); -1 if none. */
int bench_type_parse(const char *name);
/* Lowercase name for reports ("q4_k"). */
const char *bench_type_label(uint32_t type);

/* ------------------------------------------------------------ helpers */

double bench_now(void);			/* monotonic seconds */
void *bench_alloc(size_t bytes);		/* 64-byte aligned, zeroed, or exit */
/* Physical memory available now, bytes (0 if unknown). */
uint64_t bench_mem_available(void);
/* Parse "a,b,c" into @out (at most @max); element parser returns <0 on error. */
int bench_parse_list(const char *s, int (*parse)(const char *), int *out, int max);
int bench_parse_uint(const char *s);	/* >= 0, or -1 */
/* Progress on stderr (quiet with --json? no: stderr is always free). */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read bandwidth of @bytes with the pool's threads, best of @reps: GB/s. */
double bench_read_bw(struct kllm_pool *pool, const void *buf, uint64_t bytes, int reps);

#endif /* KLLM_BENCH_H */
