r"""ScoreNet: Tong, Liu, Zhang, Wang and Lan, "ScoreNet: Consistency-driven Framework with Multi-side Information
Fusion for Session-based Recommendation", AAAI 2025."""
from __future__ import annotations

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
from ..nn.attention import DecoupledAttention, MultiHeadAttention
from ..nn.dropout import Dropout
from ..nn.init import INIT_STD, reset_linear
from ..nn.item_encoder import ItemEncoder
from ..nn.packing import batch_packing
from ..nn.re_engagement import SLOT_ORDERS, ReEngagementScore
from ..nn.side_embedding import SideEmbedding
from ..nn.transformer import TransformerEncoder
from .base import SessionRecommender, check_choices, gather_last, select_side_fields

#: The session encoders of the generalisation score: ScoreNet's PECS, a plain transformer (the ablation PECS-TF)
#: and DIF-SR's decoupled attention (PECS-DIFIR).
PECS_VARIANTS = ("pecs", "tf", "difir")
#: The words ``mpre_fields`` and ``pecs_fields`` accept besides field names.
ALL_FIELDS, NO_FIELDS = "all", "none"


@dataclass
class ScoreNetConfig:
    """ScoreNet's hyperparameters. The paper gives :math:`\\tau = 12`, :math:`\\alpha_2 = 0.3` (:math:`\\alpha_1 =
    0.7`), Adam with lr 1e-3 and batch 256 (``train_defaults``; it gives no training length or stopping rule, so the
    trainer's apply); the others are choices, said so below.

    Attributes:
        dim: the size :math:`d` of every embedding. The paper's "d = 28" is outside its own grid {64, 100, 128,
            200, 256}, so probably a misprint; 256 was best on Diginetica's validation split among 64, 100, 128 and
            256 (``benchmarks/RESULTS.md``).
        num_layers: transformer layers :math:`\\mathcal L` of eq. 8 (not given; CORE-trm's 2).
        num_heads: attention heads (not given; CORE-trm's 2).
        inner_dim: the feed-forward network's inner size (CORE-trm's 256).
        dropout: dropout on the transformer's input and on its attention and feed-forward outputs (CORE-trm's 0.5).
        attn_dropout: dropout on the attention weights (CORE-trm's 0.5).
        activation: ``gelu`` or ``relu`` in the feed-forward network.
        layer_norm_eps: the layer norms' epsilon.
        session_dropout: dropout on the session's item embeddings :math:`x_t`, in the transformer's input and in
            the weighted sum of eq. 11 (CORE's; 0 is the paper's text).
        item_dropout: dropout on the candidates' embeddings :math:`x_i` of eq. 12 in training (CORE's; 0 is the
            paper's text).
        scale: :math:`\\tau` of eq. 14, the factor of the unified scores in the softmax.
        side_weight: :math:`\\alpha_2` of eq. 13 (:math:`\\alpha_1 = 1 - \\alpha_2`).
        mpre: False = no-MPRE (Table 3): no re-engagement scores at all, item or side.
        redistribution: False = no-MPRErd (Table 3): no score redistribution (eq. 4 with :math:`W = I`).
        mpre_slots: how MPRE counts the slot of a click for :math:`p^r` and :math:`W`: ``from_end`` (the most
            recent click is slot 0) or ``from_start`` (see the class docstring).
        mpre_fields: the side fields with a re-engagement path (Table 4): field names, ``all`` (every field of
            the dataset) or ``none`` (the item path only). Single-valued fields only.
        pecs: the session encoder of the generalisation score: ``pecs`` (eq. 6–11), ``tf`` (PECS-TF) or
            ``difir`` (PECS-DIFIR); see :data:`PECS_VARIANTS`.
        pecs_fields: the side fields PECS reads (names, ``all`` or ``none``); ``none`` is PECS-NS (Fig. 3).
        max_len: the most recent clicks the model sees (the number of positions, MPRE slots and differences;
            not given, 50 as the other models here).
        item_encoder: the item table (``embedding`` as in the paper, or ``gat`` / ``gcn``).
    """

    dim: int = 256
    num_layers: int = 2
    num_heads: int = 2
    inner_dim: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.5
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    session_dropout: float = 0.2
    item_dropout: float = 0.2
    scale: float = 12.0
    side_weight: float = 0.3
    mpre: bool = True
    redistribution: bool = True
    mpre_slots: str = "from_end"
    mpre_fields: tuple[str, ...] = (ALL_FIELDS,)
    pecs: str = "pecs"
    pecs_fields: tuple[str, ...] = (ALL_FIELDS,)
    max_len: int = 50
    item_encoder: str = "embedding"


