// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_mm_i8mm.c - matmul kernels for aarch64 with SMMLA (armv8.6 i8mm): the
 * 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) in tiles of four
 * weight rows by four columns (two by two at a tail), for prompt
 * processing.  Runs on top of the dotprod table (kk_simd_table.c calls
 * kk_mm_init_neon and kk_mm_init_dotprod first), which keeps everything
 * else; a lone column (a matvec, a tile's odd column) takes the dotprod
 * kernel itself.  FPU unit.
 *
 * Every y element is bitwise the dotprod path's, so a column of a matmul
 * equals the matvec of that column on either path:
 *  - vmmlaq_s32 multiplies a 2x8 int8 matrix (8 elements of rows a and b)
 *    by an 8x2 one (columns c and d), adding the four int32 dots to
 *    [a.c, a.d, b.c, b.d]; four steps make a block's exact integer dots,
 *    equal to SDOT's in any order;
 *  - each lane then runs ka_block_f, the reference's float step, with its
 *    own row's scales and its own column's, in block order, as the dotprod
 *    path's lanes do.  The activation scales are converted with FCVT (as
 *    the weight scales are on both paths): for every f16 input, NaNs too,
 *    the bits of kk_f16_to_f32.
 * Tail rows repeat the last row, as in kk_mm_arm.h; the spare lanes are
 * dropped.
 */
#if defined(__aarch64__)
#define KA_DOTPROD 1
#include "kk_mm_arm.h"

/* Step s (elements 8s..8s+7) of rows a and b: SMMLA's 2x8 operand. */
KA_INLINE int8x16_t ka_pair(int8x16_t a, int8x16_t b, int hi)
{
	const int64x2_t x = vreinterpretq_s64_s8(a), y = vreinterpretq_s64_s8(b);

	return vreinterpretq_s8_s64(hi ? vzip2q_s64(x, y) : vzip1q_s64(x, y));
}

/* A block of two rows (elements 0-15 in [0], 16-31 in [1]) as four steps. */
KA_INLINE void ka_pairs(const int8x16_t a[2], const int8x16_t b[2], int8x16_t p[4])
{
	p[0] = ka_pair(a[0], b[0], 0);
	p[1] = ka_pair(a[0], b[0], 1);
	p[2] = ka_pair(a[1], b[1], 0);
	p[3] = ka_pair(a[1], b[1], 1);
}

/* [a.c, a.d, b.c, b.d]: four exact block dots of rows a, b, columns c, d. */
KA_INLINE int32x4_t ka_mmla32(const int8x16_t w[4], const int8x16_t x[4])
{
	int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), w[0], x[0]);

	s = vmmlaq_s32(s, w[1], x[1]);
	s = vmmlaq_s32(s, w[2], x[2]);
	return vmmlaq_s32(s, w[3], x[3]);
}

/* [v0, v0, v1, v1] and [v2, v2, v3, v3]: a row pair's value per lane. */
KA_INLINE void ka_rows_lanes(float32x4_t v, float32x4_t out[2])
{
	out[0] = vzip1q_f32(v, v);
	out[1] = vzip2q_f32(v, v);
}

/* [v0, v1, v0, v1] and [v2, v3, v2, v3]: a column pair's value per lane. */
KA_INLINE void ka_cols_lanes(float32x4_t v, float32x4_t out[2])
{
	out[0] = vcombine_f32(vget_low_f32(v), vget_low_f32(v));
	out[1] = vcombine_f32(vget_high_f32(v), vget_high_f32(v));
}

/*
 * Four weight rows by 2 * CP columns (x[c]: column c's quantized row, read
 * for c < 2 * CP only) over nb blocks.  sumf[p][q] holds rows 2p, 2p + 1
 * by columns 2q, 2q + 1 as [2p.2q, 2p.2q+1, 2p+1.2q, 2p+1.2q+1].
 */
