#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build (once) a small debug 6.12 kernel for `make vm-check-debug`: Debian's
# linux-source-6.12 (bookworm-security/backports, tools/deps-vm.sh installs
# it), tinyconfig plus what the guest needs plus the checkers a stock Debian
# kernel lacks: PROVE_LOCKING, DEBUG_ATOMIC_SLEEP, KASAN, KMEMLEAK.
# DRM, DRM_ACCEL and the shmem helpers are built in (the guest then loads
# only kllm.ko).  Cached outside the repository:
#
#   ${KLLM_DEBUG_KERNEL:-~/.cache/kllm/debug-kernel}/
#       src/     the unpacked source       build/  O= tree (M= builds use it)
#       build-time.txt   seconds the last build took
#
#   DEBUG_JOBS=N   make -jN (default: every CPU; nice -n 19 always)
# Prints the build directory on success.
set -euo pipefail
cache=${KLLM_DEBUG_KERNEL:-$HOME/.cache/kllm/debug-kernel}
jobs=${DEBUG_JOBS:-$(nproc)}
tarball=
for t in /usr/src/linux-source-6.12*.tar.xz; do
	[ -e "$t" ] && tarball=$t
done
if [ -z "$tarball" ]; then
	echo "debug-kernel: no /usr/src/linux-source-6.12.tar.xz (apt-get install linux-source-6.12)" >&2
	exit 1
fi
mkdir -p "$cache"
src=$cache/src
obj=$cache/build
stamp=$cache/src.stamp
if [ ! -e "$stamp" ] || [ "$tarball" -nt "$stamp" ]; then
	echo "debug-kernel: unpacking $tarball"
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	touch "$stamp"
fi

# Options the guest and the checks need: name=value (y, m, n or a number).
# The guest tests use AF_UNIX socketpairs (NET, UNIX) and kmemleak's debugfs
# file; frame-size warnings are left to Debian's builds (KASAN grows frames
# and the module is built with -Werror).
want=(
	64BIT=y SMP=y MULTIUSER=y PRINTK=y BUG=y TTY=y SERIAL_8250=y
	SERIAL_8250_CONSOLE=y BLK_DEV_INITRD=y DEVTMPFS=y PROC_FS=y SYSFS=y
	SHMEM=y TMPFS=y BINFMT_ELF=y BINFMT_SCRIPT=y FUTEX=y EPOLL=y
	POSIX_TIMERS=y HIGH_RES_TIMERS=y FILE_LOCKING=y ACPI=y PCI=y NET=y UNIX=y
	MODULES=y MODULE_UNLOAD=y IO_URING=y SLUB_TINY=n
	DRM=y DRM_ACCEL=y DRM_VGEM=y DRM_GEM_SHMEM_HELPER=y
	DEBUG_KERNEL=y PROVE_LOCKING=y DEBUG_ATOMIC_SLEEP=y KASAN=y
	KASAN_GENERIC=y DEBUG_KMEMLEAK=y DEBUG_KMEMLEAK_AUTO_SCAN=y
	KALLSYMS=y STACKTRACE=y WERROR=n DEBUG_INFO_NONE=y DEBUG_FS=y FRAME_WARN=0
	SLUB_DEBUG=y GCOV_KERNEL=y GCOV_PROFILE_ALL=n
)

configure() {
	local kv name val got
	make -s -C "$src" O="$obj" tinyconfig
	for kv in "${want[@]}"; do
		name=${kv%%=*}
		val=${kv#*=}
		case $val in
		y) "$src/scripts/config" --file "$obj/.config" -e "$name" ;;
		m) "$src/scripts/config" --file "$obj/.config" -m "$name" ;;
		n) "$src/scripts/config" --file "$obj/.config" -d "$name" ;;
		*) "$src/scripts/config" --file "$obj/.config" --set-val "$name" "$val" ;;
		esac
	done
	make -s -C "$src" O="$obj" olddefconfig
	# A second pass: options whose dependencies the first pass enabled.
	for kv in "${want[@]}"; do
		name=${kv%%=*}
		val=${kv#*=}
		[ "$val" = y ] && "$src/scripts/config" --file "$obj/.config" -e "$name"
	done
	make -s -C "$src" O="$obj" olddefconfig
	for kv in "${want[@]}"; do
		name=${kv%%=*}
		val=${kv#*=}
		got=$("$src/scripts/config" --file "$obj/.config" -s "$name")
		case $val:$got in
		y:y | m:m | m:y | n:n | n:undef) ;;
		[0-9]*:"$val") ;;
		*)
			echo "debug-kernel: CONFIG_$name is '$got', wanted $val" >&2
			return 1
			;;
		esac
	done
}

mkdir -p "$obj"
# Reconfigure when the wanted options change (make then rebuilds only what
# the changed options touch).
if [ ! -e "$obj/.config" ] || [ "$(cat "$cache/want.txt" 2>/dev/null)" != "${want[*]}" ]; then
	configure
	echo "${want[*]}" > "$cache/want.txt"
fi
t0=$SECONDS
image=$obj/arch/x86/boot/bzImage
before=$(stat -c %Y "$image" 2>/dev/null || echo none)
echo "debug-kernel: building in $obj (nice -n 19 make -j$jobs)"
nice -n 19 make -s -C "$src" O="$obj" -j"$jobs" bzImage modules >&2
secs=$((SECONDS - t0))
# Only a run that made a new image is a build time worth keeping.
if [ "$(stat -c %Y "$image")" != "$before" ]; then
	echo "$secs" > "$cache/build-time.txt"
	echo "debug-kernel: built in $secs s" >&2
else
	echo "debug-kernel: up to date ($secs s)" >&2
fi
echo "$obj"
