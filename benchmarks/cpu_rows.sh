#!/usr/bin/env bash
# The table rows still to train on the CPU, as two lanes of one torch thread each (the project's two cores), each
# lane one row after another. Run it from the repository root at the start of every session, in the background:
#   nohup bash benchmarks/cpu_rows.sh RUNS [DATA_ROOT] > RUNS/queue.log 2>&1 &
# (RUNS outside the work tree, e.g. ~/runs; each row's output goes to RUNS/NAME.log).
# A row whose run folder has results.json is done and skipped; one with a checkpoint resumes (`--resume`); one
# without starts from scratch (its machine was changed: the same seed retraces the same curve). A lane stops where a
# row ends without results.json (the process was killed), so a stopped lane never skips a row unfinished.
# Commit each row's metrics.jsonl as it grows, and its results.json and ranks.pt when it stops, under
# benchmarks/results/ (RESULTS.md says where each row goes).
set -u
runs=${1:?usage: bash benchmarks/cpu_rows.sh RUNS [DATA_ROOT]} root=${2:-../shared/data}
mkdir -p "$runs"

row() {  # row NAME ARGS...: train NAME to its early stop; nonzero when it ended unfinished
    local name=$1 dir=$runs/$1
    shift
    [ -f "$dir/results.json" ] && return 0
    if [ -f "$dir/last.pt" ]; then
        graphsbr train --out "$dir" --resume
    else
        rm -rf "$dir"
        graphsbr train "$@" --root "$root" --out "$dir" --set threads=1 --set progress=false
    fi >> "$runs/$name.log" 2>&1
    [ -f "$dir/results.json" ] || { echo "$name ended unfinished: lane stopped ($runs/$name.log)" >&2; return 1; }
}

# A²D-MTL's Table 3 on Tmall with the default (20 x cosine) scores, the Diginetica references, then A²D-MTL on
# Diginetica (about 2 hours a pass: a GPU job where one is lent) (issue 26). epoch_steps only paces validation:
# lr_step and patience count passes.
a2dmtl() {
    local common="--model a2dmtl --dataset tmall --set epoch_steps=1000 --set epochs=200"
    row a2dmtl-tmall-wo-spa $common --set sparse_attention=false &&
    row a2dmtl-tmall-wo-adaspa $common --set adaptive_alpha=false &&
    row a2dmtl-tmall-wo-cate-cosine $common --set use_category=false &&
    row a2dmtl-tmall-wo-exp-cosine $common --set category_graph=false &&
    row scorenet-diginetica --model scorenet --dataset diginetica &&
    row srgnn-diginetica --model srgnn --dataset diginetica &&
    row a2dmtl-diginetica-cosine --model a2dmtl --dataset diginetica --set epoch_steps=2000 --set epochs=200
}

# ASIF on Beauty with the schedule its pilot chose on validation, then Table 4's ablations (issue 28).
asif() {
    local common="--model asif --dataset beauty --set side_fields=category --set batch_size=512 \
--set eval_batch_size=512 --set lr=1e-3 --set warmup_steps=200 --set grad_clip=1.0 --set epochs=200 --set patience=10"
    row asif-beauty $common &&
    row asif-beauty-wo-rsa $common --set rsa=false &&
    row asif-beauty-wo-hie $common --set hie=false &&
    row asif-beauty-wo-up $common --set untied_positions=false &&
    row asif-beauty-wo-fa $common --set fused_attention=false
}

a2dmtl > "$runs/lane-a2dmtl.log" 2>&1 &
asif > "$runs/lane-asif.log" 2>&1 &
wait
