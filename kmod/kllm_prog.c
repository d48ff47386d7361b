// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_prog.c - programs: PROG_CREATE copies a program image into kernel
 * memory once, runs the shared validator (uapi/prog/kllm_prog_check.c) on that
 * copy, binds the WEIGHTS buffers to buffer objects and allocates the
 * activation arena and scratch; PROG_DESTROY drops the file's handle.
 *
 * The driver knows tensors and ops, never a model architecture: whatever
 * the validator accepts, the engine can run.
 */
#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/hashtable.h>
#include <linux/jhash.h>
#include <linux/mutex.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>
#include <drm/drm_gem.h>

#include "kllm_job.h"

static unsigned int max_act_mb = 1024;
module_param(max_act_mb, uint, 0644);
MODULE_PARM_DESC(max_act_mb, "largest activation arena + scratch of one program, MiB (at most half of RAM)");

static atomic64_t kllm_progs_alive = ATOMIC64_INIT(0);

u64 kllm_prog_count(void)
{
	return atomic64_read(&kllm_progs_alive);
}

static void kllm_prog_free(struct kref *ref)
{
	struct kllm_prog *prog = container_of(ref, struct kllm_prog, ref);
	u32 i;

	kllm_kv_store_free(prog->kv);
	for (i = 0; i < KLLM_PROG_MAX_BUFFERS; i++)
		if (prog->weights[i])
			drm_gem_object_put(prog->weights[i]);
	kvfree(prog->staging);
	kvfree(prog->pass_inputs);
	kvfree(prog->out_t);
	kvfree(prog->scratch);
	kvfree(prog->act);
	kvfree(prog->img);
	kfree(prog);
	atomic64_dec(&kllm_progs_alive);
}

/*
 * The registry of programs: a program whose image and weights (the same
 * pinned pages at the same offsets: file pins are shared, kllm_share.c)
 * equal one that exists is that program, so jobs of different processes
 * running one model can be fused into one pass.  kllm_prog_reg_lock
 * protects the table and the last-reference transition of registered
 * programs (kref_put_mutex).
 */
static DEFINE_MUTEX(kllm_prog_reg_lock);
static DEFINE_HASHTABLE(kllm_prog_table, 6);

static void kllm_prog_release(struct kref *ref)
{
	struct kllm_prog *prog = container_of(ref, struct kllm_prog, ref);

	if (prog->registered)
		hash_del(&prog->reg_node);
	mutex_unlock(&kllm_prog_reg_lock);
	kllm_prog_free(ref);
}

void kllm_prog_put(struct kllm_prog *prog)
{
	kref_put_mutex(&prog->ref, kllm_prog_release, &kllm_prog_reg_lock);
}

static bool kllm_prog_same(const struct kllm_prog *a, const struct kllm_prog *b)
{
	u32 id;

	if (a->info.size != b->info.size || memcmp(a->img, b->img, a->info.size))
		return false;
	for (id = 0; id < KLLM_PROG_MAX_BUFFERS; id++)
		if (!!a->weights[id] != !!b->weights[id] ||
		    (a->weights[id] && a->mem[id].base != b->mem[id].base))
			return false;
	return true;
}

/* @prog (new, complete) or an equal registered one; the loser is put. */
static struct kllm_prog *kllm_prog_register(struct kllm_prog *prog)
{
	struct kllm_prog *old;

	prog->reg_hash = jhash(prog->img, prog->info.size, 0);
	mutex_lock(&kllm_prog_reg_lock);
	hash_for_each_possible(kllm_prog_table, old, reg_node, prog->reg_hash) {
		if (kllm_prog_same(old, prog) && kref_get_unless_zero(&old->ref)) {
			mutex_unlock(&kllm_prog_reg_lock);
			kllm_prog_put(prog);
			return old;
		}
	}
	hash_add(kllm_prog_table, &prog->reg_node, prog->reg_hash);
	prog->registered = true;
	mutex_unlock(&kllm_prog_reg_lock);
	return prog;
}

struct kllm_prog *kllm_prog_lookup(struct kllm_file *kf, u32 handle)
{
	struct kllm_prog *prog;

	xa_lock(&kf->progs);
	prog = xa_load(&kf->progs, handle);
	if (prog)
		kref_get(&prog->ref);
	xa_unlock(&kf->progs);
	return prog;
}

