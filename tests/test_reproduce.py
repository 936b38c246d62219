"""What ``benchmarks/reproduce.py`` plans and reuses (``graphsbr.bench``): an earlier report's runs beside this plan's
(``--include``), each (dataset, row, seed) once; a variant's parts; a run's folder; why a finished run stopped."""
import json

import pytest

from graphsbr.bench import include, parse_variant, run_folder, stop_reason


def run(label, seed=0, result=None, dataset="beauty"):
    entry = {"dataset": dataset, "label": label, "seed": seed}
    return {**entry, "results": {"test": {"hr@20": result}}} if result is not None else {**entry, "error": "not run"}


def test_a_finished_run_takes_the_place_of_the_included_one(tmp_path):
    earlier = [run("A", result=0.1), run("B", result=0.2), run("C", result=0.3), run("D", dataset="tmall", result=0.4),
               run("E")]
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    finished = [run("B", result=0.25), run("A", seed=1, result=0.15), run("C", seed=1), run("C")]

    rows = include(finished, [str(path)], ["beauty"])

    assert [(r["label"], r["seed"], r.get("results", {}).get("test", {}).get("hr@20")) for r in rows] == [
        ("A", 0, 0.1),   # kept from the earlier report
        ("B", 0, 0.25),  # this plan's finished run, in the earlier one's place
        ("C", 0, 0.3),   # an unfinished run of this plan does not hide a finished earlier one
        ("A", 1, 0.15),  # new finished runs follow
        ("C", 1, None),  # and new unfinished ones, to be reported as such
    ]


def test_a_variant_names_its_dataset_label_model_and_settings():
    assert parse_variant("beauty::COMIF w/o UPA=comif:upa_weight=0,num_heads=2") == (
        "beauty", "COMIF w/o UPA", "comif", {"upa_weight": "0", "num_heads": "2"})
    assert parse_variant("w/o CATE=a2dmtl:use_category=false") == (None, "w/o CATE", "a2dmtl",
                                                                    {"use_category": "false"})
    with pytest.raises(ValueError):
        parse_variant("sasrec:dim=64")  # no label


def test_a_run_folder_is_the_label_made_safe_and_the_seed(tmp_path):
    assert run_folder(tmp_path, "COMIF +IAA (no UPA)", 3) == tmp_path / "COMIF_+IAA_no_UPA-seed3"


@pytest.mark.parametrize(("epochs_run", "best_epoch", "reason"), [(9, 4, "patience"), (8, 7, "epochs"),
                                                                   (6, 5, "budget")])
def test_a_finished_run_says_why_it_stopped(epochs_run, best_epoch, reason):
    results = {"epochs_run": epochs_run, "best_epoch": best_epoch, "config": {"train": {"patience": 5, "epochs": 8}}}
    assert stop_reason(results) == reason
