// SPDX-License-Identifier: MIT
/*
 * kernels.c - `kllm-bench kernels`: matvec bandwidth and matmul throughput
 * of each weight format over a model's real matrix shapes, next to the
 * machine's read bandwidth, all through kk_op_exec on the runtime's pool.
 *
 *   matvec: m = 1 over every matrix of every layer in turn, so the weights
 *           stream from DRAM as in a decode; GB/s of weight bytes.
 *   matmul: m = 64 (a prefill batch) over one layer's matrices; GFLOP/s
 *           counting 2*k*n_out*m per matmul.
 *   read_bw: a vector sum over a buffer much larger than the caches.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_LIST 16
#define MATMUL_M 64

struct kopts {
	const struct bench_shape *shape;
	int types[MAX_LIST], n_types;
	int threads[MAX_LIST], n_threads;
	int simds[KK_SIMD_COUNT], n_simds;
	int reps;
	int fmt;			/* enum bench_fmt */
	uint32_t layers;		/* layers streamed by matvec */
	uint64_t bw_bytes;
};

struct kresult {
	uint32_t type, simd, threads;
	double matvec_gbps, matmul_gflops, read_bw_gbps;
	uint64_t weight_bytes;
};

/* One matrix of the weight set. */
struct kmat {
	const uint8_t *w;
	uint64_t row_bytes;
	uint32_t n_out, k;
};

struct kweights {
	uint32_t type;
	uint8_t *base;
	uint64_t bytes;
	uint32_t n_mats;
	struct kmat *mats;		/* layers * MAT_COUNT, decode order */
};

void bench_kernels_usage(void)
{
	printf("usage: kllm-bench kernels [--shape %s] [--types q4_0,q8_0,...]\n"
	       "                          [-t T,...] [--simd avx2,...] [-r N] [--layers N]\n"
	       "                          [--bw-mib N] [-o md|csv|json|jsonl|sql]\n"
	       "  Matvec GB/s (m=1 over all layers' matrices), matmul GFLOP/s (m=%d over\n"
	       "  one layer) per weight format and thread count, with the machine's read\n"
	       "  bandwidth.\n"
	       "  --shape S           model shape (default 1.1b)\n"
	       "  --types T,...       weight formats (default: every one; no f32/f16/bf16\n"
	       "                      for 7b)\n"
	       "  -t, --threads T,... thread counts (default: every CPU)\n"
	       "  --simd P,...        SIMD paths (default: the selected one, env KLLM_SIMD)\n"
	       "  -r, --reps N        best of N passes (default 3)\n"
	       "  --layers N          layers streamed by matvec (default: all of the shape)\n"
	       "  --bw-mib N          read bandwidth buffer, MiB (default 1024)\n"
	       "  -o, --output F      md (default), csv, json, jsonl or sql; --json is -o json.\n"
	       "                      Rows: format, threads, matvec_gbps, matmul_gflops,\n"
	       "                      read_bw_gbps, simd, ratio, shape, layers, weight_bytes.\n"
	       "  -h, --help          this help\n"
	       "Progress goes to stderr.\n",
	       bench_shape_names(), MATMUL_M);
}

/* ------------------------------------------------------------ weights */

static int type_fits_shape(uint32_t type, const struct bench_shape *s)
{
	for (int m = 0; m < MAT_COUNT; m++) {
		uint32_t n_out, k;

		bench_mat_dims(s, m, &n_out, &k);
		if (!kk_row_bytes(type, k))
			return 0;
	}
	return 1;
}

static uint64_t round_up64(uint64_t x)
{
	return (x + 63) & ~(uint64_t)63;
}

static uint64_t weights_bytes(uint32_t type, const struct bench_shape *s, uint32_t layers)
{
	uint64_t total = 0;

	for (int m = 0; m < MAT_COUNT; m++) {
		uint32_t n_out, k;

		bench_mat_dims(s, m, &n_out, &k);
		total += round_up64(kk_row_bytes(type, k) * n_out);
	}
	return total * layers;
}

