// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_simd.c - which SIMD paths this CPU (and its OS) supports, and their
 * names.  Integers only: the kernel home calls these outside any FPU
 * section.  Filling the selected path's table (kk_simd_select) calls the
 * paths' init functions, which live in FPU units: kk_simd_table.c.
 *
 * x86: CPUID says what the core implements, XGETBV(XCR0) says which register
 * files the OS saves on context switch; a path needs both.  aarch64: the
 * home passes kk_hwcap_arm(AT_HWCAP, AT_HWCAP2) (userspace) or the same
 * bits from the kernel's named CPU features (kllm_cpu_hwcap).
 */
#include "kk_impl.h"

#define KK_HWCAP_ASIMD (1ul << 1)
#define KK_HWCAP_FPHP (1ul << 9)
#define KK_HWCAP_ASIMDHP (1ul << 10)
#define KK_HWCAP_ASIMDDP (1ul << 20)
#define KK_HWCAP2_I8MM (1ul << (13 + 32))	/* kk_hwcap_arm's AT_HWCAP2 bits */

kk_u32 kk_simd_avail_mask = 1u << KK_SIMD_SCALAR;
kk_u32 kk_simd_cpu_flags;
/*
 * Defined here, not beside the table, so that the integer code reading it
 * (kk_op.c, the op classes) references no FPU unit.
 */
const struct kk_impl *kk_impl_cur;
const struct kk_libm *kk_libm_cur;

void kk_ggml_set_libm(const struct kk_libm *m)
{
	kk_libm_cur = m && m->sinf && m->cosf && m->tanhf && m->expf ? m : (const struct kk_libm *)0;
}

