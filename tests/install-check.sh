#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make install` into a scratch prefix (a multiarch LIBDIR) and check what
# was installed (kllm.h alone, 0644 libraries, kllm.pc) and what the
# libraries export (exactly the functions kllm.h declares).  Then build a C
# and a C++17 program with `#include <kllm/kllm.h>` and nothing but
# `pkg-config --cflags --libs kllm` (shared, and --static), and run them:
# the public API end to end on a tiny model written by the installed
# kllm-mkmodel (load, tokenize, an engine with two sequences, fork, a
# batched step, greedy generation with streaming, the sampler, the pool).
# Every installed tool has a man page and a --version printing "NAME
# VERSION"; every installed man page is clean for `mandoc -Tlint` (nothing
# worse than STYLE) and `groff -man -ww`.  Last, make uninstall must leave
# the prefix empty.  KLLM_BUILD picks the build directory (default build/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${KLLM_BUILD:-$top/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A multiarch LIBDIR, as a Debian package installs it.
prefix=$tmp/prefix
libdir=$prefix/lib/$(cc -dumpmachine)
version=$(sed -n 's/^VERSION := //p' "$top/Makefile")
make -s -C "$top" BUILD="$build" install PREFIX="$prefix" LIBDIR="$libdir" >/dev/null
fail() {
	echo "install-check: $*"
	exit 1
}

# What is installed: kllm.h alone as the headers, libraries 0644, the tools.
[ "$(cd "$prefix/include" && find . -type f | sort)" = ./kllm/kllm.h ] ||
	fail "headers other than kllm/kllm.h installed: $(cd "$prefix/include" && find . -type f)"
for f in libkllm.a "libkllm.so.$version" pkgconfig/kllm.pc; do
	[ "$(stat -c %a "$libdir/$f")" = 644 ] || fail "$f: mode $(stat -c %a "$libdir/$f"), not 644"
done
grep -qx 'Cflags: -I${includedir}' "$libdir/pkgconfig/kllm.pc" || fail "kllm.pc: Cflags"
grep -qx 'includedir=${prefix}/include' "$libdir/pkgconfig/kllm.pc" || fail "kllm.pc: includedir"
if grep -q 'KLLM_HAVE_DEV' "$build/config.mk" 2>/dev/null; then
	grep -qx 'Requires.private: liburing libdrm' "$libdir/pkgconfig/kllm.pc" ||
		fail "kllm.pc: no Requires.private for the device engine's liburing and libdrm"
fi

# The functions kllm.h declares (comments stripped; not its static inline
# helpers) are exactly what libkllm.so exports and what libkllm.a leaves
# global: nothing internal (gguf_*, tok_*, kk_*, nor internal kllm_*).
hdr=$prefix/include/kllm/kllm.h
cc -fpreprocessed -dD -E -P "$hdr" > "$tmp/kllm.nocomments.h"
grep -o 'static inline [^(]*\bkllm_[a-z0-9_]*[[:space:]]*(' "$tmp/kllm.nocomments.h" |
	grep -o 'kllm_[a-z0-9_]*' | sort -u > "$tmp/inline.txt"
grep -o '\bkllm_[a-z0-9_]*[[:space:]]*(' "$tmp/kllm.nocomments.h" | grep -o 'kllm_[a-z0-9_]*' |
	sort -u | comm -23 - "$tmp/inline.txt" > "$tmp/declared.txt"
[ "$(wc -l < "$tmp/declared.txt")" -ge 40 ] || fail "kllm.h: too few declarations found"
nm -D --defined-only "$libdir/libkllm.so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
	sort -u > "$tmp/exported.txt"
if ! diff -u "$tmp/declared.txt" "$tmp/exported.txt" > "$tmp/exports.diff"; then
	cat "$tmp/exports.diff"
	fail "libkllm.so exports other functions than kllm.h declares (- declared only, + exported only)"
fi
nm -g --defined-only "$libdir/libkllm.a" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/static.txt"
if ! diff -u "$tmp/declared.txt" "$tmp/static.txt" > "$tmp/static.diff"; then
	cat "$tmp/static.diff"
	fail "libkllm.a's global symbols are not kllm.h's functions (- declared only, + global only)"
fi
echo "install-check: libkllm.so and libkllm.a export the $(wc -l < "$tmp/declared.txt") functions of kllm.h, nothing else"

cat > "$tmp/hello.c" <<'C'
#include <errno.h>
#include <kllm/kllm.h>
#include <stdio.h>
#include <string.h>

