"""Seconds and peak memory to build the global graphs on a dataset's training sessions.

    python benchmarks/graphs.py --dataset diginetica --root ../shared/data

Each graph is measured in a fresh process (so the allocator holds no memory freed by an earlier build): the peak
memory is the growth of the resident set during the first build — the kernel's high-water mark (VmHWM), reset through
/proc/self/clear_refs, against the resident set before — and the seconds are the best and median of ``--repeat``
further builds.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from graphsbr import load_dataset
from graphsbr.graphs import cooccurrence_graph, item_transition_graph, side_transition_graph


def measure(name, build, repeat):
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (Linux); the first build is measured cold
    before = _status_kb("VmRSS")
    build()
    growth = _status_kb("VmHWM") - before
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        graph = build()
        seconds.append(time.perf_counter() - start)
    return {"graph": name, "edges": int(graph.edge_index.size(1)), "seconds_min": round(min(seconds), 3),
            "seconds_median": round(sorted(seconds)[len(seconds) // 2], 3), "peak_rss_growth_mb": round(growth / 1024, 1)}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default=None, help="measure one graph in this process (used internally)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.root)
    train, n = data.train, data.num_items
    builds = {
        "item_transition": lambda: item_transition_graph(train, n),
        "cooccurrence": lambda: cooccurrence_graph(train, n),
        "cooccurrence_top20_normalized": lambda: cooccurrence_graph(train, n, top_k=20, normalize=True),
    }
    for name, field in data.side.items():
        if not field.multi_valued:
            builds[f"{name}_transition"] = lambda f=field: side_transition_graph(train, f.values, f.vocab_size)
    if args.only:
        print(json.dumps(measure(args.only, builds[args.only], args.repeat)))
        return
    print(f"{args.dataset}: {train.num_sessions} training sessions, {train.items.numel()} clicks, {n} items, "
          f"torch threads {torch.get_num_threads()}")
    for name in builds:
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], check=True)


if __name__ == "__main__":
    main()
