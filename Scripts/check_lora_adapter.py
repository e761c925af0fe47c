#!/usr/bin/env python3
"""Dev-time check that a LoRA adapter directory loads in PEFT and gives the expected logits.

Loads the base model with transformers (LlamaForCausalLM, float32, eager attention), applies the
adapter with ``peft.PeftModel.from_pretrained`` (adapter_config.json + adapter_model.safetensors),
runs one unpadded sequence of token ids and either

  * prints a summary of the logits (shape, max |logit|, per-position argmax, max change against the
    base with the adapter disabled), or
  * with ``--logits FILE.safetensors``, compares them with the tensor ``logits`` in FILE (shape (T,V),
    (1,T,V), or (B,T,V) with ``--row``), and exits 1 if max |difference| exceeds ``--tolerance``.

Typical use: check that an adapter written by idpo (or any other program) is read by PEFT exactly as
idpo reads it.

    python3 Scripts/check_lora_adapter.py --base Tests/Fixtures/llama-mha \\
        --adapter Tests/Fixtures/lora/lora-mha/adapter --tokens 5,17,99,3 [--logits out.safetensors]

Needs torch, transformers, peft, safetensors (pip); CI does not run it.
"""
import argparse
import os
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import torch
from safetensors import safe_open


def parse_tokens(text: str):
    try:
        ids = [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise SystemExit(f"error: --tokens must be comma-separated integers, got {text!r}")
    if not ids:
        raise SystemExit("error: --tokens is empty")
    return ids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="Hugging Face base model directory")
    ap.add_argument("--adapter", required=True, help="PEFT adapter directory (adapter_config.json, adapter_model.safetensors)")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids, e.g. 1,2,3")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max allowed |logit difference| (default 1e-4)")
    ap.add_argument("--logits", help="safetensors file with a 'logits' tensor to compare against")
    ap.add_argument("--key", default="logits", help="tensor name in --logits (default: logits)")
    ap.add_argument("--row", type=int, help="batch row to compare when the tensor is (B,T,V) with B > 1")
    args = ap.parse_args()

    from peft import PeftModel
    from transformers import LlamaForCausalLM

    ids = parse_tokens(args.tokens)
    for d, what in ((args.base, "--base"), (args.adapter, "--adapter")):
        if not os.path.isdir(d):
            raise SystemExit(f"error: {what} {d!r} is not a directory")
    base = LlamaForCausalLM.from_pretrained(args.base, dtype=torch.float32, attn_implementation="eager")
    vocab = base.config.vocab_size
    bad = [t for t in ids if not 0 <= t < vocab]
    if bad:
        raise SystemExit(f"error: token ids {bad} out of range for vocab_size {vocab}")
    model = PeftModel.from_pretrained(base, args.adapter)
    model.eval()
    cfg = model.peft_config["default"]
    n_lora = sum(1 for n, _ in model.named_parameters() if ".lora_" in n)
    print(f"adapter: {cfg.peft_type} r={cfg.r} lora_alpha={cfg.lora_alpha} use_rslora={cfg.use_rslora} "
          f"target_modules={sorted(cfg.target_modules)} ({n_lora} LoRA tensors)")

    x = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=x, use_cache=False).logits[0].float()  # (T, V)
        with model.disable_adapter():
            base_logits = model(input_ids=x, use_cache=False).logits[0].float()
    T = len(ids)

    if args.logits is None:
        print(f"logits shape {tuple(logits.shape)}, max |logit| {logits.abs().max().item():.6g}, "
              f"mean {logits.mean().item():.6g}, std {logits.std().item():.6g}")
        print(f"argmax per position: {logits.argmax(-1).tolist()}")
        print(f"max |logits - base_logits| (adapter effect): {(logits - base_logits).abs().max().item():.6g}")
        return 0

    with safe_open(args.logits, "pt") as f:
        if args.key not in f.keys():
            raise SystemExit(f"error: {args.logits} has no tensor {args.key!r} (has {sorted(f.keys())})")
        want = f.get_tensor(args.key).float()
    if want.dim() == 3:
        if args.row is not None:
            want = want[args.row]
        elif want.shape[0] == 1:
            want = want[0]
        else:
            raise SystemExit(f"error: {args.key} has shape {tuple(want.shape)}; pass --row to pick a batch row")
    if want.dim() != 2 or want.shape[1] != vocab or want.shape[0] < T:
        raise SystemExit(f"error: {args.key} has shape {tuple(want.shape)}, expected ({T}, {vocab})")
    if want.shape[0] > T:
        print(f"note: comparing the first {T} of {want.shape[0]} positions")
        want = want[:T]
    diff = (logits - want).abs()
    worst = diff.max().item()
    t, v = divmod(int(diff.argmax().item()), vocab)
    print(f"max |logits - {args.key}| = {worst:.3e} at position {t}, token {v} "
          f"(PEFT {logits[t, v].item():.6g}, file {want[t, v].item():.6g}); tolerance {args.tolerance:g}")
    print(f"(adapter effect for scale: max |logits - base_logits| = {(logits - base_logits).abs().max().item():.3e})")
    if not worst <= args.tolerance:  # also catches NaN
        print(f"MISMATCH: max abs difference {worst:.3e} exceeds tolerance {args.tolerance:g}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
