#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-smoke.sh - kllm-run end to end on a real model: a greedy run must
# give exactly 16 token ids and exit 0 with the timings line; batching,
# threads and the sampling flags must behave (seeded runs repeat, top-k 1,
# top-p 0 and min-p 1 are greedy); chat one-shot, with a system prompt,
# an explicit template and on stdin must answer; Ctrl-C must stop a
# generation; damaged model files and bad flags must fail with exit
# status 1 and one line on stderr.
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

make -s -C "$SRC" BUILD="$BUILD" lib "$RUN" >&2 || { echo "FAIL build"; exit 1; }
MODEL=${1:-$("$SRC/tools/fetch-model.sh")} || { echo "FAIL fetch-model"; exit 1; }

# Greedy: 16 ids, nothing else on stdout, the timings line on stderr.
out=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0 -n 16 --ids 2>"$TMP/err")
rc=$?
read -ra ids <<<"$out"
timings='^kllm-run: load [0-9.]+ ms \| prompt [0-9]+ tokens, [0-9.]+ tok/s \| generation 16 tokens, [0-9.]+ tok/s \| (cpu|dev \((io_uring|ioctl)\)), [a-z0-9]+, 4096 ctx$'
if [ $rc -eq 0 ] && [ ${#ids[@]} -eq 16 ] && [[ "$out" =~ ^[0-9]+( [0-9]+){15}$ ]] &&
   [[ "$(cat "$TMP/err")" =~ $timings ]]; then
	ok "greedy --ids: $out"
else
	bad "greedy --ids: rc $rc, got '$out'"; cat "$TMP/err"
fi

# The same ids again (greedy is deterministic), and with one thread and
# prompt batches of one token (batching must not change an answer).
again=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0 -n 16 --ids -t 1 -b 1 2>/dev/null)
[ "$again" = "$out" ] && ok "greedy repeatable (-t 1 -b 1)" || bad "greedy differs: '$again'"
again=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0 -n 16 --ids -t 2 -b 3 -c 64 2>/dev/null)
[ "$again" = "$out" ] && ok "greedy repeatable (-t 2 -b 3 -c 64)" || bad "greedy differs: '$again'"

# Filters that leave one candidate are greedy at any temperature.
for f in "--top-k 1" "--top-p 0" "--min-p 1"; do
	# shellcheck disable=SC2086
	again=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0.9 $f -s 7 -n 16 --ids 2>/dev/null)
	[ "$again" = "$out" ] && ok "greedy with $f" || bad "$f: '$again'"
done

# A seed repeats a sampled run, with every sampling flag set.
samp=(-p "Once upon a time" -n 24 --ids --temp 0.9 --top-k 50 --top-p 0.95 --min-p 0.02
      --repeat-penalty 1.1 --repeat-last-n 32)
