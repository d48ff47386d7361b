/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops.h - guest_fuzz's operations (included once, by guest_fuzz.c):
 * jobs through the ioctl and io_uring, waits, buffers, context, files,
 * mappings, killed children, and the worker loop that picks among them.
 */
#ifndef KLLM_VM_FUZZ_OPS_H
#define KLLM_VM_FUZZ_OPS_H

/* ------------------------------------------------------------ jobs */

/* A valid job of program @prog (image @ii) on the slot's own buffers, then
 * (@mut) one to three fields broken.  Returns the job; *valid says if it
 * is still one the driver must accept. */
static struct drm_kllm_job job_build(struct fz_thr *t, struct fz_slot *s, uint32_t prog,
				     int ii, int mut, int *valid)
{
	struct fz *z = t->z;
	struct fz_img *im = &z->img[ii];
	uint32_t mb = im->pi.n_buffers ? im->pi.max_batch : TM_MB;
	uint32_t n_kv = im->pi.n_buffers ? im->pi.n_kv : 1, n_out = im->pi.n_buffers ? im->n_out : 3;
	uint32_t inputs = im->pi.n_buffers ? im->pi.inputs : 0xf;
	uint32_t n_seqs = 1 + rnd(t, KJ_SEQS), n, p0, nb;
	struct drm_kllm_job j;
	struct fz_arrays *a = &t->set[t->cur++ % FZ_SETS];

	t->tok = a->tok;
	t->pos = a->pos;
	t->seq = a->seq;
	t->out = a->out;
	t->binds = a->binds;
	if (mb > FZ_MAXT)
		mb = FZ_MAXT;
	if (!mb)
		mb = 1;
	n = 1 + rnd(t, mb);
	if (n > TM_CTX)
		n = TM_CTX;
	p0 = rnd(t, TM_CTX - n + 1);
	for (uint32_t i = 0; i < n; i++) {
		t->tok[i] = (int32_t)rnd(t, TM_V);
		t->seq[i] = (int32_t)rnd(t, n_seqs);
		t->pos[i] = (int32_t)(p0 + i);
	}
	/* unique output rows, ascending */
	uint32_t n_o = 0;
	for (uint32_t i = 0; i < n; i++)
		if (chance(t, 50) || i == n - 1)
			t->out[n_o++] = (int32_t)i;
	/* a paged program binds one sequence handle per sequence */
	nb = n_out + n_seqs * (ii == z->paged_img ? 1 : n_kv);
	if (nb > FZ_MAXB)
		nb = FZ_MAXB;
	int tiny_out = chance(t, 50);	/* outputs past the toy's: a tiny BO */

	for (uint32_t o = 0; o < n_out && o < nb; o++)
		t->binds[o] = (struct drm_kllm_bind){
			.handle = o >= 3 && tiny_out ? s->tiny_bo : s->out_bo,
			.offset = o < 3 && n_out >= 3 ? g_out_off[o] : 0 };
	for (uint32_t b = n_out; b < nb; b++)
		t->binds[b] = (struct drm_kllm_bind){ .handle = ii == z->paged_img ?
			s->kv_seq[(b - n_out) % KJ_SEQS] : s->kv_bo[(b - n_out) % KJ_SEQS] };
	/* a sequence left unbound now and then (its KV binding handle 0) */
	int unbound = n_seqs > 1 && n_out + n_seqs * n_kv <= FZ_MAXB && chance(t, 10);

	if (unbound)
		t->binds[n_out + (n_seqs - 1) * n_kv].handle = 0;
	j = (struct drm_kllm_job){
		.prog = prog, .n_tokens = n, .n_outputs = inputs & (1u << KLLM_PROG_IN_OUT_ROWS) ? n_o : 0,
		.n_seqs = n_seqs, .n_binds = nb,
		.tokens_ptr = inputs & (1u << KLLM_PROG_IN_TOKENS) ? (uintptr_t)t->tok : 0,
		.pos_ptr = inputs & (1u << KLLM_PROG_IN_POS) ? (uintptr_t)t->pos : 0,
		.seq_ptr = inputs & (1u << KLLM_PROG_IN_SEQ) ? (uintptr_t)t->seq : 0,
		.out_rows_ptr = inputs & (1u << KLLM_PROG_IN_OUT_ROWS) ? (uintptr_t)t->out : 0,
		.binds_ptr = (uintptr_t)t->binds,
		.timeout_ms = chance(t, 10) ? 1 + rnd(t, 50) : 0,
		.flags = chance(t, 20) ? KLLM_JOB_PRIO(2 + rnd(t, 2)) : 0,
	};
	/* only the toy program's valid jobs are sure to be accepted */
	*valid = ii == 0 && !mut && prog && !unbound && s->out_bo;
	for (int k = 0; k < KJ_SEQS; k++)
		*valid &= s->kv_bo[k] != 0;
	if (z->uid == 0 && chance(t, 10))
		j.flags = KLLM_JOB_PRIO(1);	/* interactive: root may */
	for (int k = mut ? 1 + (int)rnd(t, 3) : 0; k > 0; k--) {
		uint32_t i = rnd(t, n), bi = rnd(t, nb ? nb : 1);
		uintptr_t bad[] = { 0, 8, (uintptr_t)z->hole, (uintptr_t)z->short_end,
				    0xffff888000000000ull, (uintptr_t)t->tok + 1 };
		__u64 *ptrs[] = { &j.tokens_ptr, &j.pos_ptr, &j.seq_ptr, &j.out_rows_ptr,
				     &j.binds_ptr };

		switch (rnd(t, 19)) {
		case 18:	/* output rows for a program that has no OUT_ROWS input */
			j.n_outputs = 1 + rnd(t, n);
			j.out_rows_ptr = rnd(t, 4) ? (uintptr_t)t->out : 0;
			break;
		case 0: j.prog = rnd(t, 3) ? (uint32_t)rnd_u64_edge(t) : z->stale_prog; break;
		case 1: j.flags = (uint32_t)rnd_u64_edge(t); break;
		case 2: j.n_tokens = rnd(t, 2) ? (uint32_t)rnd_u64_edge(t) : mb + 1; break;
		case 3:
			j.n_outputs = rnd(t, 2) ? n + rnd(t, 3) : (uint32_t)rnd_u64_edge(t);
			for (uint32_t o = 0; o < FZ_MAXT; o++)
				t->out[o] = (int32_t)(o % (n + 1));
			break;
		case 4:	/* repeated, negative, out of range rows */
			if (!j.n_outputs)
				j.n_outputs = 1 + rnd(t, n);
			for (uint32_t o = 0; o < j.n_outputs && o < FZ_MAXT; o++)
				t->out[o] = rnd(t, 3) == 0 ? (int32_t)rnd_u64_edge(t) :
					    rnd(t, 2) ? 0 : (int32_t)(n - 1 - o % n);
			break;
		case 5:
			j.n_seqs = rnd(t, 2) ? (uint32_t)rnd_u64_edge(t) : KLLM_PROG_MAX_SEQS + rnd(t, 2);
			if (rnd(t, 2))
				j.n_binds = n_out + j.n_seqs * n_kv;
			break;
		case 6: j.n_binds = rnd(t, 2) ? nb + rnd(t, 3) - 1 : (uint32_t)rnd_u64_edge(t); break;
		case 7: *ptrs[rnd(t, 5)] = bad[rnd(t, 6)]; break;
		case 8: t->tok[i] = rnd(t, 2) ? -1 - (int32_t)rnd(t, 4) : TM_V + (int32_t)rnd(t, 1 << 20); break;
		case 9: t->pos[i] = rnd(t, 2) ? -1 : TM_CTX + (int32_t)rnd(t, 1 << 30); break;
		case 10: t->seq[i] = rnd(t, 2) ? -1 : (int32_t)(j.n_seqs + rnd(t, 1 << 20)); break;
		case 11: {
			static const int which[] = { 0, 1, 2, 3, 4, 5, 6 };
			uint32_t h[] = { 0, (uint32_t)rnd_u64_edge(t), s->w_bo, s->tiny_bo, s->up_bo,
					 s->up_ro_bo, pick_bo(t, s) };

			t->binds[bi].handle = h[which[rnd(t, 7)]];
			break;
		}
		case 12: {
			static const uint64_t off[] = { 1, 8, 16, 32, 4064, 4096, 6144, 6112,
							1ull << 40, ~0ull & ~31ull };

			t->binds[bi].offset = off[rnd(t, 10)];
			break;
		}
		case 13: t->binds[bi].flags = 1u << rnd(t, 32); break;
		case 14: j.timeout_ms = (uint32_t)rnd_u64_edge(t); break;
		case 15: if (rnd(t, 2)) j.pad = 1u << rnd(t, 32); else j.reserved = rnd_u64_edge(t) | 1; break;
		case 16: j.flags = KLLM_JOB_PRIO(rnd(t, 4)); break;
		default:	/* every output bound to the tiny or the same buffer */
			for (uint32_t o = 0; o < n_out && o < nb; o++)
				t->binds[o] = (struct drm_kllm_bind){ .handle = rnd(t, 2) ? s->tiny_bo : s->up_bo };
			break;
		}
	}
	if (j.flags == KLLM_JOB_PRIO(1) && z->uid != 0)
		*valid = 0;
	snprintf(t->desc, sizeof(t->desc),
		 "prog %u img %d flags %#x n %u out %u seqs %u binds %u to %u%s%s",
		 j.prog, ii, j.flags, j.n_tokens, j.n_outputs, j.n_seqs, j.n_binds, j.timeout_ms,
		 mut ? " mutated" : "", *valid ? " valid" : "");
	return j;
}

