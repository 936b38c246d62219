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
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

#: Column kinds accepted by :func:`read_table`.
KINDS = ("int", "float", "str")
#: Item ids written in files (:func:`parse_ids`) have at most this many digits (they are below 10**18), so that an
#: id and its successor fit in int64.
MAX_ID_DIGITS = 18


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
        DataError: the file is missing, empty or not UTF-8, a column is missing, a line has more fields than
            the columns, a value is missing (a truncated line) or does not parse as its kind (``float``: a finite
            number). The message names the file, the column and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", path)
    if header:
        present = list(_read(path, sep, header, names, nrows=0).columns)
    else:  # without a header, a missing column shows as a first line with too few fields
        present = list(_read(path, sep, header, names, nrows=1, usecols=list(names)).columns)
    missing = [c for c in columns if c not in present and c not in optional]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, present))}", path)
    usecols = [c for c in columns if c in present]
    dtypes = {c: {"int": "int64", "float": "float64", "str": object}[columns[c]] for c in usecols}
    # the other columns are parsed too (as text, about as fast): given ``usecols``, the parser would drop the fields
    # beyond the header's without a word, where now a line with too many fields is an error
    unused = {c: object for c in present if c not in dtypes}
    checked = {c: columns[c] for c in usecols if c not in empty_ok}
    try:
        frame = _read(path, sep, header, names, dtype={**dtypes, **unused})[usecols]
    except DataError:
        raise
    except (ValueError, TypeError, OverflowError):
        _diagnose(path, sep, header, names, checked)
        raise
    if not all(np.isfinite(frame[c].to_numpy()).all() for c in usecols if columns[c] == "float"):
        _diagnose(path, sep, header, names, checked)  # inf or nan, which the typed parser accepts
    if frame.empty:
        raise DataError("the file has a header but no rows", path)
    for name in usecols:
        if columns[name] == "str" and name not in empty_ok:
            _parse_column(frame[name], "str", name, path, 2 if header else 1)
    return frame


def _read(path: Path, sep, header, names, **kwargs) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # a first row with more fields than the header names would lose its last fields silently
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else list(names),
                               keep_default_na=False, na_filter=False, on_bad_lines="error", engine="c",
                               quoting=csv.QUOTE_NONE, index_col=False, **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", path) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as error:
        raise DataError(f"cannot be parsed as a {sep!r}-separated table: {str(error).strip()}", path) from None


def _diagnose(path: Path, sep, header, names, columns: Mapping[str, str]) -> None:
    """Re-reads the columns as text and raises a :class:`DataError` for the first value that does not parse."""
    frame = _read(path, sep, header, names, usecols=list(columns), dtype=str)
    first_line = 2 if header else 1
    for name, kind in columns.items():
        _parse_column(frame[name], kind, name, path, first_line)
    raise DataError("values do not parse as 64-bit numbers (an integer out of range?)", path)


def _parse_column(values: pd.Series, kind: str, name: str, path: Path, first_line: int) -> None:
    """Raises :class:`DataError` naming the line of the first value of a text column that is not of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown column kind {kind!r}")
    if kind == "str":
        empty = (values == "").to_numpy()
        if empty.any():
            raise DataError(f"line {int(np.flatnonzero(empty)[0]) + first_line}: a missing value (truncated line?) "
                            f"in column {name!r} ({int(empty.sum())} bad rows)", path)
        return
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (values.str.strip() == "").to_numpy()
    if kind == "int":
        bad[~bad] = numbers[~bad] % 1 != 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = values.iloc[row]
        problem = "a missing value (truncated line?)" if value.strip() == "" else f"non-numeric value {value!r}"
        raise DataError(f"line {row + first_line}: {problem} in column {name!r} ({int(bad.sum())} bad rows)", path)


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
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, MemoryError) as error:
        # OverflowError, MemoryError: a corrupt frame or object length (e.g. a FRAME opcode of 2**63 bytes)
        raise DataError(f"not a readable pickle (truncated or corrupt): {error}", path) from None


def read_json(path):
    """Reads a JSON file; a missing, empty, not UTF-8 or malformed file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text: {error}", path) from None
    if not text.strip():
        raise DataError("the file is empty", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON: {error}", path) from None


def parse_ids(tokens: Iterable[str]) -> list[int]:
    """Ids written as ASCII decimal digits, at most :data:`MAX_ID_DIGITS` of them.

    Raises:
        ValueError: with the first token that is anything else (a sign, a fraction, ``_``, another script's digits,
            a huge number); the caller names the file and line.
    """
    ids = []
    for token in tokens:
        if not (token.isascii() and token.isdigit()) or len(token.lstrip("0")) > MAX_ID_DIGITS:
            raise ValueError(token)
        ids.append(int(token))
    return ids


def expect(condition: bool, problem: str, path) -> None:
    """Raises :class:`DataError` with ``problem`` unless ``condition`` holds."""
    if not condition:
        raise DataError(problem, path)
