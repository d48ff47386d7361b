/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * kllm_prog.h - the program format: a model compiled into a list of tensor
 * ops over tensors that live in buffers.
 *
 * The runtime builds a program once per model; the in-process engine runs it
 * and the kernel driver receives the very same bytes from userspace, checks
 * all of them (kllm_prog_check) and runs them.  Like any kernel UAPI it is a
 * flat byte image with a fixed layout:
 *
 *   struct kllm_prog_header                      header_size bytes
 *   struct kllm_prog_buffer   [n_buffers]        buffer_size bytes each
 *   struct kllm_prog_tensor   [n_tensors]        tensor_size bytes each
 *   struct kllm_prog_op       [n_ops]            op_size bytes each
 *
 * and nothing else: total_size is exactly the sum.  All integers are little
 * endian; there are no pointers; float parameters are IEEE-754 bit patterns
 * in u32 fields.  Every reserved field and every unused slot or parameter
 * must be zero (slots: KLLM_PROG_NONE), unknown flags are rejected.  A
 * header or record may be larger than this version's struct (a newer
 * writer) if the extra bytes are zero, as with Linux's extensible structs.
 *
 * docs/PROGRAM.md describes the format for reviewers.
 */
#ifndef KLLM_UAPI_PROG_H
#define KLLM_UAPI_PROG_H

#ifdef __KERNEL__
#include <linux/types.h>
typedef __u8 kllm_u8;
typedef __u16 kllm_u16;
typedef __u32 kllm_u32;
typedef __u64 kllm_u64;
typedef __s32 kllm_s32;
#else
#include <stdint.h>
typedef uint8_t kllm_u8;
typedef uint16_t kllm_u16;
typedef uint32_t kllm_u32;
typedef uint64_t kllm_u64;
typedef int32_t kllm_s32;
#endif

#define KLLM_PROG_MAGIC 0x47504c4bu	/* bytes "KLPG" */
#define KLLM_PROG_VERSION 1

/* Limits (the validator rejects anything beyond them). */
#define KLLM_PROG_MAX_BUFFERS 64
#define KLLM_PROG_MAX_TENSORS 65536
#define KLLM_PROG_MAX_OPS 65536
#define KLLM_PROG_MAX_BATCH 4096
#define KLLM_PROG_MAX_SEQS 4096		/* sequences one job binds */
#define KLLM_PROG_MAX_RECORD 4096	/* largest header or record size */
#define KLLM_PROG_MAX_SIZE (64u << 20)	/* largest total_size */
#define KLLM_PROG_MAX_BUFFER_BYTES (1ull << 48)
#define KLLM_PROG_BIND_ALIGN 32		/* every bound buffer base */

/* "No tensor" in an op slot. */
#define KLLM_PROG_NONE 0xffffffffu

struct kllm_prog_header {
	kllm_u32 magic;		/* KLLM_PROG_MAGIC */
	kllm_u16 version;	/* KLLM_PROG_VERSION */
	kllm_u16 header_size;	/* >= sizeof(struct kllm_prog_header) */
	kllm_u32 total_size;	/* bytes of the whole program */
	kllm_u32 flags;		/* none defined: 0 */
	kllm_u16 buffer_size;	/* bytes of one buffer record */
	kllm_u16 tensor_size;	/* bytes of one tensor record */
	kllm_u16 op_size;	/* bytes of one op record */
	kllm_u16 reserved0;
	kllm_u32 n_buffers;	/* 1..KLLM_PROG_MAX_BUFFERS */
	kllm_u32 n_tensors;	/* 0..KLLM_PROG_MAX_TENSORS */
	kllm_u32 n_ops;		/* 0..KLLM_PROG_MAX_OPS */
	kllm_u32 max_batch;	/* 1..KLLM_PROG_MAX_BATCH tokens per job */
	kllm_u32 reserved[6];
};

/* ------------------------------------------------------------------ */
/* Buffers: where tensors live.  Ids are indices into the buffer table. */

