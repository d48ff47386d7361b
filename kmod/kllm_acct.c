// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_acct.c - what file pins may hold: a module-wide cap (max_pinned_mb,
 * set by root through /sys/module/kllm/parameters) and a quota per
 * effective uid (uid_quota_mb).  Model weights pinned from a file are
 * shared page cache, not memory of the process that asked, so they are not
 * charged to its RLIMIT_MEMLOCK; these limits bound them instead.
 *
 * Charges are whole pages.  Lowering a limit refuses new pins; pins already
 * made stay until released.
 */
#include <linux/hashtable.h>
#include <linux/seq_file.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>

#include "kllm_drv.h"

static unsigned int max_pinned_mb;
module_param(max_pinned_mb, uint, 0644);
MODULE_PARM_DESC(max_pinned_mb,
		 "Cap on page cache pinned by BO_IMPORT_FILE, all users together, MiB (0 at load: half of RAM; writable by root)");

static unsigned int uid_quota_mb;
module_param(uid_quota_mb, uint, 0644);
MODULE_PARM_DESC(uid_quota_mb,
		 "Cap on page cache pinned by BO_IMPORT_FILE per effective uid, MiB (0 at load: same as max_pinned_mb; writable by root)");

/* One per uid that holds file pins; freed when its last pin goes. */
struct kllm_uid_acct {
	struct hlist_node node;
	kuid_t uid;
	u64 bytes;		/* file pins */
	u64 userptr_bytes;	/* userptr pins, all processes of the uid */
};

/*
 * kllm_acct_lock protects kllm_uid_table (entries and their bytes) and
 * kllm_pinned_total.  Taken with no other kllm lock held; never sleeps.
 */
static DEFINE_SPINLOCK(kllm_acct_lock);
static DEFINE_HASHTABLE(kllm_uid_table, 6);
static u64 kllm_pinned_total;

static u64 mb_to_bytes(unsigned int mb)
{
	return (u64)mb << 20;
}

u64 kllm_acct_max_bytes(void)
{
	return mb_to_bytes(READ_ONCE(max_pinned_mb));
}

u64 kllm_acct_uid_quota_bytes(void)
{
	return mb_to_bytes(READ_ONCE(uid_quota_mb));
}

static struct kllm_uid_acct *kllm_acct_find(kuid_t uid)
{
	struct kllm_uid_acct *acct;

	lockdep_assert_held(&kllm_acct_lock);
	hash_for_each_possible(kllm_uid_table, acct, node, __kuid_val(uid))
		if (uid_eq(acct->uid, uid))
			return acct;
	return NULL;
}

/*
 * @acct, or (when the uid had no entry: @acct NULL) the preallocated
 * *@spare, now in the table for @uid; *@spare is then taken (NULL).
 */
static struct kllm_uid_acct *kllm_acct_insert(kuid_t uid, struct kllm_uid_acct *acct,
					      struct kllm_uid_acct **spare)
{
	lockdep_assert_held(&kllm_acct_lock);
	if (acct)
		return acct;
	acct = *spare;
	*spare = NULL;
	acct->uid = uid;
	hash_add(kllm_uid_table, &acct->node, __kuid_val(uid));
	return acct;
}

/* Drop @acct from the table once nothing is charged to it; true if so. */
static bool kllm_acct_unlink_if_idle(struct kllm_uid_acct *acct)
{
	lockdep_assert_held(&kllm_acct_lock);
	if (acct->bytes || acct->userptr_bytes)
		return false;
	hash_del(&acct->node);
	return true;
}

/*
 * A pinned range counts once against the module cap (the memory exists
 * once) and in full against the quota of every uid holding it (no uid can
 * keep another's quota hostage by holding its pin: when the creator lets
 * go, its charge goes, and the holder's own stays).
 *
 * Charge @bytes of a new pinned range to the module cap: 0 or -ENOSPC.
 */
int kllm_acct_charge_pinned(u64 bytes)
{
	u64 cap = kllm_acct_max_bytes();
	int ret = 0;

	spin_lock(&kllm_acct_lock);
	if (bytes > cap || kllm_pinned_total > cap - bytes)
		ret = -ENOSPC;
	else
		kllm_pinned_total += bytes;
	spin_unlock(&kllm_acct_lock);
	return ret;
}

void kllm_acct_uncharge_pinned(u64 bytes)
{
	spin_lock(&kllm_acct_lock);
	kllm_pinned_total -= bytes;
	spin_unlock(&kllm_acct_lock);
}

