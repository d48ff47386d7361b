// SPDX-License-Identifier: MIT
/*
 * test_threads.c - results never depend on the thread count.
 *
 * Every op (matmul over every weight type with m = 1 and m = 5, and each
 * other op kind) runs through kk_op_exec on pools of 1, 2, 3 and 7 threads,
 * with the op's own chunk size and with chunks forced down to 1 and 3 items
 * (a home may always split finer), for every SIMD path this machine has.
 * The outputs must be bitwise identical to the 1-thread run, and fully
 * written (they start as a NaN sentinel).
 */
#include "kt.h"

#include <errno.h>

#include "kllm_internal.h"
#include "kt_host.h"

static const unsigned int thread_counts[] = { 1, 2, 3, 7 };
#define N_POOLS (sizeof(thread_counts) / sizeof(thread_counts[0]))
static const uint64_t forced_chunks[] = { 0, 1, 3 };	/* 0: the op's own */
#define N_CHUNKS (sizeof(forced_chunks) / sizeof(forced_chunks[0]))

static struct kllm_pool *pools[N_POOLS];


static void pools_up(void)
{
	for (size_t i = 0; i < N_POOLS; i++)
		ck_assert_int_eq(kllm_pool_create(thread_counts[i], &pools[i]), 0);
}

static void pools_down(void)
{
	for (size_t i = 0; i < N_POOLS; i++) {
		kllm_pool_destroy(pools[i]);
		pools[i] = NULL;
	}
}

