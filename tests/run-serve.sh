#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-serve.sh - kllm-serve, the OpenAI-compatible service, on the real
# SmolLM2 model, every test of tests/serve/ (Python 3; the PyPI `openai`
# package for test_openai.py):
#
#   tests/serve/test_openai.py    the openai client as an app uses it, the
#                                 Unix socket, the README's curl examples;
#   tests/serve/test_badinput.py  bad requests, vanishing, slow and too many
#                                 clients, resource counts back at baseline;
#   tests/serve/test_load.py      the bounded load test and overload (429);
#   tests/serve/test_cloud.py     hand-off to a second kllm-serve as the cloud;
#   tests/serve/test_relay.py     the relay's backpressure: a stalled client
#                                 holds a fast upstream back;
#
# and any other tests/serve/test_*.py.
#
#   tests/run-serve.sh [MODEL.gguf]
#
# Builds nothing (make does): the binary is $KLLM_SERVE, else
# $BUILD/bin/kllm-serve (BUILD relative to the source tree or absolute,
# default build).  Without it the group is skipped with exit status 77 and
# the caller decides whether a skip is a failure (tests/run-all.sh does
# under CI=true).  MODEL defaults to $KLLM_MODEL, else SmolLM2-135M-Instruct
# (tools/fetch-model.sh fetches it once into the cache).  The last line is
# `serve: N passed, M failed`.  About two minutes on two cores.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
KLLM_SERVE=${KLLM_SERVE:-$BUILD/bin/kllm-serve}

if [ ! -x "$KLLM_SERVE" ]; then
	echo "serve: skipped: $KLLM_SERVE not built (make builds it where libmicrohttpd," \
		"json-c and libcurl are installed: tools/deps.sh)"
	exit 77
fi
command -v python3 >/dev/null || { echo "serve: FAIL python3 not found"; exit 1; }
python3 -c 'import openai' 2>/dev/null ||
	{ echo "serve: FAIL the python3 openai package is missing (tools/deps.sh installs it)"; exit 1; }
MODEL=${1:-${KLLM_MODEL:-}}
if [ -z "$MODEL" ]; then
	MODEL=$("$SRC/tools/fetch-model.sh" smollm2) || { echo "serve: FAIL fetch-model"; exit 1; }
fi
export KLLM_SERVE
export KLLM_MODEL=$MODEL

pass=0
fail=0
failed=()
for t in "$SRC"/tests/serve/test_*.py; do
	name=$(basename "$t" .py)
	echo "--- $name"
	t0=$SECONDS
	if timeout -k 10 300 python3 "$t"; then
		pass=$((pass + 1))
		echo "--- $name: ok ($((SECONDS - t0)) s)"
	else
		fail=$((fail + 1))
		failed+=("$name")
		echo "--- $name: FAILED ($((SECONDS - t0)) s)"
	fi
done

[ $fail -eq 0 ] || echo "serve: failed: ${failed[*]}"
echo "serve: $pass passed, $fail failed"
[ $fail -eq 0 ]
