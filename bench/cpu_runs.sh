#!/usr/bin/env bash
# The book's full-recipe CPU training runs, one after the other, each resumable (re-run this script after an
# interruption: every run continues from its last epoch's checkpoint in runs/<name>/).
#
#   nohup bash bench/cpu_runs.sh vgg_cifar:0 vgg_cifar:1 > runs/cpu_runs.log 2>&1 &
#
# Each argument is MODEL:SEED[:EXTRA CLI ARGS]. Afterwards `python bench/collect_runs.py runs/<name> ...` appends
# the rows to bench/results/cpu_runs.json, and `python -m cnnlib.pretrained export runs/<name>` writes weights/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
DATA=${CNNLIB_CIFAR10:-../shared/data/cifar10-jpeg.tar.gz}
for spec in "$@"; do
  IFS=: read -r model seed extra <<< "$spec"
  name="${model}-s${seed}${RUN_SUFFIX:-}"
  echo "== $(date -u +%FT%TZ) $name: $PY -m cnnlib.train --model $model --seed $seed --data $DATA --out runs/$name $extra"
  resume=""; [ -f "runs/$name/checkpoint.pt" ] && resume="--resume"
  # shellcheck disable=SC2086
  $PY -m cnnlib.train --model "$model" --seed "$seed" --data "$DATA" --out "runs/$name" $resume $extra
done
echo "== $(date -u +%FT%TZ) done"
