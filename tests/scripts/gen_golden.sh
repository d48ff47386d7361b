#!/bin/bash
# SPDX-License-Identifier: MIT
#
# gen_golden.sh - (re)make the golden data kllm is checked against, with
# llama.cpp as the reference: greedy continuations and logits of the real
# models (tests/golden/models/{smollm2,gemma3}.txt, from the prompts in
# tests/golden/models/prompts-*.txt) and token ids of the tokenizer corpus
# (tests/golden/tokenizer/{smollm2,gemma3}.ids).  tests/run-golden.sh
# checks kllm against them; this script is only run by hand, when the
# prompts, the corpus or the reference change.
#
#   tests/scripts/gen_golden.sh [smollm2|gemma3|tok]...   (default: all)
#
# LLAMA_CPP: llama.cpp as vendored in the llama-cpp-python sdist from PyPI
# (the version recorded in the files), unpacked and built there with
# libllama.so in build/bin.  Only the data goes into the tree, never
# llama.cpp's code or binaries.  Models come from tools/fetch-model.sh.
# Two threads: llama.cpp's results depend a little on the thread count
# (how sums are split), so the golden files name it.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_CPP=${LLAMA_CPP:-/opt/llamacpp/llama_cpp_python-0.3.36/vendor/llama.cpp}
SDIST=$(cd "$LLAMA_CPP/../.." && pwd)
N_PREDICT=64
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

version=$(sed -n 's/^Version: //p' "$SDIST/PKG-INFO" 2>/dev/null | head -1)
[ -n "$version" ] || { echo "gen_golden: no PKG-INFO above $LLAMA_CPP" >&2; exit 1; }
info=$LLAMA_CPP/build/common/build-info.cpp
commit=$(sed -n 's/.*LLAMA_COMMIT = "\(.*\)";/\1/p' "$info" 2>/dev/null || true)
build_no=$(sed -n 's/.*LLAMA_BUILD_NUMBER = \([0-9]*\);/\1/p' "$info" 2>/dev/null || true)
compiler=$(sed -n 's/.*LLAMA_COMPILER = "\(.*\)";/\1/p' "$info" 2>/dev/null || true)
native=$(sed -n 's/^GGML_NATIVE:BOOL=//p' "$LLAMA_CPP/build/CMakeCache.txt" 2>/dev/null || true)
cpu_flags=$(grep -o -w 'avx\|avx2\|fma\|f16c\|bmi2\|avx512[a-z_0-9]*\|avx_vnni\|amx[a-z_0-9]*' \
	/proc/cpuinfo | sort -u | tr '\n' ' ')

gcc -O1 -Wall -Wextra -Werror -I"$LLAMA_CPP/include" -I"$LLAMA_CPP/ggml/include" \
	"$SRC/tests/scripts/llama_golden.c" -L"$LLAMA_CPP/build/bin" -lllama \
	-Wl,-rpath,"$LLAMA_CPP/build/bin" -o "$TMP/llama_golden"

# The provenance lines every golden file starts with.
header() {	# MODEL_PATH
	echo "generator llama-cpp-python $version (PyPI sdist), its vendored llama.cpp" \
		"commit ${commit:-unknown} build ${build_no:-unknown}, ${compiler:-unknown compiler}"
	echo "build GGML_NATIVE=${native:-unknown}, Release; extra buffer types (AMX and CPU repacking) off at run time"
	echo "cpu_flags $cpu_flags"
	echo "threads 2"
	echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "model $(basename "$1")"
	echo "model_sha256 $(sha256sum "$1" | cut -d' ' -f1)"
}

models() {	# MODEL: golden logits
	local name=$1 model out=$SRC/tests/golden/models/$1.txt
	model=$("$SRC/tools/fetch-model.sh" "$name")
	{
		cat <<'EOF'
# Golden logits: llama.cpp's greedy continuation of each prompt in
# prompts-MODEL.txt, written by tests/scripts/gen_golden.sh, checked by
# tests/run-golden.sh (tests/golden/check_golden.c).
#
# Key-value lines first (provenance, then n_vocab, n_predict, n_top,
# n_rand), then per prompt:
#   prompt NAME
#   text TEXT                 the prompt, escaped (\n \t \\ \xHH)
#   ids N ID...               llama.cpp's tokenization (BOS as the model says)
#   p K ID GAP ID:LOGIT...    one line per generated position K = 0..n_predict-1:
#                             the greedy id (argmax; lower id on a tie), the
#                             top-1 minus top-2 logit over the whole vocabulary,
#                             then n_top ids with their logits, best first, and
#                             n_rand more ids from a seeded pseudo-random stream
#   end
# Position K's logits come after the prompt and greedy ids 0..K-1, so
# feeding ids + greedy teacher-forced reproduces every position.  Generation
# does not stop at end-of-generation tokens.
EOF
		header "$model"
		echo "settings llama.cpp context defaults but n_ctx = n_batch = prompt + n_predict + 16:" \
			"f16 KV cache, flash attention off, the prompt fed one token per llama_decode" \
			"(every position on llama.cpp's n = 1 path), no weight repacking, fp32 logits"
		"$TMP/llama_golden" gen "$model" "$SRC/tests/golden/models/prompts-$name.txt" \
			"$N_PREDICT" 2>"$TMP/$name.log" ||
			{ cat "$TMP/$name.log" >&2; exit 1; }
	} >"$TMP/$name.txt"
	mv "$TMP/$name.txt" "$out"
	echo "gen_golden: wrote $out" >&2
}

tokenizer() {	# token ids of the corpus for both models
	local name model out
	for name in smollm2 gemma3; do
		model=$("$SRC/tools/fetch-model.sh" "$name")
		out=$SRC/tests/golden/tokenizer/$name.ids
		{
			cat <<'EOF'
# llama.cpp's token ids for each case of corpus.txt (blank and '#' lines
# there skipped, cases numbered from 0), written by
# tests/scripts/gen_golden.sh, checked by tests/golden/check_tokenizer.c.
# Per case two lines, "CASE special N ID..." (special-token text parsed)
# and "CASE plain N ID..." (taken as text); BOS added as the model says.
EOF
			header "$model"
			"$TMP/llama_golden" tok "$model" "$SRC/tests/golden/tokenizer/corpus.txt" \
				2>"$TMP/tok.log" || { cat "$TMP/tok.log" >&2; exit 1; }
		} >"$TMP/$name.ids"
		mv "$TMP/$name.ids" "$out"
		echo "gen_golden: wrote $out" >&2
	done
}

[ $# -gt 0 ] || set -- tok smollm2 gemma3
for what in "$@"; do
	case "$what" in
	smollm2 | gemma3) models "$what" ;;
	tok) tokenizer ;;
	*) echo "gen_golden: unknown '$what' (smollm2, gemma3, tok)" >&2; exit 2 ;;
	esac
done