/* Select path _i; 0 if this machine or build lacks it (test passes idle). */
static int use_path(unsigned int simd)
{
	if (!(kllm_cpu_simd_mask() & (1u << simd)))
		return 0;
	ck_assert_int_eq(kllm_cpu_select(simd), 0);
	ck_assert_uint_eq(kk_simd_selected(), simd);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Outputs of an op: what to reset before each run and compare after.  */

#define MAX_OUT 4

struct out_region {
	void *p;
	size_t bytes;
	const void *init;	/* reset to this; NULL = 0xff (NaN) sentinel */
	int floats;		/* every element must end up non-NaN */
};

struct op_case {
	const char *name;
	struct kk_op op;
	struct out_region out[MAX_OUT];
	unsigned int n_out;
};

static void reset_outputs(const struct op_case *c)
{
	for (unsigned int i = 0; i < c->n_out; i++) {
		if (c->out[i].init)
			memcpy(c->out[i].p, c->out[i].init, c->out[i].bytes);
		else
			memset(c->out[i].p, 0xff, c->out[i].bytes);
	}
}

static void check_written(const struct op_case *c)
{
	for (unsigned int i = 0; i < c->n_out; i++) {
		const float *f = c->out[i].p;

		if (!c->out[i].floats)
			continue;
		for (size_t j = 0; j < c->out[i].bytes / sizeof(float); j++)
			if (isnan(f[j]))
				ck_abort_msg("%s (%s): output %u element %zu not written (NaN)",
					     c->name, kk_simd_name(kk_simd_selected()), i, j);
	}
}

/*
 * Run the case on every pool and chunking; compare with the first run.
 * Returns the reference snapshot (caller frees) for extra checks.
 */
static uint8_t *run_everywhere(struct op_case *c)
{
	size_t total = 0, off;
	uint8_t *ref, *got;
	void *scratch = NULL;
	kk_u64 ss;

	ck_assert_msg(kk_op_check(&c->op) == 0, "%s: kk_op_check rejects the op", c->name);
	ss = kk_op_scratch_size(&c->op);
	if (ss) {
		scratch = kt_alloc(ss);
		c->op.scratch = scratch;
	}
	for (unsigned int i = 0; i < c->n_out; i++)
		total += c->out[i].bytes;
	ref = kt_alloc(total);
	got = kt_alloc(total);
	for (size_t p = 0; p < N_POOLS; p++) {
		for (size_t k = 0; k < N_CHUNKS; k++) {
			struct kt_fine_host fh = { .pool = pools[p], .chunk = forced_chunks[k] };
			struct kk_host host = { .parallel_for = kt_fine_parallel_for, .ctx = &fh };
			uint8_t *dst = p == 0 && k == 0 ? ref : got;

			reset_outputs(c);
			ck_assert_int_eq(kk_op_exec(&host, &c->op), 0);
			off = 0;
			for (unsigned int i = 0; i < c->n_out; i++) {
				memcpy(dst + off, c->out[i].p, c->out[i].bytes);
				off += c->out[i].bytes;
			}
			if (dst == ref) {
				check_written(c);
				continue;
			}
			for (size_t b = 0; b < total; b++)
				if (got[b] != ref[b])
					ck_abort_msg("%s (%s): %u threads, chunk %llu: byte %zu of %zu differs from 1 thread",
						     c->name, kk_simd_name(kk_simd_selected()),
						     thread_counts[p], (unsigned long long)forced_chunks[k],
						     b, total);
		}
	}
	free(got);
	free(scratch);
	c->op.scratch = NULL;
	return ref;
}

/* ------------------------------------------------------------------ */
/* Random inputs.                                                       */

static struct kt_rng rng;

static float *rand_f32(size_t n, float lo, float hi)
{
	float *x = kt_alloc(n * sizeof(float));

	kt_fill_f32(&rng, x, n, lo, hi);
	return x;
}

/* A sane fp16 scale in [2^-8, 2^-6): random bytes elsewhere in the block. */
static void put_scale(uint8_t *p)
{
	uint16_t h = (uint16_t)(0x1c00 + (kt_rng_u64(&rng) % 0x800));

	memcpy(p, &h, 2);
}

/*
 * Weight rows of @type: float types through the quantizer, block types as
 * random bytes with sane scales written over d (and m / dmin).
 */
static void *rand_weights(uint32_t type, uint32_t k, uint32_t rows, uint64_t row_bytes)
{
	uint8_t *w = kt_alloc(row_bytes * rows);
	uint32_t bb = kk_type_block_bytes(type), be = kk_type_block_elems(type);

	if (type == KK_TYPE_F32 || type == KK_TYPE_F16 || type == KK_TYPE_BF16) {
		float *x = rand_f32(k, -1, 1);

		for (uint32_t r = 0; r < rows; r++) {
			kt_fill_f32(&rng, x, k, -1, 1);
			ck_assert_int_eq(kk_quantize_row(type, x, w + r * row_bytes, k), 0);
		}
		free(x);
		return w;
	}
	kt_fill_bytes(&rng, w, row_bytes * rows);
	for (uint32_t r = 0; r < rows; r++) {
		for (uint32_t b = 0; b < k / be; b++) {
			uint8_t *blk = w + r * row_bytes + (uint64_t)b * bb;

			switch (type) {
			case KK_TYPE_Q6_K:
				put_scale(blk + bb - 2);
				break;
			case KK_TYPE_Q4_1: case KK_TYPE_Q5_1:
			case KK_TYPE_Q4_K: case KK_TYPE_Q5_K:
				put_scale(blk);
				put_scale(blk + 2);
				break;
			default:
				put_scale(blk);
			}
		}
	}
	return w;
}

static const uint32_t weight_types[] = {
	KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q8_0, KK_TYPE_Q4_0,
	KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
	KK_TYPE_Q6_K,
};
#define N_WTYPES (sizeof(weight_types) / sizeof(weight_types[0]))

/* ------------------------------------------------------------------ */
/* Matmul.                                                              */

#define MM_K 512
#define MM_N 70		/* not a multiple of the 16-row tiles */
#define MM_XPAD 16
#define MM_YPAD 5

struct mm_setup {
	struct op_case c;
	void *w;
	float *x, *y, *y_init;
};

static void mm_build(struct mm_setup *s, uint32_t type, uint32_t m, int accumulate)
{
	uint64_t rb = kk_row_bytes(type, MM_K) + 32;	/* padded rows */
	uint64_t y_len = (uint64_t)m * (MM_N + MM_YPAD);

	memset(s, 0, sizeof(*s));
	s->w = rand_weights(type, MM_K, MM_N, rb);
	s->x = rand_f32((size_t)m * (MM_K + MM_XPAD), -2, 2);
	s->y = kt_alloc(y_len * sizeof(float));
	s->c.name = kk_type_name(type);
	s->c.op.kind = KK_OP_MATMUL;
	s->c.op.matmul = (struct kk_matmul){
		.w = s->w, .w_row_bytes = rb, .w_type = type, .k = MM_K,
		.n_out = MM_N, .m = m, .x = s->x, .x_stride = MM_K + MM_XPAD,
		.y = s->y, .y_stride = MM_N + MM_YPAD,
		.flags = accumulate ? KK_MATMUL_ACCUMULATE : 0,
	};
	s->c.out[0] = (struct out_region){ .p = s->y, .bytes = y_len * sizeof(float) };
	if (accumulate) {
		s->y_init = rand_f32(y_len, -1, 1);
		s->c.out[0].init = s->y_init;
	}
	s->c.n_out = 1;
}

static void mm_free(struct mm_setup *s)
{
	free(s->w);
	free(s->x);
	free(s->y);
	free(s->y_init);
}

/* y padding columns are not the op's: only the n_out real ones must be set. */
static void mm_check_written(const struct mm_setup *s, const uint8_t *ref)
{
	const float *y = (const float *)ref;
	const struct kk_matmul *mm = &s->c.op.matmul;

	for (uint32_t c = 0; c < mm->m; c++)
		for (uint32_t r = 0; r < mm->n_out; r++)
			if (isnan(y[c * mm->y_stride + r]) || isinf(y[c * mm->y_stride + r]))
				ck_abort_msg("matmul %s m=%u: y[%u][%u] not finite",
					     s->c.name, mm->m, c, r);
}

START_TEST(test_matmul_threads)
{
	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 1000 + _i);
	for (size_t t = 0; t < N_WTYPES; t++) {
		static const uint32_t ms[] = { 1, 5 };

		for (size_t mi = 0; mi < 2; mi++) {
			for (int acc = 0; acc < 2; acc++) {
				struct mm_setup s;
				uint8_t *ref;

				if (acc && ms[mi] == 1)
					continue;
				mm_build(&s, weight_types[t], ms[mi], acc);
				ref = run_everywhere(&s.c);
				mm_check_written(&s, ref);
				free(ref);
				mm_free(&s);
			}
		}
	}
	pools_down();
}
END_TEST

