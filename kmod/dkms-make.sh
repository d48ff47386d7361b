#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dkms-make.sh KDIR: DKMS's MAKE step, run in DKMS's per-kernel copy of the
# sources: probe the kernel's APIs, then build kllm.ko in place.
set -eu
kdir=$1
sh kmod/kllm_probe.sh "$kdir" kmod/kllm_config.h
make -C "$kdir" M="$(pwd)" modules
