// SPDX-License-Identifier: MIT
/*
 * test_prog.c - the program format (uapi/kllm_prog.h): the CPU engine
 * against the same ops called directly, batch vs token-by-token bitwise,
 * the validator's rejections with their exact messages, job checks, and a
 * mutation loop (validator accepts => lowering and the kernels' check pass,
 * and running it stays inside its memory under ASan).
 */
#include "kt_ops.h"
#include "kt_prog.h"

#include "engine_cpu.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "pool.h"

#include <errno.h>
#include <stddef.h>

#define TM_NSEQ 2

/* Memory of one run of the toy model. */
struct tm_mem {
	uint8_t *act;
	uint64_t act_size;
	float *logits, *probs;
	int32_t *ids;
	uint8_t *kv[TM_NSEQ];
};

struct tm_job {
	uint32_t n_tokens, n_outputs;
	int32_t tokens[TM_MB], pos[TM_MB], seq[TM_MB], out_rows[TM_MB];
};

static void mem_init(struct tm_mem *mm, const struct toy_model *m, const struct kllm_prog_info *pi,
		     struct kt_rng *r)
{
	struct kllm_prog_buffer b;

	memcpy(&b, pi->base + pi->buffers_off + m->b_act * sizeof(b), sizeof(b));
	mm->act = kt_alloc(b.size);
	mm->act_size = b.size;
	mm->logits = kt_alloc(4 * TM_V * TM_MB);
	mm->probs = kt_alloc(4 * TM_V * TM_MB);
	mm->ids = kt_alloc(4 * TM_MB);
	for (int s = 0; s < TM_NSEQ; s++) {
		float row[TM_KV];

		mm->kv[s] = kt_alloc(m->kv_bytes);
		/* earlier positions already hold K/V */
		for (uint64_t o = 0; o < m->kv_bytes; o += TM_KV * 2) {
			kt_fill_f32(r, row, TM_KV, -1, 1);
			kk_quantize_row(KK_TYPE_F16, row, mm->kv[s] + o, TM_KV);
		}
	}
}

static void mem_copy_kv(struct tm_mem *dst, const struct tm_mem *src, const struct toy_model *m)
{
	for (int s = 0; s < TM_NSEQ; s++)
		memcpy(dst->kv[s], src->kv[s], m->kv_bytes);
}

static void mem_free(struct tm_mem *mm)
{
	free(mm->act);
	free(mm->logits);
	free(mm->probs);
	free(mm->ids);
	for (int s = 0; s < TM_NSEQ; s++)
		free(mm->kv[s]);
}

/* Bindings and batch of one job over a tm_mem. */
struct jc {
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS], kv[TM_NSEQ];
	struct kllm_prog_bindings bind;
	struct kllm_prog_batch batch;
};

static void jc_setup(struct jc *c, const struct toy_model *m, struct tm_mem *mm, const struct tm_job *j)
{
	memset(c, 0, sizeof(*c));
	c->bind.buf = c->buf;
	c->batch = (struct kllm_prog_batch){
		.n_tokens = j->n_tokens, .n_outputs = j->n_outputs,
		.tokens = j->tokens, .pos = j->pos, .seq = j->seq,
		.out_rows = j->out_rows, .n_seqs = TM_NSEQ, .kv = c->kv };
	c->buf[m->b_w] = (struct kllm_prog_mem){ m->weights, m->wsize };
	c->buf[m->b_act] = (struct kllm_prog_mem){ mm->act, mm->act_size };
	c->buf[m->b_logits] = (struct kllm_prog_mem){ mm->logits, 4ull * TM_V * j->n_outputs };
	c->buf[m->b_ids] = (struct kllm_prog_mem){ mm->ids, 4ull * j->n_outputs };
	c->buf[m->b_probs] = (struct kllm_prog_mem){ mm->probs, 4ull * TM_V * j->n_outputs };
	for (int s = 0; s < TM_NSEQ; s++)
		c->kv[s] = (struct kllm_prog_mem){ mm->kv[s], m->kv_bytes };
}