static void check_status(struct fz_thr *t, int status, int valid, const char *how)
{
	if (!status) {
		__atomic_fetch_add(&sh->jobs_done, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&sh->jobs_failed, 1, __ATOMIC_RELAXED);
	if (status < 0 && status > -160)
		__atomic_fetch_add(&sh->status[-status], 1, __ATOMIC_RELAXED);
	if (!in_set(status, E_STATUS))
		fz_bad(t, "%s: job status %d (%s) not documented", how, status, strerror(-status));
	else if (valid && status == -EINVAL)
		fz_bad(t, "%s: a valid job of the toy program failed with EINVAL", how);
}

static void op_wait_one(struct fz_thr *t, struct fz_slot *s, uint64_t id, int64_t tmo, int mut)
{
	struct drm_kllm_job_wait a = { .id = id, .timeout_ns = tmo, .status = 12345 };
	int rc;

	if (mut) {
		switch (rnd(t, 4)) {
		case 0: a.id = rnd_u64_edge(t); break;
		case 1: a.timeout_ns = -1 - (int64_t)rnd(t, 1000); break;
		case 2: a.flags = 1u << rnd(t, 32); break;
		default: a.reserved2[rnd(t, 2)] = 1; break;
		}
	}
	snprintf(t->desc, sizeof(t->desc), "id %llu timeout %lld ns%s", (unsigned long long)a.id,
		 (long long)a.timeout_ns, mut ? " mutated" : "");
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_JOB_WAIT, &a);
	fz_rc(t, OP_WAIT, rc, E_WAIT, 0);
	if (!rc)
		check_status(t, a.status, 0, "JOB_WAIT");
	else if (a.status != 12345)
		fz_bad(t, "JOB_WAIT failed (%d) but wrote status %d", rc, a.status);
	if (rc == -ETIMEDOUT && !mut) {	/* still running: keep it */
		pthread_mutex_lock(&t->z->mu);
		if (s->open && s->n_job < FZ_NJ)
			s->job[s->n_job++] = id;
		pthread_mutex_unlock(&t->z->mu);
	}
}

