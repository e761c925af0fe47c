#!/usr/bin/env python3
"""Generate whole-model reference fixtures for idpo's Llama engine.

What it does
------------
Builds tiny models with Hugging Face transformers' ``LlamaForCausalLM`` and
``Qwen2ForCausalLM`` (float32, eager attention), re-initialises their weights
from a seeded generator (so logits are far from uniform), runs one padded
batch through them, computes a weighted log-probability loss and backpropagates
it.  Everything needed to check idpo's forward and hand-written backward passes
against PyTorch autograd is written out:

``Tests/Fixtures/<name>/``
    ``config.json``, ``model.safetensors`` (and ``generation_config.json``)
        exactly as written by ``model.save_pretrained(dir,
        safe_serialization=True)``; for tied embeddings HF omits
        ``lm_head.weight``.
    ``reference.safetensors``
        ``input_ids`` I64 (B,T), ``lengths`` I64 (B,), ``targets`` I64 (B,T),
        ``loss_weights`` F32 (B,T), ``logits`` F32 (B,T,V) (padding positions
        included, as computed), ``logprobs`` F32 (B,T), ``loss`` F32 (1,), and
        ``grad.<HF parameter name>`` F32 for every named parameter (for the
        tied config only ``grad.model.embed_tokens.weight``, which holds the
        summed gradient of the embedding and the LM head).

Configurations
--------------
``llama-mha``       : V=128, D=64, FF=96, 2 layers, 4 heads, 4 kv heads,
                      eps 1e-6, rope_theta 1e4, no rope scaling, untied.
``llama-gqa-tied``  : V=160, D=64, FF=128, 2 layers, 4 heads, 2 kv heads,
                      head_dim 16, eps 1e-5, rope_theta 5e5, llama3 rope
                      scaling (factor 8, low 1, high 4, original_max 48),
                      tied embeddings, eos [2, 3].
                      (original_max_position_embeddings is 48 rather than 32:
                      with 32 no inv_freq entry falls in the smoothed band for
                      theta 5e5 / head_dim 16; the script asserts that some
                      entries are kept, some smoothed, some scaled.)

``qwen2-tied``      : Qwen2ForCausalLM, V=144, D=64, FF=112, 2 layers, 4 heads,
                      2 kv heads, q/k/v biases (N(0, 0.3²)), eps 1e-6, rope_theta
                      1e6, tied embeddings, sliding_window 32 present with
                      use_sliding_window false (full attention).

``qwen3-headdim``   : Qwen3ForCausalLM, V=136, D=64, FF=96, 2 layers, 4 heads of
                      head_dim 24 (96 ≠ 64), 2 kv heads, q_norm/k_norm (random
                      weights in [0.6, 1.4]), eps 1e-6, rope_theta 1e6, untied.

``mistral-window``  : MistralForCausalLM, V=120, D=64, FF=96, 2 layers, 4 heads,
                      2 kv heads, sliding_window 4 (queries see their last 4
                      positions), untied.

``gemma-mqa``       : GemmaForCausalLM, V=112, D=64, FF=96, 2 layers, 4 heads of
                      head_dim 32, 1 kv head, (1 + w) norms, × √64 embeddings,
                      GeGLU (gelu_pytorch_tanh), tied.

``gemma2-softcap``  : Gemma2ForCausalLM, V=112, D=64, FF=96, 3 layers, 4 heads of
                      head_dim 32, 2 kv heads, four (1 + w) norms per layer
                      (post-attention, pre/post-feedforward), attention-logit
                      soft-cap 2.0 and final-logit soft-cap 4.0 (small, so tanh
                      bends), query_pre_attn_scalar 20 (≠ head_dim), sliding
                      window 4 on layers 0 and 2 (layer_types alternate), tied.

Run with fixture names (``python3 Scripts/make_fixtures.py qwen2-tied``) to
build only those; the others keep their bytes.

Batch: B=3 right-padded sequences of lengths [11, 7, 4], T=11.
``input_ids`` random in [3, V) at valid positions, 0 at padding;
``attention_mask`` = 1 for t < length; ``targets`` random in [0, V), 0 at
padding; ``loss_weights`` = uniform(0.5, 1.5) / (number of valid tokens) at
valid positions, 0 at padding.  Default position ids 0..T-1 (right padding).

    logprobs[b, t] = log_softmax(logits[b, t])[targets[b, t]]
    loss           = -(loss_weights * logprobs).sum()

How to run
----------
From the repository root::

    python3 Scripts/make_fixtures.py

Requires torch, transformers and safetensors.  It is deterministic: running it
twice produces byte-identical files (about 1.4 MB in total) (for a given torch/transformers version;
``config.json`` records ``transformers_version``).
"""