#if defined(__x86_64__)
static void kk_cpuid(kk_u32 leaf, kk_u32 sub, kk_u32 r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

static kk_u64 kk_xgetbv0(void)
{
	kk_u32 lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((kk_u64)hi << 32) | lo;
}

static kk_u32 kk_detect(unsigned long hwcap)
{
	kk_u32 r[4], mask = 1u << KK_SIMD_SCALAR;
	kk_u32 max_leaf, ecx1, ebx7, ecx7;
	kk_u64 xcr0;
	int avx_os, avx512_os;

	(void)hwcap;
	kk_simd_cpu_flags = 0;
	kk_cpuid(0, 0, r);
	max_leaf = r[0];
	if (max_leaf < 7)
		return mask;
	kk_cpuid(1, 0, r);
	ecx1 = r[2];
	if (!(ecx1 & (1u << 27)))	/* OSXSAVE: XGETBV usable */
		return mask;
	xcr0 = kk_xgetbv0();
	avx_os = (xcr0 & 0x6) == 0x6;		/* XMM | YMM */
	avx512_os = (xcr0 & 0xe6) == 0xe6;	/* + opmask, ZMM_Hi256, Hi16_ZMM */
	kk_cpuid(7, 0, r);
	ebx7 = r[1];
	ecx7 = r[2];
	if (avx_os && (ecx1 & (1u << 28)) && (ecx1 & (1u << 12)) &&
	    (ecx1 & (1u << 29)) && (ebx7 & (1u << 5)))	/* AVX FMA F16C AVX2 */
		mask |= 1u << KK_SIMD_AVX2;
	if (avx512_os && (mask & (1u << KK_SIMD_AVX2)) &&
	    (ebx7 & (1u << 16)) && (ebx7 & (1u << 17)) &&	/* F DQ */
	    (ebx7 & (1u << 30)) && (ebx7 & (1u << 31))) {	/* BW VL */
		mask |= 1u << KK_SIMD_AVX512;
		if (ecx7 & (1u << 11))
			kk_simd_cpu_flags |= KK_CPU_AVX512VNNI;
	}
	return mask;
}
#elif defined(__aarch64__)
static kk_u32 kk_detect(unsigned long hwcap)
{
	kk_u32 mask = 1u << KK_SIMD_SCALAR;

	kk_simd_cpu_flags = 0;
	if (hwcap & KK_HWCAP_ASIMD)
		mask |= 1u << KK_SIMD_NEON;
	if ((hwcap & KK_HWCAP_ASIMD) && (hwcap & KK_HWCAP_ASIMDDP)) {
		mask |= 1u << KK_SIMD_NEON_DOTPROD;
		kk_simd_cpu_flags |= KK_CPU_ARM_DOTPROD;
	}
	/* the i8mm table is the dotprod one plus SMMLA tiles */
	if ((mask & (1u << KK_SIMD_NEON_DOTPROD)) && (hwcap & KK_HWCAP2_I8MM)) {
		mask |= 1u << KK_SIMD_NEON_I8MM;
		kk_simd_cpu_flags |= KK_CPU_ARM_I8MM;
	}
	if ((hwcap & KK_HWCAP_FPHP) && (hwcap & KK_HWCAP_ASIMDHP))
		kk_simd_cpu_flags |= KK_CPU_ARM_FP16;
	return mask;
}
#else
static kk_u32 kk_detect(unsigned long hwcap)
{
	(void)hwcap;
	kk_simd_cpu_flags = 0;
	return 1u << KK_SIMD_SCALAR;
}
#endif

int kk_simd_built(kk_u32 simd)
{
	switch (simd) {
	case KK_SIMD_SCALAR:
		return 1;
#if defined(__x86_64__)
	case KK_SIMD_AVX2:
	case KK_SIMD_AVX512:
		return 1;
#endif
#if defined(__x86_64__) && !defined(__KERNEL__)
	case KK_SIMD_GGML:
		return 1;
#endif
#if defined(__aarch64__)
	case KK_SIMD_NEON:
	case KK_SIMD_NEON_DOTPROD:
	case KK_SIMD_NEON_I8MM:
		return 1;
#endif
	default:
		return 0;
	}
}

kk_u32 kk_simd_available(unsigned long hwcap)
{
	kk_u32 mask = kk_detect(hwcap), s;

	/* the ggml path runs on the AVX2 path's instructions, with libm */
	if ((mask & (1u << KK_SIMD_AVX2)) && kk_libm_cur)
		mask |= 1u << KK_SIMD_GGML;
	for (s = 0; s < KK_SIMD_COUNT; s++)
		if (!kk_simd_built(s))
			mask &= ~(1u << s);
	kk_simd_avail_mask = mask;
	return mask;
}

kk_u32 kk_simd_best(kk_u32 mask)
{
	static const kk_u32 order[] = {
		KK_SIMD_AVX512, KK_SIMD_AVX2, KK_SIMD_NEON_I8MM, KK_SIMD_NEON_DOTPROD,
		KK_SIMD_NEON,
	};
	unsigned int i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (mask & (1u << order[i]))
			return order[i];
	return KK_SIMD_SCALAR;
}

kk_u32 kk_simd_selected(void)
{
	return kk_impl_cur ? kk_impl_cur->simd : KK_SIMD_SCALAR;
}

static const char *const kk_simd_names[KK_SIMD_COUNT] = {
	[KK_SIMD_SCALAR] = "scalar",
	[KK_SIMD_AVX2] = "avx2",
	[KK_SIMD_AVX512] = "avx512",
	[KK_SIMD_NEON] = "neon",
	[KK_SIMD_NEON_DOTPROD] = "dotprod",
	[KK_SIMD_GGML] = "ggml",
	[KK_SIMD_NEON_I8MM] = "i8mm",
};

const char *kk_simd_name(kk_u32 simd)
{
	return simd < KK_SIMD_COUNT ? kk_simd_names[simd] : "?";
}

static int kk_streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

int kk_simd_parse(const char *name)
{
	kk_u32 s;

	if (!name)
		return -KK_EINVAL;
	for (s = 0; s < KK_SIMD_COUNT; s++)
		if (kk_streq(name, kk_simd_names[s]))
			return (int)s;
	return -KK_EINVAL;
}
