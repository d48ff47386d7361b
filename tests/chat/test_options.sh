#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_options.sh - kllm-run's llama.cpp options on a real model: -f, -e
# (on by default) and --no-escape, -r in a plain run and in a chat,
# --ignore-eos, -s -1 (random), --presence-penalty and --frequency-penalty,
# -ngl accepted with a note, -sys turning the chat on, -i -no-cnv, the
# --chat-template spellings, --help and --version; nonsense refused with
# one line and exit status 2, runtime errors exit 1, warnings for -t and
# -c that go on; -ctk/-ctv; --draft-max.
#
#   tests/chat/test_options.sh KLLM_RUN MODEL.gguf
set -uo pipefail

RUN=$1
MODEL=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
run() { "$RUN" -m "$MODEL" "$@"; }

# --help on stdout, exit 0; --version.
out=$("$RUN" --help 2>"$TMP/err"); rc=$?
[ $rc -eq 0 ] && [ ! -s "$TMP/err" ] && grep -q -- '-f, --file FILE' <<<"$out" &&
	grep -q -- '--presence-penalty' <<<"$out" && ok "--help: stdout, exit 0" ||
	bad "--help: rc $rc"
out=$("$RUN" --version 2>&1); rc=$?
[ $rc -eq 0 ] && [[ "$out" =~ ^kllm-run\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && ok "--version: $out" ||
	bad "--version: rc $rc '$out'"

# The reference: greedy ids of a plain prompt.
ref=$(run -p "The capital of France is" --temp 0 -n 16 --ids 2>/dev/null)
[[ "$ref" =~ ^[0-9]+( [0-9]+){15}$ ]] || bad "reference run: '$ref'"
text=$(run -p "The capital of France is" --temp 0 -n 16 2>/dev/null)

# -f: the file's text, its final newline dropped.
printf 'The capital of France is\n' >"$TMP/p.txt"
got=$(run -f "$TMP/p.txt" --temp 0 -n 16 --ids 2>/dev/null)
[ "$got" = "$ref" ] && ok "-f FILE: same ids as -p" || bad "-f FILE: '$got' vs '$ref'"
# the last of -p and -f wins (as llama.cpp: both set the prompt)
got=$(run -p "Once upon" --file "$TMP/p.txt" --temp 0 -n 16 --ids 2>/dev/null)
got2=$(run --file "$TMP/p.txt" -p "Once upon" --temp 0 -n 16 --ids 2>/dev/null)
[ "$got" = "$ref" ] && [ -n "$got2" ] && [ "$got2" != "$ref" ] &&
	ok "-p and --file: the last one wins" || bad "-p / --file: '$got' '$got2'"

# -e is the default: \n in -p is a newline; --no-escape keeps it literal.
a=$(run -p 'Line one\nLine two' --temp 0 -n 8 --ids 2>/dev/null)
b=$(run -p $'Line one\nLine two' --temp 0 -n 8 --ids 2>/dev/null)
c=$(run -p 'Line one\nLine two' --temp 0 -n 8 --ids --no-escape 2>/dev/null)
d=$(run -p 'Line one\nLine two' --temp 0 -n 8 --ids -e 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$d" ] && [ "$a" != "$c" ] &&
	ok "escapes processed by default (-e), --no-escape keeps them" ||
	bad "escapes: '$a' '$b' '$c' '$d'"
# ... also in -f's text and -r; \x41 is A.
printf 'The capital of \\x46rance is' >"$TMP/esc.txt"
got=$(run -f "$TMP/esc.txt" --temp 0 -n 16 --ids 2>/dev/null)
[ "$got" = "$ref" ] && ok "escapes in -f's text (\\x46)" || bad "escapes in -f: '$got'"

# -r: a plain run stops at the text, which is not shown.
word=$(awk '{print $3}' <<<"$(tr '\n' ' ' <<<"$text")")
if [ -z "$word" ]; then
	bad "-r: no third word in '$text'"
else
	got=$(run -p "The capital of France is" --temp 0 -n 16 -r "$word" 2>"$TMP/err")
	rc=$?
	if [ $rc -eq 0 ] && [ -n "$got" ] && [[ "$text" == "$got"* ]] && [[ "$got" != *"$word"* ]]; then
		ok "-r '$word': stopped before it ('$(tr '\n' ' ' <<<"$got")')"
	else
		bad "-r '$word': rc $rc, '$got' of '$text'"
	fi
	# repeatable; the earliest match stops it
	got2=$(run -p "The capital of France is" --temp 0 -n 16 -r zzzz --reverse-prompt "$word" 2>/dev/null)
	[ "$got2" = "$got" ] && ok "-r twice (--reverse-prompt)" || bad "-r twice: '$got2'"
fi
# \n in -r is a newline (escapes): a stop at the first line break
got=$(run -p "The capital of France is" --temp 0 -n 16 -r '\n' 2>/dev/null)
[ -n "$got" ] && [ "$got" = "$(head -1 <<<"$text")" ] && ok "-r '\\n': the first line" ||
	bad "-r '\\n': '$got' vs '$(head -1 <<<"$text")'"

# Chat: -r hands the turn back; -sys turns the chat on (as -cnv).
full=$(run -cnv -p "Tell me about cats." --temp 0 -n 24 2>/dev/null)
w=$(awk '{print $4}' <<<"$(tr '\n' ' ' <<<"$full")")
got=$(run -cnv -p "Tell me about cats." --temp 0 -n 24 -r "$w" 2>/dev/null)
[ -n "$w" ] && [[ "$got" != *"$w"* ]] && [[ "$full" == "${got%$'\n'}"* ]] &&
	ok "chat -r '$w': the answer stops before it" || bad "chat -r '$w': '$got' of '$full'"
a=$(run -sys "You are a poet." -p "Say hello." --temp 0 -n 12 2>/dev/null)
b=$(run -cnv -sys "You are a poet." -p "Say hello." --temp 0 -n 12 2>/dev/null)
c=$(run -p "Say hello." --temp 0 -n 12 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] && ok "-sys turns the chat on" ||
	bad "-sys: '$a' vs -cnv '$b'"
b=$(run --chat --system "You are a poet." -p "Say hello." --temp 0 -n 12 --template chatml 2>/dev/null)
c=$(run --conversation --system-prompt "You are a poet." -p "Say hello." --temp 0 -n 12 \
	--chat-template chatml 2>/dev/null)
[ "$a" = "$b" ] && [ "$a" = "$c" ] && ok "--chat/--conversation, --template/--chat-template chatml" ||
	bad "chat spellings: '$a' '$b' '$c'"
printf 'You are a poet.\n' >"$TMP/sys.txt"
b=$(run -sysf "$TMP/sys.txt" -p "Say hello." --temp 0 -n 12 2>/dev/null)
[ "$a" = "$b" ] && ok "-sysf FILE" || bad "-sysf: '$b'"

# --ignore-eos: an answer that ends early goes on to -n.
run -cnv -p "Say hi." --temp 0 -n 64 >/dev/null 2>"$TMP/e1"
run -cnv -p "Say hi." --temp 0 -n 64 --ignore-eos >/dev/null 2>"$TMP/e2"
n1=$(sed -n 's/.*generation \([0-9]*\) tokens.*/\1/p' "$TMP/e1")
n2=$(sed -n 's/.*generation \([0-9]*\) tokens.*/\1/p' "$TMP/e2")
[ -n "$n1" ] && [ "$n1" -lt 64 ] && [ "$n2" = 64 ] &&
	ok "--ignore-eos: $n2 tokens (without: $n1)" || bad "--ignore-eos: $n1 then $n2"

# Seeds: -s N repeats, -s -1 (and llama.cpp's 4294967295) draw one.
samp=(-p "Once upon a time" --temp 1.0 --top-k 0 --top-p 1 --min-p 0 -n 24 --ids)
s1=$(run "${samp[@]}" -s 7 2>/dev/null); s2=$(run "${samp[@]}" -s 7 2>/dev/null)
r1=$(run "${samp[@]}" -s -1 2>/dev/null); r2=$(run "${samp[@]}" -s -1 2>/dev/null)
r3=$(run "${samp[@]}" -s 4294967295 2>/dev/null)
[ -n "$s1" ] && [ "$s1" = "$s2" ] && ok "-s 7 repeats" || bad "-s 7: '$s1' vs '$s2'"
[ -n "$r1" ] && [ "$r1" != "$r2" ] && [ "$r1" != "$r3" ] && [ "$r2" != "$r3" ] &&
	ok "-s -1 and -s 4294967295: random" || bad "-s -1: '$r1' '$r2' '$r3'"

# Penalties: each changes a greedy answer that repeats itself; temperature
# below 0 is greedy (as llama.cpp).
for p in "--presence-penalty 1.5" "--frequency-penalty 1.5"; do
	# shellcheck disable=SC2086
	got=$(run -p "The capital of France is" --temp 0 -n 16 --ids $p 2>/dev/null)
	[[ "$got" =~ ^[0-9]+( [0-9]+){15}$ ]] && [ "$got" != "$ref" ] && ok "$p: $got" ||
		bad "$p: '$got'"
done
got=$(run -p "The capital of France is" --temp -1 -n 16 --ids 2>/dev/null)
[ "$got" = "$ref" ] && ok "--temp -1: greedy" || bad "--temp -1: '$got'"
got=$(run -p "The capital of France is" --temperature 0 -n 16 --predict 16 --ids 2>/dev/null)
[ "$got" = "$ref" ] && ok "--temperature, --predict" || bad "--temperature: '$got'"

# -ctk/-ctv q8_0: a Q8_0 KV cache answers (its own ids: Q8_0 rounds K and
# V), f16 spelled out is the default; K and V of different types, or a
# type kllm lacks, are usage errors.
got=$(run -p "The capital of France is" --temp 0 -n 16 --ids -ctk f16 --cache-type-v f16 2>/dev/null)
[ "$got" = "$ref" ] && ok "-ctk f16 -ctv f16: the default" || bad "-ctk f16: '$got'"
got=$(run -p "The capital of France is" --temp 0 -n 16 --ids -ctk q8_0 -ctv q8_0 2>/dev/null)
[[ "$got" =~ ^[0-9]+( [0-9]+){15}$ ]] && ok "-ctk q8_0 -ctv q8_0: $got" || bad "-ctk q8_0: '$got'"
for o in "-ctk q8_0 -ctv f16" "--cache-type-k q4_0"; do
	# shellcheck disable=SC2086
	run -p "Hi" -n 4 $o >/dev/null 2>"$TMP/err"; rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && ok "$o: $(cat "$TMP/err")" ||
		bad "$o: rc $rc"
done

# --draft-max: prompt-lookup decoding gives the plain run's ids.
got=$(run -p "The capital of France is" --temp 0 -n 16 --ids --draft-max 4 2>/dev/null)
[ "$got" = "$ref" ] && ok "--draft-max 4: the same ids" || bad "--draft-max 4: '$got'"

# -ngl: accepted with a one-line note, nothing else changes.
for g in "-ngl 99" "--gpu-layers all" "--n-gpu-layers auto"; do
	# shellcheck disable=SC2086
	got=$(run -p "The capital of France is" --temp 0 -n 16 --ids $g 2>"$TMP/err")
	rc=$?
	[ $rc -eq 0 ] && [ "$got" = "$ref" ] && [ "$(grep -c 'no GPU offload' "$TMP/err")" = 1 ] &&
		[ "$(wc -l <"$TMP/err")" = 2 ] && ok "$g: $(head -1 "$TMP/err")" ||
		{ bad "$g: rc $rc"; cat "$TMP/err"; }
done

# Warnings that go on: -t above the online CPUs, -c above the trained context.
cpus=$(getconf _NPROCESSORS_ONLN)
run -p "Hi" -n 2 -t $((cpus + 1)) >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && grep -q "warning: -t $((cpus + 1)) is more than the $cpus online CPUs" "$TMP/err" &&
	ok "-t $((cpus + 1)): $(grep warning "$TMP/err")" || { bad "-t warning: rc $rc"; cat "$TMP/err"; }
train=$(run -p "Hi" -n 1 -c 0 2>&1 >/dev/null | sed -n 's/.* \([0-9]*\) ctx$/\1/p')
big=$((train * 2))
run -p "Hi" -n 2 -c $big >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && grep -q "warning: -c $big is above the $train tokens the model was trained with" "$TMP/err" &&
	grep -q " $big ctx\$" "$TMP/err" && ok "-c $big: $(grep warning "$TMP/err")" ||
	{ bad "-c warning: rc $rc"; cat "$TMP/err"; }
run -p "Hi" -n 2 -t "$cpus" -c 64 >/dev/null 2>"$TMP/err"
[ "$(wc -l <"$TMP/err")" = 1 ] && ok "-t $cpus -c 64: no warning" || { bad "spurious warning"; cat "$TMP/err"; }

# -i -no-cnv: plain text, then lines from stdin, each continued.
printf 'And then\n' | run -no-cnv -i -p "Once upon a time" --temp 0 -n 8 --verbose-prompt \
	>"$TMP/out" 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && grep -q 'prompt (.* tokens):' "$TMP/err" && grep -q '^And then$' "$TMP/err" &&
	[ -s "$TMP/out" ] && ok "-i -no-cnv: the line fed after the prompt's text" ||
	{ bad "-i -no-cnv: rc $rc"; cat "$TMP/err"; }
# -st: one chat turn read from stdin, the second line never read
printf 'Hi.\nBye.\n' | run -cnv -st --temp 0 -n 8 --verbose-prompt >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && grep -q '^Hi\.<|im_end|>' "$TMP/err" && ! grep -q 'Bye' "$TMP/err" &&
	ok "-st: a single turn" || { bad "-st: rc $rc"; cat "$TMP/err"; }

# Usage errors: one line, exit 2.
while IFS= read -r args; do
	eval "set -- $args"
	run "$@" >/dev/null 2>"$TMP/err"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then
		ok "$args: exit 2, $(cat "$TMP/err")"
	else
		bad "$args: rc $rc"; cat "$TMP/err"
	fi
done <<'EOF'
-p hi --repeat-penalty 0
-p hi --repeat-penalty -1
-p hi --top-p 2
-p hi --top-p -0.5
-p hi --min-p 5
-p hi --min-p -1
-p hi --temp x
-p hi --temp nan
-p hi --presence-penalty inf
-p hi --frequency-penalty x
-p hi --repeat-last-n -1
-p hi -n 1.5
-p hi -s -2
-p hi -s x
-p hi -ngl many
-p hi --top-k
-p hi --bogus 1
-p hi -r ''
-p hi --chat-template nosuch
-p hi -cnv --template nosuch
-p hi -sys x -no-cnv
-p hi --engine gpu
-n 4
EOF
"$RUN" -p hi >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && ok "no -m: exit 2, $(cat "$TMP/err")" ||
	bad "no -m: rc $rc"

# Runtime errors: one line, exit 1.
printf 'word%.0s ' {1..100} >"$TMP/long.txt"
for args in "-m $TMP/missing.gguf -p hi" "-m $MODEL -f $TMP/missing.txt" \
	    "-m $MODEL -sysf $TMP/missing.txt -p hi" "-m $MODEL -f $TMP/long.txt -c 32"; do
	# shellcheck disable=SC2086
	"$RUN" $args >/dev/null 2>"$TMP/err"
	rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && ok "exit 1: $(cat "$TMP/err")" ||
		{ bad "${args:0:60}: rc $rc"; cat "$TMP/err"; }
done

[ $fail -eq 0 ] && echo "test_options: all passed" || echo "test_options: FAILED"
exit $fail
