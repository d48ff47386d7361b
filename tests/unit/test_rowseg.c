// SPDX-License-Identifier: MIT
/*
 * test_rowseg.c - rows longer than KK_ROW_SEG elements are cut into
 * segments, one work item each, so no FPU section's work grows with a
 * user-chosen row length (docs/SECURITY.md, finding 7).  For every path:
 * unary, glu, binary, scale, get_rows (f32, q8_0) and kv_store (f16,
 * q8_0) over segmented rows equal the whole-row row functions bit for bit;
 * argmax is exact (ties across segments: the lowest index; NaN); softmax
 * and rmsnorm agree with the whole-row functions to 4e-6 (their sums are
 * grouped by segment), softmax in place equals out of place; rope in head
 * blocks equals rope one head at a time; items run in reverse order.
 * A row of KK_ROW_SEG elements (an 8k norm: models up to 70B) is still one item: real
 * models' bits do not change.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_ops.h"
#include "kk_impl.h"
#include "kk_ops_common.h"

/* Set KT_VERBOSE=1 for the per-op lines. */
#define say(...) do { if (getenv("KT_VERBOSE")) printf(__VA_ARGS__); } while (0)

static void run_all(struct kk_op *op)
{
	struct kk_op_plan plan;
	void *scratch = NULL;
	ck_assert_msg(!kk_op_plan(op, &plan), "plan failed, kind %u", op->kind);
	if (plan.scratch_size) { scratch = aligned_alloc(64, (plan.scratch_size + 63) & ~63ull); op->scratch = scratch; }
	for (uint32_t s = 0; s < plan.stages; s++) {
		/* odd chunking: items one at a time from the end, to show order independence */
		for (uint64_t i = plan.items[s]; i-- > 0;)
			kk_op_run(op, s, i, i + 1);
		if (plan.items[s] > 1 && plan.chunk[s] != 1 && op->kind != KK_OP_ARGMAX)
			say("  note: stage %u chunk %llu\n", s, (unsigned long long)plan.chunk[s]);
	}
	free(scratch);
	op->scratch = NULL;
}

static uint32_t fb(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int cmp(const char *what, const float *a, const float *b, uint64_t n, double tol)
{
	double worst = 0; uint64_t bad = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (tol == 0) { if (memcmp(&a[i], &b[i], 4)) bad++; continue; }
		double e = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), 1e-30);
		if (e > worst) worst = e;
		if (e > tol) bad++;
	}
	say("  %-10s %s (worst rel %.3g)\n", what, bad ? "MISMATCH" : "ok", worst);
	return bad != 0;
}

