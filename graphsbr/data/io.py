"""Careful file reading: every problem becomes a :class:`graphsbr.DataError` naming the file.

* :func:`read_table` reads a delimited text file, checks its columns, values and completeness.
* :func:`read_pickle` reads SR-GNN-style pickles with a restricted unpickler that admits plain lists, tuples,
  dicts, numbers and strings only: a pickle that refers to any class or function (the way a malicious pickle
  runs code) is refused before anything is called.
"""
from __future__ import annotations

import csv
import io
import json
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

#: Column kinds accepted by :func:`read_table`.
KINDS = ("int", "float", "str")


def read_table(path, columns: Mapping[str, str], *, sep: str = ",", header: bool = True,
               names: Sequence[str] | None = None, optional: Sequence[str] = (),
               empty_ok: Sequence[str] = ()) -> pd.DataFrame:
    """Reads the ``columns`` (name -> kind in ``int``, ``float``, ``str``) of a delimited text file.

    The file is parsed once with typed columns (fast); only when that fails is it read again as text to find
    and name the first bad line.

    Args:
        path: the file.
        columns: the columns to return and the kind each must parse as.
        sep: the delimiter.
        header: whether the first line names the columns; otherwise ``names`` gives them.
        names: column names for a file without a header.
        optional: columns of ``columns`` that may be absent (then missing from the frame).
        empty_ok: ``str`` columns whose values may be empty; elsewhere an empty value is a truncated line.

    Raises:
        DataError: the file is missing or empty, a column is missing, a value is missing (a truncated line)
            or does not parse as its kind. The message names the file, the column and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", path)
    present = list(names) if not header else list(_read(path, sep, header, names, nrows=0).columns)
    missing = [c for c in columns if c not in present and c not in optional]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, present))}", path)
    usecols = [c for c in columns if c in present]
    dtypes = {c: {"int": "int64", "float": "float64", "str": object}[columns[c]] for c in usecols}
    try:
        frame = _read(path, sep, header, names, usecols=usecols, dtype=dtypes)
    except (ValueError, TypeError, OverflowError):
        _diagnose(path, sep, header, names, {c: columns[c] for c in usecols if c not in empty_ok})
        raise
    if frame.empty:
        raise DataError("the file has a header but no rows", path)
    for name in usecols:
        if columns[name] == "str" and name not in empty_ok:
            _parse_column(frame[name], "str", name, path, 2 if header else 1)
    return frame


def _read(path: Path, sep, header, names, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else list(names),
                           keep_default_na=False, na_filter=False, on_bad_lines="error", engine="c",
                           quoting=csv.QUOTE_NONE, index_col=False, **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", path) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"cannot be parsed as a {sep!r}-separated table: {str(error).strip()}", path) from None


def _diagnose(path: Path, sep, header, names, columns: Mapping[str, str]) -> None:
    """Re-reads the columns as text and raises a :class:`DataError` for the first value that does not parse."""
    frame = _read(path, sep, header, names, usecols=list(columns), dtype=str)
    first_line = 2 if header else 1
    for name, kind in columns.items():
        _parse_column(frame[name], kind, name, path, first_line)
    raise DataError("values do not parse as numbers", path)


def _parse_column(values: pd.Series, kind: str, name: str, path: Path, first_line: int):
    if kind not in KINDS:
        raise ValueError(f"unknown column kind {kind!r}")
    if kind == "str":
        empty = (values == "").to_numpy()
        if empty.any():
            raise DataError(f"line {int(np.flatnonzero(empty)[0]) + first_line}: a missing value (truncated line?) "
                            f"in column {name!r} ({int(empty.sum())} bad rows)", path)
        return values.to_numpy(dtype=object)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna().to_numpy() | (values.str.strip() == "").to_numpy()
    if kind == "int" and not bad.all():
        bad |= (parsed.to_numpy(dtype=float) % 1) != 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = values.iloc[row]
        problem = "a missing value (truncated line?)" if value.strip() == "" else f"non-numeric value {value!r}"
        raise DataError(f"line {row + first_line}: {problem} in column {name!r} ({int(bad.sum())} bad rows)", path)
    return parsed.to_numpy(dtype=np.int64 if kind == "int" else np.float64)


class _PlainUnpickler(pickle.Unpickler):
    """Builds plain containers and numbers only: every class or function lookup is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refers to {module}.{name}")


def read_pickle(path):
    """Reads a pickle that holds only lists, tuples, dicts, ints, floats and strings.

    Raises:
        DataError: the file is missing, empty, truncated, not a pickle, or refers to any class or function.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    data = path.read_bytes()
    if not data:
        raise DataError("the file is empty", path)
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as error:
        raise DataError(f"refused pickle: {error}; only plain lists, tuples, dicts, numbers and strings "
                        "are allowed", path) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise DataError(f"not a readable pickle (truncated or corrupt): {error}", path) from None


def read_json(path):
    """Reads a JSON file; a missing, empty or malformed file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise DataError("the file is empty", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON: {error}", path) from None


def expect(condition: bool, problem: str, path) -> None:
    """Raises :class:`DataError` with ``problem`` unless ``condition`` holds."""
    if not condition:
        raise DataError(problem, path)
