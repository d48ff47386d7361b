// SPDX-License-Identifier: MIT
/*
 * test_ops.c - the row-wise ops: RMSNorm, softmax, SiLU/GELU, SwiGLU/GeGLU,
 * add/mul, scale, get_rows and argmax.
 *
 * For every op and an assortment of awkward sizes (1 element, lengths that
 * are not multiples of 8 or 16, padded strides, several rows, in place):
 *   - the scalar path against a double-precision computation with libm,
 *     with the bound stated per op below;
 *   - every other SIMD path of this machine against the scalar path, with
 *     the bound stated per op (0 ulps = bitwise: element-wise ops repeat
 *     the scalar operations lane by lane);
 *   - bad parameters give -KK_EINVAL; out-of-range ids are harmless.
 */
#include "kt_ops.h"

struct rowop {
	const char *name;
	uint32_t kind, fn;
	float lo, hi;		/* input range */
	uint64_t simd_ulps;	/* SIMD path vs scalar path */
	double ref_tol;		/* scalar vs double: |err| / max(floor, |ref|) */
	double ref_floor;
};

/*
 * Bounds: RMSNorm and softmax reorder a double sum in SIMD (the float
 * scale/normaliser may move by 1 ulp, the outputs by 2); everything else is
 * bitwise.  Against double: RMSNorm 2e-6 of max(1,|y|); softmax 4e-6
 * relative (exp is within 1 ulp, x*scale - max adds ~1 ulp of |x*scale|);
 * SiLU 2e-6 relative; GELU 2e-6 of max(1,|y|) (1 + tanh cancels for x << 0,
 * as in ggml); add/mul/scale are exact.
 */
static const struct rowop rowops[] = {
	{ "rmsnorm", KK_OP_RMSNORM, 0, -4.0f, 4.0f, 2, 2e-6, 1.0 },
	{ "rmsnorm-noweight", KK_OP_RMSNORM, 1, -1e-3f, 1e-3f, 2, 2e-6, 1.0 },
	{ "softmax", KK_OP_SOFTMAX, 0, -8.0f, 8.0f, 2, 4e-6, 1e-30 },
	{ "silu", KK_OP_UNARY, KK_UNARY_SILU, -80.0f, 80.0f, 0, 2e-6, 1e-30 },
	{ "gelu", KK_OP_UNARY, KK_UNARY_GELU, -10.0f, 10.0f, 0, 2e-6, 1.0 },
	{ "swiglu", KK_OP_GLU, KK_UNARY_SILU, -20.0f, 20.0f, 0, 2e-6, 1e-30 },
	{ "geglu", KK_OP_GLU, KK_UNARY_GELU, -6.0f, 6.0f, 0, 2e-6, 1.0 },
	{ "add", KK_OP_BINARY, KK_BINARY_ADD, -100.0f, 100.0f, 0, 0, 1.0 },
	{ "mul", KK_OP_BINARY, KK_BINARY_MUL, -100.0f, 100.0f, 0, 0, 1.0 },
	{ "add-bcast", KK_OP_BINARY, KK_BINARY_ADD | 0x100, -3.0f, 3.0f, 0, 0, 1.0 },
	{ "scale", KK_OP_SCALE, 0, -1e4f, 1e4f, 0, 0, 1.0 },
};

static const uint32_t sizes[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100,
				  257, 1000, 4099 };

#define EPS 1e-5f
#define SOFTMAX_SCALE 0.7f
#define SCALE_S -0.37f

struct bufs {
	float *x, *b, *w, *y;
	uint32_t n, rows;
	uint64_t xs, bs, ys;	/* strides */
};

