#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-smoke.sh - kllm-run end to end on a real model: a greedy run must
# give exactly 16 token ids and exit 0, a chat one-shot must answer, and
# damaged model files must fail with exit status 1 and one line on stderr.
#
#   tests/run-smoke.sh [MODEL.gguf]
#
# MODEL defaults to SmolLM2-135M-Instruct (tools/fetch-model.sh fetches it
# once into the cache).  BUILD: the build folder (default build).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
RUN=$BUILD/bin/kllm-run
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

make -s -C "$SRC" lib tools >&2 || { echo "FAIL build"; exit 1; }
MODEL=${1:-$("$SRC/tools/fetch-model.sh")} || { echo "FAIL fetch-model"; exit 1; }

# Greedy: 16 ids, nothing else on stdout, the timings line on stderr.
out=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0 -n 16 --ids 2>"$TMP/err")
rc=$?
read -ra ids <<<"$out"
if [ $rc -eq 0 ] && [ ${#ids[@]} -eq 16 ] && [[ "$out" =~ ^[0-9]+( [0-9]+){15}$ ]] &&
   grep -q 'generation 16 tokens' "$TMP/err"; then
	ok "greedy --ids: $out"
else
	bad "greedy --ids: rc $rc, got '$out'"; cat "$TMP/err"
fi

# The same ids again (greedy is deterministic), and with one thread and
# prompt batches of one token (batching must not change an answer).
again=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0 -n 16 --ids -t 1 -b 1 2>/dev/null)
[ "$again" = "$out" ] && ok "greedy repeatable (-t 1 -b 1)" || bad "greedy differs: '$again'"

# Chat one-shot: some text, exit 0.
ans=$("$RUN" -m "$MODEL" --chat -p "What is the capital of France?" --temp 0 -n 24 2>"$TMP/err")
rc=$?
if [ $rc -eq 0 ] && [ -n "$ans" ]; then
	ok "chat: $(head -c 80 <<<"$ans" | tr '\n' ' ')"
else
	bad "chat: rc $rc, '$ans'"; cat "$TMP/err"
fi

# Damaged files: exit 1, exactly one line on stderr, nothing on stdout.
head -c 1000000 "$MODEL" >"$TMP/truncated.gguf"
head -c 4096 /dev/urandom >"$TMP/random.gguf"
for f in "$TMP/truncated.gguf" "$TMP/random.gguf" "$TMP/missing.gguf"; do
	out=$("$RUN" -m "$f" -p "hello" -n 4 2>"$TMP/err")
	rc=$?
	lines=$(wc -l <"$TMP/err")
	if [ $rc -eq 1 ] && [ "$lines" -eq 1 ] && [ -z "$out" ]; then
		ok "$(basename "$f"): $(cat "$TMP/err")"
	else
		bad "$(basename "$f"): rc $rc, $lines stderr lines"; cat "$TMP/err"
	fi
done

# A prompt longer than the context: exit 1, one line.
"$RUN" -m "$MODEL" -p "$(printf 'word %.0s' {1..100})" -c 32 -n 4 >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then
	ok "prompt too long: $(cat "$TMP/err")"
else
	bad "prompt too long: rc $rc"; cat "$TMP/err"
fi

[ $fail -eq 0 ] && echo "run-smoke: all passed" || echo "run-smoke: FAILED"
exit $fail
