#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kernel coverage of a guest run (run.sh calls it with VM_COVERAGE=1):
#
#   tests/vm/coverage.sh SERIAL_LOG MODULE_TREE [OUT_DIR]
#
# guest_fuzz dumps the module's .gcda files (GCOV_KERNEL's debugfs) in
# base64 between "vm-gcda-begin PATH" and "vm-gcda-end" lines; this puts
# each beside its .gcno in MODULE_TREE (build/kmod-<release>, built with
# KLLM_GCOV=1), runs gcov on the driver's plan, pass, job, uring, engine and
# scheduler files and the shared program code (uapi/prog/*.c), and writes
# OUT_DIR/coverage.txt: per function its lines run (0: never reached), per
# file the functions reached and the lines run.  It prints the per-file
# summary as "vm-coverage:" lines.  Exit status 1 if there was no data.
set -uo pipefail
log=$1
tree=$2
out=${3:-$tree/coverage}
files=(kmod/kllm_prog.c kmod/kllm_job.c kmod/kllm_pass.c kmod/kllm_uring.c
	kmod/kllm_engine.c kmod/kllm_sched.c)
for f in "$tree"/uapi/prog/*.c; do
	[ -e "$f" ] && files+=("uapi/prog/${f##*/}")
done
mkdir -p "$out"
rm -f "$out"/*.gcov "$out/coverage.txt"

# The dump: base64 blocks, each named by its path in the guest's debugfs
# (the absolute path of the object when it was built; only the part after
# the module tree's own directory is used).
n=0
cur=
while IFS= read -r line; do
	case $line in
	"vm-gcda-begin "*)
		rel=$(echo "${line#vm-gcda-begin }" | sed 's|.*/kmod-[^/]*/||')
		case $rel in *..* | /*) cur= ; continue ;; esac
		cur=$tree/$rel
		: > "$cur.b64"
		;;
	vm-gcda-end)
		if [ -n "$cur" ] && base64 -d "$cur.b64" > "$cur"; then
			n=$((n + 1))
		fi
		rm -f "$cur.b64"
		cur=
		;;
	*)
		[ -n "$cur" ] && printf '%s\n' "$line" >> "$cur.b64"
		;;
	esac
done < <(sed -n '/^vm-gcda-begin /,/^vm-gcda-end/p' "$log")
if [ "$n" = 0 ]; then
	echo "vm-coverage: no .gcda in $log (VM_DEBUG=1 VM_COVERAGE=1, guest_fuzz packed?)"
	exit 1
fi

tot_fn=0 tot_fn_hit=0 tot_l=0 tot_l_hit=0
{
	echo "# kllm.ko coverage from $log ($n .gcda files)"
	echo "# per function: lines run / lines, percent; 'NOT REACHED' if never entered"
} > "$out/coverage.txt"
for src in "${files[@]}"; do
	[ -e "$tree/$src" ] || continue
	obj=$tree/${src%.c}
	if [ ! -e "$obj.gcda" ]; then
		echo "vm-coverage: $src: no .gcda (never loaded?)"
		continue
	fi
	# gcov -f: "Function 'name'" then "Lines executed:P% of N" per function,
	# then the same for the file.
	(cd "$out" && gcov -f -o "$(dirname "$obj")" "$tree/$src" 2> "$out/gcov.err") > "$out/gcov.tmp"
	# A module rebuilt since the boot has new notes: its counts would lie.
	if grep -q mismatch "$out/gcov.err"; then
		echo "vm-coverage: $src: the .gcno is newer than the run (module rebuilt since?): skipped"
		continue
	fi
	# Functions defined in the file itself (gcov -f also lists the header
	# inlines it used): a definition starts in column 0 in kernel style.
	grep -oE '^[A-Za-z].*[^A-Za-z0-9_][A-Za-z_][A-Za-z0-9_]*\(' "$tree/$src" |
		sed -E 's/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)\($/\1/' | sort -u > "$out/defs.tmp"
	summary=$(awk -v src="$src" -v defs="$out/defs.tmp" '
		BEGIN { while ((getline d < defs) > 0) def[d] = 1 }
		/^Function / { fn = $2; gsub(/\047/, "", fn); if (!(fn in def)) fn = "-"; next }
		/^File / { fn = ""; next }
		/^Lines executed:/ {
			split($2, a, ":"); pct = a[2]; sub(/%/, "", pct); pct += 0; n = $4 + 0
			if (pct > 100) pct = 100	# gcov rounds some functions over
			hit = int(pct * n / 100 + 0.5)
			if (fn == "-") next
			if (fn != "") {
				nf++; if (hit > 0) nh++
				printf "%-34s %-40s %5d / %-5d %6.2f%%%s\n", src, fn, hit, n, pct,
					hit ? "" : "  NOT REACHED" >> "/dev/stderr"
			} else if (!done) { fl = n; fh = hit; done = 1 }
		}
		END { printf "%d %d %d %d\n", nf, nh, fl, fh }' "$out/gcov.tmp" 2>> "$out/coverage.txt")
	read -r nf nh fl fh <<< "$summary"
	tot_fn=$((tot_fn + nf)) tot_fn_hit=$((tot_fn_hit + nh))
	tot_l=$((tot_l + fl)) tot_l_hit=$((tot_l_hit + fh))
	pct=$(awk -v a="$fh" -v b="$fl" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
	echo "vm-coverage: $src: $nh/$nf functions reached, $fh/$fl lines ($pct%)"
	grep -F "$src " "$out/coverage.txt" | grep 'NOT REACHED' | awk '{print "vm-coverage:   not reached: " $2}'
done
rm -f "$out/gcov.tmp" "$out/gcov.err" "$out/defs.tmp"
pct=$(awk -v a="$tot_l_hit" -v b="$tot_l" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
echo "vm-coverage: total: $tot_fn_hit/$tot_fn functions reached, $tot_l_hit/$tot_l lines ($pct%); per function: $out/coverage.txt"
echo "# total: $tot_fn_hit/$tot_fn functions, $tot_l_hit/$tot_l lines ($pct%)" >> "$out/coverage.txt"
