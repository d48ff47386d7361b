// SPDX-License-Identifier: MIT
/*
 * test_matmul.c - the matmul op on every SIMD path this machine has:
 * against a double-precision product of the dequantized operands (scalar
 * path), SIMD against scalar within a tolerance relative to sum |w||x|,
 * columns of a matmul bitwise equal to matvecs, results independent of the
 * chunking, ACCUMULATE, strides left alone, the activation quantizers
 * against the reference, the i8mm tiles bitwise equal to the dotprod
 * matvecs, and check()'s error cases.
 */
#include "kt.h"

#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "kk.h"
#include "kk_blocks.h"
#include "kk_fp.h"

/* SIMD vs scalar: only the float summation order differs. */
#define TOL_PATH 1e-4
/* scalar vs exact: activation quantization (q8: 1/254 per element). */
#define TOL_EXACT 1e-2

static unsigned long hwcap(void)
{
#if defined(__aarch64__)
	return kk_hwcap_arm(getauxval(AT_HWCAP), getauxval(AT_HWCAP2));
#else
	return 0;
#endif
}

/* A serial home that may shrink chunks and run them last to first. */
struct host_ctx {
	uint64_t max_chunk;	/* 0: the op's own */
	int reverse;
};

static void serial_for(void *ctx, kk_range_fn fn, void *arg, kk_u64 n, kk_u64 chunk)
{
	const struct host_ctx *h = ctx;
	uint64_t nchunks;

	if (h->max_chunk && h->max_chunk < chunk)
		chunk = h->max_chunk;
	ck_assert_uint_ge(chunk, 1);
	nchunks = (n + chunk - 1) / chunk;
	for (uint64_t i = 0; i < nchunks; i++) {
		uint64_t j = h->reverse ? nchunks - 1 - i : i;
		uint64_t e = (j + 1) * chunk < n ? (j + 1) * chunk : n;

		fn(arg, j * chunk, e);
	}
}

static const uint32_t w_types[] = {
	KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q4_0, KK_TYPE_Q4_1,
	KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q8_0, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
	KK_TYPE_Q6_K,
};
#define N_TYPES (sizeof(w_types) / sizeof(w_types[0]))

static int is_k_quant(uint32_t t)
{
	return t == KK_TYPE_Q4_K || t == KK_TYPE_Q5_K || t == KK_TYPE_Q6_K;
}

/* K-quants have no quantizer here: random bytes with sane scales. */
static void fill_k_quant(struct kt_rng *rng, uint32_t type, uint8_t *row, uint32_t k)
{
	uint32_t bb = kk_type_block_bytes(type);

	kt_fill_bytes(rng, row, (size_t)bb * (k / QK_K));
	for (uint32_t b = 0; b < k / QK_K; b++) {
		uint8_t *blk = row + (size_t)b * bb;
		uint16_t d = kk_f32_to_f16(kt_rng_f32(rng, 0.001f, 0.01f));
		uint16_t dmin = kk_f32_to_f16(kt_rng_f32(rng, 0.0f, 0.01f));

		if (type == KK_TYPE_Q6_K) {
			struct kk_block_q6_K *q = (void *)blk;

			q->d = d;
		} else if (type == KK_TYPE_Q4_K) {
			struct kk_block_q4_K *q = (void *)blk;

			q->d = d;
			q->dmin = dmin;
		} else {
			struct kk_block_q5_K *q = (void *)blk;

			q->d = d;
			q->dmin = dmin;
		}
	}
}

struct mm_case {
	uint32_t type, n_out, k, m;
	uint64_t w_row_bytes, x_stride, y_stride;
	uint8_t *w;
	float *x;
	double *mag;		/* m x n_out: sum |w||x| */
	double *exact;		/* m x n_out: dequantized w . x in double */
};

