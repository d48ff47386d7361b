/* SPDX-License-Identifier: MIT */
/*
 * engine_dev.h - the device engine: the compiled program runs in the kllm
 * kernel driver (kmod/, uapi/kllm_drm.h) instead of in this process.
 *
 * kllm_dev_open() finds the driver's node (/dev/accel/accel*, then
 * /dev/dri/renderD*: DRM driver name "kllm", UAPI 1.1 or later);
 * kllm_dev_load() pins the model file's data section (BO_IMPORT_FILE), hands
 * the program to the driver (PROG_CREATE) and makes the OUTPUT buffer, a
 * shmem buffer object mapped here.  A contiguous program's KV caches are
 * shmem buffer objects mapped here too; a paged program's are the
 * driver's sequences (kllm_dev_seq_*), never mapped.
 *
 * Jobs go through io_uring (IORING_OP_URING_CMD, KLLM_URING_CMD_SUBMIT,
 * 128-byte SQEs, a single-issuer DEFER_TASKRUN ring where the kernel has
 * one; a thread other than the ring's maker, or a forked child, gets a
 * ring of its own) when the kernel lets this process use it, else through
 * the JOB_SUBMIT / JOB_WAIT ioctls; the choice is made once, at the first
 * job, and kept (kllm_dev_name says which).
 *
 * Built only where liburing and libdrm are found (KLLM_HAVE_DEV); without
 * them kllm_dev_open() fails with -ENOTSUP, "device engine not built in".
 */
#ifndef KLLM_RUNTIME_ENGINE_DEV_H
#define KLLM_RUNTIME_ENGINE_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "kllm_prog_check.h"

struct kllm_dev;
struct drm_kllm_job;	/* uapi/kllm_drm.h */

/* A shmem buffer object of the device file, mapped read-write here. */
struct kllm_dev_bo {
	uint32_t handle;	/* 0: none */
	uint32_t pad;
	void *map;
	uint64_t size;
};

/* Is the device engine compiled into this library? */
int kllm_dev_built_in(void);

/*
 * Find and open the kllm node.  0 and *out; -ENOENT no node (or none this
 * process may open), -EPROTO a driver older than UAPI 1.1, -ENOTSUP not
 * built in; a one-line message in @err.
 */
int kllm_dev_open(struct kllm_dev **out, char *err, size_t errlen);

/*
 * Give the driver program @c (@info: what kllm_prog_check learnt of it),
 * its weights being @c->weights_size bytes of @model_fd from @data_off on
 * (a multiple of KLLM_PROG_BIND_ALIGN), and make the OUTPUT buffer
 * (max_batch rows).  0, or a negative errno with a message (the driver's
 * own reason when it rejects the program).
 */
int kllm_dev_load(struct kllm_dev *d, const struct kllm_compiled *c,
		  const struct kllm_prog_info *info, int model_fd, uint64_t data_off,
		  char *err, size_t errlen);

/* Close everything the device holds for us; NULL: no-op. */
void kllm_dev_close(struct kllm_dev *d);

/* "dev (io_uring)" or "dev (ioctl)" (the first job may still move an
 * io_uring engine to the ioctls). */
const char *kllm_dev_name(const struct kllm_dev *d);
/*
 * The driver's scheduling class for this device file's jobs
 * (KLLM_PRIORITY_* of kllm.h).  0, or -EPERM (interactive without
 * CAP_SYS_NICE) / -EINVAL with a message.
 */
int kllm_dev_set_priority(struct kllm_dev *d, uint32_t priority, char *err, size_t errlen);
/* The node's fd, the program handle and the OUTPUT buffer (after load). */
int kllm_dev_fd(const struct kllm_dev *d);
uint32_t kllm_dev_prog(const struct kllm_dev *d);
const struct kllm_dev_bo *kllm_dev_output(const struct kllm_dev *d);

/*
 * An io_uring for uring_cmd jobs: 128-byte SQEs, and where the kernel has
 * them (6.1 on) single-issuer with deferred task work, so completions are
 * posted only when the caller waits and a wait for N jobs wakes it once
 * (with the driver's lazy completion, 6.5 on).  Such a ring takes jobs
 * only from the thread that made it.  0 and the IORING_SETUP_* flags it
 * has in @flags, or a negative errno.
 */