static void op_submit(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	int ii, valid, rc;
	uint32_t prog = pick_prog(t, s, &ii);
	struct drm_kllm_job_submit a = { .id = KD_SENTINEL };
	uint64_t old = 0;

	a.job = job_build(t, s, prog, ii, chance(t, 45), &valid);
	if (chance(t, 3))
		a.reserved[rnd(t, 2)] = 1, valid = 0;
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_JOB_SUBMIT, &a);
	fz_rc(t, OP_SUBMIT, rc, E_SUBMIT, valid);
	if (rc && a.id != KD_SENTINEL)
		fz_bad(t, "JOB_SUBMIT failed (%d) but wrote id %llu", rc, (unsigned long long)a.id);
	if (rc)
		return;
	pthread_mutex_lock(&z->mu);
	if (s->n_job == FZ_NJ) {
		old = s->job[0];
		s->job[0] = s->job[--s->n_job];
	}
	s->job[s->n_job++] = a.id;
	pthread_mutex_unlock(&z->mu);
	if (old)
		op_wait_one(t, s, old, 2000000000ll, 0);
}

static void op_wait(struct fz_thr *t, struct fz_slot *s)
{
	static const int64_t tmo[] = { 0, 1000000, 20000000, 500000000 };
	struct fz *z = t->z;
	uint64_t id = 0;

	pthread_mutex_lock(&z->mu);
	if (s->n_job) {
		unsigned int i = rnd(t, s->n_job);

		id = s->job[i];
		s->job[i] = s->job[--s->n_job];
	}
	pthread_mutex_unlock(&z->mu);
	op_wait_one(t, s, id ? id : 1 + rnd(t, 4), tmo[rnd(t, 4)], !id || chance(t, 10));
}

