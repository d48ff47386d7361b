/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * kllm_drm.h - the kllm DRM driver's ioctls (kernel and userspace).
 *
 * The device is /dev/accel/accelN on kernels with the accel subsystem
 * (6.2 and later) and /dev/dri/renderDN before; the DRM driver name is
 * "kllm".  Access is by the node's permissions (udev: group kllm, 0660).
 *
 * Rules every ioctl follows (docs/DRIVER.md has the full list):
 *  - structs are padded to 8 bytes; the ioctl number encodes the size, and
 *    DRM zero-extends a shorter (older) struct, so fields are only added at
 *    the end and a zero value always means "old behaviour";
 *  - flags outside the ioctl's *_FLAGS mask, and non-zero pad/reserved
 *    fields, fail with -EINVAL;
 *  - on failure no output field is changed and nothing was created;
 *  - handles are per open file: an unknown handle, or one of another file,
 *    is -ENOENT (DRM_IOCTL_GEM_CLOSE, from DRM core, says -EINVAL);
 *  - a file pin over the per-uid quota fails with -EDQUOT, over the
 *    module-wide cap with -ENOSPC; a userptr pin over RLIMIT_MEMLOCK fails
 *    with -ENOMEM (the mlock(2) convention).
 */
#ifndef KLLM_DRM_H
#define KLLM_DRM_H

#if defined(__KERNEL__)
#include <drm/drm.h>
#else
#include "drm.h"
#endif

#if defined(__cplusplus)
extern "C" {
#endif

/* GET_INFO.version: major << 16 | minor; minor grows with compatible additions. */
#define KLLM_UAPI_VERSION_MAJOR 1
#define KLLM_UAPI_VERSION_MINOR 3
#define KLLM_UAPI_VERSION ((KLLM_UAPI_VERSION_MAJOR << 16) | KLLM_UAPI_VERSION_MINOR)

#define DRM_KLLM_GET_INFO	0x00
#define DRM_KLLM_BO_CREATE	0x01
#define DRM_KLLM_BO_IMPORT_FILE	0x02
#define DRM_KLLM_BO_USERPTR	0x03
#define DRM_KLLM_BO_INFO	0x04
#define DRM_KLLM_GET_STATS	0x05
#define DRM_KLLM_BO_READ	0x06
#define DRM_KLLM_PROG_CREATE	0x07	/* 1.1 */
#define DRM_KLLM_PROG_DESTROY	0x08	/* 1.1 */
#define DRM_KLLM_JOB_SUBMIT	0x09	/* 1.1 */
#define DRM_KLLM_JOB_WAIT	0x0a	/* 1.1 */
#define DRM_KLLM_CTX_SET	0x0b	/* 1.2 */
#define DRM_KLLM_KV_SEQ_CREATE	0x0c	/* 1.3 */
#define DRM_KLLM_KV_SEQ_FREE	0x0d	/* 1.3 */
#define DRM_KLLM_KV_SEQ_FORK	0x0e	/* 1.3 */
#define DRM_KLLM_KV_SEQ_TRUNCATE 0x0f	/* 1.3 */
#define DRM_KLLM_KV_SEQ_LOOKUP	0x10	/* 1.3 */
#define DRM_KLLM_KV_STATS	0x11	/* 1.3 */

/* Buffer object kinds (BO_INFO.type, GET_INFO.bo_types bit 1 << type). */
#define KLLM_BO_TYPE_SHMEM	1	/* BO_CREATE: pageable, mmap-able */
#define KLLM_BO_TYPE_FILE	2	/* BO_IMPORT_FILE: pinned page cache, read-only */
#define KLLM_BO_TYPE_USERPTR	3	/* BO_USERPTR: pinned anonymous memory */

/*
 * DRM_IOCTL_KLLM_GET_INFO: driver version and the limits that apply to the
 * caller.  In: flags, reserved (0).  Out: the rest.
 */
struct drm_kllm_get_info {
	__u32 flags;			/* in: no flags defined, 0 */
	__u32 version;			/* out: KLLM_UAPI_VERSION */
	__u64 max_pinned_bytes;		/* out: module-wide cap on file pins */
	__u64 uid_quota_bytes;		/* out: file-pin quota of each uid */
	__u64 memlock_limit_bytes;	/* out: caller's RLIMIT_MEMLOCK, ~0 unlimited */
	__u64 max_bo_bytes;		/* out: largest BO_CREATE size */
	__u32 page_size;		/* out: pin granularity */
	__u32 bo_types;			/* out: bit (1 << KLLM_BO_TYPE_*) per kind */
	__u64 reserved[4];		/* in: 0 */
};
#define KLLM_GET_INFO_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_CREATE: a shmem buffer (KV cache, activations,
 * outputs).  Pages are allocated when first touched and charged to the
 * memory cgroup of the task touching them.  size is rounded up to pages.
 * Errors: size 0 or not representable -EINVAL; over max_bo_bytes -E2BIG.
 */
