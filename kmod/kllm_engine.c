// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_engine.c - the software accelerator: kernel threads that run jobs
 * with the kernels/ ops.
 *
 * One leader thread takes jobs off the queue in order and runs each op of
 * the job's program (lowered by uapi/prog/kllm_prog_lower.c); an op's work is a
 * parallel-for over items, which the leader publishes and every thread
 * (leader and workers) takes in chunks.  Each chunk is one FPU section:
 * kernel_fpu_begin() disables preemption, so kk_op_chunk_items() sizes a
 * chunk to about 100 us of native work, nothing inside one waits, and we
 * cond_resched() between chunks.  After publishing, the leader works too,
 * then waits for the last chunk: a short spin, then sleep.  Idle workers
 * spin briefly for the next parallel-for, then sleep (freezable).
 *
 * Between chunks the leader checks whether the job must stop: cancelled,
 * its submitter killed (how a killed process's parked io_uring commands
 * end on 6.1), or over its time.  The rest of the op's chunks are then
 * skipped and the job fails.
 *
 * Memory ordering (arm64 is weakly ordered; x86 and TCG hide a missing
 * barrier): a parallel-for's fields are written and read under work_lock;
 * each chunk's outputs are released by the fully ordered
 * atomic64_add_return() on done in kllm_claim_chunks() and acquired by
 * kllm_all_done() before the leader goes on.  Every other lockless access
 * is a hint rechecked under a lock, a flag that publishes nothing, or a
 * statistic; each says which.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/seq_file.h>
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "kllm_fpu_host.h"
#include "kllm_job.h"
#include "kllm_share.h"

#define KLLM_MAX_THREADS 64

/*
 * Between parallel-fors of one pass the gap is the leader's lowering of
 * the next op: workers that went to sleep there would need a wake-up (an
 * IPI, slow in a VM) for every op and the leader would do most chunks
 * alone.  So threads spin this long, rescheduling as they go, before
 * sleeping; outside passes they sleep at once.
 */
static unsigned int spin_us = 200;
module_param(spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "how long engine threads spin for more work in a pass before sleeping, us");
static unsigned int threads;
module_param(threads, uint, 0444);
MODULE_PARM_DESC(threads, "engine threads (0: one per online CPU)");

/*
 * kernels/ size a chunk to stay well under 100 us natively even on the
 * scalar path; emulated SIMD (QEMU TCG) is some hundred times slower, so
 * the engine splits each chunk further: sections of a few us natively,
 * ~1-2 ms under TCG, for a kernel_fpu_begin/end more per piece.
 */
static unsigned int fpu_chunk_div = 2;
module_param(fpu_chunk_div, uint, 0644);
MODULE_PARM_DESC(fpu_chunk_div, "split each kernels/ chunk into this many FPU sections (1..64)");

/* Debugfs delay points (tests): busy-wait this long at a race window. */
u32 kllm_delay_queue_us;	/* uring submit: marked cancelable, not yet queued */
static u32 kllm_delay_pick_us;	/* leader: a pass picked, engine lock held */

void kllm_debug_delay(u32 us)
{
	for (; us > 1000; us -= 1000)
		mdelay(1);
	udelay(us);
}

struct kllm_engine {
	/* Protects the scheduler (kllm_sched.c), running, every job's state,
	 * cancel and stop. */
	spinlock_t lock;
	struct kllm_pass *running;	/* the pass being run, or NULL */
	bool paused;			/* debugfs "pause": no new pass starts */
	struct kllm_pass pass;		/* leader only */
	struct kk_op group[KK_OP_GROUP_MAX];	/* leader: the ops being run */
	wait_queue_head_t queue_wq;	/* leader: a job was queued */
	wait_queue_head_t idle_wq;	/* exit: a job finished */

	/* The parallel-for being run. */
	spinlock_t work_lock;		/* protects fn..gen and active */
	kk_range_fn fn;
	void *arg;
	u64 n_items, chunk;
	unsigned long gen;		/* bumped per parallel-for */
	unsigned int active;		/* workers inside the current one */
	atomic64_t next;		/* next item to claim */
	atomic64_t done;		/* items finished */
	bool abort;			/* leader: skip the remaining chunks */
	wait_queue_head_t work_wq;	/* workers: a new parallel-for */
	wait_queue_head_t done_wq;	/* leader: chunks done / workers out */

	struct kk_host host;
	u32 n_threads;
	struct task_struct *tasks[KLLM_MAX_THREADS];