import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (Gemma2Config, Gemma2ForCausalLM, GemmaConfig, GemmaForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "Tests", "Fixtures")

LENGTHS = [11, 7, 4]
T = 11
B = len(LENGTHS)

CONFIGS = {
    "llama-mha": dict(
        seed=1234,
        config=dict(
            vocab_size=128,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            rms_norm_eps=1e-6,
            rope_theta=10000.0,
            rope_scaling=None,
            tie_word_embeddings=False,
            max_position_embeddings=128,
            bos_token_id=1,
            eos_token_id=2,
        ),
    ),
    "llama-gqa-tied": dict(
        seed=5678,
        config=dict(
            vocab_size=160,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            rms_norm_eps=1e-5,
            rope_theta=500000.0,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 48,
            },
            tie_word_embeddings=True,
            max_position_embeddings=64,
            bos_token_id=1,
            eos_token_id=[2, 3],
        ),
    ),
    # Qwen2: biases on q/k/v (none on o_proj), rope_theta 1e6, tied embeddings, and a
    # `sliding_window` that is present but off (use_sliding_window false), as Qwen2.5 configs ship.
    "qwen2-tied": dict(
        seed=9012,
        arch="qwen2",
        config=dict(
            vocab_size=144,
            hidden_size=64,
            intermediate_size=112,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-6,
            rope_theta=1000000.0,
            rope_scaling=None,
            tie_word_embeddings=True,
            max_position_embeddings=64,
            use_sliding_window=False,
            sliding_window=32,
            max_window_layers=2,
            bos_token_id=1,
            eos_token_id=2,
        ),
    ),
    # Qwen3: per-head RMSNorm of queries and keys before RoPE, head_dim 24 with 4 heads (96 ≠ hidden
    # 64), no biases, untied.
    "qwen3-headdim": dict(
        seed=3456,
        arch="qwen3",
        config=dict(
            vocab_size=136,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=24,
            rms_norm_eps=1e-6,
            rope_theta=1000000.0,
            rope_scaling=None,
            tie_word_embeddings=False,
            max_position_embeddings=64,
            use_sliding_window=False,
            bos_token_id=1,
            eos_token_id=2,
        ),
    ),
    # Mistral: sliding-window attention, window 4 (shorter than the batch's 11 and 7 tokens).
    "mistral-window": dict(
        seed=7890,
        arch="mistral",
        config=dict(
            vocab_size=120,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            rope_scaling=None,
            tie_word_embeddings=False,
            max_position_embeddings=64,
            sliding_window=4,
            bos_token_id=1,
            eos_token_id=2,
        ),
    ),
    # Gemma 1: (1 + w) norms, embeddings × √64, GeGLU (tanh GELU), head_dim 32 × 4 heads ≠ 64,
    # multi-query attention (1 kv head), tied.
    "gemma-mqa": dict(
        seed=2468,
        arch="gemma",
        config=dict(
            vocab_size=112,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=32,
            hidden_act="gelu_pytorch_tanh",
            rms_norm_eps=1e-6,
            rope_theta=10000.0,
            rope_scaling=None,
            tie_word_embeddings=True,
            max_position_embeddings=64,
            bos_token_id=1,
            eos_token_id=2,
        ),
    ),
    # Gemma 2: the sandwich norms, both soft-caps, query_pre_attn_scalar ≠ head_dim and the
    # alternating sliding window (layers 0 and 2 see their last 4 positions).
    "gemma2-softcap": dict(
        seed=1357,
        arch="gemma2",
        config=dict(
            vocab_size=112,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            hidden_activation="gelu_pytorch_tanh",
            rms_norm_eps=1e-6,
            rope_theta=10000.0,
            rope_scaling=None,
            tie_word_embeddings=True,
            max_position_embeddings=64,
            attn_logit_softcapping=2.0,
            final_logit_softcapping=4.0,
            query_pre_attn_scalar=20,
            sliding_window=4,
            bos_token_id=1,
            eos_token_id=2,
        ),
    ),
}

