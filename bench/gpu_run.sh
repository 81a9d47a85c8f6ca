#!/usr/bin/env bash
# GPU run for issue 7 (Stacks & Branches): time-to-accuracy of vgg_cifar and googlenet_cifar, throughput vs torchvision.
#
# Run from the repository root on the GPU machine, with the JPEG tarball carried at .data/cifar10-jpeg.tar.gz:
#     bash bench/gpu_run.sh
# Writes into $OUT (at most 8 files come back from the device tool): results/*.json (the bench/results files, old
# rows + new rows), weights/*.pt|json (the feature-map chapter's CIFAR-10 weights, see cnnlib/pretrained.py),
# logs.tgz (env.txt and one log per step) and, with GPU_RUN_CHAPTERS=1, chapters.tgz: the training and feature-map
# chapters executed on this GPU with those rows and weights (needs nbclient and ipykernel: carry .whl and install
# them first, see the device tool's README; add about 240 s to GPU_RUN_BUDGET).
# Budget: GPU_RUN_BUDGET seconds (default 480: the step limits below add up to it), every step with its own timeout
# under a global deadline. Call the device tool with timeout_s of at least the budget + 60 (start-up, copying back).
set -u
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT/logs" "$OUT/results"
START=$(date +%s)
DEADLINE=$((START + ${GPU_RUN_BUDGET:-480}))   # seconds; the last step gets whatever is left
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CNNLIB_CIFAR10="${CNNLIB_CIFAR10:-$PWD/.data/cifar10-jpeg.tar.gz}"
export CNNLIB_CACHE="${TMPDIR:-/tmp}/cnnlib-cache"
export PYTHONUNBUFFERED=1
RES=bench/results
mkdir -p "$RES"
# GPU_RUN_QUICK=1: a dry run of this script on a CPU (tiny subsets, 1 epoch, 1 run, results to a scratch folder)
VGG_EPOCHS="10 14 18"; GN_EPOCHS=20; VGG_RUNS=5; GN_RUNS=3; GN_MIN=2; EXTRA=(); W_EXTRA=(); TP_EXTRA=(--sizes 224 32 --batch-size 128 --steps 15 --warmup 5)
if [ -n "${GPU_RUN_QUICK:-}" ]; then
  VGG_EPOCHS="1 2"; GN_EPOCHS=1; VGG_RUNS=1; GN_RUNS=1; GN_MIN=1; RES="$OUT/scratch_results"; mkdir -p "$RES"
  EXTRA=(--train-subset 512 --test-subset 128 --batch-size 128 --device cpu); W_EXTRA=(--quick); TP_EXTRA=(--quick)
fi

left() { echo $((DEADLINE - $(date +%s))); }
save() { cp -f $RES/*.json "$OUT/results/" 2>/dev/null; true; }
# step NAME MAX_SECONDS CMD...: runs CMD with timeout min(MAX, time left), logs to $OUT/logs/NAME.log
step() {
  local name=$1 max=$2; shift 2
  local t; t=$(left); [ "$t" -gt "$max" ] && t=$max
  if [ "$t" -lt 15 ]; then echo "== skip $name (no time left)" | tee -a "$OUT/logs/summary.log"; return; fi
  echo "== $name (timeout ${t}s, at +$(( $(date +%s) - START ))s)" | tee -a "$OUT/logs/summary.log"
  timeout --signal=TERM --kill-after=5 "$t" "$@" > "$OUT/logs/$name.log" 2>&1
  local rc=$?
  tail -n 12 "$OUT/logs/$name.log" | tee -a "$OUT/logs/summary.log"
  echo "== $name rc=$rc (+$(( $(date +%s) - START ))s)" | tee -a "$OUT/logs/summary.log"
  save
}

{
  nvidia-smi
  $PY -c "import torch, torchvision, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0), 'bf16', torch.cuda.is_bf16_supported())"
  nproc; ls -la .data/ || true
} > "$OUT/logs/env.txt" 2>&1
cat "$OUT/logs/env.txt"

# 0. decode the 60,000 JPEGs once into the cache (about 5-10 s)
step data 60 $PY -c "
import time; t=time.time()
from cnnlib.data import load_cifar10
a=load_cifar10(train=True); b=load_cifar10(train=False)
print(len(a), len(b), 'images decoded and cached in %.1f s' % (time.time()-t))"

# 1. vgg_cifar: the airbench-style recipe at 10, 14 and 18 epochs, 5 seeds each (one compile for all)
step vgg_cifar 130 $PY bench/time_to_accuracy.py --model vgg_cifar --runs $VGG_RUNS --epochs $VGG_EPOCHS \
  --budget-seconds 100 --label "issue7 gpu run" --out "$RES/time_to_accuracy.json" "${EXTRA[@]}"

# 2. googlenet_cifar: 20 epochs, 2 seeds at least (a third if time allows)
step googlenet_cifar 170 $PY bench/time_to_accuracy.py --model googlenet_cifar --runs $GN_RUNS --min-runs $GN_MIN \
  --epochs $GN_EPOCHS --budget-seconds 110 --label "issue7 gpu run" --out "$RES/time_to_accuracy.json" "${EXTRA[@]}"

# 3. the trained CIFAR-10 weights the feature-map chapter shows (cnnlib.pretrained's cache format), float16
#    (trained into $CNNLIB_CACHE/weights, then copied to $OUT/weights: $OUT must not receive the decoded data cache)
step weights 75 $PY -m cnnlib.pretrained vgg_cifar googlenet_cifar --half --retrain "${W_EXTRA[@]}"
mkdir -p "$OUT/weights" && cp -f "$CNNLIB_CACHE"/weights/*-cifar10* "$OUT/weights/" 2>/dev/null

# 4. throughput: cnnlib vs torchvision, GoogLeNet and VGG-11-BN at 224 and 32 px (eager, bf16, channels_last)
step throughput 45 $PY bench/throughput.py "${TP_EXTRA[@]}" --out "$RES/throughput.json"

# 5. optional: the chapters that show these results, executed here (tools/run_chapter.py refuses quick mode)
if [ -n "${GPU_RUN_CHAPTERS:-}" ] && [ -z "${GPU_RUN_QUICK:-}" ]; then
  step chapters 240 $PY tools/run_chapter.py chapters/04_training.ipynb chapters/05_feature_maps.ipynb
  tar czf "$OUT/chapters.tgz" chapters/04_training.ipynb chapters/05_feature_maps.ipynb
fi

save
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/logs/summary.log"
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -r "$OUT/logs"
