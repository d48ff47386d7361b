/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_sched.h - the scheduler: contexts, priority classes, fairness,
 * aging, and the passes the engine runs (kllm_sched.c, kllm_pass.c).
 *
 * Every open file is a context.  A context has one FIFO queue per class
 * (its jobs of that class, in submission order); the class lists hold the
 * queues that have jobs.  Each engine pass serves the head job of one
 * queue, chosen by class (interactive, normal, background), then least
 * engine time used within the class (fair share), unless a lower class's
 * head has waited more than aging_rounds passes (aging).  A job longer
 * than chunk_tokens is served a chunk per pass, so higher classes get in
 * at every chunk boundary; heads of other queues running the same program
 * are fused into the same pass, up to the program's max_batch tokens.
 */
#ifndef KLLM_SCHED_H
#define KLLM_SCHED_H

#include <linux/list.h>
#include <linux/seq_file.h>
#include <linux/types.h>

#include "kllm_drm.h"
#include "kllm_slice.h"

#define KLLM_NR_CLASSES 3	/* KLLM_PRIO_INTERACTIVE..BACKGROUND, 0-based */
#define KLLM_MAX_FUSE 16	/* jobs in one pass */

struct kllm_ctx;
struct kllm_job;
struct kllm_prog;

/* One context's queue of one class (all fields: engine lock). */
struct kllm_sched_q {
	struct list_head jobs;		/* FIFO of queued jobs */
	struct list_head node;		/* in its class list while it has jobs */
	u64 vruntime;			/* engine ns charged to it */
	u64 served_round;		/* last pass that served it (or it got ready) */
	struct kllm_ctx *ctx;
	u32 class;
};

/* Per open file (inside struct kllm_file). */
struct kllm_ctx {
	struct kllm_sched_q q[KLLM_NR_CLASSES];
	u32 class;			/* default class of its jobs (READ_ONCE) */
	u32 client_id;
	/* engine lock: */
	u32 queued;
	u64 engine_ns;			/* engine time its jobs used */
	u64 jobs_done;
};

/* One job's share of a pass: its rows (uapi/prog/kllm_slice.h). */
struct kllm_slice {
	struct kllm_job *job;
	struct kllm_slice_rows r;
	bool last;			/* finishes the job */
};

struct kllm_pass {
	struct kllm_prog *prog;
	u32 n;
	u32 n_tokens, n_outputs, n_seqs;
	bool staged;			/* outputs go through the program's staging */
	struct kllm_slice s[KLLM_MAX_FUSE];	/* last: pick clears what is before */
};

void kllm_ctx_init(struct kllm_ctx *ctx);
/* Class numbers: the UAPI's KLLM_PRIO_* minus one. */
static inline u32 kllm_class_of_prio(u32 prio)
{
	return prio - 1;
}

/* All below: the caller holds the engine lock. */
void kllm_sched_enqueue(struct kllm_job *job);
/* Remove a queued job (cancel); it may have run some chunks. */
void kllm_sched_remove(struct kllm_job *job);
/* Choose the next pass; false if nothing is queued. */
bool kllm_sched_pick(struct kllm_pass *pass);
/* After a pass of @ns: charge it, advance the slices' jobs. */
void kllm_sched_account(const struct kllm_pass *pass, u64 ns);
bool kllm_sched_idle(void);

/* Statistics (debugfs "stats"). */
void kllm_sched_show(struct seq_file *m);
void kllm_sched_reset_stats(void);
const char *kllm_class_name(u32 c);

#endif /* KLLM_SCHED_H */
