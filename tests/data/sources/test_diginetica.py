from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphsbr.data.dataset import iter_sessions
from graphsbr.data.protocols import session_protocol
from graphsbr.data.sources import diginetica
from graphsbr.errors import DataError

SAMPLE = Path("diginetica", "raw_sample", "sample_train-item-views.csv")  # under the shared data folder
HEADER = "session_id;user_id;item_id;timeframe;eventdate\n"
DAY = 86400.0
MAY_1_2016 = 1462060800.0  # 2016-05-01 00:00 UTC


def _views(sessions) -> str:
    """CIKM-Cup rows for ``(session, day of January 2016, items)``; each session's rows are written in reverse,
    with ``timeframe`` giving the click order."""
    rows = [f"{sid};NA;{item};{1000 * position};2016-01-{day:02d}\n"
            for sid, day, items in sessions for position, item in reversed(list(enumerate(items)))]
    return HEADER + "".join(rows)


def test_find_searches_recursively_skips_processed_and_prefers_the_full_file(tmp_path):
    assert diginetica.find(tmp_path) is None
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "train-item-views.csv").write_text(HEADER)
    assert diginetica.find(tmp_path) is None
    (tmp_path / "raw" / "deep").mkdir(parents=True)
    sample = tmp_path / "raw" / "sample_train-item-views.csv"
    sample.write_text(HEADER)
    assert diginetica.find(tmp_path) == [sample]
    full = tmp_path / "raw" / "deep" / "train-item-views.csv"
    full.write_text(HEADER)
    categories = tmp_path / "product-categories.csv"
    categories.write_text("itemId;categoryId\n")
    assert diginetica.find(tmp_path) == [full, categories]


def test_read_orders_clicks_by_timeframe_and_dates_at_midnight_utc(tmp_path):
    path = tmp_path / "train-item-views.csv"
    path.write_text(HEADER + "2;NA;20;500;2016-05-02\n"
                             "1;NA;10;300;2016-05-01\n"
                             "1;5;11;100;2016-05-01\n"
                             "2;NA;21;100;2016-05-02\n"
                             "1;NA;12;300;2016-05-01\n")
    log = diginetica.read([path])
    assert log.session.tolist() == [2, 2, 1, 1, 1]  # sessions in order of first appearance
    assert log.item.tolist() == [21, 20, 11, 10, 12]  # by timeframe; the tie 10/12 keeps the file order
    assert log.time.tolist() == [MAY_1_2016 + DAY] * 2 + [MAY_1_2016] * 3
    assert log.item_side == {} and log.fields == {} and log.path == str(path)


def test_read_takes_the_first_category_of_each_item(tmp_path):
    views = tmp_path / "train-item-views.csv"
    views.write_text(HEADER + "1;NA;10;0;2016-05-01\n1;NA;11;1;2016-05-01\n")
    categories = tmp_path / "product-categories.csv"
    categories.write_text("itemId;categoryId\n10;7\n11;9\n10;8\n")
    side = diginetica.read([views, categories]).item_side
    assert list(side) == ["category"]
    assert side["category"].to_dict("list") == {"item": [10, 11], "value": [7, 9]}


