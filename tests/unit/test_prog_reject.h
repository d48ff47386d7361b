/* SPDX-License-Identifier: MIT */
/*
 * test_prog_reject.h - part of test_prog.c: what the validator and the
 * lowering refuse, with their exact messages, and the mutation loop.
 */

/* The toy program's ids, as the messages below name them. */
enum { B_W = 0, B_KV = 1, B_TOK = 2, B_LOGITS = 6, B_IDS = 7, B_ACT = 9 };
enum { T_ANORM = 1, T_WQ = 2, T_FREQ = 13, T_KC = 14, T_VC = 15, T_TOK = 16,
       T_LG = 20, T_IDS = 21, T_X = 23, T_XN = 24, T_Q = 25, T_K = 26, T_U = 30,
       T_G = 29, T_XO = 31, N_T = 32, N_OPS = 23 };

static void tm_ids_as_expected(const struct toy_model *m)
{
	const struct kllm_prog_header *h = (const void *)m->img;

	ck_assert_uint_eq(m->b_w, B_W);
	ck_assert_uint_eq(m->b_kv, B_KV);
	ck_assert_uint_eq(m->b_logits, B_LOGITS);
	ck_assert_uint_eq(m->b_ids, B_IDS);
	ck_assert_uint_eq(m->b_act, B_ACT);
	ck_assert_uint_eq(m->wt[W_FREQ], T_FREQ);
	ck_assert_uint_eq(m->t_kc, T_KC);
	ck_assert_uint_eq(m->t_x, T_X);
	ck_assert_uint_eq(h->n_tensors, N_T);
	ck_assert_uint_eq(h->n_ops, N_OPS);
}

/* The message for an image, or "accepted". */
static const char *verdict(const uint8_t *img, size_t size, char *msg, size_t n)
{
	struct kllm_prog_info pi;
	struct kllm_prog_err err;

	if (!kllm_prog_check(img, size, &pi, &err))
		return "accepted";
	kllm_prog_err_format(&err, msg, (uint32_t)n);
	return msg;
}

enum { R_NONE, R_HDR, R_BUF, R_TEN, R_OP };

struct patch {
	uint8_t rec;
	uint8_t width;
	uint16_t off;
	uint32_t idx;
	uint64_t val;
};

struct rej {
	struct patch p[4];
	const char *want;
};

#define FS(type, f) sizeof(((struct type *)0)->f)
#define PH(f, v) { R_HDR, FS(kllm_prog_header, f), offsetof(struct kllm_prog_header, f), 0, v }
#define PB(i, f, v) { R_BUF, FS(kllm_prog_buffer, f), offsetof(struct kllm_prog_buffer, f), i, v }
#define PT(i, f, v) { R_TEN, FS(kllm_prog_tensor, f), offsetof(struct kllm_prog_tensor, f), i, v }
#define PO(i, f, v) { R_OP, FS(kllm_prog_op, f), offsetof(struct kllm_prog_op, f), i, v }
#define R1(a, w) { { a, { 0 } }, w }
#define R2(a, b, w) { { a, b }, w }
#define R4(a, b, c, d, w) { { a, b, c, d }, w }
#define NONE_ KLLM_PROG_NONE

