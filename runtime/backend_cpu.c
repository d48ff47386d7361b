// SPDX-License-Identifier: MIT
/*
 * backend_cpu.c - the CPU backend (backend.h): the program runs in this
 * process (engine_cpu.c) on the context's own thread pool, activation
 * arena and scratch; KV memory is a pool of blocks of ours (kv_cpu.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"
#include "cpu.h"
#include "engine_cpu.h"
#include "kllm_prog_lower.h"
#include "kv_cpu.h"
#include "pool.h"

struct cpu_backend {
	struct kllm_backend base;
	const struct kllm_backend_env *env;
	const struct kllm_compiled *c;
	uint32_t n_seqs;
	struct kllm_pool *pool;
	struct kv_cpu *kv;
	int no_lookup;		/* KLLM_PREFIX_CACHE=0 */
	const struct kllm_prog_mem *kv_pool;	/* the pass's: kv_cpu_prepare's */
	const struct kllm_prog_table *tables;
	void *act;
	float *logits;		/* max_batch rows, for callers' misaligned outputs */
	void *scratch;
	uint64_t scratch_size;
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	/* The program's largest attention, for sizing a pass (has_attn). */
	struct kk_op attn;
	int has_attn;
	uint64_t pass_attn_bytes;	/* PASS_ATTN_BYTES, or KLLM_PASS_ATTN_BYTES */
};

#define CPU(b) ((struct cpu_backend *)(b))

