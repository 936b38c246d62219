r"""Self-attention layers of the transformer models, with side information in the attention scores.

One layer, :class:`MultiHeadAttention`, computes attention whose scores are a sum of query-key products over
several streams; the side-information variants only decide which streams those are:

* :class:`MultiHeadAttention` — SASRec's scaled dot-product attention (queries and keys may come from another
  stream than the values, and extra streams may add their own score matrices);
* :class:`FusedAttention` — NOVA: queries and keys from the fusion (:class:`Fusion`) of the item stream, the side
  fields and the position; values from the item stream only;
* :class:`DecoupledAttention` — DIF-SR: one score matrix for the item stream, one per side field and one for the
  position, summed before the softmax; values from the item stream only;
* :class:`DecoupledConcatAttention` — COMIF's attention-level fusion (DIF-SR's ``concat``): the same score matrices
  fused by concatenation and a learned map over the key positions.

Every layer takes the item stream ``x [B, L, d]`` and a key padding mask ``[B, L]`` (True at real clicks), so that
padding is never attended to, and an optional causal switch (position :math:`i` sees positions :math:`\le i`).
Position-wise work (projections, fusion) runs on the real clicks only (:class:`Packing`: the mask's, passed as
``packing`` so that the host need not wait for the device to find them); outputs are zero at padding.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .dropout import dropout
from .fusion import Fusion
from .init import reset_linear
from .packing import Packing


def attention_mask(key_padding_mask: Tensor, causal: bool = False) -> Tensor:
    """``[B, 1, 1 or L, L]`` True where query :math:`i` may attend to key :math:`j`: the real clicks (and, when
    ``causal``, only those at positions :math:`\\le i`).

    :class:`MultiHeadAttention` fills the other scores with the dtype's lowest finite value rather than
    :math:`-\\infty`, so that a query row with no key left (a padding query under a causal mask over right-aligned
    padding) stays finite; its output is meaningless, and it is itself never attended to.
    """
    mask = key_padding_mask[:, None, None, :]  # [B, 1, 1, L]
    if not causal:
        return mask
    length = key_padding_mask.size(1)
    return mask & torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()  # [B, 1, L, L]


class QueryKey(nn.Module):
    r"""The queries and keys :math:`Q = S W^Q`, :math:`K = S W^K` of one stream :math:`S`, later split into
    :math:`H` heads of ``dim // heads``.

    Args:
        in_dim: the stream's size.
        heads: number of heads :math:`H` (``dim`` must be a multiple of it).
        dim: total query/key size.

    Shapes:
        input: ``[*, in_dim]``.
        output: two ``[*, dim]`` tensors.
    """

    def __init__(self, in_dim: int, heads: int, dim: int):
        super().__init__()
        if dim % heads:
            raise ConfigError(f"attention size {dim} is not a multiple of the number of heads {heads}")
        self.heads = heads
        self.query = nn.Linear(in_dim, dim)
        self.key = nn.Linear(in_dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_linear(self.query)
        reset_linear(self.key)

    def forward(self, stream: Tensor) -> tuple[Tensor, Tensor]:
        return self.query(stream), self.key(stream)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``[B, L, H*e]`` -> ``[B, H, L, e]``."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


class MultiHeadAttention(nn.Module):
    r"""Multi-head scaled dot-product attention whose scores may sum the query-key products of several streams.

    .. math::
        \mathrm{Attn}(X) = \big[\mathrm{head}_1; \dots; \mathrm{head}_H\big] W^O, \qquad
        \mathrm{head}_h = \mathrm{softmax}\Big(\frac{Q_h K_h^\top + \sum_{s} Q^{(s)}_h K^{(s)\top}_h}{\sqrt{d_h}}
        + M\Big) X W^V_h

    with :math:`Q = U W^Q`, :math:`K = U W^K` from the query-key input :math:`U` (the item stream :math:`X` itself
    unless another is given, as NOVA does), :math:`Q^{(s)} = S_s W^Q_s`, :math:`K^{(s)} = S_s W^K_s` from each extra
    stream :math:`S_s` (DIF-SR's side fields and position; their head size :math:`d_s / H` may differ from
    :math:`d_h = d / H`), and :math:`M` the mask (:math:`-\infty` at padding keys and, when causal, at later
    positions). Without extra streams this is SASRec's attention (Kang & McAuley, ICDM 2018). The summed
    score matrices are one product of the concatenated per-head queries and keys. Dropout acts on the attention
    weights. The projections run on the real clicks only (:class:`Packing`), and the output is zero at padding.

    Args:
        dim: the item stream's size :math:`d` (also the value and output size).
        heads: number of heads :math:`H`.
        dropout: dropout on the attention weights.
        qk_dim: the size of the query-key input :math:`U` (default ``dim``).
        stream_dims: the sizes :math:`d_s` of the extra query-key streams (each a multiple of ``heads``).

    Shapes:
        input: ``x [B, L, dim]``, ``key_padding_mask [B, L]`` bool (True at real clicks), optional
        ``qk_input [B, L, qk_dim]``, ``streams`` (``[B or 1, L, d_s]`` each) and ``packing`` (the
        :class:`Packing` of ``key_padding_mask``; found with ``nonzero`` when not given).
        output: ``[B, L, dim]`` (zeros at padding).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, qk_dim: int | None = None,
                 stream_dims: Sequence[int] = ()):
        super().__init__()
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.qk = QueryKey(qk_dim or dim, heads, dim)
        self.streams = nn.ModuleList([QueryKey(d, heads, d) for d in stream_dims])
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        MultiHeadAttention.reset_parameters(self)

    def reset_parameters(self) -> None:
        self.qk.reset_parameters()
        for stream in self.streams:
            stream.reset_parameters()
        reset_linear(self.value)
        reset_linear(self.out)

    def forward(self, x: Tensor, key_padding_mask: Tensor, causal: bool = False, qk_input: Tensor | None = None,
                streams: Sequence[Tensor] = (), packing: Packing | None = None) -> Tensor:
        if len(streams) != len(self.streams):
            raise ValueError(f"{type(self).__name__} expects {len(self.streams)} extra streams, got {len(streams)}")
        packing = packing or Packing(key_padding_mask)  # projections run on the real clicks only
        queries, keys = [], []
        for qk, stream in [(self.qk, x if qk_input is None else qk_input), *zip(self.streams, streams)]:
            query, key = qk(packing.pack(stream))
            queries.append(split_heads(packing.unpack(query), self.heads))  # [B, H, L, d_s / H]
            keys.append(split_heads(packing.unpack(key), self.heads))
        query, key = (torch.cat(queries, -1), torch.cat(keys, -1)) if streams else (queries[0], keys[0])
        value = split_heads(packing.unpack(self.value(packing.pack(x))), self.heads)  # [B, H, L, d_h]
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.dim // self.heads)  # [B, H, L, L]
        scores = scores.masked_fill(~attention_mask(key_padding_mask, causal), torch.finfo(scores.dtype).min)
        weights = dropout(torch.softmax(scores, -1), self.dropout, self.training)
        context = (weights @ value).transpose(1, 2).flatten(2)  # [B, L, d]
        return packing.unpack(self.out(packing.pack(context)))  # [B, L, d], zeros at padding

    def __repr__(self) -> str:
        extra = f", streams={[qk.query.out_features for qk in self.streams]}" if len(self.streams) else ""
        return f"{type(self).__name__}({self.dim}, heads={self.heads}{extra})"


