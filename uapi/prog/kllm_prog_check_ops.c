// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kllm_prog_check_ops.c - the validator's op pass.
 *
 * Every tensor has already been checked on its own, including its byte
 * range at max_batch rows.  Here each op record is checked against its
 * kind: which slots it uses and what class of tensor each must be (f32
 * activations, contiguous i32 vectors, weights, KV cache rows), that it
 * writes no read-only buffer, and that shapes agree with each other and the
 * parameters - so that the rows and row lengths the kernels will walk are
 * exactly those of the tensors whose ranges were checked.  Last, the op is
 * lowered with dummy pointers at max_batch and handed to the kernels' own
 * kk_op_check(), which also gives the scratch size.  Integers only.
 */
#include "kllm_prog_int.h"

/* Tensor classes of op slots. */
enum {
	C_NONE = 0,	/* slot unused: must be KLLM_PROG_NONE */
	C_ACT,		/* f32 rows */
	C_IDS,		/* i32, one per row, contiguous */
	C_WEIGHT,	/* any weight type (incl. f32) */
	C_VEC,		/* f32, fixed rows (norm weight, frequency factors) */
	C_CACHE,	/* f16 or q8_0 rows of a KV buffer, contiguous */
};

#define S_W 1		/* written */
#define S_OPT 2		/* may be KLLM_PROG_NONE */

struct kp_slot {
	const char *name;
	kllm_u8 cls;
	kllm_u8 how;
	kllm_u8 inplace;	/* written slot: read slots it may exactly equal */
};

struct kp_kind {
	const char *name;
	kllm_u32 n_params;
	kllm_u32 flags;
	struct kp_slot s[KLLM_PROG_OP_SLOTS];
};

static const struct kp_kind kp_kinds[KLLM_PROG_OP_KIND_MAX] = {
	[KLLM_PROG_OP_MATMUL] = { "matmul", 0, KLLM_PROG_MATMUL_ACCUMULATE,
		{ { "weight", C_WEIGHT, 0, 0 }, { "x", C_ACT, 0, 0 }, { "y", C_ACT, S_W, 0 } } },
	[KLLM_PROG_OP_RMSNORM] = { "rmsnorm", 1, 0,
		{ { "x", C_ACT, 0, 0 }, { "w", C_VEC, S_OPT, 0 }, { "y", C_ACT, S_W, 1 << 0 } } },
	[KLLM_PROG_OP_ROPE] = { "rope", 6, 0,
		{ { "x", C_ACT, 0, 0 }, { "pos", C_IDS, 0, 0 },
		  { "freq_factors", C_VEC, S_OPT, 0 }, { "y", C_ACT, S_W, 1 << 0 } } },
	[KLLM_PROG_OP_SOFTMAX] = { "softmax", 1, 0,
		{ { "x", C_ACT, 0, 0 }, { "y", C_ACT, S_W, 1 << 0 } } },
	[KLLM_PROG_OP_UNARY] = { "unary", 1, 0,
		{ { "x", C_ACT, 0, 0 }, { "y", C_ACT, S_W, 1 << 0 } } },
	[KLLM_PROG_OP_GLU] = { "glu", 1, 0,
		{ { "gate", C_ACT, 0, 0 }, { "up", C_ACT, 0, 0 }, { "y", C_ACT, S_W, 3 } } },
	[KLLM_PROG_OP_BINARY] = { "binary", 1, 0,
		{ { "a", C_ACT, 0, 0 }, { "b", C_ACT, 0, 0 }, { "y", C_ACT, S_W, 3 } } },
	[KLLM_PROG_OP_SCALE] = { "scale", 1, 0,
		{ { "x", C_ACT, 0, 0 }, { "y", C_ACT, S_W, 1 << 0 } } },
	[KLLM_PROG_OP_GET_ROWS] = { "get_rows", 0, 0,
		{ { "table", C_WEIGHT, 0, 0 }, { "ids", C_IDS, 0, 0 }, { "y", C_ACT, S_W, 0 } } },
	[KLLM_PROG_OP_KV_STORE] = { "kv_store", 2, 0,
		{ { "k", C_ACT, 0, 0 }, { "v", C_ACT, 0, 0 }, { "seq", C_IDS, 0, 0 },
		  { "pos", C_IDS, 0, 0 }, { "k_cache", C_CACHE, S_W, 0 },
		  { "v_cache", C_CACHE, S_W, 0 } } },
	[KLLM_PROG_OP_ATTENTION] = { "attention", 6, 0,
		{ { "q", C_ACT, 0, 0 }, { "seq", C_IDS, 0, 0 }, { "pos", C_IDS, 0, 0 },
		  { "k_cache", C_CACHE, 0, 0 }, { "v_cache", C_CACHE, 0, 0 },
		  { "y", C_ACT, S_W, 1 << 0 } } },
	[KLLM_PROG_OP_ARGMAX] = { "argmax", 0, 0,
		{ { "x", C_ACT, 0, 0 }, { "idx", C_IDS, S_W, 0 } } },
};

