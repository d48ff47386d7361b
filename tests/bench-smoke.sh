#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bench tool runs end to end and emits valid JSON with the documented
# keys: `kernels` on a tiny shape, and `pp`, `tg`, `batched` on a tiny
# synthetic model made by kllm-mkmodel.  (Speed is measured by hand:
# docs/PERF.md.)  KLLM_BUILD picks the build directory (default build/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${KLLM_BUILD:-$top/build}/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$bin/kllm-bench" kernels --shape 135m --types q4_0,q8_0 --threads 1,2 --reps 1 --json)
python3 - "$out" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
assert len(rows) == 4, rows
for r in rows:
    for k in ("format", "threads", "matvec_gbps", "matmul_gflops", "read_bw_gbps"):
        assert k in r, (k, r)
    assert r["matvec_gbps"] > 0 and r["matmul_gflops"] > 0 and r["read_bw_gbps"] > 0, r
print("bench-smoke: kernels %d rows ok" % len(rows))
PY

model=$tmp/tiny-q4_k_m.gguf
"$bin/kllm-mkmodel" -o "$model" --shape tiny --type q4_k_m >"$tmp/mk.log" 2>&1 ||
	{ cat "$tmp/mk.log"; exit 1; }
pp=$("$bin/kllm-bench" pp -m "$model" -p 16,32 -t 1,2 -r 2 --json 2>/dev/null)
tg=$("$bin/kllm-bench" tg -m "$model" -n 8 -t 2 -r 2 --json 2>/dev/null)
bt=$("$bin/kllm-bench" batched -m "$model" -P 1,3 -p 8 -n 4 -t 2 --json 2>/dev/null)
# the human tables too (exit status only)
"$bin/kllm-bench" tg -m "$model" -n 4 -p 8 -r 1 >/dev/null 2>&1
"$bin/kllm-bench" batched -m "$model" -P 2 -p 4 -n 2 >/dev/null 2>&1
# the plot of tokens/s against parallel sequences (gnuplot: tools/deps.sh)
if command -v gnuplot >/dev/null; then
	"$bin/kllm-bench" batched -m "$model" -P 1,2 -p 4 -n 2 -o "$tmp/plot.png" >/dev/null 2>&1 &&
		[ "$(head -c 4 "$tmp/plot.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
		{ echo "bench-smoke: batched -o wrote no PNG"; exit 1; }
	echo "bench-smoke: batched plot ok"
elif [ "${CI:-false}" = true ]; then
	echo "bench-smoke: gnuplot missing (tools/deps.sh installs gnuplot-nox)"
	exit 1
fi
python3 - "$pp" "$tg" "$bt" <<'PY'
import json, sys
pp, tg, bt = (json.loads(a) for a in sys.argv[1:4])
assert [(r["test"], r["threads"]) for r in pp] == \
    [("pp16", 1), ("pp32", 1), ("pp16", 2), ("pp32", 2)], pp
assert [r["test"] for r in tg] == ["tg8"], tg
for r in pp + tg:
    for k in ("model", "size_bytes", "n_params", "threads", "test", "reps",
              "tps_mean", "tps_sd", "samples"):
        assert k in r, (k, r)
    assert r["reps"] == 2 and len(r["samples"]) == 2, r
    assert r["tps_mean"] > 0 and r["tps_sd"] >= 0 and r["n_params"] > 0, r
assert [r["pl"] for r in bt] == [1, 3], bt
for r in bt:
    assert r["pp"] == 8 and r["tg"] == 4 and r["n_kv"] == r["pl"] * 12, r
    assert r["speed_pp"] > 0 and r["speed_tg"] > 0 and r["speed"] > 0, r
print("bench-smoke: pp %d, tg %d, batched %d rows ok" % (len(pp), len(tg), len(bt)))
PY

# compare: the plumbing around llama.cpp's tools, with stand-ins that print
# what llama-bench -o jsonl and llama-batched-bench --output-format jsonl do
fake=$tmp/llamacpp
mkdir -p "$fake"
cat >"$fake/llama-bench" <<'SH'
#!/bin/sh
echo "load log" >&2
echo '{"build_commit": "0", "n_threads": 2, "repack": false, "n_prompt": 16, "n_gen": 0, "avg_ts": 40.0, "stddev_ts": 1.5}'
SH
cat >"$fake/llama-batched-bench" <<'SH'
#!/bin/sh
echo "main: n_kv_max = 24"
echo '{"n_kv_max": 24, "pp": 8, "tg": 4, "pl": 2, "n_kv": 24, "t_pp": 0.1, "speed_pp": 160.0, "t_tg": 0.1, "speed_tg": 20.0, "t": 0.2, "speed": 120.0}'
SH
chmod +x "$fake/llama-bench" "$fake/llama-batched-bench"
cmp=$(LLAMA_CPP_BIN=$fake "$bin/kllm-bench" compare -m "$model" -p 16 -n 0 -P 2 --bpp 8 \
	--btg 4 -r 1 --json 2>/dev/null)
python3 - "$cmp" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
assert [r["test"] for r in rows] == ["pp16", "batched2"], rows
for r in rows:
    for k in ("model", "test", "threads", "kllm_tps", "llamacpp_tps", "ratio"):
        assert k in r, (k, r)
    assert r["llamacpp_repack"] is False and r["threads"] == 2, r
    assert abs(r["ratio"] - r["kllm_tps"] / r["llamacpp_tps"]) < 1e-3 * r["ratio"], r
assert rows[0]["llamacpp_tps"] == 40.0 and rows[1]["llamacpp_tps"] == 20.0, rows
print("bench-smoke: compare %d rows ok" % len(rows))
PY
