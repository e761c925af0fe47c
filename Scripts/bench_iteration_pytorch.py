#!/usr/bin/env python3
"""One online iterative-DPO iteration written with transformers + TRL, timed per stage: the
Python-stack counterpart of one ``idpo iterate`` iteration (generate -> judge -> train -> evaluate).

Usage (from the repository root)::

    python3 Scripts/make_bench_prompts.py runs/bench-py/prompts.jsonl 64 \
        --eval-out runs/bench-py/eval-prompts.jsonl --eval-n 16
    python3 Scripts/bench_iteration_pytorch.py \
        --policy runs/cache/real/smollm2-hf --judge runs/cache/real/smollm2-hf \
        --prompts runs/bench-py/prompts.jsonl --eval-prompts runs/bench-py/eval-prompts.jsonl \
        --k 4 --max-new-tokens 96 --steps 4 --threads 2 --out runs/bench-py/out

    # smoke test (a minute or two on 2 cores):
    python3 Scripts/bench_iteration_pytorch.py --policy runs/cache/real/smollm2-hf \
        --judge runs/cache/real/smollm2-hf --prompts P.jsonl --eval-prompts E.jsonl \
        --k 2 --max-new-tokens 8 --steps 1 --batch-size 2 --out /tmp/bench-tiny

Models are Hugging Face directories (Scripts/gguf_to_hf.py makes one from the SmolLM2 GGUF);
tokenizers are loaded with ``PreTrainedTokenizerFast.from_pretrained`` (REFERENCE.md §11: the
AutoTokenizer path can drop SmolLM2's Digits pre-tokenizer step).  Prompt files are idpo's
(``{"id": i, "prompt": "text" | [messages]}``, id defaults to the line's index).  Everything is
float32 on the CPU; ``torch.set_num_threads(--threads)`` (OMP/MKL_NUM_THREADS set before torch is
imported, interop threads 1).  Seeds are fixed (``--seed``, default 42, as idpo's run.seed).

The stages, and what they mirror in idpo (Sources/Pipeline/Run.swift ``runIteration``, t = 1):

``generate``  Load π0 (``--policy``); for each prompt: a conversation is rendered with the policy's
    chat template and the generation prompt and encoded without special tokens (a plain-string
    prompt is encoded as is, with the tokenizer's special tokens), cut to its last
    min(max_prompt_tokens, max_position_embeddings - max_new_tokens) tokens
    (ChatModel.promptTokens, Stages.generate).  ``model.generate(do_sample=True,
    num_return_sequences=k, temperature, top_p, top_k=0, max_new_tokens)``, stopping at the eos
    ids (tokenizer eos + generation_config eos).  ``--gen-batch P`` prompts per generate call,
    left-padded, i.e. P x k sequences decode together (default 8: 32 rows at k = 4; idpo decodes
    up to 128 rows together).  Measured on 2 cores shared with other jobs (SmolLM2-135M, 8 prompts
    x k 4 x 32 tokens, best of the runs made): 8 prompts per call 91 tok/s, 4: 77 tok/s, 2: 16
    tok/s (one run), 1 (the k samples of one prompt per call): 31 tok/s; 8 won every paired run.
    Batching prompts amortises the per-step cost of ``generate`` (weight streaming, sampling over
    the 49k vocabulary, Python overhead).  Response = the new tokens before the first stop
    token, decoded with skip_special_tokens; finish reason "stop" or "length".
    Writes iter-1/prompts.jsonl and iter-1/samples.jsonl (idpo's SampleRecord fields).
    torch.manual_seed(seed + t) before the stage (idpo: sampling seed = run.seed + t).

``judge``  Load the judge (``--judge``), the RLHFlow pairwise A/B preference model procedure of
    seed 001 / REFERENCE.md §2 (Sources/Pipeline/TextJudges.swift): context = the prompt's
    conversation rendered with the plain pair-PM template (ChatTemplate.pairPMPlain); text =
    "[CONTEXT] {context} [RESPONSE A] {a} [RESPONSE B] {b} \\n" as the single user message of the
    judge's chat template (no generation prompt); the BOS string removed (``--strip-bos all``:
    every occurrence, RLHFlow's ``.replace(bos, "")``, idpo's default; ``leading``: a leading one);
    encoded without special tokens.  P(A) = softmax([l_A, l_B] / T)[0] at the last position
    (float64 softmax of the float32 logits); P(r1 > r2) = (P(A | r1 first) + 1 - P(A | r2 first)) / 2.
    The two orders of a comparison run as one left-padded batch of 2 (explicit position ids,
    ``logits_to_keep=1``); ``--judge-batch 1`` runs them one by one as the seed does.
    Ranking: knockout (Sources/Preference/Ranking.swift, INPO): pairs (0,1),(2,3),...; winners'
    bracket -> best, first-round losers' bracket (+ bye) -> worst, then the final check
    P(best > worst) > 0.5 else the prompt is dropped; |P - 0.5| < 1e-6 is a tie and goes to the
    first-listed (lower-index) response; comparisons memoised with P(j > i) = 1 - P(i > j).
    Pair selection max_min: chosen = best, rejected = worst (PairSelection.swift).
    Writes iter-1/judgments.jsonl (every comparison) and iter-1/pairs.jsonl (TRL conversational
    pairs with idpo's extra fields).

``train``  TRL ``DPOTrainer`` on the pairs (conversational, explicit prompt) from π0 with
    ``precompute_ref_log_probs=True`` (the reference is π0, idpo's ``reference: initial``; its
    log-probs are computed once before training, the reference model is not kept): loss sigmoid,
    ``--beta``, ``--label-smoothing``, AdamW (transformers' default implementation, betas 0.9/0.999,
    eps 1e-8, weight decay 0), ``--lr`` with a cosine schedule (``--warmup-ratio`` -> warmup steps
    = ceil(ratio * steps) as idpo), max_grad_norm 1, ``--batch-size`` pairs per optimizer step
    as ``--micro-batch-size`` pairs per forward/backward x gradient accumulation, exactly
    ``--steps`` optimizer steps (max_steps), fp32 (bf16 off), no gradient checkpointing, dropout
    off, report_to none, seed seed + t.  Sequences as idpo cuts them (TrainStage,
    SequenceLimits.truncate): prompt keeps its last ``--max-prompt-length`` tokens, each response
    its first max(1, ``--max-length`` - prompt) tokens (TRL 1.16 has no max_prompt_length; a
    small collator subclass does the cut); pairs whose chosen and rejected tokens are equal are
    skipped.  The trained policy is saved (``trainer.save_model``) to iter-1/policy.
    Writes iter-1/reference-logps.jsonl and iter-1/metrics.jsonl (TRL's logged metrics per step).

``evaluate``  As Run.swift ``evaluate``: 4 samples per evaluation prompt from π(t) (loaded from
    iter-1/policy) and from π0, both with the sampling seed ``seed ^ 0xE7A1`` and
    ``--eval-max-new-tokens``; objective/kl = mean over π(t)'s samples of
    sum_i [log π(t)(y_i | x, y_<i) - log π0(y_i | x, y_<i)] over the generated tokens (stop token
    excluded); win rate of π(t) vs π0 by the judge: sample j against sample j, 1 win / 0.5 tie
    (equal texts, or |P - 0.5| < 1e-6) / 0 loss, averaged.  Writes iter-0/eval-samples.jsonl,
    iter-1/eval-samples.jsonl and iter-1/evaluation.json.

Each stage loads what it needs from disk and frees it at the end, as idpo's stages do (only one
model is held at a time).  Timings use time.perf_counter around each whole stage (model loading,
tokenization and file writing included).  Output: a per-stage table on stdout, ``bench.json`` in
``--out`` (timings, settings, versions, the iteration summary), and a final JSON line
``{"generate": s, "judge": s, "train": s, "evaluate": s, "total": s, "peak_rss_mb": ...}``
(peak RSS = ru_maxrss of this process).

Checked against idpo (.build/release/idpo on the same files, SmolLM2-135M as policy and judge):
``idpo judge`` on this script's samples gives the same P(A) per order to ~1e-6 and the same
pairs; ``idpo train`` on its pairs gives the same reference log-probs (~1e-6 relative) and the
same first-step grad_norm (~4e-5 relative).

Differences from idpo that remain:
  * Random streams: torch's sampler vs idpo's per-sample SplitMix64 streams, so the samples --
    and the pairs, training and evaluation that follow -- differ (both are seeded and
    repeatable); the samples here also depend on ``--gen-batch`` (idpo's do not depend on
    batching).  TRL shuffles the pairs with its own sampler (idpo: a seeded permutation per epoch).
  * Step count: exactly ``--steps`` optimizer steps (TRL max_steps, cycling over the pairs);
    idpo runs epochs x ceil(pairs / batch_size) steps -- choose the recipe's epochs and
    batch_size (or this script's ``--steps``) so that both run the same number, and the cosine
    schedule then agrees too.
  * Rounding: padded batched forwards (generation, judge orders, KL micro-batches of 16) and
    TRL's fused chunked LM head round differently from idpo's kernels (differences ~1e-6).
  * Work, not semantics: HF generation prefills each of the k copies of a prompt (idpo prefills
    once and forks the KV cache); the judge recomputes the shared context for every comparison
    (idpo keeps it in the KV cache); the KL pass reuses each policy while it is loaded for
    generation (idpo reloads π(t) and π0 for it).
"""

