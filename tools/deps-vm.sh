#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what `make vm-check` needs on Debian 12 (bookworm): QEMU, a static
# busybox, cpio, kmod, dkms, systemd and udev (for guest_pkg), bookworm's
# kernel (linux-image-amd64, 6.1) with its headers, and the newest 6.12
# kernel built for bookworm (gcc-12), from bookworm-security or
# bookworm-backports, with its headers.  VM_DEBUG=1
# adds linux-source-6.12 and its build tools (make vm-check-debug).  Versions are
# resolved at run time.  Idempotent: installs only what is missing.
set -euo pipefail

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The newest linux-image-6.12.*+deb12-amd64 that also has headers.
newest_612() {
	apt-cache search --names-only '^linux-headers-6\.12\.[0-9.]*\+deb12-amd64$' 2>/dev/null |
		awk '{print $1}' | sed 's/^linux-headers-//' | sort -V |
		while read -r rel; do
			apt-cache show "linux-image-$rel" >/dev/null 2>&1 && echo "$rel"
		done | tail -1
}

# Any 6.12 for bookworm already installed (image and headers) is good enough.
have_612() {
	local d
	for d in /usr/src/linux-headers-6.12.*+deb12-amd64; do
		[ -e "$d/Makefile" ] && [ -e "/boot/vmlinuz-${d#/usr/src/linux-headers-}" ] && return 0
	done
	return 1
}

# Backports from the same mirror the machine's bookworm entry already uses.
ensure_backports() {
	local uri
	grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
	uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
		/etc/apt/sources.list 2>/dev/null)
	if [ -z "$uri" ]; then
		echo "deps-vm: no bookworm apt source to derive bookworm-backports from" >&2
		return 1
	fi
	echo "deps-vm: enabling bookworm-backports"
	$sudo tee /etc/apt/sources.list.d/kllm-bookworm-backports.sources >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

# systemd and udev: guest_pkg packs Debian's systemd-sysusers, udevadm and
# systemd-udevd into the guest and runs them on the driver's files.
# qemu-system-arm: the arm64 guest (make vm-check-arm64; its kernel and
# busybox come from tools/deps-arm64-kernel.sh).
pkgs=(qemu-system-x86 qemu-system-arm busybox-static cpio kmod xz-utils linux-image-amd64
	linux-headers-amd64 dkms libdrm-dev check systemd udev)
# make vm-check-debug builds a debug 6.12 from Debian's source package.
if [ "${VM_DEBUG:-0}" = 1 ]; then
	pkgs+=(linux-source-6.12 bc flex bison libelf-dev libssl-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || ! have_612; then
	$sudo apt-get update -qq
fi
if ! have_612; then
	rel=$(newest_612)
	if [ -z "$rel" ]; then
		ensure_backports
		$sudo apt-get update -qq
		rel=$(newest_612)
	fi
	[ -n "$rel" ] || { echo "deps-vm: no 6.12 kernel for bookworm found" >&2; exit 1; }
	missing+=("linux-image-$rel" "linux-headers-$rel")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps-vm: installing ${missing[*]}"
	# The guest boots our own initramfs, never Debian's: on a machine with
	# no bootloader (a container, CI) skip mkinitramfs, tens of seconds a
	# kernel.  The kernel's hooks do not fail without a bootloader.
	if [ ! -d /boot/grub ] && [ ! -e /etc/kernel/postinst.d/zz-update-grub ]; then
		export INITRD=No
	fi
	$sudo env ${INITRD:+INITRD=$INITRD} DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps-vm: ok (headers:$(printf ' %s' /usr/src/linux-headers-*-amd64 | sed 's| /usr/src/linux-headers-| |g'))"
