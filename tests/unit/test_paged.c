// SPDX-License-Identifier: MIT
/*
 * test_paged.c - paged KV in the program layer (KLLM_PROG_BUF_PAGED): a
 * model compiled twice, contiguous (kv_block_shift 0) and paged (4: blocks
 * of 16 positions), run with the in-process engine (kllm_engine_cpu_run)
 * over (a) one contiguous cache per sequence and (b) one pool whose blocks
 * each sequence's table names in shuffled order, the pool's other bytes
 * garbage.  The same batches - a prompt in one batch, a prompt in chunks,
 * decode steps, batches mixing sequences, a row at position n_ctx - on 1,
 * 2 and 3 threads give bitwise equal logits, and the cached K/V rows are
 * the same bytes.  A job whose table marks leading blocks read-only writes
 * nothing there.
 *
 * Models: the synthetic llama of kt_api.h, and SmolLM2-135M when its GGUF
 * is in the cache (skipped otherwise).
 */
#include "kt_ops.h"
#include "kt_api.h"
#include "kt_models.h"
#include "kt_prog.h"

#include "compile.h"
#include "engine_cpu.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "model.h"
#include "pool.h"

#define NSEQ 3
#define N_CTX 72
#define MB 24			/* max_batch */
#define SHIFT 4
#define BLK (1u << SHIFT)
#define MAX_IDS ((N_CTX + BLK - 1) / BLK)	/* 5 */
#define N_POOL (NSEQ * MAX_IDS + 7)
#define MAX_STEPS 48


/* One batch of the scenario. */
struct step {
	uint32_t n, n_out;
	int32_t tok[MB], pos[MB], seq[MB], out[MB];
};

struct scen {
	struct step st[MAX_STEPS];
	uint32_t n_steps, n_rows;	/* output rows in all */
	uint32_t filled[NSEQ];		/* positions written, in order */
};

/* One layout: its program and memory. */
struct lay {
	struct kllm_compiled c;
	struct kllm_prog_info pi;
	uint8_t *act;
	void *scratch;
	uint64_t scratch_size;
	struct kllm_prog_mem kv[NSEQ];		/* contiguous */
	struct kllm_prog_mem pool;		/* paged */
	uint32_t ids[NSEQ][MAX_IDS];
	struct kllm_prog_table tab[NSEQ];
};

struct env {
	struct kllm_model *m;
	struct lay L[2];	/* contiguous, paged */
	struct scen sc;
};

static void add_rows(struct scen *sc, struct step *st, uint32_t s, uint32_t n,
		     int out_all)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = st->n++, p = sc->filled[s]++;

		st->tok[r] = (int32_t)((p * 7 + s * 13 + 3) % 300);
		st->pos[r] = (int32_t)p;
		st->seq[r] = (int32_t)s;
		if (out_all || i == n - 1)
			st->out[st->n_out++] = (int32_t)r;
	}
}

static struct step *new_step(struct scen *sc)
{
	struct step *st = &sc->st[sc->n_steps++];

	ck_assert_uint_le(sc->n_steps, MAX_STEPS);
	memset(st, 0, sizeof(*st));
	return st;
}

/* The batches: see the file's comment. */
static void scen_build(struct scen *sc)
{
	struct step *st;

	memset(sc, 0, sizeof(*sc));
	add_rows(sc, new_step(sc), 0, 20, 1);		/* a prompt in one batch */
	for (uint32_t k = 0; k < 37; k += 8)		/* a prompt in chunks */
		add_rows(sc, new_step(sc), 1, 37 - k < 8 ? 37 - k : 8, 0);
	st = new_step(sc);				/* mixed */
	add_rows(sc, st, 2, 5, 1);
	add_rows(sc, st, 0, 1, 1);
	for (uint32_t d = 0; d < 10; d++) {		/* decode, all three */
		st = new_step(sc);
		for (uint32_t s = 0; s < NSEQ; s++)
			add_rows(sc, st, (s + d) % NSEQ, 1, 1);
	}
	st = new_step(sc);
	add_rows(sc, st, 2, 6, 1);
	add_rows(sc, st, 1, 2, 0);
	add_rows(sc, st, 0, 1, 1);
	add_rows(sc, new_step(sc), 1, N_CTX - sc->filled[1], 0);	/* to the end */
	st = new_step(sc);	/* a row at position n_ctx: stored nowhere */
	add_rows(sc, st, 1, 1, 1);
	add_rows(sc, st, 0, 1, 1);
	sc->filled[1] = N_CTX;
	for (uint32_t i = 0; i < sc->n_steps; i++)
		sc->n_rows += sc->st[i].n_out;
}

