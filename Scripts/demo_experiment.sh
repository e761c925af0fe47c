#!/bin/bash
# The demo's experiment, with idpo's own commands: builds the demo world, the SFT policy and the
# pairwise preference model, then runs the online loop (3 iterations over disjoint prompt splits,
# the SFT policy as the reference) and measures everything against the oracle, timing each stage.
# The defaults are the settings proposed for recipes/demo.yaml.
#
# Usage: Scripts/demo_experiment.sh [OUT_DIR]        (default runs/demo-experiment)
# Environment: IDPO (binary, default .build/release/idpo), THREADS (2), WORLD_ARGS, SFT_ARGS, PM_ARGS,
#              K, GEN_ARGS, JUDGE_ARGS, DPO_ARGS, ITERATIONS, JUDGE=oracle (pairs from the oracle instead of the PM)
set -euo pipefail
OUT=${1:-runs/demo-experiment}
IDPO=${IDPO:-.build/release/idpo}
T="--threads ${THREADS:-2}"
WORLD_ARGS=${WORLD_ARGS:-}
SFT_ARGS=${SFT_ARGS:---epochs 8 --batch-size 32 --learning-rate 3e-3 --warmup-ratio 0.05}
PM_ARGS=${PM_ARGS:---both-orders --epochs 2 --batch-size 32 --learning-rate 7e-4 --warmup-ratio 0.05}
K=${K:-8}
GEN_ARGS=${GEN_ARGS:---temperature 1.0 --max-new-tokens 16}
JUDGE_ARGS=${JUDGE_ARGS:---ranking knockout --selection max_min}
DPO_ARGS=${DPO_ARGS:---loss sigmoid --beta 0.1 --nll-weight 1 --learning-rate 1e-4 --epochs 2 --batch-size 16 --micro-batch-size 16 --warmup-ratio 0.1}
ITERATIONS=${ITERATIONS:-3}
JUDGE=${JUDGE:-pm}
export IDPO_PLAIN_PROGRESS=1
W=$OUT/world
rm -rf "$OUT"; mkdir -p "$OUT"
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
quiet() { grep -v -E "^(sft|train-judge|train|generate|judge|reference log-probs): " || true; }
evaluate() { $IDPO demo-eval $T --policy "$1" --prompts $W/data/eval-prompts.jsonl --k 4; }

t=$(now); $IDPO demo-world --out $W $WORLD_ARGS; echo "[time] demo-world $(since $t) s"
t=$(now); $IDPO sft $T --model $W/models/policy-init --data $W/data/sft.jsonl --out $OUT/sft $SFT_ARGS 2>&1 | quiet; echo "[time] sft $(since $t) s"
echo "SFT policy: $(evaluate $OUT/sft)"
echo "SFT policy, greedy: $($IDPO demo-eval $T --policy $OUT/sft --prompts $W/data/eval-prompts.jsonl --temperature 0)"
if [ "$JUDGE" != oracle ]; then
  t=$(now); $IDPO train-judge $T --model $OUT/sft --pairs $W/data/judge-pairs.jsonl --out $OUT/pm $PM_ARGS 2>&1 | quiet; echo "[time] train-judge $(since $t) s"
  $IDPO demo-eval $T --judge $OUT/pm --pairs $W/data/judge-eval-pairs.jsonl --policy $OUT/sft --prompts $W/data/eval-prompts.jsonl
fi

POLICY=$OUT/sft
for i in $(seq 1 $ITERATIONS); do
  D=$OUT/iter$i; mkdir -p $D
  t=$(now); $IDPO generate $T --model $POLICY --prompts $W/data/prompts-iter$i.jsonl --k $K $GEN_ARGS --seed $((100 + i)) --out $D/samples.jsonl 2>&1 | quiet; echo "[time] iter $i generate $(since $t) s"
  t=$(now)
  if [ "$JUDGE" = oracle ]; then
    python3 - "$D/samples.jsonl" "$D/pairs.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1]):
        o = json.loads(line)
        answer = "".join(sorted(o["prompt"][-1]["content"].split(":")[1].strip()))
        good = [r for r in o["responses"] if r.strip() == answer]
        bad = [r for r in o["responses"] if r.strip() != answer]
        if good and bad:
            f.write(json.dumps({"id": o["id"], "prompt": o["prompt"], "chosen": good[0], "rejected": bad[0]}) + "\n")
PY
  else
    $IDPO judge $T --judge $OUT/pm --samples $D/samples.jsonl $JUDGE_ARGS --out $D/judgments.jsonl --pairs $D/pairs.jsonl 2>&1 | quiet
  fi
  echo "[time] iter $i judge $(since $t) s"
  python3 - "$D/pairs.jsonl" <<'PY'
import json, sys
n = good = 0
for line in open(sys.argv[1]):
    o = json.loads(line); n += 1
    answer = "".join(sorted(o["prompt"][-1]["content"].split(":")[1].strip()))
    text = lambda r: (r if isinstance(r, str) else r[-1]["content"]).strip()
    good += text(o["chosen"]) == answer and text(o["rejected"]) != answer
print(f"iter pairs: {n}; chosen correct and rejected wrong in {100 * good / max(1, n):.1f}% (oracle's view)")
PY
  t=$(now); $IDPO train $T --policy $POLICY --reference $OUT/sft --pairs $D/pairs.jsonl --out $D/policy --checkpoint-every 0 $DPO_ARGS 2>&1 | quiet; echo "[time] iter $i train $(since $t) s"
  POLICY=$D/policy
  echo "iteration $i policy: $(evaluate $POLICY)"
done
