"""NOVA's fusion functions of same-sized inputs (sum, concat, gate)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .init import reset_linear

#: The fusion functions of NOVA (Liu et al., AAAI 2021, "fusion operations").
FUSIONS = ("sum", "concat", "gate")


class Fusion(nn.Module):
    r"""NOVA's fusion functions of :math:`m` same-sized inputs :math:`f_1, \dots, f_m` (Liu et al., AAAI 2021).

    .. math::
        \mathcal F_{sum} = \sum_i f_i, \qquad
        \mathcal F_{concat} = \mathrm{FC}(f_1 \oplus \dots \oplus f_m), \qquad
        \mathcal F_{gate} = \sum_i G^{(i)} f_i, \quad G = \sigma(F W^F)

    where :math:`F = [f_1; \dots; f_m] \in \mathbb R^{m \times d}`, :math:`W^F \in \mathbb R^{d \times 1}` and
    :math:`\sigma` the logistic sigmoid (one gate per input and click). ``FC`` is a linear layer
    :math:`md \to d` with a bias.

    Args:
        kind: one of :data:`FUSIONS`.
        dim: the size :math:`d` of every input and of the output.
        num_inputs: :math:`m`.

    Shapes:
        input: a sequence of ``m`` tensors ``[*, dim]`` (broadcastable to one another).
        output: ``[*, dim]``.
    """

    def __init__(self, kind: str, dim: int, num_inputs: int):
        super().__init__()
        if kind not in FUSIONS:
            raise ConfigError(f"unknown fusion {kind!r}; choose one of {', '.join(FUSIONS)}")
        self.kind, self.dim, self.num_inputs = kind, dim, num_inputs
        if kind == "concat":
            self.linear = nn.Linear(num_inputs * dim, dim)
        elif kind == "gate":
            self.linear = nn.Linear(dim, 1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.kind != "sum":
            reset_linear(self.linear)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        if len(inputs) != self.num_inputs:
            raise ValueError(f"Fusion expects {self.num_inputs} inputs, got {len(inputs)}")
        if self.kind == "sum":
            return sum(inputs[1:], inputs[0])
        inputs = torch.broadcast_tensors(*inputs)
        if self.kind == "concat":
            return self.linear(torch.cat(inputs, -1))
        stacked = torch.stack(inputs, -2)  # [*, m, d]
        return (torch.sigmoid(self.linear(stacked)) * stacked).sum(-2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind}, {self.dim}, num_inputs={self.num_inputs})"
