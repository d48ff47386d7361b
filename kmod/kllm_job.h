/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_job.h - programs, jobs and the engine that runs them.
 *
 *   kllm_prog.c    PROG_CREATE / PROG_DESTROY: a checked program, its
 *                  weights bindings, activation arena and scratch
 *   kllm_job.c     a job from struct drm_kllm_job (ioctl or io_uring):
 *                  copy-in, binding checks, JOB_SUBMIT / JOB_WAIT
 *   kllm_uring.c   the .uring_cmd handler, completion and cancellation
 *   kllm_engine.c  the queue, the kernel threads, the FPU sections
 *
 * Life of a job: submit (copy in, validate, take references) -> queued
 * (engine->lock) -> running (one at a time, all engine threads on it) ->
 * finished (status set, references dropped by the last holder).  Holders
 * of a job reference: the engine while queued or running, the file's job
 * table (ioctl jobs, until JOB_WAIT reaps it or the file closes) and the
 * io_uring command (until its completion is posted).
 */
#ifndef KLLM_JOB_H
#define KLLM_JOB_H

#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/xarray.h>

#include "kk.h"
#include "kllm_drv.h"
#include "kllm_kv.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "kllm_sched.h"

struct io_uring_cmd;

/* A checked program.  Immutable after PROG_CREATE; freed with the last ref. */
struct kllm_prog {
	struct kref ref;	/* file's handle table, each job */
	struct kllm_prog_info info;	/* points into img */
	u8 *img;
	u32 n_out;		/* OUTPUT buffers */
	u8 out_ids[KLLM_PROG_MAX_BUFFERS];	/* their buffer ids */
	/* WEIGHTS and ACTIVATIONS by buffer id; OUTPUT filled per job. */
	struct kllm_prog_mem mem[KLLM_PROG_MAX_BUFFERS];
	struct drm_gem_object *weights[KLLM_PROG_MAX_BUFFERS];
	void *act;
	u64 act_size;
	void *scratch;
	u64 scratch_size;
	/*
	 * Fusion and chunks need every tensor of the OUTPUT buffers to be
	 * batch-shaped (rows per token or per output): then a pass writes
	 * them to staging and each job gets its rows copied (kllm_pass.c).
	 */
	bool fusable;
	u32 n_out_t;
	u32 *out_t;			/* tensor ids in OUTPUT buffers */
	void *staging;			/* all OUTPUT buffers, declared sizes */
	u64 staging_off[KLLM_PROG_MAX_BUFFERS];
	s32 *pass_inputs;		/* tokens, pos, seq, out_rows of a pass */
	/* Paged programs: the KV pool and prefix cache (kllm_kv.c), set
	 * once at PROG_CREATE; NULL for the others. */
	struct kllm_kv_store *kv;
	/* Registry of shared programs (kllm_prog.c). */
	struct hlist_node reg_node;
	u32 reg_hash;
	bool registered;
};

void kllm_prog_put(struct kllm_prog *prog);
/* The file's program @handle with a reference, or NULL. */
struct kllm_prog *kllm_prog_lookup(struct kllm_file *kf, u32 handle);
u64 kllm_prog_count(void);
/*
 * Kernel address of byte @offset of a BO the engine reads (or writes, if
 * @writable) and *avail, the bytes from there to its end; ERR_PTR.
 */
void *kllm_bo_map(struct drm_gem_object *obj, u64 offset, bool writable, u64 *avail);

/*
 * NEW: built, not yet queued (a cancel now is kept in job->cancel and the
 * queueing finishes the job instead); QUEUED: in its context's queue;
 * RUNNING: in the engine's pass; DONE: status set, its completion under
 * way (a cancel is ignored, so an io_uring command completes once).
 */
enum kllm_job_state {
	KLLM_JOB_NEW,
	KLLM_JOB_QUEUED,
	KLLM_JOB_RUNNING,
	KLLM_JOB_DONE,
};