/* Reap what the ring has; @wait: block for one. */
static void op_reap(struct fz_thr *t, struct fz_slot *s, int wait)
{
	struct io_uring_cqe *cqe;

	pthread_mutex_lock(&s->ring_mu);
	if (!s->ring_on) {
		pthread_mutex_unlock(&s->ring_mu);
		return;
	}
	if (wait) {
		struct __kernel_timespec ts = { .tv_nsec = 50000000 };

		io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
	}
	/* The CQ ring is the kernel's memory mapped here: more ready entries
	 * than it holds means someone wrote its head or tail. */
	if (io_uring_cq_ready(&s->ring) > *s->ring.cq.kring_entries) {
		snprintf(t->desc, sizeof(t->desc), "ring fd %d", s->ring.ring_fd);
		char dump[3 * 64 + 1];
		const uint8_t *hp = s->ring.sq.ring_ptr;

		for (int k = 0; k < 64; k++)
			snprintf(dump + 3 * k, 4, "%02x ", hp[k]);
		fz_bad(t, "CQ ring corrupt: %u entries ready of %u (head %u tail %u); SQ ring %p CQ ring %p sqes %p starts %s",
		       io_uring_cq_ready(&s->ring), *s->ring.cq.kring_entries,
		       *s->ring.cq.khead, *s->ring.cq.ktail, s->ring.sq.ring_ptr,
		       s->ring.cq.ring_ptr, (void *)s->ring.sq.sqes, dump);

		s->ring_on = 0;		/* left as it is: not ours to unmap */
		pthread_mutex_unlock(&s->ring_mu);
		return;
	}
	for (int k = 0; k < 256 && !io_uring_peek_cqe(&s->ring, &cqe); k++) {
		int res = cqe->res, valid = (int)(cqe->user_data & 1);
		uint64_t ud = cqe->user_data;

		io_uring_cqe_seen(&s->ring, cqe);
		__atomic_fetch_add(&sh->cqes, 1, __ATOMIC_RELAXED);
		snprintf(t->desc, sizeof(t->desc), "CQE user_data %#llx", (unsigned long long)ud);
		if (ud >> 40) {		/* ours are (call number << 1) | valid */
			fz_bad(t, "CQE nobody submitted: user_data %#llx res %d",
			       (unsigned long long)ud, res);
			continue;
		}
		fz_rc(t, OP_REAP, res, E_CQE, valid);
		if (res <= 0 && in_set(res, E_STATUS))
			check_status(t, res, valid, "CQE");
	}
	pthread_mutex_unlock(&s->ring_mu);
}

static void op_uring(struct fz_thr *t, struct fz_slot *s)
{
	unsigned int n = 1 + rnd(t, 4), queued = 0;
	int rc;

	for (unsigned int k = 0; k < n; k++) {
		int ii, valid, mut = chance(t, 40);
		uint32_t prog = pick_prog(t, s, &ii);
		struct drm_kllm_job j = job_build(t, s, prog, ii, mut, &valid);
		struct io_uring_sqe *sqe;

		pthread_mutex_lock(&s->ring_mu);
		if (!s->ring_on || !(sqe = io_uring_get_sqe(&s->ring))) {
			pthread_mutex_unlock(&s->ring_mu);
			break;
		}
		kj_prep_uring(sqe, s->fd, &j, (t->n << 1) | (uint64_t)(valid && t->z->threads == 1));
		if (chance(t, 3)) {	/* a command the driver does not know */
			sqe->cmd_op = KLLM_URING_CMD_SUBMIT + 1 + rnd(t, 4);
			sqe->user_data &= ~1ull;
		}
		queued++;
		pthread_mutex_unlock(&s->ring_mu);
	}
	if (!queued)
		return;
	pthread_mutex_lock(&s->ring_mu);
	rc = s->ring_on ? io_uring_submit(&s->ring) : 0;
	pthread_mutex_unlock(&s->ring_mu);
	snprintf(t->desc, sizeof(t->desc), "io_uring_submit of %u", queued);
	/* the enter itself: the commands' fate comes in CQEs */
	fz_rc(t, OP_URING, rc < 0 ? rc : 0, E_BADNR, 0);
	if (chance(t, 30))
		op_reap(t, s, chance(t, 30));
}

