#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run unit-test binaries (Check programs), each under $RUN (e.g. qemu-aarch64),
# and print one closing line: "unit: N passed, N failed".
set -u
pass=0
fail=0
failed=()
for t in "$@"; do
	name=$(basename "$t")
	start=$(date +%s.%N)
	if $RUN "$t" > "$t.log" 2>&1; then
		pass=$((pass + 1))
		status=ok
	else
		fail=$((fail + 1))
		failed+=("$name")
		status=FAIL
	fi
	end=$(date +%s.%N)
	printf '  %-28s %-4s %6.1fs  %s\n' "$name" "$status" \
		"$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" "$(grep -E '^[0-9]+%: Checks' "$t.log" | tail -1)"
	if [ "$status" = FAIL ]; then
		sed 's/^/    | /' "$t.log" | tail -40
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
