#!/usr/bin/env python3
"""Generate an end-to-end DPO training fixture with TRL's real ``DPOTrainer``.

What it does
------------
Runs ``trl.DPOTrainer`` (written against trl 1.16 / transformers 5.23) for 5
optimizer steps on the tiny Llama model committed at
``Tests/Fixtures/llama-mha/`` (V=128, untied) and records everything idpo's
Swift DPO trainer must reproduce:

``Tests/Fixtures/dpo-trl/trajectory.json``
    ``beta``, ``learning_rate``, ``steps``, ``source`` ("trl"),
    ``pairs``: per pair the EXACT token ids TRL fed the model, split into
    ``prompt_ids`` / ``chosen_ids`` / ``rejected_ids`` (completion ids include
    the eos id 2 that TRL appends; no BOS is added),
    ``losses``: the training loss TRL logged at steps 1..5 (each computed
    before that step's update; step 1 is log 2 because policy == reference),
    ``initial_logps``: per pair the summed completion log-probs (chosen,
    rejected) under the initial model, computed here with plain torch,
    ``torch_step_logps``: the same per step (policy before each update) from
    the independent torch loop, ``trl_log_history``: TRL's per-step log
    entries (grad_norm, rewards/*, logps/* ...), and ``notes``.
``Tests/Fixtures/dpo-trl/final.safetensors``
    The policy weights after the 5 steps, HF tensor names
    (``model.layers.0.self_attn.q_proj.weight``, ``lm_head.weight`` ...).

Why
---
It pins down, against the reference implementation, every convention a
re-implementation can get wrong: how TRL tokenizes a standard (non
conversational) preference dataset (eos appended to completions, no BOS),
which positions enter the summed log-probs, the sigmoid DPO loss
``-logsigmoid(beta * ((c - rc) - (r - rr))).mean()`` with a frozen copy of the
initial model as reference, and the optimizer step (plain SGD, lr 0.5,
constant schedule, no weight decay, no gradient clipping).  All 4 pairs are
in every batch (batch size 4, 4 examples), so the sampler's order is
irrelevant.

The script also re-derives the whole run with a hand-written PyTorch loop
(full logits, log_softmax + gather over completion positions, summed per
sequence, sigmoid DPO loss averaged over the pairs, ``p -= lr * grad``) and
asserts that it reproduces TRL's 5 losses and final weights to ~1e-6.

How to run
----------
From the repository root::

    python3 Scripts/make_dpo_fixture.py

Requires torch, transformers, trl, tokenizers, datasets, safetensors.  CPU
only, float32, seeded; it takes a few seconds.  Nothing else in the
repository is touched (the trainer's output_dir is a temporary directory).
"""

import json
import math
import os
import random
import re
import sys
import tempfile

# CPU only, quiet, deterministic: set before torch / transformers are imported.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import datasets
import tokenizers
import transformers
import trl
from datasets import Dataset
from tokenizers import AddedToken, Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(REPO_ROOT, "Tests", "Fixtures", "llama-mha")
OUT_DIR = os.path.join(REPO_ROOT, "Tests", "Fixtures", "dpo-trl")

VOCAB = 128
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
BETA = 0.1
LR = 0.5
STEPS = 5
N_PAIRS = 4
DATA_SEED = 20240601
TOL = 1e-6


def load_model() -> LlamaForCausalLM:
    model = LlamaForCausalLM.from_pretrained(
        MODEL_DIR, torch_dtype=torch.float32, attn_implementation="eager"
    )
    assert model.config.vocab_size == VOCAB
    return model


def make_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {f"t{i}": i for i in range(VOCAB)}
    # unk_token is deliberately NOT in the vocabulary: an unknown word (e.g.
    # two words glued together by string concatenation) makes encoding fail
    # instead of silently mapping to some id.
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = WhitespaceSplit()
    # No post-processor: nothing (no BOS / EOS) is added automatically.
    # The special tokens become "added tokens", which the tokenizer splits out
    # of the raw text BEFORE pre-tokenization, by substring match: a plain
    # "t1" would cut "t103" into "t1" + "03".  single_word=True makes them match
    # whole words only.
    def special(word):
        return AddedToken(word, single_word=True, lstrip=False, rstrip=False, normalized=False, special=True)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=special("t0"), bos_token=special("t1"), eos_token=special("t2")
    )
    assert (fast.pad_token_id, fast.bos_token_id, fast.eos_token_id) == (PAD_ID, BOS_ID, EOS_ID)
    assert fast("t5 t9 t7")["input_ids"] == [5, 9, 7], "tokenizer adds special tokens"
    probe = " ".join(f"t{i}" for i in range(VOCAB))
    assert fast(probe)["input_ids"] == list(range(VOCAB)), "tokenizer does not map tN -> N"
    return fast


