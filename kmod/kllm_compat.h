/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_compat.h - the kernel API differences kllm meets, decided by the
 * compile probes of kllm_probe.sh (kllm_config.h), never by version numbers.
 */
#ifndef KLLM_COMPAT_H
#define KLLM_COMPAT_H

#include "kllm_config.h"

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#ifdef KLLM_HAVE_DRM_ACCEL
#include <drm/drm_accel.h>
#endif

/*
 * The node: the accel subsystem (/dev/accel/accelN) where the kernel has
 * one; a render node (/dev/dri/renderDN) before.  DRIVER_COMPUTE_ACCEL
 * excludes DRIVER_RENDER.
 */
#ifdef KLLM_HAVE_DRM_ACCEL
#define KLLM_DRIVER_FEATURES (DRIVER_GEM | DRIVER_COMPUTE_ACCEL)
#define KLLM_DEFINE_FOPS(name) DEFINE_DRM_ACCEL_FOPS(name)
#define KLLM_NODE_KIND "accel"
#else
#define KLLM_DRIVER_FEATURES (DRIVER_GEM | DRIVER_RENDER)
#define KLLM_DEFINE_FOPS(name) DEFINE_DRM_GEM_FOPS(name)
#define KLLM_NODE_KIND "render"
#endif

/* platform_driver.remove returns void from 6.11 (int before). */
#ifdef KLLM_HAVE_PLATFORM_REMOVE_VOID
#define KLLM_PLATFORM_REMOVE_RET void
#define KLLM_PLATFORM_REMOVE_OK
#else
#define KLLM_PLATFORM_REMOVE_RET int
#define KLLM_PLATFORM_REMOVE_OK 0
#endif

/* drm_driver.date went away in 6.14. */
#ifdef KLLM_HAVE_DRM_DRIVER_DATE
#define KLLM_DRIVER_DATE_INIT .date = "20261128",
#else
#define KLLM_DRIVER_DATE_INIT
#endif

#include <linux/mm.h>
#ifdef KLLM_HAVE_VM_FLAGS_SET
#define kllm_vm_flags_set(vma, f) vm_flags_set(vma, f)
#else
#define kllm_vm_flags_set(vma, f) ((vma)->vm_flags |= (f))
#endif


/* An inode's change time: inode_get_ctime() from 6.6, the field before. */
#include <linux/fs.h>
#ifdef KLLM_HAVE_INODE_GET_CTIME
#define kllm_inode_ctime(inode) inode_get_ctime(inode)
#else
#define kllm_inode_ctime(inode) ((inode)->i_ctime)
#endif

/*
 * io_uring commands.  The command API moved to <linux/io_uring/cmd.h> in
 * 6.5; 6.1 has no io_uring_sqe_cmd() (the payload is ioucmd->cmd); the
 * cancel hook (IO_URING_F_CANCEL, io_uring_cmd_mark_cancelable) exists
 * from 6.7; io_uring_cmd_done() lost its res2 argument around 6.18.
 * Completion task work with a lazy wake (io_uring_cmd_do_in_task_lazy,
 * from 6.5): on a DEFER_TASKRUN ring a waiter for N completions is woken
 * once, when N are queued, not once per command; other rings ignore the
 * hint.  Before that, every completion wakes the waiter.
 */
#ifdef KLLM_HAVE_IO_URING_CMD_H
#include <linux/io_uring/cmd.h>
#endif
#include <linux/io_uring.h>
#ifdef KLLM_HAVE_IO_URING_SQE_CMD
#define kllm_uring_cmd_payload(ioucmd) io_uring_sqe_cmd((ioucmd)->sqe)
#else
#define kllm_uring_cmd_payload(ioucmd) ((ioucmd)->cmd)
#endif
#ifdef KLLM_HAVE_IO_URING_CMD_DONE4
#define kllm_uring_cmd_done(ioucmd, ret, res2, flags) io_uring_cmd_done(ioucmd, ret, res2, flags)
#else	/* res2 went with the CQE32 variant, io_uring_cmd_done32() */
#define kllm_uring_cmd_done(ioucmd, ret, res2, flags) io_uring_cmd_done(ioucmd, ret, flags)
#endif
#ifdef KLLM_HAVE_IO_URING_CMD_LAZY
#define kllm_uring_cmd_complete(ioucmd, cb) io_uring_cmd_do_in_task_lazy(ioucmd, cb)
#else
#define kllm_uring_cmd_complete(ioucmd, cb) io_uring_cmd_complete_in_task(ioucmd, cb)
#endif
#ifdef KLLM_HAVE_IO_URING_CMD_CANCEL
#define KLLM_URING_CAN_CANCEL 1
#else
#define KLLM_URING_CAN_CANCEL 0
#endif

/*
 * Shrinkers (kllm_kv.c): KLLM_HAVE_SHRINKER_ALLOC selects 6.7's
 * shrinker_alloc()/shrinker_register()/shrinker_free() over the caller-
 * owned struct shrinker and register_shrinker(s, name) before.
 */

/* The DRM file operations we add .uring_cmd to. */
#ifdef KLLM_HAVE_DRM_ACCEL
#define KLLM_DRM_FOPS DRM_ACCEL_FOPS
#else
#define KLLM_DRM_FOPS DRM_GEM_FOPS
#endif

#endif /* KLLM_COMPAT_H */
