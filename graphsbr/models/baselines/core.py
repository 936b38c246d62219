"""CORE: session-based recommendation within a consistent representation space (Hou et al., SIGIR 2022)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from ...data.collate import SequenceBatch
from ...nn.attention import MultiHeadAttention
from ...nn.dropout import Dropout
from ...nn.init import INIT_STD, reset_linear
from ...nn.item_encoder import ItemEncoder
from ...nn.packing import batch_packing
from ...nn.transformer import TransformerEncoder
from ..base import SessionRecommender


@dataclass
class COREConfig:
    """CORE-trm's hyperparameters; the defaults are the authors' (the CORE-trm configuration of their code). Their
    training (``train_defaults``) is RecBole's defaults with their code's overall configuration: Adam with lr 1e-3,
    batch 2048, up to 300 epochs, stopped after 5 without a better validation MRR@20.

    Attributes:
        dim: the embedding and hidden size :math:`d`.
        num_layers: transformer blocks of the weight network.
        num_heads: attention heads.
        inner_dim: the feed-forward network's inner size.
        dropout: dropout on the transformer's input and on its attention and feed-forward outputs.
        attn_dropout: dropout on the attention weights.
        activation: ``gelu`` or ``relu``.
        layer_norm_eps: the layer norms' epsilon.
        session_dropout: dropout on the session's item embeddings (before both the encoder and the weighted sum).
        item_dropout: dropout on the candidate item embeddings during training.
        temperature: :math:`\\tau` of the cosine scores.
        causal: a left-to-right attention mask in the weight network (the authors' code applies one by default;
            ``False``, a bidirectional encoder, is the paper's description of a transformer over the session).
        max_len: the most recent clicks the model sees (the number of learned positions).
        item_encoder: the item table (``embedding`` as in the paper, or ``gat`` / ``gcn``).
    """

    dim: int = 100
    num_layers: int = 2
    num_heads: int = 2
    inner_dim: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.5
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    session_dropout: float = 0.2
    item_dropout: float = 0.2
    temperature: float = 0.07
    causal: bool = False
    max_len: int = 50
    item_encoder: str = "embedding"


class CORE(SessionRecommender):
    r"""CORE-trm: the session is a weighted sum of its item embeddings, so it lives in the items' space.

    Representation-consistent encoding (RCE): a transformer over the (dropped-out) item embeddings
    :math:`x_i = \mathrm{Dropout}(e_{v_i})` plus learned positions gives one weight per click,

    .. math::
        F = \mathrm{Transformer}\big(\mathrm{Dropout}(\mathrm{LN}(x + P))\big), \qquad
        \alpha = \mathrm{softmax}(F w + b), \qquad h_s = \sum_i \alpha_i x_i,

    the softmax running over the real clicks only. Robust distance measuring (RDM): cosine scores with a temperature,

    .. math::
        \hat z_j = \frac{\cos(h_s, \mathrm{Dropout}(e_j))}{\tau},

    the candidates' dropout acting in training only. The item table comes from the :class:`~graphsbr.nn.ItemEncoder`.

    Choices where the paper is silent follow the authors' code: post-LN GELU transformer blocks, projections,
    positions and the weight layer initialised :math:`\mathcal N(0, 0.02^2)` with zero biases; the same
    dropped-out item embeddings feed the encoder and the weighted sum. The authors' code masks the weight network's
    attention left-to-right; here it is bidirectional unless ``causal=True``.
    """

    name = "core"
    Config = COREConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 2048, "weight_decay": 0.0, "epochs": 300,
                                                "patience": 5}

    def __init__(self, config: COREConfig, num_items: int, graph: Data | None = None):
        super().__init__(config, num_items)
        d = config.dim
        self.item_encoder = ItemEncoder(num_items, d, config.item_encoder, graph)
        self.position = nn.Embedding(config.max_len, d)
        self.input_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout)
        self.session_dropout = Dropout(config.session_dropout)
        self.item_dropout = Dropout(config.item_dropout)
        attentions = [MultiHeadAttention(d, config.num_heads, config.attn_dropout) for _ in range(config.num_layers)]
        self.encoder = TransformerEncoder(attentions, d, config.inner_dim, config.dropout, config.activation,
                                          causal=config.causal, layer_norm_eps=config.layer_norm_eps)
        self.weight = nn.Linear(d, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.item_encoder.reset_parameters()
        nn.init.normal_(self.position.weight, std=INIT_STD)
        self.input_norm.reset_parameters()
        self.encoder.reset_parameters()
        reset_linear(self.weight)

    def represent(self, batch: SequenceBatch, table: Tensor) -> Tensor:
        """``[B, d]`` the L2-normalised session embedding :math:`h_s / \\lVert h_s \\rVert`."""
        length = batch.items.size(1)
        if length > self.config.max_len:
            raise ValueError(f"batch of width {length} exceeds max_len={self.config.max_len}; "
                             "collate with max_len=model.max_len")
        mask = batch.mask  # [B, L]
        packing = batch_packing(batch)  # embeddings, norm and dropout of the real clicks only
        x = self.session_dropout(F.embedding(packing.pack(batch.items), table))  # [N, d]
        h = self.dropout(self.input_norm(x + self.position(packing.positions())))
        logits = self.weight(self.encoder(packing.unpack(h), mask, packing=packing)).squeeze(-1)  # [B, L]
        alpha = torch.softmax(logits.float().masked_fill(~mask, float("-inf")), dim=1).to(x.dtype)
        return F.normalize((alpha.unsqueeze(-1) * packing.unpack(x)).sum(1), dim=-1)

    def forward(self, batch: SequenceBatch) -> Tensor:
        table = self.item_encoder()  # [N+1, d]
        items = F.normalize(self.item_dropout(table), dim=-1)
        return self.represent(batch, table) @ items.T / self.config.temperature  # [B, N+1]

    def extra_repr(self) -> str:
        c = self.config
        return (f"num_items={self.num_items}, dim={c.dim}, layers={c.num_layers}, heads={c.num_heads}, "
                f"temperature={c.temperature}, causal={c.causal}")


__all__ = ["CORE", "COREConfig"]