/* ------------------------------------------------------------ buffers */

static void op_bo_create(struct fz_thr *t, struct fz_slot *s)
{
	static const uint64_t sz[] = { 1, 31, 32, 4096, 6144, 65536, 1 << 20 };
	struct drm_kllm_bo_create a = { .size = sz[rnd(t, 7)], .handle = KD_SENTINEL };
	int rc, valid = 1;

	if (chance(t, 25)) {
		valid = 0;
		switch (rnd(t, 3)) {
		case 0: a.size = rnd_u64_edge(t); break;
		case 1: a.flags = 1u << rnd(t, 32); break;
		default: a.reserved[rnd(t, 2)] = 1; break;
		}
	}
	snprintf(t->desc, sizeof(t->desc), "size %llu flags %#x", (unsigned long long)a.size, a.flags);
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_BO_CREATE, &a);
	fz_rc(t, OP_BO_CREATE, rc, E_BO, valid);
	if (rc && a.handle != KD_SENTINEL)
		fz_bad(t, "BO_CREATE failed (%d) but wrote handle %u", rc, a.handle);
	if (!rc) {
		pthread_mutex_lock(&t->z->mu);
		lst_add32(s->bo, &s->n_bo, FZ_NH, a.handle);
		pthread_mutex_unlock(&t->z->mu);
	}
}

static void op_import(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	uint64_t ws = z->m->wsize;
	struct drm_kllm_bo_import_file a = { .fd = z->wfd, .offset = 4096ull * rnd(t, 3),
					     .size = 1 + rnd(t, 8192), .handle = KD_SENTINEL };
	int rc;

	if (a.offset + a.size > ws)
		a.offset = 0, a.size = ws;
	if (chance(t, 30)) {
		switch (rnd(t, 6)) {
		case 0: a.fd = rnd(t, 2) ? -1 : (int)rnd(t, 64); break;
		case 1: a.fd = s->fd; break;		/* a device fd */
		case 2: a.offset = rnd_u64_edge(t); break;
		case 3: a.size = rnd_u64_edge(t); break;
		case 4: a.flags = 1u << rnd(t, 32); break;
		default: a.pad = 1; break;
		}
	}
	snprintf(t->desc, sizeof(t->desc), "fd %d off %llu size %llu", a.fd,
		 (unsigned long long)a.offset, (unsigned long long)a.size);
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_BO_IMPORT_FILE, &a);
	fz_rc(t, OP_IMPORT, rc, E_IMPORT, 0);
	if (rc && a.handle != KD_SENTINEL)
		fz_bad(t, "BO_IMPORT_FILE failed (%d) but wrote handle %u", rc, a.handle);
	if (!rc) {
		pthread_mutex_lock(&z->mu);
		lst_add32(s->bo, &s->n_bo, FZ_NH, a.handle);
		pthread_mutex_unlock(&z->mu);
	}
}

