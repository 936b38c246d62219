"""What ``benchmarks/reproduce.py`` plans and reuses (``graphsbr.bench``): an earlier report's runs beside this plan's
(``--include``), each (dataset, row, seed) once; a variant's parts; a run's folder; why a finished run stopped."""
import json

import pytest

from graphsbr.bench import include, paper_value, parse_variant, run_folder, stop_reason


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


def test_the_trainers_own_stop_reason_wins():
    # epoch_steps slices: 9 - 4 epochs is not 5 passes, which the trainer knew and the epochs cannot tell
    results = {"epochs_run": 9, "best_epoch": 4, "stopped": "budget", "config": {"train": {"patience": 5, "epochs": 8}}}
    assert stop_reason(results) == "budget"


def load_reproduce():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce.py"
    spec = importlib.util.spec_from_file_location("reproduce", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def finished(folder, model, mrr, ranks, stopped="patience", model_config=None, refit_of=None):
    import torch

    folder.mkdir(parents=True)
    metrics = {"hr@10": 0.3, "hr@20": 0.4, "mrr@10": mrr - 0.01, "mrr@20": mrr}
    (folder / "results.json").write_text(json.dumps({
        "model": model, "dataset": "tmall", "seed": 0, "best_epoch": 5, "epochs_run": 20, "stopped": stopped,
        "selection_metric": "mrr@20", "valid": {} if refit_of else metrics, "test": metrics, "train_seconds": 600.0,
        "train_samples_per_second": 250.0, "config": {"train": {"patience": 5, "epochs": 200},
                                                       **({"model_config": model_config} if model_config else {}),
                                                       **({"refit_of": refit_of} if refit_of else {})}}))
    torch.save({"test": torch.tensor(ranks, dtype=torch.int32)}, folder / "ranks.pt")
    return str(folder)


def test_run_folders_trained_elsewhere_become_their_models_rows_with_paired_tests(tmp_path):
    reproduce = load_reproduce()
    ours = finished(tmp_path / "a2dmtl", "a2dmtl", 0.17, [1, 2, 1, 3, 1, 1, 2, 1, 40, 1] * 5)
    theirs = finished(tmp_path / "srgnn", "srgnn", 0.11, [2, 5, 1, 30, 4, 1, 9, 2, 40, 7] * 5, stopped="budget")
    out = tmp_path / "report"

    reproduce.main(["--report-only", "--datasets", "beauty", "--models", "--run", ours, "--run", theirs,
                    "--out", str(out)])

    text = (out / "reproduction.md").read_text()
    assert "## tmall" in text and "## beauty" not in text  # the runs' dataset joins the report
    a2dmtl = next(line for line in text.splitlines() if line.startswith("| A²D-MTL | 1 |"))
    assert "0.1700 ± 0.0000 (0.1743, -2%)" in a2dmtl and "| 20(5) | patience | 10.0 | 250 |" in a2dmtl
    assert "| 20(5) | budget |" in next(line for line in text.splitlines() if line.startswith("| SR-GNN | 1 |"))
    paired = next(line for line in text.splitlines() if line.startswith("| A²D-MTL | 1 | +"))
    assert float(paired.split("|")[3]) > 0  # the higher reciprocal ranks of A²D-MTL, sample by sample


def test_a_run_folder_without_results_is_refused(tmp_path):
    reproduce = load_reproduce()
    with pytest.raises(SystemExit):
        reproduce.main(["--report-only", "--models", "--run", str(tmp_path), "--out", str(tmp_path / "out")])


def test_an_ablation_row_stands_beside_the_papers_ablation_with_the_same_settings():
    assert paper_value("tmall", "a2dmtl", "mrr@20", {"use_category": "false"}) == (0.1334, "a2dmtl")  # Table 3
    assert paper_value("tmall", "a2dmtl", "mrr@20", {"use_category": False}) == (0.1334, "a2dmtl")
    assert paper_value("beauty", "asif", "hr@20", {"rsa": "False"}) == (0.1292, "asif")  # Table 4
    assert paper_value("tmall", "a2dmtl", "mrr@20") == (0.1743, "a2dmtl")  # no settings: the full model
    assert paper_value("tmall", "a2dmtl", "hr@10", {"use_category": "false"}) == (None, "")  # not printed
    assert paper_value("tmall", "a2dmtl", "mrr@20", {"use_category": "false", "dim": "64"}) == (None, "")
    assert paper_value("tmall", "srgnn", "mrr@20", {"dim": "64"}) == (None, "")


def test_a_run_folder_with_other_model_settings_is_a_variant_row(tmp_path):
    import dataclasses

    from graphsbr.models import MODELS

    reproduce = load_reproduce()
    defaults = dataclasses.asdict(MODELS["a2dmtl"].Config())
    full = finished(tmp_path / "full", "a2dmtl", 0.17, [1, 2, 1, 3, 1] * 10, model_config=defaults)
    ablated = finished(tmp_path / "ablated", "a2dmtl", 0.13, [2, 2, 1, 3, 9] * 10,
                       model_config={**defaults, "use_category": False})
    other = finished(tmp_path / "other", "a2dmtl", 0.15, [1, 2, 1, 3, 2] * 10, model_config={**defaults, "dim": 64})
    older = finished(tmp_path / "older", "a2dmtl", 0.16, [1, 2, 1, 3, 3] * 10,  # recorded before score_scale
                     model_config={k: v for k, v in defaults.items() if k != "score_scale"})
    srgnn = finished(tmp_path / "srgnn", "srgnn", 0.11, [2, 5, 1, 30, 4] * 10)
    out = tmp_path / "report"

    reproduce.main(["--report-only", "--datasets", "tmall", "--models", "--run", full, "--run", f"w/o CATE={ablated}",
                    "--run", other, "--run", older, "--run", srgnn, "--out", str(out)])

    lines = (out / "reproduction.md").read_text().splitlines()
    row = next(line for line in lines if line.startswith("| w/o CATE | 1 |"))
    assert "0.1300 ± 0.0000 (0.1334, -3%)" in row  # beside Table 3's w/o CATE
    row = next(line for line in lines if line.startswith("| A²D-MTL (dim=64) | 1 |"))  # labelled by its settings
    assert "(0." not in row  # no paper row has these settings
    assert any(line.startswith("| A²D-MTL (score_scale=0.0) | 1 |") for line in lines)  # its legacy setting
    assert "0.1700 ± 0.0000 (0.1743, -2%)" in next(line for line in lines if line.startswith("| A²D-MTL | 1 |"))
    paired = [line for line in lines if line.count("|") == 7 and "e-" in line]
    assert [line.split("|")[1].strip() for line in paired] == ["A²D-MTL"]  # variants are not tested against SR-GNN

    reproduce.main(["--report-only", "--datasets", "tmall", "--models", "--run", full, "--run", f"w/o CATE={ablated}",
                    "--run", srgnn, "--out", str(out), "--against", "A²D-MTL", "--against", "SR-GNN"])
    lines = (out / "reproduction.md").read_text().splitlines()
    tested = [line.split("|")[1].strip() for line in lines if line.count("|") == 7 and "e-" in line]
    assert tested == ["w/o CATE", "A²D-MTL", "w/o CATE"]  # asked for: the ablation too, and never a row against itself


def test_the_paired_tests_take_the_rows_asked_for_instead_of_the_best_baseline(tmp_path):
    reproduce = load_reproduce()
    ours = finished(tmp_path / "a2dmtl", "a2dmtl", 0.17, [1, 2, 1, 3, 1, 1, 2, 1, 40, 1] * 5)
    srgnn = finished(tmp_path / "srgnn", "srgnn", 0.11, [2, 5, 1, 30, 4, 1, 9, 2, 40, 7] * 5)
    spop = finished(tmp_path / "spop", "spop", 0.28, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] * 5)  # best on validation
    out = tmp_path / "report"
    common = ["--report-only", "--models", "--run", ours, "--run", srgnn, "--run", spop, "--out", str(out)]

    reproduce.main(common)
    text = (out / "reproduction.md").read_text()
    assert "against the best baseline on validation mrr@20, **S-POP**:" in text and "**SR-GNN**" not in text

    reproduce.main(common + ["--against", "SR-GNN", "--against", "S-POP", "--against", "GRU4Rec"])
    lines = (out / "reproduction.md").read_text().splitlines()
    headers = [line for line in lines if line.startswith("Paired tests")]
    assert [h.rsplit("**", 2)[1] for h in headers] == ["SR-GNN", "S-POP"]  # in the report's row order
    paired = [float(line.split("|")[3]) for line in lines
              if line.startswith(("| A²D-MTL | 1 | +", "| A²D-MTL | 1 | -"))]
    assert paired[0] > 0 > paired[1]  # above SR-GNN, below S-POP, sample by sample
    assert "No row labelled **GRU4Rec** on tmall to test against." in lines  # a typo or a missing run is said