def words(ids):
    return " ".join(f"t{i}" for i in ids)


def make_raw_pairs():
    """4 (prompt, chosen, rejected) id lists, ids in [3, 128)."""
    rng = random.Random(DATA_SEED)
    pairs = []
    for _ in range(N_PAIRS):
        p_len = rng.randint(3, 6)
        c_len = rng.randint(2, 7)
        r_len = rng.choice([n for n in range(2, 8) if n != c_len])
        prompt = [rng.randrange(3, VOCAB) for _ in range(p_len)]
        chosen = [rng.randrange(3, VOCAB) for _ in range(c_len)]
        rejected = [rng.randrange(3, VOCAB) for _ in range(r_len)]
        pairs.append((prompt, chosen, rejected))
    return pairs


def make_dataset(raw_pairs) -> Dataset:
    # TRL builds the prompt+completion text by plain string concatenation
    # (prompt + chosen) and appends eos by `chosen + eos_token` unless the
    # completion already ends with the eos string.  So completions start with a
    # space (word boundary after the prompt) and end with a space (a completion
    # ending in e.g. "t12" must not be mistaken for one ending in "t2", and the
    # appended "t2" must be a separate word).
    rows = {"prompt": [], "chosen": [], "rejected": []}
    for prompt, chosen, rejected in raw_pairs:
        rows["prompt"].append(words(prompt))
        rows["chosen"].append(" " + words(chosen) + " ")
        rows["rejected"].append(" " + words(rejected) + " ")
    return Dataset.from_dict(rows)


# ---------------------------------------------------------------------------
# Plain torch reference
# ---------------------------------------------------------------------------

def completion_logp(model, prompt_ids, completion_ids) -> torch.Tensor:
    """Sum of log p(completion token | prefix) for one unpadded sequence."""
    ids = torch.tensor([prompt_ids + completion_ids], dtype=torch.long)
    logits = model(input_ids=ids, use_cache=False).logits[0]  # (T, V)
    logprobs = F.log_softmax(logits.float(), dim=-1)
    p = len(prompt_ids)
    # token at position t (t >= p) is predicted by the logits at position t-1
    pos = torch.arange(p - 1, ids.shape[1] - 1)
    targets = ids[0, p:]
    return logprobs[pos, targets].sum()


def pair_logps(model, pairs):
    chosen = torch.stack([completion_logp(model, x["prompt_ids"], x["chosen_ids"]) for x in pairs])
    rejected = torch.stack([completion_logp(model, x["prompt_ids"], x["rejected_ids"]) for x in pairs])
    return chosen, rejected


def torch_dpo_run(pairs):
    """Independent re-implementation: returns (losses, step_logps, final state dict)."""
    torch.manual_seed(0)
    policy = load_model()
    policy.train()  # no dropout in this config; train() vs eval() is irrelevant
    reference = load_model()
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        ref_c, ref_r = pair_logps(reference, pairs)

    losses, step_logps = [], []
    for _ in range(STEPS):
        policy.zero_grad(set_to_none=True)
        c, r = pair_logps(policy, pairs)
        loss = -F.logsigmoid(BETA * ((c - ref_c) - (r - ref_r))).mean()
        loss.backward()
        losses.append(loss.item())
        step_logps.append({"chosen": c.detach().tolist(), "rejected": r.detach().tolist()})
        with torch.no_grad():
            for p in policy.parameters():
                p.sub_(LR * p.grad)
    final = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    return losses, step_logps, final, (ref_c.tolist(), ref_r.tolist())


# ---------------------------------------------------------------------------
# TRL run
# ---------------------------------------------------------------------------

class _BatchRecorder:
    """Wraps the trainer's collator to keep every batch TRL fed the model."""

    def __init__(self, collator):
        self.collator = collator
        self.batches = []

    def __call__(self, examples):
        out = self.collator(examples)
        self.batches.append({k: v.clone() for k, v in out.items()})
        return out


