// SPDX-License-Identifier: MIT
/*
 * test_gguf.c - the GGUF reader and writer: real vocab files, writer ->
 * reader round trips, and corrupt files that must fail with a message
 * (never crash), including a random byte-flipping loop meant for ASan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "gguf.h"
#include "kk.h"
#include "kt.h"

#ifndef KLLM_SRCDIR
#define KLLM_SRCDIR "."
#endif

static char err[512];

/* ------------------------------------------------------------------ */
/* Real vocab files from llama.cpp's test set                          */

/* $KLLM_TESTDATA, else shared/testdata next to or above the tree. */
static int testdata(char *path, size_t n, const char *name)
{
	const char *env = getenv("KLLM_TESTDATA");
	const char *dirs[] = { KLLM_SRCDIR "/shared/testdata",
			       KLLM_SRCDIR "/../shared/testdata",
			       "/work/shared/testdata" };
	size_t i;

	if (env) {
		snprintf(path, n, "%s/tokenizer/%s", env, name);
		return access(path, R_OK) == 0;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, n, "%s/tokenizer/%s", dirs[i], name);
		if (access(path, R_OK) == 0)
			return 1;
	}
	/* Under CI a missing test group is a failure, not a skip. */
	if (getenv("CI") && !strcmp(getenv("CI"), "true"))
		ck_abort_msg("test_gguf: %s not found (set KLLM_TESTDATA)", name);
	fprintf(stderr, "test_gguf: %s not found (set KLLM_TESTDATA): skipped\n",
		name);
	return 0;
}

static void expect_str(struct gguf *g, const char *key, const char *want)
{
	struct gguf_str s;

	ck_assert_int_eq(gguf_get_str(g, key, &s), 0);
	ck_assert_uint_eq(s.n, strlen(want));
	ck_assert(!memcmp(s.s, want, s.n));
}

static void expect_arr_str(struct gguf *g, int64_t idx, uint64_t i,
			   const char *want)
{
	struct gguf_str s;

	ck_assert_int_eq(gguf_arr_str(g, (uint64_t)idx, i, &s), 0);
	ck_assert_msg(s.n == strlen(want) && !memcmp(s.s, want, s.n),
		      "element %llu is '%.*s', want '%s'", (unsigned long long)i,
		      (int)s.n, s.s, want);
}

START_TEST(test_real_llama_spm)
{
	char path[512];
	struct gguf *g;
	uint32_t et, u;
	uint64_t n;
	int64_t idx;
	float *scores;
	int32_t *types;

	if (!testdata(path, sizeof(path), "ggml-vocab-llama-spm.gguf"))
		return;
	ck_assert_msg(gguf_open(&g, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gguf_version(g), 3);
	ck_assert_uint_eq(gguf_n_tensors(g), 0);
	ck_assert_uint_eq(gguf_alignment(g), 32);
	expect_str(g, "general.architecture", "llama");
	expect_str(g, "tokenizer.ggml.model", "llama");
	ck_assert_int_eq(gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u), 0);
	ck_assert_uint_eq(u, 1);
	ck_assert_int_eq(gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u), 0);
	ck_assert_uint_eq(u, 2);
	idx = gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n);
	ck_assert_int_ge(idx, 0);
	ck_assert_uint_eq(et, GGUF_TYPE_STRING);
	ck_assert_uint_eq(n, 32000);
	expect_arr_str(g, idx, 0, "<unk>");
	expect_arr_str(g, idx, 3, "<0x00>");
	expect_arr_str(g, idx, 1000, "ied");
	expect_arr_str(g, idx, 31999, "给");
	ck_assert_int_eq(gguf_arr_str(g, (uint64_t)idx, 32000, &(struct gguf_str){ 0 }),
			 -ERANGE);

	idx = gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n);
	ck_assert_uint_eq(et, GGUF_TYPE_FLOAT32);
	scores = malloc(n * sizeof(*scores));
	ck_assert_int_eq(gguf_arr_copy_f32(g, (uint64_t)idx, scores, n), 0);
	ck_assert(scores[1000] == -741.0f && scores[31999] == -31740.0f);
	free(scores);

	idx = gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n);
	ck_assert_uint_eq(et, GGUF_TYPE_INT32);
	types = malloc(n * sizeof(*types));
	ck_assert_int_eq(gguf_arr_copy_i32(g, (uint64_t)idx, types, n), 0);
	ck_assert(types[0] == 2 && types[1] == 3 && types[3] == 6 && types[31999] == 1);
	ck_assert_int_eq(gguf_arr_copy_i32(g, (uint64_t)idx, types, n - 1), -ERANGE);
	free(types);
	gguf_close(g);
}
END_TEST

