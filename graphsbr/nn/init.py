"""Initialisation shared by the transformer layers."""
from __future__ import annotations

from torch import nn

#: Standard deviation of the normal initialisation of every projection (BERT's and RecBole's ``initializer_range``).
INIT_STD = 0.02

def reset_linear(linear: nn.Linear, std: float = INIT_STD) -> None:
    """BERT-style initialisation: weights :math:`\\mathcal N(0, \\mathrm{std}^2)`, zero bias."""
    nn.init.normal_(linear.weight, std=std)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)