/* Column c of an m = 5 matmul equals a matvec of column c, on 3 threads. */
START_TEST(test_matmul_columns)
{
	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 2000 + _i);
	for (size_t t = 0; t < N_WTYPES; t++) {
		struct mm_setup s;
		uint8_t *ref;
		struct kk_host host = kllm_pool_host(pools[2]);

		mm_build(&s, weight_types[t], 5, 0);
		s.c.op.scratch = kt_alloc(kk_op_scratch_size(&s.c.op));
		ck_assert_int_eq(kk_op_exec(&host, &s.c.op), 0);
		free(s.c.op.scratch);
		ref = (uint8_t *)s.y;
		for (uint32_t c = 0; c < 5; c++) {
			struct kk_op op = s.c.op;
			float y1[MM_N];
			void *scratch;

			op.matmul.m = 1;
			op.matmul.x = s.x + c * op.matmul.x_stride;
			op.matmul.y = y1;
			scratch = kt_alloc(kk_op_scratch_size(&op));
			op.scratch = scratch;
			ck_assert_int_eq(kk_op_exec(&host, &op), 0);
			ck_assert_msg(!memcmp(y1, (float *)ref + c * s.c.op.matmul.y_stride, sizeof(y1)),
				      "matmul %s (%s): column %u of m=5 differs from its matvec",
				      s.c.name, kk_simd_name(_i), c);
			free(scratch);
		}
		mm_free(&s);
	}
	pools_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Row-wise ops: one input row set, strided, separate output.           */

#define R_ROWS 7
#define R_N 300
#define R_XS (R_N + 4)
#define R_YS (R_N + 2)

struct rows_setup {
	float *a, *b, *y;
};

static void rows_alloc(struct rows_setup *r)
{
	r->a = rand_f32(R_ROWS * R_XS, -4, 4);
	r->b = rand_f32(R_ROWS * R_XS, -4, 4);
	r->y = kt_alloc(R_ROWS * R_YS * sizeof(float));
}

static void rows_free(struct rows_setup *r)
{
	free(r->a);
	free(r->b);
	free(r->y);
}

