// SPDX-License-Identifier: MIT
/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: any bytes must give
 * either a valid handle or an error message, never a crash or a read
 * outside the buffer.  Everything a valid handle offers is then touched.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gguf.h"
#include "kk.h"

static void touch_kvs(const struct gguf *g)
{
	uint64_t n = gguf_n_kv(g), i, j;
	volatile uint8_t sink = 0;

	for (i = 0; i < n; i++) {
		uint32_t et;
		uint64_t cnt, len;
		const char *key = gguf_kv_key(g, i);
		const uint8_t *raw = gguf_kv_raw(g, i, &len);

		if (key)
			sink ^= (uint8_t)strlen(key);
		if (raw && len)
			sink ^= raw[len - 1];
		if (gguf_arr_info(g, i, &et, &cnt))
			continue;
		for (j = 0; j < cnt && j < 64; j++) {
			struct gguf_str s;

			if (!gguf_arr_str(g, i, j, &s) && s.n)
				sink ^= (uint8_t)s.s[s.n - 1];
		}
		if (cnt <= 4096) {
			float f[4096];
			int32_t v[4096];

			gguf_arr_copy_f32(g, i, f, cnt);
			gguf_arr_copy_i32(g, i, v, cnt);
		}
	}
	(void)sink;
}

static void touch_tensors(const struct gguf *g)
{
	uint64_t n = gguf_n_tensors(g), i;
	char err[256];

	for (i = 0; i < n; i++) {
		struct gguf_tensor_info ti;

		if (gguf_tensor_at(g, i, &ti, err, sizeof(err)))
			continue;
		if (ti.data && ti.size) {
			volatile uint8_t first = ((const uint8_t *)ti.data)[0];
			volatile uint8_t last = ((const uint8_t *)ti.data)[ti.size - 1];

			(void)first;
			(void)last;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf *g = NULL;
	char err[256];

	if (gguf_open_mem(&g, data, size, err, sizeof(err)) == 0) {
		touch_kvs(g);
		touch_tensors(g);
		gguf_close(g);
	} else if (!err[0]) {
		__builtin_trap(); /* every failure must say why */
	}
	return 0;
}