START_TEST(test_real_gpt2)
{
	char path[512];
	struct gguf *g;
	uint32_t et, u;
	uint64_t n;
	int64_t idx;
	int b;

	if (!testdata(path, sizeof(path), "ggml-vocab-gpt-2.gguf"))
		return;
	ck_assert_msg(gguf_open(&g, path, err, sizeof(err)) == 0, "%s", err);
	expect_str(g, "tokenizer.ggml.model", "gpt2");
	expect_str(g, "tokenizer.ggml.pre", "gpt-2");
	ck_assert_int_eq(gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u), 0);
	ck_assert_uint_eq(u, 50256);
	idx = gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n);
	ck_assert_uint_eq(n, 50257);
	expect_arr_str(g, idx, 0, "!");
	expect_arr_str(g, idx, 50256, "<|endoftext|>");
	idx = gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n);
	ck_assert_uint_eq(et, GGUF_TYPE_STRING);
	ck_assert_uint_eq(n, 50000);
	expect_arr_str(g, idx, 0, "Ġ t");
	expect_arr_str(g, idx, 49999, "Ġg azed");
	ck_assert_int_eq(gguf_get_bool(g, "tokenizer.ggml.tokens", &b), -EINVAL);
	ck_assert_int_eq(gguf_get_u32(g, "no.such.key", &u), -ENOENT);
	ck_assert_int_eq(gguf_get_u32(g, "general.name", &u), -EINVAL);
	gguf_close(g);
}
END_TEST

