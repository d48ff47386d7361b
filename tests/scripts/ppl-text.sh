#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ppl-text.sh - the English text `kllm-bench ppl` and llama-perplexity are
# measured on (docs/PERF.md, "Perplexity"): a fixed list of the Linux
# kernel's admin-guide documents, as Debian's linux-source-6.12 package
# ships them, concatenated in this order.  Nothing is downloaded: the text
# comes from the installed package's tarball.
#
#   tests/scripts/ppl-text.sh [OUT]     (default /tmp/kllm-ppl-text.txt)
#
# Prints the package version, the size and the file's sha256 (the same
# package version gives the same bytes).  SRC= names another tarball.
set -euo pipefail

OUT=${1:-/tmp/kllm-ppl-text.txt}
SRC=${SRC:-/usr/src/linux-source-6.12.tar.xz}
TOP=linux-source-6.12/Documentation/admin-guide
# Prose first and foremost; about 270 kB, 60-70k tokens for SmolLM2/Gemma 3.
FILES=(
	reporting-issues.rst
	pm/cpuidle.rst
	pm/cpufreq.rst
	pm/intel_pstate.rst
	mm/memory-hotplug.rst
	hw-vuln/spectre.rst
)

[ -r "$SRC" ] || {
	echo "ppl-text: $SRC missing (apt-get install linux-source-6.12)" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

members=()
for f in "${FILES[@]}"; do
	members+=("$TOP/$f")
done
tar -xJf "$SRC" -C "$tmp" "${members[@]}"
for m in "${members[@]}"; do
	cat "$tmp/$m"
done >"$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"

ver=$(dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null || echo unknown)
echo "ppl-text: $OUT from linux-source-6.12 $ver: ${#FILES[@]} files, $(wc -c <"$OUT") bytes"
echo "ppl-text: sha256 $(sha256sum "$OUT" | cut -d' ' -f1)"
