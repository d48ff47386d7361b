/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kk.h - the public face of kllm's compute kernels.
 *
 * kernels/ is freestanding C built into two homes: kllm.ko (kernel threads,
 * kernel_fpu_begin/end around every chunk) and libkllm (pthreads).  This
 * header is the whole contract between the kernels and a home:
 *
 *   - Entry points take and return only integers and pointers.  Floating
 *     point parameters live in op structs as IEEE-754 bit patterns (u32), so
 *     kernel code outside the FPU translation units never touches a float.
 *   - An op is described by a struct kk_op.  It runs in one or more stages;
 *     the items of a stage are independent and may run on any thread in any
 *     order, and every stage must finish before the next starts.  A home
 *     provides that as a parallel-for (struct kk_host).
 *   - Results never depend on how items are split among threads.
 *   - The kernels allocate nothing: an op that needs scratch memory says how
 *     much (kk_op_scratch_size) and the home passes it in op->scratch.
 */
#ifndef KLLM_KK_H
#define KLLM_KK_H

#ifdef __KERNEL__
#include <linux/types.h>
typedef u8 kk_u8;
typedef u16 kk_u16;
typedef u32 kk_u32;
typedef u64 kk_u64;
typedef s8 kk_i8;
typedef s16 kk_i16;
typedef s32 kk_i32;
typedef s64 kk_i64;
#else
#include <stddef.h>
#include <stdint.h>
typedef uint8_t kk_u8;
typedef uint16_t kk_u16;
typedef uint32_t kk_u32;
typedef uint64_t kk_u64;
typedef int8_t kk_i8;
typedef int16_t kk_i16;
typedef int32_t kk_i32;
typedef int64_t kk_i64;
#endif

#define KK_EINVAL 22 /* returned negated, like the kernel's -EINVAL */
#define KK_ENOTSUP 95

/* ------------------------------------------------------------------ */
/* Tensor element / block types: the numbers are GGUF's (ggml_type).   */

enum kk_type {
	KK_TYPE_F32 = 0,
	KK_TYPE_F16 = 1,
	KK_TYPE_Q4_0 = 2,
	KK_TYPE_Q4_1 = 3,
	KK_TYPE_Q5_0 = 6,
	KK_TYPE_Q5_1 = 7,
	KK_TYPE_Q8_0 = 8,
	KK_TYPE_Q8_1 = 9,	/* activations only */
	KK_TYPE_Q4_K = 12,
	KK_TYPE_Q5_K = 13,
	KK_TYPE_Q6_K = 14,
	KK_TYPE_Q8_K = 15,	/* activations only */
	KK_TYPE_BF16 = 30,
	KK_TYPE_COUNT = 31,
};

/* Elements per block (1 for F32/F16/BF16); 0 if the type is unsupported. */
kk_u32 kk_type_block_elems(kk_u32 type);
/* Bytes per block; 0 if unsupported. */
kk_u32 kk_type_block_bytes(kk_u32 type);
/* Name as ggml spells it ("q4_0", "f16"), or "?" */
const char *kk_type_name(kk_u32 type);
/* Non-zero if the type can be a weight (matmul left operand / gather table). */
int kk_type_is_weight(kk_u32 type);
/* Activation type a weight type's dot products pair with (ggml vec_dot_type). */
kk_u32 kk_type_vec_dot_type(kk_u32 type);
/*
 * Bytes of one row of n elements, or 0 if n is not a multiple of the block
 * size, the type is unsupported, or the result would overflow.
 */
kk_u64 kk_row_bytes(kk_u32 type, kk_u64 n);

/* ------------------------------------------------------------------ */
/* SIMD paths, chosen at run time.                                      */

enum kk_simd {
	KK_SIMD_SCALAR = 0,	/* portable reference, always available */
	KK_SIMD_AVX2 = 1,	/* x86-64 AVX2 + FMA + F16C */
	KK_SIMD_AVX512 = 2,	/* AVX-512 F/BW/VL/DQ (+VNNI when present) */
	KK_SIMD_NEON = 3,	/* aarch64 Advanced SIMD */
	KK_SIMD_NEON_DOTPROD = 4, /* aarch64 + SDOT/UDOT */
	/*
	 * x86-64 userspace, AVX2 + FMA + F16C, never chosen by default: the
	 * arithmetic of llama.cpp's ggml-cpu (x86, AVX-512 build) bit for bit,
	 * for checking kllm against llama.cpp exactly.  Slow.  Exists only
	 * once the home has lent it the C library (kk_ggml_set_libm).
	 */
	KK_SIMD_GGML = 5,
	KK_SIMD_NEON_I8MM = 6,	/* aarch64 + SDOT + SMMLA (armv8.6 i8mm) */
	KK_SIMD_COUNT = 7,
};

