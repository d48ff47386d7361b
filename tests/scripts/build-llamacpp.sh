#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-llamacpp.sh - build llama.cpp (the copy vendored in the
# llama-cpp-python 0.3.36 sdist, from PyPI) for benchmarking kllm against it,
# the way its users build it: natively for the CPU at hand, its defaults
# otherwise (repacking on, OpenMP, no wait-policy override).
#
#   tests/scripts/build-llamacpp.sh [SRC_DIR] [BUILD_DIR]
#
# SRC_DIR defaults to the unpacked sdist's vendor/llama.cpp under
# /opt/llamacpp, BUILD_DIR to /opt/llamacpp/build-native (outside this repo:
# llama.cpp's code and binaries are never committed here).  JOBS (default 1)
# is the number of compile jobs; the build runs under nice.
#
# Targets: llama-bench, llama-batched-bench, llama-tokenize, llama-simple
# (kllm-bench compare), llama-server (kllm-bench http, against
# kllm-serve), without curl or OpenSSL (loopback benchmarks only), and
# llama-perplexity (beside kllm-bench ppl).
#
# Why AMX is off where the CPU has it: on a CPU with AMX, -march=native turns
# on ggml's AMX weight-repacking buffer, which dies with SIGILL on quantized
# models (Q4_1, Q4_K) on the machines we run on; llama-bench has no switch to
# turn the extra buffer types off.  With GGML_NATIVE=ON ggml ignores its
# GGML_AMX_* options (they only apply to a non-native build), so the AMX ISA
# is taken away from the compiler itself: an explicit -mno-amx-* wins over
# what -march=native implies, whatever the order.  Everything else the CPU
# has (AVX2, AVX-512, VNNI, ...) is used.  On a CPU without AMX (the AVX2-only
# hosts) nothing is taken away.  docs/PERF.md records the flags printed here.
#
# LLAMACPP_SIMD=avx2: an AVX2-only build (GGML_NATIVE=OFF with AVX, AVX2,
# FMA, F16C and BMI2 on, nothing of AVX-512), the llama.cpp that an AVX2-only
# host runs, to race kllm's AVX2 path (KLLM_SIMD=avx2) on a host that also
# has AVX-512.  LLAMACPP_TARGETS: the targets to build (default: all above).
set -euo pipefail

SRC=${1:-/opt/llamacpp/llama_cpp_python-0.3.36/vendor/llama.cpp}
BUILD=${2:-/opt/llamacpp/build-native}
JOBS=${JOBS:-1}

# The CPU's SIMD flags, as /proc/cpuinfo lists them (first CPU).
simd_flags() {
	grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
		grep -E '^(sse4_2|avx|avx2|fma|f16c|bmi2|avx512.*|avx_vnni|amx.*)$' |
		sort | tr '\n' ' '
}

FLAGS=$(simd_flags)
echo "build-llamacpp: CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "build-llamacpp: SIMD flags: ${FLAGS:-none}"

case ${LLAMACPP_SIMD:-native} in
native)
	NOAMX=""
	if grep -qwE 'amx_tile|amx_int8|amx_bf16' <<<"$FLAGS"; then
		NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
		echo "build-llamacpp: the CPU has AMX: building native with $NOAMX"
	else
		echo "build-llamacpp: no AMX on this CPU: plain native build"
	fi
	ISA=(-DGGML_NATIVE=ON -DCMAKE_C_FLAGS="$NOAMX" -DCMAKE_CXX_FLAGS="$NOAMX") ;;
avx2)
	ISA=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
	     -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
	     -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF)
	echo "build-llamacpp: LLAMACPP_SIMD=avx2: AVX2-only build, no AVX-512" ;;
*)
	echo "build-llamacpp: LLAMACPP_SIMD is native or avx2" >&2
	exit 2 ;;
esac

cmake -S "$SRC" -B "$BUILD" \
	-DCMAKE_BUILD_TYPE=Release \
	"${ISA[@]}" \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF

read -ra TARGETS <<<"${LLAMACPP_TARGETS:-llama-bench llama-batched-bench llama-tokenize \
	llama-simple llama-server llama-perplexity}"
nice -n 10 cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

echo "build-llamacpp: built in $BUILD/bin (${ISA[*]}, repack on, JOBS=$JOBS)"
