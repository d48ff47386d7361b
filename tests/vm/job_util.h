/* SPDX-License-Identifier: MIT */
/*
 * job_util.h - guest-side helpers for programs and jobs: the toy
 * transformer of tests/unit/kt_prog.h uploaded to the device (weights as a
 * file pin, KV caches and outputs in shmem buffers), jobs through the
 * ioctls and through io_uring, and the same job on the in-process engine
 * as the reference.  Mapping buffers and preparing the io_uring command are
 * the device-access layer's (runtime/kllm_dev_access.h).
 */
#ifndef KLLM_VM_JOB_UTIL_H
#define KLLM_VM_JOB_UTIL_H

#include "drm_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <sys/mount.h>

#include "cpu.h"
#include "engine_cpu.h"
#include "kllm_dev_access.h"	/* liburing, the job's SQE */
#include "kt_prog.h"

#define KJ_SEQS 4
#define KJ_OUT_BYTES (2 * 4ull * TM_V * TM_MB + 64 * 4ull * TM_MB)

/* The toy model on the device. */
struct kj {
	struct toy_model m;
	int fd;			/* device */
	uint32_t w_bo, prog;
	uint32_t out_bo;	/* logits | ids | probs, 32-byte aligned each */
	uint64_t out_off[3];
	uint8_t *out;		/* its mapping */
	uint32_t kv_bo[KJ_SEQS];
	uint8_t *kv[KJ_SEQS];	/* their mappings */
	char wpath[64];
	int own_file;		/* remove wpath at teardown */
};

static inline void *kj_map(int fd, uint32_t handle, uint64_t size)
{
	void *p = NULL;

	ck_assert_int_eq(kllm_node_bo_map(fd, handle, size, &p), 0);
	return p;
}

static inline int kj_prog_create(int fd, const void *img, size_t size, uint32_t w_bo,
				 uint64_t w_off, uint32_t *handle, char *log, uint32_t log_size)
{
	struct drm_kllm_bind bind = { .handle = w_bo, .offset = w_off };
	struct drm_kllm_prog_create a = {
		.prog_ptr = (uintptr_t)img, .prog_size = (uint32_t)size,
		.binds_ptr = (uintptr_t)&bind, .n_binds = 1, .handle = KD_SENTINEL,
		.log_ptr = (uintptr_t)log, .log_size = log_size,
	};
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_PROG_CREATE, &a);

	if (!ret)
		*handle = a.handle;
	else
		ck_assert_uint_eq(a.handle, KD_SENTINEL);
	return ret;
}

static inline int kj_prog_destroy(int fd, uint32_t handle)
{
	struct drm_kllm_prog_destroy a = { .handle = handle };

	return kd_ioctl(fd, DRM_IOCTL_KLLM_PROG_DESTROY, &a);
}

/*
 * Build the toy model (seed) and upload it with its weights from @path
 * (NULL: a file of this process's own); @write: write the weights there
 * first (processes sharing one file must not rewrite it: a new change
 * time would make it a different pin).
 */
