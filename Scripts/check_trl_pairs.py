#!/usr/bin/env python3
"""Dev-time check that TRL's DPOTrainer reads a pairs file written by `idpo judge` as is (CI never runs this).

  1. Loads the pairs file (TRL conversational format with explicit prompt, plus idpo's extra keys:
     chosen_reward, rejected_reward, margin, responses, scores, id, iteration, chosen_index,
     rejected_index, chosen_target, rejected_target) with datasets.load_dataset("json", ...), unmodified.
  2. Runs trl.DPOTrainer for 2 steps on the CPU with the tiny PM directory of check_pairwise_pm.py
     as the policy (its reference is a copy) and prints the logged losses.
  3. Compares TRL's token ids of the first pair (prompt = apply_chat_template(prompt,
     add_generation_prompt=True); completion = what the template appends for the assistant turn,
     content.strip() + "<|eot_id|>" for Llama 3) with `idpo tokenize` on the rendered prompt text and
     on content.strip() + "<|eot_id|>", then does the same for every pair of the file (count only).
  4. Probe: `datasets` fixes a JSON column's type from its first 10 MB block; idpo writes whole-valued
     doubles as JSON integers (1, not 1.0). It loads a > 10 MB file made of the file's own lines
     followed by one line whose chosen_reward is fractional (as a tie in a k >= 3 round robin gives)
     and reports whether that loads (informational; does not change the exit status).

Usage (from the repository root, after Scripts/check_pairwise_pm.py has written .build-devcheck/pm and
.build-devcheck/pm_pairs.jsonl):
  python3 Scripts/check_trl_pairs.py [--pairs .build-devcheck/pm_pairs.jsonl] [--model .build-devcheck/pm]
                                     [--idpo .build-devcheck/swift/debug/idpo]
Needs torch, transformers, trl, datasets. Exits non-zero when TRL fails or the token ids differ.
"""
import argparse
import json
import os
import subprocess
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EOT = "<|eot_id|>"


def idpo_tokenize(idpo, model_dir, text):
    out = subprocess.run([idpo, "tokenize", "--model", model_dir], input=text.encode("utf-8"),
                         capture_output=True, check=True)
    return [int(x) for x in out.stdout.decode().split()]


