// SPDX-License-Identifier: MIT
/*
 * backend_dev.c - the device backend (backend.h): the program runs in the
 * kllm driver (engine_dev.c); a sequence's KV memory is a shmem buffer
 * object of the device file, mapped here, and a batch is one job whose
 * sequences are bound to their buffer objects.
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
	struct kllm_dev_bo *kv_bo;	/* n_seqs: the buffer object behind kv[] */
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
	free(db->kv_bo);
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

	ret = kllm_dev_load(db->dev, c, env->info, env->m->fd, env->m->data_offset,
			    env->err, env->errlen);
	if (!ret && env->opts->priority)
		ret = kllm_dev_set_priority(db->dev, env->opts->priority, env->err,
					    env->errlen);
	if (ret)
		return ret;
	db->kv_bo = calloc(n_seqs, sizeof(*db->kv_bo));
	db->d_map = malloc(4ull * n_seqs);
	db->d_seq = malloc(4ull * c->max_batch);
	db->d_kv = malloc(4ull * c->max_batch);
	if (!db->kv_bo || !db->d_map || !db->d_seq || !db->d_kv)
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

static int dev_kv_alloc(struct kllm_backend *b, uint32_t seq, uint64_t size,
			struct kllm_prog_mem *kv)
{
	struct dev_backend *db = DEV(b);
	int ret = kllm_dev_bo_create(db->dev, size, &db->kv_bo[seq]);

	if (ret)
		return dev_fail(db, ret, "device KV cache of %llu bytes: %s",
				(unsigned long long)size, strerror(-ret));
	kv->base = db->kv_bo[seq].map;
	kv->size = size;
	return 0;
}

static void dev_kv_free(struct kllm_backend *b, uint32_t seq, struct kllm_prog_mem *kv)
{
	struct dev_backend *db = DEV(b);

	kllm_dev_bo_free(db->dev, &db->kv_bo[seq]);
	*kv = (struct kllm_prog_mem){ NULL, 0 };
}

/*
 * The batch as one device job: its sequences are numbered in order of
 * first appearance and bound to their KV buffer objects.
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
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)bt->seq[i];

		if (db->d_map[s] < 0) {
			db->d_map[s] = (int32_t)jb.n_seqs;
			db->d_kv[jb.n_seqs++] = db->kv_bo[s].handle;
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
			    const int32_t *tokens, const int32_t *pos,
			    const struct kllm_prog_mem *kv, float *logits)
{
	struct dev_backend *db = DEV(b);
	const uint32_t mb = db->env->prog->max_batch, n_chunks = (n + mb - 1) / mb;
	struct kllm_dev_batch *jb = calloc(n_chunks, sizeof(*jb));
	int32_t *zero = calloc(mb, 4);	/* the job's own sequence index */
	const int32_t last_row[1] = { (int32_t)((n - 1) % mb) };
	uint32_t handle = db->kv_bo[seq].handle;
	int ret;

	(void)kv;	/* ours: kv_bo[seq] */
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
	.kv_alloc = dev_kv_alloc,
	.kv_free = dev_kv_free,
	.forward = dev_forward,
	.forward_many = dev_forward_many,
};
