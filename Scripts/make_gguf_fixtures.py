#!/usr/bin/env python3
"""Writes the small GGUF fixtures of Tests/Fixtures/gguf (CI compares against them; it never runs
Python). Needs numpy and gguf-py (pip install gguf numpy); the transformers cross-check at the end
runs when transformers and torch are installed.

  quants.gguf               one tensor of every type idpo reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
                            Q4_K, Q5_K, Q6_K), each both quantized from floats (where gguf-py can) and
                            as random blocks with finite fp16 scales (every bit pattern of the packed
                            values), plus a Q5_0 tensor idpo refuses; metadata of every value type
                            (nested arrays included); general.alignment = 64.
  quants.expected.safetensors   gguf.quants.dequantize of each supported tensor (float32): the values
                            llama.cpp's dequantize_row_* give; and q8_0.source, the floats the q8_0
                            tensor was quantized from (gguf-py's Q8_0 is bit-exact with ggml's).
  tiny-smollm.gguf          a Llama (hidden 64, 2 layers, 4 heads / 2 KV heads, FFN 256, tied
                            embeddings) with the smollm2-tiny tokenizer (pre "smollm", ChatML tokens,
                            add_bos false) and weights in a mix of every supported type.
  tiny-llama3.gguf          an untied Llama (hidden 32, 1 layer, 2 heads / 1 KV head, FFN 64) with the
                            llama3-tiny tokenizer (pre "llama-bpe", add_bos true).
  <model>.expected.safetensors  the Hugging Face weights each GGUF stands for: Hugging Face names and
                            shapes, dequantized, q/k rows un-permuted (the inverse of
                            convert_hf_to_gguf.py's `permute`, computed here by inverting that function).

Usage: python3 Scripts/make_gguf_fixtures.py [--out Tests/Fixtures/gguf]
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZERS = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")


def permute(weights, n_head, n_head_kv):
    """convert_hf_to_gguf.py's LlamaModel.permute (Hugging Face rows → llama.cpp's interleaved rows)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def unpermute(weights, n_head, n_head_kv):
    """The inverse of `permute`, found by permuting row indices and inverting that order."""
    rows = np.arange(weights.shape[0], dtype=np.int64)
    order = permute(rows, n_head, n_head_kv)        # gguf row r holds HF row order[r]
    out = np.empty_like(weights)
    out[order] = weights
    return out


