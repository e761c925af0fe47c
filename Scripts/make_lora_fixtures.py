#!/usr/bin/env python3
"""Generate LoRA (PEFT) reference fixtures for idpo's adapter support.

What it does
------------
Wraps the tiny Llama models committed at ``Tests/Fixtures/llama-mha/`` and
``Tests/Fixtures/llama-gqa-tied/`` (written by ``Scripts/make_fixtures.py``)
with PEFT LoRA adapters, sets every ``lora_A`` / ``lora_B`` weight to seeded
random non-zero values (PEFT's default init has B = 0, which would make the
adapter a no-op), and records what idpo's adapter forward, backward, merge,
save/load and DPO training must reproduce.  Written under
``Tests/Fixtures/lora/``:

``lora-mha/``  (base ``llama-mha``; r=4, lora_alpha=8, target_modules
"all-linear", which PEFT resolves to the 7 projections q/k/v/o/gate/up/down
of every layer -- never ``lm_head``; the script asserts it)
    ``adapter/adapter_config.json``, ``adapter/adapter_model.safetensors``
        exactly as written by ``PeftModel.save_pretrained`` (PEFT's
        README.md is deleted), except that ``target_modules`` is sorted and
        ``base_model_name_or_path`` is the repository-relative base directory
        (both for byte-determinism; see "Conventions").
    ``reference.safetensors``
        The batch of ``make_fixtures.py``, read back from the base's own
        ``reference.safetensors``: ``input_ids`` I64 (B,T), ``lengths`` I64
        (B,), ``targets`` I64 (B,T), ``loss_weights`` F32 (B,T); then
        ``logits`` F32 (B,T,V) of base + adapter, ``logprobs`` F32 (B,T),
        ``loss`` F32 (1,), ``base_logits`` F32 (B,T,V) with the adapter
        disabled (equal to the base fixture's ``logits``), and
        ``grad.<key>`` F32 for every LoRA parameter, ``<key>`` being exactly
        the tensor name in ``adapter_model.safetensors`` (e.g.
        ``grad.base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``).
        Only the LoRA parameters require grad.
    ``merged/``
        ``merge_and_unload()`` of base + adapter, ``save_pretrained``
        (config.json, generation_config.json, model.safetensors; float32, HF
        names as in the base).
``lora-gqa/``  (base ``llama-gqa-tied``, GQA + tied embeddings; r=3,
lora_alpha=6, use_rslora=True, target_modules q_proj, v_proj, o_proj,
down_proj)
    ``adapter/`` and ``reference.safetensors`` as above (no ``merged/``).
``dpo-trl/``  TRL ``DPOTrainer`` training a LoRA adapter on ``llama-mha``
    ``initial_adapter/``  the seeded random non-zero starting adapter (r=4,
        lora_alpha=8, the 7 projections), ``save_pretrained`` layout.
    ``final_adapter.safetensors``  the LoRA weights after 5 steps, same tensor
        names as ``adapter_model.safetensors``.
    ``trajectory.json``  ``beta``, ``learning_rate``, ``steps``, ``lora``,
        ``pairs`` (exact token ids, as in ``make_dpo_fixture.py``),
        ``losses`` (TRL logged, steps 1..5), ``initial_logps`` (policy =
        reference = base + initial adapter), ``base_logps`` (adapter
        disabled -- NOT the reference), ``torch_step_logps``,
        ``trl_log_history``, ``check`` and ``notes``.

Batch conventions (from make_fixtures.py)
-----------------------------------------
B=3 right-padded sequences of lengths [11, 7, 4], T=11; ``attention_mask`` =
1 for t < length; default position ids 0..T-1.

    logprobs[b, t] = log_softmax(logits[b, t])[targets[b, t]]
    loss           = -(loss_weights * logprobs).sum()

LoRA initialisation: for each adapted Linear (in -> out), ``lora_A`` (r, in)
~ uniform(-1/sqrt(in), 1/sqrt(in)) (the bound of PEFT's default kaiming init)
and ``lora_B`` (out, r) ~ normal * 0.2 (0.05 for dpo-trl), from a seeded
``torch.Generator`` in ``named_parameters()`` order.

DPO conventions (from make_dpo_fixture.py)
------------------------------------------
Same tokenizer, 4 pairs, dataset, DPOConfig: sigmoid loss, beta 0.1, plain
SGD lr 0.5, constant schedule, no weight decay, no clipping, 5 steps, all 4
pairs in every batch.  Only the LoRA parameters are trained.  The reference
model is base + INITIAL adapter (so step 1 has loss log 2): the model is
handed to ``DPOTrainer`` as a pre-wrapped ``PeftModel`` with no
``ref_model`` and no ``peft_config``; TRL 1.16 then adds a frozen adapter
named "ref" that is a copy of "default" and computes reference log-probs with
``use_adapter(model, "ref")``.  (Had we passed ``peft_config`` instead, TRL
would use the base with adapters disabled as reference.)  The script
re-derives the run with a hand-written torch loop (reference log-probs from a
separately loaded base + initial adapter, ``p -= lr * grad`` on LoRA params)
and asserts losses and final adapter match TRL to ~1e-6.

Conventions (PEFT 0.21)
-----------------------
* Adapted output: ``y = W x + scaling * B (A x)`` with ``scaling =
  lora_alpha / r`` (2.0 for lora-mha and dpo-trl), or ``lora_alpha /
  sqrt(r)`` with ``use_rslora`` (6 / sqrt(3) = 3.4641 for lora-gqa); merged
  ``W' = W + scaling * B @ A``.  Asserted here.
* Saved tensor names drop the adapter name: in-memory
  ``...q_proj.lora_A.default.weight`` is saved as ``...q_proj.lora_A.weight``,
  prefixed ``base_model.model.`` (then the HF name ``model.layers.N...``).
* "all-linear" is saved in adapter_config.json as the list of full module
  paths (``model.layers.0.self_attn.q_proj`` ...), not the short names;
  explicit lists are saved as given.  PEFT keeps target_modules in a set, so
  the saved order depends on Python's string hashing -- sorted here.
* ``inference_mode`` is saved as true; ``adapter_model.safetensors`` metadata
  is ``{"format": "pt"}``; all tensors F32.

How to run
----------
From the repository root::

    python3 Scripts/make_lora_fixtures.py

Requires torch, transformers, peft, trl, tokenizers, datasets, safetensors
(written against torch 2.15, transformers 5.25, peft 0.21.2, trl 1.16).  CPU
only, float32, seeded; it takes a few seconds and is deterministic: running it
twice produces byte-identical files (about 0.6 MB in total).  Nothing else
in the repository is touched (the trainer's output_dir is a temporary
directory).
"""

