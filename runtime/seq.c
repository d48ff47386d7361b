// SPDX-License-Identifier: MIT
/*
 * seq.c - contexts, sequences and the forward pass (see seq.h), on the CPU
 * engine (engine_cpu.c) or the device engine (engine_dev.c), chosen once
 * per context by KLLM_ENGINE.  Both see the same checked program, the
 * same batch checks and the same KV layout, so kllm_seq_copy is a memcpy
 * either way (the device's caches are buffer objects mapped here).
 */
#include "seq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu.h"
#include "engine_cpu.h"
#include "engine_dev.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "pool.h"

struct kllm_ctx {
	const struct kllm_model *m;
	struct kllm_compiled prog;
	struct kllm_prog_info info;
	struct kllm_ctx_opts opts;
	struct kllm_pool *pool;
	void *act;
	float *logits;		/* max_batch rows: outputs need 32-byte alignment */
	void *scratch;
	uint64_t scratch_size;
	struct kllm_prog_mem *kv;	/* n_seqs: each sequence's KV memory */
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	/* The program's largest attention, for sizing a CPU pass (has_attn). */
	struct kk_op attn;
	int has_attn;
	uint64_t pass_attn_bytes;	/* PASS_ATTN_BYTES, or KLLM_PASS_ATTN_BYTES */
	/* The device engine (NULL: the CPU's) and what its jobs need. */
	struct kllm_dev *dev;
	struct kllm_dev_bo *kv_bo;	/* n_seqs: the buffer object behind kv[] */
	int32_t *d_map;		/* n_seqs: a batch's index of a sequence, or -1 */
	int32_t *d_seq;		/* max_batch: the batch's tokens' indices */
	uint32_t *d_kv;		/* max_batch: KV handles of the batch's sequences */
	char err[256];
};

