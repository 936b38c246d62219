"""Embeddings of item side fields (category, brand, multi-valued attributes)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class SideEmbedding(nn.Module):
    r"""Embeds a side field; a multi-valued field is the mean of its values' embeddings.

    .. math::
        e(v) = \frac{1}{|A_v|} \sum_{a \in A_v} W_a, \qquad A_v = \text{the non-zero values of item } v

    Args:
        vocab_size: values run ``1..vocab_size``; 0 is none and embeds to zeros.
        dim: the embedding size.

    Shapes:
        input: ``[*]`` value ids (single-valued) or ``[*, V]`` (multi-valued, zero-padded; pass ``multi_valued=True``).
        output: ``[*, dim]``.
    """

    def __init__(self, vocab_size: int, dim: int, multi_valued: bool = False):
        super().__init__()
        self.vocab_size, self.dim, self.multi_valued = vocab_size, dim, multi_valued
        self.embedding = nn.Embedding(vocab_size + 1, dim, padding_idx=0)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.dim ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def forward(self, values: Tensor) -> Tensor:
        if not self.multi_valued:
            return self.embedding(values)
        present = (values > 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        return (self.embedding(values) * present).sum(-2) / present.sum(-2).clamp(min=1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.vocab_size}, {self.dim}, multi_valued={self.multi_valued})"
