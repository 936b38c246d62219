"""A run killed mid-epoch with SIGKILL (no handler runs, no file is closed) and continued with ``graphsbr train
--resume`` ends with the result of an uninterrupted run: the same validation and test metrics, best epoch and
epochs."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

SETTINGS = ["--model", "gru4rec", "--epochs", "3", "--set", "data.num_items=300", "--set", "data.num_sessions=1000",
            "--set", "batch_size=32", "--set", "threads=1", "--quiet"]
SAME = ("valid", "test", "best_epoch", "epochs_run")


def start(out, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "graphsbr", "train", "--out", str(out), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def results(process: subprocess.Popen, out) -> dict:
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    return json.loads((out / "results.json").read_text())


def first_epoch_seconds(out) -> float | None:
    """The first epoch's seconds once it has ended (``metrics.jsonl`` is written, whole, after its checkpoint)."""
    metrics = out / "metrics.jsonl"
    return json.loads(metrics.read_text().splitlines()[0])["seconds"] if metrics.is_file() else None


@pytest.mark.slow
def test_a_run_killed_mid_epoch_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    reference = start(tmp_path / "reference", *SETTINGS)  # beside the run to kill, to save time
    out = tmp_path / "killed"
    process = start(out, *SETTINGS)
    deadline = time.monotonic() + 120
    while (seconds := first_epoch_seconds(out)) is None:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no epoch ended in 120 s"
        time.sleep(0.01)
    time.sleep(seconds / 3)  # a third into the second epoch
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert torch.load(out / "last.pt", map_location="cpu", weights_only=True)["epoch"] == 1  # killed mid-epoch 2
    assert not (out / "results.json").exists()
    resumed = results(start(out, "--resume", "--quiet"), out)
    expected = results(reference, tmp_path / "reference")
    assert {k: resumed[k] for k in SAME} == {k: expected[k] for k in SAME}
    assert resumed["epochs_run"] == 3
