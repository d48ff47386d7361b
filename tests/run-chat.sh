#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-chat.sh - kllm-run as a person and a script use it, on the real
# SmolLM2 model:
#
#   tests/chat/test_options.sh   llama.cpp's options (-f, -e, -r,
#                                --ignore-eos, -s -1, penalties, -ngl, ...),
#                                nonsense refused with exit status 2,
#                                runtime errors 1, warnings that go on;
#   tests/chat/test_turns.sh     10 turns: each prefills only its new tokens;
#   tests/chat/test_chat_pty.py  the chat through a pseudo-terminal: Ctrl-C
#                                in prefill and in an answer, a context that
#                                fills up, /clear, /bye, Ctrl-D, libedit.
#
#   tests/run-chat.sh [MODEL.gguf]
#
# MODEL defaults to SmolLM2-135M-Instruct (tools/fetch-model.sh fetches it
# once into the cache).  BUILD: the build folder, relative to the source
# tree or absolute (default build); kllm-run is built there when needed.
# About a minute on two cores.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
RUN=$BUILD/bin/kllm-run
fail=0

make -s -C "$SRC" BUILD="$BUILD" "$RUN" >&2 || { echo "FAIL build"; exit 1; }
MODEL=${1:-$("$SRC/tools/fetch-model.sh")} || { echo "FAIL fetch-model"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL python3 not found"; exit 1; }

"$SRC/tests/chat/test_options.sh" "$RUN" "$MODEL" || fail=1
"$SRC/tests/chat/test_turns.sh" "$RUN" "$MODEL" || fail=1
python3 "$SRC/tests/chat/test_chat_pty.py" "$RUN" "$MODEL" || fail=1

[ $fail -eq 0 ] && echo "run-chat: all passed" || echo "run-chat: FAILED"
exit $fail
