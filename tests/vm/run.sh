#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make vm-check: build kllm.ko for each target kernel, pack an initramfs
# with it, busybox, the DRM helper modules and the static guest tests
# (tests/vm/guest_*.c), boot it under QEMU (TCG) and print one verdict line
# per kernel.  Exit status: non-zero if a kernel failed, or (with CI=true)
# if a target kernel could not be tested.
#
#   VM_SERIES="6.1 6.12"   kernel series to test: the newest installed
#                          kernel of each with headers (tools/deps-vm.sh)
#   VM_KERNELS="rel ..."   exact kernel releases instead
#   VM_BUILD=DIR           build directory (default build/)
#   VM_TIMEOUT=900         seconds per boot (guest_smollm2 alone takes minutes
#                          under TCG; the debug kernel does not run it)
#   VM_ONLY="engine ..."   pack only these guest tests (guest_NAME), to
#                          rerun one quickly
#   VM_DEBUG=1             instead: the debug 6.12 of tests/vm/debug-kernel.sh
#                          (lockdep, KASAN, kmemleak; DRM built in), built
#                          once into ~/.cache/kllm/debug-kernel (make vm-check-debug)
#   VM_FUZZ_CALLS=N        guest_fuzz: a soak of N calls (no time cap), also
#   VM_FUZZ_SEED, VM_FUZZ_SECS, VM_FUZZ_TRACE (packed as /data/fuzz.env)
#   VM_COVERAGE=1          with VM_DEBUG=1: kllm.ko built with gcov; after the
#                          boot tests/vm/coverage.sh reports its coverage
#
# When guest_pkg is among the tests (VM_ONLY=pkg, or the default set on
# Debian's kernels), the initramfs also gets the driver's files as
# `make install-driver-files DESTDIR=<root>` installs them, and Debian's
# systemd-sysusers, udevadm and systemd-udevd with their shared libraries
# (pack_pkg below); other boots stay small.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
# libkllm, kllm-mkmodel, kllm.ko and the guest files go under VM_BUILD.
bdir=$(mkdir -p "${VM_BUILD:-$top/build}" && cd "${VM_BUILD:-$top/build}" && pwd)
out=$bdir/vm
ci=${CI:-false}
. tests/vm/data.sh
. tests/vm/boot.sh
series=${VM_SERIES:-6.1 6.12}
debug=${VM_DEBUG:-0}
boot_timeout=${VM_TIMEOUT:-900}
mkdir -p "$out"

failed=0
untested=0
t_start=$SECONDS

say() { echo "vm-check: $*"; }

cannot() {
	say "$1: NOT TESTED ($2)"
	untested=$((untested + 1))
}

# Kernel image and build tree of each release (Debian's, or the debug one).
declare -A kimage kheaders
headers_of() { echo "${kheaders[$1]:-/usr/src/linux-headers-$1}"; }
image_of() { echo "${kimage[$1]:-/boot/vmlinuz-$1}"; }

# A module must be built with the compiler that built the kernel.
same_compiler() {
	local want have
	want=$(sed -n 's/^CONFIG_GCC_VERSION=\([0-9]*\)/\1/p' "$(headers_of "$1")/.config" 2>/dev/null)
	have=$(gcc -dumpfullversion 2>/dev/null | awk -F. '{printf "%d%02d%02d", $1, $2, $3}')
	[ -n "$want" ] && [ $((want / 10000)) -eq $((have / 10000)) ]
}