import argparse
import gc
import json
import math
import os
import resource
import sys
import time
import warnings

PAIR_PM_PLAIN = ("\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}"
                 "{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n")
PAIR_PM_PROMPT = "[CONTEXT] {context} [RESPONSE A] {response_A} [RESPONSE B] {response_B} \n"
TIE_TOLERANCE = 1e-6          # Ranking.swift tieTolerance
EVALUATION_SAMPLES = 4        # Run.swift evaluationSamples
EVAL_SEED_XOR = 0xE7A1        # Run.swift: s.seed = recipe.run.seed ^ 0xE7A1
ITERATION = 1


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True, help="π0: Hugging Face model directory")
    ap.add_argument("--judge", required=True, help="pairwise A/B preference model directory")
    ap.add_argument("--prompts", required=True, help="prompt file (JSON lines)")
    ap.add_argument("--eval-prompts", required=True, help="held-out prompt file (JSON lines)")
    ap.add_argument("--out", required=True, help="output directory (iter-0/, iter-1/, bench.json)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    # generation (recipe: generation.*, prompts.max_prompt_tokens)
    ap.add_argument("--k", type=int, default=4, help="samples per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--max-prompt-tokens", type=int, default=1024)
    ap.add_argument("--gen-batch", type=int, default=8,
                    help="prompts per model.generate call (each with num_return_sequences=k), left-padded; "
                         "default 8 (the fastest of 1, 2, 4, 8 measured on 2 cores)")
    # judge (recipe: judge.*)
    ap.add_argument("--judge-temperature", type=float, default=1.0)
    ap.add_argument("--strip-bos", choices=["all", "leading"], default="all")
    ap.add_argument("--judge-batch", type=int, choices=[1, 2], default=2,
                    help="2: both orders of a comparison in one padded forward; 1: one forward per order (the seed)")
    # training (recipe: training.*)
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps (TRL max_steps)")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=5e-7)
    ap.add_argument("--scheduler", default="cosine", choices=["cosine", "linear", "constant"])
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=8, help="pairs per optimizer step")
    ap.add_argument("--micro-batch-size", type=int, default=2, help="pairs per forward/backward")
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--max-prompt-length", type=int, default=1024)
    # evaluation (recipe: evaluation.max_new_tokens)
    ap.add_argument("--eval-max-new-tokens", type=int, default=None, help="default: --max-new-tokens")
    args = ap.parse_args()
    if args.eval_max_new_tokens is None:
        args.eval_max_new_tokens = args.max_new_tokens
    if args.k < 2:
        ap.error("--k must be at least 2 (a pair needs two responses)")
    if args.micro_batch_size < 1 or args.batch_size % args.micro_batch_size != 0:
        ap.error("--batch-size must be a multiple of --micro-batch-size (TRL's gradient accumulation)")
    if args.max_length <= args.max_prompt_length:
        ap.error("--max-length must exceed --max-prompt-length")
    return args