def random_blocks(rng, qtype, rows, cols):
    """Random bytes for `rows` × `cols` values of a block type, with every fp16 scale field finite
    and small (so the values are finite): the packed quants take every bit pattern."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    def halves(k):
        return np.asarray(rng.uniform(-0.02, 0.02, size=(n, k)), dtype=np.float16).view(np.uint8).reshape(n, 2 * k)
    if qtype in (Q.Q8_0, Q.Q4_0):
        raw[:, 0:2] = halves(1)
    elif qtype == Q.Q4_1:
        raw[:, 0:4] = halves(2)
    elif qtype in (Q.Q4_K, Q.Q5_K):
        raw[:, 0:4] = np.abs(np.asarray(rng.uniform(-0.02, 0.02, size=(n, 2)), dtype=np.float16)).view(np.uint8).reshape(n, 4)
    elif qtype == Q.Q6_K:
        raw[:, 208:210] = halves(1)
    elif qtype == Q.Q5_0:
        raw[:, 0:2] = halves(1)
    return raw.reshape(rows, cols // block * size)


def encode(rng, values, qtype, random=False):
    """(raw array for GGUFWriter, float32 values it decodes to). `values` is (rows, cols)."""
    rows, cols = values.shape
    if qtype == Q.F32:
        raw = values.astype(np.float32)
    elif qtype == Q.F16:
        raw = values.astype(np.float16)
    elif random or qtype in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        raw = random_blocks(rng, qtype, rows, cols)
    else:
        raw = quantize(values.astype(np.float32), qtype)
    decoded = dequantize(raw, qtype).astype(np.float32).reshape(rows, cols) if qtype != Q.F32 else raw.copy()
    assert np.all(np.isfinite(decoded)), qtype
    return raw, decoded


def add(writer, name, raw, qtype, shape):
    if qtype in (Q.F32, Q.F16):
        writer.add_tensor(name, raw.reshape(shape))
    else:
        # Byte rows: gguf-py derives the element shape from the block size.
        writer.add_tensor(name, raw.reshape(shape[0], -1), raw_dtype=qtype)


def quants(out, rng):
    path = os.path.join(out, "quants.gguf")
    w = gguf.GGUFWriter(path, arch="quants-test")
    w.add_custom_alignment(64)
    # Metadata of every value type (the Swift test checks these exact values).
    w.add_key_value("test.u8", 200, V.UINT8)
    w.add_key_value("test.i8", -100, V.INT8)
    w.add_key_value("test.u16", 60000, V.UINT16)
    w.add_key_value("test.i16", -30000, V.INT16)
    w.add_key_value("test.u32", 4000000000, V.UINT32)
    w.add_key_value("test.i32", -2000000000, V.INT32)
    w.add_key_value("test.u64", 18000000000000000000, V.UINT64)
    w.add_key_value("test.i64", -9000000000000000000, V.INT64)
    w.add_key_value("test.f32", 0.1, V.FLOAT32)
    w.add_key_value("test.f64", -2.5e-300, V.FLOAT64)
    w.add_key_value("test.bool", True, V.BOOL)
    w.add_key_value("test.string", "héllo\n\"wörld\" 😀", V.STRING)
    w.add_key_value("test.empty_string", "", V.STRING)
    w.add_key_value("test.u16s", [1, 2, 65535], V.ARRAY, sub_type=V.UINT16)
    w.add_key_value("test.f64s", [0.5, -1.25], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("test.bools", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("test.strings", ["a", "", "ü b"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("test.nested", [[1, 2], [3], [4, 5, 6]], V.ARRAY, sub_type=V.ARRAY)
    w.add_key_value("test.nested_strings", [["x"], ["y", "z"]], V.ARRAY, sub_type=V.ARRAY)

    expected = {}
    plain = rng.standard_normal((4, 64)).astype(np.float32)
    f16_edges = np.array([0.0, -0.0, 65504.0, -65504.0, 6.1035156e-05, 5.9604645e-08, -5.9604645e-08, 1.0 / 3], dtype=np.float32)
    halfs = plain.copy()
    halfs[0, :8] = f16_edges
    cases = [
        ("f32", Q.F32, plain, False),
        ("f16", Q.F16, halfs, False),
        ("bf16", Q.BF16, plain * 1e3, False),
        ("q8_0", Q.Q8_0, rng.standard_normal((4, 128)), False),
        ("q8_0.random", Q.Q8_0, np.zeros((3, 64)), True),
        ("q4_0", Q.Q4_0, rng.standard_normal((4, 128)), False),
        ("q4_0.random", Q.Q4_0, np.zeros((3, 64)), True),
        ("q4_1", Q.Q4_1, rng.standard_normal((4, 128)) + 0.5, False),
        ("q4_1.random", Q.Q4_1, np.zeros((3, 64)), True),
        ("q4_k", Q.Q4_K, np.zeros((3, 512)), True),
        ("q5_k", Q.Q5_K, np.zeros((3, 512)), True),
        ("q6_k", Q.Q6_K, np.zeros((3, 512)), True),
    ]
    for name, qtype, values, random in cases:
        raw, decoded = encode(rng, np.asarray(values, dtype=np.float32), qtype, random)
        add(w, name, raw, qtype, values.shape)
        expected[name] = decoded
        if name == "q8_0":
            expected["q8_0.source"] = np.asarray(values, dtype=np.float32)   # for the Swift quantizer test
    # A 3-D tensor (row-major shape (2, 3, 32), ggml dimensions [32, 3, 2]).
    cube = rng.standard_normal((2, 3, 32)).astype(np.float32)
    w.add_tensor("f32.cube", cube)
    expected["f32.cube"] = cube
    # A type idpo does not read.
    raw = random_blocks(rng, Q.Q5_0, 1, 32)
    w.add_tensor("q5_0", raw, raw_dtype=Q.Q5_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(expected, os.path.join(out, "quants.expected.safetensors"))
    return path


def load_tokenizer(name):
    folder = os.path.join(TOKENIZERS, name)
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    vocab = tok["model"]["vocab"]
    tokens = [None] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        tokens[i] = t
    types = [1] * len(tokens)
    for a in tok["added_tokens"]:
        tokens[a["id"]] = a["content"]
        types[a["id"]] = 3 if a["special"] else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    return tokens, types, merges, config


def model(out, rng, name, tokenizer, pre, hidden, layers, heads, kv_heads, ffn, tied, types, add_bos, chat_template):
    tokens, token_types, merges, tok_config = load_tokenizer(tokenizer)
    vocab = len(tokens)
    path = os.path.join(out, f"{name}.gguf")
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_name(name)
    w.add_context_length(256)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(100000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(hidden // heads)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    ids = {t: i for i, t in enumerate(tokens)}
    bos = tok_config["bos_token"]["content"] if isinstance(tok_config["bos_token"], dict) else tok_config["bos_token"]
    w.add_bos_token_id(ids[bos])
    w.add_eos_token_id(ids[tok_config["eos_token"]])
    if "pad_token" in tok_config:
        w.add_pad_token_id(ids[tok_config["pad_token"]])
    w.add_add_bos_token(add_bos)
    w.add_chat_template(chat_template)

    head_dim = hidden // heads
    shapes = {"attn_norm": (hidden,), "attn_q": (heads * head_dim, hidden), "attn_k": (kv_heads * head_dim, hidden),
              "attn_v": (kv_heads * head_dim, hidden), "attn_output": (hidden, heads * head_dim), "ffn_norm": (hidden,),
              "ffn_gate": (ffn, hidden), "ffn_up": (ffn, hidden), "ffn_down": (hidden, ffn)}
    hf_names = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
                "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    expected = {}

    def tensor(gguf_name, hf_name, shape, qtype, kind=None):
        if len(shape) == 1:
            values = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
            w.add_tensor(gguf_name, values)
            expected[hf_name] = values
            return
        hf = (0.05 * rng.standard_normal(shape)).astype(np.float32)
        stored = permute(hf, heads, heads) if kind == "q" else permute(hf, heads, kv_heads) if kind == "k" else hf
        raw, decoded = encode(rng, stored, qtype)
        add(w, gguf_name, raw, qtype, shape)
        back = unpermute(decoded, heads, heads) if kind == "q" else unpermute(decoded, heads, kv_heads) if kind == "k" else decoded
        if kind is not None and qtype in (Q.F32,):
            assert np.array_equal(back, hf)
        expected[hf_name] = back

    tensor("token_embd.weight", "model.embed_tokens.weight", (vocab, hidden), types["token_embd"])
    for i in range(layers):
        for short, shape in shapes.items():
            qtype = types.get(f"{i}.{short}", Q.F32)
            kind = "q" if short == "attn_q" else "k" if short == "attn_k" else None
            tensor(f"blk.{i}.{short}.weight", f"model.layers.{i}.{hf_names[short]}.weight", shape, qtype, kind)
    tensor("output_norm.weight", "model.norm.weight", (hidden,), Q.F32)
    if not tied:
        tensor("output.weight", "lm_head.weight", (vocab, hidden), types["output"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(expected, os.path.join(out, f"{name}.expected.safetensors"))
    return path, expected


def cross_check(path, expected):
    """transformers' own GGUF loader must give the same weights (a check of this script)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError:
        print("  (transformers not installed: cross-check skipped)")
        return
    m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    state = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    for k, v in expected.items():
        assert np.array_equal(state[k].view(np.uint32), v.view(np.uint32)), k
    print(f"  transformers agrees on all {len(expected)} tensors of {os.path.basename(path)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "Fixtures", "gguf"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20261203)
    quants(args.out, rng)
    smol_types = {"token_embd": Q.Q8_0,
                  "0.attn_q": Q.Q4_0, "0.attn_k": Q.Q4_1, "0.attn_v": Q.F16, "0.attn_output": Q.BF16,
                  "0.ffn_gate": Q.Q8_0, "0.ffn_up": Q.Q4_1, "0.ffn_down": Q.Q4_K,
                  "1.attn_q": Q.BF16, "1.attn_k": Q.F16, "1.attn_v": Q.Q4_0, "1.attn_output": Q.Q8_0,
                  "1.ffn_gate": Q.F32, "1.ffn_up": Q.Q4_0, "1.ffn_down": Q.Q5_K}
    chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    path, expected = model(args.out, rng, "tiny-smollm", "smollm2-tiny", "smollm", hidden=64, layers=2, heads=4, kv_heads=2,
                           ffn=256, tied=True, types=smol_types, add_bos=False, chat_template=chatml)
    cross_check(path, expected)
    llama_types = {"token_embd": Q.F16, "output": Q.Q8_0, "0.attn_q": Q.Q8_0, "0.attn_k": Q.Q8_0, "0.ffn_down": Q.BF16}
    with open(os.path.join(TOKENIZERS, "llama3-tiny", "tokenizer_config.json"), encoding="utf-8") as f:
        llama_template = json.load(f)["chat_template"]
    path, expected = model(args.out, rng, "tiny-llama3", "llama3-tiny", "llama-bpe", hidden=32, layers=1, heads=2, kv_heads=1,
                           ffn=64, tied=False, types=llama_types, add_bos=True, chat_template=llama_template)
    cross_check(path, expected)
    for f in sorted(os.listdir(args.out)):
        print(f"  {f}: {os.path.getsize(os.path.join(args.out, f))} bytes")


if __name__ == "__main__":
    main()
