r"""A²D-MTL: Wang, Yu, He, Yang, Wei and Jin, "Attribute Association Driven Multi-Task Learning for Session-based
Recommendation"."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch_geometric.data import Data

from ..data.collate import SequenceBatch
from ..data.dataset import SessionDataset
from ..errors import ConfigError
from ..graphs import item_transition_graph, side_transition_graph
from ..nn.adaptive_entmax import AdaptiveAlpha, AdaptiveEntmaxAttention, EntmaxReadout
from ..nn.graph_encoder import GAT_VERSIONS, GraphAttentionEncoder
from ..nn.init import reset_linear
from ..nn.packing import Packing
from ..nn.projected_table import ProjectedTable
from .base import SessionRecommender, check_choices, cross_entropy, gather_last, masked_mean

#: Memory rows compared with the queries at once in the neighbour search: ``[B, MEMORY_CHUNK]`` similarities stay in
#: the cache between the product and the ``topk`` (faster than one product with the whole memory; see
#: ``benchmarks/RESULTS.md``).
MEMORY_CHUNK = 8192
#: The table eq. 21 scores items against: the GAT output :math:`H` (``gat``) or the embeddings :math:`E^0` fed to the
#: GAT (``embedding``, as SR-GNN, GCE-GNN and MSGAT's code score).
ITEM_SCORES = ("gat", "embedding")
#: What eq. 15 sums (its :math:`v`): the enhanced sequence :math:`S_\mathrm{seq}` of eq. 10, the item embeddings
#: :math:`H_\mathrm{item}`, or the attention output :math:`a` of eq. 13.
READOUT_VALUES = ("sequence", "item", "attention")
#: Where eq. 18 takes the neighbours' :math:`s^\mathrm{avg}_m`: the memory as stored at its last refresh
#: (``memory``), or the same sessions' mean item embeddings recomputed from the current table (``fresh``).
NEIGHBOUR_MEANS = ("memory", "fresh")


@dataclass
class A2DMTLConfig:
    """A²D-MTL's hyperparameters. The paper gives :math:`d = 256` and :math:`\\lambda = 0.25` (its §4.4 optimum);
    the other values are choices, said so below.

    Attributes:
        dim: the size :math:`d` of every embedding and hidden state (the paper's 256).
        neighbours: :math:`R`, the most similar training sessions of eq. 16–19. The paper does not give it; 3 is
            MSGAT's value for Diginetica (MSGAT, whose neighbour sessions eq. 16–19 restate, uses 7 for Tmall and 4
            for Nowplaying). 0 switches the inter-session representation off.
        category_weight: :math:`\\lambda` of eq. 25 (the paper's 0.25).
        dropout: the dropout of eq. 11, also applied to the feed-forward output of eq. 13 (as MSGAT and DSAN,
            whose attention eq. 11–14 follow); the paper gives no rate, 0.2 is MSGAT's.
        gat_layers: graph attention layers :math:`K` of eq. 3 over each graph (not given; 1).
        gat_version: ``gat`` (PyG ``GATConv``, the GAT the paper cites) or ``gatv2`` (``GATv2Conv``: the
            :math:`a^\\top\\sigma(W[\\cdot])` form that eq. 4 literally writes).
        alpha: the fixed :math:`\\alpha` of entmax when ``adaptive_alpha`` is off (w/o AdaSPA).
        readout_values: eq. 15's :math:`v`, one of :data:`READOUT_VALUES` (see the class docstring).
        use_category: False = w/o CATE (no side information: no category graph, stream or task).
        category_graph: False = w/o EXP: the category embedding is added to the item embedding before the item
            GAT instead of having its own graph, stream and prediction task.
        sparse_attention: False = w/o SPA (softmax wherever entmax would be used).
        adaptive_alpha: False = w/o AdaSPA (one fixed ``alpha`` instead of a learned one per session).
        category_field: the single-valued side field playing the category (``brand`` works too).
        max_len: the most recent clicks the model sees; it sizes the position and length embeddings of eq. 7.
            The paper keeps whole sessions; 50 cuts very few of Diginetica's prefixes (``benchmarks/RESULTS.md``).
        item_scores: the table of eq. 21, one of :data:`ITEM_SCORES` (``gat``: the paper's :math:`H`, read as the
            GAT output that :math:`H_{v_i}` denotes elsewhere in the paper).
        item_residual: :math:`H = E^0 + \\mathrm{GAT}(E^0)` instead of :math:`\\mathrm{GAT}(E^0)` (not in the paper:
            keeps an item distinguishable from the items that share its predecessors).
        score_scale: :math:`w > 0` scores items by :math:`w` times the cosine of :math:`S_\\mathrm{item}` and the
            item's row of :math:`H` (MSGAT's code, with :math:`w = 20`, as NISER and ScoreNet score; a unit-norm
            table lets no item win by its norm alone); 0 by eq. 21's plain dot product. 20 is chosen on validation:
            on Tmall after 2,000 steps, valid P@20 / MRR@20 33.00 / 20.49 against the dot product's 28.39 / 16.16
            (whose best, converged, was 31.23 / 17.29; ``benchmarks/RESULTS.md``).
        neighbour_means: one of :data:`NEIGHBOUR_MEANS`. The neighbours are always found in the stored memory;
            ``fresh`` (not in the paper) recomputes their :math:`s^\\mathrm{avg}_m` and cosines (eq. 17–18) from
            the current item table, with gradients, instead of reading the memory refreshed once per epoch (which,
            in the first epoch, holds the random initial table).
    """

    dim: int = 256
    neighbours: int = 3
    category_weight: float = 0.25
    dropout: float = 0.2
    gat_layers: int = 1
    gat_version: str = "gat"
    alpha: float = 1.5
    readout_values: str = "attention"
    use_category: bool = True
    category_graph: bool = True
    sparse_attention: bool = True
    adaptive_alpha: bool = True
    category_field: str = "category"
    max_len: int = 50
    item_scores: str = "gat"
    item_residual: bool = False
    score_scale: float = 20.0
    neighbour_means: str = "memory"


class A2DMTL(SessionRecommender):
    r"""A²D-MTL: a category stream over a global category graph guides adaptive sparse attention over the item
    stream, with inter-session neighbours and a category-prediction task (§3 of the paper). The item stream
    (eq. 8–19) restates MSGAT (Qiao et al., CIKM 2023); where the paper leaves a detail open we follow MSGAT's code.

    **Graphs** (eq. 1–4): :math:`H = \mathrm{GAT}_i(E^0)` and :math:`h^\mathrm{global} = \mathrm{GAT}_c(h^{(0)})`
    over the training split's item and category transition graphs
    (:class:`~graphsbr.nn.graph_encoder.GraphAttentionEncoder`). **Category stream** (eq. 5–7):
    :math:`\tilde h_c = \beta_c h^{(0)}_c + (1-\beta_c) h^\mathrm{global}_c`,
    :math:`\beta_c = \sigma(W_2[h^{(0)}_c \| h^\mathrm{global}_c] + b_2)`,
    :math:`S_\mathrm{cate} = \mathrm{GRU}([\tilde h_{c_t} \| p_t \| l_T])` (positions :math:`p_t`, prefix length
    :math:`l_T`). **Item stream** (eq. 8–15), with :math:`h_{v_t}` rows of :math:`H`:

    .. math::
        g = W_1 h_{v_T} + W_3 \overline{h_v} + W_4 \overline{S_\mathrm{cate}} + b, \qquad
        S_\mathrm{seq} = \sigma(W_2 h_{v_t} + b_2 + g), \qquad
        \alpha_\mathrm{ent} = 1 + \epsilon + (1 - 2\epsilon)\,\sigma(w_\alpha^\top g + b_\alpha),

    then :class:`~graphsbr.nn.adaptive_entmax.AdaptiveEntmaxAttention` (eq. 11–13) gives :math:`a` and
    :class:`~graphsbr.nn.adaptive_entmax.EntmaxReadout` (eq. 14–15) :math:`S^\mathrm{intra} = \alpha^\top v`,
    :math:`\alpha = \alpha_\mathrm{ent}\text{-entmax}(w^\top a_t + b)`. **Inter-session** (eq. 16–19):
    :math:`S^\mathrm{inter} = \sum_{m \in \mathcal R(n)} \gamma_{n,m} s^\mathrm{avg}_m` over the :math:`R` training
    sessions whose mean item embedding is most cosine-similar to the prefix's, :math:`\gamma = \operatorname{softmax}
    (\cos)`. **Prediction** (eq. 20–25): :math:`S_\mathrm{item} = S^\mathrm{intra} + S^\mathrm{inter}`,
    :math:`\hat z_i = w \cos(S_\mathrm{item}, H_{v_i})` (``score_scale`` :math:`w`; see below),
    :math:`\hat z^c = S_\mathrm{cate}^\top \tilde h`, :math:`L = L_\mathrm{item} + \lambda L_\mathrm{cate}`.

    Where the paper is ambiguous, we chose:

    * **eq. 22, 24** write a binary cross-entropy (with a sign slip) over a softmax: we use the softmax cross-entropy,
      as every SR-GNN-family model; targets without a category are left out of :math:`L_\mathrm{cate}`.
    * **eq. 23** takes :math:`S_\mathrm{cate}` (the equation, not the sentence's :math:`S_\mathrm{item}`), scored
      against the fused category table :math:`\tilde h` of eq. 5.
    * :math:`H_\mathrm{cate}^\mathrm{avg}` **of eq. 9** is the mean of the GRU states :math:`S_\mathrm{cate}`: the
      category stream reaches the items through :math:`g` only (eq. 20 adds no :math:`S_\mathrm{cate}`).
    * **Entmax** (eq. 12, 14): attention and readout both use :math:`\alpha_\mathrm{ent}`-entmax, learned per
      session from :math:`g` as in DSAN (Yuan et al., AAAI 2021); eq. 14 scores attention outputs, :math:`w^\top a_t`.
    * **eq. 15's** :math:`v` is ``readout_values``: the attention output :math:`a` by default (better on
      validation; see ``benchmarks/RESULTS.md``), :math:`S_\mathrm{seq}` (MSGAT's) or :math:`H_\mathrm{item}`.
    * **eq. 16–19**: the memory holds the training sessions only (a test prediction never depends on its batch),
      one :math:`s^\mathrm{avg}` per session's longest prefix (:meth:`refresh_memory`); a training sample never
      retrieves its own session; no gradient through the memory; :math:`R` (not given) is MSGAT's 3. (A lead, not
      the paper: ``neighbour_means=fresh`` recomputes the neighbours' means from the current table.)
    * **eq. 21** scores :math:`20 \cos(S_\mathrm{item}, H_{v_i})`, not the plain dot product: MSGAT's code scores
      so, and validation prefers it clearly (``score_scale``; 0 is the dot product, the paper's literal reading).
    * **GAT**: one layer, one head; eq. 21 scores against the same :math:`H`; embeddings start
      :math:`\mathcal U(\pm 1/\sqrt d)`, as in SR-GNN and GCE-GNN, whose setup the paper follows.
    * **Ablations** (Table 3): w/o CATE ``use_category=False``; w/o EXP ``category_graph=False`` (category
      embeddings added to the item embeddings); w/o SPA ``sparse_attention=False``; w/o AdaSPA ``adaptive_alpha=False``.

    Args:
        config: the hyperparameters.
        num_items: item ids run ``1..num_items``.
        item_graph: the item transition graph :math:`G_i` (eq. 1).
        item_category: ``[num_items+1]`` each item's category, 0 for none (with ``use_category``).
        num_categories: category ids run ``1..num_categories``.
        category_graph: the category transition graph :math:`G_c` (eq. 2; with ``category_graph``).
    """

    name = "a2dmtl"
    Config = A2DMTLConfig
    batch_kind = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 100, "weight_decay": 1e-5,
                                                "lr_step": 3, "lr_gamma": 0.8, "epochs": 30, "patience": 5}
    uses_memory: ClassVar[bool] = True
    #: runs recorded before ``score_scale`` scored by the dot product
    legacy_settings: ClassVar[dict[str, Any]] = {"score_scale": 0.0}

    def __init__(self, config: A2DMTLConfig, num_items: int, item_graph: Data, item_category: Tensor | None = None,
                 num_categories: int = 0, category_graph: Data | None = None):
        super().__init__(config, num_items)
        _check(config)
        d = config.dim
        self.item_embedding = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.item_gat = GraphAttentionEncoder(num_items + 1, d, item_graph, config.gat_layers, config.gat_version)
        self.num_categories = num_categories if config.use_category else 0
        if config.use_category:
            if item_category is None or (config.category_graph and category_graph is None):
                raise ConfigError("A2DMTL with use_category needs item_category (and category_graph unless "
                                  "category_graph=false); build it with A2DMTL.from_dataset")
            if not config.category_graph:  # w/o EXP: the item table adds each item's category embedding
                self.register_buffer("item_category", item_category.long(), persistent=False)
            self.category_embedding = nn.Embedding(num_categories + 1, d, padding_idx=0)
        if self.explicit_category:
            self.category_gat = GraphAttentionEncoder(num_categories + 1, d, category_graph, config.gat_layers,
                                                      config.gat_version)
            self.gate = nn.Linear(2 * d, 1)  # eq. 6
            self.position = nn.Embedding(config.max_len, d)
            self.length = nn.Embedding(config.max_len + 1, d)
            self.category_gru = nn.GRU(3 * d, d, batch_first=True)  # eq. 7
            self.category_query = nn.Linear(d, d)  # W_4 of eq. 9
        self.last_query = nn.Linear(d, d)  # W_1 of eq. 8
        self.sequence_query = nn.Linear(d, d)  # W_2 of eq. 8
        self.average_query = nn.Linear(d, d)  # W_3 of eq. 9
        self.attention = AdaptiveEntmaxAttention(d, config.dropout)  # eq. 11-13
        self.readout = EntmaxReadout(d)  # eq. 14-15
        self.alpha = AdaptiveAlpha(d) if config.sparse_attention and config.adaptive_alpha else None
        # the memory of training sessions (refresh_memory): s_avg / ||s_avg||, ||s_avg||, session of each row, row of
        # each session; not saved with the weights, rebuilt from them
        self.register_buffer("memory", torch.zeros(0, d), persistent=False)  # [M, d]
        self.register_buffer("memory_norm", torch.zeros(0), persistent=False)  # [M]
        self.register_buffer("memory_sessions", torch.zeros(0, dtype=torch.long), persistent=False)  # [M]
        self.register_buffer("memory_row", torch.zeros(0, dtype=torch.long), persistent=False)  # [S]
        # with neighbour_means=fresh: the items of every row's prefix (0-padded, int32)
        self.register_buffer("memory_items", torch.zeros(0, config.max_len, dtype=torch.int32), persistent=False)
        self._tables: tuple[ProjectedTable, Tensor | None, ProjectedTable] | None = None
        self.register_load_state_dict_post_hook(_clear_after_loading)
        self.reset_parameters()

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: A2DMTLConfig | None = None) -> A2DMTL:
        """Builds the item graph (eq. 1) and, with categories, the category graph (eq. 2) of the training split.

        Raises:
            ConfigError: ``use_category`` and the dataset has no single-valued ``category_field``.
        """
        config = config if config is not None else cls.Config()
        item_graph = item_transition_graph(dataset.train, dataset.num_items)
        if not config.use_category:
            return cls(config, dataset.num_items, item_graph)
        name = config.category_field
        field = dataset.side.get(name)
        if field is None:
            raise ConfigError(f"A2DMTL needs the item side field {name!r} but dataset {dataset.name} has "
                              f"{', '.join(dataset.side) or 'no side fields'}; choose one with category_field=NAME, "
                              "or set use_category=false (the w/o CATE variant)")
        if field.multi_valued:
            raise ConfigError(f"A2DMTL needs a single-valued category field; {name!r} of dataset {dataset.name} "
                              f"has up to {field.values.size(1)} values per item")
        values = field.values[:, 0]
        graph = side_transition_graph(dataset.train, values, field.vocab_size) if config.category_graph else None
        return cls(config, dataset.num_items, item_graph, values, field.vocab_size, graph)

    @property
    def explicit_category(self) -> bool:
        """Categories as nodes of their own graph, with their own stream and task (the full model)."""
        return self.config.use_category and self.config.category_graph

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.config.dim)
        for module in self.children():
            if isinstance(module, nn.Embedding):
                nn.init.uniform_(module.weight, -bound, bound)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()
            elif hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.explicit_category:
            reset_linear(self.gate)  # beta = 0.5 at the start: an even mix of h0 and h_global
        self.clear_cache()

    # ------------------------------------------------------------------------------------------------ tables
    def clear_cache(self) -> None:
        self._tables = None

    def train(self, mode: bool = True):
        if mode or self.training:  # the weights may have changed since the tables were cached
            self.clear_cache()
        return super().train(mode)

    def tables(self) -> tuple[ProjectedTable, Tensor | None, ProjectedTable]:
        """``H [N+1, d]`` the GAT-encoded item table (eq. 3–4 over :math:`G_i`), ``h̃ [C+1, d]`` the fused category
        table (eq. 3–6; ``None`` without the category graph), and the table items are scored against (eq. 21,
        ``item_scores``). Item tables are :class:`~graphsbr.nn.projected_table.ProjectedTable` objects: in training
        the GAT's projection is applied only to the rows and queries read. In eval mode all are computed once, in
        full, and reused until training resumes or weights are loaded."""
        if not self.training and self._tables is not None:
            return self._tables
        initial = self.item_embedding.weight
        if self.config.use_category and not self.config.category_graph:  # w/o EXP: categories folded into items
            initial = initial + self.category_embedding(self.item_category)
        items = self.item_gat.table(initial, residual=self.config.item_residual)
        scored = items if self.config.item_scores == "gat" else ProjectedTable(initial, padding_idx=0)
        if self.config.score_scale:  # unit rows (float32; the padding row stays zero), the query normalised in
            # item_logits(); a factored table stays factored, its norms from a quadratic form
            scored = scored.unit()
        categories = None
        if self.explicit_category:
            h0 = self.category_embedding.weight
            h_global = self.category_gat(h0)
            beta = torch.sigmoid(self.gate(torch.cat([h0, h_global], 1)))  # eq. 6, [C+1, 1]
            categories = beta * h0 + (1 - beta) * h_global  # eq. 5
        if not self.training:
            items = items.detach()
            scored = items if scored is items else scored.detach()
            self._tables = (items, None if categories is None else categories.detach(), scored)
        return items, categories, scored

    # ------------------------------------------------------------------------------------------------ streams
    def category_states(self, batch: SequenceBatch, categories: Tensor) -> Tensor:
        """``[B, L, d]`` the GRU states of eq. 7 (zero at padding)."""
        values = batch.side[self.config.category_field]  # [B, L]
        width = values.size(1)
        position = self.position.weight[:width].unsqueeze(0).expand(values.size(0), -1, -1)  # [B, L, d]
        length = self.length(batch.lengths).unsqueeze(1).expand(-1, width, -1)  # [B, L, d]
        host_lengths = batch.lengths.cpu() if batch.host_lengths is None else batch.host_lengths
        inputs = pack_padded_sequence(torch.cat([categories[values], position, length], -1), host_lengths,
                                      batch_first=True, enforce_sorted=False)  # the GRU skips the padding
        states, _ = self.category_gru(inputs)
        return pad_packed_sequence(states, batch_first=True, total_length=width)[0]

    def alpha_of(self, g: Tensor) -> Tensor | float | None:
        """The entmax :math:`\\alpha` per session (``[B]``), fixed (a float), or ``None`` (softmax)."""
        if not self.config.sparse_attention:
            return None
        return self.alpha(g) if self.alpha is not None else self.config.alpha

    def represent(self, batch: SequenceBatch) -> tuple[Tensor, Tensor | None, ProjectedTable, Tensor | None]:
        """``(S_item [B, d], S_cate [B, d] or None, the item table of eq. 21 [N+1, d], h̃ [C+1, d] or None)``."""
        if batch.items.size(1) > self.config.max_len:
            raise ValueError(f"batch of width {batch.items.size(1)} exceeds max_len={self.config.max_len}; "
                             "collate with max_len=model.max_len")
        items, categories, scored = self.tables()
        mask = batch.mask
        packing = Packing(mask, batch.clicks)
        h = packing.unpack(items[packing.pack(batch.items)])  # [B, L, d], the table's rows of the real clicks
        average = masked_mean(h, mask, 1)  # s_avg of eq. 16, H_item^avg of eq. 9
        g = self.last_query(gather_last(h, batch.lengths)) + self.average_query(average)  # eq. 8-9
        s_cate = None
        if self.explicit_category:
            states = self.category_states(batch, categories)
            s_cate = gather_last(states, batch.lengths)
            g = g + self.category_query(masked_mean(states, mask, 1))
        rows = packing.index // mask.size(1)  # [N] the sample of each real click
        s_seq = packing.unpack(torch.sigmoid(self.sequence_query(packing.pack(h)) + g[rows]))  # eq. 10, [B, L, d]
        alpha = self.alpha_of(g)
        a = self.attention(s_seq, mask, alpha, packing)  # eq. 11-13
        values = {"sequence": s_seq, "item": h, "attention": a}[self.config.readout_values]
        s_item, _ = self.readout(a, values, mask, alpha)  # eq. 14-15
        if self.config.neighbours:
            exclude = self._own_sessions(batch)
            s_item = s_item + self.inter_session(average, exclude, items)[0]  # eq. 20
        return s_item, s_cate, scored, categories

    # ------------------------------------------------------------------------------------------ inter-session
    def _own_sessions(self, batch: SequenceBatch) -> Tensor | None:
        if not self.training:
            return None
        if batch.sessions is None:
            raise ValueError("A2DMTL training batches need batch.sessions (the training-session index of each "
                             "sample), so that no sample retrieves its own session from the memory")
        return batch.sessions

    @torch.no_grad()
    def refresh_memory(self, batches) -> None:
        r"""Stores :math:`s^\mathrm{avg}` (eq. 16) of every training session's longest prefix: its direction
        (``memory [M, d]``, unit rows) and norm (``memory_norm [M]``), one row per session in session order
        (``memory_sessions [M]``; ``memory_row [S]`` maps a session to its row, -1 for none); with
        ``neighbour_means=fresh`` also the prefix's items (``memory_items [M, max_len]``, 0-padded)."""
        if not self.config.neighbours:
            return
        items = self.tables()[0]
        fresh = self.config.neighbour_means == "fresh"
        sessions, averages, clicks = [], [], []
        for batch in batches:
            sessions.append(batch.sessions)
            averages.append(masked_mean(items[batch.items], batch.mask, 1).float())
            if fresh:
                width = batch.items.size(1)
                clicks.append(F.pad(batch.items * batch.mask, (0, self.config.max_len - width)).int())
        if not sessions:
            raise RuntimeError("refresh_memory got no training sessions")
        sessions, order = torch.cat(sessions).sort()
        averages = torch.cat(averages)[order]
        self.memory_norm = averages.norm(dim=1)
        self.memory = averages / self.memory_norm.clamp(min=1e-12).unsqueeze(1)
        self.memory_sessions = sessions
        self.memory_row = torch.full((int(sessions.max()) + 1,), -1, dtype=torch.long, device=sessions.device)
        self.memory_row[sessions] = torch.arange(sessions.numel(), device=sessions.device)
        if fresh:
            self.memory_items = torch.cat(clicks)[order]

    @torch.no_grad()
    def nearest(self, unit: Tensor, exclude: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The :math:`R` memory rows most cosine-similar to the unit-norm queries ``unit [B, d]``; ``exclude [B]`` a
        training session each query may not take. The memory is searched in chunks of :data:`MEMORY_CHUNK` rows (a
        product and a ``topk`` each, then a ``topk`` of the chunks' bests); nothing waits for the device.

        Returns:
            ``rows [B, R']`` and ``found [B, R']`` (False where fewer than ``R'`` rows were allowed), with
            ``R' = min(R, M)``.
        """
        size = self.memory.size(0)
        r = min(self.config.neighbours, size)
        if exclude is not None:
            known = exclude < self.memory_row.numel()
            exclude = torch.where(known, self.memory_row[exclude.clamp(max=self.memory_row.numel() - 1)], -1)
        best, best_rows = [], []
        for start in range(0, size, MEMORY_CHUNK):
            similarity = unit @ self.memory[start:start + MEMORY_CHUNK].T  # eq. 17, [B, chunk]
            if exclude is not None:  # the query's own session, where it falls in this chunk
                own = (exclude - start).unsqueeze(1)  # [B, 1]
                inside = (own >= 0) & (own < similarity.size(1))
                column = own.clamp(0, similarity.size(1) - 1)
                similarity.scatter_(1, column, torch.where(inside, float("-inf"), similarity.gather(1, column)))
            values, rows = similarity.topk(min(r, similarity.size(1)), dim=1)
            best.append(values)
            best_rows.append(rows + start)
        best, keep = torch.cat(best, 1).topk(r, dim=1)
        return torch.cat(best_rows, 1).gather(1, keep), torch.isfinite(best)

    def inter_session(self, average: Tensor, exclude: Tensor | None = None,
                      items: ProjectedTable | None = None) -> tuple[Tensor, Tensor, Tensor]:
        r""":math:`S^\mathrm{inter}` of eq. 16–19 for prefixes with mean item embeddings ``average [B, d]``; ``items``
        is the current item table, read with ``neighbour_means=fresh`` (default: :meth:`tables`).

        Returns:
            ``(S_inter [B, d], sessions [B, R'], gamma [B, R'])``: the training sessions drawn on and their weights
            (0 where none was found).
        """
        if not self.memory.size(0):
            raise RuntimeError("A2DMTL's memory of training sessions is empty: call refresh_memory with the "
                               "training sessions first (the Trainer does, before every epoch and evaluation)")
        unit = F.normalize(average.float(), dim=-1)
        rows, found = self.nearest(unit.detach(), exclude)
        if self.config.neighbour_means == "fresh":
            items = self.tables()[0] if items is None else items
            neighbours = items.mean(self.memory_items[rows]).float()  # s_avg of the neighbours, now, [B, R', d]
            directions = F.normalize(neighbours, dim=-1)
        else:
            directions = self.memory[rows]  # [B, R', d]
            neighbours = directions * self.memory_norm[rows].unsqueeze(-1)  # s_avg of the neighbours
        cosine = (unit.unsqueeze(1) * directions).sum(-1)  # eq. 17 again, differentiable in the query
        logits = cosine.masked_fill(~found, float("-inf")).masked_fill(~found.any(1, keepdim=True), 0.0)
        gamma = torch.softmax(logits, 1) * found  # eq. 19
        s_inter = (gamma.unsqueeze(-1) * neighbours).sum(1).to(average.dtype)  # eq. 18
        return s_inter, self.memory_sessions[rows], gamma

    def retrieve(self, batch: SequenceBatch) -> tuple[Tensor, Tensor]:
        """``(sessions [B, R'], gamma [B, R'])`` the training sessions each prefix of ``batch`` draws on (eq. 16–19)
        and their weights, as :meth:`forward` would in the current mode."""
        items = self.tables()[0]
        average = masked_mean(items[batch.items], batch.mask, 1)
        _, sessions, gamma = self.inter_session(average, self._own_sessions(batch), items)
        return sessions, gamma

    # -------------------------------------------------------------------------------------------- prediction
    def forward(self, batch: SequenceBatch) -> Tensor:
        s_item, _, items, _ = self.represent(batch)
        return self.item_logits(s_item, items)

    def item_logits(self, s_item: Tensor, items: ProjectedTable) -> Tensor:
        """``[B, N+1]`` eq. 21's logits: :math:`S_\\mathrm{item}^\\top H_{v_i}`, or :math:`w \\cos(S_\\mathrm{item},
        H_{v_i})` with ``score_scale`` :math:`w` (whose table :meth:`tables` gives with unit rows)."""
        if self.config.score_scale:
            s_item = self.config.score_scale * F.normalize(s_item.float(), dim=-1)
        return items.scores(s_item)

    def category_scores(self, batch: SequenceBatch) -> Tensor:
        """``[B, C+1]`` next-category scores (eq. 23; column 0, none, is padding)."""
        if not self.explicit_category:
            raise ConfigError("category_scores needs the category stream (use_category and category_graph)")
        _, s_cate, _, categories = self.represent(batch)
        return s_cate @ categories.T

    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """:math:`L_\\mathrm{item} + \\lambda L_\\mathrm{cate}` (eq. 25), softmax cross-entropies (see the class)."""
        s_item, s_cate, items, categories = self.represent(batch)
        item_loss = cross_entropy(self.item_logits(s_item, items), batch.targets)
        parts = {"item": item_loss.detach()}
        total = item_loss
        if s_cate is not None:
            targets = batch.target_side[self.config.category_field]  # [B], 0 = none
            known = targets > 0
            per_sample = F.cross_entropy((s_cate @ categories[1:].T).float(), (targets - 1).clamp(min=0),
                                         reduction="none")
            category_loss = (per_sample * known).sum() / known.sum().clamp(min=1)
            total = total + self.config.category_weight * category_loss
            parts["category"] = category_loss.detach()
        parts["loss"] = total.detach()
        return total, parts

    def extra_repr(self) -> str:
        c = self.config
        variant = [name for name, on in (("w/o CATE", not c.use_category),
                                         ("w/o EXP", c.use_category and not c.category_graph),
                                         ("w/o SPA", not c.sparse_attention),
                                         ("w/o AdaSPA", c.sparse_attention and not c.adaptive_alpha)) if on]
        return (f"num_items={self.num_items}, num_categories={self.num_categories}, dim={c.dim}, "
                f"neighbours={c.neighbours}, memory={self.memory.size(0)}"
                + (f", variant={'+'.join(variant)}" if variant else ""))


def _clear_after_loading(module: A2DMTL, incompatible_keys) -> None:
    """New weights make the cached eval-mode tables stale."""
    module.clear_cache()


def _check(config: A2DMTLConfig) -> None:
    check_choices(config, readout_values=READOUT_VALUES, item_scores=ITEM_SCORES, gat_version=GAT_VERSIONS,
                  neighbour_means=NEIGHBOUR_MEANS)
    if not isinstance(config.max_len, int) or config.max_len < 1:
        raise ConfigError(f"max_len must be a positive integer (it sizes the position and length embeddings), "
                          f"got {config.max_len!r}")
    if config.neighbours < 0:
        raise ConfigError(f"neighbours must be >= 0, got {config.neighbours}")
    if config.category_weight < 0:
        raise ConfigError(f"category_weight must be >= 0, got {config.category_weight}")
    if not 1.0 < config.alpha <= 2.0:
        raise ConfigError(f"alpha must lie in (1, 2], got {config.alpha}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must lie in [0, 1), got {config.dropout}")
    if config.score_scale < 0:
        raise ConfigError(f"score_scale must be >= 0 (0: the dot product of eq. 21), got {config.score_scale}")


__all__ = ["A2DMTL", "A2DMTLConfig"]