# ----------------------------------------------------------------------------------------------
# files


def read_prompts(path):
    """idpo's PromptFile.read: {"prompt": str | [messages], "id": int (default: index)}."""
    records, seen = [], set()
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    for index, line in enumerate(lines):
        o = json.loads(line)
        pid = o.get("id", index)
        if pid in seen:
            raise SystemExit(f"{path}: duplicate id {pid}")
        seen.add(pid)
        records.append({"id": pid, "prompt": o["prompt"]})
    if not records:
        raise SystemExit(f"{path}: no prompts")
    return records


def messages_of(prompt):
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def write_jsonl(path, objects):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for o in objects:
            f.write(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------------------------
# models


def load_model(directory):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    model.eval()
    return model


def load_tokenizer(directory):
    from transformers import PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast.from_pretrained(directory)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def stop_ids(model, tok):
    """ChatModel.stopTokens: the tokenizer's eos and generation_config's eos ids."""
    ids = set()
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    for cfg in (model.generation_config, model.config):
        e = getattr(cfg, "eos_token_id", None)
        if e is not None:
            ids.update(e if isinstance(e, (list, tuple)) else [e])
    return sorted(ids)


def prompt_ids(tok, prompt, limit):
    """ChatModel.promptTokens: (ids cut to their last `limit`, tokens cut)."""
    if isinstance(prompt, str):
        ids = tok.encode(prompt, add_special_tokens=True)
    else:
        text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tok.encode(text, add_special_tokens=False)
    cut = max(0, len(ids) - limit)
    return ids[cut:], cut


# ----------------------------------------------------------------------------------------------
# generate


def generate_samples(model, tok, prompts, k, max_new_tokens, temperature, top_p, max_prompt_tokens, gen_batch):
    """k samples per prompt; returns idpo SampleRecord dicts (in prompt order)."""
    import torch
    limit = min(max_prompt_tokens, model.config.max_position_embeddings - max_new_tokens)
    stops = stop_ids(model, tok)
    pad = tok.pad_token_id
    records, new_tokens = [], 0
    for start in range(0, len(prompts), gen_batch):
        chunk = prompts[start:start + gen_batch]
        encoded = [prompt_ids(tok, p["prompt"], limit) for p in chunk]
        width = max(len(ids) for ids, _ in encoded)
        input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (ids, _) in enumerate(encoded):      # left padding
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            mask[row, width - len(ids):] = 1
        kwargs = dict(max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=pad, use_cache=True)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0, num_return_sequences=k)
        else:  # greedy: k identical copies (HF refuses num_return_sequences > 1 without sampling or beams)
            input_ids, mask = input_ids.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
            kwargs.update(do_sample=False)
        with torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        generated = out[:, width:].tolist()
        for row, p in enumerate(chunk):
            responses, tokens, reasons = [], [], []
            for j in range(k):
                seq = generated[row * k + j]
                end = next((i for i, t in enumerate(seq) if t in stops), None)
                ids = seq if end is None else seq[:end]
                reasons.append("length" if end is None else "stop")
                tokens.append(ids)
                new_tokens += len(ids)
                responses.append(tok.decode([t for t in ids if t < len(tok)], skip_special_tokens=True))
            records.append({"id": p["id"], "prompt": p["prompt"], "responses": responses,
                            "response_token_counts": [len(t) for t in tokens], "response_tokens": tokens,
                            "finish_reasons": reasons, "prompt_tokens_truncated": encoded[row][1]})
    return records, new_tokens


