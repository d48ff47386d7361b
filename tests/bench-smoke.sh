#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bench tool runs end to end and emits valid JSON with the documented
# keys: `kernels` on a tiny shape, and `pp`, `tg`, `batched`, `prefix`, `serve` on a
# tiny synthetic model made by kllm-mkmodel; the shared options (--engine,
# -t, -r, -o FORMAT as llama-bench's) are checked, bad values and a missing
# device refused, each in one line with status 2 (1 for what is not the
# command line's fault); --help on stdout with status 0.  (Speed is
# measured by hand: docs/PERF.md.)  KLLM_BUILD picks the build directory
# (default build/).
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
# the engine three ways: --engine, KLLM_ENGINE, --engine over KLLM_ENGINE
pp=$("$bin/kllm-bench" pp -m "$model" -p 16,32 -t 1,2 -r 2 --engine cpu --json 2>/dev/null)
tg=$(KLLM_ENGINE=cpu "$bin/kllm-bench" tg -m "$model" -n 8 -t 2 -r 2 --json 2>/dev/null)
bt=$(KLLM_ENGINE=dev "$bin/kllm-bench" batched -m "$model" -P 1,3 -p 8 -n 4 -t 2 \
	--engine cpu --json 2>/dev/null)
# prefix: the cached second app, the same logits, K apps sharing the prefix
px=$("$bin/kllm-bench" prefix -m "$model" --system 100 --question 8 --apps 3 -t 2 \
	--engine cpu -o json 2>/dev/null)
python3 - "$px" <<'PY'
import json, sys
r = json.loads(sys.argv[1])[0]
for k in ("cold_ttft_ms", "cached_ttft_ms", "speedup", "kv_bytes_one_app",
          "kv_bytes_k_apps", "kv_bytes_k_copies", "reused_tokens", "same_logits"):
    assert k in r, (k, r)
