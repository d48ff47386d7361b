// SPDX-License-Identifier: MIT
/*
 * test_attention.c - the KV store and causal attention over F16 and Q8_0
 * caches.
 *
 *   store      KV_STORE writes exactly the f16 (Q8_0) rounding of each row at
 *              (seq, pos), on every path; rows with a bad seq or pos leave
 *              the caches untouched;
 *   reference  the scalar path against a double-precision attention (q
 *              rounded to f16 or Q8_0 as the kernels do, K/V read from the cache,
 *              exact softmax, softcap): |err| <= 2e-5 (V is in [-1, 1]);
 *   paths      every SIMD path within 2e-5 of the scalar path (they only
 *              reorder float dot products and use FMA in the V sum);
 *   batching   a batch equals its tokens run one by one, bit for bit, and
 *              item by item equals one execution, and in place (y = q);
 *   layouts    n_head/n_kv 32/4, 8/8, 4/2, 2/1, 3/1, 9/1, 16/1, head_dim
 *              20..256, two sequences at different positions in one batch,
 *              positions at and past the end of the cache, windows shorter
 *              and longer than a span, max_ctx below the caches' ctx and 0
 *              (no split); contexts of up to 600 positions, so rows are
 *              split into up to 19 spans;
 *   items      (spying on the path's span function) every stage-0 item does
 *              at most 512 positions and 16384 head * dim * positions of
 *              work, and the items of a (row, head) cover its range exactly
 *              once, up to contexts of 1500;
 *   params     bad shapes and types are refused, and so are scratch sizes
 *              that overflow; bad seq/pos give zeros;
 *   paged      caches in shuffled pool blocks through block tables give
 *              bitwise the contiguous results and bytes (kt_attn_paged.h).
 *
 * Scratch is allocated at exactly kk_op_scratch_size() bytes, filled with
 * NaNs, so that ASan sees an overrun and a read of unwritten scratch shows.
 */
#include "kt_ops.h"
#include "kk_impl.h"

struct attn_case {
	uint32_t n_head, n_kv, head_dim, window;
	float softcap;
	uint32_t kv_type;
	uint32_t max_ctx;
};

static const struct attn_case cases[] = {
	{ 32, 4, 64, 0, 0.0f, KK_TYPE_F16, 600 },
	{ 8, 8, 128, 0, 0.0f, KK_TYPE_F16, 500 },
	{ 4, 2, 80, 0, 0.0f, KK_TYPE_F16, 0 },
	{ 4, 2, 80, 150, 0.0f, KK_TYPE_F16, 600 },
	{ 2, 1, 256, 5, 50.0f, KK_TYPE_F16, 600 },
	{ 3, 1, 20, 0, 2.0f, KK_TYPE_F16, 250 },
	{ 9, 1, 64, 0, 0.0f, KK_TYPE_F16, 600 },
	{ 16, 1, 32, 300, 30.0f, KK_TYPE_F16, 0 },
	{ 4, 2, 64, 0, 0.0f, KK_TYPE_Q8_0, 600 },
	{ 8, 8, 96, 6, 3.0f, KK_TYPE_Q8_0, 0 },
	{ 2, 1, 128, 0, 0.0f, KK_TYPE_Q8_0, 700 },
};

#define N_SEQS 2
#define MAX_CTX 600
static const uint32_t ctx[N_SEQS] = { 200, MAX_CTX };
static const uint32_t filled[N_SEQS] = { 190, MAX_CTX };	/* positions stored */

/* Rows of the attention batch: (seq, pos); the last three are invalid. */
static const int32_t a_seq[] = { 0, 1, 0, 1, 0, 1, 1, 0, 1, 5, -1, 0 };
static const int32_t a_pos[] = { 189, 599, 0, 5, 12, 700, 598, 150, 300, 3, 3, -2 };
#define N_ROWS ((uint32_t)(sizeof(a_seq) / sizeof(a_seq[0])))