const char *kllm_prog_op_name(kllm_u32 kind)
{
	if (kind == 0 || kind >= KLLM_PROG_OP_KIND_MAX)
		return "?";
	return kp_kinds[kind].name;
}

const char *kp_slot_name(kllm_u32 kind, kllm_u32 slot)
{
	if (kind == 0 || kind >= KLLM_PROG_OP_KIND_MAX || slot >= KLLM_PROG_OP_SLOTS)
		return (const char *)0;
	return kp_kinds[kind].s[slot].name;
}

/* The op being checked, its decoded tensors, and where to report. */
struct kp_opctx {
	const struct kllm_prog_info *pi;
	struct kllm_prog_err *err;
	const struct kp_kind *kd;
	struct kllm_prog_op op;
	kllm_u32 index;
	struct kp_tensor t[KLLM_PROG_OP_SLOTS];
};

static int fail_slot(const struct kp_opctx *c, kllm_u32 slot, kllm_s32 buffer,
		     const char *reason)
{
	const kllm_u32 id = c->op.t[slot];

	return kp_fail(c->err, (kllm_s32)c->index, c->op.kind, c->kd->s[slot].name,
		       id <= 0x7fffffffu ? (kllm_s32)id : -1, buffer, reason);
}

static int fail_op(const struct kp_opctx *c, const char *reason)
{
	return kp_fail(c->err, (kllm_s32)c->index, c->op.kind, (const char *)0,
		       -1, -1, reason);
}

/* What is wrong with tensor @t in a slot of class @cls, or NULL. */
static const char *class_problem(const struct kp_tensor *t, kllm_u32 cls)
{
	if (cls != C_CACHE && t->buf_kind == KLLM_PROG_BUF_KV)
		return "KV buffer tensor outside a cache slot";
	switch (cls) {
	case C_ACT:
		if (t->r.type != KLLM_PROG_TYPE_F32)
			return "type is not f32";
		break;
	case C_VEC:
		if (t->r.type != KLLM_PROG_TYPE_F32 || t->mode != KP_ROWS_FIXED)
			return "not a fixed f32 vector";
		break;
	case C_IDS:
		if (t->r.type != KLLM_PROG_TYPE_I32 || t->r.ne[0] != 1 ||
		    t->r.row_stride != 4)
			return "not a contiguous i32 vector";
		break;
	case C_WEIGHT:
		if (t->r.type == KLLM_PROG_TYPE_I32 || !kk_type_is_weight(t->r.type))
			return "type cannot be a weight";
		break;
	case C_CACHE:
		if (t->buf_kind != KLLM_PROG_BUF_KV)
			return "cache tensor not in a KV buffer";
		if (t->r.type != KLLM_PROG_TYPE_F16 && t->r.type != KK_TYPE_Q8_0)
			return "cache type is not f16 or q8_0";
		if (t->r.row_stride != t->row_bytes)
			return "cache rows are not contiguous";
		break;
	}
	return (const char *)0;
}

static int check_slot(struct kp_opctx *c, kllm_u32 s)
{
	const struct kp_slot *sl = &c->kd->s[s];
	const kllm_u32 id = c->op.t[s];
	const char *why;

	if (sl->cls == C_NONE) {
		if (id != KLLM_PROG_NONE)
			return kp_fail(c->err, (kllm_s32)c->index, c->op.kind,
				       (const char *)0, -1, -1,
				       "unused tensor slot is not KLLM_PROG_NONE");
		return 0;
	}
	if (id == KLLM_PROG_NONE)
		return (sl->how & S_OPT) ? 0 : fail_slot(c, s, -1, "required tensor missing");
	if (id >= c->pi->n_tensors)
		return fail_slot(c, s, -1, "tensor id out of range");
	kp_tensor_get(c->pi, id, &c->t[s]);
	why = class_problem(&c->t[s], sl->cls);
	if (why)
		return fail_slot(c, s, -1, why);
	if ((sl->how & S_W) && (c->t[s].buf_kind == KLLM_PROG_BUF_WEIGHTS ||
				c->t[s].buf_kind == KLLM_PROG_BUF_INPUT))
		return fail_slot(c, s, (kllm_s32)c->t[s].r.buffer,
				 "written, but in read-only buffer");
	return 0;
}

