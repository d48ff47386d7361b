#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate tests/golden/dequant.txt: golden (de)quantization data.

Random but valid blocks of each weight format (plus edge cases: zero and
negative scales, f16 subnormal and extreme scales, all-ones and all-zero
quants) are decoded with the PyPI `gguf` package (gguf.quants.dequantize),
an implementation independent of kllm's C code.  Random float rows are also
quantized with gguf.quants.quantize for the formats whose Python quantizer
gguf documents as matching ggml's reference (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
BF16) and with numpy's float16 cast for F16.

Output format (text, one record per three lines):

    # comment lines (the first records the gguf and numpy versions)
    dq <ggml type> <name> <elements> <bytes>    dequantization case
    <raw block bytes, hex>
    <expected float32 bit patterns: 8 hex digits per value, the number
     printed most significant digit first (not the memory bytes)>
    q <ggml type> <name> <elements> <bytes>     quantization case
    <input float32 bit patterns, as above>
    <expected block bytes, hex>

Run from anywhere:  python3 tests/golden/gen_dequant.py
"""

import importlib.metadata
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

SEED = 20241101
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dequant.txt")

rng = np.random.default_rng(SEED)

# f16 bit patterns worth a block each
F16_ZERO, F16_NZERO = 0x0000, 0x8000
F16_SUB_MIN, F16_SUB_MAX = 0x0001, 0x03FF
F16_NSUB_MIN, F16_NSUB_MAX = 0x8001, 0x83FF
F16_MAX, F16_NMAX = 0x7BFF, 0xFBFF
F16_NORM_MIN = 0x0400


def h(x):
    """f16 bit pattern of a float."""
    return int(np.float16(x).view(np.uint16))


def rand_d(lo=-0.1, hi=0.1):
    return h(rng.uniform(lo, hi))


def rand_bytes(n):
    return bytes(rng.integers(0, 256, n, dtype=np.uint8))


def u16(v):
    return struct.pack("<H", v)


def q4_0(d, qs):
    return u16(d) + qs


def q4_1(d, m, qs):
    return u16(d) + u16(m) + qs


def q5_0(d, qh, qs):
    return u16(d) + qh + qs


def q5_1(d, m, qh, qs):
    return u16(d) + u16(m) + qh + qs


def q8_0(d, qs):
    return u16(d) + qs


def q4_K(d, dmin, scales, qs):
    return u16(d) + u16(dmin) + scales + qs


def q5_K(d, dmin, scales, qh, qs):
    return u16(d) + u16(dmin) + scales + qh + qs


def q6_K(ql, qh, scales, d):
    return ql + qh + scales + u16(d)


def blocks_q4_0():
    b = [q4_0(rand_d(), rand_bytes(16)) for _ in range(4)]
    b += [
        q4_0(F16_ZERO, rand_bytes(16)),
        q4_0(F16_NZERO, rand_bytes(16)),
        q4_0(F16_SUB_MIN, b"\xff" * 16),
        q4_0(F16_NSUB_MAX, b"\x00" * 16),
        q4_0(F16_MAX, b"\xff" * 16),
        q4_0(F16_NMAX, rand_bytes(16)),
        q4_0(h(-0.75), b"\x0f\xf0" * 8),
        q4_0(F16_NORM_MIN, b"\x88" * 16),
    ]
    return b


def blocks_q4_1():
    b = [q4_1(rand_d(0, 0.1), rand_d(-1, 0), rand_bytes(16)) for _ in range(4)]
    b += [
        q4_1(F16_ZERO, h(-0.5), rand_bytes(16)),
        q4_1(h(0.25), F16_ZERO, rand_bytes(16)),
        q4_1(F16_SUB_MAX, F16_NSUB_MIN, b"\xff" * 16),
        q4_1(F16_MAX, F16_MAX, b"\xff" * 16),
        q4_1(F16_NMAX, F16_MAX, rand_bytes(16)),
        q4_1(h(-0.125), h(-3.0), b"\x00" * 16),
        q4_1(F16_NZERO, F16_NZERO, b"\xf0\x0f" * 8),
    ]
    return b


def blocks_q5_0():
    b = [q5_0(rand_d(), rand_bytes(4), rand_bytes(16)) for _ in range(4)]
    b += [
        q5_0(F16_ZERO, rand_bytes(4), rand_bytes(16)),
        q5_0(F16_SUB_MIN, b"\xff" * 4, b"\xff" * 16),
        q5_0(F16_NSUB_MAX, b"\x00" * 4, b"\x00" * 16),
        q5_0(F16_MAX, b"\xff" * 4, b"\x00" * 16),
        q5_0(F16_NMAX, b"\x00" * 4, b"\xff" * 16),
        q5_0(h(-0.3), b"\xaa" * 4, rand_bytes(16)),
        q5_0(h(0.3), b"\x55\x00\xff\x0f", rand_bytes(16)),
    ]
    return b


def blocks_q5_1():
    b = [q5_1(rand_d(0, 0.1), rand_d(-1, 0), rand_bytes(4), rand_bytes(16))
         for _ in range(4)]
    b += [
        q5_1(F16_ZERO, h(1.5), rand_bytes(4), rand_bytes(16)),
        q5_1(F16_SUB_MAX, F16_NSUB_MAX, b"\xff" * 4, b"\xff" * 16),
        q5_1(F16_MAX, F16_NMAX, b"\xff" * 4, b"\xff" * 16),
        q5_1(h(-0.2), h(0.7), b"\x0f\xf0\x33\xcc", rand_bytes(16)),
        q5_1(F16_NZERO, F16_NZERO, b"\x00" * 4, b"\x00" * 16),
    ]
    return b


def blocks_q8_0():
    b = [q8_0(rand_d(), rand_bytes(32)) for _ in range(4)]
    b += [
        q8_0(F16_ZERO, rand_bytes(32)),
        q8_0(F16_NZERO, rand_bytes(32)),
        q8_0(F16_SUB_MIN, bytes([0x80, 0x7F] * 16)),
        q8_0(F16_MAX, bytes([0x80, 0x7F, 0x00, 0xFF] * 8)),
        q8_0(F16_NMAX, rand_bytes(32)),
        q8_0(h(-1.0), bytes(range(0, 256, 8))),
    ]
    return b


def blocks_q4_K():
    b = [q4_K(rand_d(0, 0.01), rand_d(0, 0.01), rand_bytes(12), rand_bytes(128))
         for _ in range(3)]
    b += [
        q4_K(F16_ZERO, rand_d(), rand_bytes(12), rand_bytes(128)),
        q4_K(rand_d(), F16_ZERO, b"\xff" * 12, rand_bytes(128)),
        q4_K(F16_SUB_MAX, F16_SUB_MIN, rand_bytes(12), b"\xff" * 128),
        q4_K(F16_MAX, F16_MAX, b"\xff" * 12, b"\xff" * 128),
        q4_K(h(-0.02), F16_NMAX, b"\x00" * 12, rand_bytes(128)),
        q4_K(h(-0.02), h(-0.01), rand_bytes(12), b"\x0f\xf0" * 64),
    ]
    return b


def blocks_q5_K():
    b = [q5_K(rand_d(0, 0.01), rand_d(0, 0.01), rand_bytes(12), rand_bytes(32),
              rand_bytes(128)) for _ in range(3)]
    b += [
        q5_K(F16_ZERO, rand_d(), rand_bytes(12), rand_bytes(32), rand_bytes(128)),
        q5_K(rand_d(), F16_ZERO, b"\xff" * 12, b"\xff" * 32, rand_bytes(128)),
        q5_K(F16_SUB_MAX, F16_NSUB_MIN, rand_bytes(12), b"\x00" * 32,
             b"\xff" * 128),
        q5_K(F16_MAX, F16_MAX, b"\xff" * 12, b"\xff" * 32, b"\xff" * 128),
        q5_K(h(-0.02), h(0.03), rand_bytes(12), b"\xa5" * 32, rand_bytes(128)),
    ]
    return b


def blocks_q6_K():
    b = [q6_K(rand_bytes(128), rand_bytes(64), rand_bytes(16), rand_d(-0.01, 0.01))
         for _ in range(3)]
    b += [
        q6_K(rand_bytes(128), rand_bytes(64), rand_bytes(16), F16_ZERO),
        q6_K(b"\xff" * 128, b"\xff" * 64, b"\x80" * 16, F16_MAX),
        q6_K(b"\x00" * 128, b"\x00" * 64, b"\x80" * 16, F16_NMAX),
        q6_K(b"\xff" * 128, b"\xff" * 64, b"\x7f" * 16, F16_SUB_MIN),
        q6_K(rand_bytes(128), b"\x1b" * 64,
             bytes([(i * 17) & 0xFF for i in range(16)]), h(-0.015)),
    ]
    return b


def f16_row():
    special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400,
               0x7BFF, 0xFBFF, 0x3C00, 0xBC00, 0x7C00, 0xFC00, 0x7E00, 0xFE00,
               0x7FFF, 0x3555, 0x0200, 0x4000]
    bits = rng.integers(0, 0x10000, 300, dtype=np.uint32)
    # finite values only among the random ones; NaN payloads are above
    bits = [int(v) for v in bits if (v >> 10) & 0x1F != 0x1F][:256 - len(special)]
    return np.array(special + bits, dtype=np.uint16)


def bf16_row():
    special = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80,
               0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0xFFC1, 0x4049, 0xC2F7]
    bits = rng.integers(0, 0x10000, 256 - len(special), dtype=np.uint32)
    return np.array(special + [int(v) for v in bits], dtype=np.uint16)


def hexf32(a):
    a = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    return "".join("%08x" % int(v) for v in a)


def ggml_name(qtype):
    """ggml spells the K-quants with a capital K: q4_K."""
    name = qtype.name.lower()
    return name[:-2] + "_K" if name.endswith("_k") else name


def dq_case(out, qtype, raw):
    raw = bytes(raw)
    data = np.frombuffer(raw, dtype=np.uint8)
    vals = quants.dequantize(data, qtype).astype(np.float32, copy=False).reshape(-1)
    out.append("dq %d %s %d %d" % (int(qtype), ggml_name(qtype), vals.size, len(raw)))
    out.append(raw.hex())
    out.append(hexf32(vals))


def quant_rows(block):
    """Rows of floats (several blocks) exercising a quantizer."""
    rows = [rng.standard_normal(4 * block).astype(np.float32)]
    special = np.zeros(6 * block, dtype=np.float32)
    s = special.reshape(6, block)
    s[0] = 0                                    # all zero: d = 0
    s[1] = 0.375                                # constant: max == min
    s[2] = rng.uniform(-1, 1, block)
    s[2][5], s[2][9] = 3.0, -3.0                # |max| tie: first wins
    s[3] = rng.uniform(-1e-6, 1e-6, block)      # f16 subnormal scales
    s[4] = rng.uniform(-1, 1, block) * 30000    # large
    s[4][block - 1] = -65000.0
    s[5] = np.arange(block, dtype=np.float32) - block / 2  # exact steps
    rows.append(special)
    # Scale exactly 1 for one format each (Q4_0: max -8, Q5_0: -16, Q8_0:
    # 127, Q4_1: 0..15, Q5_1: 0..31), the rest exact halves: the rounding
    # of ties (roundf, trunc(x + 0.5)) must match ggml's.
    halves = np.arange(block, dtype=np.float32) % 15 + np.float32(0.5)
    halves *= np.where(np.arange(block) % 2, -1, 1).astype(np.float32)
    for first in (-8.0, -16.0, 127.0):
        t = halves.copy()
        t[0] = first
        rows.append(t)
    for top in (15.0, 31.0):
        t = np.abs(halves) % top
        t[0], t[1] = 0.0, top
        rows.append(t.astype(np.float32))
    return np.concatenate(rows)


def q_case(out, qtype, x):
    x = np.asarray(x, dtype=np.float32)
    if qtype == T.F16:
        with np.errstate(over="ignore"):    # 65520 and up become inf
            raw = x.astype(np.float16).tobytes()
    else:
        raw = quants.quantize(x.reshape(1, -1), qtype).tobytes()
    out.append("q %d %s %d %d" % (int(qtype), ggml_name(qtype), x.size, len(raw)))
    out.append(hexf32(x))
    out.append(raw.hex())


def main():
    ver_gguf = importlib.metadata.version("gguf")
    ver_np = importlib.metadata.version("numpy")
    out = [
        "# kllm golden (de)quantization data v1: gguf %s, numpy %s, seed %d"
        % (ver_gguf, ver_np, SEED),
        "# made by tests/golden/gen_dequant.py; do not edit by hand",
        "# dq TYPE NAME N BYTES / raw hex / N float32 bit patterns (%08x)",
        "# q TYPE NAME N BYTES / N input float32 bit patterns / expected hex",
    ]
    dq_case(out, T.F16, f16_row().tobytes())
    dq_case(out, T.BF16, bf16_row().tobytes())
    for qtype, gen in ((T.Q4_0, blocks_q4_0), (T.Q4_1, blocks_q4_1),
                       (T.Q5_0, blocks_q5_0), (T.Q5_1, blocks_q5_1),
                       (T.Q8_0, blocks_q8_0), (T.Q4_K, blocks_q4_K),
                       (T.Q5_K, blocks_q5_K), (T.Q6_K, blocks_q6_K)):
        dq_case(out, qtype, b"".join(gen()))

    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        q_case(out, qtype, quant_rows(32))
    fx = np.concatenate([rng.standard_normal(192).astype(np.float32),
                         np.array([65519.0, 65520.0, -70000.0, 1e-8, -3e-8,
                                   5.9604645e-08, 2.9802322e-08, 2.9802326e-08,
                                   1.0009765625, 1.00146484375, 3.4e38, -0.0,
                                   6.1035156e-05, 6.0975552e-05, 0.1, -0.1],
                                  dtype=np.float32)])
    q_case(out, T.F16, fx)
    bx = np.concatenate([fx, np.array([1.00390625, 1.01171875, 1.0039063,
                                       -1.01171875, 3.3961514e38, 3.3961516e38],
                                      dtype=np.float32)])
    bx = np.concatenate([bx, rng.standard_normal(256 - bx.size).astype(np.float32)])
    q_case(out, T.BF16, bx)

    text = "\n".join(out) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (OUT, len(text)), file=sys.stderr)


if __name__ == "__main__":
    main()
