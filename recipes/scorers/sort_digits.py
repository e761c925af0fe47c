#!/usr/bin/env python3
"""A program judge for the demo task (recipes/demo-program-judge.yaml): a verifiable reward.

idpo writes sample records to stdin, one JSON object per line ({"id", "prompt", "responses", ...});
this prints, for each line, a JSON array with one score per response: 1 when the response is the
prompt's digits sorted ("sort: 7294" → "2479"), else the fraction of positions that are right,
minus 0.01 per extra character. Any program that keeps this contract can judge (TRL-style reward
functions: exact match, unit tests, format checks).
"""
import json
import sys


def prompt_text(prompt):
    if isinstance(prompt, str):
        return prompt
    return " ".join(m["content"] for m in prompt if m.get("role") == "user")


def score(prompt, response):
    digits = "".join(c for c in prompt.split(":", 1)[-1] if c.isdigit())
    target, answer = "".join(sorted(digits)), response.strip()
    if answer == target:
        return 1.0
    right = sum(1 for a, b in zip(answer, target) if a == b)
    return right / max(1, len(target)) - 0.01 * max(0, len(answer) - len(target))


for line in sys.stdin:
    record = json.loads(line)
    text = prompt_text(record["prompt"])
    print(json.dumps([score(text, r) for r in record["responses"]]))
