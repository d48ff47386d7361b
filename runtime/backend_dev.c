// SPDX-License-Identifier: MIT
/*
 * backend_dev.c - the device backend (backend.h): the program runs in the
 * kllm driver (engine_dev.c) and a batch is one job naming its sequences.
 * The program is paged, and a sequence's cache is a KV sequence of the
 * driver (a handle each, made on first use), whose blocks live in the
 * kernel and are never mapped here: clear, truncate, copy and the
 * prefix-cache lookup are the driver's KV_SEQ_* ioctls.  The driver
 * partitions its cache by uid itself (and by root's public marking), so
 * the lookup's tag is not passed on: the sequences of one process share
 * one partition.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "engine_dev.h"

struct dev_backend {
	struct kllm_backend base;
	const struct kllm_backend_env *env;
	struct kllm_dev *dev;
	uint32_t *kv;		/* n_seqs: the sequence's driver handle, or 0 */
	int32_t *d_map;		/* n_seqs: a batch's index of a sequence, or -1 */
	int32_t *d_seq;		/* max_batch: the batch's tokens' indices */
	uint32_t *d_kv;		/* max_batch: KV handles of the batch's sequences */
};

#define DEV(b) ((struct dev_backend *)(b))

static int __attribute__((format(printf, 3, 4)))
dev_fail(struct dev_backend *db, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->env->err, db->env->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static void dev_close(struct kllm_backend *b)
{
	struct dev_backend *db = DEV(b);

	if (!db)
		return;
	for (uint32_t s = 0; db->kv && s < db->env->opts->n_seqs; s++)
		if (db->kv[s])
			kllm_dev_seq_free(db->dev, db->kv[s]);
	free(db->kv);
	free(db->d_map);
	free(db->d_seq);
	free(db->d_kv);
	kllm_dev_close(db->dev);
	free(db);
}

/* The driver's program and the batch arrays of the device engine. */
static int dev_load(struct dev_backend *db)
{
	const struct kllm_backend_env *env = db->env;
	const struct kllm_compiled *c = env->prog;
	const uint32_t n_seqs = env->opts->n_seqs;
	int ret;

	/* Room for every sequence full and one context more of cached
	 * blocks, as the CPU's (the first process to load the program sizes
	 * the pool, which the driver allocates whole). */
	kllm_dev_set_kv_blocks(db->dev, (n_seqs + 1) * c->kv_blocks_per_seq);
	ret = kllm_dev_load(db->dev, c, env->info, env->m->fd, env->m->data_offset,
			    env->err, env->errlen);
	if (!ret && env->opts->priority)
		ret = kllm_dev_set_priority(db->dev, env->opts->priority, env->err,
					    env->errlen);
	if (ret)
		return ret;
	db->kv = calloc(n_seqs, sizeof(*db->kv));
	db->d_map = malloc(4ull * n_seqs);
	db->d_seq = malloc(4ull * c->max_batch);
	db->d_kv = malloc(4ull * c->max_batch);
	if (!db->kv || !db->d_map || !db->d_seq || !db->d_kv)
		return dev_fail(db, -ENOMEM, "out of memory");
	memset(db->d_map, 0xff, 4ull * n_seqs);
	return 0;
}

/*
 * KLLM_ENGINE=dev: the device or an error saying why not.  auto: the
 * device when this library has it, the model is a file and a kllm node
 * opens; a device that opens but refuses the program is an error.
 */
static int dev_open(struct kllm_backend **out, const struct kllm_backend_env *env,
		    int want_auto)
{
	const struct kllm_model *m = env->m;
	struct dev_backend *db;
	int ret;

	*out = NULL;
	if (want_auto && (!kllm_dev_built_in() || m->fd < 0 ||
			  m->data_offset % KLLM_PROG_BIND_ALIGN))
		return 1;
	if (m->fd < 0 && kllm_dev_built_in())
		return kllm_backend_fail(env, -EINVAL, "device engine: the model was not "
					 "loaded from a file (its weights are pinned from one)");
	db = calloc(1, sizeof(*db));
	if (!db)
		return kllm_backend_fail(env, -ENOMEM, "out of memory");
	db->base.ops = &kllm_backend_dev_ops;
	db->env = env;
	ret = kllm_dev_open(&db->dev, env->err, env->errlen);
	if (ret) {
		dev_close(&db->base);
		return want_auto ? 1 : ret;
	}
	ret = dev_load(db);
	if (ret) {
		dev_close(&db->base);
		return ret;
	}
	*out = &db->base;
	return 0;
}

static const char *dev_name(const struct kllm_backend *b)
{
	return kllm_dev_name(DEV(b)->dev);
}

struct kllm_dev *kllm_backend_dev(const struct kllm_backend *b)
{
	return b && b->ops == &kllm_backend_dev_ops ? DEV(b)->dev : NULL;
}

/* Sequence @seq's handle in the driver, made on first use. */
static int kv_ensure(struct dev_backend *db, uint32_t seq)
{
	int ret;

	if (db->kv[seq])
		return 0;
	ret = kllm_dev_seq_create(db->dev, &db->kv[seq]);
	if (ret)
		return dev_fail(db, ret, "device KV sequence: %s%s", strerror(-ret),
				ret == -EMFILE ? " (too many on this file)" : "");
	return 0;
}

static int dev_kv_fail(struct dev_backend *db, int ret, const char *what, uint32_t seq)
{
	return dev_fail(db, ret, "device KV %s of sequence %u: %s", what, seq,
			ret == -ENOSPC ? "no free block in the driver's pool" : strerror(-ret));
}

static int dev_seq_clear(struct kllm_backend *b, uint32_t seq)
{
	struct dev_backend *db = DEV(b);
	int ret;

	if (!db->kv[seq])
		return 0;
	ret = kllm_dev_seq_truncate(db->dev, db->kv[seq], 0);
	return ret ? dev_kv_fail(db, ret, "clear", seq) : 0;
}

static int dev_seq_truncate(struct kllm_backend *b, uint32_t seq, uint32_t n_pos)
{
	struct dev_backend *db = DEV(b);
	int ret;

	if (!db->kv[seq])
		return 0;
	ret = kllm_dev_seq_truncate(db->dev, db->kv[seq], n_pos);
	return ret ? dev_kv_fail(db, ret, "truncate", seq) : 0;
}

static int dev_seq_copy(struct kllm_backend *b, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	struct dev_backend *db = DEV(b);
	int ret;

	if (!n_pos)
		return dev_seq_clear(b, dst);
	if (!db->kv[src])
		return dev_fail(db, -EINVAL, "copy of %u positions from sequence %u: "
				"it holds none", n_pos, src);
	ret = kv_ensure(db, dst);
	if (ret)
		return ret;
	ret = kllm_dev_seq_fork(db->dev, db->kv[dst], db->kv[src], n_pos);
	return ret ? dev_kv_fail(db, ret, "copy", src) : 0;
}

/* The driver's prefix cache: its partitions are by uid (and public). */
static int dev_seq_lookup(struct kllm_backend *b, uint32_t seq, const int32_t *tokens,
			  uint32_t n, uint32_t tag)
{
	struct dev_backend *db = DEV(b);
	int ret;

	(void)tag;
	if (n < 2)
		return 0;
	ret = kv_ensure(db, seq);
	if (!ret)
		ret = kllm_dev_seq_lookup(db->dev, db->kv[seq], tokens, n);
	return ret < 0 ? dev_kv_fail(db, ret, "lookup", seq) : ret;
}

static void dev_kv_stats(struct kllm_backend *b, struct kllm_kv_stats *st)
{
	struct dev_backend *db = DEV(b);
	struct kllm_dev_kv_stats ds;

	if (kllm_dev_kv_stats(db->dev, &ds))
		return;
	st->block_bytes = ds.block_bytes;
	st->block_tokens = ds.block_tokens;
	st->n_blocks = ds.n_blocks;
	st->n_used = ds.n_used;
	st->n_cached = ds.n_cached;
	st->n_idle = ds.n_idle;
	st->hits = ds.hits;
	st->misses = ds.misses;
	st->inserted = ds.inserted;
	st->evicted = ds.evicted;
}

/*
 * The batch as one device job: its sequences are numbered in order of
 * first appearance and bound to their driver sequences.
 */
static int dev_forward(struct kllm_backend *b, const struct kllm_backend_batch *bt,
		       float *logits)
{
	struct dev_backend *db = DEV(b);
	const uint32_t n = bt->n_tokens;
	struct kllm_dev_batch jb = {
		.n_tokens = n, .n_outputs = bt->n_out, .tokens = bt->tokens,
		.pos = bt->pos, .seq = db->d_seq, .out_rows = bt->out_rows,
		.kv = db->d_kv };
	int ret = 0;

	for (uint32_t i = 0; i < n && !ret; i++)
		ret = kv_ensure(db, (uint32_t)bt->seq[i]);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)bt->seq[i];

		if (db->d_map[s] < 0) {
			db->d_map[s] = (int32_t)jb.n_seqs;
			db->d_kv[jb.n_seqs++] = db->kv[s];
		}
		db->d_seq[i] = db->d_map[s];
	}
	for (uint32_t i = 0; i < n; i++)
		db->d_map[bt->seq[i]] = -1;
	ret = kllm_dev_forward(db->dev, &jb);
	if (ret)
		return dev_fail(db, ret, "device engine: %s", kllm_dev_strerror(ret));
	if (bt->n_out)
		memcpy(logits, kllm_dev_output(db->dev)->map,
		       4ull * db->env->prog->n_vocab * bt->n_out);
	return 0;
}