static const struct rej rejects[] = {
	/* header */
	R1(PH(magic, 0x4b4c5047), "header: bad magic"),
	R1(PH(version, 2), "header: unsupported version"),
	R1(PH(version, 0), "header: unsupported version"),
	R1(PH(header_size, 56), "header: bad header_size"),
	R1(PH(header_size, 68), "header: bad header_size"),
	R1(PH(header_size, 8192), "header: bad header_size"),
	R1(PH(total_size, 1), "header: total_size differs from the length"),
	R1(PH(flags, 1), "header: unknown flags"),
	R1(PH(reserved0, 1), "header: reserved field is not zero"),
	R1(PH(reserved[0], 1), "header: reserved field is not zero"),
	R1(PH(reserved[1], 1), "header: reserved field is not zero"),
	R1(PH(reserved[2], 1), "header: reserved field is not zero"),
	R1(PH(reserved[3], 1), "header: reserved field is not zero"),
	R1(PH(reserved[4], 1), "header: reserved field is not zero"),
	R1(PH(reserved[5], 0x80000000u), "header: reserved field is not zero"),
	R1(PH(buffer_size, 24), "header: bad buffer_size"),
	R1(PH(tensor_size, 68), "header: bad tensor_size"),
	R1(PH(op_size, 0), "header: bad op_size"),
	R1(PH(n_buffers, 0), "header: n_buffers out of range"),
	R1(PH(n_buffers, 65), "header: n_buffers out of range"),
	R1(PH(n_tensors, 65537), "header: n_tensors over the limit"),
	R1(PH(n_ops, 65537), "header: n_ops over the limit"),
	R1(PH(n_ops, 0xffffffffu), "header: n_ops over the limit"),
	R1(PH(max_batch, 0), "header: max_batch out of range"),
	R1(PH(max_batch, 4097), "header: max_batch out of range"),
	R1(PH(n_ops, N_OPS - 1), "header: record counts do not add up to total_size"),
	R1(PH(n_tensors, N_T + 1), "header: record counts do not add up to total_size"),
	/* buffers */
	R1(PB(0, kind, 0), "buffer 0: unknown kind"),
	R1(PB(0, kind, 6), "buffer 0: unknown kind"),
	R1(PB(0, flags, 2), "buffer 0: unknown flags"),
	R1(PB(0, flags, KLLM_PROG_BUF_PAGED), "buffer 0: paged flag on a buffer that is not KV"),
	R1(PB(B_IDS, flags, KLLM_PROG_BUF_PAGED), "buffer 7: paged flag on a buffer that is not KV"),
	R1(PB(B_KV, flags, KLLM_PROG_BUF_PAGED), "buffer 1: block_shift out of range"),
	R1(PB(B_KV, reserved[0], 4), "buffer 1: reserved field is not zero"),
	R1(PB(B_KV, reserved[1], 16), "buffer 1: reserved field is not zero"),
	R1(PB(0, size, (1ull << 48) + 1), "buffer 0: size over the limit"),
	R1(PB(0, input, 1), "buffer 0: input set on a buffer that is not INPUT"),
	R1(PB(0, reserved[0], 1), "buffer 0: reserved field is not zero"),
	R1(PB(0, reserved[1], 1), "buffer 0: reserved field is not zero"),
	R1(PB(9, reserved[2], 1), "buffer 9: reserved field is not zero"),
	R1(PB(B_TOK, input, 5), "buffer 2: unknown input"),
	R1(PB(B_TOK, input, 0), "buffer 2: unknown input"),
	R1(PB(B_TOK, size, 4 * TM_MB + 4), "buffer 2: input size is not 4 * max_batch"),
	R1(PB(B_W, size, 0), "tensor 0: ends past buffer 0"),
	R1(PB(B_LOGITS, size, 4 * TM_V * TM_MB - 4), "tensor 20: ends past buffer 6"),
	R1(PB(B_KV, size, 4 * TM_CTX * TM_KV - 1), "tensor 15: ends past buffer 1"),
	/* buffer kinds swapped: an input tensor's buffer made an OUTPUT is fine,
	 * but a KV tensor's buffer made ACTIVATIONS is refused at the op */
	R1(PB(B_KV, kind, KLLM_PROG_BUF_ACTIVATIONS),
	   "op 7 (kv_store): k_cache tensor 14: cache tensor not in a KV buffer"),
	/* tensors */
	R1(PT(5, reserved[0], 1), "tensor 5: reserved field is not zero"),
	R1(PT(5, reserved[4], 1), "tensor 5: reserved field is not zero"),
	R1(PT(5, buffer, 10), "tensor 5: buffer id out of range"),
	R1(PT(5, buffer, 0xffffffffu), "tensor 5: buffer id out of range"),
	R1(PT(5, type, 4), "tensor 5: unknown type"),
	R1(PT(5, type, 31), "tensor 5: unknown type"),
	R1(PT(T_X, flags, 4), "tensor 23: unknown flags"),
	R1(PT(T_X, flags, 3), "tensor 23: rows both tokens and outputs"),
	R1(PT(5, ne[0], 0), "tensor 5: ne[0] is 0"),
	R1(PT(T_X, ne[1], 1), "tensor 23: batch-shaped but ne[1..3] are not 0, 1, 1"),
	R1(PT(T_X, ne[3], 2), "tensor 23: batch-shaped but ne[1..3] are not 0, 1, 1"),
	R1(PT(5, ne[2], 0), "tensor 5: row count is 0 or overflows"),
	R2(PT(5, ne[1], 0x10000), PT(5, ne[2], 0x10000), "tensor 5: row count is 0 or overflows"),
	R2(PT(5, ne[2], 0x10000), PT(5, ne[3], 0x10001), "tensor 5: row count is 0 or overflows"),
	R1(PT(5, ne[0], 33), "tensor 5: ne[0] is not a whole number of blocks"),
	R1(PT(5, row_stride, 1), "tensor 5: row_stride is less than a row"),
	/* one row (the attention norm): its stride is never stepped over in
	 * range checks, yet the kernels form row + stride pointers */
	R1(PT(1, row_stride, 1ull << 50), "tensor 1: row_stride larger than its buffer 0"),
	R1(PT(T_X, offset, 2), "tensor 23: offset or row_stride misaligned for its type"),
	R1(PT(T_X, row_stride, 4 * TM_D + 2), "tensor 23: offset or row_stride misaligned for its type"),
	R1(PT(T_TOK, offset, 4), "tensor 16: input tensor is not the whole i32 array of its buffer 2"),
	R1(PT(T_TOK, flags, KLLM_PROG_T_ROWS_OUTPUTS),
	   "tensor 16: input tensor is not the whole i32 array of its buffer 2"),
	R1(PT(T_TOK, row_stride, 8), "tensor 16: input tensor is not the whole i32 array of its buffer 2"),
	R1(PT(T_TOK, type, KLLM_PROG_TYPE_F32),
	   "tensor 16: input tensor is not the whole i32 array of its buffer 2"),
	R2(PT(T_KC, flags, KLLM_PROG_T_ROWS_TOKENS), PT(T_KC, ne[1], 0),
	   "tensor 14: batch-shaped tensor in a KV buffer 1"),
	R1(PT(5, offset, 1ull << 40), "tensor 5: ends past buffer 0"),
	R1(PT(5, offset, 0xfffffffffffffffeull), "tensor 5: byte range overflows"),
	R1(PT(5, row_stride, 1ull << 62), "tensor 5: byte range overflows"),
	R1(PT(T_X, row_stride, 1ull << 62), "tensor 23: byte range overflows"),
	R1(PT(T_X, row_stride, 1ull << 20), "tensor 23: ends past buffer 9"),
	/* ops */
	R1(PO(2, kind, 0), "op 2 (?): unknown kind"),
	R1(PO(2, kind, 13), "op 2 (?): unknown kind"),
	R1(PO(2, reserved[0], 1), "op 2 (matmul): reserved field is not zero"),
	R1(PO(2, reserved[3], 1), "op 2 (matmul): reserved field is not zero"),
	R1(PO(2, flags, 2), "op 2 (matmul): unknown flags"),
	R1(PO(1, flags, 1), "op 1 (rmsnorm): unknown flags"),
	R1(PO(2, p[0], 1), "op 2 (matmul): unused parameter is not zero"),
	R1(PO(1, p[1], 1), "op 1 (rmsnorm): unused parameter is not zero"),
	R1(PO(8, p[7], 1), "op 8 (attention): unused parameter is not zero"),
	R1(PO(2, t[3], 0), "op 2 (matmul): unused tensor slot is not KLLM_PROG_NONE"),
	R1(PO(21, t[5], T_X), "op 21 (argmax): unused tensor slot is not KLLM_PROG_NONE"),
	R1(PO(2, t[1], NONE_), "op 2 (matmul): x: required tensor missing"),
	R1(PO(7, t[5], NONE_), "op 7 (kv_store): v_cache: required tensor missing"),
	R1(PO(2, t[1], N_T), "op 2 (matmul): x tensor 32: tensor id out of range"),
	R1(PO(2, t[1], 0xfffffffeu), "op 2 (matmul): x: tensor id out of range"),
	R1(PO(2, t[1], T_TOK), "op 2 (matmul): x tensor 16: type is not f32"),
	R1(PO(2, t[0], T_TOK), "op 2 (matmul): weight tensor 16: type cannot be a weight"),
	R1(PO(2, t[2], T_ANORM), "op 2 (matmul): y tensor 1: written, but in read-only buffer 0"),
	R1(PO(21, t[1], T_TOK), "op 21 (argmax): idx tensor 16: written, but in read-only buffer 2"),
	R1(PO(2, t[1], T_G), "op 2 (matmul): x tensor 29: row length differs from the weight's"),
	R1(PO(2, t[2], T_K), "op 2 (matmul): y tensor 26: row length differs from the weight's rows"),
	R1(PO(2, t[1], T_XO), "op 2 (matmul): y tensor 25: rows differ from slot 1's"),
	R1(PO(2, t[0], T_X), "op 2 (matmul): weight tensor 23: weight rows are batch-shaped"),
	R1(PO(2, t[1], T_KC), "op 2 (matmul): x tensor 14: KV buffer tensor outside a cache slot"),
	R1(PO(7, t[4], T_K), "op 7 (kv_store): k_cache tensor 26: cache tensor not in a KV buffer"),
	R1(PO(7, t[0], T_Q), "op 7 (kv_store): k tensor 25: row length is not n_kv_head * head_dim"),
	R1(PO(7, t[2], T_IDS), "op 7 (kv_store): seq tensor 21: rows differ from slot 0's"),
	R1(PO(7, p[0], 0), "op 7 (kv_store): n_kv_head * head_dim is 0 or overflows"),
	R1(PO(7, p[1], 0x80000000u), "op 7 (kv_store): n_kv_head * head_dim is 0 or overflows"),
	R1(PO(5, p[2], 15), "op 5 (rope): n_dims is 0, odd, or past head_dim"),
	R1(PO(5, p[2], 18), "op 5 (rope): n_dims is 0, odd, or past head_dim"),
	R1(PO(5, p[3], 1), "op 5 (rope): unknown rope mode"),
	R1(PO(5, p[0], 3), "op 5 (rope): x tensor 25: row length is not n_head * head_dim"),
	R1(PO(5, t[2], T_ANORM), "accepted"),
	R1(PO(5, t[1], T_X), "op 5 (rope): pos tensor 23: not a contiguous i32 vector"),
	R1(PO(8, p[1], 3), "op 8 (attention): n_head is not a multiple of n_kv_head"),
	R1(PO(8, p[1], 0), "op 8 (attention): n_head, n_kv_head or head_dim is 0 or too large"),
	R1(PO(8, t[4], T_KC), "accepted"),
	R1(PO(1, p[0], 0x7fc00000u), "op 1 (rmsnorm): kernels reject its parameters"),
	R1(PO(8, p[4], 0x7f800000u), "op 8 (attention): kernels reject its parameters"),
	R1(PO(13, p[0], 2), "op 13 (unary): unknown function"),
	R1(PO(16, t[1], T_U), "op 16 (binary): b tensor 30: row length differs from a's"),
	R1(PO(16, t[1], T_XN), "accepted"),
	R1(PO(16, t[1], T_XO), "op 16 (binary): b tensor 31: rows neither match a's nor are one broadcast row"),
	R1(PO(16, t[1], 0), "op 16 (binary): b tensor 0: type is not f32"),
	R1(PO(18, t[2], T_X), "op 18 (get_rows): y tensor 23: rows differ from slot 1's"),
	R1(PO(20, t[2], T_LG + 2), "accepted"),
	R1(PO(2, t[2], T_XN), "op 2 (matmul): y tensor 24: overlaps slot 1's tensor"),
	R1(PO(7, t[5], T_KC), "op 7 (kv_store): k_cache tensor 14: overlaps slot 5's tensor"),
	R1(PO(1, t[2], T_X), "accepted"),
	R1(PT(T_KC, type, KK_TYPE_BF16), "op 7 (kv_store): k_cache tensor 14: cache type is not f16 or q8_0"),
	R2(PT(T_VC, type, KK_TYPE_Q8_0), PT(T_VC, row_stride, TM_KV / 32 * 34),
	   "op 7 (kv_store): v_cache tensor 15: type differs from k_cache's"),
	R1(PO(8, t[5], T_Q), "accepted"),
};

