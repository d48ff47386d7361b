// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_pin.c - pinned buffer objects, resident until their last handle is
 * closed, each mapped once into the kernel (vmap) for the engine:
 *
 *  - file pins (BO_IMPORT_FILE): a byte range of a regular file's page
 *    cache, held by page references and mapped read-only.  No copy: every
 *    process pinning the same model shares its pages.  A file truncated or
 *    rewritten while pinned cannot pull pages from under us: truncation
 *    only drops the pages from the mapping, our references keep them (and
 *    their old contents) alive until release.  Charged to the caller's uid
 *    quota and the module cap (kllm_acct.c).
 *  - userptr pins (BO_USERPTR): the caller's anonymous memory, pinned with
 *    FOLL_LONGTERM and charged to its mm's pinned_vm against
 *    RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK (as amdxdna does).
 *
 * The objects are private GEM objects: no shmem file, no mmap offset, no
 * dma-buf export.
 */
#include <linux/atomic.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kllm_drv.h"
#include "kllm_share.h"

struct kllm_pin_bo {
	struct drm_gem_object base;	/* base.size: the pages pinned */
	u32 type;			/* KLLM_BO_TYPE_FILE or _USERPTR */
	bool writable;			/* userptr: pinned with FOLL_WRITE */
	struct page **pages;		/* userptr */
	unsigned long npages;
	void *vmap;			/* all pages, contiguous */
	u64 first_offset;		/* where the user's range starts in vmap */
	u64 size;			/* the user's bytes */
	struct kllm_share *share;	/* file pins: the shared pin (kllm_share.c) */
	kuid_t holder;			/* file pins: the uid charged for holding it */
	struct kllm_uid_acct *acct;	/* userptr: charged uid */
	struct mm_struct *mm;		/* userptr: charged mm (mmgrab'ed) */
};

/* Bytes of userptr pins alive, module-wide (atomic: no lock). */
static atomic64_t kllm_userptr_total = ATOMIC64_INIT(0);

static const struct drm_gem_object_funcs kllm_pin_funcs;

static struct kllm_pin_bo *to_pin_bo(struct drm_gem_object *obj)
{
	return container_of(obj, struct kllm_pin_bo, base);
}

bool kllm_is_pin_bo(struct drm_gem_object *obj)
{
	return obj->funcs == &kllm_pin_funcs;
}

u64 kllm_pin_userptr_bytes(void)
{
	return atomic64_read(&kllm_userptr_total);
}

void kllm_pin_describe(struct drm_gem_object *obj, u32 *type, u64 *size, u64 *pinned)
{
	struct kllm_pin_bo *bo = to_pin_bo(obj);

	*type = bo->type;
	*size = bo->size;
	*pinned = bo->base.size;
}

void *kllm_pin_vaddr(struct drm_gem_object *obj, u64 *size)
{
	struct kllm_pin_bo *bo = to_pin_bo(obj);

	*size = bo->size;
	return bo->vmap + bo->first_offset;
}

bool kllm_pin_writable(struct drm_gem_object *obj)
{
	return to_pin_bo(obj)->writable;
}

/* ------------------------------------------------------------ release */

static void kllm_userptr_uncharge(struct kllm_pin_bo *bo, struct mm_struct *mm,
				  unsigned long npages)
{
	kllm_acct_uncharge_userptr(bo->acct, (u64)npages << PAGE_SHIFT);
	atomic64_sub(npages, &mm->pinned_vm);
	atomic64_sub((u64)npages << PAGE_SHIFT, &kllm_userptr_total);
}

static void kllm_pin_free(struct drm_gem_object *obj)
{
	struct kllm_pin_bo *bo = to_pin_bo(obj);

	if (bo->type == KLLM_BO_TYPE_FILE) {
		kllm_share_put(bo->share, bo->holder);
	} else {
		vunmap(bo->vmap);
		unpin_user_pages_dirty_lock(bo->pages, bo->npages, bo->writable);
		kllm_userptr_uncharge(bo, bo->mm, bo->npages);
		mmdrop(bo->mm);
	}
	kvfree(bo->pages);
	drm_gem_object_release(obj);
	kfree(bo);
}

