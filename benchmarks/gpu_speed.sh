#!/usr/bin/env bash
# One GPU call that measures CUDA training and evaluation speed before and after a change, on the same machine:
# `speed.py table` on the working tree and on a worktree of BEFORE (a commit), one after the other, for the models
# whose steps were shaped for the GPU (no host syncs, batches prepared ahead), at their paper batch sizes.
# Usage: bash benchmarks/gpu_speed.sh OUT DATA_ROOT [BEFORE_COMMIT] [DATASETS...]
#   (default BEFORE cd4d0d6, the tree before the step work; DATASETS diginetica beauty; LIMIT=570 seconds in all)
# Writes OUT/speed-cuda-{before,after}.{json,md} and OUT/env.txt; about 2 x 4 minutes on an H100.
set -u
out=$1 root=$2 before=${3:-cd4d0d6}
shift $(($# < 3 ? $# : 3))
datasets=${*:-diginetica beauty}
models="sasrec comif scorenet a2dmtl"
limit=${LIMIT:-570} start=$SECONDS
mkdir -p "$out"
export PYTHONUNBUFFERED=1 GRAPHSBR_CACHE=${GRAPHSBR_CACHE:-/tmp/gpu-speed-cache}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; git rev-parse HEAD
  python -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"; } \
  > "$out/env.txt" 2>&1
git worktree add -f /tmp/gpu-speed-before "$before" >> "$out/env.txt" 2>&1
# the same benchmark on both trees: the script and the package code it imports
cp benchmarks/speed.py /tmp/gpu-speed-before/benchmarks/
rm -rf /tmp/gpu-speed-before/graphsbr/bench && cp -r graphsbr/bench /tmp/gpu-speed-before/graphsbr/
half=$(((limit - 20) / 2))
for side in after before; do
  tree=$PWD
  [ "$side" = before ] && tree=/tmp/gpu-speed-before
  left=$((limit - 10 - (SECONDS - start)))
  (cd "$tree" && PYTHONPATH="$tree" timeout $((left < half ? left : half)) python benchmarks/speed.py table --device cuda \
    --root "$root" --threads 4 --datasets $datasets --models $models --warmup 5 --steps 20 --eval-samples 20000 \
    --out "$out/speed-cuda-$side") > "$out/speed-$side.log" 2>&1
  echo "$side done at $((SECONDS - start)) s" >> "$out/env.txt"
done
ls -la "$out"
