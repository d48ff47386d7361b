/* SPDX-License-Identifier: MIT */
/*
 * kt_attn_paged.h - test_attention's paged KV caches: the caches in pool
 * blocks reached through block tables (struct kk_kv_seq) against the same
 * caches contiguous.  Included by test_attention.c (its cases[] and
 * scratch_for()).
 *
 *   store    KV_STORE through a table writes, at each position's pool row,
 *            exactly the bytes it writes contiguously, on every path; pool
 *            blocks no table names, the gaps between blocks and read-only
 *            (shared) blocks keep their bytes;
 *   paged    attention over paged caches is bitwise the contiguous one on
 *            every path (ggml's whole rows too), for every case of
 *            cases[] (GQA, windows, softcap, F16 and Q8_0, max_ctx 0) and
 *            blocks of 1 to 256 positions, shuffled in the pool, a prefix
 *            shared by two sequences, three sequences of different
 *            lengths in one batch; item by item, and on pools of 1 to 3
 *            threads with finer splits than the op asks for;
 *   hostile  a block id outside the pool is never written and reads as a
 *            row of zeros; a malformed table (block too small, too few
 *            entries, shift too large, pool past 2^64 bytes) leaves its
 *            sequence unbound: nothing written, zeros read.
 */
#ifndef KLLM_KT_ATTN_PAGED_H
#define KLLM_KT_ATTN_PAGED_H

#include "kllm.h"
#include "kt_host.h"

#define PG_SEQS 3
/* seq 2 shares its first blocks with seq 1 */
static const uint32_t pg_ctx[PG_SEQS] = { 200, 600, 450 };
static const uint32_t pg_filled[PG_SEQS] = { 190, 600, 450 };
static const int32_t pg_seq[] = { 0, 1, 2, 2, 1, 0, 2, 1, 2, 0, 2, 1, 3 };
static const int32_t pg_pos[] = { 189, 599, 449, 100, 255, 3, 256, 301, 0,
				  500, 900, 17, 1 };
#define PG_ROWS ((uint32_t)(sizeof(pg_seq) / sizeof(pg_seq[0])))
static const uint32_t pg_shifts[] = { 0, 3, 4, 6, 8 };
#define PG_N_SHIFTS (sizeof(pg_shifts) / sizeof(pg_shifts[0]))

struct pg_fixture {
	const struct attn_case *c;
	uint32_t kv_row, q_row, shift;
	uint64_t rb;			/* bytes of a cache row */
	uint32_t n_pool, shared;	/* pool blocks; seq 2's blocks from seq 1 */
	uint8_t *kc[PG_SEQS], *vc[PG_SEQS];	/* contiguous */
	uint8_t *kp, *vp;			/* the pools */
	uint32_t *table[PG_SEQS];
	struct kk_kv_seq cont[PG_SEQS], paged[PG_SEQS];
	float *src_k, *src_v;		/* KV rows: seq s pos p at s * 600 + p */
	float *q;
};

static uint32_t pg_blocks(const struct pg_fixture *F, uint32_t s)
{
	return (pg_ctx[s] + (1u << F->shift) - 1) >> F->shift;
}

/* The pool row of (s, p): NULL if p's block id is not in the pool. */
static uint8_t *pg_row(const struct pg_fixture *F, uint8_t *pool, uint32_t s,
		       uint32_t p)
{
	const uint32_t id = F->table[s][p >> F->shift];

	if (id >= F->n_pool)
		return NULL;
	return pool + id * F->paged[s].block_bytes +
	       (p & ((1u << F->shift) - 1)) * F->rb;
}

