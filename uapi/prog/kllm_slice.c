// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kllm_slice.c - chunks and fused slices of jobs (kllm_slice.h).  Integers
 * and copies only; every index is checked against the size it indexes.
 * A paged job's sequences move into the pass with their block tables (the
 * same ids over the same pools), so its rows read and write the same
 * blocks in a pass as alone.
 */
#include "kllm_prog_int.h"
#include "kllm_slice.h"

static int fail_slice(const char *reason)
{
	return kp_fail((struct kllm_prog_err *)0, -1, 0, "slice", -1, -1, reason);
}

/* Does [a, a + n) lie inside [0, cap)? */
static int fits(kllm_u32 a, kllm_u32 n, kllm_u32 cap)
{
	return a <= cap && n <= cap - a;
}

kllm_u32 kllm_slice_outputs(const struct kllm_prog_batch *job, kllm_u32 tok0,
			    kllm_u32 ntok)
{
	kllm_u32 o, n = 0;

	if (!job->out_rows)
		return 0;
	for (o = 0; o < job->n_outputs; o++) {
		kllm_u32 r = (kllm_u32)job->out_rows[o];

		n += r >= tok0 && r - tok0 < ntok;
	}
	return n;
}

/*
 * A paged job's sequences come with their tables, and their ids name
 * blocks of the job's pools: the pass must run over those very pools.
 */
static int paged_check(const struct kllm_prog_info *pi, const struct kllm_prog_batch *job,
		       const struct kllm_pass_arrays *pa)
{
	kllm_u32 i;

	if (!pa->tables || !pa->kv_pool || !job->tables || !job->kv_pool)
		return fail_slice("paged sequences without tables or pools");
	for (i = 0; i < pi->n_kv; i++)
		if (job->kv_pool[i].base != pa->kv_pool[i].base ||
		    job->kv_pool[i].size != pa->kv_pool[i].size)
			return fail_slice("the job's pool is not the pass's");
	return 0;
}

static int slice_check(const struct kllm_prog_info *pi, const struct kllm_prog_batch *job,
		       const struct kllm_slice_rows *r, const struct kllm_pass_arrays *pa)
{
	if (!fits(r->tok0, r->ntok, job->n_tokens) || !r->ntok)
		return fail_slice("tokens outside the job");
	if (!fits(r->row0, r->ntok, pa->cap))
		return fail_slice("token rows outside the pass");
	if (!fits(r->out0, r->nout, pa->cap) ||
	    r->nout != kllm_slice_outputs(job, r->tok0, r->ntok))
		return fail_slice("output rows outside the pass");
	if (!fits(r->seq0, job->n_seqs, pa->cap_seqs))
		return fail_slice("sequences outside the pass");
	if (pi->paged && job->n_seqs)
		return paged_check(pi, job, pa);
	if (pi->n_kv && job->n_seqs && (!pa->kv || !job->kv))
		return fail_slice("sequences without KV bindings");
	return 0;
}

int kllm_slice_fill(const struct kllm_prog_info *pi, const struct kllm_prog_batch *job,
		    const struct kllm_slice_rows *r, struct kllm_pass_arrays *pa)
{
	kllm_u32 i, o, p;
	int ret;

	ret = slice_check(pi, job, r, pa);
	if (ret)
		return ret;
	for (i = 0; i < r->ntok; i++) {
		kllm_u32 src = r->tok0 + i, dst = r->row0 + i;
		kllm_s32 s = job->seq ? job->seq[src] : 0;

		pa->tokens[dst] = job->tokens ? job->tokens[src] : 0;
		pa->pos[dst] = job->pos ? job->pos[src] : 0;
		pa->seq[dst] = s >= 0 && (kllm_u32)s < job->n_seqs ? (kllm_s32)(r->seq0 + s) : -1;
	}
	for (o = 0, p = r->out0; job->out_rows && o < job->n_outputs; o++) {
		kllm_u32 row = (kllm_u32)job->out_rows[o];

		if (row >= r->tok0 && row - r->tok0 < r->ntok)
			pa->out_rows[p++] = (kllm_s32)(r->row0 + row - r->tok0);
	}
	if (pi->paged && job->n_seqs)
		__builtin_memcpy(pa->tables + r->seq0, job->tables,
				 (kllm_u64)job->n_seqs * sizeof(*pa->tables));
	else if (pi->n_kv && job->n_seqs)
		__builtin_memcpy(pa->kv + (kllm_u64)r->seq0 * pi->n_kv, job->kv,
				 (kllm_u64)job->n_seqs * pi->n_kv * sizeof(*pa->kv));
	return 0;
}

