# SPDX-License-Identifier: MIT
# boot.sh - one rule for both architectures' boots, sourced by
# tests/vm/run.sh (x86) and tests/vm/arm64-smoke.sh (arm64).
#
#   vm_crashed_before_tests LOG
#       true if the guest kernel oopsed or panicked before the guest's init
#       printed its first vm-test line (the DRM helpers' insmod, before
#       kllm.ko is loaded): a crash with none of our code in the guest.
#       The cause it prints is the log's first Oops/panic line.
#
# Why: under TCG (no KVM here) the kernel's own text patching races now and
# then.  CI once met "Oops: int3" in sched_clock_cpu five seconds into a
# 6.12 boot, "Modules linked in:" empty, when a static key was flipped while
# the other vCPU still ran the old translation.  Such a boot is booted once
# more, saying so; a crash after the first vm-test line is always a failure.
vm_crashed_before_tests() {
	local log=$1 first
	[ -r "$log" ] || return 1
	grep -q '^vm-test:' "$log" && return 1
	first=$(grep -m1 -E 'Oops|Kernel panic|BUG:|general protection fault' "$log") || return 1
	echo "${first#*] }"
}
