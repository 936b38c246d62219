"""Refit: a finished run retrained on train + valid for its selected length (``graphsbr refit``)."""
import json

import pytest
import torch
import yaml

from graphsbr import ConfigError, load_dataset
from graphsbr.cli import main
from graphsbr.data.protocols import merge_validation
from graphsbr.train.config import config_settings
from graphsbr.train.run import build_refit, build_trainer, read_config

from .tiny import tiny_trainer

DATA = {"data.num_items": 200, "data.num_sessions": 1500}
SETTINGS = {**DATA, "dim": 16, "hidden": 16, "epochs": 3, "epoch_steps": 7, "patience": 1, "progress": False,
            "threads": 1}


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", num_items=200, num_sessions=1500)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "gru4rec"
    build_trainer("gru4rec", "synthetic", None, SETTINGS, out).fit()
    return out


def test_max_steps_cuts_the_last_epoch_and_says_so(data):
    run = tiny_trainer(data, epochs=10, epoch_steps=5, max_steps=7)
    results = run.fit()
    assert [h["steps"] for h in run.history] == [5, 7]
    assert results["steps"] == 7 and results["epochs_run"] == 2 and results["stopped"] == "steps"


def test_without_a_validation_split_every_epoch_is_kept_and_the_last_is_reported(data, tmp_path):
    run = tiny_trainer(merge_validation(data), tmp_path)
    results = run.fit()
    assert results["valid"] == {} and all(h["valid"] == {} for h in run.history)
    assert results["best_epoch"] == results["epochs_run"] == 3 and results["stopped"] == "epochs"
    assert results["best_steps"] == results["steps"] == 3 * len(run._train_loader())
    last = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(value, last[key]) for key, value in run.model.state_dict().items())
    assert results["test"] == run.evaluate("test")