static void build_op(struct kk_op *op, const struct rowop *ro, struct bufs *B)
{
	memset(op, 0, sizeof(*op));
	op->kind = ro->kind;
	switch (ro->kind) {
	case KK_OP_RMSNORM:
		op->rmsnorm = (struct kk_rmsnorm){ .x = B->x, .y = B->y,
			.w = ro->fn ? NULL : B->w, .x_stride = B->xs,
			.y_stride = B->ys, .n = B->n, .rows = B->rows,
			.eps_bits = kk_fbits(EPS) };
		break;
	case KK_OP_SOFTMAX:
		op->softmax = (struct kk_softmax){ .x = B->x, .y = B->y,
			.x_stride = B->xs, .y_stride = B->ys, .n = B->n,
			.rows = B->rows, .scale_bits = kk_fbits(SOFTMAX_SCALE) };
		break;
	case KK_OP_UNARY:
		op->unary = (struct kk_unary){ .x = B->x, .y = B->y,
			.x_stride = B->xs, .y_stride = B->ys, .n = B->n,
			.rows = B->rows, .fn = ro->fn };
		break;
	case KK_OP_GLU:
		op->glu = (struct kk_glu){ .gate = B->x, .up = B->b, .y = B->y,
			.gate_stride = B->xs, .up_stride = B->bs,
			.y_stride = B->ys, .n = B->n, .rows = B->rows,
			.fn = ro->fn };
		break;
	case KK_OP_BINARY:
		op->binary = (struct kk_binary){ .a = B->x, .b = B->b, .y = B->y,
			.a_stride = B->xs,
			.b_stride = (ro->fn & 0x100) ? 0 : B->bs,
			.y_stride = B->ys, .n = B->n, .rows = B->rows,
			.fn = ro->fn & 0xff };
		break;
	case KK_OP_SCALE:
		op->scale = (struct kk_scale){ .x = B->x, .y = B->y,
			.x_stride = B->xs, .y_stride = B->ys, .n = B->n,
			.rows = B->rows, .scale_bits = kk_fbits(SCALE_S) };
		break;
	}
}

static double silu_d(double x)
{
	return x / (1.0 + exp(-x));
}

static double gelu_d(double x)
{
	return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* The double-precision reference of one output row. */
static void ref_row(const struct rowop *ro, const float *x, const float *b,
		    const float *w, double *r, uint32_t n)
{
	double acc = 0, mx = -INFINITY;

	switch (ro->kind) {
	case KK_OP_RMSNORM:
		for (uint32_t i = 0; i < n; i++)
			acc += (double)x[i] * x[i];
		acc = 1.0 / sqrt(acc / n + (double)EPS);
		for (uint32_t i = 0; i < n; i++)
			r[i] = x[i] * acc * (ro->fn ? 1.0 : w[i]);
		break;
	case KK_OP_SOFTMAX:
		for (uint32_t i = 0; i < n; i++)
			mx = fmax(mx, (double)x[i] * SOFTMAX_SCALE);
		for (uint32_t i = 0; i < n; i++)
			acc += r[i] = exp((double)x[i] * SOFTMAX_SCALE - mx);
		for (uint32_t i = 0; i < n; i++)
			r[i] /= acc;
		break;
	case KK_OP_UNARY:
		for (uint32_t i = 0; i < n; i++)
			r[i] = ro->fn == KK_UNARY_GELU ? gelu_d(x[i]) : silu_d(x[i]);
		break;
	case KK_OP_GLU:
		for (uint32_t i = 0; i < n; i++)
			r[i] = (ro->fn == KK_UNARY_GELU ? gelu_d(x[i]) :
				silu_d(x[i])) * b[i];
		break;
	case KK_OP_BINARY:
		for (uint32_t i = 0; i < n; i++)
			r[i] = (ro->fn & 0xff) == KK_BINARY_MUL ?
			       (double)x[i] * b[i] : (double)x[i] + b[i];
		break;
	case KK_OP_SCALE:
		for (uint32_t i = 0; i < n; i++)
			r[i] = (double)x[i] * SCALE_S;
		break;
	}
}

static void check_rowop(const struct rowop *ro, uint32_t n, uint32_t rows,
			struct kt_rng *rng)
{
	const uint32_t mask = kt_paths_native();
	struct bufs B = { .n = n, .rows = rows, .xs = n + 3, .bs = n + 5,
			  .ys = n + 1 };
	size_t nx = (size_t)B.xs * rows, ny = (size_t)B.ys * rows;
	float *ref = kt_floats(ny), *inplace = kt_floats(nx);
	double *r = kt_alloc(n * sizeof(double));
	struct kk_op op;

	B.x = kt_floats(nx);
	B.b = kt_floats((size_t)B.bs * rows);
	B.w = kt_floats(n);
	B.y = kt_floats(ny);
	kt_fill_f32(rng, B.x, nx, ro->lo, ro->hi);
	kt_fill_f32(rng, B.b, (size_t)B.bs * rows, -2.0f, 2.0f);
	kt_fill_f32(rng, B.w, n, 0.5f, 1.5f);
	build_op(&op, ro, &B);

	kt_select(KK_SIMD_SCALAR);
	kt_exec(&op);
	memcpy(ref, B.y, ny * sizeof(float));
	for (uint32_t row = 0; row < rows; row++) {
		const float *brow = B.b + ((ro->fn & 0x100) ? 0 : row * B.bs);
		size_t at = 0;
		double e;

		ref_row(ro, B.x + row * B.xs, brow, B.w, r, n);
		if (ro->ref_tol == 0)	/* exact ops: the correctly rounded float */
			for (uint32_t i = 0; i < n; i++)
				r[i] = (float)r[i];
		e = kt_max_rel_err_d(ref + row * B.ys, r, n, ro->ref_floor, &at);
		ck_assert_msg(e <= ro->ref_tol,
			      "%s n=%u row %u: scalar vs double err %g at %zu (%g vs %g)",
			      ro->name, n, row, e, at, ref[row * B.ys + at], r[at]);
	}

	KT_FOR_EACH_PATH(p, mask) {
		kt_select(p);
		memset(B.y, 0xff, ny * sizeof(float));
		kt_exec(&op);
		for (uint32_t row = 0; row < rows; row++) {
			size_t at = 0;
			uint64_t u = kt_max_ulps(B.y + row * B.ys, ref + row * B.ys,
						 n, &at);

			ck_assert_msg(u <= ro->simd_ulps,
				      "%s %s n=%u row %u: %llu ulps at %zu (%a vs %a)",
				      ro->name, kk_simd_name(p), n, row,
				      (unsigned long long)u, at,
				      B.y[row * B.ys + at], ref[row * B.ys + at]);
		}
		/* in place, x_stride == y_stride: the same bits */
		memcpy(inplace, B.x, nx * sizeof(float));
		{
			struct bufs I = B;

			I.x = I.y = inplace;
			I.ys = I.xs;
			build_op(&op, ro, &I);
			kt_exec(&op);
			for (uint32_t row = 0; row < rows; row++)
				ck_assert_msg(!memcmp(inplace + row * I.xs, B.y + row * B.ys,
						      n * sizeof(float)),
					      "%s %s n=%u: in place differs",
					      ro->name, kk_simd_name(p), n);
			build_op(&op, ro, &B);
		}
	}
	free(B.x);
	free(B.b);
	free(B.w);
	free(B.y);
	free(ref);
	free(inplace);
	free(r);
}

START_TEST(test_rowops)
{
	const struct rowop *ro = &rowops[_i];
	struct kt_rng rng;

	kt_rng_seed(&rng, 1000 + _i);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		check_rowop(ro, sizes[s], 1, &rng);
		if (sizes[s] < 1000)
			check_rowop(ro, sizes[s], 3, &rng);
	}
}
END_TEST

