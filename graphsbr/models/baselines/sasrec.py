"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018), trained with the full softmax."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from ...data.collate import SequenceBatch
from ...data.dataset import SessionDataset, SideField
from ...nn.attention import MultiHeadAttention
from ...nn.dropout import Dropout
from ...nn.init import INIT_STD
from ...nn.item_encoder import ItemEncoder
from ...nn.packing import Packing, batch_packing
from ...nn.side_embedding import SideEmbedding
from ...nn.transformer import TransformerEncoder
from ..base import SessionRecommender, cross_entropy, gather_last, select_side_fields


@dataclass
class SASRecConfig:
    """SASRec's hyperparameters; the defaults are RecBole's SASRec (the setup of most papers that use SASRec as a
    baseline; ASIF and COMIF run on RecBole).

    Attributes:
        dim: the embedding and hidden size :math:`d`.
        num_layers: transformer blocks.
        num_heads: attention heads.
        inner_dim: the feed-forward network's inner size.
        dropout: dropout on the input embeddings and on the attention and feed-forward outputs.
        attn_dropout: dropout on the attention weights.
        activation: ``gelu`` or ``relu`` in the feed-forward network.
        layer_norm_eps: the layer norms' epsilon.
        max_len: the most recent clicks the model sees (the number of learned positions).
        item_encoder: the item table (``embedding`` as in the paper, or ``gat`` / ``gcn``).
    """

    dim: int = 64
    num_layers: int = 2
    num_heads: int = 2
    inner_dim: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.5
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    max_len: int = 50
    item_encoder: str = "embedding"


