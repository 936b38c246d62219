"""Retailrocket (Kaggle "Retailrocket recommender system dataset") -> :class:`ClickLog`, from one of two layouts.

(a) Kaggle's files: ``events.csv``, header ``timestamp,visitorid,event,itemid,transactionid`` (timestamp in ms,
    ``event`` one of ``view``, ``addtocart``, ``transaction``), and optionally ``item_properties_part1.csv`` /
    ``item_properties_part2.csv``, header ``timestamp,itemid,property,value``.
(b) A sessionised sample such as SR-GTM's ``sample_retailrocket.csv``: TAB-separated despite its name, header
    ``timestamp user_id item_id session_id`` (unix seconds), views only.

The layout is recognised from the main file's header: a TAB-separated header with ``session_id`` is (b), anything
else is read as (a) (whose reader names any missing column).

Choices for (a):

* only the events named by ``events`` are kept, ``view`` alone by default (the SR-GNN-style Retailrocket sets are
  built from views); the events are filtered before sessionising;
* a visitor's kept events, in time order (stable), are cut into sessions wherever two consecutive ones are more
  than ``session_gap`` seconds (30 minutes) apart. A session is ``(visitor, n)``, ``n = 0, 1, …`` its number
  among the visitor's sessions, stored as the integer ``visitor * 10**k + n`` with ``10**k`` above every ``n``
  (so the decimal id reads as the visitor followed by the session number);
* a click's time is its timestamp in unix seconds (float);
* an item's category is the value of its latest ``categoryid`` property (ties: the later row, part 1 before
  part 2), kept as the string of the file; without property files, or without any ``categoryid`` row, the record
  has no ``category`` field. ``category_tree.csv`` is not read.

For (b): the given ``session_id`` is the session (in the sample two of its ids span two visitors; they are kept as
given); a session's clicks are ordered by time (stable). ``events`` and ``session_gap`` do not apply.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import ConfigError
from ..io import expect, read_table
from ..records import ClickLog
from ._find import find_file
from ._parse import check_rows, sorted_within_sessions

EXPECTED = ("events.csv (+ optional item_properties_part1.csv, item_properties_part2.csv), "
            "or a sessionised sample_retailrocket.csv")
EVENTS_FILE = "events.csv"
PROPERTIES = ("item_properties_part1.csv", "item_properties_part2.csv")
SESSIONISED = "sample_retailrocket.csv"
EVENTS = ("view", "addtocart", "transaction")


def find(folder: Path) -> list[Path] | None:
    """``[events.csv, item_properties_part1.csv, item_properties_part2.csv]`` (property files only when present),
    else ``[sample_retailrocket.csv]``, else ``None``."""
    events = find_file(folder, EVENTS_FILE)
    if events is not None:
        return [events, *(p for p in (find_file(folder, name) for name in PROPERTIES) if p is not None)]
    sample = find_file(folder, SESSIONISED)
    return None if sample is None else [sample]


def read(files: list[Path], *, events: Sequence[str] = ("view",), session_gap: float = 30 * 60) -> ClickLog:
    """Reads the events (or sessionised) file, first, and the item property files after it.

    Args:
        files: the main file, then any property files.
        events: the event types kept from ``events.csv``.
        session_gap: seconds of inactivity that end a visitor's session in ``events.csv``.
    """
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise ConfigError(f"events must name one or more of {', '.join(EVENTS)}; got {list(events)}")
    path, *properties = map(Path, files)
    if _is_sessionised(path):
        return _read_sessionised(path)
    return _read_events(path, tuple(events), session_gap, properties)


def _is_sessionised(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            header = file.readline()
    except OSError:
        return False  # read_table reports it
    return "session_id" in header.rstrip("\r\n").split("\t")


def _read_sessionised(path: Path) -> ClickLog:
    frame = read_table(path, {"timestamp": "float", "item_id": "int", "session_id": "int"}, sep="\t")
    session, time = frame["session_id"].to_numpy(), frame["timestamp"].to_numpy()
    order = sorted_within_sessions(session, time)
    return ClickLog(session=session[order], item=frame["item_id"].to_numpy()[order], time=time[order],
                    path=str(path))


def _read_events(path: Path, events: tuple[str, ...], session_gap: float, properties: list[Path]) -> ClickLog:
    frame = read_table(path, {"timestamp": "int", "visitorid": "int", "event": "str", "itemid": "int"})
    event = frame["event"]
    check_rows(event.isin(EVENTS).to_numpy(), event, "event", f"one of {', '.join(EVENTS)}", path, 2)
    frame = frame[event.isin(events).to_numpy()]
    expect(len(frame) > 0, f"no {' or '.join(events)} event", path)
    visitor, millis = frame["visitorid"].to_numpy(), frame["timestamp"].to_numpy()
    order = np.lexsort((millis, visitor))
    visitor, millis, item = visitor[order], millis[order], frame["itemid"].to_numpy()[order]
    return ClickLog(session=_sessionise(visitor, millis, session_gap * 1000, path), item=item, time=millis / 1000.0,
                    item_side=_categories(properties), path=str(path))


def _sessionise(visitor: np.ndarray, time: np.ndarray, gap: float, path: Path) -> np.ndarray:
    """Session ids ``visitor * 10**k + n`` for events sorted by visitor, then time (gaps in the unit of ``time``)."""
    first_of_visitor = np.ones(visitor.size, dtype=bool)
    first_of_visitor[1:] = visitor[1:] != visitor[:-1]
    starts = first_of_visitor.copy()
    # differences modulo 2**64: exact (and non-negative) between the sorted times of one visitor, even near the
    # int64 limits, where a signed difference overflows
    starts[1:] |= np.diff(time.astype(np.uint64)) > gap
    run = np.cumsum(starts) - 1  # global session index
    number = run - np.maximum.accumulate(np.where(first_of_visitor, run, 0))
    scale = 10 ** len(str(int(number.max())))
    expect(max(-int(visitor.min()), int(visitor.max())) < (2 ** 63 - 1) // scale - 1,
           f"visitor ids too large to combine with session numbers below {scale}", path)
    return visitor * scale + number


def _categories(paths: list[Path]) -> dict[str, pd.DataFrame]:
    """``{"category": DataFrame(item, value)}`` from the ``categoryid`` properties, or ``{}`` without any."""
    rows = []
    for path in paths:
        frame = read_table(path, {"timestamp": "int", "itemid": "int", "property": "str", "value": "str"})
        rows.append(frame[(frame["property"] == "categoryid").to_numpy()])
    if not any(len(frame) for frame in rows):
        return {}
    rows = pd.concat(rows, ignore_index=True)
    latest = rows.iloc[np.argsort(rows["timestamp"].to_numpy(), kind="stable")].drop_duplicates("itemid", keep="last")
    return {"category": pd.DataFrame({"item": latest["itemid"].to_numpy(), "value": latest["value"].to_numpy()})}
