// SPDX-License-Identifier: MIT
/*
 * engine_dev.c - the device engine (see engine_dev.h): the driver runs the
 * program; we hand it the weights once, then one job per forward pass.
 */
#define _GNU_SOURCE	/* gettid */
#include "engine_dev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef KLLM_HAVE_DEV

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kllm.h"
#include "kllm_dev_access.h"
#include "kllm_prog.h"

/* Jobs in flight per io_uring_enter; well under KLLM_MAX_JOBS_PER_FILE. */
#define DEV_RING_ENTRIES 64

enum dev_path {
	DEV_PATH_URING_UNPROVEN,	/* ring set up, no uring_cmd done yet */
	DEV_PATH_URING,
	DEV_PATH_IOCTL,
};

struct kllm_dev {
	int fd;
	char node[KLLM_NODE_PATH_MAX];
	uint32_t prog;
	uint32_t weights;	/* BO_IMPORT_FILE of the model's data section */
	struct kllm_dev_bo out;
	uint32_t inputs;	/* 1u << KLLM_PROG_IN_* the program declares */
	uint32_t max_batch;
	struct drm_kllm_bind *binds;	/* OUTPUT + one KV per sequence */
	struct io_uring ring;
	int have_ring;
	unsigned int ring_flags;	/* the IORING_SETUP_* it was made with */
	pid_t ring_owner;	/* single-issuer ring: the thread that made it */
	pid_t ring_pid;		/* the process that made it (a fork's child makes its own) */
	uint32_t kv_blocks;	/* PROG_CREATE's kv_blocks (paged programs) */
	int ring_dirty;		/* a ring_run failed part way: CQEs may be left */
	enum dev_path path;
};

int kllm_dev_built_in(void)
{
	return 1;
}

int kllm_dev_open(struct kllm_dev **out, char *err, size_t errlen)
{
	struct kllm_dev *d;
	char msg[192];
	int ret;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* (the layer's reasons have no prefix: ours start "device engine: ") */
	ret = kllm_node_open(KLLM_NODE_VERSION(1, 1), d->node, sizeof(d->node), msg,
			     sizeof(msg));
	if (ret < 0) {
		snprintf(err, errlen, "device engine: %s", msg);
		free(d);
		return ret;
	}
	d->fd = ret;
	*out = d;
	return 0;
}

static const struct kllm_prog_buffer *prog_buffer(const struct kllm_prog_info *info,
						  uint32_t id)
{
	return (const void *)(info->base + info->buffers_off +
			      (size_t)id * info->buffer_size);
}

/* The one WEIGHTS and one OUTPUT buffer, one KV buffer: what we bind. */
static int prog_shape(struct kllm_dev *d, const struct kllm_prog_info *info,
		      uint64_t *out_size, char *err, size_t errlen)
{
	uint32_t n_w = 0, n_out = 0;

	for (uint32_t i = 0; i < info->n_buffers; i++) {
		const struct kllm_prog_buffer *b = prog_buffer(info, i);

		n_w += b->kind == KLLM_PROG_BUF_WEIGHTS;
		if (b->kind == KLLM_PROG_BUF_OUTPUT) {
			n_out++;
			*out_size = b->size;
		}
	}
	if (n_w != 1 || n_out != 1 || info->n_kv != 1) {
		snprintf(err, errlen, "device engine: a program of %u weights, %u output "
			 "and %u KV buffers (supported: 1 each)", n_w, n_out, info->n_kv);
		return -ENOTSUP;
	}
	d->inputs = info->inputs;
	d->max_batch = info->max_batch;
	return 0;
}

static int import_weights(struct kllm_dev *d, const struct kllm_compiled *c,
			  int model_fd, uint64_t data_off, char *err, size_t errlen)
{
	double mib = (double)c->weights_size / (1 << 20);
	int ret;

	if (data_off % KLLM_PROG_BIND_ALIGN) {
		snprintf(err, errlen, "device engine: the model's data section starts at "
			 "file offset %llu, not a multiple of %u",
			 (unsigned long long)data_off, KLLM_PROG_BIND_ALIGN);
		return -EINVAL;
	}
	ret = kllm_node_bo_import(d->fd, model_fd, data_off, c->weights_size, &d->weights);
	if (ret == -EDQUOT)
		snprintf(err, errlen, "%s: pinning %.1f MiB of weights is over this "
			 "user's quota (kllm.ko uid_quota_mb)", d->node, mib);
	else if (ret == -ENOSPC)
		snprintf(err, errlen, "%s: pinning %.1f MiB of weights is over the "
			 "module-wide cap (kllm.ko max_pinned_mb)", d->node, mib);
	else if (ret)
		snprintf(err, errlen, "%s: pinning the weights: %s", d->node,
			 strerror(-ret));
	return ret;
}

static int prog_create(struct kllm_dev *d, const struct kllm_compiled *c,
		       char *err, size_t errlen)
{
	struct drm_kllm_bind wb = { .handle = d->weights };
	char log[256] = "";
	struct drm_kllm_prog_create a = {
		.prog_ptr = (uintptr_t)c->img, .prog_size = (uint32_t)c->size,
		.binds_ptr = (uintptr_t)&wb, .n_binds = 1,
		.log_ptr = (uintptr_t)log, .log_size = sizeof(log),
		.kv_blocks = c->kv_block_shift ? d->kv_blocks : 0,
	};
	int ret = kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_PROG_CREATE, &a);

	if (ret == -EINVAL && log[0])
		snprintf(err, errlen, "%s: driver rejected the program: %s", d->node, log);
	else if (ret == -E2BIG)
		snprintf(err, errlen, "%s: the program's activations are over the "
			 "module's limit (kllm.ko max_act_mb)", d->node);
	else if (ret)
		snprintf(err, errlen, "%s: creating the program: %s", d->node,
			 strerror(-ret));
	if (!ret)
		d->prog = a.handle;
	return ret;
}

