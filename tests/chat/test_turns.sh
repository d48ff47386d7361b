#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_turns.sh - a chat of 10 turns read from stdin: each turn prefills
# only what it adds to the conversation (its message, the template's
# markers, the answer's last token when one is left pending), never the
# turns before it, and the KV cache holds the whole conversation.  The
# counters are kllm-run's --verbose-prompt lines, from the engine's own
# statistics (kllm_engine_get_stats):
#   kllm-run: prompt (N tokens[, from the start]): ...
#   kllm-run: prefilled P of T pending tokens (C from the prefix cache)
#
#   tests/chat/test_turns.sh KLLM_RUN MODEL.gguf
set -uo pipefail

RUN=$1
MODEL=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

for i in 1 2 3 4 5 6 7 8 9 10; do
	echo "Question number $i: name a colour and a fruit."
done >"$TMP/turns"
"$RUN" -m "$MODEL" -cnv -sys "You are a helpful assistant who answers briefly." \
	--temp 0 -n 12 --verbose-prompt <"$TMP/turns" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || { bad "kllm-run: rc $rc"; cat "$TMP/err"; exit 1; }

# One prompt line and one prefill line per turn, in order.
grep -E '^kllm-run: (prompt \(|prefilled )' "$TMP/err" >"$TMP/lines"
python3 - "$TMP/lines" <<'PY' || fail=1
import re, sys
lines = open(sys.argv[1]).read().splitlines()
turns, new, fail = [], None, 0
for l in lines:
    m = re.match(r'kllm-run: prompt \((\d+) tokens(, from the start)?\)', l)
    if m:
        new = (int(m.group(1)), bool(m.group(2)))
        continue
    m = re.match(r'kllm-run: prefilled (\d+) of (\d+) pending tokens \((\d+) from', l)
    if m and new is not None:
        turns.append((new[0], new[1], int(m.group(1)), int(m.group(2)), int(m.group(3))))
        new = None
if len(turns) != 10:
    print("FAIL 10 turns: found %d prefills" % len(turns)); sys.exit(1)
total = 0
for k, (n, start, p, t, cached) in enumerate(turns, 1):
    total += t
    # every pending token computed, and the pending ones are the new text
    # (plus at most the answer's last token, sampled but not yet run)
    good = p == t and 0 <= t - n <= 1 and (k == 1) == start
    print("%s turn %2d: %3d new tokens, %3d prefilled, %d from the cache, "
          "prefilled in all %4d" % ("ok  " if good else "FAIL", k, n, p, cached, total))
    fail |= not good
# a turn's prefill is its own: far below the conversation's length
last = turns[-1]
if not (last[2] * 4 < total):
    print("FAIL turn 10 prefilled %d of a %d-token conversation" % (last[2], total)); fail = 1
sys.exit(fail)
PY
[ $fail -eq 0 ] && ok "10 turns: each prefills only its new tokens" ||
	{ bad "10 turns"; cat "$TMP/err" | tail -30; }
exit $fail
