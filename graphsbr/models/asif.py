r"""ASIF: Wang, Shen, Min, He, Zhang, Zhang, Zhou and Mo, "Aligned Side Information Fusion Method for Sequential
Recommendation", WWW '24 Companion."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from ..data.collate import SequenceBatch
from ..data.dataset import SessionDataset, SideField
from ..errors import ConfigError
from ..nn.dropout import Dropout
from ..nn.fusion import FUSIONS
from ..nn.hie import HomogeneousInformationExtraction
from ..nn.init import INIT_STD
from ..nn.item_encoder import ItemEncoder
from ..nn.packing import Packing, batch_packing, by_width
from ..nn.side_embedding import POOLINGS, SideEmbedding
from ..nn.transformer import ACTIVATIONS, TransformerBlock
from ..nn.untied_attention import UntiedFusedAttention, select_rows
from .base import SessionRecommender, check_choices, cross_entropy, select_side_fields

#: The smallest temperature of the alignment loss (CLIP clips its learned logit scale :math:`1/\tau` at 100).
MIN_TEMPERATURE = 0.01
#: How eq. 9 reduces a sequence's alignment terms: summed over its clicks (as written) or averaged.
RSA_REDUCTIONS = ("sum", "mean")


@dataclass
class ASIFConfig:
    """ASIF's hyperparameters. The paper gives max length 50, ``dim`` 256, 3 layers, 4 heads, Adam with lr 1e-4,
    batch 2048 and 200 epochs, through RecBole (early stop after 10 evaluations without a better validation NDCG@20,
    the metric it selects by; ``train_defaults``), and studies :math:`\\lambda \\in \\{0.1, 0.5, 1, 5, 10, 100\\}`
    (best 10 on Yelp and AliEC, flat on Beauty) and :math:`r \\in \\{4, \\dots, 24\\}` (best around 16–24): choose
    both on validation from those ranges; the defaults are 10 and 16. "For other hyperparameters, we follow the best
    setting mentioned in previous papers": the feed-forward size and the dropouts are DIF-SR's (Beauty).

    Attributes:
        dim: the size :math:`d` of every embedding and hidden state.
        num_layers: transformer layers.
        num_heads: attention heads (:math:`d_h = d / H`).
        inner_dim: the feed-forward networks' inner size (DIF-SR's 256).
        dropout: dropout on the item input and on every stream's attention and feed-forward outputs (DIF-SR's 0.5).
        attn_dropout: dropout on the attention weights (DIF-SR's 0.3).
        activation: ``gelu`` or ``relu`` in the feed-forward networks.
        layer_norm_eps: the layer norms' epsilon.
        max_len: the most recent clicks the model sees (positions, rows of :math:`W_r`).
        fusion: :math:`\\mathcal F` of eq. 1 and 4: ``sum``, ``concat`` or ``gate`` (Fig. 7; the paper searches
            the three; ``sum`` is eq. 1's example).
        contrastive_weight: :math:`\\lambda` of eq. 16.
        temperature: the initial value of the learned temperature :math:`\\tau` of eq. 8 (CLIP's 0.07).
        num_bases: :math:`r`, the columns of :math:`W_r` (the orthonormal bases of HIE).
        rsa: False = w/o RSA (Table 4): no contrastive loss.
        rsa_reduction: one of :data:`RSA_REDUCTIONS`: eq. 9 sums over a sequence's clicks (``sum``, the default, the
            equation as written), or takes their ``mean`` (CLIP's reading, about 8x weaker on Beauty's sequences).
        hie: False = w/o HIE: :math:`h_X` of eq. 3, without :math:`h_A^*`.
        untied_positions: False = w/o UP: no position stream; the positions are added to the item input.
        fused_attention: False = w/o FA: decoupled item and attribute correlation matrices.
        side_fields: the side fields that make up :math:`A` (empty: all fields of the dataset). On Beauty the paper
            uses the categories (``side_fields=category``; the default is S3-Rec's ``attribute``, categories and
            brand merged).
        side_pooling: ``mean`` or ``sum`` of a multi-valued field's value embeddings (DIF-SR's Beauty configuration,
            which the paper follows for what it does not give, sums them).
        shared_position_dropout: True: one dropout mask on the position stream for the whole batch (the stream stays
            ``[1, L, d]`` and its attention is computed once, faster); False: a mask per sequence, as RecBole's
            ``[B, L, d]`` position stream (the same in evaluation, which has no dropout).
        item_encoder: the item table (``embedding`` as in the paper, or ``gat`` / ``gcn``).
    """

    dim: int = 256
    num_layers: int = 3
    num_heads: int = 4
    inner_dim: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.3
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    max_len: int = 50
    fusion: str = "sum"
    contrastive_weight: float = 10.0
    temperature: float = 0.07
    num_bases: int = 16
    rsa: bool = True
    rsa_reduction: str = "sum"
    hie: bool = True
    untied_positions: bool = True
    fused_attention: bool = True
    side_fields: tuple[str, ...] = ()
    side_pooling: str = "mean"
    shared_position_dropout: bool = False
    item_encoder: str = "embedding"


class ASIF(SessionRecommender):
    r"""ASIF: fused attention with untied positions, then representation alignment (RSA and HIE) (§3 of the paper).

    **Fused attention with untied positions** (eq. 1–5, :class:`~graphsbr.nn.UntiedFusedAttention`). Every layer
    carries three streams, items :math:`X`, attributes :math:`A` and positions :math:`P`; one attention computation
    gives :math:`h_X = \mathrm{softmax}((C_{XA} + C_P)/\sqrt{d_h}) X W_{v,1}`, :math:`h_A` (eq. 4) and :math:`h_P`
    (eq. 5), and each stream has its own residual connection, layer norm and feed-forward network
    (:class:`~graphsbr.nn.TransformerBlock`). **Homogeneous information extraction** (HIE, eq. 10–13,
    :class:`~graphsbr.nn.HomogeneousInformationExtraction`): :math:`h_X \leftarrow h_X + h_A^*`, the coordinates of
    :math:`h_A` that agree in sign with :math:`h_X`'s in an orthonormal basis :math:`Q` of :math:`h_X^\top W_r`.
    **Representation space alignment** (RSA, eq. 6–9), per sequence, with :math:`\tilde X, \tilde A` the
    L2-normalised item and attribute embeddings of its clicks (a click's pair is the positive, the others negatives):

    .. math::
        \hat Y_X = \mathrm{softmax}(\tilde X \tilde A^\top / \tau), \quad
        \hat Y_A = \mathrm{softmax}(\tilde A \tilde X^\top / \tau) \quad (8), \qquad
        \mathcal L_{co} = -\frac{1}{2N} \sum_{i=1}^N \sum \big(I \odot \log \hat Y^i_X + I \odot \log \hat Y^i_A\big)
        \quad (9).

    **Prediction and loss** (eq. 14–16): :math:`\hat y = \mathrm{softmax}(h^L_X \cdot V)` with :math:`h^L_X` the
    last layer's item state at the last click and :math:`V` the item table; :math:`\mathcal L = \mathcal L_{ce} +
    \lambda \mathcal L_{co}` (:meth:`loss` reports ``ce`` and ``rsa`` beside ``loss``).

    Where the paper is ambiguous, we chose:

    * **eq. 13's** :math:`W_{o,1}` is the output projection of eq. 3's :math:`h_X` (one per stream, over the heads);
      :math:`h_A^*` is added after it, before the residual connection.
    * **Several fields**: :math:`A = \sum_j A_j` (eq. 6) and :math:`\mathcal F` fuses :math:`(X, A)` at every layer; a
      multi-valued field pools its values (``side_pooling``); clicks without an attribute are left out of RSA.
    * **The streams** start as DIF-SR's: :math:`X^{(0)} = \mathrm{Dropout}(\mathrm{LN}(E_v))`, :math:`A^{(0)}` and
      :math:`P^{(0)}` raw (positions from the oldest click kept); :math:`h_A, h_P` get their own transformer block
      as :math:`h_X` does; RSA aligns the raw embeddings, before any layer; initialisation as RecBole's.
    * **eq. 9** sums over a sequence's clicks and averages over the :math:`N` sequences; :math:`\tau` is learned as
      :math:`\log \tau` (CLIP's), from 0.07, kept at least :data:`MIN_TEMPERATURE`.
    * **Causality**: the attention is causal, HIE is not (:math:`W_r` mixes the sequence axis), so ASIF trains in
      ``prefix`` mode, the loss at each prefix's last click, as RecBole trains it; the last layer computes that row.
    * **HIE on short sequences**: padding adds nothing to :math:`h_X^\top W_r`, and the columns of :math:`Q` that add
      no new direction are never kept, so the prediction does not depend on padding.
    * **Ablations** (Table 4): w/o RSA ``rsa=False``; w/o HIE ``hie=False``; w/o UP ``untied_positions=False``
      (positions added to the input, no :math:`C_P`); w/o FA ``fused_attention=False`` (:math:`C_X + C_A`, DIF-SR's
      decoupled sum); the fusion function of Fig. 7: ``fusion``.

    Args:
        config: the hyperparameters.
        num_items: item ids run ``1..num_items``.
        graph: the item graph of a ``gat`` or ``gcn`` ``item_encoder`` (the table that also scores, eq. 14).
        side: the side fields that make up :math:`A` (at least one).
    """

    name = "asif"
    Config = ASIFConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-4, "batch_size": 2048, "weight_decay": 0.0, "epochs": 200,
                                                "patience": 10}
    #: runs recorded before ``shared_position_dropout`` drew one position-stream dropout mask per batch
    legacy_settings: ClassVar[dict[str, Any]] = {"shared_position_dropout": True}
    sequence_training: ClassVar[bool] = False

    def __init__(self, config: ASIFConfig, num_items: int, graph: Data | None = None,
                 side: Mapping[str, SideField] | None = None):
        super().__init__(config, num_items)
        _check(config)
        side = dict(side or {})
        if not side:
            raise ConfigError("asif needs at least one side field (its attribute stream A); the dataset has none")
        d = config.dim
        self.item_encoder = ItemEncoder(num_items, d, config.item_encoder, graph)
        self.position = nn.Embedding(config.max_len, d)  # P
        self.side = nn.ModuleDict({name: SideEmbedding(f.vocab_size, d, f.multi_valued, config.side_pooling)
                                   for name, f in side.items()})
        self.input_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout)
        self.layers = nn.ModuleList([ASIFLayer(config, last=i == config.num_layers - 1)
                                     for i in range(config.num_layers)])
        self.log_temperature = nn.Parameter(torch.empty(()))  # log tau of eq. 8
        self.reset_parameters()

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: ASIFConfig | None = None) -> ASIF:
        config = config if config is not None else cls.Config()
        _check(config)
        side = select_side_fields(dataset, config.side_fields)
        return cls(config, dataset.num_items, ItemEncoder.graph_for(config.item_encoder, dataset), side)

    def reset_parameters(self) -> None:
        self.item_encoder.reset_parameters()
        nn.init.normal_(self.position.weight, std=INIT_STD)
        for embedding in self.side.values():
            embedding.reset_parameters()
        self.input_norm.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        with torch.no_grad():
            self.log_temperature.fill_(math.log(self.config.temperature))

    @property
    def temperature(self) -> Tensor:
        """:math:`\\tau` of eq. 8."""
        return self.log_temperature.exp().clamp(min=MIN_TEMPERATURE)

    def embed(self, batch: SequenceBatch, table: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``X [B, L, d]`` the item embeddings, ``A [B, L, d]`` the attribute embeddings :math:`\\sum_j A_j`
        (eq. 6; zeros at padding) and ``[B, L]`` True at the real clicks whose item has an attribute value."""
        length = batch.items.size(1)
        if length > self.config.max_len:
            raise ValueError(f"batch of width {length} exceeds max_len={self.config.max_len}; "
                             "collate with max_len=model.max_len")
        packing = batch_packing(batch)
        x = F.embedding(packing.pack(batch.items), table)  # [N, d]
        a, has_value = torch.zeros_like(x), torch.zeros(x.size(0), dtype=torch.bool, device=x.device)
        for name, embed in self.side.items():
            values = packing.pack(batch.side[name])  # [N] or [N, V]
            a = a + embed(values)
            has_value |= (values > 0) if values.dim() == 1 else (values > 0).any(-1)
        return packing.unpack(x), packing.unpack(a), packing.unpack(has_value)

    def encode(self, batch: SequenceBatch, x: Tensor, a: Tensor, readout: bool = True) -> Tensor:
        """The last layer's item states from the embeddings ``x`` and ``a`` of :meth:`embed`: ``[B, d]`` at each
        prefix's last click (``readout``: the last layer computes that row only), or ``[B, L, d]`` at every click."""
        mask = batch.mask
        packing = batch_packing(batch)
        h = packing.pack(x)
        position = self.position.weight[:x.size(1)].unsqueeze(0)  # [1, L, d]
        if not self.config.untied_positions:
            h, position = h + self.position(packing.positions()), None  # w/o UP: positions in the input
        elif self.training and not self.config.shared_position_dropout:
            position = position.expand(x.size(0), -1, -1)  # one stream, and dropout mask, per sequence
        h = packing.unpack(self.dropout(self.input_norm(h)))
        states = by_width(self.layers_forward, mask, h, a, position, lengths=packing.lengths, packing=packing,
                          readout=readout)  # rows of similar width
        return states[:, 0] if readout else states

    def layers_forward(self, mask: Tensor, h: Tensor, a: Tensor, position: Tensor | None, readout: bool,
                       packing: Packing | None = None) -> Tensor:
        """The layers on the streams of :meth:`encode` (row-wise and blind to padding, as :func:`by_width` needs);
        with ``readout``, every column of the ``[B, L, d]`` result holds the last click's state."""
        for layer in self.layers[:-1]:
            h, a, position = layer(h, a, position, mask, packing=packing)
        if not readout:
            return self.layers[-1](h, a, position, mask, packing=packing)[0]
        last = self.layers[-1](h, a, position, mask, rows=mask.sum(1) - 1, packing=packing)[0]  # [B, d]
        return last.unsqueeze(1).expand(-1, mask.size(1), -1)

    def forward(self, batch: SequenceBatch) -> Tensor:
        table = self.item_encoder()  # [N+1, d]
        x, a, _ = self.embed(batch, table)
        return self.encode(batch, x, a) @ table.T  # eq. 14, [B, N+1]

    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 16: :math:`\\mathcal L_{ce} + \\lambda \\mathcal L_{co}`."""
        table = self.item_encoder()
        x, a, aligned = self.embed(batch, table)
        ce = cross_entropy(self.encode(batch, x, a) @ table.T, batch.targets)
        if not (self.config.rsa and self.config.contrastive_weight):
            return ce, {"ce": ce.detach(), "loss": ce.detach()}
        co = alignment_loss(x, a, aligned, self.temperature, batch.host_lengths, self.config.rsa_reduction)
        total = ce + self.config.contrastive_weight * co
        return total, {"ce": ce.detach(), "rsa": co.detach(), "loss": total.detach()}

    def extra_repr(self) -> str:
        c = self.config
        variant = [name for name, off in (("w/o RSA", not c.rsa), ("w/o HIE", not c.hie),
                                          ("w/o UP", not c.untied_positions), ("w/o FA", not c.fused_attention))
                   if off]
        return (f"num_items={self.num_items}, dim={c.dim}, layers={c.num_layers}, heads={c.num_heads}, "
                f"side={list(self.side)}, fusion={c.fusion}, lambda={c.contrastive_weight}, r={c.num_bases}"
                + (f", variant={'+'.join(variant)}" if variant else ""))


class ASIFLayer(nn.Module):
    r"""One ASIF layer: the fused attention with untied positions (eq. 1–5), HIE added to the item state (eq. 13),
    then per stream a residual connection, layer norm and feed-forward network
    (:class:`~graphsbr.nn.TransformerBlock`, post-LN as BERT and RecBole). A ``last`` layer updates the item stream
    only, at every click or, given ``rows``, at one row per sequence (the read-out). Causal (see :class:`ASIF`).

    Shapes:
        input: ``x [B, L, d]``, ``a [B, L, d]``, ``position [1 or B, L, d]`` or ``None`` (w/o UP), ``mask [B, L]``,
        ``rows [B]`` (optional, a ``last`` layer only).
        output: the three updated streams (``a`` and ``position`` unchanged by a ``last`` layer; ``x`` ``[B, d]``
        at ``rows``).
    """

    def __init__(self, config: ASIFConfig, last: bool = False):
        super().__init__()
        c = config
        self.attention = UntiedFusedAttention(c.dim, c.num_heads, c.attn_dropout, c.fusion, c.fused_attention,
                                              c.untied_positions, attribute_output=c.hie or not last,
                                              position_output=not last)
        self.hie = HomogeneousInformationExtraction(c.max_len, c.num_bases, c.dim) if c.hie else None
        blocks = 1 if last else 2 + c.untied_positions  # items; attributes; positions
        self.blocks = nn.ModuleList([TransformerBlock(Attended(), c.dim, c.inner_dim, c.dropout, c.activation,
                                                      c.layer_norm_eps) for _ in range(blocks)])

    def reset_parameters(self) -> None:
        self.attention.reset_parameters()
        if self.hie is not None:
            self.hie.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()

    def forward(self, x: Tensor, a: Tensor, position: Tensor | None, mask: Tensor, rows: Tensor | None = None,
                packing: Packing | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        h_x, h_a, h_p = self.attention(x, a, mask, True, position, rows, packing)
        h_a_star = self.hie(h_x, h_a, rows) if self.hie is not None else 0.0  # eq. 12 (h_X at every row)
        if rows is not None:
            x, h_x, mask = (select_rows(t, rows).unsqueeze(1) for t in (x, h_x, mask))  # [B, 1, ...]
            h_a_star = h_a_star.unsqueeze(1) if self.hie is not None else 0.0
            last = None if packing is None else packing.cut(None, 1)  # a last click is real as the first is
            x = self.blocks[0](x, mask, True, packing=last, attended=h_x + h_a_star)  # eq. 13
            return x.squeeze(1), a, position
        x = self.blocks[0](x, mask, True, packing=packing, attended=h_x + h_a_star)  # eq. 13
        if len(self.blocks) > 1:
            a = self.blocks[1](a, mask, True, packing=packing, attended=h_a)
        if len(self.blocks) > 2:
            if position.size(0) == 1:  # a stream shared by the batch: every position is real
                length = position.size(1)
                mask = torch.ones(1, length, dtype=torch.bool, device=position.device)
                packing = Packing.from_lengths(torch.tensor([length]), length, position.device)
            position = self.blocks[2](position, mask, True, packing=packing, attended=h_p)
        return x, a, position


class Attended(nn.Module):
    """The attention sublayer of a :class:`~graphsbr.nn.TransformerBlock` whose attention ran beforehand: ASIF's
    three streams share one attention computation, then each goes through its own block."""

    def reset_parameters(self) -> None:
        pass

    def forward(self, h: Tensor, key_padding_mask: Tensor, causal: bool = False, attended: Tensor | None = None,
                packing: Packing | None = None) -> Tensor:
        return attended


def alignment_loss(x: Tensor, a: Tensor, mask: Tensor, temperature: Tensor | float, lengths: Tensor | None = None,
                   reduction: str = "sum") -> Tensor:
    r""":math:`\mathcal L_{co}` of eq. 7–9: per sequence, the softmax cross-entropy of each click's item embedding
    against the attribute embeddings of the sequence's clicks (and of each attribute against the items), the
    paired one being the positive; summed (``reduction="sum"``, eq. 9) or averaged (``"mean"``) over the clicks of a
    sequence, averaged over the sequences and the two directions. Sequences of similar width run together (:func:`~graphsbr.nn.packing.by_width`; the
    :math:`[n, n]` similarities of a sequence end at its last click that takes part).

    Args:
        x: ``[B, L, d]`` item embeddings :math:`X`.
        a: ``[B, L, d]`` attribute embeddings :math:`A`.
        mask: ``[B, L]`` True at the clicks that take part (real clicks with an attribute).
        temperature: :math:`\tau`.
        lengths: ``[B]`` on the CPU, the sequences' lengths (``SequenceBatch.host_lengths``): the groups are then
            found without the host waiting for the device.
    """
    terms = by_width(alignment_terms, mask, x, a, lengths=lengths, temperature=temperature)  # [B, L]
    per_sequence = terms.sum(1)
    if reduction == "mean":
        per_sequence = per_sequence / mask.sum(1).clamp(min=1)
    return -per_sequence.mean() / 2  # eq. 9


def alignment_terms(mask: Tensor, x: Tensor, a: Tensor, temperature: Tensor | float) -> Tensor:
    r"""``[B, L]`` the diagonal :math:`\log \hat Y_X + \log \hat Y_A` of eq. 8 at the clicks of ``mask`` (0
    elsewhere), with the arguments of :func:`alignment_loss`."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, a = F.normalize(x.to(dtype), dim=-1), F.normalize(a.to(dtype), dim=-1)  # eq. 7
    keys = ~mask.unsqueeze(1)  # [B, 1, L]
    logits = x @ a.transpose(1, 2) / temperature  # X~ A~^T / tau, [B, L, L]
    fill = torch.finfo(logits.dtype).min
    log_x = torch.log_softmax(logits.masked_fill(keys, fill), -1).diagonal(dim1=1, dim2=2)  # log Y_X diagonal
    log_a = torch.log_softmax(logits.transpose(1, 2).masked_fill(keys, fill), -1).diagonal(dim1=1, dim2=2)
    return torch.where(mask, log_x + log_a, 0.0)


def _check(config: ASIFConfig) -> None:
    check_choices(config, fusion=FUSIONS, activation=ACTIVATIONS, side_pooling=POOLINGS,
                  rsa_reduction=RSA_REDUCTIONS)
    for key in ("dim", "num_layers", "num_heads", "inner_dim", "max_len"):
        if not isinstance(getattr(config, key), int) or getattr(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {getattr(config, key)!r}")
    if config.dim % config.num_heads:
        raise ConfigError(f"dim ({config.dim}) must be a multiple of num_heads ({config.num_heads})")
    for key in ("dropout", "attn_dropout"):
        if not 0.0 <= getattr(config, key) < 1.0:
            raise ConfigError(f"{key} must lie in [0, 1), got {getattr(config, key)}")
    if not config.temperature > 0:
        raise ConfigError(f"temperature (tau) must be positive, got {config.temperature}")
    if not config.contrastive_weight >= 0:
        raise ConfigError(f"contrastive_weight (lambda) must be >= 0, got {config.contrastive_weight}")


__all__ = ["ASIF", "ASIFConfig", "ASIFLayer", "RSA_REDUCTIONS", "alignment_loss", "alignment_terms"]
