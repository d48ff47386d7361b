/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk_impl.h - internal: the table of row-level functions behind each SIMD
 * path, and the per-op-kind classes that kk_op.c dispatches to.
 *
 * A path's table starts as the scalar table; the path's init functions
 * overwrite the entries they accelerate.  Files ending in _avx2.c,
 * _avx512.c, _avx512vnni.c, _neon.c, _dotprod.c and _i8mm.c are built
 * with that path's -m flags and their functions run only once the CPU is
 * known to have it.
 */
#ifndef KLLM_KK_IMPL_H
#define KLLM_KK_IMPL_H

#include "kk.h"
#include "kk_impl_mm.h"
#include "kk_impl_ops.h"

/* CPU feature bits beyond the path itself (kk_cpu_flags). */
#define KK_CPU_AVX512VNNI (1u << 0)
#define KK_CPU_ARM_DOTPROD (1u << 1)
#define KK_CPU_ARM_FP16 (1u << 2)
#define KK_CPU_ARM_I8MM (1u << 3)

struct kk_impl {
	kk_u32 simd;		/* enum kk_simd */
	kk_u32 cpu_flags;	/* KK_CPU_* */
	struct kk_mm_impl mm;	/* quantize activations, gemm tiles */
	struct kk_ops_impl ops;	/* everything that is not a matmul */
};

/* The selected table; set by kk_simd_select() before any op runs. */
extern const struct kk_impl *kk_impl_cur;
/* The C library functions a userspace home lent the ggml path, or NULL. */
extern const struct kk_libm *kk_libm_cur;

void kk_mm_init_scalar(struct kk_mm_impl *mm);
void kk_ops_init_scalar(struct kk_ops_impl *ops);
#if defined(__x86_64__)
void kk_mm_init_avx2(struct kk_mm_impl *mm, kk_u32 cpu_flags);
void kk_mm_init_avx512(struct kk_mm_impl *mm, kk_u32 cpu_flags);
void kk_ops_init_avx2(struct kk_ops_impl *ops, kk_u32 cpu_flags);
void kk_ops_init_avx512(struct kk_ops_impl *ops, kk_u32 cpu_flags);
#endif
#if defined(__x86_64__) && !defined(__KERNEL__)
void kk_mm_init_ggml(struct kk_mm_impl *mm);	/* kk_mm_ggml_avx2.c */
void kk_ops_init_ggml(struct kk_ops_impl *ops);	/* kk_ops_ggml_avx2.c */
#endif
#if defined(__aarch64__)
void kk_mm_init_neon(struct kk_mm_impl *mm, kk_u32 cpu_flags);
void kk_mm_init_dotprod(struct kk_mm_impl *mm, kk_u32 cpu_flags);
void kk_mm_init_i8mm(struct kk_mm_impl *mm, kk_u32 cpu_flags);
void kk_ops_init_neon(struct kk_ops_impl *ops, kk_u32 cpu_flags);
#endif

/*
 * The shape of one kind of op, as kk_op.c needs it: integer code in
 * non-FPU units (kk_matmul.c, kk_*_shape.c), because the validator, the
 * lowering and the engine call these outside any FPU section.  A class
 * must not reach an FPU unit (tests/module-check.sh checks the objects).
 */
struct kk_op_class {
	int (*check)(const struct kk_op *op);
	kk_u64 (*scratch_size)(const struct kk_op *op);	/* NULL = 0 */
	kk_u32 (*stages)(const struct kk_op *op);		/* NULL = 1 */
	kk_u64 (*items)(const struct kk_op *op, kk_u32 stage);
	kk_u64 (*chunk_items)(const struct kk_op *op, kk_u32 stage);
};

extern const struct kk_op_class kk_class_matmul;	/* kk_matmul.c */
extern const struct kk_op_class kk_class_rmsnorm;	/* kk_ops_shape.c ... */
extern const struct kk_op_class kk_class_softmax;
extern const struct kk_op_class kk_class_unary;
extern const struct kk_op_class kk_class_glu;
extern const struct kk_op_class kk_class_binary;
extern const struct kk_op_class kk_class_scale;
extern const struct kk_op_class kk_class_get_rows;
extern const struct kk_op_class kk_class_argmax;
extern const struct kk_op_class kk_class_rope;		/* kk_rope_shape.c */
extern const struct kk_op_class kk_class_kv_store;	/* kk_attention_shape.c */
extern const struct kk_op_class kk_class_attention;

/*
 * Items [begin, end) of a stage, already clamped to the stage's items:
 * the float work of each kind of op, dispatched by kk_op_run (kk_op_run.c)
 * and only from there, inside the home's FPU section.
 */
typedef void (*kk_op_run_fn)(const struct kk_op *op, kk_u32 stage,
			     kk_u64 begin, kk_u64 end);

void kk_run_matmul(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_rmsnorm(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_softmax(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_unary(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_glu(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_binary(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_scale(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_get_rows(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_argmax(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_rope(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_kv_store(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);
void kk_run_attention(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);

/* What kk_simd_available() found (kk_simd.c), for kk_simd_select(). */
extern kk_u32 kk_simd_avail_mask;
extern kk_u32 kk_simd_cpu_flags;

/* Overflow-checked helpers for the check functions (integers only). */
static inline int kk_mul_overflows(kk_u64 a, kk_u64 b, kk_u64 *out)
{
	return __builtin_mul_overflow(a, b, out);
}

#endif /* KLLM_KK_IMPL_H */
