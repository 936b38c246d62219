"""RecBole atomic files as UniSRec publishes its downstream sets (Scientific, Office, …), with item text.

* ``<Name>.train.inter``, ``<Name>.valid.inter``, ``<Name>.test.inter`` — TAB-separated with a typed header
  ``user_id:token  item_id_list:token_seq  item_id:token``; each row is a ``(history, next item)`` pair, item
  ids are 0-based integer indices (shifted to ``1..N`` here).
* ``<Name>.text`` (optional) — ``item_id:token  text:token_seq``, keyed by the raw item id, mapped to indices by
  ``<Name>.item2index`` (``raw_id  index``, no header). Without ``item2index`` the text keys must be the indices.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError
from ..io import MAX_ID_DIGITS, expect, parse_ids, read_table
from ..records import GivenSplits
from ._find import find_files

EXPECTED = "<Name>.train.inter, <Name>.valid.inter, <Name>.test.inter, optional <Name>.text + <Name>.item2index"
SPLITS = ("train", "valid", "test")


def find(folder: Path) -> list[Path] | None:
    """The three ``.inter`` files of one name, then its ``.text`` and ``.item2index`` when present."""
    for train in find_files(folder, "*.train.inter"):
        stem = train.name[:-len(".train.inter")]
        splits = [train.with_name(f"{stem}.{s}.inter") for s in SPLITS]
        if all(p.is_file() for p in splits):
            extra = [train.with_name(stem + ext) for ext in (".text", ".item2index")]
            return splits + [p for p in extra if p.is_file()]
    return None


def read(files: list[Path]) -> GivenSplits:
    inter, extra = files[:3], {p.suffix: p for p in files[3:]}
    pairs, max_item = {}, 0
    for split, path in zip(SPLITS, inter):
        prefixes, targets = _read_inter(path)
        pairs[split] = (prefixes, targets)
        max_item = max(max_item, max(targets), max((i for p in prefixes for i in p), default=0))
    text = _read_text(extra[".text"], extra.get(".item2index")) if ".text" in extra else None
    return GivenSplits(pairs, max_item, item_text=text, path=str(inter[0].parent))


def _column(frame_columns, field: str, path: Path) -> str:
    for column in frame_columns:
        if column.split(":")[0] == field:
            return column
    raise DataError(f"missing column {field}:…; found {', '.join(frame_columns)}", path)


def _header(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline().rstrip("\n")
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text: {error}", path) from None
    expect(bool(first), "the file is empty", path)
    return first.split("\t")


def _read_inter(path: Path):
    header = _header(path)
    history, target = _column(header, "item_id_list", path), _column(header, "item_id", path)
    frame = read_table(path, {history: "str", target: "int"}, sep="\t", empty_ok=(history,))
    try:
        prefixes = [[i + 1 for i in parse_ids(h.split())] for h in frame[history]]
    except ValueError as error:
        raise DataError(f"non-numeric item id {str(error)!r} in column {history}", path) from None
    expect(any(prefixes), f"no row with a non-empty {history}: no (prefix, target) pair", path)
    targets = frame[target].to_numpy()
    expect(targets.min() >= 0, "item indices must be >= 0", path)
    expect(targets.max() < 10 ** MAX_ID_DIGITS, f"item indices must have at most {MAX_ID_DIGITS} digits", path)
    return prefixes, (targets + 1).tolist()


def _read_text(path: Path, item2index: Path | None) -> pd.DataFrame:
    header = _header(path)
    item, text = _column(header, "item_id", path), _column(header, "text", path)
    frame = read_table(path, {item: "str", text: "str"}, sep="\t", empty_ok=(text,))
    if item2index is None:
        try:
            ids = np.array(parse_ids(frame[item]), dtype=np.int64) + 1
        except ValueError as error:
            raise DataError(f"text key {str(error)!r} is not an index and no .item2index file maps it", path) from None
    else:
        mapping = read_table(item2index, {"raw": "str", "index": "int"}, sep="\t", header=False,
                             names=["raw", "index"]).drop_duplicates()
        twice = mapping["raw"][mapping["raw"].duplicated()]
        if len(twice):
            raise DataError(f"raw id {twice.iloc[0]!r} has two indices", item2index)
        lookup = pd.Series(mapping["index"].to_numpy() + 1, index=mapping["raw"])
        ids = lookup.reindex(frame[item]).fillna(0).to_numpy(dtype=np.int64)
    return pd.DataFrame({"item": ids, "text": frame[text]})