struct fixture {
	const struct attn_case *c;
	uint32_t kv_row, q_row;
	uint64_t kv_bytes;		/* bytes of a cache row */
	uint8_t *k[N_SEQS], *v[N_SEQS];
	float *kf[N_SEQS], *vf[N_SEQS];	/* the caches as floats */
	struct kk_kv_seq seqs[N_SEQS];
	float *q, *y, *ref;
};

/* Fill the caches through KV_STORE, checking what it writes. */
static void fill_caches(struct fixture *F, struct kt_rng *rng, uint32_t path)
{
	const uint32_t kvr = F->kv_row;
	uint32_t rows = filled[0] + filled[1] + 4;
	float *k = kt_floats((size_t)rows * (kvr + 1)), *v = kt_floats((size_t)rows * kvr);
	int32_t *seq = kt_alloc(rows * sizeof(int32_t)), *pos = kt_alloc(rows * sizeof(int32_t));
	const uint64_t rb = F->kv_bytes;
	uint8_t *hk = kt_alloc(rb), *hv = kt_alloc(rb);
	struct kk_op op = { .kind = KK_OP_KV_STORE };
	uint32_t r = 0;

	kt_fill_f32(rng, k, (size_t)rows * (kvr + 1), -1.0f, 1.0f);
	kt_fill_f32(rng, v, (size_t)rows * kvr, -1.0f, 1.0f);
	for (uint32_t s = 0; s < N_SEQS; s++) {
		for (uint32_t p = 0; p < filled[s]; p++, r++) {
			seq[r] = (int32_t)s;
			pos[r] = (int32_t)(filled[s] - 1 - p);	/* any order */
		}
		memset(F->k[s], 0xee, ctx[s] * rb);
		memset(F->v[s], 0xee, ctx[s] * rb);
	}
	/* out of range: must not be written anywhere */
	seq[r] = 2; pos[r++] = 0;
	seq[r] = -1; pos[r++] = 0;
	seq[r] = 0; pos[r++] = (int32_t)ctx[0];
	seq[r] = 1; pos[r++] = -1;
	op.kv_store = (struct kk_kv_store){ .k = k, .v = v, .k_stride = kvr + 1,
		.v_stride = kvr, .seqs = F->seqs, .seq = seq, .pos = pos,
		.n_seqs = N_SEQS, .rows = rows, .n_kv_head = F->c->n_kv,
		.head_dim = F->c->head_dim, .kv_type = F->c->kv_type };
	kt_select(path);
	kt_exec(&op);
	for (r = 0; r < rows; r++) {
		int ok = seq[r] >= 0 && seq[r] < N_SEQS && pos[r] >= 0 &&
			 (uint32_t)pos[r] < ctx[seq[r]];

		if (!ok)
			continue;
		kk_quantize_row(F->c->kv_type, k + r * (kvr + 1), hk, kvr);
		kk_quantize_row(F->c->kv_type, v + r * kvr, hv, kvr);
		ck_assert_msg(!memcmp(hk, F->k[seq[r]] + pos[r] * rb, rb) &&
			      !memcmp(hv, F->v[seq[r]] + pos[r] * rb, rb),
			      "%s store row %u", kk_simd_name(path), r);
	}
	/* positions never stored kept their bytes */
	for (uint64_t i = filled[0] * rb; i < ctx[0] * rb; i++)
		ck_assert(F->k[0][i] == 0xee && F->v[0][i] == 0xee);
	free(k);
	free(v);
	free(hk);
	free(hv);
	free(seq);
	free(pos);
}

