#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make install` into a scratch prefix, then build a program against the
# installed headers and library through pkg-config, statically and shared:
# it uses the public API (kllm.h) end to end on a tiny model written by the
# installed kllm-mkmodel: load, tokenize, an engine with two sequences,
# fork, a batched step, greedy generation with streaming, the sampler.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$top" install PREFIX="$tmp/prefix" >/dev/null
cat > "$tmp/hello.c" <<'C'
#include <errno.h>
#include <kllm/kllm.h>
#include <stdio.h>
#include <string.h>

static int on_token(void *arg, int32_t id, const char *text, size_t len)
{
	(void)text;
	(void)len;
	if (id >= 0)
		++*(int *)arg;
	return 0;
}

int main(int argc, char **argv)
{
	struct kllm_engine_params ep = { .n_seqs = 2, .n_ctx = 64, .max_batch = 8 };
	struct kllm_sampler_params sp;
	struct kllm_gen_params gp = { .n_predict = 8, .on_token = on_token };
	struct kllm_gen_result res;
	struct kllm_sampler *smp;
	struct kllm_engine *e;
	struct kllm_pool *pool;
	struct kllm_llm *llm;
	kk_u32 path = kllm_cpu_init();
	int32_t ids[32];
	int n, a, b, seen = 0;

	if (argc < 2 || kllm_pool_create(2, &pool))
		return 1;
	printf("kllm %s, %s, %u threads\n", kllm_version(), kk_simd_name(path),
	       kllm_pool_threads(pool));
	kllm_pool_destroy(pool);
	if (kllm_llm_load("/nonexistent.gguf", &llm) != -ENOENT || !kllm_last_error()[0])
		return 1;
	if (kllm_llm_load(argv[1], &llm)) {
		fprintf(stderr, "%s\n", kllm_last_error());
		return 1;
	}
	n = kllm_tokenize(llm, "hello world", 11, 1, 0, ids, 32);
	if (n <= 0 || n > 32 || kllm_engine_create(llm, &ep, &e))
		return 1;
	a = kllm_seq_new(e);
	if (kllm_seq_feed(e, a, ids, (size_t)n) || kllm_seq_decode(e, a))
		return 1;
	b = kllm_seq_fork(e, a, (uint32_t)n);
	if (b < 0 || kllm_seq_feed(e, a, ids, 1) || kllm_seq_feed(e, b, ids, 1) ||
	    kllm_engine_step(e) != 2 ||
	    memcmp(kllm_seq_logits(e, a), kllm_seq_logits(e, b),
		   4 * kllm_llm_info(llm)->n_vocab))
		return 1;
	kllm_sampler_default_params(&sp);
	sp.temperature = 0;
	smp = kllm_sampler_create(&sp);
	gp.arg = &seen;
	if (!smp || kllm_generate(e, b, smp, &gp, &res) || (int)res.n_gen != seen)
		return 1;
	printf("%s model: %d prompt tokens, generated %u (stop %d)\n",
	       kllm_llm_info(llm)->arch, n, res.n_gen, res.stop);
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	kllm_llm_free(llm);
	return strcmp(kllm_version(), "0.1.0") != 0;
}
C
"$tmp/prefix/bin/kllm-mkmodel" --shape tiny --type q8_0 -o "$tmp/tiny.gguf" >"$tmp/mk.log" 2>&1 ||
	{ cat "$tmp/mk.log"; echo "install-check: kllm-mkmodel failed"; exit 1; }
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
for mode in shared static; do
	if [ $mode = static ]; then
		libs="$(pkg-config --static --cflags --libs kllm) -static"
	else
		libs="$(pkg-config --cflags --libs kllm) -Wl,-rpath,$tmp/prefix/lib"
	fi
	# shellcheck disable=SC2086
	cc -Wall -Wextra -Werror -I"$tmp/prefix/include" "$tmp/hello.c" -o "$tmp/hello-$mode" $libs
	"$tmp/hello-$mode" "$tmp/tiny.gguf"
done
for t in kllm-bench kllm-mkmodel kllm-run kllm-top; do
	[ -x "$tmp/prefix/bin/$t" ] || { echo "install-check: $t missing"; exit 1; }
done
echo "install-check: ok"
