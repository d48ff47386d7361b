#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deps-arm64.sh - what the aarch64 cross build and its qemu test run need:
# the cross compiler, the arm64 C library for it, qemu-user, and Debian's
# arm64 Check (libcheck.a, libsubunit.a, check.h) unpacked into a private
# sysroot.  Idempotent: does nothing when everything is already there.
#
# The arm64 packages are only downloaded and unpacked (dpkg-deb -x) into
# $ARM64_SYSROOT; nothing arm64 is installed system-wide.  The arm64 dpkg
# architecture is added because apt needs it to download arm64 packages.
#
#   ARM64_SYSROOT   where to unpack (default ~/.cache/kllm/arm64-sysroot)
set -euo pipefail

SYSROOT=${ARM64_SYSROOT:-$HOME/.cache/kllm/arm64-sysroot}
LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu
HOST_PKGS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
# Static linking needs only the .a files: libcheck.a is in check,
# libsubunit.a in libsubunit-dev.
ARM64_PKGS=(check:arm64 libsubunit-dev:arm64)
TMPD=

say() { echo "deps-arm64: $*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo > /dev/null; then
		sudo "$@"
	else
		say "need root for: $*"
		exit 1
	fi
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2> /dev/null | grep -q 'install ok installed'
}

apt_updated=0
apt_update() {
	if [ "$apt_updated" -eq 0 ]; then
		as_root apt-get update -qq
		apt_updated=1
	fi
}

install_host_pkgs() {
	local missing=() p

	for p in "${HOST_PKGS[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		say "host packages present"
		return
	fi
	say "installing ${missing[*]}"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

sysroot_ready() {
	[ -f "$SYSROOT/usr/include/check.h" ] &&
		[ -f "$LIBDIR/libcheck.a" ] && [ -f "$LIBDIR/libsubunit.a" ]
}

fetch_check() {
	local deb

	if sysroot_ready; then
		say "arm64 Check present in $SYSROOT"
		return
	fi
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		say "adding dpkg architecture arm64 (for apt-get download)"
		as_root dpkg --add-architecture arm64
		apt_updated=0
	fi
	apt_update
	TMPD=$(mktemp -d)
	trap 'rm -rf "$TMPD"' EXIT
	# apt-get download writes into the current directory; _apt must be
	# able to write there when run as root.
	chmod 777 "$TMPD"
	(cd "$TMPD" && apt-get download -qq "${ARM64_PKGS[@]}")
	mkdir -p "$SYSROOT"
	for deb in "$TMPD"/*.deb; do
		say "unpacking $(basename "$deb")"
		dpkg-deb -x "$deb" "$SYSROOT"
	done
	if ! sysroot_ready; then
		say "Check for arm64 still missing in $SYSROOT"
		exit 1
	fi
	say "arm64 Check unpacked into $SYSROOT"
}

install_host_pkgs
fetch_check