/* Scalar RMSNorm is ggml's formula to the bit: double sum of float squares,
 * float mean, 1/sqrtf, then x * scale * w. */
START_TEST(test_rmsnorm_ggml_bits)
{
	const uint32_t n = 2048;
	float *x = kt_floats(n), *w = kt_floats(n), *y = kt_floats(n);
	struct kt_rng rng;
	struct kk_op op = { .kind = KK_OP_RMSNORM };
	double sum = 0;
	float mean, scale;

	kt_rng_seed(&rng, 7);
	kt_fill_f32(&rng, x, n, -3.0f, 3.0f);
	kt_fill_f32(&rng, w, n, -2.0f, 2.0f);
	op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .w = w, .n = n,
		.rows = 1, .eps_bits = kk_fbits(1e-6f) };
	kt_select(KK_SIMD_SCALAR);
	kt_exec(&op);
	for (uint32_t i = 0; i < n; i++)
		sum += (double)(x[i] * x[i]);
	mean = (float)(sum / n);
	scale = 1.0f / sqrtf(mean + 1e-6f);
	for (uint32_t i = 0; i < n; i++) {
		float want = x[i] * scale;

		want *= w[i];
		ck_assert_msg(y[i] == want, "i=%u %a vs %a", i, y[i], want);
	}
	free(x);
	free(w);
	free(y);
}
END_TEST

