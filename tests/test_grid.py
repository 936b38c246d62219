"""``benchmarks/grid.py``: the grid's points, their ranking on validation, and one tiny search end to end."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grid.py"


@pytest.fixture(scope="module")
def grid():
    spec = importlib.util.spec_from_file_location("grid", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_points_are_the_product_of_the_axes(grid):
    axes = [grid.parse_axis("num_layers=2,3"), grid.parse_axis("num_heads=2,4,8")]
    points = grid.points(axes)
    assert len(points) == 6
    assert points[0] == {"num_layers": "2", "num_heads": "2"}
    assert points[2] == {"num_layers": "2", "num_heads": "8"}
    assert points[-1] == {"num_layers": "3", "num_heads": "8"}
    assert grid.label_of(points[1]) == "num_layers=2,num_heads=4"


@pytest.mark.parametrize("text", ["num_heads", "num_heads=", "=2,4"])
def test_a_malformed_axis_is_refused(grid, text):
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        grid.parse_axis(text)


def finished(label, value, epochs_run=30, best_epoch=20, patience=10, epochs=200):
    results = {"selection_metric": "ndcg@20", "valid": {"ndcg@20": value, "hr@20": 1 - value},
               "epochs_run": epochs_run, "best_epoch": best_epoch,
               "config": {"train": {"patience": patience, "epochs": epochs}}}
    return {"label": label, "settings": {}, "results": results}


def test_points_are_ranked_on_the_mean_validation_metric(grid):
    runs = [finished("a", 0.02), finished("b", 0.05, epochs_run=12, best_epoch=12), finished("a", 0.04),
            finished("c", 0.03, epochs_run=200, best_epoch=195), {"label": "d", "settings": {}, "error": "failed (1)"}]
    metric, rows = grid.rank(runs)
    assert metric == "ndcg@20"
    assert [row["label"] for row in rows] == ["b", "a", "c", "d"]
    assert rows[1]["mean"] == pytest.approx(0.03) and rows[1]["std"] == pytest.approx(0.0141421, abs=1e-6)
    assert [row["stops"] for row in rows[:3]] == [["budget"], ["patience", "patience"], ["epochs"]]
    assert rows[3]["mean"] is None and rows[3]["errors"] == ["failed (1)"]
    # another metric reverses the order of the finished points
    assert [row["label"] for row in grid.rank(runs, "hr@20")[1]] == ["a", "c", "b", "d"]


def test_a_tiny_search_trains_every_point_and_chooses_on_validation(grid, tmp_path):
    grid.main(["--model", "gru4rec", "--grid", "dim=8,16", "--set", "epochs=2", "--set", "epoch_steps=5",
               "--budget-minutes", "2", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "grid.json").read_text())
    assert sorted(row["label"] for row in rows) == ["dim=16", "dim=8"]
    assert all(len(row["valid"]) == 1 and row["stops"] == ["epochs"] for row in rows)
    assert rows[0]["mean"] >= rows[1]["mean"]
    for row in rows:  # each point's number is its run's own selected validation value
        results = json.loads((tmp_path / "runs" / f"{row['label'].replace('=', '_')}-seed0" / "results.json")
                             .read_text())
        assert results["config"]["model_config"]["dim"] == int(row["label"].split("=")[1])
        assert row["mean"] == results["valid"][results["selection_metric"]]
    report = (tmp_path / "grid.md").read_text()
    assert f"Chosen on validation: `{rows[0]['label']}`" in report
    assert "test" not in report.split("\n", 3)[3]  # below the command line, the report shows no test number


def test_a_sample_keeps_the_reference_point_and_draws_the_rest_with_its_seed(grid):
    points = grid.points([grid.parse_axis("num_layers=3,2,4"), grid.parse_axis("num_heads=4,2,8")])
    drawn = grid.sample(points, 4, seed=0)
    assert len(drawn) == 4 and drawn[0] == {"num_layers": "3", "num_heads": "4"}
    assert all(point in points for point in drawn) and len({grid.label_of(p) for p in drawn}) == 4
    assert [points.index(p) for p in drawn] == sorted(points.index(p) for p in drawn)  # grid order
    assert grid.sample(points, 4, seed=0) == drawn
    assert any(grid.sample(points, 4, seed=s) != drawn for s in range(1, 5))
    assert grid.sample(points, 20, seed=0) == points


def test_successive_halving_keeps_the_best_fraction(grid):
    rows = [{"label": "a", "valid": [0.3]}, {"label": "b", "valid": [0.2]}, {"label": "c", "valid": [0.1]},
            {"label": "d", "valid": []}]
    assert grid.survivors(rows, 2) == ["a", "b"]
    assert grid.survivors(rows, 3) == ["a", "b"]
    assert grid.survivors(rows[:1], 2) == ["a"]


def test_successive_halving_resumes_the_survivors_to_the_next_rung(grid, tmp_path):
    grid.main(["--model", "gru4rec", "--grid", "dim=8,16,32", "--set", "epoch_steps=5", "--rungs", "1", "2",
               "--budget-minutes", "2", "--out", str(tmp_path)])
    first, second = json.loads((tmp_path / "grid.json").read_text())
    assert (first["epochs"], second["epochs"]) == (1, 2)
    assert len(first["rows"]) == 3 and len(second["rows"]) == 2
    kept = {row["label"] for row in second["rows"]}
    assert kept == {row["label"] for row in first["rows"][:2]}
    for row in first["rows"]:
        results = json.loads((tmp_path / "runs" / f"{row['label'].replace('=', '_')}-seed0" / "results.json")
                             .read_text())
        history = (tmp_path / "runs" / f"{row['label'].replace('=', '_')}-seed0" / "metrics.jsonl").read_text()
        assert results["epochs_run"] == len(history.splitlines()) == (2 if row["label"] in kept else 1)
    assert "Rung 2: every point up to epoch 2" in (tmp_path / "grid.md").read_text()