static void case_init(struct mm_case *cs, struct kt_rng *rng, uint32_t type,
		      uint32_t n_out, uint32_t k, uint32_t m)
{
	uint64_t rb = kk_row_bytes(type, k);
	float *wf = kt_alloc(sizeof(float) * k), *row = kt_alloc(sizeof(float) * k);

	ck_assert_uint_gt(rb, 0);
	cs->type = type;
	cs->n_out = n_out;
	cs->k = k;
	cs->m = m;
	cs->w_row_bytes = rb + (n_out & 1) * 8;	/* sometimes padded rows */
	cs->x_stride = k + 3;
	cs->y_stride = n_out + 2;
	cs->w = kt_alloc(cs->w_row_bytes * n_out);
	cs->x = kt_alloc(sizeof(float) * cs->x_stride * m);
	cs->mag = kt_alloc(sizeof(double) * n_out * m);
	cs->exact = kt_alloc(sizeof(double) * n_out * m);
	kt_fill_f32(rng, cs->x, cs->x_stride * m, -1.0f, 1.0f);
	for (uint32_t r = 0; r < n_out; r++) {
		uint8_t *wr = cs->w + r * cs->w_row_bytes;

		if (is_k_quant(type)) {
			fill_k_quant(rng, type, wr, k);
		} else {
			kt_fill_f32(rng, row, k, -1.0f, 1.0f);
			ck_assert_int_eq(kk_quantize_row(type, row, wr, k), 0);
		}
		ck_assert_int_eq(kk_dequantize_row(type, wr, wf, k), 0);
		for (uint32_t c = 0; c < m; c++) {
			const float *xc = cs->x + c * cs->x_stride;
			double s = 0, a = 0;

			for (uint32_t i = 0; i < k; i++) {
				s += (double)wf[i] * xc[i];
				a += fabs((double)wf[i] * xc[i]);
			}
			cs->exact[c * n_out + r] = s;
			cs->mag[c * n_out + r] = a;
		}
	}
	free(wf);
	free(row);
}

static void case_free(struct mm_case *cs)
{
	free(cs->w);
	free(cs->x);
	free(cs->mag);
	free(cs->exact);
}

static struct kk_op case_op(const struct mm_case *cs, uint32_t col, uint32_t m,
			    float *y, uint32_t flags)
{
	struct kk_op op = { .kind = KK_OP_MATMUL };

	op.matmul.w = cs->w;
	op.matmul.w_row_bytes = cs->w_row_bytes;
	op.matmul.w_type = cs->type;
	op.matmul.k = cs->k;
	op.matmul.n_out = cs->n_out;
	op.matmul.m = m;
	op.matmul.x = cs->x + col * cs->x_stride;
	op.matmul.x_stride = cs->x_stride;
	op.matmul.y = y;
	op.matmul.y_stride = cs->y_stride;
	op.matmul.flags = flags;
	return op;
}

static void exec_op(struct kk_op *op, const struct host_ctx *hc)
{
	struct kk_host host = { .parallel_for = serial_for, .ctx = (void *)hc };
	uint64_t ss = kk_op_scratch_size(op);

	op->scratch = ss ? kt_alloc(ss) : NULL;
	ck_assert_int_eq(kk_op_exec(&host, op), 0);
	free(op->scratch);
	op->scratch = NULL;
}

/* y for columns [col, col + m) into y (y_stride apart); sentinels around. */
static void run_case(const struct mm_case *cs, uint32_t col, uint32_t m, float *y,
		     uint32_t flags, const struct host_ctx *hc)
{
	struct kk_op op = case_op(cs, col, m, y, flags);

	exec_op(&op, hc);
}

static float *new_y(const struct mm_case *cs)
{
	float *y = kt_alloc(sizeof(float) * cs->y_stride * cs->m);

	for (uint64_t i = 0; i < cs->y_stride * cs->m; i++)
		y[i] = -12345.0f;	/* sentinel: padding must keep it */
	return y;
}

static void check_padding(const struct mm_case *cs, const float *y)
{
	for (uint32_t c = 0; c < cs->m; c++)
		for (uint64_t r = cs->n_out; r < cs->y_stride; r++)
			ck_assert_float_eq(y[c * cs->y_stride + r], -12345.0f);
}

