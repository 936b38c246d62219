#!/usr/bin/env bash
# The table rows still to train on the CPU, as two lanes of one torch thread each (the project's two cores), each
# lane one row after another. Run it from the repository root at the start of every session, in the background:
#   nohup bash benchmarks/cpu_rows.sh RUNS [DATA_ROOT] > RUNS/queue.log 2>&1 &
# (RUNS outside the work tree, e.g. ~/runs; each row's output goes to RUNS/NAME.log).
# A row whose run folder has results.json is done and skipped; one with a checkpoint resumes (`--resume`); one
# without starts from scratch (its machine was changed: the same seed retraces the same curve). A lane stops where a
# row ends without results.json (the process was killed), so a stopped lane never skips a row unfinished.
#   bash benchmarks/cpu_rows.sh --records RUNS    copies each row's config.yaml, metrics.jsonl and, once it stopped,
# results.json and ranks.pt to its records folder under benchmarks/ (the second name of each row below), to commit.
set -u
records=false
[ "${1:-}" = --records ] && { records=true; shift; }
runs=${1:?usage: bash benchmarks/cpu_rows.sh [--records] RUNS [DATA_ROOT]} root=${2:-../shared/data}
mkdir -p "$runs"

row() {  # row NAME RECORDS ARGS...: train NAME to its early stop; nonzero when it ended unfinished
    local name=$1 dir=$runs/$1 record=benchmarks/$2
    shift 2
    if $records; then
        [ -f "$dir/metrics.jsonl" ] || return 0
        mkdir -p "$record"
        for file in config.yaml metrics.jsonl results.json ranks.pt; do
            [ -f "$dir/$file" ] && cp "$dir/$file" "$record/"
        done
        echo "$name -> $record ($(wc -l < "$dir/metrics.jsonl") epochs$([ -f "$dir/results.json" ] && echo ', stopped'))"
        return 0
    fi
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
    row a2dmtl-tmall-wo-spa results/a2dmtl/tmall-wo-spa $common --set sparse_attention=false &&
    row a2dmtl-tmall-wo-adaspa results/a2dmtl/tmall-wo-adaspa $common --set adaptive_alpha=false &&
    row a2dmtl-tmall-wo-cate-cosine results/a2dmtl/tmall-wo-cate-cosine $common --set use_category=false &&
    row a2dmtl-tmall-wo-exp-cosine results/a2dmtl/tmall-wo-exp-cosine $common --set category_graph=false &&
    row scorenet-diginetica runs/scorenet/diginetica-converged --model scorenet --dataset diginetica &&
    row srgnn-diginetica runs/baselines/srgnn-diginetica-converged --model srgnn --dataset diginetica &&
    row a2dmtl-diginetica-cosine results/a2dmtl/diginetica-cosine --model a2dmtl --dataset diginetica --set epoch_steps=2000 --set epochs=200
}

# ASIF on Beauty with the schedule its pilot chose on validation, then Table 4's ablations (issue 28).
asif() {
    local common="--model asif --dataset beauty --set side_fields=category --set batch_size=512 \
--set eval_batch_size=512 --set lr=1e-3 --set warmup_steps=200 --set grad_clip=1.0 --set epochs=200 --set patience=10"
    row asif-beauty results/asif/beauty-row $common &&
    row asif-beauty-wo-rsa results/asif/beauty-wo-rsa $common --set rsa=false &&
    row asif-beauty-wo-hie results/asif/beauty-wo-hie $common --set hie=false &&
    row asif-beauty-wo-up results/asif/beauty-wo-up $common --set untied_positions=false &&
    row asif-beauty-wo-fa results/asif/beauty-wo-fa $common --set fused_attention=false
}

if $records; then
    a2dmtl
    asif
    exit
fi
a2dmtl > "$runs/lane-a2dmtl.log" 2>&1 &
asif > "$runs/lane-asif.log" 2>&1 &
wait
