// SPDX-License-Identifier: MIT
/*
 * cpu.c - SIMD path selection at library start, and the CPU count.
 */
#define _GNU_SOURCE
#include "cpu.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static kk_u32 cpu_mask;
static kk_u32 cpu_simd;

unsigned long kllm_cpu_hwcap(void)
{
#if defined(__aarch64__)
	return kk_hwcap_arm(getauxval(AT_HWCAP), getauxval(AT_HWCAP2));
#else
	return 0;
#endif
}

/* The list of names for messages: "scalar avx2 avx512" */
static void mask_names(kk_u32 mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (kk_u32 s = 0; s < KK_SIMD_COUNT; s++) {
		int n;

		if (!(mask & (1u << s)))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", kk_simd_name(s));
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* The path env KLLM_SIMD asks for, or @best (with a message) if it can't. */
static kk_u32 simd_from_env(kk_u32 mask, kk_u32 best)
{
	const char *want = getenv("KLLM_SIMD");
	char names[64];
	int s;

	if (!want || !*want)
		return best;
	mask_names(mask, names, sizeof(names));
	s = kk_simd_parse(want);
	if (s < 0) {
		fprintf(stderr, "kllm: KLLM_SIMD=%s: unknown SIMD path (scalar, avx2, avx512, neon, dotprod, i8mm, ggml); using %s\n",
			want, kk_simd_name(best));
		return best;
	}
	if (!(mask & (1u << s))) {
		fprintf(stderr, "kllm: KLLM_SIMD=%s: not available on this CPU/build (have: %s); using %s\n",
			want, names, kk_simd_name(best));
		return best;
	}
	return (kk_u32)s;
}

/*
 * The C library functions the ggml path (KLLM_SIMD=ggml) calls where
 * llama.cpp's ggml calls them, so that its RoPE tables and GELU table are
 * llama.cpp's to the bit.
 */
static const struct kk_libm cpu_libm = {
	.sinf = sinf, .cosf = cosf, .tanhf = tanhf, .expf = expf,
};

static void cpu_init_once(void)
{
	kk_u32 best;

	kk_ggml_set_libm(&cpu_libm);
	cpu_mask = kk_simd_available(kllm_cpu_hwcap());
	best = kk_simd_best(cpu_mask);
	cpu_simd = simd_from_env(cpu_mask, best);
	if (kk_simd_select(cpu_simd)) {
		/* Cannot happen for a path in the mask; keep ops runnable. */
		fprintf(stderr, "kllm: cannot select SIMD path %s; using scalar\n",
			kk_simd_name(cpu_simd));
		cpu_simd = KK_SIMD_SCALAR;
		kk_simd_select(cpu_simd);
	}
}

kk_u32 kllm_cpu_init(void)
{
	pthread_once(&cpu_once, cpu_init_once);
	return cpu_simd;
}

kk_u32 kllm_cpu_simd_mask(void)
{
	kllm_cpu_init();
	return cpu_mask;
}

int kllm_cpu_select(kk_u32 simd)
{
	kk_u32 mask = kllm_cpu_simd_mask();

	if (simd >= KK_SIMD_COUNT || !(mask & (1u << simd)))
		return -ENOTSUP;
	return kk_simd_select(simd) ? -ENOTSUP : 0;
}

int kllm_cpu_parse_simd(const char *name)
{
	int s = kk_simd_parse(name);

	if (s < 0)
		return -EINVAL;
	if (!(kllm_cpu_simd_mask() & (1u << s)))
		return -ENOTSUP;
	return s;
}

/* kllm.h's KLLM_SIMD_* are the kernels' enum kk_simd. */
_Static_assert(KLLM_SIMD_SCALAR == KK_SIMD_SCALAR && KLLM_SIMD_AVX2 == KK_SIMD_AVX2 &&
	       KLLM_SIMD_AVX512 == KK_SIMD_AVX512 && KLLM_SIMD_NEON == KK_SIMD_NEON &&
	       KLLM_SIMD_NEON_DOTPROD == KK_SIMD_NEON_DOTPROD && KLLM_SIMD_GGML == KK_SIMD_GGML &&
	       KLLM_SIMD_NEON_I8MM == KK_SIMD_NEON_I8MM,
	       "KLLM_SIMD_* != enum kk_simd");

const char *kllm_simd_name(uint32_t simd)
{
	return kk_simd_name(simd);
}

unsigned int kllm_cpu_count(void)
{
	cpu_set_t set;
	long n;

	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return (unsigned int)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned int)n : 1;
}
