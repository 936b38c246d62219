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

    The item and attribute projections run on the real clicks only (:class:`~graphsbr.nn.Packing`), and
    :math:`h_X`, :math:`h_A` are zero at padding. A position stream shared by the batch (``[1, L, d]``) under a
    causal mask stays shared: every real query's keys are then real clicks (clicks are left-aligned), so
    :math:`h_P` is the same for every sequence and is computed once (``[1, L, d]``); otherwise it is computed per
    sequence (``[B, L, d]``).

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
        ``position [1 or B, L, dim]`` (with untied positions only).
        output: ``(h_x [B, L, dim], h_a [B, L, dim] or None, h_p [1 or B, L, dim] or None)``.
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
                position: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if (position is not None) != self.untied_positions:
            raise ValueError(f"{type(self).__name__}(untied_positions={self.untied_positions}) "
                             f"{'needs' if self.untied_positions else 'takes no'} position stream")
        packing = Packing(key_padding_mask)  # item and attribute projections on the real clicks only
        x_real, a_real = packing.pack(x), packing.pack(a)  # [N, d]
        fused = self.fusion([x_real, a_real])  # F(X, A), [N, d]
        c_xa = self.scores(packing, *([fused] if self.fused else [x_real, a_real]))  # [B, H, L, L]
        mask = attention_mask(key_padding_mask, causal)
        item_scores, h_p = c_xa, None
        if self.position_qk is not None:
            c_p = self.scores(None, position)  # [1 or B, H, L, L]
            item_scores = c_xa + c_p
            if self.position_value is not None:
                h_p = self.position_state(c_p, position, mask, causal)
        h_x = self.attend(item_scores, mask, packing, self.item_value(x_real), self.item_out)  # eq. 3
        h_a = None
        if self.attribute_value is not None:
            h_a = self.attend(c_xa, mask, packing, self.attribute_value(fused), self.attribute_out)  # eq. 4
        return h_x, h_a, h_p

    def scores(self, packing: Packing | None, *streams: Tensor) -> Tensor:
        """``[B, H, L, L]`` the sum of the streams' query-key products over :math:`\\sqrt{d_h}` (``packing``: the
        streams are packed real clicks; ``None``: a position stream ``[1 or B, L, d]``)."""
        modules = [self.position_qk] if packing is None else [self.qk, self.attribute_qk][:len(streams)]
        queries, keys = [], []
        for qk, stream in zip(modules, streams):
            query, key = qk(stream)
            if packing is not None:
                query, key = packing.unpack(query), packing.unpack(key)
            queries.append(split_heads(query, self.heads))  # [B, H, L, d_h]
            keys.append(split_heads(key, self.heads))
        query, key = torch.cat(queries, -1), torch.cat(keys, -1)
        return query @ key.transpose(-1, -2) / math.sqrt(self.dim // self.heads)

    def weights(self, scores: Tensor, mask: Tensor) -> Tensor:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return dropout(torch.softmax(scores, -1), self.dropout, self.training)

    def attend(self, scores: Tensor, mask: Tensor, packing: Packing, values: Tensor, out: nn.Linear) -> Tensor:
        """``[B, L, d]`` the heads' weighted sums of the packed ``values [N, d]``, projected by ``out`` (zeros at
        padding)."""
        context = self.weights(scores, mask) @ split_heads(packing.unpack(values), self.heads)  # [B, H, L, d_h]
        return packing.unpack(out(packing.pack(context.transpose(1, 2).flatten(2))))

    def position_state(self, c_p: Tensor, position: Tensor, mask: Tensor, causal: bool) -> Tensor:
        """:math:`h_P` of eq. 5: ``[1, L, d]`` for a shared stream under a causal mask, else ``[B, L, d]``."""
        if position.size(0) == 1 and causal:
            ones = torch.ones(1, position.size(1), dtype=torch.bool, device=position.device)
            mask = attention_mask(ones, causal=True)  # [1, 1, L, L]
        context = self.weights(c_p, mask) @ split_heads(self.position_value(position), self.heads)
        return self.position_out(context.transpose(1, 2).flatten(2))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.dim}, heads={self.heads}, fusion={self.fusion.kind}, "
                f"fused={self.fused}, untied_positions={self.untied_positions})")


__all__ = ["UntiedFusedAttention"]