static __attribute__((noinline)) int
run_engine(const struct toy_model *m, const struct kllm_prog_info *pi, struct tm_mem *mm,
	   const struct tm_job *j, struct kllm_pool *pool, struct kllm_prog_err *err)
{
	struct jc *c = kt_alloc(sizeof(*c));
	int ret;

	jc_setup(c, m, mm, j);
	ret = kllm_engine_cpu_run(pi, &c->bind, &c->batch, pool, err);
	free(c);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The reference: the same ops built by hand, run with kk_op_exec.      */

struct ref {
	const struct toy_model *m;
	void *scratch;
	uint32_t n;		/* tokens */
};

static void ref_mm(const struct ref *rf, int w, const float *x, float *y, uint32_t rows,
		   uint32_t flags)
{
	const struct toy_model *m = rf->m;
	struct kk_op op = { .kind = KK_OP_MATMUL, .scratch = rf->scratch };

	op.matmul = (struct kk_matmul){
		.w = m->weights + m->woff[w], .w_row_bytes = m->w_stride[w],
		.w_type = m->w_type[w], .k = m->w_k[w], .n_out = m->w_rows[w],
		.m = rows, .x = x, .x_stride = m->w_k[w], .y = y,
		.y_stride = m->w_rows[w], .flags = flags };
	kt_exec(&op);
}

static const float *ref_w(const struct ref *rf, int w)
{
	return (const float *)(rf->m->weights + rf->m->woff[w]);
}

static void ref_norm(const struct ref *rf, const float *x, int w, float *y, uint32_t rows)
{
	struct kk_op op = { .kind = KK_OP_RMSNORM };

	op.rmsnorm = (struct kk_rmsnorm){ .x = x, .y = y, .w = ref_w(rf, w),
		.x_stride = TM_D, .y_stride = TM_D, .n = TM_D, .rows = rows,
		.eps_bits = TM_EPS };
	kt_exec(&op);
}

static void ref_rope(const struct ref *rf, float *x, uint32_t n_head, const int32_t *pos)
{
	struct kk_op op = { .kind = KK_OP_ROPE };

	op.rope = (struct kk_rope){ .x = x, .y = x, .x_stride = n_head * TM_HD,
		.y_stride = n_head * TM_HD, .pos = pos, .freq_factors = ref_w(rf, W_FREQ),
		.rows = rf->n, .n_head = n_head, .head_dim = TM_HD, .n_dims = TM_HD,
		.mode = KK_ROPE_NEOX, .freq_base_bits = 0x461c4000u,
		.freq_scale_bits = 0x3f800000u };
	kt_exec(&op);
}

static __attribute__((noinline)) void ref_run(const struct toy_model *m, struct tm_mem *mm, const struct tm_job *j)
{
	const uint32_t n = j->n_tokens, no = j->n_outputs;
	struct ref rf = { .m = m, .scratch = kt_alloc(1 << 20), .n = n };
	float *x = kt_alloc(4 * TM_MB * TM_D), *xn = kt_alloc(4 * TM_MB * TM_D);
	float *q = kt_alloc(4 * TM_MB * TM_Q), *k = kt_alloc(4 * TM_MB * TM_KV);
	float *v = kt_alloc(4 * TM_MB * TM_KV), *att = kt_alloc(4 * TM_MB * TM_Q);
	float *g = kt_alloc(4 * TM_MB * TM_FF), *u = kt_alloc(4 * TM_MB * TM_FF);
	float *xo = kt_alloc(4 * TM_MB * TM_D);
	struct kk_kv_seq seqs[TM_NSEQ];
	struct kk_op op;

	for (int s = 0; s < TM_NSEQ; s++)
		seqs[s] = (struct kk_kv_seq){ .k = mm->kv[s], .v = mm->kv[s] + m->kv_v_off,
					      .ctx = TM_CTX };
	op = (struct kk_op){ .kind = KK_OP_GET_ROWS };
	op.get_rows = (struct kk_get_rows){ .table = m->weights + m->woff[W_EMBD],
		.table_row_bytes = m->w_stride[W_EMBD], .type = KK_TYPE_Q8_0, .n = TM_D,
		.n_rows_table = TM_V, .rows = n, .ids = j->tokens, .y = x, .y_stride = TM_D };
	kt_exec(&op);
	ref_norm(&rf, x, W_ANORM, xn, n);
	ref_mm(&rf, W_Q, xn, q, n, 0);
	ref_mm(&rf, W_K, xn, k, n, 0);
	ref_mm(&rf, W_V, xn, v, n, 0);
	ref_rope(&rf, q, TM_NH, j->pos);
	ref_rope(&rf, k, TM_NKV, j->pos);
	op = (struct kk_op){ .kind = KK_OP_KV_STORE };
	op.kv_store = (struct kk_kv_store){ .k = k, .v = v, .k_stride = TM_KV,
		.v_stride = TM_KV, .seqs = seqs, .seq = j->seq, .pos = j->pos,
		.n_seqs = TM_NSEQ, .rows = n, .n_kv_head = TM_NKV, .head_dim = TM_HD,
		.kv_type = KK_TYPE_F16 };
	kt_exec(&op);
	op = (struct kk_op){ .kind = KK_OP_ATTENTION };
	op.attention = (struct kk_attention){ .q = q, .y = att, .q_stride = TM_Q,
		.y_stride = TM_Q, .seqs = seqs, .seq = j->seq, .pos = j->pos,
		.n_seqs = TM_NSEQ, .rows = n, .n_head = TM_NH, .n_kv_head = TM_NKV,
		.head_dim = TM_HD, .kv_type = KK_TYPE_F16, .scale_bits = 0x3e800000u,
		.max_ctx = TM_CTX };	/* as lowering sets it: the cache's rows */
	kt_exec(&op);
	ref_mm(&rf, W_O, att, x, n, KK_MATMUL_ACCUMULATE);
	ref_norm(&rf, x, W_FNORM, xn, n);
	ref_mm(&rf, W_GATE, xn, g, n, 0);
	ref_mm(&rf, W_UP, xn, u, n, 0);
	op = (struct kk_op){ .kind = KK_OP_UNARY };
	op.unary = (struct kk_unary){ .x = u, .y = u, .x_stride = TM_FF, .y_stride = TM_FF,
		.n = TM_FF, .rows = n, .fn = KK_UNARY_GELU };
	kt_exec(&op);
	op = (struct kk_op){ .kind = KK_OP_GLU };
	op.glu = (struct kk_glu){ .gate = g, .up = u, .y = g, .gate_stride = TM_FF,
		.up_stride = TM_FF, .y_stride = TM_FF, .n = TM_FF, .rows = n,
		.fn = KK_UNARY_SILU };
	kt_exec(&op);
	ref_mm(&rf, W_DOWN, g, x, n, KK_MATMUL_ACCUMULATE);
	op = (struct kk_op){ .kind = KK_OP_BINARY };
	op.binary = (struct kk_binary){ .a = x, .b = ref_w(&rf, W_BIAS), .y = x,
		.a_stride = TM_D, .b_stride = 0, .y_stride = TM_D, .n = TM_D, .rows = n,
		.fn = KK_BINARY_ADD };
	kt_exec(&op);
	op = (struct kk_op){ .kind = KK_OP_SCALE };
	op.scale = (struct kk_scale){ .x = x, .y = x, .x_stride = TM_D, .y_stride = TM_D,
		.n = TM_D, .rows = n, .scale_bits = 0x3f000000u };
	kt_exec(&op);
	if (no) {
		op = (struct kk_op){ .kind = KK_OP_GET_ROWS };
		op.get_rows = (struct kk_get_rows){ .table = x, .table_row_bytes = 4 * TM_D,
			.type = KK_TYPE_F32, .n = TM_D, .n_rows_table = n, .rows = no,
			.ids = j->out_rows, .y = xo, .y_stride = TM_D };
		kt_exec(&op);
		ref_norm(&rf, xo, W_ONORM, xo, no);
		ref_mm(&rf, W_OUT, xo, mm->logits, no, 0);
		op = (struct kk_op){ .kind = KK_OP_ARGMAX };
		op.argmax = (struct kk_argmax){ .x = mm->logits, .x_stride = TM_V,
			.idx = mm->ids, .n = TM_V, .rows = no };
		kt_exec(&op);
		op = (struct kk_op){ .kind = KK_OP_SOFTMAX };
		op.softmax = (struct kk_softmax){ .x = mm->logits, .y = mm->probs,
			.x_stride = TM_V, .y_stride = TM_V, .n = TM_V, .rows = no,
			.scale_bits = 0x3f800000u };
		kt_exec(&op);
	}
	free(rf.scratch);
	free(x), free(xn), free(q), free(k), free(v), free(att), free(g), free(u), free(xo);
}

static void check_prog(const struct toy_model *m, struct kllm_prog_info *pi)
{
	struct kllm_prog_err err;
	char msg[200];

	if (kllm_prog_check(m->img, m->size, pi, &err)) {
		kllm_prog_err_format(&err, msg, sizeof(msg));
		ck_abort_msg("program: %s", msg);
	}
}

static void assert_same_mem(const struct toy_model *m, const struct tm_mem *a, const struct tm_mem *b,
			    uint32_t no, const char *what)
{
	ck_assert_msg(!memcmp(a->logits, b->logits, 4 * TM_V * no), "%s: logits", what);
	ck_assert_msg(!memcmp(a->probs, b->probs, 4 * TM_V * no), "%s: probs", what);
	ck_assert_msg(!memcmp(a->ids, b->ids, 4 * no), "%s: argmax", what);
	for (int s = 0; s < TM_NSEQ; s++)
		ck_assert_msg(!memcmp(a->kv[s], b->kv[s], m->kv_bytes), "%s: kv %d", what, s);
}

START_TEST(test_engine_matches_direct_ops)
{
	const struct tm_job j = { .n_tokens = 3, .n_outputs = 2,
		.tokens = { 7, 42, 63 }, .pos = { 5, 2, 6 }, .seq = { 0, 1, 0 },
		.out_rows = { 2, 1 } };
	struct kllm_pool *pool;
	struct toy_model m;

	ck_assert_int_eq(kllm_pool_create(2, &pool), 0);
	tm_build(&m, 1);
	KT_FOR_EACH_PATH(p, kt_paths()) {
		struct kllm_prog_info pi;
		struct tm_mem a, b;
		struct kt_rng r;

		kt_select(p);
		check_prog(&m, &pi);
		ck_assert_uint_gt(pi.scratch_bytes, 0);
		kt_rng_seed(&r, 2);
		mem_init(&a, &m, &pi, &r);
		mem_init(&b, &m, &pi, &r);
		mem_copy_kv(&b, &a, &m);
		ck_assert_int_eq(run_engine(&m, &pi, &a, &j, pool, NULL), 0);
		ref_run(&m, &b, &j);
		assert_same_mem(&m, &a, &b, j.n_outputs, kk_simd_name(p));
		/* and the argmax is the logits' */
		for (uint32_t o = 0; o < j.n_outputs; o++)
			for (int i = 0; i < TM_V; i++)
				ck_assert(a.logits[o * TM_V + i] <= a.logits[o * TM_V + a.ids[o]]);
		mem_free(&a);
		mem_free(&b);
	}
	kllm_pool_destroy(pool);
	tm_free(&m);
}
END_TEST

START_TEST(test_batch_equals_one_by_one)
{
	const struct tm_job j = { .n_tokens = 3, .n_outputs = 3,
		.tokens = { 11, 3, 50 }, .pos = { 3, 4, 1 }, .seq = { 0, 0, 1 },
		.out_rows = { 0, 1, 2 } };
	struct kllm_pool *pool;
	struct toy_model m;

	ck_assert_int_eq(kllm_pool_create(2, &pool), 0);
	tm_build(&m, 3);
	KT_FOR_EACH_PATH(p, kt_paths()) {
		struct kllm_prog_info pi;
		struct tm_mem a, b;
		struct kt_rng r;

		kt_select(p);
		check_prog(&m, &pi);
		kt_rng_seed(&r, 4);
		mem_init(&a, &m, &pi, &r);
		mem_init(&b, &m, &pi, &r);
		mem_copy_kv(&b, &a, &m);
		ck_assert_int_eq(run_engine(&m, &pi, &a, &j, pool, NULL), 0);
		for (uint32_t t = 0; t < j.n_tokens; t++) {
			struct tm_job one = { .n_tokens = 1, .n_outputs = 1,
				.tokens = { j.tokens[t] }, .pos = { j.pos[t] },
				.seq = { j.seq[t] }, .out_rows = { 0 } };
			struct tm_mem c = b;

			/* bound memory is 32-byte aligned: own outputs, copied */
			c.logits = kt_alloc(4 * TM_V);
			c.probs = kt_alloc(4 * TM_V);
			c.ids = kt_alloc(4);
			ck_assert_int_eq(run_engine(&m, &pi, &c, &one, NULL, NULL), 0);
			memcpy(b.logits + t * TM_V, c.logits, 4 * TM_V);
			memcpy(b.probs + t * TM_V, c.probs, 4 * TM_V);
			b.ids[t] = c.ids[0];
			free(c.logits), free(c.probs), free(c.ids);
		}
		assert_same_mem(&m, &a, &b, j.n_tokens, kk_simd_name(p));
		mem_free(&a);
		mem_free(&b);
	}
	kllm_pool_destroy(pool);
	tm_free(&m);
}
END_TEST

#include "test_prog_reject.h"

static Suite *prog_suite(void)
{
	Suite *s = suite_create("prog");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_engine_matches_direct_ops);
	tcase_add_test(tc, test_batch_equals_one_by_one);
	suite_add_tcase(s, tc);
	tc = tcase_create("check");
	tcase_set_timeout(tc, 120);
	prog_reject_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(prog_suite());
}