static void ref_attention(const struct fixture *F, uint32_t t, double *out)
{
	const struct attn_case *c = F->c;
	const uint32_t hd = c->head_dim, group = c->n_head / c->n_kv;
	const int32_t s = a_seq[t], pos = a_pos[t];
	/* off the stack: -Wframe-larger-than */
	static double sc[MAX_CTX], qd[256];
	static float qf[256];
	static uint8_t qb[1024];

	for (uint32_t h = 0; h < c->n_head; h++) {
		double *o = out + h * hd, mx = -INFINITY, sum = 0;
		uint32_t j0 = 0, j1;

		memset(o, 0, hd * sizeof(double));
		if (s < 0 || s >= N_SEQS || pos < 0)
			continue;
		j1 = (uint32_t)pos + 1 < ctx[s] ? (uint32_t)pos + 1 : ctx[s];
		if (c->max_ctx && j1 > c->max_ctx)
			j1 = c->max_ctx;
		if (c->window && (uint32_t)pos + 1 > c->window)
			j0 = (uint32_t)pos + 1 - c->window;
		/* q as the kernels see it: rounded to the cache's type */
		kk_quantize_row(c->kv_type, F->q + t * F->q_row + h * hd, qb, hd);
		kk_dequantize_row(c->kv_type, qb, qf, hd);
		for (uint32_t d = 0; d < hd; d++)
			qd[d] = qf[d];
		for (uint32_t j = j0; j < j1; j++) {
			const float *kj = F->kf[s] + (size_t)j * F->kv_row + (h / group) * hd;
			double dot = 0;

			for (uint32_t d = 0; d < hd; d++)
				dot += qd[d] * kj[d];
			dot *= 1.0 / sqrt((double)hd);
			if (c->softcap != 0.0f)
				dot = c->softcap * tanh(dot / c->softcap);
			sc[j - j0] = dot;
			mx = fmax(mx, dot);
		}
		for (uint32_t j = j0; j < j1; j++)
			sum += sc[j - j0] = exp(sc[j - j0] - mx);
		for (uint32_t j = j0; j < j1; j++) {
			const float *vj = F->vf[s] + (size_t)j * F->kv_row + (h / group) * hd;

			for (uint32_t d = 0; d < hd; d++)
				o[d] += sc[j - j0] / sum * vj[d];
		}
	}
}

/* The scratch of the last attn_op(): exactly its size, NaN filled. */
static void *scratch;

static void scratch_for(struct kk_op *op)
{
	uint64_t n = kk_op_scratch_size(op);

	free(scratch);
	scratch = NULL;
	op->scratch = NULL;
	if (!n)
		return;
	scratch = malloc(n);
	ck_assert_ptr_nonnull(scratch);
	memset(scratch, 0xff, n);
	op->scratch = scratch;
}

static void attn_op(const struct fixture *F, struct kk_op *op, uint32_t t0,
		    uint32_t rows, float *y)
{
	const struct attn_case *c = F->c;

	memset(op, 0, sizeof(*op));
	op->kind = KK_OP_ATTENTION;
	op->attention = (struct kk_attention){ .q = F->q + (size_t)t0 * F->q_row,
		.y = y, .q_stride = F->q_row, .y_stride = F->q_row,
		.seqs = F->seqs, .seq = a_seq + t0, .pos = a_pos + t0,
		.n_seqs = N_SEQS, .rows = rows, .n_head = c->n_head,
		.n_kv_head = c->n_kv, .head_dim = c->head_dim,
		.kv_type = c->kv_type, .window = c->window,
		.scale_bits = kk_fbits(1.0f / sqrtf((float)c->head_dim)),
		.softcap_bits = kk_fbits(c->softcap), .max_ctx = c->max_ctx };
	scratch_for(op);
}