int kllm_stage_layout(const struct kllm_prog_info *pi,
		      kllm_u64 off[KLLM_PROG_MAX_BUFFERS], kllm_u64 *total)
{
	struct kllm_prog_buffer b;
	kllm_u64 sum = 0;
	kllm_u32 id;

	for (id = 0; id < KLLM_PROG_MAX_BUFFERS; id++)
		off[id] = 0;
	for (id = 0; id < pi->n_buffers; id++) {
		kp_read_buffer(pi, id, &b);
		if (b.kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		off[id] = sum;
		/* sizes are < 2^48 (validator): 64 of them cannot overflow */
		sum += (b.size + 63) & ~63ull;
	}
	*total = sum;
	return 0;
}

void kllm_stage_bind(const struct kllm_prog_info *pi, const struct kllm_prog_mem *prog_mem,
		     void *staging, const kllm_u64 off[KLLM_PROG_MAX_BUFFERS],
		     struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS])
{
	struct kllm_prog_buffer b;
	kllm_u32 id;

	for (id = 0; id < KLLM_PROG_MAX_BUFFERS; id++) {
		buf[id] = prog_mem[id];
		if (id >= pi->n_buffers)
			continue;
		kp_read_buffer(pi, id, &b);
		if (b.kind == KLLM_PROG_BUF_OUTPUT)
			buf[id] = (struct kllm_prog_mem){ (kllm_u8 *)staging + off[id], b.size };
	}
}

/* Is slot @s of @op the whole i32 array of the job's INPUT @in? */
static int slot_is_input(const struct kllm_prog_info *pi, const struct kllm_prog_op *op,
			 kllm_u32 s, kllm_u32 in)
{
	struct kllm_prog_buffer b;
	struct kp_tensor t;

	if (op->t[s] >= pi->n_tensors)
		return 0;
	kp_tensor_get(pi, op->t[s], &t);
	if (t.buf_kind != KLLM_PROG_BUF_INPUT)
		return 0;
	kp_read_buffer(pi, t.r.buffer, &b);
	return b.input == in;
}

static int slot_mode(const struct kllm_prog_info *pi, const struct kllm_prog_op *op,
		     kllm_u32 s)
{
	struct kp_tensor t;

	if (op->t[s] >= pi->n_tensors)
		return -1;
	kp_tensor_get(pi, op->t[s], &t);
	return (int)t.mode;
}

/*
 * Does every op compute each row of its output from that row alone (and
 * from fixed, read-only weights)?  Slices of several jobs share one batch,
 * so an op that reached another row would read another job's data.  Only
 * the ops whose slots may differ in rows need a look: a matmul's weight
 * must be fixed (a batch-shaped one mixes rows); the KV ops' sequence and
 * position slots must be the job's own SEQ and POS arrays (their indices
 * are remapped per slice: a computed index is not); a get_rows table that
 * is batch-shaped must be per token, indexed by the job's OUT_ROWS (also
 * remapped per slice).
 */
static int ops_row_local(const struct kllm_prog_info *pi)
{
	struct kllm_prog_op op;
	kllm_u32 i;
	int mode;

	for (i = 0; i < pi->n_ops; i++) {
		kp_read_op(pi, i, &op);
		switch (op.kind) {
		case KLLM_PROG_OP_MATMUL:
			if (slot_mode(pi, &op, 0) != KP_ROWS_FIXED)
				return 0;
			break;
		case KLLM_PROG_OP_KV_STORE:
			if (!slot_is_input(pi, &op, 2, KLLM_PROG_IN_SEQ) ||
			    !slot_is_input(pi, &op, 3, KLLM_PROG_IN_POS))
				return 0;
			break;
		case KLLM_PROG_OP_ATTENTION:
			if (!slot_is_input(pi, &op, 1, KLLM_PROG_IN_SEQ) ||
			    !slot_is_input(pi, &op, 2, KLLM_PROG_IN_POS))
				return 0;
			break;
		case KLLM_PROG_OP_GET_ROWS:
			mode = slot_mode(pi, &op, 0);
			if (mode != KP_ROWS_FIXED &&
			    (mode != KP_ROWS_TOKENS ||
			     !slot_is_input(pi, &op, 1, KLLM_PROG_IN_OUT_ROWS)))
				return 0;
			break;
		}
	}
	return 1;
}

/*
 * May batch-shaped tensors @a and @b of one buffer share bytes?  Only as
 * views of the same rows: the same mode and stride, and whichever starts
 * later ends within a stride of the other's start, so row r of one never
 * meets row r' != r of the other.
 */
static int rows_aligned(const struct kp_tensor *a, const struct kp_tensor *b,
			kllm_u32 max_batch)
{
	const struct kp_tensor *lo = a->r.offset <= b->r.offset ? a : b;
	const struct kp_tensor *hi = lo == a ? b : a;
	kllm_u64 end_lo, d;

	if (kp_tensor_end(lo, max_batch, &end_lo))
		return 0;
	if (hi->r.offset >= end_lo)
		return 1;	/* apart */
	d = hi->r.offset - lo->r.offset;
	return a->mode == b->mode && a->r.row_stride == b->r.row_stride &&
	       d + hi->row_bytes <= hi->r.row_stride;
}

/*
 * Every pair of batch-shaped ACTIVATIONS or OUTPUT tensors (ids in @ids)
 * that shares bytes does so row for row.  Pairwise: views are few.
 */