static void weights_build(struct kweights *ws, uint32_t type, const struct bench_shape *s,
			  uint32_t layers, struct kllm_pool *pool)
{
	uint64_t off = 0;

	ws->type = type;
	ws->bytes = weights_bytes(type, s, layers);
	ws->base = bench_alloc(ws->bytes);
	ws->n_mats = layers * MAT_COUNT;
	ws->mats = bench_alloc(ws->n_mats * sizeof(*ws->mats));
	for (uint32_t l = 0; l < layers; l++) {
		for (int m = 0; m < MAT_COUNT; m++) {
			struct kmat *km = &ws->mats[l * MAT_COUNT + m];

			bench_mat_dims(s, m, &km->n_out, &km->k);
			km->row_bytes = kk_row_bytes(type, km->k);
			km->w = ws->base + off;
			bench_fill_weights(pool, type, ws->base + off, km->row_bytes, km->k,
					   km->n_out, (uint64_t)l * MAT_COUNT + m);
			off += round_up64(km->row_bytes * km->n_out);
		}
	}
}

static void weights_free(struct kweights *ws)
{
	free(ws->base);
	free(ws->mats);
	memset(ws, 0, sizeof(*ws));
}

/* ------------------------------------------------------------ ops */

/* Buffers shared by every op of a run: x, y, scratch sized for the largest. */
struct kbufs {
	float *x, *y;
	void *scratch;
	uint64_t scratch_bytes;
	uint32_t max_k, max_n;
};

static void mm_op(struct kk_op *op, const struct kmat *km, uint32_t type, uint32_t m,
		  const struct kbufs *b)
{
	memset(op, 0, sizeof(*op));
	op->kind = KK_OP_MATMUL;
	op->matmul = (struct kk_matmul){
		.w = km->w, .w_row_bytes = km->row_bytes, .w_type = type,
		.k = km->k, .n_out = km->n_out, .m = m,
		.x = b->x, .x_stride = km->k, .y = b->y, .y_stride = km->n_out,
	};
	op->scratch = b->scratch;
}

static void bufs_init(struct kbufs *b, const struct kweights *ws, uint32_t m)
{
	struct kk_op op;

	memset(b, 0, sizeof(*b));
	for (uint32_t i = 0; i < MAT_COUNT && i < ws->n_mats; i++) {
		if (ws->mats[i].k > b->max_k)
			b->max_k = ws->mats[i].k;
		if (ws->mats[i].n_out > b->max_n)
			b->max_n = ws->mats[i].n_out;
	}
	b->x = bench_alloc((size_t)m * b->max_k * sizeof(float));
	b->y = bench_alloc((size_t)m * b->max_n * sizeof(float));
	for (uint64_t i = 0; i < (uint64_t)m * b->max_k; i++)
		b->x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
	for (uint32_t i = 0; i < MAT_COUNT && i < ws->n_mats; i++) {
		uint64_t ss;

		mm_op(&op, &ws->mats[i], ws->type, m, b);
		ss = kk_op_scratch_size(&op);
		if (ss > b->scratch_bytes)
			b->scratch_bytes = ss;
	}
	b->scratch = bench_alloc(b->scratch_bytes);
}

static void bufs_free(struct kbufs *b)
{
	free(b->x);
	free(b->y);
	free(b->scratch);
}

/* Run matrices [0, n_mats) with m columns once; seconds, or -1 on error. */
static double run_pass(const struct kk_host *host, const struct kweights *ws,
		       uint32_t n_mats, uint32_t m, const struct kbufs *b)
{
	double t = bench_now();

	for (uint32_t i = 0; i < n_mats; i++) {
		struct kk_op op;
		int rc;

		mm_op(&op, &ws->mats[i], ws->type, m, b);
		rc = kk_op_exec(host, &op);
		if (rc) {
			fprintf(stderr, "kllm-bench: matmul %s %ux%u m=%u: error %d\n",
				bench_type_label(ws->type), op.matmul.n_out, op.matmul.k, m, rc);
			return -1;
		}
	}
	return bench_now() - t;
}

/*
 * Best of reps passes after one warm-up.  A slow format (a scalar fallback)
 * stops repeating once PASS_BUDGET_S is spent; a warm-up that alone takes
 * that long is the measurement.
 */
#define PASS_BUDGET_S 3.0

