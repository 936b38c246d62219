import json
import random

import pytest
import torch
from torch import nn

from graphsbr import DataError, TrainingError
from graphsbr.train import checkpoint, trainer
from graphsbr.train.checkpoint import (
    BEST,
    LAST,
    LAST_KEYS,
    RANKS,
    exclusive,
    load_checkpoint,
    read_checkpoint,
    remove_partial_writes,
    save_ranks,
    write_best,
    write_last,
    write_text,
)


def test_the_trainer_module_still_exports_the_checkpoint_names():
    for name in ("BEST", "LAST_KEYS", "exclusive", "read_checkpoint", "load_weights", "save_ranks"):
        assert getattr(trainer, name) is getattr(checkpoint, name)


def test_best_round_trip_into_a_model(tmp_path):
    model, other = nn.Linear(2, 3), nn.Linear(2, 3)
    write_best(tmp_path, model.state_dict(), 4)
    state = load_checkpoint(other, tmp_path / BEST)
    assert state["epoch"] == 4 and torch.equal(other.weight, model.weight)
    with pytest.raises(DataError, match=r"best\.pt: holds weights for another model"):
        load_checkpoint(nn.Linear(2, 5), tmp_path / BEST)


def test_last_and_metrics(tmp_path):
    state = {key: None for key in LAST_KEYS}
    write_last(tmp_path, {**state, "epoch": 2}, [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    assert read_checkpoint(tmp_path / LAST, keys=LAST_KEYS)["epoch"] == 2
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    with pytest.raises(DataError, match="not a graphsbr checkpoint: no steps"):
        read_checkpoint(tmp_path / LAST, keys=("steps",))


def test_unreadable_and_missing_checkpoints_are_data_errors(tmp_path):
    write_best(tmp_path, nn.Linear(2, 3).state_dict(), 1)
    whole = (tmp_path / BEST).read_bytes()
    (tmp_path / LAST).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"last\.pt: not a readable checkpoint"):
        read_checkpoint(tmp_path / LAST)
    with pytest.raises(DataError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pt")
    for seed in range(40):  # arbitrary bytes fail inside the unpickler in many ways: each is a DataError
        (tmp_path / "junk.pt").write_bytes(random.Random(seed).randbytes(200))
        with pytest.raises(DataError, match=r"junk\.pt: not a readable checkpoint"):
            read_checkpoint(tmp_path / "junk.pt")


def test_ranks_are_int32_in_batch_order(tmp_path):
    save_ranks([torch.tensor([3, 1]), torch.tensor([7])], tmp_path)
    ranks = torch.load(tmp_path / RANKS, weights_only=True)["test"]
    assert ranks.dtype == torch.int32 and ranks.tolist() == [3, 1, 7]


def test_write_text_replaces_and_partial_writes_are_removed(tmp_path):
    write_text(tmp_path / "config.yaml", "a: 1\n")
    write_text(tmp_path / "config.yaml", "a: 2\n")
    assert (tmp_path / "config.yaml").read_text() == "a: 2\n"
    (tmp_path / ".last.pt.cut-short.tmp").write_bytes(b"partial")
    remove_partial_writes(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_exclusive_refuses_a_second_holder_and_frees_the_folder(tmp_path):
    out = tmp_path / "run"
    with exclusive(out):
        with pytest.raises(TrainingError, match="in use by another run"), exclusive(out):
            pass
    with exclusive(out):  # free again
        pass
    with exclusive(None):  # no folder, no lock
        pass
