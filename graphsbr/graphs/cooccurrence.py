"""The global item co-occurrence graph of SRIM (eq. 6), optionally top-k and row-normalised (eq. 4), and the
table of every node's out-neighbours."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..data.dataset import SessionSplit
from .transition import _check_ids, _edge_weights

PAIR_CHUNK = 1 << 24  # item pairs i < j generated at a time; a single session with more forms its own chunk


def cooccurrence_graph(split: SessionSplit, num_items: int, *, top_k: int | None = None,
                       normalize: bool = False) -> Data:
    r"""The co-occurrence graph of SRIM (eq. 6), sparse.

    .. math::
        A_{ij} = \sum_{k=1}^{M} \mathbb{I}(i \in S_k \wedge j \in S_k), \qquad i \ne j,

    i.e. the number of sessions holding both items (a session counts once per pair however often the items
    repeat in it). :math:`A` is symmetric and has no self-loops. With ``top_k`` every source node keeps its
    ``k`` heaviest out-edges (ties broken by the smaller neighbour id), so the result may be asymmetric.
    With ``normalize`` the weights are :math:`D^{-1} A` (eq. 4), :math:`D_{pp} = \sum_q A_{pq}` taken after top-k,
    so every non-isolated row sums to 1. No dense ``num_items × num_items`` matrix is ever built: sessions are
    processed in chunks of at most :data:`PAIR_CHUNK` pairs :math:`i < j` and the counts merged.

    Args:
        split: the sessions to count (the training split).
        num_items: item ids run ``1..num_items``; node 0 is padding and stays isolated.
        top_k: keep the ``k`` heaviest neighbours of every node (``None``: all).
        normalize: row-normalise the weights (eq. 4); ``False`` keeps the counts :math:`A_{ij}`.

    Shapes:
        output: ``Data(edge_index [2, E] long, edge_weight [E] float32, num_nodes=num_items+1)``, edges sorted
        by ``(src, dst)``.
    """
    _check_ids(split.items, 1, num_items, "item")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    n = num_items + 1
    key, count = _upper_pair_counts(split, n)
    src, dst = key // n, key % n
    src, dst, count = _sort_by_source(torch.cat([src, dst]), torch.cat([dst, src]), torch.cat([count, count]), n)
    if top_k is not None:
        src, dst, count = _top_k(src, dst, count, top_k, n)
    return Data(edge_index=torch.stack([src, dst]), edge_weight=_edge_weights(src, count, n, normalize),
                num_nodes=n)


def neighbour_table(graph: Data, num_nodes: int, width: int) -> Tensor:
    """The targets of every node's first ``width`` out-edges, in edge order, padded with 0 (node 0 is the padding
    item of every graph here, never a target).

    Args:
        graph: a graph whose edges are grouped by source, as every builder here returns them (with
            :func:`cooccurrence_graph` and ``top_k=width``: each item's ``width`` most co-occurring items, by id).
        num_nodes: the rows of the table.
        width: the columns of the table.

    Shapes:
        output: ``[num_nodes, width]`` long.
    """
    source, target = graph.edge_index
    rank = _rank_among_source(source, num_nodes)
    keep = rank < width
    table = torch.zeros(num_nodes, width, dtype=torch.long)
    table[source[keep], rank[keep]] = target[keep]
    return table


def _upper_pair_counts(split: SessionSplit, n: int) -> tuple[Tensor, Tensor]:
    """Sorted unique keys ``i * n + j`` (``i < j``) and the number of sessions holding both ``i`` and ``j``."""
    pair = torch.unique(split.session_index * n + split.items)  # distinct (session, item), sorted
    items = pair % n
    sizes = torch.bincount(pair // n, minlength=split.num_sessions)
    ends = torch.cumsum(sizes, 0)
    starts = ends - sizes
    chunks = [_count_pairs(items[starts[lo]:ends[hi - 1]], sizes[lo:hi], n)
              for lo, hi in _chunks(sizes * (sizes - 1) // 2)]
    if len(chunks) == 1:
        return chunks[0]
    empty = torch.zeros(0, dtype=torch.long)
    key, inverse = torch.unique(torch.cat([empty] + [k for k, _ in chunks]), sorted=True, return_inverse=True)
    count = torch.cat([empty] + [c for _, c in chunks])
    return key, torch.zeros(key.numel(), dtype=torch.long).index_add_(0, inverse, count)


def _chunks(pairs: Tensor) -> list[tuple[int, int]]:
    """Consecutive session ranges ``[lo, hi)`` of at most :data:`PAIR_CHUNK` pairs each (at least one session)."""
    end = torch.cumsum(pairs, 0)
    bounds, lo, done = [], 0, 0
    while lo < pairs.numel():
        hi = max(int(torch.searchsorted(end, done + PAIR_CHUNK, right=True)), lo + 1)
        bounds.append((lo, hi))
        lo, done = hi, int(end[hi - 1])
    return bounds


def _count_pairs(items: Tensor, sizes: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Sorted unique keys ``i * n + j`` (``i < j``) of the given sessions and the number of sessions holding each.

    ``items`` holds the distinct items of every session, ascending, session after session (``sizes`` each). The
    item at position ``a`` of a session of size ``c`` pairs with the ``c - 1 - a`` items after it.
    """
    start = torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes)
    after = torch.repeat_interleave(sizes, sizes) - 1 - (torch.arange(items.numel()) - start)  # [U]
    first = torch.repeat_interleave(torch.arange(items.numel()), after)  # [P] index of i
    second = first + 1 + torch.arange(first.numel()) - torch.repeat_interleave(torch.cumsum(after, 0) - after, after)
    return torch.unique(items[first] * n + items[second], sorted=True, return_counts=True)


def _sort_by_source(src: Tensor, dst: Tensor, weight: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    order = torch.argsort(src * n + dst)
    return src[order], dst[order], weight[order]


def _top_k(src: Tensor, dst: Tensor, count: Tensor, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Keeps the ``k`` heaviest out-edges of every source (ties: smaller ``dst``); input sorted by ``(src, dst)``."""
    order = torch.argsort(-count, stable=True)  # ties keep the (src, dst) order
    order = order[torch.argsort(src[order], stable=True)]
    src, dst, count = src[order], dst[order], count[order]
    keep = _rank_among_source(src, n) < k
    return _sort_by_source(src[keep], dst[keep], count[keep], n)


def _rank_among_source(src: Tensor, n: int) -> Tensor:
    """``[E]`` each edge's position among the out-edges of its source, for edges grouped by source."""
    degree = torch.bincount(src, minlength=n)
    return torch.arange(src.numel()) - torch.repeat_interleave(torch.cumsum(degree, 0) - degree, degree)