	/* Statistics (debugfs). */
	u64 fpu_max_ns;			/* longest FPU section; write 0 to reset */
	u64 fpu_max_op;			/* the op it was in: kind << 32 | index */
	u64 cur_op;			/* leader: the op being run, same encoding */
	u64 fpu_sections;
	u64 busy_ns;			/* leader time spent running jobs */
	u64 passes;
	struct dentry *debugfs;
};

static struct kllm_engine *kllm_eng;

/* ------------------------------------------------------------ FPU sections */

/* Statistics only (any thread, no partner): nothing is published through them. */
static void kllm_note_section(struct kllm_engine *eng, u64 t0)
{
	u64 dt = local_clock() - t0, old = READ_ONCE(eng->fpu_max_ns);

	while (dt > old) {
		u64 seen = cmpxchg64(&eng->fpu_max_ns, old, dt);

		if (seen == old) {
			WRITE_ONCE(eng->fpu_max_op, READ_ONCE(eng->cur_op));
			break;
		}
		old = seen;
	}
	/* Approximate under concurrency; a statistic only. */
	WRITE_ONCE(eng->fpu_sections, READ_ONCE(eng->fpu_sections) + 1);
}

static void kllm_run_chunk(struct kllm_engine *eng, kk_range_fn fn, void *arg,
			   u64 begin, u64 end)
{
	u64 t0 = local_clock();

	kllm_fpu_begin();
	fn(arg, begin, end);
	kllm_fpu_end();
	kllm_note_section(eng, t0);
}

/* ------------------------------------------------------------ stopping a job */

/* Why @job must stop now, or 0. */
static int kllm_job_stop_reason(struct kllm_job *job)
{
	struct task_struct *t = job->task;

	/* Flag alone, nothing published with it: WRITE_ONCE in kllm_engine_cancel(). */
	if (READ_ONCE(job->cancel))
		return -ECANCELED;
	/* Killed, or its process is exiting: nobody will read the result. */
	if (__fatal_signal_pending(t) ||
	    (READ_ONCE(t->signal->flags) & SIGNAL_GROUP_EXIT))
		return -EINTR;
	if (ktime_get_ns() - job->started_ns > job->timeout_ns)
		return -ETIMEDOUT;
	return 0;
}

/*
 * Note every member's reason to stop; the pass stops only when all have
 * one (the others still want their results).  Leader only.
 */
static bool kllm_pass_must_stop(struct kllm_pass *pass)
{
	bool all = true;
	u32 i;

	for (i = 0; i < pass->n; i++) {
		struct kllm_job *job = pass->s[i].job;

		if (!job->stop)
			job->stop = kllm_job_stop_reason(job);
		all &= job->stop != 0;
	}
	return all;
}

/* ------------------------------------------------------------ parallel-for */

static void kllm_claim_chunks(struct kllm_engine *eng, kk_range_fn fn, void *arg,
			      u64 n, u64 chunk, bool leader)
{
	u64 begin, end;

	/* next only hands out items: fn, arg, n and chunk came under work_lock. */
	while ((begin = atomic64_fetch_add(chunk, &eng->next)) < n) {
		end = min(begin + chunk, n);
		/* abort: the leader's flag; a worker that misses it runs a chunk
		 * of a pass that fails anyway (nothing is published with it). */
		if (leader && !READ_ONCE(eng->abort) && kllm_pass_must_stop(eng->running))
			WRITE_ONCE(eng->abort, true);
		if (!READ_ONCE(eng->abort))
			kllm_run_chunk(eng, fn, arg, begin, end);
		/* Fully ordered (value-returning RMW): releases this chunk's
		 * outputs; pairs with the acquire in kllm_all_done(). */
		if (atomic64_add_return(end - begin, &eng->done) >= n && !leader)
			wake_up(&eng->done_wq);
		cond_resched();
	}
}

/* On the leader alone (workers may still be leaving the last parallel-for). */
static void kllm_serial_chunks(struct kllm_engine *eng, kk_range_fn fn, void *arg,
			       u64 n, u64 chunk)
{
	u64 begin, end;

	for (begin = 0; begin < n && !READ_ONCE(eng->abort); begin = end) {
		end = min(begin + chunk, n);
		if (kllm_pass_must_stop(eng->running)) {
			WRITE_ONCE(eng->abort, true);
			break;
		}
		kllm_run_chunk(eng, fn, arg, begin, end);
		cond_resched();
	}
}

