// SPDX-License-Identifier: MIT
/*
 * fuzz_plan.c - libFuzzer target for the kernel's job path over the shared
 * plan code in uapi/prog/: submit -> plan -> slice -> stage -> scatter, as
 * kmod/kllm_job.c, kmod/kllm_sched.c (kllm_pass_add) and kmod/kllm_pass.c
 * run it, in userspace, over exactly sized memory.
 *
 * Each input is decoded structurally (not as a program image): a small
 * program generator (weights, several ACTIVATIONS buffers, INPUTs, KV
 * buffers, several OUTPUT buffers with tensors no op uses, per-token,
 * per-output and fixed tensors, ops in data-flow order), optionally a few
 * field mutations of the finished image, then a group of jobs (token,
 * position, sequence and output-row arrays, duplicate and out-of-range
 * output rows, outputs asked of programs without an OUT_ROWS input, 0..8
 * sequences some of them unbound, OUTPUT and KV bindings a little below,
 * at or above what the job needs), then a schedule (chunk sizes, which
 * jobs fuse with the lead).  Half the programs with KV buffers are paged
 * (KLLM_PROG_BUF_PAGED, blocks of 16 or 32 positions, n_ctx 1..80): their
 * jobs bind the program's pools (rarely their own, smaller, misaligned or
 * not whole blocks) and block tables of fresh blocks, some hostile (ids
 * out of range, duplicates, another sequence's ids, tables short or past
 * n_ctx, ro_blocks past n_ids, no ids, no tables, no pools); mutations
 * also flip the paged flag on any buffer and shift its reserved words.  Every buffer, binding, input array, staging
 * buffer and pass array is malloc'd on its own at exactly its size, so
 * ASan catches any touch outside it.
 *
 * Invariants (any violation aborts):
 *  1. kllm_prog_check() accepted and kllm_prog_job_init() accepted a job:
 *     the job really fits (an independent re-computation: counts, unique
 *     in-range output rows, every WEIGHTS/ACTIVATIONS/OUTPUT tensor inside
 *     its bound memory at the job's rows), every op lowers, and every
 *     lowered op runs over the exact memory as the engines run them
 *     (kllm_prog_lower_group + kk_ops_exec, serial host: matmuls of one
 *     type on one x, which the generator makes in runs, as one step).
 *  2. Any split of accepted jobs into chunks and any fusion with other
 *     accepted jobs of the program, under kllm_pass_add's rules (<= 16
 *     jobs, max_batch tokens, max_batch outputs, KLLM_PROG_MAX_SEQS
 *     sequences; chunks only for chunkable jobs of fusable programs):
 *     kllm_slice_fill and kllm_slice_copy never refuse, the pass batch
 *     passes kllm_prog_job_init and every op of it lowers and runs.
 *  3. kllm_stage_layout lays OUTPUT buffers 64-aligned, disjoint, inside
 *     the total.
 *  4. For programs the generator built as well-formed data flow (not
 *     mutated): each job's OUTPUT bytes and KV memory (paged: its blocks)
 *     after running whole equal those after running chunked / fused,
 *     bitwise; paged, unless accepted jobs share a block (then the order
 *     of their writes matters).  Paged jobs fuse only over the same pools.
 *  5. Paged: an accepted job's pools and tables pass an independent check
 *     (aligned, whole blocks, ids inside, lengths), and a block a table
 *     marks read-only (named nowhere else in the job) keeps its bytes.
 *
 * Activations are reset to one pattern before every run, so that what
 * they held before cannot make the two sides differ; the generator's
 * programs write every activation row before reading it anyway.
 *
 * Build and run: tests/fuzz/run.sh (FUZZ_SECONDS=N), or by hand:
 *   build/fuzz/fuzz_plan -max_total_time=600 -max_len=4096 build/fuzz/corpus-plan
 * FUZZ_PLAN_VERBOSE=1 prints why inputs were rejected and the plans made;
 * FUZZ_PLAN_STATS=1 prints at exit how deep the inputs went (programs and
 * jobs accepted, passes staged, fused, chunk slices, jobs compared).
 * Most of the time goes to comparison tracing: for long campaigns, once
 * the corpus has stopped growing, build kernels/ with ASan + UBSan but
 * without -fsanitize=fuzzer-no-link, uapi/prog/ and this file with
 * -fsanitize=fuzzer(-no-link),address,undefined
 * -fno-sanitize-coverage=trace-cmp, all at -O2 -fno-sanitize-recover=all
 * (about 1500 executions/s here, against 130-250 with everything traced;
 * docs/SECURITY.md lists the campaigns).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kk.h"
#include "kllm_prog.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"
#include "kllm_slice.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FUSE 16		/* KLLM_MAX_FUSE, kmod/kllm_sched.h */
#define MAX_JOBS 20
#define MAX_T 96
#define MAX_OPS 16
#define NONE KLLM_PROG_NONE

static int verbose;
/*
 * FUZZ_PLAN_ROWS_ACROSS (off by default; a mask): also generate programs
 * the validator accepts but whose rows are not the job's own in a pass:
 * 1: get_rows over a batch-shaped table with the job's token ids;
 * 2: KV_STORE / ATTENTION sequence indices computed by the program;
 * 4: a fixed-rows view aliasing row 0 of a per-token activation;
 * 8: (a different finding) let field mutations wrap a row_stride below
 * zero: a one-row tensor (fixed, or batch-shaped at max_batch 1) with a
 * stride near 2^64 passes the validator, and the kernels' pointer steps
 * past the row overflow (UBSan pointer-overflow in kk_mm_x86.h).
 * Today both fail invariant 4 (and let one fused job reach another's
 * rows or KV memory); see the report of issue 14.
 */
static int rows_across;

/* What the inputs reached (FUZZ_PLAN_STATS=1 prints them at exit). */
static struct {
	uint64_t inputs, progs, mutated_ok, fusable, jobs, jobs_ok, passes, staged,
		 fused, chunked, compared;
	uint64_t paged, paged_jobs, paged_ok, ro_checked, aliased, paged_compared;
	uint64_t grouped;	/* matmul groups run as one step */
} st;

#define FAIL(...) do { fprintf(stderr, "fuzz_plan: " __VA_ARGS__); \
		       fprintf(stderr, "\n"); abort(); } while (0)

/* ------------------------------------------------------------------ */
/* Input bytes.                                                          */

struct rd {
	const uint8_t *p;
	size_t n;
	uint64_t rng;		/* seeds the fill data */
};

static uint32_t u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint32_t pick(struct rd *r, uint32_t n)	/* 0..n-1 */
{
	uint32_t v;

	if (n <= 1)
		return 0;
	v = u8(r);
	if (n > 256)
		v = v << 8 | u8(r);
	return v % n;
}

/* A rare choice: never taken once the input runs out (reads as zeros). */
static int rare(struct rd *r, uint32_t n)
{
	return pick(r, n) == n - 1;
}

/* Bytes that read as moderate f32, f16, q8_0 blocks and i32s (every
 * byte <= 0x3b).  Not instrumented: it is hot and branch-free. */
__attribute__((no_sanitize("coverage")))
static void fill(uint64_t *state, void *p, uint64_t n)
{
	uint8_t *b = p;
	uint64_t x = *state, v;

	for (uint64_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = x & 0x3b3b3b3b3b3b3b3bull;
		memcpy(b + i, &v, n - i < 8 ? n - i : 8);
	}
	*state = x;
}

/* ------------------------------------------------------------------ */
/* Exactly sized memory.                                                 */

static void *xalloc(uint64_t size)
{
	void *p = NULL;

	if (!size)
		return NULL;
	if (posix_memalign(&p, 64, (size_t)size))
		abort();
	return p;
}

static struct kllm_prog_mem mem_new(uint64_t size)
{
	return (struct kllm_prog_mem){ xalloc(size), size };
}

/* ------------------------------------------------------------------ */
/* The program generator.                                                */

struct val {
	uint32_t t;		/* tensor id */
	uint32_t ne0, mode;	/* mode: 0 fixed, KLLM_PROG_T_ROWS_* */
	uint32_t rows;		/* fixed rows */
};

struct gen {
	struct kllm_prog_header h;
	struct kllm_prog_buffer buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_prog_tensor t[MAX_T];
	struct kllm_prog_op op[MAX_OPS];
	uint64_t used[KLLM_PROG_MAX_BUFFERS];
	uint32_t w, act[3], n_act, out[3], n_out, kv[2], n_kv;
	uint32_t shift, n_ctx;	/* paged KV buffers: else shift 0 */
	uint32_t in_t[5];	/* INPUT tensor by enum kllm_prog_input, NONE */
	struct val v[MAX_T];	/* f32 values an op may read */
	uint32_t n_v;
	int full;
};

static uint32_t g_buffer(struct gen *g, uint32_t kind, uint32_t input)
{
	uint32_t id = g->h.n_buffers++;

	g->buf[id] = (struct kllm_prog_buffer){ .kind = kind, .input = input,
		.size = kind == KLLM_PROG_BUF_INPUT ? 4ull * g->h.max_batch : 0 };
	g->used[id] = 0;
	return id;
}

static uint32_t g_rows_at_max(const struct gen *g, uint32_t mode, uint32_t rows)
{
	return mode ? g->h.max_batch : rows;
}

static uint64_t row_bytes(uint32_t type, uint32_t ne0)
{
	return type == KLLM_PROG_TYPE_I32 ? 4ull * ne0 : kk_row_bytes(type, ne0);
}

