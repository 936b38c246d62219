"""Speed and memory of every model on every dataset, and how they grow with catalogue size and session length.

    python benchmarks/speed.py --root ../shared/data --device cpu --threads 2        # writes results/speed-cpu.*
    python benchmarks/speed.py --scaling --device cpu --threads 2 --out benchmarks/results/scaling-cpu

Per (model, dataset) cell, with the model's default (paper) settings and the trainer's own training step (its
batches, sequence or prefix mode, amp and optimizer):

* **train samples/s**: ``--steps`` steps timed after ``--warmup`` steps (without the memory refresh that starts an
  epoch of A²D-MTL, timed on its own); **epoch s** is the steps of one pass over the training samples times the
  measured seconds per step, plus that refresh (extrapolated: a full pass is not run);
* **eval s**: full-ranking evaluation of the test split (every sample unless ``--eval-samples`` caps it, when the
  time is extrapolated from the capped samples and marked ``*``);
* **peak memory**: on CPU the process's peak resident set during the cell (the kernel's high-water mark, reset
  through ``/proc/self/clear_refs`` when the cell starts; it includes the dataset), on CUDA the peak memory allocated
  by torch during the cell;
* **parameters**.

On CPU each cell runs in a fresh process (a freed allocation stays resident); on CUDA one process per dataset runs
its cells one after another. ``--scaling`` measures the models on the synthetic generator at 2k, 20k, 100k and 400k
items (sessions of the generator's lengths, twice as many sessions as items, items with one click kept: the table
gives the items that remain) and at fixed session lengths 5, 20 and 50 (20k items), and draws a PNG per model family.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import reset_peak, status_mb

MODELS = ("pop", "gru4rec", "srgnn", "sasrec", "core", "nova", "difsr", "a2dmtl", "scorenet", "comif", "asif", "srim")
DATASETS = ("synthetic", "diginetica", "tmall", "beauty")
FAMILIES = {"recurrent and graph": ("gru4rec", "srgnn", "a2dmtl", "srim"),
            "transformer": ("sasrec", "core", "nova", "difsr", "scorenet", "comif", "asif")}
ITEM_SIZES = (2_000, 20_000, 100_000, 400_000)
LENGTHS = (5, 20, 50)


def scaling_settings(kind: str, value: int) -> dict:
    """Dataset options of one scaling point (``kind`` is ``items`` or ``length``)."""
    if kind == "items":
        return {"data.num_items": value, "data.num_sessions": max(20_000, 2 * value), "data.min_item_count": 1}
    return {"data.num_items": 20_000, "data.num_sessions": 20_000, "data.min_item_count": 1,
            "data.session_length": value, "max_len": value}


# ------------------------------------------------------------------------------------------------------ one cell
def measure(model: str, dataset: str, root, settings: dict, args) -> dict:
    """Times one model on one dataset in this process (see the module docstring)."""
    from graphsbr.errors import ConfigError, DataError
    from graphsbr.models.base import count_parameters, targets_of
    from graphsbr.train.metrics import RankingMetrics
    from graphsbr.train.run import build_trainer, get_model_class
    from graphsbr.train.trainer import refresh_memory

    if not hasattr(get_model_class(model).Config, "max_len"):  # a scaling length applies where there is one
        settings = {k: v for k, v in settings.items() if k != "max_len"}
    cuda = args.device.startswith("cuda")
    cell = {"model": model, "dataset": dataset, **{k: v for k, v in settings.items() if k.startswith("data.")}}
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak()
    try:
        trainer = build_trainer(model, dataset, root, {"progress": "false", "threads": args.threads,
                                                        "device": args.device, "epoch_steps": args.warmup,
                                                        **settings})
    except (ConfigError, DataError) as error:  # e.g. a model that needs side information the dataset lacks
        if model != "srim" or "use_text" in settings:
            return {**cell, "error": str(error).splitlines()[0][:160]}
        return measure(model, dataset, root, {**settings, "use_text": "false"}, args)  # SRIM's ID stream alone
    if settings.get("use_text") == "false":
        cell["model"] = f"{model} (text off)"
    data = trainer.dataset
    cell.update(num_items=data.num_items, train_samples=data.train.num_samples,
                test_samples=data.test.num_samples, parameters=count_parameters(trainer.model),
                batch_size=trainer.config.batch_size, training_mode=trainer.training_mode)
    if trainer.optimizer is not None:
        trainer._train_epoch()  # warm-up: allocator, kernels, caches
        _sync(cuda)
        trainer.config.epoch_steps = args.steps
        refresh = _refresh_seconds(trainer, cuda)  # an epoch starts with it; a real one amortises it over its steps
        start = time.perf_counter()
        _, samples = trainer._train_epoch()
        _sync(cuda)
        seconds = time.perf_counter() - start - refresh
        steps_per_pass = len(trainer._train_loader())
        cell.update(step_s=round(seconds / args.steps, 4), train_samples_s=round(samples / seconds, 1),
                    epoch_s=round(steps_per_pass * seconds / args.steps + refresh, 1), steps_per_epoch=steps_per_pass)
        if refresh:
            cell["memory_refresh_s"] = round(refresh, 3)
    model = trainer.model.eval()
    limit = args.eval_samples or data.test.num_samples
    evaluated, metrics = 0, RankingMetrics()
    start = time.perf_counter()
    with torch.no_grad():
        refresh_memory(model, data, trainer.config.eval_batch_size, trainer.device)
        for batch in trainer.loader("test", batch_size=trainer.eval_batch_size()):
            with trainer.autocast():
                scores = model(batch)
            metrics.update(scores.float(), targets_of(batch))
            evaluated += int(targets_of(batch).numel())
            if evaluated >= limit:
                break
    _sync(cuda)
    seconds = time.perf_counter() - start
    cell.update(eval_s=round(seconds * data.test.num_samples / evaluated, 2),
                eval_extrapolated=evaluated < data.test.num_samples,
                eval_samples_s=round(evaluated / seconds, 1))
    cell["peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20 if cuda else status_mb("VmHWM"), 1)
    return cell


def _refresh_seconds(trainer, cuda: bool) -> float:
    """Seconds of the memory refresh that starts every epoch (0 for a model without a memory of sessions)."""
    from graphsbr.train.trainer import refresh_memory

    if not trainer.model.uses_memory:
        return 0.0
    start = time.perf_counter()
    refresh_memory(trainer.model, trainer.dataset, trainer.config.eval_batch_size, trainer.device)
    _sync(cuda)
    return time.perf_counter() - start


def _sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def worker(args) -> None:
    """Measures ``--cells`` (a JSON list of ``[model, dataset, settings]``) in this process, one JSON line each."""
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    for model, dataset, settings in json.loads(args.cells):
        try:
            cell = measure(model, dataset, args.root, settings, args)
        except Exception as error:  # noqa: BLE001 - one failing cell must not hide the others' numbers
            cell = {"model": model, "dataset": dataset, "error": f"{type(error).__name__}: {error}"[:300]}
        print("CELL " + json.dumps(cell), flush=True)


# ------------------------------------------------------------------------------------------------------- driver
def run_cells(cells: list, args) -> list[dict]:
    """Runs the cells in child processes: one each on CPU, one per dataset (all its cells in turn) on CUDA."""
    groups: dict = {}
    for cell in cells:
        key = (cell[1], json.dumps({k: v for k, v in cell[2].items() if k.startswith("data.")}, sort_keys=True)) \
            if args.device.startswith("cuda") else len(groups)
        groups.setdefault(key, []).append(cell)
    results = []
    for group in groups.values():
        command = [sys.executable, __file__, "--worker", "--cells", json.dumps(group), "--device", args.device,
                   "--threads", str(args.threads), "--warmup", str(args.warmup), "--steps", str(args.steps),
                   "--eval-samples", str(args.eval_samples)] + (["--root", args.root] if args.root else [])
        try:
            process = subprocess.run(command, capture_output=True, text=True, check=False, env=_child_env(),
                                     timeout=args.cell_timeout * len(group))
            stdout, stderr, code = process.stdout, process.stderr, process.returncode
        except subprocess.TimeoutExpired as expired:  # the cells it finished still count
            partial = expired.stdout or b""
            stdout = partial.decode() if isinstance(partial, bytes) else partial
            stderr, code = f"killed after {expired.timeout:.0f} s", 1
        found = [json.loads(line[5:]) for line in stdout.splitlines() if line.startswith("CELL ")]
        if code and len(found) < len(group):
            tail = stderr.strip().splitlines()[-1:] or [f"exit {code}"]
            found += [{"model": m, "dataset": d, "error": tail[0][:300]} for m, d, _ in group[len(found):]]
        for cell in found:
            print(json.dumps(cell), flush=True)
        results += found
    return results


def _child_env() -> dict:
    """The environment of a child process, with this checkout importable (an uninstalled checkout works too)."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def table(cells: list[dict], columns: tuple[str, ...]) -> list[str]:
    heads = {"dataset": "dataset", "num_items": "items", "data.session_length": "length", "model": "model",
             "train_samples_s": "train samples/s", "epoch_s": "epoch s", "eval_s": "test eval s",
             "peak_mb": "peak MB", "parameters": "parameters", "batch_size": "batch"}
    lines = ["| " + " | ".join(heads[c] for c in columns) + " |", "|---" * len(columns) + "|"]
    for cell in cells:
        if "error" in cell:
            lines.append(f"| {cell['dataset']} | {cell['model']} | n/a: {cell['error']} |")
            continue
        values = []
        for column in columns:
            value = cell.get(column, "–")
            if column == "eval_s" and cell.get("eval_extrapolated"):
                value = f"{value}*"
            elif isinstance(value, float):
                value = f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
            elif isinstance(value, int):
                value = f"{value:,}"
            values.append(str(value))
        lines.append("| " + " | ".join(values) + " |")
    return lines