import copy
import json
import math
import os
import re
import shutil
import sys
import tempfile

# CPU only, quiet, deterministic: set before torch / transformers are imported.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import peft
import transformers
import trl
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from transformers import LlamaForCausalLM
from trl import DPOConfig, DPOTrainer

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
import make_dpo_fixture as dpo  # noqa: E402  (tokenizer, pairs, dataset, logp helpers)

REPO_ROOT = os.path.dirname(SCRIPTS)
FIXTURES = os.path.join(REPO_ROOT, "Tests", "Fixtures")
OUT_ROOT = os.path.join(FIXTURES, "lora")

SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

ADAPTERS = {
    "lora-mha": dict(
        base="llama-mha",
        seed=4321,
        b_std=0.2,
        lora=dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"),
        expect_modules=SEVEN,
        merged=True,
    ),
    "lora-gqa": dict(
        base="llama-gqa-tied",
        seed=8765,
        b_std=0.2,
        lora=dict(r=3, lora_alpha=6, lora_dropout=0.0, use_rslora=True,
                  target_modules=["q_proj", "v_proj", "o_proj", "down_proj"]),
        expect_modules=["q_proj", "v_proj", "o_proj", "down_proj"],
        merged=False,
    ),
}

DPO_SEED = 97531
DPO_B_STD = 0.05
DPO_LORA = dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(SEVEN))
TOL = 1e-6


def rel(path: str) -> str:
    return os.path.relpath(path, REPO_ROOT)


def load_base(base_dir: str) -> LlamaForCausalLM:
    model = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager")
    assert model.config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    return model


def saved_key(param_name: str) -> str:
    """In-memory PEFT parameter name -> tensor name in adapter_model.safetensors."""
    key = param_name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
    assert ".default." not in key, param_name
    return key