/* A new tensor of its own in buffer @b (after what is there, 64-aligned). */
static uint32_t g_tensor(struct gen *g, struct rd *r, uint32_t b, uint32_t type,
			 uint32_t ne0, uint32_t mode, uint32_t rows, int pad)
{
	uint64_t rb = row_bytes(type, ne0), stride = rb, off;
	uint32_t id;

	if (g->h.n_tensors >= MAX_T) {
		g->full = 1;
		return 0;
	}
	if (pad && g->buf[b].kind != KLLM_PROG_BUF_KV && (u8(r) & 3) == 0)
		stride += 4 * (1 + pick(r, 4));
	off = (g->used[b] + 63) & ~63ull;
	id = g->h.n_tensors++;
	g->t[id] = (struct kllm_prog_tensor){
		.buffer = b, .type = type, .offset = off, .row_stride = stride,
		.ne = { ne0, mode ? 0 : rows, 1, 1 }, .flags = mode };
	g->used[b] = off + stride * (g_rows_at_max(g, mode, rows) - 1) + rb;
	if (g->buf[b].kind != KLLM_PROG_BUF_INPUT && g->used[b] > g->buf[b].size)
		g->buf[b].size = g->used[b];
	return id;
}

static uint32_t g_input(struct gen *g, uint32_t in)
{
	uint32_t b, id;

	if (g->in_t[in] != NONE)
		return g->in_t[in];
	if (g->h.n_buffers >= KLLM_PROG_MAX_BUFFERS || g->h.n_tensors >= MAX_T) {
		g->full = 1;
		return 0;
	}
	b = g_buffer(g, KLLM_PROG_BUF_INPUT, in);
	id = g->h.n_tensors++;
	g->t[id] = (struct kllm_prog_tensor){ .buffer = b, .type = KLLM_PROG_TYPE_I32,
		.row_stride = 4, .ne = { 1, 0, 1, 1 },
		.flags = in == KLLM_PROG_IN_OUT_ROWS ? KLLM_PROG_T_ROWS_OUTPUTS :
						       KLLM_PROG_T_ROWS_TOKENS };
	g->in_t[in] = id;
	return id;
}

/* Where a written f32 tensor goes: an activation arena, or an output. */
static uint32_t g_dest(struct gen *g, struct rd *r)
{
	uint32_t c = pick(r, 4);

	if (c == 0 && g->n_out)
		return g->out[pick(r, g->n_out)];
	return g->act[pick(r, g->n_act)];
}

static void g_val(struct gen *g, uint32_t t, uint32_t ne0, uint32_t mode, uint32_t rows)
{
	if (g->n_v < MAX_T)
		g->v[g->n_v++] = (struct val){ t, ne0, mode, rows };
}

/* An f32 value to read: among those written, or a fresh weight vector. */
static struct val *g_read(struct gen *g, struct rd *r)
{
	if (!g->n_v)
		return NULL;
	return &g->v[g->n_v - 1 - pick(r, g->n_v < 4 ? g->n_v : 4)];
}

static uint32_t g_new_out(struct gen *g, struct rd *r, uint32_t ne0, uint32_t mode,
			  uint32_t rows)
{
	uint32_t t = g_tensor(g, r, g_dest(g, r), KLLM_PROG_TYPE_F32, ne0, mode, rows, 1);

	return t;
}

