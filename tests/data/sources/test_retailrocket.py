from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphsbr.data.dataset import iter_sessions
from graphsbr.data.protocols import session_protocol
from graphsbr.data.sources import retailrocket
from graphsbr.errors import ConfigError, DataError

SAMPLE = Path("retailrocket", "raw_sample", "sample_retailrocket.csv")  # under the shared data folder
EVENTS_HEADER = "timestamp,visitorid,event,itemid,transactionid\n"
PROPERTIES_HEADER = "timestamp,itemid,property,value\n"
SESSIONISED_HEADER = "timestamp\tuser_id\titem_id\tsession_id\n"
DAY = 86400
BASE = 1431000000  # 2015-05-07, unix seconds

# visitor 7 views at 1000 s, 2800 s (exactly 30 minutes later: same session) and 4601 s (30 min + 1 s: a new one)
EVENTS = EVENTS_HEADER + ("1000000,7,view,1,\n"
                          "2000000,3,view,5,\n"
                          "1500000,7,addtocart,2,\n"
                          "1500000,3,view,6,\n"
                          "2800000,7,view,3,\n"
                          "4601000,7,view,4,\n"
                          "4700000,7,transaction,4,99\n")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_find_recognises_both_layouts(tmp_path):
    assert retailrocket.find(tmp_path) is None
    sample = _write(tmp_path, "raw_sample/sample_retailrocket.csv", SESSIONISED_HEADER)
    assert retailrocket.find(tmp_path) == [sample]
    _write(tmp_path, "processed/events.csv", EVENTS_HEADER)
    assert retailrocket.find(tmp_path) == [sample]
    events = _write(tmp_path, "kaggle/events.csv", EVENTS_HEADER)
    part2 = _write(tmp_path, "kaggle/item_properties_part2.csv", PROPERTIES_HEADER)
    assert retailrocket.find(tmp_path) == [events, part2]
    part1 = _write(tmp_path, "kaggle/item_properties_part1.csv", PROPERTIES_HEADER)
    assert retailrocket.find(tmp_path) == [events, part1, part2]


def test_events_are_sessionised_per_visitor_with_a_30_minute_gap(tmp_path):
    log = retailrocket.read([_write(tmp_path, "events.csv", EVENTS)])
    assert log.session.tolist() == [30, 30, 70, 70, 71]  # (visitor, session number) as visitor * 10 + number
    assert log.item.tolist() == [6, 5, 1, 3, 4]
    assert log.time.tolist() == [1500.0, 2000.0, 1000.0, 2800.0, 4601.0]
    assert log.item_side == {}


def test_events_keyword_keeps_other_event_types_before_sessionising(tmp_path):
    log = retailrocket.read([_write(tmp_path, "events.csv", EVENTS)], events=("view", "addtocart"))
    assert log.session.tolist() == [30, 30, 70, 70, 70, 71]
    assert log.item.tolist() == [6, 5, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="view, addtocart, transaction"):
        retailrocket.read([tmp_path / "events.csv"], events=("click",))


def test_session_numbers_widen_with_the_number_of_sessions(tmp_path):
    rows = "".join(f"{hour * 3600 * 1000},5,view,{hour},\n" for hour in range(11)) + "0,12,view,1,\n"
    log = retailrocket.read([_write(tmp_path, "events.csv", EVENTS_HEADER + rows)])
    assert log.session.tolist() == [*range(500, 511), 1200]


def test_category_is_the_latest_categoryid_property(tmp_path):
    events = _write(tmp_path, "events.csv", EVENTS)
    part1 = _write(tmp_path, "item_properties_part1.csv", PROPERTIES_HEADER + "5,1,categoryid,10\n"
                                                                              "9,1,categoryid,11\n"
                                                                              "9,3,available,1\n"
                                                                              "3,5,categoryid,50\n")
    part2 = _write(tmp_path, "item_properties_part2.csv", PROPERTIES_HEADER + "7,1,categoryid,12\n"
                                                                              "1,3,categoryid,30\n"
                                                                              "3,5,categoryid,51\n"
                                                                              "4,3,888,n552.000 639502\n")
    side = retailrocket.read([events, part1, part2]).item_side
    category = side["category"].sort_values("item").to_dict("list")
    assert category == {"item": [1, 3, 5], "value": ["11", "30", "51"]}  # 5: a tie, the later row wins
    no_category = _write(tmp_path, "other/item_properties_part1.csv", PROPERTIES_HEADER + "9,3,available,1\n")
    assert retailrocket.read([events, no_category]).item_side == {}


