"""Position-wise work on the real clicks of a padded batch only."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """The host tensor ``x`` on ``device``, copied without the host waiting for the device (from pinned memory to a
    GPU: a pageable copy may wait for the work already queued)."""
    if device.type == "cpu":
        return x
    if device.type == "cuda":
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def left_aligned_index(lengths: np.ndarray, length: int) -> np.ndarray:
    """``[N]`` the flat positions ``b * length + t``, ``t < lengths[b]``, of the real clicks of left-aligned rows,
    row by row, computed on the host."""
    starts = np.cumsum(lengths) - lengths  # where each row's clicks start among the N
    return np.arange(lengths.sum()) + np.repeat(np.arange(lengths.size) * length - starts, lengths)


class Packing:
    """Runs position-wise work on the real clicks only: :meth:`pack` takes ``[B, L, *]`` to the ``[N, *]`` real
    clicks, :meth:`unpack` puts them back with zeros at padding.

    Padded batches of sessions are mostly padding (a batch is as wide as its longest prefix: 14–17 % of the
    positions are real clicks on the synthetic set and Beauty), so projections and feed-forward layers applied to
    the packed clicks do a fraction of the work.

    The real clicks are found without the host waiting for the device when the collator's work is passed on:
    ``clicks`` (already on the device) or the ``lengths`` on the host (the index is then built on the host and
    copied asynchronously); otherwise with ``nonzero``, which makes the host wait.

    Args:
        key_padding_mask: ``[B, L]`` True at real clicks.
        clicks: ``[2, N]`` the row and position of every True entry, row by row (``SequenceBatch.clicks``).
        lengths: ``[B]`` on the CPU (``SequenceBatch.host_lengths``) when the rows are left-aligned
            (``key_padding_mask[b, t]`` is True for ``t < lengths[b]`` only); needed by :meth:`cut`.
    """

    def __init__(self, key_padding_mask: Tensor, clicks: Tensor | None = None, lengths: Tensor | None = None):
        batch, length = key_padding_mask.shape
        if clicks is not None:
            index = clicks[0] * length + clicks[1]
        elif lengths is not None:
            index = host_built_index(lengths, length, key_padding_mask.device)
        else:
            index = key_padding_mask.reshape(-1).nonzero().squeeze(1)
        self._set(batch, length, index, lengths)

    @classmethod
    def from_lengths(cls, lengths: Tensor, length: int, device: torch.device | str) -> Packing:
        """The packing of ``[B, length]`` left-aligned rows of ``lengths`` (``[B]`` on the CPU) real clicks."""
        return cls._of(lengths.numel(), length, host_built_index(lengths, length, torch.device(device)), lengths)

    @classmethod
    def _of(cls, batch: int, length: int, index: Tensor, lengths: Tensor | None) -> Packing:
        packing = cls.__new__(cls)
        packing._set(batch, length, index, lengths)
        return packing

    def _set(self, batch: int, length: int, index: Tensor, lengths: Tensor | None) -> None:
        self.batch, self.length, self.index, self.lengths = batch, length, index, lengths  # index [N]
        self.dense = self.index.numel() == batch * length

    def cut(self, rows: Tensor | np.ndarray | None, width: int) -> Packing | None:
        """The packing of ``key_padding_mask[rows, :width]`` (``rows`` on the host; ``None``: every row), built on
        the host from the lengths; ``None`` without them (a layer given none finds its own)."""
        if self.lengths is None:
            return None
        lengths = self.lengths.numpy()
        lengths = np.minimum(lengths if rows is None else lengths[np.asarray(rows, dtype=np.int64)], width)
        return Packing.from_lengths(torch.from_numpy(lengths), width, self.index.device)

    def repeat(self, copies: int) -> Packing:
        """The packing of ``key_padding_mask.repeat(copies, 1)``."""
        if copies == 1:
            return self
        offsets = torch.arange(copies, device=self.index.device).unsqueeze(1) * (self.batch * self.length)
        return Packing._of(self.batch * copies, self.length, (self.index + offsets).flatten(),
                           None if self.lengths is None else self.lengths.repeat(copies))

    def positions(self) -> Tensor:
        """``[N]`` the position of every real click in its row."""
        return self.index % self.length

    def pack(self, x: Tensor) -> Tensor:
        """``[B, L, *]`` -> ``[N, *]``; a stream shared by the batch (``[1, L, *]`` when ``B > 1``) is kept as is."""
        if x.size(0) != self.batch:
            return x
        x = x.flatten(0, 1)
        return x if self.dense else x.index_select(0, self.index)

    def gather(self, x: Tensor) -> Tensor:
        """``[B, L, *]`` or a stream shared by the batch ``[1, L, *]`` -> ``[N, *]``."""
        return self.pack(x) if x.size(0) == self.batch else x[0].index_select(0, self.positions())

    def unpack(self, x: Tensor) -> Tensor:
        """``[N, *]`` -> ``[B, L, *]`` with zeros at padding; a shared ``[1, L, *]`` stream is expanded."""
        if x.dim() == 3:  # a shared stream, which pack() left as it was
            return x.expand(self.batch, -1, -1)
        if not self.dense:
            x = x.new_zeros(self.batch * self.length, *x.shape[1:]).index_copy_(0, self.index, x)  # in place: no clone
        return x.view(self.batch, self.length, *x.shape[1:])


def batch_packing(batch) -> Packing:
    """The :class:`Packing` of a :class:`~graphsbr.data.collate.SequenceBatch`'s mask, from what its collator
    found (``clicks`` on the device, ``host_lengths`` on the host): the host never waits for the device."""
    if batch.clicks is None:
        return Packing(batch.mask, lengths=batch.host_lengths)
    size, length = batch.items.shape
    return Packing._of(size, length, batch.clicks[0] * length + batch.clicks[1], batch.host_lengths)


def host_built_index(lengths: Tensor, length: int, device: torch.device) -> Tensor:
    """``[N]`` :func:`left_aligned_index` of ``lengths`` (``[B]`` on the CPU) on ``device``; ``arange`` on the device
    itself when every row is full."""
    lengths = lengths.numpy()
    if lengths.sum() == lengths.size * length:
        return torch.arange(lengths.size * length, device=device)
    return to_device(torch.from_numpy(left_aligned_index(lengths, length)), device)


#: The row groups of :func:`by_width`: rows at most 8 clicks wide, at most 16, at most 32, and the rest.
WIDTH_EDGES = (8, 16, 32)
#: A group of fewer rows joins the next wider one: the calls it would add cost more than the padding it saves.
MIN_GROUP_ROWS = 16


def width_groups(widths: np.ndarray, edges: Sequence[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The rows of ``widths`` (``[B]``, each >= 1) in group order and the ``(rows, width)`` of every group of
    :func:`by_width`, found on the host."""
    group = np.searchsorted(np.asarray(edges, dtype=widths.dtype), widths)  # as torch.bucketize
    counts = np.bincount(group, minlength=len(edges) + 1)
    group_widths = np.zeros(len(edges) + 1, dtype=widths.dtype)
    np.maximum.at(group_widths, group, widths)
    groups, carried = [], 0  # (rows, width), a group of too few rows carried into the next
    for count, width in zip(counts.tolist(), group_widths.tolist()):
        carried += count
        if carried >= MIN_GROUP_ROWS:
            groups.append((carried, width))
            carried = 0
    if carried:  # the widest rows, too few for a group of their own, join the last group
        rows = groups.pop()[0] if groups else 0
        groups.append((rows + carried, int(group_widths.max())))
    return np.argsort(group, kind="stable"), groups