static int __attribute__((format(printf, 3, 4)))
ctx_fail(struct kllm_ctx *ctx, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
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

/* The in-process engine's memory and threads. */
static int cpu_setup(struct kllm_ctx *ctx)
{
	const struct kllm_compiled *c = &ctx->prog;
	const char *env;
	int ret;

	ret = kllm_pool_create(ctx->opts.n_threads ? ctx->opts.n_threads :
			       kllm_cpu_count(), &ctx->pool);
	if (ret)
		return ctx_fail(ctx, ret, "thread pool: %s", strerror(-ret));
	ctx->act = alloc_zero(c->act_size);
	ctx->logits = alloc_zero(4ull * c->n_vocab * c->max_batch);
	if (!ctx->act || !ctx->logits)
		return ctx_fail(ctx, -ENOMEM, "out of memory for activations");
	ctx->buf[c->b_weights] = (struct kllm_prog_mem){ (void *)ctx->m->data,
							 c->weights_size };
	ctx->buf[c->b_act] = (struct kllm_prog_mem){ ctx->act, c->act_size };
	ctx->has_attn = !kllm_prog_attn_shape(&ctx->info, &ctx->attn);
	ctx->pass_attn_bytes = PASS_ATTN_BYTES;
	env = getenv("KLLM_PASS_ATTN_BYTES");	/* tests: force small passes */
	if (env && *env)
		ctx->pass_attn_bytes = strtoull(env, NULL, 0);
	return 0;
}

enum engine_want { WANT_AUTO, WANT_CPU, WANT_DEV };

static int engine_want(struct kllm_ctx *ctx, enum engine_want *want)
{
	const char *e = getenv("KLLM_ENGINE");

	if (!e || !*e || !strcmp(e, "auto"))
		*want = WANT_AUTO;
	else if (!strcmp(e, "cpu"))
		*want = WANT_CPU;
	else if (!strcmp(e, "dev"))
		*want = WANT_DEV;
	else
		return ctx_fail(ctx, -EINVAL, "KLLM_ENGINE=%s: expected cpu, dev or auto", e);
	return 0;
}

/* The driver's program and the batch arrays of the device engine. */
static int dev_load(struct kllm_ctx *ctx)
{
	const struct kllm_compiled *c = &ctx->prog;
	int ret;

	ret = kllm_dev_load(ctx->dev, c, &ctx->info, ctx->m->fd, ctx->m->data_offset,
			    ctx->err, sizeof(ctx->err));
	if (!ret && ctx->opts.priority)
		ret = kllm_dev_set_priority(ctx->dev, ctx->opts.priority, ctx->err,
					    sizeof(ctx->err));
	if (ret)
		return ret;
	ctx->kv_bo = calloc(ctx->opts.n_seqs, sizeof(*ctx->kv_bo));
	ctx->d_map = malloc(4ull * ctx->opts.n_seqs);
	ctx->d_seq = malloc(4ull * c->max_batch);
	ctx->d_kv = malloc(4ull * c->max_batch);
	if (!ctx->kv_bo || !ctx->d_map || !ctx->d_seq || !ctx->d_kv)
		return ctx_fail(ctx, -ENOMEM, "out of memory");
	memset(ctx->d_map, 0xff, 4ull * ctx->opts.n_seqs);
	return 0;
}

/*
 * KLLM_ENGINE=dev: the device or an error saying why not.  auto: the
 * device when this library has it, the model is a file and a kllm node
 * opens; a device that opens but refuses the program is an error.
 * 1: use the CPU.
 */
static int dev_setup(struct kllm_ctx *ctx, enum engine_want want)
{
	const struct kllm_model *m = ctx->m;
	int ret;

	if (want == WANT_CPU)
		return 1;
	if (want == WANT_AUTO && (!kllm_dev_built_in() || m->fd < 0 ||
				  m->data_offset % KLLM_PROG_BIND_ALIGN))
		return 1;
	if (m->fd < 0 && kllm_dev_built_in())
		return ctx_fail(ctx, -EINVAL, "device engine: the model was not "
				"loaded from a file (its weights are pinned from one)");
	ret = kllm_dev_open(&ctx->dev, ctx->err, sizeof(ctx->err));
	if (ret)
		return want == WANT_AUTO ? 1 : ret;
	return dev_load(ctx);
}

static int ctx_setup(struct kllm_ctx *ctx)
{
	const struct kllm_compiled *c = &ctx->prog;
	struct kllm_prog_err perr;
	enum engine_want want;
	int ret;

	if (kllm_prog_check(c->img, c->size, &ctx->info, &perr))
		return ctx_fail(ctx, -EINVAL, "program rejected");
	ctx->kv = calloc(ctx->opts.n_seqs, sizeof(*ctx->kv));
	if (!ctx->kv)
		return ctx_fail(ctx, -ENOMEM, "out of memory");
	ret = engine_want(ctx, &want);
	if (!ret)
		ret = dev_setup(ctx, want);
	if (ret <= 0)
		return ret;
	ctx->err[0] = 0;	/* auto's reason not to use the device */
	return cpu_setup(ctx);
}

int kllm_ctx_create(struct kllm_ctx **out, const struct kllm_model *m,
		    const struct kllm_ctx_opts *opts, char *err, size_t errlen)
{
	struct kllm_compile_opts co = { .n_ctx = opts->n_ctx, .max_batch = opts->max_batch };
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
	ret = kllm_compile(m, &co, &ctx->prog, err, errlen);
	if (!ret) {
		ret = ctx_setup(ctx);
		if (ret)
			snprintf(err, errlen, "%s", ctx->err);
	}
	if (ret) {
		kllm_ctx_free(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}

/* A sequence's KV memory: a buffer object of the device, or ours. */
static void kv_free(struct kllm_ctx *ctx, uint32_t seq)
{
	if (ctx->dev && ctx->kv_bo)
		kllm_dev_bo_free(ctx->dev, &ctx->kv_bo[seq]);
	else
		free_zero(ctx->kv[seq].base, ctx->kv[seq].size);
	ctx->kv[seq] = (struct kllm_prog_mem){ NULL, 0 };
}

void kllm_ctx_free(struct kllm_ctx *ctx)
{
	if (!ctx)
		return;
	for (uint32_t s = 0; ctx->kv && s < ctx->opts.n_seqs; s++)
		kv_free(ctx, s);
	free(ctx->kv);
	free(ctx->kv_bo);
	free(ctx->d_map);
	free(ctx->d_seq);
	free(ctx->d_kv);
	kllm_dev_close(ctx->dev);
	free_zero(ctx->act, ctx->prog.act_size);
	free_zero(ctx->logits, 4ull * ctx->prog.n_vocab * ctx->prog.max_batch);
	free_zero(ctx->scratch, ctx->scratch_size);
	kllm_pool_destroy(ctx->pool);
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
	return ctx->dev ? kllm_dev_name(ctx->dev) : "cpu";
}

struct kllm_dev *kllm_ctx_dev(const struct kllm_ctx *ctx)
{
	return ctx->dev;
}

int kllm_seq_clear(struct kllm_ctx *ctx, uint32_t seq)
{
	if (seq >= ctx->opts.n_seqs)
		return ctx_fail(ctx, -EINVAL, "sequence %u: out of range", seq);
	kv_free(ctx, seq);
	return 0;
}

static int kv_alloc(struct kllm_ctx *ctx, uint32_t seq)
{
	if (ctx->kv[seq].base)
		return 0;
	if (ctx->dev) {
		int ret = kllm_dev_bo_create(ctx->dev, ctx->prog.kv_size, &ctx->kv_bo[seq]);

		if (ret)
			return ctx_fail(ctx, ret, "device KV cache of %llu bytes: %s",
					(unsigned long long)ctx->prog.kv_size,
					strerror(-ret));
		ctx->kv[seq].base = ctx->kv_bo[seq].map;
		ctx->kv[seq].size = ctx->prog.kv_size;
		return 0;
	}
	ctx->kv[seq].base = alloc_zero(ctx->prog.kv_size);
	if (!ctx->kv[seq].base)
		return ctx_fail(ctx, -ENOMEM, "out of memory for a KV cache");
	ctx->kv[seq].size = ctx->prog.kv_size;
	return 0;
}

int kllm_seq_copy(struct kllm_ctx *ctx, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	const struct kllm_compiled *c = &ctx->prog;
	const uint64_t half = c->kv_layer_size / 2, row = half / c->n_ctx;
	const uint64_t n_layer = c->kv_size / c->kv_layer_size;
	uint8_t *d;
	const uint8_t *s;
	int ret;

	if (dst >= ctx->opts.n_seqs || src >= ctx->opts.n_seqs || n_pos > c->n_ctx ||
	    (n_pos && !ctx->kv[src].base))
		return ctx_fail(ctx, -EINVAL, "copy of %u positions from sequence %u "
				"to %u: out of range", n_pos, src, dst);
	if (dst == src || !n_pos)
		return 0;
	ret = kv_alloc(ctx, dst);
	if (ret)
		return ret;
	d = ctx->kv[dst].base;
	s = ctx->kv[src].base;
	/* [layer][K, V][ctx][row]: the first n_pos rows of each of K and V */
	for (uint64_t h = 0; h < 2 * n_layer; h++)
		memcpy(d + h * half, s + h * half, (size_t)(n_pos * row));
	return 0;
}

/* Every value in range, and the caches of the batch's sequences exist. */
static int check_batch(struct kllm_ctx *ctx, uint32_t n, const int32_t *tokens,
		       const int32_t *pos, const int32_t *seq, const int32_t *out_rows,
		       uint32_t n_out)
{
	const struct kllm_compiled *c = &ctx->prog;
	int ret;

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
		ret = kv_alloc(ctx, (uint32_t)seq[i]);
		if (ret)
			return ret;
	}
	for (uint32_t o = 0; o < n_out; o++)
		if (out_rows[o] < 0 || (uint32_t)out_rows[o] >= n)
			return ctx_fail(ctx, -EINVAL, "output %u: row %d out of range",
					o, out_rows[o]);
	return 0;
}

/* Scratch for the SIMD path selected now (it may change between runs). */
static int ensure_scratch(struct kllm_ctx *ctx)
{
	uint64_t need = kllm_prog_scratch_bytes(&ctx->info);

	if (need <= ctx->scratch_size && ctx->scratch)
		return 0;
	free_zero(ctx->scratch, ctx->scratch_size);
	ctx->scratch_size = 0;
	ctx->scratch = alloc_zero(need);
	if (!ctx->scratch)
		return ctx_fail(ctx, -ENOMEM, "out of memory for scratch");
	ctx->scratch_size = need;
	return 0;
}

/*
 * The batch as one device job: its sequences are numbered in order of
 * first appearance and bound to their KV buffer objects.
 */
static int forward_dev(struct kllm_ctx *ctx, uint32_t n, const int32_t *tokens,
		       const int32_t *pos, const int32_t *seq_ids,
		       const int32_t *out_rows, uint32_t n_out, float *logits)
{
	struct kllm_dev_batch b = {
		.n_tokens = n, .n_outputs = n_out, .tokens = tokens, .pos = pos,
		.seq = ctx->d_seq, .out_rows = out_rows, .kv = ctx->d_kv };
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)seq_ids[i];

		if (ctx->d_map[s] < 0) {
			ctx->d_map[s] = (int32_t)b.n_seqs;
			ctx->d_kv[b.n_seqs++] = ctx->kv_bo[s].handle;
		}
		ctx->d_seq[i] = ctx->d_map[s];
	}
	for (uint32_t i = 0; i < n; i++)
		ctx->d_map[seq_ids[i]] = -1;
	ret = kllm_dev_forward(ctx->dev, &b);
	if (ret)
		return ctx_fail(ctx, ret, "device engine: %s", kllm_dev_strerror(ret));
	if (n_out)
		memcpy(logits, kllm_dev_output(ctx->dev)->map,
		       4ull * ctx->prog.n_vocab * n_out);
	return 0;
}