# 100 system tokens: 6 blocks of 16 from the cache; the same logits
assert r["reused_tokens"] == 96 and r["same_logits"] is True, r
assert r["cold_ttft_ms"] > 0 and r["cached_ttft_ms"] > 0, r
# three apps hold the prefix once: less than three copies
assert r["kv_bytes_one_app"] < r["kv_bytes_k_apps"] < r["kv_bytes_k_copies"], r
print("bench-smoke: prefix ok (%.1fx)" % r["speedup"])
PY
# auto: the device where a kllm node opens, else the CPU; no -t: every CPU
ls /dev/accel/accel* /dev/dri/renderD* >/dev/null 2>&1 && node=1 || node=0
au=$(env -u KLLM_ENGINE "$bin/kllm-bench" pp -m "$model" -p 8 -r 1 -o json 2>/dev/null)
# the human tables too (exit status only)
"$bin/kllm-bench" tg -m "$model" -n 4 -p 8 -r 1 >/dev/null 2>&1
"$bin/kllm-bench" batched -m "$model" -P 2 -p 4 -n 2 >/dev/null 2>&1
# the plot of tokens/s against parallel sequences (gnuplot: tools/deps.sh)
if command -v gnuplot >/dev/null; then
	"$bin/kllm-bench" batched -m "$model" -P 1,2 -p 4 -n 2 --plot "$tmp/plot.png" \
		>/dev/null 2>&1 &&
		[ "$(head -c 4 "$tmp/plot.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
		{ echo "bench-smoke: batched --plot wrote no PNG"; exit 1; }
	echo "bench-smoke: batched plot ok"
elif [ "${CI:-false}" = true ]; then
	echo "bench-smoke: gnuplot missing (tools/deps.sh installs gnuplot-nox)"
	exit 1
fi
python3 - "$pp" "$tg" "$bt" "$au" "$node" <<'PY'
import json, os, sys
pp, tg, bt, au = (json.loads(a) for a in sys.argv[1:5])
node = sys.argv[5] == "1"
# the default: every CPU this process may use
assert au[0]["threads"] == min(len(os.sched_getaffinity(0)), 512), au
assert [(r["test"], r["threads"]) for r in pp] == \
    [("pp16", 1), ("pp32", 1), ("pp16", 2), ("pp32", 2)], pp
assert [r["test"] for r in tg] == ["tg8"], tg
for r in pp + tg + bt:
    assert r["engine"] == "cpu" and r["backend"] == "cpu", r
assert len(au) == 1 and au[0]["engine"] == "auto", au
assert au[0]["backend"].startswith("dev (") if node else au[0]["backend"] == "cpu", au
for r in pp + tg:
    for k in ("model", "model_type", "size_bytes", "n_params", "threads", "test", "reps",
              "tps_mean", "tps_sd", "samples"):
        assert k in r, (k, r)
    assert r["model_type"].startswith("llama ") and r["model_type"].endswith(
        " Q4_K - Medium"), r  # llama-bench's "<arch> <size> <file type>"
    assert r["reps"] == 2 and len(r["samples"]) == 2, r
    assert r["tps_mean"] > 0 and r["tps_sd"] >= 0 and r["n_params"] > 0, r
assert [r["pl"] for r in bt] == [1, 3], bt
for r in bt:
    assert r["pp"] == 8 and r["tg"] == 4 and r["n_kv"] == r["pl"] * 12, r
    assert r["speed_pp"] > 0 and r["speed_tg"] > 0 and r["speed"] > 0, r
print("bench-smoke: pp %d, tg %d, batched %d rows ok (auto: %s)" %
      (len(pp), len(tg), len(bt), au[0]["backend"]))
PY
# the tables name the engine that ran; pp's is llama-bench's (its columns,
# its model column "<arch> <size> <file type>")
"$bin/kllm-bench" pp -m "$model" -p 8 -r 1 -t 2 --engine cpu 2>/dev/null >"$tmp/pp.md"
head -n 1 "$tmp/pp.md" | tr -d ' ' | grep -qx '|model|size|params|backend|threads|test|t/s|' ||
	{ echo "bench-smoke: pp table header: $(head -n 1 "$tmp/pp.md")"; exit 1; }
grep -Eq '^\| llama [0-9.]+[KMB] Q4_K - Medium +\|.*\| cpu +\| +2 \| +pp8 \|' "$tmp/pp.md" ||
	{
		echo "bench-smoke: pp table without its model or backend column:"
		cat "$tmp/pp.md"
		exit 1
	}
# -o: llama-bench's output formats
"$bin/kllm-bench" pp -m "$model" -p 8 -n 2 -r 1 -t 1 --engine cpu -o csv 2>/dev/null >"$tmp/pp.csv"
"$bin/kllm-bench" pp -m "$model" -p 8 -r 1 -t 1 --engine cpu -o jsonl 2>/dev/null >"$tmp/pp.jsonl"
"$bin/kllm-bench" pp -m "$model" -p 8 -r 1 -t 1 --engine cpu -o sql 2>/dev/null >"$tmp/pp.sql"
"$bin/kllm-bench" batched -m "$model" -P 1 -p 4 -n 2 -t 1 --engine cpu -o jsonl 2>/dev/null \
	>"$tmp/bt.jsonl"
python3 - "$tmp" <<'PY'
import csv, json, sqlite3, sys
tmp = sys.argv[1]
rows = list(csv.DictReader(open(tmp + "/pp.csv")))
assert [r["test"] for r in rows] == ["pp8", "tg2"], rows
assert all(float(r["tps_mean"]) > 0 and r["backend"] == "cpu" for r in rows), rows
lines = open(tmp + "/pp.jsonl").read().splitlines()
assert len(lines) == 1 and json.loads(lines[0])["test"] == "pp8", lines
db = sqlite3.connect(":memory:")
db.executescript(open(tmp + "/pp.sql").read())
assert db.execute("SELECT test, threads, tps_mean > 0 FROM test").fetchall() == [("pp8", 1, 1)]
lines = open(tmp + "/bt.jsonl").read().splitlines()
assert len(lines) == 1 and json.loads(lines[0])["pl"] == 1, lines
print("bench-smoke: -o csv, jsonl, sql ok")
PY
"$bin/kllm-bench" batched -m "$model" -P 1 -p 4 -n 2 --engine cpu 2>/dev/null |
	grep -q '^kllm-bench batched: tiny-q4_k_m\.gguf, engine cpu (cpu), ' ||
	{ echo "bench-smoke: batched table without its engine"; exit 1; }

# Refused, in one line naming the mode and what is wrong: status 2 for a
# bad option, 1 for a bad KLLM_ENGINE or an engine that cannot be had.
refused() {	# STATUS PATTERN MODE ARGS...
	local want=$1 pat=$2 rc=0 err
	shift 2
	err=$("$bin/kllm-bench" "$@" 2>&1 >"$tmp/refused.out") || rc=$?
	[ "$rc" = "$want" ] && printf '%s\n' "$err" | head -n 1 | grep -q -- "$pat" &&
		[ ! -s "$tmp/refused.out" ] || {
		echo "bench-smoke: kllm-bench $*: status $rc (want $want), '$err'"
		exit 1
	}
	[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] ||
		{ echo "bench-smoke: kllm-bench $*: more than one line: '$err'"; exit 1; }
}
for mode in pp tg batched submit serve; do
	refused 2 "^kllm-bench $mode: bad value 'bogus' for --engine (cpu, dev or auto)" \
		$mode -m "$model" --engine bogus
done
refused 2 "^kllm-bench pp: bad value '1,0' for -t " pp -m "$model" -t 1,0
refused 2 "^kllm-bench batched: bad value '1,2' for -t " batched -m "$model" -t 1,2
refused 2 "^kllm-bench tg: bad value '0' for -r " tg -m "$model" -r 0
refused 2 "^kllm-bench pp: -m MODEL is required" pp -p 8
refused 2 "^kllm-bench pp: unknown option -x (see --help)" pp -m "$model" -x
refused 2 "^kllm-bench pp: -m needs a value" pp -m
refused 2 "^kllm-bench pp: bad value 'png' for -o (md, csv, json, jsonl or sql)" \
	pp -m "$model" -o png
refused 2 "^kllm-bench serve: bad value 'csv' for -o (md or json)" serve -m "$model" -o csv
# -c is the context size wherever it exists; serve's classes are --class
refused 2 "^kllm-bench serve: unknown option -c " serve -m "$model" -c interactive:1:4:2
refused 2 "^kllm-bench: unknown mode 'bogus' (see --help)" bogus
refused 2 "^kllm-bench: no mode given (see --help)"
# --help of every mode on stdout, status 0; --version
for mode in kernels pp tg batched compare submit serve http; do
	"$bin/kllm-bench" $mode --help >"$tmp/help.out" 2>"$tmp/help.err" &&
		grep -q "^usage: kllm-bench $mode " "$tmp/help.out" && [ ! -s "$tmp/help.err" ] ||
		{ echo "bench-smoke: kllm-bench $mode --help"; exit 1; }
done
"$bin/kllm-bench" --version | grep -Eqx 'kllm-bench [0-9]+\.[0-9]+\.[0-9]+' ||
	{ echo "bench-smoke: kllm-bench --version"; exit 1; }
KLLM_ENGINE=gpu refused 1 "^kllm-bench tg: KLLM_ENGINE=gpu: expected cpu, dev or auto" \
	tg -m "$model" -n 2 -r 1
if [ "$node" = 0 ]; then
	# dev without a kllm node (or a library without the device engine):
	# no silent fall back to the CPU
	for mode in pp tg batched; do
		refused 1 "^kllm-bench $mode: engine dev: device engine" $mode -m "$model" \
			-p 4 -n 2 -r 1 --engine dev
	done
	echo "bench-smoke: --engine dev without a node fails in one line (pp, tg, batched)"
fi
echo "bench-smoke: bad options and engines refused"

# serve: client processes of two classes on the cpu engine (a sweep of the
# background load and the decode scaling), its JSON; the table and its plot
sv=$("$bin/kllm-bench" serve -m "$model" --engine cpu --class interactive:1:4:3 \
	--class background:1:6:3 -r 2 -t 1 --sweep 0,1 --decode-scaling=2:4 --json 2>/dev/null)
python3 - "$sv" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["engine"] == "cpu" and d["backend"] == "cpu", d
assert [r["background"] for r in d["runs"]] == [0, 1], d["runs"]
for r in d["runs"]:
    assert r["total_tps"] > 0 and r["seconds"] > 0, r
    for c in r["classes"]:
        for k in ("ttft_p50_ms", "ttft_p99_ms", "tok_p50_ms", "tok_p99_ms", "gen_tps"):
            assert c[k] > 0, (k, c)
        assert c["ttft_p50_ms"] <= c["ttft_p99_ms"] and c["tok_p50_ms"] <= c["tok_p99_ms"], c
        assert c["tokens"] == c["requests"] * c["gen"] == c["requests"] * 3, c
        # background clients go on until the interactive ones are done
        assert c["requests"] == 2 if c["class"] == "interactive" else c["requests"] >= 2, c
assert [c["class"] for c in d["runs"][1]["classes"]] == ["interactive", "background"], d
assert [x["background"] for x in d["interactive_p99_ratio"]] == [1], d
s = d["decode_scaling"]
assert s["prompt"] == 2 and s["gen"] == 4 and s["tps_1"] > 0 and s["tps_4"] > 0, s
assert abs(s["ratio"] - s["tps_4"] / s["tps_1"]) < 1e-3 * s["ratio"], s
print("bench-smoke: serve %d runs ok" % len(d["runs"]))
PY
plot=
command -v gnuplot >/dev/null && plot="--plot $tmp/serve.png"
# shellcheck disable=SC2086
"$bin/kllm-bench" serve -m "$model" --engine cpu --class interactive:1:4:2 \
	--class background:1:4:2 -r 1 -t 1 --sweep 0,1 $plot >/dev/null 2>&1
[ -z "$plot" ] || [ "$(head -c 4 "$tmp/serve.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
	{ echo "bench-smoke: serve --plot wrote no PNG"; exit 1; }
# the device engine without a kllm node: one line, status 1
if ! ls /dev/accel/accel* /dev/dri/renderD* >/dev/null 2>&1; then
	rc=0
	err=$("$bin/kllm-bench" serve -m "$model" --engine dev --class normal:2:4:2 2>&1 \
		>/dev/null) || rc=$?
	[ "$rc" = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] ||
		{ echo "bench-smoke: serve --engine dev without a node: status $rc, '$err'"; exit 1; }
	echo "bench-smoke: serve --engine dev without a node fails in one line"
fi

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
	--btg 4 -r 1 --engine cpu --json 2>/dev/null)
[ "$node" = 1 ] || LLAMA_CPP_BIN=$fake refused 1 "^kllm-bench compare: engine dev: device engine" \
	compare -m "$model" -p 4 -n 0 -P 0 -r 1 --engine dev
python3 - "$cmp" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
assert [r["test"] for r in rows] == ["pp16", "batched2"], rows
for r in rows:
    for k in ("model", "test", "threads", "kllm_tps", "llamacpp_tps", "ratio"):
        assert k in r, (k, r)
    assert r["llamacpp_repack"] is False and r["threads"] == 2, r
    assert r["kllm_engine"] == "cpu" and r["kllm_backend"] == "cpu", r
    assert abs(r["ratio"] - r["kllm_tps"] / r["llamacpp_tps"]) < 1e-3 * r["ratio"], r
assert rows[0]["llamacpp_tps"] == 40.0 and rows[1]["llamacpp_tps"] == 20.0, rows
print("bench-smoke: compare %d rows ok" % len(rows))
PY

# submit: the cost of a job alone, on a one-layer model.  Without a kllm
# node (the usual CI machine) only the in-process column runs and --engine
# dev fails saying why; with one, the ioctl and io_uring columns too.
sub_model=$tmp/submit.gguf
"$bin/kllm-mkmodel" -o "$sub_model" --arch llama --layers 1 --embd 32 --heads 1 \
	--kv-heads 1 --ffn 32 --vocab 288 --type f32 >"$tmp/mk.log" 2>&1 ||
	{ cat "$tmp/mk.log"; exit 1; }
sub=$("$bin/kllm-bench" submit -m "$sub_model" -b 1,4 -n 16 -r 2 --json 2>"$tmp/sub.err")
"$bin/kllm-bench" submit -m "$sub_model" -b 2 -n 4 -r 1 >/dev/null 2>&1
rc=0
"$bin/kllm-bench" submit -m "$sub_model" -b 1 -n 2 -r 1 --engine dev >/dev/null 2>"$tmp/dev.err" ||
	rc=$?
python3 - "$sub" "$rc" "$(cat "$tmp/dev.err")" <<'PY'
import json, sys
rows, rc, err = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
assert [(r["batch"], r["jobs"]) for r in rows] == [(1, 16), (4, 16)], rows
dev = rows[0]["device"]
for r in rows:
    for k in ("model", "simd", "threads", "reps", "device", "device_note", "ring",
              "inproc_us", "inproc_cpu_us", "inproc_syscalls", "ioctl_us", "ioctl_cpu_us",
              "ioctl_syscalls", "uring_us", "uring_cpu_us", "uring_syscalls"):
        assert k in r, (k, r)
    assert r["inproc_us"] > 0 and r["inproc_cpu_us"] > 0 and r["inproc_syscalls"] == 0, r
    if dev is None:
        assert "no kllm node" in r["device_note"] or "not built in" in r["device_note"], r
        assert r["ioctl_us"] is None and r["uring_us"] is None, r
        assert r["ioctl_cpu_us"] is None and r["uring_cpu_us"] is None, r
    else:
        assert r["ioctl_us"] > 0 and r["ioctl_syscalls"] >= 2, r
if dev is None:
    assert rc == 1 and "device engine: " in err, (rc, err)
else:
    assert rc == 0, (rc, err)
print("bench-smoke: submit %d rows ok (device: %s)" % (len(rows), dev))
PY

# kllm-bench http against a real kllm-serve on loopback (the tiny model):
# 2 clients, 2 requests each, every request answered, JSON with the keys.
if [ -x "$bin/kllm-serve" ]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$bin/kllm-serve" -m "$model" --alias tiny -t 1 -np 2 --port "$port" >/dev/null 2>"$tmp/serve.log" &
	spid=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
		sleep 0.1
	done
	rc=0
	"$bin/kllm-bench" http --url "http://127.0.0.1:$port/v1" -m tiny -P 2 -n 2 \
		--max-tokens 8 --prompt-tokens 16 --ignore-eos --json >"$tmp/http.json" \
		2>"$tmp/http.err" || rc=$?
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	[ $rc -eq 0 ] && python3 - "$tmp/http.json" <<'PY' || { echo "bench-smoke: kllm-bench http (rc $rc)"; cat "$tmp/http.err"; tail -5 "$tmp/serve.log"; exit 1; }
import json, sys
d = json.load(open(sys.argv[1]))
runs = d if isinstance(d, list) else d.get("runs", [d])
r = runs[-1]
for k in ("ttft_p50_ms", "ttft_p99_ms", "tok_p50_ms", "tok_p99_ms", "tps"):
    assert k in r, k
assert r["errors"] == 0 and r["requests"] == 4 and r["completion_tokens"] == 32, r
print("bench-smoke: http 2 clients x 2 requests against kllm-serve ok (%.1f tok/s)" % r["tps"])
PY
fi