/* The C library functions the ggml path calls where ggml calls them. */
struct kk_libm {
	float (*sinf)(float);
	float (*cosf)(float);
	float (*tanhf)(float);
	float (*expf)(float);
};
/* Lend them (userspace homes only; before kk_simd_available). */
void kk_ggml_set_libm(const struct kk_libm *m);

/*
 * Detect what the CPU (and OS, via XCR0) supports.  @hwcap is the aarch64
 * word kk_hwcap_arm() builds (from getauxval in userspace, from the named
 * CPU features in the kernel); x86 ignores it and uses CPUID/XGETBV.
 * Returns a bitmask of 1u << enum kk_simd.
 */
kk_u32 kk_simd_available(unsigned long hwcap);
#if defined(__aarch64__)
/*
 * That word from AT_HWCAP and AT_HWCAP2: AT_HWCAP's bits 0-31 as they are
 * and AT_HWCAP2's bits 0-31 above them (HWCAP2_I8MM = 1 << 13 is bit 45).
 * A bare AT_HWCAP reads right for every path but i8mm, as long as the
 * kernel sets no AT_HWCAP bit above 31 (Linux 6.13+ may: pass this word).
 */
#define KK_HWCAP2_SHIFT 32
static inline unsigned long kk_hwcap_arm(unsigned long hwcap, unsigned long hwcap2)
{
	return (hwcap & 0xfffffffful) | (hwcap2 & 0xfffffffful) << KK_HWCAP2_SHIFT;
}
#endif
/* The best path in a mask from kk_simd_available(). */
kk_u32 kk_simd_best(kk_u32 mask);
/* Select the path all later ops use.  -KK_ENOTSUP if not in the mask set
 * by the last kk_simd_available() call or the path was not built in. */
int kk_simd_select(kk_u32 simd);
kk_u32 kk_simd_selected(void);
const char *kk_simd_name(kk_u32 simd);
/* "scalar", "avx2", "avx512", "neon", "dotprod", "ggml", "i8mm" -> enum,
 * or -KK_EINVAL. */
int kk_simd_parse(const char *name);
/* Has this build any code for the path (x86 builds have no NEON)?  */
int kk_simd_built(kk_u32 simd);

/* ------------------------------------------------------------------ */
/* Ops                                                                  */

enum kk_op_kind {
	KK_OP_MATMUL = 1,	/* y[m] (+)= W x[m] for every column m */
	KK_OP_RMSNORM,		/* y = x / sqrt(mean(x^2) + eps) * w */
	KK_OP_ROPE,		/* rotary position embedding, in place or out */
	KK_OP_SOFTMAX,		/* y = softmax(x * scale) per row */
	KK_OP_UNARY,		/* y = f(x): SiLU, GELU(tanh) */
	KK_OP_GLU,		/* y = f(gate) * up: SwiGLU, GeGLU */
	KK_OP_BINARY,		/* y = a op b (b may broadcast one row) */
	KK_OP_SCALE,		/* y = x * s */
	KK_OP_GET_ROWS,		/* y[m] = dequant(table[ids[m]]) */
	KK_OP_KV_STORE,		/* write K/V rows into the caches */
	KK_OP_ATTENTION,	/* causal attention over the KV cache */
	KK_OP_ARGMAX,		/* idx[m] = argmax(x[m]) (lowest on ties) */
	KK_OP_KIND_MAX,
};

/*
 * Matrices are row-major.  "rows" of activations are tokens (columns of the
 * mathematical product); strides are in elements of the pointed-to type
 * unless they say _bytes.
 */

#define KK_MATMUL_ACCUMULATE (1u << 0) /* y += W x instead of y = W x */
#define KK_MATMUL_FLAGS_ALL (KK_MATMUL_ACCUMULATE)