class FusedAttention(MultiHeadAttention):
    r"""NOVA's non-invasive self-attention (Liu et al., AAAI 2021): queries and keys from the fused
    stream, values from the pure item stream, so side information shapes the attention weights but never enters
    the item representations.

    .. math::
        R = \mathcal F(X, A_1, \dots, A_m, P), \qquad
        \mathrm{NOVA}(X) = \mathrm{softmax}\Big(\frac{(R W^Q)(R W^K)^\top}{\sqrt{d_h}} + M\Big) X W^V

    per head, with :math:`\mathcal F` one of :class:`Fusion`'s functions, :math:`A_j` the side-field embeddings and
    :math:`P` the position embeddings (NOVA treats the position as behaviour side information). The side fields and
    positions are the same at every layer; only the item stream :math:`X` is updated by the layers.

    Args:
        dim: the size :math:`d` of the item stream and of every side stream.
        heads: number of heads.
        num_side: number of side streams :math:`m` (side fields, plus one for the position if it is passed).
        fusion: one of :data:`FUSIONS`.
        dropout: dropout on the attention weights.

    Shapes:
        input: ``x [B, L, dim]``, ``key_padding_mask [B, L]``, ``side``: ``m`` tensors ``[B, L, dim]``,
        ``position [1 or B, L, dim]`` (optional; counted in ``num_side``), ``packing`` as in
        :class:`MultiHeadAttention`.
        output: ``[B, L, dim]``.
    """

    def __init__(self, dim: int, heads: int, num_side: int, fusion: str = "sum", dropout: float = 0.0):
        super().__init__(dim, heads, dropout)
        self.fusion = Fusion(fusion, dim, num_side + 1)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.fusion.reset_parameters()

    def forward(self, x: Tensor, key_padding_mask: Tensor, causal: bool = False, side: Sequence[Tensor] = (),
                position: Tensor | None = None, packing: Packing | None = None) -> Tensor:
        packing = packing or Packing(key_padding_mask)  # fuse the real clicks only
        inputs = [packing.gather(t) for t in [x, *side] + ([position] if position is not None else [])]
        return super().forward(x, key_padding_mask, causal, qk_input=packing.unpack(self.fusion(inputs)),
                               packing=packing)


