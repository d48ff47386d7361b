// SPDX-License-Identifier: MIT
/*
 * lookup.c - prompt-lookup drafting (lookup.h): the continuation of the
 * latest earlier occurrence of the context's last n-gram.  The longest
 * n-gram that occurs earlier wins: a longer match is a better guess.
 */
#include <string.h>

#include "lookup.h"

/* Where the latest occurrence of @ctx[n - g..n) starts before n - g, or -1. */
static int64_t find_latest(const int32_t *ctx, uint32_t n, uint32_t g)
{
	const int32_t *tail = ctx + n - g;

	for (int64_t j = (int64_t)n - g - 1; j >= 0; j--)
		if (ctx[j] == tail[0] && !memcmp(ctx + j, tail, 4ull * g))
			return j;
	return -1;
}

uint32_t kllm_lookup_draft(const int32_t *ctx, uint32_t n, uint32_t g_min, uint32_t g_max,
			   int32_t *draft, uint32_t n_max)
{
	if (!g_min)
		g_min = 1;
	for (uint32_t g = g_max; g >= g_min; g--) {
		uint32_t from, k;
		int64_t j;

		if (n < g + 1)
			continue;
		j = find_latest(ctx, n, g);
		if (j < 0)
			continue;
		from = (uint32_t)j + g;	/* < n: the match ends before the tail does */
		k = n - from < n_max ? n - from : n_max;
		memcpy(draft, ctx + from, 4ull * k);
		return k;
	}
	return 0;
}
