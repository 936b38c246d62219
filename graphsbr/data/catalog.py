"""The dataset catalogue: every dataset key, the on-disk formats its folder may hold, and its protocol options."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset key.

    Args:
        key: the name used on the command line (``--dataset KEY``) and as the folder under ``--root``.
        description: one line for ``graphsbr datasets``.
        formats: the readers tried, in order, on ``<root>/<key>/`` (preprocessed files before raw logs).
        options: protocol options for raw click logs (``test_days``, ``recent_fraction``).
    """

    key: str
    description: str
    formats: tuple[str, ...]
    options: dict = field(default_factory=dict)


DATASETS: dict[str, DatasetInfo] = {info.key: info for info in [
    DatasetInfo("synthetic", "built-in generator: Zipf items, category Markov chain, brands, item text", ("synthetic",)),
    DatasetInfo("diginetica", "CIKM Cup 2016 (category); SR-GNN pickles or raw train-item-views.csv",
                ("srgnn", "diginetica")),
    DatasetInfo("tmall", "IJCAI-15 Tmall (category, brand); SR-GNN-style pickles or raw user_log_format1.csv",
                ("srgnn", "tmall")),
    DatasetInfo("retailrocket", "Retailrocket (category when present); SR-GNN pickles or raw events.csv",
                ("srgnn", "retailrocket")),
    DatasetInfo("yoochoose1_64", "RecSys 2015 clicks, most recent 1/64 (category column); pickles or raw .dat",
                ("srgnn", "yoochoose"), {"test_days": 1, "recent_fraction": 1 / 64}),
    DatasetInfo("yoochoose1_4", "RecSys 2015 clicks, most recent 1/4 (category column); pickles or raw .dat",
                ("srgnn", "yoochoose"), {"test_days": 1, "recent_fraction": 1 / 4}),
    DatasetInfo("beauty", "Amazon Beauty, S3-Rec format (multi-valued attributes)", ("s3rec",)),
    DatasetInfo("sports", "Amazon Sports_and_Outdoors, S3-Rec format (multi-valued attributes)", ("s3rec",)),
    DatasetInfo("toys", "Amazon Toys_and_Games, S3-Rec format (multi-valued attributes)", ("s3rec",)),
    DatasetInfo("yelp", "Yelp, S3-Rec format (multi-valued attributes)", ("s3rec",)),
    DatasetInfo("lastfm", "LastFM, S3-Rec format (multi-valued attributes)", ("s3rec",)),
    DatasetInfo("scientific", "Amazon Industrial & Scientific, UniSRec atomic files (item text)", ("atomic",)),
]}

#: Formats tried on a folder whose key is not in the catalogue (any UniSRec-style or S3-Rec-style set).
GENERIC_FORMATS = ("atomic", "s3rec", "srgnn")