KA_INLINE void ka_mm_rows4(int type, int CP, const kk_u8 *const w[4],
			   const kk_u8 *const x[4], kk_u32 nb, float32x4_t sumf[2][2])
{
	const kk_u32 wb = ka_wbytes(type), xb = ka_xbytes(type);
	const kk_u32 xqs = ka_has_min(type) ? 4 : 2;

	KA_UNROLL
	for (int p = 0; p < 2; p++)
		KA_UNROLL
		for (int q = 0; q < CP; q++)
			sumf[p][q] = vdupq_n_f32(0.0f);
	for (kk_u32 ib = 0; ib < nb; ib++) {
		int8x16_t wr[4][2], xr[4][2], wp[2][4], xp[2][4];
		kk_u16 d[4], m[4], e[4], s[4];
		float32x4_t dx[2], mx[2], dy[2], sy[2];

		KA_UNROLL
		for (int r = 0; r < 4; r++) {
			const kk_u8 *blk = w[r] + (kk_u64)ib * wb;

			ka_decode(type, blk, &wr[r][0], &wr[r][1]);
			d[r] = ka_ld16(blk);
			m[r] = ka_has_min(type) ? ka_ld16(blk + 2) : 0;
		}
		KA_UNROLL
		for (int c = 0; c < 2 * CP; c++) {
			const kk_u8 *xblk = x[c] + (kk_u64)ib * xb;

			xr[c][0] = vld1q_s8((const kk_i8 *)(xblk + xqs));
			xr[c][1] = vld1q_s8((const kk_i8 *)(xblk + xqs + 16));
			e[c] = ka_ld16(xblk);
			s[c] = ka_has_min(type) ? ka_ld16(xblk + 2) : 0;
		}
		KA_UNROLL
		for (int c = 2 * CP; c < 4; c++) {	/* unused lanes */
			e[c] = e[c - 2];
			s[c] = s[c - 2];
		}
		ka_rows_lanes(ka_f16x4(d), dx);
		ka_cols_lanes(ka_f16x4(e), dy);
		mx[0] = mx[1] = sy[0] = sy[1] = vdupq_n_f32(0.0f);
		if (ka_has_min(type)) {
			ka_rows_lanes(ka_f16x4(m), mx);
			ka_cols_lanes(ka_f16x4(s), sy);
		}
		ka_pairs(wr[0], wr[1], wp[0]);
		ka_pairs(wr[2], wr[3], wp[1]);
		KA_UNROLL
		for (int q = 0; q < CP; q++)
			ka_pairs(xr[2 * q], xr[2 * q + 1], xp[q]);
		KA_UNROLL
		for (int p = 0; p < 2; p++)
			KA_UNROLL
			for (int q = 0; q < CP; q++)
				sumf[p][q] = ka_block_f(type, sumf[p][q],
							ka_mmla32(wp[p], xp[q]),
							dx[p], dy[q], mx[p], sy[q]);
	}
}

/* Rows [0, n) of columns [0, 2 * CP) of a ka_mm_rows4 result into y. */
KA_INLINE void ka_mm_store(const struct kk_mm_tile *t, float *y, kk_u32 n, int CP,
			   float32x4_t sumf[2][2])
{
	float out[4];

	for (int p = 0; p < 2; p++)
		for (int q = 0; q < CP; q++) {
			vst1q_f32(out, sumf[p][q]);
			for (kk_u32 i = 0; i < 2; i++) {
				const kk_u32 r = 2 * (kk_u32)p + i;

				if (r >= n)
					break;
				for (kk_u32 j = 0; j < 2; j++)
					ka_store(t, y + (2 * (kk_u32)q + j) * t->y_stride + r,
						 out[2 * i + j]);
			}
		}
}

/* A tile: four rows at a time by four columns, then two, then one. */
KA_INLINE void ka_mm_tile32(int type, const struct kk_mm_tile *t)
{
	const kk_u32 nb = t->k / 32;

	for (kk_u32 r = 0; r < t->nr; r += 4) {
		const kk_u32 n = t->nr - r < 4 ? t->nr - r : 4;
		const kk_u8 *w[4];
		kk_u32 c = 0;

		for (kk_u32 i = 0; i < 4; i++)
			w[i] = (const kk_u8 *)t->w +
			       (kk_u64)(r + (i < n ? i : n - 1)) * t->w_row_bytes;
		while (c < t->nc) {
			const kk_u8 *xq = (const kk_u8 *)t->xq + (kk_u64)c * t->xq_row_bytes;
			float *y = t->y + (kk_u64)c * t->y_stride + r;
			const kk_u8 *x[4];
			float32x4_t sumf[2][2];

			for (int j = 0; j < 4; j++)
				x[j] = xq + (kk_u64)j * t->xq_row_bytes;
			if (t->nc - c >= 4) {
				ka_mm_rows4(type, 2, w, x, nb, sumf);
				ka_mm_store(t, y, n, 2, sumf);
				c += 4;
			} else if (t->nc - c >= 2) {
				ka_mm_rows4(type, 1, w, x, nb, sumf);
				ka_mm_store(t, y, n, 1, sumf);
				c += 2;
			} else {
				float32x4_t v[2];
				float out[4];

				ka_rows4(type, 1, w, xq, t->xq_row_bytes, nb, v);
				vst1q_f32(out, v[0]);
				for (kk_u32 i = 0; i < n; i++)
					ka_store(t, y + i, out[i]);
				c++;
			}
		}
	}
}

KA_GEMM32_ENTRIES(ka_mm_tile32)

void kk_mm_init_i8mm(struct kk_mm_impl *mm, kk_u32 cpu_flags)
{
	(void)cpu_flags;
	ka_gemm32_fill(mm);
}
#endif /* __aarch64__ */
