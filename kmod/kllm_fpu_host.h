/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kllm_fpu_host.h - the kernel home of kernels/: runs kk ops with every
 * chunk inside its own FPU section.
 *
 * kllm_fpu_begin()/kllm_fpu_end() bracket every call into an FPU unit
 * (a kernels/ object built with SIMD flags, see Kbuild's kk_nofpu):
 *   x86-64: kernel_fpu_begin()/kernel_fpu_end() (preemption off inside);
 *   arm64:  kernel_neon_begin()/kernel_neon_end() (preemption off inside
 *           before 6.8, preemptible after; either way nothing inside
 *           sleeps, and callers cond_resched() between sections).
 * Everything outside the FPU units is built with -mgeneral-regs-only on
 * arm64 (the kernel's own flag) and without SSE/AVX on x86, so the compiler
 * itself refuses FP/SIMD registers there.
 */
#ifndef KLLM_FPU_HOST_H
#define KLLM_FPU_HOST_H

#if defined(CONFIG_X86)
#include <asm/fpu/api.h>
#elif defined(CONFIG_ARM64)
#include <linux/bug.h>
#include <asm/cpufeature.h>
#include <asm/hwcap.h>
#include <asm/neon.h>
#include <asm/simd.h>
#else
#error "kllm.ko: no FPU section API for this architecture (x86-64 and arm64 only)"
#endif

#include "kk.h"

static inline void kllm_fpu_begin(void)
{
#if defined(CONFIG_X86)
	kernel_fpu_begin();
#else
	/* kernel_neon_begin() BUG()s where NEON is unusable (hard IRQ, NMI). */
	WARN_ON_ONCE(!may_use_simd());
	kernel_neon_begin();
#endif
}

static inline void kllm_fpu_end(void)
{
#if defined(CONFIG_X86)
	kernel_fpu_end();
#else
	kernel_neon_end();
#endif
}

/*
 * What kk_simd_available() takes: 0 on x86-64 (CPUID there); on arm64 the
 * AT_HWCAP and AT_HWCAP2 bits it reads, from cpu_have_named_feature()
 * (exported, unlike cpu_get_elf_hwcap(), which modules cannot link
 * against), combined as kk_hwcap_arm() does in userspace.
 */
static inline unsigned long kllm_cpu_hwcap(void)
{
#if defined(CONFIG_ARM64)
	unsigned long hwcap = 0, hwcap2 = 0;

	if (cpu_have_named_feature(ASIMD))
		hwcap |= HWCAP_ASIMD;
	if (cpu_have_named_feature(FPHP))
		hwcap |= HWCAP_FPHP;
	if (cpu_have_named_feature(ASIMDHP))
		hwcap |= HWCAP_ASIMDHP;
	if (cpu_have_named_feature(ASIMDDP))
		hwcap |= HWCAP_ASIMDDP;
	if (cpu_have_named_feature(I8MM))
		hwcap2 |= HWCAP2_I8MM;
	return kk_hwcap_arm(hwcap, hwcap2);
#else
	return 0;
#endif
}

/* A host that runs chunks on the calling thread (an FPU section around each). */
void kllm_fpu_host_serial(struct kk_host *host);
/* Select a kernels/ path (its table init may use SIMD registers). */
int kllm_fpu_simd_select(u32 simd);

#endif
