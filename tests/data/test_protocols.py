import random

import numpy as np
import pandas as pd
import pytest
import torch

from graphsbr import ConfigError, DataError
from graphsbr.data.dataset import SessionSplit
from graphsbr.data.protocols import (
    hold_out_last,
    keep_recent_samples,
    leave_one_out,
    merge_validation,
    pairs_to_split,
    session_protocol,
)
from graphsbr.data.records import ClickLog, UserSequences, build_side_field

DAY = 86400.0


def click_log(sessions, **kwargs):
    """sessions: list of (session id, day, [items]); clicks one second apart."""
    rows = [(sid, day * DAY + k, item) for sid, day, items in sessions for k, item in enumerate(items)]
    session, time, item = map(np.array, zip(*rows))
    return ClickLog(session, item, time.astype(float), **kwargs)


TOY = [("s1", 0, ["a", "b"]), ("s2", 1, ["b", "c", "a"]), ("s3", 2, ["a"]), ("s4", 3, ["c", "b", "d"]),
       ("s5", 10, ["a", "e", "b"]), ("s6", 10.5, ["e", "e"]), ("s7", 11, ["c"])]


def test_session_protocol_on_a_hand_computed_log():
    side = {"category": pd.DataFrame({"item": ["a", "b", "c", "d", "e"], "value": ["x", "y", "x", "z", "z"]})}
    data = session_protocol(click_log(TOY, item_side=side), "toy", min_item_count=2, valid_fraction=0.34)
    # s3, s7: length 1; d: one click; split at 10.5 - 7 days: train s1, s2, s4; test s5 (e unseen), s6 (empty)
    assert data.num_items == 3  # a=1, b=2, c=3 by first appearance in the training sessions
    assert [data.train.session(s) for s in range(data.train.num_sessions)] == [[1, 2], [2, 3, 1]]
    assert [data.valid.session(s) for s in range(data.valid.num_sessions)] == [[3, 2]]
    assert [data.test.session(s) for s in range(data.test.num_sessions)] == [[1, 2]]
    assert data.train.targets.tolist() == [2, 3, 1]
    assert data.valid.targets.tolist() == [2]
    assert data.test.sample(0) == ([1], 2)
    assert data.side["category"].values[:, 0].tolist() == [0, 1, 2, 1]  # x=1, y=2 (z only on dropped items)
    assert data.side["category"].vocab_size == 2
    assert data.train.timestamps[:2].tolist() == [0.0, 1.0]


def test_session_exactly_at_the_boundary_is_dropped_as_in_srgnn():
    log = click_log([("a", 0, [1, 2]), ("b", 3, [1, 2]), ("c", 2, [2, 1]), ("d", 10, [1, 2])])
    # a session's time is its last click: d ends at 10 days + 1 s; b ends exactly 7 days earlier
    data = session_protocol(log, "toy", min_item_count=1, valid_fraction=0.5)
    assert data.train.num_sessions + data.valid.num_sessions == 2  # a and c; b is on the boundary
    assert data.test.num_sessions == 1


def test_session_protocol_keeps_per_click_fields_and_orders_sessions_by_time():
    log = click_log([("late", 2, [1, 2]), ("early", 0, [2, 1]), ("mid", 1, [1, 1]), ("test", 9.5, [1, 2])],
                    fields={"action": np.array(["view", "buy"] * 4)})
    data = session_protocol(log, "toy", min_item_count=1, valid_fraction=1 / 3)
    # training sessions chronological: early [2,1] -> items 2=1, 1=2; then mid, late (valid)
    assert [data.train.session(s) for s in range(2)] == [[1, 2], [2, 2]]
    assert data.valid.session(0) == [2, 1]
    assert data.train.fields["action"].tolist() == [2, 1, 2, 1]  # sorted raw values: buy = 1, view = 2


def test_session_protocol_rejects_a_log_with_nothing_left():
    with pytest.raises(DataError, match="no session of length >= 2"):
        session_protocol(click_log([("a", 0, [1, 2])], path="clicks.csv"), "toy")


def test_recent_fraction_keeps_the_latest_samples_in_srgnn_order():
    split = SessionSplit.from_sequences([[1, 2, 3], [4, 5, 6]])
    assert keep_recent_samples(split, 0.5).samples.tolist() == [[0, 2], [0, 1]]
    kept = keep_recent_samples(split, 0.75)
    assert kept.num_sessions == 2
    assert sorted(map(tuple, kept.samples.tolist())) == [(0, 1), (1, 1), (1, 2)]


def test_hold_out_last_is_chronological():
    split = SessionSplit.from_sequences([[1, 2]] * 9 + [[3, 4]])
    train, valid = hold_out_last(split, 0.1)
    assert train.num_sessions == 9 and valid.num_sessions == 1 and valid.session(0) == [3, 4]