/* ggml has a function of this name: libkllm's own must not clash with it
 * in a static link, nor be interposed by it in a shared one. */
int gguf_find_kv(const void *ctx, const char *key);
int gguf_find_kv(const void *ctx, const char *key)
{
	return ctx && key ? -2 : -1;
}

static void count(void *arg, uint64_t b, uint64_t e)
{
	__atomic_fetch_add((uint64_t *)arg, e - b, __ATOMIC_RELAXED);
}

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
	uint32_t path = kllm_cpu_init();
	uint64_t items = 0;
	int32_t ids[32];
	int n, a, b, seen = 0;

	if (argc < 2 || kllm_pool_create(2, &pool))
		return 1;
	printf("kllm %s, %s, %u threads\n", kllm_version(), kllm_simd_name(path),
	       kllm_pool_threads(pool));
	kllm_pool_parallel_for(pool, count, &items, 1000, 7);
	kllm_pool_destroy(pool);
	if (items != 1000 || gguf_find_kv(NULL, NULL) != -1 ||
	    !(kllm_cpu_simd_mask() & (1u << path)) || kllm_cpu_count() < 1)
		return 1;
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
	return strcmp(kllm_version(), KLLM_WANT_VERSION) != 0;
}
C
# The same from C++17: kllm.h must be C++-clean (extern "C", no C-only
# constructs), and the pool, CPU and generation functions link.
cat > "$tmp/hello.cpp" <<'CXX'
#include <kllm/kllm.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static void count(void *arg, uint64_t b, uint64_t e)
{
	static_cast<std::atomic<uint64_t> *>(arg)->fetch_add(e - b);
}

int main(int argc, char **argv)
{
	std::atomic<uint64_t> items{0};
	kllm_pool *pool = nullptr;
	kllm_llm *llm = nullptr;
	kllm_engine *e = nullptr;
	const uint32_t path = kllm_cpu_init();

	if (argc < 2 || kllm_pool_create(2, &pool) != 0)
		return 1;
	kllm_pool_parallel_for(pool, count, &items, 999, 10);
	kllm_pool_destroy(pool);
	if (items.load() != 999 || kllm_llm_load("/nonexistent.gguf", &llm) != -ENOENT)
		return 1;
	if (kllm_llm_load(argv[1], &llm) != 0) {
		std::fprintf(stderr, "%s\n", kllm_last_error());
		return 1;
	}
	const std::string prompt = "hello world";
	std::vector<int32_t> ids(32);
	const int n = kllm_tokenize(llm, prompt.data(), prompt.size(), 1, 0, ids.data(), ids.size());
	struct kllm_engine_params ep; /* "struct": kllm_engine_params() is also a function */
	kllm_engine_default_params(&ep);
	ep.n_ctx = 64;
	ep.max_batch = 8;
	if (n <= 0 || n > 32 || kllm_engine_create(llm, &ep, &e) != 0)
		return 1;
	const int seq = kllm_seq_new(e);
	if (kllm_seq_feed(e, seq, ids.data(), static_cast<size_t>(n)) != 0)
		return 1;
	kllm_sampler_params sp;
	kllm_sampler_default_params(&sp);
	sp.temperature = 0;
	kllm_sampler *smp = kllm_sampler_create(&sp);
	std::string text;
	kllm_gen_params gp{};
	gp.n_predict = 8;
	gp.arg = &text;
	gp.on_token = [](void *arg, int32_t, const char *t, size_t len) -> int {
		static_cast<std::string *>(arg)->append(t, len);
		return 0;
	};
	kllm_gen_result res{};
	if (!smp || kllm_generate(e, seq, smp, &gp, &res) != 0 || res.n_gen == 0)
		return 1;
	std::printf("C++17: kllm %s, %s, %u tokens generated\n", kllm_version(),
		    kllm_simd_name(path), res.n_gen);
	kllm_sampler_free(smp);
	kllm_engine_free(e);
	kllm_llm_free(llm);
	return std::strcmp(kllm_version(), KLLM_WANT_VERSION) != 0;
}
CXX
"$prefix/bin/kllm-mkmodel" --shape tiny --type q8_0 -o "$tmp/tiny.gguf" >"$tmp/mk.log" 2>&1 ||
	{ cat "$tmp/mk.log"; fail "kllm-mkmodel failed"; }