/*
 * Over the toy program made paged (PAGED_BASE: its KV buffer one block of
 * B = 16 positions, the cache tensors' rows, n_ctx 40): the paged rules.
 */
#define PAGED_CTX 40
#define PAGED_BASE PB(B_KV, flags, KLLM_PROG_BUF_PAGED), PB(B_KV, reserved[0], 4), \
		   PB(B_KV, reserved[1], PAGED_CTX)

static const struct rej paged_rejects[] = {
	R1(PB(B_KV, flags, 3), "buffer 1: unknown flags"),
	R1(PB(B_KV, reserved[0], 3), "buffer 1: block_shift out of range"),
	R1(PB(B_KV, reserved[0], 17), "buffer 1: block_shift out of range"),
	R1(PB(B_KV, reserved[0], 5),
	   "tensor 14: rows of a paged KV tensor are not its block's positions 1"),
	R1(PB(B_KV, reserved[1], 0), "buffer 1: n_ctx out of range"),
	R1(PB(B_KV, reserved[1], KLLM_PROG_MAX_CTX + 1), "buffer 1: n_ctx out of range"),
	R1(PB(B_KV, reserved[1], 4096), "accepted"),
	R1(PB(B_KV, reserved[1], 1), "accepted"),
	R1(PB(B_KV, reserved[2], 1), "buffer 1: reserved field is not zero"),
	R1(PB(B_KV, size, 4 * TM_CTX * TM_KV + 16),
	   "buffer 1: paged block size is 0 or not a multiple of the alignment"),
	R1(PB(B_KV, size, 0), "buffer 1: paged block size is 0 or not a multiple of the alignment"),
	R1(PB(B_KV, size, 4 * TM_CTX * TM_KV + 32), "accepted"),
	R1(PB(B_KV, size, 4 * TM_CTX * TM_KV - 32), "tensor 15: ends past buffer 1"),
	/* the cache rows: one block's positions */
	R2(PT(T_KC, ne[1], 8), PT(T_VC, ne[1], 8),
	   "tensor 14: rows of a paged KV tensor are not its block's positions 1"),
	R2(PT(T_KC, ne[1], 8), PT(T_KC, ne[2], 2), "accepted"),
	/* a second KV buffer: paged alike, or the program is refused */
	R1(PB(B_IDS, kind, KLLM_PROG_BUF_KV), "buffer 7: paged and unpaged KV buffers mixed"),
	R4(PB(B_IDS, kind, KLLM_PROG_BUF_KV), PB(B_IDS, flags, KLLM_PROG_BUF_PAGED),
	   PB(B_IDS, reserved[0], 5), PB(B_IDS, reserved[1], PAGED_CTX),
	   "buffer 7: block_shift or n_ctx differs from the other KV buffers'"),
	R4(PB(B_IDS, kind, KLLM_PROG_BUF_KV), PB(B_IDS, flags, KLLM_PROG_BUF_PAGED),
	   PB(B_IDS, reserved[0], 4), PB(B_IDS, reserved[1], PAGED_CTX + 1),
	   "buffer 7: block_shift or n_ctx differs from the other KV buffers'"),
	/* a paged KV tensor is a cache, nothing else */
	R1(PO(2, t[1], T_KC), "op 2 (matmul): x tensor 14: KV buffer tensor outside a cache slot"),
};

