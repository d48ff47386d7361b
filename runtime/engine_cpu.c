// SPDX-License-Identifier: MIT
/*
 * engine_cpu.c - the in-process engine: lower each op of a checked program
 * for the batch (uapi/prog/kllm_prog_lower.c) and run it with kk_ops_exec
 * on the pool, matmuls that share their input as one step.  Ops run in
 * order; kk_ops_exec returns only when every chunk of every stage is
 * done, so each op sees its predecessors' writes (the pool's acquire of
 * its workers' releases, runtime/pool.c).  Nothing here is shared between
 * threads without the pool.
 */
#include "engine_cpu.h"

#include <errno.h>
#include <stdlib.h>

/* The calling thread alone, for pool == NULL. */
static void serial_for(void *ctx, kk_range_fn fn, void *arg, kk_u64 n_items,
		       kk_u64 chunk)
{
	(void)ctx;
	(void)chunk;
	if (n_items)
		fn(arg, 0, n_items);
}

static int run_ops(const struct kllm_prog_info *prog, const struct kllm_prog_job *job,
		   const struct kk_host *host, struct kllm_prog_err *err)
{
	struct kk_op ops[KK_OP_GROUP_MAX];
	kllm_u32 next;
	int n;

	for (kllm_u32 i = 0; i < prog->n_ops; i = next) {
		n = kllm_prog_lower_group(job, i, ops, &next, err);
		if (n < 0)
			return -EINVAL;
		if (n && kk_ops_exec(host, ops, (kk_u32)n)) {
			if (err)
				*err = (struct kllm_prog_err){
					.op = (kllm_s32)(next - (kllm_u32)n), .kind = ops[0].kind,
					.tensor = -1, .buffer = -1,
					.reason = "kernels refused to run it" };
			return -EINVAL;
		}
	}
	return 0;
}

int kllm_engine_cpu_run(const struct kllm_prog_info *prog,
			const struct kllm_prog_bindings *bind,
			const struct kllm_prog_batch *batch, struct kllm_pool *pool,
			struct kllm_prog_err *err)
{
	struct kk_host host = { .parallel_for = serial_for };
	struct kllm_prog_bindings b;
	struct kk_kv_seq *seqs = NULL;
	struct kllm_prog_job job;
	void *scratch = NULL;
	int ret;

	if (!prog || !bind || !batch)
		return -EINVAL;
	if (pool)
		host = kllm_pool_host(pool);
	b = *bind;
	if (!b.scratch) {
		b.scratch_size = kllm_prog_scratch_bytes(prog);
		if (b.scratch_size &&
		    posix_memalign(&scratch, 64, (size_t)b.scratch_size))
			return -ENOMEM;
		b.scratch = scratch;
	}
	if (batch->n_seqs && batch->n_seqs <= KLLM_PROG_MAX_SEQS) {
		seqs = calloc(batch->n_seqs, sizeof(*seqs));
		if (!seqs) {
			free(scratch);
			return -ENOMEM;
		}
	}
	ret = kllm_prog_job_init(&job, prog, &b, batch, seqs, err);
	if (!ret)
		ret = run_ops(prog, &job, &host, err);
	else
		ret = -EINVAL;
	free(seqs);
	free(scratch);
	return ret;
}
