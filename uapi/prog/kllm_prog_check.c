// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kllm_prog_check.c - the program validator: header, buffers, tensors.
 * The op records are checked in kllm_prog_check_ops.c.
 *
 * Order: the header (sizes add up to exactly the image), then every buffer
 * record (a paged KV buffer: its block_shift and n_ctx, the same for every
 * KV buffer), then every tensor on its own (type, shape, alignment, its byte
 * range inside its buffer at max_batch rows; a paged KV tensor holds one
 * block's positions, so it lies inside one block), then every op (slots, types
 * and shapes against the op's parameters, then the kernels' own check).
 * The first problem found is reported.  Integers only.
 */
#include "kllm_prog_int.h"

int kp_fail(struct kllm_prog_err *err, kllm_s32 op, kllm_u32 kind,
	    const char *role, kllm_s32 tensor, kllm_s32 buffer,
	    const char *reason)
{
	if (err) {
		err->op = op;
		err->kind = kind;
		err->role = role;
		err->tensor = tensor;
		err->buffer = buffer;
		err->reason = reason;
	}
	return -KLLM_PROG_EINVAL;
}

static int fail_header(struct kllm_prog_err *err, const char *reason)
{
	return kp_fail(err, -1, 0, (const char *)0, -1, -1, reason);
}

static int fail_buffer(struct kllm_prog_err *err, kllm_u32 id, const char *reason)
{
	return kp_fail(err, -1, 0, (const char *)0, -1, (kllm_s32)id, reason);
}

static int fail_tensor(struct kllm_prog_err *err, kllm_u32 id, kllm_s32 buffer,
		       const char *reason)
{
	return kp_fail(err, -1, 0, (const char *)0, (kllm_s32)id, buffer, reason);
}

/* Are bytes [from, to) of a record zero?  (Fields a newer writer added.) */
int kp_zero_tail(const kllm_u8 *rec, kllm_u32 from, kllm_u32 to)
{
	kllm_u32 i;

	for (i = from; i < to; i++)
		if (rec[i])
			return 0;
	return 1;
}

int kp_all_zero(const kllm_u32 *v, kllm_u32 n)
{
	kllm_u32 i;

	for (i = 0; i < n; i++)
		if (v[i])
			return 0;
	return 1;
}

/* A header or record size: at least ours, 8-byte granular, bounded. */
static int record_size_ok(kllm_u32 size, kllm_u32 ours)
{
	return size >= ours && size <= KLLM_PROG_MAX_RECORD && !(size & 7);
}

/* ------------------------------------------------------------------ */

static int check_header(const kllm_u8 *base, kllm_u64 size,
			struct kllm_prog_info *pi, struct kllm_prog_err *err)
{
	struct kllm_prog_header h;
	kllm_u64 total;

	if (size < sizeof(h))
		return fail_header(err, "shorter than the header");
	if (size > KLLM_PROG_MAX_SIZE)
		return fail_header(err, "larger than KLLM_PROG_MAX_SIZE");
	__builtin_memcpy(&h, base, sizeof(h));
	if (h.magic != KLLM_PROG_MAGIC)
		return fail_header(err, "bad magic");
	if (h.version != KLLM_PROG_VERSION)
		return fail_header(err, "unsupported version");
	if (!record_size_ok(h.header_size, sizeof(h)))
		return fail_header(err, "bad header_size");
	if (h.header_size > size)
		return fail_header(err, "header_size past the end");
	if (!kp_zero_tail(base, sizeof(h), h.header_size))
		return fail_header(err, "unknown header fields are not zero");
	if (h.total_size != size)
		return fail_header(err, "total_size differs from the length");
	if (h.flags)
		return fail_header(err, "unknown flags");
	if (h.reserved0 || !kp_all_zero(h.reserved, 6))
		return fail_header(err, "reserved field is not zero");
	if (!record_size_ok(h.buffer_size, sizeof(struct kllm_prog_buffer)))
		return fail_header(err, "bad buffer_size");
	if (!record_size_ok(h.tensor_size, sizeof(struct kllm_prog_tensor)))
		return fail_header(err, "bad tensor_size");
	if (!record_size_ok(h.op_size, sizeof(struct kllm_prog_op)))
		return fail_header(err, "bad op_size");
	if (!h.n_buffers || h.n_buffers > KLLM_PROG_MAX_BUFFERS)
		return fail_header(err, "n_buffers out of range");
	if (h.n_tensors > KLLM_PROG_MAX_TENSORS)
		return fail_header(err, "n_tensors over the limit");
	if (h.n_ops > KLLM_PROG_MAX_OPS)
		return fail_header(err, "n_ops over the limit");
	if (!h.max_batch || h.max_batch > KLLM_PROG_MAX_BATCH)
		return fail_header(err, "max_batch out of range");
	/* bounded counts times bounded sizes: no overflow in 64 bits */
	total = (kllm_u64)h.header_size + (kllm_u64)h.n_buffers * h.buffer_size +
		(kllm_u64)h.n_tensors * h.tensor_size +
		(kllm_u64)h.n_ops * h.op_size;
	if (total != size)
		return fail_header(err, "record counts do not add up to total_size");