int kllm_dev_ring_init(struct io_uring *ring, unsigned int entries, unsigned int *flags)
{
	static const unsigned int tries[] = {
		KLLM_RING_SETUP_FLAGS | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		KLLM_RING_SETUP_FLAGS,
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i];
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (!ret) {
			*flags = tries[i];
			return 0;
		}
		if (ret != -EINVAL)	/* ENOSYS, EPERM: no flags will help */
			break;
	}
	return ret;
}

static void ring_close(struct kllm_dev *d)
{
	if (d->have_ring)
		io_uring_queue_exit(&d->ring);
	d->have_ring = 0;
}

/* Is the ring this thread's to use as it is? */
static int ring_usable(const struct kllm_dev *d)
{
	if (!d->have_ring || d->ring_dirty || d->ring_pid != getpid())
		return 0;
	return !(d->ring_flags & IORING_SETUP_SINGLE_ISSUER) || d->ring_owner == gettid();
}

/*
 * A single-issuer ring takes submissions only from the thread that made
 * it (-EEXIST from any other); a forked child shares its parent's ring
 * memory; a ring_run that failed part way may have left completions of
 * its jobs behind.  In each case a new ring: the old one is idle from our
 * side, and closing it lets the kernel finish whatever of ours it still
 * holds.  A context that moves between threads pays one ring set-up per
 * move.
 */
static int ring_ready(struct kllm_dev *d)
{
	int ret;

	if (ring_usable(d))
		return 0;
	ring_close(d);
	ret = kllm_dev_ring_init(&d->ring, DEV_RING_ENTRIES, &d->ring_flags);
	if (ret)
		return ret;
	d->have_ring = 1;
	d->ring_dirty = 0;
	d->ring_owner = gettid();
	d->ring_pid = getpid();
	return 0;
}

/* io_uring with 128-byte SQEs; where that is refused, the ioctls. */
static void ring_setup(struct kllm_dev *d)
{
	/* ENOSYS, EPERM: seccomp, sysctl */
	d->path = ring_ready(d) ? DEV_PATH_IOCTL : DEV_PATH_URING_UNPROVEN;
}

int kllm_dev_load(struct kllm_dev *d, const struct kllm_compiled *c,
		  const struct kllm_prog_info *info, int model_fd, uint64_t data_off,
		  char *err, size_t errlen)
{
	uint64_t out_size = 0;
	int ret;

	if (model_fd < 0) {
		snprintf(err, errlen, "device engine: the model was not loaded from a file");
		return -EINVAL;
	}
	ret = prog_shape(d, info, &out_size, err, errlen);
	if (!ret)
		ret = import_weights(d, c, model_fd, data_off, err, errlen);
	if (!ret)
		ret = prog_create(d, c, err, errlen);
	if (ret)
		return ret;
	ret = kllm_dev_bo_create(d, out_size, &d->out);
	if (ret) {
		snprintf(err, errlen, "%s: output buffer of %llu bytes: %s", d->node,
			 (unsigned long long)out_size, strerror(-ret));
		return ret;
	}
	d->binds = calloc(1 + (size_t)d->max_batch, sizeof(*d->binds));
	if (!d->binds) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ring_setup(d);
	return 0;
}