static double best_pass(const struct kk_host *host, const struct kweights *ws,
			uint32_t n_mats, uint32_t m, const struct kbufs *b, int reps)
{
	double best = 1e30, spent = 0;

	for (int r = 0; r <= reps; r++) {
		double t = run_pass(host, ws, n_mats, m, b);

		if (t < 0)
			return -1;
		spent += t;
		if ((r || spent >= PASS_BUDGET_S) && t < best)
			best = t;
		if (spent >= PASS_BUDGET_S && best < 1e30)
			break;
	}
	return best;
}

static int measure(struct kresult *res, const struct kweights *ws, struct kllm_pool *pool,
		   int reps)
{
	struct kk_host host = kllm_pool_host(pool);
	struct kbufs b;
	double t, flops = 0;

	bufs_init(&b, ws, 1);
	t = best_pass(&host, ws, ws->n_mats, 1, &b, reps);
	bufs_free(&b);
	if (t < 0)
		return -1;
	res->matvec_gbps = (double)ws->bytes / t / 1e9;

	bufs_init(&b, ws, MATMUL_M);
	t = best_pass(&host, ws, MAT_COUNT, MATMUL_M, &b, reps);
	bufs_free(&b);
	if (t < 0)
		return -1;
	for (int i = 0; i < MAT_COUNT; i++)
		flops += 2.0 * ws->mats[i].k * ws->mats[i].n_out * MATMUL_M;
	res->matmul_gflops = flops / t / 1e9;
	return 0;
}

/* ------------------------------------------------------------ output */

static void print_table(const struct kopts *o, const struct kresult *r, int n)
{
	printf("kllm-bench kernels: shape %s (%s), %u layers, matmul m=%d, best of %d\n",
	       o->shape->name, o->shape->model, o->layers, MATMUL_M, o->reps);
	printf("%-6s %-8s %7s %10s %11s %13s %12s %6s\n", "format", "simd", "threads",
	       "weights", "matvec", "matmul", "read_bw", "ratio");
	for (int i = 0; i < n; i++)
		printf("%-6s %-8s %7u %6.0f MiB %6.1f GB/s %7.1f GFLOP/s %7.1f GB/s %6.2f\n",
		       bench_type_label(r[i].type), kk_simd_name(r[i].simd), r[i].threads,
		       (double)r[i].weight_bytes / (1 << 20), r[i].matvec_gbps,
		       r[i].matmul_gflops, r[i].read_bw_gbps,
		       r[i].matvec_gbps / r[i].read_bw_gbps);
}

static void print_rows(const struct kopts *o, const struct kresult *r, int n)
{
	struct bench_rows rows;

	bench_rows_begin(&rows, o->fmt, "kernels");
	for (int i = 0; i < n; i++) {
		bench_row_str(&rows, "format", bench_type_label(r[i].type));
		bench_row_int(&rows, "threads", r[i].threads);
		bench_row_num(&rows, "matvec_gbps", r[i].matvec_gbps, 3);
		bench_row_num(&rows, "matmul_gflops", r[i].matmul_gflops, 3);
		bench_row_num(&rows, "read_bw_gbps", r[i].read_bw_gbps, 3);
		bench_row_str(&rows, "simd", kk_simd_name(r[i].simd));
		bench_row_num(&rows, "ratio", r[i].matvec_gbps / r[i].read_bw_gbps, 4);
		bench_row_str(&rows, "shape", o->shape->name);
		bench_row_int(&rows, "layers", o->layers);
		bench_row_int(&rows, "weight_bytes", (long long)r[i].weight_bytes);
		bench_row_end(&rows);
	}
	bench_rows_end(&rows);
}

/* ------------------------------------------------------------ options */

static int parse_type(const char *s)
{
	return bench_type_parse(s);
}

static int parse_threads(const char *s)
{
	int v = bench_parse_uint(s);

	return v >= 1 && v <= KLLM_POOL_MAX_THREADS ? v : -1;
}

static int parse_simd(const char *s)
{
	return kllm_cpu_parse_simd(s);
}

