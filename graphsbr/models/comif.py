r"""COMIF: Choi, Lee, Kang and Cho, "Exploring the Side-Information Fusion for Sequential Recommendation", IEEE
Access 2025."""
from __future__ import annotations

import logging
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
from ..nn.attention import DecoupledAttention, DecoupledConcatAttention, MultiHeadAttention
from ..nn.fusion import FUSIONS, Fusion
from ..nn.init import INIT_STD
from ..nn.item_encoder import ItemEncoder
from ..nn.packing import Packing, batch_packing
from .base import check_choices, cross_entropy, gather_last, select_side_fields
from .baselines.sasrec import SASRec, SASRecConfig

LOG = logging.getLogger(__name__)

#: Where a type of side information is fused (Table 4): with the item embeddings (``emb``), as its own attention
#: score matrices (``attn``), or not at all (``none``).
FUSION_LEVELS = ("emb", "attn", "none")
#: :math:`\mathcal F_{attn}` of eq. 6: concatenation (the paper's choice) or the sum of the score matrices.
SCORE_FUSIONS = ("concat", "sum")
#: The word ``behaviour_fields`` accepts for "no per-click field" (the position only).
NO_FIELDS = "none"


@dataclass
class COMIFConfig(SASRecConfig):
    """COMIF's hyperparameters. The paper gives the hidden size 128, addition for :math:`\\mathcal F_{emb}`,
    concatenation for :math:`\\mathcal F_{attn}`, Adam with lr 1e-4, batch 512, 200 epochs stopped after 10 without a
    better validation Recall@20 (``train_defaults``; the epoch is selected by the comparison's one rule, NDCG@20
    under leave-one-out), and the grid it searches: layers in {2, 3, 4}, heads in {2, 4, 8},
    :math:`\\lambda_1, \\lambda_2` in {0.4, 0.8, 1.2, 1.6}. It does not report the chosen point (Fig. 7's heat map
    only says that :math:`\\lambda_2 < 0.8` is mostly better). The defaults, 3 layers, 4 heads (the configuration of
    its Table 7) and :math:`\\lambda_1 = \\lambda_2 = 0.4`, held up in a search of that grid on Beauty's validation
    split (``benchmarks/RESULTS.md``). The others, which the paper does not give, are
    RecBole's SASRec defaults (the paper runs on RecBole).

    Attributes:
        dim: the size :math:`d` of every embedding and hidden state.
        num_layers: transformer blocks.
        num_heads: attention heads.
        inner_dim: the feed-forward network's inner size.
        dropout: dropout on the input embeddings and on the attention and feed-forward outputs.
        attn_dropout: dropout on the attention weights.
        activation: ``gelu`` or ``relu`` in the feed-forward network.
        layer_norm_eps: the layer norms' epsilon.
        max_len: the most recent clicks the model sees (the number of positions and of key positions of the
            concatenation fusion).
        item_encoder: the item table (``embedding`` as in the paper, or ``gat`` / ``gcn``).
        fusion: :math:`\\mathcal F_{emb}` of eq. 5 and 7, one of :data:`~graphsbr.nn.fusion.FUSIONS` (``sum``:
            addition, the paper's; ``concat``, ``gate``: Appendix B).
        attention_fusion: :math:`\\mathcal F_{attn}` of eq. 6, one of :data:`SCORE_FUSIONS`.
        attribute_fusion: how the item attributes are fused (Table 4, Table 6), one of :data:`FUSION_LEVELS`;
            ``emb`` is COMIF's.
        behaviour_fusion: how the behaviour (the position and the per-click fields) is fused, one of
            :data:`FUSION_LEVELS`; ``attn`` is COMIF's.
        iaa_weight: :math:`\\lambda_1` of eq. 11, the weight of IAA (0: without IAA, Table 6).
        upa_weight: :math:`\\lambda_2` of eq. 11, the weight of UPA (0: without UPA, Table 6).
        upa_negatives: :math:`k` of eq. 10, the random behaviour sequences per sequence.
        side_fields: the item side fields used as attributes (empty: every field but the parts of a merged one).
        side_pooling: how a multi-valued field's values embed: ``mean`` or ``sum`` (DIF-SR's Beauty configuration).
        behaviour_fields: the per-click behaviour fields used beside the position (empty: all the dataset has;
            ``none``: the position only).
    """

    dim: int = 128
    num_layers: int = 3
    num_heads: int = 4
    fusion: str = "sum"
    attention_fusion: str = "concat"
    attribute_fusion: str = "emb"
    behaviour_fusion: str = "attn"
    iaa_weight: float = 0.4
    upa_weight: float = 0.4
    upa_negatives: int = 1
    side_fields: tuple[str, ...] = ()
    side_pooling: str = "mean"
    behaviour_fields: tuple[str, ...] = ()