/* Slot @s present (optional slots may be absent). */
static int has(const struct kp_opctx *c, kllm_u32 s)
{
	return c->op.t[s] != KLLM_PROG_NONE;
}

/* ne[0] of slot @s must be @n. */
static int want_len(const struct kp_opctx *c, kllm_u32 s, kllm_u64 n, const char *why)
{
	return c->t[s].r.ne[0] == n ? 0 : fail_slot(c, s, -1, why);
}

/* Slot @s must have the rows of slot @ref for every batch. */
static int want_rows(const struct kp_opctx *c, kllm_u32 s, kllm_u32 ref)
{
	static const char *const why[KLLM_PROG_OP_SLOTS] = {
		"rows differ from slot 0's", "rows differ from slot 1's",
		"rows differ from slot 2's", "rows differ from slot 3's",
		"rows differ from slot 4's", "rows differ from slot 5's",
	};

	return kp_same_rows(&c->t[s], &c->t[ref]) ? 0 : fail_slot(c, s, -1, why[ref]);
}

/* n_a * n_b as a row length: non-zero and fitting in 32 bits, else 0. */
static kllm_u64 heads_row(kllm_u32 n_a, kllm_u32 n_b)
{
	kllm_u64 r = (kllm_u64)n_a * n_b;

	return r <= 0xffffffffull ? r : 0;
}

/* x -> y ops of one row length: softmax, unary, scale. */
static int check_map(const struct kp_opctx *c)
{
	return want_len(c, 1, c->t[0].r.ne[0], "row length differs from x's") ||
	       want_rows(c, 1, 0);
}

static int check_matmul(const struct kp_opctx *c)
{
	const struct kp_tensor *w = &c->t[0];

	if (w->mode != KP_ROWS_FIXED)
		return fail_slot(c, 0, -1, "weight rows are batch-shaped");
	return want_len(c, 1, w->r.ne[0], "row length differs from the weight's") ||
	       want_len(c, 2, w->rows, "row length differs from the weight's rows") ||
	       want_rows(c, 2, 1);
}

static int check_rmsnorm(const struct kp_opctx *c)
{
	const kllm_u32 n = c->t[0].r.ne[0];

	if (has(c, 1) && want_len(c, 1, n, "length differs from x's rows"))
		return -KLLM_PROG_EINVAL;
	return want_len(c, 2, n, "row length differs from x's") || want_rows(c, 2, 0);
}

static int check_rope(const struct kp_opctx *c)
{
	const kllm_u32 *p = c->op.p;
	const kllm_u64 row = heads_row(p[0], p[1]);

	if (!row)
		return fail_op(c, "n_head * head_dim is 0 or overflows");
	if (!p[2] || (p[2] & 1) || p[2] > p[1])
		return fail_op(c, "n_dims is 0, odd, or past head_dim");
	if (p[3] != KK_ROPE_NORMAL && p[3] != KK_ROPE_NEOX)
		return fail_op(c, "unknown rope mode");
	if (has(c, 2) && c->t[2].r.ne[0] < p[2] / 2)
		return fail_slot(c, 2, -1, "shorter than n_dims / 2");
	return want_len(c, 0, row, "row length is not n_head * head_dim") ||
	       want_len(c, 3, row, "row length is not n_head * head_dim") ||
	       want_rows(c, 1, 0) || want_rows(c, 3, 0);
}

static int check_fn(const struct kp_opctx *c, kllm_u32 n_fns)
{
	return c->op.p[0] < n_fns ? 0 : fail_op(c, "unknown function");
}

static int check_glu(const struct kp_opctx *c)
{
	const kllm_u32 n = c->t[0].r.ne[0];

	return check_fn(c, 2) ||
	       want_len(c, 1, n, "row length differs from gate's") ||
	       want_len(c, 2, n, "row length differs from gate's") ||
	       want_rows(c, 1, 0) || want_rows(c, 2, 0);
}