# The newest kernel of series $1 with an image and headers here.
pick_kernel() {
	local s=$1 v rel
	for v in /boot/vmlinuz-"$s".*; do
		[ -e "$v" ] || continue
		rel=${v#/boot/vmlinuz-}
		case $rel in *.dpkg-*) continue ;; esac
		[[ $rel =~ ^${s//./\\.}\.[0-9] ]] || continue
		[ -e "$(headers_of "$rel")/Makefile" ] || continue
		same_compiler "$rel" || continue
		echo "$rel"
	done | sort -V | tail -1
}

# ---------------------------------------------------------------- tools
for tool in qemu-system-x86_64 cpio /bin/busybox modinfo xz; do
	if ! command -v "$tool" >/dev/null; then
		say "missing $tool (run tools/deps-vm.sh)"
		[ "$ci" = true ] && exit 1
		exit 0
	fi
done

kernels=()
if [ "$debug" = 1 ]; then
	t0=$SECONDS
	if ! dkdir=$(tests/vm/debug-kernel.sh | tail -1) || [ ! -e "$dkdir/arch/x86/boot/bzImage" ]; then
		say "debug kernel: FAILED to build (tests/vm/debug-kernel.sh)"
		exit 1
	fi
	rel=$(sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' "$dkdir/include/generated/utsrelease.h")
	kimage[$rel]=$dkdir/arch/x86/boot/bzImage
	kheaders[$rel]=$dkdir
	kernels+=("$rel")
	say "step debug kernel $rel: $((SECONDS - t0)) s (last full build: $(cat "$dkdir/../build-time.txt" 2>/dev/null || echo '?') s)"
elif [ -n "${VM_KERNELS:-}" ]; then
	read -r -a kernels <<< "$VM_KERNELS"
else
	for s in $series; do
		rel=$(pick_kernel "$s")
		if [ -n "$rel" ]; then
			kernels+=("$rel")
		else
			cannot "linux $s" "no kernel image + headers built with gcc $(gcc -dumpversion); run tools/deps-vm.sh"
		fi
	done
fi

# guest_pkg runs the host's (Debian's) systemd-sysusers and udevd.
pkg_tools=1
for tool in /usr/bin/systemd-sysusers /usr/bin/udevadm /usr/lib/systemd/systemd-udevd \
	/usr/lib/udev/rules.d/50-udev-default.rules; do
	[ -e "$tool" ] || pkg_tools=0
done
if [ $pkg_tools = 0 ] && [ "$debug" != 1 ]; then
	case " ${VM_ONLY:-pkg} " in
	*" pkg "*) cannot "guest_pkg" "no systemd-sysusers, udevadm or systemd-udevd (run tools/deps-vm.sh)" ;;
	esac
fi

# ---------------------------------------------------------------- guest binaries
t0=$SECONDS
gbin=$out/bin
mkdir -p "$gbin"
read -r -a pkgcflags <<< "$(pkg-config --cflags check libdrm 2>/dev/null)"
gcflags=(-static -O2 -g0 -Wall -Wextra -Werror -I"$top/tests/vm" -I"$top/tests/unit"
	-I"$top/kernels" -I"$top/uapi" -I"$top/uapi/prog" -I"$top/runtime" "${pkgcflags[@]}")
# Guest tests may use libkllm (the in-process engine as a reference).
libkllm=$bdir/lib/libkllm.a
gldlibs=("$libkllm" -lcheck -lsubunit -luring -ldrm -lrt -lm -lpthread)
if ! make -s -C "$top" BUILD="$bdir" "$libkllm" "$bdir/bin/kllm-mkmodel" > "$out/lib.log" 2>&1; then
	cat "$out/lib.log"
	say "libkllm did not build"
	exit 1
fi
# The /data files (tests/vm/data.sh): the synthetic models, and SmolLM2
# in an archive of its own appended to each kernel's initramfs.  CI
# fetches it or fails; elsewhere a model that cannot be fetched leaves
# guest_smollm2 out, reported as not tested.
vm_models "$out" "$bdir/bin/kllm-mkmodel" || exit 1
if ! smollm2_cpio=$(vm_smollm2_cpio "$out"); then
	smollm2_cpio=
	if [ "$ci" = true ]; then
		say "CI=true: SmolLM2-135M could not be fetched (tools/fetch-model.sh)"
		exit 1
	fi
	cannot "guest_smollm2" "no SmolLM2-135M: tools/fetch-model.sh smollm2 failed"
fi
build_guest() {
	local src=$1 bin=$2 dep
	if [ -e "$bin" ]; then
		local stale=0
		for dep in "$src" tests/vm/*.h tests/unit/kt*.h uapi/*.h uapi/prog/*.h runtime/*.h \
			runtime/kllm_dev_node.c "$libkllm"; do
			[ "$dep" -nt "$bin" ] && stale=1
		done
		[ $stale = 0 ] && return 0
	fi
	# (libkllm.a carries debug info: keep the initramfs small)
	# The device-access layer's node half is compiled in, not copied
	# (runtime/kllm_dev_node.c; its header half is runtime/kllm_dev_access.h).
	gcc "${gcflags[@]}" "$src" -DKLLM_HAVE_DEV runtime/kllm_dev_node.c -o "$bin.tmp" "${gldlibs[@]}" &&
		strip --strip-debug "$bin.tmp" && mv "$bin.tmp" "$bin"
}
guest_ok=1
for src in tests/vm/guest_*.c tests/vm/setpriv.c; do
	build_guest "$src" "$gbin/$(basename "${src%.c}")" || guest_ok=0
done
# Static kllm-run and kllm-bench for guest_smollm2 (/usr/local/bin).
build_tool() {
	local name=$1 bin=$gbin/$1 dep
	if [ -e "$bin" ]; then
		local stale=0
		for dep in tools/"$name"/* runtime/*.h uapi/*.h "$libkllm"; do
			[ "$dep" -nt "$bin" ] && stale=1
		done
		[ $stale = 0 ] && return 0
	fi
	gcc "${gcflags[@]}" -DKLLM_HAVE_DEV tools/"$name"/*.c -o "$bin.tmp" \
		"$libkllm" -luring -ldrm -lm -lpthread &&
		strip --strip-debug "$bin.tmp" && mv "$bin.tmp" "$bin"
}
build_tool kllm-run || guest_ok=0
build_tool kllm-bench || guest_ok=0
build_tool kllm-top || guest_ok=0
say "step guest-binaries: $((SECONDS - t0)) s"
if [ $guest_ok = 0 ]; then
	say "guest test binaries failed to build"
	exit 1
fi

# ---------------------------------------------------------------- per kernel
# Print the load order of module $2 and its dependencies under /lib/modules/$1.
mod_order() {
	local rel=$1 name=$2 f d
	f=$(modinfo -k "$rel" -n "$name" 2>/dev/null) || return 1
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		mod_order "$rel" "$d" || return 1
	done
	echo "$name $f"
}

# guest_pkg's extras in the initramfs at $1: the driver's files installed
# by the Makefile (not copied from kmod/), Debian's systemd-sysusers,
# udevadm (systemd-udevd is a link to it, as in Debian) and
# 50-udev-default.rules, the libraries ldd names, and an /etc with users
# alice (1000) and bob (1001) and the groups Debian's rules name.
pack_pkg() {
	local root=$1 lib
	make -s --no-print-directory -C "$top" BUILD="$bdir" DESTDIR="$root" \
		install-driver-files > "$out/pkg-install.log" 2>&1 || { cat "$out/pkg-install.log"; return 1; }
	mkdir -p "$root"/{etc/sysusers.d,run,usr/bin,usr/lib/systemd,usr/lib/udev/rules.d}
	cp /usr/bin/systemd-sysusers /usr/bin/udevadm "$root/usr/bin/" || return 1
	ln -s ../../bin/udevadm "$root/usr/lib/systemd/systemd-udevd"
	cp /usr/lib/udev/rules.d/50-udev-default.rules "$root/usr/lib/udev/rules.d/" || return 1
	for lib in $(ldd /usr/bin/systemd-sysusers /usr/bin/udevadm |
		awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u) \
		/lib/x86_64-linux-gnu/libnss_files.so.2; do
		[ -e "$lib" ] || continue
		mkdir -p "$root${lib%/*}"
		cp -L "$lib" "$root$lib" || return 1
	done
	cat > "$root/etc/passwd" <<-'PASSWD'
	root:x:0:0:root:/root:/bin/sh
	alice:x:1000:1000:kllm user:/tmp:/bin/sh
	bob:x:1001:1001:not a kllm user:/tmp:/bin/sh
	nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	PASSWD
	cat > "$root/etc/group" <<-'GROUP'
	root:x:0:
	tty:x:5:
	disk:x:6:
	lp:x:7:
	kmem:x:15:
	dialout:x:20:
	cdrom:x:24:
	tape:x:26:
	audio:x:29:
	video:x:44:
	input:x:105:
	sgx:x:106:
	kvm:x:107:
	render:x:108:
	alice:x:1000:
	bob:x:1001:
	nogroup:x:65534:
	GROUP
	printf 'passwd: files\ngroup: files\nshadow: files\n' > "$root/etc/nsswitch.conf"
}

pack() {
	local rel=$1 root=$2 ko=$3 name f
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,modules,tests,data,usr/local/bin}
	cp /bin/busybox "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	# Busybox's own setpriv lacks --reuid, and its sh prefers applets to
	# PATH: call ours by its full path.
	cp "$gbin/setpriv" "$root/usr/local/bin/setpriv"
	if [ -n "${VM_ONLY:-}" ]; then
		for name in $VM_ONLY; do
			cp "$gbin/guest_$name" "$root/tests/" || return 1
		done
	else
		cp "$gbin"/guest_* "$root/tests/"
	fi
	cp "$out/engine.gguf" "$root/data/engine.gguf"	# guest_engine's model
	cp "$out/submit.gguf" "$root/data/submit.gguf"	# kllm-bench submit's
	cp "$out/prefix.gguf" "$root/data/prefix.gguf"	# guest_kv's timing model
	cp "$gbin/kllm-run" "$gbin/kllm-bench" "$gbin/kllm-top" "$root/usr/local/bin/"
	# (SmolLM2 comes in its own archive, appended below.)  The debug
	# kernel runs the driver's own suites; the real model, minutes per
	# engine under TCG and slower still with KASAN, runs on the two
	# Debian kernels only.
	if [ -z "$smollm2_cpio" ] || [ "$debug" = 1 ]; then
		rm -f "$root/tests/guest_smollm2"
	fi
	# Packaging is tested on Debian's kernels: the debug kernel's
	# tinyconfig lacks what udevd needs (signalfd, inotify).
	if [ "$debug" = 1 ] || [ $pkg_tools = 0 ]; then
		rm -f "$root/tests/guest_pkg"
	fi
	if [ -e "$root/tests/guest_pkg" ]; then
		pack_pkg "$root" || return 1
	fi
	install -m 755 tests/vm/init.sh "$root/init"
	# guest_fuzz's settings (VM_FUZZ_CALLS=N ... -> KLLM_FUZZ_CALLS=N)
	env | sed -n 's/^VM_FUZZ_\(CALLS\|SEED\|SECS\|TRACE\)=/KLLM_FUZZ_\1=/p' > "$root/data/fuzz.env"
	# Debug info makes the module ten times bigger and slower to load.
	strip --strip-debug -o "$root/modules/kllm.ko" "$ko" || return 1
	# DRM modules for the driver (drm, drm_shmem_helper and what they need).
	local order
	: > "$root/modules/deps.order"
	# A kernel with DRM built in (the debug one) needs no helper modules.
	if grep -q '^CONFIG_DRM_GEM_SHMEM_HELPER=y' "$(headers_of "$rel")/.config" 2>/dev/null; then
		order=
	elif ! order=$(mod_order "$rel" drm_shmem_helper); then
		say "$rel: no drm_shmem_helper module under /lib/modules/$rel"
		return 1
	fi
	while read -r name f; do
		case $f in
		*.xz) xz -dc "$f" > "$root/modules/$name.ko" ;;
		*.zst) zstd -qdc "$f" > "$root/modules/$name.ko" ;;
		*) cp "$f" "$root/modules/$name.ko" ;;
		esac || return 1
		echo "$name" >> "$root/modules/deps.order"
	done < <(echo "$order" | awk 'NF && !seen[$1]++')
	(cd "$root" && find . -print0 | cpio -o -0 -H newc -R 0:0 --quiet) > "$root.cpio" &&
		if [ -e "$root/tests/guest_smollm2" ]; then cat "$smollm2_cpio" >> "$root.cpio"; fi
}

boot() {
	local rel=$1 dir=$2 log=$2/serial.log
	timeout "$boot_timeout" qemu-system-x86_64 -accel tcg -cpu max -m 2G -smp 2 \
		-nographic -no-reboot -nodefaults -serial stdio \
		-kernel "$(image_of "$rel")" -initrd "$dir/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet slub_debug=FZP" < /dev/null 2>&1 | tr -d '\r' > "$log"
	return "${PIPESTATUS[0]}"
}

# kmod/build.sh runs a plain make: give it our jobs unless make already did.
kmake=${MAKEFLAGS:-}
case " $kmake " in *" -j"*|*jobserver*) ;; *) kmake="$kmake -j$(nproc)" ;; esac
# VM_COVERAGE=1: Kbuild compiles the driver with gcov (needs GCOV_KERNEL).
cov=${VM_COVERAGE:-0}
[ "$cov" = 1 ] && export KLLM_GCOV=1

for rel in "${kernels[@]}"; do
	dir=$out/$rel
	mkdir -p "$dir"
	if [ ! -r "$(image_of "$rel")" ]; then
		cannot "$rel" "no $(image_of "$rel")"
		continue
	fi
	t0=$SECONDS
	if ! MAKEFLAGS=$kmake kmod/build.sh "$(headers_of "$rel")" "$bdir" > "$dir/build.log" 2>&1; then
		cat "$dir/build.log"
		say "$rel: FAILED (kllm.ko did not build)"
		failed=$((failed + 1))
		continue
	fi
	say "step build kllm.ko $rel: $((SECONDS - t0)) s"
	t0=$SECONDS
	if ! pack "$rel" "$dir/root" "$bdir/kmod-$rel/kllm.ko"; then
		cannot "$rel" "initramfs could not be packed"
		continue
	fi
	mv "$dir/root.cpio" "$dir/initramfs.cpio"
	say "step initramfs $rel: $((SECONDS - t0)) s ($(du -k "$dir/initramfs.cpio" | cut -f1) KiB)"
	t0=$SECONDS
	boot "$rel" "$dir"
	qrc=$?
	if why=$(vm_crashed_before_tests "$dir/serial.log"); then
		say "$rel: the kernel crashed before the tests began ($why); booting once more"
		mv "$dir/serial.log" "$dir/serial-crashed.log"
		boot "$rel" "$dir"
		qrc=$?
	fi
	secs=$((SECONDS - t0))
	verdict=$(sed -n 's/^vm-verdict: //p' "$dir/serial.log" | tail -1)
	[ "$cov" = 1 ] && tests/vm/coverage.sh "$dir/serial.log" "$bdir/kmod-$rel" "$dir/coverage"
	grep -E '^(vm-test|vm-bin|vm-dmesg-bad):|FAIL|Failures: [1-9]|Errors: [1-9]|:[FE]:' "$dir/serial.log" |
		grep -v ': ok' | sed 's/^/  /'
	if [ -z "$verdict" ]; then
		tail -n 30 "$dir/serial.log" | sed 's/^/  | /'
		say "$rel: FAILED (no verdict after $secs s, qemu exit $qrc; log $dir/serial.log)"
		failed=$((failed + 1))
		continue
	fi
	case $verdict in
	"$rel: "*", 0 failed") say "$verdict (boot to verdict $secs s)" ;;
	*)
		say "$verdict (boot to verdict $secs s; log $dir/serial.log)"
		failed=$((failed + 1))
		;;
	esac
done

say "total $((SECONDS - t_start)) s: ${#kernels[@]} kernel(s), $failed failed, $untested not tested"
[ $failed -eq 0 ] || exit 1
if [ $untested -gt 0 ] && [ "$ci" = true ]; then
	say "CI=true: a target kernel could not be tested"
	exit 1
fi
exit 0