def test_sessionised_layout_and_session_protocol(tmp_path):
    # 3 has 3 clicks and 4 one: both dropped, which leaves sessions 11 and 14 with one click (dropped);
    # the last click is at day 17 + 100 s, so session 13 (day 10 + 100 s) is on the boundary and dropped
    clicks = [(0, 1, 10), (10, 2, 10), (DAY, 2, 11), (DAY + 5, 3, 11),
              (2 * DAY + 50, 2, 12), (2 * DAY + 10, 1, 12), (2 * DAY + 30, 3, 12),
              (10 * DAY, 1, 13), (10 * DAY + 100, 2, 13), (12 * DAY, 1, 14), (12 * DAY + 1, 3, 14),
              (12 * DAY + 2, 4, 14), (17 * DAY, 2, 15), (17 * DAY + 100, 1, 15)]
    text = SESSIONISED_HEADER + "".join(f"{BASE + t}\t0\t{item}\t{sid}\n" for t, item, sid in clicks)
    log = retailrocket.read([_write(tmp_path, "sample_retailrocket.csv", text)])
    assert log.session.tolist() == [10, 10, 11, 11, 12, 12, 12, 13, 13, 14, 14, 14, 15, 15]
    assert log.item.tolist()[4:7] == [1, 3, 2]  # session 12 in time order
    assert log.time[4:7].tolist() == [BASE + 2 * DAY + 10.0, BASE + 2 * DAY + 30.0, BASE + 2 * DAY + 50.0]
    dataset = session_protocol(log, "retailrocket")
    assert dataset.num_items == 2
    assert list(iter_sessions(dataset.train)) == [[1, 2]]  # session 10
    assert list(iter_sessions(dataset.valid)) == [[1, 2]]  # session 12
    assert list(iter_sessions(dataset.test)) == [[2, 1]]  # session 15


def test_the_shared_raw_sample(shared_data):
    sample = shared_data / SAMPLE
    if not sample.is_file():
        pytest.skip(f"shared raw sample not found at {sample}")
    assert retailrocket.find(sample.parents[1]) == [sample]
    log = retailrocket.read([sample])
    raw = pd.read_csv(sample, sep="\t")
    assert len(raw) == len(log.item) == 10080
    assert raw["session_id"].nunique() == np.unique(log.session).size == 2950
    expected = raw.assign(first=pd.factorize(raw["session_id"])[0]).sort_values(["first", "timestamp"], kind="stable")
    assert np.array_equal(log.item, expected["item_id"].to_numpy())
    assert np.array_equal(log.time, expected["timestamp"].to_numpy(dtype=float))
    # checked against an independent pandas implementation of SR-GNN's preprocess.py:
    # 275 items, 448 training sessions (45 held out) with 1,194 prefixes, 18 test sessions with 30 prefixes
    stats = session_protocol(log, "retailrocket").stats()
    assert (stats["num_items"], stats["train_sessions"], stats["train_samples"], stats["valid_samples"],
            stats["test_samples"]) == (275, 403, 1097, 97, 30)


@pytest.mark.parametrize("name, text, problem", [
    ("events.csv", EVENTS_HEADER + "1000000,7,view,1,\n1500000,7,vi", "line 3: a missing value (truncated line?) in column 'itemid'"),
    ("events.csv", "timestamp,visitorid,event,transactionid\n1000000,7,view,\n", "missing column(s) itemid"),
    ("events.csv", EVENTS_HEADER + "1000000,7,view,1,\n1500000,v7,view,2,\n", "line 3: non-numeric value 'v7'"),
    ("events.csv", EVENTS_HEADER + "2015-06-02 10:00,7,view,1,\n", "line 2: non-numeric value '2015-06-02 10:00'"),
    ("events.csv", EVENTS_HEADER + "1000000,7,view,1,\n1500000,7,click,2,\n", "line 3: bad value 'click' in column 'event'"),
    ("events.csv", "", "the file is empty"),
    ("events.csv", EVENTS_HEADER + "1000000,7,addtocart,1,\n", "no view event"),
    ("sample_retailrocket.csv", SESSIONISED_HEADER + f"{BASE}\t0\t1\t10\n{BASE}\t0\t2", "line 3: a missing value"),
    ("sample_retailrocket.csv", SESSIONISED_HEADER + f"{BASE}\t0\t1\tx10\n", "line 2: non-numeric value 'x10'"),
    ("sample_retailrocket.csv", SESSIONISED_HEADER + "2015-05-07\t0\t1\t10\n", "line 2: non-numeric value '2015-05-07'"),
    ("sample_retailrocket.csv", SESSIONISED_HEADER, "no rows"),
])
def test_bad_input_raises_data_error_naming_the_file(tmp_path, name, text, problem):
    path = _write(tmp_path, name, text)
    with pytest.raises(DataError, match=name.replace(".", r"\.")) as error:
        retailrocket.read([path])
    assert error.value.path == str(path) and problem in error.value.problem


def test_bad_property_file_raises_data_error_naming_it(tmp_path):
    events = _write(tmp_path, "events.csv", EVENTS)
    part1 = _write(tmp_path, "item_properties_part1.csv", PROPERTIES_HEADER + "5,1,categoryid,10\n9,1,categ")
    with pytest.raises(DataError, match="line 3: a missing value") as error:
        retailrocket.read([events, part1])
    assert error.value.path == str(part1)
    _write(tmp_path, "item_properties_part1.csv", "timestamp,itemid,value\n5,1,10\n")
    with pytest.raises(DataError, match="missing column.s. property"):
        retailrocket.read([events, part1])
