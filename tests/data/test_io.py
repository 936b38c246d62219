import os
import pickle

import pytest

from graphsbr import DataError
from graphsbr.data.io import read_json, read_pickle, read_table

COLUMNS = {"session": "int", "item": "int", "time": "float"}


def write(tmp_path, text, name="clicks.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_typed_columns(tmp_path):
    frame = read_table(write(tmp_path, "session,item,time,extra\n1,10,0.5,a\n2,11,1.5,b\n"), COLUMNS)
    assert list(frame.columns) == ["session", "item", "time"]
    assert frame["item"].tolist() == [10, 11]
    assert frame["time"].tolist() == [0.5, 1.5]


@pytest.mark.parametrize("text, problem", [
    ("session,item,time\n1,10,0.5\n2,1", "line 3: a missing value (truncated line?)"),
    ("session,time\n1,0.5\n", "missing column(s) item"),
    ("session,item,time\n1,10,0.5\n2,abc,1.0\n", "line 3: non-numeric value 'abc' in column 'item'"),
    ("session,item,time\n1,1.5,0.5\n", "non-numeric value '1.5' in column 'item'"),
    ("", "the file is empty"),
    ("session,item,time\n", "header but no rows"),
])
def test_bad_tables_raise_data_error_naming_the_file(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as error:
        read_table(path, COLUMNS)
    assert str(path) in str(error.value)
    assert problem in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv", COLUMNS)


def test_plain_pickle_is_read(tmp_path):
    path = tmp_path / "p.txt"
    path.write_bytes(pickle.dumps(([[1, 2], [3]], [4, 5], {"a": 1.5}), protocol=4))
    assert read_pickle(path) == ([[1, 2], [3]], [4, 5], {"a": 1.5})


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_before_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "all_train_seq.txt"
    path.write_bytes(pickle.dumps([[1, 2], _RunsACommand(marker)]))
    with pytest.raises(DataError) as error:
        read_pickle(path)
    assert str(path) in str(error.value) and "refused pickle" in str(error.value)
    assert not marker.exists()


def test_pickle_holding_a_non_builtin_object_is_refused(tmp_path):
    import collections
    path = tmp_path / "test.txt"
    path.write_bytes(pickle.dumps(collections.OrderedDict(a=1)))
    with pytest.raises(DataError, match="collections.OrderedDict"):
        read_pickle(path)


@pytest.mark.parametrize("payload, problem", [(b"", "empty"), (pickle.dumps([1, 2, 3])[:-3], "truncated"),
                                              (b"not a pickle at all", "pickle")])
def test_broken_pickles(tmp_path, payload, problem):
    path = tmp_path / "x.txt"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=problem):
        read_pickle(path)


def test_bad_json(tmp_path):
    path = write(tmp_path, "{1: [2", "a.json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_json(path)


def test_a_pickle_frame_longer_than_any_memory_is_a_data_error(tmp_path):
    path = tmp_path / "all_train_seq.txt"
    path.write_bytes(b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x80]\x94]\x94a.")  # FRAME of 2**63 + 6 bytes
    with pytest.raises(DataError, match="not a readable pickle"):
        read_pickle(path)
