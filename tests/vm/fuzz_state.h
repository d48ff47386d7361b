/* SPDX-License-Identifier: MIT */
/*
 * fuzz_state.h - guest_fuzz's state (included once, by guest_fuzz.c): the
 * handles, programs and jobs each process remembers per open file, files
 * opened with a working set and closed with work in flight, and the
 * program images (the toy model, variants of it, byte mutants).
 */
#ifndef KLLM_VM_FUZZ_STATE_H
#define KLLM_VM_FUZZ_STATE_H

/* ------------------------------------------------------------ state */

static void lst_add32(uint32_t *a, unsigned int *n, unsigned int cap, uint32_t v)
{
	if (*n < cap)
		a[(*n)++] = v;
	else
		a[v % cap] = v;
}

static void lst_del32(uint32_t *a, unsigned int *n, uint32_t v)
{
	for (unsigned int i = 0; i < *n; i++)
		if (a[i] == v) {
			a[i] = a[--*n];
			return;
		}
}

/* A random handle: mostly one the slot knows, sometimes anything. */
static uint32_t pick_bo(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	uint32_t h;

	switch (rnd(t, 10)) {
	case 0: return (uint32_t)rnd_u64_edge(t);
	case 1: return z->stale_bo;
	case 2: return z->s[rnd(t, FZ_SLOTS)].out_bo;	/* maybe another file's */
	default:
		pthread_mutex_lock(&z->mu);
		h = s->n_bo ? s->bo[rnd(t, s->n_bo)] : s->out_bo;
		pthread_mutex_unlock(&z->mu);
		return h;
	}
}

static uint32_t pick_prog(struct fz_thr *t, struct fz_slot *s, int *img)
{
	struct fz *z = t->z;
	uint32_t h = 0;

	*img = 0;
	pthread_mutex_lock(&z->mu);
	if (s->n_prog) {
		unsigned int i = rnd(t, s->n_prog);

		h = s->prog[i];
		*img = (int)s->prog_img[i];
	}
	pthread_mutex_unlock(&z->mu);
	return h;
}

/*
 * The toy with paged KV (1.3): its KV buffer (TM_CTX = 16 rows, one block)
 * becomes a pool of blocks of 16 positions, 64 positions a sequence.
 */
static int img_paged(struct fz *z, const struct fz_img *src)
{
	uint8_t *img;
	struct kllm_prog_buffer *b;

	if (z->n_img >= FZ_NIMG)
		return -1;
	img = kt_alloc(src->size);
	memcpy(img, src->img, src->size);
	b = kb_buf(img, g_m.b_kv);
	b->flags = KLLM_PROG_BUF_PAGED;
	b->reserved[0] = 4;
	b->reserved[1] = 4 * TM_CTX;
	z->img[z->n_img] = (struct fz_img){ .img = img, .size = src->size };
	return (int)z->n_img++;
}

/* A slot's paged program and its sequences (when the image is valid). */
static void slot_paged(struct fz *z, struct fz_slot *s, int fd)
{
	struct drm_kllm_bind wb = { .handle = s->w_bo };
	struct drm_kllm_prog_create pc;

	if (z->paged_img < 0 || !z->img[z->paged_img].pi.n_buffers || !s->w_bo ||
	    s->n_prog >= FZ_NP)
		return;
	pc = (struct drm_kllm_prog_create){ .prog_ptr = (uintptr_t)z->img[z->paged_img].img,
		.prog_size = (uint32_t)z->img[z->paged_img].size, .binds_ptr = (uintptr_t)&wb,
		.n_binds = 1, .kv_blocks = 512 };
	if (fz_ioctl(fd, DRM_IOCTL_KLLM_PROG_CREATE, &pc))
		return;
	s->prog[s->n_prog] = pc.handle;
	s->prog_img[s->n_prog++] = (uint32_t)z->paged_img;
	for (int k = 0; k < KJ_SEQS; k++) {
		struct drm_kllm_kv_seq_create c = { .prog = pc.handle };

		if (!fz_ioctl(fd, DRM_IOCTL_KLLM_KV_SEQ_CREATE, &c))
			s->kv_seq[k] = c.handle;
	}
}

/* Open slot @i: a file with the weights pinned, the toy program, outputs,
 * KV caches, a tiny buffer, userptr pins and (half the time) a ring. */