struct kk_matmul {
	const void *w;		/* n_out rows of k elements of w_type */
	kk_u64 w_row_bytes;	/* >= kk_row_bytes(w_type, k) */
	kk_u32 w_type;
	kk_u32 k;		/* inner dimension */
	kk_u32 n_out;		/* rows of W = elements of each y row */
	kk_u32 m;		/* columns: tokens in the batch */
	const float *x;		/* m rows of k floats */
	kk_u64 x_stride;	/* floats between rows of x */
	float *y;		/* m rows of n_out floats */
	kk_u64 y_stride;	/* floats between rows of y */
	kk_u32 flags;		/* KK_MATMUL_* */
	kk_u32 pad;
};

struct kk_rmsnorm {
	const float *x;
	float *y;		/* may equal x */
	const float *w;		/* n floats, or NULL for no weight */
	kk_u64 x_stride, y_stride;
	kk_u32 n;		/* elements per row */
	kk_u32 rows;
	kk_u32 eps_bits;	/* float */
	kk_u32 pad;
};

enum kk_rope_mode {
	KK_ROPE_NORMAL = 0,	/* rotate pairs (2i, 2i+1): Llama */
	KK_ROPE_NEOX = 2,	/* rotate pairs (i, i + n_dims/2): NeoX, Qwen, Gemma */
};

struct kk_rope {
	const float *x;		/* rows of n_head * head_dim floats */
	float *y;		/* may equal x */
	kk_u64 x_stride, y_stride; /* floats between rows (tokens) */
	const kk_i32 *pos;	/* rows positions */
	const float *freq_factors; /* n_dims/2 divisors of theta, or NULL */
	kk_u32 rows;
	kk_u32 n_head;
	kk_u32 head_dim;
	kk_u32 n_dims;		/* leading dims of each head rotated; even, <= head_dim */
	kk_u32 mode;		/* enum kk_rope_mode */
	kk_u32 freq_base_bits;	/* float, e.g. 10000 */
	kk_u32 freq_scale_bits;	/* float, 1/linear scaling factor; 1 = none */
	kk_u32 pad;
};

struct kk_softmax {
	const float *x;
	float *y;
	kk_u64 x_stride, y_stride;
	kk_u32 n;
	kk_u32 rows;
	kk_u32 scale_bits;	/* float applied before exp */
	kk_u32 pad;
};

enum kk_unary_fn { KK_UNARY_SILU = 0, KK_UNARY_GELU = 1 };

struct kk_unary {
	const float *x;
	float *y;
	kk_u64 x_stride, y_stride;
	kk_u32 n, rows;
	kk_u32 fn;		/* enum kk_unary_fn */
	kk_u32 pad;
};

struct kk_glu {
	const float *gate;	/* activation applied to this */
	const float *up;
	float *y;		/* may equal gate or up */
	kk_u64 gate_stride, up_stride, y_stride;
	kk_u32 n, rows;
	kk_u32 fn;		/* KK_UNARY_SILU = SwiGLU, KK_UNARY_GELU = GeGLU */
	kk_u32 pad;
};

enum kk_binary_fn { KK_BINARY_ADD = 0, KK_BINARY_MUL = 1 };

struct kk_binary {
	const float *a;
	const float *b;		/* b_stride 0 broadcasts one row of b */
	float *y;		/* may equal a or b */
	kk_u64 a_stride, b_stride, y_stride;
	kk_u32 n, rows;
	kk_u32 fn;		/* enum kk_binary_fn */
	kk_u32 pad;
};

struct kk_scale {
	const float *x;
	float *y;
	kk_u64 x_stride, y_stride;
	kk_u32 n, rows;
	kk_u32 scale_bits;	/* float */
	kk_u32 pad;
};

struct kk_get_rows {
	const void *table;	/* n_rows_table rows of n elements of type */
	kk_u64 table_row_bytes;
	kk_u32 type;
	kk_u32 n;
	kk_u32 n_rows_table;	/* ids are checked against this at run time */
	kk_u32 rows;		/* ids to gather */
	const kk_i32 *ids;	/* out-of-range ids give a row of zeros */
	float *y;
	kk_u64 y_stride;
};