/* One pass of the in-process engine: outputs land in ctx->logits. */
static int forward_cpu(struct kllm_ctx *ctx, uint32_t n_tokens, const int32_t *tokens,
		       const int32_t *pos, const int32_t *seq_ids, const int32_t *out_rows,
		       uint32_t n_out)
{
	const struct kllm_compiled *c = &ctx->prog;
	struct kllm_prog_bindings bind = { .buf = ctx->buf };
	struct kllm_prog_batch batch = {
		.n_tokens = n_tokens, .n_outputs = n_out, .tokens = tokens,
		.pos = pos, .seq = seq_ids, .out_rows = out_rows,
		.n_seqs = ctx->opts.n_seqs, .kv = ctx->kv };
	struct kllm_prog_err perr;
	char msg[160];
	int ret;

	ret = ensure_scratch(ctx);
	if (ret)
		return ret;
	ctx->buf[c->b_logits] = (struct kllm_prog_mem){ ctx->logits,
		4ull * c->n_vocab * n_out };
	bind.scratch = ctx->scratch;
	bind.scratch_size = ctx->scratch_size;
	ret = kllm_engine_cpu_run(&ctx->info, &bind, &batch, ctx->pool, &perr);
	if (ret == -EINVAL) {
		kllm_prog_err_format(&perr, msg, sizeof(msg));
		return ctx_fail(ctx, ret, "engine: %s", msg);
	}
	if (ret)
		return ctx_fail(ctx, ret, "engine: %s", strerror(-ret));
	return 0;
}