/* Copy every tokenizer.* KV of a real file through the writer. */
START_TEST(test_copy_tokenizer)
{
	struct gguf_writer *w = gguf_writer_new();
	char path[512];
	struct gguf *src, *dst;
	struct gguf_str a, b;
	uint64_t i, n, copied = 0;
	int64_t is, id;
	void *buf;
	size_t size;

	if (!testdata(path, sizeof(path), "ggml-vocab-gpt-2.gguf")) {
		gguf_writer_free(w);
		return;
	}
	ck_assert_msg(gguf_open(&src, path, err, sizeof(err)) == 0, "%s", err);
	for (i = 0; i < gguf_n_kv(src); i++) {
		if (strncmp(gguf_kv_key(src, i), "tokenizer.", 10))
			continue;
		ck_assert_int_eq(gguf_writer_copy_kv(w, src, i), 0);
		copied++;
	}
	ck_assert_uint_eq(copied, 7);
	ck_assert_int_eq(gguf_writer_copy_kv(w, src, gguf_find_kv(src, "tokenizer.ggml.pre")),
			 -EEXIST);
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), 0);
	ck_assert_msg(gguf_open_mem(&dst, buf, size, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gguf_n_kv(dst), copied);
	is = gguf_get_arr(src, "tokenizer.ggml.merges", NULL, &n);
	id = gguf_get_arr(dst, "tokenizer.ggml.merges", NULL, &n);
	ck_assert(is >= 0 && id >= 0);
	for (i = 0; i < n; i += 997) {
		gguf_arr_str(src, (uint64_t)is, i, &a);
		gguf_arr_str(dst, (uint64_t)id, i, &b);
		ck_assert(a.n == b.n && !memcmp(a.s, b.s, a.n));
	}
	gguf_close(dst);
	gguf_close(src);
	free(buf);
	gguf_writer_free(w);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Writer -> reader round trip                                         */

static const uint32_t rt_types[] = {
	KK_TYPE_F32, KK_TYPE_F16, KK_TYPE_BF16, KK_TYPE_Q4_0, KK_TYPE_Q4_1,
	KK_TYPE_Q5_0, KK_TYPE_Q5_1, KK_TYPE_Q8_0, KK_TYPE_Q4_K, KK_TYPE_Q5_K,
	KK_TYPE_Q6_K,
};
#define N_RT_TYPES (sizeof(rt_types) / sizeof(rt_types[0]))

struct rt_tensor {
	char name[32];
	uint32_t type, n_dims;
	uint64_t ne[4];
	uint64_t size;
	uint8_t *data;
};

static void add_all_kv_types(struct gguf_writer *w)
{
	static const uint8_t a_u8[] = { 1, 2, 255 };
	static const int16_t a_i16[] = { -32768, 0, 32767 };
	static const float a_f32[] = { 1.5f, -2.0f };
	static const double a_f64[] = { 1e300, -0.5 };
	static const uint64_t a_u64[] = { UINT64_MAX, 0 };
	static const uint8_t a_bool[] = { 1, 0, 1 };
	const char *strs[] = { "alpha", "", "ü" };

	ck_assert_int_eq(gguf_writer_add_u8(w, "t.u8", 200), 0);
	ck_assert_int_eq(gguf_writer_add_i8(w, "t.i8", -100), 0);
	ck_assert_int_eq(gguf_writer_add_u16(w, "t.u16", 60000), 0);
	ck_assert_int_eq(gguf_writer_add_i16(w, "t.i16", -30000), 0);
	ck_assert_int_eq(gguf_writer_add_u32(w, "t.u32", 4000000000u), 0);
	ck_assert_int_eq(gguf_writer_add_i32(w, "t.i32", -2000000000), 0);
	ck_assert_int_eq(gguf_writer_add_f32(w, "t.f32", 3.5f), 0);
	ck_assert_int_eq(gguf_writer_add_bool(w, "t.bool", 7), 0);
	ck_assert_int_eq(gguf_writer_add_strn(w, "t.str", "a\0b", 3), 0);
	ck_assert_int_eq(gguf_writer_add_u64(w, "t.u64", (1ull << 40) + 3), 0);
	ck_assert_int_eq(gguf_writer_add_i64(w, "t.i64", -(1ll << 40)), 0);
	ck_assert_int_eq(gguf_writer_add_f64(w, "t.f64", -2.25), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.u8", GGUF_TYPE_UINT8, a_u8, 3), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.i16", GGUF_TYPE_INT16, a_i16, 3), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.f32", GGUF_TYPE_FLOAT32, a_f32, 2), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.f64", GGUF_TYPE_FLOAT64, a_f64, 2), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.u64", GGUF_TYPE_UINT64, a_u64, 2), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.bool", GGUF_TYPE_BOOL, a_bool, 3), 0);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.empty", GGUF_TYPE_INT32, NULL, 0), 0);
	ck_assert_int_eq(gguf_writer_add_arr_str(w, "a.str", strs, NULL, 3), 0);
	/* what the writer must refuse */
	ck_assert_int_eq(gguf_writer_add_u8(w, "t.u8", 1), -EEXIST);
	ck_assert_int_eq(gguf_writer_add_u8(w, "", 1), -EINVAL);
	ck_assert_int_eq(gguf_writer_add_arr(w, "a.bad", GGUF_TYPE_STRING, a_u8, 1), -EINVAL);
	ck_assert_int_eq(gguf_writer_add_scalar(w, "t.bad", GGUF_TYPE_ARRAY, a_u8), -EINVAL);
	ck_assert_int_eq(gguf_writer_add_u32(w, "general.alignment", 48), -EINVAL);
}