static void lay_open(struct env *e, struct lay *L, uint32_t shift)
{
	const struct kllm_compile_opts o = { .n_ctx = N_CTX, .max_batch = MB,
					     .kv_block_shift = shift };
	struct kllm_prog_err perr;
	char err[256] = "";

	ck_assert_msg(kllm_compile(e->m, &o, &L->c, err, sizeof(err)) == 0, "%s", err);
	if (kllm_prog_check(L->c.img, L->c.size, &L->pi, &perr)) {
		kllm_prog_err_format(&perr, err, sizeof(err));
		ck_abort_msg("program: %s", err);
	}
	ck_assert_uint_eq(L->pi.paged, !!shift);
	ck_assert_uint_eq(L->c.kv_block_shift, shift);
	if (shift) {
		ck_assert_uint_eq(L->pi.n_ctx, N_CTX);
		ck_assert_uint_eq(L->pi.max_blocks, MAX_IDS);
		ck_assert_uint_eq(L->c.kv_blocks_per_seq, MAX_IDS);
		/* one block: every layer's K and V for 16 positions */
		ck_assert_uint_eq(L->c.kv_size * N_CTX, e->L[0].c.kv_size * BLK);
	}
	L->act = kt_alloc(L->c.act_size);
	L->scratch_size = kllm_prog_scratch_bytes(&L->pi);
	L->scratch = kt_alloc(L->scratch_size);
	for (uint32_t s = 0; s < NSEQ; s++)
		L->kv[s] = (struct kllm_prog_mem){ kt_alloc(L->c.kv_size), L->c.kv_size };
	L->pool = (struct kllm_prog_mem){ kt_alloc(N_POOL * L->c.kv_size),
					  N_POOL * L->c.kv_size };
}

static void lay_close(struct lay *L)
{
	free(L->act);
	free(L->scratch);
	for (uint32_t s = 0; s < NSEQ; s++)
		free(L->kv[s].base);
	free(L->pool.base);
	kllm_compiled_free(&L->c);
}

/* Fresh memory: contiguous caches zero, the pool garbage, tables shuffled. */
static void lay_reset(struct lay *L, uint64_t seed)
{
	uint32_t perm[N_POOL];
	struct kt_rng r;

	kt_rng_seed(&r, seed);
	for (uint32_t s = 0; s < NSEQ; s++)
		memset(L->kv[s].base, 0, L->kv[s].size);
	kt_fill_bytes(&r, L->pool.base, L->pool.size);
	for (uint32_t i = 0; i < N_POOL; i++)
		perm[i] = i;
	for (uint32_t i = N_POOL; i > 1; i--) {
		uint32_t k = (uint32_t)(kt_rng_u64(&r) % i), x = perm[i - 1];

		perm[i - 1] = perm[k];
		perm[k] = x;
	}
	for (uint32_t s = 0; s < NSEQ; s++) {
		for (uint32_t i = 0; i < MAX_IDS; i++)
			L->ids[s][i] = perm[s * MAX_IDS + i];
		L->tab[s] = (struct kllm_prog_table){ L->ids[s], MAX_IDS, 0 };
	}
}

static int run_step(const struct env *e, struct lay *L, const struct step *st,
		    struct kllm_pool *pool, float *logits, struct kllm_prog_err *perr)
{
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_prog_bindings bind = { .buf = buf, .scratch = L->scratch,
					   .scratch_size = L->scratch_size };
	struct kllm_prog_batch batch = {
		.n_tokens = st->n, .n_outputs = st->n_out, .tokens = st->tok,
		.pos = st->pos, .seq = st->seq, .out_rows = st->out, .n_seqs = NSEQ,
		.kv = L->c.kv_block_shift ? NULL : L->kv,
		.kv_pool = L->c.kv_block_shift ? &L->pool : NULL,
		.tables = L->c.kv_block_shift ? L->tab : NULL };

	memset(buf, 0, sizeof(buf));
	buf[L->c.b_weights] = (struct kllm_prog_mem){ (void *)e->m->data, e->m->data_size };
	buf[L->c.b_act] = (struct kllm_prog_mem){ L->act, L->c.act_size };
	buf[L->c.b_logits] = (struct kllm_prog_mem){ logits, 4ull * L->c.n_vocab * st->n_out };
	return kllm_engine_cpu_run(&L->pi, &bind, &batch, pool, perr);
}

/* The whole scenario; every output row's logits, one after another. */
static void run_scen(const struct env *e, struct lay *L, struct kllm_pool *pool,
		     float *logits)
{
	struct kllm_prog_err perr;
	char msg[200];

	for (uint32_t i = 0; i < e->sc.n_steps; i++) {
		const struct step *st = &e->sc.st[i];

		if (run_step(e, L, st, pool, logits, &perr)) {
			kllm_prog_err_format(&perr, msg, sizeof(msg));
			ck_abort_msg("step %u: %s", i, msg);
		}
		logits += (uint64_t)L->c.n_vocab * st->n_out;
	}
}

