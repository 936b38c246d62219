"""Global transition graphs over the training sessions (A²D-MTL §3.2, eq. 1 and eq. 2)."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..data.dataset import SessionSplit
from ..errors import DataError


def item_transition_graph(split: SessionSplit, num_items: int, *, normalize: bool = True,
                          directed: bool = True) -> Data:
    r"""The global item graph of A²D-MTL (eq. 1).

    Every pair of consecutive clicks :math:`v_t, v_{t+1}` of a session adds one to
    :math:`\mathrm{count}(v_t \to v_{t+1})` (never across session boundaries; a repeated click
    :math:`v_t = v_{t+1}` adds a self-loop, counted like any other transition), and

    .. math::
        w_{ij} = \frac{\mathrm{count}(v_i \to v_j)}{\sum_{k \in N_\mathrm{out}(v_i)} \mathrm{count}(v_i \to v_k)}.

    Args:
        split: the sessions to count (the training split).
        num_items: item ids run ``1..num_items``; node 0 is padding and stays isolated.
        normalize: divide each count by its source's total (eq. 1); ``False`` keeps raw counts.
        directed: ``False`` adds the reverse of every edge: the count of the unordered pair
            :math:`\{i, j\}` is :math:`\mathrm{count}(i \to j) + \mathrm{count}(j \to i)` in both directions (a
            self-loop keeps its own count, it is not doubled), then normalised by the source's total.

    Shapes:
        output: ``Data(edge_index [2, E] long, edge_weight [E] float32, num_nodes=num_items+1)``, edges sorted
        by ``(src, dst)``.
    """
    _check_ids(split.items, 1, num_items, "item")
    return _transition_graph(split.items, split.ptr, num_items, normalize, directed)


def side_transition_graph(split: SessionSplit, values: Tensor, num_values: int, *, normalize: bool = True,
                          directed: bool = True) -> Data:
    r"""The transition graph over a single-valued side field: A²D-MTL's category graph (eq. 2), brand too.

    Each session :math:`S = (v_1, \dots, v_T)` is mapped to its value sequence
    :math:`(c_{v_1}, \dots, c_{v_T})` and counted as in :func:`item_transition_graph`:

    .. math::
        w_{c_{ij}} = \frac{\mathrm{count}(c_i \to c_j)}{\sum_{k \in N_\mathrm{out}(c_i)} \mathrm{count}(c_i \to c_k)}.

    A transition whose either end has no value (id 0) is dropped; the clicks around it are not joined.
    Consecutive clicks of the same value make a self-loop.

    Args:
        split: the sessions to count (the training split).
        values: ``[num_items+1]`` or ``[num_items+1, 1]`` long, the value id (``1..num_values``, 0 = none) of
            every item (e.g. :attr:`graphsbr.SideField.values` of ``category`` or ``brand``).
        num_values: the field's vocabulary size; node 0 is padding and stays isolated.
        normalize, directed: as in :func:`item_transition_graph`.

    Shapes:
        output: ``Data(edge_index [2, E] long, edge_weight [E] float32, num_nodes=num_values+1)``, edges sorted
        by ``(src, dst)``.
    """
    if values.dim() == 2 and values.size(1) == 1:
        values = values[:, 0]
    if values.dim() != 1:
        raise DataError(f"side_transition_graph needs a single-valued field, got values of shape "
                        f"{tuple(values.shape)}")
    _check_ids(split.items, 1, values.numel() - 1, "item")
    _check_ids(values, 0, num_values, "value")
    return _transition_graph(values.long()[split.items], split.ptr, num_values, normalize, directed)


def _transition_graph(sequence: Tensor, ptr: Tensor, num_values: int, normalize: bool, directed: bool) -> Data:
    """Counts the transitions of ``sequence`` (CSR by ``ptr``) between consecutive non-zero ids."""
    src, dst = sequence[:-1], sequence[1:]
    keep = _within_session(ptr, sequence.numel())[:-1] & (src > 0) & (dst > 0)
    src, dst = src[keep], dst[keep]
    if not directed:
        loop = src == dst
        src, dst = torch.cat([src, dst[~loop]]), torch.cat([dst, src[~loop]])
    n = num_values + 1
    key, count = torch.unique(src * n + dst, sorted=True, return_counts=True)
    edge_index = torch.stack([key // n, key % n])
    return Data(edge_index=edge_index, edge_weight=_edge_weights(edge_index[0], count, n, normalize),
                num_nodes=n)


def _edge_weights(src: Tensor, count: Tensor, num_nodes: int, normalize: bool) -> Tensor:
    r"""``[E]`` float32 ``count``, or :math:`D^{-1} A` (each edge's count over its source's total) if ``normalize``."""
    if not normalize:
        return count.float()
    total = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, src, count.double())
    return (count.double() / total[src]).float()


def _within_session(ptr: Tensor, nnz: int) -> Tensor:
    """``[nnz]`` bool: click ``t`` is followed by a click of the same session."""
    keep = torch.ones(nnz, dtype=torch.bool)
    ends = ptr[1:][ptr[1:] > ptr[:-1]] - 1
    keep[ends] = False
    return keep


def _check_ids(ids: Tensor, smallest: int, largest: int, what: str) -> None:
    if ids.numel() and (int(ids.min()) < smallest or int(ids.max()) > largest):
        raise DataError(f"{what} ids must lie in {smallest}..{largest}, found {int(ids.min())}..{int(ids.max())}")
