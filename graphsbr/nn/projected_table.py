r"""A node table kept as its factors :math:`H = Z W^\top + b`, so that :math:`W` is applied only where it is read."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class ProjectedTable:
    r"""The table :math:`H = Z W^\top + b\,(+ R)` (row ``padding_idx`` zero), never built in full while training.

    A graph attention layer with one head computes :math:`H = A(\alpha)\,X W^\top + b =
    \bigl(A(\alpha) X\bigr) W^\top + b`: the aggregation runs on the inputs and the projection can wait. A model that
    reads a few rows of :math:`H` (the clicks of a batch) and scores queries :math:`q` against all of them,
    :math:`q H^\top = (q W) Z^\top + q b`, then applies :math:`W` to those rows and queries only, instead of to every
    node (over 43k items and :math:`d = 256`, 5.6 GFLOP forward and twice that backward per step). The results are
    the full table's up to float rounding.

    Args:
        rows: ``[N, d_in]`` :math:`Z` (with ``weight=None``: :math:`H` itself, its padding row already zero).
        weight: ``[d, d_in]`` :math:`W`, or ``None``.
        bias: ``[d]`` :math:`b`, or ``None``.
        padding_idx: the row that reads as zero (``None``: none).
        residual: ``[N, d]`` a table :math:`R` added to :math:`Z W^\top + b` (a residual connection), or ``None``.
        row_scale: ``[N]`` a factor each row of :math:`H` is multiplied by (:meth:`unit` sets it), or ``None``.
    """

    def __init__(self, rows: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
                 padding_idx: int | None = None, residual: Tensor | None = None, row_scale: Tensor | None = None):
        self.rows, self.weight, self.bias, self.padding_idx = rows, weight, bias, padding_idx
        self.residual, self.row_scale = residual, row_scale

    @property
    def factored(self) -> bool:
        return self.weight is not None

    def __len__(self) -> int:
        return self.rows.size(0)

    def __getitem__(self, index: Tensor) -> Tensor:
        """``H[index]``: ``[*index.shape, d]``."""
        h = self.rows[index]
        if self.factored:
            h = F.linear(h, self.weight, self.bias)
            if self.residual is not None:
                h = h + self.residual[index]
            if self.padding_idx is not None:
                h = h * (index != self.padding_idx).unsqueeze(-1).to(h.dtype)
        return h if self.row_scale is None else h * self.row_scale[index].unsqueeze(-1)

    def mean(self, index: Tensor) -> Tensor:
        r"""``[*index.shape[:-1], d]`` the mean of the rows ``H[index]`` over the last axis of ``index``, skipping
        ``padding_idx`` entries (0 where a row has none). A factored table averages :math:`Z`'s rows first and projects
        the means, :math:`\bar h = \bar z W^\top + b` (the projection is linear): :math:`W` is applied once per mean
        instead of once per row."""
        real = torch.ones_like(index, dtype=torch.bool) if self.padding_idx is None else index != self.padding_idx
        weights = real.to(self.rows.dtype).unsqueeze(-1)  # [..., K, 1]
        count = weights.sum(-2)  # [..., 1]
        average = lambda table: (table[index] * weights).sum(-2) / count.clamp(min=1)
        if self.row_scale is not None:  # rows scaled one by one: no mean to project
            return average(self)
        if not self.factored:
            return average(self.rows)
        h = F.linear(average(self.rows), self.weight, self.bias) * (count > 0).to(self.rows.dtype)
        return h if self.residual is None else h + average(self.residual)

    def scores(self, query: Tensor) -> Tensor:
        """``query @ H.T``: ``[B, d]`` -> ``[B, N]`` (0 in the padding column)."""
        if not self.factored:
            scores = query @ self.rows.T
            return scores if self.row_scale is None else scores * self.row_scale
        scores = (query @ self.weight) @ self.rows.T  # [B, N]
        if self.residual is not None:
            scores = scores + query @ self.residual.T
        if self.bias is not None:
            scores = scores + (query @ self.bias).unsqueeze(1)
        if self.row_scale is not None:
            scores = scores * self.row_scale
        if self.padding_idx is None:
            return scores
        return scores.index_fill_(1, torch.tensor([self.padding_idx], device=scores.device), 0.0)

    def unit(self, eps: float = 1e-12) -> ProjectedTable:
        r"""The table with unit rows, :math:`H_j / \max(\lVert H_j \rVert, \epsilon)` (as ``F.normalize``), in float32.

        A factored table stays factored: its rows' norms come from the quadratic form
        :math:`\lVert W z + b \rVert^2 = z^\top (W^\top W) z + 2 (W^\top b)^\top z + b^\top b`, one product over the
        rows forward and one backward (:func:`row_quadratic_form`) against three for building and normalising :math:`H`,
        and the scores are :meth:`scores` divided column by column. Up to float rounding, the same values and gradients
        as normalising :meth:`full` (the form loses precision only where :math:`W z \approx -b`)."""
        if not self.factored or self.residual is not None or self.row_scale is not None:
            return ProjectedTable(F.normalize(self.full().float(), dim=-1, eps=eps), padding_idx=self.padding_idx)
        with torch.autocast(self.rows.device.type, enabled=False):  # float32: half-precision squares overflow
            rows, weight = self.rows.float(), self.weight.float()
            if self.bias is None:
                squared = row_quadratic_form(rows, weight.T @ weight)
            else:
                bias = self.bias.float()
                squared = row_quadratic_form(rows, weight.T @ weight, weight.T @ bias) + bias @ bias
            row_scale = squared.clamp(min=eps * eps).rsqrt()
        return ProjectedTable(self.rows, self.weight, self.bias, self.padding_idx, row_scale=row_scale)

    def full(self) -> Tensor:
        """``H [N, d]`` in full."""
        if not self.factored and self.row_scale is None:
            return self.rows
        return self[torch.arange(len(self), device=self.rows.device)]

    def detach(self) -> ProjectedTable:
        """The full table, detached (row scales applied)."""
        return ProjectedTable(self.full().detach(), padding_idx=self.padding_idx)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.rows.shape))
        return f"{self.__class__.__name__}(rows={shape}, factored={self.factored})"


def row_quadratic_form(rows: Tensor, gram: Tensor, linear: Tensor | None = None) -> Tensor:
    r"""``[N]`` :math:`z_j^\top G z_j + 2 c^\top z_j` for the rows of ``Z [N, d]``, a symmetric ``G [d, d]`` and
    ``c [d]`` (or ``None``: 0). The backward reuses the forward's :math:`y_j = G z_j + c`
    (:math:`\partial / \partial z_j = 2 y_j` for a symmetric :math:`G`) and computes
    :math:`\partial / \partial G = Z^\top \mathrm{diag}(g) Z`: one product over the rows each way, where autograd
    through ``(Z * (Z @ G)).sum(-1)`` takes three."""
    return RowQuadraticForm.apply(rows, gram, linear)


class RowQuadraticForm(torch.autograd.Function):
    """The autograd function of :func:`row_quadratic_form`."""

    @staticmethod
    def forward(ctx, rows: Tensor, gram: Tensor, linear: Tensor | None = None) -> Tensor:
        product = rows @ gram if linear is None else torch.addmm(linear, rows, gram)  # [N, d] y
        ctx.save_for_backward(rows, product)
        squared = (rows * product).sum(-1)  # z^T G z + c^T z
        return squared if linear is None else squared + rows @ linear

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        rows, product = ctx.saved_tensors
        grad_rows = 2 * grad.unsqueeze(-1) * product if ctx.needs_input_grad[0] else None
        grad_gram = rows.T @ (grad.unsqueeze(-1) * rows) if ctx.needs_input_grad[1] else None
        grad_linear = 2 * (rows.T @ grad) if ctx.needs_input_grad[2] else None
        return grad_rows, grad_gram, grad_linear