/*
 * The KV cache of one sequence: ctx rows (positions) of n_kv_head * head_dim
 * elements, for K and for V, each of kv_type (F16; Q8_0 where supported).
 *
 * Contiguous (blocks NULL): position p is row p from k and from v.
 *
 * Paged (blocks not NULL): k and v are the bases of a K pool and a V pool
 * of n_pool blocks, block_bytes apart, each holding B = 1 << block_shift
 * rows; position p is row p % B of pool block blocks[p / B].  The checks,
 * made per row at run time (so a table may come from anywhere): block_shift
 * <= KK_KV_MAX_BLOCK_SHIFT, block_bytes >= B rows, n_pool * block_bytes
 * fits 64 bits, ctx <= n_blocks * B, else the sequence is skipped as an
 * unbound one; a block id (read once) >= n_pool is never written, and reads
 * as a row of zeros.  Blocks may be shared between
 * sequences (a common prefix): blocks[0 .. ro_blocks) are read-only, the KV
 * store skips their positions.
 */
struct kk_kv_seq {
	void *k;
	void *v;
	kk_u32 ctx;		/* positions the cache holds */
	kk_u32 block_shift;	/* paged: log2 of positions per block */
	const kk_u32 *blocks;	/* NULL: contiguous; else n_blocks pool block ids */
	kk_u64 block_bytes;	/* paged: bytes between pool blocks */
	kk_u32 n_blocks;	/* entries of blocks */
	kk_u32 n_pool;		/* blocks in each pool: the ids in range */
	kk_u32 ro_blocks;	/* leading table entries the KV store skips */
	kk_u32 pad;
};

/* Largest block_shift of a paged cache: 64k positions per block. */
#define KK_KV_MAX_BLOCK_SHIFT 16

struct kk_kv_store {
	const float *k;		/* rows of n_kv_head * head_dim floats */
	const float *v;
	kk_u64 k_stride, v_stride;
	const struct kk_kv_seq *seqs;
	const kk_i32 *seq;	/* per row: index into seqs */
	const kk_i32 *pos;	/* per row: position to write */
	kk_u32 n_seqs;
	kk_u32 rows;
	kk_u32 n_kv_head, head_dim;
	kk_u32 kv_type;		/* KK_TYPE_F16 or KK_TYPE_Q8_0 */
	kk_u32 pad;
};

struct kk_attention {
	const float *q;		/* rows of n_head * head_dim floats */
	float *y;		/* rows of n_head * head_dim floats */
	kk_u64 q_stride, y_stride;
	const struct kk_kv_seq *seqs;
	const kk_i32 *seq;	/* per row: index into seqs */
	const kk_i32 *pos;	/* per row: attends to positions <= pos */
	kk_u32 n_seqs;
	kk_u32 rows;
	kk_u32 n_head, n_kv_head, head_dim;
	kk_u32 kv_type;
	kk_u32 window;		/* 0 = none; else positions > pos - window */
	kk_u32 scale_bits;	/* float: usually 1/sqrt(head_dim) */
	kk_u32 softcap_bits;	/* float: 0 = none; else cap*tanh(s/cap) */
	/*
	 * Positions a row may read (the caches' ctx, or more): sizes the
	 * scratch, positions >= max_ctx are not read.  0 = no bound: unless
	 * window bounds it, each row is then one work item per head group,
	 * however long its context (not for the kernel home).
	 */
	kk_u32 max_ctx;
};

struct kk_argmax {
	const float *x;
	kk_u64 x_stride;
	kk_i32 *idx;
	kk_u32 n, rows;
};

struct kk_op {
	kk_u32 kind;		/* enum kk_op_kind */
	kk_u32 pad;
	void *scratch;		/* kk_op_scratch_size() bytes, 64-byte aligned */
	union {
		struct kk_matmul matmul;
		struct kk_rmsnorm rmsnorm;
		struct kk_rope rope;
		struct kk_softmax softmax;
		struct kk_unary unary;
		struct kk_glu glu;
		struct kk_binary binary;
		struct kk_scale scale;
		struct kk_get_rows get_rows;
		struct kk_kv_store kv_store;
		struct kk_attention attention;
		struct kk_argmax argmax;
	};
};

/*
 * 0 if the op's parameters are consistent (types, shapes, flags), else
 * -KK_EINVAL.  Pointers are the home's business: they are not checked.
 * These queries (down to kk_op_chunk_items) are integer code in non-FPU
 * units: the kernel home calls them outside any FPU section.
 */
