// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_job.c - jobs: built from a struct drm_kllm_job that is already in
 * kernel memory (DRM copied the ioctl argument; kllm_uring.c copied the
 * SQE), checked completely before anything is queued, and owning copies
 * of everything the engine reads as an index (token ids, positions,
 * sequence indices, output rows).  JOB_SUBMIT / JOB_WAIT and the per-file
 * job table live here too.
 */
#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_gem.h>

#include "kllm_job.h"

static unsigned int job_timeout_ms = 30000;
module_param(job_timeout_ms, uint, 0644);
MODULE_PARM_DESC(job_timeout_ms, "engine time a job may take, at most; a job may ask for less, ms (0: no limit)");

static unsigned int job_mem_mb = 64;
module_param(job_mem_mb, uint, 0644);
MODULE_PARM_DESC(job_mem_mb, "kernel memory the unfinished and unreaped jobs of one open file may hold, MiB");

/* Statistics: relaxed counters that publish nothing (in_flight's order: kllm_job_stats). */
static atomic64_t st_submitted, st_via_uring, st_completed, st_failed;
static atomic64_t st_timed_out, st_cancelled, st_killed;

void kllm_job_stats(struct kllm_job_stats *st)
{
	/*
	 * The finished counts first, then submitted: the smp_rmb() pairs with
	 * the smp_wmb() in kllm_job_finished(), so in_flight cannot go below
	 * 0 (read the other way round, a job submitted and finished between
	 * the reads made it U64_MAX).
	 */
	st->completed = atomic64_read(&st_completed);
	st->failed = atomic64_read(&st_failed);
	smp_rmb();
	st->submitted = atomic64_read(&st_submitted);
	st->via_uring = atomic64_read(&st_via_uring);
	st->in_flight = st->submitted - st->completed - st->failed;
	st->timed_out = atomic64_read(&st_timed_out);
	st->cancelled = atomic64_read(&st_cancelled);
	st->killed = atomic64_read(&st_killed);
}

void kllm_job_count_submit(bool uring)
{
	atomic64_inc(&st_submitted);
	if (uring)
		atomic64_inc(&st_via_uring);
}

static void kllm_job_free(struct kref *ref)
{
	struct kllm_job *job = container_of(ref, struct kllm_job, ref);
	u32 i;

	kllm_kv_job_free(job);	/* before the inputs it commits from */
	for (i = 0; i < job->n_objs; i++)
		if (job->objs[i])
			drm_gem_object_put(job->objs[i]);
	kvfree(job->objs);
	kvfree(job->kv);
	kvfree(job->seqs);
	kvfree(job->inputs);
	/* job_bytes, unfinished: budgets, nothing published through them. */
	if (job->bytes)
		atomic64_sub(job->bytes, &job->kf->job_bytes);
	mem_cgroup_put(job->memcg);
	if (job->prog)
		kllm_prog_put(job->prog);
	if (job->task)
		put_task_struct(job->task);
	if (job->kf) {
		atomic_dec(&job->kf->unfinished);
		kllm_file_put(job->kf);
	}
	kfree(job);
}

void kllm_job_put(struct kllm_job *job)
{
	kref_put(&job->ref, kllm_job_free);
}

void kllm_job_finished(struct kllm_job *job)
{
	/* The job's submitted count (its submitter's, ordered to here by the
	 * engine lock, or this thread's own) before its finished count:
	 * pairs with the smp_rmb() in kllm_job_stats(). */
	smp_wmb();
	/* Its sequences' blocks committed or cut back before anyone sees it done. */
	kllm_kv_job_end(job, job->status);
	if (job->status)
		atomic64_inc(&st_failed);
	else
		atomic64_inc(&st_completed);
	if (job->status == -ETIMEDOUT)
		atomic64_inc(&st_timed_out);
	else if (job->status == -ECANCELED)
		atomic64_inc(&st_cancelled);
	else if (job->status == -EINTR)
		atomic64_inc(&st_killed);
	/* Releases status (set under the engine lock) and the outputs: pairs
	 * with the completion's lock in JOB_WAIT (wait_for_completion*,
	 * completion_done).  The io_uring path: kllm_uring_done_cb(). */
	complete_all(&job->done);
	if (job->cmd)
		kllm_uring_complete(job);
}