def trl_run(args, dataset_path):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    dataset = datasets.load_dataset("json", data_files=dataset_path, split="train")
    print(f"datasets read {len(dataset)} rows; columns {dataset.column_names}")
    print("features:", {k: str(v) for k, v in dataset.features.items()})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    config = DPOConfig(output_dir=os.path.join(args.dir, "trl_out"), max_steps=2, per_device_train_batch_size=2,
                       report_to="none", use_cpu=True, gradient_checkpointing=False, save_strategy="no", bf16=False,
                       max_length=512, logging_steps=1, seed=0)
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    processed = trainer.train_dataset
    print(f"TRL's processed train dataset columns: {processed.column_names}")
    result = trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    return tokenizer, dataset, processed, result, logs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=".build-devcheck")
    ap.add_argument("--pairs", default=".build-devcheck/pm_pairs.jsonl")
    ap.add_argument("--model", default=".build-devcheck/pm")
    ap.add_argument("--idpo", default=".build-devcheck/swift/debug/idpo")
    ap.add_argument("--skip-probe", action="store_true")
    args = ap.parse_args()
    os.chdir(ROOT)
    ok = True

    # 1-2. TRL on the file as written.
    try:
        tokenizer, dataset, processed, result, logs = trl_run(args, args.pairs)
    except Exception:
        print("FAIL: TRL could not use the file as written:")
        traceback.print_exc()
        return 1
    for h in logs:
        keep = {k: (round(v, 7) if isinstance(v, float) else v) for k, v in h.items()
                if k in ("step", "loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected",
                         "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected")}
        print("TRL log:", keep)
    print(f"TRL train: global_step {result.global_step}, training_loss {result.training_loss:.7f}")
    ok &= result.global_step == 2 and len(logs) == 2

    # 3. Token ids of the first pair: TRL vs idpo.
    def compare(row_raw, row_trl, verbose):
        prompt_text = tokenizer.apply_chat_template(row_raw["prompt"], add_generation_prompt=True, tokenize=False)
        ref_prompt = tokenizer.apply_chat_template(row_raw["prompt"], add_generation_prompt=True, tokenize=True,
                                                   return_dict=True)["input_ids"]
        idpo_prompt = idpo_tokenize(args.idpo, args.model, prompt_text)
        same = row_trl["prompt_ids"] == idpo_prompt == ref_prompt
        lines = [f"  rendered prompt text: {prompt_text!r}",
                 f"  TRL prompt_ids        {row_trl['prompt_ids']}",
                 f"  idpo prompt ids       {idpo_prompt}  -> {'match' if row_trl['prompt_ids'] == idpo_prompt else 'DIFFER'}"]
        for key in ("chosen", "rejected"):
            content = row_raw[key][0]["content"]
            completion = content.strip() + EOT
            idpo_ids = idpo_tokenize(args.idpo, args.model, completion)
            trl_ids = row_trl[f"{key}_ids"]
            same &= trl_ids == idpo_ids
            lines += [f"  {key} content {content!r} -> completion text {completion!r}",
                      f"  TRL {key}_ids   {trl_ids}",
                      f"  idpo {key} ids  {idpo_ids}  -> {'match' if trl_ids == idpo_ids else 'DIFFER'}"]
        if verbose or not same:
            print("\n".join(lines))
        return same

    # TRL may drop rows (prompts that fill max_length), so rows are matched by id.
    trl_by_id = {row["id"]: row for row in processed}
    first_raw, first_trl = dataset[0], trl_by_id[dataset[0]["id"]]
    print(f"\nFirst pair (id {first_raw['id']}):")
    first_ok = compare(first_raw, first_trl, verbose=True)
    print(f"first pair: TRL token ids {'EQUAL' if first_ok else 'DIFFERENT from'} idpo's")
    ok &= first_ok
    all_ok = 0
    for i in range(len(dataset)):
        row = dataset[i]
        if row["id"] not in trl_by_id:
            print(f"  pair id {row['id']} was dropped by TRL")
            continue
        all_ok += compare(row, trl_by_id[row["id"]], verbose=False)
    print(f"all pairs: TRL prompt/chosen/rejected ids equal idpo tokenize's on {all_ok}/{len(dataset)} pairs")
    ok &= all_ok == len(dataset)

    # 4. Probe of JSON type inference across datasets' 10 MB blocks.
    probe = None
    if not args.skip_probe:
        import datasets
        lines = [l for l in open(args.pairs, encoding="utf-8") if l.strip()]
        int_valued = [k for k in ("chosen_reward", "rejected_reward", "margin")
                      if all(isinstance(json.loads(l).get(k), int) for l in lines)]
        path = os.path.join(args.dir, "probe_blocks.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            written = 0
            while written < 12_000_000:
                for l in lines:
                    f.write(l if l.endswith("\n") else l + "\n")
                    written += len(l.encode())
            last = json.loads(lines[0])
            last["chosen_reward"], last["margin"] = 0.75, 0.5   # a tie-split win rate in a k = 3 round robin
            f.write(json.dumps(last, ensure_ascii=False) + "\n")
        try:
            datasets.load_dataset("json", data_files=path, split="train", download_mode="force_redownload")
            probe = "loads"
        except Exception as e:
            cause = e.__cause__ or e.__context__
            probe = f"{type(e).__name__}: {e} (cause: {type(cause).__name__}: {cause})"
        os.remove(path)
        print(f"\nprobe: in this file {int_valued} are JSON integers on every line; a {written / 1e6:.0f} MB file of these "
              f"lines plus one line with chosen_reward 0.75 -> {probe}")

    print("\nSUMMARY check_trl_pairs")
    print(f"  pairs file            {args.pairs} ({len(dataset)} rows, read unmodified, columns {len(dataset.column_names)})")
    print(f"  TRL DPOTrainer        {result.global_step} steps; losses " + ", ".join(f"{h['loss']:.7f}" for h in logs))
    print(f"  first pair ids        {'equal' if first_ok else 'DIFFERENT'}; all pairs equal {all_ok}/{len(dataset)}")
    if probe is not None:
        print(f"  >10 MB type probe     {probe.splitlines()[0][:300]}")
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
