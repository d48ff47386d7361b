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
	sum=$(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' /tmp/out | tail -1)
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
echo "---- dmesg"
cat /tmp/dmesg
echo "---- end dmesg"
echo "vm-verdict: $(uname -r): $((checks - failures)) passed, $failures failed"
sync
poweroff -f
