"""GRU4Rec: session-based recommendations with recurrent neural networks (Hidasi et al., ICLR 2016)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn
from torch_geometric.data import Data

from ...data.collate import SequenceBatch
from ...nn.item_encoder import ItemEncoder
from ..base import SessionRecommender, gather_last


@dataclass
class GRU4RecConfig:
    """GRU4Rec's hyperparameters.

    Attributes:
        dim: the item embedding size.
        hidden: the GRU's hidden size.
        num_layers: stacked GRU layers.
        dropout: dropout on the input item embeddings.
        max_len: keep only the last ``max_len`` clicks of a prefix. 50 (RecBole's default and the leave-one-out
            protocol's length) truncates very few session prefixes (``benchmarks/RESULTS.md``) and bounds the
            recurrence on long user histories; ``None`` keeps every click.
        item_encoder: the item table (``embedding``, ``gat`` or ``gcn``).
    """

    dim: int = 100
    hidden: int = 100
    num_layers: int = 1
    dropout: float = 0.25
    max_len: int | None = 50
    item_encoder: str = "embedding"


class GRU4Rec(SessionRecommender):
    r"""A GRU over the prefix; the last hidden state, projected to the embedding size, scores every item.

    .. math::
        h_t = \mathrm{GRU}(\mathrm{dropout}(e_{v_t}), h_{t-1}), \qquad \hat z_j = (W h_n + b)^\top e_j

    Trained, like every model of the toolkit, with the full softmax cross-entropy on the (prefix, target) samples
    rather than the paper's session-parallel mini-batches with sampled ranking losses; the output layer shares the
    item table with the input (as RecBole's GRU4Rec, the closest implementation trained this way, does; so does
    the authors' later ``constrained_embedding`` option). Choices where the paper is silent follow RecBole: GRU
    weights Xavier-uniform with zero biases, the projection :math:`W` with a bias. Left-aligned padding comes after
    the last click, so the state at position ``length - 1`` does not see it and no packing is needed.
    """

    name = "gru4rec"
    Config = GRU4RecConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 256}

    def __init__(self, config: GRU4RecConfig, num_items: int, graph: Data | None = None):
        super().__init__(config, num_items)
        self.item_encoder = ItemEncoder(num_items, config.dim, config.item_encoder, graph)
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.hidden, num_layers=config.num_layers, batch_first=True)
        self.projection = nn.Linear(config.hidden, config.dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.item_encoder.reset_parameters()
        for name, parameter in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(parameter)
            else:
                nn.init.zeros_(parameter)
        self.projection.reset_parameters()

    def forward(self, batch: SequenceBatch) -> Tensor:
        table = self.item_encoder()  # [N+1, d]
        states, _ = self.gru(self.dropout(table[batch.items]))  # [B, L, hidden]
        return self.projection(gather_last(states, batch.lengths)) @ table.T  # [B, N+1]

    def extra_repr(self) -> str:
        c = self.config
        return f"num_items={self.num_items}, dim={c.dim}, hidden={c.hidden}, num_layers={c.num_layers}"


__all__ = ["GRU4Rec", "GRU4RecConfig"]