START_TEST(test_attention_cases)
{
	const struct attn_case *c = &cases[_i];
	const uint32_t mask = kt_paths();
	struct fixture F = { .c = c, .kv_row = c->n_kv * c->head_dim,
			     .q_row = c->n_head * c->head_dim,
			     .kv_bytes = kk_row_bytes(c->kv_type, c->n_kv * c->head_dim) };
	const size_t ny = (size_t)N_ROWS * F.q_row;
	double *r = kt_alloc(F.q_row * sizeof(double));
	float *one = kt_floats(F.q_row), *items = kt_floats(ny);
	struct kt_rng rng;
	struct kk_op op;

	kt_rng_seed(&rng, 200 + _i);
	for (uint32_t s = 0; s < N_SEQS; s++) {
		F.k[s] = kt_alloc(ctx[s] * F.kv_bytes);
		F.v[s] = kt_alloc(ctx[s] * F.kv_bytes);
		F.seqs[s] = (struct kk_kv_seq){ .k = F.k[s], .v = F.v[s], .ctx = ctx[s] };
	}
	F.q = kt_floats(ny);
	F.y = kt_floats(ny);
	F.ref = kt_floats(ny);
	/* large q makes peaked softmaxes, and scores for the softcap */
	kt_fill_f32(&rng, F.q, ny, -3.0f, 3.0f);

	KT_FOR_EACH_PATH(p, mask)
		fill_caches(&F, &rng, p);	/* the last path's values stay */

	for (uint32_t s = 0; s < N_SEQS; s++) {
		F.kf[s] = kt_floats((size_t)ctx[s] * F.kv_row);
		F.vf[s] = kt_floats((size_t)ctx[s] * F.kv_row);
		kk_dequantize_row(c->kv_type, F.k[s], F.kf[s], (uint64_t)ctx[s] * F.kv_row);
		kk_dequantize_row(c->kv_type, F.v[s], F.vf[s], (uint64_t)ctx[s] * F.kv_row);
	}
	kt_select(KK_SIMD_SCALAR);
	attn_op(&F, &op, 0, N_ROWS, F.ref);
	kt_exec(&op);
	for (uint32_t t = 0; t < N_ROWS; t++) {
		size_t at = 0;
		double e;

		ref_attention(&F, t, r);
		e = kt_max_abs_err_d(F.ref + t * F.q_row, r, F.q_row, &at);
		ck_assert_msg(e <= 2e-5, "case %d row %u (seq %d pos %d): err %g at %zu",
			      _i, t, a_seq[t], a_pos[t], e, at);
	}
	KT_FOR_EACH_PATH(p, mask) {
		/* ggml rounds the probabilities to f16 (2^-11) before the V sum */
		const float tol = p == KK_SIMD_GGML && c->kv_type == KK_TYPE_F16 ? 5e-4f : 2e-5f;

		kt_select(p);
		memset(F.y, 0xff, ny * sizeof(float));
		attn_op(&F, &op, 0, N_ROWS, F.y);
		kt_exec(&op);
		for (size_t i = 0; i < ny; i++)
			ck_assert_msg(fabsf(F.y[i] - F.ref[i]) <= tol,
				      "%s case %d elem %zu: %g vs %g", kk_simd_name(p),
				      _i, i, F.y[i], F.ref[i]);
		/* the same tokens one at a time: bitwise */
		for (uint32_t t = 0; t < N_ROWS; t++) {
			attn_op(&F, &op, t, 1, one);
			kt_exec(&op);
			ck_assert_msg(!memcmp(one, F.y + t * F.q_row, F.q_row * sizeof(float)),
				      "%s case %d row %u: batch != alone", kk_simd_name(p), _i, t);
		}
		/* item by item */
		attn_op(&F, &op, 0, N_ROWS, items);
		kt_exec_items_one_by_one(&op);
		ck_assert(!memcmp(items, F.y, ny * sizeof(float)));
		/* in place: y = q */
		memcpy(items, F.q, ny * sizeof(float));
		attn_op(&F, &op, 0, N_ROWS, items);
		op.attention.q = items;
		kt_exec(&op);
		ck_assert_msg(!memcmp(items, F.y, ny * sizeof(float)),
			      "%s case %d: in place differs", kk_simd_name(p), _i);
	}
	for (uint32_t s = 0; s < N_SEQS; s++) {
		free(F.k[s]);
		free(F.v[s]);
		free(F.kf[s]);
		free(F.vf[s]);
	}
	free(F.q);
	free(F.y);
	free(F.ref);
	free(r);
	free(one);
	free(items);
	free(scratch);
	scratch = NULL;
}
END_TEST

/* ---- items: spying on the path's span function ---- */

