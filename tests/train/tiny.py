"""A tiny model for the trainer's tests: the last item's embedding against the item table (a learned bigram)."""
from dataclasses import dataclass

import torch
from torch import nn

from graphsbr.models.base import SessionRecommender, gather_last
from graphsbr.train import TrainConfig, Trainer


@dataclass
class TinyConfig:
    dim: int = 16
    dropout: float = 0.1
    max_len: int = 10


class Tiny(SessionRecommender):
    """The last item's embedding against the item table (a learned bigram model)."""

    name = "tiny"
    Config = TinyConfig

    def __init__(self, config, num_items):
        super().__init__(config, num_items)
        self.embedding = nn.Embedding(num_items + 1, config.dim, padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, batch):
        last = self.dropout(gather_last(self.embedding(batch.items), batch.lengths))
        return last @ self.embedding.weight.T


def tiny_trainer(data, out=None, callbacks=(), **settings) -> Trainer:
    """A :class:`Trainer` of a freshly seeded :class:`Tiny` (3 epochs of batch 64 at lr 0.01 unless ``settings``)."""
    torch.manual_seed(0)
    model = Tiny.from_dataset(data)
    config = TrainConfig(**{"epochs": 3, "batch_size": 64, "lr": 0.01, "progress": False, **settings})
    return Trainer(model, data, config, out, run={"model": "tiny", "dataset": "synthetic"}, callbacks=callbacks)
