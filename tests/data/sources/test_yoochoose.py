from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphsbr.data.dataset import iter_sessions
from graphsbr.data.protocols import session_protocol
from graphsbr.data.sources import yoochoose
from graphsbr.errors import DataError

SAMPLE = Path("yoochoose1_64", "raw_sample", "sample_yoochoose.dat")  # under the shared data folder
T0 = 1396346400.0  # 2014-04-01T10:00:00Z


def test_find_prefers_the_full_file_and_skips_processed(tmp_path):
    assert yoochoose.find(tmp_path) is None
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "yoochoose-clicks.dat").write_text("")
    sample = tmp_path / "sample_yoochoose.dat"
    sample.write_text("")
    assert yoochoose.find(tmp_path) == [sample]
    (tmp_path / "raw").mkdir()
    full = tmp_path / "raw" / "yoochoose-clicks.dat"
    full.write_text("")
    assert yoochoose.find(tmp_path) == [full]


def test_read_orders_by_time_and_takes_the_first_known_category_in_time_order(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text("1,2014-04-01T10:00:05.000Z,100,0\n"
                    "1,2014-04-01T10:00:01.500Z,101,S\n"
                    "2,2014-04-01T09:00:00.000Z,100,3\n"
                    "1,2014-04-01T10:00:09.000Z,100,5\n"
                    "1,2014-04-01T10:00:05Z,102,0\n"
                    "2,2014-04-01T11:00:00.000Z,101,2053841543\n")
    log = yoochoose.read([path])
    assert log.session.tolist() == [1, 1, 1, 1, 2, 2]
    assert log.item.tolist() == [101, 100, 102, 100, 100, 101]  # by time; the tie at 10:00:05 keeps file order
    assert log.time.tolist() == [T0 + 1.5, T0 + 5, T0 + 5, T0 + 9, T0 - 3600, T0 + 3600]
    # 100: "3" comes first in time (its "5" is later, its "0" unknown); 101: "S"; 102: only "0" -> none
    assert log.item_side["category"].to_dict("list") == {"item": [100, 101], "value": ["3", "S"]}


def test_no_category_field_when_every_value_is_unknown(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text("1,2014-04-01T10:00:00.000Z,100,0\n1,2014-04-01T10:00:01.000Z,101,0\n")
    assert yoochoose.read([path]).item_side == {}


def _clicks(sessions) -> str:
    """Rows for ``(session, first click time, items)``, one second apart, each session written in reverse."""
    rows = [f"{sid},{(pd.Timestamp(start) + pd.Timedelta(seconds=k)).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z,"
            f"{item},0\n" for sid, start, items in sessions for k, item in reversed(list(enumerate(items)))]
    return "".join(rows)


SESSIONS = [(1, "2014-04-01T10:00", [1, 2, 3]), (2, "2014-04-02T10:00", [2, 3]), (3, "2014-04-03T10:00", [1, 3, 2]),
            (4, "2014-04-05T11:59:59", [1, 2]),  # ends at 12:00:00, exactly one day before the last click
            (5, "2014-04-06T08:00", [3, 1]), (6, "2014-04-06T11:59:58", [2, 1, 3])]  # ends 2014-04-06T12:00:00


def test_session_protocol_last_day_is_the_test_set(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text(_clicks(SESSIONS))
    dataset = session_protocol(yoochoose.read([path]), "yoochoose1_64", test_days=1)
    assert dataset.num_items == 3
    assert list(iter_sessions(dataset.train)) == [[1, 2, 3], [2, 3]]
    assert list(iter_sessions(dataset.valid)) == [[1, 3, 2]]
    assert list(iter_sessions(dataset.test)) == [[3, 1], [2, 1, 3]]  # session 4, at the boundary, is dropped


def test_session_protocol_keeps_the_most_recent_training_samples(tmp_path):
    # 5 training samples in SR-GNN order: s1 [1,2]->3, [1]->2; s2 [2]->3; s3 [1,3]->2, [1]->3; the last 3 of them
    # keep s2 and s3, and s3 (the latest) is held out for validation
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text(_clicks(SESSIONS))
    dataset = session_protocol(yoochoose.read([path]), "yoochoose1_64", test_days=1, recent_fraction=0.6)
    assert list(iter_sessions(dataset.train)) == [[2, 3]] and dataset.train.num_samples == 1
    assert list(iter_sessions(dataset.valid)) == [[1, 3, 2]] and dataset.valid.num_samples == 2
    assert dataset.test.num_samples == 3


def test_the_shared_raw_sample(shared_data):
    sample = shared_data / SAMPLE
    if not sample.is_file():
        pytest.skip(f"shared raw sample not found at {sample}")
    assert yoochoose.find(sample.parents[1]) == [sample]
    log = yoochoose.read([sample])
    raw = pd.read_csv(sample, header=None, names=["session", "timestamp", "item", "category"])
    assert len(raw) == len(log.item) == 1913
    assert raw["session"].nunique() == np.unique(log.session).size == 461
    raw["time"] = (pd.to_datetime(raw["timestamp"]) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    expected = raw.assign(first=pd.factorize(raw["session"])[0]).sort_values(["first", "time"], kind="stable")
    assert np.array_equal(log.item, expected["item"].to_numpy())
    np.testing.assert_allclose(log.time, expected["time"].to_numpy(), rtol=0, atol=1e-6)
    assert log.item_side == {}  # every category in the sample is 0
    # checked against an independent pandas implementation of SR-GNN's preprocess.py (last day = test):
    # 90 items, 158 training sessions with 357 prefixes, 25 test sessions with 51 prefixes
    stats = session_protocol(log, "yoochoose1_64", test_days=1).stats()
    assert (stats["num_items"], stats["train_sessions"], stats["train_samples"], stats["valid_samples"],
            stats["test_samples"]) == (90, 142, 327, 30, 51)
    # 1/64 of the 357 training prefixes = the latest 5: 3 sessions, the last one held out for validation
    stats = session_protocol(log, "yoochoose1_64", test_days=1, recent_fraction=1 / 64).stats()
    assert (stats["num_items"], stats["train_sessions"], stats["train_samples"], stats["valid_samples"],
            stats["test_samples"]) == (90, 2, 4, 1, 51)


@pytest.mark.parametrize("text, problem", [
    ("1,2014-04-01T10:00:00.000Z,100,0\n1,2014-04-01T10:00:01.000Z,101", "line 2: a missing value (truncated line?) in column 'category'"),
    ("1,2014-04-01T10:00:00.000Z,100,0\n1,2014-04-01T10:0", "line 2: a missing value (truncated line?) in column 'item_id'"),
    ("1,2014-04-01T10:00:00.000Z,100\n", "expected 4 and found 3"),  # a missing column
    ("1,2014-04-01T10:00:00.000Z,100,0\n1,2014-04-01T10:00:01.000Z,abc,0\n", "line 2: non-numeric value 'abc'"),
    ("", "the file is empty"),
    ("1,2014-04-01T10:00:00.000Z,100,0\n1,2014-04-32T10:00:01.000Z,101,0\n", "line 2: bad value '2014-04-32T10:00:01.000Z'"),
    ("1,yesterday,100,0\n", "line 1: bad value 'yesterday' in column 'timestamp'"),
])
def test_bad_input_raises_data_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text(text)
    with pytest.raises(DataError, match=r"yoochoose-clicks\.dat") as error:
        yoochoose.read([path])
    assert error.value.path == str(path) and problem in error.value.problem
