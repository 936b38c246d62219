"""Pop: every session gets the items ranked by their number of training clicks."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...data.collate import SequenceBatch
from ...data.dataset import SessionDataset
from ..base import SessionRecommender, cross_entropy, targets_of


@dataclass
class PopConfig:
    """Pop has no hyperparameters."""


class Pop(SessionRecommender):
    r"""Popularity: the score of item :math:`j` is its number of clicks :math:`c_j` in the training split.

    Every click of every training session counts (the last ones too). The scores are the same for every session
    and the model has no trainable parameters. Its :meth:`loss` is the cross-entropy of the add-one smoothed
    unigram distribution, logits :math:`\log(1 + c_j)`: the same ranking, and a finite number to log.
    """

    name = "pop"
    Config = PopConfig
    batch_kind = "sequence"

    def __init__(self, config: PopConfig, num_items: int, counts: Tensor | None = None):
        super().__init__(config, num_items)
        if counts is None:
            counts = torch.zeros(num_items + 1)
        if counts.shape != (num_items + 1,):
            raise ValueError(f"counts must have shape [{num_items + 1}], got {list(counts.shape)}")
        self.register_buffer("counts", counts.float())

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config: PopConfig | None = None) -> Pop:
        counts = torch.bincount(dataset.train.items, minlength=dataset.num_items + 1)
        counts[0] = 0
        return cls(config if config is not None else cls.Config(), dataset.num_items, counts)

    def forward(self, batch: SequenceBatch) -> Tensor:
        return self.counts.expand(batch.items.size(0), -1).clone()  # [B, N+1]

    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        logits = torch.log1p(self.counts).expand(batch.items.size(0), -1)
        loss = cross_entropy(logits, targets_of(batch))
        return loss, {"loss": float(loss)}


__all__ = ["Pop", "PopConfig"]
