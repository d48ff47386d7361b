#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/vm/measure.sh - figures for docs/PERF.md measured in the QEMU guest
# (TCG; not a test, nothing asserted): what sharing one model buys, and
# the device engine against the in-process engine in the same guest.
#
#  1. SmolLM2-135M (real): time to first token of a first app (cold: the
#     page cache dropped, the model read from a virtio disk, pinned,
#     program uploaded) and of a second app started while the first holds
#     the model (warm: the driver's registries hand it the same pin and
#     program); the in-process engine's cold start for reference.
#  2. A 7B-shaped model (kllm-mkmodel --shape llama2-7b, Q4_0, 3.8 GB) on
#     the device engine: 1, 2 and 4 apps holding it (loaded, weights
#     pinned, program uploaded): the driver's pinned bytes, each app's RSS
#     and PSS, and the guest's MemAvailable.
#  3. kllm-bench pp/tg on SmolLM2, in-process vs device, and submit on
#     the 4-layer model below.
#
#  4. kllm-bench serve on the device engine with a small synthetic model
#     (TCG is too slow for SmolLM2 under a sweep): interactive latency
#     alone and under background load, decode scaling of 4 clients.
#  5. kllm-bench submit with the smallest job (a one-layer 32-wide model)
#     and a one-thread engine: what a job's submission costs, ioctl
#     against io_uring, without the engine's worker rendezvous.
#  6. kllm-bench batched on the 4-layer model, in-process vs device.
#  7. A/B: this kllm.ko against a reference one (KLLM_AB_REF, a commit;
#     default e3fecce, the driver before the security rework), loaded in
#     turn in the same guest, 5 rounds, the same jobs: kllm-bench submit
#     (8 one-token jobs in flight, io_uring and ioctl) and pp64 on the
#     4-layer model (two 32-token chunks: staged passes).  Prints each
#     round and the median of new/old jobs/s.
#
#   VM_KERNEL=rel   kernel release (default: newest 6.12 with headers)
#   VM_MEM=12G      guest memory
#   PARTS="1 2 3 4 5 6" which parts to run (the 7B model is built and put
#                   on the disk only for part 2; 7 only when named)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=$top/build/measure
sbuild=$top/build/static
mkdir -p "$out"
say() { echo "measure: $*" >&2; }

rel=${VM_KERNEL:-$(ls /boot/vmlinuz-6.12.* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)}
[ -n "$rel" ] && [ -e "/usr/src/linux-headers-$rel/Makefile" ] || { say "no 6.12 kernel with headers"; exit 1; }

# ---------------------------------------------------------------- builds
say "static tools and measure_app"
make -s -C "$top" -j2 BUILD="$sbuild" LDFLAGS=-static tools >/dev/null 2>&1 ||
	make -s -C "$top" BUILD="$sbuild" LDFLAGS=-static tools
gcc -static -O2 -Wall -Wextra -Werror -Iruntime -Ikernels -Iuapi -Iuapi/prog tests/vm/measure_app.c \
	-o "$out/measure_app" "$sbuild/lib/libkllm.a" \
	$(pkg-config --libs liburing libdrm) -lpthread -lm
kmod/build.sh "/usr/src/linux-headers-$rel" "$top/build" >/dev/null
smollm2=$(tools/fetch-model.sh smollm2)
parts=" ${PARTS:-1 2 3 4 5 6} "
asked() { case $parts in *" $1 "*) return 0 ;; esac; return 1; }
ab_ref=${KLLM_AB_REF:-e3fecce}
if asked 7; then
	say "reference module from $ab_ref"
	rm -rf "$out/ab-src" && mkdir -p "$out/ab-src"
	git -C "$top" archive "$ab_ref" Kbuild kmod kernels uapi | tar -x -C "$out/ab-src"
	"$out/ab-src/kmod/build.sh" "/usr/src/linux-headers-$rel" "$out/ab-build" >/dev/null
fi
if asked 2 && [ ! -e "$out/m7b.gguf" ]; then
	say "7B-shaped model"
	"$sbuild/bin/kllm-mkmodel" -o "$out/m7b.gguf" --shape llama2-7b --type q4_0 --seed 1 >/dev/null
fi

# ---------------------------------------------------------------- disk
say "ext4 disk with the models"
rm -rf "$out/disk" "$out/disk.img"
mkdir -p "$out/disk"
if asked 2; then
	ln "$out/m7b.gguf" "$out/disk/m7b.gguf" 2>/dev/null || cp "$out/m7b.gguf" "$out/disk/"
fi
cp "$smollm2" "$out/disk/smollm2.gguf"
"$sbuild/bin/kllm-mkmodel" -o "$out/disk/serve.gguf" --arch llama --layers 4 --embd 256 \
	--heads 4 --kv-heads 2 --ffn 512 --vocab 512 --ctx 256 --type q4_0 --seed 2 >/dev/null
# the smallest job: one layer of 32, so the submission path shows
"$sbuild/bin/kllm-mkmodel" -o "$out/disk/submit.gguf" --arch llama --layers 1 --embd 32 \
	--heads 1 --kv-heads 1 --ffn 32 --vocab 288 --ctx 64 --type f32 --seed 1 >/dev/null