def trl_run(tokenizer, dataset, out_tmp):
    args = DPOConfig(
        output_dir=out_tmp,
        beta=BETA,
        loss_type=["sigmoid"],
        learning_rate=LR,
        optim="sgd",  # torch.optim.SGD(lr), momentum 0, dampening 0, nesterov False
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=0.0,  # Trainer clips only `if args.max_grad_norm > 0`
        per_device_train_batch_size=N_PAIRS,
        gradient_accumulation_steps=1,
        max_steps=STEPS,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        seed=0,
        data_seed=0,
        precompute_ref_log_probs=False,
        save_strategy="no",
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,  # DPOConfig defaults it to True (math-neutral, but keep it simple)
        max_length=None,  # no truncation
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    model = load_model()
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    recorder = _BatchRecorder(trainer.data_collator)
    trainer.data_collator = recorder

    # Sanity checks on the setup TRL actually built.
    opt = trainer.create_optimizer()
    assert isinstance(opt, torch.optim.SGD), type(opt)
    for g in opt.param_groups:
        assert g["lr"] == LR and g["momentum"] == 0 and g["weight_decay"] == 0 and not g["nesterov"], g
    assert trainer.ref_model is not None and trainer.ref_model is not trainer.model
    assert trainer.args.max_grad_norm == 0

    trainer.train()
    assert trainer.state.global_step == STEPS

    processed = trainer.train_dataset
    ids = [
        {
            "prompt_ids": list(processed[i]["prompt_ids"]),
            "chosen_ids": list(processed[i]["chosen_ids"]),
            "rejected_ids": list(processed[i]["rejected_ids"]),
        }
        for i in range(len(processed))
    ]
    history = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in history] == list(range(1, STEPS + 1)), trainer.state.log_history
    final = {k: v.detach().cpu().clone().contiguous() for k, v in trainer.model.state_dict().items()}
    return ids, history, final, recorder.batches


def check_batches(batches, pairs):
    """The collator output must be exactly prompt+completion of our recorded ids."""
    assert len(batches) >= STEPS, len(batches)
    key = lambda x: tuple(x["prompt_ids"])
    by_prompt = {key(x): x for x in pairs}
    assert len(by_prompt) == len(pairs)
    for b in batches:
        ids, att, comp = b["input_ids"], b["attention_mask"], b["completion_mask"]
        n = ids.shape[0] // 2
        assert n == len(pairs)
        for half, field in ((0, "chosen_ids"), (1, "rejected_ids")):
            for j in range(n):
                row = half * n + j
                L = int(att[row].sum())
                seq = ids[row, :L].tolist()
                assert ids[row, L:].eq(PAD_ID).all() and att[row, :L].eq(1).all()
                m = comp[row, :L].tolist()
                p = m.index(1)
                assert m == [0] * p + [1] * (L - p) and comp[row, L:].eq(0).all()
                x = by_prompt[tuple(seq[:p])]
                assert seq[p:] == x[field], (seq, x)


