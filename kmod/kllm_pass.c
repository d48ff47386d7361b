// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_pass.c - one engine pass over a program's weights for the slices
 * kllm_sched_pick() chose: a whole job alone runs on its own lowering
 * (built at submission, outputs straight into its buffers); chunks of a
 * job and fused jobs of several files run as one batch whose outputs go to
 * the program's staging memory and are then copied row by row to each
 * job's own buffers.  Kernels compute every row independently of the
 * others in its batch, so either way a job's bytes are the same.
 *
 * A fused batch must never let one job reach another's memory: each
 * job's sequence indices are mapped into its own range of the batch's
 * sequences (an index outside its n_seqs becomes -1, which the kernels
 * treat as no sequence), and its output rows are copied only into its own
 * bindings, whose sizes were checked at submission.
 *
 * Paged programs run in chunks and fused passes too.  A pass's sequence
 * range then holds its jobs' block tables (the copies each job took at
 * submission, kllm_kv_job.c) over the program's one store's pools: every
 * job of a pass runs the pass's program (kllm_sched.c fuses only heads
 * whose prog is the pass's), a program's store is set once at PROG_CREATE
 * and shared by every file registered on it, so their pools are the same
 * memory, and kllm_slice_fill refuses a job whose pools are not the
 * pass's.  Each job writes only the blocks its own sequences hold
 * privately (made so at submission, never two sequences' at once) and
 * reads shared ones read-only, so a job's rows read and write the same
 * blocks in a pass as alone, and no job reaches another's.
 */
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "kllm_job.h"
#include "kllm_slice.h"

int kllm_prog_setup_fusion(struct kllm_prog *prog)
{
	const struct kllm_prog_info *pi = &prog->info;
	u64 total;

	prog->out_t = kvmalloc_array(pi->n_tensors ? pi->n_tensors : 1, sizeof(u32),
				     GFP_KERNEL_ACCOUNT);
	if (!prog->out_t)
		return -ENOMEM;
	prog->fusable = kllm_stage_tensors(pi, prog->out_t, &prog->n_out_t);
	if (!prog->fusable)
		return 0;
	kllm_stage_layout(pi, prog->staging_off, &total);
	if (total > prog->act_size + (256ull << 20)) {
		/* absurd outputs: run such a program's jobs one by one */
		prog->fusable = false;
		return 0;
	}
	prog->pass_inputs = kvmalloc_array(4ull * pi->max_batch, sizeof(s32), GFP_KERNEL_ACCOUNT);
	if (!prog->pass_inputs)
		return -ENOMEM;
	if (total) {
		prog->staging = kvzalloc(total, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!prog->staging)
			return -ENOMEM;
	}
	return 0;
}

/* Copy a slice's output rows between its job's buffers and staging. */
static int kllm_slice_stage(struct kllm_pass_run *run, const struct kllm_slice *sl,
			    bool to_job)
{
	const struct kllm_prog *prog = run->pass->prog;

	return kllm_slice_copy(&prog->info, prog->out_t, prog->n_out_t, sl->job->buf,
			       run->buf, &sl->job->batch, &sl->r, to_job);
}

/*
 * The pass's sequence table (KV bindings, or paged: block tables) and the
 * lowering's storage, allocated by the engine thread but charged to the
 * memory cgroup of the pass's first job.
 */
static int kllm_pass_alloc(struct kllm_pass_run *run, struct kllm_pass *pass)
{
	const struct kllm_prog_info *pi = &pass->prog->info;
	u32 n_seqs = pass->n_seqs ? pass->n_seqs : 1;
	u64 n_kv = pi->paged ? 0 : (u64)pass->n_seqs * pi->n_kv;
	struct mem_cgroup *old = set_active_memcg(pass->s[0].job->memcg);

	run->kv = kvmalloc_array(n_kv ? n_kv : 1, sizeof(*run->kv), GFP_KERNEL_ACCOUNT);
	run->seqs = kvcalloc(n_seqs, sizeof(*run->seqs), GFP_KERNEL_ACCOUNT);
	if (pi->paged)
		run->tables = kvcalloc(n_seqs, sizeof(*run->tables), GFP_KERNEL_ACCOUNT);
	set_active_memcg(old);
	if (!run->kv || !run->seqs || (pi->paged && !run->tables))
		return -ENOMEM;
	return 0;
}

int kllm_pass_prepare(struct kllm_pass_run *run, struct kllm_pass *pass)
{
	struct kllm_prog *prog = pass->prog;
	const struct kllm_prog_info *pi = &prog->info;
	s32 *tok = prog->pass_inputs;
	struct kllm_pass_arrays pa = {
		.tokens = tok, .pos = tok + pi->max_batch, .seq = tok + 2 * pi->max_batch,
		.out_rows = tok + 3 * pi->max_batch, .cap = pi->max_batch,
		.cap_seqs = pass->n_seqs,
	};
	u32 i;
	int ret;

	memset(run, 0, sizeof(*run));
	run->pass = pass;
	if (!pass->staged) {
		run->use = &pass->s[0].job->pj;
		return 0;
	}
	/* paged: the store's pools, the same for every job of the program */
	if (pi->paged && !prog->kv)
		return -EINVAL;
	ret = kllm_pass_alloc(run, pass);
	if (ret)
		return ret;
	pa.kv = run->kv;
	if (pi->paged) {
		pa.tables = run->tables;
		pa.kv_pool = prog->kv->pool;
	}
	kllm_stage_bind(pi, prog->mem, prog->staging, prog->staging_off, run->buf);
	for (i = 0; i < pass->n; i++) {
		ret = kllm_slice_fill(pi, &pass->s[i].job->batch, &pass->s[i].r, &pa);
		/* what the job's buffers hold, for ops that accumulate */
		if (!ret)
			ret = kllm_slice_stage(run, &pass->s[i], false);
		if (ret)
			return -EINVAL;
	}
	run->batch = (struct kllm_prog_batch){
		.n_tokens = pass->n_tokens, .n_outputs = pass->n_outputs,
		.tokens = pi->inputs & BIT(KLLM_PROG_IN_TOKENS) ? pa.tokens : NULL,
		.pos = pi->inputs & BIT(KLLM_PROG_IN_POS) ? pa.pos : NULL,
		.seq = pi->inputs & BIT(KLLM_PROG_IN_SEQ) ? pa.seq : NULL,
		.out_rows = pi->inputs & BIT(KLLM_PROG_IN_OUT_ROWS) ? pa.out_rows : NULL,
		.n_seqs = pass->n_seqs, .kv = run->kv,
		.kv_pool = pa.kv_pool, .tables = pa.tables,
	};
	run->bind = (struct kllm_prog_bindings){
		.buf = run->buf, .scratch = prog->scratch, .scratch_size = prog->scratch_size };
	if (kllm_prog_job_init(&run->pj, pi, &run->bind, &run->batch, run->seqs, NULL))
		return -EINVAL;
	run->use = &run->pj;
	return 0;
}

int kllm_pass_scatter(struct kllm_pass_run *run)
{
	u32 i;

	if (!run->pass->staged)
		return 0;
	for (i = 0; i < run->pass->n; i++)
		if (kllm_slice_stage(run, &run->pass->s[i], true))
			return -EINVAL;
	return 0;
}

void kllm_pass_release(struct kllm_pass_run *run)
{
	kvfree(run->kv);
	kvfree(run->seqs);
	kvfree(run->tables);
}