static void check_all_kv_types(struct gguf *g)
{
	uint8_t u8 = 0;
	uint32_t u32, et;
	int32_t i32;
	uint64_t u64, n;
	int64_t i64, idx;
	float f32, fa[2];
	double f64;
	int b;
	struct gguf_str s;
	int32_t ia[3];

	ck_assert_uint_eq(gguf_kv_type(g, (uint64_t)gguf_find_kv(g, "t.u8")), GGUF_TYPE_UINT8);
	ck_assert_int_eq(gguf_get_u32(g, "t.u8", &u32), 0);
	ck_assert_uint_eq(u32, 200);
	ck_assert_int_eq(gguf_get_i32(g, "t.i8", &i32), 0);
	ck_assert_int_eq(i32, -100);
	ck_assert_int_eq(gguf_get_u32(g, "t.i8", &u32), -ERANGE);
	ck_assert_int_eq(gguf_get_u32(g, "t.u16", &u32), 0);
	ck_assert_uint_eq(u32, 60000);
	ck_assert_int_eq(gguf_get_i32(g, "t.i16", &i32), 0);
	ck_assert_int_eq(i32, -30000);
	ck_assert_int_eq(gguf_get_u32(g, "t.u32", &u32), 0);
	ck_assert_uint_eq(u32, 4000000000u);
	ck_assert_int_eq(gguf_get_i32(g, "t.u32", &i32), -ERANGE);
	ck_assert_int_eq(gguf_get_i64(g, "t.u32", &i64), 0);
	ck_assert_int_eq(i64, 4000000000ll);
	ck_assert_int_eq(gguf_get_i32(g, "t.i32", &i32), 0);
	ck_assert_int_eq(i32, -2000000000);
	ck_assert_int_eq(gguf_get_f32(g, "t.f32", &f32), 0);
	ck_assert(f32 == 3.5f);
	ck_assert_int_eq(gguf_get_bool(g, "t.bool", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(gguf_get_str(g, "t.str", &s), 0);
	ck_assert(s.n == 3 && !memcmp(s.s, "a\0b", 3));
	ck_assert_int_eq(gguf_get_u64(g, "t.u64", &u64), 0);
	ck_assert_uint_eq(u64, (1ull << 40) + 3);
	ck_assert_int_eq(gguf_get_u32(g, "t.u64", &u32), -ERANGE);
	ck_assert_int_eq(gguf_get_i64(g, "t.i64", &i64), 0);
	ck_assert_int_eq(i64, -(1ll << 40));
	ck_assert_int_eq(gguf_get_f64(g, "t.f64", &f64), 0);
	ck_assert(f64 == -2.25);
	ck_assert_int_eq(gguf_get_f32(g, "t.f64", &f32), 0);
	ck_assert(f32 == -2.25f);
	ck_assert_int_eq(gguf_get_f32(g, "t.u8", &f32), -EINVAL);

	idx = gguf_get_arr(g, "a.u8", &et, &n);
	ck_assert(idx >= 0 && et == GGUF_TYPE_UINT8 && n == 3);
	memcpy(&u8, (const uint8_t *)gguf_arr_data(g, (uint64_t)idx) + 2, 1);
	ck_assert_uint_eq(u8, 255);
	ck_assert_int_eq(gguf_arr_copy_i32(g, (uint64_t)idx, ia, 3), 0);
	ck_assert(ia[0] == 1 && ia[2] == 255);
	idx = gguf_get_arr(g, "a.i16", &et, &n);
	ck_assert_int_eq(gguf_arr_copy_i32(g, (uint64_t)idx, ia, 3), 0);
	ck_assert(ia[0] == -32768 && ia[2] == 32767);
	idx = gguf_get_arr(g, "a.f64", &et, &n);
	ck_assert(et == GGUF_TYPE_FLOAT64 && n == 2);
	ck_assert_int_eq(gguf_arr_copy_f32(g, (uint64_t)idx, fa, 2), -ERANGE);
	idx = gguf_get_arr(g, "a.f32", &et, &n);
	ck_assert_int_eq(gguf_arr_copy_f32(g, (uint64_t)idx, fa, 2), 0);
	ck_assert(fa[0] == 1.5f && fa[1] == -2.0f);
	idx = gguf_get_arr(g, "a.u64", &et, &n);
	ck_assert_int_eq(gguf_arr_copy_i32(g, (uint64_t)idx, ia, 2), -ERANGE);
	idx = gguf_get_arr(g, "a.bool", &et, &n);
	ck_assert(et == GGUF_TYPE_BOOL && n == 3);
	ck_assert(!memcmp(gguf_arr_data(g, (uint64_t)idx), "\1\0\1", 3));
	idx = gguf_get_arr(g, "a.empty", &et, &n);
	ck_assert(idx >= 0 && et == GGUF_TYPE_INT32 && n == 0);
	idx = gguf_get_arr(g, "a.str", &et, &n);
	ck_assert(idx >= 0 && et == GGUF_TYPE_STRING && n == 3);
	expect_arr_str(g, idx, 0, "alpha");
	expect_arr_str(g, idx, 1, "");
	expect_arr_str(g, idx, 2, "ü");
	ck_assert(gguf_arr_data(g, (uint64_t)idx) == NULL);
	ck_assert_int_eq(gguf_get_arr(g, "t.u8", &et, &n), -EINVAL);
}

static void make_tensors(struct rt_tensor *t, struct kt_rng *rng)
{
	size_t i;

	for (i = 0; i < N_RT_TYPES; i++) {
		uint32_t be = kk_type_block_elems(rt_types[i]), d;

		snprintf(t[i].name, sizeof(t[i].name), "blk.%zu.%s.weight", i,
			 kk_type_name(rt_types[i]));
		t[i].type = rt_types[i];
		t[i].n_dims = 1 + i % 4;
		for (d = 0; d < 4; d++)
			t[i].ne[d] = d >= t[i].n_dims ? 1 : d ? 1 + kt_rng_u64(rng) % 3 :
				     be * (1 + kt_rng_u64(rng) % 3);
		t[i].size = kk_row_bytes(t[i].type, t[i].ne[0]) * t[i].ne[1] *
			    t[i].ne[2] * t[i].ne[3];
		t[i].data = malloc(t[i].size);
		kt_fill_bytes(rng, t[i].data, t[i].size);
	}
}

static void check_tensors(struct gguf *g, const struct rt_tensor *t, uint32_t align)
{
	struct gguf_tensor_info ti;
	size_t i;

	ck_assert_uint_eq(gguf_n_tensors(g), N_RT_TYPES);
	ck_assert_uint_eq(gguf_data_offset(g) % align, 0);
	for (i = 0; i < N_RT_TYPES; i++) {
		ck_assert_msg(gguf_get_tensor(g, t[i].name, &ti, err, sizeof(err)) == 0,
			      "%s", err);
		ck_assert_str_eq(ti.name, t[i].name);
		ck_assert_uint_eq(ti.type, t[i].type);
		ck_assert_uint_eq(ti.n_dims, t[i].n_dims);
		ck_assert(!memcmp(ti.ne, t[i].ne, sizeof(ti.ne)));
		ck_assert_uint_eq(ti.size, t[i].size);
		ck_assert_uint_eq(ti.file_offset % align, 0);
		ck_assert(!memcmp(ti.data, t[i].data, t[i].size));
		ck_assert_int_eq(gguf_find_tensor(g, t[i].name), (int64_t)i);
	}
	ck_assert_int_eq(gguf_get_tensor(g, "missing", &ti, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "missing"));
}

START_TEST(test_roundtrip)
{
	const uint32_t align = _i ? 64 : 32;
	struct rt_tensor t[N_RT_TYPES];
	struct gguf_writer *w = gguf_writer_new();
	struct kt_rng rng;
	struct gguf *g;
	uint32_t a;
	void *buf;
	size_t size, i;
	uint64_t ne[5] = { 32, 1, 1, 1, 1 };

	kt_rng_seed(&rng, 42 + _i);
	make_tensors(t, &rng);
	if (_i)
		ck_assert_int_eq(gguf_writer_set_alignment(w, align), 0);
	ck_assert_int_eq(gguf_writer_set_alignment(w, 48), -EINVAL);
	add_all_kv_types(w);
	for (i = 0; i < N_RT_TYPES; i++)
		ck_assert_int_eq(gguf_writer_add_tensor(w, t[i].name, t[i].type,
							t[i].n_dims, t[i].ne, t[i].data),
				 (int)i);
	ck_assert_int_eq(gguf_writer_add_tensor(w, t[0].name, KK_TYPE_F32, 1, ne, NULL), -EEXIST);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "x", 16, 1, ne, NULL), -ENOTSUP);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "x", KK_TYPE_Q4_K, 1, ne, NULL), -EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "x", KK_TYPE_F32, 5, ne, NULL), -EINVAL);
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), 0);
	ck_assert_uint_eq(size, gguf_writer_total_size(w));
	ck_assert_uint_eq(size % align, 0);
	ck_assert_msg(gguf_open_mem(&g, buf, size, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gguf_alignment(g), align);
	ck_assert_int_eq(gguf_get_u32(g, "general.alignment", &a), _i ? 0 : -ENOENT);
	check_all_kv_types(g);
	check_tensors(g, t, align);
	gguf_close(g);
	free(buf);
	gguf_writer_free(w);
	for (i = 0; i < N_RT_TYPES; i++)
		free(t[i].data);
}
END_TEST