/* Copy the job's i32 arrays in (each only if the program reads it). */
static int kllm_job_copy_inputs(struct kllm_job *job, const struct drm_kllm_job *d)
{
	const u32 inputs = job->prog->info.inputs;
	const u32 n = d->n_tokens, n_out = d->n_outputs;
	const struct { u32 in; u64 ptr; u32 count; } arr[] = {
		{ KLLM_PROG_IN_TOKENS, d->tokens_ptr, n },
		{ KLLM_PROG_IN_POS, d->pos_ptr, n },
		{ KLLM_PROG_IN_SEQ, d->seq_ptr, n },
		{ KLLM_PROG_IN_OUT_ROWS, d->out_rows_ptr, n_out },
	};
	s32 *dst[ARRAY_SIZE(arr)];
	s32 *p;
	u32 i;

	job->inputs = kvmalloc_array(3 * n + n_out + 1, sizeof(s32), GFP_KERNEL_ACCOUNT);
	if (!job->inputs)
		return -ENOMEM;
	p = job->inputs;
	for (i = 0; i < ARRAY_SIZE(arr); i++) {
		dst[i] = p;
		p += arr[i].count;
		if (!(inputs & BIT(arr[i].in))) {
			if (arr[i].ptr)
				return -EINVAL;
			dst[i] = NULL;
			continue;
		}
		if (arr[i].count &&
		    copy_from_user(dst[i], u64_to_user_ptr(arr[i].ptr), 4ull * arr[i].count))
			return -EFAULT;
	}
	job->batch = (struct kllm_prog_batch){
		.n_tokens = n, .n_outputs = n_out,
		.tokens = dst[0], .pos = dst[1], .seq = dst[2], .out_rows = dst[3],
	};
	return 0;
}

/* Look up and map one binding the engine writes; a reference goes to objs. */
static int kllm_job_bind_one(struct kllm_job *job, struct drm_file *file,
			     const struct drm_kllm_bind *b, struct kllm_prog_mem *mem)
{
	struct drm_gem_object *obj;
	void *vaddr;
	u64 avail;

	if (b->flags)
		return -EINVAL;
	if (!b->handle) {
		*mem = (struct kllm_prog_mem){ NULL, 0 };
		return 0;
	}
	obj = drm_gem_object_lookup(file, b->handle);
	if (!obj)
		return -ENOENT;
	job->objs[job->n_objs++] = obj;
	vaddr = kllm_bo_map(obj, b->offset, true, &avail);
	if (IS_ERR(vaddr))
		return PTR_ERR(vaddr);
	*mem = (struct kllm_prog_mem){ vaddr, avail };
	return 0;
}

/* A paged program's sequence handles: binds[n_out + s].handle. */
static int kllm_job_bind_seqs(struct kllm_job *job, const struct drm_kllm_bind *binds,
			      u32 n_seqs)
{
	u32 *handles, s;
	int ret = -EINVAL;

	handles = kvmalloc_array(n_seqs ? n_seqs : 1, sizeof(*handles), GFP_KERNEL_ACCOUNT);
	if (!handles)
		return -ENOMEM;
	for (s = 0; s < n_seqs; s++) {
		if (binds[s].flags || binds[s].offset)
			goto free_handles;
		handles[s] = binds[s].handle;
	}
	ret = kllm_kv_job_bind(job, handles);
free_handles:
	kvfree(handles);
	return ret;
}

