#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# arm64-smoke.sh - kllm.ko on Debian's arm64 kernel, in an emulated arm64
# guest: the first step of make vm-check on arm64 (docs/DRIVER.md, "arm64").
#
#   tests/vm/arm64-smoke.sh [SERIES]       SERIES: 6.12 (default) or 6.1
#
# tools/deps-arm64-kernel.sh downloads and unpacks the newest arm64 kernel
# of SERIES (headers, image, modules) and busybox-static:arm64; kmod/build.sh
# cross-builds kllm.ko for it (build/kmod-arm64-<release>); a static aarch64
# probe (tests/vm/arm64_node.c) is built with aarch64-linux-gnu-gcc.  The
# initramfs holds busybox, the DRM modules kllm.ko needs, kllm.ko and the
# probe; the guest boots in qemu-system-aarch64 -M virt -cpu max (TCG) and
#   - loads drm and drm_shmem_helper (and what they need), then kllm.ko;
#   - checks the SIMD path the module chose (i8mm on -cpu max: the
#     path's table is filled inside kernel_neon_begin/end);
#   - finds kllm's node: a render node where the kernel has no
#     CONFIG_DRM_ACCEL (Debian's arm64 6.12 and 6.1), an accel node where
#     it has (as kmod/kllm_probe.sh decided at build time), and asks it
#     DRM_IOCTL_VERSION and DRM_IOCTL_KLLM_GET_INFO;
#   - unloads it, and loads and unloads it again with simd=neon and
#     simd=scalar;
#   - scans dmesg for BUG/WARNING/Oops/KFENCE...
# and prints one line "arm64-smoke: <release>: N passed, M failed".
# Exit status 0 when the guest passed.
#
#   VM_BUILD=DIR       build directory (default build/)
#   VM_TIMEOUT=600     seconds for the boot
#   VM_ONLY="job ..."  also cross-build these guest suites (tests/vm/guest_NAME.c,
#                      static aarch64, with libkllm cross-built and Debian's
#                      arm64 Check, liburing and libdrm unpacked into
#                      ARM64_SYSROOT by tools/deps-arm64.sh and this script)
#                      and run them after the smoke checks.  The guests get
#                      x86's /data files (tests/vm/data.sh: GGUF is the same
#                      on both) and static aarch64 kllm-run, kllm-bench and
#                      kllm-top; with smollm2 among them, SmolLM2-135M too
#                      (minutes per engine under TCG: give VM_TIMEOUT room).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
series=${1:-6.12}
bdir=$(mkdir -p "${VM_BUILD:-$top/build}" && cd "${VM_BUILD:-$top/build}" && pwd)
boot_timeout=${VM_TIMEOUT:-600}
export PATH=$PATH:/sbin:/usr/sbin

. tests/vm/boot.sh
say() { echo "arm64-smoke: $*"; }
die() { say "$*"; exit 1; }

for tool in qemu-system-aarch64 aarch64-linux-gnu-gcc cpio modinfo xz; do
	command -v "$tool" > /dev/null ||
		die "no $tool (apt-get install qemu-system-arm gcc-aarch64-linux-gnu cpio kmod xz-utils)"
done
[ -e /usr/aarch64-linux-gnu/include/drm/drm.h ] ||
	die "no arm64 kernel headers for the probe (apt-get install linux-libc-dev-arm64-cross)"

