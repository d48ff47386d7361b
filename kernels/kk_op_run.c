// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_op_run.c - kk_op_run: the one way into the float work of an op.
 *
 * An FPU unit, like every run function it dispatches to.  In the kernel
 * home only kk_op.c's stage callback calls it, from inside the host's
 * parallel_for, which brackets each chunk with kernel_fpu_begin/end;
 * tests/module-check.sh fails the build if any other non-FPU object
 * reaches this or any other FPU unit.
 */
#include "kk_impl.h"

static const kk_op_run_fn kk_runs[KK_OP_KIND_MAX] = {
	[KK_OP_MATMUL] = kk_run_matmul,
	[KK_OP_RMSNORM] = kk_run_rmsnorm,
	[KK_OP_ROPE] = kk_run_rope,
	[KK_OP_SOFTMAX] = kk_run_softmax,
	[KK_OP_UNARY] = kk_run_unary,
	[KK_OP_GLU] = kk_run_glu,
	[KK_OP_BINARY] = kk_run_binary,
	[KK_OP_SCALE] = kk_run_scale,
	[KK_OP_GET_ROWS] = kk_run_get_rows,
	[KK_OP_KV_STORE] = kk_run_kv_store,
	[KK_OP_ATTENTION] = kk_run_attention,
	[KK_OP_ARGMAX] = kk_run_argmax,
};

void kk_op_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end)
{
	kk_u64 items;

	if (!op || op->kind == 0 || op->kind >= KK_OP_KIND_MAX || !kk_impl_cur)
		return;
	items = kk_op_items(op, stage);
	if (end > items)
		end = items;
	if (begin >= end)
		return;
	kk_runs[op->kind](op, stage, begin, end);
}
