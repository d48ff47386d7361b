#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what a fresh Debian 12 machine lacks to build and test kllm.
# Idempotent: installs only what is missing.  Run as root (or with sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

APT_PKGS=(
	build-essential pkg-config git ca-certificates python3 python3-pip
	check liburing-dev libdrm-dev libedit-dev
	libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev curl
	linux-headers-amd64 kmod
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
	clang libclang-rt-14-dev
	gnuplot-nox mandoc
)
PIP_PKGS=(gguf numpy openai)

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

missing=()
for p in "${APT_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

# Python packages (the golden-data generator and the mkmodel checker use
# the reference `gguf` reader).  Prefer the python3 on PATH.
py_missing=()
for p in "${PIP_PKGS[@]}"; do
	python3 -c "import $p" 2>/dev/null || py_missing+=("$p")
done
if [ ${#py_missing[@]} -gt 0 ]; then
	echo "deps: pip installing ${py_missing[*]}"
	python3 -m pip install -q "${py_missing[@]}" ||
		python3 -m pip install -q --break-system-packages "${py_missing[@]}"
fi

# Debian's arm64 Check library for the aarch64 unit tests.
"$here/deps-arm64.sh"
# QEMU, busybox and the target kernels (bookworm 6.1, 6.12 for bookworm)
# for the module tests in a guest, and the source of the debug kernel
# (make vm-check-debug).
VM_DEBUG=1 "$here/deps-vm.sh"
echo "deps: ok"
