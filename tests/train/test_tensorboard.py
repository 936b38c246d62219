import json
import sys

import numpy as np
import pytest

from graphsbr import ConfigError, load_dataset
from graphsbr.train.tensorboard import TensorBoardLogger

from .tiny import tiny_trainer

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", num_items=200, num_sessions=1500)


def trainer(data, out=None, **settings):
    return tiny_trainer(data, out, **{"epochs": 2, **settings})


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the event files in ``folder``: tag -> [(step, value)]."""
    events = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def as_float32(values) -> list[float]:
    """Event files hold float32 scalars."""
    return [float(np.float32(v)) for v in values]


def test_a_run_writes_its_metrics_and_step_losses_as_events(data, tmp_path):
    run = trainer(data, tmp_path / "run", tensorboard=str(tmp_path / "tb"), epoch_steps=6, log_every=3,
                  report_test=True)
    assert any(isinstance(callback, TensorBoardLogger) for callback in run.callbacks)
    run.fit()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    scalars = read_scalars(tmp_path / "tb")
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in history] == [1, 2] and history == json.loads(json.dumps(run.history))
    for split in ("valid", "test"):
        for metric in history[0][split]:
            steps, values = zip(*scalars[f"{split}/{metric}"])
            assert steps == (1, 2)
            assert list(values) == as_float32(record[split][metric] for record in history)
    for key in ("lr", "samples_per_second"):
        assert [value for _, value in scalars[key]] == as_float32(record[key] for record in history)
    # the running loss is read every log_every = 3 steps of the two 6-step epochs: global steps 3, 6, 9, 12
    assert [step for step, _ in scalars["train/loss"]] == [3, 6, 9, 12]
    assert scalars["train/loss"][1][1] == as_float32([history[0]["loss"]])[0]  # the epoch's mean at its end


def test_no_events_without_the_setting(data, tmp_path):
    run = trainer(data, epochs=1, epoch_steps=2)
    assert not any(isinstance(callback, TensorBoardLogger) for callback in run.callbacks)


def test_a_missing_tensorboard_package_is_a_config_error_at_construction(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # importing it now raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "graphsbr\[tensorboard\]"'):
        trainer(data, tensorboard=str(tmp_path / "tb"))
    assert not (tmp_path / "tb").exists()


def test_the_command_line_sets_the_folder(tmp_path):
    from graphsbr.cli import main

    folder = tmp_path / "tb"
    assert main(["train", "--model", "gru4rec", "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet",
                 "--set", f"tensorboard={folder}",
                 "--set", "epoch_steps=4", "--set", "log_every=2", "--set", "data.num_items=100",
                 "--set", "data.num_sessions=400"]) == 0
    scalars = read_scalars(folder)
    assert [step for step, _ in scalars["train/loss"]] == [2, 4]
    assert [step for step, _ in scalars["valid/mrr@20"]] == [1]
