// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_uring.c - jobs through io_uring: IORING_OP_URING_CMD on the device
 * file, cmd_op KLLM_URING_CMD_SUBMIT, the 80-byte struct drm_kllm_job in
 * the SQE128 command area.  The handler copies the command out of the SQE
 * once (the SQE is user-writable ring memory), builds and queues the job,
 * and parks the command (-EIOCBQUEUED); the engine finishes the job and
 * the completion is posted from the submitter's task work with the job's
 * status as the CQE's res.  On a DEFER_TASKRUN ring (6.5 on) the task
 * work is queued lazily: a submitter waiting for a batch of N jobs is
 * woken once, not N times.
 *
 * Every parked command completes by itself: the engine runs each job to
 * its end, its timeout, or its submitter's death (checked at every chunk).
 * That is all 6.1 offers (no cancel hook; the in-flight command holds the
 * file, so ->release cannot clean up).  From 6.7 the command is also
 * marked cancelable and a ring teardown cancels it through
 * IO_URING_F_CANCEL.
 */
#include <linux/err.h>
#include <linux/fs.h>
#include <drm/drm_file.h>

#include "kllm_compat.h"
#include "kllm_job.h"

/* What we keep in the command's pdu (32 bytes). */
struct kllm_uring_pdu {
	struct kllm_job *job;
};

static struct kllm_uring_pdu *kllm_uring_pdu(struct io_uring_cmd *cmd)
{
	BUILD_BUG_ON(sizeof(struct kllm_uring_pdu) > sizeof(cmd->pdu));
	return (struct kllm_uring_pdu *)cmd->pdu;
}

/*
 * Task work of the submitter: post the CQE, then drop the command's
 * reference.  In that order: until io_uring_cmd_done takes the command off
 * the ring's cancelable list, a ring teardown on another CPU may still
 * call kllm_uring_cmd with IO_URING_F_CANCEL, which reads the job (DONE by
 * now: the cancel is ignored).
 */
static void kllm_uring_done_cb(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct kllm_job *job = kllm_uring_pdu(cmd)->job;
	/* Set before kllm_uring_complete() queued this task work: io_uring's
	 * fully ordered task-work list add and its take publish it. */
	int status = job->status;
	/* On a CQE32 ring, big_cqe[0]: the KV positions a failed job leaves invalid. */
	u64 res2 = status ? (u64)(u32)job->pos_first << 32 | (u32)job->pos_last : 0;

	kllm_uring_cmd_done(cmd, status, res2, issue_flags);
	kllm_job_put(job);
}

/*
 * Lazily where the kernel can: each command posts exactly one CQE, which
 * is what IOU_F_TWQ_LAZY_WAKE asks of its users.
 */
void kllm_uring_complete(struct kllm_job *job)
{
	kllm_uring_cmd_complete(job->cmd, kllm_uring_done_cb);
}

static int kllm_uring_submit(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct drm_file *file = cmd->file->private_data;
	struct drm_kllm_job desc;
	struct kllm_job *job;

	if (cmd->cmd_op != KLLM_URING_CMD_SUBMIT)
		return -EINVAL;
	/* The job takes 80 bytes: a 64-byte SQE has 16. */
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	BUILD_BUG_ON(sizeof(desc) != 80);
	/* Once: nothing below reads the SQE again. */
	memcpy(&desc, kllm_uring_cmd_payload(cmd), sizeof(desc));
	job = kllm_job_create(file, &desc);
	if (IS_ERR(job))
		return PTR_ERR(job);
	/* The creator's reference becomes the command's.  Both published by
	 * locks: the engine's (kllm_engine_queue) to the leader, the ring's
	 * uring_lock (mark_cancelable, held by the cancel) to IO_URING_F_CANCEL. */
	job->cmd = cmd;
	kllm_uring_pdu(cmd)->job = job;
	/*
	 * Cancelable before it is queued: once queued, the job may complete
	 * and the command be freed at any time.  A cancel in between finds
	 * the job NEW and the queueing finishes it (kllm_engine_queue).
	 */
#if KLLM_URING_CAN_CANCEL
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
#endif
	kllm_debug_delay(READ_ONCE(kllm_delay_queue_us));	/* debugfs knob */
	kllm_job_count_submit(true);
	kllm_engine_queue(job);
	return -EIOCBQUEUED;
}

int kllm_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
#if KLLM_URING_CAN_CANCEL
	/* Ring teardown: stop the job; its completion still comes by task work. */
	if (issue_flags & IO_URING_F_CANCEL) {
		kllm_engine_cancel(kllm_uring_pdu(cmd)->job);
		return 0;
	}
#endif
	return kllm_uring_submit(cmd, issue_flags);
}