class DecoupledAttention(MultiHeadAttention):
    r"""DIF-SR's decoupled side-information attention (Xie et al., SIGIR 2022): each source has its
    own score matrix, and the matrices are summed before the softmax; values come from the item stream only.

    .. math::
        \mathrm{att}_{ID} = (X W^Q)(X W^K)^\top, \quad
        \mathrm{att}_{f_j} = (A_j W^Q_j)(A_j W^K_j)^\top, \quad
        \mathrm{att}_{P} = (P W^Q_P)(P W^K_P)^\top,

    .. math::
        \mathrm{DIF}(X) = \mathrm{softmax}\Big(\frac{\mathrm{att}_{ID} + \sum_j \mathrm{att}_{f_j}
        + \mathrm{att}_P}{\sqrt{d_h}} + M\Big) X W^V

    per head, with the fusion function :math:`\mathcal F` of the paper taken as the sum (its ``sum`` option; the
    authors' ``concat`` and ``gate`` options mix score rows of a fixed width ``max_len`` and are not provided). As in
    the authors' code the sum is scaled once by the item head size :math:`d_h = d / H`, each side stream has its own
    size :math:`d_j` (split into :math:`H` heads of :math:`d_j / H`), and the side and position embeddings are the
    same at every layer.

    Args:
        dim: the item stream's size :math:`d`.
        heads: number of heads :math:`H`.
        side_dims: the size :math:`d_j` of each side stream.
        position_dim: the size of the position stream (``None``: no position stream).
        dropout: dropout on the attention weights.

    Shapes:
        input: ``x [B, L, dim]``, ``key_padding_mask [B, L]``, ``side``: one ``[B, L, d_j]`` per side stream,
        ``position [1 or B, L, position_dim]``, ``packing`` as in :class:`MultiHeadAttention`.
        output: ``[B, L, dim]``.
    """

    def __init__(self, dim: int, heads: int, side_dims: Sequence[int], position_dim: int | None = None,
                 dropout: float = 0.0):
        dims = list(side_dims) + ([position_dim] if position_dim else [])
        super().__init__(dim, heads, dropout, stream_dims=dims)

    def forward(self, x: Tensor, key_padding_mask: Tensor, causal: bool = False, side: Sequence[Tensor] = (),
                position: Tensor | None = None, packing: Packing | None = None) -> Tensor:
        streams = list(side) + ([position] if position is not None else [])
        return super().forward(x, key_padding_mask, causal, streams=streams, packing=packing)


