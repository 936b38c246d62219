"""Protocols: how a reader's record becomes train / valid / test splits.

* ``session`` — the SR-GNN protocol, from raw clicks (:func:`session_protocol`) or from preprocessed files
  (:func:`preprocessed_session_protocol`), with the last 10 % of training sessions held out for validation.
* ``leave_one_out`` — per user, last item = test target, second-to-last = validation target (:func:`leave_one_out`).
* ``given`` — the splits as in the files (:func:`given_protocol`).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, DataError
from .dataset import SessionDataset, SessionSplit
from .records import ClickLog, GivenSplits, SplitSequences, UserSequences, build_side_fields, build_text

log = logging.getLogger(__name__)

DAY = 86400.0
#: Final item ids index the embedding tables (and the side-field and text arrays): more unused ids than this below
#: the largest one means the file holds raw ids, which would make those tables that large.
MAX_UNUSED_IDS = 1_000_000


def session_protocol(record: ClickLog, name: str, *, test_days: float = 7, min_item_count: int = 5,
                     valid_fraction: float = 0.1, recent_fraction: float = 1.0) -> SessionDataset:
    """The SR-GNN preprocessing of a raw click log.

    Group clicks by session (keeping the given click order), drop sessions of length 1, drop items with fewer
    than ``min_item_count`` clicks, drop sessions left shorter than 2; a session's time is its latest click;
    sessions later than ``max_time - test_days`` are the test set, earlier ones the training set (a session exactly
    at the boundary is dropped, as in SR-GNN). Items are numbered ``1..N`` by first appearance in the
    chronologically sorted training sessions; test clicks on items unseen in training are dropped, and test sessions
    left shorter than 2 too. ``recent_fraction`` keeps the most recent fraction of the training samples (Yoochoose
    1/64, 1/4). The last ``valid_fraction`` of the training sessions becomes the validation split.
    """
    session, item, time, fields = _group_by_session(record)
    keep = np.bincount(session)[session] > 1
    session, item, time, fields = _take(keep, session, item, time, fields)
    item_codes = pd.factorize(item)[0]
    keep = np.bincount(item_codes)[item_codes] >= min_item_count
    session, item, time, fields = _take(keep, session, item, time, fields)
    keep = np.bincount(session)[session] >= 2
    session, item, time, fields = _take(keep, session, item, time, fields)
    if session.size == 0:
        raise DataError(f"no session of length >= 2 is left after dropping items with fewer than "
                        f"{min_item_count} clicks", record.path)

    session = np.unique(session, return_inverse=True)[1]  # 0..S-1, still in first-appearance order
    session_time = np.full(session.max() + 1, -np.inf)
    np.maximum.at(session_time, session, time)
    split_time = session_time.max() - test_days * DAY
    train_sessions = np.flatnonzero(session_time < split_time)
    test_sessions = np.flatnonzero(session_time > split_time)
    train_sessions = train_sessions[np.argsort(session_time[train_sessions], kind="stable")]
    test_sessions = test_sessions[np.argsort(session_time[test_sessions], kind="stable")]
    if train_sessions.size == 0 or test_sessions.size == 0:
        raise DataError(f"the last {test_days:g} days leave an empty {'training' if train_sessions.size == 0 else 'test'}"
                        f" set ({session.max() + 1} sessions)", record.path)

    field_codes = {k: pd.factorize(v, sort=True)[0] + 1 for k, v in fields.items()}  # sorted values -> 1..V
    ptr = np.concatenate([[0], np.cumsum(np.bincount(session))])  # clicks are grouped by session
    train_lengths, train_idx = _ranges(ptr, train_sessions)
    item_index = pd.Index(pd.unique(item[train_idx]))
    to_id = lambda raw: item_index.get_indexer(raw) + 1
    num_items = len(item_index)
    train = _split_from_clicks(train_lengths, to_id(item[train_idx]), time[train_idx],
                               {k: v[train_idx] for k, v in field_codes.items()})

    test_lengths, test_idx = _ranges(ptr, test_sessions)
    test_items = to_id(item[test_idx])
    seen = test_items > 0
    test_session = np.repeat(np.arange(test_sessions.size), test_lengths)[seen]
    test_lengths = np.bincount(test_session, minlength=test_sessions.size)
    keep = test_lengths[test_session] >= 2
    if not keep.any():
        raise DataError(f"no test session of length >= 2 is left after dropping the items unseen in training "
                        f"({test_sessions.size} test sessions)", record.path)
    test_idx = test_idx[seen][keep]
    test = _split_from_clicks(test_lengths[test_lengths >= 2], test_items[seen][keep], time[test_idx],
                              {k: v[test_idx] for k, v in field_codes.items()})

    if recent_fraction < 1.0:
        train = keep_recent_samples(train, recent_fraction, record.path)
    train, valid = hold_out_last(train, valid_fraction, record.path)
    return SessionDataset(
        name, "session", num_items, train, valid, test,
        side=build_side_fields(record.item_side, num_items, to_id, record.path),
        text=build_text(record.item_text, num_items, to_id), source=record.path)


def preprocessed_session_protocol(record: SplitSequences, name: str, *,
                                  valid_fraction: float = 0.1) -> SessionDataset:
    """The ``session`` protocol on preprocessed files: the given split, validation = last training sessions.

    Training sessions are sorted by their time when the files carry it (stable, so the stored order decides ties;
    each click gets its session's time), else kept in stored order. Test samples are exactly the stored ``(prefix, target)`` pairs.
    """
    train, timestamps = record.train, None
    if record.train_time is not None:
        order = np.argsort(np.asarray(record.train_time), kind="stable")
        train = [train[i] for i in order]
        lengths = torch.tensor([len(s) for s in train])
        timestamps = torch.from_numpy(np.asarray(record.train_time, dtype=np.float64)[order]).repeat_interleave(lengths)
    train_split = SessionSplit.from_sequences(train, timestamps=timestamps)
    test = pairs_to_split(record.test_prefixes, record.test_targets, record.path)
    num_items = int(max(train_split.items.max(), test.items.max()))
    check_final_ids(torch.cat([train_split.items, test.items]), num_items, record.path)
    train_split, valid = hold_out_last(train_split, valid_fraction, record.path)
    return SessionDataset(name, "session", num_items, train_split, valid, test,
                          side=build_side_fields(record.item_side, num_items, path=record.path), source=record.path)


def leave_one_out(record: UserSequences, name: str) -> SessionDataset:
    """Per user: the last item is the test target, the second-to-last the validation target; the training split
    holds each sequence without its last two items, with all its prefixes as samples. Users with fewer than three
    items contribute what they can (a test sample from two items, nothing from one).
    """
    full = SessionSplit.from_sequences(record.sequences, samples=torch.empty(0, 2, dtype=torch.long))
    lengths = full.lengths
    if full.items.numel() == 0:
        raise DataError("no user sequence with an item", record.path)
    users = torch.arange(full.num_sessions)
    has_test, has_valid = lengths >= 2, lengths >= 3
    test = SessionSplit(full.ptr, full.items, torch.stack([users, lengths - 1], 1)[has_test])
    valid = SessionSplit(full.ptr, full.items, torch.stack([users, lengths - 2], 1)[has_valid])
    train_lengths = (lengths - 2).clamp(min=0)
    click = torch.arange(full.items.numel())
    in_train = (click - full.ptr[:-1].repeat_interleave(lengths)) < train_lengths.repeat_interleave(lengths)
    train = SessionSplit.from_lengths(train_lengths, full.items[in_train])
    num_items = int(full.items.max())
    check_final_ids(full.items, num_items, record.path)
    return SessionDataset(name, "leave_one_out", num_items, train, valid, test,
                          side=build_side_fields(record.item_side, num_items, path=record.path),
                          text=build_text(record.item_text, num_items), source=record.path)


def given_protocol(record: GivenSplits, name: str) -> SessionDataset:
    """Train / valid / test exactly as the files give them; chains of prefixes are stored as one session."""
    splits = {s: pairs_to_split(*record.pairs[s], record.path) for s in ("train", "valid", "test")}
    check_final_ids(torch.cat([split.items for split in splits.values()]), record.num_items, record.path)
    return SessionDataset(name, "given", record.num_items, **splits,
                          side=build_side_fields(record.item_side, record.num_items, path=record.path),
                          text=build_text(record.item_text, record.num_items), source=record.path)


def check_final_ids(items: torch.Tensor, num_items: int, path=None) -> None:
    """Checks that final ids ``items`` lie in ``1..num_items`` and that at most :data:`MAX_UNUSED_IDS` of those ids
    are unused (more means raw ids, and tables of ``num_items`` rows, which the caller would allocate)."""
    if items.numel() and int(items.min()) < 1:
        raise DataError(f"item ids must be >= 1 (0 is padding), found {int(items.min())}", path)
    if items.numel() and int(items.max()) > num_items:
        raise DataError(f"item id {int(items.max())} is above the number of items {num_items}", path)
    distinct = torch.unique(items).numel()
    if num_items - distinct > MAX_UNUSED_IDS:
        raise DataError(f"item ids are not final ids 1..N: the largest is {num_items} but only {distinct} distinct "
                        "ids occur; renumber the items 1..N", path)


def pairs_to_split(prefixes: Sequence[Sequence[int]], targets: Sequence[int], path: str = "") -> SessionSplit:
    """Stores ``(prefix, target)`` pairs compactly: consecutive pairs that are prefixes of one sequence
    (SR-GNN's test augmentation, longest first; RecBole's augmented train files) share one stored session.

    Every pair becomes exactly one sample, so ``split.sample(m) == (prefixes[m], targets[m])``. Pairs with an
    empty prefix are skipped (they carry no input).
    """
    if len(prefixes) != len(targets):
        raise DataError(f"{len(prefixes)} prefixes but {len(targets)} targets", path)
    sessions: list[list[int]] = []
    samples: list[tuple[int, int]] = []
    current: list[int] = []
    skipped = 0
    for prefix, target in zip(prefixes, targets):
        if len(prefix) == 0:
            skipped += 1
            continue
        seq = [*prefix, target]
        if sessions and len(seq) <= len(current) and current[:len(seq)] == seq:
            pass
        elif sessions and len(seq) > len(current) and seq[:len(current)] == current:
            sessions[-1] = current = seq
        else:
            sessions.append(seq)
            current = seq
        samples.append((len(sessions) - 1, len(prefix)))
    if skipped:
        log.warning("%s: skipped %d pairs with an empty prefix", path, skipped)
    if not samples:
        raise DataError("no (prefix, target) pair", path)
    return SessionSplit.from_sequences(sessions, samples=torch.tensor(samples, dtype=torch.long))


def hold_out_last(split: SessionSplit, fraction: float, path=None) -> tuple[SessionSplit, SessionSplit]:
    """Splits off the last ``fraction`` of the sessions (chronological order) as the validation split;
    at least one session goes to each side. ``path`` names the data in messages."""
    if split.num_sessions < 2 or not 0 < fraction < 1:
        raise DataError(f"cannot hold out a validation fraction of {fraction} from {split.num_sessions} "
                        "training session(s)", path)
    n_valid = min(max(1, round(split.num_sessions * fraction)), split.num_sessions - 1)
    cut = split.num_sessions - n_valid
    return (split.select_sessions(torch.arange(cut)),
            split.select_sessions(torch.arange(cut, split.num_sessions)))


def merge_validation(dataset: SessionDataset) -> SessionDataset:
    """The dataset for a refit under the ``session`` protocol: the validation sessions (the last training sessions)
    join the training split and no validation split is left, so that a model is trained on every training session,
    as the session-based papers train on their whole training file.

    Raises:
        ConfigError: the protocol is not ``session`` (under ``leave_one_out`` and given splits the papers report
            the model selected on validation, trained without the validation targets, as graphsbr does).
    """
    if dataset.protocol != "session":
        raise ConfigError(f"refit needs the session protocol; {dataset.name} uses {dataset.protocol}, whose papers "
                          "report the model selected on validation without retraining it")
    train = SessionSplit.concat([dataset.train, dataset.valid])
    return replace(dataset, train=train, valid=SessionSplit.empty())


def keep_recent_samples(split: SessionSplit, fraction: float, path=None) -> SessionSplit:
    """Keeps the most recent ``fraction`` of the training samples, in SR-GNN's order (sessions chronological,
    within a session the longest prefix first), then drops the sessions left without a sample."""
    count = int(split.num_samples * fraction)
    if count == 0:
        raise DataError(f"the most recent {fraction:g} of {split.num_samples} training samples is empty", path)
    session, cut = split.samples[:, 0], split.samples[:, 1]
    order = torch.from_numpy(np.lexsort((-cut.numpy(), session.numpy())))
    kept = split.samples[order[-count:]]
    sessions = torch.unique(kept[:, 0])
    trimmed = SessionSplit(split.ptr, split.items, kept, split.timestamps, split.fields)
    return trimmed.select_sessions(sessions)


def _group_by_session(record: ClickLog):
    n = len(record.session)
    for label, array in (("item", record.item), ("time", record.time), *record.fields.items()):
        if len(array) != n:
            raise DataError(f"{label} has {len(array)} values for {n} clicks", record.path)
    if n == 0:
        raise DataError("no click", record.path)
    codes = pd.factorize(record.session)[0]
    order = np.argsort(codes, kind="stable")
    fields = {k: np.asarray(v)[order] for k, v in record.fields.items()}
    return codes[order], np.asarray(record.item)[order], np.asarray(record.time, dtype=np.float64)[order], fields


def _take(keep, session, item, time, fields):
    return session[keep], item[keep], time[keep], {k: v[keep] for k, v in fields.items()}


def _ranges(ptr: np.ndarray, sessions: np.ndarray):
    """Lengths of ``sessions`` and the indices of their clicks, session after session."""
    lengths = ptr[sessions + 1] - ptr[sessions]
    offsets = np.cumsum(lengths) - lengths
    within = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    return lengths, np.repeat(ptr[sessions], lengths) + within


def _split_from_clicks(lengths, items, time, fields) -> SessionSplit:
    return SessionSplit.from_lengths(
        torch.from_numpy(np.asarray(lengths, dtype=np.int64)), torch.from_numpy(np.asarray(items, dtype=np.int64)),
        timestamps=torch.from_numpy(np.asarray(time, dtype=np.float64)),
        fields={k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in fields.items()})
