// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_fdinfo.c - DRM usage statistics of an open file, in
 * /proc/<pid>/fdinfo/<fd> (Documentation/gpu/drm-usage-stats.rst), so
 * generic tools see kllm clients; kllm-top reads the kllm- keys too.
 * Printed by our own fops.show_fdinfo: 6.1 has no drm_show_fdinfo().
 */
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <drm/drm_file.h>

#include "kllm_drv.h"
#include "kllm_kv.h"
#include "kllm_sched.h"

void kllm_show_fdinfo(struct seq_file *m, struct file *f)
{
	struct drm_file *file = f->private_data;
	struct kllm_file *kf = file ? kllm_file_of(file) : NULL;
	u64 shmem, pinned;

	if (!kf)
		return;
	spin_lock(&kf->lock);
	shmem = kf->shmem_bytes;
	pinned = kf->file_pinned_bytes + kf->userptr_bytes;
	spin_unlock(&kf->lock);
	seq_puts(m, "drm-driver:\tkllm\n");
	seq_printf(m, "drm-client-id:\t%u\n", kf->ctx.client_id);
	/* Statistics only: read without the engine lock (64-bit loads). */
	seq_printf(m, "drm-engine-kllm:\t%llu ns\n", READ_ONCE(kf->ctx.engine_ns));
	seq_printf(m, "drm-total-shmem:\t%llu KiB\n", shmem >> 10);
	seq_printf(m, "drm-resident-shmem:\t%llu KiB\n", shmem >> 10);
	seq_printf(m, "drm-total-pinned:\t%llu KiB\n", pinned >> 10);
	seq_printf(m, "drm-resident-pinned:\t%llu KiB\n", pinned >> 10);
	seq_printf(m, "kllm-priority:\t%s\n", kllm_class_name(READ_ONCE(kf->ctx.class)));
	seq_printf(m, "kllm-jobs:\t%llu\n", READ_ONCE(kf->ctx.jobs_done));
	seq_printf(m, "kllm-queued:\t%u\n", READ_ONCE(kf->ctx.queued));
	seq_printf(m, "kllm-kv-seqs:\t%u\n", kllm_kv_file_seqs(kf));
}
