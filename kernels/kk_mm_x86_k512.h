/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_mm_x86_k512.h - AVX-512 Q4_K and Q6_K tiles, part of kk_mm_x86_k.h
 * (included by it when KX_AVX512; same rules).
 *
 * One 512-bit vector holds 64 consecutive elements of a super-block: for
 * Q4_K the low nibbles of 32 weight bytes (sub-block 2j) then their high
 * nibbles (sub-block 2j + 1), for Q6_K four 16-element sub-blocks.  Per y
 * element and 64 weights, vpmaddubsw makes int16 sums of product pairs and
 * one vpdpwssd multiplies them by their sub-block's scale and accumulates
 * (vpmaddwd + vpaddd without VNNI): two instructions, where the 256-bit
 * tiles spend six.  A row's nibbles and scale vectors are made once per
 * super-block for all the tile's columns.
 *
 * Integer sums are exact; Q4_K's stay below 2^24 per lane and convert to
 * float exactly (Q6_K's could pass it only for extreme scales and values).
 * Per block, the 16 int32 lanes of a y element are folded to 8 and two
 * columns share one float accumulator, a 256-bit half each: the float
 * work per block and pair of y elements is one multiply (dw * dx) and one
 * fma, and for Q4_K one more of each for the mins term (-dmin * dx) *
 * (mins . bsums).  The halves never mix, so a column's bits depend neither
 * on its neighbour nor on its half: the same operations in the same order
 * for every tile shape, and a 4x8 tile gives a 1x1 tile's bits.
 */
#ifndef KLLM_KK_MM_X86_K512_H
#define KLLM_KK_MM_X86_K512_H

#define KX_KMP ((KX_KMC + 1) / 2)	/* column pairs */

/* sum of int16 pairs times int16 pairs, added to acc (exact in int32) */
KX_INLINE __m512i kx_dpwssd(__m512i acc, __m512i a, __m512i b)
{
#if KX_VNNI
	return _mm512_dpwssd_epi32(acc, a, b);
#else
	return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

/*
 * A vpermw index: word w = lo + (w % wrap) / per, always the same in both
 * words of a dword (a constant the compiler folds).
 */
#define KX_WI(lo, per, wrap, l) ((int)((lo) + (2 * (l)) % (wrap) / (per)) * 0x10001)
#define KX_WIDX(lo, per, wrap) _mm512_setr_epi32(				\
	KX_WI(lo, per, wrap, 0), KX_WI(lo, per, wrap, 1), KX_WI(lo, per, wrap, 2),	\
	KX_WI(lo, per, wrap, 3), KX_WI(lo, per, wrap, 4), KX_WI(lo, per, wrap, 5),	\
	KX_WI(lo, per, wrap, 6), KX_WI(lo, per, wrap, 7), KX_WI(lo, per, wrap, 8),	\
	KX_WI(lo, per, wrap, 9), KX_WI(lo, per, wrap, 10), KX_WI(lo, per, wrap, 11),	\
	KX_WI(lo, per, wrap, 12), KX_WI(lo, per, wrap, 13), KX_WI(lo, per, wrap, 14),	\
	KX_WI(lo, per, wrap, 15))

/*
 * @p, hidden from the optimizer: each row then reads the activations
 * again (from L1, as memory operands) instead of the compiler keeping
 * NC x 4 of them in registers across rows and spilling the accumulators.
 */
KX_INLINE const kk_i8 *kx_opaque(const kk_i8 *p)
{
	__asm__("" : "+r"(p));
	return p;
}

/* The f16s of @v (low half first) as floats in lanes 0 and 1: exact. */
KX_INLINE __m128 kx_f16x2(kk_u32 v)
{
	return _mm_cvtph_ps(_mm_cvtsi32_si128((int)v));
}

/* Sum of the 8 lanes of half @h of @v. */
KX_INLINE float kx_hsum_half(__m512 v, int h)
{
	return kx_hsum(h ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)) :
			   _mm512_castps512_ps256(v));
}

/* Lanes l and l + 8 of @a added in lane l, of @b in lane l + 8. */
KX_INLINE __m512i kx_fold_pair(__m512i a, __m512i b)
{
	return _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, 0x44),
				_mm512_shuffle_i64x2(a, b, 0xee));
}

/* d of block i of columns c and c + 1 (0 if no such column), 8 lanes each. */
KX_INLINE __m512 kx_dx_pair(const struct kx_krows *p, int NC, int c, kk_u32 i)
{
	const __m512 a = _mm512_zextps256_ps512(_mm256_set1_ps(p->x[c][i].d));

	if (c + 1 >= NC)
		return a;
	return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(a),
			_mm256_castps_pd(_mm256_set1_ps(p->x[c + 1][i].d)), 1));
}

