import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphsbr import ConfigError
from graphsbr.models import MODELS, SASRec, register
from graphsbr.train.run import build_trainer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY_DATA = {"data.num_items": 300, "data.num_sessions": 2000}


@pytest.fixture
def meanpool(monkeypatch):
    """The example's MeanPool, imported from examples/custom_model.py; the registry is restored afterwards."""
    registry = dict(MODELS)
    monkeypatch.setattr("graphsbr.models.MODELS", registry)
    monkeypatch.setattr("graphsbr.train.run.MODELS", registry)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import custom_model
    return custom_model


def test_a_registered_model_trains_and_beats_popularity(meanpool):
    results = meanpool.main({**TINY_DATA, "epochs": 2, "threads": 1})
    torch.manual_seed(0)
    pop = build_trainer("pop", "synthetic", settings={**TINY_DATA, "progress": False}).fit()
    assert results["best_epoch"] >= 1 and results["test"]["mrr@20"] > pop["test"]["mrr@20"]


def test_register_refuses_what_is_not_a_model_or_has_no_free_name(meanpool):
    register(meanpool.MeanPool)
    register(meanpool.MeanPool)  # the same class again: nothing happens
    with pytest.raises(ConfigError, match="is taken by"):
        register(type("Other", (meanpool.MeanPool,), {"name": "sasrec"}))
    with pytest.raises(ConfigError, match="has no name"):
        register(type("Nameless", (meanpool.MeanPool,), {"name": ""}))
    with pytest.raises(ConfigError, match="not a subclass"):
        register(dict)
    assert MODELS["sasrec"] is SASRec


def installed_plugin(root: Path) -> dict:
    """The environment of a process in which a package under ``root`` declares the example's MeanPool as a
    ``graphsbr.models`` entry point (and a broken one beside it)."""
    info = root / "plugpkg-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugpkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[graphsbr.models]\nmeanpool = custom_model:MeanPool\n"
                                           "broken = custom_model:DoesNotExist\n")
    path = [str(root), str(EXAMPLES), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}


def test_an_entry_point_model_is_listed_and_trained_by_the_command_line(tmp_path):
    env = installed_plugin(tmp_path / "site")
    listed = subprocess.run([sys.executable, "-m", "graphsbr", "models"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "meanpool" in listed.stdout and "the mean of its items' embeddings" in listed.stdout
    assert "sasrec" in listed.stdout
    assert "'broken'" in listed.stderr and "skipped" in listed.stderr  # the broken plugin is named, not fatal
    trained = subprocess.run([sys.executable, "-m", "graphsbr", "train", "--model", "meanpool", "--epochs", "1",
                              "--out", str(tmp_path / "run"), "--quiet", "--set", "threads=1",
                              *[arg for key, value in TINY_DATA.items() for arg in ("--set", f"{key}={value}")]],
                             env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "results.json").is_file() and (tmp_path / "run" / "best.pt").is_file()