/* Spin up to spin_us until @cond(@eng, @arg); false if it did not come. */
static bool kllm_spin_until(bool (*cond)(struct kllm_engine *, unsigned long),
			    struct kllm_engine *eng, unsigned long arg)
{
	/* spin_us, fpu_chunk_div: module parameters, any value will do. */
	u64 t0 = local_clock(), limit = (u64)READ_ONCE(spin_us) * NSEC_PER_USEC;
	u32 i = 0;

	while (!cond(eng, arg)) {
		if (local_clock() - t0 > limit)
			return false;
		cpu_relax();
		if (!(++i & 255))
			cond_resched();
	}
	return true;
}

/*
 * Acquire: pairs with the fully ordered atomic64_add_return() on done in
 * kllm_claim_chunks(), so every chunk's outputs are visible to the leader
 * (its next op, its serial chunks, kllm_pass_scatter()) once this is true.
 * A plain atomic64_read() let arm64 satisfy those later loads early.
 * (n_items is the leader's own write.)
 */
static bool kllm_all_done(struct kllm_engine *eng, unsigned long unused)
{
	return atomic64_read_acquire(&eng->done) >= READ_ONCE(eng->n_items);
}

/* A hint: kllm_parallel_for() rechecks active under work_lock. */
static bool kllm_workers_out(struct kllm_engine *eng, unsigned long unused)
{
	return !READ_ONCE(eng->active);
}

/* kk_host.parallel_for, called by the leader only. */
static void kllm_parallel_for(void *ctx, kk_range_fn fn, void *arg, u64 n, u64 chunk)
{
	struct kllm_engine *eng = ctx;

	u32 div = clamp_t(u32, READ_ONCE(fpu_chunk_div), 1, 64);

	if (!n || READ_ONCE(eng->abort))
		return;
	if (!chunk || chunk > n)
		chunk = n;
	chunk = max_t(u64, chunk / div, 1);
	if (eng->n_threads == 1 || chunk == n) {
		kllm_serial_chunks(eng, fn, arg, n, chunk);
		return;
	}
	/* Workers still inside the previous parallel-for read its fields. */
	spin_lock(&eng->work_lock);
	while (eng->active) {
		spin_unlock(&eng->work_lock);
		if (!kllm_spin_until(kllm_workers_out, eng, 0))
			wait_event(eng->done_wq, kllm_workers_out(eng, 0));
		spin_lock(&eng->work_lock);
	}
	eng->fn = fn;
	eng->arg = arg;
	eng->n_items = n;
	eng->chunk = chunk;
	atomic64_set(&eng->next, 0);
	atomic64_set(&eng->done, 0);
	/* Released by the unlock: a worker reads gen and the fields under
	 * work_lock (kllm_new_work()'s lockless read is a hint). */
	WRITE_ONCE(eng->gen, eng->gen + 1);
	spin_unlock(&eng->work_lock);
	wake_up_all(&eng->work_wq);

	kllm_claim_chunks(eng, fn, arg, n, chunk, true);
	if (!kllm_spin_until(kllm_all_done, eng, 0))
		wait_event(eng->done_wq, kllm_all_done(eng, 0));
}

/* A hint (WRITE_ONCE in kllm_parallel_for()): kllm_worker() rechecks gen
 * under work_lock, whose unlock in kllm_parallel_for() publishes the job. */
static bool kllm_new_work(struct kllm_engine *eng, unsigned long seen)
{
	return READ_ONCE(eng->gen) != seen || kthread_should_stop();
}

/*
 * A worker stops spinning at new work, or when no pass runs (none soon).
 * running is a hint here (WRITE_ONCE in kllm_leader()), nothing is read
 * through it.
 */
static bool kllm_worker_stop_spin(struct kllm_engine *eng, unsigned long seen)
{
	return kllm_new_work(eng, seen) || !READ_ONCE(eng->running);
}

static int kllm_worker(void *data)
{
	struct kllm_engine *eng = data;
	unsigned long seen = 0;
	kk_range_fn fn;
	void *arg;
	u64 n, chunk;
	bool last;

	set_freezable();
	while (!kthread_should_stop()) {
		/* spin only while a pass runs: its next op comes soon */
		kllm_spin_until(kllm_worker_stop_spin, eng, seen);
		wait_event_freezable(eng->work_wq, kllm_new_work(eng, seen));
		spin_lock(&eng->work_lock);
		if (eng->gen == seen) {
			spin_unlock(&eng->work_lock);
			continue;
		}
		seen = eng->gen;
		fn = eng->fn;
		arg = eng->arg;
		n = eng->n_items;
		chunk = eng->chunk;
		/* Under work_lock; WRITE_ONCE for kllm_workers_out()'s hint. */
		WRITE_ONCE(eng->active, eng->active + 1);
		spin_unlock(&eng->work_lock);

		kllm_claim_chunks(eng, fn, arg, n, chunk, false);

		spin_lock(&eng->work_lock);
		WRITE_ONCE(eng->active, eng->active - 1);
		last = !eng->active;
		spin_unlock(&eng->work_lock);
		if (last)
			wake_up(&eng->done_wq);
	}
	return 0;
}