static void apply(uint8_t *img, const uint8_t *orig, const struct patch *p);

/* The paged toy program, then @r's patches: the message, or "accepted". */
static const char *paged_verdict(const struct toy_model *m, uint8_t *img, const struct rej *r,
				 char *msg, size_t n)
{
	static const struct patch base[] = { PAGED_BASE };

	memcpy(img, m->img, m->size);
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		apply(img, m->img, &base[i]);
	for (size_t i = 0; r && i < 4; i++)
		apply(img, m->img, &r->p[i]);
	return verdict(img, m->size, msg, n);
}

static void apply(uint8_t *img, const uint8_t *orig, const struct patch *p)
{
	const struct kllm_prog_header *h = (const void *)orig;
	size_t at = 0, nb = h->n_buffers * sizeof(struct kllm_prog_buffer);
	size_t nt = h->n_tensors * sizeof(struct kllm_prog_tensor);

	switch (p->rec) {
	case R_NONE:
		return;
	case R_HDR:
		at = 0;
		break;
	case R_BUF:
		at = sizeof(*h) + p->idx * sizeof(struct kllm_prog_buffer);
		break;
	case R_TEN:
		at = sizeof(*h) + nb + p->idx * sizeof(struct kllm_prog_tensor);
		break;
	case R_OP:
		at = sizeof(*h) + nb + nt + p->idx * sizeof(struct kllm_prog_op);
		break;
	}
	memcpy(img + at + p->off, &p->val, p->width);	/* little endian */
}

START_TEST(test_rejects_with_exact_message)
{
	char msg[200];
	struct toy_model m;
	uint8_t *img;

	tm_build(&m, 5);
	tm_ids_as_expected(&m);
	kt_select(kk_simd_best(kt_paths()));
	ck_assert_str_eq(verdict(m.img, m.size, msg, sizeof(msg)), "accepted");
	img = kt_alloc(m.size);
	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		memcpy(img, m.img, m.size);
		for (size_t k = 0; k < 4; k++)
			apply(img, m.img, &rejects[i].p[k]);
		ck_assert_msg(!strcmp(verdict(img, m.size, msg, sizeof(msg)), rejects[i].want),
			      "case %zu: got \"%s\", want \"%s\"", i, msg, rejects[i].want);
	}
	ck_assert_str_eq(paged_verdict(&m, img, NULL, msg, sizeof(msg)), "accepted");
	for (size_t i = 0; i < sizeof(paged_rejects) / sizeof(paged_rejects[0]); i++)
		ck_assert_msg(!strcmp(paged_verdict(&m, img, &paged_rejects[i], msg, sizeof(msg)),
				      paged_rejects[i].want),
			      "paged case %zu: got \"%s\", want \"%s\"", i, msg,
			      paged_rejects[i].want);
	/* truncated: shorter than a header, or than total_size says */
	ck_assert_str_eq(verdict(m.img, 63, msg, sizeof(msg)), "header: shorter than the header");
	ck_assert_str_eq(verdict(m.img, 0, msg, sizeof(msg)), "header: shorter than the header");
	ck_assert_str_eq(verdict(m.img, m.size - 1, msg, sizeof(msg)),
			 "header: total_size differs from the length");
	ck_assert_str_eq(verdict(m.img, (size_t)KLLM_PROG_MAX_SIZE + 8, msg, sizeof(msg)),
			 "header: larger than KLLM_PROG_MAX_SIZE");
	free(img);
	tm_free(&m);
}
END_TEST

