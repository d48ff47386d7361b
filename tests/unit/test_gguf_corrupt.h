/* SPDX-License-Identifier: MIT */
/*
 * test_gguf_corrupt.h - part of test_gguf.c: hand-built GGUF files with one
 * thing wrong each, truncations at every byte, and random byte flips.  Every
 * case must fail with a message that says what is wrong; none may crash
 * (the byte-flip loop is meant to run under ASan).
 */

/* A byte buffer that remembers where each header field starts. */
struct tb {
	uint8_t *p;
	size_t len, cap;
	size_t marks[128];
	int n_marks;
};

static void tb_put(struct tb *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void tb_mark(struct tb *b)
{
	if (b->n_marks < 128)
		b->marks[b->n_marks++] = b->len;
}

static void tb_u32(struct tb *b, uint32_t v)
{
	tb_mark(b);
	tb_put(b, &v, 4);
}

static void tb_u64(struct tb *b, uint64_t v)
{
	tb_mark(b);
	tb_put(b, &v, 8);
}

/* A string whose length word may lie (len_word != 0 replaces it). */
static void tb_str(struct tb *b, const char *s, size_t n, uint64_t len_word)
{
	tb_u64(b, len_word ? len_word : n);
	tb_mark(b);
	tb_put(b, s, n);
}

/*
 * The base file: 3 KVs (general.architecture, t.val u32, t.arr i32[3]) and
 * two tensors, "a" f32 [8,2] at 0 and "b" q4_0 [32] at 64, 82 data bytes.
 */
struct variant {
	uint32_t magic, version;
	uint64_t n_tensors, n_kv;
	uint64_t key0_len;	/* lying length word of the first key */
	const char *key1;
	uint32_t kv1_type;
	uint32_t arr_type;
	uint64_t arr_n;
	int align_kind;		/* 0 none, 1 u32, 2 string */
	uint32_t align;
	const char *tname0;
	size_t tname0_len;
	uint32_t n_dims0;
	uint64_t ne0[5];
	uint32_t type0;
	uint64_t off0, off1;
	int64_t data_delta;	/* bytes of data more (or fewer) than needed */
};

static struct variant base_variant(void)
{
	struct variant v = {
		.magic = GGUF_MAGIC, .version = 3, .n_tensors = 2, .n_kv = 3,
		.key1 = "t.val", .kv1_type = GGUF_TYPE_UINT32,
		.arr_type = GGUF_TYPE_INT32, .arr_n = 3,
		.tname0 = "a", .tname0_len = 1, .n_dims0 = 2,
		.ne0 = { 8, 2, 1, 1, 1 }, .type0 = KK_TYPE_F32,
		.off0 = 0, .off1 = 64,
	};
	return v;
}

static void build(struct tb *b, const struct variant *v)
{
	static const int32_t arr[3] = { 1, 2, 3 };
	const char *arch = "general.architecture";
	uint32_t align = v->align_kind == 1 ? v->align : 32, d;

	memset(b, 0, sizeof(*b));
	tb_u32(b, v->magic);
	tb_u32(b, v->version);
	tb_u64(b, v->n_tensors);
	tb_u64(b, v->n_kv + (v->align_kind ? 1 : 0));
	tb_str(b, arch, strlen(arch), v->key0_len);
	tb_u32(b, GGUF_TYPE_STRING);
	tb_str(b, "llama", 5, 0);
	tb_str(b, v->key1, strlen(v->key1), 0);
	tb_u32(b, v->kv1_type);
	tb_u32(b, 7);
	tb_str(b, "t.arr", 5, 0);
	tb_u32(b, GGUF_TYPE_ARRAY);
	tb_u32(b, v->arr_type);
	tb_u64(b, v->arr_n);
	tb_mark(b);
	tb_put(b, arr, sizeof(arr));
	if (v->align_kind) {
		tb_str(b, "general.alignment", 17, 0);
		tb_u32(b, v->align_kind == 1 ? GGUF_TYPE_UINT32 : GGUF_TYPE_STRING);
		if (v->align_kind == 1)
			tb_u32(b, v->align);
		else
			tb_str(b, "32", 2, 0);
	}
	tb_str(b, v->tname0, v->tname0_len, 0);
	tb_u32(b, v->n_dims0);
	for (d = 0; d < v->n_dims0 && d < 5; d++)
		tb_u64(b, v->ne0[d]);
	tb_u32(b, v->type0);
	tb_u64(b, v->off0);
	tb_str(b, "b", 1, 0);
	tb_u32(b, 1);
	tb_u64(b, 32);
	tb_u32(b, KK_TYPE_Q4_0);
	tb_u64(b, v->off1);
	tb_mark(b);
	if (align && align <= 4096 && !(align & (align - 1)))
		while (b->len % align)
			tb_put(b, "", 1);
	tb_mark(b);
	for (d = 0; (int64_t)d < 82 + v->data_delta; d++)
		tb_put(b, &(uint8_t){ (uint8_t)d }, 1);
}

/* Open a malloc'd exact-size copy so ASan sees any read past its end. */
static int open_copy(const uint8_t *p, size_t n, struct gguf **g)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, p, n);
	err[0] = 0;
	r = gguf_open_mem(g, copy, n, err, sizeof(err));
	if (!r)
		gguf_close(*g);
	free(copy);
	return r;
}

