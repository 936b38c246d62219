"""The data model: sessions in CSR form, ``(session, cut)`` samples, side fields and item text."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass
class SessionSplit:
    r"""One split (train, valid or test) stored compactly.

    Session :math:`s` is ``items[ptr[s]:ptr[s+1]]``; sample :math:`m` is the pair ``samples[m] = (s, cut)``
    with prefix ``items[ptr[s]:ptr[s]+cut]`` and target ``items[ptr[s]+cut]``. Prefixes are never materialised
    for the whole split: :mod:`graphsbr.data.collate` cuts them per batch.

    Args:
        ptr: ``[S+1]`` session offsets into ``items``.
        items: ``[nnz]`` item ids in click order (``1..num_items``).
        samples: ``[M, 2]`` ``(session, cut)`` pairs, ``1 <= cut < length``.
        timestamps: optional ``[nnz]`` float64 unix seconds per click.
        fields: optional per-click behaviour fields, each ``[nnz]`` long (0 = none).
    """

    ptr: Tensor
    items: Tensor
    samples: Tensor
    timestamps: Tensor | None = None
    fields: dict[str, Tensor] = field(default_factory=dict)

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], samples: Tensor | None = None,
                       timestamps: Tensor | None = None, fields: dict[str, Tensor] | None = None) -> SessionSplit:
        """Builds a split from a list of item lists; ``samples`` defaults to every prefix of every session."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        items = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(lengths.sum()))
        return cls.from_lengths(torch.from_numpy(lengths), torch.from_numpy(items), samples, timestamps, fields)

    @classmethod
    def from_lengths(cls, lengths: Tensor, items: Tensor, samples: Tensor | None = None,
                     timestamps: Tensor | None = None, fields: dict[str, Tensor] | None = None) -> SessionSplit:
        ptr = torch.zeros(len(lengths) + 1, dtype=torch.long)
        torch.cumsum(lengths.long(), 0, out=ptr[1:])
        if samples is None:
            samples = all_prefix_samples(lengths)
        return cls(ptr, items.long(), samples, timestamps, dict(fields or {}))

    @property
    def num_sessions(self) -> int:
        return self.ptr.numel() - 1

    @property
    def num_samples(self) -> int:
        return self.samples.size(0)

    @property
    def lengths(self) -> Tensor:
        return self.ptr[1:] - self.ptr[:-1]

    @property
    def session_index(self) -> Tensor:
        """``[nnz]`` the session each click belongs to."""
        return torch.repeat_interleave(torch.arange(self.num_sessions), self.lengths)

    @property
    def targets(self) -> Tensor:
        """``[M]`` the target item of every sample."""
        return self.items[self.ptr[self.samples[:, 0]] + self.samples[:, 1]]

    @property
    def repeat_targets(self) -> Tensor:
        """``[M]`` True where a sample's target is an item already clicked in its prefix (a re-click; the rest
        explore new items)."""
        start = self.ptr[self.samples[:, 0]]
        cuts = self.samples[:, 1]
        owner = torch.repeat_interleave(torch.arange(self.num_samples), cuts)  # the sample of every prefix click
        clicked = self.items[gather_ranges(start, cuts)]
        repeat = torch.zeros(self.num_samples, dtype=torch.bool)
        repeat[owner[clicked == self.targets[owner]]] = True
        return repeat

    def session(self, s: int) -> list[int]:
        return self.items[self.ptr[s]:self.ptr[s + 1]].tolist()

    def sample(self, m: int) -> tuple[list[int], int]:
        """The ``(prefix, target)`` of sample ``m`` (for inspection; batches come from the collate functions)."""
        s, cut = self.samples[m].tolist()
        start = int(self.ptr[s])
        return self.items[start:start + cut].tolist(), int(self.items[start + cut])

    def select_sessions(self, index: Tensor) -> SessionSplit:
        """A new split holding sessions ``index`` (in that order) and their samples."""
        index = index.long()
        lengths = self.lengths[index]
        click = gather_ranges(self.ptr[index], lengths)
        remap = torch.full((self.num_sessions,), -1, dtype=torch.long)
        remap[index] = torch.arange(index.numel())
        keep = remap[self.samples[:, 0]] >= 0
        samples = torch.stack([remap[self.samples[keep, 0]], self.samples[keep, 1]], 1)
        return SessionSplit.from_lengths(
            lengths, self.items[click], samples,
            None if self.timestamps is None else self.timestamps[click],
            {k: v[click] for k, v in self.fields.items()})

    @classmethod
    def concat(cls, splits: Sequence[SessionSplit]) -> SessionSplit:
        """The sessions and samples of ``splits``, one after the other; timestamps and a field are kept where every
        split has them."""
        lengths = torch.cat([s.lengths for s in splits])
        offsets = torch.tensor([0, *np.cumsum([s.num_sessions for s in splits])[:-1].tolist()], dtype=torch.long)
        samples = torch.cat([s.samples + torch.tensor([offset, 0]) for s, offset in zip(splits, offsets)])
        timestamps = (torch.cat([s.timestamps for s in splits])
                      if all(s.timestamps is not None for s in splits) else None)
        names = set.intersection(*(set(s.fields) for s in splits))
        fields = {k: torch.cat([s.fields[k] for s in splits]) for k in sorted(names)}
        return cls.from_lengths(lengths, torch.cat([s.items for s in splits]), samples, timestamps, fields)

    @classmethod
    def empty(cls) -> SessionSplit:
        """A split without sessions or samples."""
        return cls.from_lengths(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))

    def to_dict(self) -> dict:
        return {"ptr": self.ptr, "items": self.items, "samples": self.samples,
                "timestamps": self.timestamps, "fields": dict(self.fields)}

    @classmethod
    def from_dict(cls, d: dict) -> SessionSplit:
        return cls(d["ptr"], d["items"], d["samples"], d.get("timestamps"), dict(d.get("fields") or {}))

    def __repr__(self) -> str:
        return f"SessionSplit(sessions={self.num_sessions}, clicks={self.items.numel()}, samples={self.num_samples})"