/* Tables of shuffled pool blocks, seq 2 starting with seq 1's first ones. */
static void pg_tables(struct pg_fixture *F, struct kt_rng *rng)
{
	const uint32_t B = 1u << F->shift;
	uint32_t need = 0, *perm, at = 0;

	F->shared = pg_blocks(F, 2) / 2 ? pg_blocks(F, 2) / 2 : 1;
	for (uint32_t s = 0; s < PG_SEQS; s++)
		need += pg_blocks(F, s);
	F->n_pool = need - F->shared + 5;	/* some blocks no table names */
	perm = kt_alloc(F->n_pool * sizeof(*perm));
	for (uint32_t i = 0; i < F->n_pool; i++)
		perm[i] = i;
	for (uint32_t i = F->n_pool - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(kt_rng_u64(rng) % (i + 1)), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint32_t s = 0; s < PG_SEQS; s++) {
		/* one spare entry past the blocks ctx needs */
		F->table[s] = kt_alloc((pg_blocks(F, s) + 1) * sizeof(uint32_t));
		for (uint32_t b = 0; b < pg_blocks(F, s); b++)
			F->table[s][b] = s == 2 && b < F->shared ? F->table[1][b] :
					 perm[at++];
		F->table[s][pg_blocks(F, s)] = perm[F->n_pool - 1];
	}
	/* odd shifts: gaps between the blocks */
	for (uint32_t s = 0; s < PG_SEQS; s++)
		F->paged[s] = (struct kk_kv_seq){ .ctx = pg_ctx[s],
			.block_shift = F->shift, .blocks = F->table[s],
			.block_bytes = B * F->rb + (F->shift & 1 ? 64 : 0),
			.n_blocks = pg_blocks(F, s) + (s == 1), .n_pool = F->n_pool,
			.ro_blocks = s == 2 ? F->shared : 0 };
	free(perm);
}

static void pg_setup(struct pg_fixture *F, const struct attn_case *c,
		     uint32_t shift, struct kt_rng *rng)
{
	const size_t nsrc = (size_t)PG_SEQS * MAX_CTX * c->n_kv * c->head_dim;

	memset(F, 0, sizeof(*F));
	F->c = c;
	F->shift = shift;
	F->kv_row = c->n_kv * c->head_dim;
	F->q_row = c->n_head * c->head_dim;
	F->rb = kk_row_bytes(c->kv_type, F->kv_row);
	pg_tables(F, rng);
	F->kp = kt_alloc(F->n_pool * F->paged[0].block_bytes);
	F->vp = kt_alloc(F->n_pool * F->paged[0].block_bytes);
	memset(F->kp, 0xee, F->n_pool * F->paged[0].block_bytes);
	memset(F->vp, 0xee, F->n_pool * F->paged[0].block_bytes);
	for (uint32_t s = 0; s < PG_SEQS; s++) {
		F->kc[s] = kt_alloc(pg_ctx[s] * F->rb);
		F->vc[s] = kt_alloc(pg_ctx[s] * F->rb);
		memset(F->kc[s], 0xee, pg_ctx[s] * F->rb);
		memset(F->vc[s], 0xee, pg_ctx[s] * F->rb);
		F->cont[s] = (struct kk_kv_seq){ .k = F->kc[s], .v = F->vc[s],
						 .ctx = pg_ctx[s] };
		F->paged[s].k = F->kp;
		F->paged[s].v = F->vp;
	}
	F->src_k = kt_floats(nsrc);
	F->src_v = kt_floats(nsrc);
	kt_fill_f32(rng, F->src_k, nsrc, -1.0f, 1.0f);
	kt_fill_f32(rng, F->src_v, nsrc, -1.0f, 1.0f);
	F->q = kt_floats((size_t)PG_ROWS * F->q_row);
	kt_fill_f32(rng, F->q, (size_t)PG_ROWS * F->q_row, -3.0f, 3.0f);
}

static void pg_teardown(struct pg_fixture *F)
{
	for (uint32_t s = 0; s < PG_SEQS; s++) {
		free(F->kc[s]);
		free(F->vc[s]);
		free(F->table[s]);
	}
	free(F->kp);
	free(F->vp);
	free(F->src_k);
	free(F->src_v);
	free(F->q);
}

