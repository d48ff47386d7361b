// SPDX-License-Identifier: MIT
/*
 * mm_ab.c - one process, two versions of the x86 matmul kernels:
 * tests/scripts/mm-ab.sh builds kernels/kk_mm_avx2.c (or, with
 * MM_AB_SIMD=avx512vnni, kk_mm_avx512vnni.c) of two trees into
 * this program (mm_ab_a_* and mm_ab_b_*, see MM_AB_SIDE below), which
 * times both on the same matrices, alternating, and keeps each one's
 * fastest of many trials: a ratio a noisy shared host cannot move much.
 * It also says whether the two give the same bits and whether each one's
 * matmul columns equal its matvecs.
 */
#ifdef MM_AB_SIDE
/*
 * One side's row size; its kernels are that tree's kernels/kk_mm_avx2.c
 * (or kk_mm_avx512vnni.c), built with its init function renamed to
 * MM_AB_SIDE##init.
 */
#include "kk_impl_mm.h"

#define MM_AB_CAT2(a, b) a##b
#define MM_AB_CAT(a, b) MM_AB_CAT2(a, b)

kk_u64 MM_AB_CAT(MM_AB_SIDE, xq_bytes)(kk_u32 type, kk_u32 k);

kk_u64 MM_AB_CAT(MM_AB_SIDE, xq_bytes)(kk_u32 type, kk_u32 k)
{
	return kk_mm_xq_bytes(type, k);
}
#else
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kk_impl.h"
#include "kk_fp.h"

void mm_ab_a_init(struct kk_mm_impl *mm, kk_u32 cpu_flags);
void mm_ab_b_init(struct kk_mm_impl *mm, kk_u32 cpu_flags);
kk_u64 mm_ab_a_xq_bytes(kk_u32 type, kk_u32 k);
kk_u64 mm_ab_b_xq_bytes(kk_u32 type, kk_u32 k);

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static unsigned long long rs = 88172645463325252ull;

static unsigned int r32(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (unsigned int)rs;
}

/* Random quants, sane f16 scales (d, and Q4_1's m) in every block. */
static void fill_weights(kk_u32 type, kk_u8 *w, kk_u64 bytes, kk_u32 bb)
{
	for (kk_u64 i = 0; i < bytes; i++)
		w[i] = (kk_u8)r32();
	for (kk_u64 o = 0; o + bb <= bytes; o += bb) {
		kk_u16 d = kk_f32_to_f16(0.002f * (1 + r32() % 100) / 100.0f);

		/* Q6_K keeps its d last */
		memcpy(w + o + (type == KK_TYPE_Q6_K ? bb - 2 : 0), &d, 2);
		if (type == KK_TYPE_Q4_1 || type == KK_TYPE_Q4_K) {
			kk_u16 m = kk_f32_to_f16(-0.01f * (r32() % 100) / 100.0f);

			memcpy(w + o + 2, &m, 2);
		}
	}
}

struct side {
	struct kk_mm_impl mm;
	kk_u64 xq_bytes;
	kk_u8 *xq;
	float *y, *y1;
};