class COMIF(SASRec):
    r"""SASRec with embedding-level fusion of the item attributes, attention-level fusion of the behaviour, and two
    self-supervised losses (§IV of the paper).

    **Attributes, fused at the embedding level** (eq. 5, 7). With :math:`e_{id}` the :class:`~graphsbr.nn.ItemEncoder`
    table and :math:`e_{a_j}` the attributes' :class:`~graphsbr.nn.SideEmbedding` (a multi-valued field: the mean of
    its values'), every item has :math:`e_i = \mathcal F_{emb}(e_{id}, e_{a_1}, \dots, e_{a_m})`, both the input of
    its clicks, :math:`H^{(0)} = \mathrm{Dropout}(\mathrm{LN}(E_i))`, and its candidate embedding,
    :math:`r_{(u,i)} = e_i \cdot h_n^\top`. **Behaviour, fused at the attention level** (eq. 6): the position and
    each per-click field have embeddings :math:`E_r` the layers do not update, and score matrices of their own;

    .. math::
        \mathrm{Attn}_i = (H_i W^Q_i)(H_i W^K_i)^\top, \quad \mathrm{Attn}_r = (E_r W^Q_r)(E_r W^K_r)^\top, \quad
        \mathrm{SA} = \mathrm{softmax}\Big(\frac{\mathcal F_{attn}(\mathrm{Attn}_i, \mathrm{Attn}_r)}
        {\sqrt{d_h}} + M\Big)(H_i W_V)

    per head, with :math:`M` the causal mask. **Losses** (eq. 8–11): item-attribute alignment (IAA) and
    user-preference alignment (UPA) beside the softmax cross-entropy :math:`\mathcal L_{rec}` over all items,

    .. math::
        \mathcal L_{IAA} = \mathbb E_i\Big[-\log \frac{\exp(e_{id} \cdot e_a^\top)}
        {\sum_{\tilde a \in \mathcal A} \exp(e_{id} \cdot e_{\tilde a}^\top)}\Big], \quad
        \mathcal L_{UPA} = \mathbb E_u\Big[-\log \frac{\exp(e_i \cdot h_{pos}^\top)}
        {\exp(e_i \cdot h_{pos}^\top) + \sum_{j=1}^k \exp(e_i \cdot h_j^\top)}\Big], \quad
        \mathcal L = \mathcal L_{rec} + \lambda_1 \mathcal L_{IAA} + \lambda_2 \mathcal L_{UPA}.

    The model is causal, so it trains in ``sequence`` mode: every term at every position, as for that prefix alone.

    Where the paper is ambiguous, we chose:

    * :math:`\mathcal F_{emb}` **is one function for eq. 5 and 7** (attributes belong to the item); ``concat`` and
      ``gate`` are NOVA's (:class:`~graphsbr.nn.fusion.Fusion`): a sigmoid gate, where Appendix B writes a softmax.
    * :math:`\mathcal F_{attn}` **by concatenation**: DIF-SR's, a learned map of each score row over the keys a query
      may attend to (:class:`~graphsbr.nn.attention.DecoupledConcatAttention`), so it stays causal.
    * **Several types**: each attribute field is one input of :math:`\mathcal F_{emb}`, each behaviour type (the
      position, each per-click field) has its own score matrix.
    * **Other levels** (Tables 4–6): ``attribute_fusion="attn"`` gives attributes score matrices (DIF-SR);
      ``behaviour_fusion="emb"`` adds the behaviour to the input only; ``none`` drops a type. Table 6's rows are
      ``attribute_fusion=attn`` with both weights 0, both weights 0, ``upa_weight=0``, and the defaults.
    * **IAA**: :math:`\mathcal A` is a field's vocabulary; several values make a normalised multi-hot target (items
      without one are skipped), fields add; :math:`\mathbb E_i` runs over the batch's targets, not the catalogue.
    * **UPA negatives**: each click takes the behaviour of a click drawn among itself and the earlier ones, which
      keeps a negative causal and inside its prefix; :math:`k = 1` (not given; one extra encoder pass, Table 7).
    * **SASRec parts**: :class:`~graphsbr.models.baselines.SASRec`'s; :math:`h_n` is the state at the last click.
      Without side fields the model runs without attributes and says so in the log.

    Args:
        config: the hyperparameters.
        num_items: item ids run ``1..num_items``.
        graph: the item graph of a ``gat`` or ``gcn`` ``item_encoder``.
        side: the item side fields used as attributes (``side_fields``).
        behaviour: the per-click behaviour fields (``behaviour_fields``), each with its largest value.
    """

    name = "comif"
    Config = COMIFConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-4, "batch_size": 512, "weight_decay": 0.0, "epochs": 200,
                                                "patience": 10}
    sequence_training: ClassVar[bool] = True

    def __init__(self, config: COMIFConfig, num_items: int, graph: Data | None = None,
                 side: Mapping[str, SideField] | None = None, behaviour: Mapping[str, int] | None = None):
        _check(config)
        side = dict(side or {}) if config.attribute_fusion != "none" else {}
        behaviour = dict(behaviour or {}) if config.behaviour_fusion != "none" else {}
        if config.attribute_fusion != "none" and not side:
            LOG.info("COMIF: the dataset has no item side field; no attribute fusion and no IAA")
        self.stream_count = (len(side) if config.attribute_fusion == "attn" else 0) + \
            (1 + len(behaviour) if config.behaviour_fusion == "attn" else 0)
        super().__init__(config, num_items, graph, side)
        d = config.dim
        self.behaviour = nn.ModuleDict({name: nn.Embedding(top + 1, d) for name, top in behaviour.items()})
        self.fusion = Fusion(config.fusion, d, 1 + len(side)) if config.attribute_fusion == "emb" and side else None
        width = max([f.values.size(1) for f in side.values()], default=1)
        values = [F.pad(f.values, (0, width - f.values.size(1))) for f in side.values()]
        values = torch.stack(values) if values else torch.zeros(0, num_items + 1, width, dtype=torch.long)
        self.register_buffer("side_values", values, persistent=False)  # [m, N+1, V] each field's values per item
        self.negatives = config.upa_negatives if config.upa_weight > 0 else 0
        self.reset_parameters()

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: COMIFConfig | None = None) -> COMIF:
        config = config if config is not None else cls.Config()
        _check(config)
        side = select_side_fields(dataset, config.side_fields) if config.attribute_fusion != "none" else {}
        behaviour = behaviour_fields(dataset, config.behaviour_fields) if config.behaviour_fusion != "none" else {}
        return cls(config, dataset.num_items, ItemEncoder.graph_for(config.item_encoder, dataset), side, behaviour)

    def attention_layer(self) -> nn.Module:
        """:math:`\\mathcal F_{attn}` over the item stream and :attr:`stream_count` streams of size :math:`d`."""
        c = self.config
        dims = [c.dim] * self.stream_count
        if not dims:
            return MultiHeadAttention(c.dim, c.num_heads, c.attn_dropout)
        if c.attention_fusion == "sum":
            return DecoupledAttention(c.dim, c.num_heads, dims, None, c.attn_dropout)
        return DecoupledConcatAttention(c.dim, c.num_heads, dims, c.max_len, None, c.attn_dropout)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for embedding in self.behaviour.values():
            nn.init.normal_(embedding.weight, std=INIT_STD)
        if self.fusion is not None:
            self.fusion.reset_parameters()

    # ------------------------------------------------------------------------------------------------- encoder
    def item_tables(self) -> tuple[Tensor, Tensor]:
        """``[N+1, d]`` twice: the pure item table :math:`e_{id}` and the integrated :math:`e_i` (eq. 5, 7)."""
        items = self.item_encoder()
        if self.fusion is None:
            return items, items
        attributes = [embed(self.attribute_values(row)) for row, embed in enumerate(self.side.values())]
        return items, self.fusion([items, *attributes])

    def attribute_values(self, row: int, items: Tensor | None = None) -> Tensor:
        """The values of side field number ``row`` of ``items`` (all items when ``None``): ``[*]`` for a
        single-valued field, ``[*, V]`` for a multi-valued one (0 = none)."""
        values = self.side_values[row]  # [N+1, V]
        values = values if items is None else values[items]
        embed = list(self.side.values())[row]
        return values if embed.multi_valued else values[..., 0]

    def behaviour_ids(self, batch: SequenceBatch, negatives: int) -> dict[str, Tensor]:
        """``[1 + negatives, B, L]`` per behaviour type: copy 0 the real behaviour (``position`` counted from the
        oldest click, then the per-click fields), copies ``1..`` the random behaviour sequences of UPA, where click
        :math:`t` takes the behaviour of a click drawn uniformly among clicks :math:`0..t`."""
        size, length = batch.items.shape
        index = torch.arange(length, device=batch.items.device).expand(1 + negatives, size, length)
        if negatives:
            draws = torch.rand(negatives, size, length, device=index.device) * (index[0, 0] + 1)
            index = torch.cat([index[:1], torch.minimum(draws.long(), index[0, 0])])  # [1+k, B, L]
        ids = {"position": index}
        for name in self.behaviour:
            ids[name] = batch.fields[name].expand(1 + negatives, -1, -1).gather(2, index)
        return ids

    def encode(self, batch: SequenceBatch, table: Tensor, negatives: int = 0, packing: Packing | None = None
               ) -> Tensor:
        """``[1 + negatives, B, L, d]`` the states at every position, of the batch (copy 0) and of its random
        behaviour sequences (UPA); the state at click :math:`t` sees clicks :math:`\\le t`."""
        c = self.config
        size, length = batch.items.shape
        if length > c.max_len:
            raise ValueError(f"batch of width {length} exceeds max_len={c.max_len}; collate with max_len=model.max_len")
        copies = 1 + negatives
        mask = batch.mask.repeat(copies, 1)  # [cB, L]
        packing = (packing or batch_packing(batch)).repeat(copies)  # embeddings, norm and dropout: real clicks
        items = packing.pack(batch.items.repeat(copies, 1))  # [M]
        h = F.embedding(items, table)  # e_i of the clicks, [M, d]
        streams = []
        if c.attribute_fusion == "attn":
            streams += [packing.unpack(embed(self.attribute_values(row, items)))
                        for row, embed in enumerate(self.side.values())]
        if c.behaviour_fusion != "none":
            ids = self.behaviour_ids(batch, negatives)
            tables = {"position": self.position, **self.behaviour}
            embedded = [tables[name](packing.pack(value.flatten(0, 1))) for name, value in ids.items()]  # [M, d]
            if c.behaviour_fusion == "emb":
                h = h + sum(embedded)
            else:
                streams += [packing.unpack(e) for e in embedded]
        h = packing.unpack(self.dropout(self.input_norm(h)))  # [cB, L, d]
        context = {"side": streams} if streams else {}
        return self.encoder(h, mask, packing=packing, **context).view(copies, size, length, -1)

    def forward(self, batch: SequenceBatch) -> Tensor:
        _, table = self.item_tables()
        return gather_last(self.encode(batch, table)[0], batch.lengths) @ table.T  # [B, N+1]

    # ------------------------------------------------------------------------------------------------- losses
    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        items, table = self.item_tables()
        states = self.encode(batch, table, self.negatives)  # [1+k, B, L, d]
        copies, size = states.shape[:2]
        last = gather_last(states.flatten(0, 1), batch.lengths.repeat(copies)).view(copies, size, -1)  # [1+k, B, d]
        return self.joint_loss(last, items, table, batch.targets, batch.lengths > 1)

    def sequence_loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 11 at every real position of every session: the same terms as :meth:`loss` for each prefix."""
        items, table = self.item_tables()
        packing = batch_packing(batch)  # every real click has a target (the next click)
        states = self.encode(batch, table, self.negatives, packing)  # [1+k, B, L, d]
        states = states.flatten(1, 2).index_select(1, packing.index)  # [1+k, M, d]
        several = packing.positions() > 0  # prefix of >= 2 clicks
        return self.joint_loss(states, items, table, packing.pack(batch.targets), several)

    def joint_loss(self, states: Tensor, items: Tensor, table: Tensor, targets: Tensor,
                   several: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 11 for ``states [1+k, M, d]`` (copy 0: the sequences, then their random behaviour sequences) predicting
        ``targets [M]``; ``several [M]`` marks the prefixes of at least two clicks (the only ones UPA contrasts)."""
        c = self.config
        rec = cross_entropy(states[0] @ table.T, targets)  # eq. 8
        total, parts = rec, {"rec": rec.detach()}
        if c.iaa_weight and len(self.side):
            iaa = self.iaa_loss(items[targets], targets)
            total, parts["iaa"] = total + c.iaa_weight * iaa, iaa.detach()
        if self.negatives:
            upa = upa_loss(states, table[targets], several)
            total, parts["upa"] = total + c.upa_weight * upa, upa.detach()
        parts["loss"] = total.detach()
        return total, parts

    def iaa_loss(self, embeddings: Tensor, items: Tensor) -> Tensor:
        """Eq. 9 summed over the side fields, for the pure embeddings ``[M, d]`` of ``items [M]``."""
        total = embeddings.new_zeros(())
        for row, embed in enumerate(self.side.values()):
            logits = embeddings @ embed.embedding.weight[1:].T  # e_id . e_a for every value a, [M, C]
            total = total + iaa_loss(logits, self.side_values[row][items])
        return total

    def extra_repr(self) -> str:
        c = self.config
        return (f"{super().extra_repr()}, behaviour={['position', *self.behaviour] if c.behaviour_fusion != 'none' else []}, "
                f"fusion={c.fusion}, attention_fusion={c.attention_fusion}, attribute_fusion={c.attribute_fusion}, "
                f"behaviour_fusion={c.behaviour_fusion}, iaa_weight={c.iaa_weight}, upa_weight={c.upa_weight}, "
                f"upa_negatives={self.negatives}")


