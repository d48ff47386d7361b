#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-llamacpp.sh - build llama.cpp (the copy vendored in the
# llama-cpp-python 0.3.36 sdist, from PyPI) for benchmarking kllm against it.
#
#   tests/scripts/build-llamacpp.sh [SRC_DIR] [BUILD_DIR]
#
# SRC_DIR defaults to the unpacked sdist's vendor/llama.cpp under
# /opt/llamacpp, BUILD_DIR to /opt/llamacpp/build-noamx (outside this repo:
# llama.cpp's code and binaries are never committed here).
#
# Why not GGML_NATIVE=ON: on a CPU with AMX, -march=native turns on ggml's
# AMX weight-repacking buffer, which dies with SIGILL on quantized models
# (Q4_1, Q4_K) on the machines we run on; llama-bench has no switch to turn
# the extra buffer types off.  So the ISA is spelled out instead: everything
# up to AVX-512 (F, VBMI, VNNI, BF16), no AMX.  Keep these flags in step
# with what /proc/cpuinfo offers if you move machines; docs/PERF.md records
# the flags a measurement was made with.
set -euo pipefail

SRC=${1:-/opt/llamacpp/llama_cpp_python-0.3.36/vendor/llama.cpp}
BUILD=${2:-/opt/llamacpp/build-noamx}
JOBS=${JOBS:-1}

cmake -S "$SRC" -B "$BUILD" \
	-DCMAKE_BUILD_TYPE=Release \
	-DGGML_NATIVE=OFF \
	-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
	-DGGML_AVX512_BF16=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_UI=OFF

nice -n 10 cmake --build "$BUILD" -j"$JOBS" \
	--target llama-bench llama-batched-bench llama-tokenize llama-simple
