"""How close to the papers: each seed model and every baseline on the papers' datasets, beside the papers' numbers.

Trains each seed model on the datasets of its paper and every baseline on the same data, and sets the results
beside the papers' numbers; or compares any models and variants (ablations, settings) on any dataset:

    python benchmarks/reproduce.py --root ../shared/data --budget-minutes 10 --seeds 0 1 2 --jobs 2 --threads 1
    python benchmarks/reproduce.py --root ../shared/data --datasets beauty --seeds 0 \\
        --variant "beauty::COMIF w/o UPA=comif:upa_weight=0" --device cuda --jobs 12 --out benchmarks/runs/beauty
    python benchmarks/reproduce.py --datasets synthetic --models --seeds 0 1 2 --budget-minutes 0 --set epochs=3 \\
        --variant "A2D-MTL=a2dmtl:dim=64" --variant "w/o CATE=a2dmtl:dim=64,use_category=false" \\
        --variant "SASRec=sasrec:dim=64" --out OUT --report OUT/summary.md     # variants alone, no paper rows

Every model runs with its defaults, which are its paper's hyperparameters, through ``python -m graphsbr train``
(validation-based selection; the test split is read once, at the selected epoch), one process per (row, seed),
``--jobs`` at a time, each under ``--budget-minutes`` (it stops after the epoch in which the budget runs out; 0: no
budget). A run folder that already has ``results.json`` is reused (or, if it stopped on an epoch cap lower than the
one asked for now, resumed up to the new cap) and a started one resumes, so a killed reproduction continues where
it stopped (:func:`graphsbr.bench.train_run`). ``--models`` picks the plain rows (``--models`` alone: none).
``--variant [DATASET::]LABEL=MODEL:key=value,...`` adds a row (an ablation, a setting to compare) on one dataset,
or on every chosen one. ``--include REPORT.json`` adds the runs of an earlier report, whose JSON keeps each run's
results and validation history: rows trained on another machine, or whose folders are gone. ``--run [LABEL=]FOLDER``
adds a finished run folder trained elsewhere (a run to its early stop): its model's plain row on its dataset, or,
when its model settings differ from the defaults, a variant row. A variant row whose settings are those of one of
the papers' ablations (:data:`graphsbr.bench.VARIANTS`, e.g. ``use_category=false`` for A²D-MTL's w/o CATE) stands
beside that ablation's published numbers. ``--refit`` also retrains each finished run of a session-protocol dataset
on its training and validation sessions for its selected length (``graphsbr refit``, into ``FOLDER-refit``; a row of
its own, ``LABEL refit``): the papers train on their whole training file, our selection holds its last 10% out.

Writes ``--report`` (default ``--out``/reproduction.md) and a .json and .png beside it: one table per dataset with
every row, our mean ± std over the seeds beside the paper's number and the relative gap
(:data:`graphsbr.bench.PAPER`), and paired significance tests between each seed model and the best baseline (chosen
on *validation*; or each seed model's row, ablations included, and each row ``--against LABEL`` names) over the
per-sample reciprocal ranks of the test split
(``ranks.pt`` of each run, averaged over the seeds both have). On a dataset of no paper (``synthetic``) every model
but the baselines counts as a seed model.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from graphsbr.bench import (
    PAPER,
    PROTOCOL_NOTES,
    as_refit,
    command_line,
    history,
    include,
    mean_std,
    paper_value,
    parse_variant,
    refit_run,
    run_folder,
    stop_reason,
    train_run,
)
from graphsbr.train.config import parse_assignments

#: the seed models of each dataset (the datasets of their papers that we have), then the baselines run on each
SEED_MODELS = {"diginetica": ("a2dmtl", "scorenet"), "tmall": ("a2dmtl", "scorenet"), "beauty": ("comif", "asif"),
               "scientific": ("srim",)}
BASELINES = ("pop", "spop", "gru4rec", "srgnn", "sasrec", "core", "nova", "difsr")
#: the metrics each dataset's papers report (P@K = hr@K), and those of a dataset without a paper
METRICS = {"diginetica": ("hr@10", "hr@20", "mrr@10", "mrr@20"), "tmall": ("hr@10", "hr@20", "mrr@10", "mrr@20"),
           "beauty": ("hr@10", "hr@20", "ndcg@10", "ndcg@20"), "scientific": ("hr@10", "hr@20", "mrr@10", "mrr@20")}
OTHER_METRICS = ("hr@20", "mrr@20", "ndcg@20")
NAMES = {"a2dmtl": "A²D-MTL", "scorenet": "ScoreNet", "comif": "COMIF", "asif": "ASIF", "srim": "SRIM", "pop": "Pop",
         "spop": "S-POP", "gru4rec": "GRU4Rec", "srgnn": "SR-GNN", "sasrec": "SASRec", "core": "CORE", "nova": "NOVA",
         "difsr": "DIF-SR"}


def seed_models(dataset: str) -> tuple[str, ...]:
    """The seed models of ``dataset``'s papers; on a dataset of no paper, every seed model."""
    return SEED_MODELS.get(dataset) or tuple(dict.fromkeys(sum(SEED_MODELS.values(), ())))


