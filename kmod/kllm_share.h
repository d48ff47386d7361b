/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_share.h - the registry of file pins (kllm_share.c): a range of a
 * file is pinned once, however many buffer objects refer to it.
 */
#ifndef KLLM_SHARE_H
#define KLLM_SHARE_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/uidgid.h>

struct kllm_share;

/*
 * The pin of pages [first, first + npages) of @filp's file: an existing one
 * (another reference) or a new one (charged once to the module cap), held
 * by @uid (its quota charged the full size while it holds any).  ERR_PTR:
 * -EDQUOT, -ENOSPC (kllm_acct.c), -ENOMEM, -EINTR, a read error.
 */
struct kllm_share *kllm_share_get(struct file *filp, pgoff_t first, unsigned long npages,
				  kuid_t uid);
/* Drop a reference got with kllm_share_get(..., @uid). */
void kllm_share_put(struct kllm_share *s, kuid_t uid);
/* Its read-only kernel mapping of all npages pages. */
void *kllm_share_vaddr(const struct kllm_share *s);
/* Pages pinned as copies (the page cache's page was movable). */
u64 kllm_share_copy_count(void);
/* Imports that found their range already pinned. */
u64 kllm_share_hit_count(void);

#endif /* KLLM_SHARE_H */