/* KV_STORE of every filled (s, p), last position first, into @seqs. */
static void pg_store(const struct pg_fixture *F, const struct kk_kv_seq *seqs)
{
	const uint32_t shared_pos = F->shared << F->shift;
	uint32_t rows = 0, r = 0;
	struct kk_op op = { .kind = KK_OP_KV_STORE };
	int32_t *seq, *pos;
	float *k, *v;

	for (uint32_t s = 0; s < PG_SEQS; s++)
		rows += pg_filled[s];
	seq = kt_alloc(rows * sizeof(int32_t));
	pos = kt_alloc(rows * sizeof(int32_t));
	k = kt_floats((size_t)rows * F->kv_row);
	v = kt_floats((size_t)rows * F->kv_row);
	for (uint32_t s = 0; s < PG_SEQS; s++) {
		for (uint32_t i = 0; i < pg_filled[s]; i++, r++) {
			const uint32_t p = pg_filled[s] - 1 - i;
			/* seq 2's shared prefix holds seq 1's rows */
			const uint32_t from = s == 2 && p < shared_pos ? 1 : s;
			const size_t at = ((size_t)from * MAX_CTX + p) * F->kv_row;

			seq[r] = (int32_t)s;
			pos[r] = (int32_t)p;
			memcpy(k + (size_t)r * F->kv_row, F->src_k + at, F->kv_row * 4);
			memcpy(v + (size_t)r * F->kv_row, F->src_v + at, F->kv_row * 4);
		}
	}
	op.kv_store = (struct kk_kv_store){ .k = k, .v = v, .k_stride = F->kv_row,
		.v_stride = F->kv_row, .seqs = seqs, .seq = seq, .pos = pos,
		.n_seqs = PG_SEQS, .rows = rows, .n_kv_head = F->c->n_kv,
		.head_dim = F->c->head_dim, .kv_type = F->c->kv_type };
	kt_exec(&op);
	free(seq);
	free(pos);
	free(k);
	free(v);
}

/* The paged caches hold the contiguous bytes; nothing else was written. */
static void pg_check_pools(const struct pg_fixture *F, const char *what)
{
	const uint64_t bb = F->paged[0].block_bytes, n = F->n_pool * bb;
	const uint64_t used = (uint64_t)F->rb << F->shift;
	uint8_t *named = kt_alloc(F->n_pool);
	uint64_t i;
	uint32_t s, p;

	memset(named, 0, F->n_pool);
	for (s = 0; s < PG_SEQS; s++)
		for (uint32_t b = 0; b < pg_blocks(F, s); b++)
			named[F->table[s][b]] = 1;
	/* (one assertion per check: each one is a message to check's parent) */
	for (s = 0; s < PG_SEQS; s++) {
		for (p = 0; p < pg_ctx[s]; p++)
			if (memcmp(pg_row(F, F->kp, s, p), F->kc[s] + p * F->rb, F->rb) ||
			    memcmp(pg_row(F, F->vp, s, p), F->vc[s] + p * F->rb, F->rb))
				break;
		ck_assert_msg(p == pg_ctx[s], "%s: shift %u seq %u pos %u differs",
			      what, F->shift, s, p);
	}
	/* blocks no table names, and the gaps after the blocks' rows */
	for (i = 0; i < n; i++)
		if ((!named[i / bb] || i % bb >= used) &&
		    (F->kp[i] != 0xee || F->vp[i] != 0xee))
			break;
	ck_assert_msg(i == n, "%s: shift %u pool byte %llu written", what,
		      F->shift, (unsigned long long)i);
	free(named);
}

/* One attention op over @seqs into @y: the rows pg_seq/pg_pos [t0, t0 + rows). */
static void pg_attn_op(const struct pg_fixture *F, struct kk_op *op,
		       const struct kk_kv_seq *seqs, uint32_t t0, uint32_t rows,
		       float *y)
{
	const struct attn_case *c = F->c;

	memset(op, 0, sizeof(*op));
	op->kind = KK_OP_ATTENTION;
	op->attention = (struct kk_attention){ .q = F->q + (size_t)t0 * F->q_row,
		.y = y, .q_stride = F->q_row, .y_stride = F->q_row,
		.seqs = seqs, .seq = pg_seq + t0, .pos = pg_pos + t0,
		.n_seqs = PG_SEQS, .rows = rows, .n_head = c->n_head,
		.n_kv_head = c->n_kv, .head_dim = c->head_dim,
		.kv_type = c->kv_type, .window = c->window,
		.scale_bits = kk_fbits(1.0f / sqrtf((float)c->head_dim)),
		.softcap_bits = kk_fbits(c->softcap), .max_ctx = c->max_ctx };
	scratch_for(op);
}