def plan(args) -> list[dict]:
    """Every run: dataset, row label, model, settings, seed and folder."""
    variants = [parse_variant(text) for text in args.variant]
    runs = []
    for dataset in args.datasets:
        rows = [(NAMES[m], m, {}) for m in seed_models(dataset) + BASELINES if m in args.models]
        rows += [(label, model, settings) for only, label, model, settings in variants if only in (None, dataset)]
        for label, model, settings in rows:
            seeds = args.variant_seeds if (settings and args.variant_seeds) else args.seeds
            for seed in seeds:
                runs.append({"dataset": dataset, "label": label, "model": model, "settings": settings, "seed": seed,
                             "folder": run_folder(Path(args.out) / "runs" / dataset, label, seed)})
    return runs


# ------------------------------------------------------------------------------------------------------ report
def rows_of(dataset: str, finished: list[dict]) -> list[dict]:
    rows: dict[str, dict] = {}
    for run in finished:
        if run["dataset"] != dataset:
            continue
        row = rows.setdefault(run["label"], {"label": run["label"], "model": run["model"],
                                             "settings": run["settings"], "refit": run.get("refit", False),
                                             "runs": [], "errors": []})
        (row["runs"] if "results" in run else row["errors"]).append(run)
    return list(rows.values())


def significance(dataset: str, rows: list[dict], selection: str, against: list[str] = ()) -> list[str]:
    """Each seed model's paper row against the best baseline by mean validation ``selection`` metric, or each seed
    model's row, variants (ablations) included, against each row labelled in ``against`` but itself."""
    # a refit has no validation split to rank it by
    baselines = [r for r in rows if r["model"] in BASELINES and not r["settings"] and not r["refit"] and r["runs"]]
    seeded = [r for r in rows if r["model"] in seed_models(dataset) and (against or not r["settings"]) and r["runs"]]
    if against:
        references = [(r, f"**{r['label']}**") for r in rows if r["label"] in against and r["runs"]]
    elif baselines:
        best = max(baselines, key=lambda r: statistics.mean(x["results"]["valid"][selection] for x in r["runs"]))
        references = [(best, f"the best baseline on validation {selection}, **{best['label']}**")]
    else:
        references = []
    missing = [f"No row labelled **{label}** on {dataset} to test against.\n" for label in against
               if label not in {r["label"] for r in rows if r["runs"]}]
    return missing + sum((paired_tests(dataset, [r for r in seeded if r is not reference], reference, named)
                          for reference, named in references if seeded), [])