def all_prefix_samples(lengths: Tensor) -> Tensor:
    """``[sum(len-1), 2]`` every ``(session, cut)`` with ``1 <= cut < len``, session-major, cut ascending."""
    counts = (lengths.long() - 1).clamp(min=0)
    session = torch.repeat_interleave(torch.arange(len(lengths)), counts)
    start = torch.cumsum(counts, 0) - counts
    cut = torch.arange(int(counts.sum())) - torch.repeat_interleave(start, counts) + 1
    return torch.stack([session, cut], 1)


def gather_ranges(starts: Tensor, lengths: Tensor) -> Tensor:
    """Concatenation of ``arange(start, start+length)`` for every pair, vectorised."""
    offsets = torch.cumsum(lengths, 0) - lengths
    return torch.arange(int(lengths.sum())) - torch.repeat_interleave(offsets - starts, lengths)


@dataclass
class SideField:
    """Item side information (category, brand, attribute, …) as ids ``1..vocab_size``; 0 = none.

    Args:
        values: ``[num_items+1, V]`` long; row 0 (padding) is all zeros. ``V = 1`` for single-valued fields,
            ``V > 1`` (zero-padded on the right) for multi-valued ones.
        vocab_size: number of distinct values (the ids run ``1..vocab_size``).
        labels: optional original value of each id (``labels[k-1]`` for id ``k``), for inspection.
        part_of: the field that already holds this one's values (Beauty's ``category`` and ``brand`` are parts of
            S3-Rec's merged ``attribute``); models that take every field leave such a part out.
    """

    values: Tensor
    vocab_size: int
    labels: list[str] | None = None
    part_of: str | None = None

    @property
    def multi_valued(self) -> bool:
        return self.values.size(1) > 1

    def to_dict(self) -> dict:
        return {"values": self.values, "vocab_size": self.vocab_size, "labels": self.labels, "part_of": self.part_of}

    @classmethod
    def from_dict(cls, d: dict) -> SideField:
        return cls(d["values"], int(d["vocab_size"]), d.get("labels"), d.get("part_of"))

    def __repr__(self) -> str:
        return f"SideField(vocab_size={self.vocab_size}, values_per_item={self.values.size(1)})"