static void default_types(struct kopts *o)
{
	static const uint32_t all[] = {
		KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q8_0, KK_TYPE_Q4_0,
		KK_TYPE_Q4_1, KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
		KK_TYPE_Q6_K,
	};
	int big = o->shape->d_model >= 4096;

	o->n_types = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		/* 7B in f32/f16 is 13-27 GB: only on request. */
		if (big && (all[i] == KK_TYPE_F32 || all[i] == KK_TYPE_F16 ||
			    all[i] == KK_TYPE_BF16))
			continue;
		o->types[o->n_types++] = (int)all[i];
	}
}

/* 0, 1 after -h (usage printed), -1 after a one-line message. */
static int parse_opts(struct kopts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "shape", required_argument, NULL, 's' },
		{ "types", required_argument, NULL, 'T' },
		{ "threads", required_argument, NULL, 't' },
		{ "simd", required_argument, NULL, 'S' },
		{ "reps", required_argument, NULL, 'r' },
		{ "layers", required_argument, NULL, 'l' },
		{ "bw-mib", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, v, layers = 0;
	char bad[64];

	memset(o, 0, sizeof(*o));
	o->shape = bench_shape_find("1.1b");
	o->threads[0] = bench_default_threads();
	o->n_threads = 1;
	o->reps = 3;
	o->fmt = BENCH_FMT_MD;
	o->bw_bytes = 1024ull << 20;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:r:o:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			bench_kernels_usage();
			return 1;
		case 'j':
			o->fmt = BENCH_FMT_JSON;
			break;
		case 'o':
			if (bench_fmt_opt(optarg, BENCH_FMTS_ALL, "kernels", &o->fmt))
				return -1;
			break;
		case 's':
			o->shape = bench_shape_find(optarg);
			if (!o->shape) {
				fprintf(stderr, "kllm-bench kernels: unknown shape %s (%s)\n",
					optarg, bench_shape_names());
				return -1;
			}
			break;
		case 'T':
			o->n_types = bench_parse_list(optarg, parse_type, o->types, MAX_LIST,
						     "kernels", "--types", "the weight types");
			if (o->n_types < 0)
				return -1;
			break;
		case 't':
			o->n_threads = bench_parse_list(optarg, parse_threads, o->threads, MAX_LIST,
						       "kernels", "-t", "1..512");
			if (o->n_threads < 0)
				return -1;
			break;
		case 'S':
			o->n_simds = bench_parse_list_quiet(optarg, parse_simd, o->simds,
							    KK_SIMD_COUNT, bad, sizeof(bad));
			if (o->n_simds < 0) {
				fprintf(stderr, "kllm-bench kernels: bad value '%s' for "
					"--simd (%s)\n", bad, kllm_cpu_parse_simd(bad) == -ENOTSUP ?
					"not available on this CPU" : "unknown SIMD path");
				return -1;
			}
			break;
		case 'r':
		case 'l':
		case 'b':
			v = bench_parse_uint(optarg);
			if (v < 1) {
				fprintf(stderr, "kllm-bench kernels: --%s wants a positive "
					"number\n", c == 'r' ? "reps" : c == 'l' ? "layers" : "bw-mib");
				return -1;
			}
			if (c == 'r')
				o->reps = v;
			else if (c == 'l')
				layers = v;
			else
				o->bw_bytes = (uint64_t)v << 20;
			break;
		default:	/* '?', ':' */
			return bench_opt_error("kernels", c, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kllm-bench kernels: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->n_types)
		default_types(o);
	if (!o->n_simds) {
		o->simds[0] = (int)kllm_cpu_init();
		o->n_simds = 1;
	}
	o->layers = layers && (uint32_t)layers < o->shape->n_layer ? (uint32_t)layers :
								       o->shape->n_layer;
	return 0;
}

/* ------------------------------------------------------------ main */

/* Read bandwidth per thread count, measured once up front. */
static void measure_bw(const struct kopts *o, struct kllm_pool **pools, double *bw)
{
	uint8_t *buf;

	bench_progress("read bandwidth: %llu MiB buffer...", (unsigned long long)(o->bw_bytes >> 20));
	buf = bench_alloc(o->bw_bytes);
	memset(buf, 1, o->bw_bytes);
	for (int t = 0; t < o->n_threads; t++) {
		bw[t] = bench_read_bw(pools[t], buf, o->bw_bytes, o->reps < 3 ? 3 : o->reps);
		bench_progress(" %d thr %.1f GB/s", o->threads[t], bw[t]);
	}
	bench_progress("\n");
	free(buf);
}

