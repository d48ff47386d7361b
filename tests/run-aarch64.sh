#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-aarch64.sh - cross-build the unit tests for aarch64 and run them under
# qemu-user on two emulated CPUs:
#
#   -cpu max         Advanced SIMD + dotprod + i8mm: tests cover scalar, neon,
#                    dotprod, i8mm
#   -cpu cortex-a53  Advanced SIMD only:      tests cover scalar, neon
#
# Before the tests, a small probe checks that kk_simd_available() on each CPU
# reports exactly the paths expected from its AT_HWCAP and AT_HWCAP2
# (neoverse-n1: dotprod without i8mm), so a CPU that silently lost a path
# cannot pass by testing less.  Prints one result line per CPU; exits
# non-zero on any failure.
#
#   T=NAME        run only tests/unit/test_NAME.c
#   CPUS="..."    qemu CPU models (default "max cortex-a53")
#   PROBE_CPUS="..." models whose paths are only probed, not tested
#                 (default "neoverse-n1": dotprod without i8mm)
#   BUILD=DIR     build directory (default build/aarch64)
#   JOBS=N        make -j (default 2)
set -uo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build/aarch64}
CROSS=${CROSS:-aarch64-linux-gnu-}
CPUS=${CPUS:-max cortex-a53}
PROBE_CPUS=${PROBE_CPUS-neoverse-n1}
JOBS=${JOBS:-2}
T=${T:-}
case $BUILD in
/*) ;;
*) BUILD=$SRCDIR/$BUILD ;;
esac

# Paths (besides scalar) each known CPU model must report (QEMU 7.2 has
# no cortex-a710; a newer one's has i8mm).
expected_paths() {
	case $1 in
	max | cortex-a710) echo "neon dotprod i8mm" ;;
	neoverse-n1 | cortex-a76) echo "neon dotprod" ;;
	cortex-a53 | cortex-a57 | cortex-a72) echo "neon" ;;
	*) echo "?" ;;
	esac
}

say() { echo "run-aarch64: $*"; }

"$SRCDIR/tools/deps-arm64.sh" || exit 1

mk() {
	make -C "$SRCDIR" --no-print-directory BUILD="$BUILD" CROSS="$CROSS" "$@"
}

targets=(lib tests)
[ -z "$T" ] || targets=(lib "$BUILD/tests/test_$T")
if ! mk -s -j"$JOBS" "${targets[@]}"; then
	say "cross build failed"
	exit 1
fi

# The probe: which SIMD paths the library finds on this CPU.
probe=$BUILD/tests/simd-probe
cat > "$BUILD/tests/simd-probe.c" << 'EOF'
// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <sys/auxv.h>
#include "kk.h"

int main(void)
{
	kk_u32 mask = kk_simd_available(kk_hwcap_arm(getauxval(AT_HWCAP),
						     getauxval(AT_HWCAP2))), s;
	const char *sep = "";

	for (s = 1; s < KK_SIMD_COUNT; s++) {
		if (mask & (1u << s)) {
			printf("%s%s", sep, kk_simd_name(s));
			sep = " ";
		}
	}
	printf("\n");
	return !(mask & 1u);
}
EOF
if ! "${CROSS}gcc" -static -O2 -Wall -Wextra -Werror -I"$SRCDIR/kernels" \
	"$BUILD/tests/simd-probe.c" "$BUILD/lib/libkllm.a" -o "$probe"; then
	say "probe build failed"
	exit 1
fi

fail=0
results=()
for cpu in $PROBE_CPUS; do
	paths=$(qemu-aarch64 -cpu "$cpu" "$probe") || paths="(probe failed)"
	want=$(expected_paths "$cpu")
	if [ "$paths" = "$want" ]; then
		results+=("aarch64 -cpu $cpu: ok, SIMD paths scalar $paths (probe only)")
	else
		results+=("aarch64 -cpu $cpu: FAIL: SIMD paths '$paths', expected '$want'")
		fail=1
	fi
done
# (tests that take minutes under qemu-user skip what native runs cover)
export KLLM_TEST_EMULATED=1
for cpu in $CPUS; do
	run="qemu-aarch64 -cpu $cpu"
	paths=$($run "$probe") || paths="(probe failed)"
	want=$(expected_paths "$cpu")
	if [ "$want" != "?" ] && [ "$paths" != "$want" ]; then
		results+=("aarch64 -cpu $cpu: FAIL: SIMD paths '$paths', expected '$want'")
		fail=1
		continue
	fi
	say "-cpu $cpu: paths scalar $paths"
	start=$(date +%s)
	out=$(mk unit RUN="$run" T="$T" 2>&1)
	rc=$?
	echo "$out"
	secs=$(($(date +%s) - start))
	summary=$(echo "$out" | grep -E '^unit: ' | tail -1)
	[ -n "$summary" ] || summary="unit: did not run"
	if [ "$rc" -eq 0 ]; then
		results+=("aarch64 -cpu $cpu (scalar $paths): ok, $summary, ${secs}s")
	else
		results+=("aarch64 -cpu $cpu (scalar $paths): FAIL, $summary, ${secs}s")
		fail=1
	fi
done

for r in "${results[@]}"; do
	echo "$r"
done
exit "$fail"