def test_concat_keeps_every_session_and_sample_in_order():
    a = SessionSplit.from_sequences([[1, 2, 3]], timestamps=torch.tensor([0.0, 1.0, 2.0]),
                                    fields={"action": torch.tensor([1, 1, 2]), "only_a": torch.tensor([5, 5, 5])})
    b = SessionSplit.from_sequences([[4, 5], [6, 7, 8]], samples=torch.tensor([[1, 2], [0, 1]]),
                                    timestamps=torch.tensor([3.0, 4.0, 5.0, 6.0, 7.0]),
                                    fields={"action": torch.tensor([2, 2, 1, 1, 1])})
    both = SessionSplit.concat([a, b])
    assert [both.session(s) for s in range(3)] == [[1, 2, 3], [4, 5], [6, 7, 8]]
    assert [both.sample(m) for m in range(both.num_samples)] == [a.sample(0), a.sample(1), b.sample(0), b.sample(1)]
    assert both.timestamps.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert set(both.fields) == {"action"} and both.fields["action"].tolist() == [1, 1, 2, 2, 2, 1, 1, 1]
    assert SessionSplit.concat([a, SessionSplit.empty()]).samples.tolist() == a.samples.tolist()


def test_merge_validation_trains_on_every_training_session_and_leaves_test_alone():
    data = session_protocol(click_log(TOY), "toy", min_item_count=2, valid_fraction=0.34)
    merged = merge_validation(data)
    assert [merged.train.session(s) for s in range(merged.train.num_sessions)] == [[1, 2], [2, 3, 1], [3, 2]]
    assert merged.train.targets.tolist() == [*data.train.targets.tolist(), *data.valid.targets.tolist()]
    assert merged.valid.num_sessions == merged.valid.num_samples == 0
    assert merged.test is data.test and merged.side is data.side and merged.num_items == data.num_items


def test_merge_validation_refuses_leave_one_out():
    with pytest.raises(ConfigError, match="session protocol"):
        merge_validation(leave_one_out(UserSequences([[1, 2, 3, 4]]), "toy"))


def test_leave_one_out():
    data = leave_one_out(UserSequences([[1, 2, 3, 4], [2, 3]]), "toy")
    assert [data.train.session(s) for s in range(2)] == [[1, 2], []]
    assert data.train.samples.tolist() == [[0, 1]]
    assert [data.valid.sample(m) for m in range(data.valid.num_samples)] == [([1, 2], 3)]
    assert [data.test.sample(m) for m in range(data.test.num_samples)] == [([1, 2, 3], 4), ([2], 3)]


def test_pairs_to_split_merges_srgnn_and_recbole_chains():
    split = pairs_to_split([[1, 2, 3], [1, 2], [1], [5], [7, 8]], [4, 3, 2, 6, 9])
    assert [split.session(s) for s in range(split.num_sessions)] == [[1, 2, 3, 4], [5, 6], [7, 8, 9]]
    assert split.samples.tolist() == [[0, 3], [0, 2], [0, 1], [1, 1], [2, 2]]
    ascending = pairs_to_split([[1], [1, 2]], [2, 3])
    assert ascending.num_sessions == 1 and ascending.samples.tolist() == [[0, 1], [0, 2]]


def test_pairs_to_split_reproduces_every_pair_exactly():
    rng = random.Random(0)
    prefixes, targets = [], []
    for _ in range(300):
        seq = [rng.randint(1, 6) for _ in range(rng.randint(2, 7))]
        cuts = range(len(seq) - 1, 0, -1) if rng.random() < 0.5 else range(1, len(seq))
        for cut in cuts:
            if rng.random() < 0.8:
                prefixes.append(seq[:cut])
                targets.append(seq[cut])
    split = pairs_to_split(prefixes, targets)
    assert split.num_samples == len(prefixes)
    assert all(split.sample(m) == (prefixes[m], targets[m]) for m in range(len(prefixes)))
    assert split.items.numel() < sum(len(p) + 1 for p in prefixes)


def test_build_side_field_multi_valued():
    field = build_side_field(np.array([1, 1, 2, 3, 3, 3, 9]), np.array([30, 10, 10, 20, 20, 30, 40]), num_items=3)
    # values renumbered in sorted order: 10 -> 1, 20 -> 2, 30 -> 3; duplicates dropped; item 9 out of range
    assert field.values.tolist() == [[0, 0], [3, 1], [1, 0], [2, 3]]
    assert field.vocab_size == 3 and field.multi_valued


def test_side_field_matching_no_item_is_an_error():
    side = {"category": pd.DataFrame({"item": [1, 2, 3], "value": [1, 1, 2]})}  # ints; the log's items are str
    with pytest.raises(DataError, match="matches no item"):
        session_protocol(click_log(TOY, item_side=side), "toy", min_item_count=2)