static void g_op(struct gen *g, uint32_t kind, uint32_t flags, const uint32_t *t,
		 uint32_t nt, const uint32_t *p, uint32_t np)
{
	struct kllm_prog_op *op;

	if (g->h.n_ops >= MAX_OPS || g->full)
		return;
	op = &g->op[g->h.n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->flags = flags;
	for (uint32_t i = 0; i < KLLM_PROG_OP_SLOTS; i++)
		op->t[i] = i < nt ? t[i] : NONE;
	for (uint32_t i = 0; i < np; i++)
		op->p[i] = p[i];
}

#define T(...) ((const uint32_t[]){ __VA_ARGS__ })
#define OP(g, kind, flags, tt, pp) \
	g_op(g, kind, flags, tt, sizeof(tt) / 4, pp, sizeof(pp) / 4)
#define P0 T(0)

static const uint32_t dims[] = { 32, 64, 8, 16 };
static const uint32_t wtypes[] = { KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_Q8_0, KK_TYPE_Q4_0 };

static uint32_t g_wtype(struct rd *r, uint32_t k)
{
	uint32_t ty = wtypes[pick(r, 4)];

	return k % kk_type_block_elems(ty) ? KK_TYPE_F32 : ty;
}

/* Ops in data-flow order: each reads values written before it. */
static void g_ops(struct gen *g, struct rd *r)
{
	const uint32_t TOK = KLLM_PROG_T_ROWS_TOKENS, OUTS = KLLM_PROG_T_ROWS_OUTPUTS;
	uint32_t n_ops = 1 + pick(r, 8);

	for (uint32_t i = 0; i < n_ops && !g->full && g->h.n_ops < MAX_OPS; i++) {
		struct val *x = g_read(g, r), xv;
		uint32_t c = pick(r, 16), y, w;

		if (!x || c == 0) {
			/* embedding: get_rows(weight table, tokens) */
			uint32_t d = dims[pick(r, 4)], ty = g_wtype(r, d);
			uint32_t tab = g_tensor(g, r, g->w, ty, d, 0, 4 + pick(r, 60), 0);
			uint32_t ids = g_input(g, KLLM_PROG_IN_TOKENS);

			y = g_new_out(g, r, d, TOK, 0);
			OP(g, KLLM_PROG_OP_GET_ROWS, 0, T(tab, ids, y), P0);
			g_val(g, y, d, TOK, 0);
			continue;
		}
		xv = *x;
		switch (c) {
		case 1: case 2: case 3: {	/* matmul, maybe accumulating */
			uint32_t n = dims[pick(r, 4)], ty = g_wtype(r, xv.ne0);
			uint32_t acc = 0;

			w = g_tensor(g, r, g->w, ty, xv.ne0, 0, n, 0);
			if ((u8(r) & 3) == 0) {
				/* accumulate into a value written before (same shape) */
				for (uint32_t k = 0; k < g->n_v; k++)
					if (g->v[k].ne0 == n && g->v[k].mode == xv.mode &&
					    g->v[k].rows == xv.rows && g->v[k].t != xv.t) {
						y = g->v[k].t;
						acc = KLLM_PROG_MATMUL_ACCUMULATE;
						break;
					}
			}
			if (!acc) {
				y = g_new_out(g, r, n, xv.mode, xv.rows);
				/* accumulating into an OUTPUT reads the job's bytes */
				if ((u8(r) & 1) && g->buf[g->t[y].buffer].kind == KLLM_PROG_BUF_OUTPUT)
					acc = KLLM_PROG_MATMUL_ACCUMULATE;
			}
			OP(g, KLLM_PROG_OP_MATMUL, acc, T(w, xv.t, y), P0);
			if (!acc)
				g_val(g, y, n, xv.mode, xv.rows);
			/* q, k, v: more matmuls of one type on the same x, which
			 * the engines run as one step (kllm_prog_lower_group) */
			for (uint32_t more = (u8(r) & 1) ? 1 + pick(r, 4) : 0;
			     more-- && !g->full && g->h.n_ops < MAX_OPS;) {
				n = dims[pick(r, 4)];
				w = g_tensor(g, r, g->w, ty, xv.ne0, 0, n, 0);
				y = g_new_out(g, r, n, xv.mode, xv.rows);
				OP(g, KLLM_PROG_OP_MATMUL, 0, T(w, xv.t, y), P0);
				g_val(g, y, n, xv.mode, xv.rows);
			}
			break;
		}
		case 4: {	/* rmsnorm */
			uint32_t wv = (u8(r) & 1) ? g_tensor(g, r, g->w, KK_TYPE_F32, xv.ne0, 0, 1, 0) : NONE;

			y = (u8(r) & 1) ? xv.t : g_new_out(g, r, xv.ne0, xv.mode, xv.rows);
			OP(g, KLLM_PROG_OP_RMSNORM, 0, T(xv.t, wv, y), T(0x3727c5acu));
			if (y != xv.t)
				g_val(g, y, xv.ne0, xv.mode, xv.rows);
			break;
		}
		case 5: {	/* rope over heads */
			uint32_t hd = xv.ne0 >= 16 ? 8 << pick(r, 2) : xv.ne0;
			uint32_t nd = hd - 2 * pick(r, 2), ff = NONE, pos;

			if (xv.mode != TOK || xv.ne0 % hd)
				goto scale;
			pos = g_input(g, KLLM_PROG_IN_POS);
			if (u8(r) & 1)
				ff = g_tensor(g, r, g->w, KK_TYPE_F32, nd / 2, 0, 1, 0);
			y = (u8(r) & 1) ? xv.t : g_new_out(g, r, xv.ne0, xv.mode, xv.rows);
			OP(g, KLLM_PROG_OP_ROPE, 0, T(xv.t, pos, ff, y),
			   T(xv.ne0 / hd, hd, nd, (u8(r) & 1) ? KK_ROPE_NEOX : KK_ROPE_NORMAL,
			     0x461c4000u, 0x3f800000u));
			if (y != xv.t)
				g_val(g, y, xv.ne0, xv.mode, xv.rows);
			break;
		}
		case 6:		/* softmax */
		case 7:		/* unary */
		case 8:		/* scale */
		scale: {
			uint32_t kind = c == 6 ? KLLM_PROG_OP_SOFTMAX : c == 7 ?
					KLLM_PROG_OP_UNARY : KLLM_PROG_OP_SCALE;
			uint32_t p = kind == KLLM_PROG_OP_UNARY ? pick(r, 2) : 0x3f000000u;

			y = (u8(r) & 1) ? xv.t : g_new_out(g, r, xv.ne0, xv.mode, xv.rows);
			OP(g, kind, 0, T(xv.t, y), T(p));
			if (y != xv.t)
				g_val(g, y, xv.ne0, xv.mode, xv.rows);
			break;
		}
		case 9: case 10: {	/* glu / binary with a second value */
			uint32_t b = NONE, kind = c == 9 ? KLLM_PROG_OP_GLU : KLLM_PROG_OP_BINARY;

			for (uint32_t k = g->n_v; k-- > 0;)
				if (g->v[k].ne0 == xv.ne0 && g->v[k].mode == xv.mode &&
				    g->v[k].rows == xv.rows) {
					b = g->v[k].t;
					if (u8(r) & 1)
						break;
				}
			if (kind == KLLM_PROG_OP_BINARY && (u8(r) & 1))
				b = g_tensor(g, r, g->w, KK_TYPE_F32, xv.ne0, 0, 1, 0);
			if (kind == KLLM_PROG_OP_BINARY && (rows_across & 4) && xv.mode == TOK &&
			    g->h.n_tensors < MAX_T && (u8(r) & 1)) {
				/* a fixed one-row view of x's row 0: the pass's row 0 */
				b = g->h.n_tensors++;
				g->t[b] = g->t[xv.t];
				g->t[b].row_stride = row_bytes(KK_TYPE_F32, xv.ne0);
				g->t[b].ne[1] = 1;
				g->t[b].flags = 0;
			}
			if (b == NONE)
				break;
			y = (u8(r) & 1) ? xv.t : g_new_out(g, r, xv.ne0, xv.mode, xv.rows);
			OP(g, kind, 0, T(xv.t, b, y), T(pick(r, 2)));
			if (y != xv.t)
				g_val(g, y, xv.ne0, xv.mode, xv.rows);
			break;
		}
		case 11: case 12: {	/* kv_store + attention */
			uint32_t hd = 8 << pick(r, 3), nkv = 1 + pick(r, 2), nh = nkv * (1 + pick(r, 2));
			uint32_t ctx = g->shift ? 1u << g->shift : 4 + pick(r, 13);
			uint32_t kvt = (hd % 32 == 0 && (u8(r) & 1)) ?
				KK_TYPE_Q8_0 : KK_TYPE_F16, kb, kc, vc, k, v, q, seq, pos, att;

			if (xv.mode != TOK || !g->n_kv)
				break;
			kb = g->kv[pick(r, g->n_kv)];
			kc = g_tensor(g, r, kb, kvt, nkv * hd, 0, ctx, 0);
			/* paged: rarely V in another buffer than K (refused) */
			vc = g_tensor(g, r, g->shift && g->n_kv > 1 && rare(r, 16) ?
				      g->kv[0] + g->kv[1] - kb : kb, kvt, nkv * hd, 0, ctx, 0);
			w = g_tensor(g, r, g->w, g_wtype(r, xv.ne0), xv.ne0, 0, nkv * hd, 0);
			k = g_new_out(g, r, nkv * hd, TOK, 0);
			OP(g, KLLM_PROG_OP_MATMUL, 0, T(w, xv.t, k), P0);
			w = g_tensor(g, r, g->w, g_wtype(r, xv.ne0), xv.ne0, 0, nkv * hd, 0);
			v = g_new_out(g, r, nkv * hd, TOK, 0);
			OP(g, KLLM_PROG_OP_MATMUL, 0, T(w, xv.t, v), P0);
			w = g_tensor(g, r, g->w, g_wtype(r, xv.ne0), xv.ne0, 0, nh * hd, 0);
			q = g_new_out(g, r, nh * hd, TOK, 0);
			OP(g, KLLM_PROG_OP_MATMUL, 0, T(w, xv.t, q), P0);
			seq = g_input(g, KLLM_PROG_IN_SEQ);
			pos = g_input(g, KLLM_PROG_IN_POS);
			if ((rows_across & 2) && (u8(r) & 1)) {
				/* sequence indices computed by the program (argmax),
				 * not the job's SEQ array that slices remap */
				seq = g_tensor(g, r, g->act[pick(r, g->n_act)], KLLM_PROG_TYPE_I32,
					       1, TOK, 0, 0);
				OP(g, KLLM_PROG_OP_ARGMAX, 0, T(xv.t, seq), P0);
			}
			OP(g, KLLM_PROG_OP_KV_STORE, 0, T(k, v, seq, pos, kc, vc), T(nkv, hd));
			att = (u8(r) & 1) ? q : g_new_out(g, r, nh * hd, TOK, 0);
			OP(g, KLLM_PROG_OP_ATTENTION, 0, T(q, seq, pos, kc, vc, att),
			   T(nh, nkv, hd, pick(r, 3) ? 0 : 1 + pick(r, 6), 0x3e800000u,
			     pick(r, 3) ? 0 : 0x41f00000u));
			g_val(g, att, nh * hd, TOK, 0);
			break;
		}
		case 13: {	/* rows for the outputs: get_rows(x, out_rows) */
			uint32_t ids;

			if (xv.mode != TOK)
				break;
			if ((rows_across & 1) && (u8(r) & 1)) {
				/* a batch-shaped table indexed by the job's tokens:
				 * row ids name rows of the pass, not of the job */
				ids = g_input(g, KLLM_PROG_IN_TOKENS);
				y = g_new_out(g, r, xv.ne0, TOK, 0);
				OP(g, KLLM_PROG_OP_GET_ROWS, 0, T(xv.t, ids, y), P0);
				g_val(g, y, xv.ne0, TOK, 0);
				break;
			}
			ids = g_input(g, KLLM_PROG_IN_OUT_ROWS);
			y = g_new_out(g, r, xv.ne0, OUTS, 0);
			OP(g, KLLM_PROG_OP_GET_ROWS, 0, T(xv.t, ids, y), P0);
			g_val(g, y, xv.ne0, OUTS, 0);
			break;
		}
		case 14: {	/* argmax into an i32 tensor */
			uint32_t b = g_dest(g, r);

			y = g_tensor(g, r, b, KLLM_PROG_TYPE_I32, 1, xv.mode, xv.rows, 0);
			OP(g, KLLM_PROG_OP_ARGMAX, 0, T(xv.t, y), P0);
			break;
		}
		default: {	/* a fixed-rows value from a weight vector */
			uint32_t d = dims[pick(r, 4)], rows = 1 + pick(r, 3);
			uint32_t wx = g_tensor(g, r, g->w, KK_TYPE_F32, d, 0, rows, 0);

			y = g_tensor(g, r, g->act[pick(r, g->n_act)], KK_TYPE_F32, d, 0, rows, 1);
			OP(g, KLLM_PROG_OP_SCALE, 0, T(wx, y), T(0x40000000u));
			g_val(g, y, d, 0, rows);
			break;
		}
		}
	}
}

/* Image of the generator's records (standard record sizes). */
static uint8_t *g_image(const struct gen *g, size_t *size)
{
	size_t nb = g->h.n_buffers * sizeof(g->buf[0]);
	size_t nt = g->h.n_tensors * sizeof(g->t[0]);
	size_t no = g->h.n_ops * sizeof(g->op[0]);
	uint8_t *img;

	*size = sizeof(g->h) + nb + nt + no;
	img = malloc(*size);
	if (!img)
		abort();
	memcpy(img, &g->h, sizeof(g->h));
	((struct kllm_prog_header *)img)->total_size = (uint32_t)*size;
	memcpy(img + sizeof(g->h), g->buf, nb);
	memcpy(img + sizeof(g->h) + nb, g->t, nt);
	memcpy(img + sizeof(g->h) + nb + nt, g->op, no);
	return img;
}

/* Mutate a few fields of the finished records (program no longer "sane"). */
static void g_mutate(struct gen *g, struct rd *r)
{
	uint32_t n = 1 + pick(r, 3);

	for (uint32_t i = 0; i < n; i++) {
		uint32_t what = pick(r, 14);
		struct kllm_prog_tensor *t = g->h.n_tensors ? &g->t[pick(r, g->h.n_tensors)] : NULL;
		struct kllm_prog_op *op = g->h.n_ops ? &g->op[pick(r, g->h.n_ops)] : NULL;
		struct kllm_prog_buffer *b = &g->buf[pick(r, g->h.n_buffers)];
		static const int64_t d[] = { -64, -8, -4, -1, 1, 4, 8, 64, 256, -256, 2, -2 };

		switch (what) {
		case 0: case 1:
			if (t)
				t->offset += (uint64_t)d[pick(r, 12)];
			break;
		case 2:
			if (t) {
				int64_t dd = d[pick(r, 12)];

				/* a stride wrapped below 0 is the known finding
				 * of mode 8 (FUZZ_PLAN_ROWS_ACROSS) */
				if (dd >= 0 || (uint64_t)-dd < t->row_stride || (rows_across & 8))
					t->row_stride += (uint64_t)dd;
			}
			break;
		case 3:
			if (t) {
				t->flags ^= 1u << pick(r, 2);
				if (t->flags)
					t->ne[1] = 0;
				else if (!t->ne[1])
					t->ne[1] = 1 + pick(r, 4);
			}
			break;
		case 4:
			if (t && t->ne[1])
				t->ne[1] += (uint32_t)d[pick(r, 12)];
			break;
		case 5: case 6:
			b->size += (uint64_t)d[pick(r, 12)];
			break;
		case 7: case 8:
			if (op && g->h.n_tensors)
				op->t[pick(r, KLLM_PROG_OP_SLOTS)] = pick(r, g->h.n_tensors);
			break;
		case 9:
			if (t)
				t->buffer = pick(r, g->h.n_buffers);
			break;
		case 10:
			if (op)
				op->p[pick(r, 4)] += (uint32_t)d[pick(r, 12)];
			break;
		case 11:
			g->h.max_batch += (uint32_t)d[pick(r, 12)];
			break;
		case 12:	/* the paged flag on any buffer, or an unknown one */
			b->flags ^= pick(r, 4) ? KLLM_PROG_BUF_PAGED : 1u << pick(r, 32);
			break;
		case 13:	/* block_shift, n_ctx, the reserved word */
			b->reserved[pick(r, 3)] += (uint32_t)d[pick(r, 12)];
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Jobs.                                                                 */

struct job {
	struct kllm_prog_batch b;
	kllm_s32 *tokens, *pos, *seq, *out_rows;
	struct kllm_prog_mem *kv;	/* [n_seqs * n_kv] */
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];	/* OUTPUT: its own */
	struct kllm_prog_mem *kv_init, *buf_init;	/* initial bytes */
	struct kllm_prog_mem *kv_whole, *buf_whole;	/* after running whole */
	struct kllm_prog_bindings bind;
	struct kk_kv_seq *seqs;
	uint32_t tok_done, chunkable, ok;
	/* paged: its tables, the pools it binds (the program's or its own) */
	struct kllm_prog_table *tab;
	uint32_t *ids;
	const struct kllm_prog_mem *pools;
	struct kllm_prog_mem own[2];		/* its own pools (own_alloc) */
	struct kllm_prog_mem pool_whole[2];	/* after running whole */
	int own_alloc;
};

struct prog {
	const struct kllm_prog_info *pi;
	struct kllm_prog_mem mem[KLLM_PROG_MAX_BUFFERS];	/* WEIGHTS, ACTIVATIONS */
	struct kllm_prog_mem act_init[KLLM_PROG_MAX_BUFFERS];
	void *scratch;
	uint64_t scratch_size;
	struct kllm_prog_buffer b[KLLM_PROG_MAX_BUFFERS];
	/* paged (pi->paged): one pool per KV buffer shared by the jobs */
	struct kllm_prog_mem pool[2];
	uint64_t block[2];	/* bytes of a block of each KV buffer */
	uint32_t n_pool, next_blk, max_blocks;
};

static uint64_t tensor_end(const struct kllm_prog_tensor *t, uint32_t rows)
{
	if (!rows)
		return 0;
	return t->offset + (uint64_t)(rows - 1) * t->row_stride + row_bytes(t->type, t->ne[0]);
}

static uint32_t t_rows(const struct kllm_prog_tensor *t, uint32_t n_tok, uint32_t n_out)
{
	if (t->flags & KLLM_PROG_T_ROWS_TOKENS)
		return n_tok;
	if (t->flags & KLLM_PROG_T_ROWS_OUTPUTS)
		return n_out;
	return t->ne[1] * t->ne[2] * t->ne[3];
}

static void read_tensor(const struct kllm_prog_info *pi, uint32_t id, struct kllm_prog_tensor *t)
{
	memcpy(t, pi->base + pi->tensors_off + (uint64_t)id * pi->tensor_size, sizeof(*t));
}

/* Bytes buffer @id's tensors touch at a job's rows (independent of uapi/). */
static uint64_t buf_need(const struct kllm_prog_info *pi, uint32_t id, uint32_t n_tok,
			 uint32_t n_out)
{
	struct kllm_prog_tensor t;
	uint64_t need = 0, e;

	for (uint32_t i = 0; i < pi->n_tensors; i++) {
		read_tensor(pi, i, &t);
		if (t.buffer != id)
			continue;
		e = tensor_end(&t, t_rows(&t, n_tok, n_out));
		if (e > need)
			need = e;
	}
	return need;
}

static uint64_t size_delta(struct rd *r, uint64_t need)
{
	switch (pick(r, 8)) {
	case 7:
		return need ? need - 1 : 0;
	case 6:
		return need + 1 + pick(r, 64);
	case 5:
		return need > 8 ? need - 1 - pick(r, 8) : need;
	case 4:
		return 0;
	case 3:
		return need + 4 * pick(r, 8);
	default:
		return need;
	}
}

static void job_gen_paged(struct rd *r, struct prog *P, struct job *j, uint64_t *fillst);

static void job_gen(struct rd *r, struct prog *P, struct job *j, uint64_t *fillst)
{
	const struct kllm_prog_info *pi = P->pi;
	uint32_t mb = pi->max_batch, n, no, ns, mode;
	kllm_s32 last[8];

	memset(j, 0, sizeof(*j));
	switch (pick(r, 8)) {
	case 0:
		n = mb;
		break;
	case 1:
		n = 1;
		break;
	case 2:
		n = pick(r, mb + 2);	/* 0 and max_batch + 1: refused */
		break;
	default:
		n = 1 + pick(r, mb);
	}
	ns = pick(r, 9);
	j->b.n_tokens = n;
	j->b.n_seqs = ns;
	j->tokens = xalloc(4ull * n);
	j->pos = xalloc(4ull * n);
	j->seq = xalloc(4ull * n);
	mode = pick(r, 8);
	for (uint32_t s = 0; s < 8; s++)
		last[s] = (kllm_s32)pick(r, 4) - 1;
	for (uint32_t i = 0; i < n; i++) {
		kllm_s32 s = ns ? (kllm_s32)pick(r, ns + 1) - rare(r, 8) : -(kllm_s32)(pick(r, 2));

		j->tokens[i] = (kllm_s32)pick(r, 72) - 2;
		j->seq[i] = s;
		if (mode == 7) {	/* anything: the job is not chunkable */
			j->pos[i] = (kllm_s32)pick(r, 24) - 2;
		} else if (s >= 0 && s < 8) {
			last[s] += 1 + (pick(r, 4) == 0);
			j->pos[i] = last[s];
		} else {
			j->pos[i] = (kllm_s32)pick(r, 20);
		}
	}
	/* output rows */
	mode = pick(r, 10);
	no = mode == 9 ? pick(r, n + 3) : pick(r, n + 1);
	j->b.n_outputs = no;
	j->out_rows = xalloc(4ull * no);
	{
		uint32_t cand[KLLM_PROG_MAX_BATCH + 2], m = 0, start = 0;

		for (uint32_t i = 0; i < n; i++)
			cand[m++] = i;
		for (uint32_t i = 0; i < no; i++) {
			uint32_t k;

			if (!m) {		/* more outputs than tokens */
				j->out_rows[i] = (kllm_s32)pick(r, n + 1);
				continue;
			}
			if (mode <= 3) {	/* ascending, unique */
				uint32_t room = n - start >= no - i ? n - start - (no - i) + 1 : 1;

				j->out_rows[i] = (kllm_s32)(start + pick(r, room));
				start = (uint32_t)j->out_rows[i] + 1;
			} else {		/* any order, unique */
				k = pick(r, m);
				j->out_rows[i] = (kllm_s32)cand[k];
			}
			for (uint32_t q = 0; q < m; q++)
				if ((kllm_s32)cand[q] == j->out_rows[i]) {
					memmove(&cand[q], &cand[q + 1], (m - q - 1) * 4);
					m--;
					break;
				}
		}
		if (mode == 7 && no >= 2)
			j->out_rows[pick(r, no)] = j->out_rows[pick(r, no)];	/* a repeat */
		if (mode == 8 && no)
			j->out_rows[pick(r, no)] = pick(r, 2) ? (kllm_s32)n + (kllm_s32)pick(r, 3) : -1;
	}
	j->b.tokens = j->tokens;
	j->b.pos = j->pos;
	j->b.seq = j->seq;
	j->b.out_rows = j->out_rows;
	if (rare(r, 16)) {		/* a missing array */
		switch (pick(r, 4)) {
		case 0: j->b.tokens = NULL; break;
		case 1: j->b.pos = NULL; break;
		case 2: j->b.seq = NULL; break;
		default: j->b.out_rows = NULL;
		}
	}
	/* KV memory of each sequence, some unbound; paged: tables */
	j->kv = calloc((size_t)ns * pi->n_kv + 1, sizeof(*j->kv));
	j->kv_init = calloc((size_t)ns * pi->n_kv + 1, sizeof(*j->kv));
	j->kv_whole = calloc((size_t)ns * pi->n_kv + 1, sizeof(*j->kv));
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		if (P->b[id].kind != KLLM_PROG_BUF_KV || pi->paged)
			continue;
		for (uint32_t s = 0; s < ns; s++) {
			struct kllm_prog_mem *m = &j->kv[s * pi->n_kv + pi->kv_index[id]];

			if (rare(r, 4))
				continue;	/* unbound */
			*m = mem_new(size_delta(r, P->b[id].size));
			if (!m->base && m->size)
				m->size = 0;
		}
	}
	j->b.kv = j->kv;
	if (rare(r, 32))
		j->b.kv = NULL;
	if (pi->paged)
		job_gen_paged(r, P, j, fillst);
	/* OUTPUT memory: what the job's rows need, give or take */
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		if (P->b[id].kind == KLLM_PROG_BUF_WEIGHTS ||
		    P->b[id].kind == KLLM_PROG_BUF_ACTIVATIONS) {
			j->buf[id] = P->mem[id];
		} else if (P->b[id].kind == KLLM_PROG_BUF_OUTPUT) {
			uint64_t need = buf_need(pi, id, n, no);

			j->buf[id] = mem_new(size_delta(r, need));
		}
	}
	j->seqs = ns ? calloc(ns, sizeof(*j->seqs)) : NULL;
	j->bind = (struct kllm_prog_bindings){ .buf = j->buf, .scratch = P->scratch,
					       .scratch_size = P->scratch_size };
}

static void job_free(const struct kllm_prog_info *pi, struct job *j)
{
	uint32_t nkv = j->b.n_seqs * pi->n_kv;

	free(j->tokens);
	free(j->pos);
	free(j->seq);
	free(j->out_rows);
	for (uint32_t i = 0; i < nkv; i++) {
		free(j->kv[i].base);
		if (j->kv_init)
			free(j->kv_init[i].base);
		if (j->kv_whole)
			free(j->kv_whole[i].base);
	}
	free(j->kv);
	free(j->kv_init);
	free(j->kv_whole);
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		uint32_t kind = ((const struct kllm_prog_buffer *)(pi->base + pi->buffers_off +
					(uint64_t)id * pi->buffer_size))->kind;

		if (kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		free(j->buf[id].base);
		if (j->buf_init)
			free(j->buf_init[id].base);
		if (j->buf_whole)
			free(j->buf_whole[id].base);
	}
	free(j->buf_init);
	free(j->buf_whole);
	free(j->seqs);
}

/* ------------------------------------------------------------------ */
/* Paged KV: pools and block tables, hostile ones among them.            */

#define MAX_POOL 64

static uint32_t pool_n(const struct prog *P, const struct kllm_prog_mem *pools)
{
	return pools[0].base ? (uint32_t)(pools[0].size / P->block[0]) : 0;
}

/* The program's pools: n_pool blocks of every KV buffer, filled. */
static void pools_new(struct rd *r, struct prog *P, uint64_t *fillst)
{
	const struct kllm_prog_info *pi = P->pi;

	if (!pi->paged)
		return;
	P->n_pool = 4 + pick(r, MAX_POOL - 4);
	P->max_blocks = pi->max_blocks;
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		uint32_t i = pi->kv_index[id];

		if (P->b[id].kind != KLLM_PROG_BUF_KV)
			continue;
		P->block[i] = P->b[id].size;
		P->pool[i] = mem_new(P->n_pool * P->block[i]);
		fill(fillst, P->pool[i].base, P->pool[i].size);
	}
}

