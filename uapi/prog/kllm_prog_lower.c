// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kllm_prog_lower.c - op records of a checked program + one job's memory
 * and batch -> struct kk_op with real pointers.  Integers only.
 *
 * The validator proved every tensor's range at max_batch rows inside its
 * buffer's declared size, and that each op's shapes match its parameters.
 * Here every pointer is formed from the memory bound for this job and its
 * range re-checked at this job's row counts against the bound size: the
 * OUTPUT memory of a small job may be smaller than declared, and a second
 * check is cheap next to the op it guards.
 *
 * Paged KV (info->paged): a job binds a pool of blocks per KV buffer and a
 * block table per sequence; kllm_prog_job_init checks each pool (aligned,
 * whole blocks) and every id of every table against the pools, and a KV
 * op's struct kk_kv_seq points at pool block 0 plus the cache tensor's
 * offset in a block, which the kernels index through the table.
 */
#include "kllm_prog_int.h"
#include "kllm_prog_lower.h"

_Static_assert(KLLM_PROG_MATMUL_ACCUMULATE == KK_MATMUL_ACCUMULATE, "matmul flags");

/* What the validator's pointer-less job points at; never dereferenced.
 * Also a one-entry seqs array (lower_seqs): all zero, a contiguous one. */
static const kllm_u64 kp_dummy[8] __attribute__((aligned(64)));
_Static_assert(sizeof(struct kk_kv_seq) <= sizeof(kp_dummy), "kp_dummy as one kk_kv_seq");

static int fail_job(struct kllm_prog_err *err, kllm_s32 buffer, const char *reason)
{
	return kp_fail(err, -1, 0, "job", -1, buffer, reason);
}

static int aligned(const void *p, kllm_u64 a)
{
	return !((kllm_u64)(unsigned long)p & (a - 1));
}

static const kllm_s32 *input_array(const struct kllm_prog_batch *b, kllm_u32 input)
{
	switch (input) {
	case KLLM_PROG_IN_TOKENS:
		return b->tokens;
	case KLLM_PROG_IN_POS:
		return b->pos;
	case KLLM_PROG_IN_SEQ:
		return b->seq;
	case KLLM_PROG_IN_OUT_ROWS:
		return b->out_rows;
	}
	return (const kllm_s32 *)0;
}

static int check_mem(const struct kllm_prog_mem *m, kllm_u64 need)
{
	if (!m->base)
		return need ? -1 : 0;
	return aligned(m->base, KLLM_PROG_BIND_ALIGN) && m->size >= need ? 0 : -1;
}

/* Blocks in a pool of blocks of @block bytes (non-zero: the validator). */
static kllm_u64 pool_blocks(const struct kllm_prog_mem *m, kllm_u64 block)
{
	return m->base ? m->size / block : 0;
}

/* A pool: aligned, whole blocks, at most KLLM_PROG_MAX_POOL_BLOCKS. */
static int check_pool(const struct kllm_prog_mem *m, kllm_u64 block)
{
	if (!m->base)
		return m->size ? -1 : 0;
	if (!aligned(m->base, KLLM_PROG_BIND_ALIGN) || m->size % block)
		return -1;
	return m->size / block <= KLLM_PROG_MAX_POOL_BLOCKS ? 0 : -1;
}

/*
 * Paged: every sequence's table fits the program (n_ids <= max_blocks,
 * ro_blocks <= n_ids) and names only blocks inside every KV buffer's
 * pool.  O(total ids); the kernels check each id again as they use it.
 */
static int check_tables(const struct kllm_prog_info *pi,
			const struct kllm_prog_batch *batch,
			struct kllm_prog_err *err)
{
	struct kllm_prog_buffer b;
	kllm_u64 n_pool = KLLM_PROG_MAX_POOL_BLOCKS, n;
	kllm_u32 id, s, i;

