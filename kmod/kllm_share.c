// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_share.c - the registry of file pins: one pinned copy of a model
 * range however many files and processes import it.
 *
 * The key is what the kernel itself knows of the file, never anything
 * userspace says: device, inode number and generation, size and change
 * time, and the page range.  A rewritten or truncated file has a new size
 * or change time, so it gets a new pin; the old one keeps its old pages
 * for those still using it.  Every importer has passed the same read
 * checks on its own fd first (kllm_pin_file), so sharing grants nothing
 * that read(2) would not.
 *
 * A shared pin counts once against the module cap, and in full against
 * the quota of every uid that holds it (kllm_acct.c): each holder uid is
 * charged when its first buffer object on the pin is made and uncharged
 * when its last one goes, so no uid's quota is held by another uid.
 */
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hashtable.h>
#include <linux/jhash.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kllm_compat.h"
#include "kllm_drv.h"
#include "kllm_share.h"

struct kllm_share_key {
	dev_t dev;
	u32 generation;
	u64 ino;
	loff_t isize;
	s64 ctime_sec;
	long ctime_nsec;
	pgoff_t first;
	unsigned long npages;
};

struct kllm_share {
	struct kref ref;		/* pin BOs using it */
	struct hlist_node node;		/* kllm_share_table */
	struct kllm_share_key key;
	struct page **pages;
	void *vmap;			/* all pages, read-only */
	struct list_head holders;	/* kllm_share_holder; kllm_share_lock */
};

/* A uid holding a share: charged its full size once, whatever its count. */
struct kllm_share_holder {
	struct list_head node;
	kuid_t uid;
	struct kllm_uid_acct *acct;
	u32 count;			/* its pin BOs on the share */
};

/*
 * Protects kllm_share_table and the last-reference transition of every
 * share (kref_put_mutex), so a lookup never finds a share being freed.
 */
static DEFINE_MUTEX(kllm_share_lock);
static DEFINE_HASHTABLE(kllm_share_table, 8);
static atomic64_t kllm_share_hits = ATOMIC64_INIT(0);

u64 kllm_share_hit_count(void)
{
	return atomic64_read(&kllm_share_hits);
}

static void kllm_share_key_of(struct file *filp, pgoff_t first, unsigned long npages,
			      struct kllm_share_key *key)
{
	struct inode *inode = file_inode(filp);
	struct timespec64 ct = kllm_inode_ctime(inode);

	memset(key, 0, sizeof(*key));	/* hashed as bytes: no stray padding */
	key->dev = inode->i_sb->s_dev;
	key->generation = inode->i_generation;
	key->ino = inode->i_ino;
	key->isize = i_size_read(inode);
	key->ctime_sec = ct.tv_sec;
	key->ctime_nsec = ct.tv_nsec;
	key->first = first;
	key->npages = npages;
}

static u32 kllm_share_hash(const struct kllm_share_key *key)
{
	return jhash(key, sizeof(*key), 0);
}

/* Caller holds kllm_share_lock. */
static struct kllm_share *kllm_share_find(const struct kllm_share_key *key)
{
	struct kllm_share *s;

	hash_for_each_possible(kllm_share_table, s, node, kllm_share_hash(key))
		if (!memcmp(&s->key, key, sizeof(*key)))
			return s;
	return NULL;
}

static void kllm_pages_put(struct page **pages, unsigned long n)
{
	while (n--)
		put_page(pages[n]);
}

/* A reference on the uptodate page-cache page at @index (read in if needed). */
static struct page *kllm_file_page_get(struct file *filp, pgoff_t index)
{
	struct address_space *mapping = filp->f_mapping;

	/* tmpfs has no ->read_folio: shmem reads (or swaps in) its own. */
	if (shmem_mapping(mapping))
		return shmem_read_mapping_page(mapping, index);
	return read_mapping_page(mapping, index, filp);
}

static atomic64_t kllm_share_copies = ATOMIC64_INIT(0);

u64 kllm_share_copy_count(void)
{
	return atomic64_read(&kllm_share_copies);
}

/*
 * May @page stay pinned for as long as a model is loaded?  Not in
 * ZONE_MOVABLE or a CMA area: the camera's and display's contiguous
 * allocations, and memory hot-unplug, must be able to move it (the rule
 * FOLL_LONGTERM follows).  A CMA page is told by its pageblock's migrate
 * type, which modules cannot read; a kernel with CMA gets copies of every
 * page.
 */
static bool kllm_page_pinnable(struct page *page)
{
#ifdef CONFIG_CMA
	return false;
#else
	return page_zonenum(page) != ZONE_MOVABLE;
#endif
}

/*
 * @page, or an unmovable copy of it (the reference on @page is dropped):
 * the pin then holds a snapshot, as it does anyway when the file changes.
 */
static struct page *kllm_page_for_pin(struct page *page)
{
	struct page *copy;

	if (kllm_page_pinnable(page))
		return page;
	copy = alloc_page(GFP_KERNEL_ACCOUNT);
	if (copy) {
		copy_highpage(copy, page);
		atomic64_inc(&kllm_share_copies);
	}
	put_page(page);
	return copy ? copy : ERR_PTR(-ENOMEM);
}

static int kllm_share_read_pages(struct kllm_share *s, struct file *filp)
{
	unsigned long i;
	struct page *page;

	for (i = 0; i < s->key.npages; i++) {
		if (fatal_signal_pending(current))
			goto put_read_pages_eintr;
		page = kllm_file_page_get(filp, s->key.first + i);
		if (!IS_ERR(page))
			page = kllm_page_for_pin(page);
		if (IS_ERR(page)) {
			kllm_pages_put(s->pages, i);
			return PTR_ERR(page);
		}
		s->pages[i] = page;
		cond_resched();
	}
	return 0;

put_read_pages_eintr:
	kllm_pages_put(s->pages, i);
	return -EINTR;
}

