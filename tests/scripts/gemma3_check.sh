#!/bin/bash
# SPDX-License-Identifier: MIT
#
# gemma3_check.sh - model_check.sh on Gemma 3 270M (Q4_K_M): kllm's greedy
# continuation of a few prompts, plain and in Gemma's chat format, against
# llama.cpp's, token ids compared.
#
#   tests/scripts/gemma3_check.sh [MODEL.gguf] [N_PREDICT]
#
# MODEL defaults to what tools/fetch-model.sh gemma3 prints.  REF=1 runs
# gemma3_ref.py (float64, about a minute) at a difference; the other
# variables are model_check.sh's.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${1:-$("$SRC/tools/fetch-model.sh" gemma3)}

[ -f "$MODEL" ] || { echo "no model: pass MODEL.gguf" >&2; exit 2; }
[ -n "${REF:-}" ] && export REF=gemma3_ref.py
exec "$SRC/tests/scripts/model_check.sh" "$MODEL" "${2:-32}" <<'PROMPTS'
The capital of France is
<start_of_turn>user\nWhat is the boiling point of water in Celsius?<end_of_turn>\n<start_of_turn>model\n
<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n
def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n
Once upon a time, in a small village by the sea,
<start_of_turn>user\n你好！请用中文介绍一下你自己。<end_of_turn>\n<start_of_turn>model\n
PROMPTS
