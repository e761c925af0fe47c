#!/usr/bin/env python3
"""Random-weight Hugging Face model directories of real model shapes, for memory and speed
benchmarks at real size (nothing here is committed but this script).

    python3 Scripts/make_random_checkpoint.py --shape llama3-8b --dtype bf16 --out runs/cache/shapes/llama3-8b-bf16
    python3 Scripts/make_random_checkpoint.py --shape llama-1b --dtype bf16 --out runs/cache/shapes/llama-1b-bf16

Writes config.json, sharded model-0000N-of-0000M.safetensors with model.safetensors.index.json (as
transformers does, shards of at most --shard-gb), and the tokenizer files of the llama3-tiny test
tokenizer (Tests/Fixtures/tokenizers/llama3-tiny: byte-level BPE, Llama 3's chat template, "A" and
"B" single tokens) so the directory works as a policy or a pairwise judge. Weights ~ N(0, 0.02²)
(norms 1), drawn tensor by tensor and streamed to disk: numpy only, memory ≈ one tensor.
"""
import argparse, json, os, shutil, struct
import numpy as np

SHAPES = {
    # Meta-Llama-3-8B(-Instruct): the seeds' judge, reward model and SFT policy
    "llama3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False, rope_theta=500000.0,
                      max_position_embeddings=8192, rms_norm_eps=1e-5),
    # Llama-3.2-1B(-Instruct)
    "llama-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True, rope_theta=500000.0,
                     max_position_embeddings=131072, rms_norm_eps=1e-5,
                     rope_scaling=dict(rope_type="llama3", factor=32.0, high_freq_factor=4.0, low_freq_factor=1.0,
                                       original_max_position_embeddings=8192)),
}


def tensors(c):
    D, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = D // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    yield "model.embed_tokens.weight", (V, D)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (D,)
        yield p + "self_attn.q_proj.weight", (q, D)
        yield p + "self_attn.k_proj.weight", (kv, D)
        yield p + "self_attn.v_proj.weight", (kv, D)
        yield p + "self_attn.o_proj.weight", (D, q)
        yield p + "post_attention_layernorm.weight", (D,)
        yield p + "mlp.gate_proj.weight", (F, D)
        yield p + "mlp.up_proj.weight", (F, D)
        yield p + "mlp.down_proj.weight", (D, F)
    yield "model.norm.weight", (D,)
    if not c["tie_word_embeddings"]:
        yield "lm_head.weight", (V, D)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16")
    ap.add_argument("--out", required=True)
    ap.add_argument("--shard-gb", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    c = dict(SHAPES[args.shape])
    c.update(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu", bos_token_id=961,
             eos_token_id=[962, 965], torch_dtype={"bf16": "bfloat16", "f16": "float16", "f32": "float32"}[args.dtype])
    os.makedirs(args.out, exist_ok=True)
    size = 4 if args.dtype == "f32" else 2
    st = {"bf16": "BF16", "f16": "F16", "f32": "F32"}[args.dtype]
    # plan the shards
    shards, current, current_bytes = [], [], 0
    for name, shape in tensors(c):
        nbytes = int(np.prod(shape)) * size
        if current and current_bytes + nbytes > args.shard_gb * 2**30:
            shards.append(current); current, current_bytes = [], 0
        current.append((name, shape)); current_bytes += nbytes
    shards.append(current)
    rng = np.random.default_rng(args.seed)
    weight_map, total = {}, 0
    for s, entries in enumerate(shards):
        fname = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in entries:
            n = int(np.prod(shape)) * size
            header[name] = {"dtype": st, "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n; weight_map[name] = fname
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(struct.pack("<Q", len(h))); f.write(h)
            for name, shape in entries:
                if len(shape) == 1:
                    v = np.ones(shape, dtype=np.float32)
                else:
                    v = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
                if args.dtype == "bf16":
                    bits = v.view(np.uint32)
                    v = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)   # round to nearest even
                elif args.dtype == "f16":
                    v = v.astype(np.float16)
                f.write(v.tobytes()); total += v.nbytes
        print(f"wrote {fname} ({offset / 2**30:.2f} GiB)", flush=True)
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    tok = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizers", "llama3-tiny")
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tok, name), os.path.join(args.out, name))
    print(f"{args.out}: {args.shape} {args.dtype}, {total / 1e9:.2f} GB of weights in {len(shards)} shards")


if __name__ == "__main__":
    main()