def main() -> int:
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
          f"tokenizers {tokenizers.__version__}, datasets {datasets.__version__}")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    tokenizer = make_tokenizer()
    raw = make_raw_pairs()
    dataset = make_dataset(raw)

    with tempfile.TemporaryDirectory() as tmp:
        pairs, history, trl_final, batches = trl_run(tokenizer, dataset, tmp)

    # The ids TRL used: prompt unchanged (no BOS), completions + eos.
    assert len(pairs) == N_PAIRS
    for x, (p, c, r) in zip(pairs, raw):
        assert x["prompt_ids"] == p, (x, p)
        assert x["chosen_ids"] == c + [EOS_ID], (x, c)
        assert x["rejected_ids"] == r + [EOS_ID], (x, r)
    check_batches(batches, pairs)

    trl_losses = [float(h["loss"]) for h in history]
    print("TRL losses:", trl_losses)
    assert abs(trl_losses[0] - math.log(2.0)) < 1e-6, (trl_losses[0], math.log(2.0))

    # Independent plain-torch run.
    t_losses, t_step_logps, t_final, (ref_c, ref_r) = torch_dpo_run(pairs)
    print("torch losses:", t_losses)
    loss_diff = max(abs(a - b) for a, b in zip(trl_losses, t_losses))
    assert set(t_final) == set(trl_final), (set(t_final) ^ set(trl_final))
    weight_diffs = {k: (t_final[k] - trl_final[k]).abs().max().item() for k in sorted(t_final)}
    weight_diff = max(weight_diffs.values())
    moved = max((trl_final[k] - v).abs().max().item() for k, v in load_model().state_dict().items())
    print(f"max |loss_trl - loss_torch|      = {loss_diff:.3e}")
    print(f"max |w_trl - w_torch| (final)    = {weight_diff:.3e}  "
          f"(worst: {max(weight_diffs, key=weight_diffs.get)})")
    print(f"max |w_final - w_initial| (TRL)  = {moved:.3e}")
    assert loss_diff < TOL, loss_diff
    assert weight_diff < TOL, weight_diff
    assert moved > 1e-3, "training did not move the weights"
    assert trl_losses[-1] < trl_losses[0], "loss did not decrease"

    keep = ("step", "loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected",
            "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected")
    trajectory = {
        "source": "trl",
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                     "trl": trl.__version__},
        "model": "Tests/Fixtures/llama-mha",
        "beta": BETA,
        "learning_rate": LR,
        "steps": STEPS,
        "loss_type": "sigmoid",
        "optimizer": "sgd (momentum 0, weight_decay 0), constant lr, no warmup, no grad clipping",
        "batch": "all 4 pairs every step (per_device_train_batch_size 4, grad accumulation 1)",
        "pairs": pairs,
        "losses": trl_losses,
        "initial_logps": [{"chosen": c, "rejected": r} for c, r in zip(ref_c, ref_r)],
        "torch_step_logps": [
            [{"chosen": c, "rejected": r} for c, r in zip(s["chosen"], s["rejected"])] for s in t_step_logps
        ],
        "trl_log_history": [{k: h[k] for k in keep if k in h} for h in history],
        "check": {"max_loss_diff_torch_vs_trl": loss_diff, "max_weight_diff_torch_vs_trl": weight_diff},
        "notes": [
            "Token ids are exactly those TRL's DataCollatorForPreference fed the model: input = prompt_ids + "
            "chosen_ids (resp. rejected_ids), right-padded with 0 in a batch of 8 rows [4 chosen; 4 rejected].",
            "TRL appends the eos token (id 2) to every completion of a standard (non-conversational) dataset; "
            "chosen_ids / rejected_ids here include it, and it is scored like any other completion token.",
            "No BOS is added (the tokenizer has no post-processor); prompt_ids are the raw prompt words.",
            "Summed log-probs: for each completion token at position t, log_softmax(logits[t-1])[id[t]], summed "
            "over the completion (prompt tokens are not scored). The reference model is a frozen copy of the "
            "initial weights, so step 1 has loss log 2.",
            "loss = mean over pairs of -logsigmoid(beta * ((c - rc) - (r - rr))); update p -= lr * grad.",
            "losses[k] is TRL's logged training loss of step k+1, computed before that step's update.",
            "initial_logps[i] / torch_step_logps[k][i] are from the independent plain-torch loop (unpadded "
            "sequences); torch_step_logps[0] == initial_logps.",
            "trl_log_history: TRL's per-step logs; rewards are beta * (logp - ref_logp) averaged over pairs, "
            "logps/* are the mean summed completion log-probs, grad_norm is the unclipped global L2 norm.",
        ],
    }

    os.makedirs(OUT_DIR, exist_ok=True)
    text = json.dumps(trajectory, indent=1)
    # Keep flat lists of numbers (token ids, losses) on one line.
    text = re.sub(r"\[\s*(-?[0-9][-0-9.e+]*(?:,\s*-?[0-9][-0-9.e+]*)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == trajectory
    with open(os.path.join(OUT_DIR, "trajectory.json"), "w") as f:
        f.write(text + "\n")
    weights_path = os.path.join(OUT_DIR, "final.safetensors")
    save_file({k: trl_final[k] for k in sorted(trl_final)}, weights_path, metadata={"format": "pt"})
    os.chmod(weights_path, 0o644)
    print(f"wrote {OUT_DIR}/trajectory.json and final.safetensors ({len(trl_final)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
