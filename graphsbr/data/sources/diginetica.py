"""Diginetica (CIKM Cup 2016, track 2): raw ``train-item-views.csv`` (+ ``product-categories.csv``) -> ClickLog.

Format: ``;``-separated, header ``session_id;user_id;item_id;timeframe;eventdate`` (``timeframe`` = ms since the
session started, ``eventdate`` = ``YYYY-MM-DD``); SR-GNN's ``sample_train-item-views.csv`` has the same format and is
read when the full file is absent. Optional ``product-categories.csv``: ``;``-separated, header ``itemId;categoryId``.

Choices, following SR-GNN's ``datasets/preprocess.py``:

* a session's clicks are ordered by ``timeframe`` (stable: ties keep the file order); sessions keep the order of
  their first row, which breaks ties between sessions of the same day as SR-GNN does;
* a click's time is its ``eventdate`` at midnight UTC, in unix seconds: SR-GNN splits on whole days, so a session's
  time is its latest date (SR-GNN takes the date of the session's last row, in local time: only a constant offset
  differs);
* ``user_id`` (mostly ``NA``) is not read;
* an item's category is the ``categoryId`` of its first row in ``product-categories.csv``; without that file the
  record has no ``category`` field.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_table
from ..records import ClickLog
from ._find import find_file
from ._parse import date_parser, parse_distinct, sorted_within_sessions

EXPECTED = "train-item-views.csv (or sample_train-item-views.csv), optional product-categories.csv"
VIEWS = ("train-item-views.csv", "sample_train-item-views.csv")
CATEGORIES = "product-categories.csv"


def find(folder: Path) -> list[Path] | None:
    """``[views, categories]`` (categories only when present) under ``folder``, or ``None`` without a views file."""
    views = find_file(folder, VIEWS[0]) or find_file(folder, VIEWS[1])
    if views is None:
        return None
    categories = find_file(folder, CATEGORIES)
    return [views] if categories is None else [views, categories]


def read(files: list[Path]) -> ClickLog:
    """Reads the views file (first) and, when given, the categories file (second)."""
    path, *rest = map(Path, files)
    frame = read_table(path, {"session_id": "int", "item_id": "int", "timeframe": "int", "eventdate": "str"},
                       sep=";")
    time = parse_distinct(frame["eventdate"], date_parser("%Y-%m-%d"), "eventdate", "a date YYYY-MM-DD", path, 2)
    session = frame["session_id"].to_numpy()
    order = sorted_within_sessions(session, frame["timeframe"].to_numpy())
    side = {"category": _categories(rest[0])} if rest else {}
    return ClickLog(session=session[order], item=frame["item_id"].to_numpy()[order], time=time[order],
                    item_side=side, path=str(path))


def _categories(path: Path) -> pd.DataFrame:
    frame = read_table(path, {"itemId": "int", "categoryId": "int"}, sep=";").drop_duplicates("itemId")
    return pd.DataFrame({"item": frame["itemId"].to_numpy(), "value": frame["categoryId"].to_numpy()})