static int check_binary(const struct kp_opctx *c)
{
	const struct kp_tensor *b = &c->t[1];
	const kllm_u32 n = c->t[0].r.ne[0];

	if (check_fn(c, 2) || want_len(c, 1, n, "row length differs from a's") ||
	    want_len(c, 2, n, "row length differs from a's") || want_rows(c, 2, 0))
		return -KLLM_PROG_EINVAL;
	if (kp_same_rows(b, &c->t[0]) || (b->mode == KP_ROWS_FIXED && b->rows == 1))
		return 0;
	return fail_slot(c, 1, -1, "rows neither match a's nor are one broadcast row");
}

static int check_get_rows(const struct kp_opctx *c)
{
	return want_len(c, 2, c->t[0].r.ne[0], "row length differs from the table's") ||
	       want_rows(c, 2, 1);
}

/*
 * Both caches: rows of @row elements, the same number of positions (of a
 * paged buffer: one block's, checked with the tensor), of one buffer when
 * paged.
 */
static int check_caches(const struct kp_opctx *c, kllm_u32 ks, kllm_u32 vs,
			kllm_u64 row)
{
	if (want_len(c, ks, row, "row length is not n_kv_head * head_dim") ||
	    want_len(c, vs, row, "row length is not n_kv_head * head_dim"))
		return -KLLM_PROG_EINVAL;
	if (c->t[ks].rows != c->t[vs].rows)
		return fail_slot(c, vs, -1, "positions differ from k_cache's");
	if (c->t[ks].r.type != c->t[vs].r.type)
		return fail_slot(c, vs, -1, "type differs from k_cache's");
	/* a paged sequence's K and V rows are found through one pool */
	if (c->pi->paged && c->t[ks].r.buffer != c->t[vs].r.buffer)
		return fail_slot(c, vs, -1, "paged caches in different buffers");
	return 0;
}

static int check_kv_store(const struct kp_opctx *c)
{
	const kllm_u64 row = heads_row(c->op.p[0], c->op.p[1]);

	if (!row)
		return fail_op(c, "n_kv_head * head_dim is 0 or overflows");
	return want_len(c, 0, row, "row length is not n_kv_head * head_dim") ||
	       want_len(c, 1, row, "row length is not n_kv_head * head_dim") ||
	       want_rows(c, 1, 0) || want_rows(c, 2, 0) || want_rows(c, 3, 0) ||
	       check_caches(c, 4, 5, row);
}

static int check_attention(const struct kp_opctx *c)
{
	const kllm_u32 *p = c->op.p;
	const kllm_u64 q_row = heads_row(p[0], p[2]);
	const kllm_u64 kv_row = heads_row(p[1], p[2]);

	if (!q_row || !kv_row)
		return fail_op(c, "n_head, n_kv_head or head_dim is 0 or too large");
	if (p[0] % p[1])
		return fail_op(c, "n_head is not a multiple of n_kv_head");
	return want_len(c, 0, q_row, "row length is not n_head * head_dim") ||
	       want_len(c, 5, q_row, "row length is not n_head * head_dim") ||
	       want_rows(c, 1, 0) || want_rows(c, 2, 0) || want_rows(c, 5, 0) ||
	       check_caches(c, 3, 4, kv_row);
}

static int check_shapes(const struct kp_opctx *c)
{
	switch (c->op.kind) {
	case KLLM_PROG_OP_MATMUL:
		return check_matmul(c);
	case KLLM_PROG_OP_RMSNORM:
		return check_rmsnorm(c);
	case KLLM_PROG_OP_ROPE:
		return check_rope(c);
	case KLLM_PROG_OP_SOFTMAX:
	case KLLM_PROG_OP_SCALE:
		return check_map(c);
	case KLLM_PROG_OP_UNARY:
		return check_fn(c, 2) || check_map(c);
	case KLLM_PROG_OP_GLU:
		return check_glu(c);
	case KLLM_PROG_OP_BINARY:
		return check_binary(c);
	case KLLM_PROG_OP_GET_ROWS:
		return check_get_rows(c);
	case KLLM_PROG_OP_KV_STORE:
		return check_kv_store(c);
	case KLLM_PROG_OP_ATTENTION:
		return check_attention(c);
	case KLLM_PROG_OP_ARGMAX:
		return want_rows(c, 1, 0);
	}
	return fail_op(c, "unknown kind");
}

/*
 * Do the bytes two tensors touch at max_batch intersect?  Rows of one
 * stride interleaved with another's (views into one fused row) do not.
 */
