"""SR-GNN-style preprocessed sessions (Diginetica, Tmall, Retailrocket, Yoochoose as published by SR-GNN,
GCE-GNN, CM-HGNN, CCGNN …): Python pickles named ``*.txt``.

* ``all_train_seq.txt`` — the full training sessions: ``list[list[int]]`` (SR-GNN, GCE-GNN) or the 4-tuple
  ``(session_ids, sessions, ['Nothing'], dates)`` (CCGNN, CSI-GNN), whose dates order the sessions;
  without it, ``train.txt`` — the augmented ``(prefixes, targets)`` — is read and its prefix chains merged.
* ``test.txt`` — ``(prefixes, targets)`` or ``(session_ids, prefixes, targets, dates)``.
* ``category.txt`` / ``brand.txt`` (optional) — ``dict[item -> value]``; values keep their (offset) ids and are
  renumbered ``1..V`` by :func:`~graphsbr.data.records.build_side_field`.

Pickles are read with :func:`~graphsbr.data.io.read_pickle`, which refuses anything but plain containers and
numbers, so a malicious file cannot run code.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import expect, read_pickle
from ..protocols import pairs_to_split
from ..records import SplitSequences
from ._find import find_file

EXPECTED = "all_train_seq.txt (or train.txt) + test.txt pickles, optional category.txt, brand.txt"
SIDE_FILES = {"category": "category.txt", "brand": "brand.txt"}


def find(folder: Path) -> list[Path] | None:
    """``test.txt`` beside ``all_train_seq.txt`` (or ``train.txt``), then the side files present."""
    for train_name in ("all_train_seq.txt", "train.txt"):
        train = find_file(folder, train_name)
        if train is not None and (train.parent / "test.txt").is_file():
            side = [train.parent / f for f in SIDE_FILES.values() if (train.parent / f).is_file()]
            return [train, train.parent / "test.txt", *side]
    return None


def read(files: list[Path]) -> SplitSequences:
    train_path, test_path, *side_paths = files
    train, train_time = _read_train(train_path)
    prefixes, targets, test_time = _read_pairs(test_path)
    names = {v: k for k, v in SIDE_FILES.items()}
    item_side = {names[p.name]: _read_side(p) for p in side_paths}
    return SplitSequences(train, prefixes, targets, train_time, test_time, item_side, path=str(train_path.parent))


def _read_train(path: Path):
    data = read_pickle(path)
    if path.name == "train.txt":
        prefixes, targets, _ = _pairs(data, path)
        split = pairs_to_split(prefixes, targets, str(path))
        return [split.session(s) for s in range(split.num_sessions)], None
    if isinstance(data, tuple) and len(data) == 4:
        sessions, dates = _check_sequences(data[1], path), _numbers(data[3], path, float)
        expect(len(dates) == len(sessions), f"{len(sessions)} sessions but {len(dates)} dates", path)
        return sessions, dates
    return _check_sequences(data, path), None


def _read_pairs(path: Path):
    return _pairs(read_pickle(path), path)


def _pairs(data, path: Path):
    expect(isinstance(data, (tuple, list)) and len(data) in (2, 4),
           "expected (prefixes, targets) or (ids, prefixes, targets, dates)", path)
    prefixes, targets = (data[0], data[1]) if len(data) == 2 else (data[1], data[2])
    dates = None if len(data) == 2 else _numbers(data[3], path, float)
    prefixes = _check_sequences(prefixes, path)
    targets = _numbers(targets, path, int)
    expect(len(prefixes) == len(targets), f"{len(prefixes)} prefixes but {len(targets)} targets", path)
    expect(bool((targets >= 1).all()), "item ids must be >= 1 (0 is padding)", path)
    return prefixes, targets.tolist(), dates


def _check_sequences(sequences, path: Path) -> list[list[int]]:
    expect(isinstance(sequences, list) and all(isinstance(s, (list, tuple)) for s in sequences),
           "expected a list of item-id lists", path)
    flat = _numbers([i for s in sequences for i in s], path, int)
    expect(flat.size > 0, "no item in the sessions", path)
    expect(bool((flat >= 1).all()), "item ids must be >= 1 (0 is padding)", path)
    return [list(s) for s in sequences]


def _numbers(values, path: Path, kind) -> np.ndarray:
    """A list of ints (``kind=int``, within int64) or of finite numbers (``kind=float``) as an array."""
    expect(isinstance(values, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in values),
           f"expected a list of {'integers' if kind is int else 'numbers'}", path)
    if kind is int:
        expect(all(isinstance(v, int) for v in values), "expected integer item ids", path)
    expect(all(-2 ** 63 <= v < 2 ** 63 if isinstance(v, int) else math.isfinite(v) for v in values),
           "expected finite numbers, integers within int64", path)
    return np.asarray(values, dtype=np.float64 if kind is float else np.int64)


def _read_side(path: Path) -> pd.DataFrame:
    data = read_pickle(path)
    expect(isinstance(data, dict), "expected a dict item -> value", path)
    items = _numbers(list(data.keys()), path, int)
    values = _numbers(list(data.values()), path, int)
    return pd.DataFrame({"item": items, "value": values})
