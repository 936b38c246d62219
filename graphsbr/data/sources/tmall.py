"""Tmall (IJCAI-15 repeat-buyer competition): raw ``user_log_format1.csv`` -> :class:`ClickLog`.

Format: comma-separated, header ``user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type``;
``time_stamp`` is the day of 2015 as ``MMDD`` (``829`` or ``0829``), ``brand_id`` may be empty, ``action_type`` is
0 (click), 1 (add to cart), 2 (purchase) or 3 (add to favourites). ``seller_id`` is not read.

Choices:

* a session is one user's log of one day, ``(user, day)``, stored as the integer ``user * 10000 + MMDD``; its
  clicks keep the file order (the log has no time finer than a day), sessions the order of their first row;
* a click's time is its day (2015, midnight UTC) in unix seconds;
* every action is kept, as the per-click field ``action`` (the raw ``action_type``);
* item side fields, as CSI-GNN's ``0-Tmall_category-brand-dict.py`` builds them: ``category`` = the first
  ``cat_id`` seen per item (file order); ``brand`` = the first non-zero ``brand_id`` per item, where an empty
  ``brand_id`` reads as ``0``; an item with no other brand keeps ``0``, which stays a value meaning "unknown"
  (so, as in CSI-GNN's ``brand.txt``, one brand id means unknown).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import expect, read_table
from ..records import ClickLog
from ._find import find_file
from ._parse import check_rows, date_parser, parse_distinct

LOG = "user_log_format1.csv"
EXPECTED = LOG
COLUMNS = {"user_id": "int", "item_id": "int", "cat_id": "int", "brand_id": "str", "time_stamp": "int",
           "action_type": "int"}
ACTIONS = (0, 1, 2, 3)
YEAR = "2015"


def find(folder: Path) -> list[Path] | None:
    """``[user_log_format1.csv]`` under ``folder``, or ``None`` without it."""
    log = find_file(folder, LOG)
    return None if log is None else [log]


def read(files: list[Path]) -> ClickLog:
    """Reads the user log (the only file)."""
    path = Path(files[0])
    frame = read_table(path, COLUMNS, empty_ok=("brand_id",))
    day = frame["time_stamp"]
    time = parse_distinct(day, _days_of_year, "time_stamp", f"MMDD, a day of {YEAR}", path, 2)
    brand = parse_distinct(frame["brand_id"], _brand_numbers, "brand_id", "an integer below 2**53 or nothing", path, 2)
    action = frame["action_type"].to_numpy()
    check_rows(np.isin(action, ACTIONS), frame["action_type"], "action_type", "0, 1, 2 or 3", path, 2)
    user, item = frame["user_id"].to_numpy(), frame["item_id"].to_numpy()
    expect(max(-int(user.min()), int(user.max())) < 2 ** 63 // 10000 - 1, "user ids too large to combine with a day",
           path)
    return ClickLog(session=user * 10000 + day.to_numpy(), item=item, time=time, fields={"action": action},
                    item_side=_side(item, frame["cat_id"].to_numpy(), brand.astype(np.int64)), path=str(path))


def _days_of_year(days: pd.Index) -> np.ndarray:
    return date_parser("%Y%m%d")(YEAR + days.astype(str).str.zfill(4))


def _brand_numbers(text: pd.Index) -> np.ndarray:
    """Brand ids as floats (exact below 2**53), NaN where not such an integer; empty reads as 0."""
    number = pd.to_numeric(pd.Series(text).replace("", "0"), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    number[~(np.abs(number) < 2 ** 53)] = np.nan  # inexact or infinite
    return np.where(number % 1 == 0, number, np.nan)


def _side(item: np.ndarray, category: np.ndarray, brand: np.ndarray) -> dict[str, pd.DataFrame]:
    """``category`` from each item's first row; ``brand`` from its first row with a non-zero brand, else its first
    row (brand 0)."""
    first = _first_rows(item)
    branded = np.flatnonzero(brand != 0)
    branded = branded[_first_rows(item[branded])]
    rows = np.concatenate([branded, first[~np.isin(item[first], item[branded])]])
    return {"category": pd.DataFrame({"item": item[first], "value": category[first]}),
            "brand": pd.DataFrame({"item": item[rows], "value": brand[rows]})}


def _first_rows(values: np.ndarray) -> np.ndarray:
    """The index of the first occurrence of each distinct value, in order."""
    return np.flatnonzero(~pd.Series(values).duplicated().to_numpy())