def test_session_protocol_on_a_hand_computed_case(tmp_path):
    # item counts after dropping the length-1 session 5: 10 x6, 11 x6, 12 x5, 15 x5 (kept), 13 x3 (dropped);
    # session 6 is left with one click (dropped); max date Jan 25 -> boundary Jan 18: session 7 is dropped;
    # 15 is never in a training session, so session 9 is left with one click and is dropped.
    sessions = [(1, 1, [10, 11]), (2, 2, [11, 12, 13]), (3, 3, [10, 12]), (4, 4, [13, 10, 11, 12]), (5, 5, [99]),
                (6, 6, [13, 11]), (7, 18, [10, 11]), (8, 20, [10, 15, 11]), (9, 25, [15, 15, 15, 15, 12]),
                (10, 21, [12, 10])]
    views = tmp_path / "train-item-views.csv"
    views.write_text(_views(sessions))
    categories = tmp_path / "product-categories.csv"
    categories.write_text("itemId;categoryId\n10;7\n11;7\n12;9\n15;3\n")
    dataset = session_protocol(diginetica.read([views, categories]), "diginetica")
    assert dataset.num_items == 3  # 10 -> 1, 11 -> 2, 12 -> 3, by first appearance in training
    assert list(iter_sessions(dataset.train)) == [[1, 2], [2, 3], [1, 3]]
    assert list(iter_sessions(dataset.valid)) == [[1, 2, 3]]  # the latest training session
    assert list(iter_sessions(dataset.test)) == [[1, 2], [3, 1]]  # sessions 8 (Jan 20), 10 (Jan 21)
    assert [dataset.test.sample(m) for m in range(dataset.test.num_samples)] == [([1], 2), ([3], 1)]
    assert dataset.test.timestamps.tolist() == [1451606400.0 + 19 * DAY] * 2 + [1451606400.0 + 20 * DAY] * 2
    assert dataset.side["category"].values.flatten().tolist() == [0, 1, 1, 2]
    assert dataset.side["category"].vocab_size == 2


def test_the_shared_raw_sample(shared_data):
    sample = shared_data / SAMPLE
    if not sample.is_file():
        pytest.skip(f"shared raw sample not found at {sample}")
    assert diginetica.find(sample.parents[1]) == [sample]
    log = diginetica.read([sample])
    raw = pd.read_csv(sample, sep=";")
    assert len(raw) == len(log.item) == 12391
    assert raw["session_id"].nunique() == np.unique(log.session).size == 2986
    expected = (raw.assign(first=pd.factorize(raw["session_id"])[0])
                .sort_values(["first", "timeframe"], kind="stable"))
    assert np.array_equal(log.item, expected["item_id"].to_numpy())
    days = (pd.to_datetime(expected["eventdate"]) - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    assert np.array_equal(log.time, days * DAY)
    stats = session_protocol(log, "diginetica").stats()
    # checked against an independent pandas implementation of SR-GNN's preprocess.py:
    # 309 items, 469 training sessions (47 held out) with 1,205 prefixes, 39 test sessions with 99 prefixes
    assert (stats["num_items"], stats["train_sessions"], stats["train_samples"], stats["valid_samples"],
            stats["test_samples"]) == (309, 422, 1058, 147, 99)


@pytest.mark.parametrize("text, problem", [
    (HEADER + "1;NA;10;300;2016-05-01\n1;NA;11;1", "line 3: a missing value (truncated line?) in column 'eventdate'"),
    (HEADER + "1;NA;10;300;2016-05-01\n1;NA;1", "line 3: a missing value (truncated line?) in column 'timeframe'"),
    ("session_id;user_id;item_id;eventdate\n1;NA;10;2016-05-01\n", "missing column(s) timeframe"),
    (HEADER + "1;NA;10;300;2016-05-01\n1x;NA;11;400;2016-05-01\n", "line 3: non-numeric value '1x'"),
    ("", "the file is empty"),
    (HEADER, "no rows"),
    (HEADER + "1;NA;10;300;2016-05-01\n1;NA;11;400;2016-13-01\n", "line 3: bad value '2016-13-01'"),
    (HEADER + "1;NA;10;300;01/05/2016\n", "line 2: bad value '01/05/2016'"),
])
def test_bad_views_file_raises_data_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "train-item-views.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"train-item-views\.csv") as error:
        diginetica.read([path])
    assert error.value.path == str(path) and problem in error.value.problem


def test_bad_categories_file_raises_data_error_naming_it(tmp_path):
    views = tmp_path / "train-item-views.csv"
    views.write_text(HEADER + "1;NA;10;300;2016-05-01\n")
    categories = tmp_path / "product-categories.csv"
    categories.write_text("itemId;categoryId\n10;c7\n")
    with pytest.raises(DataError, match="non-numeric value 'c7'") as error:
        diginetica.read([views, categories])
    assert error.value.path == str(categories)
    with pytest.raises(DataError, match="file not found"):
        diginetica.read([views, tmp_path / "missing.csv"])