/* Blocks a sequence of @j needs for its rows' positions (at least 1). */
static uint32_t seq_blocks(const struct prog *P, const struct job *j, uint32_t s)
{
	kllm_s32 top = 0;

	for (uint32_t i = 0; i < j->b.n_tokens; i++)
		if (j->seq[i] == (kllm_s32)s && j->pos[i] > top)
			top = j->pos[i];
	return ((uint32_t)top >> P->pi->block_shift) + 1;
}

/*
 * A paged job: its pools (mostly the program's; rarely its own smaller
 * ones, or borrowed ones misaligned or not whole blocks) and a table per
 * sequence, fresh blocks from the pool, some of them hostile: an id
 * outside the pool, a duplicate, another sequence's block, a table
 * longer than n_ctx needs or short, ro_blocks past n_ids, no ids.
 */
static void job_gen_paged(struct rd *r, struct prog *P, struct job *j, uint64_t *fillst)
{
	const struct kllm_prog_info *pi = P->pi;
	const uint32_t ns = j->b.n_seqs, mb = P->max_blocks, room = mb + 3;
	uint32_t n_blk, *next = &P->next_blk, own_next = 0;

	j->ids = calloc((size_t)ns * room + 1, sizeof(*j->ids));
	j->tab = calloc(ns + 1, sizeof(*j->tab));
	j->pools = P->pool;
	switch (pick(r, 16)) {
	case 0:		/* its own pools, maybe smaller */
		n_blk = pick(r, P->n_pool + 1);
		for (uint32_t i = 0; i < pi->n_kv; i++) {
			j->own[i] = mem_new(n_blk * P->block[i]);
			fill(fillst, j->own[i].base, j->own[i].size);
		}
		j->own_alloc = 1;
		j->pools = j->own;
		next = &own_next;
		break;
	case 1:		/* the program's, misaligned or not whole blocks */
		memcpy(j->own, P->pool, sizeof(j->own));
		if (pick(r, 2))
			j->own[0].base = (uint8_t *)j->own[0].base + 16;
		j->own[pick(r, pi->n_kv)].size -= 1 + pick(r, 32);
		j->pools = j->own;
		break;
	}
	n_blk = pool_n(P, j->pools);
	for (uint32_t s = 0; s < ns; s++) {
		struct kllm_prog_table *t = &j->tab[s];
		uint32_t *ids = j->ids + (size_t)s * room, n = seq_blocks(P, j, s);

		if (n > mb || !pick(r, 4))
			n = mb;
		if (!pick(r, 8))
			n = pick(r, n + 1);	/* short (0: unbound) */
		for (uint32_t i = 0; i < room; i++)
			ids[i] = *next < n_blk ? (*next)++ : pick(r, n_blk ? n_blk : 1);
		*t = (struct kllm_prog_table){ ids, n, pick(r, 3) ? 0 : pick(r, n + 1) };
		if (!rare(r, 6))
			continue;
		switch (pick(r, 7)) {
		case 0:
			if (n)
				ids[pick(r, n)] = n_blk + pick(r, 3);
			break;
		case 1:
			if (n)
				ids[pick(r, n)] = 0xffffffffu;
			break;
		case 2:
			if (n)
				ids[pick(r, n)] = ids[pick(r, n)];
			break;
		case 3:
			if (n && s)
				ids[pick(r, n)] = (ids - room)[pick(r, room)];	/* the last seq's */
			break;
		case 4:
			t->n_ids = mb + 1 + pick(r, 2);
			break;
		case 5:
			t->ro_blocks = n + 1;
			break;
		default:
			if (n)
				t->ids = NULL;
		}
	}
	j->b.tables = rare(r, 32) ? NULL : j->tab;
	j->b.kv_pool = rare(r, 32) ? NULL : j->pools;
	if (!rare(r, 4))
		j->b.kv = NULL;	/* unused by a paged program */
}