def paired_tests(dataset: str, rows: list[dict], reference: dict, named: str) -> list[str]:
    """The paired tests of each of ``rows`` against ``reference`` over the per-sample test reciprocal ranks."""
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

    lines = [(f"Paired tests over the {dataset} test samples' reciprocal ranks (MRR@20 per sample, averaged over the "
              f"seeds both have) against {named}:"), "",
             "| model | seeds | MRR@20 difference | paired t p | Wilcoxon p | randomization p |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        seeds = {r["seed"] for r in row["runs"]} & {r["seed"] for r in reference["runs"]}
        if not seeds:
            continue
        if not seeds <= ranked(row) & ranked(reference):
            lines.append(f"| {row['label']} | – | a run's ranks.pt is not at hand | | | |")
            continue
        a, b = mean_rr(row, seeds), mean_rr(reference, seeds)
        if a.shape != b.shape:
            lines.append(f"| {row['label']} | – | test splits differ | | | |")
            continue
        t, w, p = paired_t_test(a, b), wilcoxon_signed_rank(a, b), paired_randomization_test(a, b)
        lines.append(f"| {row['label']} | {len(seeds)} | {t.mean_difference:+.4f} | {t.p_value:.2e} | "
                     f"{w.p_value:.2e} | {p.p_value:.2e} |")
    return lines + [""]


def dataset_table(dataset: str, rows: list[dict]) -> list[str]:
    metrics = METRICS.get(dataset, OTHER_METRICS)
    lines = [("| model | seeds | " + " | ".join(f"{m} (paper, gap)" for m in metrics)
              + " | epochs (best) | stopped | train min | samples/s |"), "|---" * (len(metrics) + 6) + "|"]
    for row in rows:
        if not row["runs"]:
            lines.append(f"| {row['label']} | 0 | n/a: {row['errors'][0]['error'] if row['errors'] else ''} |")
            continue
        cells = []
        for metric in metrics:
            mean, std = mean_std([r["results"]["test"][metric] for r in row["runs"]])
            paper, _ = paper_value(dataset, row["model"], metric, row["settings"])
            gap = f", {100 * (mean - paper) / paper:+.0f}%" if paper else ""
            cells.append(f"{mean:.4f} ± {std:.4f}" + (f" ({paper:.4f}{gap})" if paper else ""))
        results = [r["results"] for r in row["runs"]]
        epochs = "/".join(f"{r['epochs_run']}({r['best_epoch']})" for r in results)
        stopped = "/".join(stop_reason(r) for r in results)
        minutes = statistics.mean(r["train_seconds"] for r in results) / 60
        rate = statistics.mean(r["train_samples_per_second"] for r in results)
        lines.append(f"| {row['label']} | {len(results)} | " + " | ".join(cells)
                     + f" | {epochs} | {stopped} | {minutes:.1f} | {rate:,.0f} |")
    return lines + [""]


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
        colours = ["tab:orange" if r["model"] in seed_models(dataset) else "tab:blue" for r in rows]
        axis.bar(range(len(rows)), [m for m, _ in stats], yerr=[s for _, s in stats], color=colours, capsize=3)
        for x, row in enumerate(rows):
            paper, _ = paper_value(dataset, row["model"], "hr@20", row["settings"])
            if paper:
                axis.plot(x, paper, "k_", markersize=14, markeredgewidth=2)
        axis.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=8)
        axis.set_title(f"{dataset}: test hr@20 (bars: ours; dashes: paper)", fontsize=9)
        axis.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path.name