struct kllm_job {
	struct kref ref;
	struct list_head node;		/* its context's queue; engine lock */
	enum kllm_job_state state;	/* engine lock */
	int status;			/* valid once DONE */
	bool cancel;			/* engine lock: stop at the next chunk */
	/* Scheduling (engine lock). */
	u32 class;			/* 0 interactive .. 2 background */
	struct kllm_sched_q *q;
	u32 tok_done;			/* tokens run by earlier chunks */
	bool chunkable;			/* positions rise within each sequence */
	bool started;
	int stop;			/* this pass: why it must stop, or 0 */
	u64 enq_ns, enq_round, lower_at_enq;
	s32 pos_first, pos_last;	/* positions it writes (KV invalid on failure) */
	struct completion done;
	struct kllm_file *kf;		/* reference: its unfinished-job count */
	struct kllm_prog *prog;		/* reference */
	struct task_struct *task;	/* reference: the submitter, for SIGKILL */
	struct mem_cgroup *memcg;	/* reference: the submitter's, for the engine's allocations */
	u64 bytes;			/* charged to kf->job_bytes */
	struct io_uring_cmd *cmd;	/* io_uring path, else NULL */
	u64 timeout_ns;
	u64 started_ns;			/* first chunk */
	/* What the lowering reads, all in kernel memory. */
	struct kllm_prog_job pj;
	struct kllm_prog_bindings bind;
	struct kllm_prog_batch batch;
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_prog_mem *kv;	/* n_seqs * n_kv */
	struct kk_kv_seq *seqs;		/* n_seqs, the lowering's storage */
	s32 *inputs;			/* tokens, pos, seq, out_rows */
	u32 n_objs;
	struct drm_gem_object **objs;	/* references on every bound BO */
	/* Paged programs (kllm_kv_job.c), each [n_seqs]. */
	struct kllm_kv_seq **kv_seqs;	/* references; NULL: unbound */
	struct kllm_prog_table *tables;	/* copies of their tables */
	u32 *kv_ids;			/* the copies' ids */
	s32 *kv_lo, *kv_hi;		/* positions it writes in each, or -1 */
	bool *kv_busy;			/* it counts in the sequence's inflight */
	s32 *kv_rows;			/* 2 * n_tokens: positions, tokens by sequence */
	u32 *kv_at;			/* n_seqs + 1: where each sequence's rows start */
	bool kv_ended;
};

void kllm_job_put(struct kllm_job *job);
/* Build a job from a descriptor already copied into kernel memory. */
struct kllm_job *kllm_job_create(struct drm_file *file, const struct drm_kllm_job *desc);
/* Called once when a job finishes (any status), before its refs drop. */
void kllm_job_finished(struct kllm_job *job);

/* kllm_uring.c */
int kllm_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags);
void kllm_uring_complete(struct kllm_job *job);

/* kllm_pass.c: run what kllm_sched_pick() chose. */
struct kllm_pass_run {
	struct kllm_pass *pass;
	struct kllm_prog_job pj;	/* what the engine lowers */
	const struct kllm_prog_job *use;	/* &pj, or the job's own (direct) */
	struct kllm_prog_bindings bind;
	struct kllm_prog_batch batch;
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_prog_mem *kv;
	struct kllm_prog_table *tables;	/* paged: the slices' tables */
	struct kk_kv_seq *seqs;
};
int kllm_pass_prepare(struct kllm_pass_run *run, struct kllm_pass *pass);
int kllm_pass_scatter(struct kllm_pass_run *run);
void kllm_pass_release(struct kllm_pass_run *run);
/* Prepare a program for staged passes (PROG_CREATE). */
int kllm_prog_setup_fusion(struct kllm_prog *prog);

/* kllm_engine.c */
int kllm_engine_init(void);
void kllm_engine_exit(void);
/* Queue @job (the queue takes its own reference). */
void kllm_engine_queue(struct kllm_job *job);
/*
 * Cancel @job with -ECANCELED: a queued job is finished now (true is
 * returned: the caller completes it), a running one stops at its next
 * chunk; a finished one is left alone.
 */
bool kllm_engine_cancel(struct kllm_job *job);

/* Debugfs delay points (kllm_engine.c): widen race windows in tests. */
extern u32 kllm_delay_queue_us;
void kllm_debug_delay(u32 us);

/* Module-wide job counters (kllm_job.c). */
struct kllm_job_stats {
	u64 submitted, via_uring, completed, failed, in_flight;
	u64 timed_out, cancelled, killed;	/* of the failed */
};
void kllm_job_stats(struct kllm_job_stats *st);
void kllm_job_count_submit(bool uring);

/* Per-file state of programs and jobs (kllm_drv.c calls these). */
void kllm_file_jobs_init(struct kllm_file *kf);
void kllm_file_jobs_release(struct kllm_file *kf);

#endif /* KLLM_JOB_H */
