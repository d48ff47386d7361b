#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make install` into a scratch prefix, then build and run a program against
# the installed library through pkg-config, statically and shared.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$top" install PREFIX="$tmp/prefix" >/dev/null
cat > "$tmp/hello.c" <<'C'
#include <kllm/kllm.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct kllm_pool *pool;
	kk_u32 path = kllm_cpu_init();

	if (kllm_pool_create(2, &pool))
		return 1;
	printf("kllm %s, %s, %u threads\n", kllm_version(), kk_simd_name(path),
	       kllm_pool_threads(pool));
	kllm_pool_destroy(pool);
	return strcmp(kllm_version(), "0.1.0") != 0;
}
C
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
for mode in shared static; do
	if [ $mode = static ]; then
		libs="$(pkg-config --static --cflags --libs kllm) -static"
	else
		libs="$(pkg-config --cflags --libs kllm) -Wl,-rpath,$tmp/prefix/lib"
	fi
	# shellcheck disable=SC2086
	cc -Wall -Werror -I"$tmp/prefix/include" "$tmp/hello.c" -o "$tmp/hello-$mode" $libs
	"$tmp/hello-$mode"
done
for t in kllm-bench kllm-mkmodel; do
	[ -x "$tmp/prefix/bin/$t" ] || { echo "install-check: $t missing"; exit 1; }
done
echo "install-check: ok"
