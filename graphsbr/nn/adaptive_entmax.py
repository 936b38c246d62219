r"""Adaptive sparse attention: :math:`\alpha`-entmax attention with a learned, per-session :math:`\alpha` (A²D-MTL
eq. 11–15, after DSAN, Yuan et al. AAAI 2021).

:math:`\alpha`-entmax (Peters et al., ACL 2019) maps scores :math:`z` to the distribution

.. math::
    \alpha\text{-entmax}(z) = \operatorname{argmax}_{p \in \Delta} \; p^\top z + H^T_\alpha(p), \qquad
    p_i = [(\alpha - 1) z_i - \tau]_+^{1 / (\alpha - 1)},

softmax as :math:`\alpha \to 1`, sparsemax at :math:`\alpha = 2`; in between, low scores get exactly zero weight.
:func:`entmax_bisect` finds the threshold :math:`\tau` by bisection (the ``entmax`` package's search, in fewer
ops per step) and differentiates in closed form with respect to both :math:`z` and :math:`\alpha`, so
:math:`\alpha` can be learned per session.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .dropout import Dropout
from .packing import Packing

#: Bisection steps: the search interval of :math:`\tau` has length at most 1 and halves each step, so 25 steps
#: reach float32's resolution.
ENTMAX_ITERATIONS = 25
#: A learned :math:`\alpha` lies in :math:`[1 + \epsilon, 2 - \epsilon]`: the bisection divides by
#: :math:`\alpha - 1` and the gradient with respect to :math:`\alpha` by :math:`(\alpha - 1)^2`.
ALPHA_MARGIN = 0.01


class EntmaxBisect(torch.autograd.Function):
    r""":math:`\alpha`-entmax by bisection on :math:`\tau` (forward) and its closed-form Jacobian products (backward).

    Forward, on :math:`x = (\alpha - 1) z` with :math:`m = \max_i x_i` and :math:`d` entries: :math:`\tau` starts
    in :math:`[m - 1, m - d^{1 - \alpha}]`, which holds the root of :math:`f(\tau) = \sum_i [x_i - \tau]_+^{1/(\alpha
    - 1)} - 1`; each of the ``n_iter`` steps halves the interval, keeping the half where :math:`f` changes sign;
    the output is :math:`p` at the last midpoint, divided by its sum. Every slice at once, in place.

    Backward (Peters et al., "Sparse Sequence-to-Sequence Models", 2019, for :math:`z`; Correia et al., "Adaptively
    Sparse Transformers", 2019, for :math:`\alpha`): with :math:`s_i = p_i^{2 - \alpha}` on the support (0 off it),
    :math:`\tilde s = s / \sum_j s_j` and :math:`H = \sum_j p_j \log p_j`,

    .. math::
        \frac{\partial L}{\partial z} = s \odot (g - \tilde s^\top g), \qquad
        \frac{\partial L}{\partial \alpha} = \sum_i g_i \Bigl(\frac{p_i - \tilde s_i}{(\alpha - 1)^2}
            - \frac{p_i \log p_i - \tilde s_i H}{\alpha - 1}\Bigr).

    Use it through :func:`entmax_bisect`.
    """

    @staticmethod
    def forward(ctx, scores: Tensor, alpha: Tensor, dim: int, n_iter: int) -> Tensor:
        gap = alpha - 1
        x = scores * gap
        exponent = gap.reciprocal()
        top = x.amax(dim, keepdim=True)
        tau = top - 1  # the interval's low end
        width = (top - (1 / scores.size(dim)) ** gap).sub_(tau)  # its length, rounded as the entmax package does
        one = torch.ones((), dtype=x.dtype, device=x.device)
        p, middle = torch.empty_like(x), torch.empty_like(tau)
        for step in range(1, n_iter + 1):  # in place, into buffers: 8 dispatched ops a step
            torch.add(tau, width, alpha=0.5**step, out=middle)
            torch.sub(x, middle, out=p).clamp_min_(0).pow_(exponent)
            total = p.sum(dim, keepdim=True)
            torch.where(total >= one, middle, tau, out=tau)
        p.div_(total)  # p and its sum at the last midpoint
        ctx.dim = dim
        ctx.save_for_backward(p, alpha)
        return p

    @staticmethod
    def backward(ctx, grad: Tensor):
        p, alpha = ctx.saved_tensors
        dim, gap = ctx.dim, alpha - 1
        s = torch.where(p > 0, p.pow(1 - gap), 0)  # p^(2 - alpha) on the support (0 ** 0 is 1 at alpha = 2)
        skewed = s / s.sum(dim, keepdim=True)
        grad_scores = (grad - (grad * skewed).sum(dim, keepdim=True)).mul_(s)
        if not ctx.needs_input_grad[1]:
            return grad_scores, None, None, None
        entropy_terms = torch.special.xlogy(p, p)  # p log p, 0 where p = 0
        negentropy = entropy_terms.sum(dim, keepdim=True)
        terms = (p - skewed).div_(gap * gap).sub_(entropy_terms.sub_(skewed * negentropy).div_(gap))
        grad_alpha = (grad * terms).sum(dim, keepdim=True).sum_to_size(alpha.shape)
        return grad_scores, grad_alpha, None, None


def entmax_bisect(scores: Tensor, alpha: Tensor | float, dim: int = -1, n_iter: int = ENTMAX_ITERATIONS) -> Tensor:
    r""":math:`\alpha`-entmax of ``scores`` along ``dim`` by ``n_iter`` bisection steps (:class:`EntmaxBisect`),
    differentiable with respect to ``scores`` and a tensor ``alpha``. The same search as the ``entmax`` package's
    ``entmax_bisect``, so the same outputs and gradients up to rounding (``tests/nn/test_entmax.py``).

    Args:
        scores: float32 or float64 scores; ``-inf`` entries get exactly 0 (at least one finite per slice).
        alpha: a float in :math:`(1, 2]`, or a tensor broadcastable to ``scores`` with size 1 along ``dim``.
        dim: the dimension that sums to one.

    Shapes:
        output: as ``scores``.
    """
    if not isinstance(alpha, Tensor):  # in the scores' precision, as the entmax package reads it
        alpha = torch.full((), alpha, dtype=scores.dtype, device=scores.device)
    return EntmaxBisect.apply(scores, alpha, dim, n_iter)


def masked_entmax(scores: Tensor, mask: Tensor, alpha: Tensor | float | None, dim: int = -1) -> Tensor:
    r""":math:`\alpha`-entmax of ``scores`` along ``dim`` over the entries where ``mask`` is True (the others get
    exactly 0); ``alpha=None`` gives the softmax.

    Args:
        scores: ``[B, *]`` scores (computed in float32).
        mask: broadcastable to ``scores``; True where an entry may take weight (at least one per slice).
        alpha: ``None`` (softmax), a float in :math:`(1, 2]`, or ``[B]`` (or ``[B, 1]``) one :math:`\alpha` per
            batch element.
        dim: the dimension that sums to one.

    Shapes:
        output: as ``scores``, float32.
    """
    scores = scores.float().masked_fill(~mask, float("-inf"))
    if alpha is None:
        return torch.softmax(scores, dim)
    if isinstance(alpha, Tensor):
        alpha = alpha.float().view(-1, *[1] * (scores.dim() - 1))  # [B, 1, ...]
    return entmax_bisect(scores, alpha, dim)


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
