/* SPDX-License-Identifier: MIT */
/*
 * kv_cpu.h - the CPU backend's KV memory: one pool of blocks in this
 * process (anonymous memory, resident only where touched), each block
 * 1 << kv_block_shift positions of every layer's K and V (compile.h),
 * bookkept by uapi/prog/kllm_kv_blocks.c: per-sequence block tables,
 * sharing on fork, copy-on-write, and the prefix cache.
 *
 * Around every forward pass: kv_cpu_prepare (the batch's blocks made the
 * sequences' own, zeroed or copied; the tables for the engine), then
 * kv_cpu_commit (the tokens recorded: full blocks enter the cache; a
 * failed pass cuts each sequence back to before its first row).
 */
#ifndef KLLM_RUNTIME_KV_CPU_H
#define KLLM_RUNTIME_KV_CPU_H

#include <stdint.h>

#include "compile.h"
#include "kllm_prog_lower.h"
#include "seq.h"

struct kv_cpu;

/*
 * Blocks for @n_seqs full contexts of @c (paged) plus @idle_tokens
 * positions of cached blocks no sequence holds.  0 and *out, or -ENOMEM /
 * -EINVAL with a message in @err.
 */
int kv_cpu_create(struct kv_cpu **out, const struct kllm_compiled *c, uint32_t n_seqs,
		  uint32_t idle_tokens, char *err, size_t errlen);
void kv_cpu_destroy(struct kv_cpu *kv);

void kv_cpu_clear(struct kv_cpu *kv, uint32_t seq);
void kv_cpu_truncate(struct kv_cpu *kv, uint32_t seq, uint32_t n_pos);
/* 0 or -ENOSPC / -EINVAL. */
int kv_cpu_copy(struct kv_cpu *kv, uint32_t dst, uint32_t src, uint32_t n_pos);
/* Positions mapped from the cache into empty (cleared first) @seq. */
uint32_t kv_cpu_lookup(struct kv_cpu *kv, uint32_t seq, const int32_t *tokens,
		       uint32_t n, uint32_t tag);

/*
 * Before a batch of @n rows (positions @pos of sequences @seq): the
 * blocks it writes are made writable.  *pool and tables[n_seqs] (the
 * batch's sequences filled, the others unbound) are valid until the next
 * call.  0 or -ENOSPC (no free block: the pool is full).
 */
int kv_cpu_prepare(struct kv_cpu *kv, uint32_t n, const int32_t *pos, const int32_t *seq,
		   const struct kllm_prog_mem **pool, const struct kllm_prog_table **tables);
/* After it: @ok, its tokens are recorded; else its rows are forgotten. */
void kv_cpu_commit(struct kv_cpu *kv, uint32_t n, const int32_t *tokens,
		   const int32_t *pos, const int32_t *seq, int ok);

void kv_cpu_stats(const struct kv_cpu *kv, struct kllm_kv_stats *st);

#endif /* KLLM_RUNTIME_KV_CPU_H */