static void handle_close(int fd, uint32_t handle)
{
	if (handle)
		kllm_node_bo_close(fd, handle);
}

void kllm_dev_close(struct kllm_dev *d)
{
	if (!d)
		return;
	ring_close(d);
	kllm_dev_bo_free(d, &d->out);
	if (d->prog) {
		struct drm_kllm_prog_destroy a = { .handle = d->prog };

		kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_PROG_DESTROY, &a);
	}
	handle_close(d->fd, d->weights);
	if (d->fd >= 0)
		close(d->fd);
	free(d->binds);
	free(d);
}

const char *kllm_dev_name(const struct kllm_dev *d)
{
	return d->path == DEV_PATH_IOCTL ? "dev (ioctl)" : "dev (io_uring)";
}

int kllm_dev_fd(const struct kllm_dev *d)
{
	return d->fd;
}

int kllm_dev_set_priority(struct kllm_dev *d, uint32_t priority, char *err, size_t errlen)
{
	static const uint32_t prio[] = {
		[KLLM_PRIORITY_NORMAL] = KLLM_PRIO_NORMAL,
		[KLLM_PRIORITY_INTERACTIVE] = KLLM_PRIO_INTERACTIVE,
		[KLLM_PRIORITY_BACKGROUND] = KLLM_PRIO_BACKGROUND,
	};
	struct drm_kllm_ctx_set a = { .param = KLLM_CTX_PRIORITY };
	int ret;

	if (priority >= sizeof(prio) / sizeof(prio[0])) {
		snprintf(err, errlen, "priority %u: unknown", priority);
		return -EINVAL;
	}
	a.value = prio[priority];
	ret = kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_CTX_SET, &a);
	if (ret == -EPERM)
		snprintf(err, errlen, "device engine: the interactive class needs CAP_SYS_NICE");
	else if (ret)
		snprintf(err, errlen, "device engine: setting the priority: %s (driver older than UAPI 1.2?)",
			 strerror(-ret));
	return ret;
}

uint32_t kllm_dev_prog(const struct kllm_dev *d)
{
	return d->prog;
}

const struct kllm_dev_bo *kllm_dev_output(const struct kllm_dev *d)
{
	return &d->out;
}

int kllm_dev_bo_create(struct kllm_dev *d, uint64_t size, struct kllm_dev_bo *bo)
{
	uint32_t handle = 0;
	void *p = NULL;
	int ret;

	*bo = (struct kllm_dev_bo){ 0 };
	if (size > SIZE_MAX)
		return -E2BIG;
	ret = kllm_node_bo_create(d->fd, size, &handle);
	if (ret)
		return ret;
	ret = kllm_node_bo_map(d->fd, handle, size, &p);
	if (ret) {
		handle_close(d->fd, handle);
		return ret;
	}
	*bo = (struct kllm_dev_bo){ .handle = handle, .map = p, .size = size };
	return 0;
}

void kllm_dev_bo_free(struct kllm_dev *d, struct kllm_dev_bo *bo)
{
	if (bo->map)
		munmap(bo->map, (size_t)bo->size);
	handle_close(d->fd, bo->handle);
	*bo = (struct kllm_dev_bo){ 0 };
}

/* ------------------------------------------------------------ jobs */

/*
 * Jobs [0, n) through the ring: fill it, one io_uring_enter submits them
 * all and waits for all of them, reap; again while jobs are left.
 */
static int ring_run_jobs(struct kllm_dev *d, const struct drm_kllm_job *jobs, uint32_t n,
			 int32_t *status)
{
	uint32_t queued = 0, done = 0;
	struct io_uring_cqe *cqe;
	int ret;

	while (done < n) {
		while (queued < n && queued - done < DEV_RING_ENTRIES) {
			ret = kllm_ring_queue_job(&d->ring, d->fd, &jobs[queued], queued);
			if (ret == -EBUSY)	/* full: submit what is queued */
				break;
			if (ret)
				return ret;
			queued++;
		}
		ret = io_uring_submit_and_wait(&d->ring, queued - done);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
			return ret;
		while (io_uring_peek_cqe(&d->ring, &cqe) == 0) {
			uint64_t i = io_uring_cqe_get_data64(cqe);

			if (i < n)
				status[i] = cqe->res;
			io_uring_cqe_seen(&d->ring, cqe);
			done++;
		}
	}
	return 0;
}