START_TEST(test_rowseg)
{
	const uint32_t n = 2 * KK_ROW_SEG + 1000, rows = 3;
	const uint64_t st = n + 16;
	float *x = malloc(st * rows * 4), *b = malloc(st * rows * 4), *w = malloc(n * 4);
	float *y = malloc(st * rows * 4), *ref = malloc(st * rows * 4);
	int fails = 0;
	uint32_t mask = kk_simd_available(0);

	srand(1);
	for (uint64_t i = 0; i < st * rows; i++) { x[i] = (rand() / (float)RAND_MAX) * 16 - 8; b[i] = (rand() / (float)RAND_MAX) * 4 - 2; }
	for (uint32_t i = 0; i < n; i++) w[i] = (rand() / (float)RAND_MAX) * 2;
	x[st + KK_ROW_SEG + 1234] = 50.0f; x[st + 5] = 50.0f;	/* argmax tie across segments: lowest wins */
	x[2 * st + 2 * KK_ROW_SEG - 77] = NAN;
	for (uint32_t simd = 0; simd < KK_SIMD_COUNT; simd++) {
		if (!(mask & (1u << simd)) || kk_simd_select(simd)) continue;
		say("path %s\n", kk_simd_name(simd));
		const struct kk_ops_impl *o = &kk_impl_cur->ops;
		struct kk_op op;
		/* unary */
		for (uint32_t fn = 0; fn < 2; fn++) {
			memset(&op, 0, sizeof(op)); op.kind = KK_OP_UNARY;
			op.unary = (struct kk_unary){ .x = x, .y = y, .x_stride = st, .y_stride = st, .n = n, .rows = rows, .fn = fn };
			say("  unary items %llu stages %u\n", (unsigned long long)kk_op_items(&op, 0), kk_op_stages(&op));
			run_all(&op);
			for (uint32_t r = 0; r < rows; r++) o->unary(ref + r * st, x + r * st, n, fn);
			for (uint32_t r = 0; r < rows; r++) fails += cmp("unary", y + r * st, ref + r * st, n, 0);
		}
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_GLU;
		op.glu = (struct kk_glu){ .gate = x, .up = b, .y = y, .gate_stride = st, .up_stride = st, .y_stride = st, .n = n, .rows = rows, .fn = 0 };
		run_all(&op);
		for (uint32_t r = 0; r < rows; r++) o->glu(ref + r * st, x + r * st, b + r * st, n, 0);
		for (uint32_t r = 0; r < rows; r++) fails += cmp("glu", y + r * st, ref + r * st, n, 0);
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_BINARY;
		op.binary = (struct kk_binary){ .a = x, .b = b, .y = y, .a_stride = st, .b_stride = 0, .y_stride = st, .n = n, .rows = rows, .fn = 1 };
		run_all(&op);
		for (uint32_t r = 0; r < rows; r++) o->binary(ref + r * st, x + r * st, b, n, 1);
		for (uint32_t r = 0; r < rows; r++) fails += cmp("binary", y + r * st, ref + r * st, n, 0);
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_SCALE;
		op.scale = (struct kk_scale){ .x = x, .y = y, .x_stride = st, .y_stride = st, .n = n, .rows = rows, .scale_bits = fb(-0.37f) };
		run_all(&op);
		for (uint32_t r = 0; r < rows; r++) o->scale(ref + r * st, x + r * st, n, -0.37f);
		for (uint32_t r = 0; r < rows; r++) fails += cmp("scale", y + r * st, ref + r * st, n, 0);
		/* argmax: exact */
		int32_t idx[3]; 
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_ARGMAX;
		op.argmax = (struct kk_argmax){ .x = x, .x_stride = st, .idx = idx, .n = n, .rows = rows };
		say("  argmax stages %u items %llu/%llu scratch %llu\n", kk_op_stages(&op), (unsigned long long)kk_op_items(&op, 0), (unsigned long long)kk_op_items(&op, 1), (unsigned long long)kk_op_scratch_size(&op));
		run_all(&op);
		for (uint32_t r = 0; r < rows; r++) {
			uint32_t want = o->argmax(x + r * st, n);
			say("  argmax row %u: %d want %u %s\n", r, idx[r], want, (uint32_t)idx[r] == want ? "ok" : "MISMATCH");
			fails += (uint32_t)idx[r] != want;
		}
		/* softmax / rmsnorm: vs the scalar formula on the whole row */
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_SOFTMAX;
		op.softmax = (struct kk_softmax){ .x = x, .y = y, .x_stride = st, .y_stride = st, .n = n, .rows = 1, .scale_bits = fb(0.7f) };
		say("  softmax stages %u scratch %llu\n", kk_op_stages(&op), (unsigned long long)kk_op_scratch_size(&op));
		run_all(&op);
		o->softmax(ref, x, n, 0.7f);
		fails += cmp("softmax", y, ref, n, 4e-6);
		/* in place */
		memcpy(ref, x, n * 4); op.softmax.x = ref; op.softmax.y = ref; run_all(&op);
		fails += cmp("softmax-ip", ref, y, n, 0);
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_RMSNORM;
		op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .w = w, .x_stride = st, .y_stride = st, .n = n, .rows = rows, .eps_bits = fb(1e-5f) };
		run_all(&op);
		for (uint32_t r = 0; r < rows; r++) o->rmsnorm(ref + r * st, x + r * st, w, n, 1e-5f);
		for (uint32_t r = 0; r < rows; r++) fails += cmp("rmsnorm", y + r * st, ref + r * st, n, 4e-6);
		/* get_rows f32 + q8_0 table */
		for (uint32_t type = 0; type < 2; type++) {
			uint32_t t = type ? KK_TYPE_Q8_0 : KK_TYPE_F32;
			uint64_t rb = kk_row_bytes(t, 2 * KK_ROW_SEG + 512);
			uint32_t gn = 2 * KK_ROW_SEG + 512;
			uint8_t *tab = malloc(rb * 2);
			if (t == KK_TYPE_F32) memcpy(tab, x, rb * 2 < st * rows * 4 ? rb * 2 : 0); else { kk_quantize_row(t, x, tab, gn); kk_quantize_row(t, x + st, tab + rb, gn); }
			int32_t ids[3] = { 1, 7, 0 };
			memset(&op, 0, sizeof(op)); op.kind = KK_OP_GET_ROWS;
			op.get_rows = (struct kk_get_rows){ .table = tab, .table_row_bytes = rb, .type = t, .n = gn, .n_rows_table = 2, .rows = 3, .ids = ids, .y = y, .y_stride = st };
			memset(y, 0x55, st * rows * 4);
			run_all(&op);
			for (uint32_t r = 0; r < 3; r++) {
				if (ids[r] < 2) kk_dequantize_row(t, tab + ids[r] * rb, ref + r * st, gn); else memset(ref + r * st, 0, gn * 4);
				fails += cmp("get_rows", y + r * st, ref + r * st, gn, 0);
			}
			free(tab);
		}
		/* kv_store f16 and q8_0: one huge row = 1 head of 2*SEG+1024? head_dim must make n_kv_head*head_dim > SEG */
		for (uint32_t type = 0; type < 2; type++) {
			uint32_t t = type ? KK_TYPE_Q8_0 : KK_TYPE_F16, hd = 1024, nh = (2 * KK_ROW_SEG + 1024) / 1024;
			uint64_t row = (uint64_t)hd * nh, rb = kk_row_bytes(t, row);
			uint8_t *k = calloc(4, rb), *v = calloc(4, rb), *k2 = calloc(4, rb), *v2 = calloc(4, rb);
			struct kk_kv_seq seqs[1] = { { .k = k, .v = v, .ctx = 4 } };
			int32_t seq[2] = { 0, 0 }, pos[2] = { 2, 1 };
			memset(&op, 0, sizeof(op)); op.kind = KK_OP_KV_STORE;
			op.kv_store = (struct kk_kv_store){ .k = x, .v = b, .k_stride = st, .v_stride = st, .seqs = seqs, .seq = seq, .pos = pos, .n_seqs = 1, .rows = 2, .n_kv_head = nh, .head_dim = hd, .kv_type = t };
			say("  kv_store items %llu\n", (unsigned long long)kk_op_items(&op, 0));
			run_all(&op);
			for (uint32_t r = 0; r < 2; r++) {
				if (t == KK_TYPE_F16) { o->f32_to_f16((uint16_t *)(k2 + pos[r] * rb), x + r * st, row); o->f32_to_f16((uint16_t *)(v2 + pos[r] * rb), b + r * st, row); }
				else { kk_quantize_row(t, x + r * st, k2 + pos[r] * rb, row); kk_quantize_row(t, b + r * st, v2 + pos[r] * rb, row); }
			}
			int bad = memcmp(k, k2, 4 * rb) || memcmp(v, v2, 4 * rb);
			say("  kv_store %s %s\n", kk_type_name(t), bad ? "MISMATCH" : "ok");
			fails += bad;
			free(k); free(v); free(k2); free(v2);
		}
	}
	/* rope: 4096 heads x 128 (row 2^19: two items per row) vs the same op one head block per call */
	for (uint32_t simd = 0; simd < KK_SIMD_COUNT; simd++) {
		if (!(mask & (1u << simd)) || kk_simd_select(simd)) continue;
		const uint32_t nh = 4096, hd = 128, rr = 2;
		float *rx = malloc((size_t)nh * hd * rr * 4), *ry = malloc((size_t)nh * hd * rr * 4), *rref = malloc((size_t)nh * hd * rr * 4);
		int32_t pos[2] = { 7, 3000 };
		for (size_t i = 0; i < (size_t)nh * hd * rr; i++) rx[i] = (rand() / (float)RAND_MAX) * 2 - 1;
		struct kk_op op; memset(&op, 0, sizeof(op)); op.kind = KK_OP_ROPE;
		op.rope = (struct kk_rope){ .x = rx, .y = ry, .x_stride = (uint64_t)nh * hd, .y_stride = (uint64_t)nh * hd, .pos = pos, .rows = rr, .n_head = nh, .head_dim = hd, .n_dims = 96, .mode = KK_ROPE_NEOX, .freq_base_bits = fb(10000.0f), .freq_scale_bits = fb(1.0f) };
		say("rope %s items %llu\n", kk_simd_name(simd), (unsigned long long)kk_op_items(&op, 0));
		run_all(&op);
		/* reference: each head as its own 1-head op (today's code path: one item = whole row) */
		for (uint32_t r = 0; r < rr; r++) for (uint32_t h = 0; h < nh; h++) {
			struct kk_op o1 = op;
			o1.rope.x = rx + (size_t)r * nh * hd + (size_t)h * hd; o1.rope.y = rref + (size_t)r * nh * hd + (size_t)h * hd;
			o1.rope.pos = &pos[r]; o1.rope.rows = 1; o1.rope.n_head = 1;
			run_all(&o1);
		}
		fails += cmp("rope", ry, rref, (size_t)nh * hd * rr, 0);
		free(rx); free(ry); free(rref);
	}
	/* real shapes: nothing changes */
	{
		struct kk_op op; memset(&op, 0, sizeof(op)); op.kind = KK_OP_SOFTMAX;
		op.softmax = (struct kk_softmax){ .x_stride = KK_ROW_SEG, .y_stride = KK_ROW_SEG, .n = KK_ROW_SEG, .rows = 5, .scale_bits = fb(1.0f) };
		say("softmax %u: stages %u items %llu scratch %llu chunk %llu\n", KK_ROW_SEG, kk_op_stages(&op), (unsigned long long)kk_op_items(&op, 0), (unsigned long long)kk_op_scratch_size(&op), (unsigned long long)kk_op_chunk_items(&op, 0));
		fails += kk_op_stages(&op) != 1 || kk_op_items(&op, 0) != 5 || kk_op_scratch_size(&op);
		/* an 8k norm (models up to 70B) is one item per row */
		memset(&op, 0, sizeof(op)); op.kind = KK_OP_RMSNORM;
		op.rmsnorm = (struct kk_rmsnorm){ .x_stride = 8192, .y_stride = 8192, .n = 8192, .rows = 3, .eps_bits = fb(1e-5f) };
		fails += kk_op_stages(&op) != 1 || kk_op_items(&op, 0) != 3 || kk_op_scratch_size(&op);
	}
	free(x);
	free(b);
	free(w);
	free(y);
	free(ref);
	ck_assert_int_eq(fails, 0);
}
END_TEST

static Suite *rowseg_suite(void)
{
	Suite *s = suite_create("rowseg");
	TCase *tc = tcase_create("rowseg");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rowseg);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(rowseg_suite());
}