t0=$SECONDS
deps=$(tools/deps-arm64-kernel.sh "$series") || { echo "$deps"; die "no arm64 $series kernel"; }
last=${deps##*$'\n'}
kdir=${last##* }
rel=${last#deps-arm64-kernel: }
rel=${rel%% *}
kroot=${kdir%/usr/src/*}
image=$kroot/boot/vmlinuz-$rel
out=$bdir/vm-arm64/$rel
mkdir -p "$out"
say "kernel $rel ($((SECONDS - t0)) s)"

t0=$SECONDS
if ! kmod/build.sh "$kdir" "$bdir" > "$out/build.log" 2>&1; then
	cat "$out/build.log"
	die "$rel: FAILED (kllm.ko did not build)"
fi
tree=$bdir/kmod-arm64-$rel
ko=$tree/kllm.ko
[ -e "$ko" ] || die "$rel: no $ko"
if grep -q '^#define KLLM_HAVE_DRM_ACCEL 1' "$tree/kmod/kllm_config.h"; then
	node=accel
else
	node=render
fi
say "kllm.ko: $(modinfo -F vermagic "$ko") ($node node; $((SECONDS - t0)) s)"

# ------------------------------------------------------------ initramfs
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
cp "$kroot/bin/busybox" "$root/bin/busybox" || die "no arm64 busybox in $kroot"
ln -s busybox "$root/bin/sh"
aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -Iuapi \
	-I/usr/aarch64-linux-gnu/include/drm -o "$root/bin/arm64_node" tests/vm/arm64_node.c ||
	die "the guest probe did not build"
cp "$ko" "$root/modules/kllm.ko"
echo "$node" > "$root/node.kind"

# ------------------------------------------------------------ guest suites
guests=${VM_ONLY:-}
if [ -n "$guests" ]; then
	t0=$SECONDS
	sysroot=${ARM64_SYSROOT:-$HOME/.cache/kllm/arm64-sysroot}
	ARM64_SYSROOT=$sysroot tools/deps-arm64.sh > "$out/deps.log" 2>&1 ||
		{ cat "$out/deps.log"; die "tools/deps-arm64.sh failed"; }
	libdir=$sysroot/usr/lib/aarch64-linux-gnu
	if [ ! -e "$libdir/liburing.a" ] || [ ! -e "$libdir/libdrm.a" ]; then
		dl=$(mktemp -d)
		chmod 777 "$dl"
		(cd "$dl" && apt-get download -qq liburing-dev:arm64 libdrm-dev:arm64) ||
			die "apt-get download liburing-dev:arm64 libdrm-dev:arm64 failed"
		for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
		rm -rf "$dl"
	fi
	xlib=$bdir/vm-arm64/aarch64
	# libkllm with its device engine: liburing and libdrm found by
	# pkg-config in the arm64 sysroot (a cross build has DEV=0 by default)
	xpc="env PKG_CONFIG_LIBDIR=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$sysroot pkg-config"
	make -s -C "$top" CROSS=aarch64-linux-gnu- BUILD="$xlib" DEV=1 PKG_CONFIG="$xpc" \
		"$xlib/lib/libkllm.a" > "$out/lib.log" 2>&1 ||
		{ cat "$out/lib.log"; die "libkllm for aarch64 did not build"; }
	nm "$xlib/lib/libkllm.a" > "$out/lib.nm" 2> /dev/null
	grep -q ' T kllm_dev_ring_init$' "$out/lib.nm" ||
		die "libkllm for aarch64 has no device engine"
	xcflags=(-static -O2 -g0 -Wall -Wextra -Werror -Itests/vm -Itests/unit -Ikernels -Iuapi
		-Iuapi/prog -Iruntime -I"$sysroot/usr/include" -I"$sysroot/usr/include/libdrm")
	mkdir -p "$root/tests" "$root/usr/local/bin" "$root/data"
	# The /data files, written by the host's kllm-mkmodel.
	. tests/vm/data.sh
	make -s -C "$top" BUILD="$bdir" "$bdir/bin/kllm-mkmodel" > "$out/mkmodel.log" 2>&1 ||
		{ cat "$out/mkmodel.log"; die "kllm-mkmodel did not build"; }
	vm_models "$out" "$bdir/bin/kllm-mkmodel" || die "no guest models"
	cp "$out/engine.gguf" "$out/submit.gguf" "$out/prefix.gguf" "$root/data/"
	smollm2_cpio=
	case " $guests " in
	*" smollm2 "*)
		smollm2_cpio=$(vm_smollm2_cpio "$bdir/vm-arm64") || die "no SmolLM2 for guest_smollm2"
		;;
	esac
	aarch64-linux-gnu-gcc "${xcflags[@]}" tests/vm/setpriv.c -o "$root/usr/local/bin/setpriv" ||
		die "setpriv did not build"
	# guest_sched reads fdinfo through kllm-top (/usr/local/bin, as run.sh packs it)
	# and guest_smollm2 runs kllm-run and kllm-bench
	for tool in kllm-top kllm-run kllm-bench; do
		aarch64-linux-gnu-gcc "${xcflags[@]}" -DKLLM_HAVE_DEV tools/$tool/*.c \
			-o "$root/usr/local/bin/$tool" -L"$libdir" "$xlib/lib/libkllm.a" \
			-luring -ldrm -lm -lpthread || die "$tool did not build for aarch64"
	done
	for g in $guests; do
		aarch64-linux-gnu-gcc "${xcflags[@]}" "tests/vm/guest_$g.c" -DKLLM_HAVE_DEV \
			runtime/kllm_dev_node.c -o "$root/tests/guest_$g" -L"$libdir" \
			"$xlib/lib/libkllm.a" -lcheck -lsubunit -luring -ldrm -lrt -lm -lpthread ||
			die "guest_$g did not build for aarch64"
	done
	say "guest suites $guests built ($((SECONDS - t0)) s)"
fi

# Module $1 and its dependencies, in load order (the unpacked image has no
# modules.dep: depmod runs at install).
mod_order() {
	local f d
	f=$(find "$kroot/lib/modules/$rel/kernel" -name "$1.ko" -o -name "$1.ko.xz" | head -1)
	[ -n "$f" ] || { say "no module $1 in linux-image-$rel"; return 1; }
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		mod_order "$d" || return 1
	done
	echo "$1 $f"
}
order=$(mod_order drm_shmem_helper) || die "$rel: DRM modules missing"
while read -r name f; do
	case $f in
	*.xz) xz -dc "$f" > "$root/modules/$name.ko" ;;
	*) cp "$f" "$root/modules/$name.ko" ;;
	esac || die "unpacking $f"
	echo "$name" >> "$root/modules/deps.order"
done < <(echo "$order" | awk 'NF && !seen[$1]++')

cat > "$root/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t tmpfs tmpfs /tmp
checks=0
failures=0
check() {	# check NAME RESULT(0 ok) [DETAIL]
	checks=$((checks + 1))
	if [ "$2" -eq 0 ]; then
		echo "vm-test: $1: ok${3:+ ($3)}"
	else
		echo "vm-test: $1: FAIL${3:+ ($3)}"
		failures=$((failures + 1))
	fi
}
echo "vm: kernel $(uname -r) $(uname -m), $(grep -c ^processor /proc/cpuinfo) cpus," \
	"features: $(sed -n 's/^Features[[:space:]]*: //p' /proc/cpuinfo | head -1)"
dmesg -c > /tmp/dmesg.boot
: > /tmp/dmesg.tests
while read -r mod; do
	insmod "/modules/$mod.ko"
	check "insmod $mod" $?
done < /modules/deps.order

# kllm's node: /dev/dri/renderD* or /dev/accel/accel* whose driver is kllm.
kllm_node() {
	for d in /sys/class/drm/renderD* /sys/class/accel/accel*; do
		[ -e "$d/device/driver" ] || continue
		[ "$(basename "$(readlink "$d/device/driver")")" = kllm ] || continue
		case $d in
		*/renderD*) echo "/dev/dri/${d##*/}" ;;
		*) echo "/dev/accel/${d##*/}" ;;
		esac
		return 0
	done
	return 1
}

# load PARAMS EXPECTED-PATH: insmod, the path the module reports, the node,
# its ioctls, rmmod.
load() {
	dmesg -c >> /tmp/dmesg.tests
	insmod /modules/kllm.ko $1
	check "insmod kllm.ko $1" $?
	path=$(dmesg | sed -n 's/.*kllm: kernels path \([^ ]*\).*/\1/p' | tail -1)
	[ "$path" = "$2" ]
	check "kernels path $2" $? "module reports '$path'"
	n=$(kllm_node)
	case "$(cat /node.kind):$n" in
	render:/dev/dri/renderD*|accel:/dev/accel/accel*) r=0 ;;
	*) r=1 ;;
	esac
	check "$(cat /node.kind) node" $r "${n:-none}"
	if [ -n "$n" ] && [ -c "$n" ]; then
		/bin/arm64_node "$n"
		r=$?
		checks=$((checks + 1))
		[ $r -eq 0 ] || failures=$((failures + 1))
	fi
	rmmod kllm
	check "rmmod kllm ($1)" $?
	! kllm_node > /dev/null
	check "node gone after rmmod" $?
}
feat=" $(sed -n 's/^Features[[:space:]]*: //p' /proc/cpuinfo | head -1) "
case $feat in
*" asimddp "*" i8mm "*) best=i8mm ;;
*" asimddp "*) best=dotprod ;;
*) best=neon ;;
esac
load "" "$best"
load "simd=neon" neon
load "simd=scalar" scalar
dmesg -c >> /tmp/dmesg.tests

