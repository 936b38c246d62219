"""Train each seed model on the datasets of its paper, and every baseline on the same data, and set the results
beside the papers' numbers.

    python benchmarks/reproduce.py --root ../shared/data --budget-minutes 10 --seeds 0 1 2 --jobs 2 --threads 1
    python benchmarks/reproduce.py --root ../shared/data --datasets beauty --seeds 0 \\
        --variant "beauty::COMIF w/o UPA=comif:upa_weight=0" --device cuda --jobs 12 --out benchmarks/results/beauty

Every model runs with its defaults, which are its paper's hyperparameters, through ``python -m graphsbr train``
(validation-based selection; the test split is read once, at the selected epoch), one process per (model, seed),
``--jobs`` at a time, each under ``--budget-minutes`` (it stops after the epoch in which the budget runs out).
A run folder that already has ``results.json`` is reused (or, if it stopped on an epoch cap lower than the one
asked for now, resumed up to the new cap) and a started one resumes, so a killed reproduction continues where it
stopped. ``--variant [DATASET::]LABEL=MODEL:key=value,...`` adds a row (an ablation) on one dataset, or on every
chosen one. ``--include REPORT.json`` adds the runs of an earlier report, whose JSON keeps each run's results and
validation history: rows trained on another machine, or whose folders are gone.

Writes ``--report`` (default ``--out``/reproduction.md) and a .json and .png beside it: one table per dataset with every model as a row, our mean ±
std over the seeds beside the paper's number and the relative gap, and paired significance tests between each seed
model and the best baseline (chosen on *validation*) over the per-sample reciprocal ranks of the test split
(``ranks.pt`` of each run, averaged over the seeds both have).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from graphsbr.train.config import RESUMABLE, parse_assignments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import parse_run
from paper_numbers import PAPER, PROTOCOL_NOTES

#: the seed models of each dataset (the datasets of their papers that we have), then the baselines run on each
SEED_MODELS = {"diginetica": ("a2dmtl", "scorenet"), "tmall": ("a2dmtl", "scorenet"), "beauty": ("comif", "asif"),
               "scientific": ("srim",)}
BASELINES = ("pop", "gru4rec", "srgnn", "sasrec", "core", "nova", "difsr")
#: the metrics each dataset's papers report (P@K = hr@K)
METRICS = {"diginetica": ("hr@10", "hr@20", "mrr@10", "mrr@20"), "tmall": ("hr@10", "hr@20", "mrr@10", "mrr@20"),
           "beauty": ("hr@10", "hr@20", "ndcg@10", "ndcg@20"), "scientific": ("hr@10", "hr@20", "mrr@10", "mrr@20")}
NAMES = {"a2dmtl": "A²D-MTL", "scorenet": "ScoreNet", "comif": "COMIF", "asif": "ASIF", "srim": "SRIM", "pop": "Pop",
         "gru4rec": "GRU4Rec", "srgnn": "SR-GNN", "sasrec": "SASRec", "core": "CORE", "nova": "NOVA",
         "difsr": "DIF-SR"}
REPO = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> tuple[str | None, str, str, dict]:
    """``"beauty::COMIF w/o UPA=comif:upa_weight=0"`` -> ``("beauty", "COMIF w/o UPA", "comif", {"upa_weight": "0"})``
    (without ``DATASET::`` the variant runs on every chosen dataset; the rest is a ``compare.py`` run)."""
    dataset, _, run = text.rpartition("::")
    label, model, settings = parse_run(run)
    if not label or not model or label == model:
        raise SystemExit(f"--variant {text!r}: expected [DATASET::]LABEL=MODEL:key=value,...")
    return dataset or None, label, model, settings


def plan(args) -> list[dict]:
    """Every run: dataset, row label, model, settings, seed and folder."""
    runs = []
    for dataset in args.datasets:
        rows = [(NAMES[m], m, {}) for m in SEED_MODELS[dataset] + BASELINES if m in args.models]
        rows += [(label, model, settings) for only, label, model, settings in map(parse_variant, args.variant)
                 if only in (None, dataset)]
        for label, model, settings in rows:
            seeds = args.variant_seeds if (settings and args.variant_seeds) else args.seeds
            for seed in seeds:
                runs.append({"dataset": dataset, "label": label, "model": model, "settings": settings, "seed": seed,
                             "folder": run_folder(Path(args.out) / "runs" / dataset, label, seed)})
    return runs


def run_folder(parent: Path, label: str, seed: int) -> Path:
    """``parent/LABEL-seedN``, the label's characters other than letters, digits and ``.+-`` as ``_``."""
    return parent / f"{re.sub(r'[^A-Za-z0-9.+-]+', '_', label).strip('_')}-seed{seed}"


