"""Property-based tests of every reader and protocol (hypothesis).

Random valid files load to exactly the dataset that a plain, independent recomputation gives (sessions, samples,
item numbering, side fields, per-click times and fields); random and mutated files (truncated lines, wrong
separators, unicode, invalid UTF-8, huge and negative ids, garbage timestamps, duplicated rows, empty sessions and
files, missing columns) load either to a dataset that keeps every invariant of the data model or raise
:class:`graphsbr.DataError` naming the file: never another exception, never a hang.
"""
import calendar
import contextlib
import datetime
import itertools
import json
import pickle
import signal
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from graphsbr import DataError, load_dataset
from graphsbr.data.collate import collate_sequences
from graphsbr.data.dataset import SPLITS
from graphsbr.data.protocols import given_protocol, leave_one_out, pairs_to_split, session_protocol
from graphsbr.data.records import ClickLog, GivenSplits, UserSequences

pytestmark = pytest.mark.slow  # hypothesis at hundreds of examples

DAY = 86400.0
MINUTE_MS, DAY_MS, GAP_MS = 60_000, 86_400_000, 30 * 60_000
SECONDS_PER_LOAD = 10  # a load that takes longer is a hang
#: About 12 ms an example for the tests that write and read files, a few ms for those on records: the whole file
#: runs in about 30 s on one core.
FUZZ = settings(max_examples=150, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RECORDS = settings(FUZZ, max_examples=400)

INT64 = st.integers(-2 ** 63, 2 ** 63 - 1) | st.sampled_from([-2 ** 63, 2 ** 63 - 1])
RAW_ID = st.one_of(st.integers(0, 30), st.integers(-5, -1), INT64)  # raw ids: any int64 is valid
OPTIONS = st.fixed_dictionaries({"test_days": st.sampled_from([1, 2, 7]),
                                 "min_item_count": st.integers(1, 3),
                                 "valid_fraction": st.sampled_from([0.1, 0.34, 0.5])})


def text_without(chars: str, min_size: int = 0, max_size: int = 4):
    """Unicode text (controls included) without the given characters, NUL and line breaks."""
    return st.text(st.characters(blacklist_characters=chars + "\x00\r\n", blacklist_categories=("Cs",)),
                   min_size=min_size, max_size=max_size)


# ---- loading, with a time limit ---------------------------------------------------------------------------------

class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def interrupt(signum, frame):
        raise Hang(f"loading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load(files: dict, fmt: str, **options):
    """Writes ``files`` (name -> str, bytes or a pickled object) into a fresh folder and loads it.

    Returns the dataset, or the :class:`DataError` raised; any other exception (or a hang) fails the test.
    """
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "fuzz"
        for name, content in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode("utf-8")
            elif not isinstance(content, bytes):
                content = pickle.dumps(content, protocol=4)
            path.write_bytes(content)
        with time_limit(SECONDS_PER_LOAD):
            try:
                data = load_dataset("fuzz", root, format=fmt, cache=False, **options)
            except DataError as error:
                note(f"DataError: {error}")
                event("DataError")
                assert error.path is not None and str(error.path).startswith(str(folder)), \
                    f"the error does not name the file: {error}"
                return error
    event("loaded")
    check_dataset(data)
    return data


# ---- invariants of every dataset --------------------------------------------------------------------------------

def check_dataset(data) -> None:
    """The data model's invariants, whatever the input."""
    n = data.num_items
    assert isinstance(n, int) and n >= 1
    for name in SPLITS:
        split = data.split(name)
        ptr, items, samples, lengths = split.ptr, split.items, split.samples, split.lengths
        assert ptr[0] == 0 and ptr[-1] == items.numel() and bool((lengths >= 0).all()), name
        assert bool(((items >= 1) & (items <= n)).all()), f"{name}: item ids outside 1..{n}"
        assert samples.dim() == 2 and samples.size(1) == 2
        if samples.numel():
            session, cut = samples.unbind(1)
            assert bool(((session >= 0) & (session < split.num_sessions)).all()), name
            # the prefix is never empty and the target, the click right after it, lies in the same session
            assert bool(((cut >= 1) & (cut < lengths[session])).all()), f"{name}: a target outside its session"
            batch = collate_sequences(split, samples, side=data.side)
            for b, (s, c) in enumerate(samples.tolist()):
                session_items = split.session(s)
                assert batch.items[b, :c].tolist() == session_items[:c]
                assert int(batch.targets[b]) == session_items[c]
                assert bool((batch.items[b, c:] == 0).all())  # the target is never part of the prefix input
        if split.timestamps is not None:
            assert split.timestamps.numel() == items.numel() and bool(torch.isfinite(split.timestamps).all())
        for values in split.fields.values():
            assert values.numel() == items.numel() and bool((values >= 1).all())
    for name, side in data.side.items():
        values = side.values
        assert values.dim() == 2 and values.size(0) == n + 1, f"side field {name}: not one row per item"
        assert bool((values[0] == 0).all()) and bool(((values >= 0) & (values <= side.vocab_size)).all())
        assert side.labels is None or len(side.labels) == side.vocab_size
        for row in values.tolist():
            given_values = [v for v in row if v]
            assert row[:len(given_values)] == given_values and len(set(given_values)) == len(given_values)
    if data.text is not None:
        assert len(data.text) == n + 1 and data.text[0] == ""


def sessions_of(split) -> list[list[int]]:
    return [split.session(s) for s in range(split.num_sessions)]


def pairs_of(split) -> list[tuple[list[int], int]]:
    return [split.sample(m) for m in range(split.num_samples)]


def all_prefixes(sessions) -> list[tuple[list[int], int]]:
    return [(s[:cut], s[cut]) for s in sessions for cut in range(1, len(s))]


def side_labels(data, name: str) -> dict[int, list[str]]:
    """Item id -> the labels of its values, for items that have some."""
    side = data.side[name]
    return {i: [side.labels[v - 1] for v in row if v] for i, row in enumerate(side.values.tolist()) if any(row)}


# ---- the session protocol, written plainly -----------------------------------------------------------------------

@dataclass
class Click:
    time: float
    item: object
    action: object = None


@dataclass
class ExpectedSessions:
    raw_items: list  # raw item of id 1, 2, …
    train: list[list[Click]]
    valid: list[list[Click]]
    test: list[list[Click]]
    train_cuts: list[list[int]]  # the cuts of each training session that are samples
    boundary: float
    action_codes: dict = field(default_factory=dict)


def expected_session_protocol(sessions: list[list[Click]], *, test_days=7, min_item_count=5, valid_fraction=0.1,
                              recent_fraction=1.0) -> ExpectedSessions | None:
    """SR-GNN's preprocessing of sessions given in order of first appearance; ``None`` where it must fail."""
    sessions = [s for s in sessions if len(s) > 1]
    count = Counter(c.item for s in sessions for c in s)
    sessions = [[c for c in s if count[c.item] >= min_item_count] for s in sessions]
    sessions = [s for s in sessions if len(s) >= 2]
    if not sessions:
        return None
    actions = sorted({c.action for s in sessions for c in s if c.action is not None})
    times = [max(c.time for c in s) for s in sessions]
    boundary = max(times) - test_days * DAY
    chronological = sorted(range(len(sessions)), key=lambda k: times[k])
    train = [sessions[k] for k in chronological if times[k] < boundary]
    test = [sessions[k] for k in chronological if times[k] > boundary]
    if not train or not test:
        return None
    ids = {}
    for s in train:
        for c in s:
            ids.setdefault(c.item, len(ids) + 1)
    test = [s for s in ([c for c in s if c.item in ids] for s in test) if len(s) >= 2]
    if not test:
        return None
    cuts = [list(range(1, len(s))) for s in train]
    if recent_fraction < 1:  # the most recent samples: sessions chronological, the longest prefix first
        order = [(k, cut) for k, s in enumerate(train) for cut in range(len(s) - 1, 0, -1)]
        count = int(len(order) * recent_fraction)
        if count == 0:
            return None
        kept = order[-count:]
        sessions_kept = sorted({k for k, _ in kept})
        cuts = [sorted(cut for k2, cut in kept if k2 == k) for k in sessions_kept]
        train = [train[k] for k in sessions_kept]
    if len(train) < 2:
        return None
    n_valid = min(max(1, round(len(train) * valid_fraction)), len(train) - 1)
    return ExpectedSessions(list(ids), train[:-n_valid], train[-n_valid:], test, cuts, boundary,
                            {a: k + 1 for k, a in enumerate(actions)})


def check_session_dataset(data, expected: ExpectedSessions | None, side: dict[str, dict] | None = None,
                          with_actions: bool = False) -> None:
    """``data`` is exactly ``expected`` (or a DataError where ``expected`` is ``None``); ``side`` gives each side
    field's value of every raw item that has one."""
    side = side or {}
    if expected is not None and any(values and not set(values) & set(expected.raw_items)
                                    for values in side.values()):
        expected = None  # a side field that matches no item of the dataset is an error
    if expected is None:
        assert isinstance(data, DataError), f"expected a DataError, loaded {data}"
        return
    assert not isinstance(data, DataError), f"failed on valid input: {data}"
    ids = {item: k + 1 for k, item in enumerate(expected.raw_items)}
    assert data.protocol == "session" and data.num_items == len(ids)
    n_train = len(expected.train)
    for name, sessions, cuts in (("train", expected.train, expected.train_cuts[:n_train]),
                                 ("valid", expected.valid, expected.train_cuts[n_train:]),
                                 ("test", expected.test, [list(range(1, len(s))) for s in expected.test])):
        split = data.split(name)
        assert sessions_of(split) == [[ids[c.item] for c in s] for s in sessions], name
        assert split.timestamps.tolist() == [c.time for s in sessions for c in s], name
        assert sorted(map(tuple, split.samples.tolist())) == [(k, cut) for k, cs in enumerate(cuts) for cut in cs]
        if with_actions:
            assert split.fields["action"].tolist() == [expected.action_codes[c.action] for s in sessions for c in s]
    # no test session is in training: the test sessions are those after the boundary (compared above), and every
    # training and validation click is before it
    train_times = torch.cat([data.train.timestamps, data.valid.timestamps])
    assert float(train_times.max()) < expected.boundary
    for name, values in side.items():
        kept = {ids[item]: str(value) for item, value in values.items() if item in ids}
        assert {i: v[0] for i, v in side_labels(data, name).items()} == kept, name
        assert data.side[name].vocab_size == len(set(kept.values()))


def grouped(rows, key, order=None) -> list[list]:
    """Rows grouped by ``key`` (groups in order of first appearance), each group sorted stably by ``order``."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [sorted(g, key=order) if order else g for g in groups.values()]


def first_values(pairs) -> dict:
    """``{key: the value of its first pair}``."""
    values: dict = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def midnight(date: datetime.date) -> float:
    return float(calendar.timegm(date.timetuple()))


# ---- the session protocol on random click logs -----------------------------------------------------------------

@st.composite
def click_sessions(draw):
    """Sessions of clicks in click order, sessions in order of first appearance."""
    sessions = []
    for _ in range(draw(st.integers(1, 10))):
        start = draw(st.integers(0, 24)) * DAY / 2
        clicks = draw(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abcdef"),
                                         st.sampled_from(["view", "buy"])), min_size=1, max_size=6))
        sessions.append([Click(start + dt, item, action) for dt, item, action in clicks])
    return sessions


@RECORDS
@given(click_sessions(), OPTIONS, st.sampled_from([1.0, 0.5, 1 / 4]), st.booleans())
def test_session_protocol_matches_a_plain_recomputation(sessions, options, recent_fraction, with_side):
    keys, clicks = zip(*[(f"s{k}", c) for k, s in enumerate(sessions) for c in s])
    side = {"category": {"a": 1, "b": 2, "c": 1, "f": 7}} if with_side else {}
    log = ClickLog(session=np.array(keys), item=np.array([c.item for c in clicks]),
                   time=np.array([c.time for c in clicks]), fields={"action": np.array([c.action for c in clicks])},
                   item_side={name: pd.DataFrame({"item": list(v), "value": list(v.values())})
                              for name, v in side.items()},
                   path="log.csv")
    try:
        data = session_protocol(log, "toy", recent_fraction=recent_fraction, **options)
    except DataError as error:
        event("DataError")
        data = error
    else:
        event("loaded")
        check_dataset(data)
    expected = expected_session_protocol(sessions, recent_fraction=recent_fraction, **options)
    check_session_dataset(data, expected, side, with_actions=True)


# ---- raw click logs ---------------------------------------------------------------------------------------------

def row_lists(draw, *columns, max_size=30):
    return draw(st.lists(st.tuples(*columns), min_size=1, max_size=max_size))


def backbone(draw, items) -> list[tuple[int, int, int]]:
    """Nothing, or ``(key, day, item)`` clicks of four sessions (keys 1..4) that pass the session protocol, so that
    the random rows beside them (extreme ids and times) change a dataset that loads."""
    if not draw(st.booleans()):
        return []
    a, b = items[0], items[-1]
    return [(key, day, item) for key, day, clicks in [(1, 0, [a, b, a]), (2, 1, [b, a, b]), (3, 2, [a, b]),
                                                      (4, 12, [a, b, a])] for item in clicks]


def pools(draw, sessions=6, items=5):
    return (draw(st.lists(RAW_ID, min_size=1, max_size=sessions, unique=True)),
            draw(st.lists(RAW_ID, min_size=1, max_size=items, unique=True)))


JAN_1_2016 = datetime.date(2016, 1, 1)
DIGINETICA_HEADER = "session_id;user_id;item_id;timeframe;eventdate"


@st.composite
def diginetica_input(draw):
    """(files, sessions of clicks, {item: category} or None)."""
    sessions, items = pools(draw)
    rows = [(key, "NA", item, k, day) for k, (key, day, item) in enumerate(backbone(draw, items))]
    rows += row_lists(draw, st.sampled_from(sessions), text_without(";"), st.sampled_from(items),
                      st.integers(0, 4) | INT64, st.integers(0, 20))
    lines = [DIGINETICA_HEADER] + [f"{s};{u};{i};{tf};{JAN_1_2016 + datetime.timedelta(d)}" for s, u, i, tf, d in rows]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    files = {"train-item-views.csv": newline.join(lines) + newline}
    categories = draw(st.none() | st.lists(st.tuples(st.sampled_from(items) | RAW_ID, RAW_ID), min_size=1, max_size=8))
    if categories is not None:
        files["product-categories.csv"] = "itemId;categoryId\n" + "".join(f"{i};{c}\n" for i, c in categories)
    clicks = [[Click(midnight(JAN_1_2016 + datetime.timedelta(d)), i) for _, _, i, _, d in session]
              for session in grouped(rows, key=lambda r: r[0], order=lambda r: r[3])]
    return files, clicks, None if categories is None else first_values(categories)


@FUZZ
@given(diginetica_input(), OPTIONS)
def test_diginetica_random_logs(given_input, options):
    files, sessions, categories = given_input
    data = load(files, "diginetica", **options)
    side = {} if categories is None else {"category": categories}
    check_session_dataset(data, expected_session_protocol(sessions, **options), side)


APRIL_1_2014 = datetime.datetime(2014, 4, 1, tzinfo=datetime.timezone.utc)


def iso_time(ms: int, style: int) -> str:
    """``ms`` after 2014-04-01 UTC in one of the ISO-8601 spellings of the Yoochoose log."""
    offset = datetime.timedelta(hours=2 if style == 3 else 0)
    time = APRIL_1_2014 + datetime.timedelta(milliseconds=ms) + offset
    zone = {0: "Z", 1: "Z", 2: "+00:00", 3: "+02:00"}[style]
    fraction = "" if style == 1 and ms % 1000 == 0 else f".{ms % 1000:03d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone


@st.composite
def yoochoose_input(draw):
    """(files, sessions of clicks, {item: category})."""
    sessions, items = pools(draw)
    category = st.sampled_from(["0", "0", "S", "3", "12", "2053841543"]) | text_without(",", min_size=1)
    milliseconds = st.integers(0, 20).map(lambda k: k * 43_200_000) | st.integers(0, 20 * 86_400_000)
    rows = [(key, day * DAY_MS + k, 0, item, "0") for k, (key, day, item) in enumerate(backbone(draw, items))]
    rows += row_lists(draw, st.sampled_from(sessions), milliseconds, st.integers(0, 3), st.sampled_from(items),
                      category)
    text = "".join(f"{s},{iso_time(ms, style)},{i},{c}\n" for s, ms, style, i, c in rows)
    seconds = {ms: float((calendar.timegm(APRIL_1_2014.timetuple()) * 1000 + ms) * 10 ** 6) / 1e9 for _, ms, *_ in rows}
    clicks = [[Click(seconds[ms], i) for _, ms, _, i, _ in session]
              for session in grouped(rows, key=lambda r: r[0], order=lambda r: r[1])]
    known = sorted((ms, k, i, c) for k, (_, ms, _, i, c) in enumerate(rows) if c != "0")
    return {"yoochoose-clicks.dat": text}, clicks, first_values((i, c) for _, _, i, c in known)


@FUZZ
@given(yoochoose_input(), OPTIONS)
def test_yoochoose_random_logs(given_input, options):
    files, sessions, categories = given_input
    data = load(files, "yoochoose", **options)
    check_session_dataset(data, expected_session_protocol(sessions, **options),
                          {"category": categories} if categories else {})


MAY_1_2015 = datetime.date(2015, 5, 1)
TMALL_HEADER = "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"
USER_LIMIT = 2 ** 63 // 10000 - 1  # user * 10000 + MMDD must fit in int64


@st.composite
def tmall_input(draw):
    """(files, sessions of clicks or None where the log must be refused, {item: category}, {item: brand})."""
    users, items = pools(draw)
    brand = st.sampled_from(["", "", "0"]) | st.integers(-3, 30).map(str)
    if draw(st.booleans()):  # else every user and brand id is small, so that more logs load
        brand |= INT64.map(str)
    else:
        users = [user % 100 for user in users]
    rows = [(user, item, 1, "s", "", day, True, 0) for user, day, item in backbone(draw, items)]
    rows += row_lists(draw, st.sampled_from(users), st.sampled_from(items), RAW_ID, text_without(","), brand,
                      st.integers(0, 25), st.booleans(), st.integers(0, 3))
    def day(row) -> datetime.date:
        return MAY_1_2015 + datetime.timedelta(row[5])

    def mmdd(row) -> int:
        return day(row).month * 100 + day(row).day

    lines = [f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},{mmdd(r):0{4 if r[6] else 1}d},{r[7]}\n" for r in rows]
    clicks = [[Click(midnight(day(r)), r[1], r[7]) for r in s] for s in grouped(rows, key=lambda r: (r[0], mmdd(r)))]
    brands = [(item, int(b or 0)) for _, item, _, _, b, *_ in rows]
    brand_of = first_values([(item, b) for item, b in brands if b] + [(item, 0) for item, _ in brands])
    if max(abs(r[0]) for r in rows) >= USER_LIMIT or max(abs(b) for _, b in brands) >= 2 ** 53:
        clicks = None  # session ids user * 10000 + MMDD beyond int64, brand ids beyond exact floats
    return ({"user_log_format1.csv": TMALL_HEADER + "".join(lines)}, clicks,
            first_values((item, cat) for _, item, cat, *_ in rows), brand_of)


@FUZZ
@given(tmall_input(), OPTIONS)
def test_tmall_random_logs(given_input, options):
    files, sessions, categories, brands = given_input
    data = load(files, "tmall", **options)
    expected = None if sessions is None else expected_session_protocol(sessions, **options)
    check_session_dataset(data, expected, {"category": categories, "brand": brands}, with_actions=True)


EVENTS_HEADER = "timestamp,visitorid,event,itemid,transactionid\n"
PROPERTIES_HEADER = "timestamp,itemid,property,value\n"


def sessionise(views) -> list[list] | None:
    """A visitor's views, in time order, cut where two are more than 30 minutes apart; ``None`` where the session
    ids ``visitor * 10**k + n`` would not fit in int64."""
    sessions, numbers = [], []
    for visitor_views in grouped(sorted(views, key=lambda r: (r[1], r[0])), key=lambda r: r[1]):
        number = 0
        sessions.append([visitor_views[0]])
        for previous, view in itertools.pairwise(visitor_views):
            if view[0] - previous[0] > GAP_MS:
                number += 1
                sessions.append([])
            sessions[-1].append(view)
        numbers.append(number)
    scale = 10 ** len(str(max(numbers)))
    if max(abs(v[1]) for v in views) >= (2 ** 63 - 1) // scale - 1:
        return None
    return sessions


@st.composite
def retailrocket_input(draw):
    """(files, sessions of clicks or None where the log must be refused, {item: category})."""
    visitors, items = pools(draw)
    millis = st.builds(lambda d, m: d * DAY_MS + m * 15 * MINUTE_MS, st.integers(0, 12), st.integers(0, 8)) | INT64
    event_name = st.sampled_from(["view", "view", "view", "addtocart", "transaction"])
    rows = [(day * DAY_MS + k, visitor, "view", item, "")
            for k, (visitor, day, item) in enumerate(backbone(draw, items))]
    rows += row_lists(draw, millis, st.sampled_from(visitors), event_name, st.sampled_from(items),
                      st.sampled_from(["", "7"]))
    files = {"events.csv": EVENTS_HEADER + "".join(f"{t},{v},{e},{i},{x}\n" for t, v, e, i, x in rows)}
    properties = st.tuples(st.integers(0, 5) | INT64, st.sampled_from(items) | RAW_ID,
                           st.sampled_from(["categoryid", "categoryid", "available", "888"]), text_without(",", 1))
    parts = [draw(st.none() | st.lists(properties, min_size=1, max_size=6)) for _ in range(2)]
    for number, part in enumerate(parts, 1):
        if part is not None:
            files[f"item_properties_part{number}.csv"] = PROPERTIES_HEADER + "".join(f"{t},{i},{p},{v}\n"
                                                                                     for t, i, p, v in part)
    views = [r for r in rows if r[2] == "view"]
    sessions = sessionise(views) if views else None
    clicks = None if sessions is None else [[Click(t / 1000.0, i) for t, _, _, i, _ in s] for s in sessions]
    category_rows = [(t, k, i, v) for k, (t, i, p, v) in enumerate(r for part in parts if part for r in part)
                     if p == "categoryid"]
    latest = {i: v for _, _, i, v in sorted(category_rows)}
    return files, clicks, latest


@FUZZ
@given(retailrocket_input(), OPTIONS)
def test_retailrocket_random_event_logs(given_input, options):
    files, sessions, categories = given_input
    data = load(files, "retailrocket", **options)
    expected = None if sessions is None else expected_session_protocol(sessions, **options)
    check_session_dataset(data, expected, {"category": categories} if categories else {})


SESSIONISED_HEADER = "timestamp\tuser_id\titem_id\tsession_id\n"


@st.composite
def sessionised_input(draw):
    sessions, items = pools(draw)
    seconds = (st.integers(0, 20).map(lambda d: str(d * 86400)) | st.integers(0, 20 * 86400).map(lambda t: f"{t}.0")
               | st.integers(0, 20 * 864_000).map(lambda t: str(t / 10)))
    rows = [(str(day * 86400 + k), 0, item, key) for k, (key, day, item) in enumerate(backbone(draw, items))]
    rows += row_lists(draw, seconds, RAW_ID, st.sampled_from(items), st.sampled_from(sessions))
    text = SESSIONISED_HEADER + "".join(f"{t}\t{u}\t{i}\t{s}\n" for t, u, i, s in rows)
    clicks = [[Click(float(t), i) for t, _, i, _ in session]
              for session in grouped(rows, key=lambda r: r[3], order=lambda r: float(r[0]))]
    return {"sample_retailrocket.csv": text}, clicks


@FUZZ
@given(sessionised_input(), OPTIONS)
def test_retailrocket_random_sessionised_samples(given_input, options):
    files, sessions = given_input
    check_session_dataset(load(files, "retailrocket", **options), expected_session_protocol(sessions, **options))


# ---- SR-GNN pickles ---------------------------------------------------------------------------------------------

ITEM = st.integers(1, 12)


@st.composite
def srgnn_input(draw):
    """(files, training sessions (None for train.txt), training pairs, test pairs, dates, {item: category})."""
    sessions = draw(st.lists(st.lists(ITEM, max_size=5), min_size=1, max_size=8))
    dates = draw(st.lists(st.integers(0, 3) | st.floats(0, 1e9), min_size=len(sessions), max_size=len(sessions)))
    test = draw(st.lists(st.tuples(st.lists(ITEM, max_size=4), ITEM), min_size=1, max_size=8))
    layout = draw(st.sampled_from(["list", "dated", "pairs"]))
    files = {"test.txt": ([p for p, _ in test], [t for _, t in test])}
    if draw(st.booleans()):
        files["test.txt"] = (list(range(len(test))), *files["test.txt"], [0.0] * len(test))
    train_pairs = None
    if layout == "list":
        files["all_train_seq.txt"] = sessions
    elif layout == "dated":
        files["all_train_seq.txt"] = (list(range(len(sessions))), sessions, ["Nothing"], dates)
    else:
        augmented = [(s[:cut], s[cut]) for s in sessions for cut in range(len(s) - 1, 0, -1)]
        train_pairs = draw(st.permutations(augmented + draw(st.lists(st.tuples(st.lists(ITEM, max_size=4), ITEM),
                                                                          max_size=3))))
        files["train.txt"] = ([p for p, _ in train_pairs], [t for _, t in train_pairs])
    category = draw(st.none() | st.dictionaries(st.integers(1, 16), st.integers(-3, 40) | INT64, min_size=1))
    if category is not None:
        files["category.txt"] = category
    return files, None if train_pairs else sessions, train_pairs, test, dates if layout == "dated" else None, category


@FUZZ
@given(srgnn_input(), st.sampled_from([0.1, 0.34, 0.5]))
def test_srgnn_random_pickles(given_input, valid_fraction):
    files, sessions, train_pairs, test, dates, category = given_input
    data = load(files, "srgnn", valid_fraction=valid_fraction)
    test = [(p, t) for p, t in test if p]  # pairs with an empty prefix carry no input
    if train_pairs is not None:
        train_pairs = [(p, t) for p, t in train_pairs if p]
        train_items = [i for p, t in train_pairs for i in [*p, t]]
    else:
        if dates is not None:
            sessions = [sessions[k] for k in sorted(range(len(sessions)), key=lambda k: dates[k])]
        train_items = [i for s in sessions for i in s]
    items = train_items + [i for p, t in test for i in [*p, t]]
    kept_category = {i: v for i, v in (category or {}).items() if i <= max(items, default=0)}
    if (not train_items or not test or (train_pairs is None and len(sessions) < 2)
            or (category and not kept_category)):
        assert isinstance(data, DataError), f"expected a DataError, loaded {data}"
        return
    if train_pairs is not None and isinstance(data, DataError):
        assert "training session" in data.problem  # the merged chains can leave one session: nothing to hold out
        return
    assert not isinstance(data, DataError), f"failed on valid input: {data}"
    assert data.protocol == "session" and data.num_items == max(items)
    assert pairs_of(data.test) == test
    training = sessions_of(data.train) + sessions_of(data.valid)
    n_valid = min(max(1, round(len(training) * valid_fraction)), len(training) - 1)
    assert data.valid.num_sessions == n_valid
    for split in (data.train, data.valid):
        assert pairs_of(split) == all_prefixes(sessions_of(split))
    if train_pairs is None:
        assert training == [list(s) for s in sessions]
        if dates is not None:
            times = torch.cat([data.train.timestamps, data.valid.timestamps]).tolist()
            assert times == [float(d) for s, d in zip(sessions, sorted(dates)) for _ in s]
    else:  # train.txt: the prefix chains merged; every pair is a sample, every session one pair's sequence
        samples = {(tuple(p), t) for split in (data.train, data.valid) for p, t in pairs_of(split)}
        assert {(tuple(p), t) for p, t in train_pairs} <= samples
        assert {tuple(s) for s in training} <= {(*p, t) for p, t in train_pairs}
    if category is not None:
        labels = {i: v[0] for i, v in side_labels(data, "category").items()}
        assert labels == {i: str(v) for i, v in kept_category.items()}


PLAIN = st.recursive(st.none() | st.booleans() | st.integers(-2, 20) | INT64 | st.integers(2 ** 63, 2 ** 70)
                     | st.floats() | st.text(max_size=3) | st.binary(max_size=3),
                     lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
                     | st.tuples(children, children, children, children)
                     | st.dictionaries(st.integers(-2, 20) | st.text(max_size=2), children, max_size=3)
                     | st.frozensets(st.integers(0, 3), max_size=2),
                     max_leaves=12)
ANY_ITEM = (st.integers(1, 12) | st.integers(-2, 0) | INT64 | st.integers(2 ** 63, 2 ** 70) | st.just(2 ** 63 - 1)
            | st.floats() | st.booleans() | st.text(max_size=2))
ANY_SESSIONS = st.lists(st.lists(ANY_ITEM, max_size=4) | PLAIN, max_size=5) | PLAIN
ANY_TRAIN = ANY_SESSIONS | st.tuples(PLAIN, ANY_SESSIONS, PLAIN, st.lists(ANY_ITEM, max_size=5) | PLAIN)
ANY_TEST = (st.tuples(ANY_SESSIONS, st.lists(ANY_ITEM, max_size=5) | PLAIN)
            | st.tuples(PLAIN, ANY_SESSIONS, st.lists(ANY_ITEM, max_size=5) | PLAIN, PLAIN) | PLAIN)
ANY_SIDE = st.dictionaries(ANY_ITEM, ANY_ITEM, max_size=4) | PLAIN


def damaged(obj) -> st.SearchStrategy:
    """A pickle of ``obj``, whole, truncated, with a flipped byte, or one that names a class."""
    data = pickle.dumps(obj, protocol=4)
    return st.one_of(st.just(data), st.integers(0, len(data)).map(lambda n: data[:n]),
                     st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)).map(
                         lambda kb: data[:kb[0]] + bytes([kb[1]]) + data[kb[0] + 1:]),
                     st.just(pickle.dumps([datetime.date(2020, 1, 1)])), st.just(pickle.dumps(Counter([1, 2]))),
                     st.binary(max_size=20))


@FUZZ
@given(ANY_TRAIN.flatmap(damaged), ANY_TEST.flatmap(damaged), st.none() | ANY_SIDE.flatmap(damaged),
       st.sampled_from(["all_train_seq.txt", "train.txt"]))
def test_srgnn_garbage_pickles(train, test, category, train_name):
    files = {train_name: train, "test.txt": test}
    if category is not None:
        files["category.txt"] = category
    load(files, "srgnn")  # a DataError or a dataset with every invariant (checked by load)


# ---- S3-Rec user sequences --------------------------------------------------------------------------------------

@st.composite
def s3rec_input(draw):
    """(files, user sequences, {item: [attribute, …]} or None)."""
    users = draw(st.lists(st.lists(st.integers(1, 15), min_size=1, max_size=7), min_size=1, max_size=8))
    space = st.sampled_from([" ", "  ", "\t", " \t"])
    lines = []
    for user, items in enumerate(users, 1):
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", " ", "\t"])))  # blank lines are skipped
        lines.append(draw(space).join([str(user), *map(str, items)]) + draw(st.sampled_from(["", " "])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    files = {"Toys_and_Games.txt": newline.join(lines) + newline}
    attributes = draw(st.none() | st.dictionaries(st.integers(1, 20), st.lists(st.integers(0, 30), max_size=4),
                                                  min_size=1))
    if attributes is not None:
        files["Toys_and_Games_item2attributes.json"] = json.dumps({str(k): v for k, v in attributes.items()})
    return files, users, attributes


@FUZZ
@given(s3rec_input())
def test_s3rec_random_sequences(given_input):
    files, users, attributes = given_input
    data = load(files, "s3rec")
    num_items = max(i for s in users for i in s)
    kept = {i: list(dict.fromkeys(v)) for i, v in (attributes or {}).items() if i <= num_items and v}
    if attributes and any(attributes.values()) and not kept:
        assert isinstance(data, DataError) and "matches no item" in data.problem
        return
    assert not isinstance(data, DataError), f"failed on valid input: {data}"
    assert data.protocol == "leave_one_out" and data.num_items == num_items
    # test: every user with two items or more; valid: three or more; train: the rest, all prefixes
    assert pairs_of(data.test) == [(s[:-1], s[-1]) for s in users if len(s) >= 2]
    assert data.test.num_samples == sum(len(s) >= 2 for s in users)
    assert pairs_of(data.valid) == [(s[:-2], s[-2]) for s in users if len(s) >= 3]
    assert sessions_of(data.train) == [s[:-2] for s in users]
    assert pairs_of(data.train) == all_prefixes(s[:-2] for s in users)
    if attributes is not None:
        assert side_labels(data, "attribute") == {i: list(map(str, v)) for i, v in kept.items()}
        assert data.side["attribute"].vocab_size == len({a for v in kept.values() for a in v})


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 30) | st.integers(2 ** 63, 2 ** 70) | st.floats()
                    | st.text(max_size=3),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children,
                                                                                       max_size=4),
                    max_leaves=10)


@FUZZ
@given(st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=5), min_size=1, max_size=4),
       st.dictionaries(st.integers(-2, 12).map(str) | st.text(max_size=3), JSON, max_size=5) | JSON,
       st.sampled_from(["json", "text", "bytes"]), st.text(max_size=20), st.binary(max_size=20))
def test_s3rec_garbage_attributes(users, attributes, kind, text, binary):
    content = {"json": json.dumps(attributes), "text": text, "bytes": binary}[kind]
    load({"Toys_and_Games.txt": "".join(f"{u} {' '.join(map(str, s))}\n" for u, s in enumerate(users, 1)),
          "Toys_and_Games_item2attributes.json": content}, "s3rec")


@FUZZ
@given(st.text(max_size=60) | st.binary(max_size=60))
def test_s3rec_garbage_sequences(content):
    load({"Toys_and_Games.txt": content}, "s3rec")


# ---- RecBole atomic files ---------------------------------------------------------------------------------------

INTER_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
TEXT_HEADER = "item_id:token\ttext:token_seq\n"


@st.composite
def atomic_input(draw):
    """(files, {split: [(prefix, target)]} with final ids, item text by final id or None)."""
    index = st.integers(0, 11)
    files, pairs = {}, {}
    for split in SPLITS:
        rows = draw(st.lists(st.tuples(RAW_ID, st.lists(index, max_size=4), index), min_size=1, max_size=6))
        files[f"Office.{split}.inter"] = INTER_HEADER + "".join(f"{u}\t{' '.join(map(str, h))}\t{t}\n"
                                                                for u, h, t in rows)
        pairs[split] = [([i + 1 for i in h], t + 1) for _, h, t in rows]
    layout = draw(st.sampled_from([None, "indices", "item2index"]))
    text_value = text_without("\t", max_size=6)
    if layout is None:
        return files, pairs, None
    if layout == "indices":
        rows = draw(st.lists(st.tuples(index, text_value), min_size=1, max_size=8))
        files["Office.text"] = TEXT_HEADER + "".join(f"{i}\t{t}\n" for i, t in rows)
        return files, pairs, [(i + 1, t) for i, t in rows]
    raw_ids = draw(st.lists(st.text("ABCxyz0123456789", min_size=1, max_size=4), min_size=1, max_size=12, unique=True))
    indices = draw(st.lists(index, min_size=len(raw_ids), max_size=len(raw_ids)))
    rows = draw(st.lists(st.tuples(st.sampled_from(raw_ids) | st.just("unmapped"), text_value), min_size=1,
                         max_size=8))
    files["Office.item2index"] = "".join(f"{r}\t{i}\n" for r, i in zip(raw_ids, indices))
    files["Office.text"] = TEXT_HEADER + "".join(f"{r}\t{t}\n" for r, t in rows)
    mapping = {r: i + 1 for r, i in zip(raw_ids, indices)}
    return files, pairs, [(mapping.get(r, 0), t) for r, t in rows]


@FUZZ
@given(atomic_input())
def test_atomic_random_files(given_input):
    files, pairs, text = given_input
    data = load(files, "atomic")
    kept = {split: [(p, t) for p, t in split_pairs if p] for split, split_pairs in pairs.items()}
    if not all(kept.values()):
        assert isinstance(data, DataError) and "no (prefix, target) pair" in data.problem and ".inter" in str(data)
        return
    assert not isinstance(data, DataError), f"failed on valid input: {data}"
    assert data.protocol == "given"
    assert data.num_items == max(i for split_pairs in pairs.values() for p, t in split_pairs for i in [*p, t])
    for split in SPLITS:
        assert pairs_of(data.split(split)) == kept[split], split
    if text is not None:
        expected = [""] * (data.num_items + 1)
        for i, t in text:
            if 1 <= i <= data.num_items:
                expected[i] = t
        assert data.text == expected


# ---- mutated tables ---------------------------------------------------------------------------------------------

INT_GARBAGE = ["", "x", "1.5", "nan", "NaN", "inf", "٣", "1_0", "9" * 25, "-" + "9" * 25, "0x1F", " "]
ID_TOKEN_GARBAGE = ["x", "-2", "1.5", "٣", "1_0", "9" * 25, "1 -2", "2 x"]
FLOAT_GARBAGE = ["", "x", "nan", "NaN", "inf", "-inf", "1e400", "٣"]


@dataclass
class Table:
    """A delimited file of a format: its separator, header, and for each column the reader needs, values that
    the reader must refuse there. ``fixed`` tables have one field per column on every line."""
    name: str
    sep: str
    header: bool
    garbage: dict[int, list[str]]
    fixed: bool = True


TABLES = {
    "diginetica": [Table("train-item-views.csv", ";", True, {
        0: INT_GARBAGE, 2: INT_GARBAGE, 3: INT_GARBAGE,
        4: ["", "2016-13-01", "2016-02-30", "20160101", "NaN", "garbage", "2016-01-01T00:00"]}),
        Table("product-categories.csv", ";", True, {0: INT_GARBAGE, 1: INT_GARBAGE})],
    "yoochoose": [Table("yoochoose-clicks.dat", ",", False, {
        0: INT_GARBAGE, 1: ["", "NaN", "garbage", "2014-13-01T00:00:00Z", "2014-04-01T25:00:00Z"],
        2: INT_GARBAGE, 3: [""]})],
    "tmall": [Table("user_log_format1.csv", ",", True, {
        0: INT_GARBAGE, 1: INT_GARBAGE, 2: INT_GARBAGE, 4: ["x", "1.5", "nan", "inf", "٣"],
        5: ["", "1340", "0230", "0", "-501", "x", "12345"], 6: ["", "4", "-1", "x", "0.5"]})],
    "retailrocket": [Table("events.csv", ",", True, {0: INT_GARBAGE, 1: INT_GARBAGE, 2: ["", "click", "View"],
                                                     3: INT_GARBAGE}),
                     Table("item_properties_part1.csv", ",", True, {0: INT_GARBAGE, 1: INT_GARBAGE, 2: [""], 3: [""]})],
    "sessionised": [Table("sample_retailrocket.csv", "\t", True, {0: FLOAT_GARBAGE, 2: INT_GARBAGE,
                                                                  3: INT_GARBAGE})],
    "atomic": [Table("Office.train.inter", "\t", True, {1: ID_TOKEN_GARBAGE, 2: INT_GARBAGE + ["-1"]}),
               Table("Office.test.inter", "\t", True, {1: ID_TOKEN_GARBAGE, 2: INT_GARBAGE + ["-1"]}),
               Table("Office.text", "\t", True, {0: [""]}),
               Table("Office.item2index", "\t", False, {0: [""], 1: INT_GARBAGE})],
    "s3rec": [Table("Toys_and_Games.txt", " ", False, {1: ID_TOKEN_GARBAGE + ["0"]}, fixed=False)],
}
MUTATIONS = ["garbage value", "extra field", "missing field", "other separator", "missing column", "invalid UTF-8",
             "unicode character", "cut anywhere", "duplicated line", "blank lines", "header only", "empty file"]


def mutate(draw, text: str, table: Table) -> tuple[str | bytes, bool]:
    """A mutation of a valid file, and whether the reader must refuse it."""
    lines = text.replace("\r\n", "\n").split("\n")[:-1]
    rows = list(range(1 if table.header else 0, len(lines)))
    kind = draw(st.sampled_from(MUTATIONS))
    event(f"mutation: {kind}")
    row, column = draw(st.sampled_from(rows)), draw(st.sampled_from(sorted(table.garbage)))
    fields = lines[row].split(table.sep)

    def joined(new_lines) -> str:
        return "".join(line + "\n" for line in new_lines)

    if kind == "empty file":
        return draw(st.sampled_from(["", "\n", " \n\n"])), True
    if kind == "header only":
        return (joined(lines[:1]), True) if table.header else ("", True)
    if kind == "cut anywhere":
        return text[:draw(st.integers(0, len(text)))], False
    if kind == "extra field":
        lines[row] += table.sep + draw(st.sampled_from(["1", "x", " "] if table.fixed else ["x", "1.5"]))
        return joined(lines), True
    if kind == "missing field":
        lines[row] = table.sep.join(fields[:-1])
        return joined(lines), table.fixed and len(fields) - 1 in table.garbage
    if kind == "other separator":
        other = draw(st.sampled_from([s for s in [",", ";", "|"] + ["\t"] * table.fixed if s != table.sep]))
        return text.replace(table.sep, other), True
    if kind == "missing column" and table.fixed:
        return joined(table.sep.join(f for k, f in enumerate(line.split(table.sep)) if k != column)
                      for line in lines), True
    if kind == "garbage value":
        fields[column] = draw(st.sampled_from(table.garbage[column]))
        lines[row] = table.sep.join(fields)
        return joined(lines), True
    if kind == "unicode character":
        position = draw(st.integers(0, len(text)))
        return text[:position] + draw(st.characters(blacklist_categories=("Cs",))) + text[position:], False
    if kind == "invalid UTF-8":
        data = text.encode("utf-8")
        position = draw(st.integers(0, len(data)))
        return data[:position] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[position:], True
    if kind == "duplicated line":
        return joined(lines[:row + 1] + lines[row:]), False
    # blank lines (also instead of a missing column where lines have no fixed columns)
    return joined(lines[:row] + [""] * draw(st.integers(1, 3)) + lines[row:]), False


def check_mutation(files: dict, fmt: str, tables: list[Table], draw) -> None:
    """Mutates one of the files: the result loads (keeping every invariant) or raises DataError, and a mutation
    that breaks the format raises a DataError naming the mutated file (unless the files were refused anyway)."""
    table = draw(st.sampled_from([t for t in tables if t.name in files]))
    mutated, must_fail = mutate(draw, files[table.name], table)
    data = load({**files, table.name: mutated}, fmt)
    if must_fail:
        assert isinstance(data, DataError), f"a damaged {table.name} loaded: {data}"
        if table.name not in str(data):
            assert isinstance(load(files, fmt), DataError), f"the error names another file: {data}"


@FUZZ
@given(st.data())
def test_mutated_diginetica_files(data):
    files = data.draw(diginetica_input())[0]
    check_mutation(files, "diginetica", TABLES["diginetica"], data.draw)


@FUZZ
@given(st.data())
def test_mutated_yoochoose_files(data):
    check_mutation(data.draw(yoochoose_input())[0], "yoochoose", TABLES["yoochoose"], data.draw)


@FUZZ
@given(st.data())
def test_mutated_tmall_files(data):
    check_mutation(data.draw(tmall_input())[0], "tmall", TABLES["tmall"], data.draw)


@FUZZ
@given(st.data())
def test_mutated_retailrocket_files(data):
    if data.draw(st.booleans()):
        check_mutation(data.draw(sessionised_input())[0], "retailrocket", TABLES["sessionised"], data.draw)
    else:
        files = data.draw(retailrocket_input())[0]
        files.pop("item_properties_part2.csv", None)
        check_mutation(files, "retailrocket", TABLES["retailrocket"], data.draw)


@FUZZ
@given(st.data())
def test_mutated_atomic_files(data):
    check_mutation(data.draw(atomic_input())[0], "atomic", TABLES["atomic"], data.draw)


@FUZZ
@given(st.data())
def test_mutated_s3rec_files(data):
    files, users, _ = data.draw(s3rec_input())
    files["Toys_and_Games.txt"] = "".join(f"{u} {' '.join(map(str, s))}\n" for u, s in enumerate(users, 1))
    check_mutation(files, "s3rec", TABLES["s3rec"], data.draw)


# ---- huge and negative final ids ------------------------------------------------------------------------------

HUGE = st.sampled_from([2 ** 31, 10 ** 12, 2 ** 63 - 2, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 30])


@FUZZ
@given(st.sampled_from(["s3rec", "srgnn", "atomic"]), HUGE | st.integers(-3, 0), st.booleans())
def test_huge_or_negative_final_ids_are_refused(fmt, item, with_side):
    """Final ids index the embedding tables: a huge one means raw ids (and a table of that size); ids below 1 are
    padding or invalid. Either is refused, with or without side information."""
    if fmt == "s3rec":
        files = {"Toys_and_Games.txt": f"1 1 2 3\n2 2 {item} 1\n"}
        if with_side:
            files["Toys_and_Games_item2attributes.json"] = json.dumps({"1": [5], str(item): [6]})
    elif fmt == "srgnn":
        files = {"all_train_seq.txt": [[1, 2], [2, item, 1], [2, 1]], "test.txt": ([[1], [item]], [2, 1])}
        if with_side:
            files["category.txt"] = {1: 5, item: 6}
    else:
        files = {f"Office.{split}.inter": INTER_HEADER + f"0\t0 1\t2\n1\t{item - 1} 0\t1\n" for split in SPLITS}
        if with_side:
            files["Office.text"] = TEXT_HEADER + f"0\tpen\n{item - 1}\tpaper\n"
    data = load(files, fmt)
    assert isinstance(data, DataError), f"item id {item} accepted: {data}"


# ---- protocols on records ---------------------------------------------------------------------------------------

@RECORDS
@given(st.lists(st.lists(st.integers(1, 9), max_size=6), min_size=1, max_size=10))
def test_leave_one_out_counts(sequences):
    try:
        data = leave_one_out(UserSequences(sequences, path="users.txt"), "toy")
    except DataError as error:
        assert not any(sequences) and error.path == "users.txt"
        return
    check_dataset(data)
    # a test sample per user with two items or more, a validation sample per user with three or more
    assert data.test.num_samples == sum(len(s) >= 2 for s in sequences)
    assert data.valid.num_samples == sum(len(s) >= 3 for s in sequences)
    assert data.train.num_samples == sum(max(len(s) - 3, 0) for s in sequences)
    assert pairs_of(data.test) == [(s[:-1], s[-1]) for s in sequences if len(s) >= 2]
    assert pairs_of(data.valid) == [(s[:-2], s[-2]) for s in sequences if len(s) >= 3]
    # training holds each sequence without its last two items: no training sample reaches a held-out target
    assert sessions_of(data.train) == [s[:-2] for s in sequences]


@RECORDS
@given(st.lists(st.tuples(st.lists(st.integers(1, 6), max_size=5), st.integers(1, 6)), max_size=12))
def test_pairs_to_split_keeps_every_pair_once(pairs):
    kept = [(p, t) for p, t in pairs if p]
    try:
        split = pairs_to_split([p for p, _ in pairs], [t for _, t in pairs], "pairs.txt")
    except DataError:
        assert not kept
        return
    assert pairs_of(split) == kept
    assert split.items.numel() <= sum(len(p) + 1 for p, _ in kept)


@RECORDS
@given(st.dictionaries(st.sampled_from(SPLITS), st.lists(st.tuples(st.lists(st.integers(1, 6), max_size=4),
                                                                   st.integers(1, 6)), max_size=5)))
def test_given_protocol(pairs):
    pairs = {split: pairs.get(split, []) for split in SPLITS}
    record = GivenSplits({s: ([p for p, _ in v], [t for _, t in v]) for s, v in pairs.items()}, 6, path="given")
    try:
        data = given_protocol(record, "toy")
    except DataError:
        assert not all(any(p for p, _ in v) for v in pairs.values())
        return
    check_dataset(data)
    for split in SPLITS:
        assert pairs_of(data.split(split)) == [(p, t) for p, t in pairs[split] if p]