static void op_userptr(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	uint32_t p = rnd(t, FZ_UP_PAGES);
	struct drm_kllm_bo_userptr a = {
		.addr = (uintptr_t)z->up + 4096ull * p, .size = 4096ull * (1 + rnd(t, FZ_UP_PAGES - p)),
		.flags = rnd(t, 2) ? KLLM_USERPTR_WRITABLE : 0, .handle = KD_SENTINEL };
	int rc;

	if (chance(t, 35)) {
		switch (rnd(t, 6)) {
		case 0: a.addr = rnd(t, 2) ? (uintptr_t)z->hole : (uintptr_t)z->up_ro; break;
		case 1: a.addr += 1 + rnd(t, 4095); break;
		case 2: a.size = rnd_u64_edge(t); break;
		case 3: a.addr = rnd_u64_edge(t) & ~4095ull; break;
		case 4: a.flags = (uint32_t)rnd_u64_edge(t); break;
		default: a.reserved[rnd(t, 2)] = 1; break;
		}
	}
	snprintf(t->desc, sizeof(t->desc), "addr %#llx size %llu flags %#x",
		 (unsigned long long)a.addr, (unsigned long long)a.size, a.flags);
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_BO_USERPTR, &a);
	fz_rc(t, OP_USERPTR, rc, E_USERPTR, 0);
	if (rc && a.handle != KD_SENTINEL)
		fz_bad(t, "BO_USERPTR failed (%d) but wrote handle %u", rc, a.handle);
	if (!rc) {
		pthread_mutex_lock(&z->mu);
		lst_add32(s->bo, &s->n_bo, FZ_NH, a.handle);
		pthread_mutex_unlock(&z->mu);
	}
}

static void op_bo_info(struct fz_thr *t, struct fz_slot *s, int map)
{
	struct drm_kllm_bo_info a = { .handle = pick_bo(t, s) };
	int rc;

	if (!map && chance(t, 10))
		a.flags = 1u << rnd(t, 32);
	if (!map && chance(t, 5))
		a.pad = 1;
	snprintf(t->desc, sizeof(t->desc), "handle %u", a.handle);
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_BO_INFO, &a);
	fz_rc(t, map ? OP_MMAP : OP_BO_INFO, rc, E_HANDLE, 0);
	if (!rc && map && a.mmap_offset) {
		size_t len = 4096 * (1 + rnd(t, 2));
		volatile uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd,
					   (off_t)a.mmap_offset);

		if (p != MAP_FAILED) {
			if (a.size >= len)
				p[len - 1] = p[0];	/* touch inside only */
			munmap((void *)p, len);
		}
	}
}

static void op_bo_read(struct fz_thr *t, struct fz_slot *s)
{
	static uint8_t buf[8192];
	struct drm_kllm_bo_read a = { .handle = rnd(t, 2) ? s->w_bo : pick_bo(t, s),
				      .offset = rnd(t, 4096), .size = 1 + rnd(t, 4096),
				      .data_ptr = (uintptr_t)buf };
	int rc;

	if (chance(t, 30)) {
		switch (rnd(t, 5)) {
		case 0: a.offset = rnd_u64_edge(t); break;
		case 1: a.size = rnd_u64_edge(t); break;
		case 2: a.data_ptr = rnd(t, 2) ? (uintptr_t)t->z->hole : (uintptr_t)t->z->up_ro; break;
		case 3: a.flags = 1u << rnd(t, 32); break;
		default: a.reserved[rnd(t, 2)] = 1; break;
		}
	}
	snprintf(t->desc, sizeof(t->desc), "handle %u off %llu size %llu", a.handle,
		 (unsigned long long)a.offset, (unsigned long long)a.size);
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_BO_READ, &a);
	fz_rc(t, OP_BO_READ, rc, E_HANDLE, 0);
}

static void op_close(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	struct drm_gem_close a = { .handle = pick_bo(t, s) };
	int rc;

	if (chance(t, 5))
		a.pad = 1;
	snprintf(t->desc, sizeof(t->desc), "handle %u", a.handle);
	rc = fz_ioctl(s->fd, DRM_IOCTL_GEM_CLOSE, &a);
	fz_rc(t, OP_CLOSE, rc, E_CLOSE, 0);
	if (!rc) {
		pthread_mutex_lock(&z->mu);
		lst_del32(s->bo, &s->n_bo, a.handle);
		z->stale_bo = a.handle;
		if (a.handle == s->out_bo)	/* no valid job on this file any more */
			s->out_bo = 0;
		for (int k = 0; k < KJ_SEQS; k++)
			if (s->kv_bo[k] == a.handle)
				s->kv_bo[k] = 0;
		pthread_mutex_unlock(&z->mu);
	}
}

