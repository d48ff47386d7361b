#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bench tool runs end to end on a tiny shape and emits valid JSON with
# the documented keys.  (Speed is measured by hand: docs/PERF.md.)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$("$top/build/bin/kllm-bench" kernels --shape 135m --types q4_0,q8_0 --threads 1,2 --reps 1 --json)
python3 - "$out" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
assert len(rows) == 4, rows
for r in rows:
    for k in ("format", "threads", "matvec_gbps", "matmul_gflops", "read_bw_gbps"):
        assert k in r, (k, r)
    assert r["matvec_gbps"] > 0 and r["matmul_gflops"] > 0 and r["read_bw_gbps"] > 0, r
print("bench-smoke: %d rows ok" % len(rows))
PY