/* y of the tile: column c's sum in half c & 1 of its pair's accumulator. */
KX_INLINE void kx_store_pairs(const struct kk_mm_tile *t, int NR, int NC, kk_u32 r0,
			      kk_u32 c0, __m512 acc[KX_KMR][KX_KMP])
{
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		KX_UNROLL
		for (int c = 0; c < NC; c++)
			kx_store(t, r0 + r, c0 + c, kx_hsum_half(acc[r][c / 2], c & 1));
	}
}

/* acc[c / 2] += (dw * dx) * (the int sums of columns c, c + 1, folded). */
KX_INLINE void kx_acc_pairs(int NC, const __m512i sumi[KX_KMC], __m512 dw,
			    const __m512 dx[KX_KMP], __m512 acc[KX_KMP])
{
	KX_UNROLL
	for (int c = 0; c < NC; c += 2) {
		const __m512i s = kx_fold_pair(sumi[c], c + 1 < NC ? sumi[c + 1] :
						 _mm512_setzero_si512());

		acc[c / 2] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, dx[c / 2]),
					     acc[c / 2]);
	}
}

/* ------------------------------------------------------------ Q4_K */

/*
 * The mins term of up to 8 columns in one vector per row, 2 dwords per
 * column instead of 8: per column the bsums are summed per 32-element
 * sub-block (q0..q7, int16), and the dwords k, k + 1 of column position c
 * (k = kx_min_dword(c): vpacksdw's order puts positions 0, 2, 1, 3, 4, 6,
 * 5, 7 in dword pairs 0-7) get m0 q0 + m1 q1 + m4 q4 + m5 q5 and
 * m2 q2 + m3 q3 + m6 q6 + m7 q7.
 */
struct kx_kmins {
	__m512i q03, q47;	/* q0-q3 and q4-q7 of every column */
	__m512 dx;		/* each dword's column's d */
};

/* Dword of column position @c's first half of the mins term. */
KX_INLINE int kx_min_dword(int c)
{
	return 8 * (c >> 2) + 4 * (c & 1) + 2 * ((c >> 1) & 1);
}

/* Block i's sub-block sums and d of columns [0, NC), zero past NC. */
KX_INLINE void kx_kmins_init(struct kx_kmins *km, const struct kx_krows *p, int NC,
			     kk_u32 i, const __m512 dxp[KX_KMP])
{
	const __m512i ones = _mm512_set1_epi16(1);
	__m512i q[4], lo, hi;
	__m512 d[4];

	KX_UNROLL
	for (int c = 0; c < 8; c += 2) {
		/* columns c, c + 1 in a half each, then per sub-block */
		__m512i b = _mm512_setzero_si512();

		if (c < NC)
			b = _mm512_zextsi256_si512(_mm256_loadu_si256(
				(const __m256i *)p->x[c][i].bsums));
		if (c + 1 < NC)
			b = _mm512_inserti64x4(b, _mm256_loadu_si256(
				(const __m256i *)p->x[c + 1][i].bsums), 1);
		q[c / 2] = _mm512_madd_epi16(b, ones);
		d[c / 2] = c < NC ? dxp[c / 2] : _mm512_setzero_ps();
	}
	/* |q| <= 32 * 128: packs is exact */
	lo = _mm512_packs_epi32(q[0], q[1]);
	hi = _mm512_packs_epi32(q[2], q[3]);
	km->q03 = _mm512_shuffle_i32x4(lo, hi, 0x88);
	km->q47 = _mm512_shuffle_i32x4(lo, hi, 0xdd);
	km->dx = _mm512_shuffle_f32x4(_mm512_mask_blend_ps(0xcccc, d[0], d[1]),
				      _mm512_mask_blend_ps(0xcccc, d[2], d[3]), 0x88);
}

/* Column position @c's mins term in @v, the same sum for every @c. */
KX_INLINE float kx_min_col(__m512 v, int c)
{
	const int k = kx_min_dword(c);
	const __m128 p = _mm512_castps512_ps128(_mm512_permutexvar_ps(
		_mm512_setr_epi32(k, k + 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), v));

	return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
}

/*
 * One row's block against the tile's columns (@xq: their qs): per column
 * 16 int32 lanes of sum over sub-blocks of scale x (nibbles . q8).  @ms:
 * kx_q4_K_scales_mins of the block.
 */
