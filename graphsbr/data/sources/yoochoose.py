"""Yoochoose (RecSys Challenge 2015): raw ``yoochoose-clicks.dat`` -> :class:`ClickLog`.

Format: comma-separated, no header, ``session_id,timestamp,item_id,category`` with ISO-8601 timestamps in UTC
(``2014-04-06T20:21:58.444Z``); the sample ``sample_yoochoose.dat`` has the same format and is read when the full
file is absent. ``yoochoose-buys.dat`` is not read.

Choices:

* a click's time is its timestamp in unix seconds (float, millisecond precision);
* a session's clicks are ordered by time (stable: ties keep the file order; SR-GNN keeps the file order, which in
  the released file is already chronological); sessions keep the order of their first row;
* ``category``: ``0`` means unknown, anything else (``S`` for a special offer, ``1``-``12`` for a category, a long
  number for a brand) is a value, stored as the string of the file. An item's category is its first value other
  than ``0`` in time order (the whole log, not one session); an item without one has none. When every value is
  ``0`` (as in the sample) the record has no ``category`` field.

Use :func:`graphsbr.data.protocols.session_protocol` with ``test_days=1`` and ``recent_fraction=1/64`` (or ``1/4``)
for SR-GNN's Yoochoose 1/64 (1/4).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import read_table
from ..records import ClickLog
from ._find import find_file
from ._parse import check_rows, date_parser, sorted_within_sessions

EXPECTED = "yoochoose-clicks.dat (or sample_yoochoose.dat)"
CLICKS = ("yoochoose-clicks.dat", "sample_yoochoose.dat")
COLUMNS = {"session_id": "int", "timestamp": "str", "item_id": "int", "category": "str"}
UNKNOWN = "0"


def find(folder: Path) -> list[Path] | None:
    """``[clicks]`` under ``folder`` (the full file before the sample), or ``None`` without one."""
    clicks = find_file(folder, CLICKS[0]) or find_file(folder, CLICKS[1])
    return None if clicks is None else [clicks]


def read(files: list[Path]) -> ClickLog:
    """Reads the clicks file (the only file)."""
    path = Path(files[0])
    frame = read_table(path, COLUMNS, header=False, names=list(COLUMNS))
    category = frame["category"].to_numpy(dtype=object)
    time = date_parser("ISO8601")(pd.Index(frame["timestamp"]))  # nearly all distinct: parsed directly
    check_rows(~np.isnan(time), frame["timestamp"], "timestamp", "an ISO-8601 time", path, 1)
    session, item = frame["session_id"].to_numpy(), frame["item_id"].to_numpy()
    order = sorted_within_sessions(session, time)
    known = np.flatnonzero(category != UNKNOWN)
    first = known[np.argsort(time[known], kind="stable")]
    values = pd.DataFrame({"item": item[first], "value": category[first]}).drop_duplicates("item", ignore_index=True)
    side = {"category": values} if known.size else {}
    return ClickLog(session=session[order], item=item[order], time=time[order], item_side=side, path=str(path))
