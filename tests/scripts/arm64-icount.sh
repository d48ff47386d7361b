#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# arm64-icount.sh - arm64 speed without arm64 hardware: guest instructions
# per token, counted by QEMU's TCG instruction-counting plugin, for each of
# kllm's aarch64 SIMD paths and for llama.cpp's arm64 kernels on the same
# model, one thread, all under `qemu-aarch64 -cpu max`.
#
#   tests/scripts/arm64-icount.sh [build|run|all]     (default all)
#
# build: tests/plugin/insn.c from Debian's qemu source package of the
#        installed qemu-user's version (downloaded with a private apt source
#        list into $CACHE/qemu-plugin; /etc/apt is not touched), compiled
#        against glib into libinsn.so; llama.cpp (llama-bench, llama-quantize)
#        cross-built static for aarch64 in $CACHE/llamacpp-aarch64, its
#        defaults but for the target: -march=$LCP_ARCH, what -cpu max offers
#        (dotprod, i8mm, fp16; no SVE); kllm-bench cross-built static in
#        build/icount-a64.
# run:   each tool three times per repeat, its own pp and tg tests, load
#        included each time:  A = pp$PP_LO + tg$TG_LO,  B = pp$PP_HI + tg$TG_LO,
#        C = pp$PP_LO + tg$TG_HI.  Load, setup and the untested parts cancel:
#          pp instructions/token = (B - A) / (PP_HI - PP_LO)
#          tg instructions/token = (C - A) / (TG_HI - TG_LO)
#        Every repeat must agree with the first within $TOL percent, or the
#        script exits 1 (after printing and writing what it measured).
#        Prints a table and writes $OUT (JSON).
#
# Models: MODEL (SmolLM2-135M-Instruct Q4_1), and with Q4_0=1 (default) its
# requantization to Q4_0 by the cross-built llama-quantize (run under qemu,
# cached): llama.cpp repacks only Q4_0 (and K/IQ4 types) into SMMLA tiles;
# its Q4_1 matmul uses SMMLA two rows by two columns in ggml_vec_dot_q4_1_q8_1.
#
#   PATHS="neon dotprod i8mm"   kllm paths (default: neon, dotprod, and i8mm
#                               when the kllm-bench built knows the name)
#   PP_LO=16 PP_HI=48 TG_LO=4 TG_HI=12 REPEATS=2 TOL=1
#   LLAMA=1 Q4_0=1              0 to skip llama.cpp / the Q4_0 model (made
#                               once by llama-quantize, then cached)
#   OUT=build/icount-a64/icount.json   CACHE=~/.cache/kllm   JOBS=2
#   LCP_SRC=.../vendor/llama.cpp       LCP_ARCH=armv8.6-a+dotprod+i8mm+fp16
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
STAGE=${1:-all}
CACHE=${CACHE:-$HOME/.cache/kllm}
MODEL=${MODEL:-$HOME/.cache/kllm/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
PP_LO=${PP_LO:-16}
PP_HI=${PP_HI:-48}
TG_LO=${TG_LO:-4}
TG_HI=${TG_HI:-12}
REPEATS=${REPEATS:-2}
TOL=${TOL:-1}
LLAMA=${LLAMA:-1}
Q4_0=${Q4_0:-1}
JOBS=${JOBS:-2}
LCP_SRC=${LCP_SRC:-/tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp}
LCP_ARCH=${LCP_ARCH:-armv8.6-a+dotprod+i8mm+fp16}
BUILD=$SRCDIR/build/icount-a64
OUT=${OUT:-$BUILD/icount.json}
PLUGDIR=$CACHE/qemu-plugin
PLUGIN=$PLUGDIR/libinsn.so
LCP_BUILD=$CACHE/llamacpp-aarch64/build
WORK=$CACHE/icount
KBENCH=$BUILD/bin/kllm-bench
QEMU=(qemu-aarch64 -cpu max)

say() { echo "arm64-icount: $*" >&2; }
die() {
	say "$*"
	exit 1
}

# ------------------------------------------------------------------ build

need_host_pkgs() {
	local missing=() p

	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] && return
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The source package of the installed qemu-user, through a private source
# list (deb-src is not configured system-wide).
fetch_qemu_source() {
	local ver=$1 src=$PLUGDIR/apt/sources.sources
	local opts=(-o "Dir::Etc::sourcelist=$src" -o Dir::Etc::sourceparts=-
		    -o "Dir::State::Lists=$PLUGDIR/apt/lists")

	mkdir -p "$PLUGDIR/apt/lists/partial" "$PLUGDIR/src"
	cat > "$src" << 'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
EOF
	say "downloading Debian's qemu $ver source package"
	apt-get "${opts[@]}" update -qq 2> /dev/null
	(cd "$PLUGDIR/src" && apt-get "${opts[@]}" source --download-only "qemu=$ver") \
		> "$PLUGDIR/apt/source.log" 2>&1 || die "apt-get source failed: $PLUGDIR/apt/source.log"
}

build_plugin() {
	local ver upver orig hdr insn glib_cflags glib_libs

	ver=$(dpkg-query -W -f='${source:Version}' qemu-user)
	upver=${ver#*:}
	upver=${upver%%-*}
	orig=$PLUGDIR/src/qemu_${upver}.orig.tar.xz
	qemu-aarch64 -h | grep -q '^-plugin' || die "this qemu-aarch64 has no -plugin"
	if [ -f "$PLUGIN" ] && [ "$(cat "$PLUGIN.version" 2> /dev/null)" = "$ver" ]; then
		say "plugin present ($PLUGIN, qemu $ver)"
		return
	fi
	if [ ! -f "$orig" ] || [ ! -f "$PLUGDIR/src/qemu_${ver#*:}.dsc" ]; then
		fetch_qemu_source "$ver"
	fi
	tar -C "$PLUGDIR/src" -xJf "$orig" --wildcards '*/include/qemu/qemu-plugin.h' \
		'*/tests/plugin/insn.c'
	hdr=$(cd "$PLUGDIR/src" && echo qemu-*/include/qemu/qemu-plugin.h)
	insn=$(cd "$PLUGDIR/src" && echo qemu-*/tests/plugin/insn.c)
	# Debian's patches must leave the plugin API as upstream's
	tar -C "$PLUGDIR/src" -xJf "$PLUGDIR/src/qemu_${ver#*:}.debian.tar.xz"
	! grep -lE '^\+\+\+ .*(qemu-plugin\.h|tests/plugin/insn\.c)' \
		"$PLUGDIR"/src/debian/patches/* || die "Debian patches the plugin API: apply them"
	read -ra glib_cflags <<< "$(pkg-config --cflags glib-2.0)"
	read -ra glib_libs <<< "$(pkg-config --libs glib-2.0)"
	gcc -O2 -shared -fPIC -Wall -I"$PLUGDIR/src/$(dirname "$hdr")" "${glib_cflags[@]}" \
		"$PLUGDIR/src/$insn" -o "$PLUGIN" "${glib_libs[@]}"
	echo "$ver" > "$PLUGIN.version"
	say "built $PLUGIN from qemu $ver ($insn)"
}

# The plugin loads and counts the same program the same way twice.
check_plugin() {
	local t=$WORK/hello a b

	printf 'int main(void) { return 0; }\n' > "$t.c"
	aarch64-linux-gnu-gcc -static -O2 "$t.c" -o "$t"
	a=$(count "$t.a" "$t")
	b=$(count "$t.b" "$t")
	if [ -z "$a" ] || [ "$a" -le 1000 ] || [ "$a" != "$b" ]; then
		die "plugin check: counts '$a' and '$b' of an empty program"
	fi
	say "plugin counts an empty static program: $a instructions"
}

# Static: FindOpenMP picks libgomp.so, so the archive is named for it.
build_llamacpp() {
	[ -d "$LCP_SRC" ] || die "no llama.cpp source at $LCP_SRC (pip download --no-deps" \
		"--no-binary :all: llama-cpp-python==0.3.36 and unpack it)"
	mkdir -p "$LCP_BUILD"
	cmake -S "$LCP_SRC" -B "$LCP_BUILD" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
		-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc \
		-DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ \
		-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER \
		-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY \
		-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY \
		-DBUILD_SHARED_LIBS=OFF -DCMAKE_EXE_LINKER_FLAGS=-static \
		-DOpenMP_gomp_LIBRARY="$(aarch64-linux-gnu-gcc -print-file-name=libgomp.a)" \
		-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH="$LCP_ARCH" \
		-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
		-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
		> "$LCP_BUILD/../cmake.log" 2>&1 || die "llama.cpp cmake failed: $LCP_BUILD/../cmake.log"
	nice -n 10 cmake --build "$LCP_BUILD" -j"$JOBS" --target llama-bench llama-quantize \
		> "$LCP_BUILD/../build.log" 2>&1 || die "llama.cpp build failed: $LCP_BUILD/../build.log"
	say "llama.cpp: $LCP_BUILD/bin (static aarch64, -march=$LCP_ARCH)"
}

# Always from scratch (-B): a source edited while make read it must not leave
# a stale object that looks newer than the source.
build_kllm() {
	"$SRCDIR/tools/deps-arm64.sh" > /dev/null
	make -C "$SRCDIR" -B -s --no-print-directory -j"$JOBS" CROSS=aarch64-linux-gnu- \
		BUILD="$BUILD" "$KBENCH"
	say "kllm: $KBENCH (static aarch64)"
}

do_build() {
	need_host_pkgs gcc g++-aarch64-linux-gnu libglib2.0-dev cmake xz-utils qemu-user
	mkdir -p "$WORK"
	build_plugin
	check_plugin
	build_kllm
	[ "$LLAMA" = 0 ] || build_llamacpp
}

# -------------------------------------------------------------------- run

# count NAME CMD...: the guest instructions CMD executes under qemu -cpu max
# (stdout NAME.out, stderr NAME.err, the plugin's report NAME.insn).
count() {
	local name=$1

	shift
	rm -f "$name.insn"
	if ! "${QEMU[@]}" -plugin "$PLUGIN,inline=on" -d plugin -D "$name.insn" "$@" \
		< /dev/null > "$name.out" 2> "$name.err"; then
		say "failed: $* (see $name.err)"
		return 1
	fi
	sed -n 's/^insns: \([0-9]*\)$/\1/p' "$name.insn"
}

# The Q4_0 model: MODEL requantized by llama-quantize (its rules: the tied
# token_embd stays Q8_0), once.
q4_0_model() {
	local q

	q=$WORK/$(basename "${MODEL%.gguf}" | sed 's/\.Q4_1$//').Q4_0-requant.gguf

	if [ ! -s "$q" ]; then
		[ -x "$LCP_BUILD/bin/llama-quantize" ] || die "no llama-quantize: $0 build"
		say "requantizing $MODEL to Q4_0 (llama-quantize under qemu)"
		"${QEMU[@]}" "$LCP_BUILD/bin/llama-quantize" --allow-requantize "$MODEL" "$q.tmp" \
			Q4_0 1 > "$WORK/quantize.log" 2>&1 || die "llama-quantize failed: $WORK/quantize.log"
		mv "$q.tmp" "$q"
	fi
	echo "$q"
}

# The argument lists of one tool's three runs (A B C, see the header).
runs_args() {
	local pp tg

	for r in "$PP_LO $TG_LO" "$PP_HI $TG_LO" "$PP_LO $TG_HI"; do
		read -r pp tg <<< "$r"
		echo "-p $pp -n $tg"
	done
}

per_token() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (b - a) / n }'; }

ROWS=()
JSON_ROWS=()
UNSTABLE=0

# measure TOOL PATH MODEL: every repeat's per-token counts; one table row.
measure() {
	local tool=$1 path=$2 model=$3 rep i args n pp tg pp0='' tg0='' spread=0 d
	local tag c=() pps=() tgs=()

	tag=$tool-$path-$(basename "$model" .gguf)
	for ((rep = 1; rep <= REPEATS; rep++)); do
		c=()
		i=0
		while read -r args; do
			i=$((i + 1))
			# shellcheck disable=SC2086
			if [ "$tool" = kllm ]; then
				n=$(KLLM_SIMD=$path count "$WORK/$tag.$rep.$i" "$KBENCH" pp -m "$model" \
					$args -t 1 -r 1 --no-warmup --engine cpu -o json) || return 1
				grep -q "\"simd\": \"$path\"" "$WORK/$tag.$rep.$i.out" || {
					say "kllm did not run path $path: $(grep -o '"simd": "[a-z0-9]*"' \
						"$WORK/$tag.$rep.$i.out" | head -1)"
					return 1
				}
			else
				n=$(count "$WORK/$tag.$rep.$i" "$LCP_BUILD/bin/llama-bench" -m "$model" \
					$args -t 1 -r 1 --no-warmup -o json -v) || return 1
			fi
			[ -n "$n" ] || { say "no count in $WORK/$tag.$rep.$i.insn"; return 1; }
			c+=("$n")
		done < <(runs_args)
		pp=$(per_token "${c[0]}" "${c[1]}" $((PP_HI - PP_LO)))
		tg=$(per_token "${c[0]}" "${c[2]}" $((TG_HI - TG_LO)))
		say "$tag repeat $rep: runs ${c[*]}: pp $pp, tg $tg instructions/token"
		pps+=("$pp")
		tgs+=("$tg")
		[ -n "$pp0" ] || { pp0=$pp; tg0=$tg; }
		for d in "$pp $pp0" "$tg $tg0"; do
			spread=$(awk -v s="$spread" -v d="$d" 'BEGIN { split(d, x, " ");
				e = (x[1] - x[2]) / x[2] * 100; if (e < 0) e = -e;
				printf "%.3f", (e > s ? e : s) }')
		done
	done
	if awk -v s="$spread" -v t="$TOL" 'BEGIN { exit !(s > t) }'; then
		say "$tag: repeats differ by $spread % (> $TOL %)"
		UNSTABLE=1
	fi
	ROWS+=("$(printf '%-10s %-8s %-40s %10.2f %10.2f %8s' "$tool" "$path" \
		"$(basename "$model")" "$(awk -v x="$pp0" 'BEGIN { print x / 1e6 }')" \
		"$(awk -v x="$tg0" 'BEGIN { print x / 1e6 }')" "$spread")")
	JSON_ROWS+=("$(printf '{"tool": "%s", "path": "%s", "model": "%s", "pp_insn_per_token": [%s], "tg_insn_per_token": [%s], "max_repeat_diff_pct": %s, "runs_last_repeat": [%s]}' \
		"$tool" "$path" "$(basename "$model")" "$(IFS=,; echo "${pps[*]}")" \
		"$(IFS=,; echo "${tgs[*]}")" "$spread" "$(IFS=,; echo "${c[*]}")")")
}

default_paths() {
	local p=neon

	p+=" dotprod"
	if grep -qx i8mm <(strings "$KBENCH"); then
		p+=" i8mm"
	else
		say "this kllm-bench has no i8mm path: neon and dotprod only"
	fi
	echo "$p"
}

# What llama-bench says it ran: its JSON's build and settings, and whether
# the weights went to the repacking buffer (CPU_REPACK, in its -v log).
llama_desc() {
	local f=$1

	grep -oE '"(build_commit|build_number|flash_attn|n_batch|n_ubatch|type_k)": [^,]*' \
		"$f.out" | sort -u | tr '\n' ' '
	if grep -q 'CPU_REPACK model buffer' "$f.err"; then
		echo "repack: $(grep -m1 -o 'CPU_REPACK model buffer size = *[0-9.]* MiB' "$f.err")"
	else
		echo "repack: none"
	fi
}

do_run() {
	local paths models=("$MODEL") m p start=$SECONDS ver lcp=

	[ -f "$MODEL" ] || die "no model $MODEL"
	[ -x "$KBENCH" ] || die "build first: $0 build"
	[ -f "$PLUGIN" ] || die "build first: $0 build"
	[ "$LLAMA" = 0 ] || [ -x "$LCP_BUILD/bin/llama-bench" ] || die "build first: $0 build"
	mkdir -p "$WORK" "$(dirname "$OUT")"
	paths=${PATHS:-$(default_paths)}
	[ "$Q4_0" = 0 ] || models+=("$(q4_0_model)")
	for m in "${models[@]}"; do
		for p in $paths; do
			# neon is the baseline on Q4_1 only: Q4_0 compares the fast paths
			[ "$m" = "$MODEL" ] || [ "$p" != neon ] || continue
			measure kllm "$p" "$m" || die "kllm $p on $m failed"
		done
		if [ "$LLAMA" != 0 ]; then
			measure llama.cpp default "$m" || die "llama.cpp on $m failed"
			lcp+="$(basename "$m"): $(llama_desc "$WORK/llama.cpp-default-$(basename "$m" .gguf).1.1"); "
		fi
	done
	ver=$(dpkg-query -W -f='${Version}' qemu-user)
	echo
	echo "instructions per token (millions), qemu-aarch64 -cpu max ($ver), TCG insn plugin, 1 thread"
	echo "pp: (pp$PP_HI - pp$PP_LO) / $((PP_HI - PP_LO)); tg: (tg$TG_HI - tg$TG_LO) / $((TG_HI - TG_LO)); $REPEATS repeats"
	[ "$LLAMA" = 0 ] || echo "llama.cpp default: its arm64 build, -march=$LCP_ARCH"
	printf '%-10s %-8s %-40s %10s %10s %8s\n' tool path model "pp M/tok" "tg M/tok" "rep.%"
	printf '%s\n' "${ROWS[@]}"
	[ -z "$lcp" ] || echo "llama.cpp: $lcp"
	{
		echo "{"
		echo "  \"qemu\": \"$ver\", \"cpu\": \"max\", \"plugin\": \"tests/plugin/insn.c inline=on\","
		echo "  \"threads\": 1, \"pp\": [$PP_LO, $PP_HI], \"tg\": [$TG_LO, $TG_HI], \"repeats\": $REPEATS,"
		echo "  \"kllm_rev\": \"$(git -C "$SRCDIR" describe --always --dirty 2> /dev/null)\","
		echo "  \"llama_cpp_march\": \"$LCP_ARCH\", \"llama_cpp\": \"${lcp//\"/}\","
		echo "  \"seconds\": $((SECONDS - start)),"
		echo "  \"rows\": ["
		local i
		for ((i = 0; i < ${#JSON_ROWS[@]}; i++)); do
			printf '    %s%s\n' "${JSON_ROWS[$i]}" "$([ $i -lt $((${#JSON_ROWS[@]} - 1)) ] && echo ,)"
		done
		echo "  ]"
		echo "}"
	} > "$OUT"
	say "wrote $OUT ($((SECONDS - start)) s)"
	[ "$UNSTABLE" = 0 ] || die "FAIL: repeats disagree by more than $TOL %"
}

case $STAGE in
build) do_build ;;
run) do_run ;;
all)
	do_build
	do_run
	;;
*) die "usage: $0 [build|run|all]" ;;
esac