static void op_misc(struct fz_thr *t, struct fz_slot *s, int op)
{
	int rc;

	if (op == OP_INFO) {
		struct drm_kllm_get_info a = { 0 };

		if (chance(t, 20))
			a.flags = 1, a.reserved[rnd(t, 4)] = rnd(t, 2);
		snprintf(t->desc, sizeof(t->desc), "flags %#x", a.flags);
		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_GET_INFO, &a);
		fz_rc(t, op, rc, E_INFO, !a.flags);
	} else if (op == OP_STATS) {
		struct drm_kllm_get_stats a = { 0 };

		if (chance(t, 20))
			a.reserved2[rnd(t, 4)] = 1;
		snprintf(t->desc, sizeof(t->desc), "stats");
		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_GET_STATS, &a);
		fz_rc(t, op, rc, E_INFO, 0);
	} else if (op == OP_CTX) {
		struct drm_kllm_ctx_set a = { .param = KLLM_CTX_PRIORITY, .value = 2 + rnd(t, 2) };

		if (chance(t, 40)) {
			switch (rnd(t, 4)) {
			case 0: a.param = (uint32_t)rnd_u64_edge(t); break;
			case 1: a.value = rnd(t, 2) ? 1 : rnd_u64_edge(t); break;
			case 2: a.flags = 1; break;
			default: a.reserved[1] = 1; break;
			}
		}
		snprintf(t->desc, sizeof(t->desc), "param %u value %llu", a.param,
			 (unsigned long long)a.value);
		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_CTX_SET, &a);
		fz_rc(t, op, rc, E_CTX, 0);
	} else {	/* OP_BADNR: unknown numbers, and known ones of the wrong size */
		uint8_t arg[256] = { 0 };
		unsigned int nr = rnd(t, 2) ? DRM_KLLM_KV_STATS + 1 + rnd(t, 0x30) :
				  rnd(t, DRM_KLLM_KV_STATS + 1);
		unsigned long req = rnd(t, 2) ? DRM_IOWR(DRM_COMMAND_BASE + nr, uint8_t[8]) :
				    DRM_IOWR(DRM_COMMAND_BASE + nr, uint8_t[256]);

		snprintf(t->desc, sizeof(t->desc), "ioctl nr %#x size %u", nr, (unsigned int)_IOC_SIZE(req));
		rc = fz_ioctl(s->fd, req, arg);
		fz_rc(t, op, rc, E_BADNR, 0);
	}
}

/*
 * The KV sequence ioctls (1.3) on the slot's sequences of its paged toy
 * (racing its jobs: EBUSY), its other programs (contiguous: EINVAL) and
 * made-up, stale and extreme handles, counts and pointers.  Each must
 * answer one of E_KV.
 */
static void op_kv(struct fz_thr *t, struct fz_slot *s)
{
	int img, rc = 0;
	uint32_t h = chance(t, 70) ? s->kv_seq[rnd(t, KJ_SEQS)] :
		     chance(t, 50) ? 1 + rnd(t, 8) : (uint32_t)rnd_u64_edge(t);
	uint32_t prog = pick_prog(t, s, &img);
	int32_t tok[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	switch (rnd(t, 6)) {
	case 0: {
		struct drm_kllm_kv_seq_create a = { .prog = chance(t, 80) ? prog : h,
						    .flags = chance(t, 10) };

		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &a);
		break;
	}
	case 1: {
		struct drm_kllm_kv_seq_free a = { .handle = h };

		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_KV_SEQ_FREE, &a);
		break;
	}
	case 2: {
		struct drm_kllm_kv_seq_fork a = { .dst = h, .src = s->kv_seq[rnd(t, KJ_SEQS)],
						  .n_pos = chance(t, 70) ? rnd(t, 70) :
							   (uint32_t)rnd_u64_edge(t) };

		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_KV_SEQ_FORK, &a);
		break;
	}
	case 3: {
		struct drm_kllm_kv_seq_truncate a = { .handle = h, .n_pos = rnd(t, 64),
						      .pad = chance(t, 10) };

		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_KV_SEQ_TRUNCATE, &a);
		break;
	}
	case 4: {
		struct drm_kllm_kv_seq_lookup a = {
			.handle = h, .n_tokens = chance(t, 70) ? 1 + rnd(t, 8) :
				  (uint32_t)rnd_u64_edge(t),
			.tokens_ptr = chance(t, 70) ? (uintptr_t)tok : rnd_u64_edge(t) };

		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_KV_SEQ_LOOKUP, &a);
		break;
	}
	default: {
		struct drm_kllm_kv_stats a = { .prog = chance(t, 80) ? prog : h };

		if (chance(t, 10))
			a.reserved[rnd(t, 4)] = 1;
		rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_KV_STATS, &a);
		break;
	}
	}
	snprintf(t->desc, sizeof(t->desc), "kv handle %u prog %u", h, prog);
	fz_rc(t, OP_KV, rc, E_KV, 0);
}