/* A newer writer's longer header and records: zero tails are accepted. */
START_TEST(test_longer_records)
{
	struct kllm_prog_header h;
	char msg[200];
	struct toy_model m;
	uint8_t *img;
	size_t size, at;
	const uint32_t extra = 16;

	tm_build(&m, 6);
	kt_select(kk_simd_best(kt_paths()));
	memcpy(&h, m.img, sizeof(h));
	/* every op record grows by 16 zero bytes */
	size = m.size + (size_t)h.n_ops * extra;
	img = kt_alloc(size);
	at = m.size - (size_t)h.n_ops * sizeof(struct kllm_prog_op);
	memcpy(img, m.img, at);
	for (uint32_t i = 0; i < h.n_ops; i++)
		memcpy(img + at + i * (sizeof(struct kllm_prog_op) + extra),
		       m.img + at + i * sizeof(struct kllm_prog_op), sizeof(struct kllm_prog_op));
	kb_hdr(img)->op_size = sizeof(struct kllm_prog_op) + extra;
	kb_hdr(img)->total_size = (uint32_t)size;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)), "accepted");
	img[at + 3 * (sizeof(struct kllm_prog_op) + extra) + sizeof(struct kllm_prog_op) + 5] = 1;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)),
			 "op 3 (matmul): reserved field is not zero");
	free(img);

	/* a header 8 bytes longer */
	size = m.size + 8;
	img = kt_alloc(size);
	memcpy(img, m.img, sizeof(h));
	memcpy(img + sizeof(h) + 8, m.img + sizeof(h), m.size - sizeof(h));
	kb_hdr(img)->header_size = sizeof(h) + 8;
	kb_hdr(img)->total_size = (uint32_t)size;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)), "accepted");
	img[sizeof(h) + 7] = 0x80;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)),
			 "header: unknown header fields are not zero");
	/* the image may sit at any alignment */
	memcpy(img + 1, m.img, m.size);
	ck_assert_str_eq(verdict(img + 1, m.size, msg, sizeof(msg)), "accepted");
	free(img);
	tm_free(&m);
}
END_TEST

START_TEST(test_err_format_truncates)
{
	struct kllm_prog_err e = { .op = 17, .kind = KLLM_PROG_OP_MATMUL, .role = "weight",
				   .tensor = 5, .buffer = 0, .reason = "ends past buffer" };
	char buf[64];
	uint32_t n;

	n = kllm_prog_err_format(&e, buf, sizeof(buf));
	ck_assert_str_eq(buf, "op 17 (matmul): weight tensor 5: ends past buffer 0");
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_uint_eq(kllm_prog_err_format(&e, buf, 8), n);
	ck_assert_str_eq(buf, "op 17 (");
	ck_assert_uint_eq(kllm_prog_err_format(&e, buf, 0), n);
	ck_assert_str_eq(kllm_prog_op_name(0), "?");
	ck_assert_str_eq(kllm_prog_op_name(KLLM_PROG_OP_ARGMAX), "argmax");
}
END_TEST

/* ------------------------------------------------------------------ */
/* What the lowering refuses in a job.                                  */

static const char *job_verdict(const struct toy_model *m, const struct kllm_prog_info *pi,
			       const struct jc *c, char *msg, size_t n)
{
	struct kllm_prog_err err;
	int ret;

	(void)m;
	ret = kllm_engine_cpu_run(pi, &c->bind, &c->batch, NULL, &err);
	if (!ret)
		return "ran";
	ck_assert_int_eq(ret, -EINVAL);
	kllm_prog_err_format(&err, msg, (uint32_t)n);
	return msg;
}

START_TEST(test_job_rejects)
{
	const struct tm_job j = { .n_tokens = 3, .n_outputs = 2,
		.tokens = { 1, 2, 3 }, .pos = { 0, 1, 2 }, .seq = { 0, 0, 1 },
		.out_rows = { 2, 0 } };
	struct kllm_prog_info pi;
	struct tm_mem mm;
	struct kt_rng r;
	char msg[200], small[64] __attribute__((aligned(64)));
	int32_t rows[2];
	struct toy_model m;
	struct jc *cp = kt_alloc(sizeof(*cp));
#define c (*cp)

	tm_build(&m, 7);
	kt_select(kk_simd_best(kt_paths()));
	check_prog(&m, &pi);
	kt_rng_seed(&r, 8);
	mem_init(&mm, &m, &pi, &r);
#define JOB(stmt, want) do { \
		jc_setup(&c, &m, &mm, &j); \
		stmt; \
		ck_assert_str_eq(job_verdict(&m, &pi, &c, msg, sizeof(msg)), want); \
	} while (0)
	JOB((void)0, "ran");
	JOB(c.batch.n_tokens = 0, "job: n_tokens is 0 or over max_batch");
	JOB(c.batch.n_tokens = TM_MB + 1, "job: n_tokens is 0 or over max_batch");
	JOB(c.batch.n_outputs = 4, "job: n_outputs over n_tokens");
	JOB(c.batch.n_seqs = KLLM_PROG_MAX_SEQS + 1, "job: n_seqs over the limit");
	JOB(c.batch.kv = NULL, "job: sequences without KV memory or storage");
	JOB(c.batch.tokens = NULL, "job: an input array the program reads is missing");
	JOB(c.batch.out_rows = NULL, "job: an input array the program reads is missing");
	JOB((c.batch.out_rows = NULL, c.batch.n_outputs = 0), "ran");
	JOB(c.buf[B_W].size--, "job: memory missing, misaligned or smaller than buffer 0");
	JOB(c.buf[B_W].base = NULL, "job: memory missing, misaligned or smaller than buffer 0");
	JOB(c.buf[B_ACT].base = mm.act + 4, "job: memory missing, misaligned or smaller than buffer 9");
	JOB(c.buf[B_IDS].base = mm.act + 4, "job: misaligned memory for buffer 7");
	JOB(c.kv[1].size--, "job: sequence memory misaligned or smaller than buffer 1");
	JOB(c.kv[1].base = NULL, "ran");	/* unbound sequence: skipped */
	/* every OUTPUT tensor is checked at the job's rows before any op */
	JOB(c.buf[B_LOGITS].size -= 4,
	    "job tensor 20: ends past the memory bound for buffer 6");
	JOB(c.buf[B_IDS] = (struct kllm_prog_mem){ 0 },
	    "job tensor 21: ends past the memory bound for buffer 7");
	JOB((rows[0] = 2, rows[1] = 2, c.batch.out_rows = rows), "job: output row repeated");
	JOB((rows[0] = 3, rows[1] = 0, c.batch.out_rows = rows), "job: output row out of range");
	JOB((rows[0] = 2, rows[1] = -1, c.batch.out_rows = rows), "job: output row out of range");
	JOB((rows[0] = 1, rows[1] = 2, c.batch.out_rows = rows), "ran");
	JOB((c.bind.scratch = small, c.bind.scratch_size = sizeof(small)),
	    "op 2 (matmul): scratch too small");
	JOB(c.bind.scratch = small + 1, "job: scratch misaligned");
