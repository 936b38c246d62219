"""What running rows of similar width together (:func:`graphsbr.nn.by_width`) saves: the trainer's training step and
the full-ranking evaluation of each transformer model, with the batch as one group and in width groups.

    python benchmarks/width_groups.py --root ../shared/data --datasets beauty --threads 1

Both ways run in one process and alternate (``--rounds`` times, ``--steps`` training steps and ``--eval-batches``
test batches each), so that a change in the machine's load touches both alike; the table gives the median seconds
per step and per evaluation batch, and the ratio. The outputs are the same either way
(``tests/models/test_width_groups.py``).
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

MODELS = ("sasrec", "core", "nova", "difsr", "scorenet", "comif", "asif")


def measure(model: str, dataset: str, args) -> dict:
    from graphsbr.errors import ConfigError, DataError
    from graphsbr.nn import packing
    from graphsbr.train.run import build_trainer

    try:
        trainer = build_trainer(model, dataset, args.root, {"progress": "false", "threads": args.threads,
                                                            "device": args.device, "epoch_steps": args.steps})
    except (ConfigError, DataError) as error:
        return {"model": model, "dataset": dataset, "error": str(error).splitlines()[0][:120]}
    cuda = trainer.device.type == "cuda"
    test = list(trainer.loader("test", batch_size=trainer.eval_batch_size()).batches(0, args.eval_batches))
    edges = {"whole": (), "groups": packing.WIDTH_EDGES}
    times = {f"{kind}_{way}": [] for kind in ("step", "eval") for way in edges}

    def timed(fn) -> float:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def evaluate():
        trainer.model.eval()
        with torch.no_grad(), trainer.autocast():
            for batch in test:
                trainer.model(batch)
        trainer.model.train()

    trainer._train_epoch()  # warm-up
    for round_ in range(args.rounds):
        for way in (("whole", "groups") if round_ % 2 == 0 else ("groups", "whole")):
            packing.WIDTH_EDGES = edges[way]
            times[f"step_{way}"].append(timed(trainer._train_epoch) / args.steps)
            times[f"eval_{way}"].append(timed(evaluate) / len(test))
    packing.WIDTH_EDGES = edges["groups"]
    cell = {"model": model, "dataset": dataset, "training_mode": trainer.training_mode,
            "batch_size": trainer.config.batch_size, **{k: round(statistics.median(v), 4) for k, v in times.items()}}
    cell["step_speedup"] = round(cell["step_whole"] / cell["step_groups"], 2)
    cell["eval_speedup"] = round(cell["eval_whole"] / cell["eval_groups"], 2)
    return cell


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    parser.add_argument("--datasets", nargs="+", default=["beauty"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="training steps per timing")
    parser.add_argument("--eval-batches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--note", default="", help="a paragraph under the header (the conditions of the run)")
    parser.add_argument("--out", default=None, help="output prefix (default benchmarks/results/width-groups-<device>)")
    args = parser.parse_args(argv)
    out = Path(args.out or Path(__file__).parent / "results" / f"width-groups-{args.device.split(':')[0]}")
    cells = []
    for dataset in args.datasets:
        for model in args.models:
            cells.append(measure(model, dataset, args))
            print(json.dumps(cells[-1]), flush=True)
    command = "python benchmarks/width_groups.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [(f"# Width groups on {args.device}: {platform.machine()}, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}"), "", f"`{command}`", ""]
    lines += [args.note, ""] if args.note else []
    lines += [("Median seconds per training step and per test batch with the batch as one group (whole) and in "
              f"width groups, over {args.rounds} alternating rounds of {args.steps} steps and {args.eval_batches} "
              "batches."), "",
              ("| dataset | model | mode | batch | step s, whole | step s, groups | speed-up | eval s, whole | "
              "eval s, groups | speed-up |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        if "error" in c:
            lines.append(f"| {c['dataset']} | {c['model']} | n/a: {c['error']} |||||||")
            continue
        lines.append(f"| {c['dataset']} | {c['model']} | {c['training_mode']} | {c['batch_size']:,} | "
                     f"{c['step_whole']:.3f} | {c['step_groups']:.3f} | {c['step_speedup']:.2f}× | "
                     f"{c['eval_whole']:.3f} | {c['eval_groups']:.3f} | {c['eval_speedup']:.2f}× |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"command": command, "cells": cells}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