static void check_close(const struct mm_case *cs, const float *y, const double *ref_d,
			const float *ref_f, double tol, const char *what, uint32_t simd)
{
	for (uint32_t c = 0; c < cs->m; c++)
		for (uint32_t r = 0; r < cs->n_out; r++) {
			double ref = ref_d ? ref_d[c * cs->n_out + r] : ref_f[c * cs->y_stride + r];
			double got = y[c * cs->y_stride + r];
			double lim = tol * cs->mag[c * cs->n_out + r] + 1e-6;

			ck_assert_msg(fabs(got - ref) <= lim,
				      "%s %s %s n_out %u k %u m %u: y[%u][%u] = %.9g, want %.9g (+-%.3g)",
				      what, kk_simd_name(simd), kk_type_name(cs->type),
				      cs->n_out, cs->k, cs->m, c, r, got, ref, lim);
		}
}

static void check_same_bits(const struct mm_case *cs, const float *a, const float *b,
			    uint32_t m, const char *what, uint32_t simd)
{
	for (uint32_t c = 0; c < m; c++)
		for (uint32_t r = 0; r < cs->n_out; r++) {
			uint32_t ua, ub;

			memcpy(&ua, &a[c * cs->y_stride + r], 4);
			memcpy(&ub, &b[c * cs->y_stride + r], 4);
			ck_assert_msg(ua == ub, "%s %s %s n_out %u k %u m %u: [%u][%u] %08x != %08x",
				      what, kk_simd_name(simd), kk_type_name(cs->type),
				      cs->n_out, cs->k, cs->m, c, r, ua, ub);
		}
}

/* Every check of one shape on one path; ref = the scalar path's y. */
static void check_path(const struct mm_case *cs, uint32_t simd, const float *ref)
{
	const struct host_ctx plain = { 0, 0 }, tiny_rev = { 1, 1 };
	float *y = new_y(cs), *y1 = new_y(cs), *ya = new_y(cs);

	ck_assert_int_eq(kk_simd_select(simd), 0);
	run_case(cs, 0, cs->m, y, 0, &plain);
	check_padding(cs, y);
	check_close(cs, y, NULL, ref, TOL_PATH, "vs scalar", simd);

	/* one chunk item at a time, last first: the same bits */
	run_case(cs, 0, cs->m, y1, 0, &tiny_rev);
	check_same_bits(cs, y, y1, cs->m, "chunking", simd);

	/* each column alone (a matvec): the same bits */
	for (uint32_t c = 0; c < cs->m; c++)
		run_case(cs, c, 1, y1 + c * cs->y_stride, 0, &plain);
	check_same_bits(cs, y, y1, cs->m, "matvec", simd);

	/* ACCUMULATE adds the very same products to what y held */
	kt_fill_f32(&(struct kt_rng){ cs->k * 7 + cs->m }, ya, cs->y_stride * cs->m, -2, 2);
	for (uint32_t c = 0; c < cs->m; c++) {
		for (uint32_t r = 0; r < cs->n_out; r++)
			y1[c * cs->y_stride + r] = ya[c * cs->y_stride + r] + y[c * cs->y_stride + r];
		for (uint64_t r = cs->n_out; r < cs->y_stride; r++)
			ya[c * cs->y_stride + r] = -12345.0f;
	}
	run_case(cs, 0, cs->m, ya, KK_MATMUL_ACCUMULATE, &plain);
	check_same_bits(cs, ya, y1, cs->m, "accumulate", simd);
	check_padding(cs, ya);
	free(y);
	free(y1);
	free(ya);
}

static void check_shape(uint32_t type, uint32_t n_out, uint32_t k, uint32_t m)
{
	uint32_t mask = kk_simd_available(hwcap());
	struct kt_rng rng;
	struct mm_case cs;
	float *ref;

	kt_rng_seed(&rng, type * 1000003u + n_out * 1009u + k * 17u + m);
	case_init(&cs, &rng, type, n_out, k, m);
	ref = new_y(&cs);
	ck_assert_int_eq(kk_simd_select(KK_SIMD_SCALAR), 0);
	run_case(&cs, 0, m, ref, 0, &(struct host_ctx){ 0, 0 });
	check_padding(&cs, ref);
	check_close(&cs, ref, cs.exact, NULL,
		    type == KK_TYPE_F32 ? 1e-5 : TOL_EXACT, "vs exact", KK_SIMD_SCALAR);
	for (uint32_t s = 0; s < KK_SIMD_COUNT; s++)
		if (mask & (1u << s))
			check_path(&cs, s, ref);
	kk_simd_select(kk_simd_best(mask));
	free(ref);
	case_free(&cs);
}