struct io_uring;
int kllm_dev_ring_init(struct io_uring *ring, unsigned int entries, unsigned int *flags);

/* A zeroed (first touch) shmem buffer object of @size bytes, mapped. */
int kllm_dev_bo_create(struct kllm_dev *d, uint64_t size, struct kllm_dev_bo *bo);
/* Unmap and close it; *bo becomes empty. */
void kllm_dev_bo_free(struct kllm_dev *d, struct kllm_dev_bo *bo);

/*
 * One forward pass of the program: @n_tokens tokens (ids, positions,
 * sequence indices 0..n_seqs-1 into @kv, a KV buffer object per sequence),
 * logits of @n_outputs rows (@out_rows) left in kllm_dev_output().  0, or
 * a submission error / job status as kllm_dev_run_many gives them.
 */
struct kllm_dev_batch {
	uint32_t n_tokens, n_outputs, n_seqs;
	uint32_t timeout_ms;	/* 0: the module's job_timeout_ms */
	const int32_t *tokens, *pos, *seq, *out_rows;
	const uint32_t *kv;	/* [n_seqs] handles */
};
int kllm_dev_forward(struct kllm_dev *d, const struct kllm_dev_batch *b);
/*
 * @n batches over the same sequences (same kv[]) as @n jobs, handed to the
 * driver together (one io_uring_enter for up to a ring's worth), which
 * runs them in order: chunks of one long prompt.  0 or the first failure.
 */
int kllm_dev_forward_many(struct kllm_dev *d, const struct kllm_dev_batch *b, uint32_t n);

/*
 * Run @n jobs (their prog field is set here) in submission order and wait
 * for all of them: through io_uring, as many as the ring takes per
 * io_uring_enter, else JOB_SUBMIT for all then JOB_WAIT for each.
 * status[i] gets job i's result: 0, a submission error (-EINVAL, -ENOENT,
 * -EBUSY ...) or the job's status (-ETIMEDOUT, -EINTR, -ECANCELED).
 * Returns 0 when every job got a status, or a negative errno when the
 * mechanism itself failed (then status[] is meaningless).
 */
int kllm_dev_run_many(struct kllm_dev *d, struct drm_kllm_job *jobs, uint32_t n,
		      int32_t *status);

/*
 * KV sequences of a paged program (KLLM_PROG_BUF_PAGED, UAPI 1.3): the
 * cache is the driver's, in blocks never mapped here; a batch's kv[]
 * names sequence handles instead of buffer objects.  Each returns 0 or
 * a negative errno (-ENOENT bad handle, -EBUSY jobs unfinished on it,
 * -ENOSPC no free block, -ENOTSUP not built in).
 */
/* Blocks of the program's KV pool asked for at kllm_dev_load (0: the driver's default). */
void kllm_dev_set_kv_blocks(struct kllm_dev *d, uint32_t n_blocks);
int kllm_dev_seq_create(struct kllm_dev *d, uint32_t *handle);
int kllm_dev_seq_free(struct kllm_dev *d, uint32_t handle);
int kllm_dev_seq_fork(struct kllm_dev *d, uint32_t dst, uint32_t src, uint32_t n_pos);
int kllm_dev_seq_truncate(struct kllm_dev *d, uint32_t handle, uint32_t n_pos);
/* The positions the longest cached prefix of @tokens gave it (>= 0), or -errno. */
int kllm_dev_seq_lookup(struct kllm_dev *d, uint32_t handle, const int32_t *tokens,
			uint32_t n);
/* What the driver's pool and prefix cache for our program hold. */
struct kllm_dev_kv_stats {
	uint64_t block_bytes, hits, misses, inserted, evicted;
	uint32_t block_tokens, n_blocks, n_used, n_cached, n_idle, fd_seqs;
};
int kllm_dev_kv_stats(struct kllm_dev *d, struct kllm_dev_kv_stats *st);

/* "device job timed out" ...: what a job status means, for messages. */
const char *kllm_dev_strerror(int status);

#endif /* KLLM_RUNTIME_ENGINE_DEV_H */
