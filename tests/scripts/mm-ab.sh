#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/scripts/mm-ab.sh REV [TYPE K ROWS ...] - the AVX2 matmul kernels of
# git revision REV (a) against the working tree's (b), in one process:
# tests/scripts/mm_ab.c.  Each TYPE K ROWS triple is one run (default: every
# 32-element format at K 576 and 2048, 1024 rows; TYPE also q4_K or q6_K,
# K then a multiple of 256).  MM_AB_COLS=N: the matmul's columns (default
# 16).  MM_AB_SIMD=avx512vnni: the AVX-512 VNNI kernels
# (kernels/kk_mm_avx512vnni.c) instead of the AVX2 ones.  Each gemm call gets
# 16 rows, as kernels/kk_matmul.c hands them out.  Needs a CPU with the
# instructions chosen.
set -euo pipefail
rev=${1:?usage: $0 REV [TYPE K ROWS ...]}
shift
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/a"
git -C "$top" archive "$rev" kernels | tar -x -C "$tmp/a"
cflags="-O2 -mavx2 -mfma -mf16c -ffp-contract=off -ffreestanding -Wno-unused-function"
simd=${MM_AB_SIMD:-avx2}
case $simd in
avx2) ;;
avx512vnni)
	cflags="$cflags -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni" ;;
*)
	echo "mm-ab: MM_AB_SIMD is avx2 or avx512vnni" >&2
	exit 2 ;;
esac
for side in a b; do
	src=$top/kernels
	[ $side = a ] && src=$tmp/a/kernels
	gcc $cflags -I"$src" -Dkk_mm_init_"$simd"=mm_ab_"$side"_init \
		-c "$src/kk_mm_$simd.c" -o "$tmp/$side-mm.o"
	gcc $cflags -I"$src" -DMM_AB_SIDE=mm_ab_"$side"_ \
		-c "$top/tests/scripts/mm_ab.c" -o "$tmp/$side-xq.o"
done
gcc -O2 -I"$top/kernels" "$top/tests/scripts/mm_ab.c" "$top/kernels/kk_types.c" \
	"$tmp"/a-*.o "$tmp"/b-*.o -o "$tmp/mm_ab" -lm
if [ $# -eq 0 ]; then
	set -- q4_0 576 1024 q4_0 2048 1024 q4_1 576 1024 q4_1 2048 1024 \
	       q5_0 576 1024 q5_0 2048 1024 q8_0 576 1024 q8_0 2048 1024
fi
while [ $# -ge 3 ]; do
	"$tmp/mm_ab" "$1" "$2" "$3"
	shift 3
done
