r"""SRIM's direct multi-head self-attention: only the queries are transformed (Liang & Yang, SRIM eq. 7)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .attention import attention_mask, split_heads
from .dropout import dropout
from .packing import Packing


class DirectAttention(nn.Module):
    r"""Multi-head self-attention whose keys and values are the input sequence itself (SRIM eq. 7).

    .. math::
        \hat S = \big[\mathrm{head}_1; \dots; \mathrm{head}_H\big], \qquad
        \mathrm{head}_h = \mathrm{softmax}\Big(\frac{(S W^Q)_h\, S_h^\top}{\sqrt{d / H}} + M\Big) S_h,

    with :math:`S \in \mathbb R^{L \times d}` the session's item sequence, :math:`X_h` the :math:`h`-th block of
    :math:`d / H` columns of :math:`X`, :math:`W^Q \in \mathbb R^{d \times d}` (no bias) the only parameter, and
    :math:`M` the mask (:math:`-\infty` at padding keys and, when causal, at later positions). There is no value
    or output projection: :math:`K = V = S`. Since :math:`(S W^Q) S^\top` is not symmetric, the roles of attending
    and attended item differ, which the paper argues :math:`Q = K` cannot do.

    With ``transform_query=False`` (SRIM-DirAtt of Table 3, "LinAtt" of Fig. 5) :math:`Q = K = V = S`: the layer
    has no parameter.

    Args:
        dim: the size :math:`d` of the sequence (and of the output).
        heads: number of heads :math:`H` (``dim`` must be a multiple of it).
        dropout: dropout on the attention weights.
        transform_query: learn :math:`W^Q` (the direct attention); ``False`` uses :math:`Q = S`.

    Shapes:
        input: ``x [B, L, dim]``, ``key_padding_mask [B, L]`` bool (True at real clicks), optionally its
        :class:`~graphsbr.nn.Packing` (found with ``nonzero`` when not given).
        output: ``[B, L, dim]`` (zeros at padding).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, transform_query: bool = True):
        super().__init__()
        if heads < 1 or dim % heads:
            raise ConfigError(f"attention size {dim} is not a multiple of the number of heads {heads}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"attention dropout must lie in [0, 1), got {dropout}")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.query = nn.Linear(dim, dim, bias=False) if transform_query else None  # W^Q
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.query is not None:
            nn.init.xavier_uniform_(self.query.weight)

    def forward(self, x: Tensor, key_padding_mask: Tensor, causal: bool = False, packing: Packing | None = None
                ) -> Tensor:
        if self.query is None:
            query = x
        else:
            packing = packing or Packing(key_padding_mask)  # the projection runs on the real clicks only
            query = packing.unpack(self.query(packing.pack(x)))
        keys = split_heads(x, self.heads)  # K = V = S, [B, H, L, d/H]
        scores = split_heads(query, self.heads) @ keys.transpose(-1, -2) / math.sqrt(self.dim // self.heads)
        scores = scores.masked_fill(~attention_mask(key_padding_mask, causal), torch.finfo(scores.dtype).min)
        weights = dropout(torch.softmax(scores, -1), self.dropout, self.training)  # [B, H, L, L]
        context = (weights @ keys).transpose(1, 2).flatten(2)  # [B, L, d]
        return context * key_padding_mask.unsqueeze(-1).to(context.dtype)

    def __repr__(self) -> str:
        kind = "direct" if self.query is not None else "Q=K"
        return f"{type(self).__name__}({self.dim}, heads={self.heads}, {kind})"


__all__ = ["DirectAttention"]