static int kllm_pin_open(struct drm_gem_object *obj, struct drm_file *file)
{
	kllm_file_count(file, to_pin_bo(obj)->type, obj->size, true);
	return 0;
}

static void kllm_pin_close(struct drm_gem_object *obj, struct drm_file *file)
{
	kllm_file_count(file, to_pin_bo(obj)->type, obj->size, false);
}

/* Pins stay inside the file that made them (upstream refuses userptr too). */
static struct dma_buf *kllm_pin_no_export(struct drm_gem_object *obj, int flags)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static const struct drm_gem_object_funcs kllm_pin_funcs = {
	.free = kllm_pin_free,
	.open = kllm_pin_open,
	.close = kllm_pin_close,
	.export = kllm_pin_no_export,
};

/* ------------------------------------------------------------ common */

static struct kllm_pin_bo *kllm_pin_bo_alloc(unsigned long npages)
{
	struct kllm_pin_bo *bo = kzalloc(sizeof(*bo), GFP_KERNEL_ACCOUNT);

	if (!bo)
		return NULL;
	bo->pages = kvcalloc(npages, sizeof(*bo->pages), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!bo->pages) {
		kfree(bo);
		return NULL;
	}
	bo->npages = npages;
	return bo;
}

static void kllm_pin_bo_free_unpinned(struct kllm_pin_bo *bo)
{
	kvfree(bo->pages);
	kfree(bo);
}

/*
 * Last step of both pin kinds: the GEM object and its handle.  On failure
 * the object is released through kllm_pin_free (which undoes everything)
 * and nothing is left.
 */
static int kllm_pin_publish(struct drm_file *file, struct kllm_pin_bo *bo,
			    u32 *handle)
{
	int ret;

	bo->base.funcs = &kllm_pin_funcs;
	drm_gem_private_object_init(file->minor->dev, &bo->base,
				    bo->npages << PAGE_SHIFT);
	ret = drm_gem_handle_create(file, &bo->base, handle);
	drm_gem_object_put(&bo->base);
	return ret;
}

/* ------------------------------------------------------------ file pins */

static int kllm_file_check(struct file *filp)
{
	struct inode *inode = file_inode(filp);

	if (!(filp->f_mode & FMODE_READ))
		return -EBADF;
	if (!S_ISREG(inode->i_mode) || IS_DAX(inode))
		return -EINVAL;
	if (!shmem_mapping(filp->f_mapping) &&
	    (!filp->f_mapping->a_ops || !filp->f_mapping->a_ops->read_folio))
		return -EINVAL;
	return 0;
}

/*
 * Pin [offset, offset + size) of the file @fd names.  @size > 0 and the
 * sum does not overflow (checked by the ioctl).
 */
int kllm_pin_file(struct drm_file *file, int fd, u64 offset, u64 size, u32 *handle)
{
	struct kllm_share *share;
	struct kllm_pin_bo *bo;
	struct file *filp;
	pgoff_t first, end;
	loff_t pos;
	int ret;

	filp = fget(fd);
	if (!filp)
		return -EBADF;
	ret = kllm_file_check(filp);
	if (ret)
		goto put_file;
	/* What read(2) checks: LSM file_permission, fanotify access permission. */
	pos = offset;
	ret = rw_verify_area(READ, filp, &pos, size);
	if (ret)
		goto put_file;
	/* A file that shrinks after this check only pins zero or stale pages. */
	if (offset + size > (u64)i_size_read(file_inode(filp))) {
		ret = -EINVAL;
		goto put_file;
	}
	first = offset >> PAGE_SHIFT;
	end = DIV_ROUND_UP_ULL(offset + size, PAGE_SIZE);

	bo = kzalloc(sizeof(*bo), GFP_KERNEL_ACCOUNT);
	if (!bo) {
		ret = -ENOMEM;
		goto put_file;
	}
	/* The range's pin: shared with every other import of it. */
	bo->holder = current_euid();
	share = kllm_share_get(filp, first, end - first, bo->holder);
	if (IS_ERR(share)) {
		ret = PTR_ERR(share);
		kfree(bo);
		goto put_file;
	}
	fput(filp);
	bo->type = KLLM_BO_TYPE_FILE;
	bo->share = share;
	bo->npages = end - first;
	bo->vmap = kllm_share_vaddr(share);
	bo->size = size;
	bo->first_offset = offset & ~PAGE_MASK;
	return kllm_pin_publish(file, bo, handle);

put_file:
	fput(filp);
	return ret;
}