def test_a_refit_is_its_own_row_tested_against_the_refit_reference(tmp_path):
    reproduce = load_reproduce()
    refit_of = {"run": "elsewhere", "selected_epoch": 5, "selected_steps": 5000, "passes": 1.7}
    selected = finished(tmp_path / "a2dmtl", "a2dmtl", 0.12, [1, 2, 1, 3, 1, 1, 2, 1, 40, 1] * 5)
    refit = finished(tmp_path / "a2dmtl-refit", "a2dmtl", 0.15, [1, 1, 1, 3, 1, 1, 2, 1, 40, 1] * 5,
                     stopped="steps", refit_of=refit_of)
    srgnn = finished(tmp_path / "srgnn", "srgnn", 0.11, [2, 5, 1, 30, 4, 1, 9, 2, 40, 7] * 5)
    srgnn_refit = finished(tmp_path / "srgnn-refit", "srgnn", 0.13, [2, 3, 1, 30, 4, 1, 9, 2, 40, 7] * 5,
                           stopped="steps", refit_of=refit_of)
    out = tmp_path / "report"
    common = ["--report-only", "--models", "--run", selected, "--run", refit, "--run", srgnn, "--run", srgnn_refit,
              "--out", str(out)]

    reproduce.main(common)  # the best baseline on validation is chosen among the rows that have a validation split
    lines = (out / "reproduction.md").read_text().splitlines()
    row = next(line for line in lines if line.startswith("| A²D-MTL refit | 1 |"))
    assert "| 0.1500 ± 0.0000 (0.1743, -14%)" in row  # beside the paper's number, as the selected row
    assert "| steps |" in next(line for line in lines if line.startswith("| SR-GNN refit | 1 |"))
    assert any("against the best baseline on validation mrr@20, **SR-GNN**:" in line for line in lines)

    reproduce.main(common + ["--against", "SR-GNN refit"])
    lines = (out / "reproduction.md").read_text().splitlines()
    tested = [line.split("|")[1].strip() for line in lines if line.count("|") == 7 and "e-" in line]
    assert tested == ["A²D-MTL", "A²D-MTL refit"]