/* The paged oracle: pools whole and aligned, every id inside them. */
static void paged_oracle(const struct prog *P, const struct job *j)
{
	const struct kllm_prog_info *pi = P->pi;
	const struct kllm_prog_batch *b = &j->b;
	uint64_t n_pool = KLLM_PROG_MAX_POOL_BLOCKS;
	uint32_t shift = 0, n_ctx = 0, mb;

	if (!b->n_seqs)
		return;
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		const struct kllm_prog_mem *m;

		if (P->b[id].kind != KLLM_PROG_BUF_KV)
			continue;
		m = &b->kv_pool[pi->kv_index[id]];
		shift = P->b[id].reserved[0];
		n_ctx = P->b[id].reserved[1];
		if (!(P->b[id].flags & KLLM_PROG_BUF_PAGED) || !P->b[id].size)
			FAIL("accepted a paged job of a program with an unpaged KV buffer");
		if (((uintptr_t)m->base & 31) || m->size % P->b[id].size || (!m->base && m->size))
			FAIL("accepted a pool misaligned or not whole blocks");
		if (m->size / P->b[id].size < n_pool)
			n_pool = m->base ? m->size / P->b[id].size : 0;
	}
	mb = (n_ctx + (1u << shift) - 1) >> shift;
	for (uint32_t s = 0; s < b->n_seqs; s++) {
		const struct kllm_prog_table *t = &b->tables[s];

		if (t->n_ids > mb || t->ro_blocks > t->n_ids)
			FAIL("accepted a table of %u ids (%u ro), %u at most", t->n_ids,
			     t->ro_blocks, mb);
		for (uint32_t i = 0; i < t->n_ids; i++)
			if (t->ids[i] >= n_pool)
				FAIL("accepted block id %u of a pool of %llu", t->ids[i],
				     (unsigned long long)n_pool);
	}
}