static void expect_fail(const struct variant *v, const char *want)
{
	struct tb b;
	struct gguf *g;
	int r;

	build(&b, v);
	r = open_copy(b.p, b.len, &g);
	ck_assert_msg(r == -EINVAL, "want failure '%s', got %d (%s)", want, r, err);
	ck_assert_msg(strstr(err, want), "message '%s' lacks '%s'", err, want);
	free(b.p);
}

START_TEST(test_base_valid)
{
	struct variant v = base_variant();
	struct tb b;
	struct gguf *g;

	build(&b, &v);
	ck_assert_msg(gguf_open_mem(&g, b.p, b.len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gguf_n_tensors(g), 2);
	gguf_close(g);
	v.align_kind = 1;
	v.align = 64;
	free(b.p);
	build(&b, &v);
	ck_assert_msg(gguf_open_mem(&g, b.p, b.len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gguf_alignment(g), 64);
	gguf_close(g);
	free(b.p);
	v = base_variant();
	v.version = 2;		/* v2 has v3's layout */
	build(&b, &v);
	ck_assert_msg(gguf_open_mem(&g, b.p, b.len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gguf_version(g), 2);
	gguf_close(g);
	free(b.p);
}
END_TEST

/* Every proper prefix of the file is corrupt; at field starts, truncated. */
START_TEST(test_truncated)
{
	struct variant v = base_variant();
	struct tb b;
	struct gguf *g;
	size_t n;
	int i;

	build(&b, &v);
	for (n = 0; n < b.len; n++) {
		int r = open_copy(b.p, n, &g);

		ck_assert_msg(r == -EINVAL, "prefix %zu opened (%d)", n, r);
		ck_assert_msg(strstr(err, "truncated") || strstr(err, "past end of file") ||
			      strstr(err, "impossible"), "prefix %zu: '%s'", n, err);
	}
	for (i = 0; i < b.n_marks; i++) {
		if (b.marks[i] >= b.len || b.marks[i] < 24)
			continue;
		ck_assert_int_eq(open_copy(b.p, b.marks[i], &g), -EINVAL);
		ck_assert_msg(strstr(err, "truncated") || strstr(err, "past end of file") ||
			      strstr(err, "impossible"), "cut at %zu: '%s'", b.marks[i], err);
	}
	free(b.p);
}
END_TEST

/* Each test declares "struct variant vv, *v = &vv;" once: one frame slot. */
#define CASE(field_assign, want)					\
	do {								\
		vv = base_variant();					\
		field_assign;						\
		expect_fail(v, want);					\
	} while (0)

START_TEST(test_corrupt_header)
{
	struct variant vv, *v = &vv;

	CASE(v->magic = 0x58554747u, "bad magic");
	CASE(v->version = 1, "unsupported GGUF version 1");
	CASE(v->version = 4, "unsupported GGUF version 4");
	CASE(v->version = 0x03000000u, "big-endian");
	CASE(v->n_tensors = 1ull << 40, "tensor count 1099511627776 is impossible");
	CASE(v->n_tensors = UINT64_MAX, "tensor count");
	CASE(v->n_kv = UINT64_MAX, "kv count");
	CASE(v->n_kv = 4, "past end of file");
	CASE(v->n_tensors = 3, "tensor 2");
}
END_TEST

START_TEST(test_corrupt_kv)
{
	struct variant vv, *v = &vv;

	CASE(v->key0_len = 1ull << 62, "key length 4611686018427387904 runs past end of file");
	CASE(v->key0_len = UINT64_MAX, "runs past end of file");
	CASE(v->kv1_type = 13, "kv 1 (t.val): invalid value type 13");
	CASE(v->arr_type = GGUF_TYPE_ARRAY, "nested arrays");
	CASE(v->arr_type = 200, "invalid array element type 200");
	CASE(v->arr_n = 1ull << 61, "array of 2305843009213693952 i32 runs past end of file");
	CASE(v->arr_n = 1ull << 63, "runs past end of file");
	CASE(v->arr_type = GGUF_TYPE_STRING, "array");
	CASE(v->key1 = "general.architecture", "duplicate name general.architecture");
	CASE((v->align_kind = 1, v->align = 48), "power of two");
	CASE((v->align_kind = 1, v->align = 0), "power of two");
	CASE((v->align_kind = 1, v->align = 1u << 31), "power of two");
	CASE(v->align_kind = 2, "general.alignment: has type string");
}
END_TEST

START_TEST(test_corrupt_tensor)
{
	static const char long_name[] =
		"0123456789012345678901234567890123456789012345678901234567890123";
	struct variant vv, *v = &vv;

	CASE(v->n_dims0 = 5, "tensor a: n_dims 5 exceeds the maximum of 4");
	CASE((v->ne0[0] = 1ull << 40, v->ne0[1] = 1ull << 40), "tensor a: element count overflows");
	CASE(v->ne0[1] = 1ull << 63, "negative");
	CASE(v->type0 = 999, "tensor a: invalid type 999");
	CASE((v->type0 = KK_TYPE_Q4_0, v->ne0[0] = 33), "not a multiple of q4_0's block size 32");
	CASE((v->ne0[0] = 1ull << 62, v->ne0[1] = 1), "tensor a: byte size overflows");
	CASE(v->off0 = 4, "offset 4 is not a multiple of the alignment 32");
	CASE(v->off1 = UINT64_MAX - 31, "tensor b: data starts");
	CASE(v->off1 = 64 + 4096, "tensor b: data starts 4078 bytes past end of file");
	CASE(v->data_delta = -10, "tensor b: data ends 10 bytes past end of file");
	CASE((v->ne0[0] = 1u << 20, v->ne0[1] = 1), "tensor a: data ends");
	CASE(v->off1 = 32, "overlaps tensor a");
	CASE(v->tname0 = "b", "duplicate name b");
	CASE((v->tname0 = long_name, v->tname0_len = 64), "name length 64 exceeds the limit of 63");
	CASE((v->tname0 = "a\0c", v->tname0_len = 3), "NUL");
	CASE(v->tname0_len = 0, "empty name");
}
END_TEST

/* Touch everything a successfully opened file exposes. */
static void walk(struct gguf *g)
{
	struct gguf_tensor_info ti;
	struct gguf_str s;
	uint64_t i, j, n;
	uint32_t et, u;
	volatile uint8_t sink = 0;
	float f;
	int32_t *ia;
	float *fa;

	for (i = 0; i < gguf_n_kv(g); i++) {
		const char *key = gguf_kv_key(g, i);

		gguf_get_u32(g, key, &u);
		gguf_get_f32(g, key, &f);
		if (!gguf_get_str(g, key, &s) && s.n)
			sink ^= (uint8_t)s.s[s.n - 1];
		if (gguf_arr_info(g, i, &et, &n))
			continue;
		if (et == GGUF_TYPE_STRING) {
			for (j = 0; j < n; j++)
				if (!gguf_arr_str(g, i, j, &s) && s.n)
					sink ^= (uint8_t)s.s[0] ^ (uint8_t)s.s[s.n - 1];
			continue;
		}
		ia = malloc((n ? n : 1) * sizeof(*ia));
		fa = malloc((n ? n : 1) * sizeof(*fa));
		gguf_arr_copy_i32(g, i, ia, n);
		gguf_arr_copy_f32(g, i, fa, n);
		free(ia);
		free(fa);
	}
	for (i = 0; i < gguf_n_tensors(g); i++) {
		if (gguf_tensor_at(g, i, &ti, err, sizeof(err)) || !ti.size)
			continue;
		sink ^= ((const uint8_t *)ti.data)[0];
		sink ^= ((const uint8_t *)ti.data)[ti.size - 1];
		ck_assert_int_eq(gguf_find_tensor(g, ti.name), (int64_t)i);
	}
	(void)sink;
}

/* A writer-made file with every kind of field, for the flip loop. */
static void *mutation_base(size_t *size)
{
	struct gguf_writer *w = gguf_writer_new();
	const char *strs[] = { "<unk>", "a", "bc", "" };
	static const float sc[4] = { 0, -1, -2, -3 };
	uint64_t ne1[1] = { 32 }, ne2[2] = { 256, 2 };
	uint8_t data[2 * 210] = { 0 };
	void *buf;

	gguf_writer_add_str(w, "general.architecture", "llama");
	gguf_writer_add_u32(w, "llama.block_count", 2);
	gguf_writer_add_f64(w, "x.f64", 0.5);
	gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", strs, NULL, 4);
	gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc, 4);
	gguf_writer_add_tensor(w, "output_norm.weight", KK_TYPE_F32, 1, ne1, data);
	gguf_writer_add_tensor(w, "output.weight", KK_TYPE_Q6_K, 2, ne2, data);
	gguf_writer_add_tensor_raw(w, "odd", 16, 1, ne1, 10, data);
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, size), 0);
	gguf_writer_free(w);
	return buf;
}

