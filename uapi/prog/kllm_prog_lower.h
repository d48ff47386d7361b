/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kllm_prog_lower.h - turning the op records of a checked program, plus one
 * job's memory and batch, into struct kk_op with real pointers.
 *
 * A home (the runtime's CPU engine, the driver) does, per job:
 *
 *	kllm_prog_job_init(&job, &info, &bind, &batch, seqs, &err);
 *	for (i = 0; i < info.n_ops; i = next) {
 *		n = kllm_prog_lower_group(&job, i, ops, &next, &err);
 *		if (n < 0) fail;
 *		if (n > 0) kk_ops_exec(host, ops, n);	(0: nothing left)
 *	}
 *
 * (kllm_prog_lower_op lowers one op: 0 run it, 1 nothing to do.)
 *
 * Every pointer it forms is range-checked against the memory actually bound
 * for this job at this job's row counts (the validator already proved the
 * same at max_batch against the declared sizes); kk_op_check() runs on the
 * result.  Runtime values (token ids, positions, sequence indices, output
 * rows) are guarded by the kernels.  Integers only.
 */
#ifndef KLLM_UAPI_PROG_LOWER_H
#define KLLM_UAPI_PROG_LOWER_H

#include "kk.h"
#include "kllm_prog.h"
#include "kllm_prog_check.h"

/* A piece of memory: a bound buffer. */
struct kllm_prog_mem {
	void *base;		/* KLLM_PROG_BIND_ALIGN aligned */
	kllm_u64 size;		/* bytes */
};

/* Memory for one run: everything but the per-job inputs and KV caches. */
struct kllm_prog_bindings {
	/* By buffer id, n_buffers entries; WEIGHTS and ACTIVATIONS need at
	 * least the declared size, OUTPUT what the job's rows touch.  INPUT
	 * and KV entries are ignored. */
	const struct kllm_prog_mem *buf;
	void *scratch;		/* 64-byte aligned */
	kllm_u64 scratch_size;	/* >= kllm_prog_scratch_bytes() */
};

/*
 * A paged sequence's block table (KLLM_PROG_BUF_PAGED): ids[i] is the
 * pool block holding positions [i << shift, (i + 1) << shift).  The same
 * table serves every paged KV buffer of the program.  Entries
 * [0, ro_blocks) are read only (shared or cached blocks): KV_STORE skips
 * rows that would land there.  n_ids 0 leaves the sequence unbound.
 */
struct kllm_prog_table {
	const kllm_u32 *ids;	/* [n_ids], each < the pool's blocks */
	kllm_u32 n_ids;		/* <= ceil(n_ctx / B) of the program */
	kllm_u32 ro_blocks;	/* <= n_ids */
};

/* One job (or several fused): its tokens and the caches of its sequences. */
struct kllm_prog_batch {
	kllm_u32 n_tokens;	/* 1..max_batch */
	kllm_u32 n_outputs;	/* 0..n_tokens */
	const kllm_s32 *tokens;	/* [n_tokens], if the program has that INPUT */
	const kllm_s32 *pos;	/* [n_tokens] */
	const kllm_s32 *seq;	/* [n_tokens]: index into the sequences */
	const kllm_s32 *out_rows; /* [n_outputs]: token rows to output */
	kllm_u32 n_seqs;	/* 0..KLLM_PROG_MAX_SEQS */
	kllm_u32 pad;
	/* [n_seqs * info.n_kv]: kv[s * n_kv + i] is sequence s's memory for
	 * the program's i-th KV buffer (in buffer id order), at least that
	 * buffer's size; base NULL leaves the sequence unbound (its rows are
	 * skipped by kv_store and give zeros in attention).  Ignored by a
	 * paged program (info.paged), whose KV buffers are all paged: may be
	 * NULL there. */
	const struct kllm_prog_mem *kv;
	/* Paged programs (info.paged; then every KV buffer is paged):
	 * [info.n_kv] the pool of each KV buffer (in buffer id order;
	 * KLLM_PROG_BIND_ALIGN aligned, a whole number of its blocks (its
	 * size), at most KLLM_PROG_MAX_POOL_BLOCKS), and [n_seqs] each
	 * sequence's block table, whose ids must lie inside every pool.
	 * Both may be NULL when n_seqs is 0. */
	const struct kllm_prog_mem *kv_pool;
	const struct kllm_prog_table *tables;
};

struct kllm_prog_job {
	const struct kllm_prog_info *info;
	const struct kllm_prog_bindings *bind;
	const struct kllm_prog_batch *batch;
	struct kk_kv_seq *seqs;	/* caller's n_seqs entries, rewritten per op */
	kllm_u32 dummy;		/* the validator's pointer-less job */
	kllm_u32 pad;
};

/*
 * Check a job's bindings and batch against a checked program and set up
 * @job.  @seqs: storage for batch->n_seqs entries (NULL if 0), used by the
 * KV ops' lowering.  0, or -KLLM_PROG_EINVAL and *err.
 */
int kllm_prog_job_init(struct kllm_prog_job *job, const struct kllm_prog_info *info,
		       const struct kllm_prog_bindings *bind,
		       const struct kllm_prog_batch *batch, struct kk_kv_seq *seqs,
		       struct kllm_prog_err *err);

/*
 * Lower op @index for the job into @op.  0: run it; 1: it has no rows in
 * this job (e.g. no outputs selected), skip it; -KLLM_PROG_EINVAL and *err.
 * A KV op's op->kv_store.seqs / attention.seqs point at job->seqs, which
 * the next lowering rewrites: run each op before lowering the next.
 */
int kllm_prog_lower_op(const struct kllm_prog_job *job, kllm_u32 index,
		       struct kk_op *op, struct kllm_prog_err *err);

/*
 * Lower the next ops to run from @index on into @ops: the first op with
 * rows in this job, then each following matmul that kk_op_joins() admits
 * (q, k and v on one normed x; gate and up).  Returns how many (0: none
 * left) and sets *next to the op after them, for the next call; run them
 * with kk_ops_exec() before lowering more.  -KLLM_PROG_EINVAL and *err.
 */
int kllm_prog_lower_group(const struct kllm_prog_job *job, kllm_u32 index,
			  struct kk_op ops[KK_OP_GROUP_MAX], kllm_u32 *next,
			  struct kllm_prog_err *err);

/*
 * Scratch bytes the program needs at max_batch on the SIMD path selected
 * now (info->scratch_bytes is for the path selected while checking).
 */
kllm_u64 kllm_prog_scratch_bytes(const struct kllm_prog_info *info);

/*
 * The program's attention op with the largest scratch at max_batch,
 * lowered with dummy bindings (its shape and context limits are right,
 * its pointers are not: for sizing only).  0, or 1 if there is none.
 */
int kllm_prog_attn_shape(const struct kllm_prog_info *info, struct kk_op *op);

#endif /* KLLM_UAPI_PROG_LOWER_H */