def report(finished: list[dict], args, seconds: float, command: str) -> str:
    """Writes the report (markdown, JSON of every run with its validation history, PNG) and returns its text."""
    report_path = Path(args.report or Path(args.out) / "reproduction.md")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    datasets = [d for d in args.datasets if any(r["dataset"] == d for r in finished)]
    tables = {d: rows_of(d, finished) for d in datasets}
    budget = (f"Budget {args.budget_minutes:g} min of training per run (the run stops after the epoch in which it "
              "runs out)" if args.budget_minutes else "No training budget")
    how = ("Tabulated from finished runs (each run's budget and settings are in its config.yaml)" if args.report_only
           else f"{budget}, {args.jobs} runs at a time, {args.threads} torch thread(s) each, device {args.device}; "
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
        lines += significance(dataset, rows, selection, args.against)
    lines.append(f"![test hr@20 per dataset]({chart(tables, report_path.with_suffix('.png'))})")
    report_path.write_text("\n".join(lines) + "\n")
    serialisable = [{**{k: (str(v) if isinstance(v, Path) else v) for k, v in run.items()}, "history": history(run)}
                    for run in finished]
    report_path.with_suffix(".json").write_text(json.dumps(serialisable, indent=1) + "\n")
    return "\n".join(lines)


def finished_folders(texts: list[str]) -> list[dict]:
    """The runs of finished run folders (``[LABEL=]FOLDER`` with a ``results.json``): a run at its model's defaults
    is that model's plain row, one with other model settings a variant row (labelled LABEL, or by its settings); a
    refit (``graphsbr refit``) is its own row, its label ending in ``refit``."""
    from graphsbr.models import MODELS
    from graphsbr.train.run import labelled_folder

    runs = []
    for text in texts:
        label, folder = labelled_folder(text)
        path = folder / "results.json"
        if not path.is_file():
            raise ValueError(f"--run {folder}: no results.json there (a run that has not finished)")
        results = json.loads(path.read_text())
        model = results["model"]
        settings = {}
        if model in MODELS and "model_config" in results.get("config", {}):
            defaults = json.loads(json.dumps(dataclasses.asdict(MODELS[model].Config())))
            recorded = {**MODELS[model].legacy_settings, **results["config"]["model_config"]}  # as read_config
            settings = {k: v for k, v in recorded.items() if defaults.get(k, v) != v}
        name = NAMES.get(model, model)
        refit = bool(results.get("config", {}).get("refit_of"))
        label = label or ((f"{name} ({', '.join(f'{k}={v}' for k, v in settings.items())})" if settings else name)
                          + (" refit" if refit else ""))
        runs.append({"dataset": results["dataset"], "label": label, "model": model, "settings": settings,
                     "seed": results["seed"], "folder": folder, "results": results, "refit": refit})
    return runs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    parser.add_argument("--datasets", nargs="+", default=list(SEED_MODELS),
                        help=f"dataset keys (default: the papers' datasets, {' '.join(SEED_MODELS)})")
    parser.add_argument("--models", nargs="*", default=[*seed_models("any"), *BASELINES], choices=list(NAMES),
                        metavar="MODEL", help="the plain rows, each with its defaults (default: all; alone: none)")
    parser.add_argument("--variant", action="append", default=[], metavar="[DATASET::]LABEL=MODEL:K=V,...",
                        help="a row with settings of its own, on DATASET or on every dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variant-seeds", type=int, nargs="+", default=None, help="seeds of the variants")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="training minutes per run (0: none)")
    parser.add_argument("--grace", type=int, default=900, help="seconds past twice the budget before a run is killed")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every run")
    parser.add_argument("--notes", default=None, help="a markdown file put above the tables (the analysis)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "runs" / "reproduction"),
                        help="folder of the run folders (OUT/runs/DATASET/LABEL-seedN)")
    parser.add_argument("--report", default=None, help="the report's path (default OUT/reproduction.md; .json and "
                                                       ".png beside it)")
    parser.add_argument("--report-only", action="store_true", help="tabulate the finished runs, train nothing")
    parser.add_argument("--include", action="append", default=[], metavar="REPORT.json",
                        help="also tabulate the runs of an earlier report (its .json keeps each run's results and "
                             "validation history, so its run folders need not exist)")
    parser.add_argument("--run", action="append", default=[], metavar="[LABEL=]FOLDER",
                        help="also tabulate a finished run folder trained elsewhere (e.g. to its early stop): its "
                             "model's row on its dataset, or a variant row if its model settings are not the "
                             "defaults (beside the paper's ablation row with the same settings)")
    parser.add_argument("--against", action="append", default=[], metavar="LABEL",
                        help="the paired tests compare each seed model with this row (repeatable; default: the best "
                             "baseline on validation)")
    parser.add_argument("--matched-epochs", type=int, nargs="+", default=None, metavar="EPOCH",
                        help="also tabulate the validation metrics of every row at these epochs")
    parser.add_argument("--refit", action="store_true",
                        help="also refit each finished run of a session-protocol dataset on its training and "
                             "validation sessions for its selected length (graphsbr refit), into FOLDER-refit: "
                             "a row of its own, LABEL refit, the like-for-like comparison with the papers")
    parser.add_argument("--paper-numbers", action="store_true", help="print the papers' numbers and exit")
    args = parser.parse_args(argv)
    if args.paper_numbers:
        for dataset, models in PAPER.items():
            for model, entry in models.items():
                print(f"{dataset:11s} {model:17s} {entry['source']:40s} {entry['metrics']}")
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        runs, trained_elsewhere = plan(args), finished_folders(args.run)
    except ValueError as error:
        parser.error(str(error))
    args.datasets += [d for d in dict.fromkeys(r["dataset"] for r in trained_elsewhere) if d not in args.datasets]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.report_only:
        finished = [{**r, "results": json.loads((r["folder"] / "results.json").read_text())}
                    if (r["folder"] / "results.json").is_file() else {**r, "error": "not run"} for r in runs]
        if args.refit:
            refits = [as_refit(r) for r in runs]
            finished += [{**r, "results": json.loads((r["folder"] / "results.json").read_text())}
                         for r in refits if (r["folder"] / "results.json").is_file()]
    else:
        def train_and_refit(run):
            done = train_run(run, root=args.root, budget_minutes=args.budget_minutes, device=args.device,
                             threads=args.threads, settings=parse_assignments(args.set), grace=args.grace)
            refit = refit_run(done, device=args.device, threads=args.threads) if args.refit and "results" in done \
                else None
            return [done] + ([refit] if refit else [])

        with ThreadPoolExecutor(args.jobs) as pool:
            finished = sum(pool.map(train_and_refit, runs), [])
    command = command_line("benchmarks/reproduce.py", sys.argv[1:] if argv is None else argv)
    finished = include(finished + trained_elsewhere, args.include, args.datasets)
    print(report(finished, args, time.perf_counter() - start, command))


if __name__ == "__main__":
    main()