/* Special values flow through every path exactly as through the scalar one. */
START_TEST(test_special_values)
{
	static const float sp[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN,
				    200.0f, -200.0f, 88.0f, -88.0f, 1e-40f,
				    -1e-40f, 3.4e38f, -3.4e38f, 0.625f, -0.625f,
				    9.0f, -9.0f, 44.0f, -104.0f, 0.5f };
	const uint32_t n = sizeof(sp) / sizeof(sp[0]), mask = kt_paths_native();
	float y[2][32], ref[2][32];
	struct kk_op op = { .kind = KK_OP_UNARY };

	for (uint32_t fn = 0; fn < 2; fn++) {
		op.unary = (struct kk_unary){ .x = sp, .y = ref[fn], .n = n,
					      .rows = 1, .fn = fn };
		kt_select(KK_SIMD_SCALAR);
		kt_exec(&op);
		KT_FOR_EACH_PATH(p, mask) {
			op.unary.y = y[fn];
			kt_select(p);
			kt_exec(&op);
			for (uint32_t i = 0; i < n; i++)
				ck_assert_msg(kt_ulps(y[fn][i], ref[fn][i]) == 0,
					      "fn %u %s x=%g: %a vs %a", fn,
					      kk_simd_name(p), sp[i], y[fn][i],
					      ref[fn][i]);
			op.unary.y = ref[fn];
		}
	}
	/* a few values that must come out right */
	ck_assert(ref[0][2] == INFINITY);	/* silu(inf) */
	ck_assert(ref[0][0] == 0.0f);
	ck_assert(isnan(ref[0][4]) && isnan(ref[1][4]));
	ck_assert(ref[1][5] == 200.0f);		/* gelu(200) */
	ck_assert(ref[1][6] == 0.0f);		/* gelu(-200) */
}
END_TEST

/* ---- get_rows ---- */

START_TEST(test_get_rows)
{
	static const uint32_t types[] = { KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16,
					  KK_TYPE_Q8_0, KK_TYPE_Q4_0, KK_TYPE_Q4_K };
	const uint32_t n = 256, n_table = 5, mask = kt_paths_native();
	const int32_t ids[] = { 3, 0, -1, 4, 5, INT32_MAX, INT32_MIN, 4, 1 };
	const uint32_t rows = sizeof(ids) / sizeof(ids[0]);
	struct kt_rng rng;

	kt_rng_seed(&rng, 11);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		uint32_t type = types[t];
		uint64_t rb = kk_row_bytes(type, n), trb = rb + 8;
		uint8_t *table = kt_alloc(trb * n_table);
		float *src = kt_floats(n), *want = kt_floats(n);
		float *y = kt_floats((size_t)rows * (n + 2));
		struct kk_op op = { .kind = KK_OP_GET_ROWS };

		ck_assert_uint_gt(rb, 0);
		for (uint32_t r = 0; r < n_table; r++) {
			kt_fill_f32(&rng, src, n, -1.0f, 1.0f);
			/* types without a quantizer (K-quants) get random blocks */
			if (kk_quantize_row(type, src, table + r * trb, n))
				kt_fill_bytes(&rng, table + r * trb, rb);
		}
		op.get_rows = (struct kk_get_rows){ .table = table,
			.table_row_bytes = trb, .type = type, .n = n,
			.n_rows_table = n_table, .rows = rows, .ids = ids,
			.y = y, .y_stride = n + 2 };
		KT_FOR_EACH_PATH(p, mask) {
			kt_select(p);
			memset(y, 0x7f, (size_t)rows * (n + 2) * sizeof(float));
			kt_exec(&op);
			for (uint32_t r = 0; r < rows; r++) {
				int ok = ids[r] >= 0 && (uint32_t)ids[r] < n_table;

				if (ok)
					ck_assert_int_eq(kk_dequantize_row(type,
						table + (uint64_t)ids[r] * trb, want, n), 0);
				else
					memset(want, 0, n * sizeof(float));
				ck_assert_msg(!memcmp(y + r * (n + 2), want,
						      n * sizeof(float)),
					      "%s %s row %u (id %d)", kk_type_name(type),
					      kk_simd_name(p), r, ids[r]);
			}
		}
		free(table);
		free(src);
		free(want);
		free(y);
	}
}
END_TEST

/* ---- argmax ---- */

static uint32_t argmax_naive(const float *x, uint32_t n)
{
	float m = -INFINITY;
	uint32_t idx = 0;

	for (uint32_t i = 0; i < n; i++)
		if (x[i] > m) {
			m = x[i];
			idx = i;
		}
	return idx;
}

