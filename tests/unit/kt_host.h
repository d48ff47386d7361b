/* SPDX-License-Identifier: MIT */
/*
 * kt_host.h - a struct kk_host over a kllm_pool that may split finer than
 * the op asks: the tests' way of running an op's items in other chunkings
 * (test_threads, test_attention's paged caches).
 */
#ifndef KLLM_KT_HOST_H
#define KLLM_KT_HOST_H

#include <stdint.h>

#include "kllm.h"
#include "kk.h"

struct kt_fine_host {
	struct kllm_pool *pool;
	uint64_t chunk;		/* 0: the op's own chunk; else at most this */
};

static inline void kt_fine_parallel_for(void *ctx, kk_range_fn fn, void *arg,
					kk_u64 n_items, kk_u64 chunk)
{
	struct kt_fine_host *h = ctx;

	kllm_pool_parallel_for(h->pool, fn, arg, n_items,
			       h->chunk && h->chunk < chunk ? h->chunk : chunk);
}

#endif /* KLLM_KT_HOST_H */
