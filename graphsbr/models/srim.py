r"""SRIM: Liang and Yang, "Capturing User Intent through Integration of Item ID and Modality Information in Session
Recommendation" (code: github.com/liang-tian-tian/SRIM)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from ..data.collate import SequenceBatch
from ..data.dataset import SessionDataset, SessionSplit
from ..data.text import TEXT_ENCODERS, check_text_vectors, dataset_text_vectors
from ..errors import ConfigError
from ..graphs import cooccurrence_graph, neighbour_table
from ..nn.direct_attention import DirectAttention
from ..nn.dropout import Dropout
from ..nn.packing import batch_packing
from ..nn.sparse import sparse_product
from .base import SessionRecommender, check_choices, cross_entropy, gather_last, masked_mean

#: The session attention (eq. 7): SRIM's direct attention, Q = K (SRIM-DirAtt of Table 3, LinAtt of Fig. 5) or
#: none (NoAtt of Fig. 5).
ATTENTIONS = ("direct", "same_qk", "none")
#: How ``ŝ`` reads the attended sequence: ``mean`` over its clicks (eq. 8), or the ``last`` click's row.
READOUTS = ("mean", "last")
#: Which layers of eq. 4 make the item tables: the ``last`` one (the paper), or the ``mean`` of all.
LAYER_COMBINATIONS = ("last", "mean")
#: Which item tables score the candidates in eq. 14: those before the GCN (the default) or after it.
SCORE_TABLES = ("initial", "propagated")
#: How the auxiliary losses of eq. 16 add up over a batch: summed (the authors' code) or averaged.
AUX_REDUCTIONS = ("sum", "mean")


@dataclass
class SRIMConfig:
    """SRIM's hyperparameters. The paper's (Hyper-parameter Settings): d = 100, L2 1e-5, Adam with lr 1e-3 and
    batch 50 (``train_defaults``); GCN layers 4 (Cellphones, Sports) or 3 (Grocery), heads 2 or 4, β 0.005
    (Cellphones) or 0.01 (Grocery, Sports). ``num_layers``, ``num_heads`` and ``beta`` are to be chosen on
    validation within those grids (3–4, 2–4, 0.005–0.01); the defaults here are one point of each. The paper gives
    no training length (the authors' code runs 20 epochs and reports the best test value of any epoch, a selection
    on the test split): the trainer's early stopping on validation applies.

    Attributes:
        dim: the size :math:`d` of both item tables.
        num_layers: GCN layers :math:`L` of eq. 4 (0: no propagation).
        num_heads: heads of the direct attention (eq. 7); ``dim`` must be a multiple.
        beta: :math:`\\beta` of eq. 16.
        attention: ``direct`` (eq. 7), ``same_qk`` (SRIM-DirAtt of Table 3: :math:`Q = K = V = S`) or ``none``
            (NoAtt of Fig. 5: :math:`\\hat s = s`); see :data:`ATTENTIONS`.
        alignment: False = SRIM-IdMo (Table 3): no :math:`L_{align}` (eq. 9–11).
        joint: False = SRIM-JoIn (Table 3): no :math:`L_{joint}` (eq. 12–13).
        cooccurrence_loss: False drops :math:`L_{co}` (eq. 17; not an ablation of the paper).
        co_samples: :math:`l` of eq. 17, the positives (top-:math:`l` co-occurring items) and sampled negatives
            per item (not given in the paper).
        use_text: False = the ID stream only (no text table, no :math:`L_{align}`, no :math:`L_{joint}`).
        text_encoder: how item text becomes vectors: ``tfidf`` (built in) or ``minilm`` (the optional extra
            ``text``); see :data:`graphsbr.data.text.TEXT_ENCODERS`. Ignored for a dataset that ships vectors
            instead of text.
        text_trainable: fine-tune the text vectors themselves (as a table initialised from them); False keeps
            them fixed and learns only the projection to :math:`d`.
        residual: each GCN layer adds its output to its input (the authors' code); False is eq. 4 alone.
        dropout: dropout on both item tables before the GCN (the authors' code: 0.3; 0 is the paper's text).
        attn_dropout: dropout on the attention weights (the authors' code: 0.2).
        aux_reduction: ``sum`` (the authors' code) or ``mean`` of the auxiliary losses over the batch.
        flag_leave_session_out: the flag of eq. 13 counts co-occurrences in training sessions other than the
            sample's own (see the class docstring); False counts every training session.
        graph_top_k: propagate over the ``k`` most co-occurring neighbours of every item only (0: all of them, as
            the paper; a speed option for large catalogues, not in the paper).
        max_len: the most recent clicks the model sees (not given; sessions in the paper average 3 clicks).
        readout: ``mean`` (eq. 8: :math:`\\hat s` is the mean of the attended clicks) or ``last`` (the last
            click's attended row, which attends to the whole session: a recency-aware read-out, not the paper's).
        layer_combination: the item tables after the GCN: ``last`` (eq. 4's :math:`E^{(L)}`, the paper) or ``mean``
            of :math:`E^{(0)} \\dots E^{(L)}` (LightGCN's combination: each item keeps more of itself against its
            neighbours).
        score_table: the item tables the session vectors score in eq. 14: ``initial`` (each item's own ID
            embedding and projected text, before the GCN: eq. 14's :math:`e^{id}, e^{mo}`) or ``propagated`` (after
            the GCN, as eq. 4's :math:`E^{(L)}`; our reading before validation preferred ``initial``).
    """

    dim: int = 100
    num_layers: int = 3
    num_heads: int = 2
    beta: float = 0.005
    attention: str = "direct"
    alignment: bool = True
    joint: bool = True
    cooccurrence_loss: bool = True
    co_samples: int = 10
    use_text: bool = True
    text_encoder: str = "tfidf"
    text_trainable: bool = False
    residual: bool = True
    dropout: float = 0.3
    attn_dropout: float = 0.2
    aux_reduction: str = "sum"
    flag_leave_session_out: bool = True
    graph_top_k: int = 0
    max_len: int = 50
    readout: str = "mean"
    layer_combination: str = "last"
    score_table: str = "initial"


class SRIM(SessionRecommender):
    r"""SRIM: an ID stream and a text ("modality") stream, each propagated over the item co-occurrence graph and
    read out by direct self-attention, aligned by contrastive losses and scored together.

    **Item tables** (eq. 1–6): :math:`E_{id}^{(0)}` is learned; :math:`E_{mo}^{(0)} = X W_p`, with :math:`X` the item
    text vectors (:func:`~graphsbr.data.text.dataset_text_vectors`) and :math:`W_p` a learned projection to
    :math:`d`. With :math:`A_{ij}` the number of training sessions holding both :math:`i` and :math:`j` (eq. 6) and
    :math:`D_{pp} = \sum_q A_{pq}`, both tables are propagated :math:`L` times by a sparse product (:func:`propagate`).
    **Sessions** (eq. 5, 7, 8): for the clicks :math:`S = (e_1, \dots, e_m)` of each stream,
    :math:`s = \frac1m \sum_t e_t`, :math:`\hat S = \mathrm{DirectAttention}(S)` (only the queries transformed,
    :math:`K = V = S`; :class:`~graphsbr.nn.DirectAttention`) and :math:`\hat s = \frac1m \sum_t \hat e_t`. Then

    .. math::
        E^{(l+1)} = E^{(l)} + D^{-1} A E^{(l)} W^{l} \ (4), \qquad
        \hat y = \hat s^{id} \cdot e^{id} + \hat s^{mo} \cdot e^{mo} \ (14), \qquad
        L = L_{main} + \beta\,(L_{align} + L_{joint} + L_{co}) \ (16),

    with :math:`L_{main}` the softmax cross-entropy of :math:`\hat y`, :math:`L_{align}` the alignment losses
    (eq. 9–11, :func:`alignment_losses`), :math:`L_{joint}` the joint loss (eq. 12–13, :func:`joint_loss`, its flag
    from :meth:`cooccurs`) and :math:`L_{co}` the co-occurrence loss (eq. 17, :meth:`cooccurrence_loss`).

    Where the paper is ambiguous or the authors' code departs from it, we chose:

    * **Text vectors** (eq. 1–3): the dataset's item text (``text_encoder``), no image step (the paper's GoogleNet
      captions and BERT); fixed (the code overwrites them at random) unless ``text_trainable``.
    * **GCN** (eq. 4): eq. 4 alone loses an item's own embedding; we keep the code's residual and eq. 4's
      :math:`W^l` (identity at first); :math:`A` counts a pair once per session; the code's dropout is kept.
    * **Scoring** (eq. 14): eq. 5 and eq. 14 both write an item as :math:`e^{id}`, :math:`e^{mo}`, without the layer
      index of eq. 4. The clicks of a session are read from the propagated tables (else eq. 4 would serve nothing);
      the candidates are scored against the tables before the GCN (``score_table``), so that each keeps its own
      vector. Scoring against the propagated tables averages every candidate with its co-occurring neighbours: the
      target lands in the top 20 as often but lower within it (MRR@20 a fifth lower on Scientific's validation
      split; benchmarks/RESULTS.md, "SRIM's MRR").
    * **Attention** (eq. 7–8): per head, scaled by :math:`\sqrt{d/H}` (the code's), :math:`W^Q` without bias, no
      output projection; the session is the mean over its clicks, as eq. 8 writes (the code takes the last click).
    * **Alignment** (eq. 9–11): as printed, eq. 9 and 10 pair mismatched terms; we read one contrastive scheme over
      the within-stream and cross-stream pairs, which is also the code's (see :func:`alignment_losses`).
    * **Joint loss** (eq. 12–13): on the GCN means, as printed (the code: the attention outputs); the flag counts
      pairs of other training sessions only (``flag_leave_session_out``): a sample's own session always holds one.
    * **Co-occurrence loss** (eq. 17): as printed it is unbounded below; we use the code's softmax (InfoNCE) form
      with the paper's positive and :math:`l` uniform never-co-occurring negatives, on the batch's items.
    * **Reductions**: the mean cross-entropy (eq. 15 writes a binary one; the code uses the softmax one); auxiliary
      losses summed over the batch as in the code (``aux_reduction``), so :math:`\beta` keeps the paper's scale.
    * **Ablations** (Table 3, Fig. 5): SRIM-IdMo ``alignment=False``; SRIM-JoIn ``joint=False``; SRIM-DirAtt
      ``attention=same_qk``; NoAtt ``attention=none``; ``use_text=False``, the ID stream alone.

    Args:
        config: the hyperparameters.
        num_items: item ids run ``1..num_items``.
        counts: the co-occurrence counts :math:`A` (eq. 6), for the flag and the negatives (this graph and the next
            two: :meth:`graphs_for`).
        propagation: the graph to propagate over, :math:`D^{-1} A` (eq. 4).
        neighbours: the top-``co_samples`` co-occurrence counts of every item (the positives of eq. 17).
        text_vectors: ``[num_items+1, D]`` item text vectors (row 0 zero), needed when ``use_text``.
    """

    name = "srim"
    Config = SRIMConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 50, "weight_decay": 1e-5}
    #: runs recorded before ``score_table`` scored against the propagated tables (its first default)
    legacy_settings: ClassVar[dict[str, Any]] = {"score_table": "propagated"}

    def __init__(self, config: SRIMConfig, num_items: int, counts: Data, propagation: Data, neighbours: Data,
                 text_vectors: Tensor | None = None):
        super().__init__(config, num_items)
        _check(config)
        n, d = num_items + 1, config.dim
        self.id_embedding = nn.Embedding(n, d, padding_idx=0)
        self.id_layers = nn.ModuleList([nn.Linear(d, d, bias=False) for _ in range(config.num_layers)])  # W^l_id
        self.table_dropout = Dropout(config.dropout)
        self.id_attention = self.attention_layer()
        adjacency = torch.sparse_coo_tensor(propagation.edge_index, propagation.edge_weight.float(), (n, n),
                                            check_invariants=False).coalesce()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.register_buffer("adjacency", adjacency.to_sparse_csr(), persistent=False)  # D^-1 A
            self.register_buffer("adjacency_t", adjacency.t().coalesce().to_sparse_csr(), persistent=False)
        self.register_buffer("edge_key", counts.edge_index[0] * n + counts.edge_index[1], persistent=False)
        self.register_buffer("edge_count", counts.edge_weight.long(), persistent=False)
        self.register_buffer("positives", neighbour_table(neighbours, n, config.co_samples), persistent=False)
        self.use_text = config.use_text
        if self.use_text:
            if text_vectors is None:
                raise ConfigError("SRIM with use_text=true needs item text vectors (build it with "
                                  "SRIM.from_dataset), or set use_text=false")
            text_vectors = check_text_vectors(text_vectors, num_items)
            self.register_buffer("text_vectors", text_vectors, persistent=False)  # X, never overwritten
            self.text_table = nn.Parameter(text_vectors.clone()) if config.text_trainable else None
            self.text_projection = nn.Linear(text_vectors.size(1), d, bias=False)  # W_p
            self.mo_layers = nn.ModuleList([nn.Linear(d, d, bias=False) for _ in range(config.num_layers)])
            self.mo_attention = self.attention_layer()
            self.align = nn.ModuleList([nn.Linear(d, d, bias=False) for _ in range(6)])  # W_1 .. W_6 of eq. 9-10
        self._tables: tuple | None = None
        self.register_load_state_dict_post_hook(_clear_after_loading)
        self.reset_parameters()

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: SRIMConfig | None = None) -> SRIM:
        """Builds the co-occurrence graphs of the training split and, with ``use_text``, the item text vectors.

        Raises:
            ConfigError: ``use_text`` and the dataset has neither item text nor text vectors; an unknown setting.
        """
        config = config if config is not None else cls.Config()
        _check(config)
        vectors = dataset_text_vectors(dataset, config.text_encoder) if config.use_text else None
        if config.use_text and vectors is None:
            raise ConfigError(f"SRIM with use_text=true needs item text, but dataset {dataset.name} has none; set "
                              "use_text=false (the ID stream only) or choose a dataset with item text (scientific, "
                              "synthetic)")
        return cls(config, dataset.num_items, *cls.graphs_for(dataset.train, dataset.num_items, config), vectors)

    @staticmethod
    def graphs_for(split: SessionSplit, num_items: int, config: SRIMConfig) -> tuple[Data, Data, Data]:
        """The counts :math:`A` (eq. 6), the propagation graph :math:`D^{-1} A` (eq. 4; top-``graph_top_k``
        when set) and the top-``co_samples`` counts (eq. 17) of ``split``'s co-occurrences, all sparse."""
        counts = cooccurrence_graph(split, num_items)
        propagation = cooccurrence_graph(split, num_items, top_k=config.graph_top_k or None, normalize=True)
        neighbours = cooccurrence_graph(split, num_items, top_k=config.co_samples)
        return counts, propagation, neighbours

    def attention_layer(self) -> DirectAttention | None:
        c = self.config
        if c.attention == "none":
            return None
        return DirectAttention(c.dim, c.num_heads, c.attn_dropout, transform_query=c.attention == "direct")

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.config.dim)
        nn.init.uniform_(self.id_embedding.weight, -bound, bound)
        with torch.no_grad():
            self.id_embedding.weight[0].zero_()
        layers = [*self.id_layers, *(self.mo_layers if self.use_text else [])]
        for layer in layers:
            nn.init.eye_(layer.weight)
        for attention in (self.id_attention, self.mo_attention if self.use_text else None):
            if attention is not None:
                attention.reset_parameters()
        if self.use_text:
            if self.text_table is not None:
                with torch.no_grad():
                    self.text_table.copy_(self.text_vectors)
            nn.init.xavier_uniform_(self.text_projection.weight)
            for linear in self.align:
                nn.init.xavier_uniform_(linear.weight)
        self.clear_cache()

    # ------------------------------------------------------------------------------------------------ tables
    def clear_cache(self) -> None:
        self._tables = None

    def train(self, mode: bool = True):
        self.clear_cache()
        return super().train(mode)

    def tables(self) -> tuple[Tensor, Tensor | None]:
        """``E_id [N+1, d]`` and ``E_mo [N+1, d]`` (``None`` without text): both tables after the GCN (eq. 4)."""
        return self._all_tables()[:2]

    def _all_tables(self) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None]:
        """The tables after the GCN, then the tables that score the candidates in eq. 14 (the same, or those before
        the GCN with ``score_table="initial"``). In eval mode computed once and reused until the mode changes or
        weights are loaded."""
        if not self.training and self._tables is not None:
            return self._tables
        residual, combination = self.config.residual, self.config.layer_combination
        initial_ids = self.table_dropout(self.id_embedding.weight)
        ids = propagate(self.adjacency, initial_ids, self.id_layers, residual, self.adjacency_t, combination)
        modality = initial_modality = None
        if self.use_text:
            vectors = self.text_table if self.text_table is not None else self.text_vectors
            initial_modality = self.table_dropout(self.text_projection(vectors))  # E_mo^(0) = X W_p, row 0 stays 0
            modality = propagate(self.adjacency, initial_modality, self.mo_layers, residual, self.adjacency_t,
                                 combination)
        tables = (ids, modality, *((initial_ids, initial_modality) if self.config.score_table == "initial"
                                   else (ids, modality)))
        if not self.training:
            self._tables = tuple(None if table is None else table.detach() for table in tables)
        return tables

    # ------------------------------------------------------------------------------------------------ sessions
    def sessions(self, table: Tensor, batch: SequenceBatch, attention: DirectAttention | None
                 ) -> tuple[Tensor, Tensor]:
        """``s [B, d]`` (eq. 5) and ``ŝ [B, d]`` (eq. 7–8, or the last click's row with ``readout="last"``) of one
        stream."""
        mask = batch.mask
        sequence = F.embedding(batch.items, table)  # S, [B, L, d]; padding rows are zero
        mean = masked_mean(sequence, mask, 1)  # eq. 5
        attended = sequence if attention is None else attention(sequence, mask, packing=batch_packing(batch))
        if self.config.readout == "last":
            return mean, gather_last(attended, batch.lengths)
        return mean, mean if attention is None else masked_mean(attended, mask, 1)  # eq. 8

    def represent(self, batch: SequenceBatch) -> dict[str, Tensor]:
        """The tables and session representations of both streams, and the scores of eq. 14 (``[B, N+1]``)."""
        self._check_width(batch)
        ids, modality, scored_ids, scored_modality = self._all_tables()
        s_id, hat_id = self.sessions(ids, batch, self.id_attention)
        out = {"ids": ids, "s_id": s_id, "hat_id": hat_id, "scores": hat_id @ scored_ids.T}
        if modality is not None:
            s_mo, hat_mo = self.sessions(modality, batch, self.mo_attention)
            out.update(modality=modality, s_mo=s_mo, hat_mo=hat_mo,
                       scores=out["scores"] + hat_mo @ scored_modality.T)
        return out

    def forward(self, batch: SequenceBatch) -> Tensor:
        """``[B, N+1]`` :math:`\\hat y` of eq. 14."""
        return self.represent(batch)["scores"]

    # ------------------------------------------------------------------------------------------------ losses
    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 16 on a batch of the training split: cross-entropy + β (L_align + L_joint + L_co)."""
        c = self.config
        r = self.represent(batch)
        main = cross_entropy(r["scores"], batch.targets)
        auxiliary = {}
        if self.use_text and c.alignment:
            p_id = cosine(self.align[0](r["s_id"]), self.align[1](r["hat_id"]), dim=-1)
            p_mo = cosine(self.align[4](r["s_mo"]), self.align[5](r["hat_mo"]), dim=-1)
            cross = cosine(self.align[2](r["s_id"]), self.align[3](r["s_mo"]), dim=-1)
            auxiliary["align"] = sum(alignment_losses(p_id, p_mo, cross))  # eq. 11
        if self.use_text and c.joint:
            a = cosine(r["s_id"], r["ids"][batch.targets], dim=-1)
            b = cosine(r["s_mo"], r["modality"][batch.targets], dim=-1)
            flag = self.cooccurs(batch.items, batch.mask, batch.targets, 2 if c.flag_leave_session_out else 1)
            auxiliary["joint"] = joint_loss(a, b, flag)
        if c.cooccurrence_loss:
            # padding (item 0) co-occurs with nothing: it leaves with the anchors that have no positive
            anchors = torch.unique(torch.cat([batch.items.flatten(), batch.targets]))
            auxiliary["co"] = self.cooccurrence_loss(r["ids"], anchors)
        reduce = torch.sum if c.aux_reduction == "sum" else torch.mean
        auxiliary = {name: reduce(value) if value.numel() else value.sum() for name, value in auxiliary.items()}
        total = main + c.beta * sum(auxiliary.values(), main.new_zeros(()))
        parts = {"loss": total.detach(), "main": main.detach()}
        parts.update({name: value.detach() for name, value in auxiliary.items()})
        return total, parts

    def edge_counts(self, source: Tensor, target: Tensor) -> Tensor:
        """:math:`A_{ij}` for every pair of ``source`` and ``target`` (same shape), 0 where none: a binary search in
        the sorted edge keys, never a dense matrix."""
        if self.edge_key.numel() == 0:
            return torch.zeros_like(source)
        key = source * (self.num_items + 1) + target
        position = torch.searchsorted(self.edge_key, key).clamp(max=self.edge_key.numel() - 1)
        return torch.where(self.edge_key[position] == key, self.edge_count[position], 0)

    def cooccurs(self, items: Tensor, mask: Tensor, targets: Tensor, min_count: int = 1) -> Tensor:
        """``[B]`` the flag of eq. 13: the target is one of the session's items, or co-occurs with one in at least
        ``min_count`` training sessions."""
        targets = targets.unsqueeze(1).expand_as(items)
        hit = (self.edge_counts(items, targets) >= min_count) | (items == targets)
        return (hit & mask).any(1)

    def cooccurrence_loss(self, table: Tensor, anchors: Tensor) -> Tensor:
        r"""``[A']`` :math:`L_{co}` (eq. 17, softmax form) for the ``anchors`` that co-occur with at least one item:

        .. math::
            L_{co} = -\log \frac{\exp \mathrm{sim}(e^{id}_i, \bar e^+_i)}{\exp \mathrm{sim}(e^{id}_i, \bar e^+_i)
            + \sum_{k=1}^{l} \exp \mathrm{sim}(e^{id}_i, e^{id-}_k)},

        :math:`\bar e^+_i` the mean of the top-:math:`l` co-occurring items of :math:`i` (ties to the smaller id) and
        :math:`e^{id-}_k` :math:`l` items drawn uniformly, a draw that co-occurs with :math:`i` dropped (every item
        but a few has count 0, so "the :math:`l` items with the lowest co-occurrence" are any of them)."""
        positives = self.positives[anchors]  # [A, l], 0 = none
        has = positives > 0
        keep = has.any(1).nonzero().squeeze(1)  # found once for the three
        anchors, positives, has = anchors[keep], positives[keep], has[keep]
        anchor = table[anchors]  # [A, d]
        mean = (table[positives] * has.unsqueeze(-1)).sum(1) / has.sum(1, keepdim=True)  # ē+, [A, d]
        negatives = torch.randint(1, self.num_items + 1, positives.shape, device=anchors.device)  # [A, l]
        column = anchors.unsqueeze(1).expand_as(negatives)
        usable = (self.edge_counts(column, negatives) == 0) & (negatives != column)
        positive = cosine(anchor, mean, dim=-1)  # [A]
        negative = cosine(anchor.unsqueeze(1), table[negatives], dim=-1)  # [A, l]
        logits = torch.cat([positive.unsqueeze(1), negative.masked_fill(~usable, float("-inf"))], 1)
        return torch.logsumexp(logits, 1) - positive

    def _check_width(self, batch: SequenceBatch) -> None:
        if batch.items.size(1) > self.config.max_len:
            raise ValueError(f"batch of width {batch.items.size(1)} exceeds max_len={self.config.max_len}; "
                             "collate with max_len=model.max_len")

    def extra_repr(self) -> str:
        c = self.config
        variant = [name for name, on in (("-IdMo", self.use_text and not c.alignment),
                                         ("-JoIn", self.use_text and not c.joint),
                                         ("-DirAtt", c.attention == "same_qk"), ("NoAtt", c.attention == "none"),
                                         ("no L_co", not c.cooccurrence_loss), ("ID only", not self.use_text)) if on]
        text = f", text={c.text_encoder}:{self.text_vectors.size(1)}" if self.use_text else ""
        return (f"num_items={self.num_items}, dim={c.dim}, layers={c.num_layers}, heads={c.num_heads}, "
                f"beta={c.beta}, edges={self.adjacency.values().numel()}{text}"
                + (f", variant={'+'.join(variant)}" if variant else ""))


def propagate(adjacency: Tensor, table: Tensor, layers: nn.ModuleList, residual: bool = True,
              transposed: Tensor | None = None, combination: str = "last") -> Tensor:
    """``[N, d]`` eq. 4 applied ``len(layers)`` times: :math:`E^{(l+1)} = E^{(l)} + \\hat A E^{(l)} W^l` (without
    the first term when not ``residual``), :math:`\\hat A` the sparse ``[N, N]`` ``adjacency`` (:math:`D^{-1} A`);
    see :func:`sparse_product` for ``transposed``. Returns :math:`E^{(L)}` (``combination="last"``, the paper) or
    the mean :math:`\\frac{1}{L+1} \\sum_{l=0}^{L} E^{(l)}` (``"mean"``, as LightGCN)."""
    total = table
    for layer in layers:
        message = layer(sparse_product(adjacency, table, transposed))
        table = table + message if residual else message
        total = total + table
    return total / (len(layers) + 1) if combination == "mean" else table


def cosine(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """Cosine similarity in float32 (in float16 a squared norm overflows past 65504)."""
    return F.cosine_similarity(a.float(), b.float(), dim=dim)


def alignment_losses(p_id: Tensor, p_mo: Tensor, cross: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""The three terms of :math:`L_{align}` (eq. 9–11), each ``[B]``. With the cosines of the within-stream pairs
    ``p_id`` :math:`= P_{id} = \mathrm{sim}(W_1 s^{id}, W_2 \hat s^{id})`, ``p_mo`` :math:`= P_{mo} =
    \mathrm{sim}(W_5 s^{mo}, W_6 \hat s^{mo})` and of the cross-stream pair ``cross`` :math:`= X =
    \mathrm{sim}(W_3 s^{id}, W_4 s^{mo})`,

    .. math::
        L_{align.id} = \log\Big(1 + \frac{e^{X}}{1 + e^{P_{id}}}\Big) \ (9), \quad
        L_{align.mo} = \log\Big(1 + \frac{e^{X}}{1 + e^{P_{mo}}}\Big), \quad
        L_{id.mo} = \log\Big(1 + \frac{e^{P_{id}} + e^{P_{mo}}}{1 + e^{X}}\Big) \ (10),

    computed as :math:`\mathrm{softplus}(X - \mathrm{softplus}(P))` and :math:`\mathrm{softplus}(\mathrm{logaddexp}(
    P_{id}, P_{mo}) - \mathrm{softplus}(X))`. As printed, eq. 9's numerator compares :math:`W_3 s^{id}` with
    :math:`W_4 \hat s^{id}` and eq. 10's :math:`W_1 s^{id}` with :math:`W_2 s^{id}`; we read the within-stream
    pairs, "before and after" the attention, as the positives of eq. 9 and the negatives of eq. 10, and the
    cross-stream pair as eq. 9's numerator, shared by both streams: the authors' code's scheme, before it swaps two
    arguments."""
    align_id = F.softplus(cross - F.softplus(p_id))
    align_mo = F.softplus(cross - F.softplus(p_mo))
    id_mo = F.softplus(torch.logaddexp(p_id, p_mo) - F.softplus(cross))
    return align_id, align_mo, id_mo


def joint_loss(sim_id: Tensor, sim_mo: Tensor, flag: Tensor) -> Tensor:
    r"""``[B]`` :math:`L_{joint}` (eq. 12–13) from ``sim_id`` :math:`= a = \mathrm{sim}(s^{id}, e^{id}_{m+1})` and
    ``sim_mo`` :math:`= b = \mathrm{sim}(s^{mo}, e^{mo}_{m+1})` for the target :math:`m+1`:

    .. math::
        L_{joint.id} = \log(e^a + e^b) - a \ (12), \quad L_{joint.mo} = \log(e^a + e^b) - b, \quad
        L_{joint} = \begin{cases} L_{joint.id} + 0.5\, L_{joint.mo} & flag = 1 \\
        L_{joint.mo} + 0.5\, L_{joint.id} & \text{otherwise} \end{cases} \ (13).
    """
    both = torch.logaddexp(sim_id, sim_mo)
    loss_id, loss_mo = both - sim_id, both - sim_mo  # eq. 12
    return torch.where(flag, loss_id + 0.5 * loss_mo, loss_mo + 0.5 * loss_id)  # eq. 13


def _clear_after_loading(module: SRIM, incompatible_keys) -> None:
    """New weights make the cached eval-mode tables stale."""
    module.clear_cache()


def _check(config: SRIMConfig) -> None:
    check_choices(config, attention=ATTENTIONS, layer_combination=LAYER_COMBINATIONS, score_table=SCORE_TABLES,
                  readout=READOUTS, aux_reduction=AUX_REDUCTIONS, text_encoder=TEXT_ENCODERS)
    for key, least in (("dim", 1), ("num_heads", 1), ("co_samples", 1), ("max_len", 1), ("num_layers", 0),
                       ("graph_top_k", 0)):
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ConfigError(f"{key} must be an integer >= {least}, got {value!r}")
    if config.dim % config.num_heads:
        raise ConfigError(f"dim ({config.dim}) must be a multiple of num_heads ({config.num_heads})")
    if not config.beta >= 0:
        raise ConfigError(f"beta must be >= 0, got {config.beta}")
    for key in ("dropout", "attn_dropout"):
        if not 0.0 <= getattr(config, key) < 1.0:
            raise ConfigError(f"{key} must lie in [0, 1), got {getattr(config, key)}")


__all__ = ["ATTENTIONS", "AUX_REDUCTIONS", "SRIM", "SRIMConfig", "alignment_losses", "joint_loss", "propagate",
           "sparse_product"]