def lora_layers(pm: PeftModel):
    return [(n, m) for n, m in pm.named_modules() if isinstance(m, LoraLayer)]


def check_targets(pm: PeftModel, expect_modules) -> None:
    base = pm.get_base_model()
    n_layers = base.config.num_hidden_layers
    got = sorted(n.split("base_model.model.", 1)[1] for n, _ in lora_layers(pm))
    want = sorted(
        f"model.layers.{i}.{'mlp' if m in ('gate_proj', 'up_proj', 'down_proj') else 'self_attn'}.{m}"
        for i in range(n_layers) for m in expect_modules
    )
    assert got == want, (got, want)
    assert not any("lm_head" in n or "embed" in n for n in got), got


def init_lora(pm: PeftModel, gen: torch.Generator, b_std: float) -> None:
    """Seeded non-zero A and B for every LoRA layer; asserts only LoRA params train."""
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if ".lora_A." in name:
                assert p.requires_grad and p.dim() == 2, name
                bound = 1.0 / math.sqrt(p.shape[1])
                p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound)
            elif ".lora_B." in name:
                assert p.requires_grad and p.dim() == 2, name
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * b_std)
            else:
                assert not p.requires_grad, f"non-LoRA parameter {name} requires grad"


def check_scaling(pm: PeftModel, lora: dict) -> None:
    """scaling = alpha / r (alpha / sqrt(r) with rslora); merged W = W + scaling * B @ A."""
    r, alpha = lora["r"], lora["lora_alpha"]
    want = alpha / math.sqrt(r) if lora.get("use_rslora") else alpha / r
    merged = copy.deepcopy(pm).merge_and_unload()
    merged_params = dict(merged.named_parameters())
    for name, layer in lora_layers(pm):
        assert layer.scaling["default"] == want, (name, layer.scaling, want)
        A = layer.lora_A["default"].weight
        B = layer.lora_B["default"].weight
        W = layer.base_layer.weight
        assert A.shape == (r, W.shape[1]) and B.shape == (W.shape[0], r), (name, A.shape, B.shape, W.shape)
        hf = name.split("base_model.model.", 1)[1] + ".weight"
        expect = W + want * (B @ A)
        d = (merged_params[hf] - expect).abs().max().item()
        assert d < 1e-6, (hf, d)
    print(f"  scaling {want:.6f} ({'alpha/sqrt(r)' if lora.get('use_rslora') else 'alpha/r'}); "
          f"merged W = W + scaling * B @ A checked for {len(lora_layers(pm))} layers")