#undef JOB
#undef c
	free(cp);
	mem_free(&mm);
	tm_free(&m);
}
END_TEST

/* A paged job's pool and tables: each rule of kllm_prog_job_init. */
START_TEST(test_paged_job_rejects)
{
	const struct tm_job j = { .n_tokens = 3, .n_outputs = 1,
		.tokens = { 1, 2, 3 }, .pos = { 0, 17, 2 }, .seq = { 0, 0, 1 },
		.out_rows = { 2 } };
	const uint64_t blk = 4 * TM_CTX * TM_KV;
	uint32_t ids0[3] = { 2, 0, 1 }, ids1[1] = { 1 }, bad[1] = { 3 };
	struct kllm_prog_table tab[TM_NSEQ];
	struct kllm_prog_mem pool;
	struct kllm_prog_info pi;
	struct tm_mem mm;
	struct kt_rng r;
	char msg[200];
	struct toy_model m;
	uint8_t *img, *blocks;
	struct jc *cp = kt_alloc(sizeof(*cp));
#define c (*cp)

	tm_build(&m, 7);
	kt_select(kk_simd_best(kt_paths()));
	img = kt_alloc(m.size);
	ck_assert_str_eq(paged_verdict(&m, img, NULL, msg, sizeof(msg)), "accepted");
	ck_assert_int_eq(kllm_prog_check(img, m.size, &pi, NULL), 0);
	ck_assert_uint_eq(pi.paged, 1);
	ck_assert_uint_eq(pi.max_blocks, 3);	/* ceil(40 / 16) */
	kt_rng_seed(&r, 8);
	mem_init(&mm, &m, &pi, &r);
	blocks = kt_alloc(3 * blk + 64);
#define JOB(stmt, want) do { \
		jc_setup(&c, &m, &mm, &j); \
		c.batch.kv = NULL; \
		pool = (struct kllm_prog_mem){ blocks, 3 * blk }; \
		tab[0] = (struct kllm_prog_table){ ids0, 3, 1 }; \
		tab[1] = (struct kllm_prog_table){ ids1, 1, 0 }; \
		c.batch.kv_pool = &pool; \
		c.batch.tables = tab; \
		stmt; \
		ck_assert_str_eq(job_verdict(&m, &pi, &c, msg, sizeof(msg)), want); \
	} while (0)
	JOB((void)0, "ran");
	JOB((tab[0].n_ids = 0, tab[0].ro_blocks = 0), "ran");	/* unbound */
	JOB(tab[0].ro_blocks = 3, "ran");	/* writes nothing */
	JOB(c.batch.kv_pool = NULL, "job: paged sequences without pools or block tables");
	JOB(c.batch.tables = NULL, "job: paged sequences without pools or block tables");
	JOB((c.batch.n_seqs = 0, c.batch.tables = NULL, c.batch.kv_pool = NULL), "ran");
	JOB(pool.base = blocks + 32, "ran");
	JOB(pool.base = blocks + 16,
	    "job: pool misaligned, not whole blocks or too large for buffer 1");
	JOB(pool.size -= 32, "job: pool misaligned, not whole blocks or too large for buffer 1");
	JOB(pool.size = (uint64_t)(KLLM_PROG_MAX_POOL_BLOCKS + 1) * blk,
	    "job: pool misaligned, not whole blocks or too large for buffer 1");
	JOB(pool.size = 2 * blk, "job: block id outside the pool");
	JOB((pool.base = NULL, pool.size = 0), "job: block id outside the pool");
	JOB((pool.base = NULL, pool.size = 0, tab[0].n_ids = tab[1].n_ids = 0,
	     tab[0].ro_blocks = 0), "ran");
	JOB(tab[1].ids = bad, "job: block id outside the pool");
	JOB(ids0[1] = 0xffffffffu, "job: block id outside the pool");
	ids0[1] = 0;
	JOB(tab[0].n_ids = 4, "job: block table longer than n_ctx needs");
	JOB(tab[1].ro_blocks = 2, "job: block table's ro_blocks over n_ids");
	JOB(tab[1].ids = NULL, "job: block table without ids");
#undef JOB
#undef c
	free(blocks);
	free(cp);
	free(img);
	mem_free(&mm);
	tm_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Mutations of a valid program.                                        */

