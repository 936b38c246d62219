"""Dropout whose mask is drawn faster on CPU."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout, as :func:`torch.nn.functional.dropout`, with the mask drawn by :func:`torch.rand`.

    The same distribution (each element kept with probability :math:`1 - p` and scaled by :math:`1 / (1 - p)`), but
    about three times faster on CPU, where ``bernoulli_`` dominates the training step of a small transformer.
    Other devices use :func:`~torch.nn.functional.dropout`.
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    if p >= 1.0:
        return x * 0.0
    return x * (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` drawing its mask with :func:`dropout` (faster on CPU)."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