def by_width(fn: Callable[..., Tensor], key_padding_mask: Tensor, *streams, edges: Sequence[int] | None = None,
             lengths: Tensor | None = None, **context) -> Tensor:
    """``fn(key_padding_mask, *streams, **context)`` run on groups of rows of similar width, each group cut to its
    widest row, with the outputs put back in row order (zeros beyond each group's width).

    A batch of prefixes is as wide as its longest one, though most are far shorter (Beauty's training prefixes
    average 8.4 clicks, and a random batch of 512 is 50 wide): attention costs :math:`O(L^2)` per row and runs on
    the padding too. Cut into groups, the same rows cost a fraction of that (``benchmarks/speed.py widths``: ASIF's
    training step on Beauty, batches of 2,048 prefixes, 2.7× faster; COMIF's 1.5×, evaluation 1.6–2.4×). The
    result is the same wherever ``fn`` treats rows independently and is blind to padding beyond a row's last
    click, as every encoder in :mod:`graphsbr.nn` is (zeros at padding, padded keys never attended to; tested per
    model).

    The groups are found on the host from ``lengths``; without them, from the last real click of every row, read
    from the device (the host waits).

    Args:
        fn: a row-wise function returning ``[b, w, *]`` for a group of ``b`` rows cut to width ``w``.
        key_padding_mask: ``[B, L]`` True at real clicks.
        streams, context: tensors ``[B, L, *]`` (rows taken with the group), tensors ``[1, L, *]`` shared by the
            batch (only cut), :class:`Packing`\\ s of the batch (:meth:`Packing.cut`), lists or tuples of them, or
            anything else (passed as is).
        edges: the largest width of each group but the last (default :data:`WIDTH_EDGES`; empty: one group). A
            group of fewer than :data:`MIN_GROUP_ROWS` rows joins the next wider one.
        lengths: ``[B]`` on the CPU, the width of every row: its real clicks lie at positions ``< lengths[b]``
            (``SequenceBatch.host_lengths``).
    """
    size, length = key_padding_mask.shape
    device = key_padding_mask.device
    if lengths is None:  # the last real click + 1 of every row
        steps = torch.arange(1, length + 1, device=device)
        lengths = ((key_padding_mask * steps).amax(1) if size else steps[:0]).cpu()
    order, groups = width_groups(np.maximum(lengths.numpy(), 1), WIDTH_EDGES if edges is None else edges)
    if len(groups) < 2:
        return fn(key_padding_mask, *streams, **context)
    moved = to_device(torch.from_numpy(order), device)
    rows, widths, starts = [], [], np.cumsum([0] + [count for count, _ in groups])
    for (count, width), start in zip(groups, starts):
        rows.append(moved[start:start + count])
        widths.append(width)
    cuts = {}  # id of a [B, L, *] tensor -> its groups

    def cut(value, group):
        if isinstance(value, Packing):
            return value.cut(order[starts[group]:starts[group + 1]], widths[group])
        if isinstance(value, (list, tuple)):
            return type(value)(cut(v, group) for v in value)
        if not isinstance(value, Tensor) or value.dim() < 2 or value.size(1) != length:
            return value
        if value.size(0) == size:
            if id(value) not in cuts:  # every group at once: one gradient for the tensor, not one per group
                cuts[id(value)] = GatherGroups.apply(value, rows, widths)
            return cuts[id(value)][group]
        return value[:, :widths[group]] if value.size(0) == 1 else value

    outputs = [fn(cut(key_padding_mask, g), *(cut(v, g) for v in streams),
                  **{key: cut(v, g) for key, v in context.items()}) for g in range(len(groups))]
    return ScatterGroups.apply(length, rows, widths, *outputs)