/*
 * Charge @bytes of a pinned range @uid holds to its quota.  Returns the
 * uid's entry (to give to kllm_acct_uncharge), or NULL with *err = -EDQUOT
 * or -ENOMEM.  Nothing is charged on failure.
 */
struct kllm_uid_acct *kllm_acct_charge(kuid_t uid, u64 bytes, int *err)
{
	struct kllm_uid_acct *spare, *acct;
	u64 quota = kllm_acct_uid_quota_bytes();

	/* Allocate before the spinlock; freed below if the uid has an entry. */
	spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
	if (!spare) {
		*err = -ENOMEM;
		return NULL;
	}
	spin_lock(&kllm_acct_lock);
	acct = kllm_acct_find(uid);
	if (bytes > quota || (acct && acct->bytes > quota - bytes)) {
		*err = -EDQUOT;
		acct = NULL;
		goto out_unlock;
	}
	acct = kllm_acct_insert(uid, acct, &spare);
	acct->bytes += bytes;
out_unlock:
	spin_unlock(&kllm_acct_lock);
	kfree(spare);
	return acct;
}

void kllm_acct_uncharge(struct kllm_uid_acct *acct, u64 bytes)
{
	bool last;

	spin_lock(&kllm_acct_lock);
	acct->bytes -= bytes;
	last = kllm_acct_unlink_if_idle(acct);
	spin_unlock(&kllm_acct_lock);
	if (last)
		kfree(acct);
}

/*
 * Charge @bytes of userptr pins to @uid against @limit (RLIMIT_MEMLOCK).
 * Per uid, as io_uring charges user->locked_vm: a pin outlives the process
 * (and the mm) that made it when the drm file is shared, so a per-mm charge
 * alone is escaped by fork, exec or passing the fd.
 */
struct kllm_uid_acct *kllm_acct_charge_userptr(kuid_t uid, u64 bytes, u64 limit,
					       int *err)
{
	struct kllm_uid_acct *spare, *acct;

	spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
	if (!spare) {
		*err = -ENOMEM;
		return NULL;
	}
	spin_lock(&kllm_acct_lock);
	acct = kllm_acct_find(uid);
	if (bytes > limit || (acct && acct->userptr_bytes > limit - bytes)) {
		*err = -ENOMEM;
		acct = NULL;
		goto out_unlock;
	}
	acct = kllm_acct_insert(uid, acct, &spare);
	acct->userptr_bytes += bytes;
out_unlock:
	spin_unlock(&kllm_acct_lock);
	kfree(spare);
	return acct;
}

void kllm_acct_uncharge_userptr(struct kllm_uid_acct *acct, u64 bytes)
{
	bool last;

	spin_lock(&kllm_acct_lock);
	acct->userptr_bytes -= bytes;
	last = kllm_acct_unlink_if_idle(acct);
	spin_unlock(&kllm_acct_lock);
	if (last)
		kfree(acct);
}

u64 kllm_acct_total(void)
{
	u64 total;

	spin_lock(&kllm_acct_lock);
	total = kllm_pinned_total;
	spin_unlock(&kllm_acct_lock);
	return total;
}

u64 kllm_acct_uid_bytes(kuid_t uid)
{
	struct kllm_uid_acct *acct;
	u64 bytes;

	spin_lock(&kllm_acct_lock);
	acct = kllm_acct_find(uid);
	bytes = acct ? acct->bytes : 0;
	spin_unlock(&kllm_acct_lock);
	return bytes;
}

void kllm_acct_show(struct seq_file *m)
{
	struct kllm_uid_acct *acct;
	int bkt;

	spin_lock(&kllm_acct_lock);
	seq_printf(m, "pinned_bytes %llu\n", kllm_pinned_total);
	hash_for_each(kllm_uid_table, bkt, acct, node)
		if (acct->bytes)
			seq_printf(m, "pinned_bytes_uid %u %llu\n",
				   from_kuid(&init_user_ns, acct->uid), acct->bytes);
	spin_unlock(&kllm_acct_lock);
}

int kllm_acct_init(void)
{
	u64 ram_mb = ((u64)totalram_pages() << PAGE_SHIFT) >> 20;

	if (!max_pinned_mb)
		max_pinned_mb = min_t(u64, ram_mb / 2, UINT_MAX);
	if (!uid_quota_mb)
		uid_quota_mb = max_pinned_mb;
	return 0;
}

/* Every pin is gone once the device is (files hold module references). */
void kllm_acct_exit(void)
{
	if (kllm_acct_total())
		pr_err("kllm: %llu bytes of file pins left at unload\n", kllm_acct_total());
}