#define SPY_MAX_ROWS 4
#define SPY_MAX_HEADS 32

static struct {
	const struct kk_impl *real;
	const float *q;
	uint64_t q_stride, calls;
	uint32_t head_dim, max_pos, max_work;
	uint64_t covered[SPY_MAX_ROWS][SPY_MAX_HEADS];
} spy;

static void spy_attn_f16(const struct kk_attn_span *sp)
{
	const uint64_t off = (uint64_t)(sp->q - spy.q);
	const uint64_t t = off / spy.q_stride, h = off % spy.q_stride / spy.head_dim;
	const uint32_t work = sp->n_pos * sp->n_q * sp->head_dim;

	ck_assert_uint_eq(sp->head_dim, spy.head_dim);
	ck_assert_uint_lt(t, SPY_MAX_ROWS);
	ck_assert_uint_le(h + sp->n_q, SPY_MAX_HEADS);
	ck_assert_uint_ge(sp->n_q, 1);
	ck_assert_uint_le(sp->n_q, KK_ATTN_MAX_GROUP);
	spy.calls++;
	spy.max_pos = sp->n_pos > spy.max_pos ? sp->n_pos : spy.max_pos;
	spy.max_work = work > spy.max_work ? work : spy.max_work;
	for (uint32_t i = 0; i < sp->n_q; i++)
		spy.covered[t][h + i] += sp->n_pos;
	spy.real->ops.attn_f16(sp);
}

/*
 * Long contexts: each stage-0 item is bounded work, the items of a
 * (row, head) cover its positions exactly once, the result is that of
 * kk_op_exec, and chunks hold one full item.
 */
START_TEST(test_attention_items)
{
	static const struct { uint32_t n_head, n_kv, hd, window; } shapes[] = {
		{ 32, 8, 64, 0 }, { 32, 1, 64, 0 }, { 14, 2, 64, 0 },
		{ 8, 1, 256, 0 }, { 16, 16, 128, 0 }, { 12, 4, 80, 700 },
	};
	enum { CTX = 1500, ROWS = 3 };
	int32_t pos[ROWS] = { CTX - 1, 130, 900 }, seq[ROWS] = { 0, 0, 0 };

	KT_FOR_EACH_PATH(path, kt_paths_native()) {
		struct kk_impl fake;

		kt_select(path);
		for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			const uint32_t hd = shapes[i].hd, row = shapes[i].n_head * hd;
			const uint64_t cache = (uint64_t)CTX * shapes[i].n_kv * hd;
			struct kk_kv_seq kv = { .k = kt_alloc(cache * 2),
						.v = kt_alloc(cache * 2), .ctx = CTX };
			float *q = kt_floats((size_t)ROWS * row), *y = kt_floats((size_t)ROWS * row);
			float *y2 = kt_floats((size_t)ROWS * row);
			struct kt_rng rng;
			struct kk_op op = { .kind = KK_OP_ATTENTION };

			kt_rng_seed(&rng, 900 + i);
			kt_fill_f32(&rng, q, (size_t)ROWS * row, -1.0f, 1.0f);
			for (uint64_t e = 0; e < cache; e++) {	/* small f16s */
				((uint16_t *)kv.k)[e] = (uint16_t)(0x2000 + kt_rng_u64(&rng) % 0x1000);
				((uint16_t *)kv.v)[e] = (uint16_t)(0x2000 + kt_rng_u64(&rng) % 0x1000);
			}
			op.attention = (struct kk_attention){ .q = q, .y = y,
				.q_stride = row, .y_stride = row, .seqs = &kv,
				.seq = seq, .pos = pos, .n_seqs = 1, .rows = ROWS,
				.n_head = shapes[i].n_head, .n_kv_head = shapes[i].n_kv,
				.head_dim = hd, .kv_type = KK_TYPE_F16,
				.window = shapes[i].window, .max_ctx = CTX,
				.scale_bits = kk_fbits(0.125f) };
			scratch_for(&op);
			ck_assert_uint_eq(kk_op_stages(&op), 2);
			ck_assert_uint_eq(kk_op_chunk_items(&op, 0), 1);
			kt_exec(&op);

			memset(&spy, 0, sizeof(spy));
			spy.real = kk_impl_cur;
			spy.q = q;
			spy.q_stride = row;
			spy.head_dim = hd;
			fake = *kk_impl_cur;
			fake.ops.attn_f16 = spy_attn_f16;
			kk_impl_cur = &fake;
			scratch_for(&op);
			op.attention.y = y2;
			for (uint64_t it = 0; it < kk_op_items(&op, 0); it++) {
				uint64_t before = spy.calls;

				kk_op_run(&op, 0, it, it + 1);
				ck_assert_uint_le(spy.calls - before, 1);
			}
			for (uint64_t it = 0; it < kk_op_items(&op, 1); it++)
				kk_op_run(&op, 1, it, it + 1);
			kk_impl_cur = spy.real;

			ck_assert_msg(spy.max_pos <= 512 && spy.max_work <= 16384,
				      "%s shape %zu: an item does %u positions, work %u",
				      kk_simd_name(path), i, spy.max_pos, spy.max_work);
			for (uint32_t t = 0; t < ROWS; t++) {
				uint64_t n = (uint64_t)pos[t] + 1;

				if (shapes[i].window && n > shapes[i].window)
					n = shapes[i].window;
				for (uint32_t h = 0; h < shapes[i].n_head; h++)
					ck_assert_msg(spy.covered[t][h] == n,
						      "%s shape %zu row %u head %u: %llu of %llu positions",
						      kk_simd_name(path), i, t, h,
						      (unsigned long long)spy.covered[t][h],
						      (unsigned long long)n);
			}
			ck_assert(!memcmp(y, y2, (size_t)ROWS * row * sizeof(float)));
			free(kv.k);
			free(kv.v);
			free(q);
			free(y);
			free(y2);
		}
	}
	free(scratch);
	scratch = NULL;
}
END_TEST