KX_INLINE void kx_q4_K_dots(int NC, const struct kk_block_q4_K *w, __m512i ms,
			    const kk_i8 *const xq[KX_KMC], __m512i sumi[KX_KMC])
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);

	KX_UNROLL
	for (int j = 0; j < QK_K / 64; j++) {
		const __m512i q = _mm512_broadcast_i64x4(
			_mm256_loadu_si256((const __m256i *)(w->qs + 32 * j)));
		/* low nibbles, then the high ones: elements 64j.. */
		const __m512i wq = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xffff0000u, q, 4),
						    m4);
		/* scale of sub-block 2j in words 0-15, 2j + 1 after */
		const __m512i sc = _mm512_permutexvar_epi16(KX_WIDX(2 * j, 16, 32), ms);

		KX_UNROLL
		for (int c = 0; c < NC; c++) {
			/* nibble x q8 pairs: |.| <= 2 * 15 * 128 */
			const __m512i x8 = _mm512_loadu_si512(xq[c] + 64 * j);
			const __m512i d = _mm512_maddubs_epi16(wq, x8);

			sumi[c] = j ? kx_dpwssd(sumi[c], d, sc) : _mm512_madd_epi16(d, sc);
		}
	}
}

/* The mins . sums of one row's block for kx_kmins's columns. */
KX_INLINE __m512i kx_q4_K_mins(__m512i ms, const struct kx_kmins *km)
{
	/* m0-m3 (words 8-11 of @ms) in every 64 bits, then m4-m7 */
	const __m512i m03 = _mm512_permutexvar_epi16(_mm512_set1_epi64(0x000b000a00090008ll), ms);
	const __m512i m47 = _mm512_permutexvar_epi16(_mm512_set1_epi64(0x000f000e000d000cll), ms);

	return kx_dpwssd(_mm512_madd_epi16(m03, km->q03), m47, km->q47);
}

/* Rows [r0, r0 + NR) x columns [c0, c0 + NC) of a Q4_K tile. */
KX_INLINE void kx_tile_q4_K(int NR, int NC, const struct kk_mm_tile *t,
			    kk_u32 r0, kk_u32 c0)
{
	const kk_u32 wb = sizeof(struct kk_block_q4_K);
	__m512 acc[KX_KMR][KX_KMP], macc[KX_KMR];
	struct kx_krows p;

	kx_krows_init(&p, t, NR, NC, r0, c0);
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		macc[r] = _mm512_setzero_ps();
		KX_UNROLL
		for (int c = 0; c < NC; c += 2)
			acc[r][c / 2] = _mm512_setzero_ps();
	}
	for (kk_u32 i = 0; i < t->k / QK_K; i++) {
		__m512 dx[KX_KMP];
		struct kx_kmins km;

		KX_UNROLL
		for (int c = 0; c < NC; c += 2)
			dx[c / 2] = kx_dx_pair(&p, NC, c, i);
		kx_kmins_init(&km, &p, NC, i, dx);
		KX_UNROLL
		for (int r = 0; r < NR; r++) {
			const struct kk_block_q4_K *w = (const void *)(p.w[r] + (kk_u64)i * wb);
			const __m512i ms = _mm512_castsi256_si512(kx_q4_K_scales_mins(w->scales));
			/* d and -dmin (an f16 sign flip is exact) */
			const __m128 dm = kx_f16x2(kx_ld32((const kk_u8 *)w) ^ 0x80000000u);
			const __m512 ndmin = _mm512_broadcastss_ps(_mm_movehdup_ps(dm));
			__m512i sumi[KX_KMC];
			const kk_i8 *xq[KX_KMC];

			if (p.pf)
				kx_prefetch_block((const kk_u8 *)w + p.pf, wb);
			KX_UNROLL
			for (int c = 0; c < NC; c++)
				xq[c] = kx_opaque(p.x[c][i].qs);
			kx_q4_K_dots(NC, w, ms, xq, sumi);
			kx_acc_pairs(NC, sumi, _mm512_broadcastss_ps(dm), dx, acc[r]);
			macc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(kx_q4_K_mins(ms, &km)),
						  _mm512_mul_ps(ndmin, km.dx), macc[r]);
		}
	}
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		KX_UNROLL
		for (int c = 0; c < NC; c++)
			kx_store(t, r0 + r, c0 + c, kx_hsum_half(acc[r][c / 2], c & 1) +
				 kx_min_col(macc[r], c));
	}
}

/* ------------------------------------------------------------ Q6_K */

/*
 * Elements 128n + 64h .. + 63 of a Q6_K block as unsigned 6-bit values:
 * low nibbles (h = 0) or high nibbles (h = 1) of ql[64n ..], with bits
 * 4h, 4h + 2 (first and second 32) of qh[32n ..] on top.
 */
