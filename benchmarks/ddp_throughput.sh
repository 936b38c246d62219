#!/bin/bash
# Training samples/s of one model on one dataset: 1 process x 1 thread, 1 process x 2 threads and 2 data-parallel
# processes (torchrun, gloo) x 1 thread, 300 steps each. Usage (from the repository root):
#   bash benchmarks/ddp_throughput.sh [MODEL] [DATASET] [ROOT]        # default: sasrec beauty ../shared/data
set -euo pipefail
MODEL=${1:-sasrec}; DATASET=${2:-beauty}; ROOT=${3:-../shared/data}
OUT=$(mktemp -d)
COMMON=(--model "$MODEL" --dataset "$DATASET" --root "$ROOT" --epochs 1 --quiet --set epoch_steps=300 --set progress=false)
OMP_NUM_THREADS=1 python -m graphsbr train "${COMMON[@]}" --out "$OUT/1x1" --set threads=1 > /dev/null
OMP_NUM_THREADS=2 python -m graphsbr train "${COMMON[@]}" --out "$OUT/1x2" --set threads=2 > /dev/null
OMP_NUM_THREADS=1 python -m torch.distributed.run --standalone --nproc_per_node 2 -m graphsbr train "${COMMON[@]}" \
    --out "$OUT/2x1" --set threads=1 > /dev/null
for run in 1x1 1x2 2x1; do
    python -c "import json, sys; h = json.loads(open(sys.argv[1]).readline()); \
print(f\"$run (processes x threads): {h['train_seconds']:.1f} s, {h['samples_per_second']:.0f} samples/s\")" \
        "$OUT/$run/metrics.jsonl"
done
rm -rf "$OUT"