s1=$("$RUN" -m "$MODEL" "${samp[@]}" -s 1234 2>/dev/null)
s2=$("$RUN" -m "$MODEL" "${samp[@]}" --seed 1234 -t 1 2>/dev/null)
read -ra ids <<<"$s1"
if [ ${#ids[@]} -eq 24 ] && [ "$s1" = "$s2" ]; then
	ok "seeded sampling repeats (-s/--seed)"
else
	bad "seeded sampling: '$s1' vs '$s2'"
fi
# The repeat penalty changes a greedy answer that repeats itself.
pen=$("$RUN" -m "$MODEL" -p "The capital of France is" --temp 0 --repeat-penalty 1.5 -n 16 --ids 2>/dev/null)
read -ra ids <<<"$pen"
if [ ${#ids[@]} -eq 16 ] && [ "$pen" != "$out" ]; then
	ok "--repeat-penalty 1.5: $pen"
else
	bad "--repeat-penalty 1.5: '$pen'"
fi

# -c 0: the model's training context; -n -1: until the end (EOG or a full
# context of 48).
"$RUN" -m "$MODEL" -p "Hi" -n 2 -c 0 --temp 0 >/dev/null 2>"$TMP/err"
grep -q ', [0-9]* ctx$' "$TMP/err" && ! grep -q ' 4096 ctx$' "$TMP/err" &&
	ok "-c 0: $(grep -o '[0-9]* ctx$' "$TMP/err")" || { bad "-c 0"; cat "$TMP/err"; }
"$RUN" -m "$MODEL" -p "Count: one, two, three," -n -1 -c 48 --temp 0 >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && grep -q 'generation' "$TMP/err" && ok "-n -1 -c 48: $(tail -1 "$TMP/err")" ||
	{ bad "-n -1 -c 48: rc $rc"; cat "$TMP/err"; }

# Chat one-shot: some text, exit 0.
ans=$("$RUN" -m "$MODEL" --chat -p "What is the capital of France?" --temp 0 -n 24 2>"$TMP/err")
rc=$?
if [ $rc -eq 0 ] && [ -n "$ans" ]; then
	ok "chat: $(head -c 80 <<<"$ans" | tr '\n' ' ')"
else
	bad "chat: rc $rc, '$ans'"; cat "$TMP/err"
fi

# Chat with a system prompt; the model's template is chatml, so naming it
# gives the same answer.
a1=$("$RUN" -m "$MODEL" --chat -sys "You answer in French." -p "Say hello." --temp 0 -n 16 2>/dev/null)
a2=$("$RUN" -m "$MODEL" --chat --system "You answer in French." -p "Say hello." --temp 0 -n 16 \
	--template chatml 2>/dev/null)
if [ -n "$a1" ] && [ "$a1" = "$a2" ] && [ "$a1" != "$ans" ]; then
	ok "chat -sys, --template chatml: $(head -c 60 <<<"$a1" | tr '\n' ' ')"
else
	bad "chat -sys / --template: '$a1' vs '$a2'"
fi
# Interactive chat on stdin: two turns.  The first answer is the one-shot
# answer; the second differs from the one-shot answer to the same question
# (it sees the first turn).
c1=$("$RUN" -m "$MODEL" --chat -p "My name is Ada." --temp 0 -n 12 2>/dev/null)
c2=$("$RUN" -m "$MODEL" --chat -p "What is my name?" --temp 0 -n 12 2>/dev/null)
printf 'My name is Ada.\nWhat is my name?\n' |
	"$RUN" -m "$MODEL" --chat --temp 0 -n 12 >"$TMP/out" 2>"$TMP/err"
rc=$?
both=$(cat "$TMP/out")
second=${both#"$c1"}
if [ $rc -eq 0 ] && [ -n "$c1" ] && [ "$second" != "$both" ] && [ -n "$second" ] &&
   [ "$second" != $'\n'"$c2" ]; then
	ok "chat on stdin: $(tr '\n' ' ' <"$TMP/out" | head -c 100)"
else
	bad "chat on stdin: rc $rc"; cat "$TMP/out" "$TMP/err"
fi

# Ctrl-C stops a generation (greedy counting runs for hundreds of tokens)
# and a prefill (a long prompt fed one token a pass): exit 130 at once,
# the timings line still printed.
sigint() {	# NAME ARGS...: run, interrupt after 2 s
	local name=$1 pid rc start ms
	shift
	"$RUN" -m "$MODEL" "$@" >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	sleep 2
	kill -INT $pid
	start=$(date +%s%N)
	wait $pid
	rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ $rc -eq 130 ] && grep -q interrupted "$TMP/err" && grep -q generation "$TMP/err" &&
	   [ $ms -lt 2000 ]; then
		ok "SIGINT in $name: exit 130 after $ms ms"
	else
		bad "SIGINT in $name: rc $rc after $ms ms"; cat "$TMP/err"
	fi
}
sigint generation -p "1, 2, 3, 4, 5," --temp 0 -n 100000 -c 8192
[ -s "$TMP/out" ] || bad "SIGINT in generation: nothing generated before it"
sigint prefill -p "$(printf 'word %.0s' {1..3000})" -b 1 -c 8192 -n 4

# Bad flags: a usage error, exit 2, one line.
for args in "--temp x" "--top-k" "-n 1.5" "--bogus 1" "--template nosuch --chat"; do
	# shellcheck disable=SC2086
	"$RUN" -m "$MODEL" -p "hi" $args >/dev/null 2>"$TMP/err"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then
		ok "$args: $(cat "$TMP/err")"
	else
		bad "$args: rc $rc"; cat "$TMP/err"
	fi
done

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
