#!/bin/bash
# SPDX-License-Identifier: MIT
#
# serve-rss.sh - kllm-serve's resident memory beyond weights and KV, at the
# peak of 16 concurrent streams and after them (issue 17: <= 32 MiB).
#
#   tests/scripts/serve-rss.sh [MODEL.gguf]
#
# Starts $BUILD/bin/kllm-serve (BUILD default build; relative to the source
# tree or absolute) on MODEL (default SmolLM2-135M-Instruct Q4_1) with
# -t 2 --parallel 16 on a loopback port, loads the model with one request,
# then runs `kllm-bench http -P 16 --duration D` (the command of
# docs/PERF.md) ROUNDS times, sampling every INTERVAL seconds:
#
#   VmRSS, RssAnon, RssFile          /proc/PID/status
#   kllm_kv_bytes, kllm_kv_block_bytes, kllm_weights_bytes
#                                    GET /metrics (read before VmRSS, so KV
#                                    that grows in between counts as
#                                    overhead: the estimate errs high)
#   the GGUF mapping's Rss, the KV block pool's Rss and Size
#                                    /proc/PID/smaps (the pool: the largest
#                                    anonymous mapping)
#
# Beyond = VmRSS - weights - KV.  Weights is the smaller of
# kllm_weights_bytes (the GGUF's tensor data) and the GGUF mapping's Rss:
# the file's header pages (tokenizer strings), resident beside the
# tensors, count as overhead, and weights never count more than is
# resident.  KV is kllm_kv_block_bytes: the KV blocks in use, whole (a
# block is zeroed when a sequence takes it), of the sequences and of the
# prefix cache (KLLM_PREFIX_CACHE bounds its idle blocks), or the pool's
# Rss where that is less.  Pages of the pool beyond them (freed blocks'
# pages) count as overhead.  The gauge is updated between engine steps,
# so blocks a running step took count as overhead until it ends: the
# figure errs high by up to one step's new blocks.  Beside it,
# "by positions" uses kllm_kv_bytes (positions held x bytes per position,
# the metric's older meaning: no partly filled block, no idle cached
# block), and "beyond the KV pool's Rss" counts every resident page of
# the pool as KV (free of the gauge's lag, exact when freed blocks' pages
# go back to the system, else too low).  Printed per round: the peak of
# Beyond with its sample, Beyond after the round (the server idle,
# sequences held for reuse) and the round's tok/s, then a RESULT line.
# SMAPS=DIR keeps /proc/PID/smaps, smaps_rollup and status at each
# round's peak there.  The metrics reads themselves add a few requests a
# second to the server's load.
#
# Variables: BUILD, PORT (default 18300 + PID % 500), DURATION (20),
# ROUNDS (2), INTERVAL (0.25), STREAMS (16), SERVE_ARGS (extra kllm-serve
# options), SAMPLES (a file for every sample, TSV).  Exit status 1 when the
# server or a request failed, 3 when a peak is over LIMIT_MIB (default 32)
# -- only with CHECK=1, else 0.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
MODEL=${1:-$HOME/.cache/kllm/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
PORT=${PORT:-$((18300 + $$ % 500))}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-2}
INTERVAL=${INTERVAL:-0.25}
STREAMS=${STREAMS:-16}
LIMIT_MIB=${LIMIT_MIB:-32}
SERVE_ARGS=${SERVE_ARGS:-}
URL=http://127.0.0.1:$PORT

[ -f "$MODEL" ] || { echo "serve-rss: no model $MODEL" >&2; exit 1; }
for b in kllm-serve kllm-bench; do
	[ -x "$BUILD/bin/$b" ] || { echo "serve-rss: $BUILD/bin/$b not built" >&2; exit 1; }