/* ring_run_jobs on a ring ring_ready made this thread's. */
static int ring_run(struct kllm_dev *d, const struct drm_kllm_job *jobs, uint32_t n,
		    int32_t *status)
{
	int ret = ring_run_jobs(d, jobs, n, status);

	/*
	 * -EEXIST: the ring is another thread's after all (a thread id used
	 * again after the maker exited).  The first io_uring_enter refused
	 * everything, so nothing ran: a new ring, once more.
	 */
	if (ret == -EEXIST) {
		d->ring_dirty = 1;
		ret = ring_ready(d);
		if (!ret)
			ret = ring_run_jobs(d, jobs, n, status);
	}
	d->ring_dirty = ret < 0;
	return ret;
}

/* Jobs [0, n) by JOB_SUBMIT, a ring's worth at a time, then JOB_WAIT each. */
static int ioctl_run(struct kllm_dev *d, const struct drm_kllm_job *jobs, uint32_t n,
		     int32_t *status)
{
	uint64_t ids[DEV_RING_ENTRIES];
	int ret;

	for (uint32_t base = 0; base < n; base += DEV_RING_ENTRIES) {
		uint32_t k = n - base < DEV_RING_ENTRIES ? n - base : DEV_RING_ENTRIES;

		for (uint32_t i = 0; i < k; i++) {
			ids[i] = 0;
			status[base + i] = kllm_node_job_submit(d->fd, &jobs[base + i], &ids[i]);
		}
		for (uint32_t i = 0; i < k; i++) {
			if (!ids[i])
				continue;
			ret = kllm_node_job_wait(d->fd, ids[i], &status[base + i]);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * The first uring_cmd decides: io_uring_enter failing, or a refusal the
 * ioctl does not give for the same job (the file has no uring_cmd:
 * -EOPNOTSUPP; a kernel that does not take the command: -EINVAL), moves
 * us to the ioctls for good.  A refused job did nothing, so running it
 * again is safe.
 */
static int ring_probe(struct kllm_dev *d, const struct drm_kllm_job *job, int32_t *status)
{
	int32_t st = 0;
	int ret = ring_ready(d);

	if (!ret)
		ret = ring_run(d, job, 1, &st);

	if (ret < 0 || st == -EOPNOTSUPP || st == -EINVAL) {
		int ring_failed = ret < 0;
		int32_t st2 = 0;

		ret = ioctl_run(d, job, 1, &st2);
		if (ret)
			return ret;
		if (ring_failed || st2 != st) {
			d->path = DEV_PATH_IOCTL;
			ring_close(d);
		}
		*status = st2;
		return 0;
	}
	d->path = DEV_PATH_URING;
	*status = st;
	return 0;
}

int kllm_dev_run_many(struct kllm_dev *d, struct drm_kllm_job *jobs, uint32_t n,
		      int32_t *status)
{
	int ret;

	for (uint32_t i = 0; i < n; i++)
		jobs[i].prog = d->prog;
	if (!n)
		return 0;
	if (d->path == DEV_PATH_URING_UNPROVEN) {
		ret = ring_probe(d, jobs, status);
		if (ret || n == 1)
			return ret;
		jobs++;
		status++;
		n--;
	}
	/* no new ring for this thread (fd or memlock limits): the ioctls, this time */
	if (d->path == DEV_PATH_URING && ring_ready(d) == 0)
		return ring_run(d, jobs, n, status);
	return ioctl_run(d, jobs, n, status);
}

/* The job of one batch; every batch binds the output BO and its sequences. */
static int dev_job_of(struct kllm_dev *d, const struct kllm_dev_batch *b,
		      struct drm_kllm_job *job)
{
	if (!b->n_tokens || b->n_tokens > d->max_batch || b->n_seqs > b->n_tokens)
		return -EINVAL;
	memset(job, 0, sizeof(*job));
	job->n_tokens = b->n_tokens;
	job->n_outputs = b->n_outputs;
	job->n_seqs = b->n_seqs;
	job->n_binds = 1 + b->n_seqs;
	job->binds_ptr = (uintptr_t)d->binds;
	job->timeout_ms = b->timeout_ms;
	/* Only the arrays the program declares (the others must be 0). */
	if (d->inputs & (1u << KLLM_PROG_IN_TOKENS))
		job->tokens_ptr = (uintptr_t)b->tokens;
	if (d->inputs & (1u << KLLM_PROG_IN_POS))
		job->pos_ptr = (uintptr_t)b->pos;
	if (d->inputs & (1u << KLLM_PROG_IN_SEQ))
		job->seq_ptr = (uintptr_t)b->seq;
	if (d->inputs & (1u << KLLM_PROG_IN_OUT_ROWS))
		job->out_rows_ptr = (uintptr_t)b->out_rows;
	return 0;
}

int kllm_dev_forward_many(struct kllm_dev *d, const struct kllm_dev_batch *b, uint32_t n)
{
	struct drm_kllm_job one, *jobs = n == 1 ? &one : calloc(n, sizeof(*jobs));
	int32_t st1, *status = n == 1 ? &st1 : calloc(n, sizeof(*status));
	int ret = 0;

	if (!n || !jobs || !status) {
		ret = n ? -ENOMEM : -EINVAL;
		goto free_jobs;
	}
	/* The batches share their bindings: the same sequences, the output BO. */
	for (uint32_t i = 1; i < n; i++)
		if (b[i].n_seqs != b[0].n_seqs ||
		    memcmp(b[i].kv, b[0].kv, 4ull * b[0].n_seqs)) {
			ret = -EINVAL;
			goto free_jobs;
		}
	d->binds[0] = (struct drm_kllm_bind){ .handle = d->out.handle };
	for (uint32_t s = 0; s < b[0].n_seqs; s++)
		d->binds[1 + s] = (struct drm_kllm_bind){ .handle = b[0].kv[s] };
	for (uint32_t i = 0; i < n && !ret; i++)
		ret = dev_job_of(d, &b[i], &jobs[i]);
	if (!ret)
		ret = kllm_dev_run_many(d, jobs, n, status);
	for (uint32_t i = 0; i < n && !ret; i++)
		ret = status[i];
free_jobs:
	if (jobs != &one)
		free(jobs);
	if (status != &st1)
		free(status);
	return ret;
}

int kllm_dev_forward(struct kllm_dev *d, const struct kllm_dev_batch *b)
{
	return kllm_dev_forward_many(d, b, 1);
}

void kllm_dev_set_kv_blocks(struct kllm_dev *d, uint32_t n_blocks)
{
	d->kv_blocks = n_blocks;
}

int kllm_dev_seq_create(struct kllm_dev *d, uint32_t *handle)
{
	struct drm_kllm_kv_seq_create a = { .prog = d->prog };
	int ret = kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &a);

	*handle = ret ? 0 : a.handle;
	return ret;
}

int kllm_dev_seq_free(struct kllm_dev *d, uint32_t handle)
{
	struct drm_kllm_kv_seq_free a = { .handle = handle };

	return kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_KV_SEQ_FREE, &a);
}

int kllm_dev_seq_fork(struct kllm_dev *d, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	struct drm_kllm_kv_seq_fork a = { .dst = dst, .src = src, .n_pos = n_pos };

	return kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_KV_SEQ_FORK, &a);
}

