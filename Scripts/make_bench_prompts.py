#!/usr/bin/env python3
"""Writes deterministic prompt files for the iteration benchmarks (idpo iterate and
Scripts/bench_iteration_pytorch.py read the same files).

Usage (from the repository root)::

    python3 Scripts/make_bench_prompts.py OUT N [--eval-out FILE] [--eval-n M]

    # e.g. 64 training prompts and 16 held-out evaluation prompts:
    python3 Scripts/make_bench_prompts.py runs/bench/prompts.jsonl 64 \
        --eval-out runs/bench/eval-prompts.jsonl --eval-n 16

Format: idpo's prompt-file format (Sources/Pipeline/Formats.swift, ``PromptFile``), TRL's
prompt-only conversational form, one JSON object per line::

    {"id": 0, "prompt": [{"role": "user", "content": "Give me three tips for ..."}]}

The prompt is a conversation (a list of messages), not a plain string: idpo renders a
conversation with the policy's chat template and the generation prompt, whereas a plain string
would be tokenized as is, without the template.

The prompts are short everyday instructions: an instruction template applied to a topic
(``len(TEMPLATES) * len(TOPICS)`` = 1,200 distinct prompts).  They are visited in a fixed
pseudo-random order (an affine permutation of the combination index, no random generator), so a
file is the same on every machine and Python version.  The evaluation prompts come from the
same order right after the N training prompts: the two files never share a prompt.  ids are
0..N-1 in OUT and N..N+M-1 in the evaluation file.
"""

import argparse
import json
import math
import os
import sys

TEMPLATES = [
    "Give me three tips for {t}.",
    "What are common mistakes people make when {t}?",
    "Explain the basics of {t} to a complete beginner.",
    "Write a short checklist for {t}.",
    "In two sentences, why might someone enjoy {t}?",
    "What do I need to get started with {t}?",
    "Describe a simple one-week plan for {t}.",
    "What is the hardest part of {t}, and how can I make it easier?",
    "Write a friendly text message inviting a friend to try {t} with me.",
    "Summarize the benefits of {t} in one short paragraph.",
    "How much time per day should a beginner spend on {t}?",
    "List 5 questions I should ask an expert about {t}.",
    "Give me a step-by-step guide to {t} in at most 6 steps.",
    "What is a cheap way to start {t}?",
    "Write a haiku about {t}.",
    "How can I stay motivated when {t}?",
    "Compare {t} with watching TV as a way to spend an evening.",
    "What safety advice would you give someone {t} for the first time?",
    "Suggest a fun goal for my first month of {t}.",
    "Explain {t} to a ten-year-old.",
]

TOPICS = [
    "learning a new language", "cooking rice", "saving money", "running a 5 km race", "growing tomatoes",
    "keeping a journal", "baking bread", "learning to swim", "cleaning the kitchen", "planning a birthday party",
    "studying for an exam", "reading more books", "walking to work", "learning chess", "making coffee at home",
    "organizing a closet", "sleeping better", "writing a cover letter", "painting with watercolors",
    "fixing a flat bicycle tire", "meditating", "doing yoga at home", "learning to play the guitar",
    "packing for a weekend trip", "taking care of a houseplant", "making a budget", "drinking more water",
    "cooking for a family of four", "learning to type faster", "starting a vegetable garden",
    "training a puppy", "hiking in the mountains", "decluttering a desk", "baking cookies with kids",
    "preparing for a job interview", "riding the bus in a new city", "knitting a scarf",
    "volunteering at a food bank", "taking better photos with a phone", "reducing screen time",
    "writing thank-you notes", "making a smoothie", "learning basic first aid", "cycling in the rain",
    "brewing tea", "moving to a new apartment", "learning to juggle", "keeping a tidy inbox",
    "repairing a torn shirt", "camping with friends", "sorting recycling", "learning to draw faces",
    "shopping for groceries on a budget", "making pancakes", "memorizing a short poem",
    "stretching after exercise", "planning a road trip", "hosting a board game night",
    "writing a short story", "cooking pasta",
]


def combination(i):
    """The i-th prompt of the fixed order: an affine permutation of the template x topic grid."""
    n = len(TEMPLATES) * len(TOPICS)
    a, c = 577, 131  # a is coprime with n, so i -> (a*i + c) mod n is a permutation
    assert math.gcd(a, n) == 1
    j = (a * i + c) % n
    return TEMPLATES[j % len(TEMPLATES)].format(t=TOPICS[j // len(TEMPLATES)])


def write(path, start, count):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(start, start + count):
            record = {"id": i, "prompt": [{"role": "user", "content": combination(i)}]}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="training prompts file (JSON lines)")
    ap.add_argument("n", type=int, help="number of training prompts")
    ap.add_argument("--eval-out", default=None, help="also write held-out evaluation prompts here")
    ap.add_argument("--eval-n", type=int, default=16, help="number of evaluation prompts (default 16)")
    args = ap.parse_args()
    total = len(TEMPLATES) * len(TOPICS)
    need = args.n + (args.eval_n if args.eval_out else 0)
    if args.n < 1 or need > total:
        ap.error(f"N (+ eval N) must be in 1..{total}")
    write(args.out, 0, args.n)
    print(f"wrote {args.n} prompts to {args.out}")
    if args.eval_out:
        write(args.eval_out, args.n, args.eval_n)
        print(f"wrote {args.eval_n} evaluation prompts to {args.eval_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