/* Independent check of what kllm_prog_job_init accepted (invariant 1). */
static void job_oracle(const struct prog *P, const struct job *j)
{
	const struct kllm_prog_info *pi = P->pi;
	const struct kllm_prog_batch *b = &j->b;
	uint8_t seen[KLLM_PROG_MAX_BATCH] = { 0 };
	struct kllm_prog_tensor t;

	if (!b->n_tokens || b->n_tokens > pi->max_batch || b->n_outputs > b->n_tokens)
		FAIL("accepted job with n_tokens %u n_outputs %u", b->n_tokens, b->n_outputs);
	if (b->n_outputs && !(pi->inputs & (1u << KLLM_PROG_IN_OUT_ROWS)))
		FAIL("accepted outputs for a program without OUT_ROWS");
	for (uint32_t o = 0; o < b->n_outputs; o++) {
		kllm_s32 row = b->out_rows[o];

		if (row < 0 || (uint32_t)row >= b->n_tokens || seen[row]++)
			FAIL("accepted output row %d (out of range or repeated)", row);
	}
	for (uint32_t i = 0; i < pi->n_tensors; i++) {
		uint32_t kind;
		uint64_t e;

		read_tensor(pi, i, &t);
		kind = P->b[t.buffer].kind;
		if (kind != KLLM_PROG_BUF_WEIGHTS && kind != KLLM_PROG_BUF_ACTIVATIONS &&
		    kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		e = tensor_end(&t, t_rows(&t, b->n_tokens, b->n_outputs));
		if (e > j->buf[t.buffer].size || (e && !j->buf[t.buffer].base))
			FAIL("accepted job: tensor %u ends at %llu past its memory (%llu)", i,
			     (unsigned long long)e, (unsigned long long)j->buf[t.buffer].size);
	}
	for (uint32_t id = 0; id < pi->n_buffers; id++)
		if (P->b[id].kind == KLLM_PROG_BUF_KV && !pi->paged)
			for (uint32_t s = 0; s < b->n_seqs; s++) {
				const struct kllm_prog_mem *m = &b->kv[s * pi->n_kv + pi->kv_index[id]];

				if (m->base && m->size < P->b[id].size)
					FAIL("accepted a short KV binding");
			}
}

/* ------------------------------------------------------------------ */
/* Running.                                                              */

static void serial_for(void *ctx, kk_range_fn fn, void *arg, kk_u64 n_items, kk_u64 chunk)
{
	(void)ctx;
	(void)chunk;
	if (n_items)
		fn(arg, 0, n_items);
}

static const struct kk_host host = { .parallel_for = serial_for };
static int run_kernels;

static void reset_act(const struct prog *P)
{
	for (uint32_t id = 0; id < P->pi->n_buffers; id++)
		if (P->b[id].kind == KLLM_PROG_BUF_ACTIVATIONS && P->mem[id].size)
			memcpy(P->mem[id].base, P->act_init[id].base, P->mem[id].size);
}

/*
 * Lower (and run) every op of an initialised job as the engines do, the
 * matmuls that share an input as one step; what = for messages.
 */
static void run_job(const struct kllm_prog_job *pj, const char *what)
{
	struct kk_op ops[KK_OP_GROUP_MAX];
	struct kllm_prog_err err;
	char msg[256];
	uint32_t next;
	int n;

	for (uint32_t i = 0; i < pj->info->n_ops; i = next) {
		n = kllm_prog_lower_group(pj, i, ops, &next, &err);
		if (n < 0) {
			kllm_prog_err_format(&err, msg, sizeof(msg));
			FAIL("%s: op %u does not lower: %s", what, i, msg);
		}
		if (n > 1)
			st.grouped++;
		if (n > 0 && run_kernels && kk_ops_exec(&host, ops, (kk_u32)n))
			FAIL("%s: lowered ops %u.. (%d, kind %u) refused by kk_ops_exec", what,
			     next - (uint32_t)n, n, ops[0].kind);
	}
}

static void copy_mems(struct kllm_prog_mem *dst, const struct kllm_prog_mem *src, uint32_t n,
		      int alloc)
{
	for (uint32_t i = 0; i < n; i++) {
		if (alloc)
			dst[i] = mem_new(src[i].base ? src[i].size : 0);
		if (src[i].base && dst[i].base)
			memcpy(dst[i].base, src[i].base, src[i].size);
	}
}

/* Job OUTPUT buffers (other entries are the program's: skipped). */
static void copy_outs(const struct prog *P, struct kllm_prog_mem *dst,
		      const struct kllm_prog_mem *src, int alloc)
{
	for (uint32_t id = 0; id < P->pi->n_buffers; id++) {
		if (P->b[id].kind != KLLM_PROG_BUF_OUTPUT)
			continue;
		if (alloc)
			dst[id] = mem_new(src[id].base ? src[id].size : 0);
		if (src[id].base && dst[id].base)
			memcpy(dst[id].base, src[id].base, src[id].size);
	}
}

static void cmp_mem(const struct kllm_prog_mem *a, const struct kllm_prog_mem *b,
		    const char *what, uint32_t job, uint32_t id)
{
	if (a->size != b->size || (a->base && memcmp(a->base, b->base, a->size))) {
		uint64_t k = 0;

		while (k < a->size && ((uint8_t *)a->base)[k] == ((uint8_t *)b->base)[k])
			k++;
		FAIL("job %u %s %u differs whole vs chunked/fused at byte %llu of %llu",
		     job, what, id, (unsigned long long)k, (unsigned long long)a->size);
	}
}

/* Does any block of @j appear twice in its tables? */
static int self_aliased(const struct job *j)
{
	uint8_t seen[MAX_POOL] = { 0 };

	for (uint32_t s = 0; s < j->b.n_seqs; s++)
		for (uint32_t i = 0; i < j->tab[s].n_ids; i++)
			if (seen[j->tab[s].ids[i]]++)
				return 1;
	return 0;
}

/*
 * Run @pj whole over its pools: what it leaves is kept in j->pool_whole
 * and the pools are put back.  Invariant 5: a block a table marks
 * read-only (and no table of the job names otherwise) keeps its bytes.
 */
static void paged_whole(const struct prog *P, struct job *j, const struct kllm_prog_job *pj)
{
	const uint32_t n_kv = P->pi->n_kv;
	struct kllm_prog_mem before[2];

	if (!j->b.n_seqs) {	/* its pools are not checked, nor used */
		reset_act(P);
		run_job(pj, "whole job");
		return;
	}
	copy_mems(before, j->pools, n_kv, 1);
	reset_act(P);
	run_job(pj, "whole job");
	copy_mems(j->pool_whole, j->pools, n_kv, 1);
	if (!self_aliased(j))
		for (uint32_t i = 0; i < n_kv; i++)
			for (uint32_t s = 0; s < j->b.n_seqs; s++)
				for (uint32_t k = 0; k < j->tab[s].ro_blocks; k++) {
					uint64_t o = j->tab[s].ids[k] * P->block[i];

					if (memcmp((uint8_t *)before[i].base + o,
						   (uint8_t *)j->pools[i].base + o, P->block[i]))
						FAIL("a read-only block (%u) was written", j->tab[s].ids[k]);
					st.ro_checked++;
				}
	copy_mems((struct kllm_prog_mem *)j->pools, before, n_kv, 0);
	for (uint32_t i = 0; i < n_kv; i++)
		free(before[i].base);
}

/* Does any block of the accepted jobs belong to two of them (or twice)? */
static int group_aliased(const struct prog *P, const struct job *jobs, uint32_t n_jobs)
{
	uint8_t seen[MAX_POOL] = { 0 };

	for (uint32_t k = 0; k < n_jobs; k++) {
		const struct job *j = &jobs[k];

		if (!j->ok || !j->b.n_seqs)
			continue;
		if (self_aliased(j))
			return 1;
		if (j->pools != P->pool)
			continue;	/* its own pools: no other job's */
		for (uint32_t s = 0; s < j->b.n_seqs; s++)
			for (uint32_t i = 0; i < j->tab[s].n_ids; i++)
				if (seen[j->tab[s].ids[i]]++)
					return 1;
	}
	return 0;
}

/* Invariant 4, paged: the job's blocks as running whole left them. */
static void paged_cmp(const struct prog *P, const struct job *j, uint32_t k)
{
	for (uint32_t i = 0; i < P->pi->n_kv; i++)
		for (uint32_t s = 0; s < j->b.n_seqs; s++)
			for (uint32_t b = 0; b < j->tab[s].n_ids; b++) {
				uint64_t o = j->tab[s].ids[b] * P->block[i];

				if (memcmp((uint8_t *)j->pools[i].base + o,
					   (uint8_t *)j->pool_whole[i].base + o, P->block[i]))
					FAIL("job %u block %u of pool %u differs whole vs chunked/fused",
					     k, j->tab[s].ids[b], i);
			}
}

static void paged_free(const struct prog *P, struct job *j)
{
	for (uint32_t i = 0; i < 2; i++) {
		if (j->own_alloc)
			free(j->own[i].base);
		free(j->pool_whole[i].base);
	}
	(void)P;
	free(j->ids);
	free(j->tab);
}

/* The pass, as kmod/kllm_sched.c builds it and kmod/kllm_pass.c runs it. */
struct slice {
	struct job *job;
	struct kllm_slice_rows r;
	int last;
};

struct pass {
	struct slice s[MAX_FUSE];
	uint32_t n, n_tokens, n_outputs, n_seqs;
	const struct kllm_prog_mem *pool;	/* paged: the pools of its jobs */
};

/* Paged: the same pools (what kllm_slice_fill compares)? */
static int same_pools(const struct kllm_prog_info *pi, const struct kllm_prog_mem *a,
		      const struct kllm_prog_mem *b)
{
	for (uint32_t i = 0; i < pi->n_kv; i++)
		if (a[i].base != b[i].base || a[i].size != b[i].size)
			return 0;
	return 1;
}

/* kllm_pass_add, with the chunk size the input chooses. */
static int pass_add(const struct kllm_prog_info *pi, struct pass *ps, struct job *j,
		    uint32_t chunk, int fusable)
{
	uint32_t left = j->b.n_tokens - j->tok_done, n = left, nout;
	const uint32_t mb = pi->max_batch;

	if (ps->n == MAX_FUSE)
		return 0;
	if (j->chunkable && fusable && chunk && n > chunk)
		n = chunk;
	nout = kllm_slice_outputs(&j->b, j->tok_done, n);
	if (n > mb - ps->n_tokens || nout > mb - ps->n_outputs ||
	    j->b.n_seqs > KLLM_PROG_MAX_SEQS - ps->n_seqs)
		return 0;
	/* paged: jobs fuse only over the same pools */
	if (pi->paged && j->b.n_seqs) {
		if (ps->pool && !same_pools(pi, ps->pool, j->b.kv_pool))
			return 0;
		ps->pool = j->b.kv_pool;
	}
	ps->s[ps->n++] = (struct slice){ .job = j, .last = n == left,
		.r = { .tok0 = j->tok_done, .ntok = n, .row0 = ps->n_tokens,
		       .out0 = ps->n_outputs, .nout = nout, .seq0 = ps->n_seqs } };
	ps->n_tokens += n;
	ps->n_outputs += nout;
	ps->n_seqs += j->b.n_seqs;
	return 1;
}

/* kllm_job_schedule_info's chunkable: positions rise within each sequence. */
static uint32_t chunkable(const struct kllm_prog_batch *b)
{
	kllm_s32 last[8];

	if (!b->pos)
		return 1;
	for (uint32_t s = 0; s < 8; s++)
		last[s] = INT32_MIN;
	for (uint32_t i = 0; i < b->n_tokens; i++) {
		kllm_s32 s = b->seq ? b->seq[i] : 0, p = b->pos[i];

		if (s < 0 || (uint32_t)s >= b->n_seqs || p < 0)
			continue;
		if (b->seq && b->n_seqs) {
			if (p <= last[s])
				return 0;
			last[s] = p;
		}
	}
	return 1;
}

/* Run one staged pass (kllm_pass_prepare, run, kllm_pass_scatter). */
static void run_pass(const struct prog *P, struct pass *ps, const uint32_t *out_t,
		     uint32_t n_out_t, struct kllm_prog_mem *stage)
{
	const struct kllm_prog_info *pi = P->pi;
	const uint32_t mb = pi->max_batch;
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	struct kllm_pass_arrays pa = { .cap = mb, .cap_seqs = ps->n_seqs };
	uint64_t n_kv = (uint64_t)ps->n_seqs * pi->n_kv;
	struct kllm_prog_bindings bind;
	struct kllm_prog_batch batch;
	struct kllm_prog_job pj;
	struct kllm_prog_err err;
	struct kk_kv_seq *seqs;
	char msg[256];

	pa.tokens = xalloc(4ull * mb);
	pa.pos = xalloc(4ull * mb);
	pa.seq = xalloc(4ull * mb);
	pa.out_rows = xalloc(4ull * mb);
	pa.kv = xalloc(n_kv * sizeof(*pa.kv));
	pa.tables = xalloc((uint64_t)ps->n_seqs * sizeof(*pa.tables));
	pa.kv_pool = ps->pool;
	seqs = ps->n_seqs ? calloc(ps->n_seqs, sizeof(*seqs)) : NULL;
	memcpy(buf, P->mem, sizeof(buf));
	for (uint32_t id = 0; id < pi->n_buffers; id++)
		if (P->b[id].kind == KLLM_PROG_BUF_OUTPUT)
			buf[id] = stage[id];
	for (uint32_t i = 0; i < ps->n; i++) {
		struct slice *sl = &ps->s[i];

		if (kllm_slice_fill(pi, &sl->job->b, &sl->r, &pa))
			FAIL("kllm_slice_fill refused slice %u (tok0 %u ntok %u row0 %u out0 %u nout %u seq0 %u)",
			     i, sl->r.tok0, sl->r.ntok, sl->r.row0, sl->r.out0, sl->r.nout, sl->r.seq0);
		if (kllm_slice_copy(pi, out_t, n_out_t, sl->job->buf, buf, &sl->job->b, &sl->r, 0))
			FAIL("kllm_slice_copy job->staging refused slice %u", i);
	}
	batch = (struct kllm_prog_batch){
		.n_tokens = ps->n_tokens, .n_outputs = ps->n_outputs,
		.tokens = pi->inputs & (1u << KLLM_PROG_IN_TOKENS) ? pa.tokens : NULL,
		.pos = pi->inputs & (1u << KLLM_PROG_IN_POS) ? pa.pos : NULL,
		.seq = pi->inputs & (1u << KLLM_PROG_IN_SEQ) ? pa.seq : NULL,
		.out_rows = pi->inputs & (1u << KLLM_PROG_IN_OUT_ROWS) ? pa.out_rows : NULL,
		.n_seqs = ps->n_seqs, .kv = pa.kv, .kv_pool = pa.kv_pool, .tables = pa.tables };
	bind = (struct kllm_prog_bindings){ .buf = buf, .scratch = P->scratch,
					    .scratch_size = P->scratch_size };
	if (kllm_prog_job_init(&pj, pi, &bind, &batch, seqs, &err)) {
		kllm_prog_err_format(&err, msg, sizeof(msg));
		FAIL("pass of %u slices (%u tokens, %u outputs, %u seqs) refused: %s",
		     ps->n, ps->n_tokens, ps->n_outputs, ps->n_seqs, msg);
	}
	reset_act(P);
	run_job(&pj, "pass");
	for (uint32_t i = 0; i < ps->n; i++)
		if (kllm_slice_copy(pi, out_t, n_out_t, ps->s[i].job->buf, buf,
				    &ps->s[i].job->b, &ps->s[i].r, 1))
			FAIL("kllm_slice_copy staging->job refused slice %u", i);
	free(pa.tokens);
	free(pa.pos);
	free(pa.seq);
	free(pa.out_rows);
	free(pa.kv);
	free(pa.tables);
	free(seqs);
}

/* ------------------------------------------------------------------ */

static void print_stats(void)
{
	fprintf(stderr, "fuzz_plan stats: inputs %llu programs accepted %llu (mutated %llu, "
		"fusable %llu), jobs %llu accepted %llu, passes %llu staged %llu "
		"(fused %llu, chunk slices %llu), jobs compared bitwise %llu\n",
		(unsigned long long)st.inputs, (unsigned long long)st.progs,
		(unsigned long long)st.mutated_ok, (unsigned long long)st.fusable,
		(unsigned long long)st.jobs, (unsigned long long)st.jobs_ok,
		(unsigned long long)st.passes, (unsigned long long)st.staged,
		(unsigned long long)st.fused, (unsigned long long)st.chunked,
		(unsigned long long)st.compared);
	fprintf(stderr, "fuzz_plan paged: programs %llu, jobs %llu accepted %llu, read-only "
		"blocks checked %llu, groups sharing blocks %llu, jobs compared bitwise %llu\n",
		(unsigned long long)st.paged, (unsigned long long)st.paged_jobs,
		(unsigned long long)st.paged_ok, (unsigned long long)st.ro_checked,
		(unsigned long long)st.aliased, (unsigned long long)st.paged_compared);
	fprintf(stderr, "fuzz_plan groups: matmul groups run as one step %llu\n",
		(unsigned long long)st.grouped);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (getenv("FUZZ_PLAN_STATS"))
		atexit(print_stats);
	kk_simd_select(kk_simd_best(kk_simd_available(0)));
	verbose = getenv("FUZZ_PLAN_VERBOSE") != NULL;
	rows_across = getenv("FUZZ_PLAN_ROWS_ACROSS") ?
		      atoi(getenv("FUZZ_PLAN_ROWS_ACROSS")) : 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size, 0x9e3779b97f4a7c15ull };
	static struct gen g;
	static struct job jobs[MAX_JOBS];
	struct kllm_prog_mem stage[KLLM_PROG_MAX_BUFFERS];
	uint64_t off[KLLM_PROG_MAX_BUFFERS], total, fillst;
	uint32_t out_t[MAX_T], n_out_t = 0, n_jobs, mutated, sane, n_ok = 0, aliased;
	struct kllm_prog_info pi;
	struct kllm_prog_err err;
	struct prog P;
	size_t img_size;
	uint8_t *img;
	char msg[256];
	int fusable;

	st.inputs++;
	for (size_t i = 0; i < size && i < 8; i++)
		r.rng = r.rng * 31 + data[i] + 1;
	fillst = r.rng | 1;
	/* the program */
	memset(&g, 0, sizeof(g));
	g.h = (struct kllm_prog_header){ .magic = KLLM_PROG_MAGIC,
		.version = KLLM_PROG_VERSION, .header_size = sizeof(g.h),
		.buffer_size = sizeof(g.buf[0]), .tensor_size = sizeof(g.t[0]),
		.op_size = sizeof(g.op[0]), .max_batch = 1 + pick(&r, 16) };
	for (uint32_t i = 0; i < 5; i++)
		g.in_t[i] = NONE;
	g.w = g_buffer(&g, KLLM_PROG_BUF_WEIGHTS, 0);
	g.n_act = 1 + pick(&r, 3);
	for (uint32_t i = 0; i < g.n_act; i++)
		g.act[i] = g_buffer(&g, KLLM_PROG_BUF_ACTIVATIONS, 0);
	g.n_out = pick(&r, 4);
	for (uint32_t i = 0; i < g.n_out; i++)
		g.out[i] = g_buffer(&g, KLLM_PROG_BUF_OUTPUT, 0);
	g.n_kv = pick(&r, 3);
	for (uint32_t i = 0; i < g.n_kv; i++)
		g.kv[i] = g_buffer(&g, KLLM_PROG_BUF_KV, 0);
	if (g.n_kv && pick(&r, 2)) {	/* paged: blocks of 16 or 32 positions */
		g.shift = KLLM_PROG_MIN_BLOCK_SHIFT + pick(&r, 2);
		g.n_ctx = 1 + pick(&r, 80);
		for (uint32_t i = 0; i < g.n_kv; i++) {
			g.buf[g.kv[i]].flags = KLLM_PROG_BUF_PAGED;
			g.buf[g.kv[i]].reserved[0] = g.shift;
			g.buf[g.kv[i]].reserved[1] = g.n_ctx;
		}
	}
	g_ops(&g, &r);
	/* OUTPUT tensors no op uses; inputs no op reads */
	for (uint32_t i = 0, n = g.n_out ? pick(&r, 4) : 0; i < n; i++) {
		static const uint32_t ty[] = { KK_TYPE_F32, KLLM_PROG_TYPE_I32, KK_TYPE_F16, KK_TYPE_Q8_0 };
		uint32_t c = pick(&r, 8), tt = ty[pick(&r, 4)];
		uint32_t mode = c < 4 ? KLLM_PROG_T_ROWS_TOKENS : c < 7 ? KLLM_PROG_T_ROWS_OUTPUTS : 0;

		g_tensor(&g, &r, g.out[pick(&r, g.n_out)], tt, tt == KK_TYPE_Q8_0 ? 32 : 1 + pick(&r, 40),
			 mode, 1 + pick(&r, 3), 1);
	}
	for (uint32_t in = KLLM_PROG_IN_TOKENS; in <= KLLM_PROG_IN_OUT_ROWS; in++)
		if (rare(&r, 8))
			g_input(&g, in);
	if (g.full)
		return 0;
	/* slack in the declared sizes; a paged block is whole 32-byte units */
	for (uint32_t id = 0; id < g.h.n_buffers; id++) {
		if (g.buf[id].kind != KLLM_PROG_BUF_INPUT && rare(&r, 4))
			g.buf[id].size += 4 * pick(&r, 32);
		if (g.buf[id].flags & KLLM_PROG_BUF_PAGED)
			g.buf[id].size = (g.buf[id].size + 32) & ~31ull;
	}
	mutated = rare(&r, 4);
	if (mutated)
		g_mutate(&g, &r);
	sane = !mutated;
	img = g_image(&g, &img_size);
	if (kllm_prog_check(img, img_size, &pi, &err)) {
		if (verbose) {
			kllm_prog_err_format(&err, msg, sizeof(msg));
			fprintf(stderr, "program refused (mutated %u): %s\n", mutated, msg);
		}
		free(img);
		return 0;
	}

	st.progs++;
	st.mutated_ok += mutated;
	if (verbose) {
		fprintf(stderr, "program: max_batch %u, %u buffers, %u tensors, %u ops%s\n",
			g.h.max_batch, g.h.n_buffers, g.h.n_tensors, g.h.n_ops,
			mutated ? " (mutated)" : "");
		for (uint32_t i = 0; i < g.h.n_buffers; i++)
			fprintf(stderr, "  buffer %u: kind %u size %llu input %u flags %u reserved %u %u\n",
				i, g.buf[i].kind, (unsigned long long)g.buf[i].size, g.buf[i].input,
				g.buf[i].flags, g.buf[i].reserved[0], g.buf[i].reserved[1]);
		for (uint32_t i = 0; i < g.h.n_tensors; i++)
			fprintf(stderr, "  tensor %u: buffer %u type %u offset %llu stride %llu "
				"ne %u %u %u %u flags %u\n", i, g.t[i].buffer, g.t[i].type,
				(unsigned long long)g.t[i].offset,
				(unsigned long long)g.t[i].row_stride, g.t[i].ne[0], g.t[i].ne[1],
				g.t[i].ne[2], g.t[i].ne[3], g.t[i].flags);
		for (uint32_t i = 0; i < g.h.n_ops; i++)
			fprintf(stderr, "  op %u: kind %u flags %u t %d %d %d %d %d %d\n", i,
				g.op[i].kind, g.op[i].flags, (int)g.op[i].t[0], (int)g.op[i].t[1],
				(int)g.op[i].t[2], (int)g.op[i].t[3], (int)g.op[i].t[4],
				(int)g.op[i].t[5]);
	}
	/* the program's memory: WEIGHTS and ACTIVATIONS at their declared size */
	memset(&P, 0, sizeof(P));
	P.pi = &pi;
	for (uint32_t id = 0; id < pi.n_buffers; id++) {
		memcpy(&P.b[id], pi.base + pi.buffers_off + (uint64_t)id * pi.buffer_size,
		       sizeof(P.b[id]));
		if (P.b[id].kind == KLLM_PROG_BUF_WEIGHTS ||
		    P.b[id].kind == KLLM_PROG_BUF_ACTIVATIONS) {
			uint64_t sz = rare(&r, 32) ? size_delta(&r, P.b[id].size) : P.b[id].size;

			P.mem[id] = mem_new(sz);
			fill(&fillst, P.mem[id].base, P.mem[id].size);
			if (P.b[id].kind == KLLM_PROG_BUF_ACTIVATIONS) {
				P.act_init[id] = mem_new(sz);
				if (sz)
					memcpy(P.act_init[id].base, P.mem[id].base, sz);
			}
		}
	}
	pools_new(&r, &P, &fillst);
	st.paged += pi.paged;
	P.scratch_size = kllm_prog_scratch_bytes(&pi);
	P.scratch = xalloc(P.scratch_size);
	/* kernels are cheap at these sizes; keep the biggest programs to planning */
	run_kernels = 1;

	/* fusion setup: kllm_prog_setup_fusion */
	fusable = kllm_stage_tensors(&pi, out_t, &n_out_t);
	st.fusable += fusable > 0;
	if (kllm_stage_layout(&pi, off, &total))
		FAIL("kllm_stage_layout failed");
	{
		uint64_t sum = 0;

		for (uint32_t id = 0; id < pi.n_buffers; id++) {
			if (P.b[id].kind != KLLM_PROG_BUF_OUTPUT)
				continue;
			if (off[id] & 63 || off[id] < sum || off[id] + P.b[id].size > total)
				FAIL("staging layout: buffer %u at %llu size %llu total %llu", id,
				     (unsigned long long)off[id], (unsigned long long)P.b[id].size,
				     (unsigned long long)total);
			sum = off[id] + P.b[id].size;
		}
	}
	memset(stage, 0, sizeof(stage));
	for (uint32_t id = 0; id < pi.n_buffers; id++)
		stage[id] = P.b[id].kind == KLLM_PROG_BUF_OUTPUT ?
			    mem_new(P.b[id].size) :
			    (struct kllm_prog_mem){ NULL, 0 };
	for (uint32_t id = 0; id < pi.n_buffers; id++)
		if (stage[id].base)
			memset(stage[id].base, 0, stage[id].size);	/* kvzalloc */

	/* the jobs: submit (job_init, lower and run whole) */
	n_jobs = 1 + pick(&r, 4);
	if (rare(&r, 16))
		n_jobs = MAX_JOBS;
	for (uint32_t k = 0; k < n_jobs; k++) {
		struct job *j = &jobs[k];
		struct kllm_prog_job pj;
		uint32_t nkv;

		job_gen(&r, &P, j, &fillst);
		st.jobs++;
		st.paged_jobs += pi.paged;
		nkv = j->b.n_seqs * pi.n_kv;
		/* the initial bytes both runs start from */
		for (uint32_t id = 0; id < pi.n_buffers; id++)
			if (P.b[id].kind == KLLM_PROG_BUF_OUTPUT)
				fill(&fillst, j->buf[id].base, j->buf[id].size);
		for (uint32_t i = 0; i < nkv; i++)
			fill(&fillst, j->kv[i].base, j->kv[i].size);
		if (kllm_prog_job_init(&pj, &pi, &j->bind, &j->b, j->seqs, &err)) {
			if (verbose) {
				kllm_prog_err_format(&err, msg, sizeof(msg));
				fprintf(stderr, "job %u refused: %s\n", k, msg);
			}
			continue;
		}
		job_oracle(&P, j);
		if (pi.paged)
			paged_oracle(&P, j);
		st.paged_ok += pi.paged;
		st.jobs_ok++;
		j->ok = 1;
		n_ok++;
		j->chunkable = chunkable(&j->b);
		j->buf_init = calloc(KLLM_PROG_MAX_BUFFERS, sizeof(*j->buf_init));
		j->buf_whole = calloc(KLLM_PROG_MAX_BUFFERS, sizeof(*j->buf_whole));
		copy_outs(&P, j->buf_init, j->buf, 1);
		copy_mems(j->kv_init, j->kv, nkv, 1);
		if (pi.paged) {
			paged_whole(&P, j, &pj);
		} else {
			reset_act(&P);
			run_job(&pj, "whole job");
		}
		copy_outs(&P, j->buf_whole, j->buf, 1);
		copy_mems(j->kv_whole, j->kv, nkv, 1);
		/* back to the start for the plan */
		copy_outs(&P, j->buf, j->buf_init, 0);
		copy_mems(j->kv, j->kv_init, nkv, 0);
	}

	/* the plan: passes as kllm_sched_pick builds them, with chunk sizes
	 * and fusion partners from the input */
	while (n_ok) {
		struct pass ps;
		uint32_t lead = pick(&r, n_jobs), chunk = rare(&r, 4) ? 0 : 1 + pick(&r, pi.max_batch);
		int staged;

		for (uint32_t k = 0; k < n_jobs; k++) {
			uint32_t c = (lead + k) % n_jobs;

			if (jobs[c].ok && jobs[c].tok_done < jobs[c].b.n_tokens) {
				lead = c;
				break;
			}
		}
		memset(&ps, 0, sizeof(ps));
		if (!pass_add(&pi, &ps, &jobs[lead], chunk, fusable))
			FAIL("the lead job does not fit a pass");
		if (fusable && !rare(&r, 4))
			for (uint32_t k = 1; k < n_jobs; k++) {
				struct job *j = &jobs[(lead + k) % n_jobs];

				if (!j->ok || j->tok_done >= j->b.n_tokens || rare(&r, 4))
					continue;
				if (ps.n_tokens >= pi.max_batch || ps.n == MAX_FUSE)
					break;
				pass_add(&pi, &ps, j, pick(&r, 2) ? chunk : 1 + pick(&r, pi.max_batch),
					 fusable);
			}
		staged = ps.n > 1 || !ps.s[0].last || ps.s[0].r.tok0;
		st.passes++;
		st.staged += staged;
		st.fused += ps.n > 1;
		for (uint32_t i = 0; i < ps.n; i++)
			st.chunked += !ps.s[i].last || ps.s[i].r.tok0;
		if (verbose)
			fprintf(stderr, "pass: %u slices, %u tokens, staged %d\n", ps.n, ps.n_tokens, staged);
		if (staged) {
			run_pass(&P, &ps, out_t, n_out_t, stage);
		} else {
			/* the job's own lowering, straight into its memory */
			struct kllm_prog_job pj;

			if (kllm_prog_job_init(&pj, &pi, &ps.s[0].job->bind, &ps.s[0].job->b,
					       ps.s[0].job->seqs, &err))
				FAIL("accepted job refused on its second init");
			reset_act(&P);
			run_job(&pj, "unstaged pass");
		}
		for (uint32_t i = 0; i < ps.n; i++) {
			struct slice *sl = &ps.s[i];

			sl->job->tok_done += sl->r.ntok;
			if (sl->last && sl->job->tok_done != sl->job->b.n_tokens)
				FAIL("last slice does not finish its job");
			if (sl->job->tok_done >= sl->job->b.n_tokens)
				n_ok--;
		}
	}

	/* invariant 4: bitwise equal to the whole runs (paged: unless jobs
	 * share blocks, when order between them matters) */
	aliased = pi.paged && group_aliased(&P, jobs, n_jobs);
	st.aliased += aliased;
	for (uint32_t k = 0; k < n_jobs; k++) {
		struct job *j = &jobs[k];

		if (j->ok && sane && run_kernels && !aliased) {
			st.compared++;
			for (uint32_t id = 0; id < pi.n_buffers; id++)
				if (P.b[id].kind == KLLM_PROG_BUF_OUTPUT)
					cmp_mem(&j->buf[id], &j->buf_whole[id], "OUTPUT buffer", k, id);
			for (uint32_t i = 0; i < j->b.n_seqs * pi.n_kv; i++)
				cmp_mem(&j->kv[i], &j->kv_whole[i], "KV binding", k, i);
			if (pi.paged)
				paged_cmp(&P, j, k);
			st.paged_compared += pi.paged;
		}
		if (pi.paged)
			paged_free(&P, j);
		job_free(&pi, j);
	}
	for (uint32_t id = 0; id < pi.n_buffers; id++) {
		free(stage[id].base);
		if (P.b[id].kind == KLLM_PROG_BUF_WEIGHTS ||
		    P.b[id].kind == KLLM_PROG_BUF_ACTIVATIONS) {
			free(P.mem[id].base);
			free(P.act_init[id].base);
		}
	}
	for (uint32_t i = 0; i < 2; i++)
		free(P.pool[i].base);
	free(P.scratch);
	free(img);
	return 0;
}
