r"""A graph attention encoder over a fixed global graph (items, categories, any node set), edge weights as features."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GATv2Conv
from torch_geometric.utils import add_remaining_self_loops

from ..errors import ConfigError
from .projected_table import ProjectedTable
from .weighted_edge_gat_conv import WeightedEdgeGATConv

#: The attention forms: ``gat`` (Veličković et al., PyG ``GATConv``) and ``gatv2`` (Brody et al., ``GATv2Conv``).
GAT_VERSIONS = ("gat", "gatv2")


class GraphAttentionEncoder(nn.Module):
    r"""Node representations from :math:`K` graph attention layers over a fixed weighted graph (A²D-MTL eq. 3–4).

    .. math::
        h_t^k = \alpha_{t,t} W h_t^{k-1} + \sum_{j \in N(t)} \alpha_{t,j} W h_j^{k-1}, \qquad
        \alpha_{t,j} = \operatorname{softmax}_{j \in N(t) \cup \{t\}}\bigl(
            a^\top \sigma(W[h_t^{k-1} \,\|\, h_j^{k-1} \,\|\, e_{t,j}])\bigr)

    with the edge weight :math:`e_{t,j}` (e.g. the normalised transition weight of eq. 1–2) as a one-dimensional edge
    feature. ``version="gatv2"`` computes exactly this form (the LeakyReLU :math:`\sigma` inside :math:`a^\top`,
    one :math:`W` shared by the attention and the message: PyG ``GATv2Conv(share_weights=True)``); ``"gat"``
    (the default) is the original GAT that the equations cite, with :math:`\sigma` outside:
    :math:`\sigma(a^\top [W h_t \| W h_j \| W_e e_{t,j}])` (PyG ``GATConv``, computed by
    :class:`~graphsbr.nn.weighted_edge_gat_conv.WeightedEdgeGATConv` without per-edge ``[E, dim]`` tensors; ``gatv2``
    builds them, which makes it several times slower on a large item graph).

    The self term :math:`\alpha_{t,t} W h_t` is a self-loop on every node; its edge feature is the graph's own
    self-loop weight where the graph has one (a repeated click or category) and 0 where it has none. Messages flow
    along the edges, PyG's convention: node :math:`t` aggregates its predecessors :math:`j \to t`. Layers are
    stacked without a non-linearity in between (eq. 3 has none). The padding node (``padding_idx``) stays zero.

    Args:
        num_nodes: the graph's node count (the output's rows).
        dim: the node representation size (input and output).
        graph: ``Data(edge_index [2, E], edge_weight [E])`` over ``num_nodes`` nodes.
        num_layers: :math:`K`.
        version: one of :data:`GAT_VERSIONS`.
        padding_idx: a node whose output is forced to zero (``None``: none).

    Shapes:
        input: ``[num_nodes, dim]`` the initial representations :math:`h^0`.
        output: ``[num_nodes, dim]`` :math:`h^K`.
    """

    def __init__(self, num_nodes: int, dim: int, graph: Data, num_layers: int = 1, version: str = "gat",
                 padding_idx: int | None = 0):
        super().__init__()
        if version not in GAT_VERSIONS:
            raise ConfigError(f"unknown GAT version {version!r}; choose one of {', '.join(GAT_VERSIONS)}")
        if num_layers < 1:
            raise ConfigError(f"a graph attention encoder needs at least one layer, got {num_layers}")
        self.num_nodes, self.dim, self.version, self.padding_idx = num_nodes, dim, version, padding_idx
        edge_index, edge_weight = add_remaining_self_loops(graph.edge_index, graph.edge_weight.float(),
                                                           fill_value=0.0, num_nodes=num_nodes)
        self.register_buffer("edge_index", edge_index, persistent=False)
        self.register_buffer("edge_weight", edge_weight.view(-1, 1), persistent=False)
        self.layers = nn.ModuleList([self._layer(dim) for _ in range(num_layers)])
        self.reset_parameters()

    def _layer(self, dim: int) -> nn.Module:
        if self.version == "gatv2":
            return GATv2Conv(dim, dim, heads=1, edge_dim=1, add_self_loops=False, share_weights=True)
        return WeightedEdgeGATConv(dim, dim, heads=1, edge_dim=1, add_self_loops=False)

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.table(x).full()

    def table(self, x: Tensor, residual: bool = False) -> ProjectedTable:
        """:math:`h^K` (``residual``: :math:`h^0 + h^K`) as a :class:`~graphsbr.nn.projected_table.ProjectedTable`:
        with ``version="gat"`` the last layer's projection :math:`W` is left to where rows are read (the same values
        up to rounding)."""
        initial = x
        for layer in self.layers[:-1]:
            x = layer(x, self.edge_index, self.edge_weight)
        last = self.layers[-1]
        if self.version == "gat":
            return ProjectedTable(last.aggregate(x, self.edge_index, self.edge_weight), last.lin.weight, last.bias,
                                  self.padding_idx, initial if residual else None)
        x = last(x, self.edge_index, self.edge_weight) + (initial if residual else 0)
        if self.padding_idx is not None:
            x = x * (torch.arange(x.size(0), device=x.device) != self.padding_idx).unsqueeze(1).to(x.dtype)
        return ProjectedTable(x, padding_idx=self.padding_idx)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_nodes}, {self.dim}, edges={self.edge_index.size(1)}, "
                f"layers={len(self.layers)}, version={self.version})")