/* OUTPUT buffers, then every sequence's KV buffers (or sequence handles). */
static int kllm_job_bind(struct kllm_job *job, struct drm_file *file,
			 const struct drm_kllm_job *d, u32 n_kv_binds)
{
	const struct kllm_prog *prog = job->prog;
	struct drm_kllm_bind *binds;
	u32 i;
	int ret;

	binds = kvmalloc_array(d->n_binds ? d->n_binds : 1, sizeof(*binds), GFP_KERNEL_ACCOUNT);
	job->objs = kvcalloc(d->n_binds ? d->n_binds : 1, sizeof(*job->objs), GFP_KERNEL_ACCOUNT);
	job->kv = kvcalloc(prog->kv || !n_kv_binds ? 1 : n_kv_binds, sizeof(*job->kv),
			   GFP_KERNEL_ACCOUNT);
	job->seqs = kvcalloc(d->n_seqs ? d->n_seqs : 1, sizeof(*job->seqs), GFP_KERNEL_ACCOUNT);
	if (!binds || !job->objs || !job->kv || !job->seqs) {
		ret = -ENOMEM;
		goto free_binds;
	}
	ret = -EFAULT;
	if (d->n_binds && copy_from_user(binds, u64_to_user_ptr(d->binds_ptr),
					 d->n_binds * sizeof(*binds)))
		goto free_binds;
	memcpy(job->buf, prog->mem, sizeof(job->buf));
	for (i = 0; i < prog->n_out; i++) {
		ret = -EINVAL;
		if (!binds[i].handle)	/* outputs are always bound */
			goto free_binds;
		ret = kllm_job_bind_one(job, file, &binds[i], &job->buf[prog->out_ids[i]]);
		if (ret)
			goto free_binds;
	}
	if (prog->kv) {
		ret = kllm_job_bind_seqs(job, &binds[prog->n_out], d->n_seqs);
		goto free_binds;
	}
	for (i = 0; i < n_kv_binds; i++) {
		ret = kllm_job_bind_one(job, file, &binds[prog->n_out + i], &job->kv[i]);
		if (ret)
			goto free_binds;
	}
	ret = 0;
free_binds:
	kvfree(binds);
	return ret;
}

/*
 * Lower every op once at submission (integers only, no kernel runs): each
 * pointer the engine will form is then known to be inside this job's
 * memory, so a binding too small for the job's rows (outputs) is refused
 * here rather than failing the job later.  The lowering is a function of
 * the job alone, so the engine's later lowering gives the same answers.
 */
static int kllm_job_lower_all(struct kllm_job *job)
{
	struct kk_op op;
	u32 i;

	for (i = 0; i < job->prog->info.n_ops; i++) {
		if (kllm_prog_lower_op(&job->pj, i, &op, NULL) < 0)
			return -EINVAL;
		if (!(i & 255))
			cond_resched();
	}
	return 0;
}

/*
 * The job's class, the positions it writes (reported invalid if it fails),
 * and whether it may be run in chunks: only if positions rise within each
 * of its sequences, so a chunk never needs a later chunk's keys.  (Its
 * output rows were checked by kllm_prog_job_init: in range, each once.)
 */
static int kllm_job_schedule_info(struct kllm_job *job, const struct drm_kllm_job *d)
{
	const struct kllm_prog_batch *b = &job->batch;
	u32 prio = d->flags & KLLM_JOB_PRIO_MASK, i;
	s32 *last = NULL;

	/* ctx.class: a value alone, WRITE_ONCE in kllm_ioctl.c (SET_PARAM). */
	job->class = prio ? kllm_class_of_prio(prio) : READ_ONCE(job->kf->ctx.class);
	job->pos_first = -1;
	job->pos_last = -1;
	job->chunkable = true;
	if (!b->pos)
		return 0;
	if (b->seq && b->n_seqs) {
		last = kvmalloc_array(b->n_seqs, sizeof(*last), GFP_KERNEL_ACCOUNT);
		if (!last)
			return -ENOMEM;
		for (i = 0; i < b->n_seqs; i++)
			last[i] = S32_MIN;
	}
	for (i = 0; i < b->n_tokens; i++) {
		s32 s = b->seq ? b->seq[i] : 0, p = b->pos[i];

		if (s < 0 || (u32)s >= b->n_seqs || p < 0)
			continue;	/* the kernels skip it */
		if (job->pos_first < 0 || p < job->pos_first)
			job->pos_first = p;
		if (p > job->pos_last)
			job->pos_last = p;
		if (last) {
			if (p <= last[s])
				job->chunkable = false;
			last[s] = p;
		}
	}
	kvfree(last);
	return 0;
}

/*
 * What the job's bookkeeping will hold in kernel memory, charged to its
 * file against job_mem_mb (the memcg is charged by the allocations
 * themselves, GFP_KERNEL_ACCOUNT in the submitter's context).  A file
 * whose unfinished and unreaped jobs hold more gets -EBUSY: reap some.
 */
