"""Train several models (or variants of one) over several seeds and tabulate mean ± std of their metrics.

    python benchmarks/compare.py --dataset synthetic --seeds 0 1 2 --set epochs=3 \\
        --run "A2D-MTL=a2dmtl:dim=64" --run "w/o CATE=a2dmtl:dim=64,use_category=false" --run "SASRec=sasrec:dim=64" \\
        --out benchmarks/results/a2dmtl/synthetic

A run is ``LABEL=MODEL:key=value,key=value``; ``--set`` applies to every run (trainer, model or ``data.*`` keys).
Each (run, seed) trains in its own run folder under ``--out`` with validation-based selection; the table reports the
selected epoch's validation and test metrics. Writes ``--out/summary.md`` and ``--out/summary.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path

from graphsbr.train.config import parse_assignments
from graphsbr.train.run import build_trainer

METRICS = ("hr@20", "mrr@20", "ndcg@20")


def parse_run(text: str) -> tuple[str, str, dict]:
    """``"w/o CATE=a2dmtl:dim=64,use_category=false"`` -> ``("w/o CATE", "a2dmtl", {"dim": "64", ...})``."""
    head, _, settings = text.partition(":")
    label, _, model = head.rpartition("=")
    return label or head, model, parse_assignments([s for s in settings.split(",") if s])


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    parser.add_argument("--run", dest="runs", action="append", required=True, metavar="LABEL=MODEL:K=V,...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", required=True, help="folder for the run folders and the summary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    common = parse_assignments(args.settings)
    rows = []
    for label, model, settings in map(parse_run, args.runs):
        results = []
        for seed in args.seeds:
            folder = out / f"{label.replace('/', '').replace(' ', '_')}-seed{seed}"
            trainer = build_trainer(model, args.dataset, args.root,
                                    {"progress": "false", **common, **settings, "seed": seed}, folder)
            results.append(trainer.fit())
            print(f"{label} seed {seed}: test " + ", ".join(f"{m} {results[-1]['test'][m]:.4f}" for m in METRICS),
                  flush=True)
        rows.append({"label": label, "model": model, "settings": settings, "seeds": args.seeds,
                     **{f"{split}_{m}": [r[split][m] for r in results] for split in ("valid", "test") for m in METRICS},
                     "best_epochs": [r["best_epoch"] for r in results],
                     "train_seconds": [r["train_seconds"] for r in results]})
    title = (f"# {args.dataset}: {len(args.seeds)} seeds ({' '.join(map(str, args.seeds))}), settings "
             f"{', '.join(f'{k}={v}' for k, v in common.items()) or 'defaults'}")
    lines = [title, "",
             "| run | " + " | ".join(f"test {m}" for m in METRICS) + " | " + " | ".join(f"valid {m}" for m in METRICS)
             + " | train s |", "|---" * (2 * len(METRICS) + 2) + "|"]
    for row in rows:
        lines.append(f"| {row['label']} | " + " | ".join(mean_std(row[f"test_{m}"]) for m in METRICS) + " | "
                     + " | ".join(mean_std(row[f"valid_{m}"]) for m in METRICS)
                     + f" | {statistics.mean(row['train_seconds']):.0f} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