/*
 * A buffer object's kernel mapping for the engine: shmem BOs and pins.
 * @writable: the engine will write it (file pins and read-only userptr
 * pins cannot be).  Returns the address of @offset, with *avail the bytes
 * from there to the end; ERR_PTR(-EINVAL) for an offset past the end or
 * misaligned, or a read-only object where @writable.
 */
void *kllm_bo_map(struct drm_gem_object *obj, u64 offset, bool writable, u64 *avail)
{
	void *vaddr;
	u64 size;

	if (offset % KLLM_PROG_BIND_ALIGN)
		return ERR_PTR(-EINVAL);
	if (kllm_is_shmem_bo(obj)) {
		vaddr = kllm_gem_vaddr(obj, &size);
		if (IS_ERR(vaddr))
			return vaddr;
	} else if (kllm_is_pin_bo(obj)) {
		if (writable && !kllm_pin_writable(obj))
			return ERR_PTR(-EINVAL);
		vaddr = kllm_pin_vaddr(obj, &size);
	} else {
		return ERR_PTR(-ENOENT);
	}
	/* Pins start at the user's offset into a page: keep the alignment. */
	if (offset >= size || ((unsigned long)vaddr + offset) % KLLM_PROG_BIND_ALIGN)
		return ERR_PTR(-EINVAL);
	*avail = size - offset;
	return vaddr + offset;
}

/* Bind each WEIGHTS buffer to its drm_kllm_bind; references kept in prog. */
static int kllm_prog_bind_weights(struct kllm_prog *prog, struct drm_file *file,
				  const struct drm_kllm_bind *binds, u32 n_binds)
{
	const struct kllm_prog_info *pi = &prog->info;
	struct kllm_prog_buffer b;
	struct drm_gem_object *obj;
	u32 id, used = 0;
	void *vaddr;
	u64 avail;

	for (id = 0; id < pi->n_buffers; id++) {
		kllm_prog_buffer_get(pi, id, &b);
		if (b.kind == KLLM_PROG_BUF_OUTPUT)
			prog->out_ids[prog->n_out++] = id;
		if (b.kind != KLLM_PROG_BUF_WEIGHTS)
			continue;
		if (used == n_binds)
			return -EINVAL;
		if (binds[used].flags || !binds[used].handle)
			return -EINVAL;
		obj = drm_gem_object_lookup(file, binds[used].handle);
		if (!obj)
			return -ENOENT;
		prog->weights[id] = obj;	/* freed with the program */
		vaddr = kllm_bo_map(obj, binds[used].offset, false, &avail);
		if (IS_ERR(vaddr))
			return PTR_ERR(vaddr);
		if (avail < b.size)
			return -EINVAL;
		prog->mem[id] = (struct kllm_prog_mem){ vaddr, b.size };
		used++;
	}
	return used == n_binds ? 0 : -EINVAL;
}

/*
 * The activation arena and scratch, zeroed, charged to the caller's memcg.
 * Each ACTIVATIONS buffer gets its own range of the arena, of its own
 * declared size: the validator proved every tensor inside that size.
 */
static int kllm_prog_alloc_arena(struct kllm_prog *prog)
{
	const struct kllm_prog_info *pi = &prog->info;
	u64 limit = min((u64)READ_ONCE(max_act_mb) << 20,
			(u64)totalram_pages() << (PAGE_SHIFT - 1));
	u64 off[KLLM_PROG_MAX_BUFFERS], sum = 0, total = 0;
	struct kllm_prog_buffer b;
	u32 id;

	for (id = 0; id < pi->n_buffers; id++) {
		kllm_prog_buffer_get(pi, id, &b);
		off[id] = sum;
		/* < 2^48 each (validator), 64 buffers: no overflow */
		if (b.kind == KLLM_PROG_BUF_ACTIVATIONS)
			sum += ALIGN(b.size, 64);
	}
	if (sum > limit)
		return -E2BIG;
	prog->act_size = PAGE_ALIGN(sum);
	prog->scratch_size = PAGE_ALIGN(kllm_prog_scratch_bytes(pi));
	if (check_add_overflow(prog->act_size, prog->scratch_size, &total) || total > limit)
		return -E2BIG;
	if (prog->act_size) {
		prog->act = kvzalloc(prog->act_size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!prog->act)
			return -ENOMEM;
	}
	if (prog->scratch_size) {
		prog->scratch = kvzalloc(prog->scratch_size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!prog->scratch)
			return -ENOMEM;
	}
	for (id = 0; id < pi->n_buffers; id++) {
		kllm_prog_buffer_get(pi, id, &b);
		if (b.kind == KLLM_PROG_BUF_ACTIVATIONS)
			prog->mem[id] = (struct kllm_prog_mem){ (u8 *)prog->act + off[id], b.size };
	}
	return 0;
}

