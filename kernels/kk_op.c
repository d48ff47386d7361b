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
	return kk_ops_exec(host, op, 1);
}

/* ------------------------------------------------------------ groups */

/* Bytes [*lo, *hi) that m rows of n floats, stride floats apart, span. */
static void kk_span(const void *p, kk_u64 stride, kk_u32 m, kk_u32 n,
		    kk_u64 *lo, kk_u64 *hi)
{
	*lo = (kk_u64)(unsigned long)p;
	*hi = *lo + ((kk_u64)(m - 1) * stride + n) * sizeof(float);
}

static int kk_spans_meet(kk_u64 alo, kk_u64 ahi, kk_u64 blo, kk_u64 bhi)
{
	return alo < bhi && blo < ahi;
}

int kk_op_joins(const struct kk_op *group, kk_u32 n, const struct kk_op *op)
{
	const struct kk_matmul *a = &group[0].matmul, *b = &op->matmul;
	kk_u64 xlo, xhi, ylo, yhi, lo, hi;
	kk_u32 j;

	if (!n || n >= KK_OP_GROUP_MAX || group[0].kind != KK_OP_MATMUL ||
	    op->kind != KK_OP_MATMUL || kk_op_check(op))
		return 0;
	if (b->w_type != a->w_type || b->x != a->x || b->x_stride != a->x_stride ||
	    b->m != a->m || b->k != a->k || op->scratch != group[0].scratch ||
	    ((a->flags | b->flags) & KK_MATMUL_ACCUMULATE))
		return 0;
	kk_span(b->x, b->x_stride, b->m, b->k, &xlo, &xhi);
	kk_span(b->y, b->y_stride, b->m, b->n_out, &ylo, &yhi);
	if (kk_spans_meet(xlo, xhi, ylo, yhi))
		return 0;
	for (j = 0; j < n; j++) {
		const struct kk_matmul *g = &group[j].matmul;

		kk_span(g->y, g->y_stride, g->m, g->n_out, &lo, &hi);
		if (kk_spans_meet(lo, hi, ylo, yhi) || kk_spans_meet(lo, hi, xlo, xhi))
			return 0;
	}
	return 1;
}

struct kk_group_call {
	const struct kk_op *ops;
	kk_u32 n, stage;
	kk_u64 first[KK_OP_GROUP_MAX + 1];	/* each member's first item */
};

/* Items [begin, end) of the members' stages laid end to end. */
static void kk_group_range(void *arg, kk_u64 begin, kk_u64 end)
{
	const struct kk_group_call *g = arg;
	kk_u32 j;

	for (j = 0; j < g->n && begin < end; j++) {
		kk_u64 lo = g->first[j], hi = g->first[j + 1];

		if (begin >= hi)
			continue;
		kk_op_run(&g->ops[j], g->stage, begin - lo, (end < hi ? end : hi) - lo);
		begin = hi;
	}
}

/*
 * The one executor: a single op (n = 1) runs each of its stages in turn;
 * a group runs ops[0]'s first stages (the shared quantization) once, then
 * every member's last stage in one parallel_for.
 */
int kk_ops_exec(const struct kk_host *host, const struct kk_op *ops, kk_u32 n)
{
	struct kk_group_call g = { .ops = ops, .n = n };
	struct kk_stage_call call = { .op = ops };
	struct kk_op_plan plan, p0;
	kk_u32 j, last = 0;
	int ret;

	if (!kk_impl_cur || !n || n > KK_OP_GROUP_MAX)
		return -KK_EINVAL;
	for (j = 0; j < n; j++) {
		if (j && !kk_op_joins(ops, j, &ops[j]))
			return -KK_EINVAL;
		ret = kk_op_plan(&ops[j], &plan);
		if (ret)
			return ret;
		if (!j) {
			p0 = plan;
			last = p0.stages - 1;
		}
		if ((plan.scratch_size && !ops[j].scratch) || plan.stages != p0.stages ||
		    plan.chunk[last] != p0.chunk[last])
			return -KK_EINVAL;
		g.first[j + 1] = g.first[j] + plan.items[last];
	}
	for (call.stage = 0; call.stage < last; call.stage++) {
		if (p0.items[call.stage])
			host->parallel_for(host->ctx, kk_stage_range, &call,
					   p0.items[call.stage], p0.chunk[call.stage]);
	}
	g.stage = last;
	if (g.first[n])
		host->parallel_for(host->ctx, kk_group_range, &g, g.first[n], p0.chunk[last]);
	return 0;
}