/* Run a row-wise op whose output is the first R_N floats of each R_YS. */
static void run_rows_case(const char *name, struct kk_op *op, struct rows_setup *r)
{
	struct op_case c = { .name = name, .op = *op, .n_out = 1 };
	uint8_t *ref;

	/* Row pads keep the sentinel: only the real elements are checked. */
	c.out[0] = (struct out_region){ .p = r->y, .bytes = R_ROWS * R_YS * sizeof(float) };
	ref = run_everywhere(&c);
	for (int row = 0; row < R_ROWS; row++)
		for (int j = 0; j < R_N; j++)
			if (isnan(((float *)ref)[row * R_YS + j]))
				ck_abort_msg("%s (%s): y[%d][%d] not written", name,
					     kk_simd_name(kk_simd_selected()), row, j);
	free(ref);
}

START_TEST(test_rowwise_threads)
{
	struct rows_setup r;
	struct kk_op op;
	float *w;

	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 3000 + _i);
	rows_alloc(&r);
	w = rand_f32(R_N, 0.5f, 1.5f);

	memset(&op, 0, sizeof(op));
	op.kind = KK_OP_RMSNORM;
	op.rmsnorm = (struct kk_rmsnorm){ .x = r.a, .y = r.y, .w = w, .x_stride = R_XS,
		.y_stride = R_YS, .n = R_N, .rows = R_ROWS, .eps_bits = kk_fbits(1e-5f) };
	run_rows_case("rmsnorm", &op, &r);
	op.rmsnorm.w = NULL;
	run_rows_case("rmsnorm/noweight", &op, &r);

	memset(&op, 0, sizeof(op));
	op.kind = KK_OP_SOFTMAX;
	op.softmax = (struct kk_softmax){ .x = r.a, .y = r.y, .x_stride = R_XS,
		.y_stride = R_YS, .n = R_N, .rows = R_ROWS, .scale_bits = kk_fbits(0.7f) };
	run_rows_case("softmax", &op, &r);

	for (uint32_t fn = KK_UNARY_SILU; fn <= KK_UNARY_GELU; fn++) {
		memset(&op, 0, sizeof(op));
		op.kind = KK_OP_UNARY;
		op.unary = (struct kk_unary){ .x = r.a, .y = r.y, .x_stride = R_XS,
			.y_stride = R_YS, .n = R_N, .rows = R_ROWS, .fn = fn };
		run_rows_case(fn ? "unary/gelu" : "unary/silu", &op, &r);

		memset(&op, 0, sizeof(op));
		op.kind = KK_OP_GLU;
		op.glu = (struct kk_glu){ .gate = r.a, .up = r.b, .y = r.y,
			.gate_stride = R_XS, .up_stride = R_XS, .y_stride = R_YS,
			.n = R_N, .rows = R_ROWS, .fn = fn };
		run_rows_case(fn ? "glu/gelu" : "glu/silu", &op, &r);
	}

	for (uint32_t fn = KK_BINARY_ADD; fn <= KK_BINARY_MUL; fn++) {
		for (int bcast = 0; bcast < 2; bcast++) {
			memset(&op, 0, sizeof(op));
			op.kind = KK_OP_BINARY;
			op.binary = (struct kk_binary){ .a = r.a, .b = r.b, .y = r.y,
				.a_stride = R_XS, .b_stride = bcast ? 0 : R_XS,
				.y_stride = R_YS, .n = R_N, .rows = R_ROWS, .fn = fn };
			run_rows_case(fn ? "binary/mul" : "binary/add", &op, &r);
		}
	}

	memset(&op, 0, sizeof(op));
	op.kind = KK_OP_SCALE;
	op.scale = (struct kk_scale){ .x = r.a, .y = r.y, .x_stride = R_XS,
		.y_stride = R_YS, .n = R_N, .rows = R_ROWS, .scale_bits = kk_fbits(-0.3f) };
	run_rows_case("scale", &op, &r);

	free(w);
	rows_free(&r);
	pools_down();
}
END_TEST