/* Position @p's K (@v 0) or V row of layer @l in a layout's memory. */
static const uint8_t *kv_row(const struct lay *L, uint32_t s, uint32_t l, int v,
			     uint32_t p, uint64_t row)
{
	if (!L->c.kv_block_shift)
		return (const uint8_t *)L->kv[s].base + l * L->c.kv_layer_size +
		       (uint64_t)v * N_CTX * row + p * row;
	return (const uint8_t *)L->pool.base + L->ids[s][p >> SHIFT] * L->c.kv_size +
	       l * L->c.kv_layer_size + (uint64_t)v * BLK * row + (p & (BLK - 1)) * row;
}

/* Paged: the rows past n_ctx in sequence 1's last block, marked before. */
static void mark_past_ctx(const struct env *e, struct lay *L, int check)
{
	const uint64_t row = 2ull * e->m->hp.n_head_kv * e->m->hp.head_dim;

	for (uint32_t l = 0; l < e->m->hp.n_layer; l++)
		for (int v = 0; v < 2; v++)
			for (uint32_t p = N_CTX; p < MAX_IDS * BLK; p++) {
				uint8_t *r = (uint8_t *)kv_row(L, 1, l, v, p, row);

				for (uint64_t i = 0; check && i < row; i++)
					ck_assert_msg(r[i] == 0xa5, "position %u (past n_ctx) written", p);
				if (!check)
					memset(r, 0xa5, row);
			}
}

static void same_kv(const struct env *e)
{
	const uint64_t row = 2ull * e->m->hp.n_head_kv * e->m->hp.head_dim;

	for (uint32_t s = 0; s < NSEQ; s++)
		for (uint32_t l = 0; l < e->m->hp.n_layer; l++)
			for (int v = 0; v < 2; v++)
				for (uint32_t p = 0; p < e->sc.filled[s]; p++)
					ck_assert_msg(!memcmp(kv_row(&e->L[0], s, l, v, p, row),
							      kv_row(&e->L[1], s, l, v, p, row), row),
						      "seq %u layer %u %c position %u differs",
						      s, l, v ? 'V' : 'K', p);
}

static void env_open(struct env *e, const char *path)
{
	char err[256] = "";

	memset(e, 0, sizeof(*e));
	ck_assert_msg(kllm_model_load(&e->m, path, err, sizeof(err)) == 0, "%s", err);
	lay_open(e, &e->L[0], 0);
	lay_open(e, &e->L[1], SHIFT);
	scen_build(&e->sc);
}

static void env_close(struct env *e)
{
	lay_close(&e->L[0]);
	lay_close(&e->L[1]);
	kllm_model_free(e->m);
}

/* Both layouts on 1, 2 and 3 threads: bitwise the first run's logits. */
static void paged_equals_contiguous(const char *path)
{
	static const unsigned threads[] = { 1, 2, 3 };
	struct env *e = kt_alloc(sizeof(*e));
	uint64_t n_f;
	float *want, *got;

	kllm_cpu_init();
	env_open(e, path);
	n_f = (uint64_t)e->sc.n_rows * e->L[0].c.n_vocab;
	want = kt_alloc(4 * n_f);
	got = kt_alloc(4 * n_f);
	for (uint32_t t = 0; t < 3; t++) {
		struct kllm_pool *pool;

		ck_assert_int_eq(kllm_pool_create(threads[t], &pool), 0);
		for (uint32_t k = 0; k < 2; k++) {
			lay_reset(&e->L[k], 100 + t);
			if (k)
				mark_past_ctx(e, &e->L[k], 0);
			run_scen(e, &e->L[k], pool, t || k ? got : want);
			if (k)
				mark_past_ctx(e, &e->L[k], 1);
			if (t || k)
				ck_assert_msg(!memcmp(want, got, 4 * n_f),
					      "%s, %u threads: logits differ from contiguous, 1 thread",
					      k ? "paged" : "contiguous", threads[t]);
		}
		same_kv(e);
		kllm_pool_destroy(pool);
	}
	free(want);
	free(got);
	env_close(e);
	free(e);
}

START_TEST(test_paged_equals_contiguous)
{
	paged_equals_contiguous(kta_path);
}
END_TEST

/*
 * The real model where it runs natively (tools/fetch-model.sh's cache):
 * under qemu-user (tests/run-aarch64.sh sets KLLM_TEST_EMULATED) its 30
 * layers and 49152-entry vocabulary take minutes, and the synthetic
 * model's case above covers the same code there.
 */
START_TEST(test_paged_equals_contiguous_smollm2)
{
	char path[512];

	if (kt_model_path("test_paged", KT_SMOLLM2, path, sizeof(path)))
		return;
	paged_equals_contiguous(path);
}
END_TEST

/*
 * After the scenario, a job over sequence 0 with its first block
 * read-only rewrites positions 3..5 (block 0) and 17 (block 1): block 0
 * keeps its bytes, block 1 takes the new row, no other block changes.
 */