int kk_op_check(const struct kk_op *op);
/* Scratch bytes the op needs in op->scratch (0 for most ops). */
kk_u64 kk_op_scratch_size(const struct kk_op *op);
/* Sequential stages of the op (1 or 2). */
kk_u32 kk_op_stages(const struct kk_op *op);
/* Independent work items in a stage. */
kk_u64 kk_op_items(const struct kk_op *op, kk_u32 stage);
/*
 * Items per chunk: enough work to amortise a dispatch, little enough that a
 * chunk takes well under 100 us natively, so the kernel home can run each
 * chunk in one kernel_fpu section.  Always >= 1.
 */
kk_u64 kk_op_chunk_items(const struct kk_op *op, kk_u32 stage);
/*
 * Run items [begin, end) of a stage on the calling thread, with the selected
 * SIMD path.  Uses FP/SIMD registers: the kernel home brackets the call with
 * kernel_fpu_begin/end.  Never sleeps, never allocates.
 */
void kk_op_run(const struct kk_op *op, kk_u32 stage, kk_u64 begin, kk_u64 end);

/* ------------------------------------------------------------------ */
/* The home: how ops are spread over threads.                           */

typedef void (*kk_range_fn)(void *arg, kk_u64 begin, kk_u64 end);

struct kk_host {
	/*
	 * Call fn(arg, b, e) over disjoint ranges covering [0, n_items), each
	 * at most @chunk items, from any number of threads; return when all
	 * are done.  The kernel home wraps each call in kernel_fpu_begin/end.
	 */
	void (*parallel_for)(void *ctx, kk_range_fn fn, void *arg,
			     kk_u64 n_items, kk_u64 chunk);
	void *ctx;
};

#define KK_OP_MAX_STAGES 4

/* Everything kk_op_exec needs to know before running an op. */
struct kk_op_plan {
	kk_u32 stages;
	kk_u32 pad;
	kk_u64 items[KK_OP_MAX_STAGES];
	kk_u64 chunk[KK_OP_MAX_STAGES];
	kk_u64 scratch_size;
};

/*
 * Check the op and fill the plan.  0 or -KK_EINVAL.  Integer code, like
 * kk_op_check and the other queries above: safe outside an FPU section.
 */
int kk_op_plan(const struct kk_op *op, struct kk_op_plan *plan);

/*
 * Plan the op, then run every stage through the host: its parallel_for is
 * the only way in to FPU units.  0 or -errno.
 */
int kk_op_exec(const struct kk_host *host, const struct kk_op *op);

/* Most ops kk_ops_exec runs as one step. */
#define KK_OP_GROUP_MAX 4

/*
 * Whether @op may join @group[0..n) (n >= 1, each member admitted so
 * far): matmuls of one weight type on the same activations (x, its
 * stride, m, k) with the same scratch, none accumulating, whose outputs
 * overlap neither each other nor x.  Their stage 0 would write the same
 * bytes to the same scratch, so the group quantizes x once and runs every
 * member's stage 1 in one parallel step: the results are bitwise those of
 * kk_op_exec on each in turn.  1 or 0; integer code.
 */
int kk_op_joins(const struct kk_op *group, kk_u32 n, const struct kk_op *op);

/*
 * Run @n (1..KK_OP_GROUP_MAX) ops that kk_op_joins admitted in turn, as
 * one: ops[0]'s first stages, then the last stage of all of them in one
 * parallel_for; n = 1 runs one op (kk_op_exec).  0 or -errno.
 */
int kk_ops_exec(const struct kk_host *host, const struct kk_op *ops, kk_u32 n);

/* ------------------------------------------------------------------ */
/* Row conversions (for loaders, tests, benchmarks).  FP/SIMD inside.    */

/* Dequantize n elements (a multiple of the block size) of src to floats. */
int kk_dequantize_row(kk_u32 type, const void *src, float *dst, kk_u64 n);
/* Quantize n floats into type (activation and weight types that have a
 * quantizer: F32, F16, BF16, Q8_0, Q8_1, Q8_K, Q4_0, Q4_1, Q5_0, Q5_1). */
int kk_quantize_row(kk_u32 type, const float *src, void *dst, kk_u64 n);

#ifndef __KERNEL__
/* Userspace convenience: float <-> the bit patterns op structs carry. */
static inline kk_u32 kk_fbits(float f)
{
	union { float f; kk_u32 u; } v = { .f = f };
	return v.u;
}
static inline float kk_bitsf(kk_u32 u)
{
	union { float f; kk_u32 u; } v = { .u = u };
	return v.f;
}
#endif

#endif /* KLLM_KK_H */