	pi->base = base;
	pi->size = (kllm_u32)size;
	pi->header_size = h.header_size;
	pi->buffer_size = h.buffer_size;
	pi->tensor_size = h.tensor_size;
	pi->op_size = h.op_size;
	pi->n_buffers = h.n_buffers;
	pi->n_tensors = h.n_tensors;
	pi->n_ops = h.n_ops;
	pi->max_batch = h.max_batch;
	pi->buffers_off = h.header_size;
	pi->tensors_off = pi->buffers_off + h.n_buffers * h.buffer_size;
	pi->ops_off = pi->tensors_off + h.n_tensors * h.tensor_size;
	return 0;
}

/* ------------------------------------------------------------------ */

/*
 * A KV buffer, paged or not: all of a program's KV buffers alike, and the
 * paged ones with one block_shift and n_ctx (one table serves them all).
 * The first sets what the others must match.
 */
static int check_paged(struct kllm_prog_info *pi, kllm_u32 id,
		       const struct kllm_prog_buffer *b, struct kllm_prog_err *err)
{
	const kllm_u32 paged = !!(b->flags & KLLM_PROG_BUF_PAGED);
	const kllm_u32 shift = b->reserved[0], n_ctx = b->reserved[1];

	if (pi->n_kv && paged != pi->paged)
		return fail_buffer(err, id, "paged and unpaged KV buffers mixed");
	if (!paged)
		return 0;
	if (shift < KLLM_PROG_MIN_BLOCK_SHIFT || shift > KLLM_PROG_MAX_BLOCK_SHIFT)
		return fail_buffer(err, id, "block_shift out of range");
	if (!n_ctx || n_ctx > KLLM_PROG_MAX_CTX)
		return fail_buffer(err, id, "n_ctx out of range");
	if (b->reserved[2])
		return fail_buffer(err, id, "reserved field is not zero");
	if (!b->size || (b->size & (KLLM_PROG_BIND_ALIGN - 1)))
		return fail_buffer(err, id, "paged block size is 0 or not a multiple of the alignment");
	if (pi->n_kv && (shift != pi->block_shift || n_ctx != pi->n_ctx))
		return fail_buffer(err, id, "block_shift or n_ctx differs from the other KV buffers'");
	pi->paged = 1;
	pi->block_shift = shift;
	pi->n_ctx = n_ctx;
	pi->max_blocks = (n_ctx + (1u << shift) - 1) >> shift;
	return 0;
}

static int check_buffer(struct kllm_prog_info *pi, kllm_u32 id,
			struct kllm_prog_err *err)
{
	const kllm_u8 *rec = pi->base + pi->buffers_off + (kllm_u64)id * pi->buffer_size;
	struct kllm_prog_buffer b;