START_TEST(test_attention_bad_params)
{
	int32_t pos[2] = { 0, 1 }, seq[2] = { 0, 0 };
	float q[64];
	struct kk_op op = { .kind = KK_OP_ATTENTION };
	const struct kk_attention good = { .q = q, .y = q, .seq = seq,
		.pos = pos, .rows = 1, .n_head = 4, .n_kv_head = 2,
		.head_dim = 16, .kv_type = KK_TYPE_F16, .n_seqs = 1,
		.scale_bits = kk_fbits(0.25f) };
	const struct kk_kv_store kgood = { .k = q, .v = q, .seq = seq,
		.pos = pos, .rows = 1, .n_kv_head = 2, .head_dim = 16,
		.kv_type = KK_TYPE_F16, .n_seqs = 1 };

#define BAD(field, val) do { \
		op.kind = KK_OP_ATTENTION; \
		op.attention = good; \
		op.attention.field = (val); \
		ck_assert_msg(kk_op_check(&op) == -KK_EINVAL, "accepted %s = %s", \
			      #field, #val); \
	} while (0)
#define KBAD(field, val) do { \
		op.kind = KK_OP_KV_STORE; \
		op.kv_store = kgood; \
		op.kv_store.field = (val); \
		ck_assert_msg(kk_op_check(&op) == -KK_EINVAL, "accepted %s = %s", \
			      #field, #val); \
	} while (0)

	op.attention = good;
	ck_assert_int_eq(kk_op_check(&op), 0);
	BAD(n_kv_head, 3);
	BAD(n_kv_head, 0);
	BAD(n_head, 0);
	BAD(head_dim, 0);
	BAD(head_dim, 257);
	BAD(kv_type, KK_TYPE_F32);
	BAD(kv_type, KK_TYPE_Q8_0);	/* head_dim 16: heads would split blocks */
	BAD(kv_type, 77);
	BAD(scale_bits, kk_fbits(NAN));
	BAD(softcap_bits, kk_fbits(-1.0f));
	BAD(softcap_bits, kk_fbits(INFINITY));
	/* too many spans for the stage-1 items, or scratch past 2^62 bytes */
	BAD(max_ctx, 0x7fffffff);
	BAD(window, 0x7fffffff);
	op.attention = good;
	op.attention.max_ctx = 0x7fffffff;
	op.attention.window = 4096;
	ck_assert_int_eq(kk_op_check(&op), 0);
	op.attention.rows = 0xffffffff;
	op.attention.y_stride = 0x10000000;
	op.attention.n_head = op.attention.n_kv_head = 0x1000000;
	ck_assert_int_eq(kk_op_check(&op), -KK_EINVAL);
	op.attention = good;
	op.attention.kv_type = KK_TYPE_Q8_0;
	op.attention.head_dim = 32;
	ck_assert_int_eq(kk_op_check(&op), 0);
	op.attention = good;
	op.attention.rows = 2;
	op.attention.y_stride = 63;
	ck_assert_int_eq(kk_op_check(&op), -KK_EINVAL);
	op.kind = KK_OP_KV_STORE;
	op.kv_store = kgood;
	ck_assert_int_eq(kk_op_check(&op), 0);
	KBAD(kv_type, KK_TYPE_BF16);
	KBAD(kv_type, KK_TYPE_Q8_0);
	KBAD(n_kv_head, 0);
	KBAD(head_dim, 0);
#undef BAD
#undef KBAD
}
END_TEST

