/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_mm_x86_k.h - x86 Q4_K and Q6_K matmul tiles, part of kk_mm_x86.h
 * (included by it, after its helpers; same KX_* settings, same rules).
 *
 * A tile of NR weight rows x NC activation rows walks the 256-element
 * super-blocks once: each row's scales are decoded once for all columns,
 * each column's activation loads and block sums are shared by all rows,
 * and the next tile's rows are prefetched block by block (a matvec is
 * bound by how far ahead the weights are requested).  Each y element has
 * its own accumulators and goes through the same operations in the same
 * order whatever NR and NC are, so a 4x2 tile gives a 1x1 tile's bits.
 *
 * The AVX2 tiles are below; the AVX-512 path has its own, on 512-bit
 * vectors (kk_mm_x86_k512.h).  Integer parts are exact, so only the float
 * scaling differs from the scalar path: per block, acc += (dx * dw) * sumi
 * for the quants and, for Q4_K, (-dx * dmin) * (mins . bsums).
 */
#ifndef KLLM_KK_MM_X86_K_H
#define KLLM_KK_MM_X86_K_H

/*
 * Rows x columns of a tile, and the narrower tile the column remainder
 * starts with (0: none).  With VNNI the
 * 512-bit tiles take 4x8 (frames of 1.2-1.5 KiB); without it, vpmaddwd +
 * vpaddd need more registers and 4x8 spills past the 2 KiB frame limit,
 * so 4x4.  The kernel module's flags spilled the AVX2 4x2 q4_K tile into
 * 2.2 KiB: the module's AVX2 tiles are 2x2.  AVX2 in user space: 1x4
 * with the column blocks outer (128 columns handed out 16 rows at a time,
 * tests/scripts/mm-ab.sh: 1.18x the 2x2 with the rows outer for Q4_K,
 * 1.28x for Q6_K).  1x8 gained nothing more for Q4_K, and Q6_K's spilled
 * into a 2.2 KiB frame.  Tile shapes never change results (each output's
 * sums run in the same order).
 */
#if KX_AVX512 && KX_VNNI
#define KX_KNR 4
#define KX_KNC 8
#define KX_KNC2 4
#elif KX_AVX512
#define KX_KNR 4
#define KX_KNC 4
#define KX_KNC2 2
#elif defined(__KERNEL__)
#define KX_KNR 2
#define KX_KNC 2
#define KX_KNC2 0
#else
#define KX_KNR 1
#define KX_KNC 4
#define KX_KNC2 2
#endif
/* then an NR x NC/4 tile, where NC/4 is more than one column */
#define KX_KNC4 (KX_KNC2 > 2 ? KX_KNC2 / 2 : 0)
/* rows of a one-column (matvec) tile, for short rows (kk_mm_x86.h's
 * KX_GEMM) */
#define KX_KMVR (KX_KNR > 2 ? KX_KNR : 2)

/* array sizes: most rows and columns in a tile */
#define KX_KMR (KX_KNR > KX_KMVR ? KX_KNR : KX_KMVR)
#define KX_KMC KX_KNC

struct kx_krows {
	const kk_u8 *w[KX_KMR];		/* weight rows */
	const struct kk_block_q8_K *x[KX_KMC];	/* activation rows */
	kk_u64 pf;			/* bytes to the next tile's rows, 0: none */
};

/* The rows and columns of a tile; prefetch only from a row block's last. */
KX_INLINE void kx_krows_init(struct kx_krows *p, const struct kk_mm_tile *t,
			     int NR, int NC, kk_u32 r0, kk_u32 c0)
{
	p->pf = c0 + NC >= t->nc ? NR * t->w_row_bytes : 0;
	KX_UNROLL
	for (int r = 0; r < NR; r++)
		p->w[r] = (const kk_u8 *)t->w + (r0 + r) * t->w_row_bytes;
	KX_UNROLL
	for (int c = 0; c < NC; c++)
		p->x[c] = (const void *)((const kk_u8 *)t->xq + (c0 + c) * t->xq_row_bytes);
}

/* Touch every cache line of one weight block of the next tile's rows. */
KX_INLINE void kx_prefetch_block(const kk_u8 *blk, kk_u32 bytes)
{
	for (kk_u32 o = 0; o < bytes; o += 64)
		_mm_prefetch((const char *)blk + o, _MM_HINT_T0);
}

/* ------------------------------------------------------------ Q8_K */

/* Largest lane of @v. */
KX_INLINE float kx_hmax(__m256 v)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

/* The int32 lanes of s[0..7] summed: lane j = sum of s[j]'s lanes. */
KX_INLINE __m256i kx_hsum8_epi32(const __m256i s[8])
{
	const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]),
					    _mm256_hadd_epi32(s[2], s[3]));
	const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]),
					    _mm256_hadd_epi32(s[6], s[7]));

	return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
				_mm256_permute2x128_si256(a, b, 0x31));
}

