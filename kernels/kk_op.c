// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_op.c - dispatch of struct kk_op to its class's shape (check, sizes,
 * item counts), and the generic stage-by-stage executor.  Integers only:
 * built without FP flags in the kernel, and everything it calls but
 * kk_op_run (kk_op_run.c, inside the host's parallel_for) is integer code
 * too, so the queries and kk_op_plan are safe outside an FPU section.
 */
#include "kk_impl.h"

static const struct kk_op_class *const kk_classes[KK_OP_KIND_MAX] = {
	[KK_OP_MATMUL] = &kk_class_matmul,
	[KK_OP_RMSNORM] = &kk_class_rmsnorm,
	[KK_OP_ROPE] = &kk_class_rope,
	[KK_OP_SOFTMAX] = &kk_class_softmax,
	[KK_OP_UNARY] = &kk_class_unary,
	[KK_OP_GLU] = &kk_class_glu,
	[KK_OP_BINARY] = &kk_class_binary,
	[KK_OP_SCALE] = &kk_class_scale,
	[KK_OP_GET_ROWS] = &kk_class_get_rows,
	[KK_OP_KV_STORE] = &kk_class_kv_store,
	[KK_OP_ATTENTION] = &kk_class_attention,
	[KK_OP_ARGMAX] = &kk_class_argmax,
};

static const struct kk_op_class *kk_class_of(const struct kk_op *op)
{
	if (!op || op->kind == 0 || op->kind >= KK_OP_KIND_MAX)
		return (const struct kk_op_class *)0;
	return kk_classes[op->kind];
}

int kk_op_check(const struct kk_op *op)
{
	const struct kk_op_class *c = kk_class_of(op);

	if (!c)
		return -KK_EINVAL;
	return c->check(op);
}

kk_u64 kk_op_scratch_size(const struct kk_op *op)
{
	const struct kk_op_class *c = kk_class_of(op);

	if (!c || !c->scratch_size)
		return 0;
	return c->scratch_size(op);
}

kk_u32 kk_op_stages(const struct kk_op *op)
{
	const struct kk_op_class *c = kk_class_of(op);

	if (!c)
		return 0;
	return c->stages ? c->stages(op) : 1;
}

kk_u64 kk_op_items(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_op_class *c = kk_class_of(op);

	if (!c || stage >= kk_op_stages(op))
		return 0;
	return c->items(op, stage);
}

kk_u64 kk_op_chunk_items(const struct kk_op *op, kk_u32 stage)
{
	const struct kk_op_class *c = kk_class_of(op);
	kk_u64 n;

	if (!c || stage >= kk_op_stages(op))
		return 1;
	n = c->chunk_items(op, stage);
	return n ? n : 1;
}

struct kk_stage_call {
	const struct kk_op *op;
	kk_u32 stage;
};

static void kk_stage_range(void *arg, kk_u64 begin, kk_u64 end)
{
	const struct kk_stage_call *call = arg;

	kk_op_run(call->op, call->stage, begin, end);
}

int kk_op_plan(const struct kk_op *op, struct kk_op_plan *plan)
{
	kk_u32 s;
	int ret;

	__builtin_memset(plan, 0, sizeof(*plan));
	ret = kk_op_check(op);
	if (ret)
		return ret;
	plan->stages = kk_op_stages(op);
	if (plan->stages > KK_OP_MAX_STAGES)
		return -KK_EINVAL;
	for (s = 0; s < plan->stages; s++) {
		plan->items[s] = kk_op_items(op, s);
		plan->chunk[s] = kk_op_chunk_items(op, s);
	}
	plan->scratch_size = kk_op_scratch_size(op);
	return 0;
}

int kk_op_exec(const struct kk_host *host, const struct kk_op *op)
{
	struct kk_stage_call call = { .op = op };
	struct kk_op_plan plan;
	int ret;

	if (!kk_impl_cur)
		return -KK_EINVAL;
	ret = kk_op_plan(op, &plan);
	if (ret)
		return ret;
	if (plan.scratch_size && !op->scratch)
		return -KK_EINVAL;
	for (call.stage = 0; call.stage < plan.stages; call.stage++) {
		if (!plan.items[call.stage])
			continue;
		host->parallel_for(host->ctx, kk_stage_range, &call,
				   plan.items[call.stage], plan.chunk[call.stage]);
	}
	return 0;
}