def iaa_loss(logits: Tensor, values: Tensor) -> Tensor:
    r"""Eq. 9 with a normalised multi-hot target: for ``logits [M, C]`` over values ``1..C`` and each item's
    ``values [M, V]`` (0 = none), the mean over the item's values of :math:`-\log \mathrm{softmax}(\text{logits})_a`,
    averaged over the items with a value."""
    labels = torch.zeros(values.size(0), logits.size(1) + 1, device=logits.device)
    labels = labels.scatter_(1, values, 1.0)[:, 1:]  # value 0 (none) lands in column 0, dropped
    count = labels.sum(1)
    losses = -(labels * torch.log_softmax(logits.float(), 1)).sum(1) / count.clamp(min=1)
    labelled = count > 0
    return (losses * labelled).sum() / labelled.sum().clamp(min=1)


def upa_loss(states: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    r"""Eq. 10: ``states [1+k, M, d]`` (the original sequence first, then its :math:`k` random behaviour sequences),
    the targets' integrated embeddings ``targets [M, d]``; the mean over the rows ``valid [M]`` of the softmax
    cross-entropy that picks the original among the :math:`1+k`."""
    logits = torch.einsum("kmd,md->mk", states, targets).float()  # e_i . h, [M, 1+k]
    losses = F.cross_entropy(logits, logits.new_zeros(logits.size(0), dtype=torch.long), reduction="none")
    return (losses * valid).sum() / valid.sum().clamp(min=1)


def behaviour_fields(dataset: SessionDataset, names) -> dict[str, int]:
    """The per-click behaviour fields ``names`` selects (empty: all of the training split's; ``none``: none), each
    with its largest value over the three splits."""
    names = tuple(names)
    if names == (NO_FIELDS,):
        return {}
    available = dataset.train.fields
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise ConfigError(f"unknown behaviour field(s) {', '.join(unknown)} for dataset {dataset.name}; valid: "
                          f"{', '.join(available) or '(none)'} or {NO_FIELDS}")
    splits = (dataset.train, dataset.valid, dataset.test)
    return {name: max(int(s.fields[name].max()) if name in s.fields and s.fields[name].numel() else 0
                      for s in splits)
            for name in available if not names or name in names}


def _check(config: COMIFConfig) -> None:
    check_choices(config, fusion=FUSIONS, attention_fusion=SCORE_FUSIONS, attribute_fusion=FUSION_LEVELS,
                  behaviour_fusion=FUSION_LEVELS)
    for key in ("iaa_weight", "upa_weight"):
        if not getattr(config, key) >= 0:
            raise ConfigError(f"{key} must be >= 0, got {getattr(config, key)}")
    if config.iaa_weight and config.attribute_fusion == "none":
        raise ConfigError("iaa_weight > 0 needs the attributes (attribute_fusion=emb or attn); set iaa_weight=0")
    if config.upa_weight and config.behaviour_fusion == "none":
        raise ConfigError("upa_weight > 0 needs the behaviour (behaviour_fusion=attn or emb); set upa_weight=0")
    if not isinstance(config.max_len, int) or config.max_len < 1:
        raise ConfigError(f"max_len must be a positive integer, got {config.max_len!r}")
    for key in ("dim", "num_layers", "num_heads", "inner_dim", "upa_negatives"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {getattr(config, key)}")
    for key in ("dropout", "attn_dropout"):
        if not 0.0 <= getattr(config, key) < 1.0:
            raise ConfigError(f"{key} must lie in [0, 1), got {getattr(config, key)}")
    if NO_FIELDS in config.behaviour_fields and tuple(config.behaviour_fields) != (NO_FIELDS,):
        raise ConfigError(f"behaviour_fields: {NO_FIELDS} cannot be combined with field names")


__all__ = ["COMIF", "FUSION_LEVELS", "SCORE_FUSIONS", "COMIFConfig"]