static void mutate(uint8_t *img, size_t size, struct kt_rng *r)
{
	static const uint32_t vals[] = { 0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 63, 64,
		TM_MB, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0xfffffffeu };
	uint32_t n = 1 + kt_rng_u64(r) % 4 / 2;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t at = kt_rng_u64(r) % size, v = kt_rng_u64(r);

		/* mostly the records: header mutations are rejected early */
		if (v % 4 && size > sizeof(struct kllm_prog_header))
			at = sizeof(struct kllm_prog_header) +
			     at % (size - sizeof(struct kllm_prog_header));
		v >>= 2;

		switch (v % 3) {
		case 0:
			img[at] ^= (uint8_t)(1u << ((v >> 8) % 8));
			break;
		case 1:
			at &= ~3ull;
			if (at + 4 <= size)
				memcpy(img + at, &vals[(v >> 8) % (sizeof(vals) / 4)], 4);
			break;
		default:
			img[at] = (uint8_t)(v >> 8);
		}
	}
}

#define MUT_REAL_BYTES (8u << 20)

/* An accepted mutant: lower every op (must pass), and run it when small. */
struct mutant {
	struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS], kv[TM_NSEQ];
	int32_t tok[TM_MB], pos[TM_MB], seq[TM_MB], out[TM_MB];
	void *mem[KLLM_PROG_MAX_BUFFERS + TM_NSEQ];
};

static __attribute__((noinline)) void
run_mutant(const struct kllm_prog_info *pi, struct kt_rng *r, uint32_t *ran)
{
	struct mutant *mu = kt_alloc(sizeof(*mu));
	struct kllm_prog_mem *buf = mu->buf, *kv = mu->kv;
	struct kllm_prog_bindings bind = { .buf = buf };
	int32_t *tok = mu->tok, *pos = mu->pos, *seq = mu->seq, *out = mu->out;
	struct kllm_prog_batch batch = { .tokens = tok, .pos = pos, .seq = seq,
		.out_rows = out, .n_seqs = TM_NSEQ, .kv = kv };
	void **mem = mu->mem;
	struct kk_kv_seq seqs[TM_NSEQ];
	struct kllm_prog_err err;
	struct kllm_prog_job job;
	uint64_t total = 0;
	int real;
	char msg[200];

	ck_assert_uint_le(pi->max_batch, TM_MB);
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		struct kllm_prog_buffer b;

		memcpy(&b, pi->base + pi->buffers_off + (uint64_t)id * pi->buffer_size, sizeof(b));
		total += b.size * (b.kind == KLLM_PROG_BUF_KV ? TM_NSEQ : 1);
	}
	real = total <= MUT_REAL_BYTES;
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		struct kllm_prog_buffer b;
		struct kllm_prog_mem *mm = &buf[id];

		memcpy(&b, pi->base + pi->buffers_off + (uint64_t)id * pi->buffer_size, sizeof(b));
		if (b.kind == KLLM_PROG_BUF_INPUT)
			continue;
		if (b.kind == KLLM_PROG_BUF_KV)
			mm = &kv[0];	/* one KV buffer at most in these mutants */
		for (uint32_t s = 0; s < (b.kind == KLLM_PROG_BUF_KV ? TM_NSEQ : 1u); s++) {
			if (!real) {
				mm[s] = (struct kllm_prog_mem){ (void *)(uintptr_t)(1ull << 40), b.size };
				continue;
			}
			mm[s].base = kt_alloc(b.size);
			mem[mm == kv ? KLLM_PROG_MAX_BUFFERS + s : id] = mm[s].base;
			mm[s].size = b.size;
			kt_fill_bytes(r, mm[s].base, b.size);
		}
	}
	/* mutants may turn buffers into KV buffers (or, in three mutations,
	 * page one: test_paged_job_rejects covers paged jobs) */
	if (pi->n_kv > 1 || pi->paged) {
		for (uint32_t i = 0; i < KLLM_PROG_MAX_BUFFERS + TM_NSEQ; i++)
			free(mem[i]);
		free(mu);
		return;
	}
	batch.n_tokens = 1 + kt_rng_u64(r) % pi->max_batch;
	batch.n_outputs = kt_rng_u64(r) % (batch.n_tokens + 1);
	for (uint32_t t = 0; t < batch.n_tokens; t++) {
		tok[t] = (int32_t)(kt_rng_u64(r) % (TM_V + 10)) - 5;
		pos[t] = (int32_t)(kt_rng_u64(r) % (TM_CTX + 6)) - 3;
		seq[t] = (int32_t)(kt_rng_u64(r) % (TM_NSEQ + 2)) - 1;
		out[t] = (int32_t)t;
	}
	/* output rows: distinct and in range (job_init refuses others), any order */
	for (uint32_t t = batch.n_tokens; t > 1; t--) {
		uint32_t k = (uint32_t)(kt_rng_u64(r) % t);
		int32_t x = out[t - 1];

		out[t - 1] = out[k];
		out[k] = x;
	}
	if (kt_rng_u64(r) % 4 == 0)
		kv[1].base = NULL;	/* an unbound sequence */
	bind.scratch = kt_alloc(kllm_prog_scratch_bytes(pi));
	bind.scratch_size = kllm_prog_scratch_bytes(pi);
	ck_assert_int_eq(kllm_prog_job_init(&job, pi, &bind, &batch, seqs, &err), 0);
	for (uint32_t i = 0; i < pi->n_ops; i++) {
		struct kk_op op;
		int ret = kllm_prog_lower_op(&job, i, &op, &err);

		if (ret < 0)
			kllm_prog_err_format(&err, msg, sizeof(msg));
		ck_assert_msg(ret >= 0, "accepted, but lowering says: %s", msg);
		if (!ret)
			ck_assert_int_eq(kk_op_check(&op), 0);
	}
	if (real) {
		ck_assert_int_eq(kllm_engine_cpu_run(pi, &bind, &batch, NULL, &err), 0);
		(*ran)++;
	}
	free(bind.scratch);
	for (uint32_t i = 0; i < KLLM_PROG_MAX_BUFFERS + TM_NSEQ; i++)
		free(mem[i]);
	free(mu);
}