static const uint32_t shape_n_out[] = { 1, 7, 33 };
/* 14: the K-quant tiles' half-width pieces (8 + 4 + 1 + 1, 4 + 4 + 4 + 2) */
static const uint32_t shape_m[] = { 1, 3, 17, 14 };
#define N_SHAPE_M (sizeof(shape_m) / sizeof(shape_m[0]))

/* k in blocks: one, a partial group of 8, a group and a bit, large. */
static void ks_for(uint32_t type, uint32_t ks[4])
{
	uint32_t qk = kk_type_block_elems(type);

	if (qk == 1) {
		ks[0] = 1; ks[1] = 7; ks[2] = 100; ks[3] = 4096 + 256 + 3;
	} else if (qk == 32) {
		ks[0] = 32; ks[1] = 7 * 32; ks[2] = 9 * 32; ks[3] = 4096 + 256;
	} else {
		ks[0] = 256; ks[1] = 3 * 256; ks[2] = 9 * 256; ks[3] = 4096 + 256;
	}
}

START_TEST(test_shapes)
{
	uint32_t type = w_types[_i], ks[4];

	ks_for(type, ks);
	for (int ki = 0; ki < 4; ki++)
		for (unsigned ni = 0; ni < 3; ni++)
			for (unsigned mi = 0; mi < N_SHAPE_M; mi++) {
				/* the large k once per n_out is plenty */
				if (ki == 3 && mi != 1)
					continue;
				check_shape(type, shape_n_out[ni], ks[ki], shape_m[mi]);
			}
}
END_TEST

/*
 * The i8mm path (SMMLA tiles of 4 rows by 4 columns, then 2, then a lone
 * column on SDOT) against the dotprod path's matvec of each column and
 * against the scalar path, bit for bit: row tails (n_out % 4), column
 * tails (m % 4), many columns, and chunkings that cut the columns into
 * tiles of other widths and offsets, run backwards.
 */
static const uint32_t i8mm_types[] = {
	KK_TYPE_Q4_0, KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q8_0,
};
static const uint32_t i8mm_n_out[] = { 1, 2, 3, 5, 8, 17, 33 };
static const uint32_t i8mm_m[] = { 2, 3, 4, 5, 6, 7, 16, 19, 37 };
#define N_I8MM_TYPES (sizeof(i8mm_types) / sizeof(i8mm_types[0]))
#define N_I8MM_N_OUT (sizeof(i8mm_n_out) / sizeof(i8mm_n_out[0]))
#define N_I8MM_M (sizeof(i8mm_m) / sizeof(i8mm_m[0]))

static void check_i8mm(uint32_t type, uint32_t n_out, uint32_t k, uint32_t m)
{
	static const struct host_ctx hosts[] = { { 0, 0 }, { 1, 1 }, { 2, 1 }, { 3, 0 } };
	const uint32_t i8mm = KK_SIMD_NEON_I8MM;
	struct kt_rng rng;
	struct mm_case cs;
	float *ref, *mv, *y;

	kt_rng_seed(&rng, type * 7919u + n_out * 104729u + k * 31u + m);
	case_init(&cs, &rng, type, n_out, k, m);
	ref = new_y(&cs);
	mv = new_y(&cs);
	y = new_y(&cs);
	ck_assert_int_eq(kk_simd_select(KK_SIMD_SCALAR), 0);
	run_case(&cs, 0, m, ref, 0, &hosts[0]);
	ck_assert_int_eq(kk_simd_select(KK_SIMD_NEON_DOTPROD), 0);
	for (uint32_t c = 0; c < m; c++)
		run_case(&cs, c, 1, mv + c * cs.y_stride, 0, &hosts[0]);
	ck_assert_int_eq(kk_simd_select(i8mm), 0);
	for (unsigned h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
		run_case(&cs, 0, m, y, 0, &hosts[h]);
		check_padding(&cs, y);
		check_same_bits(&cs, y, mv, m, "vs dotprod matvec", i8mm);
		check_same_bits(&cs, y, ref, m, "vs scalar", i8mm);
		for (uint64_t i = 0; i < cs.y_stride * m; i++)
			y[i] = -12345.0f;
	}
	/* ACCUMULATE: the same sums added to what y held */
	for (uint32_t c = 0; c < m; c++)
		for (uint32_t r = 0; r < n_out; r++) {
			y[c * cs.y_stride + r] = (float)(r + 1) * 0.25f;
			mv[c * cs.y_stride + r] += (float)(r + 1) * 0.25f;
		}
	run_case(&cs, 0, m, y, KK_MATMUL_ACCUMULATE, &hosts[0]);
	check_same_bits(&cs, y, mv, m, "accumulate vs dotprod matvec", i8mm);
	free(ref);
	free(mv);
	free(y);
	case_free(&cs);
}

