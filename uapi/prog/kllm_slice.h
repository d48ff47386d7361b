/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kllm_slice.h - running jobs in pieces: chunks of one long job, and
 * slices of several jobs fused into one pass over a program's weights.
 *
 * A pass is one batch whose rows are its slices, one after another.  Its
 * input arrays and sequence table are the pass's own (kllm_pass_arrays),
 * its OUTPUT buffers the program's staging memory (every OUTPUT buffer at
 * its declared size, laid out by kllm_stage_layout), and each slice's
 * output rows are copied between staging and its own job's OUTPUT memory
 * before and after the pass (kllm_slice_copy).
 *
 * Everything here is integer arithmetic and copies bounded by the sizes
 * passed in.  A slice whose rows would fall outside the pass's arrays,
 * the staging or its job's memory is refused with -KLLM_PROG_EINVAL
 * before anything is written.  For a job that kllm_prog_job_init()
 * accepted (paged: bound to the pass's pools), no slice of it is ever
 * refused, and the pass, whose tables are its jobs' own tables, passes
 * kllm_prog_job_init() in turn: the userspace fuzzer
 * (tests/fuzz/fuzz_plan.c) checks exactly that, over exactly sized
 * buffers, on the code kmod/kllm_pass.c runs.
 */
#ifndef KLLM_UAPI_SLICE_H
#define KLLM_UAPI_SLICE_H

#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"

/* One job's share of a pass: its tokens [tok0, tok0 + ntok). */
struct kllm_slice_rows {
	kllm_u32 tok0, ntok;	/* the job's token rows */
	kllm_u32 row0;		/* its first token row in the pass */
	kllm_u32 out0, nout;	/* its output rows in the pass */
	kllm_u32 seq0;		/* its first sequence in the pass */
};

/*
 * The pass's own inputs: arrays of cap rows, cap_seqs * n_kv KV bindings
 * (unpaged programs) or cap_seqs block tables (paged: info.paged).  A
 * paged pass runs over one pool per KV buffer (kv_pool, [n_kv]): only
 * jobs bound to exactly that pool may have slices in it.
 */
struct kllm_pass_arrays {
	kllm_s32 *tokens, *pos, *seq, *out_rows;
	kllm_u32 cap;		/* rows of each array (the program's max_batch) */
	kllm_u32 cap_seqs;	/* sequences kv (tables) has room for */
	struct kllm_prog_mem *kv;	/* [cap_seqs * n_kv]; paged: unused */
	struct kllm_prog_table *tables;	/* paged: [cap_seqs] */
	const struct kllm_prog_mem *kv_pool;	/* paged: [n_kv], the pass's */
};

/* Outputs of @job whose rows fall in its tokens [tok0, tok0 + ntok). */
kllm_u32 kllm_slice_outputs(const struct kllm_prog_batch *job, kllm_u32 tok0,
			    kllm_u32 ntok);

/*
 * Lay @rows (with r->nout already kllm_slice_outputs()) of @job into the
 * pass: its tokens, positions and sequence indices (an index outside the
 * job's own sequences becomes -1: no sequence), its output rows mapped to
 * pass rows in the job's order, its sequences' KV bindings (paged: block
 * tables) at seq0.  0, or -KLLM_PROG_EINVAL with nothing written (also
 * for a paged job with sequences whose pools are not the pass's).
 */
int kllm_slice_fill(const struct kllm_prog_info *pi, const struct kllm_prog_batch *job,
		    const struct kllm_slice_rows *rows, struct kllm_pass_arrays *pa);

/*
 * Staging: byte offset of each OUTPUT buffer (by buffer id; others 0) and
 * the total, every buffer at its declared size rounded up to 64.  -1 if
 * the total overflows.
 */
int kllm_stage_layout(const struct kllm_prog_info *pi,
		      kllm_u64 off[KLLM_PROG_MAX_BUFFERS], kllm_u64 *total);

/*
 * The pass's memory: @prog_mem (WEIGHTS and ACTIVATIONS by buffer id) with
 * every OUTPUT buffer pointed at its range of @staging (kllm_stage_layout's
 * offsets), at its declared size.
 */
void kllm_stage_bind(const struct kllm_prog_info *pi, const struct kllm_prog_mem *prog_mem,
		     void *staging, const kllm_u64 off[KLLM_PROG_MAX_BUFFERS],
		     struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS]);

/*
 * Can the program's jobs run in pieces (chunks, fused passes)?  Only if a
 * slice's rows of the batch are its own: every tensor of its OUTPUT and
 * ACTIVATIONS buffers is batch-shaped (rows per token or per output), no
 * WEIGHTS tensor is; batch-shaped tensors that share bytes do so row for
 * row; every op computes each row from that row alone (matmul weights
 * fixed; the KV ops' sequences and positions, and a batch-shaped get_rows
 * table's ids, from the job's own arrays, which the slices remap).
 * Otherwise each job runs whole and alone.  The ids of the OUTPUT
 * tensors go to @out_t (room for pi->n_tensors, all of it used as
 * scratch), their number to *n_out_t.
 */
int kllm_stage_tensors(const struct kllm_prog_info *pi, kllm_u32 *out_t,
		       kllm_u32 *n_out_t);

/*
 * Copy the slice's rows of every staged tensor between its job's OUTPUT
 * memory (@job_buf, by buffer id) and the staging (@stage_buf, by buffer
 * id): to the job after the pass (@to_job), from it before.  Every row is
 * range-checked against both sides first.  0, or -KLLM_PROG_EINVAL with
 * nothing copied.
 */
int kllm_slice_copy(const struct kllm_prog_info *pi, const kllm_u32 *out_t,
		    kllm_u32 n_out_t, const struct kllm_prog_mem *job_buf,
		    const struct kllm_prog_mem *stage_buf,
		    const struct kllm_prog_batch *job,
		    const struct kllm_slice_rows *rows, int to_job);

#endif /* KLLM_UAPI_SLICE_H */