def test_refit_trains_on_train_and_valid_for_the_selected_passes(finished, tmp_path, capsys):
    selected = json.loads((finished / "results.json").read_text())
    original = build_trainer("gru4rec", "synthetic", None, SETTINGS)
    assert main(["refit", "--run", str(finished), "--out", str(tmp_path / "refit"), "--quiet"]) == 0
    results = json.loads((tmp_path / "refit" / "results.json").read_text())
    refit_of = results["config"]["refit_of"]
    assert refit_of["selected_epoch"] == selected["best_epoch"]
    assert refit_of["selected_steps"] == selected["best_steps"]
    merged = load_dataset("synthetic", num_items=200, num_sessions=1500, refit=True)
    refit_pass = -(-merged.train.num_samples // 256)  # gru4rec trains on prefixes in batches of 256
    assert refit_pass > original.pass_steps()
    expected = round(selected["best_steps"] / original.pass_steps() * refit_pass)
    assert results["steps"] == results["config"]["train"]["max_steps"] == expected
    assert results["stopped"] == "steps" and results["valid"] == {}
    assert results["config"]["data"]["refit"] is True and results["config"]["train"]["budget_minutes"] == 0
    assert main(["evaluate", "--run", str(tmp_path / "refit"), "--json"]) == 0  # rebuilt from its config.yaml
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == results["test"]
    assert main(["evaluate", "--run", str(tmp_path / "refit"), "--split", "valid"]) == 2
    assert "has no valid split" in capsys.readouterr().err


def test_a_refit_of_an_untrained_model_counts_the_validation_sessions_too(tmp_path):
    settings = {**DATA, "progress": False}
    build_trainer("pop", "synthetic", None, settings, tmp_path / "pop").fit()
    results = build_refit(tmp_path / "pop", tmp_path / "refit").fit()
    assert results["stopped"] == "untrained" and results["config"]["refit_of"]["selected_steps"] == 0
    merged = load_dataset("synthetic", num_items=200, num_sessions=1500, refit=True)
    counts = torch.bincount(merged.train.items, minlength=201).float()
    by_hand = build_trainer("pop", "synthetic", None, {**settings, "data.refit": True})
    counts[0] = 0
    assert torch.equal(by_hand.model.counts, counts)
    assert results["test"] == by_hand.evaluate("test")


class StopAfterOneEpoch:
    def on_epoch_end(self, trainer, record):
        raise KeyboardInterrupt


def test_a_killed_refit_resumes_to_the_same_result(finished, tmp_path):
    assert main(["refit", "--run", str(finished), "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    cut = build_refit(finished, tmp_path / "cut", {"progress": False})
    cut.callbacks.append(StopAfterOneEpoch())
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    assert main(["refit", "--run", str(finished), "--out", str(tmp_path / "cut"), "--resume", "--quiet"]) == 0
    whole, resumed = (json.loads((tmp_path / run / "results.json").read_text()) for run in ("whole", "cut"))
    assert resumed["test"] == whole["test"] and resumed["steps"] == whole["steps"]


def test_refit_refuses_what_would_change_the_run(finished, tmp_path, capsys):
    assert main(["refit", "--run", str(finished), "--out", str(tmp_path / "a"), "--set", "lr=0.1"]) == 2
    assert "lr would change what it learns" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    build_trainer("gru4rec", "synthetic", None, {**SETTINGS, "epochs": 1}, unfinished).fit()
    (unfinished / "results.json").unlink()
    with pytest.raises(ConfigError, match="needs a finished run"):
        build_refit(unfinished)
    assert main(["refit", "--run", str(finished), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    with pytest.raises(ConfigError, match="a refit already"):
        build_refit(tmp_path / "b")


def test_a_run_folders_config_yaml_trains_the_same_run_again(finished, tmp_path):
    assert main(["refit", "--run", str(finished), "--out", str(tmp_path / "refit"), "--quiet"]) == 0
    for run in (finished, tmp_path / "refit"):  # a run and a refit (whose config.yaml also records refit_of)
        again = tmp_path / f"again-{run.name}"
        assert main(["train", "--config", str(run / "config.yaml"), "--out", str(again), "--quiet"]) == 0
        first, second = (json.loads((path / "results.json").read_text()) for path in (run, again))
        assert second["test"] == first["test"] and second["steps"] == first["steps"]
        assert second["config"]["data"] == first["config"]["data"]


def test_config_settings_reads_flat_files_and_run_records():
    flat = {"model": "gru4rec", "hidden": 32, "epochs": 1, "data": {"num_items": 300}}
    assert config_settings(flat, "a.yaml") == ("gru4rec", None, None, {"hidden": 32, "epochs": 1,
                                                                      "data.num_items": 300})
    record = {"model": "gru4rec", "dataset": "synthetic", "root": None, "data": {"refit": True},
              "model_config": {"hidden": 32}, "refit_of": {"run": "x"}, "train": {"epochs": 2}}
    assert config_settings(record, "b.yaml") == ("gru4rec", "synthetic", None, {"hidden": 32, "epochs": 2,
                                                                               "data.refit": True})
    with pytest.raises(ConfigError, match="c.yaml: train must be a mapping"):
        config_settings({"model": "gru4rec", "train": 3}, "c.yaml")
    with pytest.raises(ConfigError, match="d.yaml: data must be a mapping"):
        config_settings({"model": "gru4rec", "data": [1]}, "d.yaml")


def test_a_run_record_without_a_setting_rebuilds_the_model_it_trained(tmp_path):
    record = {"model": "srim", "dataset": "synthetic", "model_config": {"dim": 16}, "train": {"epochs": 1}}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(record))
    assert read_config(tmp_path / "old.yaml")[3] == {"dim": 16, "epochs": 1, "score_table": "propagated"}
    record["model_config"]["score_table"] = "initial"  # a recorded value stays
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(record))
    assert read_config(tmp_path / "new.yaml")[3]["score_table"] == "initial"
    (tmp_path / "flat.yaml").write_text("model: srim\ndim: 16\n")  # a --config file of settings: today's defaults
    assert read_config(tmp_path / "flat.yaml")[3] == {"dim": 16}