static int bench_type(const struct kopts *o, uint32_t type, struct kllm_pool **pools,
		      struct kllm_pool *fill_pool, const double *bw, struct kresult *res, int *n)
{
	struct kweights ws;
	uint64_t need = weights_bytes(type, o->shape, o->layers), avail = bench_mem_available();
	double t;

	if (!type_fits_shape(type, o->shape)) {
		bench_progress("%s: skipped: a dimension of %s is not a multiple of its block\n",
			       bench_type_label(type), o->shape->name);
		return 0;
	}
	if (avail && need > avail / 10 * 8) {
		bench_progress("%s: skipped: %llu MiB of weights, %llu MiB available\n",
			       bench_type_label(type), (unsigned long long)(need >> 20),
			       (unsigned long long)(avail >> 20));
		return 0;
	}
	bench_progress("%s: building %llu MiB of weights...", bench_type_label(type),
		       (unsigned long long)(need >> 20));
	t = bench_now();
	weights_build(&ws, type, o->shape, o->layers, fill_pool);
	bench_progress(" %.1f s\n", bench_now() - t);
	for (int s = 0; s < o->n_simds; s++) {
		kllm_cpu_select((kk_u32)o->simds[s]);
		for (int th = 0; th < o->n_threads; th++) {
			struct kresult *r = &res[*n];

			memset(r, 0, sizeof(*r));
			r->type = type;
			r->simd = (uint32_t)o->simds[s];
			r->threads = (uint32_t)o->threads[th];
			r->read_bw_gbps = bw[th];
			r->weight_bytes = ws.bytes;
			bench_progress("  %s %d thr: ", kk_simd_name(r->simd), o->threads[th]);
			if (measure(r, &ws, pools[th], o->reps)) {
				weights_free(&ws);
				return -1;
			}
			bench_progress("matvec %.1f GB/s (%.2f of read bw), matmul %.1f GFLOP/s\n",
				       r->matvec_gbps, r->matvec_gbps / r->read_bw_gbps,
				       r->matmul_gflops);
			(*n)++;
		}
	}
	weights_free(&ws);
	return 0;
}

int bench_kernels_main(int argc, char **argv)
{
	struct kllm_pool *pools[MAX_LIST] = { 0 }, *fill_pool;
	double bw[MAX_LIST];
	struct kresult *res;
	struct kopts o;
	int n = 0, rc = 0, t;

	kllm_cpu_init();
	rc = parse_opts(&o, argc, argv);
	if (rc)
		return rc > 0 ? 0 : 2;
	for (t = 0; t < o.n_threads; t++) {
		rc = kllm_pool_create((unsigned int)o.threads[t], &pools[t]);
		if (rc) {
			fprintf(stderr, "kllm-bench: pool of %d threads: %s\n", o.threads[t],
				strerror(-rc));
			rc = 1;
			goto out;
		}
	}
	fill_pool = pools[0];
	for (t = 1; t < o.n_threads; t++)
		if (o.threads[t] > o.threads[0])
			fill_pool = pools[t];
	bench_progress("kllm-bench kernels: shape %s (%s), %u layers, simd",
		       o.shape->name, o.shape->model, o.layers);
	for (t = 0; t < o.n_simds; t++)
		bench_progress(" %s", kk_simd_name((kk_u32)o.simds[t]));
	bench_progress("\n");
	measure_bw(&o, pools, bw);
	res = bench_alloc(sizeof(*res) * (size_t)o.n_types * o.n_threads * o.n_simds);
	for (int i = 0; i < o.n_types && !rc; i++)
		rc = bench_type(&o, (uint32_t)o.types[i], pools, fill_pool, bw, res, &n) ? 1 : 0;
	if (o.fmt == BENCH_FMT_MD)
		print_table(&o, res, n);
	else
		print_rows(&o, res, n);
	free(res);
out:
	for (t = 0; t < o.n_threads; t++)
		kllm_pool_destroy(pools[t]);
	return rc;
}
