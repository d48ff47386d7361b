/* SPDX-License-Identifier: MIT */
/*
 * vec_util.h - check that the kernel leaves a task's vector registers
 * alone: load a pattern into ymm0-15 (xmm0-15 without AVX; v0-v31 on
 * arm64), make one system call, store the registers, all in one asm
 * statement so that the compiler cannot touch them in between; and spin
 * with a pattern loaded (a bystander that makes no system call at all).
 */
#ifndef KLLM_VM_VEC_UTIL_H
#define KLLM_VM_VEC_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
/* ymm0-15: 16 registers of 32 bytes (xmm0-15 without AVX: 16 bytes each) */
#define VEC_N 16
#define VEC_W 32
#elif defined(__aarch64__)
/* v0-v31: 32 registers of 16 bytes (the SVE bits above them are not kept
 * across a system call by the ABI, so they are not checked) */
#define VEC_N 32
#define VEC_W 16
#else
#error "vec_util.h is for x86-64 and arm64"
#endif

struct vec_regs {
	uint8_t b[VEC_N][VEC_W] __attribute__((aligned(32)));
};

static inline void vec_fill(struct vec_regs *r, uint32_t seed)
{
	for (int i = 0; i < VEC_N; i++)
		for (int k = 0; k < VEC_W; k++)
			r->b[i][k] = (uint8_t)(seed * 37 + i * 29 + k * 7 + 0x5b);
}

/* The registers checked, for messages. */
static inline const char *vec_what(int avx)
{
#if defined(__x86_64__)
	return avx ? "ymm0-15 (AVX)" : "xmm0-15 (no AVX)";
#else
	(void)avx;
	return "v0-v31 (Advanced SIMD)";
#endif
}

#if defined(__x86_64__)
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
#else /* __aarch64__ */
#define VEC_CLOBBERS "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", \
	"v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", \
	"v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31"

/* x9 walks @in, x10 walks @out: 64 bytes (four registers) a step */
#define VEC_LD "mov x9, %[in]\n\t"						\
	"ld1 {v0.16b-v3.16b}, [x9], #64\n\t"   "ld1 {v4.16b-v7.16b}, [x9], #64\n\t"	\
	"ld1 {v8.16b-v11.16b}, [x9], #64\n\t"  "ld1 {v12.16b-v15.16b}, [x9], #64\n\t"	\
	"ld1 {v16.16b-v19.16b}, [x9], #64\n\t" "ld1 {v20.16b-v23.16b}, [x9], #64\n\t"	\
	"ld1 {v24.16b-v27.16b}, [x9], #64\n\t" "ld1 {v28.16b-v31.16b}, [x9]\n\t"
#define VEC_ST "mov x10, %[out]\n\t"						\
	"st1 {v0.16b-v3.16b}, [x10], #64\n\t"   "st1 {v4.16b-v7.16b}, [x10], #64\n\t"	\
	"st1 {v8.16b-v11.16b}, [x10], #64\n\t"  "st1 {v12.16b-v15.16b}, [x10], #64\n\t"	\
	"st1 {v16.16b-v19.16b}, [x10], #64\n\t" "st1 {v20.16b-v23.16b}, [x10], #64\n\t"	\
	"st1 {v24.16b-v27.16b}, [x10], #64\n\t" "st1 {v28.16b-v31.16b}, [x10]\n\t"

/* syscall(nr, a..f) with the pattern @in in v0-v31; what they held right
 * after it in @out.  The raw return value (-errno on failure). */
static inline long vec_syscall(int avx, const struct vec_regs *in, struct vec_regs *out,
			       long nr, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;

	(void)avx;
	__asm__ volatile(VEC_LD "svc #0\n\t" VEC_ST
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5),
			   [in] "r"(in), [out] "r"(out)
			 : "x9", "x10", "memory", VEC_CLOBBERS);
	return x0;
}

/* Spin @loops iterations (no memory access, no system call) with @in loaded. */
static inline void vec_spin(int avx, const struct vec_regs *in, struct vec_regs *out,
			    unsigned long loops)
{
	(void)avx;
	__asm__ volatile(VEC_LD "1: subs %[n], %[n], #1\n\tb.ne 1b\n\t" VEC_ST
			 : [n] "+r"(loops)
			 : [in] "r"(in), [out] "r"(out)
			 : "x9", "x10", "memory", "cc", VEC_CLOBBERS);
}
#endif

/* First difference as "ymmN byte K: 0xAA -> 0xBB" in @msg; 0 if none. */
static inline int vec_diff(const struct vec_regs *want, const struct vec_regs *got,
			   char *msg, size_t size)
{
	for (int i = 0; i < VEC_N; i++)
		for (int k = 0; k < VEC_W; k++)
			if (want->b[i][k] != got->b[i][k]) {
#if defined(__x86_64__)
				const char *reg = k < 16 ? "xmm" : "ymm(upper) ";
#else
				const char *reg = "v";
#endif
				snprintf(msg, size, "%s%d byte %d: 0x%02x -> 0x%02x", reg, i, k,
					 want->b[i][k], got->b[i][k]);
				return 1;
			}
	return 0;
}

#endif /* KLLM_VM_VEC_UTIL_H */