static inline void kj_setup_from(struct kj *j, uint64_t seed, const char *path, int write_it)
{
	int wfd;

	memset(j, 0, sizeof(*j));
	tm_build(&j->m, seed);
	j->fd = kd_open();
	ck_assert_int_ge(j->fd, 0);
	if (path)
		snprintf(j->wpath, sizeof(j->wpath), "%s", path);
	else
		snprintf(j->wpath, sizeof(j->wpath), "/tmp/kj-weights-%d", getpid());
	if (write_it) {
		wfd = open(j->wpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ck_assert_int_ge(wfd, 0);
		ck_assert_int_eq(write(wfd, j->m.weights, j->m.wsize), (ssize_t)j->m.wsize);
		close(wfd);
	}
	wfd = open(j->wpath, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(wfd, 0);
	ck_assert_int_eq(kd_import(j->fd, wfd, 0, j->m.wsize, &j->w_bo), 0);
	close(wfd);
	ck_assert_int_eq(kj_prog_create(j->fd, j->m.img, j->m.size, j->w_bo, 0, &j->prog,
					NULL, 0), 0);
	ck_assert_int_eq(kd_bo_create(j->fd, KJ_OUT_BYTES, &j->out_bo), 0);
	j->out = kj_map(j->fd, j->out_bo, KJ_OUT_BYTES);
	j->out_off[0] = 0;
	j->out_off[1] = 4ull * TM_V * TM_MB;
	j->out_off[2] = j->out_off[1] + 64 * 4ull * TM_MB;
	for (int s = 0; s < KJ_SEQS; s++) {
		ck_assert_int_eq(kd_bo_create(j->fd, j->m.kv_bytes, &j->kv_bo[s]), 0);
		j->kv[s] = kj_map(j->fd, j->kv_bo[s], j->m.kv_bytes);
	}
	j->own_file = !path;
}

static inline void kj_setup(struct kj *j, uint64_t seed)
{
	kj_setup_from(j, seed, NULL, 1);
}

static inline void kj_teardown(struct kj *j)
{
	for (int s = 0; s < KJ_SEQS; s++)
		munmap(j->kv[s], j->m.kv_bytes);
	munmap(j->out, KJ_OUT_BYTES);
	close(j->fd);
	if (j->own_file)
		unlink(j->wpath);
	tm_free(&j->m);
}

/* A batch: arrays the job descriptor points at. */
struct kj_batch {
	int32_t tok[TM_MB], pos[TM_MB], seq[TM_MB], out[TM_MB];
	uint32_t n, n_out;
	struct drm_kllm_bind binds[3 + KJ_SEQS];
};

/* One sequence's prompt chunk: tokens at positions p0.., all rows output. */
static inline void kj_batch_seq(struct kj_batch *b, uint32_t seq, uint32_t p0, uint32_t n,
				uint32_t tok_seed)
{
	b->n = n;
	b->n_out = n;
	for (uint32_t i = 0; i < n; i++) {
		b->tok[i] = (int32_t)((tok_seed + 7 * i) % TM_V);
		b->pos[i] = (int32_t)(p0 + i);
		b->seq[i] = (int32_t)seq;
		b->out[i] = (int32_t)i;
	}
}

static inline struct drm_kllm_job kj_job(struct kj *j, struct kj_batch *b)
{
	for (int o = 0; o < 3; o++)
		b->binds[o] = (struct drm_kllm_bind){ .handle = j->out_bo, .offset = j->out_off[o] };
	for (int s = 0; s < KJ_SEQS; s++)
		b->binds[3 + s] = (struct drm_kllm_bind){ .handle = j->kv_bo[s] };
	return (struct drm_kllm_job){
		.prog = j->prog, .n_tokens = b->n, .n_outputs = b->n_out,
		.n_seqs = KJ_SEQS, .n_binds = 3 + KJ_SEQS,
		.tokens_ptr = (uintptr_t)b->tok, .pos_ptr = (uintptr_t)b->pos,
		.seq_ptr = (uintptr_t)b->seq, .out_rows_ptr = (uintptr_t)b->out,
		.binds_ptr = (uintptr_t)b->binds,
	};
}

static inline int kj_submit(int fd, const struct drm_kllm_job *job, uint64_t *id)
{
	struct drm_kllm_job_submit a = { .job = *job, .id = KD_SENTINEL };
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_JOB_SUBMIT, &a);

	if (!ret)
		*id = a.id;
	else
		ck_assert_uint_eq(a.id, KD_SENTINEL);
	return ret;
}

/* Wait; 0 and *status, or -errno. */
static inline int kj_wait(int fd, uint64_t id, int64_t timeout_ns, int *status)
{
	struct drm_kllm_job_wait a = { .id = id, .timeout_ns = timeout_ns, .status = 12345 };
	int ret = kd_ioctl(fd, DRM_IOCTL_KLLM_JOB_WAIT, &a);

	if (!ret)
		*status = a.status;
	else
		ck_assert_int_eq(a.status, 12345);
	return ret;
}

/* Submit and wait (10 s); the job's status or the submission's -errno. */
static inline int kj_run_ioctl(struct kj *j, struct kj_batch *b)
{
	struct drm_kllm_job job = kj_job(j, b);
	uint64_t id;
	int status, ret = kj_submit(j->fd, &job, &id);

	if (ret)
		return ret;
	ck_assert_int_eq(kj_wait(j->fd, id, 10000000000ll, &status), 0);
	return status;
}

/* An io_uring command SQE (of a 128-byte-SQE ring) carrying @job. */
static inline void kj_prep_uring(struct io_uring_sqe *sqe, int fd,
				 const struct drm_kllm_job *job, uint64_t user_data)
{
	ck_assert_ptr_nonnull(sqe);	/* (callers pass io_uring_get_sqe()'s) */
	kllm_prep_job_submit(sqe, fd, job, user_data);
}

/* Submit @n jobs in one io_uring_enter and reap their results (by user_data). */
static inline void kj_run_uring(struct io_uring *ring, int fd, const struct drm_kllm_job *jobs,
				unsigned int n, int *res)
{
	struct io_uring_cqe *cqe;

	for (unsigned int i = 0; i < n; i++)
		ck_assert_int_eq(kllm_ring_queue_job(ring, fd, &jobs[i], i), 0);
	ck_assert_int_eq(io_uring_submit_and_wait(ring, n), (int)n);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(io_uring_wait_cqe(ring, &cqe), 0);
		ck_assert_uint_lt(cqe->user_data, n);
		res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
}

/* The in-process reference: the same program and batch on the CPU engine. */
struct kj_ref {
	uint8_t *kv[KJ_SEQS];
	uint8_t *out;		/* same layout as the device's out BO */
	uint8_t *act;
	struct kllm_prog_info info;
};

static inline void kj_ref_init(struct kj_ref *r, struct kj *j)
{
	struct kllm_prog_err err;

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(kllm_prog_check(j->m.img, j->m.size, &r->info, &err), 0);
	for (int s = 0; s < KJ_SEQS; s++)
		r->kv[s] = kt_alloc(j->m.kv_bytes);
	r->out = kt_alloc(KJ_OUT_BYTES);
	r->act = kt_alloc(r->info.n_buffers ? 1 << 20 : 1);
}

static inline void kj_ref_free(struct kj_ref *r)
{
	for (int s = 0; s < KJ_SEQS; s++)
		free(r->kv[s]);
	free(r->out);
	free(r->act);
}

static inline void kj_ref_run(struct kj_ref *r, struct kj *j, const struct kj_batch *b)
{
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS] = { 0 }, kv[KJ_SEQS];
	struct kllm_prog_bindings bind = { .buf = buf };
	struct kllm_prog_batch batch = {
		.n_tokens = b->n, .n_outputs = b->n_out, .tokens = b->tok, .pos = b->pos,
		.seq = b->seq, .out_rows = b->out, .n_seqs = KJ_SEQS, .kv = kv };
	struct kllm_prog_err err;

	buf[j->m.b_w] = (struct kllm_prog_mem){ j->m.weights, j->m.wsize };
	buf[j->m.b_act] = (struct kllm_prog_mem){ r->act, 1 << 20 };
	buf[j->m.b_logits] = (struct kllm_prog_mem){ r->out + j->out_off[0], 4ull * TM_V * TM_MB };
	buf[j->m.b_ids] = (struct kllm_prog_mem){ r->out + j->out_off[1], 4ull * TM_MB };
	buf[j->m.b_probs] = (struct kllm_prog_mem){ r->out + j->out_off[2], 4ull * TM_V * TM_MB };
	for (int s = 0; s < KJ_SEQS; s++)
		kv[s] = (struct kllm_prog_mem){ r->kv[s], j->m.kv_bytes };
	ck_assert_int_eq(kllm_engine_cpu_run(&r->info, &bind, &batch, NULL, &err), 0);
}