/* ------------------------------------------------------------ passes */

static bool kllm_engine_has_work(struct kllm_engine *eng)
{
	bool work;

	spin_lock(&eng->lock);
	work = !kllm_sched_idle() && !eng->paused;
	spin_unlock(&eng->lock);
	return work;
}

static int kllm_run_ops(struct kllm_engine *eng, struct kllm_pass_run *run)
{
	const struct kllm_prog_info *pi = &run->pass->prog->info;
	struct kk_op *ops = eng->group;
	u32 i, next;
	int n;

	for (i = 0; i < pi->n_ops; i = next) {
		if (kllm_pass_must_stop(run->pass))
			return 0;	/* every member has its own status */
		n = kllm_prog_lower_group(run->use, i, ops, &next, NULL);
		if (n < 0)
			return -EINVAL;
		if (!n)
			break;		/* no rows left in this batch */
		WRITE_ONCE(eng->cur_op, (u64)ops[0].kind << 32 | (next - n));
		if (kk_ops_exec(&eng->host, ops, n))
			return -EINVAL;
		if (READ_ONCE(eng->abort))
			return 0;
		cond_resched();
	}
	return 0;
}

/* Run the pass; its members' statuses and outputs are set after. */
static int kllm_run_pass(struct kllm_engine *eng, struct kllm_pass *pass)
{
	struct kllm_pass_run run;
	int ret;

	/* abort is the leader's; between passes no worker has items left to
	 * run, so none reads it (kllm_claim_chunks()). */
	WRITE_ONCE(eng->abort, false);
	ret = kllm_pass_prepare(&run, pass);
	if (!ret)
		ret = kllm_run_ops(eng, &run);
	if (!ret && !READ_ONCE(eng->abort))
		ret = kllm_pass_scatter(&run);
	kllm_pass_release(&run);
	WRITE_ONCE(eng->abort, false);
	return ret;
}

static void kllm_finish(struct kllm_engine *eng, struct kllm_job *job)
{
	kllm_job_finished(job);
	kllm_job_put(job);	/* the queue's reference */
	wake_up_all(&eng->idle_wq);
}

/*
 * After a pass (engine lock held): advance its slices; a job that ran its
 * last chunk, or must stop, or met an error is done.  Returns in @done the
 * jobs to finish once the lock is dropped.
 */
static u32 kllm_pass_end(struct kllm_pass *pass, int err, u64 ns, struct kllm_job **done)
{
	u32 i, n = 0;

	kllm_sched_account(pass, ns);
	for (i = 0; i < pass->n; i++) {
		const struct kllm_slice *sl = &pass->s[i];
		struct kllm_job *job = sl->job;

		if (!sl->last && !err && !job->stop)
			continue;	/* queued again for its next chunk */
		if (!sl->last)
			kllm_sched_remove(job);
		job->status = err ?: job->stop;
		job->state = KLLM_JOB_DONE;
		done[n++] = job;
	}
	return n;
}

static int kllm_leader(void *data)
{
	struct kllm_engine *eng = data;
	struct kllm_job *done[KLLM_MAX_FUSE];
	struct kllm_pass *pass = &eng->pass;
	u64 t0, ns;
	u32 i, n;
	int err;

	set_freezable();
	while (!kthread_should_stop()) {
		wait_event_freezable(eng->queue_wq, kllm_engine_has_work(eng) ||
				     kthread_should_stop());
		spin_lock(&eng->lock);
		if (eng->paused || !kllm_sched_pick(pass)) {
			spin_unlock(&eng->lock);
			continue;
		}
		kllm_debug_delay(READ_ONCE(kllm_delay_pick_us));
		/* Under the engine lock; WRITE_ONCE for kllm_worker_stop_spin(). */
		WRITE_ONCE(eng->running, pass);
		spin_unlock(&eng->lock);

		t0 = ktime_get_ns();
		err = kllm_run_pass(eng, pass);
		ns = ktime_get_ns() - t0;
		/* Statistics, read by kllm_stats_show() and debugfs. */
		WRITE_ONCE(eng->busy_ns, eng->busy_ns + ns);
		WRITE_ONCE(eng->passes, eng->passes + 1);

		spin_lock(&eng->lock);
		n = kllm_pass_end(pass, err, ns, done);
		WRITE_ONCE(eng->running, NULL);
		spin_unlock(&eng->lock);
		for (i = 0; i < n; i++)
			kllm_finish(eng, done[i]);
		wake_up_all(&eng->idle_wq);
	}
	return 0;
}

