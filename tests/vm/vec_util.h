/* SPDX-License-Identifier: MIT */
/*
 * vec_util.h - check that the kernel leaves a task's vector registers
 * alone: load a pattern into ymm0-15 (xmm0-15 without AVX), make one
 * system call, store the registers, all in one asm statement so that the
 * compiler cannot touch them in between; and spin with a pattern loaded
 * (a bystander that makes no system call at all).
 */
#ifndef KLLM_VM_VEC_UTIL_H
#define KLLM_VM_VEC_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if !defined(__x86_64__)
#error "vec_util.h is x86-64 only"
#endif

struct vec_regs {
	uint8_t b[16][32] __attribute__((aligned(32)));
};

static inline void vec_fill(struct vec_regs *r, uint32_t seed)
{
	for (int i = 0; i < 16; i++)
		for (int k = 0; k < 32; k++)
			r->b[i][k] = (uint8_t)(seed * 37 + i * 29 + k * 7 + 0x5b);
}

#define VEC_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

#define VEC_LD_Y(i) "vmovdqu " #i "*32(%[in]), %%ymm" #i "\n\t"
#define VEC_ST_Y(i) "vmovdqu %%ymm" #i ", " #i "*32(%[out])\n\t"
#define VEC_LD_X(i) "movdqu " #i "*32(%[in]), %%xmm" #i "\n\t"
#define VEC_ST_X(i) "movdqu %%xmm" #i ", " #i "*32(%[out])\n\t"
#define VEC_16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) \
	M(12) M(13) M(14) M(15)

/* syscall(nr, a..f) with the pattern @in in the vector registers; what they
 * held right after it in @out.  The raw return value (-errno on failure). */
static inline long vec_syscall(int avx, const struct vec_regs *in, struct vec_regs *out,
			       long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret = nr;

	memcpy(out, in, sizeof(*out));	/* 16-byte mode: upper halves compare equal */
	if (avx)
		__asm__ volatile(VEC_16(VEC_LD_Y) "syscall\n\t" VEC_16(VEC_ST_Y)
				 : "+a"(ret)
				 : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9),
				   [in] "r"(in), [out] "r"(out)
				 : "rcx", "r11", "memory", VEC_CLOBBERS);
	else
		__asm__ volatile(VEC_16(VEC_LD_X) "syscall\n\t" VEC_16(VEC_ST_X)
				 : "+a"(ret)
				 : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9),
				   [in] "r"(in), [out] "r"(out)
				 : "rcx", "r11", "memory", VEC_CLOBBERS);
	return ret;
}

/* Spin @loops iterations (no memory access, no system call) with @in loaded. */
static inline void vec_spin(int avx, const struct vec_regs *in, struct vec_regs *out,
			    unsigned long loops)
{
	memcpy(out, in, sizeof(*out));
	if (avx)
		__asm__ volatile(VEC_16(VEC_LD_Y) "1: dec %%rcx\n\tjnz 1b\n\t" VEC_16(VEC_ST_Y)
				 : "+c"(loops)
				 : [in] "r"(in), [out] "r"(out)
				 : "memory", "cc", VEC_CLOBBERS);
	else
		__asm__ volatile(VEC_16(VEC_LD_X) "1: dec %%rcx\n\tjnz 1b\n\t" VEC_16(VEC_ST_X)
				 : "+c"(loops)
				 : [in] "r"(in), [out] "r"(out)
				 : "memory", "cc", VEC_CLOBBERS);
}

/* First difference as "ymmN byte K: 0xAA -> 0xBB" in @msg; 0 if none. */
static inline int vec_diff(const struct vec_regs *want, const struct vec_regs *got,
			   char *msg, size_t size)
{
	for (int i = 0; i < 16; i++)
		for (int k = 0; k < 32; k++)
			if (want->b[i][k] != got->b[i][k]) {
				snprintf(msg, size, "%s%d byte %d: 0x%02x -> 0x%02x",
					 k < 16 ? "xmm" : "ymm(upper) ", i, k,
					 want->b[i][k], got->b[i][k]);
				return 1;
			}
	return 0;
}

#endif /* KLLM_VM_VEC_UTIL_H */
