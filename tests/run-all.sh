#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every test group of kllm, in stages, each timed.  With CI=true a group that
# would be skipped (no kernel headers, no aarch64 emulator) fails instead.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
MAKE=${MAKE:-make}
JOBS=${JOBS:-$(nproc)}
ci=${CI:-false}
failed=()
passed=()
skipped=()

stage() {
	local name=$1
	shift
	local t0=$SECONDS
	echo "=== stage $name"
	if "$@"; then
		passed+=("$name")
		echo "=== stage $name: ok ($((SECONDS - t0)) s)"
	else
		failed+=("$name")
		echo "=== stage $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

skip() {
	local name=$1 why=$2
	if [ "$ci" = true ]; then
		echo "=== stage $name: cannot run ($why) - a failure under CI=true"
		failed+=("$name")
	else
		echo "=== stage $name: skipped ($why)"
		skipped+=("$name")
	fi
}

if [ "${WITH_DEPS:-0}" = 1 ]; then
	stage deps tools/deps.sh
	[ ${#failed[@]} -eq 0 ] || { echo "check: 0 passed, 1 failed"; exit 1; }
fi
stage build $MAKE -j"$JOBS" all tests

# A configuration change rebuilds what it affects (Makefile: $(BUILD)/config.mk):
# libkllm built without the device engine (DEV=0, as `make run` does before
# `make deps` installed liburing/libdrm), then a plain build: the engine's
# unit test (compiled with -DKLLM_HAVE_DEV) must link and pass, and a third
# make with the configuration unchanged must compile nothing.  In its own
# build folder, only libkllm and test_engine.
config_change() {
	local b=build/cfg
	$MAKE -s -j"$JOBS" BUILD=$b DEV=0 lib $b/tests/test_engine &&
		$MAKE -s -j"$JOBS" BUILD=$b lib $b/tests/test_engine || return 1
	if pkg-config --exists liburing libdrm && ! grep -q '^DEV_OK = 1' $b/config.mk; then
		echo "config-change: liburing and libdrm found, but $b/config.mk has no DEV_OK = 1"
		return 1
	fi
	$MAKE -s BUILD=$b unit T=engine || return 1
	if $MAKE BUILD=$b lib $b/tests/test_engine | grep -e ' -c ' -e ' -o '; then
		echo "config-change: an unchanged configuration rebuilt the above"
		return 1
	fi
}
stage config-change config_change
stage nm-check $MAKE -s nm-check
stage unit $MAKE -s unit
stage unit-asan-ubsan $MAKE -s -j"$JOBS" BUILD=build/asan SAN=1 unit
# The thread pool's parallel-for under ThreadSanitizer (build/tsan): x86
# hides a missing barrier that arm64 would show.
stage unit-tsan $MAKE -s -j"$JOBS" tsan-check

if command -v qemu-aarch64 >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null &&
	[ -x tests/run-aarch64.sh ]; then
	stage aarch64 tests/run-aarch64.sh
else
	skip aarch64 "no qemu-aarch64 or aarch64 cross compiler"
fi

if command -v qemu-x86_64 >/dev/null; then
	stage x86-cpus tests/run-x86-cpus.sh
else
	skip x86-cpus "no qemu-x86_64 to emulate CPUs without AVX-512"
fi

if python3 -c 'import gguf' 2>/dev/null && [ -f tests/scripts/check_mkmodel.py ]; then
	stage mkmodel python3 tests/scripts/check_mkmodel.py build/bin/kllm-mkmodel
else
	skip mkmodel "python3 gguf package missing"
fi

if command -v clang >/dev/null; then
	stage fuzz-smoke tests/fuzz/run.sh
else
	skip fuzz-smoke "no clang for libFuzzer"
fi

stage run-smoke tests/run-smoke.sh
stage run-chat tests/run-chat.sh
if [ -x build/bin/kllm-serve ]; then
	stage serve tests/run-serve.sh
else
	skip serve "kllm-serve not built (no libmicrohttpd/json-c/libcurl: tools/deps.sh installs them)"
fi
stage golden tests/run-golden.sh
stage install tests/install-check.sh
stage bench-smoke tests/bench-smoke.sh

if ls build/kmod-*/kllm.ko >/dev/null 2>&1; then
	stage module-build tests/module-check.sh
else
	skip module-build "no kernel headers: kllm.ko was not built"
fi

if command -v qemu-system-x86_64 >/dev/null; then
	stage vm-check $MAKE -s vm-check
else
	skip vm-check "no qemu-system-x86_64 to boot the target kernels"
fi

# kllm.ko cross-built for Debian's arm64 6.12, in qemu-system-aarch64.
if command -v qemu-system-aarch64 >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null; then
	stage vm-check-arm64 $MAKE -s vm-check-arm64
else
	skip vm-check-arm64 "no qemu-system-aarch64 or aarch64 cross compiler (tools/deps.sh installs them)"
fi

# The same guest suites on a 6.12 with lockdep, KASAN, kmemleak and
# atomic-sleep checks, built once from linux-source-6.12 (about 15-25 min
# on two cores, then cached in ~/.cache/kllm/debug-kernel).
if command -v qemu-system-x86_64 >/dev/null && ls /usr/src/linux-source-6.12*.tar.xz >/dev/null 2>&1; then
	stage vm-check-debug $MAKE -s vm-check-debug
else
	skip vm-check-debug "no qemu-system-x86_64 or linux-source-6.12 (tools/deps.sh installs them)"
fi

echo
echo "stages passed: ${passed[*]:-none}"
[ ${#skipped[@]} -eq 0 ] || echo "stages skipped: ${skipped[*]}"
[ ${#failed[@]} -eq 0 ] || echo "stages FAILED: ${failed[*]}"
echo "check: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
