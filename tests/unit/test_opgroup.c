// SPDX-License-Identifier: MIT
/*
 * test_opgroup.c - matmuls that share their input run as one step
 * (kk_op_joins, kk_ops_exec; kllm_prog_lower_group forms the groups for
 * both engines).  On every path, for q/k/v-like and gate/up-like groups
 * of each tiled weight type, at 1, 7 and 19 columns: the group's outputs
 * equal kk_op_exec of each member in turn bit for bit, with chunks run
 * last first and with a pool of threads.  kk_op_joins admits only what
 * keeps that true: the same weight type, x, stride, m, k and scratch, no
 * accumulation, no output overlapping x or another output, at most
 * KK_OP_GROUP_MAX members, matmuls only.
 */
#include <stdlib.h>
#include <string.h>

#include "kt_ops.h"
#include "kk_impl.h"
#include "kk_fp.h"
#include "kllm.h"
#include "pool.h"

struct grp {
	uint32_t type, k, m, n;
	uint32_t n_out[KK_OP_GROUP_MAX];
	void *w[KK_OP_GROUP_MAX];
	float *x, *y, *ref;	/* y: every member's output, end to end */
	uint64_t y_at[KK_OP_GROUP_MAX + 1];
	void *scratch;
	struct kk_op ops[KK_OP_GROUP_MAX];
};

static void grp_init(struct grp *g, uint32_t type, uint32_t k, uint32_t m,
		     const uint32_t *n_out, uint32_t n, uint64_t seed)
{
	struct kt_rng rng;
	float *row = malloc(sizeof(float) * k);

	kt_rng_seed(&rng, seed);
	memset(g, 0, sizeof(*g));
	g->type = type;
	g->k = k;
	g->m = m;
	g->n = n;
	g->x = malloc(sizeof(float) * k * m);
	kt_fill_f32(&rng, g->x, (size_t)k * m, -1, 1);
	for (uint32_t j = 0; j < n; j++) {
		uint64_t rb = kk_row_bytes(type, k);

		g->n_out[j] = n_out[j];
		g->w[j] = malloc(rb * n_out[j]);
		for (uint32_t r = 0; r < n_out[j]; r++) {
			uint8_t *dst = (uint8_t *)g->w[j] + r * rb;

			kt_fill_f32(&rng, row, k, -0.5f, 0.5f);
			if (kk_type_block_elems(type) != 256) {
				ck_assert_int_eq(kk_quantize_row(type, row, dst, k), 0);
				continue;
			}
			/* K-quants have no quantizer here: random quants and
			 * scales, sane f16 d (and Q4_K's dmin) */
			kt_fill_bytes(&rng, dst, rb);
			for (uint64_t o = 0; o < rb; o += rb / (k / 256)) {
				uint64_t bb = rb / (k / 256);
				kk_u16 d = kk_f32_to_f16(0.001f * (1 + kt_rng_u64(&rng) % 100));

				memcpy(dst + o + (type == KK_TYPE_Q6_K ? bb - 2 : 0), &d, 2);
				if (type == KK_TYPE_Q4_K)
					memcpy(dst + o + 2, &d, 2);
			}
		}
		g->y_at[j + 1] = g->y_at[j] + (uint64_t)n_out[j] * m;
	}
	g->y = malloc(sizeof(float) * g->y_at[n]);
	g->ref = malloc(sizeof(float) * g->y_at[n]);
	for (uint32_t j = 0; j < n; j++) {
		struct kk_op *op = &g->ops[j];

		op->kind = KK_OP_MATMUL;
		op->matmul = (struct kk_matmul){
			.w = g->w[j], .w_row_bytes = kk_row_bytes(type, k), .w_type = type,
			.k = k, .n_out = n_out[j], .m = m, .x = g->x, .x_stride = k,
			.y = g->y + g->y_at[j], .y_stride = n_out[j],
		};
	}
	ck_assert(posix_memalign(&g->scratch, 64, kk_op_scratch_size(&g->ops[0]) + 64) == 0);
	for (uint32_t j = 0; j < n; j++)
		g->ops[j].scratch = g->scratch;
	free(row);
}

static void grp_free(struct grp *g)
{
	for (uint32_t j = 0; j < g->n; j++)
		free(g->w[j]);
	free(g->x);
	free(g->y);
	free(g->ref);
	free(g->scratch);
}

