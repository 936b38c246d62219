"""Products of a constant sparse matrix with dense features, safe under autocast.

Sparse kernels have no bfloat16 / float16 versions (on CPU none, on CUDA not for every layout), and autocast would
cast a sparse matrix to the lower precision along with the dense operand. These products run in float32 with autocast
off and hand back float32; gradients reach the dense input in its own dtype.
"""
from __future__ import annotations

import torch
from torch import Tensor


def sparse_product(matrix: Tensor, dense: Tensor, transposed: Tensor | None = None) -> Tensor:
    """``matrix @ dense`` in float32 for a constant sparse ``matrix`` (``[N, M]``, COO or CSR) and ``dense [M, C]``.

    Given ``transposed`` (``matrix.T``, both CSR), the gradient is ``transposed @ grad``: on CPU a CSR product is about
    5 times faster than a COO one, and torch's own backward of a CSR product is slower than both. Without it,
    :func:`torch.sparse.mm` and its backward.
    """
    if transposed is None:
        with torch.autocast(dense.device.type, enabled=False):
            return torch.sparse.mm(matrix, dense.float())
    return _ConstantSparseProduct.apply(matrix, transposed, dense)


class _ConstantSparseProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, matrix: Tensor, transposed: Tensor, dense: Tensor) -> Tensor:
        ctx.transposed, ctx.dtype = transposed, dense.dtype
        with torch.autocast(dense.device.type, enabled=False):
            return matrix @ dense.float()

    @staticmethod
    def backward(ctx, grad: Tensor):
        with torch.autocast(grad.device.type, enabled=False):
            return None, None, (ctx.transposed @ grad.float()).to(ctx.dtype)