START_TEST(test_mutation_loop)
{
	struct kt_rng rng;
	size_t size, n, k;
	uint8_t *base = mutation_base(&size), *m;
	struct gguf *g;
	int iter, opened = 0;

	kt_rng_seed(&rng, 2024);
	ck_assert_int_eq(gguf_open_mem(&g, base, size, err, sizeof(err)), 0);
	gguf_close(g);
	for (iter = 0; iter < 2000; iter++) {
		n = size;
		if (kt_rng_u64(&rng) % 8 == 0)
			n = kt_rng_u64(&rng) % size;
		m = malloc(n ? n : 1);
		memcpy(m, base, n);
		for (k = 1 + kt_rng_u64(&rng) % 4; k-- && n;) {
			size_t at = kt_rng_u64(&rng) % n;

			/* favour the header, where the structure is */
			if (kt_rng_u64(&rng) % 2)
				at %= n < 200 ? n : 200;
			m[at] = kt_rng_u64(&rng) % 3 ? (uint8_t)kt_rng_u64(&rng) :
				(uint8_t)(m[at] ^ (1u << (kt_rng_u64(&rng) % 8)));
		}
		err[0] = 0;
		if (gguf_open_mem(&g, m, n, err, sizeof(err)) == 0) {
			walk(g);
			gguf_close(g);
			opened++;
		} else {
			ck_assert_msg(err[0], "failure without a message");
		}
		free(m);
	}
	/* Some flips land in data or padding: both outcomes must occur. */
	ck_assert_int_gt(opened, 0);
	ck_assert_int_lt(opened, 2000);
	free(base);
}
END_TEST

static void add_corrupt_tests(TCase *tc)
{
	tcase_add_test(tc, test_base_valid);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_corrupt_header);
	tcase_add_test(tc, test_corrupt_kv);
	tcase_add_test(tc, test_corrupt_tensor);
	tcase_add_test(tc, test_mutation_loop);
}