static int kllm_job_charge(struct kllm_job *job, const struct drm_kllm_job *d, u32 n_kv_binds)
{
	u64 cap = (u64)READ_ONCE(job_mem_mb) << 20;	/* module parameter */
	u64 bytes = sizeof(*job) +
		    4ull * (3ull * d->n_tokens + d->n_outputs + 1) +
		    (u64)d->n_binds * (sizeof(struct drm_kllm_bind) + sizeof(*job->objs)) +
		    (u64)n_kv_binds * sizeof(*job->kv) +
		    (u64)d->n_seqs * (sizeof(*job->seqs) + sizeof(s32));

	/* paged: the sequences, their table copies and spans */
	if (job->prog->kv)
		bytes += (u64)d->n_seqs * (sizeof(*job->kv_seqs) + sizeof(*job->tables) +
					   4 * sizeof(s32) + 4ull * job->prog->kv->cap);

	if (atomic64_add_return(bytes, &job->kf->job_bytes) > cap) {
		atomic64_sub(bytes, &job->kf->job_bytes);
		return -EBUSY;
	}
	job->bytes = bytes;
	return 0;
}

static struct kllm_job *kllm_job_alloc(struct kllm_file *kf)
{
	struct kllm_job *job;

	if (atomic_inc_return(&kf->unfinished) > KLLM_MAX_JOBS_PER_FILE) {
		atomic_dec(&kf->unfinished);
		return ERR_PTR(-EBUSY);
	}
	job = kzalloc(sizeof(*job), GFP_KERNEL_ACCOUNT);
	if (!job) {
		atomic_dec(&kf->unfinished);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&job->ref);
	init_completion(&job->done);
	INIT_LIST_HEAD(&job->node);
	kref_get(&kf->ref);
	job->kf = kf;	/* the free drops unfinished and this reference */
	job->state = KLLM_JOB_NEW;
	/* The engine's allocations for this job's passes are charged here too. */
	job->memcg = get_mem_cgroup_from_mm(current->mm);
	return job;
}

struct kllm_job *kllm_job_create(struct drm_file *file, const struct drm_kllm_job *d)
{
	struct kllm_file *kf = kllm_file_of(file);
	const struct kllm_prog_info *pi;
	struct kllm_prog_err perr;
	struct kllm_job *job;
	u32 n_kv_binds, timeout_ms, limit_ms;
	int ret;

	if (d->flags & ~KLLM_JOB_FLAGS || d->pad || d->reserved)
		return ERR_PTR(-EINVAL);
	if ((d->flags & KLLM_JOB_PRIO_MASK) == KLLM_PRIO_INTERACTIVE && !capable(CAP_SYS_NICE))
		return ERR_PTR(-EPERM);
	job = kllm_job_alloc(kf);
	if (IS_ERR(job))
		return job;
	job->prog = kllm_prog_lookup(kf, d->prog);
	if (!job->prog) {
		ret = -ENOENT;
		goto put_job;
	}
	pi = &job->prog->info;
	ret = -EINVAL;
	if (!d->n_tokens || d->n_tokens > pi->max_batch || d->n_outputs > d->n_tokens ||
	    d->n_seqs > KLLM_PROG_MAX_SEQS)
		goto put_job;
	/* paged: one sequence handle per sequence */
	n_kv_binds = job->prog->kv ? d->n_seqs : d->n_seqs * pi->n_kv;	/* <= 4096 * 64 */
	if (d->n_binds != job->prog->n_out + n_kv_binds)
		goto put_job;
	ret = kllm_job_charge(job, d, n_kv_binds);
	if (ret)
		goto put_job;
	ret = kllm_job_copy_inputs(job, d);
	if (ret)
		goto put_job;
	job->batch.n_seqs = d->n_seqs;
	ret = kllm_job_bind(job, file, d, n_kv_binds);
	if (ret)
		goto put_job;
	job->batch.kv = job->kv;
	job->bind = (struct kllm_prog_bindings){
		.buf = job->buf, .scratch = job->prog->scratch,
		.scratch_size = job->prog->scratch_size };
	/* Sizes of every binding at this job's rows (the validator did the
	 * same at max_batch against the declared sizes). */
	if (kllm_prog_job_init(&job->pj, pi, &job->bind, &job->batch, job->seqs, &perr) ||
	    kllm_job_lower_all(job)) {
		ret = -EINVAL;
		goto put_job;
	}
	ret = kllm_job_schedule_info(job, d);
	if (ret)
		goto put_job;
	/* The module's limit bounds every job; a job may ask for less. */
	limit_ms = READ_ONCE(job_timeout_ms);	/* module parameter */
	timeout_ms = d->timeout_ms;
	if (!timeout_ms || (limit_ms && timeout_ms > limit_ms))
		timeout_ms = limit_ms;
	job->timeout_ns = timeout_ms ? (u64)timeout_ms * NSEC_PER_MSEC : U64_MAX;
	get_task_struct(current);
	job->task = current;
	return job;

put_job:
	kllm_job_put(job);
	return ERR_PTR(ret);
}

