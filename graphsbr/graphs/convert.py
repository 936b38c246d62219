"""Round trip between graphsbr's graphs and networkx, for analysis."""
from __future__ import annotations

import networkx as nx
import torch
from torch_geometric.data import Data


def to_networkx(data: Data) -> nx.DiGraph:
    """A ``networkx.DiGraph`` with all ``data.num_nodes`` nodes and one edge per column of ``edge_index``.

    The edge attribute ``weight`` holds ``edge_weight`` (absent when ``data`` has no ``edge_weight``).

    Args:
        data: a graph with ``edge_index [2, E]``, optional ``edge_weight [E]`` and ``num_nodes``.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(range(data.num_nodes))
    src, dst = data.edge_index.tolist()
    weight = getattr(data, "edge_weight", None)
    if weight is None:
        graph.add_edges_from(zip(src, dst))
    else:
        graph.add_weighted_edges_from(zip(src, dst, weight.tolist()))
    return graph


def from_networkx(graph: nx.Graph, num_nodes: int | None = None) -> Data:
    """The inverse of :func:`to_networkx`: ``Data(edge_index, edge_weight, num_nodes)``, edges sorted by ``(src, dst)``.

    Nodes must be the integers ``0..num_nodes-1``. An undirected graph gives both directions of every edge.
    ``edge_weight`` is float32 from the ``weight`` attribute (1 where missing).

    Args:
        graph: a networkx graph over integer nodes.
        num_nodes: the node count (default: ``graph.number_of_nodes()``).

    Shapes:
        output: ``edge_index [2, E]`` long, ``edge_weight [E]`` float32.
    """
    num_nodes = graph.number_of_nodes() if num_nodes is None else num_nodes
    bad = [v for v in graph.nodes if not isinstance(v, int) or not 0 <= v < num_nodes]
    if bad:
        raise ValueError(f"from_networkx needs integer nodes 0..{num_nodes - 1}, found {bad[:5]}")
    if not graph.is_directed():
        graph = graph.to_directed()
    edges = sorted(graph.edges(data="weight", default=1.0))
    src = torch.tensor([e[0] for e in edges], dtype=torch.long)
    dst = torch.tensor([e[1] for e in edges], dtype=torch.long)
    weight = torch.tensor([e[2] for e in edges], dtype=torch.float32)
    return Data(edge_index=torch.stack([src, dst]), edge_weight=weight, num_nodes=num_nodes)
