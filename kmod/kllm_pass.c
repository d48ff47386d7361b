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
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "kllm_job.h"
#include "kllm_prog_int.h"

int kllm_prog_setup_fusion(struct kllm_prog *prog)
{
	const struct kllm_prog_info *pi = &prog->info;
	struct kllm_prog_buffer b;
	struct kp_tensor t;
	u64 total = 0;
	u32 id, n = 0;

	prog->fusable = true;
	for (id = 0; id < pi->n_tensors; id++) {
		kp_tensor_get(pi, id, &t);
		if (t.buf_kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		n++;
		if (t.mode == KP_ROWS_FIXED)
			prog->fusable = false;
	}
	if (!prog->fusable)
		return 0;
	prog->out_t = kvmalloc_array(n ? n : 1, sizeof(u32), GFP_KERNEL_ACCOUNT);
	prog->pass_inputs = kvmalloc_array(4ull * pi->max_batch, sizeof(s32), GFP_KERNEL_ACCOUNT);
	if (!prog->out_t || !prog->pass_inputs)
		return -ENOMEM;
	for (id = 0; id < pi->n_tensors; id++) {
		kp_tensor_get(pi, id, &t);
		if (t.buf_kind == KLLM_PROG_BUF_OUTPUT)
			prog->out_t[prog->n_out_t++] = id;
	}
	for (id = 0; id < pi->n_buffers; id++) {
		kp_read_buffer(pi, id, &b);
		if (b.kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		prog->staging_off[id] = total;
		total += ALIGN(b.size, 64);
		if (total > prog->act_size + (256ull << 20)) {
			/* absurd outputs: run such a program's jobs one by one */
			prog->fusable = false;
			return 0;
		}
	}
	if (total) {
		prog->staging = kvzalloc(total, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!prog->staging)
			return -ENOMEM;
	}
	return 0;
}

/* Copy a slice's output rows between the job's buffers and staging. */
static void kllm_slice_copy(const struct kllm_prog *prog, const struct kllm_slice *sl,
			    bool to_job)
{
	const struct kllm_prog_info *pi = &prog->info;
	const struct kllm_job *job = sl->job;
	struct kp_tensor t;
	u32 i, o, p;

	for (i = 0; i < prog->n_out_t; i++) {
		u8 *stage, *mine;

		kp_tensor_get(pi, prog->out_t[i], &t);
		stage = (u8 *)prog->staging + prog->staging_off[t.r.buffer] + t.r.offset;
		mine = (u8 *)job->buf[t.r.buffer].base + t.r.offset;
#define KLLM_ROW_COPY(src_row, dst_row) do { \
	u8 *s_ = stage + (u64)(src_row) * t.r.row_stride; \
	u8 *j_ = mine + (u64)(dst_row) * t.r.row_stride; \
	if (to_job) \
		memcpy(j_, s_, t.row_bytes); \
	else \
		memcpy(s_, j_, t.row_bytes); \
} while (0)
		if (t.mode == KP_ROWS_TOKENS) {
			for (o = 0; o < sl->ntok; o++)
				KLLM_ROW_COPY(sl->row0 + o, sl->tok0 + o);
			continue;
		}
		/* KP_ROWS_OUTPUTS: this slice's outputs, in the job's order. */
		for (o = 0, p = sl->out0; o < job->batch.n_outputs; o++) {
			u32 r = (u32)job->batch.out_rows[o];

			if (r >= sl->tok0 && r < sl->tok0 + sl->ntok)
				KLLM_ROW_COPY(p++, o);
		}
#undef KLLM_ROW_COPY
	}
}

/* The slice's rows of the batch: inputs, its sequences, its outputs. */
static void kllm_slice_fill(struct kllm_pass_run *run, const struct kllm_slice *sl,
			    s32 *tok, s32 *pos, s32 *seq, s32 *out)
{
	const struct kllm_prog_batch *jb = &sl->job->batch;
	const u32 n_kv = run->pass->prog->info.n_kv;
	u32 i, p;

	for (i = 0; i < sl->ntok; i++) {
		u32 src = sl->tok0 + i, dst = sl->row0 + i;
		s32 s = jb->seq ? jb->seq[src] : 0;

		tok[dst] = jb->tokens ? jb->tokens[src] : 0;
		pos[dst] = jb->pos ? jb->pos[src] : 0;
		seq[dst] = s >= 0 && (u32)s < jb->n_seqs ? (s32)(sl->seq0 + s) : -1;
	}
	for (i = 0, p = sl->out0; i < jb->n_outputs; i++) {
		u32 r = (u32)jb->out_rows[i];

		if (r >= sl->tok0 && r < sl->tok0 + sl->ntok)
			out[p++] = (s32)(sl->row0 + r - sl->tok0);
	}
	if (n_kv && jb->n_seqs)
		memcpy(run->kv + (u64)sl->seq0 * n_kv, jb->kv,
		       (u64)jb->n_seqs * n_kv * sizeof(*run->kv));
}

int kllm_pass_prepare(struct kllm_pass_run *run, struct kllm_pass *pass)
{
	struct kllm_prog *prog = pass->prog;
	const struct kllm_prog_info *pi = &prog->info;
	s32 *tok = prog->pass_inputs, *pos = tok + pi->max_batch;
	s32 *seq = pos + pi->max_batch, *out = seq + pi->max_batch;
	u64 n_kv = (u64)pass->n_seqs * pi->n_kv;
	struct kllm_prog_buffer b;
	u32 i;

	memset(run, 0, sizeof(*run));
	run->pass = pass;
	if (!pass->staged) {
		run->use = &pass->s[0].job->pj;
		return 0;
	}
	run->kv = kvmalloc_array(n_kv ? n_kv : 1, sizeof(*run->kv), GFP_KERNEL);
	run->seqs = kvcalloc(pass->n_seqs ? pass->n_seqs : 1, sizeof(*run->seqs), GFP_KERNEL);
	if (!run->kv || !run->seqs)
		return -ENOMEM;
	for (i = 0; i < pass->n; i++) {
		kllm_slice_fill(run, &pass->s[i], tok, pos, seq, out);
		kllm_slice_copy(prog, &pass->s[i], false);	/* what the job's buffers hold */
	}
	run->batch = (struct kllm_prog_batch){
		.n_tokens = pass->n_tokens, .n_outputs = pass->n_outputs,
		.tokens = pi->inputs & BIT(KLLM_PROG_IN_TOKENS) ? tok : NULL,
		.pos = pi->inputs & BIT(KLLM_PROG_IN_POS) ? pos : NULL,
		.seq = pi->inputs & BIT(KLLM_PROG_IN_SEQ) ? seq : NULL,
		.out_rows = pi->inputs & BIT(KLLM_PROG_IN_OUT_ROWS) ? out : NULL,
		.n_seqs = pass->n_seqs, .kv = run->kv,
	};
	memcpy(run->buf, prog->mem, sizeof(run->buf));
	for (i = 0; i < pi->n_buffers; i++) {
		kp_read_buffer(pi, i, &b);
		if (b.kind == KLLM_PROG_BUF_OUTPUT)
			run->buf[i] = (struct kllm_prog_mem){
				(u8 *)prog->staging + prog->staging_off[i], b.size };
	}
	run->bind = (struct kllm_prog_bindings){
		.buf = run->buf, .scratch = prog->scratch, .scratch_size = prog->scratch_size };
	if (kllm_prog_job_init(&run->pj, pi, &run->bind, &run->batch, run->seqs, NULL))
		return -EINVAL;
	run->use = &run->pj;
	return 0;
}

void kllm_pass_scatter(struct kllm_pass_run *run)
{
	u32 i;

	if (!run->pass->staged)
		return;
	for (i = 0; i < run->pass->n; i++)
		kllm_slice_copy(run->pass->prog, &run->pass->s[i], true);
}

void kllm_pass_release(struct kllm_pass_run *run)
{
	kvfree(run->kv);
	kvfree(run->seqs);
}
