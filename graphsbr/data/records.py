"""What a reader returns, before a protocol turns it into a :class:`SessionDataset`.

Four shapes cover every on-disk format:

* :class:`ClickLog` — raw clicks with raw ids (CIKM-Cup, Yoochoose, Retailrocket, Tmall logs, synthetic);
  the ``session`` protocol applies the SR-GNN preprocessing to it.
* :class:`SplitSequences` — already-preprocessed training sessions and test ``(prefix, target)`` pairs (SR-GNN pickles).
* :class:`UserSequences` — one chronological sequence per user (S3-Rec), for ``leave_one_out``.
* :class:`GivenSplits` — train/valid/test ``(prefix, target)`` pairs as given (RecBole/UniSRec atomic files).

Item side information is given in long form, one ``(item, value)`` row per value, so that single- and
multi-valued fields look alike: ``item_side = {"category": DataFrame(item=…, value=…)}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from .dataset import SideField


@dataclass
class ClickLog:
    """Raw clicks. Within a session, clicks are in the order given; the session's time is its latest click.

    Args:
        session: ``[n]`` raw session ids.
        item: ``[n]`` raw item ids.
        time: ``[n]`` float64 unix seconds.
        fields: per-click behaviour fields (raw values), e.g. Tmall's ``action_type``.
        item_side: side fields keyed by raw item id, long form ``DataFrame(item, value)``.
        item_text: optional ``DataFrame(item, text)`` keyed by raw item id.
        path: the file it was read from, for messages.
    """

    session: np.ndarray
    item: np.ndarray
    time: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    item_side: dict[str, pd.DataFrame] = field(default_factory=dict)
    item_text: pd.DataFrame | None = None
    path: str = ""


@dataclass
class SplitSequences:
    """Preprocessed sessions: full training sessions (chronological) and test ``(prefix, target)`` pairs.

    Item ids are final (``1..num_items``). ``train_time``/``test_time`` are per session / per pair, optional.
    """

    train: list[list[int]]
    test_prefixes: list[list[int]]
    test_targets: list[int]
    train_time: np.ndarray | None = None
    test_time: np.ndarray | None = None
    item_side: dict[str, pd.DataFrame] = field(default_factory=dict)
    path: str = ""


@dataclass
class UserSequences:
    """One chronological item sequence per user; item ids are final (``1..num_items``)."""

    sequences: list[list[int]]
    item_side: dict[str, pd.DataFrame] = field(default_factory=dict)
    item_text: pd.DataFrame | None = None
    path: str = ""


@dataclass
class GivenSplits:
    """``(prefix, target)`` pairs per split (``train``, ``valid``, ``test``); item ids are final."""

    pairs: dict[str, tuple[list[list[int]], list[int]]]
    num_items: int
    item_side: dict[str, pd.DataFrame] = field(default_factory=dict)
    item_text: pd.DataFrame | None = None
    path: str = ""


def build_side_field(item: np.ndarray, value: np.ndarray, num_items: int) -> SideField:
    """Turns long-form ``(item, value)`` rows into a :class:`SideField`.

    Rows whose item is outside ``1..num_items`` or whose value is missing are dropped; values are renumbered
    ``1..V`` in sorted order of the original values; an item's values keep their first-seen order, duplicates
    removed; multi-valued items are zero-padded to the widest item.
    """
    item = np.asarray(item, dtype=np.int64)
    value = pd.Series(np.asarray(value))
    keep = (item >= 1) & (item <= num_items) & value.notna().to_numpy()
    item, value = item[keep], value[keep]
    try:
        codes, uniques = pd.factorize(value, sort=True)
    except TypeError:  # mixed value types cannot be sorted
        codes, uniques = pd.factorize(value.astype(str), sort=True)
    pairs = pd.DataFrame({"item": item, "code": codes + 1}).drop_duplicates()
    item, code = pairs["item"].to_numpy(), pairs["code"].to_numpy()
    order = np.argsort(item, kind="stable")
    item, code = item[order], code[order]
    counts = np.bincount(item, minlength=num_items + 1)
    width = max(1, int(counts.max()) if counts.size else 1)
    start = np.cumsum(counts) - counts
    rank = np.arange(item.size) - start[item]
    values = np.zeros((num_items + 1, width), dtype=np.int64)
    values[item, rank] = code
    return SideField(torch.from_numpy(values), len(uniques), [str(u) for u in uniques])


def build_side_fields(item_side: dict[str, pd.DataFrame], num_items: int, item_ids=None,
                      path=None) -> dict[str, SideField]:
    """All side fields of a record; ``item_ids`` maps raw item ids to final ids (identity when ``None``); ``path``
    names the record's files in messages."""
    fields = {}
    for name, frame in item_side.items():
        item = frame["item"].to_numpy() if item_ids is None else item_ids(frame["item"].to_numpy())
        if len(frame) and not ((item >= 1) & (item <= num_items)).any():
            raise DataError(f"side field {name!r} matches no item of the dataset "
                            f"(its item ids are {frame['item'].dtype}, are they of another kind?)", path)
        fields[name] = build_side_field(item, frame["value"].to_numpy(), num_items)
        fields[name].part_of = frame.attrs.get("part_of")
    return fields


def build_text(item_text: pd.DataFrame | None, num_items: int, item_ids=None) -> list[str] | None:
    """``text[i]`` for items ``0..num_items`` (``""`` where an item has none); ``None`` without text."""
    if item_text is None:
        return None
    item = item_text["item"].to_numpy() if item_ids is None else item_ids(item_text["item"].to_numpy())
    text = [""] * (num_items + 1)
    for i, t in zip(item.tolist(), item_text["text"].tolist()):
        if 1 <= i <= num_items and isinstance(t, str):
            text[i] = t
    return text
