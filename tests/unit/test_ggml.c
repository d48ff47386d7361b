// SPDX-License-Identifier: MIT
/*
 * test_ggml.c - the ggml path (KLLM_SIMD=ggml, kernels/kk_*_ggml_avx2.c):
 * llama.cpp's x86 arithmetic, which tests/run-golden.sh holds to llama.cpp's
 * logits within 5e-2 (1e-4 measured).  Here, what a golden run would only
 * show as a wrong logit:
 *
 *   offered    only with the C library lent, never chosen by default;
 *   rounding   Q8 activations round half to even with 127/amax (the
 *              scalar path's reference quantizer rounds half away);
 *   dot order  a Q8_0 dot is eight fma lanes over blocks, then
 *              ((a4+a0)+(a6+a2)) + ((a5+a1)+(a7+a3)), restated here from
 *              the definition and compared bit for bit;
 *   matmuls    every type the path has: a batch's columns equal matvecs
 *              bit for bit, and the values are the scalar path's to
 *              rounding;
 *   GeGLU      ggml's thresholds and f16 table.
 * Attention (by rows, f16 probabilities) is in test_attention's path loop.
 */
#pragma GCC optimize("fp-contract=off")
#include "kt_ops.h"
#include "kk_fp.h"

#if defined(__x86_64__)
static int have_ggml(void)
{
	return (kt_paths() >> KK_SIMD_GGML) & 1;
}

START_TEST(test_ggml_offered)
{
	uint32_t mask = kt_paths();

	ck_assert_int_eq(kk_simd_parse("ggml"), KK_SIMD_GGML);
	ck_assert_str_eq(kk_simd_name(KK_SIMD_GGML), "ggml");
	ck_assert_uint_eq(!!(mask & (1u << KK_SIMD_GGML)), !!(mask & (1u << KK_SIMD_AVX2)));
	ck_assert_uint_ne(kk_simd_best(mask), KK_SIMD_GGML);
	/* without the C library there is no ggml path */
	kk_ggml_set_libm(NULL);
	mask = kk_simd_available(kt_hwcap());
	ck_assert_uint_eq(mask & (1u << KK_SIMD_GGML), 0);
	ck_assert_int_ne(kk_simd_select(KK_SIMD_GGML), 0);
	kt_paths();
}
END_TEST

/* y = W x for one x row, W rows of w_type (k elements), on the selected path */
static void matvec(uint32_t w_type, const void *w, uint32_t n_out, uint32_t k,
		   const float *x, uint32_t m, float *y)
{
	struct kk_op op = { .kind = KK_OP_MATMUL };

	op.matmul = (struct kk_matmul){ .w = w, .w_row_bytes = kk_row_bytes(w_type, k),
		.w_type = w_type, .k = k, .n_out = n_out, .m = m, .x = x,
		.x_stride = k, .y = y, .y_stride = n_out };
	kt_exec(&op);
}

/* Q8_0 rows that pick element r of x: y[r] = d_x * q_x[r] exactly. */
START_TEST(test_ggml_act_rounding)
{
	static const float xs[6] = { 127.0f, 2.5f, 3.5f, -2.5f, 0.5f, -1.5f };
	static const float want_ggml[6] = { 127, 2, 4, -2, 0, -2 };
	static const float want_scalar[6] = { 127, 3, 4, -3, 1, -2 };
	uint8_t w[6][34];
	float x[32] = { 0 }, y[6];

	if (!have_ggml())
		return;
	memcpy(x, xs, sizeof(xs));
	memset(w, 0, sizeof(w));
	for (int r = 0; r < 6; r++) {
		w[r][0] = 0x00;
		w[r][1] = 0x3c;		/* d = 1.0 */
		w[r][2 + r] = 1;	/* q[r] = 1 */
	}
	kt_select(KK_SIMD_GGML);
	matvec(KK_TYPE_Q8_0, w, 6, 32, x, 1, y);
	for (int r = 0; r < 6; r++)
		ck_assert_msg(y[r] == want_ggml[r], "ggml q[%d] %g, want %g", r, y[r], want_ggml[r]);
	/* the scalar path rounds ties away: the case tells the two apart */
	kt_select(KK_SIMD_SCALAR);
	matvec(KK_TYPE_Q8_0, w, 6, 32, x, 1, y);
	for (int r = 0; r < 6; r++)
		ck_assert_msg(y[r] == want_scalar[r], "scalar q[%d] %g", r, y[r]);
}
END_TEST

/* ggml's Q8_0 activation block, from its definition */
static void q8_0_ggml(const float *x, float *d, int *q)
{
	float amax = 0.0f;

	for (int j = 0; j < 32; j++)
		amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
	*d = kk_f16_to_f32(kk_f32_to_f16(amax / 127.0f));
	for (int j = 0; j < 32; j++)
		q[j] = (int)rintf(x[j] * (amax != 0.0f ? 127.0f / amax : 0.0f));
}

