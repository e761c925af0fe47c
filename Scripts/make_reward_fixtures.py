#!/usr/bin/env python3
"""Reference fixtures for sequence-classification reward models (issue 16, item 2).

Builds tiny ``LlamaForSequenceClassification``, ``Qwen2ForSequenceClassification`` and
``Qwen3ForSequenceClassification``, ``GemmaForSequenceClassification``, ``MistralForSequenceClassification`` and ``Gemma2ForSequenceClassification`` models (num_labels 1, float32, eager attention, seeded random
weights; Qwen2's q/k/v biases and Qwen3's q/k norms included),
runs one right-padded batch of three sequences of unequal lengths through them, and writes

``Tests/Fixtures/rm-<arch>/``
    ``config.json``, ``model.safetensors`` as ``save_pretrained`` writes them (backbone tensors
    under ``model.*`` and the head as ``score.weight`` (1, hidden); no lm_head), and
    ``reference.safetensors``: ``input_ids`` I64 (B, T) (pad id 0 at padding), ``lengths`` I64 (B,),
    ``rewards`` F32 (B,): transformers' pooled logits — the score head at each sequence's last
    non-pad token.

Run from the repository root (torch, transformers, safetensors):

    python3 Scripts/make_reward_fixtures.py [names…]   (only those; the others keep their bytes)

Deterministic for a given torch/transformers version (config.json records the version).
"""

import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (MistralConfig, MistralForSequenceClassification, Gemma2Config, Gemma2ForSequenceClassification, GemmaConfig, GemmaForSequenceClassification, LlamaConfig, LlamaForSequenceClassification, Qwen2Config,
                          Qwen2ForSequenceClassification, Qwen3Config, Qwen3ForSequenceClassification)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "Tests", "Fixtures")
LENGTHS = [9, 5, 12]
T = max(LENGTHS)
PAD = 0

COMMON = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              pad_token_id=PAD, bos_token_id=1, eos_token_id=2, num_labels=1,
              attn_implementation="eager")

MODELS = {
    "rm-llama": (LlamaConfig, LlamaForSequenceClassification,
                 dict(rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), 31),
    "rm-qwen2": (Qwen2Config, Qwen2ForSequenceClassification,
                 dict(rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                      use_sliding_window=False, tie_word_embeddings=False), 32),
    # Skywork-Reward-V2-Qwen3's class: q/k head norms, head_dim 16 × 4 heads ≠ hidden 32
    "rm-qwen3": (Qwen3Config, Qwen3ForSequenceClassification,
                 dict(rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                      head_dim=16, use_sliding_window=False, tie_word_embeddings=False), 33),
    # the GPM seed's backbone family: (1 + w) norms, × √hidden embeddings, GeGLU
    "rm-gemma": (GemmaConfig, GemmaForSequenceClassification,
                 dict(rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                      head_dim=16, hidden_act="gelu_pytorch_tanh", tie_word_embeddings=False), 34),
    # Mistral: Llama with a sliding window (4 positions, under 12-token sequences)
    "rm-mistral": (MistralConfig, MistralForSequenceClassification,
                   dict(rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                        sliding_window=4, tie_word_embeddings=False), 36),
    # Gemma 2: sandwich norms, both soft-caps (the final one never touches a reward head), alternating window
    "rm-gemma2": (Gemma2Config, Gemma2ForSequenceClassification,
                  dict(rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                       head_dim=16, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=False,
                       attn_logit_softcapping=2.0, final_logit_softcapping=4.0, query_pre_attn_scalar=12, sliding_window=4), 35),
}


def build(name, config_class, model_class, extra, seed):
    torch.manual_seed(seed)
    config = config_class(**COMMON, **extra)
    model = model_class(config).to(torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.8 + 0.6)
            elif pname.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if "embed" in pname else 0.15))
    lengths = torch.tensor(LENGTHS, dtype=torch.int64)
    valid = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    ids = torch.randint(3, config.vocab_size, (len(LENGTHS), T), generator=gen)
    ids = torch.where(valid, ids, torch.full_like(ids, PAD))
    with torch.no_grad():
        rewards = model(input_ids=ids, attention_mask=valid.long(), use_cache=False).logits[:, 0]
    out = os.path.join(FIXTURES, name)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_file({"input_ids": ids.contiguous(), "lengths": lengths, "rewards": rewards.contiguous()},
              os.path.join(out, "reference.safetensors"))
    print(f"{name}: rewards {rewards.tolist()}")


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    names = sys.argv[1:] or list(MODELS)
    for name in names:
        cc, mc, extra, seed = MODELS[name]
        build(name, cc, mc, extra, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