# The guest suites (VM_ONLY): one check per binary; Check's summary shown.
mkdir -p /sys/kernel/debug
export CK_DEFAULT_TIMEOUT=600 HOME=/tmp TMPDIR=/tmp KLLM_KO=/modules/kllm.ko
for t in /tests/guest_*; do
	[ -x "$t" ] || continue
	t0=$(cut -d' ' -f1 /proc/uptime)
	"$t" > /tmp/out 2>&1
	r=$?
	sed 's/^/vm-out: /' /tmp/out
	check "${t##*/}" $r "$(sed -n 's/.*\(Checks: .*\)/\1/p' /tmp/out | tr '\n' ' ')$t0 -> $(cut -d' ' -f1 /proc/uptime) s"
	lsmod | grep -q '^kllm ' && rmmod kllm
done
dmesg -c >> /tmp/dmesg.tests
if grep -E '(^|[^[:alnum:]_])BUG|WARNING|Oops|KFENCE|refcount|list_del|lockdep|sleeping function|Internal error' \
	/tmp/dmesg.tests > /tmp/bad; then
	check "dmesg clean" 1
	sed 's/^/vm-dmesg-bad: /' /tmp/bad
else
	check "dmesg clean" 0
fi
echo "---- dmesg (from the DRM modules' insmod on)"
cat /tmp/dmesg.tests
echo "---- end dmesg"
echo "vm-verdict: $(uname -r): $((checks - failures)) passed, $failures failed"
sync
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . -print0 | cpio -o -0 -H newc -R 0:0 --quiet) > "$out/initramfs.cpio" ||
	die "cpio"
