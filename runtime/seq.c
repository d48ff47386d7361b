// SPDX-License-Identifier: MIT
/*
 * seq.c - contexts, sequences and the forward pass (see seq.h) over one
 * backend (backend.h: the CPU's, backend_cpu.c, or the device's,
 * backend_dev.c), chosen once per context by KLLM_ENGINE.  Every backend
 * sees the same checked program (compiled for its KV layout: paged with
 * blocks of KLLM_KV_BLOCK positions, or contiguous) and the same batch
 * checks; the KV memory is the backend's, behind its sequence operations.
 */
#include "seq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu.h"
#include "kllm_prog_check.h"

struct kllm_ctx {
	const struct kllm_model *m;
	struct kllm_compiled prog;
	struct kllm_prog_info info;
	struct kllm_ctx_opts opts;
	struct kllm_backend_env env;	/* what the backend was given */
	struct kllm_backend *be;	/* who runs the passes (NULL: none yet) */
	char err[256];
};

/*
 * The backends KLLM_ENGINE names; auto takes the last that opens, so the
 * most wanted comes last (the CPU, first, always opens).
 */
static const struct kllm_backend_ops *const kllm_backends[] = {
	&kllm_backend_cpu_ops,
	&kllm_backend_dev_ops,
};
#define N_BACKENDS (sizeof(kllm_backends) / sizeof(kllm_backends[0]))

