# SPDX-License-Identifier: MIT
# data.sh - the guests' /data files, one home for both architectures:
# sourced by tests/vm/run.sh (x86) and tests/vm/arm64-smoke.sh (arm64).
# GGUF files are the same on every architecture, so the host's
# kllm-mkmodel writes them.
#
#   vm_models OUT MKMODEL      OUT/engine.gguf, OUT/submit.gguf, OUT/prefix.gguf
#   vm_smollm2_cpio OUT        OUT/smollm2.cpio (SmolLM2-135M as
#                              /data/smollm2.gguf), its path on stdout
# Both return non-zero after printing why.

# guest_engine's model: a small llama (2.6M parameters, Q4_0 + F32,
# vocabulary 512), packed as /data/engine.gguf.  kllm-bench submit's model
# in the guest: one layer of 32, so that a job costs little next to its
# submission (/data/submit.gguf).  guest_kv's timing model: an f32 llama
# of 2 layers whose cold 1,000-token prefill stays well under a minute
# under TCG, compute (not per-job overhead) dominating (/data/prefix.gguf).
vm_models() {
	local out=$1 mkmodel=$2
	if ! "$mkmodel" -o "$out/engine.gguf" --arch llama --layers 4 \
		--embd 256 --heads 4 --kv-heads 2 --ffn 512 --vocab 512 --ctx 128 \
		--type q4_0 --seed 1 > "$out/mkmodel.log" 2>&1 ||
	   ! "$mkmodel" -o "$out/submit.gguf" --arch llama --layers 1 \
		--embd 32 --heads 1 --kv-heads 1 --ffn 32 --vocab 288 --ctx 64 \
		--type f32 --seed 1 >> "$out/mkmodel.log" 2>&1 ||
	   ! "$mkmodel" -o "$out/prefix.gguf" --arch llama --layers 2 \
		--embd 128 --heads 4 --kv-heads 2 --ffn 256 --vocab 288 --ctx 2048 \
		--type f32 --seed 1 >> "$out/mkmodel.log" 2>&1; then
		cat "$out/mkmodel.log"
		echo "kllm-mkmodel failed"
		return 1
	fi
}

# guest_smollm2's model, SmolLM2-135M (~100 MB), in an archive of its own
# made once and appended to an initramfs (the kernel unpacks concatenated
# cpio archives).
vm_smollm2_cpio() {
	local out=$1 model cpio=$1/smollm2.cpio
	if ! model=$(tools/fetch-model.sh smollm2 2> "$out/fetch.log") || [ ! -r "$model" ]; then
		cat "$out/fetch.log" >&2
		echo "no SmolLM2-135M: tools/fetch-model.sh smollm2 failed" >&2
		return 1
	fi
	if [ ! -e "$cpio" ] || [ "$model" -nt "$cpio" ]; then
		rm -rf "$out/smollm2"
		mkdir -p "$out/smollm2/data"
		# (a hard link where the cache is on the same file system)
		ln -f "$model" "$out/smollm2/data/smollm2.gguf" 2>/dev/null ||
			cp "$model" "$out/smollm2/data/smollm2.gguf"
		(cd "$out/smollm2" && find . -print0 | cpio -o -0 -H newc -R 0:0 --quiet) \
			> "$cpio.tmp" && mv "$cpio.tmp" "$cpio"
		rm -rf "$out/smollm2"
	fi
	echo "$cpio"
}