/* Streaming in odd-sized chunks to a file gives the same bytes as memory. */
START_TEST(test_stream_file)
{
	struct rt_tensor t[N_RT_TYPES];
	struct gguf_writer *w = gguf_writer_new(), *wm = gguf_writer_new();
	char path[] = "/tmp/test_gguf_XXXXXX";
	struct kt_rng rng;
	struct gguf *g;
	void *buf;
	size_t size, i, off;
	int fd;

	kt_rng_seed(&rng, 7);
	make_tensors(t, &rng);
	add_all_kv_types(w);
	add_all_kv_types(wm);
	for (i = 0; i < N_RT_TYPES; i++) {
		gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne, NULL);
		gguf_writer_add_tensor(wm, t[i].name, t[i].type, t[i].n_dims, t[i].ne, t[i].data);
	}
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(gguf_writer_begin(w, fd), 0);
	for (i = 0; i < N_RT_TYPES; i++)
		for (off = 0; off < t[i].size; off += 7)
			ck_assert_int_eq(gguf_writer_stream(w, t[i].data + off,
				t[i].size - off < 7 ? t[i].size - off : 7), 0);
	ck_assert_int_eq(gguf_writer_end(w), 0);
	ck_assert_int_eq(gguf_writer_stream(w, "x", 1), -EINVAL);
	close(fd);
	ck_assert_msg(gguf_open(&g, path, err, sizeof(err)) == 0, "%s", err);
	check_all_kv_types(g);
	check_tensors(g, t, 32);
	ck_assert_int_eq(gguf_writer_to_mem(wm, &buf, &size), 0);
	ck_assert_uint_eq(size, gguf_file_size(g));
	ck_assert(!memcmp(buf, gguf_file_base(g), size));
	gguf_close(g);
	unlink(path);
	free(buf);
	gguf_writer_free(w);
	gguf_writer_free(wm);
	for (i = 0; i < N_RT_TYPES; i++)
		free(t[i].data);
}
END_TEST

