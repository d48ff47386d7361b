#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Static checks of each built kllm.ko: it has the modinfo we document, and
# its kernels/ objects were built as FPU units only where intended.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rc=0
export PATH=$PATH:/sbin:/usr/sbin
for ko in "$top"/build/kmod-*/kllm.ko; do
	tree=$(dirname "$ko")
	rel=${tree##*/kmod-}
	if ! modinfo -F parm "$ko" | grep -q '^simd:'; then
		echo "$ko: no simd= parameter"; rc=1
	fi
	[ "$(modinfo -F license "$ko")" = GPL ] || { echo "$ko: licence"; rc=1; }
	# Non-FPU units must contain no SSE/AVX register use at all.
	for o in kk_op kk_simd kk_types kk_matmul; do
		if objdump -d "$tree/kernels/$o.o" | grep -q -E '%[xyz]mm'; then
			echo "$tree/kernels/$o.o uses SIMD registers outside an FPU unit"; rc=1
		fi
	done
	[ $rc -ne 0 ] || echo "module-check: kllm.ko for $rel ok"
done
exit $rc