MODEL_CLASSES = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM),
                 "qwen3": (Qwen3Config, Qwen3ForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
                 "gemma": (GemmaConfig, GemmaForCausalLM), "gemma2": (Gemma2Config, Gemma2ForCausalLM)}


def make_config(cfg: dict, arch: str = "llama") -> LlamaConfig:
    config_class = MODEL_CLASSES[arch][0]
    cfg = dict(cfg)
    rope_theta = cfg.pop("rope_theta")
    rope_scaling = cfg.pop("rope_scaling")
    # transformers >= 5 folds rope_theta / rope_scaling into `rope_parameters`;
    # older versions take them as separate keys.  Pass what this version wants.
    try:
        import transformers

        major = int(transformers.__version__.split(".")[0])
    except Exception:  # pragma: no cover
        major = 4
    if major >= 5:
        rope = {"rope_type": "default", "rope_theta": rope_theta}
        if rope_scaling is not None:
            rope = dict(rope_scaling)
            rope["rope_theta"] = rope_theta
        config = config_class(rope_parameters=rope, attn_implementation="eager", **cfg)
    else:
        config = config_class(
            rope_theta=rope_theta, rope_scaling=rope_scaling, attn_implementation="eager", **cfg
        )
    config.dtype = torch.float32
    return config


def check_llama3_scaling(model: LlamaForCausalLM, config: LlamaConfig) -> None:
    """Assert that llama3 rope scaling keeps, smooths and scales some entries."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rp = config.rope_parameters if hasattr(config, "rope_parameters") else config.rope_scaling
    theta = rp.get("rope_theta", getattr(config, "rope_theta", None))
    base = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, torch.device("cpu"))
    model_inv = model.model.rotary_emb.inv_freq.detach().cpu()
    assert torch.equal(model_inv, scaled), "model inv_freq differs from llama3 init function"
    factor = rp["factor"]
    wavelen = 2 * math.pi / base
    low_wl = rp["original_max_position_embeddings"] / rp["low_freq_factor"]
    high_wl = rp["original_max_position_embeddings"] / rp["high_freq_factor"]
    kept = torch.isclose(scaled, base, rtol=0, atol=0)
    divided = torch.isclose(scaled, base / factor, rtol=1e-6, atol=0)
    smoothed = ~kept & ~divided
    print(f"  llama3 rope: wavelen {[round(w, 2) for w in wavelen.tolist()]}, "
          f"band [{high_wl}, {low_wl}]")
    print(f"  llama3 rope: kept {kept.sum().item()}, smoothed {smoothed.sum().item()}, "
          f"scaled {divided.sum().item()} of {len(base)}")
    assert kept.any(), "no inv_freq entry kept unchanged"
    assert smoothed.any(), "no inv_freq entry smoothed"
    assert divided.any(), "no inv_freq entry divided by factor"
    assert not torch.equal(scaled, base)
    # the smoothed entries must lie strictly between base/factor and base
    assert bool(((scaled[smoothed] < base[smoothed]) & (scaled[smoothed] > base[smoothed] / factor)).all())


def reinit(model: LlamaForCausalLM, gen: torch.Generator) -> None:
    with torch.no_grad():
        # named_parameters() de-duplicates tied weights, so a tied lm_head is
        # initialised once, as the embedding.
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(torch.rand(p.shape, generator=gen, dtype=torch.float32) * 0.8 + 0.6)
            elif name == "model.embed_tokens.weight":
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * 0.5)
            elif name.endswith(".weight") and p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * 0.15)
            elif name.endswith("_proj.bias") and p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * 0.3)
            else:
                raise RuntimeError(f"unexpected parameter {name} {tuple(p.shape)}")


def make_batch(vocab: int, gen: torch.Generator):
    lengths = torch.tensor(LENGTHS, dtype=torch.int64)
    valid = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)  # (B,T) bool
    ids = torch.randint(3, vocab, (B, T), generator=gen, dtype=torch.int64)
    ids = torch.where(valid, ids, torch.zeros_like(ids))
    targets = torch.randint(0, vocab, (B, T), generator=gen, dtype=torch.int64)
    targets = torch.where(valid, targets, torch.zeros_like(targets))
    w = torch.rand((B, T), generator=gen, dtype=torch.float32) + 0.5
    w = torch.where(valid, w, torch.zeros_like(w)) / float(valid.sum().item())
    mask = valid.to(torch.int64)
    return ids, mask, lengths, targets, w


def build(name: str, spec: dict) -> None:
    out_dir = os.path.join(FIXTURES, name)
    os.makedirs(out_dir, exist_ok=True)
    print(f"== {name} -> {os.path.relpath(out_dir, REPO_ROOT)}")

    torch.manual_seed(spec["seed"])
    arch = spec.get("arch", "llama")
    config = make_config(spec["config"], arch)
    model = MODEL_CLASSES[arch][1](config).to(torch.float32)
    model.config._attn_implementation = "eager"
    assert model.config._attn_implementation == "eager"

    gen = torch.Generator().manual_seed(spec["seed"])
    reinit(model, gen)
    if config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    rp = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rp.get("rope_type") == "llama3":
        check_llama3_scaling(model, config)

    ids, mask, lengths, targets, loss_weights = make_batch(config.vocab_size, gen)

    model.train()  # dropout is 0.0 anyway
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, attention_mask=mask, use_cache=False)
    logits = out.logits
    assert logits.dtype == torch.float32 and logits.shape == (B, T, config.vocab_size)
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = -(loss_weights * logprobs).sum()
    loss.backward()

    ref = {
        "input_ids": ids.contiguous(),
        "lengths": lengths.contiguous(),
        "targets": targets.contiguous(),
        "loss_weights": loss_weights.contiguous(),
        "logits": logits.detach().contiguous(),
        "logprobs": logprobs.detach().contiguous(),
        "loss": loss.detach().reshape(1).contiguous(),
    }
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        ref[f"grad.{pname}"] = p.grad.detach().clone().contiguous()

    model.save_pretrained(out_dir, safe_serialization=True)
    save_file(ref, os.path.join(out_dir, "reference.safetensors"))

    # summary
    with open(os.path.join(out_dir, "config.json")) as f:
        saved_cfg = json.load(f)
    print(f"  config.json keys: {sorted(saved_cfg.keys())}")
    from safetensors import safe_open

    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        print(f"  model.safetensors: {len(keys)} tensors")
        for k in sorted(keys):
            print(f"    {k:45s} {tuple(f.get_slice(k).get_shape())}")
    print("  reference.safetensors:")
    for k, v in ref.items():
        print(f"    {k:50s} {str(v.dtype):14s} {tuple(v.shape)}")
    valid = mask.bool()
    print(f"  logits std (valid) {logits.detach()[valid].std().item():.4f}, "
          f"mean logprob (valid) {logprobs.detach()[valid].mean().item():.4f}, "
          f"uniform would be {-math.log(config.vocab_size):.4f}")
    print(f"  loss = {loss.item():.8f}")


def main() -> int:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    # names on the command line build only those fixtures (the others stay byte for byte as made)
    names = sys.argv[1:] or list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown fixture(s) {unknown} (known: {list(CONFIGS)})")
    for name in names:
        build(name, CONFIGS[name])
    total = 0
    for name in CONFIGS:
        d = os.path.join(FIXTURES, name)
        for fn in sorted(os.listdir(d)):
            sz = os.path.getsize(os.path.join(d, fn))
            total += sz
            print(f"{name}/{fn}: {sz} bytes")
    print(f"total fixture size: {total} bytes")
    # Weights + gradients of the six configs are ~0.7 MB each in float32.
    assert total < 4_800_000, "fixtures grew unexpectedly large"
    return 0


if __name__ == "__main__":
    sys.exit(main())
