#!/usr/bin/env bash
# One GPU call that trains table rows under a fixed budget and brings back what the CPU needs to carry the
# unfinished ones on. What the first GPU session taught (runs/gpu-session/README.md): the runs are bound by the
# CPU side of their steps, so only a few run at once, and ten minutes cannot converge a row trained at lr 1e-4.
#   1. the CUDA speed cells of SASRec and COMIF on DATASET, alone on the GPU (speed.py table, 10 timed steps);
#   2. the rows (`benchmarks/reproduce.py ARGS... --device cuda`) and, beside them, the CUDA tests (-v, so each
#      verdict reaches the file even if the call is cut short);
#   3. OUT/runs.tgz: every run folder without its checkpoints, and the logs; OUT/NAME.last.pt.NN: the resume
#      checkpoints of the run folders named in KEEP, in pieces of 15 MiB (the device tool returns at most 8 files of
#      16 MiB; a '+' in NAME becomes 'plus'). Here: `cat NAME.last.pt.* > RUN/last.pt`, then
#      `graphsbr train --out RUN --resume --device cpu --set threads=1`.
# Usage: KEEP="FOLDER..." bash benchmarks/gpu_rows.sh OUT DATA_ROOT DATASET BUDGET_MINUTES REPRODUCE_ARGS...
#        (DEVICE=cpu LIMIT=120 for a dry run here; CHECKS=0 skips 1. and the tests, for a lease that only trains)
set -u
out=$1 root=$2 dataset=$3 budget=$4
shift 4
device=${DEVICE:-cuda} limit=${LIMIT:-570} work=${WORK:-/tmp/gpu-rows}
mkdir -p "$out" "$work"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 GRAPHSBR_CACHE=${GRAPHSBR_CACHE:-$work/cache}
start=$SECONDS
stamp() { echo "$1 at $((SECONDS - start)) s" >> "$work/env.txt"; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"; } \
  > "$work/env.txt" 2>&1

checks=${CHECKS:-1}
[ "$checks" = 1 ] && timeout 60 python benchmarks/speed.py table --device "$device" --root "$root" --threads 4 --datasets "$dataset" \
  --models sasrec comif --warmup 3 --steps 10 --eval-samples 2000 --out "$work/speed-$device-$dataset" \
  > "$work/speed.log" 2>&1
[ "$checks" = 1 ] && stamp "speed done"

[ "$checks" = 1 ] && [ "$device" = cuda ] && timeout 240 python -m pytest tests/models/test_cuda.py -o addopts= -v -p no:cacheprovider -n 4 -rf \
  > "$work/cuda-tests.txt" 2>&1 &
left=$((limit - 40 - (SECONDS - start)))
timeout "$left" python benchmarks/reproduce.py --root "$root" --device "$device" --datasets "$dataset" \
  --budget-minutes "$budget" --out "$work/tables" "$@" > "$work/tables.log" 2>&1
pkill -f -- "--out $work/tables/" ; wait  # the runs a timeout left behind
stamp "rows done"

tar czf "$out/runs.tgz" -C "$work" --exclude='best.pt' --exclude='last.pt' \
  $(cd "$work" && ls -d env.txt speed* cuda-tests.txt tables tables.log 2>/dev/null)
# the device returns at most 8 files and 64 MiB in all, and drops what is over: a checkpoint that does not fit
# whole is left there, and said so, rather than come back in part
piece=$((15 * 1024 * 1024)) room=$((64 * 1024 * 1024 - $(stat -c %s "$out/runs.tgz"))) files=7
for name in ${KEEP:-}; do
  last="$work/tables/runs/$dataset/$name/last.pt"
  [ -f "$last" ] || { echo "no checkpoint to bring back: $last"; continue; }
  size=$(stat -c %s "$last")
  pieces=$(((size + piece - 1) / piece))
  if [ "$size" -gt "$room" ] || [ "$pieces" -gt "$files" ]; then
    echo "not brought back, over what the device returns: $last ($size bytes)"; continue
  fi
  room=$((room - size)) files=$((files - pieces))
  split -b "$piece" -d "$last" "$out/${name//+/plus}.last.pt."
done
ls -la "$out"
