/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_mm_x86_t.h - x86 tiles for the 32-element block types (Q4_0, Q4_1,
 * Q5_0, Q8_0) with one int32 lane per block, part of kk_mm_x86.h (included
 * by it after its 32-element block helpers; same KX_* settings, same rules).
 *
 * Two blocks per vector (kk_mm_x86.h's loads) leave each block's dot
 * spread over four int32 lanes, so every pair of blocks would cost each y
 * element a convert, a permute and an fma besides its dot products.  Here
 * eight blocks are transposed so that dword t of lane b holds bytes
 * 4t..4t+3 of block b:
 * eight dot-product steps then leave lane b holding block b's whole dot,
 * and the eight blocks cost each y element one convert, one add (the bias)
 * and one fma.  The weights are transposed as they are loaded (once per
 * row, shared by the tile's columns); the activations once, when they are
 * quantized (kx_quant_q8_0 and kx_quant_q8_1 write the transposed copy
 * after the floats, which kk_mm_xq_bytes() sizes).  Q4_1 adds its min
 * term per group as m * s (s = the Q8_1 block's d * sum), Q5_0 its fifth
 * bits to the transposed nibbles.
 *
 * Every y element goes through the same operations in the same order
 * whatever the tile's shape, so matvec and matmul columns agree bitwise.
 * The integer dot is exact, and so is its sum with -bias * sum(x), which
 * stays far below 2^24: the float work is (dot) * (dw * dx) per block.
 */
#ifndef KLLM_KK_MM_X86_T_H
#define KLLM_KK_MM_X86_T_H

/*
 * Rows x columns of a tile, and the rows of a one-column (matvec) tile.
 * AVX2 on an AMD EPYC (Zen) host, 1024 rows x 128 columns handed out 16
 * rows at a time as kk_matmul.c does (tests/scripts/mm-ab.sh with
 * MM_AB_COLS=128): 1 x 8 with the column blocks outer ran 1.1-1.6x as
 * fast as 2 x 4 with the rows outer (Q8_0 least, Q5_0 most), and
 * 1.2-1.4x as fast as 2 x 4 with the columns outer.  One row's decoded
 * weights serve eight columns (the decode, dearest for Q5_0's fifth bits,
 * is then a small part), and the eight columns' activations stay in L1
 * while the tile walks down the rows.  2 x 8 spilled; 1 x 16 gained
 * nothing for Q5_0 and lost for Q4_0/Q4_1.
 *
 * A 4-row matvec tile beat a 2-row one by 0-20 % (kk_mm_x86.h's KX_GEMM
 * uses it for short rows only).
 */
#if KX_AVX512
/* AVX-512 VNNI on an AMD EPYC host, same harness (MM_AB_SIMD=avx512vnni):
 * 1 x 8 ran 1.21-1.32x as fast as 4 x 4 at 8 and at 128 columns; 2 x 8
 * and 1 x 16 were no faster than 4 x 4 */
#define KX_TNR 1
#define KX_TNC 8
#elif defined(__KERNEL__)
/* the kernel's 2 KiB frames (its builds zero every local: Q8_0's 4 x 2
 * tile came to 2080 bytes there): 2 x 2, the same bits */
#define KX_TNR 2
#define KX_TNC 2
#else
#define KX_TNR 1
#define KX_TNC 8
#endif
/* the NR x NC/2 tile that columns left over begin with (a batch of 5-7
 * sequences), where NC/2 is more than one column */
#define KX_TNC2 (KX_TNC > 2 ? KX_TNC / 2 : 0)
/* then a KX_TQR x NC/4 tile, where NC/4 is more than one (a batch of 2-3):
 * 4 x 2 ran 1.1-1.4x as fast as column by column on AVX2 (2-3 columns,
 * mm-ab), and as fast as AVX-512's former 4 x 2 half tile */
#define KX_TNC4 (KX_TNC > 4 ? KX_TNC / 4 : 0)
#define KX_TQR 4
#define KX_MVR 4
/* array sizes: most rows and columns in a tile */
#define KX_TMR (KX_TNR > KX_MVR ? KX_TNR : KX_MVR)
#define KX_TMC KX_TNC
/* most accumulators of a tile, acc[r * NC + c]: a flat array sized for the
 * largest tile, not KX_TMR x KX_TMC (the kernel's builds zero every local) */
#define KX_TACC (KX_TNR * KX_TNC > KX_MVR ? KX_TNR * KX_TNC : KX_MVR)
_Static_assert(KX_TQR <= KX_TMR && KX_TQR * KX_TNC4 <= KX_TACC,
	       "the quarter tile fits the tile arrays");

/*
 * Dword t (0-3) of the 16 bytes at @p of each of @n (<= 8) blocks @bb
 * bytes apart, into lane b of v[t]; lanes past n are 0.  Never reads past
 * block n - 1.
 */
KX_INLINE void kx_transpose8(const kk_u8 *p, kk_u32 bb, kk_u32 n, __m256i v[4])
{
	__m128i q[8];
	__m256i y[4], t0, t1, t2, t3;

	KX_UNROLL
	for (kk_u32 b = 0; b < 8; b++)
		q[b] = b < n ? _mm_loadu_si128((const __m128i *)(p + b * bb)) :
			       _mm_setzero_si128();
	KX_UNROLL
	for (int b = 0; b < 4; b++)
		y[b] = _mm256_set_m128i(q[b + 4], q[b]);
	t0 = _mm256_unpacklo_epi32(y[0], y[1]);
	t1 = _mm256_unpackhi_epi32(y[0], y[1]);
	t2 = _mm256_unpacklo_epi32(y[2], y[3]);
	t3 = _mm256_unpackhi_epi32(y[2], y[3]);
	v[0] = _mm256_unpacklo_epi64(t0, t2);
	v[1] = _mm256_unpackhi_epi64(t0, t2);
	v[2] = _mm256_unpacklo_epi64(t1, t3);
	v[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* Bytes of the transposed activation copy per group of eight blocks. */
#define KX_TX_GROUP 256

/*
 * The transposed copy of @nb Q8_0 or Q8_1 blocks (qs of block 0 at @qs,
 * blocks @bb bytes apart) for nbp (a multiple of 8) blocks: per group,
 * lo[0..3] (bytes 0-15 of each block) then hi[0..3] (16-31).
 */
static void kx_transpose_x(const kk_u8 *qs, kk_u32 bb, kk_u32 nb, kk_u32 nbp, kk_u8 *tx)
{
	for (kk_u32 g = 0; g < nbp; g += 8, tx += KX_TX_GROUP) {
		const kk_u32 n = g >= nb ? 0 : nb - g >= 8 ? 8 : nb - g;
		const kk_u8 *p = qs + (kk_u64)g * bb;
		__m256i v[4];

		kx_transpose8(p, bb, n, v);
		for (int t = 0; t < 4; t++)
			_mm256_storeu_si256((__m256i *)(tx + 32 * t), v[t]);
		kx_transpose8(p + 16, bb, n, v);
		for (int t = 0; t < 4; t++)
			_mm256_storeu_si256((__m256i *)(tx + 128 + 32 * t), v[t]);
	}
}

/*
 * 16 in byte j of lane b's dword where bit @bit0 + j (j < 4) of lane b of
 * @qh is set: the fifth bits of elements bit0..bit0+3, where the
 * transposed nibbles of dword (bit0 % 16) / 4 hold them.
 */
KX_INLINE __m256i kx_qh_bytes(__m256i qh, int bit0)
{
	const char byte = (char)(bit0 / 8);
	const char sh = (char)(bit0 % 8);
	const __m256i idx = _mm256_setr_epi8(byte, byte, byte, byte,
					     byte + 4, byte + 4, byte + 4, byte + 4,
					     byte + 8, byte + 8, byte + 8, byte + 8,
					     byte + 12, byte + 12, byte + 12, byte + 12,
					     byte, byte, byte, byte,
					     byte + 4, byte + 4, byte + 4, byte + 4,
					     byte + 8, byte + 8, byte + 8, byte + 8,
					     byte + 12, byte + 12, byte + 12, byte + 12);
	const __m256i bit = _mm256_set1_epi32((int)(0x08040201u << sh));
	__m256i v = _mm256_and_si256(_mm256_shuffle_epi8(qh, idx), bit);

	return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(16));
}

/* Weights of @n blocks at @blk, transposed: lo[t] pairs with x lo[t]. */
KX_INLINE void kx_load_wt(int type, const kk_u8 *blk, kk_u32 n, __m256i lo[4], __m256i hi[4])
{
	if (type == KX_Q8_0) {
		kx_transpose8(blk + 2, sizeof(struct kk_block_q8_0), n, lo);
		kx_transpose8(blk + 18, sizeof(struct kk_block_q8_0), n, hi);
#if KX_VNNI
		KX_UNROLL
		for (int t = 0; t < 4; t++) {
			lo[t] = _mm256_xor_si256(lo[t], _mm256_set1_epi8((char)0x80));
			hi[t] = _mm256_xor_si256(hi[t], _mm256_set1_epi8((char)0x80));
		}
#endif
		return;
	}
	{
		const __m256i m4 = _mm256_set1_epi8(0x0f);
		__m256i v[4];

		kx_transpose8(blk + kx_wqs(type), kx_wbytes(type), n, v);
		KX_UNROLL
		for (int t = 0; t < 4; t++) {
			lo[t] = _mm256_and_si256(v[t], m4);
			hi[t] = _mm256_and_si256(_mm256_srli_epi16(v[t], 4), m4);
		}
	}
	if (type == KX_Q5_0) {
		const __m256i qh = kx_gather32(blk, sizeof(struct kk_block_q5_0), n, 2);

		KX_UNROLL
		for (int t = 0; t < 4; t++) {
			lo[t] = _mm256_or_si256(lo[t], kx_qh_bytes(qh, 4 * t));
			hi[t] = _mm256_or_si256(hi[t], kx_qh_bytes(qh, 16 + 4 * t));
		}
	}
}

/* Lane b: block b's whole (biased) dot. */
KX_INLINE __m256i kx_dot_t(int type, const __m256i wl[4], const __m256i wh[4],
			   const kk_u8 *tx)
{
	const __m256i *xl = (const __m256i *)tx, *xh = (const __m256i *)(tx + 128);
	__m256i d = _mm256_setzero_si256();

	KX_UNROLL
	for (int t = 0; t < 4; t++) {
		const __m256i a = _mm256_loadu_si256(xl + t), b = _mm256_loadu_si256(xh + t);
#if KX_VNNI
		(void)type;
		d = _mm256_dpbusd_epi32(d, wl[t], a);
		d = _mm256_dpbusd_epi32(d, wh[t], b);
#else
		const __m256i ones = _mm256_set1_epi16(1);

		if (type == KX_Q8_0) {
			/* |w| * (x with w's sign): u8 x s8 without saturation */
			__m256i pl = _mm256_maddubs_epi16(_mm256_abs_epi8(wl[t]),
							  _mm256_sign_epi8(a, wl[t]));
			__m256i ph = _mm256_maddubs_epi16(_mm256_abs_epi8(wh[t]),
							  _mm256_sign_epi8(b, wh[t]));

			d = _mm256_add_epi32(d, _mm256_add_epi32(_mm256_madd_epi16(pl, ones),
								 _mm256_madd_epi16(ph, ones)));
		} else {
			/* q <= 31: each int16 at most 2 * 2 * 31 * 128 */
			__m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(wl[t], a),
						     _mm256_maddubs_epi16(wh[t], b));

			d = _mm256_add_epi32(d, _mm256_madd_epi16(p, ones));
		}
#endif
	}
	return d;
}

struct kx_trows {
	const kk_u8 *w[KX_TMR];
	const kk_u8 *x[KX_TMC];		/* the standard blocks */
	const float *dx[KX_TMC], *sx[KX_TMC];
	const kk_u8 *tx[KX_TMC];
	kk_u64 pf;
};

/*
 * The float work of one y element for eight blocks, from their integer
 * dots (lane b: block b's): every tile and the short-group path go
 * through here, so each element takes the same operations in the same
 * order whatever the shape.  @sxb: kx_sxb(), -bias * sum(x) (0 without
 * a bias); @sx: the Q8_1 blocks' s, for Q4_1's min term.
 */
KX_INLINE __m256 kx_sxb(int type, const float *sx)
{
	const int bias = kx_dot_bias(type);

	return bias ? _mm256_mul_ps(_mm256_loadu_ps(sx), _mm256_set1_ps((float)-bias)) :
		      _mm256_setzero_ps();
}

KX_INLINE __m256 kx_block_fma(int type, __m256i dot, struct kx_dm sc, __m256 dx,
			      __m256 sxb, const float *sx, __m256 acc)
{
	__m256 f = _mm256_cvtepi32_ps(dot);

	if (kx_dot_bias(type))
		f = _mm256_add_ps(f, sxb);
	acc = _mm256_fmadd_ps(f, _mm256_mul_ps(sc.d, dx), acc);
	if (type == KX_Q4_1)
		acc = _mm256_fmadd_ps(sc.m, _mm256_loadu_ps(sx), acc);
	return acc;
}

/* Blocks [g, g + n) of an NR x NC tile, n <= 8. */
KX_INLINE void kx_group_t(int type, int NR, int NC, const struct kx_trows *p,
			  kk_u32 g, kk_u32 n, __m256 acc[KX_TACC])
{
	const kk_u32 wb = kx_wbytes(type);
	__m256 dx[KX_TMC], sxb[KX_TMC];

	KX_UNROLL
	for (int c = 0; c < NC; c++) {
		dx[c] = _mm256_loadu_ps(p->dx[c] + g);
		sxb[c] = kx_sxb(type, p->sx[c] + g);
	}
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		const kk_u8 *blk = p->w[r] + (kk_u64)g * wb;
		const struct kx_dm sc = kx_gather_dm(type, blk, n);
		__m256i wl[4], wh[4];

		for (kk_u32 o = 0; o < 8 * wb; o += 64)
			_mm_prefetch((const char *)blk + p->pf + o, _MM_HINT_T0);
		kx_load_wt(type, blk, n, wl, wh);
		KX_UNROLL
		for (int c = 0; c < NC; c++)
			acc[r * NC + c] = kx_block_fma(type, kx_dot_t(type, wl, wh,
						 p->tx[c] + (kk_u64)g / 8 * KX_TX_GROUP),
						 sc, dx[c], sxb[c], p->sx[c] + g, acc[r * NC + c]);
	}
}

/*
 * The last group of a row, n < 8 blocks, in a one-column tile: loaded
 * without transposes, two blocks per vector as kk_mm_x86.h's
 * kx_load_w/kx_load_x lay them out (transposing a short group for one
 * column costs about as much as a whole group).  The four int32 lanes
 * each block's dot leaves are summed into one, which gives the
 * lane-per-block vector kx_dot_t gives; the integer dots are exact, so
 * from there on the column takes kx_group_t's float operations in its
 * order, and every tile shape still agrees bit for bit.
 */
KX_INLINE __m256i kx_lane_per_block(const __m256i d[4])
{
	/* lanes b0 b2 b4 b6 | b1 b3 b5 b7, then in order */
	return _mm256_permutevar8x32_epi32(
		_mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3])),
		_mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

KX_INLINE void kx_group_tail(int type, int NR, const struct kx_trows *p,
			     kk_u32 g, kk_u32 n, __m256 acc[KX_TACC])
{
	const int c = 0;
	const kk_u32 wb = kx_wbytes(type), xb = kx_xbytes(type);
	const __m256 dx = _mm256_loadu_ps(p->dx[c] + g);
	const __m256 sxb = kx_sxb(type, p->sx[c] + g);

	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		const kk_u8 *blk = p->w[r] + (kk_u64)g * wb;
		const struct kx_dm sc = kx_gather_dm(type, blk, n);
		__m256i d[4];

		KX_UNROLL
		for (kk_u32 j = 0; j < 8; j += 2) {
			__m256i wl, wh, xl, xh;

			if (j >= n) {
				d[j / 2] = _mm256_setzero_si256();
				continue;
			}
			kx_load_w(type, blk + j * wb, j + 1 < n, &wl, &wh);
			kx_load_x(type, p->x[c] + (kk_u64)(g + j) * xb, j + 1 < n, &xl, &xh);
			d[j / 2] = kx_dot(type, wl, wh, xl, xh);
		}
		acc[r] = kx_block_fma(type, kx_lane_per_block(d), sc, dx, sxb,
					 p->sx[c] + g, acc[r]);
	}
}