	if (!pi->paged || !batch->n_seqs)
		return 0;
	for (id = 0; id < pi->n_buffers; id++) {
		kp_read_buffer(pi, id, &b);
		if (b.kind != KLLM_PROG_BUF_KV)
			continue;
		n = pool_blocks(&batch->kv_pool[pi->kv_index[id]], b.size);
		if (n < n_pool)
			n_pool = n;
	}
	for (s = 0; s < batch->n_seqs; s++) {
		const struct kllm_prog_table *t = &batch->tables[s];

		if (t->n_ids > pi->max_blocks)
			return fail_job(err, -1, "block table longer than n_ctx needs");
		if (t->ro_blocks > t->n_ids)
			return fail_job(err, -1, "block table's ro_blocks over n_ids");
		if (t->n_ids && !t->ids)
			return fail_job(err, -1, "block table without ids");
		for (i = 0; i < t->n_ids; i++)
			if (t->ids[i] >= n_pool)
				return fail_job(err, -1, "block id outside the pool");
	}
	return 0;
}

static int check_bindings(const struct kllm_prog_info *pi,
			  const struct kllm_prog_bindings *bind,
			  const struct kllm_prog_batch *batch,
			  struct kllm_prog_err *err)
{
	struct kllm_prog_buffer b;
	kllm_u32 id, s;

	for (id = 0; id < pi->n_buffers; id++) {
		const struct kllm_prog_mem *m = &bind->buf[id];

		kp_read_buffer(pi, id, &b);
		if (b.kind == KLLM_PROG_BUF_WEIGHTS || b.kind == KLLM_PROG_BUF_ACTIVATIONS) {
			if (check_mem(m, b.size))
				return fail_job(err, (kllm_s32)id,
						"memory missing, misaligned or smaller than buffer");
		} else if (b.kind == KLLM_PROG_BUF_OUTPUT) {
			if (check_mem(m, 0))
				return fail_job(err, (kllm_s32)id, "misaligned memory for buffer");
		} else if (b.kind == KLLM_PROG_BUF_KV && pi->paged) {
			if (batch->n_seqs && check_pool(&batch->kv_pool[pi->kv_index[id]], b.size))
				return fail_job(err, (kllm_s32)id,
						"pool misaligned, not whole blocks or too large for buffer");
		} else if (b.kind == KLLM_PROG_BUF_KV) {
			for (s = 0; s < batch->n_seqs; s++) {
				const struct kllm_prog_mem *kv =
					&batch->kv[(kllm_u64)s * pi->n_kv + pi->kv_index[id]];

				if (kv->base && check_mem(kv, b.size))
					return fail_job(err, (kllm_s32)id,
							"sequence memory misaligned or smaller than buffer");
			}
		}
	}
	return 0;
}

/*
 * Every tensor of every buffer bound for the whole job (WEIGHTS,
 * ACTIVATIONS, OUTPUT), whether or not an op uses it, at this job's row
 * counts: the stager copies every OUTPUT tensor's rows (kllm_slice.c), so
 * an OUTPUT tensor no op names must fit the job's memory as well.
 */
static int check_tensor_extents(const struct kllm_prog_info *pi,
				const struct kllm_prog_bindings *bind,
				const struct kllm_prog_batch *batch,
				struct kllm_prog_err *err)
{
	struct kp_tensor t;
	kllm_u64 end;
	kllm_u32 id;

	for (id = 0; id < pi->n_tensors; id++) {
		const struct kllm_prog_mem *m;

		kp_tensor_get(pi, id, &t);
		if (t.buf_kind != KLLM_PROG_BUF_WEIGHTS &&
		    t.buf_kind != KLLM_PROG_BUF_ACTIVATIONS &&
		    t.buf_kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		m = &bind->buf[t.r.buffer];
		if (kp_tensor_end(&t, kp_rows_at(&t, batch->n_tokens, batch->n_outputs), &end) ||
		    end > m->size || (end && !m->base))
			return kp_fail(err, -1, 0, "job", (kllm_s32)id, (kllm_s32)t.r.buffer,
				       "ends past the memory bound for buffer");
	}
	return 0;
}

/*
 * Output rows: each names one of the job's tokens, and at most once (a
 * row output twice would be one job whole but two outputs of one slice
 * when chunked).  Without an OUT_ROWS input there are none.
 */
static int check_out_rows(const struct kllm_prog_info *pi,
			  const struct kllm_prog_batch *batch,
			  struct kllm_prog_err *err)
{
	kllm_u64 seen[KLLM_PROG_MAX_BATCH / 64];
	kllm_u32 o, r;

