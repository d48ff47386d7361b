#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_gguf: small valid GGUF files made with the
reference `gguf` writer (PyPI), covering every KV type, arrays of strings,
and tensors of several types.  Run once; the outputs are committed."""
import os
import sys

import numpy as np
import gguf

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "gguf")
os.makedirs(out, exist_ok=True)


def write(name, fill):
    path = os.path.join(out, name)
    w = gguf.GGUFWriter(path, "llama")
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def kvs(w):
    w.add_uint8("t.u8", 7)
    w.add_int8("t.i8", -7)
    w.add_uint16("t.u16", 700)
    w.add_int16("t.i16", -700)
    w.add_uint32("t.u32", 70000)
    w.add_int32("t.i32", -70000)
    w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo")
    w.add_uint64("t.u64", 1 << 40)
    w.add_int64("t.i64", -(1 << 40))
    w.add_float64("t.f64", 2.25)
    w.add_array("t.arr_i32", [1, 2, 3])
    w.add_array("t.arr_f32", [0.5, 1.5])
    w.add_token_list(["<s>", "</s>", "a", "b", "ab"])
    w.add_token_scores([0.0, 0.0, -1.0, -2.0, -0.5])


def tensors(w):
    rng = np.random.default_rng(1)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", rng.standard_normal((4, 32)).astype(np.float32))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(32, dtype=np.float32))
    w.add_tensor("output.weight", rng.standard_normal((2, 32)).astype(np.float16))
    q = rng.integers(0, 255, size=(2, 18), dtype=np.uint8)
    w.add_tensor("blk.0.ffn_up.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q4_0)


write("kvs.gguf", kvs)
write("tensors.gguf", tensors)
write("both.gguf", lambda w: (kvs(w), tensors(w)))
print("seeds in", out)
