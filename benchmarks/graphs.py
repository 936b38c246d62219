"""Seconds and peak memory to build the global graphs on a dataset's training sessions.

    python benchmarks/graphs.py --dataset diginetica --root ../shared/data

Peak memory is the peak of Python and torch allocations during the build, measured by tracemalloc
(torch CPU tensors are allocated through it) and, as a cross-check, the growth of the process's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
import tracemalloc

import torch

from graphsbr import load_dataset
from graphsbr.graphs import cooccurrence_graph, item_transition_graph, side_transition_graph


def measure(name, build, repeat):
    build()  # warm-up
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        graph = build()
        seconds.append(time.perf_counter() - start)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    build()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    return {"graph": name, "edges": int(graph.edge_index.size(1)), "seconds_min": round(min(seconds), 3),
            "seconds_median": round(sorted(seconds)[len(seconds) // 2], 3),
            "tracemalloc_peak_mb": round(peak / 2**20, 1), "rss_peak_growth_mb": round(rss_growth / 1024, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
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
    print(f"{args.dataset}: {train.num_sessions} training sessions, {train.items.numel()} clicks, {n} items, "
          f"torch threads {torch.get_num_threads()}")
    for name, build in builds.items():
        print(json.dumps(measure(name, build, args.repeat)))


if __name__ == "__main__":
    main()
