// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_simd_table.c - filling the selected path's function table.
 *
 * An FPU unit: the init functions it calls are compiled with their path's
 * -m flags and gcc may use vector registers anywhere in them (a struct
 * copy, an inlined memset), so the kernel home calls kk_simd_select only
 * between kernel_fpu_begin and kernel_fpu_end (kllm_fpu_simd_select).
 */
#include "kk_impl.h"

static struct kk_impl kk_impl_tab;

/* Fill @t for @simd: the scalar table, then the path's own entries. */
static void kk_build_table(struct kk_impl *t, kk_u32 simd)
{
	const kk_u32 flags = kk_simd_cpu_flags;

	__builtin_memset(t, 0, sizeof(*t));
	t->simd = simd;
	t->cpu_flags = flags;
	kk_mm_init_scalar(&t->mm);
	kk_ops_init_scalar(&t->ops);
	switch (simd) {
#if defined(__x86_64__)
	case KK_SIMD_AVX512:
		kk_mm_init_avx2(&t->mm, flags);
		kk_ops_init_avx2(&t->ops, flags);
		kk_mm_init_avx512(&t->mm, flags);
		kk_ops_init_avx512(&t->ops, flags);
		break;
	case KK_SIMD_AVX2:
		kk_mm_init_avx2(&t->mm, flags);
		kk_ops_init_avx2(&t->ops, flags);
		break;
#endif
#if defined(__x86_64__) && !defined(__KERNEL__)
	case KK_SIMD_GGML:
		kk_mm_init_ggml(&t->mm);
		kk_ops_init_ggml(&t->ops);
		break;
#endif
#if defined(__aarch64__)
	case KK_SIMD_NEON_I8MM:
		kk_mm_init_neon(&t->mm, flags);
		kk_ops_init_neon(&t->ops, flags);
		kk_mm_init_dotprod(&t->mm, flags);
		kk_mm_init_i8mm(&t->mm, flags);
		break;
	case KK_SIMD_NEON_DOTPROD:
		kk_mm_init_neon(&t->mm, flags);
		kk_ops_init_neon(&t->ops, flags);
		kk_mm_init_dotprod(&t->mm, flags);
		break;
	case KK_SIMD_NEON:
		kk_mm_init_neon(&t->mm, flags);
		kk_ops_init_neon(&t->ops, flags);
		break;
#endif
	default:
		break;
	}
}

/*
 * Not safe against ops running concurrently: a home selects once at start
 * (module load, library init) or between ops in tests.
 */
int kk_simd_select(kk_u32 simd)
{
	if (simd >= KK_SIMD_COUNT || !(kk_simd_avail_mask & (1u << simd)))
		return -KK_ENOTSUP;
	kk_build_table(&kk_impl_tab, simd);
	kk_impl_cur = &kk_impl_tab;
	return 0;
}