class GatherGroups(torch.autograd.Function):
    """``value [B, L, *]`` -> the groups ``value[rows[g], :widths[g]]``; its gradient writes each group's back in
    place in one tensor of zeros (:class:`ScatterGroups`, its adjoint), where indexing group by group would add up one
    ``[B, L, *]`` tensor per group."""

    @staticmethod
    def forward(ctx, value: Tensor, rows: list[Tensor], widths: list[int]) -> tuple[Tensor, ...]:
        ctx.rows, ctx.widths, ctx.length = rows, widths, value.size(1)
        return tuple(value[:, :width].index_select(0, index) for index, width in zip(rows, widths))

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[Tensor, None, None]:
        return ScatterGroups.apply(ctx.length, ctx.rows, ctx.widths, *grads), None, None


class ScatterGroups(torch.autograd.Function):
    """The groups ``parts[g] [count_g, widths[g], *]`` -> ``[B, length, *]`` with group ``g`` at rows ``rows[g]``
    (the groups' rows partition the ``B`` rows) and zeros beyond each group's width; the adjoint of
    :class:`GatherGroups`."""

    @staticmethod
    def forward(ctx, length: int, rows: list[Tensor], widths: list[int], *parts: Tensor) -> Tensor:
        ctx.rows, ctx.widths = rows, widths
        out = parts[0].new_zeros((sum(index.numel() for index in rows), length, *parts[0].shape[2:]))
        for part, index, width in zip(parts, rows, widths):
            out[:, :width].index_copy_(0, index, part)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple:
        return None, None, None, *GatherGroups.apply(grad, ctx.rows, ctx.widths)