	if (!(pi->inputs & (1u << KLLM_PROG_IN_OUT_ROWS)))
		return batch->n_outputs ?
			fail_job(err, -1, "outputs asked of a program without an output-rows input") : 0;
	if (!batch->n_outputs)
		return 0;
	if (!batch->out_rows)
		return fail_job(err, -1, "an input array the program reads is missing");
	__builtin_memset(seen, 0, sizeof(seen));
	for (o = 0; o < batch->n_outputs; o++) {
		if (batch->out_rows[o] < 0 || (kllm_u32)batch->out_rows[o] >= batch->n_tokens)
			return fail_job(err, -1, "output row out of range");
		r = (kllm_u32)batch->out_rows[o];
		if (seen[r / 64] & (1ull << (r % 64)))
			return fail_job(err, -1, "output row repeated");
		seen[r / 64] |= 1ull << (r % 64);
	}
	return 0;
}

int kllm_prog_job_init(struct kllm_prog_job *job, const struct kllm_prog_info *info,
		       const struct kllm_prog_bindings *bind,
		       const struct kllm_prog_batch *batch, struct kk_kv_seq *seqs,
		       struct kllm_prog_err *err)
{
	kllm_u32 in;

	if (!job || !info || !bind || !batch || !bind->buf)
		return fail_job(err, -1, "missing program, bindings or batch");
	if (!batch->n_tokens || batch->n_tokens > info->max_batch)
		return fail_job(err, -1, "n_tokens is 0 or over max_batch");
	if (batch->n_outputs > batch->n_tokens)
		return fail_job(err, -1, "n_outputs over n_tokens");
	if (batch->n_seqs > KLLM_PROG_MAX_SEQS)
		return fail_job(err, -1, "n_seqs over the limit");
	if (batch->n_seqs && ((info->n_kv && !info->paged && !batch->kv) || !seqs))
		return fail_job(err, -1, "sequences without KV memory or storage");
	if (batch->n_seqs && info->paged && (!batch->kv_pool || !batch->tables))
		return fail_job(err, -1, "paged sequences without pools or block tables");
	for (in = KLLM_PROG_IN_TOKENS; in <= KLLM_PROG_IN_OUT_ROWS; in++) {
		if (!(info->inputs & (1u << in)) || input_array(batch, in))
			continue;
		if (in != KLLM_PROG_IN_OUT_ROWS || batch->n_outputs)
			return fail_job(err, -1, "an input array the program reads is missing");
	}
	if (bind->scratch && !aligned(bind->scratch, 64))
		return fail_job(err, -1, "scratch misaligned");
	if (check_out_rows(info, batch, err) || check_bindings(info, bind, batch, err) ||
	    check_tables(info, batch, err) || check_tensor_extents(info, bind, batch, err))
		return -KLLM_PROG_EINVAL;
	job->info = info;
	job->bind = bind;
	job->batch = batch;
	job->seqs = seqs;
	job->dummy = 0;
	job->pad = 0;
	return 0;
}

/* ------------------------------------------------------------------ */

/* The op being lowered. */
struct kp_lower {
	const struct kllm_prog_job *job;
	struct kllm_prog_err *err;
	struct kllm_prog_op op;
	kllm_u32 index;
	kllm_u32 n_tokens, n_outputs;
	struct kp_tensor t[KLLM_PROG_OP_SLOTS];
	kllm_u32 rows[KLLM_PROG_OP_SLOTS];	/* at this job */
	void *p[KLLM_PROG_OP_SLOTS];		/* row 0 of each present slot */
};

static int fail_lower(const struct kp_lower *l, kllm_u32 slot, const char *reason)
{
	return kp_fail(l->err, (kllm_s32)l->index, l->op.kind,
		       kp_slot_name(l->op.kind, slot), (kllm_s32)l->op.t[slot],
		       (kllm_s32)l->t[slot].r.buffer, reason);
}

/* Point slot @s at its memory for this job, range-checked. */
static int bind_slot(struct kp_lower *l, kllm_u32 s)
{
	const struct kp_tensor *t = &l->t[s];
	const struct kllm_prog_job *job = l->job;
	struct kllm_prog_buffer b;
	struct kllm_prog_mem m;
	kllm_u64 end;

	if (job->dummy || t->buf_kind == KLLM_PROG_BUF_KV) {
		/* KV caches are bound per sequence (lower_seqs) */
		l->p[s] = (void *)kp_dummy;
		return 0;
	}
	if (t->buf_kind == KLLM_PROG_BUF_INPUT) {
		kp_read_buffer(job->info, t->r.buffer, &b);
		m.base = (void *)input_array(job->batch, b.input);
		m.size = 4ull * (b.input == KLLM_PROG_IN_OUT_ROWS ?
				 l->n_outputs : l->n_tokens);
	} else {
		m = job->bind->buf[t->r.buffer];
	}
	if (kp_tensor_end(t, l->rows[s], &end) || end > m.size)
		return fail_lower(l, s, "ends past the memory bound for buffer");
	if (!m.base && end)
		return fail_lower(l, s, "no memory bound for buffer");
	l->p[s] = m.base ? (kllm_u8 *)m.base + t->r.offset : (void *)kp_dummy;
	return 0;
}

/*
 * Paged: sequence @s's table over the pool of the caches' buffer (K and V
 * share it: the validator).  Ids, n_ids and ro_blocks were checked by
 * kllm_prog_job_init; the kernels check each id again (kk_kv_paged_off).
 */
static void lower_paged(struct kp_lower *l, kllm_u32 s, struct kk_kv_seq *q,
		       const struct kp_tensor *kt, const struct kp_tensor *vt)
{
	const struct kllm_prog_job *job = l->job;
	const struct kllm_prog_info *pi = job->info;
	const struct kllm_prog_table *t = &job->batch->tables[s];
	const struct kllm_prog_mem *pool = &job->batch->kv_pool[pi->kv_index[kt->r.buffer]];
	struct kllm_prog_buffer b;
	kllm_u64 ctx;

	if (!t->n_ids || !pool->base)
		return;		/* unbound: the kernels skip this sequence */
	kp_read_buffer(pi, kt->r.buffer, &b);
	q->k = (kllm_u8 *)pool->base + kt->r.offset;
	q->v = (kllm_u8 *)pool->base + vt->r.offset;
	q->block_shift = pi->block_shift;
	q->blocks = t->ids;
	q->block_bytes = b.size;
	q->n_blocks = t->n_ids;
	q->n_pool = (kllm_u32)pool_blocks(pool, b.size);
	q->ro_blocks = t->ro_blocks;
	ctx = (kllm_u64)t->n_ids << pi->block_shift;
	q->ctx = ctx < pi->n_ctx ? (kllm_u32)ctx : pi->n_ctx;
}

/* Each sequence's caches for a KV op with caches in slots @ks, @vs. */
static int lower_seqs(struct kp_lower *l, kllm_u32 ks, kllm_u32 vs,
		      const struct kk_kv_seq **seqs, kllm_u32 *n_seqs)
{
	const struct kllm_prog_job *job = l->job;
	const struct kllm_prog_info *pi = job->info;
	const struct kp_tensor *kt = &l->t[ks], *vt = &l->t[vs];
	kllm_u64 kend, vend;
	kllm_u32 s;

	if (job->dummy) {
		*seqs = (const struct kk_kv_seq *)kp_dummy;
		*n_seqs = 1;
		return 0;
	}
	if (kp_tensor_end(kt, kt->rows, &kend) || kp_tensor_end(vt, vt->rows, &vend))
		return fail_lower(l, ks, "cache range overflows");
	for (s = 0; s < job->batch->n_seqs; s++) {
		const struct kllm_prog_mem *km, *vm;
		struct kk_kv_seq *q = &job->seqs[s];

		__builtin_memset(q, 0, sizeof(*q));
		if (pi->paged) {
			lower_paged(l, s, q, kt, vt);
			continue;
		}
		km = &job->batch->kv[(kllm_u64)s * pi->n_kv + pi->kv_index[kt->r.buffer]];
		vm = &job->batch->kv[(kllm_u64)s * pi->n_kv + pi->kv_index[vt->r.buffer]];
		if (!km->base || !vm->base)
			continue;	/* unbound: the kernels skip this sequence */
		if (kend > km->size || vend > vm->size)
			return fail_lower(l, ks, "cache ends past a sequence's memory for buffer");
		q->k = (kllm_u8 *)km->base + kt->r.offset;
		q->v = (kllm_u8 *)vm->base + vt->r.offset;
		q->ctx = kt->rows;
	}
	*seqs = job->seqs;
	*n_seqs = job->batch->n_seqs;
	return 0;
}

/* Floats between rows of slot @s. */
static kllm_u64 fstride(const struct kp_lower *l, kllm_u32 s)
{
	return l->t[s].r.row_stride / sizeof(float);
}

#define F(s) ((float *)l->p[s])
#define I(s) ((kllm_s32 *)l->p[s])

static void lower_matmul(const struct kp_lower *l, struct kk_matmul *mm)
{
	mm->w = l->p[0];
	mm->w_row_bytes = l->t[0].r.row_stride;
	mm->w_type = l->t[0].r.type;
	mm->k = l->t[0].r.ne[0];
	mm->n_out = l->t[0].rows;
	mm->m = l->rows[1];
	mm->x = F(1);
	mm->x_stride = fstride(l, 1);
	mm->y = F(2);
	mm->y_stride = fstride(l, 2);
	mm->flags = l->op.flags;
}

static void lower_rope(const struct kp_lower *l, struct kk_rope *r)
{
	r->x = F(0);
	r->y = F(3);
	r->x_stride = fstride(l, 0);
	r->y_stride = fstride(l, 3);
	r->pos = I(1);
	r->freq_factors = l->op.t[2] != KLLM_PROG_NONE ? F(2) : (const float *)0;
	r->rows = l->rows[0];
	r->n_head = l->op.p[0];
	r->head_dim = l->op.p[1];
	r->n_dims = l->op.p[2];
	r->mode = l->op.p[3];
	r->freq_base_bits = l->op.p[4];
	r->freq_scale_bits = l->op.p[5];
}

static void lower_binary(const struct kp_lower *l, struct kk_binary *b)
{
	b->a = F(0);
	b->b = F(1);
	b->y = F(2);
	b->a_stride = fstride(l, 0);
	/* one row of b for all rows of a: broadcast */
	b->b_stride = kp_same_rows(&l->t[1], &l->t[0]) ? fstride(l, 1) : 0;
	b->y_stride = fstride(l, 2);
	b->n = l->t[0].r.ne[0];
	b->rows = l->rows[0];
	b->fn = l->op.p[0];
}

static void lower_get_rows(const struct kp_lower *l, struct kk_get_rows *g)
{
	g->table = l->p[0];
	g->table_row_bytes = l->t[0].r.row_stride;
	g->type = l->t[0].r.type;
	g->n = l->t[0].r.ne[0];
	g->n_rows_table = l->rows[0];
	g->rows = l->rows[1];
	g->ids = I(1);
	g->y = F(2);
	g->y_stride = fstride(l, 2);
}

static int lower_kv_store(struct kp_lower *l, struct kk_kv_store *k)
{
	k->k = F(0);
	k->v = F(1);
	k->k_stride = fstride(l, 0);
	k->v_stride = fstride(l, 1);
	k->seq = I(2);
	k->pos = I(3);
	k->rows = l->rows[0];
	k->n_kv_head = l->op.p[0];
	k->head_dim = l->op.p[1];
	k->kv_type = l->t[4].r.type;
	return lower_seqs(l, 4, 5, &k->seqs, &k->n_seqs);
}

static int lower_attention(struct kp_lower *l, struct kk_attention *a)
{
	a->q = F(0);
	a->y = F(5);
	a->q_stride = fstride(l, 0);
	a->y_stride = fstride(l, 5);
	a->seq = I(1);
	a->pos = I(2);
	a->rows = l->rows[0];
	a->n_head = l->op.p[0];
	a->n_kv_head = l->op.p[1];
	a->head_dim = l->op.p[2];
	a->kv_type = l->t[3].r.type;
	a->window = l->op.p[3];
	a->scale_bits = l->op.p[4];
	a->softcap_bits = l->op.p[5];
	/* The cache's rows (paged: the program's n_ctx) bound every read
	 * and split the work into spans short enough for one kernel_fpu
	 * section. */
	a->max_ctx = l->job->info->paged ? l->job->info->n_ctx : l->t[3].rows;
	return lower_seqs(l, 3, 4, &a->seqs, &a->n_seqs);
}

/* The row-wise x -> y ops share one layout of fields but not one struct. */
static int lower_fill(struct kp_lower *l, struct kk_op *op)
{
	const kllm_u32 n = l->t[0].r.ne[0], rows = l->rows[0];

	switch (op->kind) {
	case KK_OP_MATMUL:
		lower_matmul(l, &op->matmul);
		return 0;
	case KK_OP_RMSNORM:
		op->rmsnorm = (struct kk_rmsnorm){
			.x = F(0), .y = F(2), .x_stride = fstride(l, 0),
			.y_stride = fstride(l, 2), .n = n, .rows = rows,
			.w = l->op.t[1] != KLLM_PROG_NONE ? F(1) : (const float *)0,
			.eps_bits = l->op.p[0] };
		return 0;
	case KK_OP_ROPE:
		lower_rope(l, &op->rope);
		return 0;
	case KK_OP_SOFTMAX:
		op->softmax = (struct kk_softmax){
			.x = F(0), .y = F(1), .x_stride = fstride(l, 0),
			.y_stride = fstride(l, 1), .n = n, .rows = rows,
			.scale_bits = l->op.p[0] };
		return 0;
	case KK_OP_UNARY:
		op->unary = (struct kk_unary){
			.x = F(0), .y = F(1), .x_stride = fstride(l, 0),
			.y_stride = fstride(l, 1), .n = n, .rows = rows,
			.fn = l->op.p[0] };
		return 0;
	case KK_OP_GLU:
		op->glu = (struct kk_glu){
			.gate = F(0), .up = F(1), .y = F(2),
			.gate_stride = fstride(l, 0), .up_stride = fstride(l, 1),
			.y_stride = fstride(l, 2), .n = n, .rows = rows,
			.fn = l->op.p[0] };
		return 0;
	case KK_OP_BINARY:
		lower_binary(l, &op->binary);
		return 0;
	case KK_OP_SCALE:
		op->scale = (struct kk_scale){
			.x = F(0), .y = F(1), .x_stride = fstride(l, 0),
			.y_stride = fstride(l, 1), .n = n, .rows = rows,
			.scale_bits = l->op.p[0] };
		return 0;
	case KK_OP_GET_ROWS:
		lower_get_rows(l, &op->get_rows);
		return 0;
	case KK_OP_KV_STORE:
		return lower_kv_store(l, &op->kv_store);
	case KK_OP_ATTENTION:
		return lower_attention(l, &op->attention);
	case KK_OP_ARGMAX:
		op->argmax = (struct kk_argmax){
			.x = F(0), .x_stride = fstride(l, 0), .idx = I(1),
			.n = n, .rows = rows };
		return 0;
	}
	return kp_fail(l->err, (kllm_s32)l->index, op->kind, (const char *)0,
		       -1, -1, "cannot be lowered");
}

#undef F
#undef I

static int lower(const struct kllm_prog_job *job, kllm_u32 index, struct kk_op *op,
		 struct kllm_prog_err *err)
{
	const struct kllm_prog_info *pi = job->info;
	struct kp_lower l;
	kllm_u32 s, main_slot;
	int ret;

