/* SPDX-License-Identifier: MIT */
/*
 * kt_ops.h - helpers for the op tests (test_ops, test_rope, test_attention,
 * test_math): SIMD path iteration, a serial host that runs chunks in
 * reverse order, and float comparisons in ulps.
 */
#ifndef KLLM_KT_OPS_H
#define KLLM_KT_OPS_H

#include <math.h>

#include "kt.h"
#include "kk.h"

#if defined(__linux__)
#include <sys/auxv.h>
#endif

static inline unsigned long kt_hwcap(void)
{
#if defined(__linux__) && defined(__aarch64__)
	return kk_hwcap_arm(getauxval(AT_HWCAP), getauxval(AT_HWCAP2));
#elif defined(__linux__) && defined(AT_HWCAP)
	return getauxval(AT_HWCAP);
#else
	return 0;
#endif
}

/*
 * Paths this machine runs (also arms kk_simd_select for them), the ggml
 * path included: lend it the C library as the runtime does.
 */
static inline uint32_t kt_paths(void)
{
	static const struct kk_libm libm = {
		.sinf = sinf, .cosf = cosf, .tanhf = tanhf, .expf = expf,
	};

	kk_ggml_set_libm(&libm);
	return kk_simd_available(kt_hwcap());
}

/*
 * kllm's own paths: all but ggml, which follows llama.cpp's arithmetic
 * (FMA in RoPE, its own exp, a GELU table: not the scalar path's bits) and
 * runs attention by whole rows (not in bounded spans).
 */
static inline uint32_t kt_paths_native(void)
{
	return kt_paths() & ~(1u << KK_SIMD_GGML);
}

static inline void kt_select(uint32_t path)
{
	kt_paths();
	ck_assert_msg(kk_simd_select(path) == 0, "select %s",
		      kk_simd_name(path));
}

#define KT_FOR_EACH_PATH(p, mask) \
	for (uint32_t p = 0; p < KK_SIMD_COUNT; p++) \
		if ((mask) & (1u << p))

/*
 * A home that runs every chunk on the calling thread, last chunk first, so
 * that an op whose result depended on chunk order would show it.
 */
static void kt_serial_for(void *ctx, kk_range_fn fn, void *arg,
			  kk_u64 n_items, kk_u64 chunk)
{
	kk_u64 n_chunks;

	(void)ctx;
	ck_assert_uint_ge(chunk, 1);
	n_chunks = (n_items + chunk - 1) / chunk;
	for (kk_u64 c = n_chunks; c-- > 0;) {
		kk_u64 b = c * chunk, e = b + chunk < n_items ? b + chunk : n_items;

		fn(arg, b, e);
	}
}

static const struct kk_host kt_host = { .parallel_for = kt_serial_for };

/* Run an op serially, giving it scratch memory when it asks for some. */
static inline void kt_exec(const struct kk_op *op)
{
	kk_u64 need = kk_op_scratch_size(op);
	struct kk_op with = *op;
	void *scratch = NULL;

	if (need && !op->scratch) {
		ck_assert(posix_memalign(&scratch, 64, need) == 0);
		with.scratch = scratch;
	}
	ck_assert_int_eq(kk_op_exec(&kt_host, &with), 0);
	free(scratch);
}

/* Run every item on its own: results must equal one kt_exec. */
static inline void kt_exec_items_one_by_one(const struct kk_op *op)
{
	ck_assert_int_eq(kk_op_check(op), 0);
	for (kk_u32 s = 0; s < kk_op_stages(op); s++)
		for (kk_u64 i = 0; i < kk_op_items(op, s); i++)
			kk_op_run(op, s, i, i + 1);
}

/* Distance in representable floats (0 = bitwise equal, NaN == NaN). */
static inline uint64_t kt_ulps(float a, float b)
{
	int32_t ia, ib;
	int64_t oa, ob;

	if (isnan(a) && isnan(b))
		return 0;
	if (isnan(a) || isnan(b))
		return UINT64_MAX;
	memcpy(&ia, &a, 4);
	memcpy(&ib, &b, 4);
	oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia;
	ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
	return (uint64_t)(oa > ob ? oa - ob : ob - oa);
}

static inline uint64_t kt_max_ulps(const float *a, const float *b, size_t n,
				   size_t *at)
{
	uint64_t worst = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t u = kt_ulps(a[i], b[i]);

		if (u > worst) {
			worst = u;
			if (at)
				*at = i;
		}
	}
	return worst;
}

/* Largest |a - ref| over n, against double references. */
static inline double kt_max_abs_err_d(const float *a, const double *ref,
				      size_t n, size_t *at)
{
	double worst = 0;

	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - ref[i]);

		if (e > worst || isnan(e)) {
			worst = isnan(e) ? INFINITY : e;
			if (at)
				*at = i;
		}
	}
	return worst;
}

/* Largest |a - ref| / max(floor, |ref|). */
static inline double kt_max_rel_err_d(const float *a, const double *ref,
				      size_t n, double floor, size_t *at)
{
	double worst = 0;

	for (size_t i = 0; i < n; i++) {
		double den = fabs(ref[i]) > floor ? fabs(ref[i]) : floor;
		double e = fabs((double)a[i] - ref[i]) / den;

		if (e > worst || isnan(e)) {
			worst = isnan(e) ? INFINITY : e;
			if (at)
				*at = i;
		}
	}
	return worst;
}

static inline float *kt_floats(size_t n)
{
	return kt_alloc(n * sizeof(float));
}

#endif /* KLLM_KT_OPS_H */