struct drm_kllm_bo_create {
	__u64 size;			/* in: bytes, > 0 */
	__u32 flags;			/* in: 0 */
	__u32 handle;			/* out */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_CREATE_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_IMPORT_FILE: pin bytes [offset, offset + size) of a
 * regular file's page cache read-only, without copying (model weights).
 * fd must be open for reading (else -EBADF) and name a regular file (else
 * -EINVAL); the range must lie inside the file (else -EINVAL).  Charged in
 * whole pages to the module-wide cap once per pinned range (max_pinned_mb,
 * -ENOSPC) and in full to each effective uid holding it (uid_quota_mb,
 * -EDQUOT), not to RLIMIT_MEMLOCK.  The
 * pages stay resident until the handle is closed, even if the file is
 * truncated or rewritten meanwhile (the engine then sees the old pages).
 */
struct drm_kllm_bo_import_file {
	__s32 fd;			/* in: O_RDONLY or O_RDWR fd */
	__u32 flags;			/* in: 0 */
	__u64 offset;			/* in: byte offset in the file */
	__u64 size;			/* in: bytes, > 0 */
	__u32 handle;			/* out */
	__u32 pad;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_IMPORT_FILE_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_USERPTR: pin the caller's anonymous memory [addr,
 * addr + size) (both page-aligned, else -EINVAL).  Charged to the calling
 * process's pinned memory against RLIMIT_MEMLOCK (-ENOMEM) unless it has
 * CAP_IPC_LOCK.  Unmapped ranges fail with -EFAULT.
 */
struct drm_kllm_bo_userptr {
	__u64 addr;			/* in: page-aligned user address */
	__u64 size;			/* in: page-aligned bytes, > 0 */
	__u32 flags;			/* in: KLLM_USERPTR_* */
	__u32 handle;			/* out */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_USERPTR_WRITABLE	(1u << 0)	/* the engine may write it */
#define KLLM_BO_USERPTR_FLAGS	KLLM_USERPTR_WRITABLE

/*
 * DRM_IOCTL_KLLM_BO_INFO: what a handle is.  mmap_offset is the offset to
 * mmap() the device file at (shmem buffers only; 0 for pins, which cannot
 * be mapped through the device).
 */
struct drm_kllm_bo_info {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 size;			/* out: bytes asked for at creation */
	__u64 mmap_offset;		/* out */
	__u64 pinned_bytes;		/* out: whole pages pinned (0 for shmem) */
	__u32 type;			/* out: KLLM_BO_TYPE_* */
	__u32 pad;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_INFO_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_GET_STATS: accounting counters (bytes), for tests and
 * monitoring.  Module-wide and per-uid figures are charged bytes (whole
 * pages); fd_* cover the handles of the file the ioctl is made on.
 */
struct drm_kllm_get_stats {
	__u32 flags;			/* in: 0 */
	__u32 fd_handles;		/* out: handles open on this file */
	__u64 file_pinned_bytes;	/* out: all file pins, module-wide */
	__u64 uid_pinned_bytes;		/* out: file pins of the caller's euid */
	__u64 userptr_bytes;		/* out: all userptr pins, module-wide */
	__u64 shmem_bytes;		/* out: all shmem BOs alive, module-wide */
	__u64 fd_file_pinned_bytes;	/* out: this file's file pins */
	__u64 fd_userptr_bytes;		/* out: this file's userptr pins */
	__u64 fd_shmem_bytes;		/* out: this file's shmem BOs */
	__u64 reserved[4];		/* in: 0 */
	/* 1.1: jobs, module-wide (a 1.0 caller's shorter struct omits them) */
	__u64 jobs_submitted;		/* out: accepted by JOB_SUBMIT or uring_cmd */
	__u64 jobs_via_uring;		/* out: of those, through io_uring */
	__u64 jobs_completed;		/* out: finished with status 0 */
	__u64 jobs_failed;		/* out: finished with a negative status */
	__u64 jobs_in_flight;		/* out: accepted and not yet finished */
	__u64 programs;			/* out: programs alive */
	__u64 reserved2[4];		/* in: 0 */
};
#define KLLM_GET_STATS_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_BO_READ: copy bytes [offset, offset + size) of a pinned
 * buffer (file or userptr pin) to data_ptr through the kernel mapping the
 * engine uses.  shmem buffers are read through mmap instead (-EINVAL).
 * The range must lie inside the buffer's size (-EINVAL); an unwritable
 * data_ptr is -EFAULT.
 */
struct drm_kllm_bo_read {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 offset;			/* in: byte offset in the buffer */
	__u64 size;			/* in: bytes, > 0 */
	__u64 data_ptr;			/* in: user buffer of size bytes */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_BO_READ_FLAGS 0u


/*
 * Programs and jobs (1.1).
 *
 * A program (uapi/kllm_prog.h) is a model compiled into tensor ops over
 * buffers.  PROG_CREATE copies the image into the kernel, checks all of it
 * with the same validator libkllm runs (uapi/prog/kllm_prog_check.c) and binds
 * its WEIGHTS buffers to buffer objects; the driver allocates the program's
 * activation arena and scratch itself.  A job runs the program once for a
 * batch of tokens: its inputs (token ids, positions, sequence indices,
 * output rows) are copied into the kernel when it is submitted, and it
 * binds each of its sequences' KV buffers and the program's OUTPUT buffers
 * to buffer objects (shmem buffers, or writable userptr pins).
 *
 * Jobs of one file and one priority class run in the order they were
 * submitted.  Scheduling (1.2): each open file is a context with a
 * priority class (CTX_SET, or per job in drm_kllm_job.flags); the engine
 * serves interactive before normal before background, shares engine time
 * fairly among the contexts of a class, lets a job that waited too long
 * go first whatever its class, splits long jobs into chunks (a higher
 * class gets in at every chunk boundary) and fuses jobs of different
 * files that run the same program into one pass.  None of this changes
 * a job's results, bit for bit.
 */

/* Priority classes (1.2). */
#define KLLM_PRIO_INTERACTIVE	1	/* needs CAP_SYS_NICE */
#define KLLM_PRIO_NORMAL	2	/* a new file's class */
#define KLLM_PRIO_BACKGROUND	3

/* One buffer binding: a buffer object of the caller's file and a byte
 * offset into it (a multiple of KLLM_PROG_BIND_ALIGN, 32). */
struct drm_kllm_bind {
	__u32 handle;			/* GEM handle; 0 = unbound (KV only) */
	__u32 flags;			/* 0 */
	__u64 offset;			/* bytes into the buffer object */
};

/*
 * DRM_IOCTL_KLLM_PROG_CREATE: check and keep a program.  binds_ptr holds
 * one drm_kllm_bind per WEIGHTS buffer of the program, in buffer id order
 * (n_binds must equal their number); the buffer object must hold the
 * buffer's declared size from the offset on.  Weights are only read.
 * Errors: a program the validator rejects -EINVAL, with its one-line reason
 * written to log_ptr (if log_size > 0, always NUL-terminated; the only
 * output written on failure); prog_size 0 or over KLLM_PROG_MAX_SIZE
 * -EINVAL; activation arena over the module's max_act_mb -E2BIG; bad
 * handle -ENOENT; too small or misaligned binding -EINVAL; more than
 * KLLM_MAX_PROGS_PER_FILE programs on the file -EMFILE.
 */
struct drm_kllm_prog_create {
	__u64 prog_ptr;			/* in: the program image */
	__u32 prog_size;		/* in: its bytes */
	__u32 flags;			/* in: 0 */
	__u64 binds_ptr;		/* in: struct drm_kllm_bind[n_binds] */
	__u32 n_binds;			/* in: number of WEIGHTS buffers */
	__u32 handle;			/* out: program handle (per file, >= 1) */
	__u64 log_ptr;			/* in: optional char[log_size] */
	__u32 log_size;			/* in: 0 for no message */
	__u32 pad;			/* in: 0 */
	__u64 act_bytes;		/* out: activation + scratch bytes allocated */
	__u64 reserved[2];		/* in: 0 */
	/* 1.3, paged programs (KLLM_PROG_BUF_PAGED; else must be 0): in:
	 * blocks of the program's KV pool, 0 for KLLM_KV_DEFAULT_SEQS full
	 * sequences' worth; out: the blocks of the pool the program uses
	 * (an identical program's existing pool keeps its size). */
	__u32 kv_blocks;
	__u32 pad2;			/* in: 0 */
	__u64 reserved2[2];		/* in: 0 */
};
#define KLLM_PROG_CREATE_FLAGS 0u
#define KLLM_KV_DEFAULT_SEQS 4
#define KLLM_MAX_PROGS_PER_FILE 64

/*
 * DRM_IOCTL_KLLM_PROG_DESTROY: drop the file's program handle.  Jobs
 * already submitted keep the program until they finish.  Unknown handle
 * -ENOENT.
 */
struct drm_kllm_prog_destroy {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_PROG_DESTROY_FLAGS 0u

/*
 * A job: the argument of JOB_SUBMIT and, as is, the 80-byte command of an
 * IORING_OP_URING_CMD SQE (the ring must be set up with IORING_SETUP_SQE128,
 * cmd_op KLLM_URING_CMD_SUBMIT).
 *
 *  - tokens, pos, seq: __s32[n_tokens]; out_rows: __s32[n_outputs]; a
 *    pointer is needed only if the program declares that INPUT buffer
 *    (else it must be 0, and n_outputs 0 without an OUT_ROWS input).  The
 *    values are copied at submission; output rows must be distinct token
 *    rows of the job; the kernels bound-check every id, position and
 *    sequence index where they use it.
 *  - binds: n_binds drm_kllm_bind, first one per OUTPUT buffer of the
 *    program (buffer id order), then n_seqs * n_kv for the KV buffers:
 *    binds[n_out + s * n_kv + i] is sequence s's memory for the program's
 *    i-th KV buffer (handle 0 leaves sequence s unbound).  A paged
 *    program (1.3) takes n_out + n_seqs binds instead: binds[n_out + s]
 *    .handle is the KV sequence handle (KV_SEQ_CREATE) of sequence s (0:
 *    unbound; offset and flags 0; a handle named twice -EINVAL).  Each bound
 *    range must hold the buffer's declared size (OUTPUT: the bytes every
 *    tensor of the buffer has at this job's rows), in a shmem buffer or a
 *    writable userptr pin.
 *  - timeout_ms: engine time allowed to the job, at most the module's
 *    job_timeout_ms (0 or more: that limit); past it -ETIMEDOUT.
 *
 * Submission errors (returned by the ioctl, or as the CQE's res): unknown
 * flags or non-zero reserved -EINVAL; unknown program or buffer handle
 * -ENOENT; n_tokens 0 or over the program's max_batch, n_outputs >
 * n_tokens, a repeated or out-of-range output row, n_seqs over
 * KLLM_PROG_MAX_SEQS, wrong n_binds, misaligned, too small or read-only
 * binding -EINVAL; unreadable array -EFAULT; more than
 * KLLM_MAX_JOBS_PER_FILE unfinished jobs on the file, or their kernel
 * memory over the module's job_mem_mb, -EBUSY.
 * Job status (JOB_WAIT's status, or the CQE's res): 0 done; -ETIMEDOUT
 * over its time; -ECANCELED the io_uring request was cancelled (ring torn
 * down); -EINTR the submitting process was killed.  A failed job may have
 * written any part of its OUTPUT buffers and, for its sequences, the KV
 * rows of its own positions; nothing else.
 */
struct drm_kllm_job {
	__u32 prog;			/* program handle */
	__u32 flags;			/* KLLM_JOB_* */
	__u32 n_tokens;			/* 1..max_batch */
	__u32 n_outputs;		/* 0..n_tokens */
	__u32 n_seqs;			/* 0..KLLM_PROG_MAX_SEQS */
	__u32 n_binds;			/* n_out + n_seqs * n_kv */
	__u64 tokens_ptr;
	__u64 pos_ptr;
	__u64 seq_ptr;
	__u64 out_rows_ptr;
	__u64 binds_ptr;		/* struct drm_kllm_bind[n_binds] */
	__u32 timeout_ms;
	__u32 pad;			/* 0 */
	__u64 reserved;			/* 0 */
};
/* flags: the job's class, 0 for its file's (interactive: CAP_SYS_NICE, else -EPERM). */
#define KLLM_JOB_PRIO_MASK	0x3u
#define KLLM_JOB_PRIO(p)	((__u32)(p) & KLLM_JOB_PRIO_MASK)
#define KLLM_JOB_FLAGS		KLLM_JOB_PRIO_MASK
#define KLLM_MAX_JOBS_PER_FILE 1024

/* io_uring command: sqe->cmd_op; sqe->cmd holds a struct drm_kllm_job. */
#define KLLM_URING_CMD_SUBMIT	0x4b01

/* DRM_IOCTL_KLLM_JOB_SUBMIT: queue a job; its id is for JOB_WAIT. */
struct drm_kllm_job_submit {
	struct drm_kllm_job job;	/* in */
	__u64 id;			/* out: job id, per file, >= 1 */
	__u64 reserved[2];		/* in: 0 */
};

/*
 * DRM_IOCTL_KLLM_JOB_WAIT: wait up to timeout_ns (0: just look) for job
 * id of this file (submitted by JOB_SUBMIT).  Returns 0 once it has
 * finished, with its status; the id is then forgotten.  Not finished in
 * time -ETIMEDOUT (the job goes on); a signal -ERESTARTSYS/-EINTR;
 * unknown or already waited-for id -ENOENT.
 */
struct drm_kllm_job_wait {
	__u64 id;			/* in */
	__s64 timeout_ns;		/* in: relative, >= 0 */
	__u32 flags;			/* in: 0 */
	__s32 status;			/* out: the job's status */
	__u64 reserved[2];		/* in: 0 */
	/* 1.2: status < 0: the lowest and highest position the job had
	 * (its KV rows there are invalid); -1 when it wrote none. */
	__s32 kv_pos_first;		/* out */
	__s32 kv_pos_last;		/* out */
	__u64 reserved2[2];		/* in: 0 */
};
#define KLLM_JOB_WAIT_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_CTX_SET (1.2): set a parameter of this file's context.
 * KLLM_CTX_PRIORITY: value KLLM_PRIO_*; interactive needs CAP_SYS_NICE
 * (-EPERM).  Unknown param or value -EINVAL.
 */
struct drm_kllm_ctx_set {
	__u32 param;			/* in: KLLM_CTX_* */
	__u32 flags;			/* in: 0 */
	__u64 value;			/* in */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_CTX_PRIORITY	1
/* 1.3: value 1 makes the KV sequences this file creates from now on
 * cache their blocks under the public partition (every uid's lookups may
 * hit them), 0 under the file's uid (the default).  1 needs CAP_SYS_ADMIN
 * (-EPERM).  docs/SECURITY.md says why. */
#define KLLM_CTX_KV_PUBLIC	2
#define KLLM_CTX_SET_FLAGS	0u

/*
 * KV sequences (1.3): the KV cache of a paged program (KLLM_PROG_BUF_PAGED)
 * lives in the kernel, in a pool of blocks that is never mapped into any
 * process; a job names sequences by handle (drm_kllm_job.binds) and the
 * kernel gives each the blocks it writes.  Identical programs over the
 * same weights (the same pinned pages) share one pool and one prefix
 * cache: full blocks a sequence filled in order, keyed by the token ids
 * the kernel copied in, found again by KV_SEQ_LOOKUP.  Lookups see the
 * blocks cached under the caller's uid (the uid that opened the file),
 * then those under the public partition (KLLM_CTX_KV_PUBLIC).
 *
 * A sequence with jobs unfinished is busy: FORK (either side), TRUNCATE
 * and LOOKUP fail with -EBUSY, and a new job on it must only write
 * positions above every position of those jobs (else -EBUSY).  A job that
 * fails cuts its sequences back to their first position in it (once their
 * other jobs are done).  Handles are per file: unknown, another file's, or
 * freed -ENOENT; a program that is not paged -EINVAL.  No free block
 * (every block held by a sequence) -ENOSPC.
 */

/* DRM_IOCTL_KLLM_KV_SEQ_CREATE: an empty sequence of paged program @prog. */
struct drm_kllm_kv_seq_create {
	__u32 prog;			/* in: program handle */
	__u32 flags;			/* in: 0 */
	__u32 handle;			/* out: sequence handle (per file, >= 1) */
	__u32 pad;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_KV_SEQ_CREATE_FLAGS 0u
#define KLLM_MAX_KV_SEQS_PER_FILE 256	/* more: -EMFILE */

/* DRM_IOCTL_KLLM_KV_SEQ_FREE: drop a sequence (its blocks go once its
 * jobs are done; cached ones stay in the cache). */
struct drm_kllm_kv_seq_free {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_KV_SEQ_FREE_FLAGS 0u

/* DRM_IOCTL_KLLM_KV_SEQ_FORK: dst (emptied first) holds src's first n_pos
 * positions: full blocks shared read-only, a partial last one copied.
 * dst == src, sequences of different programs, or n_pos past what src
 * holds -EINVAL. */
struct drm_kllm_kv_seq_fork {
	__u32 dst;			/* in: sequence handle */
	__u32 src;			/* in: sequence handle */
	__u32 n_pos;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_KV_SEQ_FORK_FLAGS 0u

/* DRM_IOCTL_KLLM_KV_SEQ_TRUNCATE: keep positions [0, n_pos). */
struct drm_kllm_kv_seq_truncate {
	__u32 handle;			/* in */
	__u32 n_pos;			/* in */
	__u32 flags;			/* in: 0 */
	__u32 pad;			/* in: 0 */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_KV_SEQ_TRUNCATE_FLAGS 0u

/*
 * DRM_IOCTL_KLLM_KV_SEQ_LOOKUP: empty sequence @handle takes the longest
 * cached prefix of tokens[0..n_tokens): whole blocks, never the last token
 * (its logits must be computed).  n_pos: the positions it now holds (a
 * multiple of block_tokens, maybe 0).  n_tokens 0 or over the program's
 * n_ctx, or a sequence that is not empty -EINVAL; unreadable tokens
 * -EFAULT.
 */
struct drm_kllm_kv_seq_lookup {
	__u32 handle;			/* in */
	__u32 flags;			/* in: 0 */
	__u64 tokens_ptr;		/* in: __s32[n_tokens] */
	__u32 n_tokens;			/* in */
	__u32 n_pos;			/* out */
	__u64 reserved[2];		/* in: 0 */
};
#define KLLM_KV_SEQ_LOOKUP_FLAGS 0u

/* DRM_IOCTL_KLLM_KV_STATS: the KV pool and prefix cache of paged program
 * @prog (shared by every file running that program). */
struct drm_kllm_kv_stats {
	__u32 prog;			/* in: program handle */
	__u32 flags;			/* in: 0 */
	__u64 block_bytes;		/* out: one block, every KV buffer */
	__u32 block_tokens;		/* out: positions per block */
	__u32 n_blocks;			/* out: blocks in the pool */
	__u32 n_used;			/* out: held by a sequence or cached */
	__u32 n_cached;			/* out: in the prefix cache (held or idle) */
	__u32 n_idle;			/* out: cached, held by none: evictable */
	__u32 fd_seqs;			/* out: sequences of this file */
	__u64 hits;			/* out: blocks lookups mapped */
	__u64 misses;			/* out: lookups cut short by a missing block */
	__u64 inserted;			/* out: blocks put in the cache */
	__u64 evicted;			/* out: cached blocks taken back */
	__u64 reserved[4];		/* in: 0 */
};
#define KLLM_KV_STATS_FLAGS 0u

#define DRM_IOCTL_KLLM_GET_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_GET_INFO, struct drm_kllm_get_info)
#define DRM_IOCTL_KLLM_BO_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_CREATE, struct drm_kllm_bo_create)
#define DRM_IOCTL_KLLM_BO_IMPORT_FILE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_IMPORT_FILE, struct drm_kllm_bo_import_file)
#define DRM_IOCTL_KLLM_BO_USERPTR \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_USERPTR, struct drm_kllm_bo_userptr)
#define DRM_IOCTL_KLLM_BO_INFO \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_BO_INFO, struct drm_kllm_bo_info)
#define DRM_IOCTL_KLLM_GET_STATS \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_GET_STATS, struct drm_kllm_get_stats)
#define DRM_IOCTL_KLLM_BO_READ \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_BO_READ, struct drm_kllm_bo_read)
#define DRM_IOCTL_KLLM_PROG_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_PROG_CREATE, struct drm_kllm_prog_create)
#define DRM_IOCTL_KLLM_PROG_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_PROG_DESTROY, struct drm_kllm_prog_destroy)
#define DRM_IOCTL_KLLM_JOB_SUBMIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_JOB_SUBMIT, struct drm_kllm_job_submit)
#define DRM_IOCTL_KLLM_JOB_WAIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_JOB_WAIT, struct drm_kllm_job_wait)
#define DRM_IOCTL_KLLM_CTX_SET \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_CTX_SET, struct drm_kllm_ctx_set)
#define DRM_IOCTL_KLLM_KV_SEQ_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_KV_SEQ_CREATE, struct drm_kllm_kv_seq_create)
#define DRM_IOCTL_KLLM_KV_SEQ_FREE \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_KV_SEQ_FREE, struct drm_kllm_kv_seq_free)
#define DRM_IOCTL_KLLM_KV_SEQ_FORK \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_KV_SEQ_FORK, struct drm_kllm_kv_seq_fork)
#define DRM_IOCTL_KLLM_KV_SEQ_TRUNCATE \
	DRM_IOW(DRM_COMMAND_BASE + DRM_KLLM_KV_SEQ_TRUNCATE, struct drm_kllm_kv_seq_truncate)
#define DRM_IOCTL_KLLM_KV_SEQ_LOOKUP \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_KV_SEQ_LOOKUP, struct drm_kllm_kv_seq_lookup)
#define DRM_IOCTL_KLLM_KV_STATS \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_KLLM_KV_STATS, struct drm_kllm_kv_stats)

#if defined(__cplusplus)
}
#endif

#endif /* KLLM_DRM_H */