echo "$parts" > "$out/disk/parts"
echo "$ab_ref" > "$out/disk/ab_ref"
truncate -s 5G "$out/disk.img"
mkfs.ext4 -q -F -d "$out/disk" "$out/disk.img"
rm -rf "$out/disk"

# ---------------------------------------------------------------- initramfs
mod_order() {
	local name=$1 f d
	f=$(modinfo -k "$rel" -n "$name" 2>/dev/null) || return 1
	case $f in /*) ;; *) return 0 ;; esac	# built in
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		mod_order "$d" || return 1
	done
	echo "$name $f"
}
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,data,modules,usr/local/bin}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
for t in kllm-bench kllm-run; do strip -o "$root/usr/local/bin/$t" "$sbuild/bin/$t"; done
strip -o "$root/usr/local/bin/measure_app" "$out/measure_app"
strip --strip-debug -o "$root/modules/kllm.ko" "$top/build/kmod-$rel/kllm.ko"
if asked 7; then
	strip --strip-debug -o "$root/modules/kllm-ref.ko" "$out/ab-build/kmod-$rel/kllm.ko"
fi
: > "$root/modules/order"
# ext4 asks for crc32c through the crypto API (request_module): load it first.
{ mod_order drm_shmem_helper; mod_order virtio_pci; mod_order virtio_blk;
  mod_order crc32c_generic; mod_order ext4; } |
	awk '!seen[$1]++' | while read -r name f; do
		case $f in
		*.xz) xz -dc "$f" > "$root/modules/$name.ko" ;;
		*.zst) zstd -qdc "$f" > "$root/modules/$name.ko" ;;
		*) cp "$f" "$root/modules/$name.ko" ;;
		esac
		echo "$name" >> "$root/modules/order"
	done
cat > "$root/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t tmpfs tmpfs /tmp
while read -r m; do insmod /modules/$m.ko || echo "measure: insmod $m failed"; done < /modules/order
mount -t ext4 -o ro,noload /dev/vda /data || { echo "measure: no disk"; dmesg | tail -5 | sed "s/^/measure: dmesg: /"; }
simd=avx2; grep -q ' avx2' /proc/cpuinfo || simd=scalar
# TCG runs a SmolLM2 prompt job for tens of seconds: no job time limit.
insmod /modules/kllm.ko simd=$simd job_timeout_ms=0
mount -t debugfs debugfs /sys/kernel/debug
export KLLM_SIMD=$simd HOME=/tmp
echo "measure: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, simd $simd, $(sed -n 's/MemTotal: *//p' /proc/meminfo)"
stat_of() { sed -n "s/^$1 //p" /sys/kernel/debug/kllm/stats; }
# Start an app in the background and wait for its "ready" line.
start_app() {
	out=/tmp/app.$1; shift
	"$@" > "$out" 2>&1 &
	while ! grep -q '^measure: ready' "$out"; do
		kill -0 $! 2>/dev/null || { sed 's/^/measure: app failed: /' "$out"; return 1; }
		sleep 0.2
	done
	grep '^measure: app' "$out"
	echo $! >> /tmp/pids
}
kill_apps() { for p in $(cat /tmp/pids 2>/dev/null); do kill -9 $p; done; rm -f /tmp/pids; sleep 1; }
mem_report() {
	for p in $(cat /tmp/pids); do
		rss=$(sed -n 's/^VmRSS: *//p' /proc/$p/status)
		pss=$(sed -n 's/^Pss: *//p' /proc/$p/smaps_rollup)
		echo "measure:   app $p RSS $rss PSS $pss"
	done
	echo "measure:   pinned_bytes $(stat_of pinned_bytes) shared_imports $(stat_of shared_imports) programs $(stat_of programs) MemAvailable $(sed -n 's/MemAvailable: *//p' /proc/meminfo)"
}

parts=$(cat /data/parts)
part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
if part 1; then
echo "measure: --- 1. SmolLM2 time to first token (8-token prompt), cold vs warm"
sync; echo 3 > /proc/sys/vm/drop_caches
KLLM_ENGINE=cpu measure_app /data/smollm2.gguf 8 exit | sed 's/^measure: app/measure: cpu cold:/'
sync; echo 3 > /proc/sys/vm/drop_caches
KLLM_ENGINE=dev start_app a1 measure_app /data/smollm2.gguf 8 hold | sed 's/^measure: app/measure: dev first (cold):/'
KLLM_ENGINE=dev start_app a2 measure_app /data/smollm2.gguf 8 hold | sed 's/^measure: app/measure: dev second (warm):/'
mem_report
kill_apps
fi

if part 2; then
echo "measure: --- 2. 7B-shaped model held by 1, 2, 4 apps (device engine)"
echo "measure: baseline MemAvailable $(sed -n 's/MemAvailable: *//p' /proc/meminfo)"
for n in 1 2 4; do
	i=0
	while [ $i -lt $n ]; do
		KLLM_ENGINE=dev start_app b$i measure_app /data/m7b.gguf 0 hold | sed "s/^measure: app/measure: 7B app $i of $n:/"
		i=$((i + 1))
	done
	echo "measure: $n app(s):"
	mem_report
	kill_apps
done
fi

if part 3; then
echo "measure: --- 3. kllm-bench in the guest: in-process vs device (SmolLM2, 2 threads each)"
for r in 1 2; do
	for e in cpu dev; do
		kllm-bench pp -m /data/smollm2.gguf --engine $e -p 16 -r 1 2>&1 | grep pp16 | sed "s/^/measure: pp $e: /"
		kllm-bench tg -m /data/smollm2.gguf --engine $e -n 4 -r 1 2>&1 | grep tg4 | sed "s/^/measure: tg $e: /"
	done
done
kllm-bench submit -m /data/serve.gguf -t 1 2>&1 | sed 's/^/measure: submit: /'
fi

if part 4; then
echo "measure: --- 4. kllm-bench serve, device engine, 4-layer 256-wide model"
kllm-bench serve -m /data/serve.gguf --engine dev --class interactive:1:8:16 --class background:2:32:16 \
	-r 4 --sweep 0,1,2 --decode-scaling=4:32 2>&1 | sed 's/^/measure: serve: /'
fi
if part 5; then
echo "measure: --- 5. kllm-bench submit: the smallest job, one-thread engine"
# No worker rendezvous per op, so that what differs is ioctl against io_uring.
rmmod kllm && insmod /modules/kllm.ko simd=$simd job_timeout_ms=0 threads=1 &&
	kllm-bench submit -m /data/submit.gguf -b 1,8,64 -n 256 -r 5 -t 1 --engine dev 2>&1 |
	sed 's/^/measure: submit-1t: /'
rmmod kllm && insmod /modules/kllm.ko simd=$simd job_timeout_ms=0	# default threads again
fi
if part 6; then
echo "measure: --- 6. kllm-bench batched, 4-layer 256-wide model: in-process vs device"
for e in cpu dev; do
	kllm-bench batched -m /data/serve.gguf --engine $e -P 1,2,4,8,16 -p 16 -n 8 2>&1 |
		grep -v '^  ' | sed "s/^/measure: batched $e: /"
done
fi
if part 7; then
echo "measure: --- 7. A/B: this kllm.ko (new) against $(cat /data/ab_ref) (old), alternating, same jobs"
json_of() { tr -d '\n ' | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
for r in 1 2 3 4 5; do
	for m in old new; do
		ko=/modules/kllm.ko
		[ $m = old ] && ko=/modules/kllm-ref.ko
		rmmod kllm && insmod $ko simd=$simd job_timeout_ms=0 || echo "measure: ab: cannot load $ko"
		j=$(kllm-bench submit -m /data/serve.gguf -b 8 -n 64 -r 1 -t 1 --engine dev --json 2>/dev/null)
		p=$(kllm-bench pp -m /data/serve.gguf --engine dev -p 64 -r 1 --json 2>/dev/null)
		echo "measure: ab $r $m uring_us $(echo "$j" | json_of uring_us) ioctl_us $(echo "$j" | json_of ioctl_us) pp64_tps $(echo "$p" | json_of tps_mean)"
	done
done
rmmod kllm && insmod /modules/kllm.ko simd=$simd job_timeout_ms=0
fi
echo "measure: done"
poweroff -f
INIT
chmod 755 "$root/init"
(cd "$root" && find . -print0 | cpio -o -0 -H newc -R 0:0 --quiet) > "$out/initramfs.cpio"

# ---------------------------------------------------------------- boot
say "booting $rel (TCG, ${VM_MEM:-12G}); this takes a while"
timeout "${VM_TIMEOUT:-3600}" qemu-system-x86_64 -accel tcg -cpu max -m "${VM_MEM:-12G}" -smp 2 \
	-nographic -no-reboot -nodefaults -serial stdio \
	-kernel "/boot/vmlinuz-$rel" -initrd "$out/initramfs.cpio" \
	-drive "file=$out/disk.img,if=virtio,format=raw,readonly=on" \
	-append "console=ttyS0 panic=-1 quiet" < /dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$out/serial.log" |
	grep --line-buffered '^measure:'
if asked 7; then
	# new/old jobs/s per round (jobs/s is 1/us; tok/s as is), then the median of 5
	awk '$1 == "measure:" && $2 == "ab" {
		v[$3, $4, "u"] = $6; v[$3, $4, "i"] = $8; v[$3, $4, "p"] = $10; n = $3 }
	function med(a, k,  i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
		if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((k + 1) / 2)] }
	END { for (r = 1; r <= n; r++) { u[r] = v[r, "old", "u"] / v[r, "new", "u"];
		i[r] = v[r, "old", "i"] / v[r, "new", "i"]; p[r] = v[r, "new", "p"] / v[r, "old", "p"] }
	      printf "measure: ab median new/old jobs/s over %d rounds: io_uring %.3f, ioctl %.3f, pp64 tok/s %.3f\n",
		n, med(u, n), med(i, n), med(p, n) }' "$out/serial.log"
fi
