r"""ScoreNet: a consistency-driven framework with multi-side information fusion for session-based recommendation
(Tong, Liu, Zhang, Wang and Lan, AAAI 2025; paper file ``scorenet__000…``)."""
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
from ..nn.packing import Packing
from ..nn.re_engagement import SLOT_ORDERS, ReEngagementScore
from ..nn.side_embedding import SideEmbedding
from ..nn.transformer import TransformerEncoder
from .base import SessionRecommender, gather_last, select_side_fields

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
            200, 256}, so probably a misprint; 256 was chosen on Diginetica's validation split among 64, 100, 128
            and 256 (600 steps of batch 256 each, seed 0; valid MRR@20 15.81, 16.45, 16.81, 17.48, P@20 33.99,
            37.93, 39.86, 43.94: ``benchmarks/results/scorenet/dim``).
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
    has not clicked yet (PECS), in one decoding space (§Methodology of the paper).

    **MPRE** (multi-path re-engagement network, eq. 2–5). One path per id type, with its own parameters
    :math:`\Phi`: the item ids, and each side field in ``mpre_fields``. Each path is a
    :class:`~graphsbr.nn.re_engagement.ReEngagementScore`: for a value :math:`c` of the session with occurrences
    :math:`i_1 < \dots < i_w`,

    .. math::
        \alpha^{re}_c = \sum_{m=1}^{w} p^r_{i_w} \cdot d_{i_w - i_m}^\top \quad (3), \qquad
        \alpha^{re,update} = W \alpha^{re} \quad (4), \qquad
        \mathrm{Score}(c) = \mathrm{sigmoid}(\alpha^{re,update}_c) \text{ if } c \in C_S, \text{ else } 0 \quad (5).

    **PECS** (position-enhanced consistent scoring, eq. 6–12). With :math:`x` the item table of the
    :class:`~graphsbr.nn.ItemEncoder`, :math:`p` learned positions and :math:`e^{(i)}` the embeddings of the side
    fields in ``pecs_fields``:

    .. math::
        E_t = x_t + p_t + \textstyle\sum_i e^{(i)}_t \ (7), \quad F = \mathrm{Transformer}(E) \ (8), \quad
        \alpha_t = \operatorname{softmax}_t(\mathbf w \cdot F_t + p_n \cdot p_t) \ (9\text{–}11), \quad
        h_s = \textstyle\sum_t \alpha_t x_t,

    .. math::
        \mathrm{Score}(i \mid g, I_S) = 0 \text{ if } i \in I_S, \text{ else }
        \frac{h_s}{\lVert h_s \rVert} \cdot \frac{x_i}{\lVert x_i \rVert} \quad (12).

    **Unified scoring** (eq. 13–15).

    .. math::
        \mathrm{Score}(i) = \alpha_1 \big(\mathrm{Score}(i \mid g, I_S) + \mathrm{Score}(i \mid r, I_S)\big)
        + \frac{\alpha_2}{k} \sum_{j=1}^{k} \mathrm{Score}(c^{(j)}_i \mid C^{(j)}_S), \qquad
        \hat y = \operatorname{softmax}(\tau \cdot \mathrm{Score}),

    :meth:`forward` returns :math:`\tau \cdot \mathrm{Score}`, and the loss is the softmax cross-entropy (eq. 15).

    Where the paper is ambiguous, we chose:

    * **What** :math:`i_w` **and** :math:`p^r` **index** (eq. 3). :math:`i_1 < \dots < i_w` are the clicks of the
      session (its last ``max_len``) holding :math:`c` — every occurrence, not a window of "recent" ones — and
      :math:`i_w` the most recent. :math:`d` is a learned embedding of the difference :math:`i_w - i_m`, and
      :math:`p^r` a learned embedding of the *slot* of click :math:`i_w`, by default counted from the session's
      most recent click (slot 0). The text wants :math:`p^r` to tell "if a user's last repeat interaction is far
      from the most recent one", which an index counted from the first click cannot do across sessions of
      different lengths; and Fig. 5, whose rows are :math:`i_w`, puts the strongest weight at index 19 with
      difference 1, which suggests the most recent clicks of a right-aligned window of 20 — and an absolute index
      in a window padded on the left is exactly a count from the end. ``mpre_slots="from_start"`` counts from the
      first click instead.
      A value clicked once has :math:`D = [0]` and still gets a score: eq. 5 scores every :math:`c \in C_S`.
      Eq. 3 is the plain sum of the dot products (no softmax), as written; the products
      :math:`p^r_a \cdot d_b` for every slot :math:`a` and difference :math:`b` are Fig. 5's map. :math:`p^r` and
      :math:`d` start :math:`\mathcal N(0, 0.02^2)`, so every value of the session starts near
      :math:`\mathrm{sigmoid}(0) = 1/2`.
    * **The redistribution weights of eq. 4.** :math:`\alpha^{re} \in \mathbb R^n` lives on the session's
      :math:`n` slots: each distinct value's score at the slot of its last occurrence, 0 at the other slots. The
      :math:`w_i^j` are learned constants per pair of slots (the same for every session; nothing in the paper makes
      them depend on the input), an :math:`n \times n` matrix :math:`W` read from a ``max_len`` :math:`\times`
      ``max_len`` table at the session's slots, counted as for :math:`p^r`. :math:`W` starts as the identity (no
      redistribution) and has no bias. Each path has its own :math:`W`.
    * **Semantic agnosticism.** A path's parameters are :math:`p^r`, :math:`d` and :math:`W` only; :math:`X` and
      :math:`E^{(j)}` in eq. 2 name the candidates being scored: the score of a value depends on where it occurs,
      never on which value it is.
    * **How the paths reach the item scores.** The item path scores the session's own items
      (:math:`\mathrm{Score}(i \mid r, I_S)`, 0 for the others), exactly the items to which eq. 12 gives 0, so the
      two terms of :math:`\mathrm{Score}(i \mid I_S)` complement each other. Side path :math:`j` scores values; by
      the indicator of eq. 13, every candidate item :math:`i` — in the session or not — receives the score of its
      own value :math:`c^{(j)}_i` when that value is in the session, else 0 (also when :math:`i` has no value);
      :math:`k` counts the side paths. Without side paths the term is absent. :math:`\alpha_1 = 1 - \alpha_2` in
      every variant, so that an ablation removes only the term it names and does not also rescale :math:`\tau`
      (``side_weight=0`` gives :math:`\alpha_1 = 1`).
    * **PECS positions.** Eq. 7 and eq. 10 share one table of learned positions counted from the session's first
      click (as SASRec and CORE here), :math:`p_n` is the last click's; ``max_len`` 50. Eq. 7's
      :math:`\sum_i 1^k` is read as :math:`\sum_{i=1}^k`. :math:`\mathbf w` of eq. 9 has no bias (a bias cancels
      in the softmax); :math:`d' = d`. The softmax of eq. 11 runs over the real clicks only. The session
      (eq. 11) and the candidates (eq. 12) read the same item table :math:`x`, so the two live in one space.
    * **The transformer of eq. 8** is not specified; as in CORE-trm, whose consistent weighted sum of item
      embeddings and cosine scores PECS extends: post-LN GELU blocks, 2 layers, 2 heads, inner size 256, a
      LayerNorm and dropout on the input, bidirectional (the weights of eq. 11 read the whole session), projections
      and positions initialised :math:`\mathcal N(0, 0.02^2)`. CORE's dropouts on the session's and the candidates'
      item embeddings (``session_dropout``, ``item_dropout``, 0.2 each) are kept as regularisation the paper does
      not mention; 0 gives eq. 11–12 to the letter.
    * **Ablations** (Table 3, Fig. 3). no-MPRE (``mpre=False``) drops the whole module, item and side paths:
      :math:`\mathrm{Score} = \alpha_1 \mathrm{Score}(i \mid g, I_S)`, where eq. 12 then scores *every* item by
      its cosine, the session's own included: eq. 12 gives them 0 only because MPRE scores them, and with nothing
      else to score them a re-click target keeps logit 0 while the loss pushes every other cosine down. Read to
      the letter, that variant did not learn on Tmall (where many targets are re-clicks): the training loss
      stayed at 10.67 > ln N = 10.61 through 500 steps at d = 256, valid P@20 1.1%, against the paper's 39.84.
      no-MPRErd (``redistribution=False``):
      :math:`W = I`. PECS-TF (``pecs="tf"``): the same transformer over :math:`E_t`, the session embedding is its
      state at the last click. PECS-DIFIR (``pecs="difir"``): DIF-SR's
      :class:`~graphsbr.nn.attention.DecoupledAttention` over the pure item stream :math:`x` (one score stream per
      side field of ``pecs_fields`` and one for the positions, each of size :math:`d`), state at the last click,
      without DIF-SR's attribute-prediction losses (only the encoder is replaced). In both the session embedding
      still scores by eq. 12 (cosine, 0 for the session's items) inside eq. 13–14. PECS-NS:
      ``pecs_fields=none`` (:math:`E_t = x_t + p_t`). The RepeatNet variant of Table 3 is not provided.
    * **Side fields** (Table 4). ``mpre_fields`` and ``pecs_fields`` choose separately; the table's rows (none,
      category, brand, all) set both to the same list. A multi-valued field (S3-Rec attributes) can feed PECS (the
      mean of its values' embeddings) but not MPRE, which needs one value per click.
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
        packing = Packing(mask, batch.clicks)  # embeddings, norm and dropout of the real clicks only
        x = self.session_dropout(F.embedding(packing.pack(batch.items), table))  # [M, d]
        side = [embed(packing.pack(batch.side[name])) for name, embed in self.side.items()]  # [M, d] each
        if self.config.pecs == "difir":
            h = packing.unpack(self.dropout(self.input_norm(x)))
            states = self.encoder(h, mask, side=[packing.unpack(e) for e in side],
                                  position=self.position.weight[:length].unsqueeze(0))
            return gather_last(states, batch.lengths)
        e = x + self.position(packing.positions())  # eq. 7
        for embedded in side:
            e = e + embedded
        states = self.encoder(packing.unpack(self.dropout(self.input_norm(e))), mask)  # eq. 8, [B, L, d]
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
    if config.pecs not in PECS_VARIANTS:
        raise ConfigError(f"pecs: unknown {config.pecs!r}; choose one of {', '.join(PECS_VARIANTS)}")
    if config.mpre_slots not in SLOT_ORDERS:
        raise ConfigError(f"mpre_slots: unknown {config.mpre_slots!r}; choose one of {', '.join(SLOT_ORDERS)}")
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