/* ---- thread pools ---- */

/* threads, and the split: 0 the op's own chunks, else at most this many */
static const unsigned int pg_threads[] = { 1, 2, 3 };
static const uint64_t pg_chunks[] = { 1, 0, 3 };
#define PG_POOLS (sizeof(pg_threads) / sizeof(pg_threads[0]))


/* @op on every pool with its split: each result must be @want. */
static void pg_exec_threads(struct kk_op *op, struct kllm_pool **pools,
			    const float *want, size_t ny, const char *what)
{
	float *y = op->attention.y;

	for (size_t i = 0; i < PG_POOLS; i++) {
		struct kt_fine_host h = { pools[i], pg_chunks[i] };
		struct kk_host host = { .parallel_for = kt_fine_parallel_for, .ctx = &h };

		memset(y, 0xff, ny * sizeof(float));
		ck_assert_int_eq(kk_op_exec(&host, op), 0);
		ck_assert_msg(!memcmp(y, want, ny * sizeof(float)),
			      "%s: %u threads chunk %llu differ", what,
			      pg_threads[i], (unsigned long long)pg_chunks[i]);
	}
}

/* ---- the tests ---- */

/* Whether @n bytes at @p are all @b. */
static int pg_all(const void *p, uint8_t b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != b)
			return 0;
	return 1;
}

/* Paged against contiguous, case _i of cases[], every block size. */
START_TEST(test_attention_paged)
{
	const struct attn_case *c = &cases[_i];
	struct kllm_pool *pools[PG_POOLS];
	struct kt_rng rng;
	struct pg_fixture F;
	struct kk_op op;
	char what[96];

	for (size_t i = 0; i < PG_POOLS; i++)
		ck_assert_int_eq(kllm_pool_create(pg_threads[i], &pools[i]), 0);
	kt_rng_seed(&rng, 700 + _i);
	for (size_t si = 0; si < PG_N_SHIFTS; si++) {
		size_t ny;
		float *yc, *yp;

		pg_setup(&F, c, pg_shifts[si], &rng);
		ny = (size_t)PG_ROWS * F.q_row;
		yc = kt_floats(ny);
		yp = kt_floats(ny);
		KT_FOR_EACH_PATH(p, kt_paths()) {
			kt_select(p);
			pg_store(&F, F.cont);
			pg_store(&F, F.paged);
			snprintf(what, sizeof(what), "%s case %d store", kk_simd_name(p), _i);
			pg_check_pools(&F, what);
		}
		KT_FOR_EACH_PATH(p, kt_paths()) {
			kt_select(p);
			snprintf(what, sizeof(what), "%s case %d shift %u",
				 kk_simd_name(p), _i, F.shift);
			pg_attn_op(&F, &op, F.cont, 0, PG_ROWS, yc);
			kt_exec(&op);
			memset(yp, 0xff, ny * sizeof(float));
			pg_attn_op(&F, &op, F.paged, 0, PG_ROWS, yp);
			kt_exec(&op);
			ck_assert_msg(!memcmp(yc, yp, ny * sizeof(float)),
				      "%s: paged != contiguous", what);
			memset(yp, 0xff, ny * sizeof(float));
			kt_exec_items_one_by_one(&op);
			ck_assert_msg(!memcmp(yc, yp, ny * sizeof(float)),
				      "%s: item by item differs", what);
			pg_exec_threads(&op, pools, yc, ny, what);
		}
		free(yc);
		free(yp);
		pg_teardown(&F);
	}
	for (size_t i = 0; i < PG_POOLS; i++)
		kllm_pool_destroy(pools[i]);
	free(scratch);
	scratch = NULL;
}
END_TEST