/* Device outputs of @n_out rows and KV caches equal the reference, bitwise. */
static inline void kj_assert_same(struct kj *j, struct kj_ref *r, uint32_t n_out)
{
	ck_assert_msg(!memcmp(j->out + j->out_off[0], r->out + j->out_off[0], 4ull * TM_V * n_out),
		      "logits differ from the in-process engine");
	ck_assert_msg(!memcmp(j->out + j->out_off[1], r->out + j->out_off[1], 4ull * n_out),
		      "argmax ids differ");
	ck_assert_msg(!memcmp(j->out + j->out_off[2], r->out + j->out_off[2], 4ull * TM_V * n_out),
		      "probabilities differ");
	for (int s = 0; s < KJ_SEQS; s++)
		ck_assert_msg(!memcmp(j->kv[s], r->kv[s], j->m.kv_bytes), "KV cache %d differs", s);
}

/* Write @val to @path (a module parameter, a debugfs file); asserts. */
static inline void kj_write_file(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(val, f);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Select one kernels/ path in this process and load kllm.ko with the same
 * (simd=), so both homes run the same code; mount debugfs.  The path's
 * name in @simd; 0, or 1 after saying why (@who: the test's name).
 */
static inline int kj_load_same_simd(const char *who, char simd[16])
{
	char params[64];
	int ret;

	snprintf(simd, 16, "%s", vm_same_simd());
	kllm_cpu_init();
	if (kllm_cpu_select((kk_u32)kllm_cpu_parse_simd(simd))) {
		printf("vm: %s: in-process simd=%s refused\n", who, simd);
		return 1;
	}
	if (vm_module_loaded("kllm"))
		vm_unload("kllm");
	snprintf(params, sizeof(params), "simd=%s", simd);
	ret = vm_load_kllm(params);
	if (ret) {
		printf("vm: %s: insmod kllm %s: %s\n", who, params, strerror(-ret));
		return 1;
	}
	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	return 0;
}

#endif /* KLLM_VM_JOB_UTIL_H */
