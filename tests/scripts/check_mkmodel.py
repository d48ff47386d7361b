#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check kllm-mkmodel's output with the reference reader (PyPI `gguf`).

usage: check_mkmodel.py [PATH/TO/kllm-mkmodel]

For every --type it builds a small model and verifies, independently of the
C code: the llama keys and their values, the exact tensor list, shapes,
types (including llama.cpp's Q4_K_M mix and its block-size fallbacks), byte
sizes, data alignment, and that the dequantized weights are finite with mean
~0 and standard deviation ~1/sqrt(fan-in).  Also: tied embeddings, copying a
real tokenizer, determinism of --seed, the qwen2 (Q/K/V biases) and gemma3
(QK-norm, post-norms, head_dim, sliding window) architectures, and
rejection of bad arguments.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as Q, GGUFReader, GGUFWriter
from gguf.quants import dequantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/bin/kllm-mkmodel")

# --type -> (base tensor type, llama.cpp general.file_type)
TYPES = {
    "f32": (Q.F32, 0), "f16": (Q.F16, 1), "bf16": (Q.BF16, 32),
    "q4_0": (Q.Q4_0, 2), "q4_1": (Q.Q4_1, 3), "q5_0": (Q.Q5_0, 8),
    "q5_1": (Q.Q5_1, 9), "q8_0": (Q.Q8_0, 7), "q4_k": (Q.Q4_K, 14),
    "q5_k": (Q.Q5_K, 16), "q6_k": (Q.Q6_K, 18), "q4_k_m": (Q.Q4_K, 15),
}
ROLES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, expect_ok=True):
    p = subprocess.run([TOOL] + args, capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        raise SystemExit(f"kllm-mkmodel {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


def field(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


def more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def fallback(t, ncols):
    """llama.cpp's tensor_type_fallback."""
    if ncols % GGML_QUANT_SIZES[t][0] == 0:
        return t
    t = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}.get(t, t)
    return t if ncols % GGML_QUANT_SIZES[t][0] == 0 else Q.F16


def expected_tensors(tname, L, D, H, KV, F, V, tied, arch="llama", HD=None):
    base, _ = TYPES[tname]
    mix = tname == "q4_k_m"
    hd = HD or D // H
    q, kv = hd * H, hd * KV

    def wt(role, layer, ncols):
        is_out = role == "output" or (tied and role == "token_embd")
        if mix and is_out:
            return Q.Q8_0 if ncols % 256 else Q.Q6_K
        t = base
        if mix and role in ("attn_v", "ffn_down") and more_bits(layer, L):
            t = Q.Q6_K
        return fallback(t, ncols)

    want = {"token_embd.weight": (wt("token_embd", 0, D), (D, V))}
    shapes = {"attn_q": (D, q), "attn_k": (D, kv), "attn_v": (D, kv),
              "attn_output": (q, D), "ffn_gate": (D, F), "ffn_up": (D, F),
              "ffn_down": (F, D)}
    vecs = {"qwen2": {"attn_q.bias": q, "attn_k.bias": kv, "attn_v.bias": kv},
            "gemma3": {"attn_q_norm.weight": hd, "attn_k_norm.weight": hd,
                       "post_attention_norm.weight": D, "post_ffw_norm.weight": D}}
    for i in range(L):
        want[f"blk.{i}.attn_norm.weight"] = (Q.F32, (D,))
        want[f"blk.{i}.ffn_norm.weight"] = (Q.F32, (D,))
        for role in ROLES:
            want[f"blk.{i}.{role}.weight"] = (wt(role, i, shapes[role][0]), shapes[role])
        for name, n in vecs.get(arch, {}).items():
            want[f"blk.{i}.{name}"] = (Q.F32, (n,))
    want["output_norm.weight"] = (Q.F32, (D,))
    if not tied:
        want["output.weight"] = (wt("output", 0, D), (D, V))
    return want


def check_model(path, tname, L, D, H, KV, F, V, C, tied=False, stats=True,
                arch="llama", HD=None, swa=None):
    tag = f"{os.path.basename(path)}"
    r = GGUFReader(path)
    a = arch + "."
    keys = {
        "general.architecture": arch, a + "block_count": L,
        a + "embedding_length": D, a + "feed_forward_length": F,
        a + "attention.head_count": H, a + "attention.head_count_kv": KV,
        a + "context_length": C, a + "rope.dimension_count": HD or D // H,
        "general.file_type": TYPES[tname][1], a + "vocab_size": V,
        a + "attention.key_length": HD, a + "attention.value_length": HD,
        a + "attention.sliding_window": swa,
    }
    for k, v in keys.items():
        check(field(r, k) == v, f"{tag}: {k} = {field(r, k)!r}, want {v!r}")
    eps = field(r, a + "attention.layer_norm_rms_epsilon")
    check(eps is not None and 0 < eps < 1e-3, f"{tag}: rms epsilon {eps}")
    check((field(r, a + "rope.freq_base") or 0) > 0, f"{tag}: rope.freq_base")
    check((field(r, a + "rope.freq_base_swa") is not None) == bool(swa),
          f"{tag}: rope.freq_base_swa")
    check(isinstance(field(r, "general.name"), str), f"{tag}: general.name")
    toks = field(r, "tokenizer.ggml.tokens")
    check(toks is not None and len(toks) == V, f"{tag}: {len(toks or [])} tokens, want {V}")
    check(field(r, "tokenizer.ggml.model") in ("llama", "gpt2"), f"{tag}: tokenizer model")

    want = expected_tensors(tname, L, D, H, KV, F, V, tied, arch, HD)
    got = {t.name: t for t in r.tensors}
    check(set(got) == set(want), f"{tag}: tensors differ: extra {sorted(set(got) - set(want))[:5]}"
          f" missing {sorted(set(want) - set(got))[:5]}")
    align = field(r, "general.alignment") or 32
    for name, (wtype, shape) in want.items():
        t = got.get(name)
        if t is None:
            continue
        check(t.tensor_type == wtype, f"{tag}: {name} is {t.tensor_type.name}, want {wtype.name}")
        check(tuple(int(x) for x in t.shape) == shape,
              f"{tag}: {name} shape {list(t.shape)}, want {shape}")
        blk, bts = GGML_QUANT_SIZES[t.tensor_type]
        n = int(np.prod(shape))
        check(t.n_bytes == n // blk * bts, f"{tag}: {name} has {t.n_bytes} bytes")
        check(t.data_offset % align == 0, f"{tag}: {name} data at {t.data_offset} misaligned")
        if not stats:
            continue
        x = dequantize(t.data, t.tensor_type).astype(np.float64)
        check(np.isfinite(x).all(), f"{tag}: {name} has non-finite values")
        if name.endswith("norm.weight"):
            check(abs(x.mean() - 1) < 0.05, f"{tag}: {name} mean {x.mean():.3f}, want ~1")
            continue
        sigma = 1 / np.sqrt(shape[0])
        if name.endswith(".bias"):   # too few values for the mean test
            check(0.5 * sigma < x.std() < 1.5 * sigma, f"{tag}: {name} std {x.std():.3e}")
            continue
        check(abs(x.mean()) < 0.1 * sigma,
              f"{tag}: {name} mean {x.mean():.2e} vs sigma {sigma:.2e}")
        check(0.7 * sigma < x.std() < 1.4 * sigma,
              f"{tag}: {name} std {x.std():.3e}, want ~{sigma:.3e}")
    return r


def make_vocab(path, n):
    """A vocab-only GGUF with a byte-level BPE tokenizer of n tokens."""
    w = GGUFWriter(path, "gpt2")
    w.add_context_length(1024)
    toks = [bytes([i]).decode("latin-1") for i in range(256)]
    toks += [f"t{i}" for i in range(n - 257)] + ["<|endoftext|>"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(toks)
    w.add_token_types([1] * (n - 1) + [3])
    w.add_token_merges([f"t {i}" for i in range(n // 2)])
    w.add_bos_token_id(n - 1)
    w.add_eos_token_id(n - 1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    if not os.access(TOOL, os.X_OK):
        raise SystemExit(f"{TOOL}: not executable (build it first)")
    tmp = tempfile.mkdtemp(prefix="kllm-mkmodel-")
    L, D, H, KV, F, V, C = 3, 256, 4, 2, 512, 300, 128
    shape = ["--layers", str(L), "--embd", str(D), "--heads", str(H), "--kv-heads", str(KV),
             "--ffn", str(F), "--vocab", str(V), "--ctx", str(C)]
    for i, tname in enumerate(TYPES):
        out = os.path.join(tmp, f"m-{tname}.gguf")
        run(["-o", out, "--type", tname, "--seed", str(i)] + shape)
        check_model(out, tname, L, D, H, KV, F, V, C)
        os.unlink(out)

    # Q4_K_M over 8 layers: the use_more_bits pattern, tied embeddings -> Q6_K.
    out = os.path.join(tmp, "mix.gguf")
    run(["-o", out, "--type", "q4_k_m", "--layers", "8", "--tied", "--vocab", "260"])
    check_model(out, "q4_k_m", 8, 256, 4, 2, 512, 260, 512, tied=True, stats=False)

    # Rows that do not fit 256-blocks fall back like llama.cpp (q4_K -> q5_0).
    for tname in ("q4_k", "q6_k", "q4_k_m"):
        run(["-o", out, "--type", tname, "--embd", "320", "--heads", "5", "--kv-heads", "5",
             "--layers", "2"])
        check_model(out, tname, 2, 320, 5, 5, 512, 512, 512, stats=False)

    # qwen2: Q/K/V biases.  gemma3: QK-norm, post-norms, a head_dim other
    # than embd / heads, a sliding window; its shape defaults to the arch.
    run(["-o", out, "--arch", "qwen2", "--type", "q8_0", "--tied"] + shape)
    check_model(out, "q8_0", L, D, H, KV, F, V, C, tied=True, arch="qwen2")
    run(["-o", out, "--shape", "gemma3-270m", "--layers", "2", "--embd", "256", "--heads", "4",
         "--kv-heads", "1", "--head-dim", "64", "--ffn", "512", "--vocab", "300", "--ctx", "128",
         "--type", "q4_k_m", "--swa", "16"])
    check_model(out, "q4_k_m", 2, 256, 4, 1, 512, 300, 128, tied=True, arch="gemma3", HD=64,
                swa=16, stats=False)

    # Same seed, same bytes; another seed, other bytes.
    a, b = os.path.join(tmp, "a.gguf"), os.path.join(tmp, "b.gguf")
    run(["-o", a, "--seed", "5", "--type", "q5_k"])
    run(["-o", b, "--seed", "5", "--type", "q5_k"])
    check(open(a, "rb").read() == open(b, "rb").read(), "same seed gave different files")
    run(["-o", b, "--seed", "6", "--type", "q5_k"])
    check(open(a, "rb").read() != open(b, "rb").read(), "different seeds gave the same file")

    # A tokenizer from another file: every tokenizer.* key copied, nothing
    # else, and the vocab size taken from it.  (A small gpt2-style vocab made
    # here: gguf-py needs seconds to parse a real 50k-token one.)
    vocab = os.path.join(tmp, "vocab.gguf")
    make_vocab(vocab, 1000)
    run(["-o", out, "--tokenizer", vocab, "--type", "q8_0", "--vocab", "7"])
    r = check_model(out, "q8_0", 2, 256, 4, 2, 512, 1000, 512, stats=False)
    src = GGUFReader(vocab)
    for k in src.fields:
        if k.startswith("tokenizer."):
            check(field(r, k) == field(src, k), f"tokenizer key {k} not copied")
    check(field(r, "gpt2.context_length") is None, "a non-tokenizer key was copied")
    check(field(r, "general.architecture") == "llama", "architecture overwritten")

    # Bad arguments fail with a message and no output file.
    bad = os.path.join(tmp, "bad.gguf")
    for args in (["--heads", "3"], ["--type", "q3_k"], ["--shape", "nope"],
                 ["--kv-heads", "3"], ["--vocab", "100"], ["--layers", "0"],
                 ["--tokenizer", "/nonexistent.gguf"], ["--arch", "gpt2"],
                 ["--swa", "4"], ["--head-dim", "7"]):
        p = run(["-o", bad] + args, expect_ok=False)
        check(p.returncode != 0 and p.stderr.strip() and not os.path.exists(bad),
              f"kllm-mkmodel {' '.join(args)} should fail (rc {p.returncode})")

    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    if failures:
        print(f"check_mkmodel: {len(failures)} failures")
        return 1
    print(f"check_mkmodel: ok ({len(TYPES)} types, mix, fallback, qwen2, gemma3, seed, "
          "tokenizer, bad args)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
