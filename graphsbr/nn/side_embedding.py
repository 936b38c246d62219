"""Embeddings of item side fields (category, brand, multi-valued attributes)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError

#: How the values of a multi-valued field are pooled: their mean, or their sum (RecBole's ``pooling_mode``).
POOLINGS = ("mean", "sum")


class SideEmbedding(nn.Module):
    r"""Embeds a side field; a multi-valued field is the mean (or the sum) of its values' embeddings.

    .. math::
        e(v) = \frac{1}{|A_v|} \sum_{a \in A_v} W_a \ \text{(mean)}, \qquad
        e(v) = \sum_{a \in A_v} W_a \ \text{(sum)}, \qquad A_v = \text{the non-zero values of item } v

    Args:
        vocab_size: values run ``1..vocab_size``; 0 is none and embeds to zeros.
        dim: the embedding size.
        multi_valued: the input holds several values per item.
        pooling: ``mean`` or ``sum`` (:data:`POOLINGS`) of a multi-valued field's values.

    Shapes:
        input: ``[*]`` value ids (single-valued) or ``[*, V]`` (multi-valued, zero-padded; pass ``multi_valued=True``).
        output: ``[*, dim]``.
    """

    def __init__(self, vocab_size: int, dim: int, multi_valued: bool = False, pooling: str = "mean"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        self.vocab_size, self.dim, self.multi_valued, self.pooling = vocab_size, dim, multi_valued, pooling
        self.embedding = nn.Embedding(vocab_size + 1, dim, padding_idx=0)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.dim ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def forward(self, values: Tensor) -> Tensor:
        if not self.multi_valued:
            return self.embedding(values)
        summed = self.embedding(values).sum(-2)  # the padding value 0 embeds to zeros
        if self.pooling == "sum":
            return summed
        return summed / (values > 0).sum(-1, keepdim=True).clamp(min=1).to(summed.dtype)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.vocab_size}, {self.dim}, multi_valued={self.multi_valued}"
                + (f", pooling={self.pooling})" if self.multi_valued else ")"))


__all__ = ["POOLINGS", "SideEmbedding"]