START_TEST(test_mutations)
{
	uint32_t accepted = 0, ran = 0, iters = 5000;
	struct kllm_prog_info pi;
	struct kt_rng r;
	struct toy_model m;
	uint8_t *img;

	/* KLLM_PROG_MUTATIONS=n, KLLM_PROG_SEED=s: longer local hunts */
	if (getenv("KLLM_PROG_MUTATIONS"))
		iters = (uint32_t)strtoul(getenv("KLLM_PROG_MUTATIONS"), NULL, 0);
	tm_build(&m, 9);
	kt_select(kk_simd_best(kt_paths()));
	kt_rng_seed(&r, getenv("KLLM_PROG_SEED") ? strtoull(getenv("KLLM_PROG_SEED"), NULL, 0) : 10);
	img = kt_alloc(m.size);
	for (uint32_t it = 0; it < iters; it++) {
		struct kllm_prog_err err;

		memcpy(img, m.img, m.size);
		mutate(img, m.size, &r);
		if (kllm_prog_check(img, m.size, &pi, &err)) {
			char msg[200];

			/* every rejection has a reason and formats */
			ck_assert_ptr_nonnull(err.reason);
			ck_assert_uint_gt(kllm_prog_err_format(&err, msg, sizeof(msg)), 0);
			continue;
		}
		accepted++;
		run_mutant(&pi, &r, &ran);
	}
	printf("mutations: %u of %u accepted, %u run\n", accepted, iters, ran);
	/* the loop must exercise both sides */
	ck_assert_uint_gt(accepted, iters / 100);
	ck_assert_uint_gt(ran, iters / 200);
	ck_assert_uint_lt(accepted, iters);
	free(img);
	tm_free(&m);
}
END_TEST

/* Views into one fused row: interleaved rows do not overlap. */
START_TEST(test_fused_views)
{
	const uint32_t TOK = KLLM_PROG_T_ROWS_TOKENS, n = 32, row = 2 * n * 4;
	struct kb *b = kt_alloc(sizeof(*b));
	uint32_t act, gate, up, half, y;
	char msg[200];
	uint8_t *img;
	size_t size;

	kt_select(kk_simd_best(kt_paths()));
	kb_init(b, 4);
	act = kb_buffer(b, KLLM_PROG_BUF_ACTIVATIONS, 4 * row, 0);
	gate = kb_tensor(b, act, KLLM_PROG_TYPE_F32, 0, row, n, 0, TOK);
	up = kb_tensor(b, act, KLLM_PROG_TYPE_F32, n * 4, row, n, 0, TOK);
	half = kb_tensor(b, act, KLLM_PROG_TYPE_F32, n * 2, row, n, 0, TOK);
	y = KB_OP(b, KK_OP_GLU, 0, KB_T(gate, up, gate), KB_T(0));
	img = kb_finish(b, &size);
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)), "accepted");
	kb_opr(img, y)->t[2] = up;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)), "accepted");
	kb_opr(img, y)->t[2] = half;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)),
			 "op 0 (glu): y tensor 2: overlaps slot 0's tensor");
	kb_opr(img, y)->t[0] = half;
	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)),
			 "op 0 (glu): y tensor 2: overlaps slot 1's tensor");
	free(img);
	free(b);
}
END_TEST

/* A minimal program: one scale op over a batch-shaped tensor. */
static uint8_t *min_prog(size_t *size)
{
	struct kb *b = kt_alloc(sizeof(*b));
	uint8_t *img;
	uint32_t x, y;

	kb_init(b, 4);
	x = kb_act(b, 32, KLLM_PROG_T_ROWS_TOKENS);
	y = kb_act(b, 32, KLLM_PROG_T_ROWS_TOKENS);
	KB_OP(b, KK_OP_SCALE, 0, KB_T(x, y), KB_T(0x40000000u));
	img = kb_finish(b, size);
	free(b);
	return img;
}

/* KLLM_PROG_CORPUS=dir: write the fuzzer's seed corpus (valid programs). */
START_TEST(test_min_prog_and_corpus)
{
	const char *dir = getenv("KLLM_PROG_CORPUS");
	struct kllm_prog_info pi;
	char msg[200];
	size_t size;
	uint8_t *img = min_prog(&size);
	struct toy_model m;

	ck_assert_str_eq(verdict(img, size, msg, sizeof(msg)), "accepted");
	ck_assert_int_eq(kllm_prog_check(img, size, &pi, NULL), 0);
	ck_assert_uint_eq(pi.scratch_bytes, 0);
	tm_build(&m, 11);
	if (dir) {
		const struct { const char *name; const uint8_t *p; size_t n; } seeds[] = {
			{ "min.bin", img, size }, { "toy.bin", m.img, m.size } };

		for (size_t i = 0; i < 2; i++) {
			char path[512];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
			f = fopen(path, "wb");
			ck_assert_ptr_nonnull(f);
			ck_assert_uint_eq(fwrite(seeds[i].p, 1, seeds[i].n, f), seeds[i].n);
			fclose(f);
		}
	}
	free(img);
	tm_free(&m);
}
END_TEST

static void prog_reject_tests(TCase *tc)
{
	tcase_add_test(tc, test_rejects_with_exact_message);
	tcase_add_test(tc, test_longer_records);
	tcase_add_test(tc, test_fused_views);
	tcase_add_test(tc, test_err_format_truncates);
	tcase_add_test(tc, test_job_rejects);
	tcase_add_test(tc, test_paged_job_rejects);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_min_prog_and_corpus);
}
