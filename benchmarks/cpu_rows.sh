#!/usr/bin/env bash
# The table rows still to train on the CPU, as two lanes of one torch thread each (the project's two cores), each
# lane one row after another. Run it from the repository root at the start of every session, in the background:
#   nohup bash benchmarks/cpu_rows.sh RUNS [DATA_ROOT] > RUNS/queue.log 2>&1 &
# (RUNS outside the work tree, e.g. ~/runs; each row's output goes to RUNS/NAME.log).
# A row whose run folder has results.json is done and skipped; one with a checkpoint resumes (`--resume`); one
# without starts from scratch (its machine was changed: the same seed retraces the same curve). A lane stops where a
# row ends without results.json (the process was killed), so a stopped lane never skips a row unfinished, and a row
# whose folder another process holds (its trainer's lock) is waited for, not started twice.
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
    # a run still held by a process (this script started twice, or a run started by hand) is waited for
    [ -f "$dir/.lock" ] && command -v flock > /dev/null && flock "$dir/.lock" true
    [ -f "$dir/results.json" ] && return 0
    if [ -f "$dir/last.pt" ]; then
        graphsbr train --out "$dir" --resume
    else
        rm -rf "$dir"
        graphsbr train "$@" --root "$root" --out "$dir" --set threads=1 --set progress=false
    fi >> "$runs/$name.log" 2>&1
    [ -f "$dir/results.json" ] || { echo "$name ended unfinished: lane stopped ($runs/$name.log)" >&2; return 1; }
}

# Lane 1, A²D-MTL (issue 26): Table 3 on Tmall with the default 20 x cosine scores (w/o SPA first, under way when
# this order was set), the Diginetica row of Table 2 (about 1.5-2 hours a pass: a GPU job where one is lent), then
# the other three ablations. epoch_steps only paces validation: lr_step and patience count passes.
lane1() {
    local tmall="--model a2dmtl --dataset tmall --set epoch_steps=1000 --set epochs=200"
    row a2dmtl-tmall-wo-spa results/a2dmtl/tmall-wo-spa $tmall --set sparse_attention=false &&
    row a2dmtl-diginetica-cosine results/a2dmtl/diginetica-cosine --model a2dmtl --dataset diginetica \
        --set epoch_steps=2000 --set epochs=200 &&
    row a2dmtl-tmall-wo-adaspa results/a2dmtl/tmall-wo-adaspa $tmall --set adaptive_alpha=false &&
    row a2dmtl-tmall-wo-cate-cosine results/a2dmtl/tmall-wo-cate-cosine $tmall --set use_category=false &&
    row a2dmtl-tmall-wo-exp-cosine results/a2dmtl/tmall-wo-exp-cosine $tmall --set category_graph=false
}

# Lane 2: ASIF on Beauty with the schedule its pilot chose on validation (issue 28), A²D-MTL's Diginetica references
# SR-GNN and ScoreNet (issue 26: the main table before the ablations), then ASIF's Table 4 ablations.
lane2() {
    local asif="--model asif --dataset beauty --set side_fields=category --set batch_size=512 \
--set eval_batch_size=512 --set lr=1e-3 --set warmup_steps=200 --set grad_clip=1.0 --set epochs=200 --set patience=10"
    row asif-beauty results/asif/beauty-row $asif &&
    row srgnn-diginetica runs/baselines/srgnn-diginetica-converged --model srgnn --dataset diginetica &&
    row scorenet-diginetica runs/scorenet/diginetica-converged --model scorenet --dataset diginetica &&
    row asif-beauty-wo-rsa results/asif/beauty-wo-rsa $asif --set rsa=false &&
    row asif-beauty-wo-hie results/asif/beauty-wo-hie $asif --set hie=false &&
    row asif-beauty-wo-up results/asif/beauty-wo-up $asif --set untied_positions=false &&
    row asif-beauty-wo-fa results/asif/beauty-wo-fa $asif --set fused_attention=false
}

if $records; then
    lane1
    lane2
    exit
fi
lane1 > "$runs/lane1.log" 2>&1 &
lane2 > "$runs/lane2.log" 2>&1 &
wait