/* Rows [r0, r0 + NR) x columns [c0, c0 + NC) of a tile. */
KX_INLINE void kx_tile_t(int type, int NR, int NC, const struct kk_mm_tile *t,
			 kk_u32 r0, kk_u32 c0)
{
	const kk_u32 nb = t->k / 32, nbp = kx_nbp(nb);
	const kk_u64 extras = kx_blocks_bytes(nb, kx_xbytes(type));
	__m256 acc[KX_TACC];
	struct kx_trows p;
	kk_u32 g;

	p.pf = NR * t->w_row_bytes;
	KX_UNROLL
	for (int r = 0; r < NR; r++)
		p.w[r] = (const kk_u8 *)t->w + (r0 + r) * t->w_row_bytes;
	KX_UNROLL
	for (int c = 0; c < NC; c++) {
		p.x[c] = (const kk_u8 *)t->xq + (c0 + c) * t->xq_row_bytes;
		p.dx[c] = (const float *)(p.x[c] + extras);
		p.sx[c] = p.dx[c] + nbp;
		p.tx[c] = (const kk_u8 *)(p.sx[c] + nbp);
		KX_UNROLL
		for (int r = 0; r < NR; r++)
			acc[r * NC + c] = _mm256_setzero_ps();
	}
	for (g = 0; g + 8 <= nb; g += 8)
		kx_group_t(type, NR, NC, &p, g, 8, acc);
	/* the short group: no transposes for one column; several share them */
	if (g < nb && NC == 1)
		kx_group_tail(type, NR, &p, g, nb - g, acc);
	else if (g < nb)
		kx_group_t(type, NR, NC, &p, g, nb - g, acc);
	KX_UNROLL
	for (int r = 0; r < NR; r++) {
		KX_UNROLL
		for (int c = 0; c < NC; c++)
			kx_store(t, r0 + r, c0 + c, kx_hsum(acc[r * NC + c]));
	}
}

/*
 * Each tile shape in a function of its own (inlined together, their
 * vector temporaries got separate stack slots: frames of over 1 KiB),
 * walked by kk_mm_x86.h's KX_GEMM.
 */
#define KX_TILE_T(name, type, shape, NR, NC)				\
static __attribute__((__noinline__, __unused__)) void			\
kx_tile_##name##_##shape(const struct kk_mm_tile *t, kk_u32 r, kk_u32 c) \
{									\
	kx_tile_t(type, NR, NC, t, r, c);				\
}

#define KX_GEMMT(name, type)						\
KX_TILE_T(name, type, main, KX_TNR, KX_TNC)				\
KX_TILE_T(name, type, rest, 1, KX_TNC)					\
KX_TILE_T(name, type, half, KX_TNR, KX_TNC2)				\
KX_TILE_T(name, type, quarter, KX_TQR, KX_TNC4)				\
KX_TILE_T(name, type, col, KX_MVR, 1)					\
KX_TILE_T(name, type, one, 1, 1)					\
KX_GEMM(name, KX_TNR, KX_TNC, KX_TNC2, KX_TNC4, KX_MVR, KX_TQR)

#endif /* KLLM_KK_MM_X86_T_H */