/* Empty caches and rows pointing nowhere give zeros and touch nothing. */
START_TEST(test_attention_harmless)
{
	uint16_t kc[4 * 8], vc[4 * 8];
	struct kk_kv_seq seqs[2] = { { .k = kc, .v = vc, .ctx = 4 },
				     { .k = NULL, .v = NULL, .ctx = 0 } };
	int32_t seq[5] = { 1, 0, 0, INT32_MIN, 0 };
	int32_t pos[5] = { 0, INT32_MIN, INT32_MAX, 0, 3 };
	float q[5 * 16], y[5 * 16];
	struct kk_op op = { .kind = KK_OP_ATTENTION };

	for (int i = 0; i < 32; i++)
		kc[i] = vc[i] = 0x3c00;	/* 1.0 */
	for (int i = 0; i < 80; i++)
		q[i] = 0.5f;
	op.attention = (struct kk_attention){ .q = q, .y = y, .q_stride = 16,
		.y_stride = 16, .seqs = seqs, .seq = seq, .pos = pos,
		.n_seqs = 2, .rows = 5, .n_head = 2, .n_kv_head = 1,
		.head_dim = 8, .kv_type = KK_TYPE_F16,
		.scale_bits = kk_fbits(1.0f) };
	scratch_for(&op);
	KT_FOR_EACH_PATH(p, kt_paths()) {
		kt_select(p);
		memset(y, 0x55, sizeof(y));
		kt_exec(&op);
		for (int t = 0; t < 5; t++)
			for (int i = 0; i < 16; i++) {
				/* row 2 (pos past the end) attends to all 4;
				 * row 4 to positions 0..3: both give 1.0 */
				float want = (t == 2 || t == 4) ? 1.0f : 0.0f;

				ck_assert_msg(y[t * 16 + i] == want, "%s row %d: %g",
					      kk_simd_name(p), t, y[t * 16 + i]);
			}
	}
	free(scratch);
	scratch = NULL;
}
END_TEST

#include "kt_attn_paged.h"

static Suite *attention_suite(void)
{
	Suite *s = suite_create("attention");
	TCase *tc = tcase_create("attention");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_attention_cases, 0,
			    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_attention_items);
	tcase_add_test(tc, test_attention_bad_params);
	tcase_add_test(tc, test_attention_harmless);
	tcase_add_loop_test(tc, test_attention_paged, 0,
			    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_attention_paged_readonly);
	tcase_add_loop_test(tc, test_attention_paged_hostile, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(attention_suite());
}
