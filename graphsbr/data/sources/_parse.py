"""Parsing helpers shared by the raw click-log readers (vectorised; errors name the file, line and value)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError


def sorted_within_sessions(session: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The row order that groups rows by session (sessions in order of first appearance) and sorts each session
    by ``key``, stably."""
    return np.lexsort((key, pd.factorize(session)[0]))


def date_parser(fmt: str) -> Callable[[pd.Index], np.ndarray]:
    """A parser for :func:`parse_distinct`: text in ``fmt`` (UTC) -> float unix seconds, NaN where malformed."""
    def parse(text: pd.Index) -> np.ndarray:
        stamps = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        return np.asarray((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1), dtype=np.float64)
    return parse


def parse_distinct(values: pd.Series, parse: Callable[[pd.Index], np.ndarray], column: str, expected: str,
                    path: Path, first_line: int) -> np.ndarray:
    """``parse`` applied once per distinct value of a column (fast on long columns with few distinct values).

    ``parse`` maps an Index of distinct values to float64, NaN where a value is malformed; the first malformed
    value raises :class:`DataError` naming its line (``first_line`` = the line of the column's first value).
    """
    codes, uniques = pd.factorize(values)
    parsed = np.asarray(parse(pd.Index(uniques)), dtype=np.float64)
    check_rows(~np.isnan(parsed)[codes], values, column, expected, path, first_line)
    return parsed[codes]


def check_rows(ok: np.ndarray, values: pd.Series, column: str, expected: str, path: Path, first_line: int) -> None:
    """Raises :class:`DataError` naming the line and value of the first row where ``ok`` is false."""
    if ok.all():
        return
    bad = np.flatnonzero(~ok)
    value = values.iloc[bad[:1]].tolist()[0]  # a Python value, for its repr
    problem = "a missing value (truncated line?)" if value == "" else f"bad value {value!r}"
    raise DataError(f"line {bad[0] + first_line}: {problem} in column {column!r}, expected {expected} "
                    f"({bad.size} bad rows)", path)