/* One sequence's tokens in chunks: all jobs in one go. */
static int dev_forward_many(struct kllm_backend *b, uint32_t seq, uint32_t n,
			    const int32_t *tokens, const int32_t *pos, float *logits)
{
	struct dev_backend *db = DEV(b);
	const uint32_t mb = db->env->prog->max_batch, n_chunks = (n + mb - 1) / mb;
	struct kllm_dev_batch *jb = calloc(n_chunks, sizeof(*jb));
	int32_t *zero = calloc(mb, 4);	/* the job's own sequence index */
	const int32_t last_row[1] = { (int32_t)((n - 1) % mb) };
	uint32_t handle;
	int ret = kv_ensure(db, seq);

	handle = db->kv[seq];
	if (ret)
		goto out;
	if (!jb || !zero) {
		ret = dev_fail(db, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t c = 0; c < n_chunks; c++) {
		uint32_t off = c * mb, len = n - off < mb ? n - off : mb;

		jb[c] = (struct kllm_dev_batch){
			.n_tokens = len, .n_outputs = c + 1 == n_chunks, .n_seqs = 1,
			.tokens = tokens + off, .pos = pos + off, .seq = zero,
			.out_rows = last_row, .kv = &handle };
	}
	ret = kllm_dev_forward_many(db->dev, jb, n_chunks);
	if (ret) {
		ret = dev_fail(db, ret, "device engine: %s", kllm_dev_strerror(ret));
		goto out;
	}
	memcpy(logits, kllm_dev_output(db->dev)->map, 4ull * db->env->prog->n_vocab);
out:
	free(jb);
	free(zero);
	return ret;
}

const struct kllm_backend_ops kllm_backend_dev_ops = {
	.kind = "dev",
	.open = dev_open,
	.close = dev_close,
	.name = dev_name,
	.kv_block_shift = 4,	/* 16 positions (KLLM_KV_BLOCK) */
	.seq_clear = dev_seq_clear,
	.seq_truncate = dev_seq_truncate,
	.seq_copy = dev_seq_copy,
	.seq_lookup = dev_seq_lookup,
	.kv_stats = dev_kv_stats,
	.forward = dev_forward,
	.forward_many = dev_forward_many,
};