static void slot_open(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	struct drm_kllm_bind wb;
	struct drm_kllm_prog_create pc;
	struct io_uring ring;
	int fd = kd_open(), ring_ok;
	uint32_t h;

	snprintf(t->desc, sizeof(t->desc), "open slot fd %d", s->fd);
	fz_rc(t, OP_SLOT, fd < 0 ? fd : 0, E_INFO, 1);
	if (fd < 0)
		return;
	pthread_mutex_lock(&z->mu);
	if (s->open) {		/* another thread was first */
		pthread_mutex_unlock(&z->mu);
		close(fd);
		return;
	}
	dup2(fd, s->fd);
	close(fd);
	fd = s->fd;
	s->n_bo = s->n_prog = s->n_job = 0;
	s->w_bo = s->out_bo = s->tiny_bo = s->up_bo = s->up_ro_bo = 0;
	memset(s->kv_bo, 0, sizeof(s->kv_bo));
	memset(s->kv_seq, 0, sizeof(s->kv_seq));
	if (!kd_import(fd, z->wfd, 0, z->m->wsize, &h)) {
		s->w_bo = h;
		lst_add32(s->bo, &s->n_bo, FZ_NH, h);
	}
	if (!kd_bo_create(fd, KJ_OUT_BYTES, &h)) {
		s->out_bo = h;
		lst_add32(s->bo, &s->n_bo, FZ_NH, h);
	}
	for (int k = 0; k < KJ_SEQS; k++)
		if (!kd_bo_create(fd, z->m->kv_bytes, &h)) {
			s->kv_bo[k] = h;
			lst_add32(s->bo, &s->n_bo, FZ_NH, h);
		}
	if (!kd_bo_create(fd, 1, &h)) {
		s->tiny_bo = h;
		lst_add32(s->bo, &s->n_bo, FZ_NH, h);
	}
	if (!kd_userptr(fd, z->up, 4 * 4096, KLLM_USERPTR_WRITABLE, &h)) {
		s->up_bo = h;
		lst_add32(s->bo, &s->n_bo, FZ_NH, h);
	}
	if (!kd_userptr(fd, z->up + 4 * 4096, 4096, 0, &h)) {
		s->up_ro_bo = h;
		lst_add32(s->bo, &s->n_bo, FZ_NH, h);
	}
	wb = (struct drm_kllm_bind){ .handle = s->w_bo };
	pc = (struct drm_kllm_prog_create){ .prog_ptr = (uintptr_t)z->img[0].img,
		.prog_size = (uint32_t)z->img[0].size, .binds_ptr = (uintptr_t)&wb, .n_binds = 1 };
	if (s->w_bo && !fz_ioctl(fd, DRM_IOCTL_KLLM_PROG_CREATE, &pc)) {
		s->prog[0] = pc.handle;
		s->prog_img[0] = 0;
		s->n_prog = 1;
	}
	slot_paged(z, s, fd);
	s->open = 1;
	pthread_mutex_unlock(&z->mu);
	/* the ring: under its own lock (io_uring_queue_init is slowish) */
	ring_ok = chance(t, 60) && !io_uring_queue_init(64, &ring, KLLM_RING_SETUP_FLAGS);
	pthread_mutex_lock(&s->ring_mu);
	if (ring_ok && !s->ring_on) {
		s->ring = ring;
		s->ring_on = 1;
	} else if (ring_ok) {
		io_uring_queue_exit(&ring);
	}
	pthread_mutex_unlock(&s->ring_mu);
}

/* Close a slot's file whatever it has in flight; maybe its ring first. */
static void slot_close(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;

	pthread_mutex_lock(&z->mu);
	if (!s->open) {
		pthread_mutex_unlock(&z->mu);
		return;
	}
	s->open = 0;
	s->n_bo = s->n_prog = s->n_job = 0;
	snprintf(t->desc, sizeof(t->desc), "close slot fd %d", s->fd);
	if (chance(t, 50)) {	/* ring torn down with commands parked, then the file */
		pthread_mutex_lock(&s->ring_mu);
		if (s->ring_on)
			io_uring_queue_exit(&s->ring);
		s->ring_on = 0;
		pthread_mutex_unlock(&s->ring_mu);
	}
	dup2(z->nullfd, s->fd);	/* the file goes (its last reference), the number stays */
	pthread_mutex_unlock(&z->mu);
	fz_rc(t, OP_SLOT, 0, E_INFO, 0);
}

/* ------------------------------------------------------------ programs */

