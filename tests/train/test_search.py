"""``graphsbr search``: the space and its refusals, and tiny Optuna studies on the synthetic set (trials, pruning,
failures, resuming after a kill or Ctrl-C, worker processes)."""
import json
import sys

import pytest

optuna = pytest.importorskip("optuna")

from graphsbr.cli import main  # noqa: E402
from graphsbr.errors import ConfigError, TrainingError  # noqa: E402
from graphsbr.models import MODELS  # noqa: E402
from graphsbr.train import search as search_module  # noqa: E402
from graphsbr.train.search import SearchParameter, read_space, search  # noqa: E402

TINY = {"data.num_items": 100, "data.num_sessions": 400, "epochs": 2, "dim": 8, "hidden": 8, "progress": False,
        "threads": 1}
SPACE = {"hidden": [8, 16], "lr": {"low": 1e-3, "high": 1e-2, "log": True}}


def run(out, trials, space=SPACE, **kwargs):
    return search("gru4rec", "synthetic", space, trials, out, settings={**TINY, **kwargs.pop("settings", {})},
                  **kwargs)


def load(out):
    return optuna.load_study(study_name="graphsbr", storage=f"sqlite:///{out / 'study.db'}")


def results(out, row):
    return json.loads((out / row["run_folder"] / "results.json").read_text())


@pytest.fixture
def no_plots(monkeypatch):
    """Summaries without plots (drawing them takes seconds; the tiny study checks them)."""
    monkeypatch.setattr(search_module, "_plot", lambda *_: ([], {}))