enum kllm_prog_buf_kind {
	/* Read-only; bound per program to a weight memory object (a range of
	 * a model file).  size: bytes of that range. */
	KLLM_PROG_BUF_WEIGHTS = 1,
	/* Scratch arena for intermediate results.  size: bytes needed at
	 * max_batch; the home allocates it. */
	KLLM_PROG_BUF_ACTIVATIONS = 2,
	/* One sequence's KV cache.  size: bytes per sequence; a job binds
	 * each of its sequences to its own memory of this size.  Only the
	 * cache slots of KV_STORE and ATTENTION may use its tensors.
	 * With KLLM_PROG_BUF_PAGED (below): one block of it instead. */
	KLLM_PROG_BUF_KV = 3,
	/* Read-only, per job: one of the job's i32 arrays (input below).
	 * size: 4 * max_batch. */
	KLLM_PROG_BUF_INPUT = 4,
	/* Per job: results (logits, argmax ids).  size: bytes at max_batch;
	 * a job may bind less if its tensors' rows at its batch fit. */
	KLLM_PROG_BUF_OUTPUT = 5,
};

/* Which job array an INPUT buffer is; all are i32, one per row. */
enum kllm_prog_input {
	KLLM_PROG_IN_TOKENS = 1,	/* token ids, n_tokens */
	KLLM_PROG_IN_POS = 2,		/* positions, n_tokens */
	KLLM_PROG_IN_SEQ = 3,		/* sequence index of each token, n_tokens */
	KLLM_PROG_IN_OUT_ROWS = 4,	/* token rows to produce output for, n_outputs */
};

/*
 * A paged KV buffer (flag on a KV buffer only): its memory comes in blocks
 * of 1 << block_shift positions (reserved[0], KLLM_PROG_MIN_BLOCK_SHIFT..
 * KLLM_PROG_MAX_BLOCK_SHIFT) and size is the bytes of ONE block, which
 * holds those positions for every cache tensor of the buffer (each such
 * tensor has exactly 1 << block_shift rows).  A job binds a pool of
 * blocks per paged buffer and, per sequence, a table of block ids into it
 * (struct kllm_prog_table in kllm_prog_lower.h): position p of a sequence
 * is row p & (B - 1) of block table[p >> block_shift].  Ids are checked
 * against the pool when the job is set up and again by the kernels at
 * every access; leading ro_blocks entries of a table are never written.
 */
#define KLLM_PROG_BUF_PAGED (1u << 0)
#define KLLM_PROG_BUF_FLAGS_ALL KLLM_PROG_BUF_PAGED
#define KLLM_PROG_MIN_BLOCK_SHIFT 4
#define KLLM_PROG_MAX_BLOCK_SHIFT 16	/* = KK_KV_MAX_BLOCK_SHIFT */
#define KLLM_PROG_MAX_POOL_BLOCKS (1u << 24)	/* blocks in one job's pool */
/*
 * A paged buffer's reserved[1] is n_ctx: the positions one sequence holds
 * (1..KLLM_PROG_MAX_CTX), which a contiguous cache's rows say.  It bounds
 * attention (its max_ctx) and a table (ceil(n_ctx / B) entries at most).
 * Every KV buffer of a program is paged or none is, all with the same
 * block_shift and n_ctx (one table serves them all), and size is a
 * non-zero multiple of KLLM_PROG_BIND_ALIGN (blocks stay aligned).
 */
#define KLLM_PROG_MAX_CTX (1u << 24)

struct kllm_prog_buffer {
	kllm_u32 kind;		/* enum kllm_prog_buf_kind */
	kllm_u32 flags;		/* KLLM_PROG_BUF_PAGED (KV only); else 0 */
	kllm_u64 size;		/* bytes, <= KLLM_PROG_MAX_BUFFER_BYTES */
	kllm_u32 input;		/* INPUT: enum kllm_prog_input; else 0 */
	kllm_u32 reserved[3];	/* PAGED: [0] block_shift, [1] n_ctx; else 0 */
};

/* ------------------------------------------------------------------ */
/* Tensors: a typed 2-D view of a buffer.                                */

/* Element types: ggml's numbers (enum kk_type in kernels/kk.h) plus I32. */
#define KLLM_PROG_TYPE_F32 0
#define KLLM_PROG_TYPE_F16 1
#define KLLM_PROG_TYPE_I32 26

/*
 * Row count of a tensor.  Without a flag the tensor has ne[1]*ne[2]*ne[3]
 * rows.  A batch-shaped tensor has ne[1] == 0, ne[2] == ne[3] == 1, and as
 * many rows as the job has tokens (ROWS_TOKENS) or selected output rows
 * (ROWS_OUTPUTS); both are at most max_batch, so one program serves any
 * batch, and batches of several jobs can be fused into one.
 */
