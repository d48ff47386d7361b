#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make modules_install INSTALL_MOD_PATH=<tmp>` and a DKMS add/build/install
# (kmod/dkms.conf, in private DKMS trees under <tmp>: the system's DKMS is
# not touched) for every kernel whose headers are here.  Checks the
# installed module's name, vermagic and documented parameters, and the
# udev rule, sysusers.d and modules-load.d entries.  Run by tests/module-check.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$PATH:/sbin:/usr/sbin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kllm-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ver=$(sed -n 's/^VERSION := //p' "$top/Makefile")
rc=0
fail() { echo "install-check: $*"; rc=1; }

# Same compiler major as the kernel's, as tests/vm/run.sh requires.
buildable() {
	local want have
	want=$(sed -n 's/^CONFIG_GCC_VERSION=\([0-9]*\)/\1/p' "$1/.config" 2>/dev/null)
	have=$(gcc -dumpfullversion | awk -F. '{printf "%d%02d%02d", $1, $2, $3}')
	[ -n "$want" ] && [ $((want / 10000)) -eq $((have / 10000)) ]
}

check_ko() {	# check_ko FILE REL WHAT
	local ko=$1 rel=$2 what=$3 p
	[ -e "$ko" ] || { fail "$what: no $ko"; return; }
	[ "$(modinfo -F name "$ko")" = kllm ] || fail "$what: $ko is not kllm"
	case $(modinfo -F vermagic "$ko") in "$rel "*) ;; *) fail "$what: vermagic of $ko" ;; esac
	for p in simd max_pinned_mb uid_quota_mb; do
		modinfo -F parm "$ko" | grep -q "^$p:.\{10,\}" || fail "$what: parameter $p undocumented"
	done
}

rels=()
for kdir in /usr/src/linux-headers-*-amd64; do
	if [ ! -e "$kdir/Makefile" ] || ! buildable "$kdir"; then
		continue
	fi
	rel=$(sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
	rels+=("$rel")
	t0=$SECONDS
	if ! make -s -j"$(nproc)" -C "$top" BUILD=build/install-check KDIR="$kdir" \
		modules_install INSTALL_MOD_PATH="$tmp/mi" > "$tmp/mi.log" 2>&1; then
		cat "$tmp/mi.log"
		fail "$rel: make modules_install failed"
		continue
	fi
	check_ko "$(find "$tmp/mi/lib/modules/$rel/updates" -name 'kllm.ko*' | head -1)" "$rel" "modules_install $rel"
	cmp -s "$top/kmod/70-kllm.rules" "$tmp/mi/usr/lib/udev/rules.d/70-kllm.rules" ||
		fail "modules_install $rel: udev rule not installed"
	cmp -s "$top/kmod/kllm.sysusers.conf" "$tmp/mi/usr/lib/sysusers.d/kllm.conf" ||
		fail "modules_install $rel: sysusers.d entry not installed"
	cmp -s "$top/kmod/kllm.modules-load.conf" "$tmp/mi/usr/lib/modules-load.d/kllm.conf" ||
		fail "modules_install $rel: modules-load.d entry not installed"
	echo "install-check: modules_install $rel ok ($((SECONDS - t0)) s)"
done
[ ${#rels[@]} -gt 0 ] || { echo "install-check: no kernel headers built with this gcc; skipped"; exit 0; }

if ! command -v dkms >/dev/null; then
	echo "install-check: no dkms (tools/deps-vm.sh installs it); DKMS skipped"
	exit $rc
fi
mkdir -p "$tmp/dkms" "$tmp/src" "$tmp/inst"
"$top/kmod/stage.sh" "$tmp/src/kllm-$ver" "$ver"
dk=(dkms --dkmstree "$tmp/dkms" --sourcetree "$tmp/src" --installtree "$tmp/inst")
"${dk[@]}" add -m kllm -v "$ver" > "$tmp/dkms.log" 2>&1 || { cat "$tmp/dkms.log"; fail "dkms add"; exit 1; }
for rel in "${rels[@]}"; do
	t0=$SECONDS
	mkdir -p "$tmp/inst/$rel"	# DKMS installs only into kernels that exist
	if ! "${dk[@]}" build -m kllm -v "$ver" -k "$rel" >> "$tmp/dkms.log" 2>&1 ||
	   ! "${dk[@]}" install -m kllm -v "$ver" -k "$rel" --no-depmod >> "$tmp/dkms.log" 2>&1; then
		cat "$tmp/dkms.log"
		find "$tmp/dkms" -name make.log -exec tail -20 {} \;
		fail "dkms build/install for $rel"
		continue
	fi
	check_ko "$(find "$tmp/inst/$rel" -name 'kllm.ko*' | head -1)" "$rel" "dkms $rel"
	echo "install-check: dkms build+install $rel ok ($((SECONDS - t0)) s)"
done
exit $rc
