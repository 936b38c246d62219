"""Batches of a split for a model: sequence batches or session-graph batches, cut per batch, vectorised."""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.collate import collate_sequences
from ..data.dataset import SessionDataset, SessionSplit
from ..graphs import collate_session_graphs
from .distributed import Group


class BatchLoader:
    """Iterates over the samples of a split in batches of the kind ``model.batch_kind`` asks for.

    Args:
        dataset: gives the side fields that sequence batches carry.
        split: the split to iterate.
        batch_kind: ``"sequence"`` or ``"graph"``.
        max_len: keep the last ``max_len`` clicks of every prefix.
        batch_size: samples per batch.
        shuffle_seed: shuffle with a generator seeded by this (``None``: split order). The trainer passes
            ``seed * 100003 + epoch``, so an epoch's order never depends on what ran before (resume-safe).
        device: where batches go.
        every_position: sequence batches with a target at every position (the ``sequence`` training mode).
    """

    def __init__(self, dataset: SessionDataset, split: SessionSplit, batch_kind: str, max_len: int | None,
                 batch_size: int, shuffle_seed: int | None = None, device: torch.device | str = "cpu",
                 every_position: bool = False):
        self.dataset, self.split, self.batch_kind, self.max_len = dataset, split, batch_kind, max_len
        self.batch_size, self.shuffle_seed, self.device = batch_size, shuffle_seed, torch.device(device)
        self.every_position = every_position

    def __len__(self) -> int:
        return (self.split.num_samples + self.batch_size - 1) // self.batch_size

    def order(self) -> Tensor:
        if self.shuffle_seed is None:
            return torch.arange(self.split.num_samples)
        generator = torch.Generator().manual_seed(self.shuffle_seed)
        return torch.randperm(self.split.num_samples, generator=generator)

    def __iter__(self):
        return self.batches()

    def batches(self, first: int = 0, count: int | None = None, group: Group | None = None):
        """Batches ``first, first + 1, …`` of the (shuffled) order, ``count`` of them (``None``: to the end).

        With a distributed ``group``, this rank's share of each batch; a batch with fewer samples than ranks is
        skipped on every rank.
        """
        order = self.order()
        pin = self.device.type == "cuda"
        stop = len(self) if count is None else min(len(self), first + count)
        for start in range(first * self.batch_size, stop * self.batch_size, self.batch_size):
            samples = self.split.samples[order[start:start + self.batch_size]]
            if group is not None and group.distributed:
                if len(samples) < group.world:
                    continue
                samples = group.shard(samples)
            batch = self.collate(samples)
            if pin:
                batch = batch.pin_memory()
            yield batch.to(self.device, non_blocking=pin)

    def collate(self, samples: Tensor):
        if self.batch_kind == "graph":
            return collate_session_graphs(self.split, samples, self.max_len)
        return collate_sequences(self.split, samples, self.max_len, self.dataset.side, self.every_position)