void kllm_engine_queue(struct kllm_job *job)
{
	struct kllm_engine *eng = kllm_eng;
	bool cancelled;

	kref_get(&job->ref);
	spin_lock(&eng->lock);
	/* A cancel that came while the job was NEW (kllm_engine_cancel). */
	cancelled = READ_ONCE(job->cancel);
	if (cancelled) {
		job->state = KLLM_JOB_DONE;
		job->status = -ECANCELED;
	} else {
		job->state = KLLM_JOB_QUEUED;
		kllm_sched_enqueue(job);
	}
	spin_unlock(&eng->lock);
	if (cancelled)
		kllm_finish(eng, job);
	else
		wake_up(&eng->queue_wq);
}

bool kllm_engine_cancel(struct kllm_job *job)
{
	struct kllm_engine *eng = kllm_eng;
	bool now = false;

	/* cancel: read under this lock by kllm_engine_queue(), locklessly by
	 * the leader (kllm_job_stop_reason()): a flag, nothing published. */
	spin_lock(&eng->lock);
	if (job->state == KLLM_JOB_NEW) {
		WRITE_ONCE(job->cancel, true);	/* kllm_engine_queue finishes it */
	} else if (job->state == KLLM_JOB_QUEUED) {
		kllm_sched_remove(job);
		job->state = KLLM_JOB_DONE;
		job->status = -ECANCELED;
		now = true;
	} else if (job->state == KLLM_JOB_RUNNING) {
		WRITE_ONCE(job->cancel, true);
	}
	spin_unlock(&eng->lock);
	if (now)
		kllm_finish(eng, job);
	return now;
}

/* ------------------------------------------------------------ setup */

static bool kllm_engine_idle(struct kllm_engine *eng)
{
	bool idle;

	spin_lock(&eng->lock);
	idle = kllm_sched_idle() && !eng->running;
	spin_unlock(&eng->lock);
	return idle;
}

/* debugfs "stats": everything kllm-top shows, one "key value" per line. */
static int kllm_stats_show(struct seq_file *m, void *unused)
{
	struct kllm_engine *eng = m->private;
	struct kllm_job_stats js;

	kllm_job_stats(&js);
	seq_printf(m, "jobs_submitted %llu\njobs_via_uring %llu\njobs_completed %llu\n"
		   "jobs_failed %llu\njobs_timed_out %llu\njobs_cancelled %llu\n"
		   "jobs_killed %llu\njobs_in_flight %llu\n",
		   js.submitted, js.via_uring, js.completed, js.failed, js.timed_out,
		   js.cancelled, js.killed, js.in_flight);
	seq_printf(m, "busy_ns %llu\npasses %llu\nengine_threads %u\nprograms %llu\n"
		   "fpu_max_ns %llu\n", READ_ONCE(eng->busy_ns), READ_ONCE(eng->passes),
		   eng->n_threads, kllm_prog_count(), READ_ONCE(eng->fpu_max_ns));
	kllm_acct_show(m);
	seq_printf(m, "userptr_bytes %llu\nshmem_bytes %llu\nshared_imports %llu\n"
		   "pin_copied_pages %llu\n", kllm_pin_userptr_bytes(), kllm_gem_shmem_bytes(),
		   kllm_share_hit_count(), kllm_share_copy_count());
	spin_lock(&eng->lock);
	kllm_sched_show(m);
	spin_unlock(&eng->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kllm_stats);

/* Any write to stats_reset zeroes the scheduler's statistics and fpu_max_ns. */
static ssize_t kllm_stats_reset_write(struct file *f, const char __user *buf, size_t len,
				      loff_t *ppos)
{
	struct kllm_engine *eng = file_inode(f)->i_private;

	spin_lock(&eng->lock);
	kllm_sched_reset_stats();
	spin_unlock(&eng->lock);
	WRITE_ONCE(eng->fpu_max_ns, 0);
	return len;
}

/*
 * debugfs "pause" (tests): 1 holds new passes back so that jobs of many
 * processes can be queued first (the pass running finishes), 0 resumes.
 * Jobs still time out and can be cancelled meanwhile.
 */
static ssize_t kllm_pause_write(struct file *f, const char __user *buf, size_t len,
				loff_t *ppos)
{
	struct kllm_engine *eng = file_inode(f)->i_private;
	bool on;
	int ret = kstrtobool_from_user(buf, len, &on);

	if (ret)
		return ret;
	spin_lock(&eng->lock);
	eng->paused = on;
	spin_unlock(&eng->lock);
	wake_up(&eng->queue_wq);
	return len;
}

static const struct file_operations kllm_pause_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = kllm_pause_write,
	.llseek = noop_llseek,
};

