#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The same x86-64 binaries on CPUs without AVX-512 (Haswell: AVX2 only) and
# without AVX (Nehalem), emulated by qemu-x86_64: detection must offer only
# what the CPU has, and the tests must pass on what is left.  The native run
# covers AVX-512.  Tests slow under emulation (attention, threads) stay out.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${KLLM_BUILD:-$top/build}
read -r -a ldlibs <<< "$(make -s -C "$top" --no-print-directory print-ldlibs)"
cc -O2 -Wall -Werror -I"$top/kernels" "$top/tests/probe/simd_paths.c" \
	"$build/lib/libkllm.a" "${ldlibs[@]}" -o "$build/simd_paths"
rc=0
run_cpu() {
	local cpu=$1 expect=$2
	shift 2
	local t0=$SECONDS
	# qemu warns about host features TCG lacks: not ours to report.
	if ! qemu-x86_64 -cpu "$cpu" "$build/simd_paths" $expect 2>/dev/null; then
		echo "x86 -cpu $cpu: wrong SIMD paths detected"; rc=1; return
	fi
	if CK_DEFAULT_TIMEOUT=600 RUN="qemu-x86_64 -cpu $cpu" \
		"$top/tests/run-unit.sh" "$@" 2>/dev/null | tail -1 | grep -q ' 0 failed'; then
		echo "x86 -cpu $cpu ($expect): ok, $((SECONDS - t0))s"
	else
		echo "x86 -cpu $cpu ($expect): FAILED"
		CK_DEFAULT_TIMEOUT=600 RUN="qemu-x86_64 -cpu $cpu" "$top/tests/run-unit.sh" "$@" 2>/dev/null | tail -20
		rc=1
	fi
}
run_cpu Haswell "scalar avx2" "$build/tests/test_matmul" "$build/tests/test_ops" \
	"$build/tests/test_rope" "$build/tests/test_quant"
run_cpu Nehalem "scalar" "$build/tests/test_ops" "$build/tests/test_quant"
exit $rc