/* Rows per pass for a batch reaching position @max_pos (n if no limit). */
static uint32_t pass_rows(struct kllm_ctx *ctx, uint32_t n, int32_t max_pos)
{
	struct kk_op op = ctx->attn;
	uint64_t per_row;

	if (!ctx->has_attn || n == 1)
		return n;
	op.attention.rows = 1;
	if (!op.attention.max_ctx || (uint32_t)max_pos + 1 < op.attention.max_ctx)
		op.attention.max_ctx = (uint32_t)max_pos + 1;
	per_row = kk_op_scratch_size(&op);
	if (!per_row || (uint64_t)n * per_row <= ctx->pass_attn_bytes)
		return n;
	return ctx->pass_attn_bytes / per_row ?
	       (uint32_t)(ctx->pass_attn_bytes / per_row) : 1;
}

/*
 * Can rows [0, r) run before rows [r, n) for every r?  Only if each
 * sequence's positions rise with the row index: then no row attends to a
 * position a later row stores.
 */
static int rows_rise(const struct kllm_ctx *ctx, uint32_t n, const int32_t *pos,
		     const int32_t *seq)
{
	int32_t *last = malloc(4ull * ctx->opts.n_seqs);
	int ok = last != NULL;

	for (uint32_t s = 0; ok && s < ctx->opts.n_seqs; s++)
		last[s] = -1;
	for (uint32_t i = 0; ok && i < n; i++) {
		ok = pos[i] > last[seq[i]];
		last[seq[i]] = pos[i];
	}
	free(last);
	return ok;
}

/* The batch in passes of @per rows; each output's logits to its place. */
static int forward_cpu_passes(struct kllm_ctx *ctx, uint32_t n, uint32_t per,
			      const int32_t *tokens, const int32_t *pos,
			      const int32_t *seq_ids, const int32_t *out_rows,
			      uint32_t n_out, float *logits)
{
	const uint64_t row_bytes = 4ull * ctx->prog.n_vocab;
	int32_t *rows = malloc(4ull * (n_out ? n_out : 1));
	uint32_t *which = malloc(4ull * (n_out ? n_out : 1));
	int ret = rows && which ? 0 : ctx_fail(ctx, -ENOMEM, "out of memory");

	for (uint32_t a = 0; a < n && !ret; a += per) {
		uint32_t len = n - a < per ? n - a : per, k = 0;

		for (uint32_t o = 0; o < n_out; o++) {
			if ((uint32_t)out_rows[o] < a || (uint32_t)out_rows[o] >= a + len)
				continue;
			rows[k] = out_rows[o] - (int32_t)a;
			which[k++] = o;
		}
		ret = forward_cpu(ctx, len, tokens + a, pos + a, seq_ids + a, rows, k);
		for (uint32_t j = 0; j < k && !ret; j++)
			memcpy((char *)logits + which[j] * row_bytes,
			       (char *)ctx->logits + j * row_bytes, row_bytes);
	}
	free(rows);
	free(which);
	return ret;
}

