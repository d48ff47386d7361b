#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Static checks of each built kllm.ko: it has the modinfo we document, its
# API probes ran, and its objects keep the FPU discipline (fpu_check).  Then
# tests/vm/install-check.sh: make modules_install and a DKMS build/install
# for every kernel with headers (INSTALL_CHECK=0 skips it).
#
# tests/module-check.sh --fpu TREE... runs only fpu_check, on module trees
# built by kmod/build.sh (TREE/kllm.mod, TREE/kllm.ko).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rc=0
export PATH=$PATH:/sbin:/usr/sbin

# FPU discipline.  gcc may use vector registers anywhere in an object built
# with SIMD flags (a vectorised loop, an inlined memcpy or struct copy), and
# such code is safe only between kernel_fpu_begin() and kernel_fpu_end()
# (kernel_neon_begin/end on arm64).
# So, object by object:
#   (a) a symbol defined in a SIMD object may be referenced from a non-SIMD
#       object only as one of the entry points below, each called only
#       inside an FPU section;
#   (b) a non-SIMD object uses no vector (or x87/MMX) register at all;
#   (c) only kernels/ objects are SIMD (the kernel enters kmod/ anywhere).
# Which objects are SIMD is read back from the flags Kbuild compiled each
# with (its .o.cmd), so Kbuild's kk_nofpu list is the only list of them.
#
# Entry points, as symbol:referencing-object:
#   kk_op_run:kernels/kk_op.o - kk_op_exec's stage callback, run only by
#       the host's parallel_for, which brackets every chunk;
#   kk_simd_select:kmod/kllm_fpu_host.o - fills the path's table
#       (kernels/kk_simd_table.c), inside kllm_fpu_simd_select's bracket.
fpu_entries="kk_op_run:kernels/kk_op.o kk_simd_select:kmod/kllm_fpu_host.o"

# The objects linked into the module of tree $1, one path a line.
mod_objs()
{
	local o

	while read -r o; do
		case $o in
		/*) echo "$o" ;;
		*) echo "$1/$o" ;;
		esac
	done < "$1/kllm.mod"
}

# The tree's architecture (x86_64 or aarch64: an arm64 module cross-built
# by `make module-arm64`), and binutils that read its objects.
tree_arch()
{
	case $(od -An -tu2 -j18 -N2 "$1/kllm.ko" | tr -d ' ') in
	183) echo aarch64 ;;
	*) echo x86_64 ;;
	esac
}

# 0 if object $1 was compiled with SIMD flags, 1 if not, 2 if unknown.
# x86-64: SSE/AVX flags; arm64: the kernel builds everything with
# -mgeneral-regs-only (no FP/SIMD registers at all) and Kbuild removes it
# from the FPU units only.
is_simd()
{
	local cmd

	cmd=$(dirname "$1")/.$(basename "$1").cmd
	[ -e "$cmd" ] || return 2
	# (grep without -q: under pipefail an early exit would fail the pipe)
	if [ "$arch" = aarch64 ]; then
		if head -1 "$cmd" | grep -E -- ' -mgeneral-regs-only( |$)' > /dev/null; then
			return 1
		fi
	else
		head -1 "$cmd" | grep -E -- ' -m(hard-float|sse|avx)' > /dev/null
	fi
}

# 0 if object $1's code names a vector or FP register.
uses_vregs()
{
	if [ "$arch" = aarch64 ]; then
		# operands only (field 4), without branch targets ("d4 <sym+0x8>")
		# and comments: b, h, s, d, q registers 0-31 and v0-31
		"${xbin}objdump" -d "$1" | awk -F '\t' 'NF >= 4 { print $4 }' |
			sed 's/[0-9a-f]* *<[^>]*>//g; s|//.*||' |
			grep -E '(^|[^[:alnum:]_])([bhsdq]|v)([0-9]|[12][0-9]|3[01])([^[:alnum:]_]|$)' > /dev/null
	else
		objdump -d "$1" | grep -E '%([xyz]mm[0-9]|mm[0-7]|st\b|st\()' > /dev/null
	fi
}

fpu_check()
{
	local tree=$1 o rel sym e defs bad=0 simd=() plain=()

	[ -e "$tree/kllm.mod" ] || { echo "$tree: no kllm.mod"; return 1; }
	arch=$(tree_arch "$tree")
	xbin=
	if [ "$arch" = aarch64 ] && [ "$(uname -m)" != aarch64 ]; then
		xbin=aarch64-linux-gnu-
		command -v "${xbin}objdump" > /dev/null ||
			{ echo "$tree: arm64 module, no ${xbin}objdump (binutils-aarch64-linux-gnu)"; return 1; }
	fi
	while read -r o; do
		if is_simd "$o"; then
			simd+=("$o")
			# the kernel calls into kmod/ and uapi/ anywhere: plain only
			case ${o#"$tree"/} in
			kernels/*) ;;
			*) echo "${o#"$tree"/}: built with SIMD flags outside kernels/"; bad=1 ;;
			esac
		elif [ $? -eq 1 ]; then
			plain+=("$o")
		else
			echo "$o: no .cmd file, cannot tell its flags"; bad=1
		fi
	done < <(mod_objs "$tree")
	if [ ${#simd[@]} -eq 0 ] || [ ${#plain[@]} -eq 0 ]; then
		echo "$tree: no SIMD or no plain objects: cannot read the flags"
		return 1
	fi
	defs=$("${xbin}nm" --defined-only -g "${simd[@]}" | awk 'NF == 3 { print $3 }' | sort -u)
	for e in $fpu_entries; do
		grep -qx -- "${e%%:*}" <<< "$defs" ||
			{ echo "$tree: FPU entry ${e%%:*} is not in a SIMD object"; bad=1; }
	done
	for o in "${plain[@]}"; do
		rel=${o#"$tree"/}
		for sym in $("${xbin}nm" -u "$o" | awk '{ print $NF }' | sort -u | comm -12 - <(echo "$defs")); do
			case " $fpu_entries " in
			*" $sym:$rel "*) continue ;;
			esac
			echo "$rel: references $sym (SIMD object) outside the FPU entry points"
			bad=1
		done
		if uses_vregs "$o"; then
			echo "$rel: uses vector registers but is built without SIMD flags"
			bad=1
		fi
	done
	[ $bad -eq 0 ] && echo "fpu-check: $tree ($arch): ${#plain[@]} plain objects reach ${#simd[@]} SIMD objects only via: $fpu_entries"
	return $bad
}

if [ "${1:-}" = --fpu ]; then
	shift
	for t in "$@"; do
		fpu_check "$t" || rc=1
	done
	exit $rc
fi

for ko in "$top"/build/kmod-*/kllm.ko; do
	tree=$(dirname "$ko")
	rel=${tree##*/kmod-}
	for p in simd max_pinned_mb uid_quota_mb; do
		if ! modinfo -F parm "$ko" | grep -q "^$p:.\{10,\}"; then
			echo "$ko: no documented $p= parameter"; rc=1
		fi
	done
	if ! grep -q 'Generated by kmod/kllm_probe.sh' "$tree/kmod/kllm_config.h" 2>/dev/null; then
		echo "$ko: built without the kmod/kllm_probe.sh config header"; rc=1
	fi
	[ "$(modinfo -F license "$ko")" = GPL ] || { echo "$ko: licence"; rc=1; }
	fpu_check "$tree" || rc=1
	[ $rc -ne 0 ] || echo "module-check: kllm.ko for $rel ok"
done
if [ "${INSTALL_CHECK:-1}" != 0 ]; then
	"$top/tests/vm/install-check.sh" || rc=1
fi
exit $rc
