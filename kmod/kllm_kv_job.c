// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_kv_job.c - the sequences of a job on a paged program.
 *
 * At submission (kllm_kv_job_bind, after the job's inputs were copied in):
 * each sequence handle is looked up (a reference per sequence), the
 * positions the job writes in each are found from the kernel's copy of
 * its arrays, kllm_kvb_prepare makes the blocks they touch the sequence's
 * own (copy-on-write of shared or cached ones, fresh zeroed ones where
 * there were none; the copies and zeroing are done here, before anything
 * runs), and the job gets copies of the tables with their read-only
 * leading entries.  The sequence is then busy until the job ends.
 *
 * At the end (kllm_kv_job_end, before the job's completion is visible):
 * a job that succeeded commits the token ids it was given at the
 * positions it wrote (full blocks filled in order enter the prefix
 * cache); a failed one cuts each of its sequences back to its first
 * position there, once the sequence's other jobs are done.  Why no block
 * a job uses is reused before it ends: kllm_kv.h.
 */
#include <linux/mm.h>
#include <linux/slab.h>

#include "kllm_job.h"
#include "kllm_kv.h"

/* The lowest and highest position the job writes in each sequence, or -1. */
static void kllm_kv_job_span(struct kllm_job *job)
{
	const struct kllm_prog_batch *b = &job->batch;
	u32 i;

	for (i = 0; i < b->n_seqs; i++) {
		job->kv_lo[i] = -1;
		job->kv_hi[i] = -1;
	}
	if (!b->pos)
		return;
	for (i = 0; i < b->n_tokens; i++) {
		s32 s = b->seq ? b->seq[i] : 0, p = b->pos[i];

		if (s < 0 || (u32)s >= b->n_seqs || p < 0 || !job->kv_seqs[s])
			continue;	/* the kernels skip it */
		if (job->kv_lo[s] < 0 || p < job->kv_lo[s])
			job->kv_lo[s] = p;
		if (p > job->kv_hi[s])
			job->kv_hi[s] = p;
	}
}

/* Look the handles up: unknown -ENOENT, another program's -EINVAL. */
static int kllm_kv_job_lookup(struct kllm_job *job, const u32 *handles)
{
	u32 s;

	for (s = 0; s < job->batch.n_seqs; s++) {
		if (!handles[s])
			continue;
		job->kv_seqs[s] = kllm_kv_seq_lookup(job->kf, handles[s]);
		if (!job->kv_seqs[s])
			return -ENOENT;
		if (job->kv_seqs[s]->store != job->prog->kv)
			return -EINVAL;
	}
	return 0;
}

/*
 * May the job use these sequences?  Each named once; a busy one only
 * above its busy positions and outside its read-only blocks.  Nothing is
 * changed on failure but the marks.  store->lock.
 */
static int kllm_kv_job_admit(struct kllm_job *job, struct kllm_kv_store *store)
{
	u32 s;

	lockdep_assert_held(&store->lock);
	for (s = 0; s < job->batch.n_seqs; s++) {
		struct kllm_kv_seq *seq = job->kv_seqs[s];

		if (!seq)
			continue;
		if (seq->mark == job)
			return -EINVAL;
		seq->mark = job;
		if (job->kv_lo[s] < 0 || !seq->inflight)
			continue;
		if (job->kv_lo[s] <= seq->busy_max ||
		    ((u32)job->kv_lo[s] >> store->shift) < seq->q.ro_blocks)
			return -EBUSY;
	}
	return 0;
}

/* Clear the marks kllm_kv_job_admit set.  store->lock. */
static void kllm_kv_job_unmark(struct kllm_job *job)
{
	u32 s;

	for (s = 0; s < job->batch.n_seqs; s++)
		if (job->kv_seqs[s] && job->kv_seqs[s]->mark == job)
			job->kv_seqs[s]->mark = NULL;
}

/* Make each sequence's blocks [lo, hi] writable; the job's table copies. */
static int kllm_kv_job_prepare(struct kllm_job *job, struct kllm_kv_store *store)
{
	u64 n_ids;
	u32 s, *ids;
	int ret;

	lockdep_assert_held(&store->lock);
	for (s = 0; s < job->batch.n_seqs; s++) {
		struct kllm_kv_seq *seq = job->kv_seqs[s];

		if (!seq || job->kv_lo[s] < 0)
			continue;
		ret = kllm_kvb_prepare(&store->kvb, &seq->q, job->kv_lo[s], job->kv_hi[s],
				       &store->work);
		kllm_kv_do_work(store);	/* blocks taken are zeroed or copied, always */
		if (ret)
			return ret == -KLLM_PROG_EINVAL ? -EINVAL : ret;
		seq->inflight++;
		seq->busy_max = max(seq->busy_max, job->kv_hi[s]);
		job->kv_busy[s] = true;
	}
	/* the table copies: as many ids as the tables hold now */
	for (s = 0, n_ids = 0; s < job->batch.n_seqs; s++)
		if (job->kv_busy[s])
			n_ids += job->kv_seqs[s]->q.n_ids;
	job->kv_ids = kvmalloc_array(n_ids ? n_ids : 1, sizeof(*ids), GFP_KERNEL_ACCOUNT);
	if (!job->kv_ids)
		return -ENOMEM;
	ids = job->kv_ids;
	for (s = 0; s < job->batch.n_seqs; s++) {
		const struct kllm_kvb_seq *q;

		if (!job->kv_busy[s])
			continue;
		q = &job->kv_seqs[s]->q;
		memcpy(ids, q->ids, q->n_ids * sizeof(*ids));
		job->tables[s] = (struct kllm_prog_table){
			.ids = ids, .n_ids = q->n_ids, .ro_blocks = q->ro_blocks };
		ids += q->n_ids;
	}
	return 0;
}

/* Per sequence (@n) and per row: what binding and committing need. */
static int kllm_kv_job_alloc(struct kllm_job *job, u32 n)
{
	u32 rows = job->batch.n_tokens ? job->batch.n_tokens : 1;

	job->kv_seqs = kvcalloc(n, sizeof(*job->kv_seqs), GFP_KERNEL_ACCOUNT);
	job->tables = kvcalloc(n, sizeof(*job->tables), GFP_KERNEL_ACCOUNT);
	job->kv_lo = kvcalloc(2 * n, sizeof(*job->kv_lo), GFP_KERNEL_ACCOUNT);
	job->kv_busy = kvcalloc(n, sizeof(*job->kv_busy), GFP_KERNEL_ACCOUNT);
	job->kv_rows = kvmalloc_array(2 * rows, sizeof(*job->kv_rows), GFP_KERNEL_ACCOUNT);
	job->kv_at = kvmalloc_array(n + 1, sizeof(*job->kv_at), GFP_KERNEL_ACCOUNT);
	if (!job->kv_seqs || !job->tables || !job->kv_lo || !job->kv_busy || !job->kv_rows ||
	    !job->kv_at)
		return -ENOMEM;
	job->kv_hi = job->kv_lo + n;
	return 0;
}

int kllm_kv_job_bind(struct kllm_job *job, const u32 *handles)
{
	struct kllm_kv_store *store = job->prog->kv;
	u32 n = job->batch.n_seqs;
	int ret;

	ret = kllm_kv_job_alloc(job, n ? n : 1);
	if (ret)
		return ret;
	ret = kllm_kv_job_lookup(job, handles);
	if (ret)
		return ret;
	kllm_kv_job_span(job);
	kllm_kv_lock(store);
	ret = kllm_kv_job_admit(job, store);
	if (!ret)
		ret = kllm_kv_job_prepare(job, store);
	kllm_kv_job_unmark(job);
	kllm_kv_unlock(store);
	job->batch.kv_pool = store->pool;
	job->batch.tables = job->tables;
	return ret;
}

/*
 * The job's rows grouped by sequence, each group in row order (a counting
 * sort: O(rows + sequences)): sequence s's positions at kv_rows[at[s] ..
 * at[s + 1]), its tokens n_tokens further.
 */
static void kllm_kv_job_group(struct kllm_job *job)
{
	const struct kllm_prog_batch *b = &job->batch;
	s32 *pos = job->kv_rows, *tok = job->kv_rows + b->n_tokens;
	u32 *at = job->kv_at, i, s, sum = 0, c;

	memset(at, 0, (b->n_seqs + 1) * sizeof(*at));
	for (i = 0; i < b->n_tokens; i++) {
		s = b->seq ? (u32)b->seq[i] : 0;
		if (s < b->n_seqs && job->kv_busy[s] && b->pos[i] >= 0)
			at[s + 1]++;
	}
	for (s = 0; s <= b->n_seqs; s++) {
		c = at[s];
		at[s] = sum;
		sum += c;
	}
	/* at[s + 1] is now where s's group starts; filling moves it to its end */
	for (i = 0; i < b->n_tokens; i++) {
		s = b->seq ? (u32)b->seq[i] : 0;
		if (s >= b->n_seqs || !job->kv_busy[s] || b->pos[i] < 0)
			continue;
		pos[at[s + 1]] = b->pos[i];
		tok[at[s + 1]++] = b->tokens[i];
	}
}

/*
 * A succeeded job's rows to its sequences: all of a sequence's rows in
 * one commit, so that a position the job wrote twice never leaves a
 * cached block behind (kllm_kvb_commit caches only after the whole call).
 * store->lock.
 */
static void kllm_kv_job_commit(struct kllm_job *job, struct kllm_kv_store *store)
{
	const struct kllm_prog_batch *b = &job->batch;
	const u32 *at = job->kv_at;
	u32 s;

	lockdep_assert_held(&store->lock);
	if (!b->tokens || !b->pos)
		return;	/* nothing to key blocks by: they stay uncached */
	kllm_kv_job_group(job);
	for (s = 0; s < b->n_seqs; s++)
		if (job->kv_busy[s])
			kllm_kvb_commit(&store->kvb, &job->kv_seqs[s]->q, job->kv_rows + at[s],
					job->kv_rows + b->n_tokens + at[s],
					at[s + 1] - at[s]);
}

/*
 * @ran: the job was queued (it may have written its rows): a failure cuts
 * its sequences back.  One that was never queued wrote nothing, and its
 * copies equal what they replaced: its sequences just stop being busy.
 */
static void kllm_kv_job_settle(struct kllm_job *job, int status, bool ran)
{
	struct kllm_kv_store *store = job->prog->kv;
	u32 s;

	kllm_kv_lock(store);
	if (!status)
		kllm_kv_job_commit(job, store);
	for (s = 0; s < job->batch.n_seqs; s++) {
		struct kllm_kv_seq *seq = job->kv_seqs[s];

		if (!job->kv_busy[s])
			continue;
		job->kv_busy[s] = false;
		if (status && ran && (seq->fail_pos < 0 || job->kv_lo[s] < seq->fail_pos))
			seq->fail_pos = job->kv_lo[s];
		if (!--seq->inflight)
			seq->busy_max = -1;
		kllm_kv_seq_settle(seq);
	}
	kllm_kv_unlock(store);
}

void kllm_kv_job_end(struct kllm_job *job, int status)
{
	if (!job->kv_busy || job->kv_ended)
		return;
	job->kv_ended = true;
	kllm_kv_job_settle(job, status, true);
}

void kllm_kv_job_free(struct kllm_job *job)
{
	u32 s, n = job->batch.n_seqs;

	if (job->kv_busy && !job->kv_ended) {
		job->kv_ended = true;
		kllm_kv_job_settle(job, -ECANCELED, false);
	}
	if (job->kv_seqs)
		for (s = 0; s < n; s++)
			if (job->kv_seqs[s])
				kllm_kv_seq_put(job->kv_seqs[s]);
	kvfree(job->kv_seqs);
	kvfree(job->tables);
	kvfree(job->kv_lo);
	kvfree(job->kv_busy);
	kvfree(job->kv_ids);
	kvfree(job->kv_rows);
	kvfree(job->kv_at);
}