START_TEST(test_argmax_threads)
{
	enum { ROWS = 9, N = 1000, XS = N + 3 };
	float *x;
	kk_i32 idx[ROWS];
	struct op_case c = { .name = "argmax", .n_out = 1 };
	uint8_t *ref;

	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 4000 + _i);
	x = rand_f32(ROWS * XS, -1, 1);
	/* Ties: the lowest index must win, however the row is split. */
	for (int r = 0; r < ROWS; r++) {
		x[r * XS + 10 + r] = 5;
		x[r * XS + 900 - r] = 5;
	}
	c.op.kind = KK_OP_ARGMAX;
	c.op.argmax = (struct kk_argmax){ .x = x, .x_stride = XS, .idx = idx, .n = N, .rows = ROWS };
	c.out[0] = (struct out_region){ .p = idx, .bytes = sizeof(idx) };
	ref = run_everywhere(&c);
	for (int r = 0; r < ROWS; r++)
		ck_assert_int_eq(((kk_i32 *)ref)[r], 10 + r);
	free(ref);
	free(x);
	pools_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* RoPE and get_rows.                                                    */

START_TEST(test_rope_threads)
{
	enum { ROWS = 5, HEADS = 4, HD = 64, XS = HEADS * HD + 8, YS = HEADS * HD };
	float *x, *y, *ff;
	kk_i32 pos[ROWS];

	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 5000 + _i);
	x = rand_f32(ROWS * XS, -2, 2);
	y = kt_alloc(ROWS * YS * sizeof(float));
	ff = rand_f32(HD / 2, 1, 4);
	for (int r = 0; r < ROWS; r++)
		pos[r] = (kk_i32)(kt_rng_u64(&rng) % 3000);
	for (uint32_t mode = 0; mode <= KK_ROPE_NEOX; mode += KK_ROPE_NEOX) {
		for (int variant = 0; variant < 3; variant++) {
			struct op_case c = { .name = mode ? "rope/neox" : "rope/normal", .n_out = 1 };
			uint8_t *ref;

			c.op.kind = KK_OP_ROPE;
			c.op.rope = (struct kk_rope){ .x = x, .y = y, .x_stride = XS,
				.y_stride = YS, .pos = pos, .rows = ROWS, .n_head = HEADS,
				.head_dim = HD, .n_dims = variant == 1 ? HD / 2 : HD,
				.mode = mode, .freq_base_bits = kk_fbits(10000.0f),
				.freq_scale_bits = kk_fbits(variant == 2 ? 0.25f : 1.0f),
				.freq_factors = variant == 2 ? ff : NULL };
			c.out[0] = (struct out_region){ .p = y, .bytes = ROWS * YS * sizeof(float),
				.floats = 1 };
			ref = run_everywhere(&c);
			free(ref);
		}
	}
	free(x);
	free(y);
	free(ff);
	pools_down();
}
END_TEST

START_TEST(test_get_rows_threads)
{
	static const uint32_t types[] = {
		KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q4_0, KK_TYPE_Q4_1,
		KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q8_0, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
		KK_TYPE_Q6_K,
	};
	enum { N = 512, TROWS = 20, ROWS = 11, YS = N + 1 };
	kk_i32 ids[ROWS] = { 3, 0, 19, -1, 7, 20, 7, 12, 1, 2, 18 };
	float *y = kt_alloc(ROWS * YS * sizeof(float));

	if (!use_path(_i)) {
		free(y);
		return;
	}
	pools_up();
	kt_rng_seed(&rng, 6000 + _i);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		uint64_t rb = kk_row_bytes(types[t], N);
		void *table = rand_weights(types[t], N, TROWS, rb);
		struct op_case c = { .name = kk_type_name(types[t]), .n_out = 1 };
		uint8_t *ref;

		c.op.kind = KK_OP_GET_ROWS;
		c.op.get_rows = (struct kk_get_rows){ .table = table, .table_row_bytes = rb,
			.type = types[t], .n = N, .n_rows_table = TROWS, .rows = ROWS,
			.ids = ids, .y = y, .y_stride = YS };
		c.out[0] = (struct out_region){ .p = y, .bytes = ROWS * YS * sizeof(float) };
		ref = run_everywhere(&c);
		for (int r = 0; r < ROWS; r++)
			for (int j = 0; j < N; j++) {
				float v = ((float *)ref)[r * YS + j];

				if (isnan(v) || ((ids[r] < 0 || ids[r] >= TROWS) && v != 0))
					ck_abort_msg("get_rows %s: y[%d][%d] = %g", c.name, r, j, v);
			}
		free(ref);
		free(table);
	}
	free(y);
	pools_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* KV cache: store and attention.                                        */