int kllm_dev_seq_truncate(struct kllm_dev *d, uint32_t handle, uint32_t n_pos)
{
	struct drm_kllm_kv_seq_truncate a = { .handle = handle, .n_pos = n_pos };

	return kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_KV_SEQ_TRUNCATE, &a);
}

int kllm_dev_seq_lookup(struct kllm_dev *d, uint32_t handle, const int32_t *tokens,
			uint32_t n)
{
	struct drm_kllm_kv_seq_lookup a = {
		.handle = handle, .tokens_ptr = (uintptr_t)tokens, .n_tokens = n };
	int ret = kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_KV_SEQ_LOOKUP, &a);

	return ret ? ret : (int)a.n_pos;
}

int kllm_dev_kv_stats(struct kllm_dev *d, struct kllm_dev_kv_stats *st)
{
	struct drm_kllm_kv_stats a = { .prog = d->prog };
	int ret = kllm_node_ioctl(d->fd, DRM_IOCTL_KLLM_KV_STATS, &a);

	if (ret)
		return ret;
	*st = (struct kllm_dev_kv_stats){
		.block_bytes = a.block_bytes, .hits = a.hits, .misses = a.misses,
		.inserted = a.inserted, .evicted = a.evicted, .block_tokens = a.block_tokens,
		.n_blocks = a.n_blocks, .n_used = a.n_used, .n_cached = a.n_cached,
		.n_idle = a.n_idle, .fd_seqs = a.fd_seqs };
	return 0;
}

