"""Batches of a split for a model: sequence batches or session-graph batches, cut per batch, vectorised, and
optionally prepared ahead in a background thread."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

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
        prefetch: batches collated (and pinned, for CUDA) ahead by a background thread while the model works on
            the current one (0: none, each batch is collated when it is asked for). The batches and their order are
            the same either way.
    """

    def __init__(self, dataset: SessionDataset, split: SessionSplit, batch_kind: str, max_len: int | None,
                 batch_size: int, shuffle_seed: int | None = None, device: torch.device | str = "cpu",
                 every_position: bool = False, prefetch: int = 0):
        self.dataset, self.split, self.batch_kind, self.max_len = dataset, split, batch_kind, max_len
        self.batch_size, self.shuffle_seed, self.device = batch_size, shuffle_seed, torch.device(device)
        self.every_position, self.prefetch = every_position, prefetch

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
        pin = self.device.type == "cuda"
        prepared = map(self._prepare, self._samples(first, count, group))
        if self.prefetch > 0:
            prepared = prefetched(prepared, self.prefetch)
        for batch in prepared:
            yield batch.to(self.device, non_blocking=pin)

    def _samples(self, first: int, count: int | None, group: Group | None) -> Iterator[Tensor]:
        """The ``[b, 2]`` samples of batches ``first .. first + count - 1`` (this rank's share under ``group``)."""
        order = self.order()
        stop = len(self) if count is None else min(len(self), first + count)
        for start in range(first * self.batch_size, stop * self.batch_size, self.batch_size):
            samples = self.split.samples[order[start:start + self.batch_size]]
            if group is not None and group.distributed:
                if len(samples) < group.world:
                    continue
                samples = group.shard(samples)
            yield samples

    def _prepare(self, samples: Tensor):
        """A batch on the host, pinned when it is bound for CUDA."""
        batch = self.collate(samples)
        return batch.pin_memory() if self.device.type == "cuda" else batch

    def collate(self, samples: Tensor):
        if self.batch_kind == "graph":
            return collate_session_graphs(self.split, samples, self.max_len)
        return collate_sequences(self.split, samples, self.max_len, self.dataset.side, self.every_position)


def prefetched(items: Iterable, depth: int) -> Iterator:
    """The items of ``items`` in order, each produced up to ``depth`` items ahead by a background thread. An error
    raised while producing is raised here, at the item it would have been; a consumer that stops early stops the
    thread."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                put((item, None))
        except BaseException as error:  # handed to the consumer, which raises it
            put((None, error))
            return
        put((end, None))

    thread = threading.Thread(target=produce, name="graphsbr-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()