# Only what pkg-config says: no -I or -L of our own.
export PKG_CONFIG_PATH=$libdir/pkgconfig
for lang in c c++; do
	if [ $lang = c ]; then
		compile=(cc -std=c11 -Wall -Wextra -Werror -pedantic "$tmp/hello.c")
	else
		compile=(g++ -std=c++17 -Wall -Wextra -Werror -pedantic "$tmp/hello.cpp")
	fi
	for mode in shared static; do
		if [ $mode = static ]; then
			flags="$(pkg-config --static --cflags --libs kllm) -static"
		else
			flags="$(pkg-config --cflags --libs kllm) -Wl,-rpath,$libdir"
		fi
		# shellcheck disable=SC2086
		# the library's version (kllm.h) is the Makefile's
		"${compile[@]}" -DKLLM_WANT_VERSION="\"$version\"" -o "$tmp/hello-$lang-$mode" $flags ||
			fail "$lang program ($mode) did not build against the installed prefix"
		"$tmp/hello-$lang-$mode" "$tmp/tiny.gguf" || fail "$lang program ($mode) failed"
	done
done
# The shared ones use the installed libkllm.so.
ldd "$tmp/hello-c++-shared" > "$tmp/ldd.txt"
grep -q "$libdir/libkllm.so" "$tmp/ldd.txt" || fail "hello-c++-shared: not linked to the installed libkllm.so"
for t in kllm-bench kllm-mkmodel kllm-run kllm-top; do
	[ -x "$prefix/bin/$t" ] || fail "$t missing"
done

# Every installed tool: a man page, and --version printing "NAME VERSION"
# on stdout with status 0.
mandir=$prefix/share/man
for b in "$prefix"/bin/*; do
	t=${b##*/}
	[ -f "$mandir/man1/$t.1" ] || fail "$t: no man page (docs/man/$t.1)"
	rc=0
	out=$("$b" --version 2>"$tmp/version.err") || rc=$?
	[ "$rc" = 0 ] && [ "$out" = "$t $version" ] ||
		fail "$t --version: status $rc, '$out' (want '$t $version') $(cat "$tmp/version.err")"
done
# Every installed page: 0644, the version and a date filled in, clean for
# mandoc -Tlint (STYLE at most) and groff -man -ww.
pages=$(cd "$mandir" && find . -type f | sort)
[ -n "$pages" ] || fail "no man pages installed under $mandir"
for want in man1/kllm-run.1 man1/kllm-bench.1 man1/kllm-mkmodel.1 man1/kllm-top.1 man3/libkllm.3 man4/kllm.4; do
	[ -f "$mandir/$want" ] || fail "man page $want not installed"
done
if ! command -v mandoc >/dev/null; then
	[ "${CI:-false}" != true ] || fail "mandoc missing (tools/deps.sh installs it)"
	echo "install-check: mandoc missing: man pages not linted (tools/deps.sh installs it)"
fi
for page in $pages; do
	f=$mandir/${page#./}
	[ "$(stat -c %a "$f")" = 644 ] || fail "$page: mode $(stat -c %a "$f"), not 644"
	head -n 1 "$f" | grep -Eq "^\.TH [^ ]+ [1-9] \"[0-9]{4}-[0-9]{2}-[0-9]{2}\" \"kllm $version\" " ||
		fail "$page: first line '$(head -n 1 "$f")'"
	! grep -q '@[A-Z]*@' "$f" || fail "$page: a placeholder left: $(grep -m1 '@[A-Z]*@' "$f")"
	if command -v mandoc >/dev/null; then
		rc=0
		mandoc -T lint -W warning "$f" >"$tmp/lint.txt" 2>&1 || rc=$?
		[ "$rc" = 0 ] && [ ! -s "$tmp/lint.txt" ] ||
			{ cat "$tmp/lint.txt"; fail "$page: mandoc -Tlint (status $rc)"; }
	fi
	if command -v groff >/dev/null; then
		groff -man -ww -z "$f" >"$tmp/groff.txt" 2>&1 && [ ! -s "$tmp/groff.txt" ] ||
			{ cat "$tmp/groff.txt"; fail "$page: groff -man -ww"; }
	fi
done
echo "install-check: $(echo "$pages" | wc -l) man pages lint-clean, every tool has one and --version"

# make uninstall takes away everything make install put there.
make -s -C "$top" BUILD="$build" uninstall PREFIX="$prefix" LIBDIR="$libdir" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "left after make uninstall: $left"
echo "install-check: ok"