/* A child with its own file, ring and inherited ones, killed mid-job. */
static void op_kill(struct fz_thr *t, struct fz_slot *s)
{
	unsigned int delay = rnd(t, 4000), n = 1 + rnd(t, 16);
	int status;
	pid_t pid;

	snprintf(t->desc, sizeof(t->desc), "child with %u jobs killed after %u us", n, delay);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		struct io_uring ring;
		int ring_ok = !io_uring_queue_init(32, &ring, KLLM_RING_SETUP_FLAGS), valid;
		int ii;

		g_trace = 0;
		for (unsigned int k = 0; k < n; k++) {
			uint32_t prog = pick_prog(t, s, &ii);
			struct drm_kllm_job_submit a = { .job = job_build(t, s, prog, ii, 0, &valid) };
			struct io_uring_sqe *sqe;

			if (ring_ok && (k & 1) && (sqe = io_uring_get_sqe(&ring))) {
				kj_prep_uring(sqe, s->fd, &a.job, k);
				io_uring_submit(&ring);
			} else {
				ioctl(s->fd, DRM_IOCTL_KLLM_JOB_SUBMIT, &a);
			}
		}
		for (;;)
			pause();
	}
	usleep(delay);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	__atomic_fetch_add(&sh->kills, 1, __ATOMIC_RELAXED);
	fz_rc(t, OP_KILL, WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -EINTR,
	      E_INFO, 0);
}

/* ------------------------------------------------------------ the loop */

static unsigned int g_weight[OP_COUNT];

static int pick_op(struct fz_thr *t)
{
	unsigned int sum = 0, x;

	for (int i = 0; i < OP_COUNT; i++)
		sum += g_weight[i];
	x = rnd(t, sum);
	for (int i = 0; i < OP_COUNT; i++) {
		if (x < g_weight[i])
			return i;
		x -= g_weight[i];
	}
	return OP_STATS;
}

static void *fz_thread(void *arg)
{
	struct fz_thr *t = arg;
	struct fz *z = t->z;

	while (!sh->stop) {
		uint64_t k = __atomic_fetch_add(&z->budget, -1ull, __ATOMIC_RELAXED);
		struct fz_slot *s = &z->s[rnd(t, FZ_SLOTS)];
		int op = pick_op(t);

		if (!k || k > (1ull << 62))
			break;
		t->n++;
		__atomic_fetch_add(&sh->calls, 1, __ATOMIC_RELAXED);
		if (!s->open) {
			slot_open(t, s);
			continue;
		}
		switch (op) {
		case OP_INFO: case OP_STATS: case OP_CTX: case OP_BADNR: op_misc(t, s, op); break;
		case OP_BO_CREATE: op_bo_create(t, s); break;
		case OP_IMPORT: op_import(t, s); break;
		case OP_USERPTR: op_userptr(t, s); break;
		case OP_BO_INFO: op_bo_info(t, s, 0); break;
		case OP_MMAP: op_bo_info(t, s, 1); break;
		case OP_BO_READ: op_bo_read(t, s); break;
		case OP_CLOSE: op_close(t, s); break;
		case OP_PROG_CREATE: op_prog_create(t, s); break;
		case OP_PROG_DESTROY: op_prog_destroy(t, s); break;
		case OP_SUBMIT: op_submit(t, s); break;
		case OP_WAIT: op_wait(t, s); break;
		case OP_URING: op_uring(t, s); break;
		case OP_REAP: op_reap(t, s, chance(t, 20)); break;
		case OP_SLOT: slot_close(t, s); break;
		case OP_KILL: op_kill(t, s); break;
		case OP_KV: op_kv(t, s); break;
		}
	}
	return NULL;
}

#endif /* KLLM_VM_FUZZ_OPS_H */