/* Append one buffer and one tensor on it to image @src (ids unchanged). */
static int img_extend(struct fz *z, const struct fz_img *src, uint32_t kind, uint32_t input,
		      uint64_t bsize, uint64_t stride, uint32_t ne0, uint32_t tflags)
{
	const struct kllm_prog_header *h = (const void *)src->img;
	size_t hb = sizeof(*h) + h->n_buffers * sizeof(struct kllm_prog_buffer);
	size_t tb = h->n_tensors * sizeof(struct kllm_prog_tensor);
	size_t size = src->size + sizeof(struct kllm_prog_buffer) + sizeof(struct kllm_prog_tensor);
	uint8_t *img = kt_alloc(size), *p = img;
	struct kllm_prog_buffer b = { .kind = kind, .size = bsize, .input = input };
	struct kllm_prog_tensor tn = { .buffer = h->n_buffers, .type = KLLM_PROG_TYPE_F32,
		.row_stride = stride, .ne = { ne0, tflags ? 0 : 1, 1, 1 }, .flags = tflags };

	if (z->n_img >= FZ_NIMG)
		return -1;
	memcpy(p, src->img, hb);
	p += hb;
	memcpy(p, &b, sizeof(b));
	p += sizeof(b);
	memcpy(p, src->img + hb, tb);
	p += tb;
	memcpy(p, &tn, sizeof(tn));
	p += sizeof(tn);
	memcpy(p, src->img + hb + tb, src->size - hb - tb);
	kb_hdr(img)->n_buffers++;
	kb_hdr(img)->n_tensors++;
	kb_hdr(img)->total_size = (uint32_t)size;
	z->img[z->n_img] = (struct fz_img){ .img = img, .size = size };
	return (int)z->n_img++;
}

/* Check an image in process; keep it if the validator takes it. */
static void img_learn(struct fz *z, int i)
{
	struct fz_img *im = &z->img[i];
	struct kllm_prog_err err;

	if (kllm_prog_check(im->img, im->size, &im->pi, &err)) {
		char why[128];

		kllm_prog_err_format(&err, why, sizeof(why));
		if (z->worker == 0 && i < 7)
			printf("vm: fuzz: image %d refused in process: %s\n", i, why);
		im->pi.n_buffers = 0;	/* refused: still sent, to be refused */
		return;
	}
	for (uint32_t b = 0; b < im->pi.n_buffers; b++) {
		struct kllm_prog_buffer rec;

		memcpy(&rec, im->pi.base + im->pi.buffers_off + (uint64_t)b * im->pi.buffer_size,
		       sizeof(rec));
		im->n_out += rec.kind == KLLM_PROG_BUF_OUTPUT;
		im->n_w += rec.kind == KLLM_PROG_BUF_WEIGHTS;
	}
}

/* The images: the toy model, unused OUTPUT tensors of odd strides (issue
 * 14 finding 1), a second ACTIVATIONS buffer (2), an extra INPUT. */
static void img_setup(struct fz *z, struct kt_rng *r)
{
	z->img[0] = (struct fz_img){ .img = g_m.img, .size = g_m.size };
	z->img[1] = (struct fz_img){ .img = g_small.img, .size = g_small.size };
	z->n_img = 2;
	z->paged_img = img_paged(z, &z->img[0]);
	/* declared big, rows far apart, used by no op; jobs bind a tiny BO */
	img_extend(z, &z->img[0], KLLM_PROG_BUF_OUTPUT, 0, 65536ull * (TM_MB - 1) + 256, 65536, 64,
		   KLLM_PROG_T_ROWS_OUTPUTS);
	img_extend(z, &z->img[0], KLLM_PROG_BUF_OUTPUT, 0, 2048ull * (TM_MB - 1) + 64, 2048, 16,
		   KLLM_PROG_T_ROWS_TOKENS);
	/* a second arena, smaller than the first */
	img_extend(z, &z->img[0], KLLM_PROG_BUF_ACTIVATIONS, 0, 64, 64, 16, 0);
	img_extend(z, &z->img[1], KLLM_PROG_BUF_ACTIVATIONS, 0, 4096ull * TM_MB, 4096, 1024,
		   KLLM_PROG_T_ROWS_TOKENS);
	img_extend(z, &z->img[0], KLLM_PROG_BUF_INPUT, KLLM_PROG_IN_OUT_ROWS, 4 * TM_MB, 4, 1,
		   KLLM_PROG_T_ROWS_OUTPUTS);
	while (z->n_img < FZ_NIMG) {	/* byte mutants of the others */
		const struct fz_img *src = &z->img[kt_rng_u64(r) % z->n_img];
		uint8_t *img = kt_alloc(src->size);
		uint32_t n = 1 + (uint32_t)(kt_rng_u64(r) % 3);

		memcpy(img, src->img, src->size);
		for (uint32_t k = 0; k < n; k++) {
			uint64_t at = sizeof(struct kllm_prog_header) +
				      kt_rng_u64(r) % (src->size - sizeof(struct kllm_prog_header));
			static const uint32_t vals[] = { 0, 1, 2, 3, 8, 32, 64, 0x7fffffffu,
							 0xffffffffu };

			if (kt_rng_u64(r) % 2)
				img[at] ^= (uint8_t)(1u << (kt_rng_u64(r) % 8));
			else if ((at & ~3ull) + 4 <= src->size)
				memcpy(img + (at & ~3ull), &vals[kt_rng_u64(r) % 9], 4);
		}
		z->img[z->n_img++] = (struct fz_img){ .img = img, .size = src->size };
	}
	for (unsigned int i = 0; i < z->n_img; i++)
		img_learn(z, (int)i);
}