done
MODEL=$(readlink -f "$MODEL")
TMP=$(mktemp -d /tmp/serve-rss.XXXXXX)
SAMPLES=${SAMPLES:-$TMP/samples.tsv}
SPID=
cleanup()
{
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck disable=SC2086
"$BUILD/bin/kllm-serve" -m "$MODEL" --alias smol -t 2 --parallel 16 --host 127.0.0.1 \
	--port "$PORT" $SERVE_ARGS 2>"$TMP/serve.log" &
SPID=$!
for _ in $(seq 100); do
	curl -sf "$URL/health" >/dev/null 2>&1 && break
	kill -0 "$SPID" 2>/dev/null || { cat "$TMP/serve.log" >&2; exit 1; }
	sleep 0.1
done
# the model loads on first use
curl -sf "$URL/v1/completions" -d '{"model":"smol","prompt":"Hello","max_tokens":4}' \
	>/dev/null || { echo "serve-rss: the first request failed" >&2; exit 1; }

# One sample, a TSV line: time VmRSS RssAnon RssFile kv kv_blocks weights
# gguf_rss pool_rss pool_size (kB but kv, kv_blocks and weights: bytes).
sample()
{
	local m kv wb st

	m=$(curl -sf --max-time 2 "$URL/metrics") || return 1
	kv=$(awk '$1 == "kllm_kv_bytes" { print $2 }' <<<"$m")
	kb=$(awk '$1 == "kllm_kv_block_bytes" { print $2 }' <<<"$m")
	wb=$(awk '$1 == "kllm_weights_bytes" { print $2 }' <<<"$m")
	st=$(awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s ", $2 }' "/proc/$SPID/status") ||
		return 1
	awk -v model="$MODEL" -v t="$(date +%s.%N)" -v kv="$kv" -v kb="$kb" -v wb="$wb" -v st="$st" '
		/^[0-9a-f]+-[0-9a-f]+ / { path = $6; anon = (NF == 5) }
		/^Size:/ { size = $2 }
		/^Rss:/ {
			if (path == model) gguf += $2
			if (anon && size > psize) { psize = size; prss = $2 }
		}
		END {
			split(st, s, " ")
			printf "%.2f\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\n", t, s[1], s[2],
			       s[3], kv, kb, wb, gguf, prss, psize
		}' "/proc/$SPID/smaps"
}

# Beyond weights and KV, in MiB, of one sample's VmRSS, KV bytes, weights
# bytes, GGUF mapping Rss and KV pool Rss: neither weights nor KV count
# more than is resident.
beyond='function beyond(rss, kv, wb, gguf, pool) {
		w = wb / 1024; if (gguf < w) w = gguf
		k = kv / 1024; if (pool < k) k = pool
		return (rss - w - k) / 1024 }'

printf "time\tVmRSS_kB\tRssAnon_kB\tRssFile_kB\tkv_B\tkv_blocks_B\tweights_B\tgguf_rss_kB\tpool_rss_kB\tpool_size_kB\n" \
	>"$SAMPLES"
status=0
for r in $(seq "$ROUNDS"); do
	"$BUILD/bin/kllm-bench" http --url "$URL/v1" -m smol -P "$STREAMS" --duration "$DURATION" \
		--prompt-tokens 80 --max-tokens 64 --chat --system "You are a helpful AI assistant." \
		--json >"$TMP/bench.json" 2>"$TMP/bench.err" &
	bpid=$!
	max=-1
	: >"$TMP/round.tsv"
	while kill -0 "$bpid" 2>/dev/null; do
		line=$(sample) || break
		echo "$line" >>"$TMP/round.tsv"
		b=$(awk -F'\t' "$beyond"' { printf "%.3f", beyond($2, $6, $7, $8, $9) }' <<<"$line")
		if [ -n "${SMAPS:-}" ] && awk -v b="$b" -v m="$max" 'BEGIN { exit !(b > m) }'; then
			mkdir -p "$SMAPS"
			cat "/proc/$SPID/smaps" >"$SMAPS/smaps.$r" 2>/dev/null
			cat "/proc/$SPID/smaps_rollup" >"$SMAPS/smaps_rollup.$r" 2>/dev/null
			cat "/proc/$SPID/status" >"$SMAPS/status.$r" 2>/dev/null
			max=$b
		fi
		sleep "$INTERVAL"
	done
	wait "$bpid" || { status=1; cat "$TMP/bench.err" >&2; }
	sleep 1
	after=$(sample) || { echo "serve-rss: the server is gone" >&2; exit 1; }
	cat "$TMP/round.tsv" >>"$SAMPLES"
	echo "$after" >>"$SAMPLES"
	tps=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0];
print("%.1f tok/s, %d requests, %d errors" % (r["tps"], r["requests"], r["errors"]))' \
		"$TMP/bench.json" 2>/dev/null || echo "no bench result")
	awk -F'\t' -v r="$r" -v tps="$tps" -v after="$after" -v lim="$LIMIT_MIB" "$beyond"'
		{ b = beyond($2, $6, $7, $8, $9); p = beyond($2, $5, $7, $8, $9); n++
		  q = beyond($2, $9 * 1024, $7, $8, $9)
		  if (p > pkp) pkp = p
		  if (q > pkq) pkq = q
		  if (b > pk) { pk = b; prss = $2; pkv = $6; ppos = $5; pw = $7; pg = $8; pp = $9
				ps = $10 } }
		END {
			split(after, a, "\t")
			ab = beyond(a[2], a[6], a[7], a[8], a[9])
			printf "round %d: %s; %d samples\n", r, tps, n
			printf "  peak beyond weights+KV %.1f MiB (by positions: %.1f): VmRSS %.1f MiB, " \
			       "weights %.1f MiB (GGUF mapping Rss %.1f), KV blocks %.1f MiB " \
			       "(positions %.1f; pool Rss %.1f of %.0f)\n",
			       pk, pkp, prss / 1024, pw / 1048576, pg / 1024, pkv / 1048576,
			       ppos / 1048576, pp / 1024, ps / 1024
			printf "  after the round: beyond %.1f MiB (by positions: %.1f): VmRSS %.1f MiB " \
			       "(RssAnon %.1f, RssFile %.1f), KV blocks %.1f MiB (positions %.1f; " \
			       "pool Rss %.1f)\n", ab, beyond(a[2], a[5], a[7], a[8], a[9]), a[2] / 1024,
			       a[3] / 1024, a[4] / 1024, a[6] / 1048576, a[5] / 1048576, a[9] / 1024
			printf "  peak beyond weights and the KV pool\047s Rss (exact where freed blocks\047 " \
			       "pages are given back, else flattering): %.1f MiB\n", pkq
			printf "RESULT round=%d peak_mib=%.1f after_mib=%.1f peak_pos_mib=%.1f " \
			       "peak_pool_mib=%.1f over=%d\n", r, pk, ab, pkp, pkq, pk > lim
		}' "$TMP/round.tsv" | tee "$TMP/result"
	grep -q "over=1" "$TMP/result" && [ "${CHECK:-0}" = 1 ] && [ "$status" = 0 ] && status=3
done
hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$SPID/status")
echo "VmHWM $hwm MiB (the peak of VmRSS, KV included)"
exit "$status"