/* ------------------------------------------------------------ ioctls */

int kllm_ioctl_job_submit(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_job_submit *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_job *job;
	u32 id;
	int ret;

	if (args->reserved[0] || args->reserved[1])
		return -EINVAL;
	job = kllm_job_create(file, &args->job);
	if (IS_ERR(job))
		return PTR_ERR(job);
	/* The table's reference: JOB_WAIT or the file's close drops it. */
	kref_get(&job->ref);
	ret = xa_alloc_cyclic(&kf->jobs, &id, job, XA_LIMIT(1, U32_MAX),
			      &kf->next_job_id, GFP_KERNEL_ACCOUNT);
	if (ret < 0) {
		kllm_job_put(job);
		kllm_job_put(job);
		return ret;
	}
	kllm_job_count_submit(false);
	kllm_engine_queue(job);
	kllm_job_put(job);
	args->id = id;
	return 0;
}

int kllm_ioctl_job_wait(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_job_wait *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_job *job;
	long left;
	u64 j;

	if (args->flags & ~KLLM_JOB_WAIT_FLAGS || args->reserved[0] ||
	    args->reserved[1] || args->reserved2[0] || args->reserved2[1] ||
	    args->timeout_ns < 0)
		return -EINVAL;
	if (!args->id || args->id > U32_MAX)
		return -ENOENT;
	xa_lock(&kf->jobs);
	job = xa_load(&kf->jobs, args->id);
	if (job)
		kref_get(&job->ref);
	xa_unlock(&kf->jobs);
	if (!job)
		return -ENOENT;
	if (!args->timeout_ns) {
		left = completion_done(&job->done);
	} else {
		j = nsecs_to_jiffies64(args->timeout_ns);
		j = clamp_t(u64, j, 1, MAX_SCHEDULE_TIMEOUT - 1);
		left = wait_for_completion_interruptible_timeout(&job->done, j);
	}
	if (left <= 0) {
		kllm_job_put(job);
		return left < 0 ? left : -ETIMEDOUT;
	}
	/* Reap: only the waiter that takes it out of the table reports it. */
	if (xa_cmpxchg(&kf->jobs, args->id, job, NULL, GFP_KERNEL_ACCOUNT) != job) {
		kllm_job_put(job);
		return -ENOENT;
	}
	args->status = job->status;	/* acquired with the completion above */
	args->kv_pos_first = job->status ? job->pos_first : -1;
	args->kv_pos_last = job->status ? job->pos_last : -1;
	kllm_job_put(job);	/* the table's */
	kllm_job_put(job);	/* ours */
	return 0;
}

/* ------------------------------------------------------------ per file */

void kllm_file_jobs_init(struct kllm_file *kf)
{
	kllm_ctx_init(&kf->ctx);
	kllm_kv_file_init(kf);
	xa_init_flags(&kf->progs, XA_FLAGS_ALLOC1);
	xa_init_flags(&kf->jobs, XA_FLAGS_ALLOC1);
	atomic_set(&kf->unfinished, 0);
	atomic64_set(&kf->job_bytes, 0);
}

/* The file is closing: its ioctl jobs are cancelled, its handles dropped. */
void kllm_file_jobs_release(struct kllm_file *kf)
{
	struct kllm_prog *prog;
	struct kllm_job *job;
	unsigned long id;

	xa_for_each(&kf->jobs, id, job) {
		xa_erase(&kf->jobs, id);
		kllm_engine_cancel(job);
		kllm_job_put(job);
	}
	xa_destroy(&kf->jobs);
	xa_for_each(&kf->progs, id, prog) {
		xa_erase(&kf->progs, id);
		kllm_prog_put(prog);
	}
	xa_destroy(&kf->progs);
	kllm_kv_file_release(kf);
}