static void op_prog_create(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	struct drm_kllm_bind wb[4];
	char log[96];
	int ii = chance(t, 50) ? 0 : (int)rnd(t, z->n_img), mut = chance(t, 35), rc;
	struct fz_img *im = &z->img[ii];
	struct drm_kllm_prog_create a = {
		.prog_ptr = (uintptr_t)im->img, .prog_size = (uint32_t)im->size,
		.binds_ptr = (uintptr_t)wb, .n_binds = 1, .handle = KD_SENTINEL,
		.log_ptr = (uintptr_t)log, .log_size = sizeof(log),
		.kv_blocks = ii == z->paged_img ? 512 : 0,
	};

	for (int k = 0; k < 4; k++)
		wb[k] = (struct drm_kllm_bind){ .handle = s->w_bo };
	if (mut) {
		switch (rnd(t, 9)) {
		case 0: a.prog_size = (uint32_t)rnd_u64_edge(t); break;
		case 1: a.prog_ptr = chance(t, 50) ? (uintptr_t)z->hole : (uintptr_t)z->short_end; break;
		case 2: a.n_binds = (uint32_t)rnd_u64_edge(t) % 6; break;
		case 3: wb[0].handle = pick_bo(t, s); break;
		case 4: wb[0].offset = rnd_u64_edge(t); break;
		case 5: wb[0].flags = 1u << rnd(t, 32); break;
		case 6: a.flags = 1u << rnd(t, 32); break;
		case 7: a.pad = 1; a.reserved[rnd(t, 2)] = rnd_u64_edge(t) | 1; break;
		default: a.log_ptr = (uintptr_t)z->hole; break;
		}
	}
	snprintf(t->desc, sizeof(t->desc), "img %d size %u n_binds %u w %u+%llu%s", ii,
		 a.prog_size, a.n_binds, wb[0].handle, (unsigned long long)wb[0].offset,
		 mut ? " mutated" : "");
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_PROG_CREATE, &a);
	fz_rc(t, OP_PROG_CREATE, rc, E_PCREATE, 0);
	if (rc && a.handle != KD_SENTINEL)
		fz_bad(t, "PROG_CREATE failed (%d) but wrote handle %u", rc, a.handle);
	if (!rc) {
		pthread_mutex_lock(&z->mu);
		if (s->n_prog < FZ_NP) {
			s->prog[s->n_prog] = a.handle;
			s->prog_img[s->n_prog++] = (uint32_t)ii;
			pthread_mutex_unlock(&z->mu);
		} else {	/* forget it: the file's close frees it */
			pthread_mutex_unlock(&z->mu);
		}
	}
}

static void op_prog_destroy(struct fz_thr *t, struct fz_slot *s)
{
	struct fz *z = t->z;
	int img, rc;
	struct drm_kllm_prog_destroy a = { .handle = pick_prog(t, s, &img) };

	if (chance(t, 10))
		a.handle = chance(t, 50) ? z->stale_prog : (uint32_t)rnd_u64_edge(t);
	if (chance(t, 10))
		a.flags = 1u << rnd(t, 32);
	snprintf(t->desc, sizeof(t->desc), "prog %u flags %#x", a.handle, a.flags);
	rc = fz_ioctl(s->fd, DRM_IOCTL_KLLM_PROG_DESTROY, &a);
	fz_rc(t, OP_PROG_DESTROY, rc, E_PDESTROY, 0);
	if (!rc) {
		pthread_mutex_lock(&z->mu);
		for (unsigned int i = 0; i < s->n_prog; i++)
			if (s->prog[i] == a.handle) {
				s->prog[i] = s->prog[--s->n_prog];
				s->prog_img[i] = s->prog_img[s->n_prog];
				break;
			}
		z->stale_prog = a.handle;
		pthread_mutex_unlock(&z->mu);
	}
}

#endif /* KLLM_VM_FUZZ_STATE_H */