def test_a_space_of_choices_and_ranges(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("num_layers: [1, 2]\nlr: {low: 1e-4, high: 1e-2, log: true}\n"
                    "dim: {low: 16, high: 64, step: 16}\ndropout: {low: 0, high: 0.5}\n"
                    "data.num_items: {low: 50, high: 100}\nitem_encoder: [embedding, gat]\n")
    parameters = read_space(path, MODELS["gru4rec"])
    assert parameters == [
        SearchParameter("num_layers", choices=(1, 2)),
        SearchParameter("lr", low=1e-4, high=1e-2, log=True),  # YAML reads 1e-4 as a string
        SearchParameter("dim", low=16, high=64, step=16),
        SearchParameter("dropout", low=0.0, high=0.5),  # a float setting: a float range from integer bounds
        SearchParameter("data.num_items", low=50, high=100),
        SearchParameter("item_encoder", choices=("embedding", "gat")),
    ]
    assert isinstance(parameters[3].low, float) and isinstance(parameters[4].low, int)


@pytest.mark.parametrize("space, message", [
    ({"num_heads": [2, 4]}, "unknown setting 'num_heads'.*valid: .*dim.*lr"),
    ({"lr": {"low": 1e-2, "high": 1e-4}}, "low must be below high"),
    ({"lr": {"low": 0, "high": 1e-2, "log": True}}, "log range needs low > 0"),
    ({"lr": {"low": 1e-4}}, "a range is"),
    ({"lr": {"low": 1e-4, "high": 1e-2, "scale": "log"}}, "a range is"),
    ({"dim": []}, "empty list"),
    ({"dim": [8, 12.5]}, "dim: expected int, got 12.5"),
    ({"dim": ["big"]}, "dim: expected int"),
    ({"dim": {"low": 8.0, "high": 64.5}}, "integer setting"),
    ({"progress": [1, 0]}, "progress: expected bool"),
    ({"progress": {"low": 0, "high": 1}}, "bool setting"),
    ({"item_encoder": [1]}, "item_encoder: expected str"),
    ({"dim": 16}, "a fixed value goes to --set"),
    ({}, "names no setting"),
])
def test_a_bad_space_is_refused(space, message):
    with pytest.raises(ConfigError, match=f"search space: .*{message}"):
        read_space(space, MODELS["gru4rec"])


def test_the_command_refuses_a_bad_space_or_setting_before_any_trial(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("num_heads: [2, 4]\n")
    out = tmp_path / "study"
    assert main(["search", "--model", "gru4rec", "--space", str(space), "--trials", "2", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "unknown setting 'num_heads'" in error and "valid:" in error
    space.write_text("lr: [0.001]\n")
    assert main(["search", "--model", "gru4rec", "--space", str(space), "--trials", "2", "--out", str(out),
                 "--set", "data.nonsense=1"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert not out.exists()


def test_without_optuna_the_command_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    space = tmp_path / "space.yaml"
    space.write_text("lr: [0.001]\n")
    assert main(["search", "--model", "gru4rec", "--space", str(space), "--trials", "1", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == 'graphsbr: error: graphsbr search needs Optuna: pip install "graphsbr[search]"\n'


@pytest.mark.slow
def test_a_tiny_study_ranks_its_trials_on_validation(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("hidden: [8, 16]\nlr: {low: 1.0e-3, high: 1.0e-2, log: true}\n")
    out = tmp_path / "study"
    argv = ["search", "--model", "gru4rec", "--space", str(space), "--trials", "3", "--out", str(out)]
    assert main(argv + [arg for k, v in TINY.items() for arg in ("--set", f"{k}={v}")]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert [row["number"] for row in sorted(summary["trials"], key=lambda r: r["number"])] == [0, 1, 2]
    assert all((out / f"trial-000{k}" / "metrics.jsonl").is_file() for k in range(3))
    complete = [row for row in summary["trials"] if row["state"] == "complete"]
    assert complete and sum(summary["counts"].values()) == 3
    for row in complete:  # the objective is the run's own selected validation value, never test
        run = results(out, row)
        assert row["value"] == run["valid"][run["selection_metric"]] == run["valid"]["mrr@20"]
        assert run["config"]["model_config"]["hidden"] == row["params"]["hidden"]
        assert run["config"]["train"]["lr"] == row["params"]["lr"]
    best = summary["best"]
    assert best["value"] == max(row["value"] for row in complete)
    assert best["test"] == results(out, best)["test"]
    assert f"best: trial {best['number']}, valid mrr@20 {best['value']:.4f}" in printed
    report = (out / "summary.md").read_text()
    assert f"Trial {best['number']}: valid mrr@20 {best['value']:.4f}" in report
    assert set(summary["plots"]) | {f"{name}.png" for name in summary["skipped_plots"]} == \
        {"optimization-history.png", "param-importances.png", "parallel-coordinate.png"}
    assert all((out / name).is_file() for name in summary["plots"])


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    build = search_module.build_trainer
    calls = []

    def out_of_memory_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")
        return build(*args, **kwargs)

    monkeypatch.setattr(search_module, "build_trainer", out_of_memory_once)
    summary = run(tmp_path, 2, space={"hidden": [8, 16]})
    failed = [row for row in summary["trials"] if row["state"] == "fail"]
    assert [row["number"] for row in failed] == [0]
    assert failed[0]["error"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert load(tmp_path).trials[0].user_attrs["error"] == failed[0]["error"]
    assert summary["best"]["number"] == 1
    assert "CUDA out of memory" in (tmp_path / "summary.md").read_text()
    assert summary["skipped_plots"]["optimization-history"] == "fewer than 2 complete trials"


def test_a_pruned_trial_keeps_its_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(optuna.pruners, "SuccessiveHalvingPruner", lambda **_: optuna.pruners.ThresholdPruner(lower=2))
    summary = run(tmp_path, 1, space={"hidden": [8]})
    assert summary["trials"][0]["state"] == "pruned" and summary["trials"][0]["epochs"] == 1
    assert summary["best"] is None
    folder = tmp_path / "trial-0000"
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 1 and not (folder / "results.json").exists()


def test_running_again_continues_the_study_to_its_number_of_trials(tmp_path, no_plots):
    run(tmp_path, 2)
    summary = run(tmp_path, 3)
    trials = load(tmp_path).trials
    assert len(trials) == 3 and sum(summary["counts"].values()) == 3
    assert trials[2].params not in (trials[0].params, trials[1].params)  # a resumed sampler draws anew
    assert len(run(tmp_path, 3, settings={"progress": True})["trials"]) == 3  # nothing left; a runtime setting
    with pytest.raises(ConfigError, match="holds a study of other settings.*epochs"):
        run(tmp_path, 4, settings={"epochs": 3})


def test_a_trial_left_running_by_a_killed_search_does_not_block_it(tmp_path, no_plots):
    one_epoch = {"epochs": 1}  # nothing to prune
    run(tmp_path, 1, settings=one_epoch)
    study = load(tmp_path)
    stale = study.ask()  # a trial whose process died: RUNNING in the storage, no one holds the lock
    stale.suggest_categorical("hidden", [8, 16])
    stale.suggest_float("lr", 1e-3, 1e-2, log=True)
    summary = run(tmp_path, 2, settings=one_epoch)
    trials = load(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].user_attrs["retry_of"] == 1 and trials[2].params == trials[1].params
    row = next(row for row in summary["trials"] if row["number"] == 1)
    assert row["error"] == "interrupted; trial 2 continues it" and row["run_folder"] is None
    assert next(row for row in summary["trials"] if row["number"] == 2)["note"] == "continues trial 1"
    assert summary["counts"] == {"complete": 2, "interrupted": 1}


def test_an_interrupted_trial_resumes_its_run_folder(tmp_path, no_plots, monkeypatch):
    report = search_module.ReportValidation.on_epoch_end

    def interrupt_after_first_epoch(self, trainer, record):
        report(self, trainer, record)
        if trainer.epoch == 1 and self.trial.number == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(search_module.ReportValidation, "on_epoch_end", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 1)
    first_epoch = (tmp_path / "trial-0000" / "metrics.jsonl").read_text()
    summary = run(tmp_path, 1)
    trials = load(tmp_path).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[0].user_attrs["interrupted"]
    assert not (tmp_path / "trial-0000").exists()
    folder = tmp_path / "trial-0001"
    history = (folder / "metrics.jsonl").read_text()
    assert history.startswith(first_epoch) and len(history.splitlines()) == 2
    assert results(tmp_path, summary["best"])["epochs_run"] == 2
    assert sorted(trials[1].intermediate_values) == [1, 2] and trials[1].user_attrs["resumed_after_epoch"] == 1
    assert summary["best"]["number"] == 1 and summary["trials"][0]["note"] == "continues trial 0 after epoch 1"


def test_a_study_in_use_is_refused(tmp_path):
    with search_module._study_lock(tmp_path, exclusive=False):
        with pytest.raises(TrainingError, match="in use by another graphsbr search"):
            run(tmp_path, 1)


@pytest.mark.slow
def test_worker_processes_share_the_study(tmp_path, no_plots):
    settings = {**{k: v for k, v in TINY.items() if k != "threads"}, "epochs": 1}  # one epoch: nothing to prune
    summary = search("gru4rec", "synthetic", SPACE, 2, tmp_path, jobs=2, settings=settings)
    assert summary["counts"] == {"complete": 2}
    runs = [results(tmp_path, row) for row in summary["trials"]]
    assert [run["config"]["train"]["threads"] for run in runs] == [1, 1]  # each worker on one thread
    rows = summary["trials"]
    assert rows[0]["params"] != rows[1]["params"]  # each worker's sampler has its own seed
