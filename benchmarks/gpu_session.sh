#!/usr/bin/env bash
# One prepared GPU session, self-limited to LIMIT seconds (default 560):
#   1. the CUDA tests alone (tests/models/test_cuda.py: every model on CUDA against the CPU, amp off/bf16/fp16,
#      resume), verbose, so that each verdict reaches the file even if the session is cut short;
#   2. the CUDA speed table alone, Beauty only (the other datasets are in results/speed-cuda.md), and the
#      width-group timings (benchmarks/width_groups.py --device cuda);
#   3. with the time left, the Beauty rows still missing (ASIF and its Table 4 rows, COMIF's Table 6 rows, the gat
#      item tables, NOVA, DIF-SR), seed 0, a few runs at a time: the steps are bound by their CPU side, so more
#      processes than cores / 2 slow every run down (the first session ran 30 at once and none converged). COMIF's
#      main row and the scientific table were trained on the CPU.
# Usage: bash benchmarks/gpu_session.sh OUT_DIR DATA_ROOT [BUDGET_MINUTES]
#        DEVICE=cpu EXTRA="--set epoch_steps=2" for a dry run; TABLES=0 skips step 3.
# Writes OUT_DIR/{env.txt, cuda-tests.txt, speed.log, tables.log, results.tgz}.
set -u
out=$1 root=$2 budget=${3:-4} device=${DEVICE:-cuda} limit=${LIMIT:-560}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 GRAPHSBR_CACHE=${GRAPHSBR_CACHE:-/tmp/graphsbr-cache}
start=$SECONDS
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"; } \
  > "$out/env.txt" 2>&1

# the datasets, processed into the cache meanwhile (CPU only)
python -c "import sys, graphsbr; [graphsbr.load_dataset(d, sys.argv[1]) for d in sys.argv[2:]]" \
  "$root" beauty > "$out/prepare.log" 2>&1 &

timeout 150 python -m pytest tests/models/test_cuda.py -v -p no:cacheprovider -n 8 -rf > "$out/cuda-tests.txt" 2>&1
echo "tests done at $((SECONDS - start)) s" >> "$out/env.txt"
wait

timeout $((limit - 60 - (SECONDS - start))) python benchmarks/speed.py --device "$device" --root "$root" --threads 4 \
  --datasets beauty --warmup 3 --steps 10 --out "$out/speed-$device" > "$out/speed.log" 2>&1
timeout 60 python benchmarks/width_groups.py --device "$device" --root "$root" --threads 4 --datasets beauty \
  --models sasrec comif asif --out "$out/width-groups-$device" > "$out/width-groups.log" 2>&1
echo "speed done at $((SECONDS - start)) s" >> "$out/env.txt"

left=$((limit - 30 - (SECONDS - start)))
if [ "${TABLES:-1}" = 1 ] && [ "$left" -gt $((budget * 60 + 60)) ]; then
  timeout "$left" python benchmarks/reproduce.py --root "$root" --device "$device" ${EXTRA:-} \
    --datasets beauty --seeds 0 --budget-minutes "$budget" --jobs 8 --threads 1 --grace 60 \
    --out "$out/tables" --models asif nova difsr --set epochs=200 --set patience=10 \
    --variant "beauty::ASIF w/o RSA=asif:rsa=false" \
    --variant "beauty::ASIF w/o HIE=asif:hie=false" \
    --variant "beauty::ASIF w/o UP=asif:untied_positions=false" \
    --variant "beauty::ASIF w/o FA=asif:fused_attention=false" \
    --variant "beauty::ASIF gat=asif:item_encoder=gat" \
    --variant "beauty::COMIF attention-level fusion only (no IAA, no UPA)=comif:attribute_fusion=attn,iaa_weight=0,upa_weight=0" \
    --variant "beauty::COMIF both fusions (no IAA, no UPA)=comif:iaa_weight=0,upa_weight=0" \
    --variant "beauty::COMIF +IAA (no UPA)=comif:upa_weight=0" \
    --variant "beauty::COMIF gat=comif:item_encoder=gat" \
    > "$out/tables.log" 2>&1
  echo "tables done at $((SECONDS - start)) s" >> "$out/env.txt"
fi
tar czf "$out/results.tgz" -C "$out" --exclude='best.pt' --exclude='last.pt' \
  $(cd "$out" && ls -d tables speed-* width-groups-* 2>/dev/null)
