"""How fast the global graphs build: seconds and peak memory on a dataset's training sessions, ours against networkx.

    python benchmarks/graphs.py --dataset diginetica --root ../shared/data --out benchmarks/results/graphs-diginetica

Every graph is built twice over: by graphsbr's vectorised builder and by a straightforward networkx construction of the
same graph (a Python loop over the sessions adding counted edges with ``has_edge`` / ``G[u][v]['weight'] += 1``, then
the builder's top-k and normalisation, then :func:`~graphsbr.graphs.from_networkx` to the same ``edge_index`` /
``edge_weight``). Both start from the same :class:`~graphsbr.SessionSplit`; reading it into Python lists is part of
the networkx build. Before it is timed, the networkx graph is checked to equal ours (same edges, weights allclose);
the script fails if not.

Each (graph, builder) is measured in a fresh process (so the allocator holds no memory freed by an earlier build): the
peak memory is the growth of the resident set during the first build — the kernel's high-water mark (VmHWM), reset
through /proc/self/clear_refs, against the resident set before — and the seconds are the best and median of
``--repeat`` (ours) or ``--nx-repeat`` (networkx) further builds. With ``--nx-fraction`` both builders get the same
first fraction of the training sessions, so the ratio always compares identical inputs.
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time

import networkx as nx
import torch

from graphsbr import load_dataset
from graphsbr.bench import (
    command_line,
    machine,
    markdown_table,
    peak_resident_mb,
    reset_peak_resident,
    resident_mb,
    write_report,
)
from graphsbr.graphs import cooccurrence_graph, from_networkx, item_transition_graph, side_transition_graph

TOP_K = 20


def measure(name, build, repeat, check=None):
    """Peak RSS growth of a cold first build, then ``check(graph)``, then the seconds of ``repeat`` more builds."""
    reset_peak_resident()  # the first build is measured cold
    before = resident_mb()
    graph = build()
    growth = peak_resident_mb() - before
    if check is not None:
        check(graph)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        graph = build()
        seconds.append(time.perf_counter() - start)
    return {"graph": name, "edges": int(graph.edge_index.size(1)), "repeat": repeat,
            "seconds_min": round(min(seconds), 6), "seconds_median": round(sorted(seconds)[len(seconds) // 2], 6),
            "peak_rss_growth_mb": round(growth, 1)}


def check_same(name, expected, actual):
    """Fails loudly unless ``actual`` (networkx) has exactly the edges of ``expected`` (ours) and close weights."""
    if expected.num_nodes != actual.num_nodes or not torch.equal(expected.edge_index, actual.edge_index):
        raise SystemExit(f"{name}: networkx and graphsbr disagree on the edges: {expected.edge_index.size(1)} vs "
                         f"{actual.edge_index.size(1)} edges, {expected.num_nodes} vs {actual.num_nodes} nodes")
    if not torch.allclose(expected.edge_weight, actual.edge_weight):
        worst = (expected.edge_weight - actual.edge_weight).abs().max().item()
        raise SystemExit(f"{name}: networkx and graphsbr disagree on the weights (max difference {worst:g})")


def sessions_as_lists(split):
    """Every session's item list, the way a user reads a SessionSplit into Python."""
    items, ptr = split.items.tolist(), split.ptr.tolist()
    return [items[start:end] for start, end in itertools.pairwise(ptr)]


def add_count(graph, u, v):
    if graph.has_edge(u, v):
        graph[u][v]["weight"] += 1
    else:
        graph.add_edge(u, v, weight=1)


def normalize_rows(graph):
    """Divides every out-edge's weight by its source's total (D^-1 A)."""
    for u in graph:
        total = graph.out_degree(u, weight="weight")
        for attr in graph[u].values():
            attr["weight"] /= total


def nx_transition_graph(sequences, num_nodes):
    """Counts consecutive pairs (both non-zero) within each sequence, then row-normalises."""
    graph = nx.DiGraph()
    for sequence in sequences:
        for u, v in itertools.pairwise(sequence):
            if u and v:
                add_count(graph, u, v)
    normalize_rows(graph)
    return from_networkx(graph, num_nodes)


def nx_side_transition_graph(split, values, num_values):
    value_of = values.reshape(-1).tolist()
    sequences = [[value_of[item] for item in session] for session in sessions_as_lists(split)]
    return nx_transition_graph(sequences, num_values + 1)


def nx_cooccurrence_graph(split, num_items, top_k=None, normalize=False):
    """Counts the sessions holding each item pair; keeps each node's ``top_k`` heaviest (ties: smaller id)."""
    graph = nx.Graph()
    for session in sessions_as_lists(split):
        for u, v in itertools.combinations(sorted(set(session)), 2):
            add_count(graph, u, v)
    if top_k is None and not normalize:
        return from_networkx(graph, num_items + 1)
    kept = nx.DiGraph()
    for u in graph:
        heaviest = sorted(graph[u].items(), key=lambda edge: (-edge[1]["weight"], edge[0]))[:top_k]
        kept.add_weighted_edges_from((u, v, attr["weight"]) for v, attr in heaviest)
    if normalize:
        normalize_rows(kept)
    return from_networkx(kept, num_items + 1)


