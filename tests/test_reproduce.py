"""``benchmarks/reproduce.py --include``: an earlier report's runs beside this plan's, each (dataset, row, seed) once."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce.py"


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(label, seed=0, result=None, dataset="beauty"):
    entry = {"dataset": dataset, "label": label, "seed": seed}
    return {**entry, "results": {"test": {"hr@20": result}}} if result is not None else {**entry, "error": "not run"}


def test_a_finished_run_takes_the_place_of_the_included_one(reproduce, tmp_path):
    earlier = [run("A", result=0.1), run("B", result=0.2), run("C", result=0.3), run("D", dataset="tmall", result=0.4),
               run("E")]
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    finished = [run("B", result=0.25), run("A", seed=1, result=0.15), run("C", seed=1), run("C")]

    rows = reproduce.include(finished, [str(path)], ["beauty"])

    assert [(r["label"], r["seed"], r.get("results", {}).get("test", {}).get("hr@20")) for r in rows] == [
        ("A", 0, 0.1),   # kept from the earlier report
        ("B", 0, 0.25),  # this plan's finished run, in the earlier one's place
        ("C", 0, 0.3),   # an unfinished run of this plan does not hide a finished earlier one
        ("A", 1, 0.15),  # new finished runs follow
        ("C", 1, None),  # and new unfinished ones, to be reported as such
    ]