enum { KV_HEADS = 2, Q_HEADS = 4, KV_HD = 64, KV_CTX = 160, KV_SEQS = 2, KV_ROWS = 6 };
#define KV_ROW_ELEMS (KV_HEADS * KV_HD)

struct kv_setup {
	uint32_t type;
	uint64_t row_bytes, cache_bytes;
	struct kk_kv_seq seqs[KV_SEQS];
	kk_i32 seq[KV_ROWS], pos[KV_ROWS];
};

/* Caches of random rows; each row quantized from floats, as the op would. */
static void kv_build(struct kv_setup *kv, uint32_t type)
{
	float row[KV_ROW_ELEMS];

	/* Zero first: struct kk_kv_seq's other fields (paging) stay unused. */
	*kv = (struct kv_setup){ .type = type };
	kv->row_bytes = kk_row_bytes(type, KV_ROW_ELEMS);
	kv->cache_bytes = kv->row_bytes * KV_CTX;
	for (int s = 0; s < KV_SEQS; s++) {
		kv->seqs[s].ctx = KV_CTX;
		kv->seqs[s].k = kt_alloc(kv->cache_bytes);
		kv->seqs[s].v = kt_alloc(kv->cache_bytes);
		for (int p = 0; p < KV_CTX; p++) {
			kt_fill_f32(&rng, row, KV_ROW_ELEMS, -1, 1);
			kk_quantize_row(type, row, (uint8_t *)kv->seqs[s].k + p * kv->row_bytes,
					KV_ROW_ELEMS);
			kt_fill_f32(&rng, row, KV_ROW_ELEMS, -1, 1);
			kk_quantize_row(type, row, (uint8_t *)kv->seqs[s].v + p * kv->row_bytes,
					KV_ROW_ELEMS);
		}
	}
	/* Rows: two sequences, distinct positions per sequence. */
	for (int r = 0; r < KV_ROWS; r++) {
		kv->seq[r] = r & 1;
		kv->pos[r] = KV_CTX - 1 - 3 * (r / 2) - (r & 1);
	}
}

static void kv_free(struct kv_setup *kv)
{
	for (int s = 0; s < KV_SEQS; s++) {
		free(kv->seqs[s].k);
		free(kv->seqs[s].v);
	}
}

/* |dequant(row) - x| small: the row was stored, from the right input. */
static void check_stored(const char *name, uint32_t type, const uint8_t *row,
			 const float *x, int r)
{
	float got[KV_ROW_ELEMS];
	float tol = type == KK_TYPE_F16 ? 1e-3f : 1.5f / 127;

	ck_assert_int_eq(kk_dequantize_row(type, row, got, KV_ROW_ELEMS), 0);
	for (int j = 0; j < KV_ROW_ELEMS; j++)
		if (!(fabsf(got[j] - x[j]) <= tol))
			ck_abort_msg("%s (%s): row %d element %d stored as %g, input %g", name,
				     kk_simd_name(kk_simd_selected()), r, j, got[j], x[j]);
}