static double best_time(const struct side *s, kk_u32 type, const struct kk_mm_tile *t0,
			int reps)
{
	struct kk_mm_tile t = *t0;
	double t1 = now();

	t.xq = s->xq;
	t.xq_row_bytes = s->xq_bytes;
	/* as kk_matmul.c hands them out: 16 rows, every column */
	for (int i = 0; i < reps; i++) {
		for (kk_u32 r = 0; r < t0->nr; r += 16) {
			t.nr = t0->nr - r < 16 ? t0->nr - r : 16;
			t.w = (const kk_u8 *)t0->w + r * t0->w_row_bytes;
			t.y = s->y + r;
			s->mm.gemm[type](&t);
		}
	}
	return (now() - t1) / reps;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; kk_u32 type; } types[] = {
		{ "q4_0", KK_TYPE_Q4_0 }, { "q4_1", KK_TYPE_Q4_1 },
		{ "q5_0", KK_TYPE_Q5_0 }, { "q8_0", KK_TYPE_Q8_0 },
		{ "q4_K", KK_TYPE_Q4_K }, { "q6_K", KK_TYPE_Q6_K },
	};
	const kk_u32 k = argc > 2 ? (kk_u32)atoi(argv[2]) : 2048;
	const kk_u32 rows = argc > 3 ? (kk_u32)atoi(argv[3]) : 1024;
	const kk_u32 cols = getenv("MM_AB_COLS") ? (kk_u32)atoi(getenv("MM_AB_COLS")) : 16;
	kk_u32 type = 0;
	struct side s[2];
	kk_u64 row_bytes;
	kk_u8 *w;
	float *x;

	for (kk_u32 i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (argc > 1 && !strcmp(argv[1], types[i].name))
			type = types[i].type;
	if (!type || k % kk_type_block_elems(type)) {
		fprintf(stderr, "usage: mm_ab q4_0|q4_1|q5_0|q8_0|q4_K|q6_K [K (a multiple "
			"of the block: 32, 256 for K-quants)] [ROWS]\n");
		return 2;
	}
	row_bytes = kk_row_bytes(type, k);
	w = aligned_alloc(64, (row_bytes * rows + 63) & ~63ull);
	x = malloc(sizeof(float) * k * cols);
	fill_weights(type, w, row_bytes * rows,
		     (kk_u32)(row_bytes / (k / kk_type_block_elems(type))));
	for (kk_u32 i = 0; i < k * cols; i++)
		x[i] = (float)((int)(r32() % 2001) - 1000) / 1000.0f;
	memset(s, 0, sizeof(s));
	mm_ab_a_init(&s[0].mm, 0);
	mm_ab_b_init(&s[1].mm, 0);
	s[0].xq_bytes = mm_ab_a_xq_bytes(type, k);
	s[1].xq_bytes = mm_ab_b_xq_bytes(type, k);
	for (int v = 0; v < 2; v++) {
		s[v].xq = aligned_alloc(64, s[v].xq_bytes * cols);
		s[v].y = malloc(sizeof(float) * rows * cols);
		s[v].y1 = malloc(sizeof(float) * rows * cols);
		for (kk_u32 c = 0; c < cols; c++)
			s[v].mm.quant[type](x + c * k, s[v].xq + c * s[v].xq_bytes, k);
	}
	for (kk_u32 nc = 1; nc <= cols; nc += cols - 1) {
		struct kk_mm_tile t = { .w = w, .w_row_bytes = row_bytes, .y_stride = rows,
					.k = k, .nr = rows, .nc = nc };
		const int reps = nc == 1 ? 10 : 2;
		double best[2] = { 1e9, 1e9 };

		for (int trial = 0; trial < 60; trial++) {
			for (int v = 0; v < 2; v++) {
				double dt = best_time(&s[v], type, &t, reps);

				if (dt < best[v])
					best[v] = dt;
			}
		}
		printf("%s k %u rows %u %s %u: a %.1f us, b %.1f us, a/b %.3f, same bits %s\n",
		       argv[1], k, rows, nc == 1 ? "matvec" : "matmul", nc,
		       best[0] * 1e6, best[1] * 1e6, best[0] / best[1],
		       memcmp(s[0].y, s[1].y, sizeof(float) * rows * nc) ? "no" : "yes");
	}
	/* each side's matmul columns against its own matvecs */
	for (int v = 0; v < 2; v++) {
		for (kk_u32 c = 0; c < cols; c++) {
			struct kk_mm_tile t = { .w = w, .w_row_bytes = row_bytes,
						.xq = s[v].xq + c * s[v].xq_bytes,
						.xq_row_bytes = s[v].xq_bytes,
						.y = s[v].y1 + (kk_u64)c * rows, .y_stride = rows,
						.k = k, .nr = rows, .nc = 1 };

			s[v].mm.gemm[type](&t);
		}
		printf("%s: matmul columns %s its matvecs\n", v ? "b" : "a",
		       memcmp(s[v].y, s[v].y1, sizeof(float) * rows * cols) ? "DIFFER from" :
									     "equal");
	}
	return 0;
}
#endif
