#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gemma3_ref.py - a float64 numpy forward pass of a Gemma 3 GGUF (weights
dequantized by PyPI's gguf, activations never quantized, K/V kept exact),
following llama.cpp's graph (src/models/gemma3.cpp): embeddings times
sqrt(n_embd), QK-norm, NeoX RoPE with a base per layer kind, sliding-window
layers (all but every 6th), post-attention and post-FFN norms, GeGLU.

    gemma3_ref.py MODEL.gguf [LOGITS.f32] ID... [-- NAME=LOGITS.f32 ...]

computes the logits of the last of the ids and compares each given logits
file with them (LOGITS.f32 is kllm's, as smollm2_ref.py takes it: from
model_greedy with KLLM_DUMP and N_PREDICT 1): top tokens and the largest
difference."""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    args = sys.argv[2:]
    files = []
    if '--' in args:
        files = [a.split('=', 1) for a in args[args.index('--') + 1:]]
        args = args[:args.index('--')]
    if args and not args[0].isdigit():
        files.insert(0, ('kllm', args[0]))
        args = args[1:]
    ids = [int(a) for a in args]
    r = GGUFReader(sys.argv[1])
    f = {k: v for k, v in r.fields.items()}

    def val(k, d=None):
        if k not in f:
            return d
        return f[k].parts[f[k].data[0]][0]

    a = 'gemma3.'
    nl = int(val(a + 'block_count'))
    nh = int(val(a + 'attention.head_count'))
    nkv = int(val(a + 'attention.head_count_kv'))
    d = int(val(a + 'embedding_length'))
    hd = int(val(a + 'attention.key_length', d // nh))
    base = float(val(a + 'rope.freq_base', 10000.0))
    base_swa = float(val(a + 'rope.freq_base_swa', 10000.0))
    nswa = int(val(a + 'attention.sliding_window', 0))
    eps = float(val(a + 'attention.layer_norm_rms_epsilon', 1e-6))
    scale = 1 / np.sqrt(d // nh if nl == 62 else hd)
    t = {x.name: x for x in r.tensors}

    def w(name, dt=np.float64):
        x = t[name]
        return dequantize(x.data, x.tensor_type).astype(dt).reshape(
            [int(n) for n in reversed(x.shape)] if len(x.shape) > 1 else [-1])

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x, b):          # x: [T, n, hd]; NeoX: pairs (i, i + hd/2)
        pos = np.arange(x.shape[0])[:, None]
        th = pos * b ** (-np.arange(0, hd, 2) / hd)
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        h = hd // 2
        y = x.copy()
        y[..., :h] = x[..., :h] * c - x[..., h:] * s
        y[..., h:] = x[..., :h] * s + x[..., h:] * c
        return y

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    T = len(ids)
    emb = w('token_embd.weight', np.float32)
    x = emb[ids].astype(np.float64) * np.sqrt(np.float32(d))
    i_, j_ = np.arange(T)[:, None], np.arange(T)[None, :]
    for i in range(nl):
        p = f'blk.{i}.'
        swa = nswa > 0 and i % 6 < 5
        mask = np.where((j_ > i_) | (swa and (i_ - j_ >= nswa)), -np.inf, 0.0)
        b = base_swa if swa else base
        xn = norm(x, w(p + 'attn_norm.weight'))
        q = (xn @ w(p + 'attn_q.weight').T).reshape(T, nh, hd)
        k = (xn @ w(p + 'attn_k.weight').T).reshape(T, nkv, hd)
        v = (xn @ w(p + 'attn_v.weight').T).reshape(T, nkv, hd)
        q = rope(norm(q, w(p + 'attn_q_norm.weight')), b)
        k = rope(norm(k, w(p + 'attn_k_norm.weight')), b)
        k = np.repeat(k, nh // nkv, axis=1)
        v = np.repeat(v, nh // nkv, axis=1)
        s = np.einsum('thd,uhd->htu', q, k) * scale + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = np.einsum('htu,uhd->thd', s, v).reshape(T, nh * hd)
        x = x + norm(att @ w(p + 'attn_output.weight').T, w(p + 'post_attention_norm.weight'))
        xn = norm(x, w(p + 'ffn_norm.weight'))
        g = xn @ w(p + 'ffn_gate.weight').T
        u = xn @ w(p + 'ffn_up.weight').T
        y = (gelu(g) * u) @ w(p + 'ffn_down.weight').T
        x = x + norm(y, w(p + 'post_ffw_norm.weight'))
    out = w('output.weight', np.float32) if 'output.weight' in t else emb
    ref = out.astype(np.float64) @ norm(x[-1], w('output_norm.weight'))
    top = np.argsort(-ref)[:3]
    print('reference top:', [(int(i), round(float(ref[i]), 4)) for i in top])
    for name, path in files:
        got = np.fromfile(path, dtype=np.float32).astype(np.float64)
        gtop = np.argsort(-got)[:3]
        print('%-10s top:' % name, [(int(i), round(float(got[i]), 4)) for i in gtop],
              ' max |Δ| = %.4f (largest |ref| %.2f)' % (np.abs(got - ref).max(),
                                                        np.abs(ref).max()))


if __name__ == '__main__':
    main()