/* A read-only (shared) block is not written through the sharing table. */
START_TEST(test_attention_paged_readonly)
{
	const struct attn_case *c = &cases[0];
	const uint32_t rows[3] = { 0, 15, 16 };	/* seq 2: two shared, one its own */
	struct pg_fixture F;
	struct kt_rng rng;
	struct kk_op op = { .kind = KK_OP_KV_STORE };
	int32_t seq[3] = { 2, 2, 2 }, pos[3];
	float *k, *v;
	uint8_t *own;

	kt_rng_seed(&rng, 77);
	pg_setup(&F, c, 3, &rng);	/* 8 positions a block: 28 shared */
	kt_select(KK_SIMD_SCALAR);
	pg_store(&F, F.cont);
	pg_store(&F, F.paged);
	pg_check_pools(&F, "before");
	k = kt_floats(3 * F.kv_row);
	v = kt_floats(3 * F.kv_row);
	kt_fill_f32(&rng, k, 3 * F.kv_row, 2.0f, 3.0f);
	kt_fill_f32(&rng, v, 3 * F.kv_row, 2.0f, 3.0f);
	F.paged[2].ro_blocks = 2;	/* positions 0..15 */
	for (int i = 0; i < 3; i++)
		pos[i] = (int32_t)rows[i];
	op.kv_store = (struct kk_kv_store){ .k = k, .v = v, .k_stride = F.kv_row,
		.v_stride = F.kv_row, .seqs = F.paged, .seq = seq, .pos = pos,
		.n_seqs = PG_SEQS, .rows = 3, .n_kv_head = c->n_kv,
		.head_dim = c->head_dim, .kv_type = c->kv_type };
	kt_exec(&op);
	/* position 16 (block 2, shared but writable now) was written */
	own = kt_alloc(F.rb);
	kk_quantize_row(c->kv_type, k + 2 * F.kv_row, own, F.kv_row);
	ck_assert(!memcmp(pg_row(&F, F.kp, 2, 16), own, F.rb));
	memcpy(F.kc[1] + 16 * F.rb, own, F.rb);	/* seq 1 sees it too */
	memcpy(F.kc[2] + 16 * F.rb, own, F.rb);
	kk_quantize_row(c->kv_type, v + 2 * F.kv_row, own, F.kv_row);
	memcpy(F.vc[1] + 16 * F.rb, own, F.rb);
	memcpy(F.vc[2] + 16 * F.rb, own, F.rb);
	pg_check_pools(&F, "after");	/* positions 0 and 15 kept */
	free(k);
	free(v);
	free(own);
	pg_teardown(&F);
}
END_TEST

/*
 * Hostile tables: ids outside the pool (zero rows, never written) on
 * every path, F16 and Q8_0; malformed tables leave the sequence unbound.
 */
