"""Search a model's hyperparameter grid on the validation split: every point of the product trains (one process per
(point, seed), resumable, like ``reproduce.py``) and the points are ranked by the selected epoch's validation metric.

    python benchmarks/grid.py --model comif --dataset beauty --root ../shared/data --seeds 0 \\
        --grid num_layers=2,3,4 --grid num_heads=2,4,8 --grid iaa_weight=0.4,0.8,1.2,1.6 \\
        --grid upa_weight=0.4,0.8,1.2,1.6 --jobs 4 --device cuda --budget-minutes 60 --out OUT   # COMIF's 144 points

The table and the choice read validation only (each run folder's ``results.json`` also holds its test numbers, as
every run's does: look at the chosen point's alone). A point whose runs stopped on their budget or epoch cap rather
than their patience is marked, since a short budget ranks points by how fast they learn, not where they end.
Writes ``--out``/grid.md and grid.json and prints the chosen point's settings.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from graphsbr.train.config import parse_assignments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import mean_std, run_folder, train


def parse_axis(text: str) -> tuple[str, list[str]]:
    """``"num_heads=2,4,8"`` -> ``("num_heads", ["2", "4", "8"])``."""
    key, _, values = text.partition("=")
    choices = [v for v in values.split(",") if v]
    if not key or not choices:
        raise SystemExit(f"--grid {text!r}: expected KEY=VALUE,VALUE,...")
    return key, choices


def points(axes: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    keys = [key for key, _ in axes]
    return [dict(zip(keys, values)) for values in itertools.product(*(choices for _, choices in axes))]


def label_of(point: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items())


def stop_reason(results: dict) -> str:
    """Why a run stopped: its patience, its epoch cap, or its budget."""
    train = results["config"]["train"]
    if results["epochs_run"] - results["best_epoch"] >= train["patience"]:
        return "patience"
    return "epochs" if results["epochs_run"] >= train["epochs"] else "budget"


def rank(finished: list[dict], metric: str | None = None) -> tuple[str, list[dict]]:
    """The points ordered by mean validation ``metric`` over their finished seeds (default: the runs' own selection
    metric), best first; points with no finished run last."""
    done = [run["results"] for run in finished if "results" in run]
    metric = metric or (done[0]["selection_metric"] if done else "ndcg@20")
    rows: dict[str, dict] = {}
    for run in finished:
        row = rows.setdefault(run["label"], {"label": run["label"], "settings": run["settings"], "valid": [],
                                             "epochs": [], "stops": [], "errors": []})
        if "results" not in run:
            row["errors"].append(run["error"])
            continue
        results = run["results"]
        row["valid"].append(results["valid"][metric])
        row["epochs"].append(f"{results['epochs_run']}({results['best_epoch']})")
        row["stops"].append(stop_reason(results))
    for row in rows.values():
        row["mean"], row["std"] = mean_std(row["valid"]) if row["valid"] else (None, 0.0)
    return metric, sorted(rows.values(), key=lambda row: (row["mean"] is None, -(row["mean"] or 0.0)))


def table(metric: str, rows: list[dict]) -> list[str]:
    lines = [f"| point | seeds | valid {metric} | epochs (best) | stopped on |", "|---|---|---|---|---|"]
    for row in rows:
        value = f"{row['mean']:.4f} ± {row['std']:.4f}" if row["valid"] else "; ".join(row["errors"])[:80]
        lines.append(f"| {row['label']} | {len(row['valid'])} | {value} | {', '.join(row['epochs'])} | "
                     f"{', '.join(dict.fromkeys(row['stops']))} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--grid", action="append", required=True, metavar="KEY=VALUE,VALUE,...",
                        help="one axis of the grid (repeat for more)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every point")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--metric", default=None, help="validation metric to rank by (default: the runs' selection "
                                                       "metric)")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="per run")
    parser.add_argument("--grace", type=int, default=900, help="seconds past twice the budget before a run is killed")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True, help="folder of the run folders and grid.md")
    args = parser.parse_args(argv)
    parse_assignments(args.set)  # a malformed --set fails here, before any run starts
    out = Path(args.out)
    runs = [{"dataset": args.dataset, "label": label_of(point), "model": args.model, "settings": point, "seed": seed,
             "folder": run_folder(out / "runs", label_of(point), seed)}
            for point in points(list(map(parse_axis, args.grid))) for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        finished = list(pool.map(lambda run: train(run, args), runs))
    metric, rows = rank(finished, args.metric)
    command = "python benchmarks/grid.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [f"# {args.model} on {args.dataset}: {len(rows)} points ranked on validation {metric}", "",
             f"`{command}`", "", *table(metric, rows)]
    if rows and rows[0]["valid"]:
        lines += ["", f"Chosen on validation: `{rows[0]['label']}`"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.md").write_text("\n".join(lines) + "\n")
    (out / "grid.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
