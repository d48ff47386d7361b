// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_drv.c - the DRM device: a platform device "kllm" bound to our
 * platform driver, whose probe registers the DRM driver (an accel node from
 * 6.2, a render node before; kllm_compat.h), the per-open-file state and
 * its counters.
 *
 * Lifetime: an open file holds a module reference (fops.owner), and every
 * buffer object is reachable only from open files (handles) or mappings of
 * them (which hold the file), so once no file is open every object is gone
 * and rmmod can tear the device down.
 */
#include <linux/capability.h>
#include <linux/err.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#include "kllm_compat.h"
#include "kllm_drv.h"
#include "kllm_job.h"

#define KLLM_NAME "kllm"

static struct platform_device *kllm_pdev;

void kllm_file_count(struct drm_file *file, u32 type, u64 bytes, bool add)
{
	struct kllm_file *kf = kllm_file_of(file);
	u64 *counter;

	switch (type) {
	case KLLM_BO_TYPE_SHMEM:
		counter = &kf->shmem_bytes;
		break;
	case KLLM_BO_TYPE_FILE:
		counter = &kf->file_pinned_bytes;
		break;
	default:
		counter = &kf->userptr_bytes;
		break;
	}
	spin_lock(&kf->lock);
	if (add) {
		*counter += bytes;
		kf->handles++;
	} else {
		*counter -= bytes;
		kf->handles--;
	}
	spin_unlock(&kf->lock);
}

static void kllm_file_free(struct kref *ref)
{
	kfree(container_of(ref, struct kllm_file, ref));
}

void kllm_file_put(struct kllm_file *kf)
{
	kref_put(&kf->ref, kllm_file_free);
}

static int kllm_open(struct drm_device *dev, struct drm_file *file)
{
	struct kllm_file *kf;

	if (drm_is_primary_client(file) && !capable(CAP_SYS_ADMIN))
		return -EACCES;
	kf = kzalloc(sizeof(*kf), GFP_KERNEL_ACCOUNT);
	if (!kf)
		return -ENOMEM;
	kref_init(&kf->ref);
	spin_lock_init(&kf->lock);
	kllm_file_jobs_init(kf);
	file->driver_priv = kf;
	return 0;
}

/*
 * DRM closed every handle before this (drm_gem_release).  No io_uring
 * command of the file is parked (each holds the file); ioctl jobs are
 * cancelled and may still be finishing: they hold kf.
 */
static void kllm_postclose(struct drm_device *dev, struct drm_file *file)
{
	struct kllm_file *kf = file->driver_priv;

	kllm_file_jobs_release(kf);
	file->driver_priv = NULL;
	kllm_file_put(kf);
}

/* DRM's file operations plus io_uring commands (kllm_uring.c). */
static const struct file_operations kllm_fops = {
	.owner = THIS_MODULE,
	KLLM_DRM_FOPS,
	.uring_cmd = kllm_uring_cmd,
	.show_fdinfo = kllm_show_fdinfo,
};

static const struct drm_driver kllm_drm_driver = {
	.driver_features = KLLM_DRIVER_FEATURES,
	.open = kllm_open,
	.postclose = kllm_postclose,
	.gem_create_object = kllm_gem_create_object,
	.ioctls = kllm_ioctls,
	.num_ioctls = KLLM_NUM_IOCTLS,
	.fops = &kllm_fops,
	.name = KLLM_NAME,
	.desc = "kllm shared on-device LLM accelerator",
	KLLM_DRIVER_DATE_INIT
	.major = KLLM_UAPI_VERSION_MAJOR,
	.minor = KLLM_UAPI_VERSION_MINOR,
};

static int kllm_platform_probe(struct platform_device *pdev)
{
	struct kllm_device *kdev;
	int ret;

	kdev = devm_drm_dev_alloc(&pdev->dev, &kllm_drm_driver, struct kllm_device, drm);
	if (IS_ERR(kdev))
		return PTR_ERR(kdev);
	platform_set_drvdata(pdev, kdev);
	ret = drm_dev_register(&kdev->drm, 0);
	if (ret)
		return ret;	/* devres frees kdev */
	drm_info(&kdev->drm, "kllm %s node ready\n", KLLM_NODE_KIND);
	return 0;
}

static KLLM_PLATFORM_REMOVE_RET kllm_platform_remove(struct platform_device *pdev)
{
	struct kllm_device *kdev = platform_get_drvdata(pdev);

	drm_dev_unregister(&kdev->drm);
	return KLLM_PLATFORM_REMOVE_OK;
}

static struct platform_driver kllm_platform_driver = {
	.probe = kllm_platform_probe,
	.remove = kllm_platform_remove,
	.driver = {
		.name = KLLM_NAME,
		.probe_type = PROBE_FORCE_SYNCHRONOUS,
		.suppress_bind_attrs = true,
	},
};

int kllm_drv_register(void)
{
	int ret;

	ret = platform_driver_register(&kllm_platform_driver);
	if (ret)
		return ret;
	kllm_pdev = platform_device_register_simple(KLLM_NAME, PLATFORM_DEVID_NONE,
						    NULL, 0);
	if (IS_ERR(kllm_pdev)) {
		ret = PTR_ERR(kllm_pdev);
		goto unregister_driver;
	}
	/* Binding ran the probe synchronously: did it make the device? */
	if (!platform_get_drvdata(kllm_pdev)) {
		ret = -ENODEV;
		goto unregister_device;
	}
	return 0;

unregister_device:
	platform_device_unregister(kllm_pdev);
unregister_driver:
	platform_driver_unregister(&kllm_platform_driver);
	return ret;
}

void kllm_drv_unregister(void)
{
	platform_device_unregister(kllm_pdev);
	platform_driver_unregister(&kllm_platform_driver);
}
