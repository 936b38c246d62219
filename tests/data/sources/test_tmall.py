import pytest

from graphsbr.data.dataset import iter_sessions
from graphsbr.data.protocols import session_protocol
from graphsbr.data.sources import tmall
from graphsbr.errors import DataError

HEADER = "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"
DAY = 86400.0
MAY_1_2015 = 1430438400.0  # 2015-05-01 00:00 UTC

# user, item, cat_id, seller, brand_id, MMDD, action
LOG = HEADER + """\
1,100,5,1,,0501,0
1,101,5,1,,0501,0
1,100,6,1,7,0501,2
2,100,5,1,7,501,0
2,102,8,2,0,501,1
1,101,5,1,,502,0
1,102,8,2,9,0502,0
2,102,8,2,,0503,0
2,100,5,1,7,0503,3
2,101,5,1,,0503,0
2,103,9,3,4,0503,0
3,103,9,3,4,0504,0
5,104,9,3,4,0504,0
4,100,5,1,7,0513,0
4,101,5,1,,0513,0
3,100,5,1,7,0515,0
3,104,9,3,4,0515,0
3,101,5,1,,0515,0
3,102,8,2,,0515,0
1,102,8,2,9,0520,0
1,100,5,1,7,0520,2
"""


def test_find(tmp_path):
    assert tmall.find(tmp_path) is None
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "user_log_format1.csv").write_text(HEADER)
    assert tmall.find(tmp_path) is None
    (tmp_path / "data_format1").mkdir()
    path = tmp_path / "data_format1" / "user_log_format1.csv"
    path.write_text(HEADER)
    assert tmall.find(tmp_path) == [path]


def test_read_sessions_are_user_days_in_file_order(tmp_path):
    path = tmp_path / "user_log_format1.csv"
    path.write_text(LOG)
    log = tmall.read([path])
    assert log.session.tolist() == [10501] * 3 + [20501] * 2 + [10502] * 2 + [20503] * 4 + [30504, 50504] + \
        [40513] * 2 + [30515] * 4 + [10520] * 2  # 501 and 0501 are the same day
    assert log.item.tolist()[:5] == [100, 101, 100, 100, 102]
    assert log.time.tolist()[:8] == [MAY_1_2015] * 5 + [MAY_1_2015 + DAY] * 2 + [MAY_1_2015 + 2 * DAY]
    assert log.time[-1] == MAY_1_2015 + 19 * DAY
    assert log.fields["action"].tolist()[:5] == [0, 0, 2, 0, 1]


def test_category_is_the_first_seen_and_brand_the_first_nonzero(tmp_path):
    path = tmp_path / "user_log_format1.csv"
    path.write_text(LOG)
    side = tmall.read([path]).item_side
    category = side["category"].sort_values("item").to_dict("list")
    assert category == {"item": [100, 101, 102, 103, 104], "value": [5, 5, 8, 9, 9]}  # 100's later 6 ignored
    brand = side["brand"].sort_values("item").to_dict("list")
    # 100: empty, then 7; 101: always empty -> 0 (unknown, kept as a value); 102: 0, then 9
    assert brand == {"item": [100, 101, 102, 103, 104], "value": [7, 0, 9, 4, 4]}


def test_session_protocol_on_a_hand_computed_case(tmp_path):
    # length-1 sessions (3, 0504) and (5, 0504) go first; then 103 and 104 (one click each) are dropped;
    # the last day is 0520, so (4, 0513) is on the 7-day boundary and dropped; train = days before it
    path = tmp_path / "user_log_format1.csv"
    path.write_text(LOG)
    dataset = session_protocol(tmall.read([path]), "tmall")
    assert dataset.num_items == 3  # 100 -> 1, 101 -> 2, 102 -> 3
    assert list(iter_sessions(dataset.train)) == [[1, 2, 1], [1, 3], [2, 3]]  # (1,0501), (2,0501), (1,0502)
    assert list(iter_sessions(dataset.valid)) == [[3, 1, 2]]  # (2,0503)
    assert list(iter_sessions(dataset.test)) == [[1, 2, 3], [3, 1]]  # (3,0515), (1,0520)
    assert dataset.test.timestamps.tolist() == [MAY_1_2015 + 14 * DAY] * 3 + [MAY_1_2015 + 19 * DAY] * 2
    # the protocol codes the raw actions 1..V; the same raw action gets the same code in every split
    click, purchase = dataset.train.fields["action"][:3].tolist()[1:]  # session (1,0501): actions 0, 0, 2
    assert dataset.test.fields["action"].tolist() == [click] * 3 + [click, purchase]
    assert dataset.side["category"].values.flatten().tolist() == [0, 1, 1, 2]  # categories 5, 5, 8
    assert dataset.side["brand"].values.flatten().tolist() == [0, 2, 1, 3]  # brands 7, 0, 9; 0 = unknown, id 1
    assert dataset.side["brand"].labels == ["0", "7", "9"]


@pytest.mark.parametrize("text, problem", [
    (HEADER + "1,100,5,1,,0501,0\n1,101,5,1,,05", "line 3: a missing value (truncated line?) in column 'action_type'"),
    ("user_id,item_id,cat_id,seller_id,time_stamp,action_type\n1,100,5,1,0501,0\n", "missing column(s) brand_id"),
    (HEADER + "1,100,5,1,,0501,0\nu2,101,5,1,,0501,0\n", "line 3: non-numeric value 'u2' in column 'user_id'"),
    (HEADER + "1,100,5,1,b7,0501,0\n", "line 2: bad value 'b7' in column 'brand_id'"),
    ("", "the file is empty"),
    (HEADER + "1,100,5,1,,0501,0\n1,101,5,1,,1341,0\n", "line 3: bad value 1341 in column 'time_stamp'"),
    (HEADER + "1,100,5,1,,0230,0\n", "line 2: bad value 230 in column 'time_stamp'"),
    (HEADER + "1,100,5,1,,2015-05-01,0\n", "line 2: non-numeric value '2015-05-01' in column 'time_stamp'"),
    (HEADER + "1,100,5,1,,0501,4\n", "line 2: bad value 4 in column 'action_type'"),
])
def test_bad_input_raises_data_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "user_log_format1.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"user_log_format1\.csv") as error:
        tmall.read([path])
    assert error.value.path == str(path) and problem in error.value.problem
