#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# stage.sh DIR VERSION: copy the module's sources (what Kbuild builds) to
# DIR with kmod/dkms.conf at its top, for DKMS (make dkms) and its test.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
dst=$1
ver=$2
mkdir -p "$dst/kmod" "$dst/kernels" "$dst/uapi/prog"
cp "$src/Kbuild" "$dst/"
cp "$src"/kmod/*.[ch] "$src"/kmod/*.sh "$dst/kmod/"
rm -f "$dst/kmod/kllm_config.h"
cp "$src"/kernels/*.[ch] "$dst/kernels/"
cp "$src"/uapi/*.h "$dst/uapi/"
cp "$src"/uapi/prog/*.[ch] "$dst/uapi/prog/"
sed "s/@VERSION@/$ver/" "$src/kmod/dkms.conf" > "$dst/dkms.conf"