@pytest.mark.slow  # two child processes
def test_refit_trains_each_run_then_its_refit_and_reports_both(tmp_path):
    reproduce = load_reproduce()
    out = tmp_path / "out"
    common = ["--datasets", "synthetic", "--models", "gru4rec", "--seeds", "0", "--out", str(out), "--refit"]
    small = ["--budget-minutes", "0", "--set", "epochs=2", "--set", "dim=16", "--set", "hidden=16",
             "--set", "data.num_items=150", "--set", "data.num_sessions=600"]

    reproduce.main(common + small)

    folder = out / "runs" / "synthetic" / "GRU4Rec-seed0"
    selected = json.loads((folder / "results.json").read_text())
    refit = json.loads((out / "runs" / "synthetic" / "GRU4Rec-seed0-refit" / "results.json").read_text())
    assert refit["stopped"] == "steps" and refit["config"]["refit_of"]["run"] == str(folder)
    assert refit["config"]["refit_of"]["selected_steps"] == selected["best_steps"]
    lines = (out / "reproduction.md").read_text().splitlines()
    assert any(line.startswith("| GRU4Rec | 1 |") for line in lines)
    assert any(line.startswith("| GRU4Rec refit | 1 |") and "| steps |" in line for line in lines)

    reproduce.main(common + ["--report-only", "--report", str(tmp_path / "again.md")])  # from the folders alone
    assert any(line.startswith("| GRU4Rec refit | 1 |") for line in (tmp_path / "again.md").read_text().splitlines())
