#!/usr/bin/env python3
"""Dev-time check that idpo's exported Hugging Face directories load in transformers unchanged.

For each fixture model in Tests/Fixtures (written by transformers itself), this script:
  1. runs `idpo convert` HF -> idpo (HDF5) -> HF (f32) and -> HF (bf16),
  2. loads each export with transformers' LlamaForCausalLM.from_pretrained,
  3. compares logits on a fixed batch with the original model's logits,
  4. reads model.h5 with h5py and checks the documented layout (attributes, /parameters/<HF name>).

Run from the repository root after `swift build`:  python3 Scripts/check_export.py [--idpo .build/debug/idpo]
Needs torch, transformers, safetensors and h5py (pip); CI does not run it.
"""
import argparse, json, os, subprocess, sys, tempfile

import h5py
import numpy as np
import torch
from transformers import LlamaForCausalLM


def logits(model_dir, ids):
    model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idpo", default=".build/debug/idpo")
    args = ap.parse_args()
    torch.manual_seed(0)
    ok = True
    for name in ["llama-mha", "llama-gqa-tied"]:
        src = os.path.join("Tests/Fixtures", name)
        vocab = json.load(open(os.path.join(src, "config.json")))["vocab_size"]
        ids = torch.randint(3, vocab, (2, 12))
        ref = logits(src, ids)
        with tempfile.TemporaryDirectory() as tmp:
            h5, hf, bf = (os.path.join(tmp, x) for x in ("h5", "hf", "bf16"))
            subprocess.run([args.idpo, "convert", "--from", src, "--to", h5], check=True)
            subprocess.run([args.idpo, "convert", "--from", h5, "--to", hf], check=True)
            subprocess.run([args.idpo, "convert", "--from", h5, "--to", bf, "--format", "hf", "--dtype", "bf16"], check=True)
            with h5py.File(os.path.join(h5, "model.h5"), "r") as f:
                assert f.attrs["format"] == b"idpo-checkpoint" or f.attrs["format"] == "idpo-checkpoint", f.attrs["format"]
                assert int(f.attrs["format_version"]) == 1
                cfg = json.loads(f.attrs["config_json"])
                n = len(f["parameters"])
                w = f["parameters/model.embed_tokens.weight"][()]
                assert w.dtype == np.float32 and w.shape == (cfg["vocab_size"], cfg["hidden_size"])
            exact = (logits(hf, ids) - ref).abs().max().item()
            rel_bf16 = ((logits(bf, ids) - ref).abs().max() / ref.abs().max()).item()
            print(f"{name}: h5py sees {n} parameter datasets; f32 export max |Δlogit| = {exact:.3g}; "
                  f"bf16 export max relative Δlogit = {rel_bf16:.3g}")
            ok &= exact == 0.0 and rel_bf16 < 5e-2
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