START_TEST(test_ggml_dot_order)
{
	enum { K = 512, NB = K / 32, ROWS = 64 };
	uint8_t *w = kt_alloc((size_t)ROWS * NB * 34);
	float x[K], wf[K], y[ROWS];
	int naive_differs = 0;
	struct kt_rng rng;

	if (!have_ggml())
		return;
	kt_rng_seed(&rng, 77);
	kt_fill_f32(&rng, x, K, -4.0f, 4.0f);
	for (int r = 0; r < ROWS; r++) {
		kt_fill_f32(&rng, wf, K, -1.0f, 1.0f);
		for (int b = 0; b < NB; b++)	/* scales over a wide range */
			for (int j = 0; j < 32; j++)
				wf[b * 32 + j] *= (float)(1 + (b * 7 + r) % 13) * 0.37f;
		kk_quantize_row(KK_TYPE_Q8_0, wf, w + (size_t)r * NB * 34, K);
	}
	kt_select(KK_SIMD_GGML);
	matvec(KK_TYPE_Q8_0, w, ROWS, K, x, 1, y);
	for (int r = 0; r < ROWS; r++) {
		const uint8_t *row = w + (size_t)r * NB * 34;
		float acc[8] = { 0 }, naive = 0.0f, want, dx;
		int qx[32];

		for (int b = 0; b < NB; b++) {
			const uint8_t *blk = row + b * 34;
			const float d = kk_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
			int isum = 0;

			q8_0_ggml(x + b * 32, &dx, qx);
			for (int l = 0; l < 8; l++) {
				int s = 0;

				for (int e = 4 * l; e < 4 * l + 4; e++)
					s += (int8_t)blk[2 + e] * qx[e];
				acc[l] = fmaf(d * dx, (float)s, acc[l]);
				isum += s;
			}
			naive += (d * dx) * (float)isum;
		}
		want = ((acc[4] + acc[0]) + (acc[6] + acc[2])) + ((acc[5] + acc[1]) + (acc[7] + acc[3]));
		ck_assert_msg(y[r] == want, "row %d: %a, want %a", r, y[r], want);
		naive_differs += naive != want;
	}
	/* the order matters on these rows: a plain block sum gives other bits */
	ck_assert_int_gt(naive_differs, 0);
	free(w);
}
END_TEST

START_TEST(test_ggml_matmul_types)
{
	static const uint32_t types[] = { KK_TYPE_Q4_0, KK_TYPE_Q4_1, KK_TYPE_Q5_0,
					   KK_TYPE_Q8_0, KK_TYPE_Q4_K, KK_TYPE_Q6_K };
	enum { K = 512, N = 24, M = 5 };
	const uint32_t type = types[_i];
	const uint64_t rb = kk_row_bytes(type, K);
	uint8_t *w = kt_alloc(N * rb);
	float *wf = kt_floats((size_t)N * K), x[M * K], y[M * N], y1[N], ys[M * N];
	struct kt_rng rng;

	if (!have_ggml())
		return;
	kt_rng_seed(&rng, 500 + _i);
	kt_fill_f32(&rng, wf, (size_t)N * K, -1.0f, 1.0f);
	kt_fill_f32(&rng, x, M * K, -2.0f, 2.0f);
	for (int r = 0; r < N; r++)
		kk_quantize_row(type, wf + (size_t)r * K, w + r * rb, K);
	kt_select(KK_SIMD_GGML);
	matvec(type, w, N, K, x, M, y);
	for (int c = 0; c < M; c++) {
		matvec(type, w, N, K, x + c * K, 1, y1);
		ck_assert_msg(!memcmp(y1, y + c * N, sizeof(y1)), "%s column %d != matvec",
			      kk_type_name(type), c);
	}
	kt_select(KK_SIMD_SCALAR);
	matvec(type, w, N, K, x, M, ys);
	for (int i = 0; i < M * N; i++)	/* |y| ~ 15; activation rounding ~ 1e-2 */
		ck_assert_msg(fabsf(y[i] - ys[i]) <= 0.1f, "%s elem %d: ggml %g scalar %g",
			      kk_type_name(type), i, y[i], ys[i]);
	free(w);
	free(wf);
}
END_TEST

START_TEST(test_ggml_geglu)
{
	static const float gate[8] = { -20.0f, -10.0f, -9.99f, 0.0f, 1.0f, 9.99f, 10.0f, 30.0f };
	float up[8], y[8];
	struct kk_op op = { .kind = KK_OP_GLU };

	if (!have_ggml())
		return;
	for (int i = 0; i < 8; i++)
		up[i] = 2.0f;
	op.glu = (struct kk_glu){ .gate = gate, .up = up, .y = y, .gate_stride = 8,
		.up_stride = 8, .y_stride = 8, .n = 8, .rows = 1, .fn = KK_UNARY_GELU };
	kt_select(KK_SIMD_GGML);
	kt_exec(&op);
	ck_assert(y[0] == 0.0f && y[1] == 0.0f);
	ck_assert(y[6] == 20.0f && y[7] == 60.0f);	/* gate * up above 10 */
	ck_assert(y[3] == 0.0f);
	for (int i = 2; i < 6; i++) {	/* f16(gelu(f16(x))) * up */
		const float h = kk_f16_to_f32(kk_f32_to_f16(gate[i]));
		const float in = fmaf(0.044715f * h, h, 1.0f);
		const float g = 0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * in));

		ck_assert_msg(y[i] == kk_f16_to_f32(kk_f32_to_f16(g)) * 2.0f,
			      "geglu(%g) %a", gate[i], y[i]);
	}
}
END_TEST
#endif

static Suite *ggml_suite(void)
{
	Suite *s = suite_create("ggml");
	TCase *tc = tcase_create("ggml");

	tcase_set_timeout(tc, 60);
#if defined(__x86_64__)
	tcase_add_test(tc, test_ggml_offered);
	tcase_add_test(tc, test_ggml_act_rounding);
	tcase_add_test(tc, test_ggml_dot_order);
	tcase_add_loop_test(tc, test_ggml_matmul_types, 0, 6);
	tcase_add_test(tc, test_ggml_geglu);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(ggml_suite());
}
