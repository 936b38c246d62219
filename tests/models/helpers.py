"""Helpers the model tests share: a prefix batch of a split, the mean loss over fixed batches, Adam steps on them."""
from __future__ import annotations

import torch

from graphsbr.data.collate import collate_sequences

#: small settings of every model, for tests that run them all
SMALL = {"gru4rec": {"dim": 32, "hidden": 32}, "srgnn": {"dim": 32}, "sasrec": {"dim": 32}, "core": {"dim": 32},
         "nova": {"dim": 32}, "difsr": {"dim": 32, "attribute_dim": 16, "num_heads": 2}, "a2dmtl": {"dim": 32},
         "scorenet": {"dim": 32}, "comif": {"dim": 32, "num_heads": 2}, "asif": {"dim": 32, "num_heads": 2},
         "srim": {"dim": 32}, "pop": {}, "spop": {}}
#: the models without trainable parameters (scored as they are built)
UNTRAINED = {"pop", "spop"}


def batch_of(dataset, model=None, rows=slice(0, 64), split="train"):
    """The prefix batch of ``split``'s samples ``rows``, cut to the model's ``max_len`` (50 without a model)."""
    part = dataset.split(split)
    return collate_sequences(part, part.samples[rows], getattr(model, "max_len", None) or 50, dataset.side)


def batches_of(dataset, model, count: int, size: int = 64) -> list:
    """``count`` consecutive training batches of ``size`` samples."""
    return [batch_of(dataset, model, slice(i, i + size)) for i in range(0, count * size, size)]


def mean_losses(model, batches, seed: int | None = None) -> dict[str, float]:
    """``loss`` and every reported part, averaged over ``batches`` in eval mode, without gradients (``seed``: the same
    random draws, e.g. negatives, at every call)."""
    model.eval()
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        results = [model.loss(batch) for batch in batches]
    model.train()
    parts = {key: float(sum(p[key] for _, p in results)) / len(results) for key in results[0][1]}
    return {**parts, "loss": sum(float(loss) for loss, _ in results) / len(results)}


def adam_steps(model, batches, steps: int, lr: float = 3e-3) -> None:
    """``steps`` Adam steps in training mode, cycling through ``batches``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        loss, _ = model.loss(batches[step % len(batches)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
