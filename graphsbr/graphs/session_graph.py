"""SR-GNN per-session graphs, built one at a time or vectorised over a whole batch."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import cumsum

from ..data.dataset import SessionSplit, gather_ranges
from .transition import _within_session

_NODE_KEYS = ("edge_index", "alias_index")  # incremented by the node count when batched


class SessionGraph(Data):
    r"""The graph of one session prefix (SR-GNN §3.2): the distinct items as nodes, consecutive clicks as edges.

    Attributes:
        x: ``[n]`` long, the distinct item ids of the prefix, ascending (node ``k`` is item ``x[k]``).
        edge_index: ``[2, E]`` the distinct transitions ``u → v`` (self-loops included), sorted by ``(src, dst)``.
        edge_weight_out: ``[E]`` :math:`1/\deg^+(u)`, the entries of SR-GNN's normalised outgoing matrix
            :math:`A^{out}`; edge_weight_in: ``[E]`` :math:`1/\deg^-(v)`, those of :math:`A^{in}`
            (degrees over distinct edges).
        alias_index: ``[T]`` the node of every click, so that ``x[alias_index]`` is the prefix. Batching offsets it
            by the node count, like ``edge_index``.
        y: ``[1]`` the target item (when given); length: ``[1]`` ``T``.
    """

    def __inc__(self, key: str, value: Any, *args, **kwargs) -> Any:
        if key == "alias_index":
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key: str, value: Any, *args, **kwargs) -> Any:
        if key == "alias_index":
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)


def session_graph(prefix: Tensor, target: int | Tensor | None = None) -> SessionGraph:
    r"""The SR-GNN graph of one prefix :math:`(v_1, \dots, v_T)`: edge :math:`v_t \to v_{t+1}` for every ``t``.

    Args:
        prefix: ``[T]`` long item ids in click order, ``T >= 1``.
        target: the next item, stored as ``y`` (optional).

    Shapes:
        output: a :class:`SessionGraph` (see its attributes).
    """
    prefix = torch.as_tensor(prefix, dtype=torch.long).view(-1)
    if prefix.numel() == 0:
        raise ValueError("session_graph needs a non-empty prefix")
    data = SessionGraph(**_graph_tensors(prefix, torch.tensor([prefix.numel()]))[0])
    if target is not None:
        data.y = torch.as_tensor(target, dtype=torch.long).view(1)
    return data


def collate_session_graphs(split: SessionSplit, samples: Tensor, max_len: int | None = None) -> Batch:
    r"""The batch of the SR-GNN graphs of ``samples``, vectorised (no loop per sample).

    Cuts every prefix ``items[ptr[s]:ptr[s]+cut]`` from the CSR (its last ``max_len`` clicks when ``max_len`` is
    given) and builds all graphs at once with global unique/sort operations. The result equals
    ``Batch.from_data_list([session_graph(prefix_b, target_b) for b in range(B)])``: the same tensors (``x``,
    ``edge_index`` and ``alias_index`` offset by the node count of the preceding graphs, ``y``, ``length``,
    ``batch``, ``ptr``), and the same slice/increment bookkeeping, so ``get_example`` and ``to_data_list`` work.

    Args:
        split: the split the samples index.
        samples: ``[B, 2]`` ``(session, cut)`` pairs.
        max_len: keep only the last ``max_len`` clicks of each prefix (``None``: all).

    Shapes:
        output: a ``Batch`` of :class:`SessionGraph` with ``x [N]``, ``edge_index [2, E]``, ``edge_weight_out [E]``,
        ``edge_weight_in [E]``, ``alias_index [sum T]``, ``y [B]``, ``length [B]``, ``batch [N]``, ``ptr [B+1]``.
    """
    if samples.numel() == 0:
        raise ValueError("collate_session_graphs needs at least one sample")
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be a positive integer or None, got {max_len}")
    session, cut = samples[:, 0].long(), samples[:, 1].long()
    if int(cut.min()) < 1:
        raise ValueError("every sample needs a prefix of at least one click (cut >= 1)")
    length = cut if max_len is None else cut.clamp(max=max_len)
    start = split.ptr[session] + cut
    clicks = gather_ranges(start - length, length)
    tensors, nodes, edges = _graph_tensors(split.items[clicks], length)
    tensors["y"] = split.items[start]
    return _batch(tensors, nodes, edges, length)


def _graph_tensors(items: Tensor, lengths: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """The tensors of the graphs of consecutive prefixes ``items`` (CSR by ``lengths``), node indices global.

    Returns the attribute dict (all but ``y``), the node count and the edge count of every graph.
    """
    num_graphs = lengths.numel()
    graph = torch.repeat_interleave(torch.arange(num_graphs), lengths)
    m = int(items.max()) + 1
    node, alias = torch.unique(graph * m + items, sorted=True, return_inverse=True)  # nodes grouped by graph
    n = node.numel()
    follow = _within_session(cumsum(lengths), items.numel())[:-1]
    edge = torch.unique(alias[:-1][follow] * n + alias[1:][follow], sorted=True)
    src, dst = edge // n, edge % n
    node_graph = node // m
    tensors = {
        "x": node % m,
        "edge_index": torch.stack([src, dst]),
        "edge_weight_out": 1.0 / torch.bincount(src, minlength=n).float()[src],
        "edge_weight_in": 1.0 / torch.bincount(dst, minlength=n).float()[dst],
        "alias_index": alias,
        "length": lengths.clone(),
    }
    nodes = torch.bincount(node_graph, minlength=num_graphs)
    edges = torch.bincount(node_graph[src], minlength=num_graphs)
    return tensors, nodes, edges


def _batch(tensors: dict[str, Tensor], nodes: Tensor, edges: Tensor, lengths: Tensor) -> Batch:
    """A ``Batch`` of :class:`SessionGraph` from already-offset tensors, with PyG's bookkeeping filled in."""
    num_graphs = nodes.numel()
    batch = Batch(_base_cls=SessionGraph, **tensors)
    batch.batch = torch.repeat_interleave(torch.arange(num_graphs), nodes)
    batch.ptr = cumsum(nodes)
    per_graph = torch.ones(num_graphs, dtype=torch.long)
    sizes = {"x": nodes, "edge_index": edges, "edge_weight_out": edges, "edge_weight_in": edges,
             "alias_index": lengths, "y": per_graph, "length": per_graph}
    batch._num_graphs = num_graphs
    batch._slice_dict = {key: cumsum(size) for key, size in sizes.items()}
    batch._inc_dict = {key: cumsum(nodes[:-1]) if key in _NODE_KEYS else torch.zeros(num_graphs, dtype=torch.long)
                       for key in sizes}
    return batch