static int __attribute__((format(printf, 3, 4)))
cpu_fail(struct cpu_backend *cb, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cb->env->err, cb->env->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/*
 * Zeroed memory, 64-byte aligned.  Big buffers (activations, scratch, KV
 * caches, logits) are sized for the worst case (max_batch, n_ctx) but
 * mostly used far less: they come from mmap, whose pages stay unallocated
 * (zero) until touched, so only what a run uses becomes resident.
 */
#define BIG_ALLOC (1u << 20)

static void *alloc_zero(uint64_t n)
{
	void *p = NULL;

	if (n > SIZE_MAX)
		return NULL;
	if (n >= BIG_ALLOC) {
		p = mmap(NULL, (size_t)n, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	if (posix_memalign(&p, 64, n ? (size_t)n : 64))
		return NULL;
	memset(p, 0, (size_t)n);
	return p;
}

static void free_zero(void *p, uint64_t n)
{
	if (p && n >= BIG_ALLOC)
		munmap(p, (size_t)n);
	else
		free(p);
}

/*
 * Attention keeps a partial result per (row, span of positions, head) in
 * the scratch until its rows are combined, so a big batch deep into a long
 * context touches a lot of it: 256 rows at 2048 positions of a 1.1B model,
 * 138 MB.  Such a batch runs as consecutive passes of at most this many
 * bytes of partials.  kllm is batch-invariant, so the bits are the same.
 */
#define PASS_ATTN_BYTES (16ull << 20)

static void cpu_close(struct kllm_backend *b)
{
	struct cpu_backend *cb = CPU(b);

	if (!cb)
		return;
	free_zero(cb->act, cb->c->act_size);
	free_zero(cb->logits, 4ull * cb->c->n_vocab * cb->c->max_batch);
	free_zero(cb->scratch, cb->scratch_size);
	kv_cpu_destroy(cb->kv);
	kllm_pool_destroy(cb->pool);
	free(cb);
}

/*
 * The KV blocks: a full context for every sequence, and KLLM_PREFIX_CACHE
 * positions (default n_ctx) of cached blocks that no sequence holds.
 */
static int kv_open(struct cpu_backend *cb)
{
	const struct kllm_compiled *c = cb->c;
	const char *s = getenv("KLLM_PREFIX_CACHE");
	unsigned long long idle = c->n_ctx;
	char *end;

	if (cb->env->info->n_kv != 1)
		return cpu_fail(cb, -EINVAL, "KV: %u KV buffers, expected one",
				cb->env->info->n_kv);
	if (s && *s) {
		idle = strtoull(s, &end, 10);
		if (*end || idle > UINT32_MAX)
			return cpu_fail(cb, -EINVAL, "KLLM_PREFIX_CACHE=%s: expected a "
					"number of positions", s);
	}
	cb->no_lookup = !idle;
	return kv_cpu_create(&cb->kv, c, cb->n_seqs, (uint32_t)idle, cb->env->err,
			     cb->env->errlen);
}

/* The in-process engine's memory and threads. */
static int cpu_open(struct kllm_backend **out, const struct kllm_backend_env *env,
		    int want_auto)
{
	const struct kllm_compiled *c = env->prog;
	struct cpu_backend *cb;
	const char *s;
	int ret;

	(void)want_auto;	/* always to be had */
	*out = NULL;
	cb = calloc(1, sizeof(*cb));
	if (!cb)
		return kllm_backend_fail(env, -ENOMEM, "out of memory");
	cb->base.ops = &kllm_backend_cpu_ops;
	cb->env = env;
	cb->c = c;
	cb->n_seqs = env->opts->n_seqs;
	ret = kllm_pool_create(env->opts->n_threads ? env->opts->n_threads :
			       kllm_cpu_count(), &cb->pool);
	if (ret) {
		ret = cpu_fail(cb, ret, "thread pool: %s", strerror(-ret));
		goto fail;
	}
	cb->act = alloc_zero(c->act_size);
	cb->logits = alloc_zero(4ull * c->n_vocab * c->max_batch);
	if (!cb->act || !cb->logits) {
		ret = cpu_fail(cb, -ENOMEM, "out of memory for activations");
		goto fail;
	}
	ret = kv_open(cb);
	if (ret)
		goto fail;
	cb->buf[c->b_weights] = (struct kllm_prog_mem){ (void *)env->m->data,
							c->weights_size };
	cb->buf[c->b_act] = (struct kllm_prog_mem){ cb->act, c->act_size };
	cb->has_attn = !kllm_prog_attn_shape(env->info, &cb->attn);
	cb->pass_attn_bytes = PASS_ATTN_BYTES;
	s = getenv("KLLM_PASS_ATTN_BYTES");	/* tests: force small passes */
	if (s && *s)
		cb->pass_attn_bytes = strtoull(s, NULL, 0);
	*out = &cb->base;
	return 0;
fail:
	cpu_close(&cb->base);
	return ret;
}

static const char *cpu_name(const struct kllm_backend *b)
{
	(void)b;
	return "cpu";
}

static int cpu_seq_clear(struct kllm_backend *b, uint32_t seq)
{
	kv_cpu_clear(CPU(b)->kv, seq);
	return 0;
}

static int cpu_seq_truncate(struct kllm_backend *b, uint32_t seq, uint32_t n_pos)
{
	kv_cpu_truncate(CPU(b)->kv, seq, n_pos);
	return 0;
}

static int cpu_seq_copy(struct kllm_backend *b, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	int ret = kv_cpu_copy(CPU(b)->kv, dst, src, n_pos);

	if (ret == -ENOSPC)
		return cpu_fail(CPU(b), ret, "KV memory full: no block for a copy");
	if (ret)
		return cpu_fail(CPU(b), ret, "copy of %u positions from sequence %u: "
				"it holds fewer", n_pos, src);
	return 0;
}

static int cpu_seq_lookup(struct kllm_backend *b, uint32_t seq, const int32_t *tokens,
			  uint32_t n, uint32_t tag)
{
	if (CPU(b)->no_lookup)
		return 0;
	return (int)kv_cpu_lookup(CPU(b)->kv, seq, tokens, n, tag);
}

static void cpu_kv_stats(struct kllm_backend *b, struct kllm_kv_stats *st)
{
	kv_cpu_stats(CPU(b)->kv, st);
}

/* Scratch for the SIMD path selected now (it may change between runs). */
static int ensure_scratch(struct cpu_backend *cb)
{
	uint64_t need = kllm_prog_scratch_bytes(cb->env->info);

	if (need <= cb->scratch_size && cb->scratch)
		return 0;
	free_zero(cb->scratch, cb->scratch_size);
	cb->scratch_size = 0;
	cb->scratch = alloc_zero(need);
	if (!cb->scratch)
		return cpu_fail(cb, -ENOMEM, "out of memory for scratch");
	cb->scratch_size = need;
	return 0;
}

/*
 * Where a pass writes its @n_out rows of logits that belong at row @o of
 * the caller's @logits: there, when the binding's alignment allows (no
 * copy, and no second resident copy of them), else cb->logits.
 */
static float *out_dest(const struct cpu_backend *cb, float *logits, uint32_t o)
{
	float *p = logits + (uint64_t)o * cb->c->n_vocab;

	return !logits || (uintptr_t)p % KLLM_PROG_BIND_ALIGN ? cb->logits : p;
}

/* One pass of the in-process engine: outputs land in @out. */
static int forward_pass(struct cpu_backend *cb, uint32_t n_tokens, const int32_t *tokens,
			const int32_t *pos, const int32_t *seq_ids, const int32_t *out_rows,
			uint32_t n_out, float *out)
{
	const struct kllm_compiled *c = cb->c;
	struct kllm_prog_bindings bind = { .buf = cb->buf };
	struct kllm_prog_batch batch = {
		.n_tokens = n_tokens, .n_outputs = n_out, .tokens = tokens,
		.pos = pos, .seq = seq_ids, .out_rows = out_rows,
		.n_seqs = cb->n_seqs, .kv_pool = cb->kv_pool, .tables = cb->tables };
	struct kllm_prog_err perr;
	char msg[160];
	int ret;

	ret = ensure_scratch(cb);
	if (ret)
		return ret;
	cb->buf[c->b_logits] = (struct kllm_prog_mem){ out, 4ull * c->n_vocab * n_out };
	bind.scratch = cb->scratch;
	bind.scratch_size = cb->scratch_size;
	ret = kllm_engine_cpu_run(cb->env->info, &bind, &batch, cb->pool, &perr);
	if (ret == -EINVAL) {
		kllm_prog_err_format(&perr, msg, sizeof(msg));
		return cpu_fail(cb, ret, "engine: %s", msg);
	}
	if (ret)
		return cpu_fail(cb, ret, "engine: %s", strerror(-ret));
	return 0;
}

/* Rows per pass for a batch reaching position @max_pos (n if no limit). */
static uint32_t pass_rows(const struct cpu_backend *cb, uint32_t n, int32_t max_pos)
{
	struct kk_op op = cb->attn;
	uint64_t per_row;

	if (!cb->has_attn || n == 1)
		return n;
	op.attention.rows = 1;
	if (!op.attention.max_ctx || (uint32_t)max_pos + 1 < op.attention.max_ctx)
		op.attention.max_ctx = (uint32_t)max_pos + 1;
	per_row = kk_op_scratch_size(&op);
	if (!per_row || (uint64_t)n * per_row <= cb->pass_attn_bytes)
		return n;
	return cb->pass_attn_bytes / per_row ?
	       (uint32_t)(cb->pass_attn_bytes / per_row) : 1;
}

/*
 * Can rows [0, r) run before rows [r, n) for every r?  Only if each
 * sequence's positions rise with the row index: then no row attends to a
 * position a later row stores.
 */
static int rows_rise(const struct cpu_backend *cb, uint32_t n, const int32_t *pos,
		     const int32_t *seq)
{
	int32_t *last = malloc(4ull * cb->n_seqs);
	int ok = last != NULL;

	for (uint32_t s = 0; ok && s < cb->n_seqs; s++)
		last[s] = -1;
	for (uint32_t i = 0; ok && i < n; i++) {
		ok = pos[i] > last[seq[i]];
		last[seq[i]] = pos[i];
	}
	free(last);
	return ok;
}

/* The batch in passes of @per rows; each output's logits to its place
 * (written there when a pass's outputs are consecutive ones). */
static int forward_passes(struct cpu_backend *cb, uint32_t per,
			  const struct kllm_backend_batch *bt, float *logits)
{
	const uint64_t row_bytes = 4ull * cb->c->n_vocab;
	const uint32_t n = bt->n_tokens, n_out = bt->n_out;
	int32_t *rows = malloc(4ull * (n_out ? n_out : 1));
	uint32_t *which = malloc(4ull * (n_out ? n_out : 1));
	int ret = rows && which ? 0 : cpu_fail(cb, -ENOMEM, "out of memory");

	for (uint32_t a = 0; a < n && !ret; a += per) {
		uint32_t len = n - a < per ? n - a : per, k = 0;
		float *out;

		for (uint32_t o = 0; o < n_out; o++) {
			if ((uint32_t)bt->out_rows[o] < a ||
			    (uint32_t)bt->out_rows[o] >= a + len)
				continue;
			rows[k] = bt->out_rows[o] - (int32_t)a;
			which[k++] = o;
		}
		out = k && which[k - 1] - which[0] == k - 1 ? out_dest(cb, logits, which[0]) :
		      cb->logits;
		ret = forward_pass(cb, len, bt->tokens + a, bt->pos + a, bt->seq + a,
				   rows, k, out);
		for (uint32_t j = 0; j < k && !ret && out == cb->logits; j++)
			memcpy((char *)logits + which[j] * row_bytes,
			       (char *)cb->logits + j * row_bytes, row_bytes);
	}
	free(rows);
	free(which);
	return ret;
}

static int forward_rows(struct cpu_backend *cb, const struct kllm_backend_batch *bt,
			float *logits)
{
	float *out = out_dest(cb, logits, 0);
	int32_t max_pos = 0;
	uint32_t per;
	int ret;

	for (uint32_t i = 0; i < bt->n_tokens; i++)
		max_pos = bt->pos[i] > max_pos ? bt->pos[i] : max_pos;
	per = pass_rows(cb, bt->n_tokens, max_pos);
	if (per < bt->n_tokens && rows_rise(cb, bt->n_tokens, bt->pos, bt->seq))
		return forward_passes(cb, per, bt, logits);
	ret = forward_pass(cb, bt->n_tokens, bt->tokens, bt->pos, bt->seq, bt->out_rows,
			   bt->n_out, out);
	if (!ret && bt->n_out && out == cb->logits)
		memcpy(logits, cb->logits, 4ull * cb->c->n_vocab * bt->n_out);
	return ret;
}

/* The batch's blocks made writable, the batch, then its tokens recorded. */
static int cpu_forward(struct kllm_backend *b, const struct kllm_backend_batch *bt,
		       float *logits)
{
	struct cpu_backend *cb = CPU(b);
	int ret;

	ret = kv_cpu_prepare(cb->kv, bt->n_tokens, bt->pos, bt->seq, &cb->kv_pool,
			     &cb->tables);
	if (ret)
		ret = cpu_fail(cb, ret, "KV memory full: no free block");
	else
		ret = forward_rows(cb, bt, logits);
	kv_cpu_commit(cb->kv, bt->n_tokens, bt->tokens, bt->pos, bt->seq, !ret);
	return ret;
}

const struct kllm_backend_ops kllm_backend_cpu_ops = {
	.kind = "cpu",
	.open = cpu_open,
	.close = cpu_close,
	.name = cpu_name,
	.kv_block_shift = 4,	/* 16 positions (KLLM_KV_BLOCK) */
	.seq_clear = cpu_seq_clear,
	.seq_truncate = cpu_seq_truncate,
	.seq_copy = cpu_seq_copy,
	.seq_lookup = cpu_seq_lookup,
	.kv_stats = cpu_kv_stats,
	.forward = cpu_forward,
	.forward_many = NULL,	/* chunk by chunk, so that kllm_abort stops between */
};