# ----------------------------------------------------------------------------------------------
# judge


class PairwiseJudge:
    """The seed-001 pairwise preference model (TextJudge .pairwise + PairwiseScorer)."""

    def __init__(self, directory, temperature=1.0, strip_bos="all", batch=2):
        self.tok = load_tokenizer(directory)
        self.model = load_model(directory)
        self.temperature, self.strip_bos, self.batch = temperature, strip_bos, batch
        a = self.tok.encode("A", add_special_tokens=False)
        b = self.tok.encode("B", add_special_tokens=False)
        if len(a) != 1 or len(b) != 1:
            raise SystemExit(f"{directory}: 'A' and 'B' must be single tokens (got {a}, {b})")
        self.token_a, self.token_b = a[0], b[0]
        self.forwards = 0
        self.tokens = 0

    def context(self, messages):
        return self.tok.apply_chat_template(messages, chat_template=PAIR_PM_PLAIN, tokenize=False)

    def remove_bos(self, text):
        bos = self.tok.bos_token
        if not bos:
            return text
        if self.strip_bos == "all":
            return text.replace(bos, "")
        return text[len(bos):] if text.startswith(bos) else text

    def input_ids(self, context, a, b):
        prompt = PAIR_PM_PROMPT.format(context=context, response_A=a, response_B=b)
        text = self.tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False)
        return self.tok.encode(self.remove_bos(text), add_special_tokens=False)

    def probability_a(self, sequences):
        """P(A) at the last position of each sequence (one padded batch, or one by one)."""
        import torch
        groups = [sequences] if self.batch == 2 else [[s] for s in sequences]
        out = []
        for group in groups:
            width = max(len(s) for s in group)
            ids = torch.full((len(group), width), self.tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for row, s in enumerate(group):   # left padding: every row's last token is at -1
                ids[row, width - len(s):] = torch.tensor(s)
                mask[row, width - len(s):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=1, use_cache=False).logits[:, -1]
            self.forwards += 1
            self.tokens += sum(len(s) for s in group)
            for row in range(len(group)):
                la = float(logits[row, self.token_a]) / self.temperature
                lb = float(logits[row, self.token_b]) / self.temperature
                m = max(la, lb)
                out.append(math.exp(la - m) / (math.exp(la - m) + math.exp(lb - m)))
        return out

    def compare(self, context, r1, r2):
        """P(r1 > r2) with the position swap, and the two raw P(A)."""
        p = self.probability_a([self.input_ids(context, r1, r2), self.input_ids(context, r2, r1)])
        return (p[0] + (1 - p[1])) / 2, p[0], p[1]


class ComparisonLog:
    """Ranking.swift ComparisonLog: memoised comparisons of one prompt, in asking order."""

    def __init__(self, judge, context, responses):
        self.judge, self.context, self.responses = judge, context, responses
        self.log, self.memo = [], {}

    def p(self, i, j):
        if (i, j) in self.memo:
            return self.memo[(i, j)]
        prob, a_first, a_second = self.judge.compare(self.context, self.responses[i], self.responses[j])
        self.log.append({"first": i, "second": j, "p_first_better": prob,
                         "p_a_first_shown_as_a": a_first, "p_a_second_shown_as_a": a_second})
        self.memo[(i, j)] = prob
        self.memo[(j, i)] = 1 - prob
        return prob

    def i_is_better(self, i, j):
        v = self.p(i, j)
        if abs(v - 0.5) < TIE_TOLERANCE:
            return i < j
        return v > 0.5


def knockout(log, k):
    """Ranking.knockout: (best, worst, drop_reason)."""
    if k < 2:
        return None, None, "fewer than 2 responses"
    rnd, first_round_losers, first_round = list(range(k)), [], True
    while len(rnd) > 1:
        nxt, i = [], 0
        while i + 1 < len(rnd):
            a, b = rnd[i], rnd[i + 1]
            a_wins = log.i_is_better(a, b)
            nxt.append(a if a_wins else b)
            if first_round:
                first_round_losers.append(b if a_wins else a)
            i += 2
        if i < len(rnd):  # bye
            nxt.append(rnd[i])
            if first_round:
                first_round_losers.append(rnd[i])
        first_round, rnd = False, nxt
    best = rnd[0]
    losers = sorted(first_round_losers)
    while len(losers) > 1:
        nxt, i = [], 0
        while i + 1 < len(losers):
            a, b = losers[i], losers[i + 1]
            nxt.append(b if log.i_is_better(a, b) else a)
            i += 2
        if i < len(losers):
            nxt.append(losers[i])
        losers = nxt
    worst = losers[0]
    if best == worst:
        return None, None, "best and worst are the same response"
    p = log.p(best, worst)
    if p - 0.5 < TIE_TOLERANCE:
        return None, None, "final check failed: P(best ≻ worst) = %.6f" % p
    return best, worst, None


def judge_samples(judge, samples):
    """Stages.judge with knockout + max_min: (judgments, pairs, summary)."""
    judgments, pairs = [], []
    comparisons, reasons = 0, {}
    for s in samples:
        messages = messages_of(s["prompt"])
        log = ComparisonLog(judge, judge.context(messages), s["responses"])
        best, worst, reason = knockout(log, len(s["responses"]))
        comparisons += len(log.log)
        o = {"id": s["id"], "prompt": s["prompt"], "responses": s["responses"], "ranking": "knockout",
             "comparisons": log.log}
        if best is not None:
            o.update(best=best, worst=worst, chosen_index=best, rejected_index=worst)
            pairs.append({"id": s["id"], "iteration": ITERATION, "prompt": messages,
                          "chosen": [{"role": "assistant", "content": s["responses"][best]}],
                          "rejected": [{"role": "assistant", "content": s["responses"][worst]}],
                          "chosen_index": best, "rejected_index": worst, "responses": s["responses"]})
        else:
            o["drop_reason"] = reason
            key = "final check failed" if reason.startswith("final check failed") else reason
            reasons[key] = reasons.get(key, 0) + 1
        judgments.append(o)
    summary = {"prompts": len(samples), "pairs": len(pairs), "dropped": len(samples) - len(pairs),
               "drop_reasons": reasons, "comparisons": comparisons,
               "comparisons_per_prompt": comparisons / max(1, len(samples))}
    return judgments, pairs, summary


# ----------------------------------------------------------------------------------------------
# train


def pair_token_ids(tok, messages, chosen, rejected):
    """PairTokenization / TRL's tokenize_fn: prompt, chosen and rejected ids after the shared prefix."""
    def render(msgs, gen):
        return tok.encode(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen),
                          add_special_tokens=False)
    p = render(messages, True)
    c = render(messages + [{"role": "assistant", "content": chosen}], False)
    r = render(messages + [{"role": "assistant", "content": rejected}], False)

    def shared(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n
    n = min(shared(p, c), shared(p, r))
    return p[:n], c[n:], r[n:]


def truncate_pair(prompt, chosen, rejected, max_length, max_prompt_length):
    """SequenceLimits.truncate: prompt keeps its end, responses keep their start."""
    if len(prompt) > max_prompt_length:
        prompt = prompt[-max_prompt_length:]
    room = max(1, max_length - len(prompt))
    return prompt, chosen[:room], rejected[:room]


def describe_optimizer(opt):
    inner = getattr(opt, "optimizer", opt)   # accelerate wraps it
    d = inner.defaults
    flags = [f for f in ("fused", "foreach") if d.get(f)]
    decay = sorted({g.get("weight_decay") for g in inner.param_groups})   # the groups override defaults
    return f"{type(inner).__name__}(betas={tuple(d.get('betas', ()))}, eps={d.get('eps')}, " \
           f"weight_decay={decay}{', ' + ', '.join(flags) if flags else ''})"


def train_policy(args, pairs, out_dir):
    from dataclasses import dataclass
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    @dataclass
    class IdpoTruncation(DataCollatorForPreference):
        """TRL 1.16 dropped max_prompt_length; cut as idpo (and older TRL) do before padding."""
        max_prompt_length: int = 1024

        def torch_call(self, examples):
            cut = []
            for e in examples:
                p, c, r = truncate_pair(e["prompt_ids"], e["chosen_ids"], e["rejected_ids"],
                                        self.max_length, self.max_prompt_length)
                cut.append({**e, "prompt_ids": p, "chosen_ids": c, "rejected_ids": r})
            return super().torch_call(cut)

    tok = load_tokenizer(args.policy)
    # idpo skips pairs whose chosen and rejected are the same tokens once cut (TrainStage.run).
    kept, skipped = [], 0
    for p in pairs:
        ids = pair_token_ids(tok, p["prompt"], p["chosen"][0]["content"], p["rejected"][0]["content"])
        _, c, r = truncate_pair(*ids, args.max_length, args.max_prompt_length)
        if c == r:
            skipped += 1
        else:
            kept.append(p)
    if not kept:
        raise SystemExit("no preference pairs to train on")
    dataset = Dataset.from_list([{"id": p["id"], "prompt": p["prompt"], "chosen": p["chosen"],
                                  "rejected": p["rejected"]} for p in kept])
    model = load_model(args.policy)
    model.train()
    config = DPOConfig(
        output_dir=os.path.join(out_dir, "trainer"),
        max_steps=args.steps,
        per_device_train_batch_size=args.micro_batch_size,
        gradient_accumulation_steps=args.batch_size // args.micro_batch_size,
        learning_rate=args.lr,
        lr_scheduler_type=args.scheduler,
        warmup_steps=math.ceil(args.warmup_ratio * args.steps),
        weight_decay=0.0,
        max_grad_norm=1.0,
        beta=args.beta,
        loss_type=["sigmoid"],
        label_smoothing=args.label_smoothing,
        max_length=args.max_length,
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=args.micro_batch_size,
        bf16=False,
        fp16=False,
        activation_checkpointing=False,   # TRL's default is on (gradient_checkpointing=True)
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=args.seed + ITERATION,
        data_seed=args.seed + ITERATION,
    )
    collator = IdpoTruncation(pad_token_id=tok.pad_token_id, max_length=args.max_length,
                              max_prompt_length=args.max_prompt_length)
    t0 = time.perf_counter()
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tok,
                         data_collator=collator)
    reference_seconds = time.perf_counter() - t0   # tokenization + reference log-probs
    t1 = time.perf_counter()
    result = trainer.train()
    train_seconds = time.perf_counter() - t1
    policy_dir = os.path.join(out_dir, "policy")
    trainer.save_model(policy_dir)
    metrics = [dict(h) for h in trainer.state.log_history if "loss" in h]
    data = trainer.train_dataset   # TRL drops pairs whose prompt alone fills max_length
    ref = [{"id": i, "chosen_logp": float(c), "rejected_logp": float(r)}
           for i, c, r in zip(data["id"], data["ref_chosen_logps"], data["ref_rejected_logps"])]
    info = {"pairs": len(data), "pairs_skipped_identical": skipped, "steps": trainer.state.global_step,
            "reference_seconds": reference_seconds, "optimizer_seconds": train_seconds,
            "optimizer": describe_optimizer(trainer.optimizer), "train_runtime": result.metrics.get("train_runtime")}
    del trainer, model
    gc.collect()
    return policy_dir, metrics, ref, info