def stop_reason(results: dict) -> str:
    """Why a run stopped: its patience, its epoch cap, or its budget."""
    train = results["config"]["train"]
    if results["epochs_run"] - results["best_epoch"] >= train["patience"]:
        return "patience"
    return "epochs" if results["epochs_run"] >= train["epochs"] else "budget"


def train(run: dict, args) -> dict:
    """One run in its own process; its results.json (or the reason it has none)."""
    folder = run["folder"]
    results = folder / "results.json"
    settings = {**parse_assignments(args.set), **run["settings"]}
    if results.is_file():
        done = json.loads(results.read_text())
        if stop_reason(done) != "epochs" or int(settings.get("epochs", 0)) <= done["epochs_run"]:
            return {**run, "results": done}
    command = [sys.executable, "-m", "graphsbr", "train", "--model", run["model"], "--dataset", run["dataset"],
               "--out", str(folder), "--seed", str(run["seed"]), "--budget-minutes", str(args.budget_minutes),
               "--device", args.device, "--quiet", "--set", f"threads={args.threads}"]
    command += ["--root", args.root] if args.root else []
    if (folder / "last.pt").is_file():  # a resumed run keeps the settings its config.yaml records
        command.append("--resume")
        settings = {k: v for k, v in settings.items() if k in RESUMABLE}
    command += [f"--set={k}={v}" for k, v in settings.items()]
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": str(args.threads)}
    start = time.perf_counter()
    with open(folder.parent / f"{folder.name}.log", "a") as log:
        try:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False,
                                  timeout=args.budget_minutes * 60 * 2 + args.grace).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    print(f"{run['dataset']:>10} {run['label']:<24} seed {run['seed']}: "
          f"{'done' if results.is_file() else f'failed ({code})'} in {time.perf_counter() - start:.0f} s", flush=True)
    if results.is_file():
        return {**run, "results": json.loads(results.read_text())}
    tail = (folder.parent / f"{folder.name}.log").read_text().strip().splitlines()[-1:] or [str(code)]
    return {**run, "error": tail[0][:200]}


# ------------------------------------------------------------------------------------------------------ report
def paper_value(dataset: str, model: str, metric: str) -> tuple[float | None, str]:
    """The paper's number for a row (the seed model's own paper first, then the other paper's copy)."""
    for key, entry in PAPER.get(dataset, {}).items():
        if key.split("@")[0] == model and metric in entry["metrics"]:
            return entry["metrics"][metric], entry["source"].split("__")[0]
    return None, ""


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def rows_of(dataset: str, finished: list[dict]) -> list[dict]:
    rows: dict[str, dict] = {}
    for run in finished:
        if run["dataset"] != dataset:
            continue
        row = rows.setdefault(run["label"], {"label": run["label"], "model": run["model"],
                                             "settings": run["settings"], "runs": [], "errors": []})
        (row["runs"] if "results" in run else row["errors"]).append(run)
    return list(rows.values())