/*
 * Q8_K activations with the reference's operations lane by lane, so the
 * bytes are identical for finite input: the first element of largest
 * magnitude sets iscale = -127 / max, each q is nearest_int(iscale * x)
 * (the same 1.5 * 2^23 trick), capped at 127; bsums are sums of 16 qs.
 */
static void kx_quant_q8_K(const float *x, void *xq, kk_u32 k)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256i mant = _mm256_set1_epi32(0x007fffff), half = _mm256_set1_epi32(0x00400000);
	const __m256i q127 = _mm256_set1_epi32(127);
	struct kk_block_q8_K *y = xq;

	for (kk_u32 i = 0; i < k / QK_K; i++, x += QK_K) {
		__m256 a = _mm256_setzero_ps(), vis, va;
		__m256i gs[QK_K / 16], lo, hi;
		float amax, max = 0, iscale;

		for (int j = 0; j < QK_K; j += 8)
			a = _mm256_max_ps(a, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
		amax = kx_hmax(a);
		if (!amax) {
			__builtin_memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		va = _mm256_set1_ps(amax);
		for (int j = 0; j < QK_K; j += 8) {
			const int hit = _mm256_movemask_ps(_mm256_cmp_ps(
				_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));

			if (hit) {
				max = x[j + __builtin_ctz((unsigned int)hit)];
				break;
			}
		}
		iscale = -127.f / max;
		vis = _mm256_set1_ps(iscale);
		for (int g = 0; g < QK_K / 32; g++) {
			__m256i q[4];

			for (int l = 0; l < 4; l++) {
				const __m256 v = _mm256_add_ps(_mm256_mul_ps(vis,
						_mm256_loadu_ps(x + 32 * g + 8 * l)), magic);
				const __m256i n = _mm256_sub_epi32(_mm256_and_si256(
						_mm256_castps_si256(v), mant), half);

				q[l] = _mm256_min_epi32(n, q127);
			}
			gs[2 * g] = _mm256_add_epi32(q[0], q[1]);
			gs[2 * g + 1] = _mm256_add_epi32(q[2], q[3]);
			q[0] = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
						  _mm256_packs_epi32(q[2], q[3]));
			q[0] = _mm256_permutevar8x32_epi32(q[0],
					_mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
			_mm256_storeu_si256((__m256i *)(y[i].qs + 32 * g), q[0]);
		}
		lo = kx_hsum8_epi32(gs);
		hi = kx_hsum8_epi32(gs + 8);
		/* packs works per 128-bit lane: put bsums 0-15 back in order */
		_mm256_storeu_si256((__m256i *)y[i].bsums,
				    _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xd8));
		y[i].d = 1 / iscale;
	}
}

/* ------------------------------------------------------------ Q4_K */

/*
 * The 6-bit scales (int16 lanes 0-7) and mins (lanes 8-15) of a Q4_K
 * block, unpacked the way kk_get_scale_min_k4 does, four at a time.
 */
KX_INLINE __m256i kx_q4_K_scales_mins(const kk_u8 *packed)
{
	kk_u32 u[4], u1;

	__builtin_memcpy(u, packed, 12);
	u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
	u1 = u[1] & 0x3f3f3f3f;
	u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
	u[2] = u1;
	u[0] &= 0x3f3f3f3f;
	return _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
}

#if KX_AVX512
#include "kk_mm_x86_k512.h"
#else
/* ------------------------------------------------------------ AVX2 tiles */

KX_INLINE void kx_store_tile(const struct kk_mm_tile *t, int NR, int NC, kk_u32 r0,
			     kk_u32 c0, __m256 acc[KX_KMR][KX_KMC])
{
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		KX_UNROLL
		for (int c = 0; c < NC; c++)
			kx_store(t, r0 + r, c0 + c, kx_hsum(acc[r][c]));
	}
}