def normalise_saved_config(adapter_dir: str) -> None:
    # README.md carries nothing the tests need and is not reproducible.
    readme = os.path.join(adapter_dir, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    assert sorted(os.listdir(adapter_dir)) == ["adapter_config.json", "adapter_model.safetensors"], \
        os.listdir(adapter_dir)


def save_adapter(pm: PeftModel, adapter_dir: str, base_rel: str) -> None:
    cfg = pm.peft_config["default"]
    # PEFT keeps target_modules as a set (saved in hash order): sort it; and
    # record the base as a repository-relative path rather than this checkout's.
    cfg.target_modules = sorted(cfg.target_modules)
    cfg.base_model_name_or_path = base_rel
    pm.save_pretrained(adapter_dir)
    normalise_saved_config(adapter_dir)


def build_adapter_fixture(name: str, spec: dict) -> None:
    base_rel = os.path.join("Tests", "Fixtures", spec["base"])
    base_dir = os.path.join(REPO_ROOT, base_rel)
    out_dir = os.path.join(OUT_ROOT, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    print(f"== {name} (base {spec['base']}) -> {rel(out_dir)}")

    torch.manual_seed(spec["seed"])
    model = load_base(base_dir)
    pm = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **spec["lora"]))
    check_targets(pm, spec["expect_modules"])
    init_lora(pm, torch.Generator().manual_seed(spec["seed"]), spec["b_std"])
    check_scaling(pm, spec["lora"])

    base_ref = load_file(os.path.join(base_dir, "reference.safetensors"))
    ids, lengths = base_ref["input_ids"], base_ref["lengths"]
    targets, loss_weights = base_ref["targets"], base_ref["loss_weights"]
    B, T = ids.shape
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(torch.int64)
    V = pm.get_base_model().config.vocab_size

    pm.train()  # lora_dropout is 0.0 and the base has no dropout
    pm.zero_grad(set_to_none=True)
    logits = pm(input_ids=ids, attention_mask=mask, use_cache=False).logits
    assert logits.dtype == torch.float32 and logits.shape == (B, T, V)
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = -(loss_weights * logprobs).sum()
    loss.backward()
    with torch.no_grad(), pm.disable_adapter():
        base_logits = pm(input_ids=ids, attention_mask=mask, use_cache=False).logits
    d_base = (base_logits - base_ref["logits"]).abs().max().item()
    assert d_base < 1e-5, f"adapter-disabled logits differ from the base fixture by {d_base}"
    delta = (logits.detach() - base_logits).abs().max().item()
    assert delta > 1.0, f"adapter barely changes the logits ({delta})"

    ref = {
        "input_ids": ids.contiguous(),
        "lengths": lengths.contiguous(),
        "targets": targets.contiguous(),
        "loss_weights": loss_weights.contiguous(),
        "logits": logits.detach().contiguous(),
        "logprobs": logprobs.detach().contiguous(),
        "loss": loss.detach().reshape(1).contiguous(),
        "base_logits": base_logits.contiguous(),
    }
    trainable = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    for pname, p in pm.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, pname
    for pname, p in trainable:
        assert p.grad is not None and p.grad.abs().max() > 0, pname
        ref[f"grad.{saved_key(pname)}"] = p.grad.detach().clone().contiguous()

    adapter_dir = os.path.join(out_dir, "adapter")
    save_adapter(pm, adapter_dir, base_rel)
    save_file(ref, os.path.join(out_dir, "reference.safetensors"))

    # The saved adapter: keys == grad keys, values == the live parameters, and
    # it reloads (sorted target_modules, relative base path) to the same logits.
    saved = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    assert sorted(saved) == sorted(k[len("grad."):] for k in ref if k.startswith("grad.")), sorted(saved)
    live = {saved_key(n): p.detach() for n, p in trainable}
    assert all(torch.equal(saved[k], live[k]) for k in saved)
    assert all(v.dtype == torch.float32 for v in saved.values())
    reloaded = PeftModel.from_pretrained(load_base(base_dir), adapter_dir)
    reloaded.eval()
    with torch.no_grad():
        d_reload = (reloaded(input_ids=ids, attention_mask=mask, use_cache=False).logits - logits).abs().max().item()
    assert d_reload < 1e-6, d_reload

    if spec["merged"]:
        merged = pm.merge_and_unload()
        assert isinstance(merged, LlamaForCausalLM)
        merged.eval()
        with torch.no_grad():
            d_merged = (merged(input_ids=ids, attention_mask=mask, use_cache=False).logits - logits).abs().max().item()
        assert d_merged < 1e-4, d_merged
        merged_dir = os.path.join(out_dir, "merged")
        merged.save_pretrained(merged_dir, safe_serialization=True)
        assert all(p.dtype == torch.float32 for p in merged.parameters())
        print(f"  merged: max |logits_merged - logits_adapter| = {d_merged:.3e}")

    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        saved_cfg = json.load(f)
    print(f"  adapter_config: r {saved_cfg['r']}, alpha {saved_cfg['lora_alpha']}, "
          f"rslora {saved_cfg['use_rslora']}, target_modules {saved_cfg['target_modules']}")
    print(f"  adapter_model.safetensors: {len(saved)} tensors, e.g.")
    for k in sorted(saved)[:4]:
        print(f"    {k:70s} {tuple(saved[k].shape)}")
    valid = mask.bool()
    print(f"  max |logits - base_logits| {delta:.4f}; mean logprob (valid) "
          f"{logprobs.detach()[valid].mean().item():.4f}; loss {loss.item():.8f}")
    print(f"  reload max diff {d_reload:.3e}; adapter-disabled vs base fixture {d_base:.3e}")


# ---------------------------------------------------------------------------
# DPO with a LoRA adapter
# ---------------------------------------------------------------------------

