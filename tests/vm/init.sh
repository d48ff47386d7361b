#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the kllm test guest (packed by tests/vm/run.sh): mount the pseudo
# file systems, load the DRM helpers, run every /tests/guest_* in name order,
# scan the kernel log, print one verdict line and power off.
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev	# CONFIG_DEVTMPFS_MOUNT is off in Debian
# The initramfs has no /dev/console node, so the kernel gave us no stdio.
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /tmp
mount -t tmpfs tmpfs /tmp
export CK_DEFAULT_TIMEOUT=300 HOME=/tmp TMPDIR=/tmp KLLM_KO=/modules/kllm.ko

checks=0
failures=0
echo "vm: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus"

# The kernel log up to here is the kernel's own boot, before any module we
# load: keep it apart (shown at the end) and clear the buffer, so that the
# scan below judges only what happened while our modules ran.  A splat in
# the boot log is reported as a note: it is the kernel's (or the emulator's)
# and no test of ours could have caused it.
dmesg -c > /tmp/dmesg.boot

# The DRM helpers the driver builds on, in dependency order.
while read -r mod; do
	if insmod "/modules/$mod.ko"; then
		echo "vm-test: insmod $mod: ok"
	else
		echo "vm-test: insmod $mod: FAIL"
		failures=$((failures + 1))
	fi
	checks=$((checks + 1))
done < /modules/deps.order

# One pass/fail line per guest binary; Check's summary gives the counts.
for t in /tests/guest_*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	t0=$(cut -d' ' -f1 /proc/uptime)
	"$t" > /tmp/out 2>&1
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	cat /tmp/out
	# A binary may run several suites (e.g. one as nobody, one as root):
	# add up every summary it printed.
	sum=$(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' /tmp/out |
		awk '{c += $1; f += $2; e += $3} END {if (NR) print c, f, e}')
	if [ -n "$sum" ]; then
		# shellcheck disable=SC2086 # three numbers, split on purpose
		set -- $sum
		checks=$((checks + $1))
		failures=$((failures + $2 + $3))
		if [ "$rc" -ne 0 ] && [ $(($2 + $3)) -eq 0 ]; then
			failures=$((failures + 1))	# exited non-zero after its summary
		fi
	else
		checks=$((checks + 1))
		[ "$rc" -eq 0 ] || failures=$((failures + 1))
	fi
	if [ "$rc" -eq 0 ]; then r=ok; else r="FAIL (exit $rc)"; fi
	echo "vm-bin: $name: $r ($t0 -> $t1 s)"
done

# A kernel with kmemleak (the debug one): leaks allocated by kllm fail it.
if mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null && [ -e /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak
	echo scan > /sys/kernel/debug/kmemleak	# objects must look unreferenced twice
	cat /sys/kernel/debug/kmemleak > /tmp/leaks
	checks=$((checks + 1))
	if grep -q kllm /tmp/leaks; then
		echo "vm-test: kmemleak clean: FAIL"
		sed 's/^/vm-dmesg-bad: /' /tmp/leaks
		failures=$((failures + 1))
	else
		echo "vm-test: kmemleak clean: ok ($(grep -c '^unreferenced' /tmp/leaks) reports, none from kllm)"
	fi
fi

# Anything the kernel complained about during the run fails it.
dmesg > /tmp/dmesg
checks=$((checks + 1))
# (BUG as a word: not DEBUG.)
if grep -E '(^|[^[:alnum:]_])BUG|WARNING|Oops|KFENCE|refcount|list_del|lockdep|sleeping function' \
	/tmp/dmesg > /tmp/bad; then
	echo "vm-test: dmesg clean: FAIL"
	sed 's/^/vm-dmesg-bad: /' /tmp/bad
	failures=$((failures + 1))
else
	echo "vm-test: dmesg clean: ok"
fi
if grep -E '(^|[^[:alnum:]_])BUG|WARNING|Oops|KFENCE|refcount|list_del|sleeping function' \
	/tmp/dmesg.boot > /tmp/bad; then
	sed 's/^/vm-note: in the boot log, before any module was loaded: /' /tmp/bad
fi
echo "---- dmesg (boot)"
cat /tmp/dmesg.boot
echo "---- dmesg (tests)"
cat /tmp/dmesg
echo "---- end dmesg"
echo "vm-verdict: $(uname -r): $((checks - failures)) passed, $failures failed"
sync
poweroff -f