/* Rows [r0, r0 + NR) x columns [c0, c0 + NC) of a Q4_K tile. */
KX_INLINE void kx_tile_q4_K(int NR, int NC, const struct kk_mm_tile *t,
			    kk_u32 r0, kk_u32 c0)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const kk_u32 wb = sizeof(struct kk_block_q4_K);
	__m256 acc[KX_KMR][KX_KMC];
	struct kx_krows p;

	p.pf = NR * t->w_row_bytes;
	KX_UNROLL
	for (int r = 0; r < NR; r++)
		p.w[r] = (const kk_u8 *)t->w + (r0 + r) * t->w_row_bytes;
	KX_UNROLL
	for (int c = 0; c < NC; c++) {
		p.x[c] = (const void *)((const kk_u8 *)t->xq + (c0 + c) * t->xq_row_bytes);
		KX_UNROLL
		for (int r = 0; r < NR; r++)
			acc[r][c] = _mm256_setzero_ps();
	}
	for (kk_u32 i = 0; i < t->k / QK_K; i++) {
		__m256i sc[KX_KMR], sumi[KX_KMR][KX_KMC];
		__m128i q8s[KX_KMC];
		float dw[KX_KMR], dx[KX_KMC];

		KX_UNROLL
		for (int c = 0; c < NC; c++) {
			/* sums of the 32-element sub-blocks, as int16 */
			const __m256i bs = _mm256_loadu_si256((const __m256i *)p.x[c][i].bsums);

			q8s[c] = _mm_hadd_epi16(_mm256_castsi256_si128(bs),
						_mm256_extracti128_si256(bs, 1));
			dx[c] = p.x[c][i].d;
		}
		KX_UNROLL
		for (int r = 0; r < NR; r++) {
			const struct kk_block_q4_K *w = (const void *)(p.w[r] + (kk_u64)i * wb);
			const __m256i ms = kx_q4_K_scales_mins(w->scales);
			const __m128i mins = _mm256_extracti128_si256(ms, 1);
			const float dmin = kk_f16_to_f32(w->dmin);

			kx_prefetch_block((const kk_u8 *)w + p.pf, wb);
			dw[r] = kk_f16_to_f32(w->d);
			sc[r] = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(ms));
			KX_UNROLL
			for (int c = 0; c < NC; c++) {
				const __m128i m = _mm_madd_epi16(mins, q8s[c]);

				acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(-dx[c] * dmin),
							    _mm256_cvtepi32_ps(_mm256_zextsi128_si256(m)),
							    acc[r][c]);
				sumi[r][c] = _mm256_setzero_si256();
			}
		}
		KX_UNROLL
		for (int j = 0; j < QK_K / 64; j++) {
			__m256i q8l[KX_KMC], q8h[KX_KMC];

			KX_UNROLL
			for (int c = 0; c < NC; c++) {
				q8l[c] = _mm256_loadu_si256((const __m256i *)(p.x[c][i].qs + 64 * j));
				q8h[c] = _mm256_loadu_si256((const __m256i *)(p.x[c][i].qs + 64 * j + 32));
			}
			KX_UNROLL
			for (int r = 0; r < NR; r++) {
				const struct kk_block_q4_K *w = (const void *)(p.w[r] + (kk_u64)i * wb);
				const __m256i q4 = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * j));
				const __m256i q4l = _mm256_and_si256(q4, m4);
				const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
				/* scale of sub-block 2j in every int16, then of 2j + 1 */
				const __m256i sl = _mm256_shuffle_epi8(sc[r],
					_mm256_set1_epi16((short)(((4 * j + 1) << 8) | (4 * j))));
				const __m256i sh = _mm256_shuffle_epi8(sc[r],
					_mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2))));

				KX_UNROLL
				for (int c = 0; c < NC; c++) {
					/* nibble x q8 pairs: |.| <= 2 * 15 * 128 */
					__m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(q4l, q8l[c]));
					__m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(q4h, q8h[c]));

					sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_add_epi32(pl, ph));
				}
			}
		}
		KX_UNROLL
		for (int r = 0; r < NR; r++) {
			KX_UNROLL
			for (int c = 0; c < NC; c++)
				acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dx[c] * dw[r]),
							    _mm256_cvtepi32_ps(sumi[r][c]),
							    acc[r][c]);
		}
	}
	kx_store_tile(t, NR, NC, r0, c0, acc);
}

/* ------------------------------------------------------------ Q6_K */