def make_initial_adapter(adapter_dir: str) -> None:
    torch.manual_seed(DPO_SEED)
    pm = get_peft_model(dpo.load_model(), LoraConfig(task_type="CAUSAL_LM", **DPO_LORA))
    check_targets(pm, SEVEN)
    init_lora(pm, torch.Generator().manual_seed(DPO_SEED), DPO_B_STD)
    check_scaling(pm, DPO_LORA)
    save_adapter(pm, adapter_dir, os.path.join("Tests", "Fixtures", "llama-mha"))


def load_policy(adapter_dir: str, trainable: bool) -> PeftModel:
    pm = PeftModel.from_pretrained(dpo.load_model(), adapter_dir, is_trainable=trainable)
    for n, p in pm.named_parameters():
        assert p.requires_grad == (trainable and ".lora_" in n), (n, p.requires_grad)
    return pm


def adapter_state(pm: PeftModel, adapter_name: str = "default") -> dict:
    sd = get_peft_model_state_dict(pm, adapter_name=adapter_name)
    return {k: v.detach().cpu().clone().contiguous() for k, v in sd.items()}


def trl_run(tokenizer, dataset, adapter_dir, out_tmp):
    args = DPOConfig(
        output_dir=out_tmp,
        beta=dpo.BETA,
        loss_type=["sigmoid"],
        learning_rate=dpo.LR,
        optim="sgd",
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=0.0,
        per_device_train_batch_size=dpo.N_PAIRS,
        gradient_accumulation_steps=1,
        max_steps=dpo.STEPS,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        seed=0,
        data_seed=0,
        precompute_ref_log_probs=False,
        save_strategy="no",
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        max_length=None,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    torch.manual_seed(0)
    model = load_policy(adapter_dir, trainable=True)
    base_before = {k: v.clone() for k, v in model.get_base_model().state_dict().items() if "lora_" not in k}
    # A pre-wrapped PeftModel, no ref_model, no peft_config: TRL adds a frozen
    # "ref" adapter copied from "default" (= the initial adapter) and uses it
    # as the reference.
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    recorder = dpo._BatchRecorder(trainer.data_collator)
    trainer.data_collator = recorder

    assert trainer.ref_model is None
    assert sorted(trainer.model.peft_config) == ["default", "ref"], list(trainer.model.peft_config)
    initial = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    ref_before = adapter_state(trainer.model, "ref")
    assert sorted(ref_before) == sorted(initial) and all(torch.equal(ref_before[k], initial[k]) for k in initial)
    opt = trainer.create_optimizer()
    assert isinstance(opt, torch.optim.SGD), type(opt)
    for g in opt.param_groups:
        assert g["lr"] == dpo.LR and g["momentum"] == 0 and g["weight_decay"] == 0 and not g["nesterov"], g
    opt_params = {id(p) for g in opt.param_groups for p in g["params"]}
    default_params = {id(p) for n, p in trainer.model.named_parameters() if ".default." in n and ".lora_" in n}
    assert opt_params == default_params, "optimizer must hold exactly the default adapter's LoRA params"

    trainer.train()
    assert trainer.state.global_step == dpo.STEPS

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
    assert [h["step"] for h in history] == list(range(1, dpo.STEPS + 1)), trainer.state.log_history
    final = adapter_state(trainer.model, "default")
    ref_after = adapter_state(trainer.model, "ref")
    assert all(torch.equal(ref_after[k], initial[k]) for k in initial), "TRL's ref adapter moved"
    base_after = {k: v for k, v in trainer.model.get_base_model().state_dict().items() if "lora_" not in k}
    assert sorted(base_after) == sorted(base_before)
    assert all(torch.equal(base_after[k], base_before[k]) for k in base_before), "base weights moved"
    return ids, history, final, recorder.batches


def torch_dpo_run(pairs, adapter_dir):
    """Independent loop: reference = separately loaded base + initial adapter."""
    torch.manual_seed(0)
    policy = load_policy(adapter_dir, trainable=True)
    policy.train()
    reference = load_policy(adapter_dir, trainable=False)
    reference.eval()
    with torch.no_grad():
        ref_c, ref_r = dpo.pair_logps(reference, pairs)
        with reference.disable_adapter():
            base_c, base_r = dpo.pair_logps(reference, pairs)

    params = [p for p in policy.parameters() if p.requires_grad]
    losses, step_logps = [], []
    for _ in range(dpo.STEPS):
        policy.zero_grad(set_to_none=True)
        c, r = dpo.pair_logps(policy, pairs)
        loss = -F.logsigmoid(dpo.BETA * ((c - ref_c) - (r - ref_r))).mean()
        loss.backward()
        losses.append(loss.item())
        step_logps.append({"chosen": c.detach().tolist(), "rejected": r.detach().tolist()})
        with torch.no_grad():
            for p in params:
                p.sub_(dpo.LR * p.grad)
    final = adapter_state(policy, "default")
    return losses, step_logps, final, (ref_c.tolist(), ref_r.tolist()), (base_c.tolist(), base_r.tolist())


def build_dpo_fixture() -> None:
    out_dir = os.path.join(OUT_ROOT, "dpo-trl")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    print(f"== dpo-trl (base llama-mha) -> {rel(out_dir)}")
    adapter_dir = os.path.join(out_dir, "initial_adapter")
    make_initial_adapter(adapter_dir)
    initial = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))

    tokenizer = dpo.make_tokenizer()
    raw = dpo.make_raw_pairs()
    dataset = dpo.make_dataset(raw)
    with tempfile.TemporaryDirectory() as tmp:
        pairs, history, trl_final, batches = trl_run(tokenizer, dataset, adapter_dir, tmp)

    assert len(pairs) == dpo.N_PAIRS
    for x, (p, c, r) in zip(pairs, raw):
        assert x["prompt_ids"] == p, (x, p)
        assert x["chosen_ids"] == c + [dpo.EOS_ID], (x, c)
        assert x["rejected_ids"] == r + [dpo.EOS_ID], (x, r)
    dpo.check_batches(batches, pairs)
    # Same pairs as the full-model fixture.
    with open(os.path.join(FIXTURES, "dpo-trl", "trajectory.json")) as f:
        assert json.load(f)["pairs"] == pairs

    trl_losses = [float(h["loss"]) for h in history]
    print("  TRL losses:  ", trl_losses)
    assert abs(trl_losses[0] - math.log(2.0)) < 1e-6, (trl_losses[0], math.log(2.0))

    t_losses, t_step_logps, t_final, (ref_c, ref_r), (base_c, base_r) = torch_dpo_run(pairs, adapter_dir)
    print("  torch losses:", t_losses)
    loss_diff = max(abs(a - b) for a, b in zip(trl_losses, t_losses))
    assert sorted(t_final) == sorted(trl_final) == sorted(initial)
    weight_diffs = {k: (t_final[k] - trl_final[k]).abs().max().item() for k in sorted(t_final)}
    weight_diff = max(weight_diffs.values())
    moved = max((trl_final[k] - initial[k]).abs().max().item() for k in initial)
    base_gap = max(abs(a - b) for a, b in zip(ref_c + ref_r, base_c + base_r))
    print(f"  max |loss_trl - loss_torch|       = {loss_diff:.3e}")
    print(f"  max |w_trl - w_torch| (final)     = {weight_diff:.3e}  "
          f"(worst: {max(weight_diffs, key=weight_diffs.get)})")
    print(f"  max |w_final - w_initial| (TRL)   = {moved:.3e}")
    print(f"  max |logp_ref - logp_base|        = {base_gap:.3e}  (reference is not the bare base)")
    assert loss_diff < TOL, loss_diff
    assert weight_diff < TOL, weight_diff
    assert moved > 1e-3, "training did not move the adapter"
    assert base_gap > 0.1, "initial adapter barely changes the log-probs"
    assert trl_losses[-1] < trl_losses[0], "loss did not decrease"

    keep = ("step", "loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected",
            "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected")
    scaling = DPO_LORA["lora_alpha"] / DPO_LORA["r"]
    trajectory = {
        "source": "trl",
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                     "trl": trl.__version__, "peft": peft.__version__},
        "model": "Tests/Fixtures/llama-mha",
        "initial_adapter": "Tests/Fixtures/lora/dpo-trl/initial_adapter",
        "lora": {"r": DPO_LORA["r"], "lora_alpha": DPO_LORA["lora_alpha"], "scaling": scaling,
                 "lora_dropout": 0.0, "use_rslora": False, "target_modules": sorted(SEVEN)},
        "beta": dpo.BETA,
        "learning_rate": dpo.LR,
        "steps": dpo.STEPS,
        "loss_type": "sigmoid",
        "optimizer": "sgd (momentum 0, weight_decay 0) on the LoRA parameters only, constant lr, no warmup, "
                     "no grad clipping",
        "batch": "all 4 pairs every step (per_device_train_batch_size 4, grad accumulation 1)",
        "pairs": pairs,
        "losses": trl_losses,
        "initial_logps": [{"chosen": c, "rejected": r} for c, r in zip(ref_c, ref_r)],
        "base_logps": [{"chosen": c, "rejected": r} for c, r in zip(base_c, base_r)],
        "torch_step_logps": [
            [{"chosen": c, "rejected": r} for c, r in zip(s["chosen"], s["rejected"])] for s in t_step_logps
        ],
        "trl_log_history": [{k: h[k] for k in keep if k in h} for h in history],
        "check": {"max_loss_diff_torch_vs_trl": loss_diff, "max_adapter_diff_torch_vs_trl": weight_diff},
        "notes": [
            "Policy = base llama-mha + LoRA adapter (initial_adapter/: seeded random non-zero A and B, "
            "scaling lora_alpha / r = 2). Only the LoRA A/B weights are trained; the base is frozen.",
            "Reference = base + INITIAL adapter (frozen), so step 1 has loss log 2. TRL 1.16 does this when it is "
            "handed a pre-wrapped PeftModel with no ref_model and no peft_config: it adds a frozen adapter 'ref' "
            "copied from 'default' and computes reference log-probs under it. (With peft_config, or a fresh B=0 "
            "adapter, TRL's reference is the base with adapters disabled; base_logps shows that this differs.)",
            "Token ids, tokenization (eos id 2 appended to completions, no BOS), scored positions and batching "
            "are exactly those of Tests/Fixtures/dpo-trl (Scripts/make_dpo_fixture.py).",
            "loss = mean over pairs of -logsigmoid(beta * ((c - rc) - (r - rr))); update p -= lr * grad for the "
            "LoRA parameters.",
            "losses[k] is TRL's logged training loss of step k+1, computed before that step's update.",
            "initial_logps (= reference), base_logps (adapter disabled) and torch_step_logps[k] are from the "
            "independent plain-torch loop (unpadded sequences); torch_step_logps[0] == initial_logps.",
            "final_adapter.safetensors holds the adapter after the 5 TRL steps, tensor names as in "
            "initial_adapter/adapter_model.safetensors (base_model.model.<HF module>.lora_A.weight / .lora_B.weight).",
        ],
    }
    text = json.dumps(trajectory, indent=1)
    text = re.sub(r"\[\s*(-?[0-9][-0-9.e+]*(?:,\s*-?[0-9][-0-9.e+]*)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == trajectory
    with open(os.path.join(out_dir, "trajectory.json"), "w") as f:
        f.write(text + "\n")
    save_file({k: trl_final[k] for k in sorted(trl_final)}, os.path.join(out_dir, "final_adapter.safetensors"),
              metadata={"format": "pt"})
    print(f"  wrote trajectory.json, final_adapter.safetensors ({len(trl_final)} tensors), initial_adapter/")


def main() -> int:
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"trl {trl.__version__}")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(OUT_ROOT, exist_ok=True)
    for name, spec in ADAPTERS.items():
        build_adapter_fixture(name, spec)
    build_dpo_fixture()

    total = 0
    for root, dirs, files in os.walk(OUT_ROOT):
        dirs.sort()
        for fn in sorted(files):
            path = os.path.join(root, fn)
            assert fn != "README.md", path
            sz = os.path.getsize(path)
            total += sz
            print(f"{rel(path)}: {sz} bytes")
            if fn.endswith(".json"):
                with open(path) as f:
                    assert REPO_ROOT not in f.read(), f"absolute path in {path}"
            elif fn.endswith(".safetensors"):
                with safe_open(path, "pt") as f:
                    for k in f.keys():
                        assert f.get_slice(k).get_dtype() in ("F32", "I64"), (path, k)
    print(f"total fixture size: {total} bytes")
    assert total < 1_500_000, "fixtures grew unexpectedly large"
    return 0


if __name__ == "__main__":
    sys.exit(main())