class ScoreNet(SessionRecommender):
    r"""ScoreNet: re-engagement scores for what the session revisits (MPRE) plus consistent cosine scores for what it
    has not clicked yet (PECS), in one decoding space (the paper's Methodology section).

    **MPRE** (multi-path re-engagement network, eq. 2–5): one :class:`~graphsbr.nn.re_engagement.ReEngagementScore`
    path with its own parameters :math:`\Phi` for the item ids and for each field of ``mpre_fields``. For a value
    :math:`c` of the session with occurrences :math:`i_1 < \dots < i_w`,

    .. math::
        \alpha^{re}_c = \sum_{m=1}^{w} p^r_{i_w} \cdot d_{i_w - i_m}^\top \quad (3), \qquad
        \alpha^{re,update} = W \alpha^{re} \quad (4), \qquad
        \mathrm{Score}(c) = \mathrm{sigmoid}(\alpha^{re,update}_c) \text{ if } c \in C_S, \text{ else } 0 \quad (5).

    **PECS** (position-enhanced consistent scoring, eq. 6–12), with :math:`x` the :class:`~graphsbr.nn.ItemEncoder`
    table, :math:`p` learned positions and :math:`e^{(i)}` the embeddings of the ``pecs_fields``:

    .. math::
        E_t = x_t + p_t + \textstyle\sum_i e^{(i)}_t \ (7), \quad F = \mathrm{Transformer}(E) \ (8), \quad
        \alpha_t = \operatorname{softmax}_t(\mathbf w \cdot F_t + p_n \cdot p_t) \ (9\text{–}11), \quad
        h_s = \textstyle\sum_t \alpha_t x_t, \quad
        \mathrm{Score}(i \mid g, I_S) = 0 \text{ if } i \in I_S, \text{ else }
        \frac{h_s}{\lVert h_s \rVert} \cdot \frac{x_i}{\lVert x_i \rVert} \ (12).

    **Unified scoring** (eq. 13–15; :meth:`forward` returns :math:`\tau \cdot \mathrm{Score}`, the softmax's logits):

    .. math::
        \mathrm{Score}(i) = \alpha_1 \big(\mathrm{Score}(i \mid g, I_S) + \mathrm{Score}(i \mid r, I_S)\big)
        + \frac{\alpha_2}{k} \sum_{j=1}^{k} \mathrm{Score}(c^{(j)}_i \mid C^{(j)}_S), \qquad
        \hat y = \operatorname{softmax}(\tau \cdot \mathrm{Score}).

    Where the paper is ambiguous, we chose:

    * **eq. 3**: :math:`i_1 < \dots < i_w` are all the session's clicks on :math:`c`; :math:`p^r` embeds the slot
      of :math:`i_w` counted from the most recent click (as Fig. 5 suggests; ``mpre_slots``); a plain sum.
    * **eq. 4**: :math:`W` holds learned constants per pair of slots (nothing in the paper makes them depend on the
      input), starting as the identity; :math:`\alpha^{re}_c` sits at the slot of :math:`c`'s last click.
    * **Semantic agnosticism**: a path's parameters are :math:`p^r, d, W` only (:math:`X, E^{(j)}` of eq. 2 name the
      candidates): a value's score depends on where it occurs, never on which value it is.
    * **eq. 13**: the item path scores the session's items (those eq. 12 gives 0); side path :math:`j` gives every
      candidate the score of its value :math:`c^{(j)}_i`; :math:`\alpha_1 = 1 - \alpha_2` in every variant.
    * **PECS**: eq. 7 and 10 share one position table counted from the first click; eq. 7's :math:`\sum_i 1^k` is
      :math:`\sum_{i=1}^k`; :math:`\mathbf w` has no bias; eq. 11's softmax runs over the real clicks.
    * **eq. 8's transformer** (unspecified) is CORE-trm's, whose weighted sum PECS extends: post-LN GELU,
      bidirectional; CORE's dropouts on session and candidate embeddings are kept (0 gives eq. 11–12 to the letter).
    * **no-MPRE** (``mpre=False``, Table 3) drops item and side paths, and eq. 12 then scores the session's items
      too: to the letter (0 for them), it does not learn where many targets are re-clicks (``benchmarks/RESULTS.md``).
    * **Other variants**: no-MPRErd ``redistribution=False`` (:math:`W = I`); PECS-TF ``pecs="tf"`` (a transformer's
      last state) and PECS-DIFIR ``pecs="difir"`` (DIF-SR's decoupled attention, without its AAP losses), scored by
      eq. 12; PECS-NS ``pecs_fields=none``; Table 4's rows set ``mpre_fields`` and ``pecs_fields`` alike.

    Args:
        config: the hyperparameters.
        num_items: item ids run ``1..num_items``.
        graph: the item graph of a ``gat`` or ``gcn`` ``item_encoder``.
        side: the side fields PECS reads (``pecs_fields``; a multi-valued one embeds as the mean of its values).
        mpre_side: the side fields with an MPRE path (``mpre_fields``; single-valued only).
    """

    name = "scorenet"
    Config = ScoreNetConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 256, "weight_decay": 0.0}

    def __init__(self, config: ScoreNetConfig, num_items: int, graph: Data | None = None,
                 side: Mapping[str, SideField] | None = None, mpre_side: Mapping[str, SideField] | None = None):
        super().__init__(config, num_items)
        _check(config)
        side = dict(side or {})
        mpre_side = dict(mpre_side or {}) if config.mpre else {}
        multi = [name for name, f in mpre_side.items() if f.multi_valued]
        if multi:
            raise ConfigError(f"mpre_fields: {', '.join(multi)} hold(s) several values per item; MPRE needs one "
                              "value per click (choose single-valued fields with mpre_fields=NAME,...)")
        d = config.dim
        self.item_encoder = ItemEncoder(num_items, d, config.item_encoder, graph)
        self.position = nn.Embedding(config.max_len, d)  # p of eq. 7 and 10
        self.side = nn.ModuleDict({name: SideEmbedding(f.vocab_size, d, f.multi_valued) for name, f in side.items()})
        self.input_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout)
        self.session_dropout = Dropout(config.session_dropout)
        self.item_dropout = Dropout(config.item_dropout)
        self.encoder = TransformerEncoder([self.attention_layer() for _ in range(config.num_layers)], d,
                                          config.inner_dim, config.dropout, config.activation,
                                          layer_norm_eps=config.layer_norm_eps)
        self.weight = nn.Linear(d, 1, bias=False) if config.pecs == "pecs" else None  # w of eq. 9
        self.item_path = self.mpre_path() if config.mpre else None
        self.side_paths = nn.ModuleDict({name: self.mpre_path() for name in mpre_side})
        self.side_vocab = {name: f.vocab_size for name, f in mpre_side.items()}
        values = [f.values[:, 0] for f in mpre_side.values()]  # the value of every item, per side path
        values = torch.stack(values) if values else torch.zeros(0, num_items + 1, dtype=torch.long)
        self.register_buffer("side_values", values, persistent=False)  # [k, N+1]
        self.reset_parameters()

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: ScoreNetConfig | None = None) -> ScoreNet:
        config = config if config is not None else cls.Config()
        _check(config)
        side = fields_of(dataset, config.pecs_fields, "pecs_fields")
        mpre_side = fields_of(dataset, config.mpre_fields, "mpre_fields") if config.mpre else {}
        return cls(config, dataset.num_items, ItemEncoder.graph_for(config.item_encoder, dataset), side, mpre_side)

    def mpre_path(self) -> ReEngagementScore:
        c = self.config
        return ReEngagementScore(c.max_len, c.dim, c.mpre_slots, c.redistribution)

    def attention_layer(self) -> nn.Module:
        c = self.config
        if c.pecs == "difir":
            return DecoupledAttention(c.dim, c.num_heads, [c.dim] * len(self.side), c.dim, c.attn_dropout)
        return MultiHeadAttention(c.dim, c.num_heads, c.attn_dropout)

    def reset_parameters(self) -> None:
        self.item_encoder.reset_parameters()
        nn.init.normal_(self.position.weight, std=INIT_STD)
        for embedding in self.side.values():
            embedding.reset_parameters()
        self.input_norm.reset_parameters()
        self.encoder.reset_parameters()
        if self.weight is not None:
            reset_linear(self.weight)
        for path in [self.item_path, *self.side_paths.values()]:
            if path is not None:
                path.reset_parameters()

    # ------------------------------------------------------------------------------------------------- PECS
    def session_embedding(self, batch: SequenceBatch, table: Tensor) -> Tensor:
        """``[B, d]`` :math:`h_s`: eq. 6–11 (PECS), or the last state of PECS-TF / PECS-DIFIR."""
        length = batch.items.size(1)
        if length > self.config.max_len:
            raise ValueError(f"batch of width {length} exceeds max_len={self.config.max_len}; "
                             "collate with max_len=model.max_len")
        mask = batch.mask  # [B, L]
        packing = batch_packing(batch)  # embeddings, norm and dropout of the real clicks only
        x = self.session_dropout(F.embedding(packing.pack(batch.items), table))  # [M, d]
        side = [embed(packing.pack(batch.side[name])) for name, embed in self.side.items()]  # [M, d] each
        if self.config.pecs == "difir":
            h = packing.unpack(self.dropout(self.input_norm(x)))
            states = self.encoder(h, mask, packing=packing, side=[packing.unpack(e) for e in side],
                                  position=self.position.weight[:length].unsqueeze(0))
            return gather_last(states, batch.lengths)
        e = x + self.position(packing.positions())  # eq. 7
        for embedded in side:
            e = e + embedded
        h = packing.unpack(self.dropout(self.input_norm(e)))
        states = self.encoder(h, mask, packing=packing)  # eq. 8, [B, L, d]
        if self.config.pecs == "tf":
            return gather_last(states, batch.lengths)
        semantic = self.weight(states).squeeze(-1)  # alpha^e of eq. 9, [B, L]
        last = self.position(batch.lengths - 1)  # p_n, [B, d]
        positional = last @ self.position.weight[:length].T  # alpha^p of eq. 10, [B, L]
        logits = (semantic + positional).float().masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(logits, 1).to(x.dtype)  # eq. 11
        return (alpha.unsqueeze(-1) * packing.unpack(x)).sum(1)  # h_s, [B, d]

    def generalisation_scores(self, batch: SequenceBatch, table: Tensor, factor: float = 1.0) -> Tensor:
        """``[B, N+1]`` ``factor`` times :math:`\\mathrm{Score}(i \\mid g, I_S)` of eq. 12: cosines, 0 for the session's
        items when MPRE scores them (the factor scales the ``[B, d]`` session, not the ``[B, N+1]`` scores)."""
        h = F.normalize(self.session_embedding(batch, table), dim=-1) * factor
        scores = h @ F.normalize(self.item_dropout(table), dim=-1).T  # [B, N+1]
        if self.item_path is None:  # no-MPRE: the cosines score the session's items too
            return scores.index_fill_(1, scores.new_zeros(1, dtype=torch.long), 0.0)  # padding, column 0
        return scores.scatter_(1, batch.items * batch.mask, 0.0)  # the session's items (and padding, column 0)

    # ------------------------------------------------------------------------------------------------- MPRE
    def side_scores(self, batch: SequenceBatch, name: str) -> Tensor:
        """``[B, C+1]`` eq. 5 for every value of side field ``name``: its re-engagement score, 0 if not in the
        session."""
        return self.side_paths[name].value_scores(batch.side[name], batch.lengths, self.side_vocab[name])

    def item_scores(self, batch: SequenceBatch) -> Tensor:
        """``[B, N+1]`` :math:`\\mathrm{Score}(i \\mid r, I_S)`: eq. 5 on the item path, 0 for items not clicked."""
        if self.item_path is None:
            raise ConfigError("item_scores needs MPRE (mpre=true)")
        return self.item_path.value_scores(batch.items, batch.lengths, self.num_items)

    # ---------------------------------------------------------------------------------------- unified scores
    def forward(self, batch: SequenceBatch) -> Tensor:
        """``[B, N+1]`` :math:`\\tau \\cdot \\mathrm{Score}(i \\mid I_S, C_S)` (eq. 13–14; the softmax's logits)."""
        c = self.config
        item_weight = c.scale * (1.0 - c.side_weight)  # tau * alpha_1
        scores = self.generalisation_scores(batch, self.item_encoder(), item_weight)
        if self.item_path is not None:
            repeat, is_last = self.item_path(batch.items, batch.lengths)  # [B, L]
            scores.scatter_add_(1, batch.items * is_last, (repeat * item_weight).to(scores.dtype))  # Score(i | r)
        for row, name in enumerate(self.side_paths):
            share = c.scale * c.side_weight / len(self.side_paths)  # tau * alpha_2 / k
            values = self.side_scores(batch, name) * share  # [B, C+1]
            scores.add_(values.index_select(1, self.side_values[row]).to(scores.dtype))  # S_cs(j), [B, N+1]
        return scores

    def extra_repr(self) -> str:
        c = self.config
        variant = [name for name, on in (("no-MPRE", not c.mpre), ("no-MPRErd", c.mpre and not c.redistribution),
                                         ("PECS-TF", c.pecs == "tf"), ("PECS-DIFIR", c.pecs == "difir"),
                                         ("PECS-NS", not len(self.side))) if on]
        return (f"num_items={self.num_items}, dim={c.dim}, layers={c.num_layers}, heads={c.num_heads}, "
                f"pecs_fields={list(self.side)}, mpre_fields={list(self.side_paths)}, "
                f"side_weight={c.side_weight}, scale={c.scale}" + (f", variant={'+'.join(variant)}" if variant else ""))