/*
 * Enough long names that the reader's name arena moves after the keys were
 * stored (a real model has ~300 tensors): every key and name still resolves.
 */
START_TEST(test_many_names)
{
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_tensor_info ti;
	uint64_t ne[1] = { 32 };
	char name[GGUF_MAX_NAME];
	struct gguf *g;
	uint32_t u;
	void *buf;
	size_t size;
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "key.number.%d.with.a.fairly.long.name", i);
		ck_assert_int_eq(gguf_writer_add_u32(w, name, (uint32_t)i), 0);
	}
	for (i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "blk.%d.a_rather_long_tensor_name_%d.weight", i, i);
		ck_assert_int_eq(gguf_writer_add_tensor(w, name, KK_TYPE_F32, 1, ne, NULL), i);
	}
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), -EINVAL);	/* no data */
	gguf_writer_free(w);
	w = gguf_writer_new();
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "key.number.%d.with.a.fairly.long.name", i);
		gguf_writer_add_u32(w, name, (uint32_t)i);
	}
	for (i = 0; i < 600; i++) {
		float data[32] = { (float)i };

		snprintf(name, sizeof(name), "blk.%d.a_rather_long_tensor_name_%d.weight", i, i);
		gguf_writer_add_tensor(w, name, KK_TYPE_F32, 1, ne, data);
	}
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), 0);
	ck_assert_msg(gguf_open_mem(&g, buf, size, err, sizeof(err)) == 0, "%s", err);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "key.number.%d.with.a.fairly.long.name", i);
		ck_assert_str_eq(gguf_kv_key(g, (uint64_t)i), name);
		ck_assert_int_eq(gguf_get_u32(g, name, &u), 0);
		ck_assert_uint_eq(u, (uint32_t)i);
	}
	for (i = 0; i < 600; i += 7) {
		snprintf(name, sizeof(name), "blk.%d.a_rather_long_tensor_name_%d.weight", i, i);
		ck_assert_int_eq(gguf_get_tensor(g, name, &ti, err, sizeof(err)), 0);
		ck_assert_str_eq(ti.name, name);
		ck_assert(((const float *)ti.data)[0] == (float)i);
	}
	gguf_close(g);
	free(buf);
	gguf_writer_free(w);
}
END_TEST

