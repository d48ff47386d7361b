// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_sched.c - which jobs the engine's next pass serves (see
 * kllm_sched.h): classes, fair share by engine time within a class, aging
 * across classes, chunks of long jobs, fusion of jobs running the same
 * program.  Every function here runs under the engine lock (the
 * engine's spinlock, kllm_engine.c): no sleeping, no allocation.
 *
 * Lockless accesses: the module parameters (READ_ONCE, any value will
 * do) and the context's statistics that kllm_fdinfo.c reads without the
 * lock (queued, engine_ns, jobs_done: WRITE_ONCE here, READ_ONCE there;
 * nothing is published through them, so no barrier).
 */
#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "kllm_job.h"
#include "kllm_sched.h"

static unsigned int chunk_tokens = 32;
module_param(chunk_tokens, uint, 0644);
MODULE_PARM_DESC(chunk_tokens, "tokens of a long job served per pass, so other work gets in between (0: no chunks)");

static unsigned int aging_rounds = 16;
module_param(aging_rounds, uint, 0644);
MODULE_PARM_DESC(aging_rounds, "passes a queued job waits at most before it goes first whatever its class");

static bool fuse = true;
module_param(fuse, bool, 0644);
MODULE_PARM_DESC(fuse, "fuse jobs of different files running the same program into one pass");

static const char *const kllm_class_names[KLLM_NR_CLASSES] = {
	"interactive", "normal", "background",
};

/* Scheduler state and statistics (engine lock). */
static struct {
	struct list_head ready[KLLM_NR_CLASSES];	/* queues with jobs */
	u64 min_vruntime[KLLM_NR_CLASSES];
	u64 rounds;			/* passes picked */
	u64 lower_passes;		/* passes led by a non-interactive job */
	u64 batches, batched_jobs;	/* passes; slices in them */
	u64 chunks;			/* slices that did not finish their job */
	u64 aged;			/* passes led by an aged job */
	u32 queued[KLLM_NR_CLASSES];
	u64 jobs[KLLM_NR_CLASSES];	/* finished */
	u64 wait_ns[KLLM_NR_CLASSES];	/* queued to first run, finished jobs */
	u64 run_ns[KLLM_NR_CLASSES];	/* engine time of their passes' shares */
	u64 max_wait_rounds[KLLM_NR_CLASSES];
	/* interactive jobs: most lower-class passes run while one waited */
	u64 interactive_max_lower_waited;
} ks = {
	.ready = {
		LIST_HEAD_INIT(ks.ready[0]), LIST_HEAD_INIT(ks.ready[1]),
		LIST_HEAD_INIT(ks.ready[2]),
	},
};

static atomic_t kllm_client_ids = ATOMIC_INIT(0);

void kllm_ctx_init(struct kllm_ctx *ctx)
{
	u32 c;

	for (c = 0; c < KLLM_NR_CLASSES; c++) {
		INIT_LIST_HEAD(&ctx->q[c].jobs);
		INIT_LIST_HEAD(&ctx->q[c].node);
		ctx->q[c].ctx = ctx;
		ctx->q[c].class = c;
	}
	ctx->class = kllm_class_of_prio(KLLM_PRIO_NORMAL);
	ctx->client_id = atomic_inc_return(&kllm_client_ids);
}

void kllm_sched_enqueue(struct kllm_job *job)
{
	struct kllm_sched_q *q = &job->kf->ctx.q[job->class];

	if (list_empty(&q->jobs)) {
		/* Back from idle: no credit for the time it did not compete. */
		q->vruntime = max(q->vruntime, ks.min_vruntime[q->class]);
		q->served_round = ks.rounds;
		list_add_tail(&q->node, &ks.ready[q->class]);
	}
	list_add_tail(&job->node, &q->jobs);
	job->q = q;
	job->enq_ns = ktime_get_ns();
	job->enq_round = ks.rounds;
	job->lower_at_enq = ks.lower_passes;
	WRITE_ONCE(q->ctx->queued, q->ctx->queued + 1);	/* fdinfo */
	ks.queued[q->class]++;
}

static void kllm_sched_unlink(struct kllm_job *job)
{
	struct kllm_sched_q *q = job->q;

	list_del_init(&job->node);
	if (list_empty(&q->jobs))
		list_del_init(&q->node);
	WRITE_ONCE(q->ctx->queued, q->ctx->queued - 1);	/* fdinfo */
	ks.queued[q->class]--;
}

void kllm_sched_remove(struct kllm_job *job)
{
	kllm_sched_unlink(job);
}

bool kllm_sched_idle(void)
{
	u32 c;

	for (c = 0; c < KLLM_NR_CLASSES; c++)
		if (!list_empty(&ks.ready[c]))
			return false;
	return true;
}

static struct kllm_job *kllm_q_head(struct kllm_sched_q *q)
{
	return list_first_entry(&q->jobs, struct kllm_job, node);
}

/* The queue of class @c that used least engine time. */
static struct kllm_sched_q *kllm_fairest(u32 c)
{
	struct kllm_sched_q *q, *best = NULL;

	list_for_each_entry(q, &ks.ready[c], node)
		if (!best || q->vruntime < best->vruntime)
			best = q;
	return best;
}

/*
 * A lower class's queue that has not been served for more than
 * aging_rounds passes while it had jobs, longest-starved first.
 */
static struct kllm_sched_q *kllm_aged(u32 top)
{
	struct kllm_sched_q *q, *best = NULL;
	u64 limit = READ_ONCE(aging_rounds);
	u32 c;

	for (c = top + 1; c < KLLM_NR_CLASSES; c++)
		list_for_each_entry(q, &ks.ready[c], node)
			if (ks.rounds - q->served_round > limit &&
			    (!best || q->served_round < best->served_round))
				best = q;
	return best;
}

/* Add @job's next chunk to @pass if it fits; true if it did. */
static bool kllm_pass_add(struct kllm_pass *pass, struct kllm_job *job)
{
	const struct kllm_prog *prog = job->prog;
	u32 left = job->batch.n_tokens - job->tok_done, n = left;
	u32 chunk = READ_ONCE(chunk_tokens);
	const u32 max_batch = prog->info.max_batch;
	struct kllm_slice *sl;
	u32 nout;

	if (pass->n == KLLM_MAX_FUSE)
		return false;
	if (job->chunkable && prog->fusable && chunk && n > chunk)
		n = chunk;
	/* Bounded by tokens, outputs and sequences alike (the first slice's
	 * are its job's, checked at submission: each within the limits). */
	nout = kllm_slice_outputs(&job->batch, job->tok_done, n);
	if (n > max_batch - pass->n_tokens || nout > max_batch - pass->n_outputs ||
	    job->batch.n_seqs > KLLM_PROG_MAX_SEQS - pass->n_seqs)
		return false;
	sl = &pass->s[pass->n++];
	*sl = (struct kllm_slice){
		.job = job, .last = n == left,
		.r = { .tok0 = job->tok_done, .ntok = n, .row0 = pass->n_tokens,
		       .out0 = pass->n_outputs, .nout = nout, .seq0 = pass->n_seqs },
	};
	pass->n_tokens += n;
	pass->n_outputs += nout;
	pass->n_seqs += job->batch.n_seqs;
	job->state = KLLM_JOB_RUNNING;
	return true;
}

static bool kllm_pass_has_ctx(const struct kllm_pass *pass, const struct kllm_ctx *ctx)
{
	u32 i;

	for (i = 0; i < pass->n; i++)
		if (pass->s[i].job->q->ctx == ctx)
			return true;
	return false;
}

/*
 * Heads of other contexts' queues that run the same program join the pass.
 * One job per context: two of one context (different classes) might use
 * the same sequence memory, and within one batch each would see the
 * other's keys, which running them one after the other would not.
 */
static void kllm_pass_fuse(struct kllm_pass *pass)
{
	struct kllm_sched_q *q;
	u32 c;

	for (c = 0; c < KLLM_NR_CLASSES; c++) {
		list_for_each_entry(q, &ks.ready[c], node) {
			struct kllm_job *head = kllm_q_head(q);

			if (head->prog != pass->prog || head->state != KLLM_JOB_QUEUED ||
			    kllm_pass_has_ctx(pass, q->ctx))
				continue;
			if (pass->n_tokens >= pass->prog->info.max_batch ||
			    pass->n == KLLM_MAX_FUSE)
				return;
			kllm_pass_add(pass, head);
		}
	}
}

bool kllm_sched_pick(struct kllm_pass *pass)
{
	struct kllm_sched_q *q = NULL;
	struct kllm_job *lead;
	u32 c, top;

	for (top = 0; top < KLLM_NR_CLASSES; top++)
		if (!list_empty(&ks.ready[top]))
			break;
	if (top == KLLM_NR_CLASSES)
		return false;
	q = kllm_aged(top);
	if (q)
		ks.aged++;
	else
		q = kllm_fairest(top);
	lead = kllm_q_head(q);
	memset(pass, 0, offsetof(struct kllm_pass, s));
	pass->prog = lead->prog;
	if (!kllm_pass_add(pass, lead))
		return false;	/* cannot happen: a job's counts fit its program */
	if (READ_ONCE(fuse) && lead->prog->fusable)
		kllm_pass_fuse(pass);
	pass->staged = pass->n > 1 || !pass->s[0].last || pass->s[0].r.tok0;
	ks.rounds++;
	if (lead->class != kllm_class_of_prio(KLLM_PRIO_INTERACTIVE))
		ks.lower_passes++;
	ks.batches++;
	ks.batched_jobs += pass->n;
	for (c = 0; c < pass->n; c++) {
		struct kllm_job *job = pass->s[c].job;

		job->q->served_round = ks.rounds;
		if (!job->started) {
			u64 waited = ks.rounds - 1 - job->enq_round;

			job->started = true;
			job->started_ns = ktime_get_ns();
			ks.wait_ns[job->class] += job->started_ns - job->enq_ns;
			ks.max_wait_rounds[job->class] = max(ks.max_wait_rounds[job->class], waited);
			if (job->class == kllm_class_of_prio(KLLM_PRIO_INTERACTIVE))
				ks.interactive_max_lower_waited =
					max(ks.interactive_max_lower_waited,
					    ks.lower_passes - job->lower_at_enq -
					    (lead->class != job->class));
		}
	}
	return true;
}

void kllm_sched_account(const struct kllm_pass *pass, u64 ns)
{
	u32 i;

	for (i = 0; i < pass->n; i++) {
		const struct kllm_slice *sl = &pass->s[i];
		struct kllm_job *job = sl->job;
		/* Each job's share of the pass: its tokens' share of the pass's. */
		u64 share = div_u64(ns * sl->r.ntok, pass->n_tokens);

		job->q->vruntime += share;
		ks.min_vruntime[job->class] = max(ks.min_vruntime[job->class],
						  job->q->vruntime - share);
		WRITE_ONCE(job->q->ctx->engine_ns, job->q->ctx->engine_ns + share);
		ks.run_ns[job->class] += share;
		job->tok_done += sl->r.ntok;
		if (sl->last) {
			kllm_sched_unlink(job);
			WRITE_ONCE(job->q->ctx->jobs_done, job->q->ctx->jobs_done + 1);
			ks.jobs[job->class]++;
		} else {
			job->state = KLLM_JOB_QUEUED;
			ks.chunks++;
		}
	}
}

/* Forget the statistics (debugfs stats_reset), not the queues. */
void kllm_sched_reset_stats(void)
{
	u32 c;

	ks.batches = ks.batched_jobs = ks.chunks = ks.aged = 0;
	ks.interactive_max_lower_waited = 0;
	for (c = 0; c < KLLM_NR_CLASSES; c++) {
		ks.jobs[c] = ks.wait_ns[c] = ks.run_ns[c] = 0;
		ks.max_wait_rounds[c] = 0;
	}
}

void kllm_sched_show(struct seq_file *m)
{
	u32 c;

	seq_printf(m, "rounds %llu\nbatches %llu\nbatched_jobs %llu\nchunks %llu\naged %llu\n",
		   ks.rounds, ks.batches, ks.batched_jobs, ks.chunks, ks.aged);
	seq_printf(m, "interactive_max_lower_waited %llu\n", ks.interactive_max_lower_waited);
	for (c = 0; c < KLLM_NR_CLASSES; c++)
		seq_printf(m, "class %s queued %u jobs %llu wait_ns %llu run_ns %llu max_wait_rounds %llu\n",
			   kllm_class_names[c], ks.queued[c], ks.jobs[c], ks.wait_ns[c],
			   ks.run_ns[c], ks.max_wait_rounds[c]);
}

const char *kllm_class_name(u32 c)
{
	return c < KLLM_NR_CLASSES ? kllm_class_names[c] : "?";
}
