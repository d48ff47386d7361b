/* SPDX-License-Identifier: MIT */
/*
 * kvraw_util.h - guest_kv's raw use of the KV sequence ioctls (1.3) and
 * of jobs naming sequence handles: one 4-token job (ids 3..6) for the
 * hostile cases, a job of up to KVR_MAX tokens of one sequence for the
 * fused and chunked passes, the scheduler's counters and the module's
 * and debugfs knobs.  Needs drm_util.h and Check.
 */
#ifndef KLLM_VM_KVRAW_UTIL_H
#define KLLM_VM_KVRAW_UTIL_H

#define KV_DBG "/sys/kernel/debug/kllm/"
#define KV_PARAM "/sys/module/kllm/parameters/"
#define KVR_MAX 64

static void dbg_write(const char *name, const char *v)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), KV_DBG "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, v, strlen(v)), (ssize_t)strlen(v));
	close(fd);
}

static void param_write(const char *name, const char *v)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), KV_PARAM "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, v, strlen(v)), (ssize_t)strlen(v));
	close(fd);
}

/* The scheduler's pass counters (debugfs stats). */
struct kvr_stats {
	unsigned long long batches, batched_jobs, chunks;
};

static struct kvr_stats kvr_stats(void)
{
	struct kvr_stats st = { 0 };
	FILE *f = fopen(KV_DBG "stats", "r");
	char line[256];

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "batches %llu", &st.batches);
		sscanf(line, "batched_jobs %llu", &st.batched_jobs);
		sscanf(line, "chunks %llu", &st.chunks);
	}
	fclose(f);
	return st;
}

/* A job of @n tokens of one sequence, every row out. */
struct rawn {
	int32_t tok[KVR_MAX], pos[KVR_MAX], sid[KVR_MAX], row[KVR_MAX];
	struct drm_kllm_bind binds[2];
	struct drm_kllm_job job;
};

/* @n (<= KVR_MAX) tokens @tok of sequence handle @h from position @p0. */
static void rawn_init(struct rawn *j, uint32_t prog, uint32_t out, uint32_t h,
		      const int32_t *tok, int32_t p0, uint32_t n)
{
	ck_assert_uint_le(n, KVR_MAX);
	for (uint32_t i = 0; i < n; i++) {
		j->tok[i] = tok[i];
		j->pos[i] = p0 + (int32_t)i;
		j->sid[i] = 0;
		j->row[i] = (int32_t)i;
	}
	j->binds[0] = (struct drm_kllm_bind){ .handle = out };
	j->binds[1] = (struct drm_kllm_bind){ .handle = h };
	j->job = (struct drm_kllm_job){
		.prog = prog, .n_tokens = n, .n_outputs = n, .n_seqs = 1, .n_binds = 2,
		.tokens_ptr = (uintptr_t)j->tok, .pos_ptr = (uintptr_t)j->pos,
		.seq_ptr = (uintptr_t)j->sid, .out_rows_ptr = (uintptr_t)j->row,
		.binds_ptr = (uintptr_t)j->binds };
}

static int kvr_submit(int fd, const struct drm_kllm_job *j, uint64_t *id)
{
	struct drm_kllm_job_submit s = { .job = *j };
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_JOB_SUBMIT, &s);

	*id = s.id;
	return ret;
}

static int kvr_wait(int fd, uint64_t id)
{
	struct drm_kllm_job_wait w = { .id = id, .timeout_ns = 60ll * 1000000000 };
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_JOB_WAIT, &w);

	return ret ? ret : w.status;
}

/* One file's job for kvr_run_two; its rows' logits (@vocab each) to @out. */
struct kvr_job {
	int fd;
	uint32_t prog, out_bo, h;	/* program, OUTPUT buffer, sequence handles */
	const float *map;		/* the OUTPUT buffer's mapping */
	const int32_t *tok;		/* @n tokens from position @p0 */
	int32_t p0;
	uint32_t n;
	float *out;
};

/*
 * Two jobs, one per file, queued while the engine is paused, run with the
 * module's fuse and chunk_tokens at @fuse and @chunk: the scheduler's
 * counters of their passes.
 */
