#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build every libFuzzer target tests/fuzz/fuzz_NAME.c with clang (ASan +
# UBSan) and run each for FUZZ_SECONDS (default 60) from its committed seed
# corpus tests/fuzz/corpus/NAME/.  Fails on the first crash.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/fuzz
secs=${FUZZ_SECONDS:-60}
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-I"$top/kernels" -I"$top/runtime" -I"$top/uapi" -I"$top/uapi/prog" -DKLLM_SRCDIR="\"$top\"")
# The library sources (kernels/ with their per-path flags) as one archive.
lib=$out/libkllm-fuzz.a
objs=()
for src in "$top"/kernels/*.c "$top"/runtime/*.c "$top"/uapi/prog/*.c; do
	[ -e "$src" ] || continue
	case $src in
	*_neon.c | *_dotprod.c) continue ;;
	*_avx2.c) m=(-mavx2 -mfma -mf16c) ;;
	*_avx512.c) m=(-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq) ;;
	*_avx512vnni.c) m=(-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni) ;;
	*) m=() ;;
	esac
	o=$out/obj/$(basename "$(dirname "$src")")_$(basename "${src%.c}").o
	mkdir -p "$out/obj"
	# rebuilt when its source or any header is newer: an object built
	# against an older struct layout reads another unit's structs wrong
	if [ ! -e "$o" ] || [ "$src" -nt "$o" ] ||
	   [ -n "$(find "$top/kernels" "$top/runtime" "$top/uapi" -name '*.h' -newer "$o" -print -quit)" ]; then
		$CC "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" \
			-ffp-contract=off "${m[@]}" -c "$src" -o "$o"
	fi
	objs+=("$o")
done
rm -f "$lib"
ar rcs "$lib" "${objs[@]}"

rc=0
for t in "$top"/tests/fuzz/fuzz_*.c; do
	name=$(basename "${t%.c}")
	corpus_name=${name#fuzz_}
	$CC "${flags[@]}" "$t" "$lib" -lm -lpthread -o "$out/$name"
	work=$out/corpus-$corpus_name
	rm -rf "$work"
	mkdir -p "$work"
	[ -d "$top/tests/fuzz/corpus/$corpus_name" ] &&
		cp "$top/tests/fuzz/corpus/$corpus_name"/* "$work"/ 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	if "$out/$name" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
		-print_final_stats=1 "$work" > "$out/$name.log" 2>&1; then
		grep -E 'stat::number_of_executed_units|cov:' "$out/$name.log" | tail -2 | sed 's/^/  /'
		echo "fuzz: $name ok"
	else
		tail -40 "$out/$name.log"
		echo "fuzz: $name FAILED (crash input saved beside $out/$name.log)"
		rc=1
	fi
done
exit $rc
