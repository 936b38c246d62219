"""Search a model's hyperparameter grid on the validation split: every point of the product trains (one process per
(point, seed), resumable, like ``reproduce.py``) and the points are ranked by the selected epoch's validation metric.

    python benchmarks/grid.py --model comif --dataset beauty --root ../shared/data --seeds 0 \\
        --grid num_layers=3,2,4 --grid num_heads=4,2,8 --grid iaa_weight=0.4,0.8,1.2,1.6 \\
        --grid upa_weight=0.4,0.8,1.2,1.6 --jobs 4 --device cuda --budget-minutes 60 --out OUT   # COMIF's 144 points

Where the whole grid costs too much, ``--sample N`` searches N of its points (the reference point, every axis's first
value, and N-1 drawn uniformly with ``--sample-seed``), and ``--rungs 8 20 40`` searches by successive halving
(Jamieson & Talwalkar, 2016): every point trains to epoch 8, the best 1/``--eta`` on validation resume to epoch 20,
the best of those to 40, and the last rung's best is chosen. Halving assumes that a point ahead early stays ahead; a
slow starter is cut, so say so beside its choice.

The table and the choice read validation only (each run folder's ``results.json`` also holds its test numbers, as
every run's does: look at the chosen point's alone). A point whose runs stopped on their budget or epoch cap rather
than their patience is marked, since a short budget ranks points by how fast they learn, not where they end.
Writes ``--out``/grid.md and grid.json (a list of rungs with ``--rungs``) and prints the chosen point's settings.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from graphsbr.train.config import parse_assignments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import mean_std, run_folder, stop_reason, train


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


def sample(grid: list[dict[str, str]], size: int, seed: int) -> list[dict[str, str]]:
    """``size`` points of ``grid``: its first (every axis's first value, the reference point) and ``size - 1`` drawn
    uniformly from the rest with ``seed``, in grid order."""
    if size >= len(grid):
        return grid
    drawn = set(random.Random(seed).sample(range(1, len(grid)), size - 1))
    return [point for i, point in enumerate(grid) if i == 0 or i in drawn]


def survivors(rows: list[dict], eta: int) -> list[str]:
    """Successive halving's cut: the labels of the best ``ceil(len / eta)`` finished points."""
    finished = [row["label"] for row in rows if row["valid"]]
    return finished[:max(1, math.ceil(len(rows) / eta))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--grid", action="append", required=True, metavar="KEY=VALUE,VALUE,...",
                        help="one axis of the grid (repeat for more); its first value is the reference point's")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every point")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--metric", default=None, help="validation metric to rank by (default: the runs' selection "
                                                       "metric)")
    parser.add_argument("--sample", type=int, default=None, metavar="N",
                        help="search N points of the grid: the reference point and N-1 drawn at random")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--rungs", type=int, nargs="+", default=None, metavar="EPOCHS",
                        help="successive halving: train every point to the first epoch cap, keep the best 1/--eta "
                             "on validation and resume them to the next cap, and so on")
    parser.add_argument("--eta", type=int, default=2, help="successive halving keeps 1/eta of the points per rung")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="per run")
    parser.add_argument("--grace", type=int, default=900, help="seconds past twice the budget before a run is killed")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True, help="folder of the run folders and grid.md")
    args = parser.parse_args(argv)
    parse_assignments(args.set)  # a malformed --set fails here, before any run starts
    if args.rungs and (args.rungs != sorted(set(args.rungs)) or args.rungs[0] < 1 or args.eta < 2):
        raise SystemExit("--rungs: increasing epoch caps of at least 1, with --eta of at least 2")
    grid = points(list(map(parse_axis, args.grid)))
    chosen = grid if args.sample is None else sample(grid, args.sample, args.sample_seed)
    out = Path(args.out)
    command = "python benchmarks/grid.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    title = f"# {args.model} on {args.dataset}: {len(chosen)} of the grid's {len(grid)} points ranked on validation"
    lines = [title, "", f"`{command}`"]
    rungs = []
    for cap in args.rungs or [None]:
        step = argparse.Namespace(**{**vars(args), "set": args.set + ([f"epochs={cap}"] if cap else [])})
        runs = [{"dataset": args.dataset, "label": label_of(point), "model": args.model, "settings": point,
                 "seed": seed, "folder": run_folder(out / "runs", label_of(point), seed)}
                for point in chosen for seed in args.seeds]
        with ThreadPoolExecutor(args.jobs) as pool:
            finished = list(pool.map(train, runs, [step] * len(runs)))
        metric, rows = rank(finished, args.metric)
        rungs.append({"epochs": cap, "rows": rows})
        heading = f"Rung {len(rungs)}: every point up to epoch {cap}" if cap else "Every point"
        lines += ["", f"{heading}, on validation {metric}:", "", *table(metric, rows)]
        keep = set(survivors(rows, args.eta))
        chosen = [point for point in chosen if label_of(point) in keep]
    if rows and rows[0]["valid"]:
        lines += ["", f"Chosen on validation: `{rows[0]['label']}`"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.md").write_text("\n".join(lines) + "\n")
    (out / "grid.json").write_text(json.dumps(rungs if args.rungs else rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