def field_names(value) -> tuple[str, ...]:
    """A field list from a tuple or a comma-separated string (``--set mpre_fields=category,brand``)."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(v).strip() for v in items if str(v).strip())


def fields_of(dataset: SessionDataset, value, key: str) -> dict[str, SideField]:
    """The dataset's side fields that ``value`` (``all``, ``none`` or names) selects for setting ``key``."""
    names = field_names(value)
    if names == (ALL_FIELDS,):
        return select_side_fields(dataset)
    if names == (NO_FIELDS,):
        return {}
    if not names or ALL_FIELDS in names or NO_FIELDS in names:
        raise ConfigError(f"{key}: expected {ALL_FIELDS}, {NO_FIELDS} or side field names, got {value!r}")
    return select_side_fields(dataset, names)


def _check(config: ScoreNetConfig) -> None:
    check_choices(config, pecs=PECS_VARIANTS, mpre_slots=SLOT_ORDERS)
    if not 0.0 <= config.side_weight <= 1.0:
        raise ConfigError(f"side_weight (alpha_2) must lie in [0, 1], got {config.side_weight}")
    if not config.scale > 0:
        raise ConfigError(f"scale (tau) must be positive, got {config.scale}")
    if not isinstance(config.max_len, int) or config.max_len < 1:
        raise ConfigError(f"max_len must be a positive integer (it sizes the positions and MPRE's tables), "
                          f"got {config.max_len!r}")
    for key in ("dim", "num_layers", "num_heads", "inner_dim"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {getattr(config, key)}")
    for key in ("dropout", "attn_dropout", "session_dropout", "item_dropout"):
        if not 0.0 <= getattr(config, key) < 1.0:
            raise ConfigError(f"{key} must lie in [0, 1), got {getattr(config, key)}")


__all__ = ["PECS_VARIANTS", "ScoreNet", "ScoreNetConfig"]