/* Check the copied image; on rejection, its reason to the caller's log. */
static int kllm_prog_validate(struct kllm_prog *prog, u32 size, u64 log_ptr, u32 log_size)
{
	struct kllm_prog_err perr;
	char *msg;
	u32 n;

	if (!kllm_prog_check(prog->img, size, &prog->info, &perr))
		return 0;
	if (!log_size)
		return -EINVAL;
	n = min_t(u32, log_size, 256);
	msg = kmalloc(n, GFP_KERNEL);
	if (!msg)
		return -EINVAL;
	kllm_prog_err_format(&perr, msg, n);
	n = strnlen(msg, n - 1) + 1;
	if (copy_to_user(u64_to_user_ptr(log_ptr), msg, n)) {
		kfree(msg);
		return -EFAULT;
	}
	kfree(msg);
	return -EINVAL;
}

int kllm_ioctl_prog_create(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_prog_create *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct drm_kllm_bind *binds = NULL;
	u32 size = args->prog_size, n_binds = args->n_binds, handle;
	struct kllm_prog *prog;
	int ret;

	if (args->flags & ~KLLM_PROG_CREATE_FLAGS || args->pad ||
	    args->reserved[0] || args->reserved[1] || args->pad2 ||
	    args->reserved2[0] || args->reserved2[1])
		return -EINVAL;
	if (!size || size > KLLM_PROG_MAX_SIZE || n_binds > KLLM_PROG_MAX_BUFFERS)
		return -EINVAL;
	prog = kzalloc(sizeof(*prog), GFP_KERNEL_ACCOUNT);
	if (!prog)
		return -ENOMEM;
	kref_init(&prog->ref);
	atomic64_inc(&kllm_progs_alive);
	prog->img = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	if (!prog->img) {
		ret = -ENOMEM;
		goto put_prog;
	}
	/* One copy; the validator and the engine only ever read this one. */
	if (copy_from_user(prog->img, u64_to_user_ptr(args->prog_ptr), size)) {
		ret = -EFAULT;
		goto put_prog;
	}
	if (n_binds) {
		binds = memdup_user(u64_to_user_ptr(args->binds_ptr),
				    n_binds * sizeof(*binds));
		if (IS_ERR(binds)) {
			ret = PTR_ERR(binds);
			binds = NULL;
			goto put_prog;
		}
	}
	ret = kllm_prog_validate(prog, size, args->log_ptr, args->log_size);
	if (ret)
		goto put_prog;
	ret = kllm_prog_bind_weights(prog, file, binds, n_binds);
	if (ret)
		goto put_prog;
	ret = kllm_prog_alloc_arena(prog);
	if (ret)
		goto put_prog;
	ret = kllm_prog_setup_fusion(prog);
	if (ret)
		goto put_prog;
	prog = kllm_prog_register(prog);
	/* Its KV pool, if paged (shared with the program, if it existed). */
	ret = kllm_kv_store_get(prog, args->kv_blocks);
	if (ret)
		goto put_prog;
	ret = xa_alloc(&kf->progs, &handle, prog,
		       XA_LIMIT(1, KLLM_MAX_PROGS_PER_FILE), GFP_KERNEL_ACCOUNT);
	if (ret == -EBUSY)
		ret = -EMFILE;
	if (ret)
		goto put_prog;
	kfree(binds);
	args->handle = handle;
	args->act_bytes = prog->act_size + prog->scratch_size;
	args->kv_blocks = prog->kv ? prog->kv->kvb.n_blocks : 0;
	return 0;

put_prog:
	kfree(binds);
	kllm_prog_put(prog);
	return ret;
}

int kllm_ioctl_prog_destroy(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_kllm_prog_destroy *args = data;
	struct kllm_file *kf = kllm_file_of(file);
	struct kllm_prog *prog;

	if (args->flags & ~KLLM_PROG_DESTROY_FLAGS || args->reserved[0] ||
	    args->reserved[1])
		return -EINVAL;
	prog = xa_erase(&kf->progs, args->handle);
	if (!prog)
		return -ENOENT;
	kllm_prog_put(prog);
	return 0;
}
