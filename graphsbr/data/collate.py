"""Sequence batching: cut ``(session, cut)`` samples out of a CSR split, vectorised over the whole batch."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor

from .dataset import SessionSplit, SideField


@dataclass
class SequenceBatch:
    """A padded batch of prefixes; item ``0`` is padding.

    Prefixes are left-aligned: ``items[b, :lengths[b]]`` are the last ``max_len`` clicks of prefix ``b`` in click
    order, followed by zeros, so the most recent click is ``items[b, lengths[b] - 1]``.

    Attributes:
        items: ``[B, L]`` item ids.
        lengths: ``[B]`` prefix lengths after truncation (``>= 1``).
        targets: ``[B]`` the next item.
        side: side fields of the prefix items: ``[B, L]`` for single-valued, ``[B, L, V]`` for multi-valued.
        target_side: side fields of the targets: ``[B]`` or ``[B, V]``.
        fields: per-click behaviour fields of the split, ``[B, L]``.
        sessions: ``[B]`` the session index of each sample in its split.
        clicks: ``[2, N]`` the row and the position of every real click, row by row: what
            :class:`~graphsbr.nn.Packing` packs, found by the collator so that no step waits for the device (they
            stay right if padding is added on the right).
        host_lengths: ``lengths`` on the CPU (:meth:`to` leaves it there): for what needs lengths on the host,
            such as ``pack_padded_sequence``.
        num_targets: how many targets are not padding (the samples a step trains on).
    """

    items: Tensor
    lengths: Tensor
    targets: Tensor
    side: dict[str, Tensor] = field(default_factory=dict)
    target_side: dict[str, Tensor] = field(default_factory=dict)
    fields: dict[str, Tensor] = field(default_factory=dict)
    sessions: Tensor | None = None
    clicks: Tensor | None = None
    host_lengths: Tensor | None = None
    num_targets: int = 0

    @property
    def mask(self) -> Tensor:
        """``[B, L]`` True at real clicks."""
        return torch.arange(self.items.size(1), device=self.items.device) < self.lengths[:, None]

    def __len__(self) -> int:
        return self.items.size(0)

    def to(self, device, non_blocking: bool = False) -> SequenceBatch:
        def move(value):
            if isinstance(value, Tensor):
                return value.to(device, non_blocking=non_blocking)
            if isinstance(value, dict):
                return {k: move(v) for k, v in value.items()}
            return value
        return replace(self, **{f.name: move(getattr(self, f.name)) for f in fields(self) if f.name not in HOST})

    def pin_memory(self) -> SequenceBatch:
        return replace(self, **{f.name: _pin(getattr(self, f.name)) for f in fields(self) if f.name not in HOST})


#: The fields of a :class:`SequenceBatch` that stay on the CPU.
HOST = ("host_lengths", "num_targets")


def _pin(value):
    if isinstance(value, Tensor):
        return value.pin_memory()
    if isinstance(value, dict):
        return {k: v.pin_memory() for k, v in value.items()}
    return value


def prefix_index(split: SessionSplit, samples: Tensor, max_len: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Positions in ``split.items`` of every sample's (truncated) prefix.

    Returns:
        ``index [B, L]`` (clamped to a valid position where padded), ``mask [B, L]``, ``lengths [B]``,
        where ``L`` is the longest truncated prefix in the batch.
    """
    samples = samples.long()
    start = split.ptr[samples[:, 0]]
    end = start + samples[:, 1]  # the target's position
    lengths = samples[:, 1] if max_len is None else samples[:, 1].clamp(max=max_len)
    width = int(lengths.max()) if lengths.numel() else 0
    offsets = torch.arange(width)
    index = (end - lengths)[:, None] + offsets[None, :]  # [B, L]
    mask = offsets[None, :] < lengths[:, None]
    return torch.where(mask, index, end[:, None]), mask, lengths


def collate_sequences(split: SessionSplit, samples: Tensor, max_len: int | None = None,
                      side: dict[str, SideField] | None = None, every_position: bool = False) -> SequenceBatch:
    """Cuts a batch of samples into a :class:`SequenceBatch`, keeping the last ``max_len`` clicks of each prefix.

    Args:
        split: the split the samples index.
        samples: ``[B, 2]`` ``(session, cut)`` rows of ``split.samples``.
        max_len: keep only the most recent ``max_len`` clicks (``None``: all).
        side: the dataset's side fields to align with the items and targets.
        every_position: targets for every position (the next click, ``[B, L]``, 0 at padding) instead of the
            prefix's target only (``[B]``): the batches of the ``sequence`` training mode.
    """
    index, mask, lengths = prefix_index(split, samples, max_len)
    end = split.ptr[samples[:, 0].long()] + samples[:, 1].long()
    items = split.items[index] * mask
    targets = split.items[torch.where(mask, index + 1, index)] * mask if every_position else split.items[end]
    batch_side, target_side = {}, {}
    for name, info in (side or {}).items():
        values = info.values if info.multi_valued else info.values[:, 0]
        batch_side[name] = values[items]  # padding item 0 maps to value 0
        target_side[name] = values[targets]
    batch_fields = {name: values[index] * mask for name, values in split.fields.items()}
    clicks = mask.nonzero().T.contiguous()  # [2, N]
    return SequenceBatch(items, lengths, targets, batch_side, target_side, batch_fields, samples[:, 0].long(),
                         clicks, lengths, int(targets.count_nonzero()))


def every_position_windows(split: SessionSplit, max_len: int | None) -> Tensor:
    """``[W, 2]`` ``(session, cut)`` windows that cover every training pair of ``split`` exactly once when each
    window's every position is a target (the ``sequence`` training mode of causal models).

    A session of ``n`` clicks has the pairs ``cut = 1 .. n-1``; window ``k`` ends at ``cut = n - 1 - k * max_len``
    and, cut to its last ``max_len`` clicks, holds the targets ``cut - max_len + 1 .. cut``. Each target is then
    predicted from at most ``max_len`` clicks, as in prefix mode, though a window's first positions see fewer
    (only sessions longer than ``max_len + 1`` have such windows).
    """
    pairs = (split.lengths - 1).clamp(min=0)
    width = int(pairs.max()) if max_len is None and pairs.numel() else (max_len or 1)
    count = (pairs + width - 1) // width  # windows per session
    session = torch.repeat_interleave(torch.arange(split.num_sessions), count)
    k = torch.arange(int(count.sum())) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    return torch.stack([session, pairs[session] - k * width], 1)


class SequenceCollator:
    """``collate_fn`` for a :class:`torch.utils.data.DataLoader` over sample indices of one split.

    Example::

        collate = SequenceCollator(dataset.train, max_len=50, side=dataset.side)
        loader = DataLoader(range(dataset.train.num_samples), batch_size=256, shuffle=True, collate_fn=collate)
    """

    def __init__(self, split: SessionSplit, max_len: int | None = None, side: dict[str, SideField] | None = None):
        self.split, self.max_len, self.side = split, max_len, side

    def __call__(self, indices) -> SequenceBatch:
        rows = torch.as_tensor(indices, dtype=torch.long)
        return collate_sequences(self.split, self.split.samples[rows], self.max_len, self.side)
