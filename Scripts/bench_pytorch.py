#!/usr/bin/env python3
"""PyTorch eager CPU reference benchmark for idpo (same workloads as `idpo bench`).

Usage (from the repository root)::

    python3 Scripts/bench_pytorch.py --shape stories15M|stories110M|smollm2-135M|llama-1b|qwen2.5-0.5b|gemma-2b --threads N \
        [--json FILE] [--workloads train,forward,decode1,decode8[,dpo]] \
        [--repeats R] [--attn sdpa|eager]

Model: transformers ``LlamaForCausalLM``, float32, random weights (HF default
init, seed 0), tied embeddings, vocab 32000, max_position_embeddings 1024,
rope_theta 10000, rms_norm_eps 1e-5.  Attention implementation is ``sdpa`` by
default (``torch.nn.functional.scaled_dot_product_attention``); ``--attn
eager`` selects HF's matmul/softmax implementation.

    stories15M : hidden 288, 6 layers, 6 heads (6 kv), intermediate 768
    stories110M: hidden 768, 12 layers, 12 heads (12 kv), intermediate 2048

Threads: OMP_NUM_THREADS / MKL_NUM_THREADS are set to N before torch is
imported, and ``torch.set_num_threads(N)`` (interop threads 1).

Workloads (timings use time.perf_counter; 1 warm-up step, then the median of
``--repeats`` timed steps, default 3):

``train``    batch 8 x 256 tokens, forward + backward of the mean next-token
             cross-entropy (``labels = input_ids``, HF shifts internally);
             gradients are reset (set_to_none) before each step, no optimizer.
             tokens/s = 2048 / seconds per step.
``forward``  the same batch under ``torch.no_grad()`` (full logits, B x T x V).
``decode1``  ``model.generate`` with batch 1, a 32-token random prompt and
             exactly 128 new tokens (min_new_tokens = max_new_tokens = 128,
             do_sample False, use_cache True, greedy).  tokens/s = 1*128 / s.
             (The warm-up call generates only 8 tokens.)
``decode8``  as decode1 with batch 8.  tokens/s = 8*128 / s.
``sample8``  k = 8 sampling: for each of 4 random 64-token prompts,
             ``model.generate(num_return_sequences=8, do_sample=True,
             temperature=1.0, top_p=1.0, max_new_tokens = min_new_tokens = 128)``
             (the prompt is expanded to 8 rows, i.e. prefilled 8 times).
             tokens/s = 4*8*128 / seconds for the 4 prompts.
``dpo``      one TRL-style DPO optimizer step: 4 pairs, chosen and rejected
             each 256 tokens with a shared 64-token prompt whose tokens are
             masked out of the log-probabilities; the 8 sequences are
             concatenated into one batch; policy forward + backward; reference
             model (a deep copy, under no_grad) forward every step; sigmoid DPO
             loss with beta 0.1; AdamW step (lr 1e-6) and zero_grad.
             Reported as seconds per step; tokens/s = 2048 / s (policy tokens).

GFLOP/s (train, forward, dpo) is an estimate:

    N        = parameters used in matmuls = all Linear weights in the blocks
               + the LM head (V x D; with tied embeddings this is the embedding
               matrix, the embedding lookup itself is not counted).  Norm
               weights are ignored.
    attn_fwd = 4 * n_layers * T * D per token (QK^T and AV, full T x T, causal
               masking not discounted; PaLM convention)
    forward  : flops = tokens * (2 * N + attn_fwd)
    train    : flops = tokens * (6 * N + 3 * attn_fwd)
    dpo      : train flops for the policy + forward flops for the reference
    GFLOP/s  = flops / seconds / 1e9

Output: one line per workload on stdout.  With ``--json FILE`` a JSON list of
objects ``{"name", "shape", "threads", "tokens_per_s", "seconds",
"peak_rss_bytes", "gflop_per_s", "attn", "baseline_rss_bytes"}`` is written
(``gflop_per_s`` is null for decode workloads).  ``peak_rss_bytes`` is
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (converted to bytes);
``baseline_rss_bytes`` is the same value taken after importing torch and
transformers but before building the model (~0.75 GiB for a CUDA build of
torch), so ``peak - baseline`` approximates the workload's own memory.  Because peak RSS is monotonic
per process, each workload runs in its own child process when more than one
workload is requested (so each number covers model + that workload only).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = {
    "stories15M": dict(hidden_size=288, num_hidden_layers=6, num_attention_heads=6,
                       num_key_value_heads=6, intermediate_size=768),
    "stories110M": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        num_key_value_heads=12, intermediate_size=2048),
    # the shapes of real models users train (idpo bench --shape smollm2-135M / llama-1b)
    "smollm2-135M": dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, intermediate_size=1536, vocab_size=49152, rope_theta=100000.0),
    "llama-1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, intermediate_size=8192, vocab_size=128256, rope_theta=500000.0),
    # Qwen2ForCausalLM (q/k/v biases), idpo bench --shape qwen2.5-0.5b
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, intermediate_size=4864, vocab_size=151936, rope_theta=1000000.0,
                         rms_norm_eps=1e-6, arch="qwen2"),
    # GemmaForCausalLM (GeGLU, (1 + w) norms, one KV head), idpo bench --shape gemma-2b
    "gemma-2b": dict(hidden_size=2048, num_hidden_layers=18, num_attention_heads=8, num_key_value_heads=1,
                     head_dim=256, intermediate_size=16384, vocab_size=256000, rope_theta=10000.0,
                     rms_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh", arch="gemma"),
}
VOCAB = 32000   # stories shapes; the others name their vocab_size
ALL_WORKLOADS = ["train", "forward", "decode1", "decode8", "sample8", "dpo"]
DEFAULT_WORKLOADS = "train,forward,decode1,decode8"

TRAIN_B, TRAIN_T = 8, 256
PROMPT_LEN, NEW_TOKENS = 32, 128
DPO_PAIRS, DPO_T, DPO_PROMPT, DPO_BETA = 4, 256, 64, 0.1


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--json", default=None, help="write results as a JSON list to FILE")
    ap.add_argument("--workloads", default=DEFAULT_WORKLOADS,
                    help=f"comma separated subset of {','.join(ALL_WORKLOADS)}")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--in-process", action="store_true",
                    help="run all workloads in this process (peak RSS becomes cumulative)")
    ap.add_argument("--_child-out", dest="child_out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    wl = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in wl:
        if w not in ALL_WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {ALL_WORKLOADS}")
    args.workload_list = wl
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    return args


def peak_rss_bytes():
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


def fmt_line(res):
    g = f"  {res['gflop_per_s']:8.2f} GFLOP/s" if res.get("gflop_per_s") is not None else ""
    return (f"{res['name']:8s} {res['shape']:12s} threads={res['threads']:<3d} attn={res['attn']:5s} "
            f"{res['tokens_per_s']:10.1f} tok/s  {res['seconds']:9.4f} s{g}  "
            f"peakRSS {res['peak_rss_bytes'] / 2**20:8.1f} MiB "
            f"(baseline {res.get('baseline_rss_bytes', 0) / 2**20:.0f} MiB)")


# ----------------------------------------------------------------------------
# workloads (torch imported lazily, after thread env vars are set)


def build_model(shape, attn):
    import torch
    from transformers import (GemmaConfig, GemmaForCausalLM, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)
    torch.manual_seed(0)
    params = dict(SHAPES[shape])
    global VOCAB
    VOCAB = params.pop("vocab_size", 32000)
    config_class, model_class = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "gemma": (GemmaConfig, GemmaForCausalLM)}.get(
        params.pop("arch", "llama"), (LlamaConfig, LlamaForCausalLM))
    params.setdefault("rms_norm_eps", 1e-5)
    cfg = config_class(vocab_size=VOCAB, max_position_embeddings=2048,
                       tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                       attn_implementation=attn, **params)
    model = model_class(cfg).to(torch.float32)
    model.config._attn_implementation = attn
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


def matmul_params(model):
    cfg = model.config
    n = 0
    for name, p in model.model.layers.named_parameters():
        if p.dim() == 2:
            n += p.numel()
    n += cfg.vocab_size * cfg.hidden_size  # LM head
    return n


def flops_forward(model, tokens, T):
    cfg = model.config
    return tokens * (2 * matmul_params(model) + 4 * cfg.num_hidden_layers * T * cfg.hidden_size)


def flops_train(model, tokens, T):
    cfg = model.config
    return tokens * (6 * matmul_params(model) + 12 * cfg.num_hidden_layers * T * cfg.hidden_size)


def timed(fn, repeats, warmup_fn=None):
    import torch  # noqa: F401
    (warmup_fn or fn)()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_workload(name, args):
    import torch
    import transformers.models.llama.modeling_llama  # noqa: F401  (count library import in baseline)
    baseline = peak_rss_bytes()  # interpreter + torch + transformers, before the model exists
    gen = torch.Generator().manual_seed(1)
    model = build_model(args.shape, args.attn)
    gflops = None

    if name in ("train", "forward"):
        ids = torch.randint(3, VOCAB, (TRAIN_B, TRAIN_T), generator=gen)
        tokens = TRAIN_B * TRAIN_T
        if name == "train":
            model.train()

            def step():
                model.zero_grad(set_to_none=True)
                loss = model(input_ids=ids, labels=ids, use_cache=False).loss
                loss.backward()
            secs = timed(step, args.repeats)
            gflops = flops_train(model, tokens, TRAIN_T) / secs / 1e9
        else:
            model.eval()

            def step():
                with torch.no_grad():
                    model(input_ids=ids, use_cache=False)
            secs = timed(step, args.repeats)
            gflops = flops_forward(model, tokens, TRAIN_T) / secs / 1e9
        tps = tokens / secs

    elif name in ("decode1", "decode8"):
        model.eval()
        b = 1 if name == "decode1" else 8
        prompt = torch.randint(3, VOCAB, (b, PROMPT_LEN), generator=gen)
        mask = torch.ones_like(prompt)

        def gen_fn(n):
            def f():
                with torch.no_grad():
                    out = model.generate(input_ids=prompt, attention_mask=mask,
                                         max_new_tokens=n, min_new_tokens=n,
                                         do_sample=False, use_cache=True, pad_token_id=0,
                                         eos_token_id=2)
                assert out.shape == (b, PROMPT_LEN + n), out.shape
            return f
        secs = timed(gen_fn(NEW_TOKENS), args.repeats, warmup_fn=gen_fn(8))
        tps = b * NEW_TOKENS / secs

    elif name == "sample8":
        model.eval()
        prompts = torch.randint(3, VOCAB, (4, 64), generator=gen)

        def sample_fn(n):
            def f():
                for i in range(prompts.shape[0]):
                    p = prompts[i:i + 1]
                    with torch.no_grad():
                        out = model.generate(input_ids=p, attention_mask=torch.ones_like(p),
                                             max_new_tokens=n, min_new_tokens=n, do_sample=True,
                                             temperature=1.0, top_p=1.0, top_k=0,
                                             num_return_sequences=8, use_cache=True,
                                             pad_token_id=0, eos_token_id=2)
                    assert out.shape == (8, 64 + n), out.shape
            return f
        secs = timed(sample_fn(NEW_TOKENS), args.repeats, warmup_fn=sample_fn(8))
        tps = 4 * 8 * NEW_TOKENS / secs

    elif name == "dpo":
        import copy
        import torch.nn.functional as F
        model.train()
        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
        prompt = torch.randint(3, VOCAB, (DPO_PAIRS, DPO_PROMPT), generator=gen)
        chosen = torch.cat([prompt, torch.randint(3, VOCAB, (DPO_PAIRS, DPO_T - DPO_PROMPT), generator=gen)], 1)
        rejected = torch.cat([prompt, torch.randint(3, VOCAB, (DPO_PAIRS, DPO_T - DPO_PROMPT), generator=gen)], 1)
        ids = torch.cat([chosen, rejected], 0)  # (8, 256): chosen first, then rejected
        labels = ids[:, 1:]
        loss_mask = torch.zeros_like(labels, dtype=torch.float32)
        loss_mask[:, DPO_PROMPT - 1:] = 1.0  # positions predicting completion tokens

        def seq_logps(m):
            logits = m(input_ids=ids, use_cache=False).logits[:, :-1]
            lp = torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
            return (lp * loss_mask).sum(-1)

        def step():
            with torch.no_grad():
                r = seq_logps(ref)
            p = seq_logps(model)
            pc, pr = p[:DPO_PAIRS], p[DPO_PAIRS:]
            rc, rr = r[:DPO_PAIRS], r[DPO_PAIRS:]
            logits = DPO_BETA * ((pc - pr) - (rc - rr))
            loss = -F.logsigmoid(logits).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        secs = timed(step, args.repeats)
        tokens = 2 * DPO_PAIRS * DPO_T
        tps = tokens / secs
        gflops = (flops_train(model, tokens, DPO_T) + flops_forward(model, tokens, DPO_T)) / secs / 1e9
    else:
        raise ValueError(name)

    return {"name": name, "shape": args.shape, "threads": args.threads,
            "tokens_per_s": tps, "seconds": secs, "peak_rss_bytes": peak_rss_bytes(),
            "gflop_per_s": gflops, "attn": args.attn, "baseline_rss_bytes": baseline}


def main():
    args = parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["MKL_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    results = []
    if args.child_out is not None or args.in_process or len(args.workload_list) == 1:
        import torch
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        if args.child_out is None:
            import transformers
            print(f"# torch {torch.__version__}, transformers {transformers.__version__}, "
                  f"threads {torch.get_num_threads()}, attn {args.attn}", flush=True)
        for w in args.workload_list:
            res = run_workload(w, args)
            results.append(res)
            if args.child_out is None:
                print(fmt_line(res), flush=True)
        if args.child_out is not None:
            with open(args.child_out, "w") as f:
                json.dump(results, f)
            return 0
    else:
        import importlib.metadata as md
        print(f"# torch {md.version('torch')}, transformers {md.version('transformers')}, "
              f"threads {args.threads}, attn {args.attn} (one child process per workload)", flush=True)
        for w in args.workload_list:
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
                tmp = tf.name
            try:
                cmd = [sys.executable, os.path.abspath(__file__), "--shape", args.shape,
                       "--threads", str(args.threads), "--workloads", w,
                       "--repeats", str(args.repeats), "--attn", args.attn, "--_child-out", tmp]
                subprocess.run(cmd, check=True)
                with open(tmp) as f:
                    res = json.load(f)[0]
            finally:
                os.unlink(tmp)
            results.append(res)
            print(fmt_line(res), flush=True)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
