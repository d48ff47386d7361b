#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build kllm.ko for the kernel whose build tree is $1, in a private copy of
# the module sources under $2/kmod-<release> (M= builds write objects beside
# the sources, so each kernel gets its own tree).
#
# An arm64 build tree on a non-arm64 host (Debian's arm64 headers unpacked
# by tools/deps-arm64-kernel.sh, `make module-arm64`) is cross-built with
# ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- (or $CROSS_COMPILE) into
# $2/kmod-arm64-<release>.
set -eu
kdir=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
rel=$(sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h" 2>/dev/null)
[ -n "$rel" ] || rel=$(basename "$kdir")
prefix=
if grep -qx 'CONFIG_ARM64=y' "$kdir/.config" 2>/dev/null && [ "$(uname -m)" != aarch64 ]; then
	export ARCH=arm64 CROSS_COMPILE=${CROSS_COMPILE:-aarch64-linux-gnu-}
	prefix=arm64-
fi
tree=$out/kmod-$prefix$rel
mkdir -p "$tree"
# Copy only what changed, so rebuilds stay incremental.
for d in kmod kernels uapi uapi/prog; do
	mkdir -p "$tree/$d"
	[ -d "$src/$d" ] && cp -u "$src/$d"/*.[ch] "$tree/$d"/ 2>/dev/null || true
done
cp -u "$src/Kbuild" "$tree/Kbuild"
# Sources deleted upstream must not linger in the copy (kllm_config.h is
# generated here, below).
for f in "$tree"/kmod/*.[ch] "$tree"/kernels/*.[ch] "$tree"/uapi/*.[ch] "$tree"/uapi/prog/*.[ch]; do
	[ -e "$f" ] || continue
	[ "${f##*/}" = kllm_config.h ] && continue
	rel_path=${f#"$tree"/}
	[ -e "$src/$rel_path" ] || rm -f "$f" "${f%.c}.o"
done
# Kernel API probes: once per tree, again when the probes or headers change.
cfg=$tree/kmod/kllm_config.h
if [ ! -e "$cfg" ] || [ "$src/kmod/kllm_probe.sh" -nt "$cfg" ] || [ "$kdir/.config" -nt "$cfg" ]; then
	"$src/kmod/kllm_probe.sh" "$kdir" "$cfg"
fi
make -s -C "$kdir" M="$tree" W= modules
echo "module: $tree/kllm.ko (kernel $rel)"
