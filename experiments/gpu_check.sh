#!/usr/bin/env bash
# The GPU check in one call, for a CUDA machine with PyTorch preinstalled and no network:
#   1. installs the missing pure-Python packages (lightly and its needs) from .gpu_wheels/ (`make gpu-wheels`),
#      without touching torch; imbsemi runs from this source tree (PYTHONPATH), wandb and litdata not needed;
#   2. runs the CUDA tests (pytest -m gpu tests/test_gpu.py);
#   3. runs the throughput benchmarks on the device (bench_throughput.py; bench_concurrency.py: 1, 2, 4, 8 runs);
#   4. turns the packed CIFAR-10 JPEGs (.gpu_carry/cifar10_jpeg.npz, written by data_prep/convert_cifar10_jpeg.py
#      --pack: all 60,000 JPEG files, 17.8 MiB) into cifar-10-batches-py and runs as much of the paper's
#      CIFAR-10-LT table (experiments/paper_cifar10.py, 200 epochs, --rhos) as the time left allows;
#   5. prints one summary line, GPU_CHECK ...
#
#   bash experiments/gpu_check.sh [--smoke] [--data PACK_OR_TREE] [--budget SECONDS] [--jobs N] [--rhos 100,50,10]
#                                [--only tests,bench,table]
#
# Results go to $OUT (default runs/gpu_check; at most 7 files): gpu_check.log, pytest_gpu.txt,
# bench_throughput.txt, bench_concurrency.md, paper_cifar10_gpu.md, summary.txt. Scratch data and runs
# go to $WORK (default /tmp/imbsemi_gpu_check). --smoke runs every step at toy sizes on the CPU (the
# test suite does, on a miniature JPEG tree). Exit status: 0 when every step succeeded.
set -uo pipefail
cd "$(dirname "$0")/.."
SMOKE=0 DATA=.gpu_carry/cifar10_jpeg.npz BUDGET=480 JOBS=8 RHOS=100,50,10 ONLY=tests,bench,table
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --data) DATA=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --rhos) RHOS=$2; shift ;;
    *) echo "gpu_check: unknown argument $1 (expected --smoke, --data PATH, --budget SECONDS, --jobs N," \
            "--rhos LIST, --only tests,bench,table)" >&2; exit 2 ;;
  esac
  shift
done
SLOWER=1  # the steps' time limits are sized for the GPU; --smoke on a CPU gets 4x as long
[ $SMOKE -eq 1 ] && SLOWER=4
OUT=${OUT:-runs/gpu_check}
WORK=${WORK:-/tmp/imbsemi_gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
START=$(date +%s)
FAILED=""
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_check.log"; }
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
step() {  # step NAME SECONDS OUTFILE COMMAND...: run with a time limit, output to OUTFILE and the log
  local name=$1 limit=$2 file=$3; shift 3
  log "$name: $*"
  timeout --signal=TERM --kill-after=20 $(( limit * SLOWER )) "$@" > "$file" 2>&1
  local status=$?
  tail -n 30 "$file" >> "$OUT/gpu_check.log"
  [ $status -eq 0 ] || { FAILED="$FAILED $name"; log "$name: exit status $status"; }
  return $status
}

# 1. packages: the machine's torch stays; missing pure-Python packages come from the carried wheels
if ! "$PY" -c "import lightly" 2>/dev/null; then
  if ! ls .gpu_wheels/*.whl >/dev/null 2>&1; then
    log "lightly is missing and .gpu_wheels/ holds no wheels: run \`make gpu-wheels\` on a machine with the index"
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" .gpu_wheels/*.whl \
    >> "$OUT/gpu_check.log" 2>&1 || { log "installing .gpu_wheels failed"; exit 2; }
  export PYTHONPATH="$WORK/site"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=disabled PYTHONUNBUFFERED=1
"$PY" - >> "$OUT/gpu_check.log" 2>&1 <<'EOF'
import sys, torch, torchvision, pytorch_lightning, lightly, imbsemi
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {sys.version.split()[0]} torch {torch.__version__} (cuda {torch.version.cuda}) torchvision "
      f"{torchvision.__version__} pytorch_lightning {pytorch_lightning.__version__} lightly {lightly.__version__} "
      f"imbsemi {imbsemi.__version__}; GPU: {gpu}")
EOF
DEVICE=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0).replace(' ', '_')
                   if torch.cuda.is_available() else 'cpu')")
log "device: $DEVICE"

# 2. CUDA tests (skipped on a machine without CUDA)
if wanted tests; then
  step pytest_gpu 240 "$OUT/pytest_gpu.txt" "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py
  TESTS=$(grep -Eo '[0-9]+ (passed|failed|skipped|errors?)' "$OUT/pytest_gpu.txt" | tr ' \n' '_,' | sed 's/,$//')
fi

# 3. benchmarks
if [ $SMOKE -eq 1 ]; then
  BENCH=(--steps 2) CONC=(--runs 1,2 --steps 2 --warmup 1) TABLE=(--rhos 10 --epochs 1 --du-n-max 10 --jobs 2
    data.n_max=20 optim.warmup_epochs=0)
else
  BENCH=(--steps 100) CONC=(--runs 1,2,4,8 --steps 300) TABLE=(--rhos "$RHOS" --jobs "$JOBS")
fi
if wanted bench; then
  step bench_throughput 150 "$OUT/bench_throughput.txt" "$PY" experiments/bench_throughput.py "${BENCH[@]}"
  step bench_concurrency 150 "$OUT/bench_concurrency.md" "$PY" experiments/bench_concurrency.py "${CONC[@]}"
fi

# 4. the paper's table from the packed JPEGs, in the time left (unfinished runs resume if the script runs
#    again with the same $WORK)
TABLE_TIME=$(( $(left) - 40 ))
if ! wanted table; then
  :
elif [ "$TABLE_TIME" -gt 30 ]; then
  step data 120 "$WORK/convert.txt" "$PY" data_prep/convert_cifar10_jpeg.py "$DATA" --root "$WORK/data"
  TABLE_TIME=$(( $(left) - 40 ))
  step paper_table $(( TABLE_TIME + 40 )) "$WORK/paper_cifar10.txt" "$PY" experiments/paper_cifar10.py \
    --root "$WORK/data" --runs "$WORK/runs" --out "$OUT/paper_cifar10_gpu.md" --budget "$TABLE_TIME" "${TABLE[@]}"
else
  FAILED="$FAILED paper_table(no_time)"
fi

# 5. summary
result() { grep -h '^RESULT' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2- | tr ' ' ','; }
SUMMARY="GPU_CHECK device=$DEVICE tests=${TESTS:-none} throughput=$(result "$OUT/bench_throughput.txt")"
SUMMARY="$SUMMARY concurrency=$(result "$OUT/bench_concurrency.md") table=$(result "$WORK/paper_cifar10.txt")"
FAILED_LIST=$(echo $FAILED | tr ' ' ',')
SUMMARY="$SUMMARY wall=$(( $(date +%s) - START ))s failed=${FAILED_LIST:-none}"
echo "$SUMMARY" | tee "$OUT/summary.txt" | tee -a "$OUT/gpu_check.log"
[ -z "$FAILED" ]
