r"""ASIF's fused attention with untied positions: one attention computation updates three streams (items,
attributes, positions), the positions having their own score matrix instead of being fused with the others."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .attention import QueryKey, attention_mask, split_heads
from .dropout import dropout
from .fusion import Fusion
from .init import reset_linear
from .packing import Packing


class UntiedFusedAttention(nn.Module):
    r"""Fused attention (FA) with untied positions (UP) (Wang et al., WWW '24 Companion, ASIF §3.2, eq. 1–5).

    .. math::
        C_{XA} = \mathcal F(X, A) W_{q,1} W_{k,1}^\top \mathcal F(X, A)^\top \quad (1), \qquad
        C_P = P W_{q,2} W_{k,2}^\top P^\top \quad (2),

    .. math::
        h_X = \mathrm{softmax}\Big(\frac{C_{XA} + C_P}{\sqrt{d_h}} + M\Big) X W_{v,1} \quad (3), \qquad
        h_A = \mathrm{softmax}\Big(\frac{C_{XA}}{\sqrt{d_h}} + M\Big) \mathcal F(X, A) W_{v,2} \quad (4), \qquad
        h_P = \mathrm{softmax}\Big(\frac{C_P}{\sqrt{d_h}} + M\Big) P W_{v,3} \quad (5)

    per head (:math:`H` heads of :math:`d_h = d / H`; the heads are concatenated and each stream has its own
    output projection :math:`W_{o,1}, W_{o,2}, W_{o,3}`, as in every multi-head attention), with :math:`X` the item
    stream, :math:`A` the attribute stream, :math:`P` the position stream, :math:`\mathcal F` one of
    :class:`~graphsbr.nn.Fusion`'s functions of :math:`(X, A)` (computed once, for eq. 1 and eq. 4) and :math:`M`
    the mask (padding keys and, when causal, later clicks). Dropout acts on the three attention weights.

    Ablations (ASIF Table 4):

    * ``untied_positions=False`` (w/o UP): no position stream — :math:`C_P = 0` and no :math:`h_P`; the caller
      adds the positions to the item stream's input instead, as a common side information.
    * ``fused=False`` (w/o FA): the item and attribute streams learn their own correlation matrices, summed as in
      DIF-SR: :math:`C_{XA}` is replaced by :math:`X W_{q,X} W_{k,X}^\top X^\top + A W_{q,A} W_{k,A}^\top A^\top`
      (no cross terms between items and attributes) in eq. 3 and eq. 4; the values of eq. 4 are unchanged.

    The projections run on the real clicks only (:class:`~graphsbr.nn.Packing`), and :math:`h_X`, :math:`h_A` are
    zero at padding. A position stream shared by the batch (``[1, L, d]``) under a causal mask stays shared: every
    real query's keys are then real clicks (clicks are left-aligned), so :math:`C_P` and :math:`h_P` are the same for
    every sequence and are computed once (``[1, L, d]``); a stream per sequence (``[B, L, d]``, e.g. after dropout
    drawn per sequence) gives :math:`h_P` per sequence.

    Given ``rows`` (one query row per sequence, the read-out of a last layer), :math:`h_A` is computed at those rows
    only: the row's attention weights pool :math:`\mathcal F(X, A)` before the value projection,
    :math:`\sum_j w_j (f_j W_{v,2} + b) = (\sum_j w_j f_j) W_{v,2} + (\sum_j w_j) b` per head, so that
    :math:`W_{v,2}` and :math:`W_{o,2}` run on one row per sequence instead of every click.

    Args:
        dim: the size :math:`d` of every stream.
        heads: number of heads :math:`H`.
        dropout: dropout on the attention weights.
        fusion: ``sum``, ``concat`` or ``gate`` (:data:`~graphsbr.nn.FUSIONS`).
        fused: False for w/o FA.
        untied_positions: False for w/o UP.
        attribute_output: compute :math:`h_A` (eq. 4; a last layer without HIE needs none).
        position_output: compute :math:`h_P` (eq. 5; a last layer needs none).

    Shapes:
        input: ``x [B, L, dim]``, ``a [B, L, dim]``, ``key_padding_mask [B, L]`` bool (True at real clicks),
        ``position [1 or B, L, dim]`` (with untied positions only), ``rows [B]`` (optional), ``packing`` (optional: the
        :class:`~graphsbr.nn.Packing` of ``key_padding_mask``, found with ``nonzero`` when not given).
        output: ``(h_x [B, L, dim], h_a [B, L, dim] ([B, dim] at rows) or None, h_p [1 or B, L, dim] or None)``.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, fusion: str = "sum", fused: bool = True,
                 untied_positions: bool = True, attribute_output: bool = True, position_output: bool = True):
        super().__init__()
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.fused, self.untied_positions = fused, untied_positions
        self.fusion = Fusion(fusion, dim, 2)
        self.qk = QueryKey(dim, heads, dim)  # W_q1, W_k1 of F(X, A); of X alone without FA
        self.attribute_qk = None if fused else QueryKey(dim, heads, dim)
        self.position_qk = QueryKey(dim, heads, dim) if untied_positions else None  # W_q2, W_k2
        self.item_value, self.item_out = nn.Linear(dim, dim), nn.Linear(dim, dim)  # W_v1, W_o1
        self.attribute_value = nn.Linear(dim, dim) if attribute_output else None  # W_v2
        self.attribute_out = nn.Linear(dim, dim) if attribute_output else None
        with_positions = untied_positions and position_output
        self.position_value = nn.Linear(dim, dim) if with_positions else None  # W_v3
        self.position_out = nn.Linear(dim, dim) if with_positions else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fusion.reset_parameters()
        for module in self.children():
            if isinstance(module, QueryKey):
                module.reset_parameters()
            elif isinstance(module, nn.Linear):
                reset_linear(module)

    def forward(self, x: Tensor, a: Tensor, key_padding_mask: Tensor, causal: bool = False,
                position: Tensor | None = None, rows: Tensor | None = None, packing: Packing | None = None
                ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if (position is not None) != self.untied_positions:
            raise ValueError(f"{type(self).__name__}(untied_positions={self.untied_positions}) "
                             f"{'needs' if self.untied_positions else 'takes no'} position stream")
        packing = packing or Packing(key_padding_mask)  # projections on the real clicks only
        x_real, a_real = packing.pack(x), packing.pack(a)  # [N, d]
        fused = self.fusion([x_real, a_real])  # F(X, A), [N, d]
        c_xa = self.scores(packing, [(self.qk, fused)] if self.fused
                           else [(self.qk, x_real), (self.attribute_qk, a_real)])  # [B, H, L, L]
        mask = attention_mask(key_padding_mask, causal)
        item_scores, h_p = c_xa, None
        if self.position_qk is not None:
            p = packing.pack(position)  # [N, d], or a shared [1, L, d] as it is
            c_p = self.scores(packing, [(self.position_qk, p)])  # [1 or B, H, L, L]
            item_scores = c_xa + c_p
            if self.position_value is not None:
                shared = p.dim() == 3 and causal  # every real query's keys are real clicks
                p_mask = attention_mask(torch.ones_like(key_padding_mask[:1]), True) if shared else mask
                h_p = self.attend(self.weights(c_p, p_mask), packing, self.position_value(p), self.position_out)
        h_x = self.attend(self.weights(item_scores, mask), packing, self.item_value(x_real), self.item_out)  # eq. 3
        if self.attribute_value is None:
            return h_x, None, h_p
        if rows is not None:  # eq. 4 at the read-out rows
            return h_x, self.attend_rows(c_xa, mask, rows, packing.unpack(fused)), h_p
        h_a = self.attend(self.weights(c_xa, mask), packing, self.attribute_value(fused), self.attribute_out)  # eq. 4
        return h_x, h_a, h_p

    def scores(self, packing: Packing, streams: list[tuple[QueryKey, Tensor]]) -> Tensor:
        r"""``[B or 1, H, L, L]`` the sum of the streams' query-key products over :math:`\sqrt{d_h}`; each stream is
        the packed real clicks ``[N, d]`` or a shared ``[1, L, d]``."""
        queries, keys = [], []
        for qk, stream in streams:
            query, key = (split_heads(unpack(packing, t), self.heads) for t in qk(stream))  # [B or 1, H, L, d_h]
            queries.append(query)
            keys.append(key)
        query, key = torch.cat(queries, -1), torch.cat(keys, -1)
        return query @ key.transpose(-1, -2) / math.sqrt(self.dim // self.heads)

    def weights(self, scores: Tensor, mask: Tensor) -> Tensor:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return dropout(torch.softmax(scores, -1), self.dropout, self.training)

    def attend(self, weights: Tensor, packing: Packing, values: Tensor, out: nn.Linear) -> Tensor:
        """``[B or 1, L, d]`` the heads' weighted sums of the ``values`` (packed ``[N, d]`` or shared ``[1, L, d]``),
        projected by ``out`` (zeros at padding)."""
        context = weights @ split_heads(unpack(packing, values), self.heads)  # [B or 1, H, L, d_h]
        return unpack(packing, out(packing.pack(context.transpose(1, 2).flatten(2))))

    def attend_rows(self, scores: Tensor, mask: Tensor, rows: Tensor, fused: Tensor) -> Tensor:
        """``[B, d]`` :math:`h_A` (eq. 4) at query row ``rows[b]`` of each sequence: the row's weights pool
        ``fused [B, L, d]`` (zeros at padding) before :math:`W_{v,2}`, each head through its rows of
        :math:`W_{v,2}`."""
        length = scores.size(-1)
        weights = self.weights(select_rows(scores.transpose(1, 2), rows),
                               select_rows(mask.expand(-1, -1, length, -1).transpose(1, 2), rows))  # [B, H, L]
        value = self.attribute_value
        heads = value.weight.view(self.heads, -1, self.dim)  # [H, d_h, d]
        context = torch.einsum("bhi,hoi->bho", weights @ fused, heads)  # [B, H, d_h]
        context = context + weights.sum(-1, keepdim=True) * value.bias.view(self.heads, -1)
        return self.attribute_out(context.flatten(1))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.dim}, heads={self.heads}, fusion={self.fusion.kind}, "
                f"fused={self.fused}, untied_positions={self.untied_positions})")


def unpack(packing: Packing, x: Tensor) -> Tensor:
    """``[N, *]`` packed real clicks -> ``[B, L, *]``; a shared ``[1, L, *]`` stream as it is."""
    return packing.unpack(x) if x.dim() == 2 else x


def select_rows(x: Tensor, rows: Tensor) -> Tensor:
    """``[B, *]`` row ``rows[b]`` of every sequence ``b`` of ``x [B, L, *]``."""
    return x[torch.arange(rows.size(0), device=rows.device), rows]


__all__ = ["UntiedFusedAttention", "select_rows"]