SPLITS = ("train", "valid", "test")


@dataclass
class SessionDataset:
    """A dataset after its protocol: items ``1..num_items``, side fields, optional item text, three splits.

    Args:
        name: the dataset key (``diginetica``, ``beauty``, …).
        protocol: ``session``, ``leave_one_out`` or ``given``.
        num_items: item ids run ``1..num_items``; 0 is padding.
        train, valid, test: the splits.
        side: named side fields (``category``, ``brand``, ``attribute``).
        text: optional item text, ``text[i]`` for item ``i`` (``text[0] = ""``).
        text_embedding: optional ``[num_items+1, D]`` float item text vectors (row 0 zeros).
        source: a short description of the files and format it was read from.
    """

    name: str
    protocol: str
    num_items: int
    train: SessionSplit
    valid: SessionSplit
    test: SessionSplit
    side: dict[str, SideField] = field(default_factory=dict)
    text: list[str] | None = None
    text_embedding: Tensor | None = None
    source: str = ""

    def split(self, name: str) -> SessionSplit:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def stats(self) -> dict:
        """The statistics ``graphsbr stats`` prints.

        ``avg_session_length`` is the mean length of the complete sequences: the training sessions (train and
        valid) under ``session``, the full user sequences (those of the test split) otherwise.
        """
        complete = (self.train, self.valid) if self.protocol == "session" else (self.test,)
        lengths = torch.cat([s.lengths for s in complete]).double()
        return {
            "dataset": self.name,
            "protocol": self.protocol,
            "num_items": self.num_items,
            "train_sessions": self.train.num_sessions,
            "train_samples": self.train.num_samples,
            "valid_samples": self.valid.num_samples,
            "test_samples": self.test.num_samples,
            "avg_session_length": round(float(lengths.mean()), 4) if lengths.numel() else 0.0,
            "side_info": {name: f.vocab_size for name, f in self.side.items()},
            "has_text": self.text is not None or self.text_embedding is not None,
        }

    def to_dict(self) -> dict:
        """Plain tensors, lists and numbers only, so that ``torch.load(weights_only=True)`` can read it."""
        return {
            "name": self.name, "protocol": self.protocol, "num_items": self.num_items, "source": self.source,
            "splits": {s: self.split(s).to_dict() for s in SPLITS},
            "side": {k: v.to_dict() for k, v in self.side.items()},
            "text": self.text, "text_embedding": self.text_embedding,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SessionDataset:
        splits = {s: SessionSplit.from_dict(d["splits"][s]) for s in SPLITS}
        return cls(d["name"], d["protocol"], int(d["num_items"]), **splits,
                   side={k: SideField.from_dict(v) for k, v in d["side"].items()},
                   text=d.get("text"), text_embedding=d.get("text_embedding"), source=d.get("source", ""))

    def __repr__(self) -> str:
        side = ", ".join(f"{k}={v.vocab_size}" for k, v in self.side.items())
        return (f"SessionDataset({self.name}, protocol={self.protocol}, items={self.num_items}, "
                f"train={self.train.num_samples}, valid={self.valid.num_samples}, test={self.test.num_samples}"
                + (f", side=({side})" if side else "") + (", text" if self.text is not None else "") + ")")


def iter_sessions(split: SessionSplit) -> Iterable[list[int]]:
    """Yields every session of a split as a list (for analysis and tests, not for hot paths)."""
    items, ptr = split.items.tolist(), split.ptr.tolist()
    for s in range(split.num_sessions):
        yield items[ptr[s]:ptr[s + 1]]