/* A new pin of the key's range: charged, read, mapped.  ERR_PTR. */
static struct kllm_share *kllm_share_build(struct file *filp, const struct kllm_share_key *key)
{
	u64 bytes = (u64)key->npages << PAGE_SHIFT;
	struct kllm_share *s;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	kref_init(&s->ref);
	INIT_LIST_HEAD(&s->holders);
	s->key = *key;
	ret = kllm_acct_charge_pinned(bytes);
	if (ret)
		goto free_share;
	s->pages = kvcalloc(key->npages, sizeof(*s->pages), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!s->pages) {
		ret = -ENOMEM;
		goto uncharge;
	}
	ret = kllm_share_read_pages(s, filp);
	if (ret)
		goto free_pages;
	/* Read-only for the kernel too: weights are never written through it. */
	s->vmap = vmap(s->pages, key->npages, VM_MAP, PAGE_KERNEL_RO);
	if (!s->vmap) {
		ret = -ENOMEM;
		goto put_pages;
	}
	return s;

put_pages:
	kllm_pages_put(s->pages, key->npages);
free_pages:
	kvfree(s->pages);
uncharge:
	kllm_acct_uncharge_pinned(bytes);
free_share:
	kfree(s);
	return ERR_PTR(ret);
}

static void kllm_share_destroy(struct kllm_share *s)
{
	vunmap(s->vmap);
	kllm_pages_put(s->pages, s->key.npages);
	kvfree(s->pages);
	kllm_acct_uncharge_pinned((u64)s->key.npages << PAGE_SHIFT);
	kfree(s);
}

static struct kllm_share_holder *kllm_share_holder_find(struct kllm_share *s, kuid_t uid)
{
	struct kllm_share_holder *h;

	lockdep_assert_held(&kllm_share_lock);
	list_for_each_entry(h, &s->holders, node)
		if (uid_eq(h->uid, uid))
			return h;
	return NULL;
}

/* @uid holds @s once more: its first hold charges its quota.  0 or -errno. */
static int kllm_share_hold(struct kllm_share *s, kuid_t uid)
{
	struct kllm_share_holder *h, *spare;
	int ret = 0;

	spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
	if (!spare)
		return -ENOMEM;
	mutex_lock(&kllm_share_lock);
	h = kllm_share_holder_find(s, uid);
	if (!h) {
		spare->acct = kllm_acct_charge(uid, (u64)s->key.npages << PAGE_SHIFT, &ret);
		if (!spare->acct)
			goto unlock;
		spare->uid = uid;
		list_add(&spare->node, &s->holders);
		h = spare;
		spare = NULL;
	}
	h->count++;
unlock:
	mutex_unlock(&kllm_share_lock);
	kfree(spare);
	return ret;
}

/* @uid lets go of one hold of @s: its last uncharges its quota. */
static void kllm_share_unhold(struct kllm_share *s, kuid_t uid)
{
	struct kllm_share_holder *h;

	mutex_lock(&kllm_share_lock);
	h = kllm_share_holder_find(s, uid);
	if (!WARN_ON_ONCE(!h) && !--h->count) {
		list_del(&h->node);
		kllm_acct_uncharge(h->acct, (u64)s->key.npages << PAGE_SHIFT);
		kfree(h);
	}
	mutex_unlock(&kllm_share_lock);
}

static struct kllm_share *kllm_share_lookup(struct file *filp, pgoff_t first,
					    unsigned long npages)
{
	struct kllm_share_key key;
	struct kllm_share *s, *other;

	kllm_share_key_of(filp, first, npages, &key);
	mutex_lock(&kllm_share_lock);
	s = kllm_share_find(&key);
	if (s)
		kref_get(&s->ref);
	mutex_unlock(&kllm_share_lock);
	if (s) {
		atomic64_inc(&kllm_share_hits);
		return s;
	}
	/* Read outside the lock: a big model takes long to read in. */
	s = kllm_share_build(filp, &key);
	if (IS_ERR(s))
		return s;
	mutex_lock(&kllm_share_lock);
	other = kllm_share_find(&key);
	if (other) {
		/* Someone built the same pin meanwhile: use theirs. */
		kref_get(&other->ref);
		mutex_unlock(&kllm_share_lock);
		kllm_share_destroy(s);
		atomic64_inc(&kllm_share_hits);
		return other;
	}
	hash_add(kllm_share_table, &s->node, kllm_share_hash(&key));
	mutex_unlock(&kllm_share_lock);
	return s;
}

static void kllm_share_release(struct kref *ref);

struct kllm_share *kllm_share_get(struct file *filp, pgoff_t first, unsigned long npages,
				  kuid_t uid)
{
	struct kllm_share *s = kllm_share_lookup(filp, first, npages);
	int ret;

	if (IS_ERR(s))
		return s;
	ret = kllm_share_hold(s, uid);
	if (ret) {
		kref_put_mutex(&s->ref, kllm_share_release, &kllm_share_lock);
		return ERR_PTR(ret);
	}
	return s;
}

static void kllm_share_release(struct kref *ref)
	__releases(&kllm_share_lock)
{
	struct kllm_share *s = container_of(ref, struct kllm_share, ref);

	hash_del(&s->node);
	mutex_unlock(&kllm_share_lock);
	kllm_share_destroy(s);
}

void kllm_share_put(struct kllm_share *s, kuid_t uid)
{
	kllm_share_unhold(s, uid);
	kref_put_mutex(&s->ref, kllm_share_release, &kllm_share_lock);
}

void *kllm_share_vaddr(const struct kllm_share *s)
{
	return s->vmap;
}