/* Each member alone, in turn, then the group on @host: the same bits. */
static void grp_check(struct grp *g, const struct kk_host *host, const char *what)
{
	for (uint32_t j = 1; j < g->n; j++)
		ck_assert_msg(kk_op_joins(g->ops, j, &g->ops[j]), "%s: member %u refused", what, j);
	memset(g->y, 0xa5, sizeof(float) * g->y_at[g->n]);
	for (uint32_t j = 0; j < g->n; j++)
		ck_assert_int_eq(kk_op_exec(&kt_host, &g->ops[j]), 0);
	memcpy(g->ref, g->y, sizeof(float) * g->y_at[g->n]);
	/* the group must quantize x itself */
	memset(g->scratch, 0x77, kk_op_scratch_size(&g->ops[0]));
	memset(g->y, 0x5a, sizeof(float) * g->y_at[g->n]);
	ck_assert_int_eq(kk_ops_exec(host, g->ops, g->n), 0);
	ck_assert_msg(!memcmp(g->y, g->ref, sizeof(float) * g->y_at[g->n]),
		      "%s: %s k %u m %u: the group's bits differ from one by one",
		      what, kk_type_name(g->type), g->k, g->m);
}

static const uint32_t types[] = {
	KK_TYPE_Q4_0, KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q8_0, KK_TYPE_Q4_K,
	KK_TYPE_Q6_K, KK_TYPE_F16, KK_TYPE_F32,
};

START_TEST(test_group_bits)
{
	static const uint32_t qkv[] = { 576, 192, 192 }, gu[] = { 1536, 1536 };
	static const uint32_t ms[] = { 1, 7, 19 };
	const uint32_t type = types[_i];
	const uint32_t k = kk_type_block_elems(type) == 256 ? 512 : 576;
	struct kllm_pool *pool = NULL;
	struct kk_host ph;
	struct grp g;

	ck_assert_int_eq(kllm_pool_create(2, &pool), 0);
	ph = kllm_pool_host(pool);
	KT_FOR_EACH_PATH(p, kt_paths_native()) {
		kt_select(p);
		for (uint32_t mi = 0; mi < 3; mi++) {
			grp_init(&g, type, k, ms[mi], qkv, 3, 1000 * type + ms[mi]);
			grp_check(&g, &kt_host, kk_simd_name(p));
			grp_check(&g, &ph, kk_simd_name(p));
			grp_free(&g);
			grp_init(&g, type, k, ms[mi], gu, 2, 2000 * type + ms[mi]);
			grp_check(&g, &ph, kk_simd_name(p));
			grp_free(&g);
		}
	}
	kllm_pool_destroy(pool);
}
END_TEST

START_TEST(test_group_refused)
{
	static const uint32_t four[] = { 32, 32, 32, 32 };
	struct grp g;
	struct kk_op op;

	kt_select(KK_SIMD_SCALAR);
	grp_init(&g, KK_TYPE_Q4_0, 64, 3, four, 4, 7);
	for (uint32_t j = 1; j < 4; j++)
		ck_assert(kk_op_joins(g.ops, j, &g.ops[j]));
	/* a fifth would pass every other test */
	op = g.ops[3];
	ck_assert(!kk_op_joins(g.ops, KK_OP_GROUP_MAX, &op));
	ck_assert(!kk_op_joins(g.ops, 0, &op));
#define REFUSED(change) do {						\
		op = g.ops[1];						\
		change;							\
		ck_assert_msg(!kk_op_joins(g.ops, 1, &op), "joined: %s", #change); \
	} while (0)
	REFUSED(op.matmul.flags |= KK_MATMUL_ACCUMULATE);
	REFUSED(op.matmul.w_type = KK_TYPE_Q8_0);	/* (rows too short: kk_op_check) */
	REFUSED(op.matmul.x = g.x + 1);
	REFUSED(op.matmul.x_stride = 65);
	REFUSED(op.matmul.m = 2);
	REFUSED(op.matmul.k = 32);
	REFUSED(op.scratch = (char *)g.scratch + 64);
	/* outputs meeting another member's, or x */
	REFUSED(op.matmul.y = g.ops[0].matmul.y + 31);
	REFUSED(op.matmul.y = g.x + 64 * 3 - 1);
	REFUSED(op.kind = KK_OP_SCALE);
	/* the first member accumulating */
	op = g.ops[1];
	g.ops[0].matmul.flags |= KK_MATMUL_ACCUMULATE;
	ck_assert(!kk_op_joins(g.ops, 1, &op));
	g.ops[0].matmul.flags = 0;
	/* kk_ops_exec checks again: a group kk_op_joins would refuse fails */
	g.ops[2].matmul.y = g.ops[1].matmul.y;
	ck_assert_int_ne(kk_ops_exec(&kt_host, g.ops, 3), 0);
	ck_assert_int_ne(kk_ops_exec(&kt_host, g.ops, 0), 0);
	ck_assert_int_ne(kk_ops_exec(&kt_host, g.ops, KK_OP_GROUP_MAX + 1), 0);
	grp_free(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("opgroup");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_group_bits, 0, (int)(sizeof(types) / sizeof(types[0])));
	tcase_add_test(tc, test_group_refused);
	suite_add_tcase(s, tc);
	return kt_run(s);
}
