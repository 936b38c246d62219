"""Position-wise work on the real clicks of a padded batch only."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


class Packing:
    """Runs position-wise work on the real clicks only: :meth:`pack` takes ``[B, L, *]`` to the ``[N, *]`` real
    clicks, :meth:`unpack` puts them back with zeros at padding.

    Padded batches of sessions are mostly padding (a batch is as wide as its longest prefix: 14–17 % of the
    positions are real clicks on the synthetic set and Beauty), so projections and feed-forward layers applied to
    the packed clicks do a fraction of the work.

    Args:
        key_padding_mask: ``[B, L]`` True at real clicks.
        clicks: ``[2, N]`` the row and position of every True entry, row by row (``SequenceBatch.clicks``, from
            the collator); found with ``nonzero`` when not given, which makes the host wait for the device.
    """

    def __init__(self, key_padding_mask: Tensor, clicks: Tensor | None = None):
        self.batch, self.length = key_padding_mask.shape
        if clicks is None:
            self.index = key_padding_mask.reshape(-1).nonzero().squeeze(1)  # [N]
        else:
            self.index = clicks[0] * self.length + clicks[1]
        self.dense = self.index.numel() == key_padding_mask.numel()

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
            x = x.new_zeros(self.batch * self.length, *x.shape[1:]).index_copy(0, self.index, x)
        return x.view(self.batch, self.length, *x.shape[1:])


#: The row groups of :func:`by_width`: rows at most 8 clicks wide, at most 16, at most 32, and the rest.
WIDTH_EDGES = (8, 16, 32)
#: A group of fewer rows joins the next wider one: the calls it would add cost more than the padding it saves.
MIN_GROUP_ROWS = 16


def by_width(fn: Callable[..., Tensor], key_padding_mask: Tensor, *streams, edges: Sequence[int] | None = None,
             **context) -> Tensor:
    """``fn(key_padding_mask, *streams, **context)`` run on groups of rows of similar width, each group cut to its
    widest row, with the outputs put back in row order (zeros beyond each group's width).

    A batch of prefixes is as wide as its longest one, though most are far shorter (Beauty's training prefixes
    average 8.4 clicks, and a random batch of 512 is 50 wide): attention costs :math:`O(L^2)` per row and runs on
    the padding too. Cut into groups, the same rows cost a fraction of that (``benchmarks/width_groups.py``: ASIF's
    training step on Beauty, batches of 2,048 prefixes, 2.7× faster; COMIF's 1.5×, evaluation 1.6–2.4×). The
    result is the same wherever ``fn`` treats rows independently and is blind to padding beyond a row's last
    click, as every encoder in :mod:`graphsbr.nn` is (zeros at padding, padded keys never attended to; tested per
    model).

    Args:
        fn: a row-wise function returning ``[b, w, *]`` for a group of ``b`` rows cut to width ``w``.
        key_padding_mask: ``[B, L]`` True at real clicks.
        streams, context: tensors ``[B, L, *]`` (rows taken with the group), tensors ``[1, L, *]`` shared by the
            batch (only cut), lists or tuples of them, or anything else (passed as is).
        edges: the largest width of each group but the last (default :data:`WIDTH_EDGES`; empty: one group). A
            group of fewer than :data:`MIN_GROUP_ROWS` rows joins the next wider one.
    """
    size, length = key_padding_mask.shape
    edges = WIDTH_EDGES if edges is None else edges
    steps = torch.arange(1, length + 1, device=key_padding_mask.device)
    widths = (key_padding_mask * steps).amax(1).clamp(min=1) if size else steps[:0]  # last real click + 1
    group = torch.bucketize(widths, torch.as_tensor(edges, device=widths.device, dtype=widths.dtype))
    counts = torch.bincount(group, minlength=len(edges) + 1)
    group_widths = torch.zeros_like(counts).scatter_reduce(0, group, widths, "amax").tolist()
    groups, carried = [], 0  # (rows, width), a group of too few rows carried into the next
    for count, width in zip(counts.tolist(), group_widths):
        carried += count
        if carried >= MIN_GROUP_ROWS:
            groups.append((carried, width))
            carried = 0
    if carried:  # the widest rows, too few for a group of their own, join the last group
        rows = groups.pop()[0] if groups else 0
        groups.append((rows + carried, max(group_widths)))
    if len(groups) < 2:
        return fn(key_padding_mask, *streams, **context)
    order = torch.argsort(group, stable=True)
    outputs, start = [], 0
    for count, width in groups:
        rows = order[start:start + count]
        start += count

        def cut(value, rows=rows, width=width):
            if isinstance(value, (list, tuple)):
                return type(value)(cut(v) for v in value)
            if not isinstance(value, Tensor) or value.dim() < 2 or value.size(1) != length:
                return value
            if value.size(0) == size:
                return value[rows, :width]
            return value[:, :width] if value.size(0) == 1 else value

        out = fn(key_padding_mask[rows, :width], *map(cut, streams), **{k: cut(v) for k, v in context.items()})
        padded = out.new_zeros((count, length, *out.shape[2:]))
        padded[:, :width] = out
        outputs.append(padded)
    return torch.cat(outputs).index_select(0, torch.argsort(order))