KX_INLINE __m512i kx_q6_K_q(const struct kk_block_q6_K *w, int n, int h)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	const __m512i ql = _mm512_loadu_si512(w->ql + 64 * n);
	const __m512i qh = _mm512_broadcast_i64x4(
		_mm256_loadu_si256((const __m256i *)(w->qh + 32 * n)));
	/* word shifts: the mask drops what crosses into the next byte */
	const __m512i hi = h ?
		_mm512_and_si512(_mm512_mask_srli_epi16(qh, 0xffff0000u, qh, 2), m30) :
		_mm512_and_si512(_mm512_mask_slli_epi16(_mm512_slli_epi16(qh, 2),
							0x0000ffffu, qh, 4), m30);
	const __m512i lo = h ? _mm512_srli_epi16(ql, 4) : ql;

	/* (lo & m4) | hi */
	return _mm512_ternarylogic_epi32(lo, m4, hi, 0xea);
}

/* kx_q4_K_dots for Q6_K; @sumi comes in with the offset term. */
KX_INLINE void kx_q6_K_dots(int NC, const struct kk_block_q6_K *w, __m512i sc,
			    const kk_i8 *const xq[KX_KMC], __m512i sumi[KX_KMC])
{
	KX_UNROLL
	for (int g = 0; g < QK_K / 64; g++) {
		const __m512i q = kx_q6_K_q(w, g / 2, g & 1);
		/* 16-element sub-blocks 4g .. 4g + 3, 8 words each */
		const __m512i s = _mm512_permutexvar_epi16(KX_WIDX(4 * g, 8, 32), sc);

		KX_UNROLL
		for (int c = 0; c < NC; c++) {
			/* q <= 63: |pairs| <= 2 * 63 * 128 */
			const __m512i x8 = _mm512_loadu_si512(xq[c] + 64 * g);
			const __m512i d = _mm512_maddubs_epi16(q, x8);

			sumi[c] = kx_dpwssd(sumi[c], d, s);
		}
	}
}

/* Rows [r0, r0 + NR) x columns [c0, c0 + NC) of a Q6_K tile. */
KX_INLINE void kx_tile_q6_K(int NR, int NC, const struct kk_mm_tile *t,
			    kk_u32 r0, kk_u32 c0)
{
	const kk_u32 wb = sizeof(struct kk_block_q6_K);
	__m512 acc[KX_KMR][KX_KMP];
	struct kx_krows p;

	kx_krows_init(&p, t, NR, NC, r0, c0);
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		KX_UNROLL
		for (int c = 0; c < NC; c += 2)
			acc[r][c / 2] = _mm512_setzero_ps();
	}
	for (kk_u32 i = 0; i < t->k / QK_K; i++) {
		__m512 dx[KX_KMP];
		__m512i bs[KX_KMC];

		KX_UNROLL
		for (int c = 0; c < NC; c += 2)
			dx[c / 2] = kx_dx_pair(&p, NC, c, i);
		KX_UNROLL
		for (int c = 0; c < NC; c++)
			bs[c] = _mm512_zextsi256_si512(
				_mm256_loadu_si256((const __m256i *)p.x[c][i].bsums));
		KX_UNROLL
		for (int r = 0; r < NR; r++) {
			const struct kk_block_q6_K *w = (const void *)(p.w[r] + (kk_u64)i * wb);
			const __m256i sc16 = _mm256_cvtepi8_epi16(
				_mm_loadu_si128((const __m128i *)w->scales));
			/* the offset of 32: sum (q - 32) x is sum q x - 32 bsum */
			const __m512i off = _mm512_zextsi256_si512(
				_mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32)));
			__m512i sumi[KX_KMC];
			const kk_i8 *xq[KX_KMC];

			if (p.pf)
				kx_prefetch_block((const kk_u8 *)w + p.pf, wb);
			KX_UNROLL
			for (int c = 0; c < NC; c++) {
				sumi[c] = _mm512_madd_epi16(off, bs[c]);
				xq[c] = kx_opaque(p.x[c][i].qs);
			}
			kx_q6_K_dots(NC, w, _mm512_castsi256_si512(sc16), xq, sumi);
			kx_acc_pairs(NC, sumi, _mm512_broadcastss_ps(kx_f16x2(w->d)), dx, acc[r]);
		}
	}
	kx_store_pairs(t, NR, NC, r0, c0, acc);
}

#endif /* KLLM_KK_MM_X86_K512_H */
