/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_share.h - the registry of file pins (kllm_share.c): a range of a
 * file is pinned once, however many buffer objects refer to it.
 */
#ifndef KLLM_SHARE_H
#define KLLM_SHARE_H

#include <linux/fs.h>
#include <linux/types.h>

struct kllm_share;

/*
 * The pin of pages [first, first + npages) of @filp's file: an existing one
 * (another reference) or a new one, charged to current's euid.  ERR_PTR:
 * -EDQUOT, -ENOSPC (kllm_acct.c), -ENOMEM, -EINTR, a read error.
 */
struct kllm_share *kllm_share_get(struct file *filp, pgoff_t first, unsigned long npages);
void kllm_share_put(struct kllm_share *s);
/* Its read-only kernel mapping of all npages pages. */
void *kllm_share_vaddr(const struct kllm_share *s);
/* Imports that found their range already pinned. */
u64 kllm_share_hit_count(void);

#endif /* KLLM_SHARE_H */