int kllm_backend_fail(const struct kllm_backend_env *env, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(env->err, env->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static int __attribute__((format(printf, 3, 4)))
ctx_fail(struct kllm_ctx *ctx, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	return ret;
}

/* KLLM_ENGINE's names: "cpu, dev or auto". */
static void backend_names(char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < N_BACKENDS && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s, ", kllm_backends[i]->kind);
	if (at >= 2 && at < len)
		buf[at - 2] = 0;
}

/*
 * Positions per KV block for a backend that pages (@shift its default):
 * KLLM_KV_BLOCK=N (a power of two, 16..65536) overrides it; 0 for one that
 * does not.  The block size changes no result, only the memory's grain.
 */
static int block_shift(struct kllm_ctx *ctx, uint32_t shift, uint32_t *out)
{
	const char *e = getenv("KLLM_KV_BLOCK");
	unsigned long v;
	char *end;

	*out = shift;
	if (!shift || !e || !*e)
		return 0;
	v = strtoul(e, &end, 10);
	if (*end || v < (1ul << KLLM_PROG_MIN_BLOCK_SHIFT) ||
	    v > (1ul << KLLM_PROG_MAX_BLOCK_SHIFT) || (v & (v - 1)))
		return ctx_fail(ctx, -EINVAL, "KLLM_KV_BLOCK=%s: expected a power of two "
				"%u..%u", e, 1u << KLLM_PROG_MIN_BLOCK_SHIFT,
				1u << KLLM_PROG_MAX_BLOCK_SHIFT);
	for (*out = 0; (1ul << *out) < v; (*out)++)
		;
	return 0;
}

/*
 * The cache's element type: opts' KLLM_KV_*, or for KLLM_KV_DEFAULT env
 * KLLM_KV_TYPE (f16 or q8_0, llama.cpp's -ctk names), else f16.
 */
static int kv_type(struct kllm_ctx *ctx)
{
	const char *e = getenv("KLLM_KV_TYPE");

	if (ctx->opts.kv_type != KLLM_KV_DEFAULT)
		return 0;
	ctx->opts.kv_type = e && *e ? kllm_kv_type_parse(e) : KLLM_KV_F16;
	if (ctx->opts.kv_type != KLLM_KV_DEFAULT)
		return 0;
	return ctx_fail(ctx, -EINVAL, "KLLM_KV_TYPE=%s: expected f16 or q8_0", e);
}

/* The program for a KV layout, checked (kept if it already is that one). */
static int ctx_compile(struct kllm_ctx *ctx, uint32_t shift)
{
	struct kllm_compile_opts co = { .n_ctx = ctx->opts.n_ctx,
		.max_batch = ctx->opts.max_batch, .kv_block_shift = shift,
		.kv_type = ctx->opts.kv_type };
	const struct kllm_compiled *c = &ctx->prog;
	struct kllm_prog_err perr;
	int ret;

	if (c->img && c->kv_block_shift == shift)
		return 0;
	kllm_compiled_free(&ctx->prog);
	ret = kllm_compile(ctx->m, &co, &ctx->prog, ctx->err, sizeof(ctx->err));
	if (ret)
		return ret;
	if (kllm_prog_check(c->img, c->size, &ctx->info, &perr))
		return ctx_fail(ctx, -EINVAL, "program rejected");
	return 0;
}

/* Compile for @ops's KV layout and open it: as ops->open. */
static int backend_try(struct kllm_ctx *ctx, const struct kllm_backend_ops *ops,
		       int want_auto)
{
	uint32_t shift;
	int ret;

	ret = block_shift(ctx, ops->kv_block_shift, &shift);
	if (!ret)
		ret = ctx_compile(ctx, shift);
	if (!ret)
		ret = ops->open(&ctx->be, &ctx->env, want_auto);
	return ret;
}

/*
 * KLLM_ENGINE=NAME: that backend, or its error saying why not; auto (or
 * unset): from the last backend to the first, the first that opens.
 */
static int backend_open(struct kllm_ctx *ctx)
{
	const char *e = getenv("KLLM_ENGINE");
	int want_auto = !e || !*e || !strcmp(e, "auto");
	char names[64];
	int ret;

	ctx->env = (struct kllm_backend_env){
		.m = ctx->m, .prog = &ctx->prog, .info = &ctx->info, .opts = &ctx->opts,
		.err = ctx->err, .errlen = sizeof(ctx->err) };
	for (size_t i = N_BACKENDS; i-- > 0;) {
		const struct kllm_backend_ops *ops = kllm_backends[i];

		if (!want_auto && strcmp(e, ops->kind))
			continue;
		ret = backend_try(ctx, ops, want_auto);
		if (ret == 1) {
			ctx->err[0] = 0;	/* auto's reason not to use it */
			continue;
		}
		return ret;
	}
	if (want_auto)
		return ctx_fail(ctx, -ENOTSUP, "no engine opens");
	backend_names(names, sizeof(names));
	return ctx_fail(ctx, -EINVAL, "KLLM_ENGINE=%s: expected %s or auto", e, names);
}

int kllm_ctx_create(struct kllm_ctx **out, const struct kllm_model *m,
		    const struct kllm_ctx_opts *opts, char *err, size_t errlen)
{
	struct kllm_ctx *ctx;
	int ret;

	*out = NULL;
	if (!opts->n_seqs || opts->n_seqs > KLLM_PROG_MAX_SEQS) {
		snprintf(err, errlen, "n_seqs must be 1..%u", KLLM_PROG_MAX_SEQS);
		return -EINVAL;
	}
	kllm_cpu_init();
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ctx->m = m;
	ctx->opts = *opts;
	ret = kv_type(ctx);
	if (!ret)
		ret = backend_open(ctx);
	if (ret) {
		snprintf(err, errlen, "%s", ctx->err);
		kllm_ctx_free(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}

void kllm_ctx_free(struct kllm_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->be)
		ctx->be->ops->close(ctx->be);
	kllm_compiled_free(&ctx->prog);
	free(ctx);
}

const struct kllm_compiled *kllm_ctx_program(const struct kllm_ctx *ctx)
{
	return &ctx->prog;
}

const char *kllm_ctx_error(const struct kllm_ctx *ctx)
{
	return ctx->err;
}

const char *kllm_ctx_engine_name(const struct kllm_ctx *ctx)
{
	return ctx->be->ops->name(ctx->be);
}

struct kllm_dev *kllm_ctx_dev(const struct kllm_ctx *ctx)
{
	return kllm_backend_dev(ctx->be);
}

int kllm_ctx_chunks_at_once(const struct kllm_ctx *ctx)
{
	return ctx->be->ops->forward_many != NULL;
}

static int seq_range(struct kllm_ctx *ctx, uint32_t seq)
{
	if (seq >= ctx->opts.n_seqs)
		return ctx_fail(ctx, -EINVAL, "sequence %u: out of range", seq);
	return 0;
}

int kllm_seq_clear(struct kllm_ctx *ctx, uint32_t seq)
{
	return seq_range(ctx, seq) ?: ctx->be->ops->seq_clear(ctx->be, seq);
}

int kllm_seq_keep(struct kllm_ctx *ctx, uint32_t seq, uint32_t n_pos)
{
	if (n_pos > ctx->prog.n_ctx)
		return ctx_fail(ctx, -EINVAL, "keep %u positions: over n_ctx %u", n_pos,
				ctx->prog.n_ctx);
	return seq_range(ctx, seq) ?: ctx->be->ops->seq_truncate(ctx->be, seq, n_pos);
}

int kllm_seq_copy(struct kllm_ctx *ctx, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	if (dst >= ctx->opts.n_seqs || src >= ctx->opts.n_seqs || n_pos > ctx->prog.n_ctx)
		return ctx_fail(ctx, -EINVAL, "copy of %u positions from sequence %u "
				"to %u: out of range", n_pos, src, dst);
	if (dst == src)
		return 0;
	return ctx->be->ops->seq_copy(ctx->be, dst, src, n_pos);
}

int kllm_seq_lookup(struct kllm_ctx *ctx, uint32_t seq, const int32_t *tokens,
		    uint32_t n, uint32_t tag)
{
	int ret = seq_range(ctx, seq);

	if (ret)
		return ret;
	if (n > ctx->prog.n_ctx)
		return ctx_fail(ctx, -EINVAL, "lookup of %u tokens: over n_ctx %u", n,
				ctx->prog.n_ctx);
	for (uint32_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= ctx->prog.n_vocab)
			return ctx_fail(ctx, -EINVAL, "token %u: id %d out of range", i,
					tokens[i]);
	if (n < 2)
		return 0;
	return ctx->be->ops->seq_lookup(ctx->be, seq, tokens, n, tag);
}

void kllm_ctx_kv_stats(const struct kllm_ctx *ctx, struct kllm_kv_stats *st)
{
	*st = (struct kllm_kv_stats){ 0 };
	ctx->be->ops->kv_stats(ctx->be, st);
}

/* Every value in range. */
static int check_batch(struct kllm_ctx *ctx, uint32_t n, const int32_t *tokens,
		       const int32_t *pos, const int32_t *seq, const int32_t *out_rows,
		       uint32_t n_out)
{
	const struct kllm_compiled *c = &ctx->prog;

	if (!n || n > c->max_batch || n_out > n)
		return ctx_fail(ctx, -EINVAL, "batch of %u tokens and %u outputs: "
				"1..%u tokens and at most as many outputs", n, n_out,
				c->max_batch);
	for (uint32_t i = 0; i < n; i++) {
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->n_vocab)
			return ctx_fail(ctx, -EINVAL, "token %u: id %d out of range",
					i, tokens[i]);
		if (pos[i] < 0 || (uint32_t)pos[i] >= c->n_ctx)
			return ctx_fail(ctx, -EINVAL, "token %u: position %d out of 0..%u",
					i, pos[i], c->n_ctx - 1);
		if (seq[i] < 0 || (uint32_t)seq[i] >= ctx->opts.n_seqs)
			return ctx_fail(ctx, -EINVAL, "token %u: sequence %d out of range",
					i, seq[i]);
	}
	for (uint32_t o = 0; o < n_out; o++)
		if (out_rows[o] < 0 || (uint32_t)out_rows[o] >= n)
			return ctx_fail(ctx, -EINVAL, "output %u: row %d out of range",
					o, out_rows[o]);
	return 0;
}

int kllm_forward(struct kllm_ctx *ctx, uint32_t n_tokens, const int32_t *tokens,
		 const int32_t *pos, const int32_t *seq_ids, const int32_t *out_rows,
		 uint32_t n_out, float *logits)
{
	const struct kllm_backend_batch b = {
		.n_tokens = n_tokens, .n_out = n_out, .tokens = tokens, .pos = pos,
		.seq = seq_ids, .out_rows = out_rows };
	int ret;

	ctx->err[0] = 0;
	ret = check_batch(ctx, n_tokens, tokens, pos, seq_ids, out_rows, n_out);
	if (ret)
		return ret;
	return ctx->be->ops->forward(ctx->be, &b, logits);
}

int kllm_forward_chunks(struct kllm_ctx *ctx, uint32_t seq, uint32_t pos0, uint32_t n,
			const int32_t *tokens, float *logits)
{
	const uint32_t mb = ctx->prog.max_batch;
	int32_t *pos, *ids, row;
	int ret = 0;

	if (!n || seq >= ctx->opts.n_seqs)
		return ctx_fail(ctx, -EINVAL, "%u tokens for sequence %u: out of range", n, seq);
	pos = malloc(4ull * n);
	ids = calloc(mb, 4);
	if (!pos || !ids) {
		ret = ctx_fail(ctx, -ENOMEM, "out of memory");
		goto free_arrays;
	}
	for (uint32_t i = 0; i < n; i++)
		pos[i] = (int32_t)(pos0 + i);
	for (uint32_t i = 0; i < mb; i++)
		ids[i] = (int32_t)seq;	/* the chunks' sequence ids */
	/* Everything checked before anything runs. */
	for (uint32_t off = 0; off < n && !ret; off += mb) {
		uint32_t len = n - off < mb ? n - off : mb;

		row = (int32_t)len - 1;
		ret = check_batch(ctx, len, tokens + off, pos + off, ids, &row, 1);
	}
	if (ret)
		goto free_arrays;
	if (ctx->be->ops->forward_many) {
		ret = ctx->be->ops->forward_many(ctx->be, seq, n, tokens, pos, logits);
		goto free_arrays;
	}
	for (uint32_t off = 0; off < n && !ret; off += mb) {
		uint32_t len = n - off < mb ? n - off : mb;

		row = (int32_t)len - 1;
		ret = kllm_forward(ctx, len, tokens + off, pos + off, ids, &row,
				   off + len == n, logits);
	}
free_arrays:
	free(pos);
	free(ids);
	return ret;
}

