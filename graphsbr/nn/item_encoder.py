"""Graph-first item encoders: every sequence model takes its item table from one of these."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from ..data.dataset import SessionDataset
from ..errors import ConfigError
from ..graphs import cooccurrence_graph, item_transition_graph
from .sparse import sparse_product
from .weighted_edge_gat_conv import WeightedEdgeGATConv

#: The encoders: a plain table, a GAT over the item transition graph, a GCN over the co-occurrence graph.
ITEM_ENCODERS = ("embedding", "gat", "gcn")
#: Neighbours kept per item in the co-occurrence graph of the ``gcn`` encoder.
GCN_TOP_K = 20


class ItemEncoder(nn.Module):
    r"""The item table :math:`E \in \mathbb{R}^{(N+1) \times d}` (row 0, padding, is zero).

    * ``embedding``: :math:`E` is a learned table.
    * ``gat``: :math:`E = E^0 + \mathrm{GAT}(E^0, G_{item})`, one ``GATConv`` layer (:class:`WeightedEdgeGATConv`,
      its faster equivalent on a large static graph) over the item transition graph
      of the training split with its normalised weight as edge feature (A²D-MTL eq. 1, 3–4).
    * ``gcn``: :math:`E = E^0 + D^{-1} A E^0 W`, one propagation over the top-:data:`GCN_TOP_K` co-occurrence graph
      (SRIM eq. 4, 6), a sparse product.

    The graph encoders recompute the table every training step; in eval mode the table is computed once and reused
    until the module is put back in training mode.

    Args:
        num_items: item ids run ``1..num_items``.
        dim: the embedding size :math:`d`.
        kind: one of :data:`ITEM_ENCODERS`.
        graph: the global graph for ``gat`` / ``gcn`` (``Data(edge_index, edge_weight)`` over ``num_items + 1``
            nodes); see :meth:`graph_for`.

    Shapes:
        output: ``[num_items + 1, dim]``.
    """

    def __init__(self, num_items: int, dim: int, kind: str = "embedding", graph: Data | None = None):
        super().__init__()
        if kind not in ITEM_ENCODERS:
            raise ConfigError(f"unknown item_encoder {kind!r}; choose one of {', '.join(ITEM_ENCODERS)}")
        if kind != "embedding" and graph is None:
            raise ConfigError(f"item_encoder={kind} needs a graph (ItemEncoder.graph_for)")
        self.num_items, self.dim, self.kind = num_items, dim, kind
        self.embedding = nn.Embedding(num_items + 1, dim, padding_idx=0)
        self._cache: Tensor | None = None
        if kind == "gat":
            self.conv = WeightedEdgeGATConv(dim, dim, heads=1, edge_dim=1, add_self_loops=False)
            self.register_buffer("edge_index", graph.edge_index, persistent=False)
            self.register_buffer("edge_weight", graph.edge_weight.view(-1, 1), persistent=False)
        elif kind == "gcn":
            self.linear = nn.Linear(dim, dim, bias=False)
            adjacency = torch.sparse_coo_tensor(graph.edge_index, graph.edge_weight, (num_items + 1,) * 2,
                                                check_invariants=False)
            self.register_buffer("adjacency", adjacency.coalesce(), persistent=False)
        self.reset_parameters()

    @staticmethod
    def graph_for(kind: str, dataset: SessionDataset) -> Data | None:
        """The global graph encoder ``kind`` needs, built from the training split (``None`` for ``embedding``)."""
        if kind == "gat":
            return item_transition_graph(dataset.train, dataset.num_items)
        if kind == "gcn":
            return cooccurrence_graph(dataset.train, dataset.num_items, top_k=GCN_TOP_K, normalize=True)
        return None

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.dim ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        if self.kind == "gat":
            self.conv.reset_parameters()
        elif self.kind == "gcn":
            nn.init.xavier_uniform_(self.linear.weight)
        self._cache = None

    def train(self, mode: bool = True):
        self._cache = None
        return super().train(mode)

    def forward(self) -> Tensor:
        if self.kind == "embedding":
            return self.embedding.weight
        if not self.training and self._cache is not None:
            return self._cache
        table = self.embedding.weight
        if self.kind == "gat":
            table = table + self.conv(table, self.edge_index, self.edge_weight)
        else:
            table = table + self.linear(sparse_product(self.adjacency, table))
        table = table * (torch.arange(table.size(0), device=table.device) > 0).unsqueeze(1)  # padding row stays 0
        if not self.training:
            self._cache = table.detach()
        return table

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.num_items}, {self.dim}, kind={self.kind})"