def significance(dataset: str, rows: list[dict], selection: str) -> list[str]:
    """Each seed model against the best baseline by mean validation ``selection`` metric."""
    from graphsbr.train.significance import (
        paired_randomization_test,
        paired_t_test,
        reciprocal_ranks,
        wilcoxon_signed_rank,
    )

    def mean_rr(row, seeds):
        ranks = [torch.load(r["folder"] / "ranks.pt", weights_only=True)["test"] for r in row["runs"]
                 if r["seed"] in seeds]
        return torch.stack([reciprocal_ranks(r, k=20) for r in ranks]).mean(0)

    def ranked(row):  # the seeds whose ranks.pt is at hand (a run from --include may have lost its folder)
        return {r["seed"] for r in row["runs"] if (Path(r["folder"]) / "ranks.pt").is_file()}

    baselines = [r for r in rows if r["model"] in BASELINES and not r["settings"] and r["runs"]]
    if not baselines:
        return []
    best = max(baselines, key=lambda r: statistics.mean(x["results"]["valid"][selection] for x in r["runs"]))
    lines = [(f"Paired tests over the {dataset} test samples' reciprocal ranks (MRR@20 per sample, averaged over the "
              f"seeds both have) against the best baseline on validation {selection}, **{best['label']}**:"), "",
             "| model | seeds | MRR@20 difference | paired t p | Wilcoxon p | randomization p |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row["model"] not in SEED_MODELS[dataset] or row["settings"] or not row["runs"]:
            continue
        seeds = {r["seed"] for r in row["runs"]} & {r["seed"] for r in best["runs"]}
        if not seeds:
            continue
        if not seeds <= ranked(row) & ranked(best):
            lines.append(f"| {row['label']} | – | a run's ranks.pt is not at hand | | | |")
            continue
        a, b = mean_rr(row, seeds), mean_rr(best, seeds)
        if a.shape != b.shape:
            lines.append(f"| {row['label']} | – | test splits differ | | | |")
            continue
        t, w, p = paired_t_test(a, b), wilcoxon_signed_rank(a, b), paired_randomization_test(a, b)
        lines.append(f"| {row['label']} | {len(seeds)} | {t.mean_difference:+.4f} | {t.p_value:.2e} | "
                     f"{w.p_value:.2e} | {p.p_value:.2e} |")
    return lines + [""]


def dataset_table(dataset: str, rows: list[dict]) -> list[str]:
    metrics = METRICS[dataset]
    lines = [("| model | seeds | " + " | ".join(f"{m} (paper, gap)" for m in metrics)
              + " | epochs (best) | train min | samples/s |"), "|---" * (len(metrics) + 5) + "|"]
    for row in rows:
        if not row["runs"]:
            lines.append(f"| {row['label']} | 0 | n/a: {row['errors'][0]['error'] if row['errors'] else ''} |")
            continue
        cells = []
        for metric in metrics:
            mean, std = mean_std([r["results"]["test"][metric] for r in row["runs"]])
            paper, _ = paper_value(dataset, row["model"], metric) if not row["settings"] else (None, "")
            gap = f", {100 * (mean - paper) / paper:+.0f}%" if paper else ""
            cells.append(f"{mean:.4f} ± {std:.4f}" + (f" ({paper:.4f}{gap})" if paper else ""))
        results = [r["results"] for r in row["runs"]]
        epochs = "/".join(f"{r['epochs_run']}({r['best_epoch']})" for r in results)
        minutes = statistics.mean(r["train_seconds"] for r in results) / 60
        rate = statistics.mean(r["train_samples_per_second"] for r in results)
        lines.append(f"| {row['label']} | {len(results)} | " + " | ".join(cells)
                     + f" | {epochs} | {minutes:.1f} | {rate:,.0f} |")
    return lines + [""]


def history(run: dict) -> list[dict]:
    """The run's validation metrics per epoch: from its ``metrics.jsonl``, else as an earlier report kept them."""
    path = Path(run["folder"]) / "metrics.jsonl"
    if path.is_file():
        return [{"epoch": h["epoch"], "valid": h["valid"]} for h in map(json.loads, path.read_text().splitlines())]
    return run.get("history", [])


def include(finished: list[dict], reports: list[str], datasets: list[str]) -> list[dict]:
    """The runs of earlier reports' JSON (``--include``) before ``finished``; a finished run of this plan takes the
    place (in the tables' order too) of the same dataset, row and seed of theirs."""
    key = lambda run: (run["dataset"], run["label"], run["seed"])
    fresh = {key(r): r for r in finished if "results" in r}
    kept = [fresh.get(key(r), r) for path in reports for r in json.loads(Path(path).read_text())
            if "results" in r and r["dataset"] in datasets]
    theirs = {key(r) for r in kept}
    return kept + [r for r in finished if key(r) not in theirs]


def matched_table(rows: list[dict], epochs: list[int], metrics: tuple[str, ...]) -> list[str]:
    """Validation ``metrics`` of every row at the same epochs (from each run's ``metrics.jsonl``; mean over its
    seeds): a comparison at equal training whatever each run's budget or early stop."""
    lines = [f"Validation at matched epochs ({', '.join(metrics)}; –: the run had stopped before):", "",
             "| model | " + " | ".join(f"epoch {e}" for e in epochs) + " |", "|---" * (len(epochs) + 1) + "|"]
    for row in rows:
        histories = [{h["epoch"]: h["valid"] for h in past} for past in map(history, row["runs"]) if past]
        if not histories:
            continue
        cells = []
        for epoch in epochs:
            if all(epoch in history for history in histories):
                cells.append(" / ".join(f"{statistics.mean(h[epoch][m] for h in histories):.4f}" for m in metrics))
            else:
                cells.append("–")
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return lines + [""]


def chart(tables: dict[str, list[dict]], path: Path) -> str:
    """hr@20 of every row per dataset (mean ± std) with the papers' numbers as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 4.5), squeeze=False)
    for axis, (dataset, rows) in zip(axes[0], tables.items()):
        rows = [r for r in rows if r["runs"]]
        labels = [r["label"] for r in rows]
        stats = [mean_std([x["results"]["test"]["hr@20"] for x in r["runs"]]) for r in rows]
        colours = ["tab:orange" if r["model"] in SEED_MODELS[dataset] else "tab:blue" for r in rows]
        axis.bar(range(len(rows)), [m for m, _ in stats], yerr=[s for _, s in stats], color=colours, capsize=3)
        for x, row in enumerate(rows):
            paper, _ = paper_value(dataset, row["model"], "hr@20") if not row["settings"] else (None, "")
            if paper:
                axis.plot(x, paper, "k_", markersize=14, markeredgewidth=2)
        axis.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=8)
        axis.set_title(f"{dataset}: test hr@20 (bars: ours; dashes: paper)", fontsize=9)
        axis.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path.name


def report(finished: list[dict], args, seconds: float) -> str:
    report_path = Path(args.report or Path(args.out) / "reproduction.md")
    datasets = [d for d in args.datasets if any(r["dataset"] == d for r in finished)]
    tables = {d: rows_of(d, finished) for d in datasets}
    command = "python benchmarks/reproduce.py " + shlex.join(sys.argv[1:])
    how = ("Tabulated from finished runs (each run's budget and settings are in its config.yaml)" if args.report_only
           else f"Budget {args.budget_minutes:g} min of training per run (the run stops after the epoch in which it "
                f"runs out), {args.jobs} runs at a time, {args.threads} torch thread(s) each, device {args.device}; "
                f"{seconds / 60:.0f} min in all")
    lines = ["# Reproduction: our runs beside the papers", "", f"`{command}`", "",
             (f"{how}. Cells: test mean ± std over the seeds (paper's number, relative gap). "
              "Epochs: run (selected on validation) per seed."), ""]
    notes = Path(args.notes) if args.notes else None
    if notes is not None and notes.is_file():
        lines += [notes.read_text().strip(), ""]
    for dataset, rows in tables.items():
        selection = next((r["results"]["selection_metric"] for row in rows for r in row["runs"]), "mrr@20")
        lines += [f"## {dataset}", "", f"Protocol of the papers: {PROTOCOL_NOTES.get(dataset, 'none reported')}", ""]
        lines += dataset_table(dataset, rows)
        if args.matched_epochs:
            lines += matched_table(rows, args.matched_epochs, tuple(dict.fromkeys((selection, "hr@20"))))
        lines += significance(dataset, rows, selection)
    lines.append(f"![test hr@20 per dataset]({chart(tables, report_path.with_suffix('.png'))})")
    report_path.write_text("\n".join(lines) + "\n")
    serialisable = [{**{k: (str(v) if isinstance(v, Path) else v) for k, v in run.items()}, "history": history(run)}
                    for run in finished]
    report_path.with_suffix(".json").write_text(json.dumps(serialisable, indent=1) + "\n")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    parser.add_argument("--datasets", nargs="+", default=list(SEED_MODELS), choices=list(SEED_MODELS))
    parser.add_argument("--models", nargs="+", default=[*dict.fromkeys(sum(SEED_MODELS.values(), ())), *BASELINES])
    parser.add_argument("--variant", action="append", default=[], metavar="[DATASET::]LABEL=MODEL:K=V,...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variant-seeds", type=int, nargs="+", default=None, help="seeds of the variants")
    parser.add_argument("--budget-minutes", type=float, default=10.0)
    parser.add_argument("--grace", type=int, default=900, help="seconds past twice the budget before a run is killed")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every run")
    parser.add_argument("--notes", default=None, help="a markdown file put above the tables (the analysis)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "reproduction"),
                        help="folder of the run folders")
    parser.add_argument("--report", default=None, help="the report's path (default OUT/reproduction.md; .json and "
                                                       ".png beside it)")
    parser.add_argument("--report-only", action="store_true", help="tabulate the finished runs, train nothing")
    parser.add_argument("--include", action="append", default=[], metavar="REPORT.json",
                        help="also tabulate the runs of an earlier report (its .json keeps each run's results and "
                             "validation history, so its run folders need not exist)")
    parser.add_argument("--matched-epochs", type=int, nargs="+", default=None, metavar="EPOCH",
                        help="also tabulate the validation metrics of every row at these epochs")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    runs = plan(args)
    start = time.perf_counter()
    if args.report_only:
        finished = [{**r, "results": json.loads((r["folder"] / "results.json").read_text())}
                    if (r["folder"] / "results.json").is_file() else {**r, "error": "not run"} for r in runs]
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            finished = list(pool.map(lambda run: train(run, args), runs))
    print(report(include(finished, args.include, args.datasets), args, time.perf_counter() - start))


if __name__ == "__main__":
    main()