/* ------------------------------------------------------------ userptr */

/*
 * Charge @npages to current's uid (RLIMIT_MEMLOCK unless CAP_IPC_LOCK) and,
 * for VmPin, to its mm; -ENOMEM over the limit.
 */
static int kllm_userptr_charge(struct kllm_pin_bo *bo, struct mm_struct *mm,
			       unsigned long npages)
{
	u64 bytes = (u64)npages << PAGE_SHIFT;
	u64 limit = rlimit(RLIMIT_MEMLOCK);
	int err;

	if (capable(CAP_IPC_LOCK))
		limit = U64_MAX;
	bo->acct = kllm_acct_charge_userptr(current_uid(), bytes, limit, &err);
	if (!bo->acct)
		return err;
	atomic64_add(npages, &mm->pinned_vm);
	atomic64_add(bytes, &kllm_userptr_total);
	return 0;
}

static bool kllm_userptr_page_ok(struct page *page)
{
	struct folio *folio = page_folio(page);
	struct address_space *mapping;

	if (folio_test_anon(folio))
		return true;
	mapping = folio_mapping(folio);
	return mapping && shmem_mapping(mapping);
}

static int kllm_userptr_pages_pin(struct kllm_pin_bo *bo, u64 addr)
{
	unsigned int gup = FOLL_LONGTERM | (bo->writable ? FOLL_WRITE : 0);
	unsigned long done = 0, i;
	int n;

	while (done < bo->npages) {
		unsigned long left = bo->npages - done;

		n = pin_user_pages_fast(addr + (done << PAGE_SHIFT),
					min_t(unsigned long, left, SZ_64K),
					gup, bo->pages + done);
		if (n <= 0)
			goto unpin_pinned;
		done += n;
		if (fatal_signal_pending(current)) {
			n = -EINTR;
			goto unpin_pinned;
		}
	}
	for (i = 0; bo->writable && i < bo->npages; i++) {
		if (!kllm_userptr_page_ok(bo->pages[i])) {
			n = -EFAULT;
			goto unpin_pinned;
		}
	}
	return 0;

unpin_pinned:
	unpin_user_pages(bo->pages, done);
	return n < 0 ? n : -EFAULT;
}

/* @addr and @size are page-aligned, @size > 0, no overflow (the ioctl). */
int kllm_pin_userptr(struct drm_file *file, u64 addr, u64 size, bool writable,
		     u32 *handle)
{
	unsigned long npages = size >> PAGE_SHIFT;
	struct mm_struct *mm = current->mm;
	struct kllm_pin_bo *bo;
	int ret;

	if (!mm)
		return -EFAULT;
	bo = kllm_pin_bo_alloc(npages);
	if (!bo)
		return -ENOMEM;
	ret = kllm_userptr_charge(bo, mm, npages);
	if (ret)
		goto free_bo;
	bo->type = KLLM_BO_TYPE_USERPTR;
	bo->writable = writable;
	bo->size = size;
	ret = kllm_userptr_pages_pin(bo, addr);
	if (ret)
		goto uncharge;
	bo->vmap = vmap(bo->pages, npages, VM_MAP, writable ? PAGE_KERNEL : PAGE_KERNEL_RO);
	if (!bo->vmap) {
		ret = -ENOMEM;
		goto unpin_pages;
	}
	mmgrab(mm);
	bo->mm = mm;
	return kllm_pin_publish(file, bo, handle);

unpin_pages:
	unpin_user_pages(bo->pages, npages);
uncharge:
	kllm_userptr_uncharge(bo, mm, npages);
free_bo:
	kllm_pin_bo_free_unpinned(bo);
	return ret;
}
