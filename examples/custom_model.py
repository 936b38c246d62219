"""Your own model on graphsbr's data, trainer and evaluator: a mean of the session's item embeddings, in 30 lines.

    python examples/custom_model.py                  # registers it, trains it on the synthetic set, prints metrics

A model is a :class:`graphsbr.models.SessionRecommender` with a ``name``, a ``Config`` dataclass (its defaults are
the hyperparameters) and a ``forward`` that scores every item; the trainer gives it the full-ranking cross-entropy
(override ``loss`` for more), validation-based selection and the test metrics. ``register`` makes it a model of this
process; for the command line (``graphsbr train --model meanpool``), ``graphsbr search`` and ``torchrun``, declare
it as an entry point of your package instead::

    [project.entry-points."graphsbr.models"]
    meanpool = "mypackage.models:MeanPool"
"""
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphsbr.data import SequenceBatch
from graphsbr.models import SessionRecommender, register
from graphsbr.models.base import masked_mean
from graphsbr.train.run import build_trainer


@dataclass
class MeanPoolConfig:
    dim: int = 64


class MeanPool(SessionRecommender):
    """The session as the mean of its items' embeddings, scored against every item by a dot product."""

    name = "meanpool"
    Config = MeanPoolConfig
    train_defaults = {"lr": 1e-3, "batch_size": 256}

    def __init__(self, config: MeanPoolConfig, num_items: int):
        super().__init__(config, num_items)
        self.embedding = nn.Embedding(num_items + 1, config.dim, padding_idx=0)  # row 0 = padding

    def forward(self, batch: SequenceBatch) -> Tensor:
        session = masked_mean(self.embedding(batch.items), batch.mask, 1)  # [B, d]
        return session @ self.embedding.weight.T  # [B, N+1], column 0 is ignored


def main(settings: dict | None = None) -> dict:
    register(MeanPool)
    torch.manual_seed(0)
    trainer = build_trainer("meanpool", "synthetic", settings={"epochs": 2, "progress": False, **(settings or {})})
    results = trainer.fit()
    print({split: round(results[split]["mrr@20"], 4) for split in ("valid", "test")}, "MRR@20")
    return results


if __name__ == "__main__":
    main()