#define KLLM_PROG_T_ROWS_TOKENS (1u << 0)
#define KLLM_PROG_T_ROWS_OUTPUTS (1u << 1)
#define KLLM_PROG_T_FLAGS_ALL (KLLM_PROG_T_ROWS_TOKENS | KLLM_PROG_T_ROWS_OUTPUTS)

struct kllm_prog_tensor {
	kllm_u32 buffer;	/* buffer id */
	kllm_u32 type;		/* element type */
	kllm_u64 offset;	/* bytes from the buffer start to row 0 */
	kllm_u64 row_stride;	/* bytes between rows, >= bytes of one row */
	kllm_u32 ne[4];		/* ne[0]: elements per row; see rows above */
	kllm_u32 flags;		/* KLLM_PROG_T_* */
	kllm_u32 reserved[5];
};

/* ------------------------------------------------------------------ */
/* Ops: the kernels' ops (kernels/kk.h), numbered as enum kk_op_kind.   */

enum kllm_prog_op_kind {
	KLLM_PROG_OP_MATMUL = 1,
	KLLM_PROG_OP_RMSNORM = 2,
	KLLM_PROG_OP_ROPE = 3,
	KLLM_PROG_OP_SOFTMAX = 4,
	KLLM_PROG_OP_UNARY = 5,
	KLLM_PROG_OP_GLU = 6,
	KLLM_PROG_OP_BINARY = 7,
	KLLM_PROG_OP_SCALE = 8,
	KLLM_PROG_OP_GET_ROWS = 9,
	KLLM_PROG_OP_KV_STORE = 10,
	KLLM_PROG_OP_ATTENTION = 11,
	KLLM_PROG_OP_ARGMAX = 12,
	KLLM_PROG_OP_KIND_MAX,
};

#define KLLM_PROG_OP_SLOTS 6
#define KLLM_PROG_OP_PARAMS 8

/*
 * Slots (t[]) and parameters (p[]) per kind; "w" marks a written slot, "?"
 * an optional one (KLLM_PROG_NONE = absent).  f: float bit pattern.
 *
 *  MATMUL     t: W x y(w)                  flags: KLLM_PROG_MATMUL_ACCUMULATE
 *  RMSNORM    t: x w? y(w)                 p: eps(f)
 *  ROPE       t: x pos freq_factors? y(w)  p: n_head head_dim n_dims mode
 *                                             freq_base(f) freq_scale(f)
 *  SOFTMAX    t: x y(w)                    p: scale(f)
 *  UNARY      t: x y(w)                    p: fn (kk_unary_fn)
 *  GLU        t: gate up y(w)              p: fn (kk_unary_fn)
 *  BINARY     t: a b y(w)                  p: fn (kk_binary_fn)
 *  SCALE      t: x y(w)                    p: scale(f)
 *  GET_ROWS   t: table ids y(w)
 *  KV_STORE   t: k v seq pos k_cache(w) v_cache(w)   p: n_kv_head head_dim
 *  ATTENTION  t: q seq pos k_cache v_cache y(w)
 *             p: n_head n_kv_head head_dim window scale(f) softcap(f)
 *  ARGMAX     t: x idx(w)
 */
#define KLLM_PROG_MATMUL_ACCUMULATE (1u << 0)

struct kllm_prog_op {
	kllm_u32 kind;		/* enum kllm_prog_op_kind */
	kllm_u32 flags;		/* per kind; 0 where none is defined */
	kllm_u32 t[KLLM_PROG_OP_SLOTS];	/* tensor ids, KLLM_PROG_NONE if unused */
	kllm_u32 p[KLLM_PROG_OP_PARAMS];	/* parameters, 0 if unused */
	kllm_u32 reserved[4];
};

#define KLLM_PROG_HEADER_SIZE 64
#define KLLM_PROG_BUFFER_SIZE 32
#define KLLM_PROG_TENSOR_SIZE 64
#define KLLM_PROG_OP_SIZE 80

_Static_assert(sizeof(struct kllm_prog_header) == KLLM_PROG_HEADER_SIZE, "header");
_Static_assert(sizeof(struct kllm_prog_buffer) == KLLM_PROG_BUFFER_SIZE, "buffer");
_Static_assert(sizeof(struct kllm_prog_tensor) == KLLM_PROG_TENSOR_SIZE, "tensor");
_Static_assert(sizeof(struct kllm_prog_op) == KLLM_PROG_OP_SIZE, "op");

#endif /* KLLM_UAPI_PROG_H */