class DecoupledConcatAttention(DecoupledAttention):
    r"""Attention-level fusion whose score matrices are fused by concatenation (COMIF, Choi et al., IEEE Access
    2025, eq. 6 with :math:`\mathcal F_{attn} = \mathcal F_{concat}` of its eq. 13; DIF-SR's ``concat`` option): one
    score matrix per stream, as in :class:`DecoupledAttention`, but each query's score rows are concatenated and
    mapped back to one row by a learned linear map over the key positions; values come from the item stream only.

    .. math::
        \mathrm{Attn}_0 = (X W^Q)(X W^K)^\top, \qquad \mathrm{Attn}_s = (S_s W^Q_s)(S_s W^K_s)^\top
        \quad (s = 1, \dots, m),

    .. math::
        \mathrm{Attn}_{fusion} = \big[\mathrm{Attn}_0 \,\|\, \mathrm{Attn}_1 \,\|\, \dots \,\|\,
        \mathrm{Attn}_m\big] W + b, \qquad
        \mathrm{SA} = \mathrm{softmax}\Big(\frac{\mathrm{Attn}_{fusion}}{\sqrt{d_h}} + M\Big) X W^V

    per head, i.e. the fused score of query :math:`j` and key :math:`k` is
    :math:`\sum_s \sum_{k'} \mathrm{Attn}_s[j, k']\, W[s L_{max} + k', k] + b_k`, with
    :math:`W \in \mathbb R^{(m+1) L_{max} \times L_{max}}` and :math:`b \in \mathbb R^{L_{max}}` shared by the heads
    (the ``fusion_layer`` of the DIF-SR authors' code, which COMIF's attention-level fusion follows), key positions
    counted from the oldest click (clicks are left-aligned), and a batch narrower than :math:`L_{max}` using the
    leading block of :math:`W`. Fusing by concatenation must mix key positions to differ from the sum: a weighted
    sum :math:`\sum_s w_s \mathrm{Attn}_s` of whole matrices is the sum with :math:`W^Q_s` rescaled.

    Unlike the DIF-SR code, the scores of the keys a query may not attend to (padding and, when causal, later
    clicks) are set to 0 *before* the map, so that a query's fused scores read only the clicks it may see: the
    layer stays causal (sequence training) and padding does not change its output. The fused scores are masked
    again before the softmax. Like :class:`DecoupledAttention`, the sum is scaled once by the item head size
    :math:`d_h = d / H`, each stream :math:`S_s` has its own size :math:`d_s` (split into :math:`H` heads), and
    the streams are the same at every layer.

    Args:
        dim: the item stream's size :math:`d`.
        heads: number of heads :math:`H`.
        side_dims: the size :math:`d_s` of each side stream.
        max_len: :math:`L_{max}`, the widest batch (the number of key positions of :math:`W`).
        position_dim: the size of the position stream (``None``: no position stream).
        dropout: dropout on the attention weights.

    Shapes:
        input: ``x [B, L, dim]`` (``L <= max_len``), ``key_padding_mask [B, L]``, ``side``: one
        ``[B or 1, L, d_s]`` per side stream, ``position [1 or B, L, position_dim]``, ``packing`` as in
        :class:`MultiHeadAttention`.
        output: ``[B, L, dim]`` (zeros at padding).
    """

    def __init__(self, dim: int, heads: int, side_dims: Sequence[int], max_len: int,
                 position_dim: int | None = None, dropout: float = 0.0):
        super().__init__(dim, heads, side_dims, position_dim, dropout)
        self.max_len = max_len
        self.fusion = nn.Linear((len(self.streams) + 1) * max_len, max_len)
        reset_linear(self.fusion)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_linear(self.fusion)

    def forward(self, x: Tensor, key_padding_mask: Tensor, causal: bool = False, side: Sequence[Tensor] = (),
                position: Tensor | None = None, packing: Packing | None = None) -> Tensor:
        streams = [x, *side] + ([position] if position is not None else [])
        if len(streams) != len(self.streams) + 1:
            raise ValueError(f"{type(self).__name__} expects {len(self.streams)} extra streams, got {len(streams) - 1}")
        length = x.size(1)
        if length > self.max_len:
            raise ValueError(f"batch of width {length} exceeds max_len={self.max_len}")
        packing = packing or Packing(key_padding_mask)  # projections run on the real clicks only
        allowed = attention_mask(key_padding_mask, causal)  # [B, 1, 1 or L, L]
        scores = []
        for qk, stream in zip([self.qk, *self.streams], streams):
            query, key = qk(packing.pack(stream))
            query = split_heads(packing.unpack(query), self.heads)  # [B, H, L, d_s / H]
            key = split_heads(packing.unpack(key), self.heads)
            scores.append((query @ key.transpose(-1, -2)).masked_fill(~allowed, 0.0))  # Attn_s, [B, H, L, L]
        weight = self.fusion.weight.view(self.max_len, len(streams), self.max_len)[:length, :, :length]
        fused = torch.cat(scores, -1) @ weight.flatten(1).T + self.fusion.bias[:length]  # [B, H, L, L]
        fused = fused / math.sqrt(self.dim // self.heads)
        fused = fused.masked_fill(~allowed, torch.finfo(fused.dtype).min)
        weights = dropout(torch.softmax(fused, -1), self.dropout, self.training)
        value = split_heads(packing.unpack(self.value(packing.pack(x))), self.heads)  # [B, H, L, d_h]
        context = (weights @ value).transpose(1, 2).flatten(2)  # [B, L, d]
        return packing.unpack(self.out(packing.pack(context)))  # [B, L, d], zeros at padding

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, max_len={self.max_len})"


__all__ = ["DecoupledAttention", "DecoupledConcatAttention", "FusedAttention", "MultiHeadAttention", "QueryKey",
           "attention_mask", "split_heads"]
