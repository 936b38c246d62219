r"""Adaptive sparse attention: :math:`\alpha`-entmax attention with a learned, per-session :math:`\alpha` (A²D-MTL
eq. 11–15, after DSAN, Yuan et al. AAAI 2021).

:math:`\alpha`-entmax (Peters et al., ACL 2019) maps scores :math:`z` to the distribution

.. math::
    \alpha\text{-entmax}(z) = \operatorname{argmax}_{p \in \Delta} \; p^\top z + H^T_\alpha(p), \qquad
    p_i = [(\alpha - 1) z_i - \tau]_+^{1 / (\alpha - 1)},

softmax as :math:`\alpha \to 1`, sparsemax at :math:`\alpha = 2`; in between, low scores get exactly zero weight.
The bisection of the :mod:`entmax` package computes it and its gradient with respect to both :math:`z` and
:math:`\alpha`, so :math:`\alpha` can be learned per session.
"""
from __future__ import annotations

import math

import torch
from entmax import entmax_bisect
from torch import Tensor, nn

from .dropout import Dropout
from .packing import Packing

#: Bisection steps: the search interval of :math:`\tau` has length at most 1 and halves each step, so 25 steps
#: reach float32's resolution.
ENTMAX_ITERATIONS = 25
#: A learned :math:`\alpha` lies in :math:`[1 + \epsilon, 2 - \epsilon]`: the bisection divides by
#: :math:`\alpha - 1` and the gradient with respect to :math:`\alpha` by :math:`(\alpha - 1)^2`.
ALPHA_MARGIN = 0.01


def masked_entmax(scores: Tensor, mask: Tensor, alpha: Tensor | float | None, dim: int = -1) -> Tensor:
    r""":math:`\alpha`-entmax of ``scores`` along ``dim`` over the entries where ``mask`` is True (the others get
    exactly 0); ``alpha=None`` gives the softmax.

    Args:
        scores: ``[B, *]`` scores (computed in float32).
        mask: broadcastable to ``scores``; True where an entry may take weight (at least one per slice).
        alpha: ``None`` (softmax), a float in :math:`(1, 2]`, or ``[B]`` one :math:`\alpha` per batch element.
        dim: the dimension that sums to one.

    Shapes:
        output: as ``scores``, float32.
    """
    scores = scores.float().masked_fill(~mask, float("-inf"))
    if alpha is None:
        return torch.softmax(scores, dim)
    if isinstance(alpha, Tensor):
        alpha = alpha.float().view(-1, *[1] * (scores.dim() - 1))  # [B, 1, ...]
    return entmax_bisect(scores, alpha, dim=dim, n_iter=ENTMAX_ITERATIONS)


class AdaptiveAlpha(nn.Module):
    r"""A per-session sparsity :math:`\alpha \in (1, 2)` from a session feature :math:`g` (DSAN's ``alpha_w``):

    .. math::
        \alpha = 1 + \epsilon + (1 - 2\epsilon)\, \sigma(w^\top g + b), \qquad \epsilon = \text{ALPHA\_MARGIN}

    Initialised with :math:`w \approx 0, b = 0`, i.e. :math:`\alpha \approx 1.5` (1.5-entmax) for every session.

    Args:
        in_dim: the size of :math:`g`.

    Shapes:
        input: ``[B, in_dim]``.
        output: ``[B]``.
    """

    def __init__(self, in_dim: int):
        super().__init__()
        self.in_dim = in_dim
        self.linear = nn.Linear(in_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, g: Tensor) -> Tensor:
        return 1.0 + ALPHA_MARGIN + (1.0 - 2 * ALPHA_MARGIN) * torch.sigmoid(self.linear(g).squeeze(-1).float())

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_dim})"


class AdaptiveEntmaxAttention(nn.Module):
    r"""Attention whose query is an MLP of the sequence, with the sequence itself as key and value, normalised by
    :math:`\alpha`-entmax, then a residual feed-forward block and LayerNorm (A²D-MTL eq. 11–13; DSAN's
    self-attention):

    .. math::
        S_\mathrm{trans} = \mathrm{Dropout}(\mathrm{ReLU}(W_\mathrm{MLP} S + b_\mathrm{MLP})), \qquad
        A = \alpha\text{-entmax}\Bigl(\frac{S_\mathrm{trans} S^\top}{\sqrt{d}}\Bigr) S, \qquad
        a = \mathrm{LN}(A + \mathrm{Dropout}(W_2\, \mathrm{ReLU}(W_1 A + b_1) + b_2))

    Padding keys take no weight; outputs at padding positions are zero. The position-wise layers run on the real
    positions only (:class:`~graphsbr.nn.packing.Packing`).

    Args:
        dim: the sequence's size :math:`d` (the query's size :math:`d'` equals it, as the product needs).
        dropout: on the query (eq. 11) and on the feed-forward output.

    Shapes:
        input: ``x [B, L, d]``, ``mask [B, L]`` (True at real positions), ``alpha``: ``None`` (softmax), a float,
        or ``[B]``; optionally the batch's :class:`~graphsbr.nn.packing.Packing` of ``mask``.
        output: ``[B, L, d]``.
    """

    def __init__(self, dim: int, dropout: float = 0.0):
        super().__init__()
        self.dim = dim
        self.query = nn.Linear(dim, dim)
        self.inner = nn.Linear(dim, dim)
        self.outer = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.query, self.inner, self.outer, self.norm):
            module.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor, alpha: Tensor | float | None, packing: Packing | None = None) -> Tensor:
        packing = packing or Packing(mask)  # position-wise layers on the real positions only
        query = packing.unpack(self.dropout(torch.relu(self.query(packing.pack(x)))))  # eq. 11, [B, L, d]
        scores = query @ x.transpose(1, 2) / math.sqrt(self.dim)  # [B, L, L]
        weights = masked_entmax(scores, mask[:, None, :], alpha)  # eq. 12 normalised as eq. 14
        attended = packing.pack(weights.to(x.dtype) @ x)  # [N, d]
        return packing.unpack(self.norm(attended + self.dropout(self.outer(torch.relu(self.inner(attended))))))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim}, dropout={self.dropout.p})"


class EntmaxReadout(nn.Module):
    r"""A sparse weighted sum over positions (A²D-MTL eq. 14–15): a score per position from the attention output
    :math:`a_t`, normalised by :math:`\alpha`-entmax, weights the values :math:`v_t`:

    .. math::
        \alpha = \alpha\text{-entmax}(w^\top a_t + b)_{t=1..T}, \qquad s = \alpha^\top v

    Args:
        dim: the size of :math:`a_t`.

    Shapes:
        input: ``a [B, L, dim]``, ``values [B, L, d_v]``, ``mask [B, L]``, ``alpha`` as in
        :class:`AdaptiveEntmaxAttention`.
        output: ``([B, d_v], [B, L])`` the readout and the weights (0 at padding).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.score = nn.Linear(dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.score.reset_parameters()

    def forward(self, a: Tensor, values: Tensor, mask: Tensor, alpha: Tensor | float | None) -> tuple[Tensor, Tensor]:
        weights = masked_entmax(self.score(a).squeeze(-1), mask, alpha)  # [B, L]
        return (weights.to(values.dtype).unsqueeze(-1) * values).sum(1), weights

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim})"
