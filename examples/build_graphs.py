"""Reuse graphsbr's graph builders in your own work: global graphs of a dataset's training sessions.

    python examples/build_graphs.py                                   # the built-in synthetic dataset
    python examples/build_graphs.py --dataset diginetica --root ../shared/data
"""
import argparse

import networkx as nx

from graphsbr import load_dataset
from graphsbr.graphs import (
    collate_session_graphs,
    cooccurrence_graph,
    item_transition_graph,
    side_transition_graph,
    to_networkx,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    args = parser.parse_args()

    data = load_dataset(args.dataset, args.root)
    print(data)
    items = item_transition_graph(data.train, data.num_items)  # A²D-MTL eq. 1
    cooc = cooccurrence_graph(data.train, data.num_items, top_k=20, normalize=True)  # SRIM eq. 4 and 6
    print(f"item transition graph: {items.edge_index.size(1):,} edges; "
          f"co-occurrence (top-20, D^-1 A): {cooc.edge_index.size(1):,} edges")
    for name, field in data.side.items():
        if not field.multi_valued:  # A²D-MTL eq. 2, for any single-valued field
            graph = side_transition_graph(data.train, field.values, field.vocab_size)
            strongest = graph.edge_weight.argmax()
            src, dst = graph.edge_index[:, strongest].tolist()
            print(f"{name} transition graph: {graph.edge_index.size(1):,} edges; strongest {src} -> {dst} "
                  f"(w = {graph.edge_weight[strongest]:.2f})")

    graph = to_networkx(items)
    hubs = sorted(graph.in_degree(weight="weight"), key=lambda node_degree: -node_degree[1])[:5]
    print("items most often reached (weighted in-degree):", ", ".join(f"{i} ({d:.1f})" for i, d in hubs))
    print(f"weakly connected components: {nx.number_weakly_connected_components(graph) - 1:,} (besides padding)")

    batch = collate_session_graphs(data.train, data.train.samples[:4])  # SR-GNN session graphs, one PyG Batch
    print(batch)


if __name__ == "__main__":
    main()