static struct kvr_stats kvr_run_two(const struct kvr_job *f, uint32_t vocab,
				    const char *fuse, const char *chunk)
{
	static struct rawn j[2];
	uint64_t id[2] = { 0 };
	int sub[2], ret;

	param_write("fuse", fuse);
	param_write("chunk_tokens", chunk);
	dbg_write("stats_reset", "1");
	dbg_write("pause", "1");
	for (int k = 0; k < 2; k++) {
		rawn_init(&j[k], f[k].prog, f[k].out_bo, f[k].h, f[k].tok, f[k].p0, f[k].n);
		sub[k] = kvr_submit(f[k].fd, &j[k].job, &id[k]);
	}
	dbg_write("pause", "0");
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(sub[k], 0);
		ret = kvr_wait(f[k].fd, id[k]);
		ck_assert_msg(!ret, "job %d: %d", k, ret);
		memcpy(f[k].out, f[k].map, 4ull * f[k].n * vocab);
	}
	return kvr_stats();
}

struct raw {
	int fd;
	uint32_t prog, out;
	int32_t tok[4], pos[4], sid[4], row[1];
	struct drm_kllm_bind binds[3];
};

/* A 4-token job of sequence handle @h at positions @p0.. (and @h2 as a second sequence). */
static struct drm_kllm_job raw_job(struct raw *r, uint32_t h, int32_t p0, uint32_t h2)
{
	for (int i = 0; i < 4; i++) {
		r->tok[i] = 3 + i;
		r->pos[i] = p0 + i;
		r->sid[i] = 0;
	}
	r->row[0] = 3;
	r->binds[0] = (struct drm_kllm_bind){ .handle = r->out };
	r->binds[1] = (struct drm_kllm_bind){ .handle = h };
	r->binds[2] = (struct drm_kllm_bind){ .handle = h2 };
	return (struct drm_kllm_job){
		.prog = r->prog, .n_tokens = 4, .n_outputs = 1, .n_seqs = h2 ? 2 : 1,
		.n_binds = h2 ? 3 : 2, .tokens_ptr = (uintptr_t)r->tok,
		.pos_ptr = (uintptr_t)r->pos, .seq_ptr = (uintptr_t)r->sid,
		.out_rows_ptr = (uintptr_t)r->row, .binds_ptr = (uintptr_t)r->binds };
}

static int raw_submit(struct raw *r, struct drm_kllm_job j, uint64_t *id)
{
	return kvr_submit(r->fd, &j, id);
}

static int raw_wait(struct raw *r, uint64_t id)
{
	return kvr_wait(r->fd, id);
}

static uint32_t seq_new(int fd, uint32_t prog)
{
	struct drm_kllm_kv_seq_create c = { .prog = prog };

	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &c), 0);
	return c.handle;
}

static int seq_free(int fd, uint32_t h)
{
	struct drm_kllm_kv_seq_free f = { .handle = h };

	return kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_FREE, &f);
}

static int seq_trunc(int fd, uint32_t h, uint32_t n)
{
	struct drm_kllm_kv_seq_truncate t = { .handle = h, .n_pos = n };

	return kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_TRUNCATE, &t);
}

static int seq_fork(int fd, uint32_t dst, uint32_t src, uint32_t n)
{
	struct drm_kllm_kv_seq_fork f = { .dst = dst, .src = src, .n_pos = n };

	return kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_FORK, &f);
}

static int seq_lookup(int fd, uint32_t h, const int32_t *tok, uint32_t n)
{
	struct drm_kllm_kv_seq_lookup l = { .handle = h, .tokens_ptr = (uintptr_t)tok,
					    .n_tokens = n };

	return kd_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_LOOKUP, &l);
}

static struct drm_kllm_kv_stats kv_stats(int fd, uint32_t prog)
{
	struct drm_kllm_kv_stats s = { .prog = prog };

	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_KV_STATS, &s), 0);
	return s;
}

#endif /* KLLM_VM_KVRAW_UTIL_H */