static const struct file_operations kllm_stats_reset_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = kllm_stats_reset_write,
	.llseek = noop_llseek,
};

static void kllm_engine_debugfs(struct kllm_engine *eng)
{
	eng->debugfs = debugfs_create_dir("kllm", NULL);
	debugfs_create_u64("fpu_max_ns", 0600, eng->debugfs, &eng->fpu_max_ns);
	debugfs_create_u64("fpu_sections", 0400, eng->debugfs, &eng->fpu_sections);
	debugfs_create_x64("fpu_max_op", 0400, eng->debugfs, &eng->fpu_max_op);
	debugfs_create_u64("busy_ns", 0400, eng->debugfs, &eng->busy_ns);
	debugfs_create_u64("passes", 0400, eng->debugfs, &eng->passes);
	debugfs_create_file("stats", 0400, eng->debugfs, eng, &kllm_stats_fops);
	debugfs_create_file("stats_reset", 0200, eng->debugfs, eng, &kllm_stats_reset_fops);
	debugfs_create_file("pause", 0200, eng->debugfs, eng, &kllm_pause_fops);
	debugfs_create_u32("threads", 0400, eng->debugfs, &eng->n_threads);
	debugfs_create_u32("delay_queue_us", 0600, eng->debugfs, &kllm_delay_queue_us);
	debugfs_create_u32("delay_pick_us", 0600, eng->debugfs, &kllm_delay_pick_us);
}

static void kllm_engine_stop_threads(struct kllm_engine *eng)
{
	u32 i;

	for (i = 0; i < eng->n_threads; i++)
		if (eng->tasks[i])
			kthread_stop(eng->tasks[i]);
}

int kllm_engine_init(void)
{
	struct kllm_engine *eng;
	u32 i, n = threads ? threads : num_online_cpus();
	int ret;

	eng = kzalloc(sizeof(*eng), GFP_KERNEL);
	if (!eng)
		return -ENOMEM;
	spin_lock_init(&eng->lock);
	spin_lock_init(&eng->work_lock);
	init_waitqueue_head(&eng->queue_wq);
	init_waitqueue_head(&eng->idle_wq);
	init_waitqueue_head(&eng->work_wq);
	init_waitqueue_head(&eng->done_wq);
	eng->host = (struct kk_host){ .parallel_for = kllm_parallel_for, .ctx = eng };
	eng->n_threads = clamp_t(u32, n, 1, KLLM_MAX_THREADS);
	for (i = 0; i < eng->n_threads; i++) {
		struct task_struct *t;

		if (i == 0)
			t = kthread_run(kllm_leader, eng, "kllm-engine");
		else
			t = kthread_run(kllm_worker, eng, "kllm-worker/%u", i);
		if (IS_ERR(t)) {
			ret = PTR_ERR(t);
			goto stop_threads;
		}
		eng->tasks[i] = t;
	}
	kllm_engine_debugfs(eng);
	/* Plain: ioctls see it only after kllm_drv_register() (kllm_main.c). */
	kllm_eng = eng;
	return 0;

stop_threads:
	kllm_engine_stop_threads(eng);
	kfree(eng);
	return ret;
}

/* No file is open (module refcount): wait for cancelled jobs, then stop. */
void kllm_engine_exit(void)
{
	struct kllm_engine *eng = kllm_eng;

	spin_lock(&eng->lock);
	eng->paused = false;
	spin_unlock(&eng->lock);
	wake_up(&eng->queue_wq);
	wait_event(eng->idle_wq, kllm_engine_idle(eng));
	debugfs_remove_recursive(eng->debugfs);
	kllm_engine_stop_threads(eng);
	kllm_eng = NULL;
	kfree(eng);
}