/* Streaming more or fewer bytes than declared fails. */
START_TEST(test_stream_misuse)
{
	struct gguf_writer *w = gguf_writer_new();
	uint64_t ne[1] = { 32 };
	uint8_t data[200] = { 0 };
	int fd = open("/dev/null", O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "a", KK_TYPE_F32, 1, ne, NULL), 0);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "b", KK_TYPE_Q8_0, 1, ne, NULL), 1);
	ck_assert_int_eq(gguf_writer_stream(w, data, 1), -EINVAL);	/* not begun */
	ck_assert_int_eq(gguf_writer_begin(w, fd), 0);
	ck_assert_int_eq(gguf_writer_add_u32(w, "late", 1), -EINVAL);
	ck_assert_int_eq(gguf_writer_stream(w, data, 128 + 30), 0);
	ck_assert_int_eq(gguf_writer_stream(w, data, 5), -EINVAL);	/* 34 declared */
	gguf_writer_free(w);

	w = gguf_writer_new();
	gguf_writer_add_tensor(w, "a", KK_TYPE_F32, 1, ne, NULL);
	ck_assert_int_eq(gguf_writer_begin(w, fd), 0);
	ck_assert_int_eq(gguf_writer_stream(w, data, 100), 0);
	ck_assert_int_eq(gguf_writer_end(w), -EINVAL);		/* 28 bytes short */
	gguf_writer_free(w);
	w = gguf_writer_new();
	gguf_writer_add_tensor(w, "a", KK_TYPE_F32, 1, ne, NULL);
	ck_assert_int_eq(gguf_writer_write_file(w, "/tmp/test_gguf_nodata.gguf"), -EINVAL);
	ck_assert_int_eq(access("/tmp/test_gguf_nodata.gguf", F_OK), -1);
	gguf_writer_free(w);
	close(fd);
}
END_TEST

/* A type kk cannot run opens fine and is reported when accessed. */
START_TEST(test_unsupported_type)
{
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_tensor_info ti;
	uint64_t ne[2] = { 256, 2 };
	uint8_t data[132] = { 0 };
	struct gguf *g;
	void *buf;
	size_t size;

	ck_assert_int_eq(gguf_writer_add_tensor_raw(w, "blk.0.ffn_up.weight", 16, 2, ne,
						    sizeof(data), data), 0);
	ck_assert_int_eq(gguf_writer_to_mem(w, &buf, &size), 0);
	ck_assert_msg(gguf_open_mem(&g, buf, size, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(gguf_get_tensor(g, "blk.0.ffn_up.weight", &ti, err, sizeof(err)),
			 -ENOTSUP);
	ck_assert_msg(strstr(err, "blk.0.ffn_up.weight") && strstr(err, "16") &&
		      strstr(err, "iq2_xxs"), "message: %s", err);
	ck_assert_uint_eq(ti.ne[0], 256);
	ck_assert_ptr_null(ti.data);
	gguf_close(g);
	free(buf);
	gguf_writer_free(w);
}
END_TEST

#include "test_gguf_corrupt.h"

Suite *gguf_suite(void)
{
	Suite *s = suite_create("gguf");
	TCase *tc = tcase_create("gguf");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_real_llama_spm);
	tcase_add_test(tc, test_real_gpt2);
	tcase_add_test(tc, test_copy_tokenizer);
	tcase_add_loop_test(tc, test_roundtrip, 0, 2);
	tcase_add_test(tc, test_stream_file);
	tcase_add_test(tc, test_many_names);
	tcase_add_test(tc, test_stream_misuse);
	tcase_add_test(tc, test_unsupported_type);
	add_corrupt_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(gguf_suite());
}
