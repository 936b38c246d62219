r"""ASIF's homogeneous information extraction (HIE): the part of the attribute states that agrees in sign with the
item states, coordinate by coordinate, in an orthonormal basis of the item states of each sequence."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .init import INIT_STD
from .untied_attention import select_rows


class HomogeneousInformationExtraction(nn.Module):
    r"""Homogeneous information extraction (Wang et al., WWW '24 Companion, ASIF §3.3.2, eq. 10–12).

    Per sequence, with :math:`h_X, h_A \in \mathbb R^{n \times d}` the item and attribute hidden states and
    :math:`W_r \in \mathbb R^{n \times r}` a learned map that reduces the sequence axis to :math:`r` columns:

    .. math::
        h_X^\top W_r = Q R, \qquad
        \mathrm{Proj}(h_X) = h_X Q, \quad \mathrm{Proj}(h_A) = h_A Q \quad (10),

    .. math::
        \widetilde{\mathrm{Proj}}(h_A) = \phi\big(\mathrm{Proj}(h_X) \odot \mathrm{Proj}(h_A)\big) \odot
        \mathrm{Proj}(h_A) \quad (11), \qquad
        h_A^* = \widetilde{\mathrm{Proj}}(h_A)\, Q^\top \quad (12),

    with :math:`Q \in \mathbb R^{d \times r}` orthonormal (the reduced QR decomposition) and :math:`\phi` the
    indicator of a positive value: a coordinate of :math:`h_A` is kept where it has the sign of :math:`h_X`'s. One
    batched :func:`torch.linalg.qr` decomposes every sequence of the batch at once.

    Padding and short sequences: padded rows of :math:`h_X` and :math:`h_A` must be zero (the attention layers
    return zeros at padding), so they add nothing to :math:`h_X^\top W_r` and get :math:`h_A^* = 0`; a batch
    narrower than ``max_len`` uses the first rows of :math:`W_r`. A sequence whose item states span fewer than
    :math:`r` dimensions (fewer than :math:`r` clicks, or repeated states) gives a rank-deficient
    :math:`h_X^\top W_r`: the columns of :math:`Q` that add no new direction (:math:`|R_{jj}|` below
    :math:`\sqrt{\epsilon}` times the largest :math:`|R_{kk}|`, :math:`\epsilon` the dtype's machine epsilon) are
    arbitrary completions of the basis, not coordinates of the item states, and are never kept. The gradient of
    the decomposition is the usual one (as autograd's) with those :math:`|R_{jj}|` raised to that threshold, so
    that it stays finite; it is exact wherever the basis is well defined. The decomposition runs in float32 at
    least (no half-precision QR).

    Args:
        max_len: :math:`n`, the widest batch (rows of :math:`W_r`).
        num_bases: :math:`r`, the number of orthonormal bases (``1 <= r <= min(n, dim)``).
        dim: :math:`d`, the size of the hidden states.

    Shapes:
        input: ``h_x [B, L, dim]``, ``h_a [B, L, dim]`` (``L <= max_len``, zeros at padding); or, with ``rows [B]``
        (the read-out of a last layer), ``h_a [B, dim]`` at row ``rows[b]`` of each sequence (the basis still comes
        from every row of ``h_x``).
        output: ``h_a_star`` the shape of ``h_a`` (zeros at padding).
    """

    def __init__(self, max_len: int, num_bases: int, dim: int):
        super().__init__()
        if not 1 <= num_bases <= min(max_len, dim):
            raise ConfigError(f"num_bases (r) must lie in 1..min(max_len, dim) = 1..{min(max_len, dim)}, "
                              f"got {num_bases}")
        self.max_len, self.num_bases, self.dim = max_len, num_bases, dim
        self.reduce = nn.Parameter(torch.empty(max_len, num_bases))  # W_r
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.reduce, std=INIT_STD)

    def basis(self, h_x: Tensor) -> tuple[Tensor, Tensor]:
        """``Q [B, dim, r]`` of eq. 10 and ``[B, r]`` True at its columns that are coordinates of ``h_x``."""
        length = h_x.size(1)
        if length > self.max_len:
            raise ValueError(f"sequence of width {length} exceeds max_len={self.max_len}")
        dtype = torch.promote_types(h_x.dtype, torch.float32)
        reduced = h_x.to(dtype).transpose(1, 2) @ self.reduce[:length].to(dtype)  # h_X^T W_r, [B, d, r]
        q, r = StableQR.apply(reduced)
        return q, new_directions(r)

    def forward(self, h_x: Tensor, h_a: Tensor, rows: Tensor | None = None) -> Tensor:
        with torch.autocast(h_x.device.type, enabled=False):  # no half-precision QR
            q, directions = self.basis(h_x)
            if rows is not None:  # h_a at one row per sequence: [B, 1, d]
                h_x, h_a = select_rows(h_x, rows).unsqueeze(1), h_a.unsqueeze(1)
            proj_x = h_x.to(q.dtype) @ q  # eq. 10, [B, L, r]
            proj_a = h_a.to(q.dtype) @ q
            keep = (proj_x * proj_a > 0) & directions.unsqueeze(1)  # phi of eq. 11
            h_a_star = ((proj_a * keep) @ q.transpose(1, 2)).to(h_a.dtype)  # eq. 12, [B, L, d]
            return h_a_star if rows is None else h_a_star.squeeze(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_len={self.max_len}, num_bases={self.num_bases}, dim={self.dim})"


def rank_threshold(r: Tensor) -> Tensor:
    """``[B, 1]`` the smallest :math:`|R_{jj}|` of a new direction: :math:`\\sqrt\\epsilon \\max_k |R_{kk}|`."""
    diagonal = r.diagonal(dim1=-2, dim2=-1).abs()
    info = torch.finfo(r.dtype)
    return (diagonal.amax(-1, keepdim=True) * info.eps ** 0.5).clamp(min=info.tiny)


def new_directions(r: Tensor) -> Tensor:
    """``[B, r]`` True where column :math:`j` of :math:`Q` spans a new direction (:math:`|R_{jj}|` above
    :func:`rank_threshold`)."""
    diagonal = r.diagonal(dim1=-2, dim2=-1).abs()
    return diagonal > rank_threshold(r)


class StableQR(torch.autograd.Function):
    r"""The reduced QR decomposition :math:`A = QR` (:func:`torch.linalg.qr`, ``A [*, m, n]`` with :math:`m \ge n`)
    whose backward keeps :math:`|R_{jj}|` at least :func:`rank_threshold`, so that a rank-deficient :math:`A`
    gets a finite gradient. The backward is the standard one (TensorFlow's ``QrGrad``; autograd's for full-rank
    :math:`A`):

    .. math::
        \bar A = Q\big(\bar R + \mathrm{tril}(Q^\top \bar Q - \bar Q^\top Q + R \bar R^\top - \bar R R^\top)
        R^{-\top}\big) + (\bar Q - Q Q^\top \bar Q) R^{-\top}.
    """

    @staticmethod
    def forward(ctx, a: Tensor) -> tuple[Tensor, Tensor]:
        q, r = torch.linalg.qr(a)
        ctx.save_for_backward(q, r)
        return q, r

    @staticmethod
    def backward(ctx, grad_q: Tensor, grad_r: Tensor) -> Tensor:
        q, r = ctx.saved_tensors
        grad_q = torch.zeros_like(q) if grad_q is None else grad_q
        grad_r = torch.zeros_like(r) if grad_r is None else grad_r
        diagonal = r.diagonal(dim1=-2, dim2=-1)
        sign = torch.where(diagonal < 0, -1.0, 1.0).to(r.dtype)
        safe = sign * torch.maximum(diagonal.abs(), rank_threshold(r))
        r = r.triu(1) + torch.diag_embed(safe)

        def times_inverse_transpose(x: Tensor) -> Tensor:  # x R^{-T}
            return torch.linalg.solve_triangular(r.mT, x, upper=False, left=False)

        qgq = q.mT @ grad_q
        rgr = r @ grad_r.mT
        lower = torch.tril(qgq - qgq.mT + rgr - rgr.mT)
        return q @ (grad_r + times_inverse_transpose(lower)) + times_inverse_transpose(grad_q - q @ qgq)


__all__ = ["HomogeneousInformationExtraction", "StableQR"]