# ----------------------------------------------------------------------------------------------
# evaluate


def response_logprobs(model, sequences, micro_batch=16):
    """SequenceScoring.responseLogProbs: sum of log p(response tokens | prompt, earlier tokens)."""
    import torch
    out = []
    for start in range(0, len(sequences), micro_batch):
        chunk = sequences[start:start + micro_batch]
        width = max(len(p) + len(r) for p, r in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (p, r) in enumerate(chunk):   # right padding
            ids[row, :len(p) + len(r)] = torch.tensor(p + r)
            mask[row, :len(p) + len(r)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        for row, (p, r) in enumerate(chunk):
            out.append(float(logp[row, len(p) - 1:len(p) + len(r) - 1].double().sum()) if r else 0.0)
    return out


def kl_sequences(tok, model, samples, max_prompt_tokens, max_new_tokens):
    limit = max(1, min(max_prompt_tokens, model.config.max_position_embeddings - max_new_tokens))
    seqs = []
    for s in samples:
        p, _ = prompt_ids(tok, s["prompt"], limit)
        for r in s["response_tokens"]:
            seqs.append((p, r))
    return seqs


def win_rate(judge, current, initial):
    """Run.swift winRate: sample j of π(t) vs sample j of π0."""
    total, count = 0.0, 0
    for x, y in zip(current, initial):
        context = judge.context(messages_of(x["prompt"]))
        for ra, rb in zip(x["responses"], y["responses"]):
            count += 1
            if ra == rb:
                total += 0.5
                continue
            p, _, _ = judge.compare(context, ra, rb)
            total += 0.5 if abs(p - 0.5) < TIE_TOLERANCE else (1.0 if p > 0.5 else 0.0)
    return total / max(1, count)


# ----------------------------------------------------------------------------------------------


def main():
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["MKL_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("WANDB_DISABLED", "true")
    warnings.filterwarnings("ignore", category=FutureWarning)   # transformers' renamed-argument notices
    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import transformers
    import trl
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()

    iter0, iter1 = os.path.join(args.out, "iter-0"), os.path.join(args.out, "iter-1")
    os.makedirs(iter1, exist_ok=True)
    os.makedirs(iter0, exist_ok=True)
    prompts = read_prompts(args.prompts)
    eval_prompts = read_prompts(args.eval_prompts)
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
          f"threads {torch.get_num_threads()}; {len(prompts)} prompts x k {args.k}, {args.max_new_tokens} new tokens, "
          f"{args.steps} steps, {len(eval_prompts)} eval prompts x {EVALUATION_SAMPLES}", flush=True)
    seconds, summary = {}, {"iteration": ITERATION}
    t_total = time.perf_counter()

    # generate -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    torch.manual_seed(args.seed + ITERATION)
    tok, model = load_tokenizer(args.policy), load_model(args.policy)
    samples, new_tokens = generate_samples(model, tok, prompts, args.k, args.max_new_tokens, args.temperature,
                                           args.top_p, args.max_prompt_tokens, args.gen_batch)
    write_jsonl(os.path.join(iter1, "prompts.jsonl"), [{"id": p["id"], "prompt": p["prompt"]} for p in prompts])
    write_jsonl(os.path.join(iter1, "samples.jsonl"), samples)
    del model
    gc.collect()
    seconds["generate"] = time.perf_counter() - t0
    reasons = [r for s in samples for r in s["finish_reasons"]]
    summary.update(generated_tokens=new_tokens,
                   mean_response_tokens=new_tokens / max(1, len(reasons)),
                   contain_eos_token=sum(r == "stop" for r in reasons) / max(1, len(reasons)))
    print(f"generate: {seconds['generate']:.1f} s, {new_tokens} tokens ({new_tokens / seconds['generate']:.1f} tok/s)",
          flush=True)

    # judge ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    judge = PairwiseJudge(args.judge, args.judge_temperature, args.strip_bos, args.judge_batch)
    judgments, pairs, js = judge_samples(judge, samples)
    write_jsonl(os.path.join(iter1, "judgments.jsonl"), judgments)
    write_jsonl(os.path.join(iter1, "pairs.jsonl"), pairs)
    judge_tokens = judge.tokens
    del judge
    gc.collect()
    seconds["judge"] = time.perf_counter() - t0
    summary.update(js)
    summary["judge_tokens"] = judge_tokens
    print(f"judge: {seconds['judge']:.1f} s, {js['pairs']} pairs of {js['prompts']} prompts "
          f"({js['dropped']} dropped), {js['comparisons']} comparisons, {judge_tokens} judge tokens", flush=True)
    if not pairs:
        raise SystemExit("the judge produced no preference pairs; nothing to train on")

    # train ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    policy_dir, metrics, ref, info = train_policy(args, pairs, iter1)
    write_jsonl(os.path.join(iter1, "metrics.jsonl"), metrics)
    write_jsonl(os.path.join(iter1, "reference-logps.jsonl"), ref)
    gc.collect()
    seconds["train"] = time.perf_counter() - t0
    last = metrics[-1] if metrics else {}
    summary.update(train=info, final_loss=last.get("loss"), final_reward_accuracy=last.get("rewards/accuracies"),
                   final_reward_margin=last.get("rewards/margins"))
    print(f"train: {seconds['train']:.1f} s ({info['steps']} steps on {info['pairs']} pairs; reference log-probs "
          f"{info['reference_seconds']:.1f} s, optimizer steps {info['optimizer_seconds']:.1f} s), "
          f"final loss {last.get('loss')}", flush=True)

    # evaluate -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    eval_seed = args.seed ^ EVAL_SEED_XOR
    tok_t, model_t = load_tokenizer(policy_dir), load_model(policy_dir)
    torch.manual_seed(eval_seed)
    current, _ = generate_samples(model_t, tok_t, eval_prompts, EVALUATION_SAMPLES, args.eval_max_new_tokens,
                                  args.temperature, args.top_p, args.max_prompt_tokens, args.gen_batch)
    seqs = kl_sequences(tok_t, model_t, current, args.max_prompt_tokens, args.eval_max_new_tokens)
    logp_t = response_logprobs(model_t, seqs)
    del model_t
    gc.collect()
    tok0, model0 = load_tokenizer(args.policy), load_model(args.policy)
    torch.manual_seed(eval_seed)
    initial, _ = generate_samples(model0, tok0, eval_prompts, EVALUATION_SAMPLES, args.eval_max_new_tokens,
                                  args.temperature, args.top_p, args.max_prompt_tokens, args.gen_batch)
    logp_0 = response_logprobs(model0, seqs)
    del model0
    gc.collect()
    kl = sum(a - b for a, b in zip(logp_t, logp_0)) / max(1, len(seqs))
    write_jsonl(os.path.join(iter1, "eval-samples.jsonl"), current)
    write_jsonl(os.path.join(iter0, "eval-samples.jsonl"), initial)
    judge = PairwiseJudge(args.judge, args.judge_temperature, args.strip_bos, args.judge_batch)
    wr = win_rate(judge, current, initial)
    del judge
    gc.collect()
    evaluation = {"iteration": ITERATION, "prompts": len(current), "win_rate_vs_initial": wr,
                  "win_rate_vs_previous": wr, "objective/kl": kl}
    with open(os.path.join(iter1, "evaluation.json"), "w") as f:
        json.dump(evaluation, f, indent=2, sort_keys=True)
        f.write("\n")
    seconds["evaluate"] = time.perf_counter() - t0
    summary.update(win_rate_vs_initial=wr, kl_from_initial=kl)
    print(f"evaluate: {seconds['evaluate']:.1f} s, win rate vs π0 {100 * wr:.1f}%, KL(π‖π0) {kl:.3f}", flush=True)
    seconds["total"] = time.perf_counter() - t_total

    # report ---------------------------------------------------------------------------------
    peak = peak_rss_mb()
    print("\nstage       seconds")
    for name in ("generate", "judge", "train", "evaluate", "total"):
        print(f"{name:10s} {seconds[name]:8.1f}")
    print(f"peak RSS   {peak:8.0f} MB")
    result = {name: round(seconds[name], 3) for name in ("generate", "judge", "train", "evaluate", "total")}
    result["peak_rss_mb"] = round(peak, 1)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump({"seconds": result, "settings": vars(args), "summary": summary,
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                "trl": trl.__version__}}, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