def graph_builders(train, data):
    """``{graph: (ours, networkx)}`` zero-argument builders over the same split."""
    n = data.num_items
    builders = {
        "item_transition": (lambda: item_transition_graph(train, n),
                            lambda: nx_transition_graph(sessions_as_lists(train), n + 1)),
        "cooccurrence": (lambda: cooccurrence_graph(train, n), lambda: nx_cooccurrence_graph(train, n)),
        f"cooccurrence_top{TOP_K}_normalized": (
            lambda: cooccurrence_graph(train, n, top_k=TOP_K, normalize=True),
            lambda: nx_cooccurrence_graph(train, n, top_k=TOP_K, normalize=True)),
    }
    for name, field in data.side.items():
        if not field.multi_valued:
            builders[f"{name}_transition"] = (
                lambda f=field: side_transition_graph(train, f.values, f.vocab_size),
                lambda f=field: nx_side_transition_graph(train, f.values, f.vocab_size))
    return builders


def training_split(data, fraction):
    """The training split, or its first ``fraction`` of sessions."""
    if fraction >= 1:
        return data.train
    return data.train.select_sessions(torch.arange(round(fraction * data.train.num_sessions)))


def run_one(args, builders):
    ours, networkx_build = builders[args.only]
    if args.impl == "ours":
        return measure(args.only, ours, args.repeat)
    return measure(args.only, networkx_build, args.nx_repeat, check=lambda graph: check_same(args.only, ours(), graph))


def markdown(report):
    info, inputs = report["machine"], report["inputs"]
    lines = [f"# Global graph building on {report['dataset']}: graphsbr against networkx", "",
             f"`{report['command']}`", "",
             f"{inputs['sessions']:,} training sessions, {inputs['clicks']:,} clicks, {inputs['items']:,} items"]
    if inputs["fraction"] < 1:
        lines[-1] += (f" — the first {inputs['fraction']:g} of the {inputs['all_sessions']:,} training sessions, "
                      "for both builders: every number and ratio below is on this same fraction")
    lines[-1] += "."
    lines += [(f"Machine: {info['cpu']}, {info['cpu_count']} CPUs, torch threads {info['torch_threads']}, "
               f"torch {info['torch']}, networkx {info['networkx']}, Python {info['python']}."), ""]
    rows = []
    for row in report["graphs"]:
        ours, theirs = row["graphsbr"], row["networkx"]
        rows.append([row["graph"], f"{ours['edges']:,}", f"{ours['seconds_min']:.3f} / {ours['seconds_median']:.3f}",
                     f"{theirs['seconds_min']:.2f} / {theirs['seconds_median']:.2f}", f"{row['ratio']:,.1f}×",
                     f"{ours['peak_rss_growth_mb']:,.1f}", f"{theirs['peak_rss_growth_mb']:,.1f}"])
    lines += markdown_table(["graph", "edges", "graphsbr s (best / median)", "networkx s (best / median)",
                             "networkx / graphsbr (median)", "graphsbr peak RSS growth MB",
                             "networkx peak RSS growth MB"], rows)
    lines += ["", (f"Seconds: best and median of {report['repeat']} (graphsbr) and {report['nx_repeat']} "
                   "(networkx) builds after a first one; peak RSS growth: during that first build, each (graph, "
                   "builder) in a fresh process. Each networkx graph was checked equal to graphsbr's (same edges, "
                   "weights allclose) before it was timed. The networkx construction loops over the sessions in "
                   "Python, counts edges with `has_edge` / `G[u][v]['weight'] += 1` (co-occurrence: every pair of a "
                   "session's distinct items, in an `nx.Graph`), keeps each node's top-k and row-normalises as the "
                   "builder does, and ends with `graphsbr.graphs.from_networkx`; reading the split into Python lists "
                   "is inside its timing."), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--repeat", type=int, default=5, help="timed builds of ours")
    parser.add_argument("--nx-repeat", type=int, default=1, help="timed builds of networkx's (slow)")
    parser.add_argument("--nx-fraction", type=float, default=1.0,
                        help="build every graph, both ways, on this first fraction of the training sessions")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="write PREFIX.md and PREFIX.json")
    parser.add_argument("--only", default=None, help="measure one graph in this process (used internally)")
    parser.add_argument("--impl", choices=["ours", "networkx"], default="ours", help="with --only (used internally)")
    args = parser.parse_args()
    if not 0 < args.nx_fraction <= 1:
        parser.error("--nx-fraction must lie in (0, 1]")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.root)
    train = training_split(data, args.nx_fraction)
    builders = graph_builders(train, data)
    if args.only:
        print(json.dumps(run_one(args, builders)))
        return
    inputs = {"sessions": train.num_sessions, "clicks": train.items.numel(), "items": data.num_items,
              "fraction": args.nx_fraction, "all_sessions": data.train.num_sessions}
    print(f"{args.dataset}: {inputs['sessions']} training sessions (fraction {args.nx_fraction:g}), "
          f"{inputs['clicks']} clicks, {inputs['items']} items, torch threads {torch.get_num_threads()}", flush=True)
    rows = []
    for name in builders:
        row = {"graph": name}
        for impl, key in (("ours", "graphsbr"), ("networkx", "networkx")):
            child = [sys.executable, __file__, *sys.argv[1:], "--only", name, "--impl", impl]
            row[key] = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
            print(impl, json.dumps(row[key]), flush=True)
        row["ratio"] = round(row["networkx"]["seconds_median"] / row["graphsbr"]["seconds_median"], 1)
        rows.append(row)
    report = {"dataset": args.dataset, "command": command_line("benchmarks/graphs.py", sys.argv[1:]),
              "machine": {**machine(), "networkx": nx.__version__}, "inputs": inputs, "repeat": args.repeat,
              "nx_repeat": args.nx_repeat, "graphs": rows}
    text = markdown(report)
    print(text)
    if args.out:
        write_report(args.out, text, report)


if __name__ == "__main__":
    main()