# SmolLM2 in its own archive, appended (the kernel unpacks both)
if [ -n "${smollm2_cpio:-}" ]; then
	cat "$smollm2_cpio" >> "$out/initramfs.cpio" || die "cpio"
fi

# ------------------------------------------------------------ boot
boot() {
	timeout "$boot_timeout" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg \
		-m 2G -smp 2 -nographic -no-reboot -nodefaults -serial stdio \
		-kernel "$image" -initrd "$out/initramfs.cpio" \
		-append "console=ttyAMA0 panic=-1 quiet" < /dev/null 2>&1 | tr -d '\r' > "$log"
	return "${PIPESTATUS[0]}"
}
t0=$SECONDS
log=$out/serial.log
boot
qrc=$?
if why=$(vm_crashed_before_tests "$log"); then
	say "$rel: the kernel crashed before the tests began ($why); booting once more"
	mv "$log" "$out/serial-crashed.log"
	boot
	qrc=$?
fi
secs=$((SECONDS - t0))
grep -E '^(vm|vm-test|vm-dmesg-bad):|^vm-out: .*(FAIL|:[FE]:|Failures: [1-9]|Errors: [1-9])' "$log" |
	sed 's/^/  /'
verdict=$(sed -n 's/^vm-verdict: //p' "$log" | tail -1)
if [ -z "$verdict" ]; then
	tail -n 30 "$log" | sed 's/^/  | /'
	die "$rel: FAILED (no verdict after $secs s, qemu exit $qrc; log $log)"
fi
case $verdict in
"$rel: "*", 0 failed")
	say "$verdict (boot to verdict $secs s)"
	;;
*)
	say "$verdict: FAILED (log $log)"
	exit 1
	;;
esac
