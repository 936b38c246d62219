"""The gated graph layer of SR-GNN over per-session graphs (Wu et al., AAAI 2019, eq. 1-5)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter


class GatedSessionGraphConv(nn.Module):
    r"""SR-GNN's gated graph layer: propagation over the in- and out-edges of a session graph, then a GRU update.

    For node :math:`v_i` of a session graph with normalised incoming and outgoing matrices :math:`A^{in}` and
    :math:`A^{out}` (SR-GNN §3.2: :math:`A^{in}_{ij} = 1/\deg^-(v_i)` for every edge :math:`v_j \to v_i`,
    :math:`A^{out}_{ij} = 1/\deg^+(v_i)` for every edge :math:`v_i \to v_j`), one step computes (eq. 1-5)

    .. math::
        a_i &= \Big[\sum_{j} A^{in}_{ij} (W_{in} h_j + c_{in}) + b_{in};\;
                     \sum_{j} A^{out}_{ij} (W_{out} h_j + c_{out}) + b_{out}\Big] \\
        z_i &= \sigma(W_z a_i + U_z h_i), \qquad r_i = \sigma(W_r a_i + U_r h_i) \\
        \tilde h_i &= \tanh\big(W_o a_i + r_i \odot (U_o h_i)\big) \\
        h_i' &= (1 - z_i) \odot \tilde h_i + z_i \odot h_i

    (gate biases omitted), repeated ``step`` times with shared weights. As in the authors' code, the edge
    transforms :math:`W_{in}, W_{out}` carry their own bias :math:`c` besides the paper's :math:`b` (so a node
    without in-edges gets :math:`b_{in}` only), and the update is PyTorch's GRU cell, whose :math:`z` keeps the old
    state (the paper's eq. 5 writes the gate the other way round; the two are the same model).

    In a batch of graphs, :math:`A^{in}` and :math:`A^{out}` are the edge lists ``edge_index`` (``u -> v``, one
    entry per distinct transition) with the per-edge weights ``edge_weight_in`` (:math:`1/\deg^-(v)`) and
    ``edge_weight_out`` (:math:`1/\deg^+(u)`) of :class:`~graphsbr.graphs.SessionGraph`: the incoming message
    :math:`u \to v` is aggregated at :math:`v`, the outgoing one at :math:`u` from :math:`v`; no dense matrix is
    built.

    Args:
        dim: the hidden size :math:`d`.
        step: the number of propagation steps.

    Shapes:
        input: node states ``[N, d]``, ``edge_index [2, E]``, ``edge_weight_in [E]``, ``edge_weight_out [E]``.
        output: ``[N, d]``.
    """

    def __init__(self, dim: int, step: int = 1):
        super().__init__()
        if step < 1:
            raise ValueError(f"step must be at least 1, got {step}")
        self.dim, self.step = dim, step
        self.edge_in = nn.Linear(dim, dim)
        self.edge_out = nn.Linear(dim, dim)
        self.bias_in = nn.Parameter(torch.empty(dim))
        self.bias_out = nn.Parameter(torch.empty(dim))
        self.gru = nn.GRUCell(2 * dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.edge_in.reset_parameters()
        self.edge_out.reset_parameters()
        self.gru.reset_parameters()
        nn.init.zeros_(self.bias_in)
        nn.init.zeros_(self.bias_out)

    def propagate(self, h: Tensor, edge_index: Tensor, edge_weight_in: Tensor, edge_weight_out: Tensor) -> Tensor:
        r"""``[N, 2d]`` the input :math:`a` of the update (eq. 1): the in- and out-aggregations side by side."""
        src, dst = edge_index
        n = h.size(0)
        message_in = self.edge_in(h)[src] * edge_weight_in.unsqueeze(-1)  # u -> v, gathered at v
        message_out = self.edge_out(h)[dst] * edge_weight_out.unsqueeze(-1)  # v -> u, gathered at u
        a_in = scatter(message_in, dst, dim=0, dim_size=n, reduce="sum") + self.bias_in
        a_out = scatter(message_out, src, dim=0, dim_size=n, reduce="sum") + self.bias_out
        return torch.cat([a_in, a_out], dim=-1)

    def forward(self, h: Tensor, edge_index: Tensor, edge_weight_in: Tensor, edge_weight_out: Tensor) -> Tensor:
        for _ in range(self.step):
            h = self.gru(self.propagate(h, edge_index, edge_weight_in, edge_weight_out), h)
        return h

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim}, step={self.step})"


__all__ = ["GatedSessionGraphConv"]