START_TEST(test_i8mm_tiles)
{
	const uint32_t type = i8mm_types[_i], qk = 32;
	const uint32_t ks[] = { qk, 7 * qk, 9 * qk };
	uint32_t mask = kk_simd_available(hwcap());

	if (!(mask & (1u << KK_SIMD_NEON_I8MM)))
		return;		/* no SMMLA here (run-aarch64.sh runs -cpu max) */
	ck_assert(mask & (1u << KK_SIMD_NEON_DOTPROD));
	for (unsigned ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
		for (unsigned ni = 0; ni < N_I8MM_N_OUT; ni++)
			for (unsigned mi = 0; mi < N_I8MM_M; mi++)
				check_i8mm(type, i8mm_n_out[ni], ks[ki], i8mm_m[mi]);
	check_i8mm(type, 19, 4096 + 256, 6);	/* a long k once */
	kk_simd_select(kk_simd_best(mask));
}
END_TEST

/* The path's name, and which CPU bits give it. */
START_TEST(test_i8mm_select)
{
	ck_assert_int_eq(kk_simd_parse("i8mm"), KK_SIMD_NEON_I8MM);
	ck_assert_str_eq(kk_simd_name(KK_SIMD_NEON_I8MM), "i8mm");
#if defined(__aarch64__)
	{
		const unsigned long asimd = 1ul << 1, asimddp = 1ul << 20, i8mm = 1ul << 13;
		const unsigned long fphp = 1ul << 9, asimdhp = 1ul << 10;
		const unsigned long base = asimd | fphp | asimdhp;
		uint32_t mask;

		ck_assert_uint_eq(kk_hwcap_arm(asimd, i8mm), asimd | (1ul << 45));
		mask = kk_simd_available(kk_hwcap_arm(base | asimddp, i8mm));
		ck_assert_uint_ne(mask & (1u << KK_SIMD_NEON_I8MM), 0);
		ck_assert_uint_eq(kk_simd_best(mask), KK_SIMD_NEON_I8MM);
		mask = kk_simd_available(kk_hwcap_arm(base | asimddp, 0));
		ck_assert_uint_eq(mask & (1u << KK_SIMD_NEON_I8MM), 0);
		ck_assert_uint_eq(kk_simd_best(mask), KK_SIMD_NEON_DOTPROD);
		ck_assert_int_ne(kk_simd_select(KK_SIMD_NEON_I8MM), 0);
		/* i8mm without dotprod: no i8mm table (it extends dotprod's) */
		mask = kk_simd_available(kk_hwcap_arm(base, i8mm));
		ck_assert_uint_eq(mask & (1u << KK_SIMD_NEON_I8MM), 0);
		ck_assert_uint_eq(kk_simd_best(mask), KK_SIMD_NEON);
		/* AT_HWCAP's own bits above 31 are not AT_HWCAP2's */
		mask = kk_simd_available(kk_hwcap_arm(base | asimddp | ~0xfffffffful, 0));
		ck_assert_uint_eq(mask & (1u << KK_SIMD_NEON_I8MM), 0);
	}
#else
	ck_assert_uint_eq(kk_simd_available(hwcap()) & (1u << KK_SIMD_NEON_I8MM), 0);
	ck_assert_int_eq(kk_simd_built(KK_SIMD_NEON_I8MM), 0);
#endif
	kk_simd_select(kk_simd_best(kk_simd_available(hwcap())));
}
END_TEST

/* Stage 0 on every path writes the reference's bytes first in each row. */
START_TEST(test_quantizers)
{
	uint32_t type = w_types[_i], mask = kk_simd_available(hwcap());
	uint32_t vdt = kk_type_vec_dot_type(type), k = 4096 + 256, m = 3;
	uint64_t rb = kk_row_bytes(vdt, k);
	struct kt_rng rng;
	struct mm_case cs = { 0 };
	uint8_t *want;
	uint64_t ss0 = 0;
	float y[8];

	if (type == KK_TYPE_F32)
		return;		/* x is read as it is */
	want = kt_alloc(rb);
	kt_rng_seed(&rng, 99 + type);
	cs.type = type;
	cs.k = k;
	cs.n_out = 1;
	cs.m = m;
	cs.x_stride = k;
	cs.y_stride = 1;
	cs.w_row_bytes = kk_row_bytes(type, k);
	cs.x = kt_alloc(sizeof(float) * k * m);
	kt_fill_f32(&rng, cs.x, (size_t)k * m, -3.0f, 3.0f);
	cs.x[5] = 0.0f;
	for (int i = 64; i < 96; i++)
		cs.x[i] = 0.0f;			/* an all-zero block */
	for (int i = 96; i < 128; i++)
		cs.x[i] = (float)(i - 112) * 0.5f; /* ties at .5 */
	for (uint32_t s = 0; s < KK_SIMD_COUNT; s++) {
		struct kk_op op;
		uint64_t ss;

		if (!(mask & (1u << s)))
			continue;
		ck_assert_int_eq(kk_simd_select(s), 0);
		op = case_op(&cs, 0, m, y, 0);
		ck_assert_int_eq(kk_op_check(&op), 0);
		ss = kk_op_scratch_size(&op);
		ck_assert_uint_ge(ss, rb * m);
		ck_assert_uint_eq(ss % m, 0);
		if (!ss0)
			ss0 = ss;
		ck_assert_uint_eq(ss, ss0);	/* the same on every path */
		op.scratch = kt_alloc(ss);
		kk_op_run(&op, 0, 0, kk_op_items(&op, 0));
		for (uint32_t c = 0; c < m; c++) {
			const uint8_t *got = (const uint8_t *)op.scratch + c * (ss / m);

			ck_assert_int_eq(kk_quantize_row(vdt, cs.x + c * k, want, k), 0);
			ck_assert_msg(memcmp(got, want, rb) == 0, "%s: %s activations differ (row %u)",
				      kk_simd_name(s), kk_type_name(vdt), c);
		}
		free(op.scratch);
	}
	kk_simd_select(kk_simd_best(mask));
	free(cs.x);
	free(want);
}
END_TEST

START_TEST(test_check)
{
	uint8_t w[64 * 18];
	float x[64 * 2], y[8];
	struct kk_op ok = { .kind = KK_OP_MATMUL }, op;

	memset(w, 0, sizeof(w));
	memset(x, 0, sizeof(x));
	ok.matmul.w = w;
	ok.matmul.w_type = KK_TYPE_Q4_0;
	ok.matmul.k = 64;
	ok.matmul.w_row_bytes = 36;
	ok.matmul.n_out = 4;
	ok.matmul.m = 2;
	ok.matmul.x = x;
	ok.matmul.x_stride = 64;
	ok.matmul.y = y;
	ok.matmul.y_stride = 4;
	ck_assert_int_eq(kk_op_check(&ok), 0);
	ck_assert_uint_eq(kk_op_stages(&ok), 2);
	ck_assert_uint_eq(kk_op_items(&ok, 0), 2);
	ck_assert_uint_ge(kk_op_items(&ok, 1), 1);
	ck_assert_uint_ge(kk_op_chunk_items(&ok, 1), 1);

#define BAD(stmt)							\
	do {								\
		op = ok;						\
		stmt;							\
		ck_assert_int_eq(kk_op_check(&op), -KK_EINVAL);		\
	} while (0)
	BAD(op.matmul.w_type = KK_TYPE_Q8_1);	/* activation only */
	BAD(op.matmul.w_type = KK_TYPE_Q8_K);
	BAD(op.matmul.w_type = 4);		/* removed Q4_2 */
	BAD(op.matmul.w_type = KK_TYPE_COUNT);
	BAD(op.matmul.w_type = 0xffffffffu);
	BAD(op.matmul.k = 48);			/* not whole blocks */
	BAD(op.matmul.k = 0);
	BAD(op.matmul.w_row_bytes = 35);
	BAD(op.matmul.w_row_bytes = 0);
	BAD(op.matmul.x_stride = 63);
	BAD(op.matmul.y_stride = 3);
	BAD(op.matmul.m = 0);
	BAD(op.matmul.n_out = 0);
	BAD(op.matmul.flags = 2);
	BAD(op.matmul.flags = KK_MATMUL_ACCUMULATE | 0x80000000u);
	BAD(op.matmul.w_row_bytes = ~0ull);	/* offsets overflow */
	BAD(op.matmul.x_stride = ~0ull / 2);
	BAD(op.matmul.y_stride = ~0ull / 2);
	BAD((op.matmul.w_type = KK_TYPE_Q4_K, op.matmul.k = 64));
	BAD((op.matmul.w_type = KK_TYPE_F32, op.matmul.w_row_bytes = 255));
	/* k bounds one item's work (one FPU section in the kernel) */
	BAD((op.matmul.k = (1u << 16) + 32, op.matmul.w_row_bytes = 36ull * 2049,
	     op.matmul.x_stride = (1u << 16) + 32));
#undef BAD
	/* and the edges that are fine */
	op = ok;
	op.matmul.flags = KK_MATMUL_ACCUMULATE;
	ck_assert_int_eq(kk_op_check(&op), 0);
	op = ok;
	op.matmul.w_type = KK_TYPE_F32;
	op.matmul.w_row_bytes = 256;
	ck_assert_int_eq(kk_op_check(&op), 0);
	ck_assert_uint_eq(kk_op_items(&op, 0), 0);	/* x read directly */
	ck_assert_uint_eq(kk_op_scratch_size(&op), 0);
	op = ok;
	op.matmul.w_type = KK_TYPE_F16;
	op.matmul.k = 7;
	op.matmul.w_row_bytes = 14;
	ck_assert_int_eq(kk_op_check(&op), 0);
	op = ok;
	op.matmul.k = 1u << 16;
	op.matmul.w_row_bytes = 36ull * 2048;
	op.matmul.x_stride = 1u << 16;
	ck_assert_int_eq(kk_op_check(&op), 0);
}
END_TEST

/* An op that fails check() leaves y alone. */
START_TEST(test_exec_rejects)
{
	uint8_t w[4 * 18] = { 0 };
	float x[32] = { 0 }, y[4] = { 1, 2, 3, 4 };
	struct host_ctx hc = { 0, 0 };
	struct kk_host host = { .parallel_for = serial_for, .ctx = &hc };
	struct kk_op op = { .kind = KK_OP_MATMUL };

	kk_simd_select(kk_simd_best(kk_simd_available(hwcap())));
	op.matmul.w = w;
	op.matmul.w_type = KK_TYPE_Q4_0;
	op.matmul.k = 32;
	op.matmul.w_row_bytes = 18;
	op.matmul.n_out = 4;
	op.matmul.m = 1;
	op.matmul.x = x;
	op.matmul.x_stride = 32;
	op.matmul.y = y;
	op.matmul.y_stride = 4;
	op.matmul.flags = 4;
	ck_assert_int_eq(kk_op_exec(&host, &op), -KK_EINVAL);
	for (int i = 0; i < 4; i++)
		ck_assert_float_eq(y[i], (float)(i + 1));
}
END_TEST

static Suite *matmul_suite(void)
{
	Suite *s = suite_create("matmul");
	TCase *tc = tcase_create("matmul");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_shapes, 0, N_TYPES);
	tcase_add_loop_test(tc, test_quantizers, 0, N_TYPES);
	tcase_add_loop_test(tc, test_i8mm_tiles, 0, N_I8MM_TYPES);
	tcase_add_test(tc, test_i8mm_select);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_exec_rejects);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(matmul_suite());
}