static int views_row_aligned(const struct kllm_prog_info *pi, const kllm_u32 *ids,
			     kllm_u32 n)
{
	struct kp_tensor a, b;
	kllm_u32 i, j;

	for (i = 0; i < n; i++) {
		kp_tensor_get(pi, ids[i], &a);
		for (j = i + 1; j < n; j++) {
			kp_tensor_get(pi, ids[j], &b);
			if (a.r.buffer == b.r.buffer && !rows_aligned(&a, &b, pi->max_batch))
				return 0;
		}
	}
	return 1;
}

int kllm_stage_tensors(const struct kllm_prog_info *pi, kllm_u32 *out_t,
		       kllm_u32 *n_out_t)
{
	struct kp_tensor t;
	kllm_u32 id, n = 0, n_act = 0;
	int fusable = 1;

	/* OUTPUT tensors from the front of out_t, the batch's own rows of
	 * ACTIVATIONS from its back (room: n_tensors in all). */
	for (id = 0; id < pi->n_tensors; id++) {
		kp_tensor_get(pi, id, &t);
		switch (t.buf_kind) {
		case KLLM_PROG_BUF_OUTPUT:
			if (t.mode == KP_ROWS_FIXED)
				fusable = 0;	/* the same rows for every job */
			out_t[n++] = id;
			break;
		case KLLM_PROG_BUF_ACTIVATIONS:
			if (t.mode == KP_ROWS_FIXED)
				fusable = 0;	/* shared by every row */
			else
				out_t[pi->n_tensors - ++n_act] = id;
			break;
		case KLLM_PROG_BUF_WEIGHTS:
			if (t.mode != KP_ROWS_FIXED)
				fusable = 0;	/* rows picked by batch position */
			break;
		}
	}
	*n_out_t = n;
	if (!fusable || !ops_row_local(pi))
		return 0;
	if (!views_row_aligned(pi, out_t, n) ||
	    !views_row_aligned(pi, out_t + pi->n_tensors - n_act, n_act))
		return 0;
	return 1;
}

/* Is row @row of @t inside @m?  Its address in *p. */
static int row_at(const struct kp_tensor *t, const struct kllm_prog_mem *m,
		  kllm_u32 row, kllm_u8 **p)
{
	kllm_u64 end;

	if (kp_tensor_end(t, row + 1, &end) || end > m->size || !m->base)
		return -1;
	*p = (kllm_u8 *)m->base + t->r.offset + (kllm_u64)row * t->r.row_stride;
	return 0;
}

/* One row both ways: check only, or (checked before) copy. */
static int row_copy(const struct kp_tensor *t, const struct kllm_prog_mem *job_m,
		    kllm_u32 job_row, const struct kllm_prog_mem *stage_m,
		    kllm_u32 stage_row, int to_job, int copy)
{
	kllm_u8 *j, *s;

	if (row_at(t, job_m, job_row, &j) || row_at(t, stage_m, stage_row, &s))
		return -1;
	if (copy)
		__builtin_memcpy(to_job ? j : s, to_job ? s : j, t->row_bytes);
	return 0;
}

static int slice_walk(const struct kllm_prog_info *pi, const kllm_u32 *out_t,
		      kllm_u32 n_out_t, const struct kllm_prog_mem *job_buf,
		      const struct kllm_prog_mem *stage_buf,
		      const struct kllm_prog_batch *job,
		      const struct kllm_slice_rows *r, int to_job, int copy)
{
	struct kp_tensor t;
	kllm_u32 i, o, p;

	for (i = 0; i < n_out_t; i++) {
		const struct kllm_prog_mem *jm, *sm;

		if (out_t[i] >= pi->n_tensors)
			return -1;
		kp_tensor_get(pi, out_t[i], &t);
		if (t.buf_kind != KLLM_PROG_BUF_OUTPUT)
			return -1;
		jm = &job_buf[t.r.buffer];
		sm = &stage_buf[t.r.buffer];
		if (t.mode == KP_ROWS_TOKENS) {
			for (o = 0; o < r->ntok; o++)
				if (row_copy(&t, jm, r->tok0 + o, sm, r->row0 + o, to_job, copy))
					return -1;
			continue;
		}
		if (t.mode != KP_ROWS_OUTPUTS)
			return -1;
		/* this slice's outputs, in the job's order */
		for (o = 0, p = r->out0; job->out_rows && o < job->n_outputs; o++) {
			kllm_u32 row = (kllm_u32)job->out_rows[o];

			if (row < r->tok0 || row - r->tok0 >= r->ntok)
				continue;
			if (p - r->out0 >= r->nout || row_copy(&t, jm, o, sm, p, to_job, copy))
				return -1;
			p++;
		}
	}
	return 0;
}

int kllm_slice_copy(const struct kllm_prog_info *pi, const kllm_u32 *out_t,
		    kllm_u32 n_out_t, const struct kllm_prog_mem *job_buf,
		    const struct kllm_prog_mem *stage_buf,
		    const struct kllm_prog_batch *job,
		    const struct kllm_slice_rows *r, int to_job)
{
	if (slice_walk(pi, out_t, n_out_t, job_buf, stage_buf, job, r, to_job, 0))
		return fail_slice("output row outside the job's or the staging memory");
	slice_walk(pi, out_t, n_out_t, job_buf, stage_buf, job, r, to_job, 1);
	return 0;
}