START_TEST(test_attention_paged_hostile)
{
	enum { B = 16, CTX = 64, HD = 32, NKV = 2, NH = 4, ROWS = 4 };
	const uint32_t kv_type = _i ? KK_TYPE_Q8_0 : KK_TYPE_F16;
	const uint64_t rb = kk_row_bytes(kv_type, NKV * HD), bb = B * rb;
	uint32_t table[4] = { 2, 99, 0, 0xffffffffu };
	int32_t seq[ROWS] = { 0, 0, 0, 0 }, pos[ROWS] = { 63, 20, 40, 5 };
	int32_t sseq[CTX], spos[CTX];
	uint8_t *kp = kt_alloc(4 * bb), *vp = kt_alloc(4 * bb);
	uint8_t *kc = kt_alloc(CTX * rb), *vc = kt_alloc(CTX * rb);
	float *src_k = kt_floats(CTX * NKV * HD), *src_v = kt_floats(CTX * NKV * HD);
	const size_t ny = ROWS * NH * HD;
	float *q = kt_floats(ny), *yc = kt_floats(ny), *yp = kt_floats(ny);
	struct kk_kv_seq cont = { .k = kc, .v = vc, .ctx = CTX };
	struct kk_kv_seq paged = { .k = kp, .v = vp, .ctx = CTX, .block_shift = 4,
		.blocks = table, .block_bytes = bb, .n_blocks = 4, .n_pool = 4 };
	struct kk_kv_seq bad[5];
	struct kk_op st = { .kind = KK_OP_KV_STORE }, op;
	struct kt_rng rng;

	kt_rng_seed(&rng, 31 + _i);
	kt_fill_f32(&rng, src_k, CTX * NKV * HD, -1.0f, 1.0f);
	kt_fill_f32(&rng, src_v, CTX * NKV * HD, -1.0f, 1.0f);
	kt_fill_f32(&rng, q, ny, -2.0f, 2.0f);
	for (int i = 0; i < CTX; i++) {
		sseq[i] = 0;
		spos[i] = i;
	}
	st.kv_store = (struct kk_kv_store){ .k = src_k, .v = src_v,
		.k_stride = NKV * HD, .v_stride = NKV * HD, .seqs = &cont,
		.seq = sseq, .pos = spos, .n_seqs = 1, .rows = CTX,
		.n_kv_head = NKV, .head_dim = HD, .kv_type = kv_type };
	kt_select(KK_SIMD_SCALAR);
	kt_exec(&st);
	/* the rows of blocks 1 and 3 (ids 99, ~0) read as zeros */
	memset(kc + B * rb, 0, B * rb);
	memset(kc + 3 * B * rb, 0, B * rb);
	memset(vc + B * rb, 0, B * rb);
	memset(vc + 3 * B * rb, 0, B * rb);
	memset(kp, 0xee, 4 * bb);
	memset(vp, 0xee, 4 * bb);
	st.kv_store.seqs = &paged;
	kt_exec(&st);
	/* pool blocks 1 and 3 are named by no valid id: untouched */
	ck_assert(pg_all(kp + bb, 0xee, bb) && pg_all(kp + 3 * bb, 0xee, bb) &&
		  pg_all(vp + bb, 0xee, bb) && pg_all(vp + 3 * bb, 0xee, bb));
	ck_assert(!memcmp(kp + 2 * bb, kc, bb) && !memcmp(kp, kc + 2 * bb, bb));

	memset(&op, 0, sizeof(op));
	op.kind = KK_OP_ATTENTION;
	op.attention = (struct kk_attention){ .q = q, .y = yc, .q_stride = NH * HD,
		.y_stride = NH * HD, .seqs = &cont, .seq = seq, .pos = pos,
		.n_seqs = 1, .rows = ROWS, .n_head = NH, .n_kv_head = NKV,
		.head_dim = HD, .kv_type = kv_type, .max_ctx = CTX,
		.scale_bits = kk_fbits(0.2f) };
	scratch_for(&op);
	KT_FOR_EACH_PATH(p, kt_paths()) {
		kt_select(p);
		op.attention.seqs = &cont;
		op.attention.y = yc;
		kt_exec(&op);
		op.attention.seqs = &paged;
		op.attention.y = yp;
		kt_exec(&op);
		ck_assert_msg(!memcmp(yc, yp, ny * sizeof(float)), "%s: ids outside the pool",
			      kk_simd_name(p));
	}

	/* malformed tables: the sequence is unbound */
	for (int i = 0; i < 5; i++)
		bad[i] = paged;
	bad[0].block_shift = KK_KV_MAX_BLOCK_SHIFT + 1;
	bad[1].block_bytes = bb - 1;
	bad[2].n_blocks = 3;
	bad[3].n_pool = 0x80000000u;
	bad[3].block_bytes = 1ull << 40;
	bad[4].block_shift = 3;		/* 8 positions a block: 4 entries short */
	memset(kp, 0xee, 4 * bb);
	memset(vp, 0xee, 4 * bb);
	for (int i = 0; i < 5; i++) {
		table[1] = 1;
		table[3] = 3;
		st.kv_store.seqs = &bad[i];
		kt_exec(&st);
		ck_assert_msg(pg_all(kp, 0xee, 4 * bb) && pg_all(vp, 0xee, 4 * bb),
			      "malformed table %d written", i);
		op.attention.seqs = &bad[i];
		KT_FOR_EACH_PATH(p, kt_paths()) {
			kt_select(p);
			memset(yp, 0x55, ny * sizeof(float));
			kt_exec(&op);
			ck_assert_msg(pg_all(yp, 0, ny * sizeof(float)),
				      "%s: malformed table %d read", kk_simd_name(p), i);
		}
	}
	free(kp);
	free(vp);
	free(kc);
	free(vc);
	free(src_k);
	free(src_v);
	free(q);
	free(yc);
	free(yp);
	free(scratch);
	scratch = NULL;
}
END_TEST

#endif /* KLLM_KT_ATTN_PAGED_H */