def machine(args) -> str:
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cuda (not available here)"
        return f"{name}, torch {torch.__version__}"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads, "
            f"torch {torch.__version__}")


def plot(cells: list[dict], out: Path) -> list[str]:
    """One PNG per model family: train samples/s and peak memory against items and against session length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for family, members in FAMILIES.items():
        figure, axes = plt.subplots(2, 2, figsize=(10, 7))
        for column, (kind, x_key, label) in enumerate((("items", "num_items", "items (after the protocol)"),
                                                        ("length", "data.session_length", "session length"))):
            for model in members:
                points = sorted((c[x_key], c) for c in cells if c.get("kind") == kind and c["model"] == model
                                and "error" not in c and "train_samples_s" in c)
                if not points:
                    continue
                xs = [x for x, _ in points]
                axes[0][column].plot(xs, [c["train_samples_s"] for _, c in points], marker="o", label=model)
                axes[1][column].plot(xs, [c["peak_mb"] for _, c in points], marker="o", label=model)
            for row, what in enumerate(("train samples/s", "peak MB")):
                axis = axes[row][column]
                axis.set_xlabel(label)
                axis.set_ylabel(what)
                if kind == "items":
                    axis.set_xscale("log")
                axis.set_yscale("log")
                axis.grid(True, alpha=0.3)
        axes[0][0].legend(fontsize=8)
        figure.suptitle(f"{family} models: cost against catalogue size and session length")
        figure.tight_layout()
        path = out.parent / f"{out.name}-{family.split()[0]}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path.name)
    return written


def merged(path: Path, cells: list[dict], command: str, note: str) -> tuple[list[dict], str, str]:
    """The cells of an earlier run (``path``) with those measured again replaced, both commands, both notes."""
    def key(cell):
        options = {k: v for k, v in cell.items() if k.startswith("data.")}
        return cell["model"].split(" ")[0], cell["dataset"], cell.get("kind"), json.dumps(options, sort_keys=True)

    earlier = json.loads(path.read_text())
    again = {key(c): c for c in cells}
    kept = [again.pop(key(c), c) for c in earlier["cells"]]
    return (kept + list(again.values()), f"{earlier['command']}; remeasured: {command}",
            " ".join(filter(None, [earlier.get("note", ""), note])))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eval-samples", type=int, default=0, help="cap on evaluated test samples (0: all)")
    parser.add_argument("--cell-timeout", type=int, default=900, help="seconds before a cell's process is killed")
    parser.add_argument("--scaling", action="store_true", help="synthetic at several catalogue sizes and lengths")
    parser.add_argument("--items", type=int, nargs="*", default=list(ITEM_SIZES))
    parser.add_argument("--lengths", type=int, nargs="*", default=list(LENGTHS))
    parser.add_argument("--note", default="", help="a paragraph under the header (the conditions of the run)")
    parser.add_argument("--merge", action="store_true",
                        help="replace the measured cells in the existing OUT.json (a partial rerun) and redraw")
    parser.add_argument("--out", default=None, help="output prefix (default benchmarks/results/speed-<device>)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cells", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    device = args.device.split(":")[0]
    out = Path(args.out or Path(__file__).parent / "results" / f"{'scaling' if args.scaling else 'speed'}-{device}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.scaling:
        points = [("items", n) for n in args.items] + [("length", n) for n in args.lengths]
        cells = [[m, "synthetic", scaling_settings(kind, value)] for kind, value in points for m in args.models]
        kinds = [kind for kind, _ in points for _ in args.models]
    else:
        cells = [[m, d, {}] for d in args.datasets for m in args.models]
    start = time.perf_counter()
    results = run_cells(cells, args)
    if args.scaling:
        for cell, kind in zip(results, kinds):
            cell["kind"] = kind
    command = f"`python benchmarks/speed.py {' '.join(argv or sys.argv[1:])}` ({time.perf_counter() - start:.0f} s)"
    note = args.note
    if args.merge:
        results, command, note = merged(out.with_suffix(".json"), results, command, note)
    header = [f"# {'Scaling' if args.scaling else 'Speed'} on {device}: {machine(args)}", "",
              f"{command}. {args.warmup} warm-up and {args.steps} timed "
              "training steps per cell; epoch s extrapolates a full pass from them; `*`: test evaluation "
              f"extrapolated from {args.eval_samples} samples; peak MB: "
              + ("torch's peak allocated CUDA memory." if device == "cuda" else "the process's peak RSS (dataset "
                                                                              "included)."), ""]
    header += [note, ""] if note else []
    columns = ("dataset", "model", "train_samples_s", "epoch_s", "eval_s", "peak_mb", "parameters", "batch_size")
    if args.scaling:
        body = ["## Catalogue size (generator lengths)", ""]
        body += table([c for c in results if c["kind"] == "items"], ("num_items",) + columns[1:])
        body += ["", "## Session length (20k items)", ""]
        body += table([c for c in results if c["kind"] == "length"], ("data.session_length", "num_items") + columns[1:])
        pictures = plot(results, out)
        body += ["", *[f"![{name}]({name})" for name in pictures]]
    else:
        body = table(results, columns)
    out.with_suffix(".md").write_text("\n".join(header + body) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"device": device, "machine": machine(args), "command": command,
                                                    "note": note, "cells": results}, indent=1) + "\n")
    print("\n".join(header + body))


if __name__ == "__main__":
    main()
