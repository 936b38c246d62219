#!/usr/bin/env bash
# One prepared GPU session, self-limited to about 9.5 minutes:
#   1. the CUDA tests (tests/models/test_cuda.py: every model on CUDA against the CPU, amp off/bf16/fp16, resume),
#   2. the Beauty (COMIF, ASIF, Table 6 / Table 4 rows, gat item tables) and scientific (SRIM and its Table 3 rows)
#      tables with the baselines, seed 0, BUDGET minutes each, all runs at once on the one GPU,
#   3. then, alone on the GPU, the CUDA speed table (benchmarks/speed.py --device cuda).
# Usage: bash benchmarks/gpu_session.sh OUT_DIR DATA_ROOT [BUDGET_MINUTES]
# Writes OUT_DIR/{env.txt, cuda-tests.txt, tables.log, speed.log, results.tgz}.
set -u
out=$1 root=$2 budget=${3:-4} device=${DEVICE:-cuda}  # DEVICE=cpu and EXTRA="--set epoch_steps=2": a dry run
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 GRAPHSBR_CACHE=${GRAPHSBR_CACHE:-/tmp/graphsbr-cache}
start=$SECONDS
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"; } \
  > "$out/env.txt" 2>&1

# the speed table's datasets, processed into the cache meanwhile (CPU only)
python -c "import sys, graphsbr; [graphsbr.load_dataset(d, sys.argv[1]) for d in ('diginetica', 'tmall', 'beauty')]" \
  "$root" > "$out/prepare.log" 2>&1 &
timeout 240 python -m pytest tests/models/test_cuda.py -q -p no:cacheprovider -n 4 -rf > "$out/cuda-tests.txt" 2>&1 &
tests=$!

timeout $((budget * 60 + 150)) python benchmarks/reproduce.py --root "$root" --device "$device" ${EXTRA:-} --datasets beauty scientific \
  --seeds 0 --budget-minutes "$budget" --jobs 32 --threads 1 --grace 60 --out "$out/tables" \
  --models comif asif srim pop gru4rec srgnn sasrec core nova difsr \
  --variant "beauty::COMIF attention-level fusion only (no IAA, no UPA)=comif:attribute_fusion=attn,iaa_weight=0,upa_weight=0" \
  --variant "beauty::COMIF both fusions (no IAA, no UPA)=comif:iaa_weight=0,upa_weight=0" \
  --variant "beauty::COMIF +IAA (no UPA)=comif:upa_weight=0" \
  --variant "beauty::COMIF gat items=comif:item_encoder=gat" \
  --variant "beauty::ASIF w/o RSA=asif:rsa=false" \
  --variant "beauty::ASIF w/o HIE=asif:hie=false" \
  --variant "beauty::ASIF w/o UP=asif:untied_positions=false" \
  --variant "beauty::ASIF w/o FA=asif:fused_attention=false" \
  --variant "beauty::ASIF gat items=asif:item_encoder=gat" \
  --variant "scientific::SRIM text off=srim:use_text=false" \
  --variant "scientific::SRIM-IdMo=srim:alignment=false" \
  --variant "scientific::SRIM-JoIn=srim:joint=false" \
  --variant "scientific::SRIM-DirAtt=srim:attention=same_qk" \
  > "$out/tables.log" 2>&1
wait $tests
echo "tests and tables done at $((SECONDS - start)) s" >> "$out/env.txt"

left=$((560 - (SECONDS - start)))
if [ "$left" -gt 30 ]; then
  timeout "$left" python benchmarks/speed.py --device "$device" --root "$root" --threads 4 --warmup 3 --steps 10 \
    --out "$out/speed-cuda" > "$out/speed.log" 2>&1
fi
echo "speed done at $((SECONDS - start)) s" >> "$out/env.txt"
tar czf "$out/results.tgz" -C "$out" --exclude='best.pt' --exclude='last.pt' tables $(cd "$out" && ls speed-cuda.* 2>/dev/null)