START_TEST(test_ro_blocks_untouched)
{
	struct env *e = kt_alloc(sizeof(*e));
	struct lay *L = &e->L[1];
	struct step st = { .n = 4, .n_out = 1, .tok = { 9, 8, 7, 6 }, .pos = { 3, 4, 5, 17 },
			   .seq = { 0, 0, 0, 0 }, .out = { 3 } };
	struct kllm_prog_err perr;
	uint8_t *before;
	float *logits;
	uint64_t blk;

	kllm_cpu_init();
	env_open(e, kta_path);
	blk = L->c.kv_size;
	logits = kt_alloc(4ull * e->sc.n_rows * L->c.n_vocab);
	lay_reset(L, 7);
	run_scen(e, L, NULL, logits);
	before = kt_alloc(L->pool.size);
	memcpy(before, L->pool.base, L->pool.size);
	L->tab[0].ro_blocks = 1;
	ck_assert_int_eq(run_step(e, L, &st, NULL, logits, &perr), 0);
	for (uint32_t b = 0; b < N_POOL; b++) {
		int same = !memcmp((uint8_t *)L->pool.base + b * blk, before + b * blk, blk);

		ck_assert_msg(same == (b != L->ids[0][1]), "block %u (seq 0's [0] %u, [1] %u): %s",
			      b, L->ids[0][0], L->ids[0][1], same ? "unchanged" : "written");
	}
	/* the same job with nothing read-only writes block 0 too */
	L->tab[0].ro_blocks = 0;
	ck_assert_int_eq(run_step(e, L, &st, NULL, logits, &perr), 0);
	ck_assert(memcmp((uint8_t *)L->pool.base + L->ids[0][0] * blk,
			 before + L->ids[0][0] * blk, blk));
	free(before);
	free(logits);
	env_close(e);
	free(e);
}
END_TEST

/* The paged program's own checks: one pool for a sequence's K and V. */
START_TEST(test_paged_caches_one_buffer)
{
	const uint32_t TOK = KLLM_PROG_T_ROWS_TOKENS, row = 32 * 2;
	struct kllm_prog_info pi;
	struct kllm_prog_err perr;
	struct kb *b = kt_alloc(sizeof(*b));
	uint32_t kv[2], k, v, seq, pos, kc, vc, op;
	char msg[200];
	uint8_t *img;
	size_t size;

	kt_select(kk_simd_best(kt_paths()));
	kb_init(b, 4);
	for (int i = 0; i < 2; i++) {
		kv[i] = kb_buffer(b, KLLM_PROG_BUF_KV, 2 * BLK * row, 0);
		b->buf[kv[i]].flags = KLLM_PROG_BUF_PAGED;
		b->buf[kv[i]].reserved[0] = SHIFT;
		b->buf[kv[i]].reserved[1] = 40;
	}
	k = kb_act(b, 32, TOK);
	v = kb_act(b, 32, TOK);
	seq = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 16, KLLM_PROG_IN_SEQ),
			KLLM_PROG_TYPE_I32, 0, 4, 1, 0, TOK);
	pos = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 16, KLLM_PROG_IN_POS),
			KLLM_PROG_TYPE_I32, 0, 4, 1, 0, TOK);
	kc = kb_tensor(b, kv[0], KK_TYPE_F16, 0, row, 32, BLK, 0);
	vc = kb_tensor(b, kv[1], KK_TYPE_F16, BLK * row, row, 32, BLK, 0);
	op = KB_OP(b, KK_OP_KV_STORE, 0, KB_T(k, v, seq, pos, kc, vc), KB_T(2, 16));
	img = kb_finish(b, &size);
	ck_assert_int_ne(kllm_prog_check(img, size, &pi, &perr), 0);
	kllm_prog_err_format(&perr, msg, sizeof(msg));
	ck_assert_str_eq(msg, "op 0 (kv_store): v_cache tensor 5: paged caches in different buffers");
	kb_ten(img, vc)->buffer = kv[0];	/* both in one: fine */
	ck_assert_int_eq(kllm_prog_check(img, size, &pi, &perr), 0);
	ck_assert_uint_eq(pi.n_kv, 2);
	(void)op;
	free(img);
	free(b);
}
END_TEST

static Suite *paged_suite(void)
{
	Suite *s = suite_create("paged");
	TCase *tc = tcase_create("paged");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_paged_caches_one_buffer);
	tcase_add_test(tc, test_paged_equals_contiguous);
	tcase_add_test(tc, test_ro_blocks_untouched);
	tcase_add_test(tc, test_paged_equals_contiguous_smollm2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int ret;

	kta_make(kta_path, 1, 0);
	ret = kt_run(paged_suite());
	unlink(kta_path);
	return ret;
}