/* Rows [r0, r0 + NR) x columns [c0, c0 + NC) of a Q6_K tile. */
KX_INLINE void kx_tile_q6_K(int NR, int NC, const struct kk_mm_tile *t,
			    kk_u32 r0, kk_u32 c0)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i m2 = _mm256_set1_epi8(0x03);
	const kk_u32 wb = sizeof(struct kk_block_q6_K);
	__m256 acc[KX_KMR][KX_KMC];
	struct kx_krows p;

	p.pf = NR * t->w_row_bytes;
	KX_UNROLL
	for (int r = 0; r < NR; r++)
		p.w[r] = (const kk_u8 *)t->w + (r0 + r) * t->w_row_bytes;
	KX_UNROLL
	for (int c = 0; c < NC; c++) {
		p.x[c] = (const void *)((const kk_u8 *)t->xq + (c0 + c) * t->xq_row_bytes);
		KX_UNROLL
		for (int r = 0; r < NR; r++)
			acc[r][c] = _mm256_setzero_ps();
	}
	for (kk_u32 i = 0; i < t->k / QK_K; i++) {
		__m128i scales[KX_KMR];
		__m256i sumi[KX_KMR][KX_KMC], bs[KX_KMC];
		float dw[KX_KMR];

		KX_UNROLL
		for (int c = 0; c < NC; c++)
			bs[c] = _mm256_loadu_si256((const __m256i *)p.x[c][i].bsums);
		KX_UNROLL
		for (int r = 0; r < NR; r++) {
			const struct kk_block_q6_K *w = (const void *)(p.w[r] + (kk_u64)i * wb);
			__m256i sc16;

			kx_prefetch_block((const kk_u8 *)w + p.pf, wb);
			dw[r] = kk_f16_to_f32(w->d);
			scales[r] = _mm_loadu_si128((const __m128i *)w->scales);
			sc16 = _mm256_cvtepi8_epi16(scales[r]);
			/*
			 * The offset of 32 once per block: sum (q - 32) x over a
			 * 16-element sub-block is sum q x - 32 * bsum.
			 */
			KX_UNROLL
			for (int c = 0; c < NC; c++)
				sumi[r][c] = _mm256_sub_epi32(_mm256_setzero_si256(),
					_mm256_slli_epi32(_mm256_madd_epi16(sc16, bs[c]), 5));
		}
		KX_UNROLL
		for (int j = 0; j < QK_K / 128; j++) {
			KX_UNROLL
			for (int qq = 0; qq < 4; qq++) {
				/* elements 128j + 32qq ..: ql half (qq & 1), nibble qq / 2,
				 * bits 2qq of qh */
				const int s0 = 8 * j + 2 * qq;
				const __m128i shuf = _mm_set_epi64x(0x0101010101010101ll * (s0 + 1),
								    0x0101010101010101ll * s0);
				__m256i x8[KX_KMC];

				KX_UNROLL
				for (int c = 0; c < NC; c++)
					x8[c] = _mm256_loadu_si256((const __m256i *)
								   (p.x[c][i].qs + 128 * j + 32 * qq));
				KX_UNROLL
				for (int r = 0; r < NR; r++) {
					const struct kk_block_q6_K *w =
						(const void *)(p.w[r] + (kk_u64)i * wb);
					const __m256i l = _mm256_loadu_si256((const __m256i *)
						(w->ql + 64 * j + 32 * (qq & 1)));
					const __m256i h = _mm256_loadu_si256((const __m256i *)
						(w->qh + 32 * j));
					const __m256i lo = qq < 2 ? _mm256_and_si256(l, m4) :
						_mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
					const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(
						qq ? _mm256_srli_epi16(h, 2 * qq) : h, m2), 4);
					const __m256i q = _mm256_or_si256(lo, hi);
					const __m256i sc = _mm256_cvtepi8_epi16(
						_mm_shuffle_epi8(scales[r], shuf));

					KX_UNROLL
					for (int c = 0; c < NC; c++) {
						/* q <= 63: |pairs| <= 2 * 63 * 128 */
						__m256i d = _mm256_madd_epi16(sc,
							_mm256_maddubs_epi16(q, x8[c]));

						sumi[r][c] = _mm256_add_epi32(sumi[r][c], d);
					}
				}
			}
		}
		KX_UNROLL
		for (int r = 0; r < NR; r++) {
			KX_UNROLL
			for (int c = 0; c < NC; c++)
				acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(p.x[c][i].d * dw[r]),
							    _mm256_cvtepi32_ps(sumi[r][c]),
							    acc[r][c]);
		}
	}
	kx_store_tile(t, NR, NC, r0, c0, acc);
}

#endif /* !KX_AVX512 */

/*
 * Each tile shape in a function of its own (inlined together, their
 * vector temporaries got separate stack slots), walked by kk_mm_x86.h's
 * KX_GEMM.
 */
#define KX_TILE_K(name, shape, NR, NC)					\
static __attribute__((__noinline__, __unused__)) void			\
kx_tile_##name##_##shape(const struct kk_mm_tile *t, kk_u32 r, kk_u32 c) \
{									\
	kx_tile_##name(NR, NC, t, r, c);				\
}

#define KX_GEMM_K(name)							\
KX_TILE_K(name, main, KX_KNR, KX_KNC)					\
KX_TILE_K(name, rest, 1, KX_KNC)					\
KX_TILE_K(name, half, KX_KNR, KX_KNC2)					\
KX_TILE_K(name, quarter, KX_KNR, KX_KNC4)				\
KX_TILE_K(name, col, KX_KMVR, 1)					\
KX_TILE_K(name, one, 1, 1)						\
KX_GEMM(name, KX_KNR, KX_KNC, KX_KNC2, KX_KNC4, KX_KMVR, KX_KNR)

KX_GEMM_K(q4_K)
KX_GEMM_K(q6_K)

#endif /* KLLM_KK_MM_X86_K_H */