START_TEST(test_argmax)
{
	const uint32_t mask = kt_paths_native(), rows = 4;
	struct kt_rng rng;

	kt_rng_seed(&rng, 5);
	for (uint32_t n = 1; n <= 70; n++) {
		const uint64_t stride = n + 3;
		float *x = kt_floats(rows * stride);
		int32_t idx[4];
		struct kk_op op = { .kind = KK_OP_ARGMAX };

		for (uint32_t r = 0; r < rows; r++) {
			float *row = x + r * stride;

			/* small integers: lots of ties */
			for (uint32_t i = 0; i < n; i++)
				row[i] = (float)(kt_rng_u64(&rng) % 5);
			if (r == 1)	/* NaNs are skipped */
				for (uint32_t i = 0; i < n; i += 3)
					row[i] = NAN;
			if (r == 2)	/* nothing above -inf: 0 */
				for (uint32_t i = 0; i < n; i++)
					row[i] = i & 1 ? -INFINITY : NAN;
			if (r == 3 && n > 5) {	/* one clear winner at the end */
				row[n - 1] = 1e30f;
				row[0] = -0.0f;
			}
		}
		op.argmax = (struct kk_argmax){ .x = x, .x_stride = stride,
						.idx = idx, .n = n, .rows = rows };
		KT_FOR_EACH_PATH(p, mask) {
			kt_select(p);
			memset(idx, 0xff, sizeof(idx));
			kt_exec(&op);
			for (uint32_t r = 0; r < rows; r++)
				ck_assert_msg((uint32_t)idx[r] ==
					      argmax_naive(x + r * stride, n),
					      "%s n=%u row %u: %d vs %u", kk_simd_name(p),
					      n, r, idx[r], argmax_naive(x + r * stride, n));
		}
		free(x);
	}
}
END_TEST

/* ---- bad parameters ---- */

START_TEST(test_bad_params)
{
	float x[64] = { 0 }, y[64];
	int32_t ids[2] = { 0, 1 }, idx[2];
	struct kk_op op;

#define EXPECT_EINVAL(setup) do { \
		memset(&op, 0, sizeof(op)); \
		setup; \
		ck_assert_msg(kk_op_check(&op) == -KK_EINVAL, "accepted: %s", #setup); \
		ck_assert_int_eq(kk_op_exec(&kt_host, &op), -KK_EINVAL); \
	} while (0)
#define EXPECT_OK(setup) do { \
		memset(&op, 0, sizeof(op)); \
		setup; \
		ck_assert_msg(kk_op_check(&op) == 0, "refused: %s", #setup); \
	} while (0)

	kt_select(KK_SIMD_SCALAR);
	EXPECT_EINVAL(op.kind = 0);
	EXPECT_EINVAL(op.kind = KK_OP_KIND_MAX);
	EXPECT_EINVAL(op.kind = 1000);
	/* rmsnorm */
	EXPECT_OK((op.kind = KK_OP_RMSNORM, op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .n = 8, .rows = 2, .y_stride = 8, .eps_bits = kk_fbits(1e-5f) }));
	EXPECT_EINVAL((op.kind = KK_OP_RMSNORM, op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .n = 0, .rows = 1, .eps_bits = kk_fbits(1e-5f) }));
	EXPECT_EINVAL((op.kind = KK_OP_RMSNORM, op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .n = 8, .rows = 2, .y_stride = 7 }));
	EXPECT_EINVAL((op.kind = KK_OP_RMSNORM, op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .n = 8, .rows = 1, .eps_bits = kk_fbits(NAN) }));
	EXPECT_EINVAL((op.kind = KK_OP_RMSNORM, op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .n = 8, .rows = 1, .eps_bits = kk_fbits(-1e-5f) }));
	/* softmax */
	EXPECT_EINVAL((op.kind = KK_OP_SOFTMAX, op.softmax = (struct kk_softmax){ .x = x, .y = y, .n = 8, .rows = 1, .scale_bits = kk_fbits(INFINITY) }));
	EXPECT_EINVAL((op.kind = KK_OP_SOFTMAX, op.softmax = (struct kk_softmax){ .x = x, .y = y, .n = 0, .rows = 1, .scale_bits = kk_fbits(1.0f) }));
	/* unary, glu, binary, scale */
	EXPECT_EINVAL((op.kind = KK_OP_UNARY, op.unary = (struct kk_unary){ .x = x, .y = y, .n = 8, .rows = 1, .fn = 2 }));
	EXPECT_EINVAL((op.kind = KK_OP_UNARY, op.unary = (struct kk_unary){ .x = x, .y = y, .n = 8, .rows = 3, .y_stride = 4 }));
	EXPECT_EINVAL((op.kind = KK_OP_GLU, op.glu = (struct kk_glu){ .gate = x, .up = x, .y = y, .n = 8, .rows = 1, .fn = 9 }));
	EXPECT_EINVAL((op.kind = KK_OP_BINARY, op.binary = (struct kk_binary){ .a = x, .b = x, .y = y, .n = 8, .rows = 1, .fn = 2 }));
	EXPECT_OK((op.kind = KK_OP_BINARY, op.binary = (struct kk_binary){ .a = x, .b = x, .y = y, .n = 8, .rows = 2, .y_stride = 8, .fn = KK_BINARY_MUL }));
	EXPECT_EINVAL((op.kind = KK_OP_SCALE, op.scale = (struct kk_scale){ .x = x, .y = y, .n = 8, .rows = 1, .scale_bits = kk_fbits(NAN) }));
	/* get_rows */
	EXPECT_OK((op.kind = KK_OP_GET_ROWS, op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 34, .type = KK_TYPE_Q8_0, .n = 32, .n_rows_table = 1, .rows = 2, .ids = ids, .y = y, .y_stride = 32 }));
	EXPECT_EINVAL((op.kind = KK_OP_GET_ROWS, op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 33, .type = KK_TYPE_Q8_0, .n = 32, .n_rows_table = 1, .rows = 2, .ids = ids, .y = y, .y_stride = 32 }));
	EXPECT_EINVAL((op.kind = KK_OP_GET_ROWS, op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 68, .type = KK_TYPE_Q8_0, .n = 33, .n_rows_table = 1, .rows = 1, .ids = ids, .y = y }));
	EXPECT_EINVAL((op.kind = KK_OP_GET_ROWS, op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 36, .type = KK_TYPE_Q8_1, .n = 32, .n_rows_table = 1, .rows = 1, .ids = ids, .y = y }));
	EXPECT_EINVAL((op.kind = KK_OP_GET_ROWS, op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 64, .type = 99, .n = 8, .n_rows_table = 1, .rows = 1, .ids = ids, .y = y }));
	EXPECT_EINVAL((op.kind = KK_OP_GET_ROWS, op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 64, .type = KK_TYPE_F32, .n = 0, .n_rows_table = 1, .rows = 1, .ids = ids, .y = y }));
	/* argmax */
	EXPECT_EINVAL((op.kind = KK_OP_ARGMAX, op.argmax = (struct kk_argmax){ .x = x, .idx = idx, .n = 0, .rows = 1 }));
	EXPECT_EINVAL((op.kind = KK_OP_ARGMAX, op.argmax = (struct kk_argmax){ .x = x, .idx = idx, .n = 0x80000000u, .rows = 1 }));
	/* no rows: valid, nothing to do */
	EXPECT_OK((op.kind = KK_OP_SOFTMAX, op.softmax = (struct kk_softmax){ .n = 8, .rows = 0, .scale_bits = kk_fbits(1.0f) }));
	ck_assert_int_eq(kk_op_exec(&kt_host, &op), 0);