	if (index >= pi->n_ops)
		return kp_fail(err, (kllm_s32)index, 0, (const char *)0, -1, -1,
			       "op index out of range");
	l.job = job;
	l.err = err;
	l.index = index;
	kp_read_op(pi, index, &l.op);
	l.n_tokens = job->dummy ? pi->max_batch : job->batch->n_tokens;
	l.n_outputs = job->dummy ? pi->max_batch : job->batch->n_outputs;
	for (s = 0; s < KLLM_PROG_OP_SLOTS; s++) {
		l.p[s] = (void *)0;
		l.rows[s] = 0;
		if (l.op.t[s] == KLLM_PROG_NONE)
			continue;
		kp_tensor_get(pi, l.op.t[s], &l.t[s]);
		l.rows[s] = kp_rows_at(&l.t[s], l.n_tokens, l.n_outputs);
	}
	/* the rows the op walks: its ids for get_rows, x for matmul, else slot 0 */
	main_slot = (l.op.kind == KK_OP_MATMUL || l.op.kind == KK_OP_GET_ROWS) ? 1 : 0;
	if (!l.rows[main_slot])
		return 1;
	for (s = 0; s < KLLM_PROG_OP_SLOTS; s++) {
		if (l.op.t[s] == KLLM_PROG_NONE)
			continue;
		ret = bind_slot(&l, s);
		if (ret)
			return ret;
	}
	__builtin_memset(op, 0, sizeof(*op));
	op->kind = l.op.kind;
	return lower_fill(&l, op);
}

int kllm_prog_lower_op(const struct kllm_prog_job *job, kllm_u32 index,
		       struct kk_op *op, struct kllm_prog_err *err)
{
	const struct kllm_prog_bindings *bind = job->bind;
	kllm_u64 scratch;
	int ret;

