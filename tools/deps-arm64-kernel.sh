#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deps-arm64-kernel.sh - Debian's arm64 kernel for cross-building kllm.ko
# and booting it under qemu-system-aarch64, without installing anything
# arm64 system-wide (`apt-get install …:arm64` would replace the host's
# compilers).
#
#   tools/deps-arm64-kernel.sh [SERIES]      (SERIES: 6.12 (default) or 6.1)
#
# Resolves the newest arm64 kernel of SERIES built for bookworm (gcc-12:
# 6.12.*+deb12-arm64 from bookworm-security/-backports, or 6.1.0-N-arm64)
# at run time, then `apt-get download`s and unpacks (dpkg-deb -x) into
# $ARM64_KERNEL_DIR/<release>/root:
#   linux-headers-<release>, linux-headers-<ver>-common  (the build tree),
#   linux-image-<release>     (boot/vmlinuz-<release>, the DRM modules),
#   busybox-static:arm64      (the guest's /bin/busybox).
# The headers' scripts/ and tools/ are amd64 programs in Debian's
# linux-kbuild-<ver>, which is arch-specific: the host's amd64
# linux-kbuild of the same version is installed if missing (a host
# package, like the cross compiler) and the unpacked tree points at it.
# The build tree's Makefile includes the -common tree by absolute path:
# rewritten to the private copy.
#
# Prints, last, "deps-arm64-kernel: <release> <build tree>" and points
# $ARM64_KERNEL_DIR/latest-SERIES at <release>.  Idempotent; offline, an
# already unpacked kernel of SERIES is used.
#
#   ARM64_KERNEL_DIR  default ~/.cache/kllm/arm64-kernel
#   ARM64_KERNEL      an exact release (e.g. 6.12.118+deb12-arm64) instead
set -euo pipefail

series=${1:-6.12}
dir=${ARM64_KERNEL_DIR:-$HOME/.cache/kllm/arm64-kernel}
TMPD=

say() { echo "deps-arm64-kernel: $*"; }
die() { say "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo > /dev/null; then
		sudo "$@"
	else
		die "need root for: $*"
	fi
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2> /dev/null | grep -q 'install ok installed'
}

case $series in
6.12) pat='^linux-headers-6\.12\.[0-9.]*\+deb12-arm64$' ;;
6.1) pat='^linux-headers-6\.1\.0-[0-9]*-arm64$' ;;
*) die "series $series: 6.12 or 6.1" ;;
esac

# Field $2 of package $1 (arm64 or all) as apt sees it; with $3, of that
# apt-cache show output instead (apt-cache is slow: ask once).
field() {
	local info=${3-}

	[ -n "$info" ] || info=$(apt-cache show --no-all-versions "$1" 2> /dev/null)
	awk -v f="$2" 'index($0, f ": ") == 1 { sub("^[^:]*: ", ""); print; exit }' <<< "$info"
}

# The newest release of the series whose headers and image can be downloaded.
resolve() {
	local rel

	for rel in $(apt-cache search --names-only "$pat" 2> /dev/null | awk '{ print $1 }' |
		sed 's/^linux-headers-//' | sort -rV); do
		if [ -n "$(field "linux-image-$rel:arm64" Version)" ]; then
			echo "$rel"
			return
		fi
	done
}

if [ -n "${ARM64_KERNEL:-}" ]; then
	rel=$ARM64_KERNEL
else
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		say "adding dpkg architecture arm64 (for apt-get download)"
		as_root dpkg --add-architecture arm64
		as_root apt-get update -qq
	fi
	rel=$(resolve)
	if [ -z "$rel" ]; then
		as_root apt-get update -qq || true
		rel=$(resolve)
	fi
	if [ -z "$rel" ]; then
		# Offline: the newest kernel of the series already unpacked.
		rel=$(for d in "$dir"/*/.ready; do
			if [ -e "$d" ]; then d=${d%/.ready}; echo "${d##*/}"; fi
		done | grep -E "${pat#^linux-headers-}" | sort -V | tail -1 || true)
		[ -n "$rel" ] || die "no arm64 $series kernel for bookworm found (apt sources?)"
		say "apt has no arm64 $series kernel: using unpacked $rel"
	fi
fi

top=$dir/$rel
root=$top/root
kdir=$root/usr/src/linux-headers-$rel
hdr=$(apt-cache show --no-all-versions "linux-headers-$rel:arm64" 2> /dev/null || true)
ver=
[ -z "$hdr" ] || ver=$(field - Version "$hdr")
[ -n "$ver" ] || ver=$(cat "$top/.ready" 2> /dev/null || true)
[ -n "$ver" ] || die "linux-headers-$rel:arm64 unknown to apt"

# The -common and linux-kbuild packages the headers depend on.
deps=
[ -z "$hdr" ] || deps=$(field - Depends "$hdr")
common=$(tr ',' '\n' <<< "$deps" | sed -n 's/^ *\(linux-headers-[^ ]*-common\).*/\1/p' | head -1)
kbuild=$(tr ',' '\n' <<< "$deps" | sed -n 's/^ *\(linux-kbuild-[^ ]*\).*/\1/p' | head -1)
if [ -z "$kbuild" ] && [ -e "$top/.kbuild" ]; then
	kbuild=$(cat "$top/.kbuild")
fi
[ -n "$kbuild" ] || die "cannot tell linux-kbuild of linux-headers-$rel"

# The host's (amd64) linux-kbuild, same version as the arm64 headers.
have=$(dpkg-query -W -f='${Version}' "$kbuild:amd64" 2> /dev/null || true)
if [ "$have" != "$ver" ]; then
	say "installing $kbuild=$ver (amd64; the build tree's scripts and tools)"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$kbuild:amd64=$ver" > /dev/null
fi
[ -x "/usr/lib/$kbuild/scripts/basic/fixdep" ] || die "/usr/lib/$kbuild/scripts missing"

if [ "$(cat "$top/.ready" 2> /dev/null)" != "$ver" ]; then
	[ -n "$common" ] || die "cannot tell the -common headers of $rel"
	TMPD=$(mktemp -d)
	trap 'rm -rf "$TMPD"' EXIT
	chmod 777 "$TMPD"	# apt-get download as root writes as _apt
	say "downloading $rel ($ver)"
	(cd "$TMPD" && apt-get download -qq "linux-headers-$rel:arm64=$ver" \
		"$common=$ver" "linux-image-$rel:arm64=$ver" busybox-static:arm64)
	rm -rf "$top"
	mkdir -p "$root"
	for deb in "$TMPD"/*.deb; do
		say "unpacking $(basename "$deb")"
		dpkg-deb -x "$deb" "$root"
	done
	echo "$kbuild" > "$top/.kbuild"
	echo "$ver" > "$top/.ready"
fi

# scripts -> ../../lib/$kbuild/scripts: resolve to the host's amd64 copy.
mkdir -p "$root/usr/lib"
ln -sfn "/usr/lib/$kbuild" "$root/usr/lib/$kbuild"
# include /usr/src/linux-headers-<ver>-common/Makefile -> the private copy.
sed -i "s|^include /usr/src/|include $root/usr/src/|" "$kdir/Makefile"
if [ ! -e "$kdir/.config" ] || [ ! -e "$root/boot/vmlinuz-$rel" ]; then
	die "$top incomplete: remove it and rerun"
fi
ln -sfn "$rel" "$dir/latest-$series"
say "$rel $kdir"
