#!/usr/bin/env bash
# `make demo`: builds the demo world, the SFT policy and the pairwise preference model with idpo
# itself (cached under runs/demo-world/), checks the preference model against the oracle, runs
# recipes/demo.yaml (3 online-RLHF iterations) and writes runs/demo/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
IDPO=${IDPO:-.build/release/idpo}
W=runs/demo-world
T="--threads ${THREADS:-$(nproc)}"
start=$(date +%s)
[ -f $W/world/world.json ] || $IDPO demo-world --out $W/world
[ -f $W/sft/config.json ] || $IDPO sft $T --model $W/world/models/policy-init --data $W/world/data/sft.jsonl --out $W/sft \
    --epochs 8 --batch-size 32 --learning-rate 3e-3 --warmup-ratio 0.05
[ -f $W/pm/config.json ] || $IDPO train-judge $T --model $W/sft --pairs $W/world/data/judge-pairs.jsonl --out $W/pm \
    --both-orders --epochs 2 --batch-size 32 --learning-rate 7e-4 --warmup-ratio 0.05
echo "== preference model vs the oracle on held-out pairs; SFT policy accuracy"
$IDPO demo-eval $T --judge $W/pm --pairs $W/world/data/judge-eval-pairs.jsonl --policy $W/sft --prompts $W/world/data/eval-prompts.jsonl
echo "== online RLHF: recipes/demo.yaml"
$IDPO iterate $T recipes/demo.yaml
$IDPO pairs report runs/demo
echo "demo finished in $(( $(date +%s) - start )) s; report: runs/demo/report.html"