	kp_read_buffer(pi, id, &b);
	if (!kp_zero_tail(rec, sizeof(b), pi->buffer_size))
		return fail_buffer(err, id, "reserved field is not zero");
	if (b.kind < KLLM_PROG_BUF_WEIGHTS || b.kind > KLLM_PROG_BUF_OUTPUT)
		return fail_buffer(err, id, "unknown kind");
	if (b.flags & ~KLLM_PROG_BUF_FLAGS_ALL)
		return fail_buffer(err, id, "unknown flags");
	if ((b.flags & KLLM_PROG_BUF_PAGED) && b.kind != KLLM_PROG_BUF_KV)
		return fail_buffer(err, id, "paged flag on a buffer that is not KV");
	if (!(b.flags & KLLM_PROG_BUF_PAGED) && !kp_all_zero(b.reserved, 3))
		return fail_buffer(err, id, "reserved field is not zero");
	if (b.size > KLLM_PROG_MAX_BUFFER_BYTES)
		return fail_buffer(err, id, "size over the limit");
	if (b.kind != KLLM_PROG_BUF_INPUT) {
		if (b.input)
			return fail_buffer(err, id, "input set on a buffer that is not INPUT");
	} else {
		if (b.input < KLLM_PROG_IN_TOKENS || b.input > KLLM_PROG_IN_OUT_ROWS)
			return fail_buffer(err, id, "unknown input");
		if (b.size != 4ull * pi->max_batch)
			return fail_buffer(err, id, "input size is not 4 * max_batch");
		pi->inputs |= 1u << b.input;
	}
	if (b.kind == KLLM_PROG_BUF_KV) {
		if (check_paged(pi, id, &b, err))
			return -KLLM_PROG_EINVAL;
		pi->kv_index[id] = (kllm_u8)pi->n_kv++;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

/* ne[] and flags -> row count mode and fixed rows. */
static int tensor_rows(const struct kllm_prog_tensor *t, kllm_u32 *mode,
		       kllm_u32 *rows, const char **why)
{
	const kllm_u32 batch = t->flags & KLLM_PROG_T_FLAGS_ALL;
	kllm_u64 n;

	if (t->flags & ~KLLM_PROG_T_FLAGS_ALL) {
		*why = "unknown flags";
		return -1;
	}
	if (batch == KLLM_PROG_T_FLAGS_ALL) {
		*why = "rows both tokens and outputs";
		return -1;
	}
	if (!t->ne[0]) {
		*why = "ne[0] is 0";
		return -1;
	}
	*mode = batch;
	if (batch) {
		if (t->ne[1] || t->ne[2] != 1 || t->ne[3] != 1) {
			*why = "batch-shaped but ne[1..3] are not 0, 1, 1";
			return -1;
		}
		*rows = 0;
		return 0;
	}
	n = (kllm_u64)t->ne[1] * t->ne[2];
	if (!n || !t->ne[3] || n > 0xffffffffull ||
	    n * t->ne[3] > 0xffffffffull) {
		*why = "row count is 0 or overflows";
		return -1;
	}
	*rows = (kllm_u32)(n * t->ne[3]);
	return 0;
}

/* What a tensor in an INPUT buffer must look like: the job's i32 array. */
static const char *input_tensor_problem(const struct kp_tensor *t,
					const struct kllm_prog_buffer *b)
{
	const kllm_u32 want = b->input == KLLM_PROG_IN_OUT_ROWS ?
			      KP_ROWS_OUTPUTS : KP_ROWS_TOKENS;

	if (t->r.type != KLLM_PROG_TYPE_I32 || t->r.ne[0] != 1 ||
	    t->r.offset || t->r.row_stride != 4 || t->mode != want)
		return "input tensor is not the whole i32 array of its buffer";
	return (const char *)0;
}

static int check_tensor(const struct kllm_prog_info *pi, kllm_u32 id,
			struct kllm_prog_err *err)
{
	const kllm_u8 *rec = pi->base + pi->tensors_off + (kllm_u64)id * pi->tensor_size;
	struct kllm_prog_buffer b;
	struct kp_tensor t;
	const char *why = (const char *)0;
	kllm_u32 align;
	kllm_u64 end;
	kllm_s32 buf;

	kp_read_tensor(pi, id, &t.r);
	if (!kp_all_zero(t.r.reserved, 5) ||
	    !kp_zero_tail(rec, sizeof(t.r), pi->tensor_size))
		return fail_tensor(err, id, -1, "reserved field is not zero");
	if (t.r.buffer >= pi->n_buffers)
		return fail_tensor(err, id, -1, "buffer id out of range");
	buf = (kllm_s32)t.r.buffer;
	if (t.r.type != KLLM_PROG_TYPE_I32 && !kk_type_block_elems(t.r.type))
		return fail_tensor(err, id, -1, "unknown type");
	if (tensor_rows(&t.r, &t.mode, &t.rows, &why))
		return fail_tensor(err, id, -1, why);
	t.row_bytes = kp_row_bytes(t.r.type, t.r.ne[0]);
	if (!t.row_bytes)
		return fail_tensor(err, id, -1, "ne[0] is not a whole number of blocks");
	if (t.r.row_stride < t.row_bytes)
		return fail_tensor(err, id, -1, "row_stride is less than a row");
	align = kp_type_align(t.r.type);
	if ((t.r.offset | t.r.row_stride) & (align - 1))
		return fail_tensor(err, id, -1, "offset or row_stride misaligned for its type");
	kp_read_buffer(pi, t.r.buffer, &b);
	if (b.kind == KLLM_PROG_BUF_INPUT)
		why = input_tensor_problem(&t, &b);
	else if (b.kind == KLLM_PROG_BUF_KV && t.mode != KP_ROWS_FIXED)
		why = "batch-shaped tensor in a KV buffer";
	else if (b.kind == KLLM_PROG_BUF_KV && (b.flags & KLLM_PROG_BUF_PAGED) &&
		 t.rows != 1u << pi->block_shift)
		why = "rows of a paged KV tensor are not its block's positions";
	if (why)
		return fail_tensor(err, id, buf, why);
	if (kp_tensor_end(&t, kp_rows_at(&t, pi->max_batch, pi->max_batch), &end))
		return fail_tensor(err, id, -1, "byte range overflows");
	if (end > b.size)
		return fail_tensor(err, id, buf, "ends past buffer");
	/* A one-row tensor's stride is never stepped over in range checks,
	 * but the kernels still form row + stride pointers. */
	if (t.r.row_stride > b.size)
		return fail_tensor(err, id, buf, "row_stride larger than its buffer");
	return 0;
}

void kllm_prog_buffer_get(const struct kllm_prog_info *info, kllm_u32 id,
			  struct kllm_prog_buffer *b)
{
	kp_read_buffer(info, id, b);
}

void kp_tensor_get(const struct kllm_prog_info *pi, kllm_u32 id, struct kp_tensor *t)
{
	struct kllm_prog_buffer b;
	const char *why;

	kp_read_tensor(pi, id, &t->r);
	t->mode = KP_ROWS_FIXED;
	t->rows = 0;
	(void)tensor_rows(&t->r, &t->mode, &t->rows, &why);
	t->row_bytes = kp_row_bytes(t->r.type, t->r.ne[0]);
	kp_read_buffer(pi, t->r.buffer, &b);
	t->buf_kind = b.kind;
	t->pad = 0;
}

/* ------------------------------------------------------------------ */

int kllm_prog_check(const void *prog, kllm_u64 size, struct kllm_prog_info *info,
		    struct kllm_prog_err *err)
{
	struct kllm_prog_info pi;
	kllm_u32 i;
	int ret;

	if (err)
		kp_fail(err, -1, 0, (const char *)0, -1, -1, "no error");
	if (!prog || !info)
		return fail_header(err, "no program");
	__builtin_memset(&pi, 0, sizeof(pi));
	__builtin_memset(pi.kv_index, 0xff, sizeof(pi.kv_index));
	ret = check_header(prog, size, &pi, err);
	if (ret)
		return ret;
	for (i = 0; i < pi.n_buffers; i++) {
		ret = check_buffer(&pi, i, err);
		if (ret)
			return ret;
	}
	for (i = 0; i < pi.n_tensors; i++) {
		ret = check_tensor(&pi, i, err);
		if (ret)
			return ret;
	}
	for (i = 0; i < pi.n_ops; i++) {
		ret = kp_check_op(&pi, i, err);
		if (ret)
			return ret;
	}
	*info = pi;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Messages: a tiny formatter, as uapi/ has no libc.                    */

struct kp_out {
	char *buf;
	kllm_u32 n, len;
};

static void out_str(struct kp_out *o, const char *s)
{
	for (; s && *s; s++, o->len++)
		if (o->len + 1 < o->n)
			o->buf[o->len] = *s;
}

static void out_num(struct kp_out *o, kllm_s32 v)
{
	char tmp[12];
	kllm_u32 u = (kllm_u32)v, i = sizeof(tmp);

	tmp[--i] = 0;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	out_str(o, &tmp[i]);
}

kllm_u32 kllm_prog_err_format(const struct kllm_prog_err *e, char *buf, kllm_u32 n)
{
	struct kp_out o = { .buf = buf, .n = n, .len = 0 };
	int buffer_said = 0;

	if (e->op >= 0) {
		out_str(&o, "op ");
		out_num(&o, e->op);
		out_str(&o, " (");
		out_str(&o, kllm_prog_op_name(e->kind));
		out_str(&o, "): ");
	}
	if (e->tensor >= 0) {
		if (e->role) {
			out_str(&o, e->role);
			out_str(&o, " ");
		}
		out_str(&o, "tensor ");
		out_num(&o, e->tensor);
		out_str(&o, ": ");
	} else if (e->role) {
		out_str(&o, e->role);
		out_str(&o, ": ");
	} else if (e->op < 0 && e->buffer >= 0) {
		out_str(&o, "buffer ");
		out_num(&o, e->buffer);
		out_str(&o, ": ");
		buffer_said = 1;
	} else if (e->op < 0) {
		out_str(&o, "header: ");
	}
	out_str(&o, e->reason ? e->reason : "?");
	if (e->buffer >= 0 && !buffer_said) {
		out_str(&o, " ");
		out_num(&o, e->buffer);
	}
	if (n)
		buf[o.len < n ? o.len : n - 1] = 0;
	return o.len;
}
