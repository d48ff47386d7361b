// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_gem.c - shmem buffer objects (KV caches, activations, outputs) on
 * the DRM shmem GEM helpers: pageable, mmap-able through the device file,
 * their pages allocated on first touch and charged then to the memory
 * cgroup of the task touching them.  Counted per file (handles) and
 * module-wide (objects alive).
 */
#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/vmalloc.h>
#include <linux/slab.h>
#include <linux/fs.h>
#include <drm/drm_vma_manager.h>
#include <drm/drm_gem_shmem_helper.h>

#include "kllm_compat.h"
#include "kllm_drv.h"

struct kllm_shmem_bo {
	struct drm_gem_shmem_object shmem;	/* first: the helpers kfree() it */
	/*
	 * The engine's mapping, made on first use by a job and kept until
	 * the object is freed: page references on the shmem file's pages (the
	 * same pages an mmap of the BO shows) and one vmap.
	 */
	struct mutex map_lock;		/* protects pages and vaddr */
	struct page **pages;
	void *vaddr;
};

static struct kllm_shmem_bo *to_shmem_bo(struct drm_gem_object *obj)
{
	return container_of(obj, struct kllm_shmem_bo, shmem.base);
}

/* Bytes of shmem BOs alive, module-wide (atomic: no lock). */
static atomic64_t kllm_shmem_total = ATOMIC64_INIT(0);

static const struct drm_gem_object_funcs kllm_shmem_funcs;

bool kllm_is_shmem_bo(struct drm_gem_object *obj)
{
	return obj->funcs == &kllm_shmem_funcs;
}

u64 kllm_gem_shmem_bytes(void)
{
	return atomic64_read(&kllm_shmem_total);
}

/* Largest BO_CREATE: all of RAM (a buffer is never bigger than that). */
u64 kllm_gem_max_bytes(void)
{
	return (u64)totalram_pages() << PAGE_SHIFT;
}

static int kllm_shmem_open(struct drm_gem_object *obj, struct drm_file *file)
{
	kllm_file_count(file, KLLM_BO_TYPE_SHMEM, obj->size, true);
	return 0;
}

static void kllm_shmem_close(struct drm_gem_object *obj, struct drm_file *file)
{
	kllm_file_count(file, KLLM_BO_TYPE_SHMEM, obj->size, false);
}

void *kllm_gem_vaddr(struct drm_gem_object *obj, u64 *size)
{
	struct kllm_shmem_bo *bo = to_shmem_bo(obj);
	struct page **pages;
	void *vaddr;

	*size = obj->size;
	mutex_lock(&bo->map_lock);
	if (bo->vaddr)
		goto unlock;
	pages = drm_gem_get_pages(obj);
	if (IS_ERR(pages)) {
		vaddr = ERR_CAST(pages);
		goto unlock_ret;
	}
	bo->vaddr = vmap(pages, obj->size >> PAGE_SHIFT, VM_MAP, PAGE_KERNEL);
	if (!bo->vaddr) {
		drm_gem_put_pages(obj, pages, false, false);
		vaddr = ERR_PTR(-ENOMEM);
		goto unlock_ret;
	}
	bo->pages = pages;
unlock:
	vaddr = bo->vaddr;
unlock_ret:
	mutex_unlock(&bo->map_lock);
	return vaddr;
}

static void kllm_shmem_free(struct drm_gem_object *obj)
{
	struct kllm_shmem_bo *bo = to_shmem_bo(obj);

	if (bo->vaddr) {
		vunmap(bo->vaddr);
		drm_gem_put_pages(obj, bo->pages, true, true);
	}
	mutex_destroy(&bo->map_lock);
	atomic64_sub(obj->size, &kllm_shmem_total);
	drm_gem_shmem_object_free(obj);
}

/*
 * mmap the shmem file itself: pages fault in one at a time, stay pageable,
 * are charged to the faulting task's memcg.  drm_gem_shmem_mmap() would
 * allocate and hold every page of the BO, unevictable, while it is mapped.
 */
static int kllm_shmem_mmap(struct drm_gem_object *obj, struct vm_area_struct *vma)
{
	int ret;

	if (is_cow_mapping(vma->vm_flags))
		return -EINVAL;
	vma->vm_pgoff -= drm_vma_node_start(&obj->vma_node);
	vma_set_file(vma, obj->filp);
	ret = call_mmap(obj->filp, vma);
	if (ret)
		return ret;
	kllm_vm_flags_set(vma, VM_DONTEXPAND);
	/* The mapping holds the shmem file, not the GEM object. */
	drm_gem_object_put(obj);
	return 0;
}

/* Buffers stay inside the file that made them: no dma-buf export. */
static struct dma_buf *kllm_no_export(struct drm_gem_object *obj, int flags)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static const struct drm_gem_object_funcs kllm_shmem_funcs = {
	.free = kllm_shmem_free,
	.open = kllm_shmem_open,
	.close = kllm_shmem_close,
	.export = kllm_no_export,
	.print_info = drm_gem_shmem_object_print_info,
	.pin = drm_gem_shmem_object_pin,
	.unpin = drm_gem_shmem_object_unpin,
	.get_sg_table = drm_gem_shmem_object_get_sg_table,
	.vmap = drm_gem_shmem_object_vmap,
	.vunmap = drm_gem_shmem_object_vunmap,
	.mmap = kllm_shmem_mmap,
};

/* drm_driver.gem_create_object: drm_gem_shmem_create() allocates ours. */
struct drm_gem_object *kllm_gem_create_object(struct drm_device *dev, size_t size)
{
	struct kllm_shmem_bo *bo = kzalloc(sizeof(*bo), GFP_KERNEL_ACCOUNT);

	if (!bo)
		return ERR_PTR(-ENOMEM);
	bo->shmem.base.funcs = &kllm_shmem_funcs;
	mutex_init(&bo->map_lock);
	return &bo->shmem.base;
}

/* @size was validated by the caller: non-zero, page-rounded, <= max. */
int kllm_gem_create(struct drm_file *file, u64 size, u32 *handle)
{
	struct drm_gem_shmem_object *shmem;
	int ret;

	shmem = drm_gem_shmem_create(file->minor->dev, size);
	if (IS_ERR(shmem))
		return PTR_ERR(shmem);
	atomic64_add(shmem->base.size, &kllm_shmem_total);
	/* The handle takes its own reference; ours goes either way. */
	ret = drm_gem_handle_create(file, &shmem->base, handle);
	drm_gem_object_put(&shmem->base);
	return ret;
}
