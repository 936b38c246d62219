import json
import os
import subprocess
import sys

import pytest

from graphsbr.cli import main


def test_datasets_lists_the_keys(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "diginetica" in out and "synthetic" in out and "scientific" in out


def test_stats_json(capsys, tmp_path):
    folder = tmp_path / "beauty"
    folder.mkdir()
    (folder / "Beauty.txt").write_text("1 1 2 3 4\n2 2 3 1\n")
    assert main(["stats", "--dataset", "beauty", "--root", str(tmp_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["num_items"] == 4 and stats["test_samples"] == 2 and stats["train_samples"] == 1
    assert set(stats) >= {"num_items", "train_sessions", "train_samples", "valid_samples", "test_samples",
                          "avg_session_length", "side_info"}


@pytest.mark.slow
def test_bad_input_is_one_line_and_non_zero(tmp_path):
    result = subprocess.run([sys.executable, "-m", "graphsbr", "stats", "--dataset", "nosuchset", "--root",
                             str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown dataset 'nosuchset'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly():
    read, write = os.pipe()
    os.close(read)  # as `graphsbr models | head -1` once head has gone: every write fails
    with os.fdopen(write, "wb") as stdout:
        result = subprocess.run([sys.executable, "-m", "graphsbr", "models"], stdout=stdout, stderr=subprocess.PIPE,
                                text=True, check=False)
    assert result.returncode == 1
    assert result.stderr == ""