	ret = lower(job, index, op, err);
	if (ret)
		return ret;
	/* second line of defence: the kernels' own check */
	if (kk_op_check(op))
		return kp_fail(err, (kllm_s32)index, op->kind, (const char *)0, -1, -1,
			       "kernels reject the lowered op");
	scratch = kk_op_scratch_size(op);
	if (scratch) {
		if (!bind->scratch || bind->scratch_size < scratch)
			return kp_fail(err, (kllm_s32)index, op->kind, (const char *)0,
				       -1, -1, "scratch too small");
		op->scratch = bind->scratch;
	}
	return 0;
}

int kllm_prog_lower_group(const struct kllm_prog_job *job, kllm_u32 index,
			  struct kk_op ops[KK_OP_GROUP_MAX], kllm_u32 *next,
			  struct kllm_prog_err *err)
{
	const struct kllm_prog_info *pi = job->info;
	struct kllm_prog_op rec;
	kllm_u32 i = index, n;
	int ret = 1;

	/* the first op with rows in this job */
	for (; i < pi->n_ops && ret; i++) {
		ret = kllm_prog_lower_op(job, i, &ops[0], err);
		if (ret < 0)
			return ret;
	}
	*next = i;
	if (ret)
		return 0;
	/* then each next op that joins it; only matmuls look ahead (a KV
	 * op's lowering rewrites job->seqs) */
	for (n = 1; n < KK_OP_GROUP_MAX && i < pi->n_ops; i++, n++) {
		kp_read_op(pi, i, &rec);
		if (ops[0].kind != KK_OP_MATMUL || rec.kind != KK_OP_MATMUL)
			break;
		ret = kllm_prog_lower_op(job, i, &ops[n], err);
		if (ret < 0)
			return ret;
		if (ret || !kk_op_joins(ops, n, &ops[n]))
			break;
	}
	*next = i;
	return (int)n;
}

int kp_lower_dummy(const struct kllm_prog_info *pi, kllm_u32 index, struct kk_op *op)
{
	struct kllm_prog_job job = { .info = pi, .dummy = 1 };

	return lower(&job, index, op, (struct kllm_prog_err *)0);
}

int kllm_prog_attn_shape(const struct kllm_prog_info *info, struct kk_op *op)
{
	kllm_u64 best = 0, s;
	struct kk_op cur;
	kllm_u32 i;
	int found = 0;

	for (i = 0; i < info->n_ops; i++) {
		if (kp_lower_dummy(info, i, &cur) || cur.kind != KK_OP_ATTENTION)
			continue;
		s = kk_op_scratch_size(&cur);
		if (!found || s > best) {
			*op = cur;
			best = s;
			found = 1;
		}
	}
	return found ? 0 : 1;
}

kllm_u64 kllm_prog_scratch_bytes(const struct kllm_prog_info *info)
{
	kllm_u64 need = 0, s;
	struct kk_op op;
	kllm_u32 i;

	for (i = 0; i < info->n_ops; i++) {
		if (kp_lower_dummy(info, i, &op))
			continue;
		s = kk_op_scratch_size(&op);
		if (s > need)
			need = s;
	}
	return need;
}