class SASRec(SessionRecommender):
    r"""A causal transformer over the prefix; the state at the last click scores every item.

    .. math::
        H^{(0)} = \mathrm{Dropout}(\mathrm{LN}(E_{v_{1..n}} + P_{1..n})), \qquad
        H^{(l)} = \mathrm{Block}(H^{(l-1)}), \qquad \hat z_j = H^{(L)}_n \cdot e_j

    with learned positions :math:`P`, causal attention (:class:`~graphsbr.nn.attention.MultiHeadAttention`;
    click :math:`t` sees clicks :math:`\le t`, padding is never attended to) and the item table :math:`E` of the
    :class:`~graphsbr.nn.ItemEncoder` shared by the input and the output. Trained with the softmax cross-entropy
    over all items, as RecBole's ``loss_type=CE`` (the paper uses a sampled binary cross-entropy).

    Choices where the paper is silent follow RecBole: post-LN blocks with GELU and fully connected feed-forward
    layers, LayerNorm on the input, projections and positions initialised :math:`\mathcal N(0, 0.02^2)` with zero
    biases (the item table keeps the :class:`~graphsbr.nn.ItemEncoder`'s initialisation), positions counted from the
    oldest click kept (clicks are left-aligned), and the representation taken at the last real click.

    Subclasses whose attention reads side information (NOVA, DIF-SR) set :attr:`side_attention`: the positions are
    then not added to the input but passed, with one embedding per side field, to every layer's attention as the
    ``side`` and ``position`` streams.
    """

    name = "sasrec"
    Config = SASRecConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 256, "weight_decay": 0.0}
    sequence_training: ClassVar[bool] = True
    #: The attention reads the side fields and the positions as separate streams (instead of positions in the input).
    side_attention: ClassVar[bool] = False

    def __init__(self, config: SASRecConfig, num_items: int, graph: Data | None = None,
                 side: Mapping[str, SideField] | None = None):
        super().__init__(config, num_items)
        d = config.dim
        self.item_encoder = ItemEncoder(num_items, d, config.item_encoder, graph)
        self.position = nn.Embedding(config.max_len, d)
        pooling = getattr(config, "side_pooling", "mean")  # the configs of the models with side fields have one
        self.side = nn.ModuleDict({name: SideEmbedding(f.vocab_size, self.side_dim, f.multi_valued, pooling)
                                   for name, f in (side or {}).items()})
        self.input_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout)
        self.encoder = TransformerEncoder([self.attention_layer() for _ in range(config.num_layers)], d,
                                          config.inner_dim, config.dropout, config.activation, causal=True,
                                          layer_norm_eps=config.layer_norm_eps)
        SASRec.reset_parameters(self)

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: SASRecConfig | None = None) -> SASRec:
        config = config if config is not None else cls.Config()
        side = select_side_fields(dataset, config.side_fields) if cls.side_attention else None
        return cls(config, dataset.num_items, ItemEncoder.graph_for(config.item_encoder, dataset), side)

    @property
    def side_dim(self) -> int:
        """The size of the side-field embeddings (the hidden size; DIF-SR's are smaller)."""
        return self.config.dim

    def attention_layer(self) -> nn.Module:
        """The attention of one block (the hook NOVA and DIF-SR override)."""
        return MultiHeadAttention(self.config.dim, self.config.num_heads, self.config.attn_dropout)

    def reset_parameters(self) -> None:
        self.item_encoder.reset_parameters()
        nn.init.normal_(self.position.weight, std=INIT_STD)
        for embedding in self.side.values():
            embedding.reset_parameters()
        self.input_norm.reset_parameters()
        self.encoder.reset_parameters()

    def encode(self, batch: SequenceBatch, table: Tensor, packing: Packing | None = None) -> Tensor:
        """``[B, L, d]`` the states at every position; the state at click :math:`t` sees clicks :math:`\\le t`."""
        length = batch.items.size(1)
        if length > self.config.max_len:
            raise ValueError(f"batch of width {length} exceeds max_len={self.config.max_len}; "
                             "collate with max_len=model.max_len")
        packing = packing or batch_packing(batch)  # embeddings, norm and dropout of the real clicks only
        h = F.embedding(packing.pack(batch.items), table)  # [N, d]
        context = {}
        if self.side_attention:
            context = {"side": [embed(batch.side[name]) for name, embed in self.side.items()],
                       "position": self.position.weight[:length].unsqueeze(0)}  # [1, L, d]
        else:
            h = h + self.position(packing.positions())
        return self.encoder(packing.unpack(self.dropout(self.input_norm(h))), batch.mask, packing=packing, **context)

    def represent(self, batch: SequenceBatch, table: Tensor) -> Tensor:
        """``[B, d]`` the state at the last real click."""
        return gather_last(self.encode(batch, table), batch.lengths)

    def forward(self, batch: SequenceBatch) -> Tensor:
        table = self.item_encoder()  # [N+1, d]
        return self.represent(batch, table) @ table.T  # [B, N+1]

    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        table = self.item_encoder()
        return self.objective(self.represent(batch, table), table, batch.targets, batch.target_side)

    def sequence_loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """The objective at every real position of every session (SASRec's own training, with a softmax)."""
        table = self.item_encoder()
        packing = batch_packing(batch)  # every real click has a target (the next click)
        states = packing.pack(self.encode(batch, table, packing))  # [M, d]
        targets = {k: packing.pack(v) for k, v in batch.target_side.items()}
        return self.objective(states, table, packing.pack(batch.targets), targets)

    def objective(self, states: Tensor, table: Tensor, targets: Tensor,
                  target_side: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss of ``states [M, d]`` predicting ``targets [M]``: softmax cross-entropy over all items (the hook
        DIF-SR extends with its attribute predictors)."""
        loss = cross_entropy(states @ table.T, targets)
        return loss, {"loss": loss.detach()}

    def extra_repr(self) -> str:
        c = self.config
        side = f", side={list(self.side)}" if len(self.side) else ""
        return f"num_items={self.num_items}, dim={c.dim}, layers={c.num_layers}, heads={c.num_heads}{side}"


__all__ = ["SASRec", "SASRecConfig"]