#undef EXPECT_EINVAL
#undef EXPECT_OK
}
END_TEST

/* Chunks stay small and the result does not depend on how items are split. */
START_TEST(test_chunks_and_splits)
{
	const uint32_t n = 300, rows = 37;
	float *x = kt_floats((size_t)n * rows), *a = kt_floats((size_t)n * rows);
	float *b = kt_floats((size_t)n * rows);
	struct kk_op op = { .kind = KK_OP_GLU };
	struct kt_rng rng;
	kk_u64 chunk;

	kt_rng_seed(&rng, 3);
	kt_fill_f32(&rng, x, (size_t)n * rows, -5.0f, 5.0f);
	op.glu = (struct kk_glu){ .gate = x, .up = x, .y = a, .gate_stride = n,
		.up_stride = n, .y_stride = n, .n = n, .rows = rows };
	chunk = kk_op_chunk_items(&op, 0);
	ck_assert_uint_ge(chunk, 1);
	ck_assert_uint_le(chunk * n, 16384);
	kt_select(kk_simd_best(kt_paths()));
	kt_exec(&op);
	op.glu.y = b;
	kt_exec_items_one_by_one(&op);
	ck_assert(!memcmp(a, b, (size_t)n * rows * sizeof(float)));
	free(x);
	free(a);
	free(b);
}
END_TEST

static Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("rows");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_rowops, 0, sizeof(rowops) / sizeof(rowops[0]));
	tcase_add_test(tc, test_rmsnorm_ggml_bits);
	tcase_add_test(tc, test_special_values);
	tcase_add_test(tc, test_get_rows);
	tcase_add_test(tc, test_argmax);
	tcase_add_test(tc, test_bad_params);
	tcase_add_test(tc, test_chunks_and_splits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(ops_suite());
}
