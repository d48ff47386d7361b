/* SPDX-License-Identifier: MIT */
/*
 * kllm_dev_access.h - the device-access layer: everything a program of
 * this tree needs to talk to kllm.ko, in the style of liburing.  The node
 * half (discovery, ioctls, buffer objects, the ioctl job path) is
 * kllm_dev_node.h / kllm_dev_node.c; here, inline, the io_uring half:
 * preparing the job's IORING_OP_URING_CMD.  Internal (runtime/engine_dev.c,
 * kllm-bench submit, tests/vm), never exported by libkllm.so; needs
 * liburing's and libdrm's headers (pkg-config --cflags liburing libdrm).
 *
 *   int fd = kllm_node_open(KLLM_NODE_VERSION(1, 1), path, sizeof(path), err, sizeof(err));
 *   io_uring_queue_init(64, &ring, KLLM_RING_SETUP_FLAGS);
 *   kllm_ring_queue_job(&ring, fd, &job, user_data);   (or: kllm_prep_job_submit(sqe, ...))
 *   io_uring_submit_and_wait(&ring, 1);   the CQE's res is the job's status
 */
#ifndef KLLM_DEV_ACCESS_H
#define KLLM_DEV_ACCESS_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <liburing.h>

#include "kllm_dev_node.h"
#include "kllm_drm.h"

/*
 * A ring that carries jobs must have 128-byte SQEs (a 64-byte one is
 * refused with -EINVAL): the 80-byte job is the command, from the SQE's
 * cmd field (byte 48) to its end.
 */
#define KLLM_RING_SETUP_FLAGS IORING_SETUP_SQE128
#define KLLM_SQE_BYTES 128
#define KLLM_SQE_CMD_OFFSET offsetof(struct io_uring_sqe, cmd)

_Static_assert(KLLM_SQE_CMD_OFFSET + sizeof(struct drm_kllm_job) == KLLM_SQE_BYTES,
	       "a job fills a 128-byte SQE's command area");

/*
 * Prepare @sqe, an entry of a KLLM_RING_SETUP_FLAGS ring, to submit @job
 * on the node @fd: the whole 128 bytes zeroed, IORING_OP_URING_CMD,
 * cmd_op KLLM_URING_CMD_SUBMIT, the job copied into the command (the
 * driver reads it once, at submission), @user_data for the CQE.
 */
static inline void kllm_prep_job_submit(struct io_uring_sqe *sqe, int fd,
					const struct drm_kllm_job *job, __u64 user_data)
{
	memset(sqe, 0, KLLM_SQE_BYTES);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KLLM_URING_CMD_SUBMIT;
	memcpy((unsigned char *)sqe + KLLM_SQE_CMD_OFFSET, job, sizeof(*job));
	io_uring_sqe_set_data64(sqe, user_data);
}

/*
 * Take an SQE of @ring and prepare it for @job: 0; -EINVAL a ring of
 * 64-byte SQEs (it cannot hold a job); -EBUSY the submission queue is full.
 */
static inline int kllm_ring_queue_job(struct io_uring *ring, int fd,
				      const struct drm_kllm_job *job, __u64 user_data)
{
	struct io_uring_sqe *sqe;

	if (!(ring->flags & IORING_SETUP_SQE128))
		return -EINVAL;
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return -EBUSY;
	kllm_prep_job_submit(sqe, fd, job, user_data);
	return 0;
}

#endif /* KLLM_DEV_ACCESS_H */