int kllm_forward(struct kllm_ctx *ctx, uint32_t n_tokens, const int32_t *tokens,
		 const int32_t *pos, const int32_t *seq_ids, const int32_t *out_rows,
		 uint32_t n_out, float *logits)
{
	int32_t max_pos = 0;
	uint32_t per;
	int ret;

	ctx->err[0] = 0;
	ret = check_batch(ctx, n_tokens, tokens, pos, seq_ids, out_rows, n_out);
	if (ret)
		return ret;
	if (ctx->dev)
		return forward_dev(ctx, n_tokens, tokens, pos, seq_ids, out_rows, n_out,
				   logits);
	for (uint32_t i = 0; i < n_tokens; i++)
		max_pos = pos[i] > max_pos ? pos[i] : max_pos;
	per = pass_rows(ctx, n_tokens, max_pos);
	if (per < n_tokens && rows_rise(ctx, n_tokens, pos, seq_ids))
		return forward_cpu_passes(ctx, n_tokens, per, tokens, pos, seq_ids,
					  out_rows, n_out, logits);
	ret = forward_cpu(ctx, n_tokens, tokens, pos, seq_ids, out_rows, n_out);
	if (!ret && n_out)
		memcpy(logits, ctx->logits, 4ull * ctx->prog.n_vocab * n_out);
	return ret;
}

/* One sequence's tokens in chunks on the device: all jobs in one go. */
static int chunks_dev(struct kllm_ctx *ctx, uint32_t seq, uint32_t n,
		      const int32_t *tokens, int32_t *pos, int32_t *zero, float *logits)
{
	const uint32_t mb = ctx->prog.max_batch, n_chunks = (n + mb - 1) / mb;
	struct kllm_dev_batch *b = calloc(n_chunks, sizeof(*b));
	const int32_t last_row[1] = { (int32_t)((n - 1) % mb) };
	uint32_t kv = ctx->kv_bo[seq].handle;
	int ret;

	if (!b)
		return ctx_fail(ctx, -ENOMEM, "out of memory");
	for (uint32_t c = 0; c < n_chunks; c++) {
		uint32_t off = c * mb, len = n - off < mb ? n - off : mb;

		b[c] = (struct kllm_dev_batch){
			.n_tokens = len, .n_outputs = c + 1 == n_chunks, .n_seqs = 1,
			.tokens = tokens + off, .pos = pos + off, .seq = zero,
			.out_rows = last_row, .kv = &kv };
	}
	ret = kllm_dev_forward_many(ctx->dev, b, n_chunks);
	free(b);
	if (ret)
		return ctx_fail(ctx, ret, "device engine: %s", kllm_dev_strerror(ret));
	memcpy(logits, kllm_dev_output(ctx->dev)->map, 4ull * ctx->prog.n_vocab);
	return 0;
}

int kllm_forward_chunks(struct kllm_ctx *ctx, uint32_t seq, uint32_t pos0, uint32_t n,
			const int32_t *tokens, float *logits)
{
	const uint32_t mb = ctx->prog.max_batch;
	int32_t *pos, *zero, row;
	int ret = 0;

	if (!n || seq >= ctx->opts.n_seqs)
		return ctx_fail(ctx, -EINVAL, "%u tokens for sequence %u: out of range", n, seq);
	pos = malloc(4ull * n);
	zero = calloc(mb, 4);
	if (!pos || !zero) {
		ret = ctx_fail(ctx, -ENOMEM, "out of memory");
		goto free_arrays;
	}
	for (uint32_t i = 0; i < n; i++)
		pos[i] = (int32_t)(pos0 + i);
	for (uint32_t i = 0; i < mb; i++)
		zero[i] = (int32_t)seq;	/* the CPU path's sequence ids */
	/* Everything checked (and the KV cache made) before anything runs. */
	for (uint32_t off = 0; off < n && !ret; off += mb) {
		uint32_t len = n - off < mb ? n - off : mb;

		row = (int32_t)len - 1;
		ret = check_batch(ctx, len, tokens + off, pos + off, zero, &row, 1);
	}
	if (ret)
		goto free_arrays;
	if (ctx->dev) {
		memset(zero, 0, 4ull * mb);	/* the job's own sequence index */
		ret = chunks_dev(ctx, seq, n, tokens, pos, zero, logits);
		goto free_arrays;
	}
	for (uint32_t off = 0; off < n && !ret; off += mb) {
		uint32_t len = n - off < mb ? n - off : mb;

		row = (int32_t)len - 1;
		ret = kllm_forward(ctx, len, tokens + off, pos + off, zero, &row,
				   off + len == n, logits);
	}
free_arrays:
	free(pos);
	free(zero);
	return ret;
}

