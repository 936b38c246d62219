"""SR-GNN: session-based recommendation with graph neural networks (Wu et al., AAAI 2019)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from ...errors import ConfigError
from ...nn.item_encoder import ItemEncoder
from ...nn.session_gnn import GatedSessionGraphConv
from ..base import SessionRecommender

#: How the session embedding is formed, after the variants the paper compares: ``hybrid`` (SR-GNN, eq. 7), ``local``
#: (the last click only, SR-GNN-L), ``attention`` (the attention pooling :math:`s_g` only, SR-GNN-ATT; the authors'
#: ``--nonhybrid`` switch) and ``average`` (the mean of the clicks' states, SR-GNN-AVG).
SESSION_EMBEDDINGS = ("hybrid", "local", "attention", "average")


@dataclass
class SRGNNConfig:
    """SR-GNN's hyperparameters; the defaults are the paper's (d = 100, one propagation step, hybrid embedding).

    Attributes:
        dim: the embedding and hidden size :math:`d`.
        step: propagation steps of the gated graph layer.
        session_embedding: one of :data:`SESSION_EMBEDDINGS`.
        item_encoder: the item table (``embedding`` as in the paper, or ``gat`` / ``gcn``).
        max_len: keep only the last ``max_len`` clicks of a prefix (``None``: all, as in the paper).
    """

    dim: int = 100
    step: int = 1
    session_embedding: str = "hybrid"
    item_encoder: str = "embedding"
    max_len: int | None = None


class SRGNN(SessionRecommender):
    r"""SR-GNN over PyG batches of per-session graphs.

    The nodes of a session graph take their item vectors :math:`v` from the item table :math:`E`; the gated graph
    layer (:class:`~graphsbr.nn.GatedSessionGraphConv`, eq. 1-5) turns them into node states, which are spread back
    over the clicks :math:`v_1, \dots, v_n` of the prefix with ``alias_index``. Then (eq. 6-8)

    .. math::
        \alpha_i = q^\top \sigma(W_1 v_n + W_2 v_i + c), \qquad
        s_g = \sum_{i=1}^n \alpha_i v_i, \qquad s_l = v_n, \qquad
        s_h = W_3 [s_l; s_g], \qquad \hat z_j = s_h^\top e_j,

    with no softmax over :math:`\alpha` (as in the paper and the authors' code). Everything runs over the
    concatenated clicks of the batch (a scatter per session), without padding or a loop per session.

    Choices where the paper is silent, taken from the authors' PyTorch code: :math:`W_1`, :math:`W_3` and the edge
    transforms have biases, :math:`q` has none; every parameter, the item table included, starts uniform in
    :math:`\pm 1/\sqrt d`; training is Adam with lr 1e-3 decayed ×0.1 every 3 epochs, L2 1e-5, batches of 100,
    30 epochs stopped after 10 without a better validation result.
    """

    name = "srgnn"
    Config = SRGNNConfig
    batch_kind = "graph"
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-3, "batch_size": 100, "weight_decay": 1e-5, "lr_step": 3, "lr_gamma": 0.1,
        "epochs": 30, "patience": 10,
    }

    def __init__(self, config: SRGNNConfig, num_items: int, graph: Data | None = None):
        super().__init__(config, num_items)
        if config.session_embedding not in SESSION_EMBEDDINGS:
            raise ConfigError(f"unknown session_embedding {config.session_embedding!r}; "
                              f"choose one of {', '.join(SESSION_EMBEDDINGS)}")
        d = config.dim
        self.item_encoder = ItemEncoder(num_items, d, config.item_encoder, graph)
        self.gnn = GatedSessionGraphConv(d, config.step)
        if config.session_embedding in ("hybrid", "attention"):
            self.w1 = nn.Linear(d, d)
            self.w2 = nn.Linear(d, d)
            self.q = nn.Linear(d, 1, bias=False)
        if config.session_embedding == "hybrid":
            self.w3 = nn.Linear(2 * d, d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.item_encoder.reset_parameters()
        bound = 1.0 / math.sqrt(self.config.dim)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-bound, bound)
            self.item_encoder.embedding.weight[0].zero_()

    def click_states(self, batch: Batch, table: Tensor) -> Tensor:
        """``[sum T, d]`` the node state of every click of the batch, session after session, in click order."""
        h = self.gnn(table[batch.x], batch.edge_index, batch.edge_weight_in, batch.edge_weight_out)  # [N, d]
        return h[batch.alias_index]

    def session_embedding(self, clicks: Tensor, length: Tensor) -> Tensor:
        """``[B, d]`` the session embedding (eq. 6-7) from the concatenated click states ``[sum T, d]``."""
        kind, size = self.config.session_embedding, length.numel()
        last = clicks[length.cumsum(0) - 1]  # s_l = v_n  [B, d]
        if kind == "local":
            return last
        session = torch.repeat_interleave(torch.arange(size, device=length.device), length)  # [sum T]
        if kind == "average":
            return scatter(clicks, session, dim=0, dim_size=size, reduce="mean")
        alpha = self.q(torch.sigmoid(self.w1(last)[session] + self.w2(clicks)))  # [sum T, 1]
        global_ = scatter(alpha * clicks, session, dim=0, dim_size=size, reduce="sum")  # s_g  [B, d]
        if kind == "attention":
            return global_
        return self.w3(torch.cat([last, global_], dim=-1))

    def forward(self, batch: Batch) -> Tensor:
        table = self.item_encoder()  # [N+1, d]
        session = self.session_embedding(self.click_states(batch, table), batch.length)
        return session @ table.T  # [B, N+1]

    def extra_repr(self) -> str:
        c = self.config
        return f"num_items={self.num_items}, dim={c.dim}, step={c.step}, session_embedding={c.session_embedding}"


__all__ = ["SESSION_EMBEDDINGS", "SRGNN", "SRGNNConfig"]
