#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""smollm2_ref.py - a float64 numpy forward pass of a Llama GGUF (weights
dequantized by PyPI's gguf, activations never quantized, K/V kept exact),
for judging near ties between kllm and llama.cpp.

    smollm2_ref.py MODEL.gguf LOGITS.f32 ID...

computes the logits of the last of the ids and compares them with kllm's
(model_greedy with KLLM_DUMP=LOGITS.f32 and N_PREDICT 1): top tokens of
both and the largest difference relative to the largest logit."""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    r = GGUFReader(sys.argv[1])
    kllm = np.fromfile(sys.argv[2], dtype=np.float32).astype(np.float64)
    ids = [int(a) for a in sys.argv[3:]]
    f = {k: v for k, v in r.fields.items()}

    def val(k, d=None):
        if k not in f:
            return d
        return f[k].parts[f[k].data[0]][0]

    nl = int(val('llama.block_count'))
    nh = int(val('llama.attention.head_count'))
    nkv = int(val('llama.attention.head_count_kv'))
    d = int(val('llama.embedding_length'))
    hd = d // nh
    nrot = int(val('llama.rope.dimension_count', hd))
    base = float(val('llama.rope.freq_base', 10000.0))
    eps = float(val('llama.attention.layer_norm_rms_epsilon', 1e-5))
    t = {x.name: x for x in r.tensors}

    def w(name):
        x = t[name]
        return dequantize(x.data, x.tensor_type).astype(np.float64).reshape(
            [int(n) for n in reversed(x.shape)] if len(x.shape) > 1 else [-1])

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x, n):          # x: [T, n, hd]; normal mode: pairs (2i, 2i+1)
        pos = np.arange(x.shape[0])[:, None]
        th = pos * base ** (-np.arange(0, nrot, 2) / nrot)
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        y = x.copy()
        a, b = x[..., 0:nrot:2], x[..., 1:nrot:2]
        y[..., 0:nrot:2] = a * c - b * s
        y[..., 1:nrot:2] = a * s + b * c
        return y

    T = len(ids)
    x = w('token_embd.weight')[ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(nl):
        p = f'blk.{i}.'
        xn = norm(x, w(p + 'attn_norm.weight'))
        q = rope((xn @ w(p + 'attn_q.weight').T).reshape(T, nh, hd), nh)
        k = rope((xn @ w(p + 'attn_k.weight').T).reshape(T, nkv, hd), nkv)
        v = (xn @ w(p + 'attn_v.weight').T).reshape(T, nkv, hd)
        k = np.repeat(k, nh // nkv, axis=1)
        v = np.repeat(v, nh // nkv, axis=1)
        s = np.einsum('thd,uhd->htu', q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = np.einsum('htu,uhd->thd', s, v).reshape(T, nh * hd)
        x = x + a @ w(p + 'attn_output.weight').T
        xn = norm(x, w(p + 'ffn_norm.weight'))
        g = xn @ w(p + 'ffn_gate.weight').T
        u = xn @ w(p + 'ffn_up.weight').T
        x = x + (g / (1 + np.exp(-g)) * u) @ w(p + 'ffn_down.weight').T
    out = w('output.weight') if 'output.weight' in t else w('token_embd.weight')
    ref = norm(x[-1], w('output_norm.weight')) @ out.T
    top = np.argsort(-ref)[:3]
    ktop = np.argsort(-kllm)[:3]
    print('reference top:', [(int(i), round(float(ref[i]), 4)) for i in top])
    print('kllm top:     ', [(int(i), round(float(kllm[i]), 4)) for i in ktop])
    print('max |kllm - ref| / max |ref| = %.3g' % (np.abs(kllm - ref).max() / np.abs(ref).max()))


if __name__ == '__main__':
    main()