START_TEST(test_kv_store_threads)
{
	static const uint32_t types[] = { KK_TYPE_F16, KK_TYPE_Q8_0 };
	enum { XS = KV_ROW_ELEMS + 3 };

	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 7000 + _i);
	for (size_t t = 0; t < 2; t++) {
		struct kv_setup kv;
		float *k = rand_f32(KV_ROWS * XS, -1, 1);
		float *v = rand_f32(KV_ROWS * XS, -1, 1);
		struct op_case c = { .name = t ? "kv_store/q8_0" : "kv_store/f16" };
		uint8_t *ref;

		kv_build(&kv, types[t]);
		c.op.kind = KK_OP_KV_STORE;
		c.op.kv_store = (struct kk_kv_store){ .k = k, .v = v,
			.k_stride = XS, .v_stride = XS,
			.seqs = kv.seqs, .seq = kv.seq, .pos = kv.pos, .n_seqs = KV_SEQS,
			.rows = KV_ROWS, .n_kv_head = KV_HEADS, .head_dim = KV_HD,
			.kv_type = types[t] };
		/* Q8_0 caches are optional ("where supported"); F16 is not. */
		if (types[t] == KK_TYPE_Q8_0 && kk_op_check(&c.op)) {
			free(k);
			free(v);
			kv_free(&kv);
			continue;
		}
		/* Caches start from random contents, restored before each run. */
		for (int s = 0; s < KV_SEQS; s++) {
			void *bufs[2] = { kv.seqs[s].k, kv.seqs[s].v };

			for (int j = 0; j < 2; j++) {
				void *init = kt_alloc(kv.cache_bytes);

				memcpy(init, bufs[j], kv.cache_bytes);
				c.out[c.n_out++] = (struct out_region){ .p = bufs[j],
					.bytes = kv.cache_bytes, .init = init };
			}
		}
		ref = run_everywhere(&c);
		for (int r = 0; r < KV_ROWS; r++) {
			const uint8_t *kc = ref + 2 * kv.seq[r] * kv.cache_bytes;
			const uint8_t *vc = kc + kv.cache_bytes;

			check_stored(c.name, types[t], kc + kv.pos[r] * kv.row_bytes, k + r * XS, r);
			check_stored(c.name, types[t], vc + kv.pos[r] * kv.row_bytes, v + r * XS, r);
		}
		free(ref);
		for (unsigned int j = 0; j < c.n_out; j++)
			free((void *)c.out[j].init);
		free(k);
		free(v);
		kv_free(&kv);
	}
	pools_down();
}
END_TEST

START_TEST(test_attention_threads)
{
	static const uint32_t types[] = { KK_TYPE_F16, KK_TYPE_Q8_0 };
	enum { QS = Q_HEADS * KV_HD + 5, YS = Q_HEADS * KV_HD };

	if (!use_path(_i))
		return;
	pools_up();
	kt_rng_seed(&rng, 8000 + _i);
	for (size_t t = 0; t < 2; t++) {
		for (int variant = 0; variant < 3; variant++) {
			struct kv_setup kv;
			float *q = rand_f32(KV_ROWS * QS, -1, 1);
			float *y = kt_alloc(KV_ROWS * YS * sizeof(float));
			struct op_case c = { .name = t ? "attention/q8_0" : "attention/f16", .n_out = 1 };
			uint8_t *ref;

			kv_build(&kv, types[t]);
			c.op.kind = KK_OP_ATTENTION;
			c.op.attention = (struct kk_attention){ .q = q, .y = y, .q_stride = QS,
				.y_stride = YS, .seqs = kv.seqs, .seq = kv.seq, .pos = kv.pos,
				.n_seqs = KV_SEQS, .rows = KV_ROWS, .n_head = Q_HEADS,
				.n_kv_head = KV_HEADS, .head_dim = KV_HD, .kv_type = types[t],
				.max_ctx = KV_CTX,
				.window = variant == 1 ? 5 : 0,
				.scale_bits = kk_fbits(0.125f),
				.softcap_bits = kk_fbits(variant == 2 ? 30.0f : 0.0f) };
			c.out[0] = (struct out_region){ .p = y, .bytes = KV_ROWS * YS * sizeof(float),
				.floats = 1 };
			/* Q8_0 caches are optional ("where supported"); F16 is not. */
			if (types[t] != KK_TYPE_Q8_0 || !kk_op_check(&c.op)) {
				ref = run_everywhere(&c);
				free(ref);
			}
			free(q);
			free(y);
			kv_free(&kv);
		}
	}
	pools_down();
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	struct { const char *name; const TTest *fn; } cases[] = {
		{ "matmul", test_matmul_threads },
		{ "matmul_columns", test_matmul_columns },
		{ "rowwise", test_rowwise_threads },
		{ "argmax", test_argmax_threads },
		{ "rope", test_rope_threads },
		{ "get_rows", test_get_rows_threads },
		{ "kv_store", test_kv_store_threads },
		{ "attention", test_attention_threads },
	};

	kllm_cpu_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 120);
		/* _i is the SIMD path; paths the machine lacks pass idle. */
		tcase_add_loop_test(tc, cases[i].fn, 0, KK_SIMD_COUNT);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return kt_run(threads_suite());
}