#else /* !KLLM_HAVE_DEV */

struct kllm_dev {
	int unused;
};

int kllm_dev_built_in(void)
{
	return 0;
}

int kllm_dev_open(struct kllm_dev **out, char *err, size_t errlen)
{
	*out = NULL;
	snprintf(err, errlen, "device engine not built in (libkllm was built "
		 "without liburing and libdrm)");
	return -ENOTSUP;
}

int kllm_dev_load(struct kllm_dev *d, const struct kllm_compiled *c,
		  const struct kllm_prog_info *info, int model_fd, uint64_t data_off,
		  char *err, size_t errlen)
{
	(void)d, (void)c, (void)info, (void)model_fd, (void)data_off;
	snprintf(err, errlen, "device engine not built in");
	return -ENOTSUP;
}

void kllm_dev_close(struct kllm_dev *d)
{
	(void)d;
}

const char *kllm_dev_name(const struct kllm_dev *d)
{
	(void)d;
	return "dev";
}

int kllm_dev_fd(const struct kllm_dev *d)
{
	(void)d;
	return -1;
}

int kllm_dev_set_priority(struct kllm_dev *d, uint32_t priority, char *err, size_t errlen)
{
	(void)d, (void)priority;
	snprintf(err, errlen, "device engine not built in");
	return -ENOTSUP;
}

uint32_t kllm_dev_prog(const struct kllm_dev *d)
{
	(void)d;
	return 0;
}

const struct kllm_dev_bo *kllm_dev_output(const struct kllm_dev *d)
{
	(void)d;
	return NULL;
}

int kllm_dev_bo_create(struct kllm_dev *d, uint64_t size, struct kllm_dev_bo *bo)
{
	(void)d, (void)size;
	*bo = (struct kllm_dev_bo){ 0 };
	return -ENOTSUP;
}

void kllm_dev_bo_free(struct kllm_dev *d, struct kllm_dev_bo *bo)
{
	(void)d, (void)bo;
}

int kllm_dev_run_many(struct kllm_dev *d, struct drm_kllm_job *jobs, uint32_t n,
		      int32_t *status)
{
	(void)d, (void)jobs, (void)n, (void)status;
	return -ENOTSUP;
}

int kllm_dev_forward(struct kllm_dev *d, const struct kllm_dev_batch *b)
{
	(void)d, (void)b;
	return -ENOTSUP;
}

int kllm_dev_forward_many(struct kllm_dev *d, const struct kllm_dev_batch *b, uint32_t n)
{
	(void)d, (void)b, (void)n;
	return -ENOTSUP;
}

void kllm_dev_set_kv_blocks(struct kllm_dev *d, uint32_t n_blocks)
{
	(void)d, (void)n_blocks;
}

int kllm_dev_seq_create(struct kllm_dev *d, uint32_t *handle)
{
	(void)d;
	*handle = 0;
	return -ENOTSUP;
}

int kllm_dev_seq_free(struct kllm_dev *d, uint32_t handle)
{
	(void)d, (void)handle;
	return -ENOTSUP;
}

int kllm_dev_seq_fork(struct kllm_dev *d, uint32_t dst, uint32_t src, uint32_t n_pos)
{
	(void)d, (void)dst, (void)src, (void)n_pos;
	return -ENOTSUP;
}

int kllm_dev_seq_truncate(struct kllm_dev *d, uint32_t handle, uint32_t n_pos)
{
	(void)d, (void)handle, (void)n_pos;
	return -ENOTSUP;
}

int kllm_dev_seq_lookup(struct kllm_dev *d, uint32_t handle, const int32_t *tokens,
			uint32_t n)
{
	(void)d, (void)handle, (void)tokens, (void)n;
	return -ENOTSUP;
}

int kllm_dev_kv_stats(struct kllm_dev *d, struct kllm_dev_kv_stats *st)
{
	(void)d;
	*st = (struct kllm_dev_kv_stats){ 0 };
	return -ENOTSUP;
}

#endif /* KLLM_HAVE_DEV */

const char *kllm_dev_strerror(int status)
{
	switch (status) {
	case -ETIMEDOUT:
		return "device job timed out (kllm.ko job_timeout_ms)";
	case -EINTR:
		return "device job interrupted (the submitting process was killed)";
	case -ECANCELED:
		return "device job cancelled (its io_uring was torn down)";
	case -EBUSY:
		return "too many device jobs in flight on this file";
	default:
		return strerror(-status);
	}
}
