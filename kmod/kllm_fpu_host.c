// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_fpu_host.c - kernel home of kernels/.
 *
 * An FPU section (kllm_fpu_begin: kernel_fpu_begin() on x86-64,
 * kernel_neon_begin() on arm64) disables preemption, so each is one chunk of
 * an op (kk_op_chunk_items() keeps a chunk well under 100 us natively) and
 * we cond_resched() between chunks.  The multi-threaded engine (kernel
 * threads meeting at barriers) builds on the same per-chunk bracket.
 * Checking, sizing and planning an op need no bracket: they are integer
 * code in non-FPU units.
 */
#include <linux/sched.h>

#include "kllm_fpu_host.h"

static void kllm_serial_parallel_for(void *ctx, kk_range_fn fn, void *arg,
				     u64 n_items, u64 chunk)
{
	u64 begin, end;

	for (begin = 0; begin < n_items; begin = end) {
		end = n_items - begin > chunk ? begin + chunk : n_items;
		kllm_fpu_begin();
		fn(arg, begin, end);
		kllm_fpu_end();
		cond_resched();
	}
}

void kllm_fpu_host_serial(struct kk_host *host)
{
	host->parallel_for = kllm_serial_parallel_for;
	host->ctx = NULL;
}

/*
 * kk_simd_select fills the path's table from the paths' init functions,
 * FPU units like every other kernels/ file with SIMD flags (see
 * tests/module-check.sh): one of the two ways in to them, with kk_op_run.
 */
int kllm_fpu_simd_select(u32 simd)
{
	int ret;

	kllm_fpu_begin();
	ret = kk_simd_select(simd);
	kllm_fpu_end();
	return ret;
}