static int tensors_overlap(const struct kllm_prog_info *pi, const struct kp_tensor *a,
			   const struct kp_tensor *b)
{
	const kllm_u32 ra = kp_rows_at(a, pi->max_batch, pi->max_batch);
	const kllm_u32 rb = kp_rows_at(b, pi->max_batch, pi->max_batch);
	kllm_u64 ea, eb, s, d;

	if (a->r.buffer != b->r.buffer || !ra || !rb ||
	    kp_tensor_end(a, ra, &ea) || kp_tensor_end(b, rb, &eb))
		return 0;
	if (ea <= b->r.offset || eb <= a->r.offset)
		return 0;
	if (ra > 1 && rb > 1 && a->r.row_stride == b->r.row_stride) {
		/* rows are arcs of a circle of one stride: disjoint if
		 * neither arc holds the other's start */
		s = a->r.row_stride;
		d = (b->r.offset % s + s - a->r.offset % s) % s;
		if (d >= a->row_bytes && (s - d) % s >= b->row_bytes)
			return 0;
	}
	return 1;
}

static int same_tensor(const struct kp_tensor *a, const struct kp_tensor *b)
{
	return a->r.buffer == b->r.buffer && a->r.offset == b->r.offset &&
	       a->r.row_stride == b->r.row_stride && a->r.type == b->r.type &&
	       a->r.ne[0] == b->r.ne[0] && kp_same_rows(a, b);
}

/* A written tensor may overlap no other tensor of the op, except one it
 * exactly equals where the kernels compute in place. */
static int check_overlaps(const struct kp_opctx *c)
{
	static const char *const why[KLLM_PROG_OP_SLOTS] = {
		"overlaps slot 0's tensor", "overlaps slot 1's tensor",
		"overlaps slot 2's tensor", "overlaps slot 3's tensor",
		"overlaps slot 4's tensor", "overlaps slot 5's tensor",
	};
	kllm_u32 w, o;

	for (w = 0; w < KLLM_PROG_OP_SLOTS; w++) {
		if (!(c->kd->s[w].how & S_W) || !has(c, w))
			continue;
		for (o = 0; o < KLLM_PROG_OP_SLOTS; o++) {
			if (o == w || c->kd->s[o].cls == C_NONE || !has(c, o) ||
			    !tensors_overlap(c->pi, &c->t[w], &c->t[o]))
				continue;
			if ((c->kd->s[w].inplace & (1u << o)) &&
			    same_tensor(&c->t[w], &c->t[o]))
				continue;
			return fail_slot(c, w, -1, why[o]);
		}
	}
	return 0;
}

/* Lower at max_batch with dummy pointers and let the kernels judge it. */
static int check_kernel(struct kp_opctx *c, struct kllm_prog_info *pi)
{
	struct kk_op kop;
	kllm_u64 scratch;

	if (kp_lower_dummy(pi, c->index, &kop))
		return fail_op(c, "cannot be lowered");
	if (kk_op_check(&kop))
		return fail_op(c, "kernels reject its parameters");
	scratch = kk_op_scratch_size(&kop);
	if (scratch > pi->scratch_bytes)
		pi->scratch_bytes = scratch;
	return 0;
}

int kp_check_op(struct kllm_prog_info *pi, kllm_u32 index, struct kllm_prog_err *err)
{
	const kllm_u8 *rec = pi->base + pi->ops_off + (kllm_u64)index * pi->op_size;
	struct kp_opctx c;
	kllm_u32 s;

	c.pi = pi;
	c.err = err;
	c.index = index;
	kp_read_op(pi, index, &c.op);
	if (c.op.kind == 0 || c.op.kind >= KLLM_PROG_OP_KIND_MAX)
		return kp_fail(err, (kllm_s32)index, c.op.kind, (const char *)0, -1, -1,
			       "unknown kind");
	c.kd = &kp_kinds[c.op.kind];
	if (!kp_all_zero(c.op.reserved, 4) ||
	    !kp_zero_tail(rec, sizeof(c.op), pi->op_size))
		return fail_op(&c, "reserved field is not zero");
	if (c.op.flags & ~c.kd->flags)
		return fail_op(&c, "unknown flags");
	if (!kp_all_zero(c.op.p + c.kd->n_params, KLLM_PROG_OP_PARAMS - c.kd->n_params))
		return fail_op(&c, "unused parameter is not zero");
	for (s = 0; s < KLLM_PROG_OP_SLOTS; s++)
		if (check_slot(&c, s))
			return -KLLM_PROG_EINVAL;
	if (check_shapes(&c) || check_overlaps(&c))
		return -KLLM_PROG_EINVAL;
	return check_kernel(&c, pi);
}
