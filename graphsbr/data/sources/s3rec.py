"""S3-Rec user sequences with multi-valued item attributes (Beauty, Sports_and_Outdoors, Toys_and_Games, Yelp,
LastFM from the S3-Rec repository).

* ``<Name>.txt`` — one user a line: ``user_id item_id item_id …`` (space-separated, chronological, ids from 1).
* ``<Name>_item2attributes.json`` (optional) — ``{"<item_id>": [attribute_id, …]}``; read as the multi-valued
  side field ``attribute`` (categories and brand merged in one id space by S3-Rec). For the Amazon sets
  (:data:`AMAZON`) it is also split into ``category`` (multi-valued) and ``brand`` (single-valued): see
  :func:`split_amazon_attributes`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError
from ..io import expect, parse_ids, read_json
from ..records import UserSequences
from ._find import find_files

#: The dataset keys of the S3-Rec repository and their file names.
EXPECTED = "<Name>.txt + <Name>_item2attributes.json (Name = Beauty, Sports_and_Outdoors, Toys_and_Games, Yelp, LastFM)"
NAMES = {"beauty": "Beauty", "sports": "Sports_and_Outdoors", "toys": "Toys_and_Games", "yelp": "Yelp",
         "lastfm": "LastFM"}
#: The Amazon sets, whose attributes S3-Rec builds from the item's brand and categories.
AMAZON = ("Beauty", "Sports_and_Outdoors", "Toys_and_Games")


def find(folder: Path) -> list[Path] | None:
    """``<Name>.txt`` with ``<Name>_item2attributes.json`` beside it (any name), else a lone known ``<Name>.txt``."""
    for attributes in find_files(folder, "*_item2attributes.json"):
        sequences = attributes.with_name(attributes.name[:-len("_item2attributes.json")] + ".txt")
        if sequences.is_file():
            return [sequences, attributes]
    for name in NAMES.values():
        found = find_files(folder, f"{name}.txt")
        if found:
            return found[:1]
    return None


def read(files: list[Path]) -> UserSequences:
    sequences = _read_sequences(files[0])
    if len(files) == 1:
        return UserSequences(sequences, path=str(files[0]))
    attributes = _read_attributes(files[1])
    item_side = {"attribute": attributes}
    if files[0].stem in AMAZON:
        clicked = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]))
        for name, part in split_amazon_attributes(attributes).items():
            part = part[part["item"].isin(clicked)]
            if len(part):  # a part that no clicked item has (e.g. no brand at all) is left out
                part.attrs["part_of"] = "attribute"
                item_side[name] = part
    return UserSequences(sequences, item_side, path=str(files[0]))


def split_amazon_attributes(attributes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"category": …, "brand": …}`` from S3-Rec's merged Amazon attributes (long form ``item, value``, each
    item's values in file order).

    S3-Rec's ``get_attribute_Amazon`` writes an item's list as its brand (when it has one) followed by its
    categories (every category path without its root), numbering all the strings in one id space. An id that stands
    anywhere but first in some item's list is therefore a category, and the ids that only ever stand first are the
    brands, at most one per item. (On Beauty every brand so found is followed by one of the six top-level
    categories, and every item without one starts with a top-level category.)
    """
    later = attributes.groupby("item", sort=False).cumcount().to_numpy() > 0
    is_category = attributes["value"].isin(attributes["value"][later]).to_numpy()
    return {"category": attributes[is_category], "brand": attributes[~is_category]}


def _read_sequences(path: Path) -> list[list[int]]:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text: {error}", path) from None
    sequences = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            items = parse_ids(fields[1:])
        except ValueError as error:
            raise DataError(f"line {number}: non-numeric item id {str(error)!r} in {line.strip()[:60]!r}",
                            path) from None
        expect(len(items) > 0, f"line {number}: user {fields[0]} has no item", path)
        expect(min(items) >= 1, f"line {number}: item ids must be >= 1 (0 is padding)", path)
        sequences.append(items)
    expect(len(sequences) > 0, "the file is empty", path)
    return sequences


def _read_attributes(path: Path) -> pd.DataFrame:
    data = read_json(path)
    problem = "item ids and attribute ids must be integers, attributes a list per item"
    expect(isinstance(data, dict), "expected an object {item_id: [attribute_id, ...]}", path)
    expect(all(isinstance(v, list) and all(type(a) is int and abs(a) < 2 ** 63 for a in v) for v in data.values()),
           problem, path)
    try:
        items = parse_ids(data)
    except ValueError:
        raise DataError(problem, path) from None
    counts = [len(v) for v in data.values()]
    values = [a for v in data.values() for a in v]
    return pd.DataFrame({"item": np.repeat(np.array(items, dtype=np.int64), counts),
                         "value": np.array(values, dtype=np.int64)})
