#!/usr/bin/env bash
# googlenet_cifar's recipe, tuned on affordable CPU runs: one axis at a time (peak learning rate, logit scale,
# width) around the recipe, on a fixed subset, one seed, no TTA. Rows (label "tuning: ...") go to
# bench/results/googlenet_tuning.json; a variant whose row is already there is skipped, so the script resumes.
#
#   nohup bash bench/googlenet_tuning.sh a > runs/tuning_a.log 2>&1 &     # the two queues share the machine:
#   nohup bash bench/googlenet_tuning.sh b > runs/tuning_b.log 2>&1 &     # one CPU thread each
#
# These are short runs (8,192 training images, 16 steps per epoch): they rank settings by where a run gets in a
# fixed small budget, not what the full recipe reaches on 50,000 images.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
DATA=${CNNLIB_CIFAR10:-../shared/data/cifar10-jpeg.tar.gz}
OUT=bench/results/googlenet_tuning.json
COMMON=(--model googlenet_cifar --data "$DATA" --train-subset 8192 --test-subset 5000 --tta 0 --runs 1 --seed 0
        --device cpu --threads 1 --out "$OUT")

variant() {  # LABEL MODEL_KW EPOCHS LR
  if [ -f "$OUT" ] && "$PY" -c "import json,sys; sys.exit(0 if any(r.get('label') == sys.argv[2] and r.get('runs')
      for r in json.load(open(sys.argv[1]))) else 1)" "$OUT" "tuning: $1"; then
    echo "== $1: done before, skipped"; return
  fi
  echo "== $(date -u +%FT%TZ) $1"
  "$PY" bench/time_to_accuracy.py "${COMMON[@]}" --label "tuning: $1" --model-kw "$2" --epochs "$3" --lr "$4"
}

case "${1:-}" in
  a)  # the peak learning rate, at the model's logit scale (1/8) and half width
    variant "recipe (lr 0.4, logit scale 1/8, width 0.5)" '{"width_mult": 0.5}' 4 0.4
    variant "lr 0.2" '{"width_mult": 0.5}' 4 0.2
    variant "lr 0.8" '{"width_mult": 0.5}' 4 0.8
    variant "lr 0.1" '{"width_mult": 0.5}' 4 0.1
    variant "width 1.0 (paper widths)" '{"width_mult": 1.0}' 4 0.4
    ;;
  b)  # the logit scale; without it, the learning rate again
    variant "logit scale 1/4" '{"width_mult": 0.5, "logit_scale": 0.25}' 4 0.4
    variant "logit scale 1/2" '{"width_mult": 0.5, "logit_scale": 0.5}' 4 0.4
    variant "logit scale 1, lr 0.1" '{"width_mult": 0.5, "logit_scale": 1.0}' 4 0.1
    variant "logit scale 1 (no scale)" '{"width_mult": 0.5, "logit_scale": 1.0}' 4 0.4
    variant "logit scale 1, lr 0.05" '{"width_mult": 0.5, "logit_scale": 1.0}' 4 0.05
    variant "logit scale 1, lr 0.2" '{"width_mult": 0.5, "logit_scale": 1.0}' 4 0.2
    ;;
  *) echo "usage: bash bench/googlenet_tuning.sh a|b" >&2; exit 2 ;;
esac
echo "== $(date -u +%FT%TZ) queue ${1} done"
