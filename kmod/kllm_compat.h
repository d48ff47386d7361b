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

#endif /* KLLM_COMPAT_H */
