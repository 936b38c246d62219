"""How fast, and how much memory: each model's training step and evaluation, with scaling, overhead and width groups.

Every model's training step and full-ranking evaluation on every dataset, how they grow with the catalogue and the
session length, what a step costs in ops and host syncs, and what width groups save:

    python benchmarks/speed.py table --root ../shared/data --device cpu --threads 1    # results/speed-cpu.{md,json}
    python benchmarks/speed.py scaling --device cpu --threads 1       # results/scaling-cpu.{md,json} and two PNGs
    python benchmarks/speed.py step --model a2dmtl --dataset tmall --root ../shared/data --threads 1
    python benchmarks/speed.py eval-parts --model sasrec --dataset beauty --root ../shared/data --threads 2
    python benchmarks/speed.py overhead                                 # results/overhead-cpu.{md,json}
    nice -n 10 python benchmarks/speed.py compile                       # results/compile-cpu.{md,json}
    python benchmarks/speed.py widths --root ../shared/data --datasets beauty diginetica   # results/width-groups-cpu.*
    python benchmarks/speed.py memory --num-items 400000 --model gru4rec
    python benchmarks/speed.py asif-savings --root ../shared/data --parts

``table``: per (model, dataset) cell, with the model's default (paper) settings and the trainer's own training step
(its batches, sequence or prefix mode, amp and optimizer):

* **train samples/s**: ``--steps`` steps timed after ``--warmup`` steps (without the memory refresh that starts an
  epoch of A²D-MTL, timed on its own); **epoch s** is the steps of one pass over the training samples times the
  measured seconds per step, plus that refresh (extrapolated: a full pass is not run);
* **eval s**: full-ranking evaluation of the test split (every sample unless ``--eval-samples`` caps it, when the
  time is extrapolated from the capped samples and marked ``*``);
* **peak memory**: on CPU the process's peak resident set during the cell (the kernel's high-water mark, reset
  when the cell starts; it includes the dataset), on CUDA the peak memory allocated by torch during the cell;
* **parameters**.

On CPU each cell runs in a fresh process (a freed allocation stays resident); on CUDA one process per dataset runs
its cells one after another. ``--merge`` replaces the cells measured again in an existing ``OUT.json``.

``scaling``: the same cells on the synthetic generator at 2k, 20k, 100k and 400k items (sessions of the generator's
lengths, twice as many sessions as items, items with one click kept: the table gives the items that remain) and at
fixed session lengths 5, 20 and 50 (20k items), with a PNG per model family.

``step``: one cell in this process, printed as JSON with the package it imported: a quick before/after check of a
change to a step. For the code of an older commit: ``git worktree add /tmp/before COMMIT && cp -r graphsbr/bench
/tmp/before/graphsbr/ && PYTHONPATH=/tmp/before python benchmarks/speed.py step ...``.

``eval-parts``: where one model's full-ranking test evaluation goes, in this process, printed as JSON: the
trainer's ``evaluate`` (median of ``--rounds``), then its parts over the same batches: collating them, the model's
scores (encoder and scoring), and counting the ranks; beside them the arithmetic floor of the scoring, a product
``[B, d] x [d, N+1]`` of every batch's shape with random numbers, and the counting of ranks on those scores.

``overhead``: ops dispatched and host syncs per training step and per evaluation batch
(:func:`graphsbr.bench.ops_and_syncs`, the CPU proxies of a launch-bound GPU step), on the synthetic set at tiny
sizes (``d = 8``, 300 items: what time is left is overhead), with the trainer's own batches and training mode:
**ops / step**, **syncs / step** (ops that wait for the device wherever they run: ``nonzero``, ``item`` …) and
**host reads / step** (``.tolist()``, ``.cpu()``, ``.numpy()``: a wait only when the tensor lives on the device; the
CPU cannot tell, see :func:`graphsbr.bench.ops_and_syncs`) in a training step's forward and backward, the same for
one evaluation batch
(scores of 256 samples), and **ms / step**, a training step with the optimizer (median of ``--steps``). The
optimizer is left out of the counts (CPU Adam reads each parameter's step count; fused CUDA Adam does not).

``compile``: what ``compile=true`` does to each model's training step, at the sizes of ``overhead``: a few steps
(forward, backward, Adam) run eagerly and then through the trainer's
:class:`~graphsbr.train.trainer.CompiledObjective`, from the same weights, optimizer state, seed and batches:
compiled or fell back (and why), the largest loss and gradient differences, dynamo's graphs, recompiles and graph
breaks, and ms / step each way after the warm-up. CPU-heavy (a C++ compiler builds the kernels).

``widths``: each transformer model's training step and evaluation with the batch as one group and in width groups
(:func:`graphsbr.nn.by_width`). Both ways run in one process and alternate (``--rounds`` times, ``--steps``
training steps and ``--eval-batches`` test batches each), so that a change in the machine's load touches both
alike; the table gives the median seconds per step and per evaluation batch, and the ratio. The outputs are the
same either way (``tests/models/test_width_groups.py``).

``memory``: peak memory and seconds of full-ranking evaluation over a large synthetic catalogue: the synthetic
dataset with about ``--num-items`` items, an untrained model (evaluation cost does not depend on the weights), the
test split evaluated once by the trainer's evaluator, whose batches hold at most ``SCORE_ELEMENTS`` scores; the
process's resident memory before and its peak during the evaluation.

``asif-savings``: what ASIF's exact savings save, at batch 2,048 on one thread (their equality tests are in
``tests/models/test_asif.py``). ``--parts`` runs, in one process on the same batches and weights, RSA alone
(eq. 7–9, forward and backward) on the whole padded batch and by width group, then the loss and backward of a step
with each saving off and on (``alignment_terms`` on the whole batch and ``encode(readout=False)`` are the old
computations), with the position stream shared and per sequence; the ways alternate from batch to batch.
``--step`` times whole training steps (loss, backward, Adam) of the code imported (``PYTHONPATH``), for
before/after comparisons across processes. CPU seconds, medians over the batches after the first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from graphsbr.bench import (
    command_line,
    cpu_seconds,
    describe_machine,
    markdown_table,
    ops_and_syncs,
    peak_resident_mb,
    reset_peak_resident,
    resident_mb,
    seconds,
    synchronize,
    write_report,
)
from graphsbr.train.config import parse_assignments

SCRIPT = "benchmarks/speed.py"
RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("pop", "gru4rec", "srgnn", "sasrec", "core", "nova", "difsr", "a2dmtl", "scorenet", "comif", "asif", "srim")
TRANSFORMERS = ("sasrec", "core", "nova", "difsr", "scorenet", "comif", "asif")
DATASETS = ("synthetic", "diginetica", "tmall", "beauty")
FAMILIES = {"recurrent and graph": ("gru4rec", "srgnn", "a2dmtl", "srim"), "transformer": TRANSFORMERS}
ITEM_SIZES = (2_000, 20_000, 100_000, 400_000)
LENGTHS = (5, 20, 50)
#: ``overhead``: tiny sizes per setting name, where a model has the setting, and the tiny synthetic set
TINY = {"dim": 8, "hidden": 8, "attribute_dim": 8, "num_heads": 2, "inner_dim": 16, "num_bases": 4}
TINY_DATA = {"data.num_items": 300, "data.num_sessions": 2000}


# ---------------------------------------------------------------------------------------------- table and scaling
def scaling_settings(kind: str, value: int) -> dict:
    """Dataset options of one scaling point (``kind`` is ``items`` or ``length``)."""
    if kind == "items":
        return {"data.num_items": value, "data.num_sessions": max(20_000, 2 * value), "data.min_item_count": 1}
    return {"data.num_items": 20_000, "data.num_sessions": 20_000, "data.min_item_count": 1,
            "data.session_length": value, "max_len": value}


def measure(model: str, dataset: str, root, settings: dict, args) -> dict:
    """Times one model on one dataset in this process (see the module docstring, ``table``)."""
    from graphsbr.errors import ConfigError, DataError
    from graphsbr.models.base import count_parameters, targets_of
    from graphsbr.train.metrics import RankingMetrics
    from graphsbr.train.run import build_trainer, get_model_class
    from graphsbr.train.trainer import refresh_memory

    if not hasattr(get_model_class(model).Config, "max_len"):  # a scaling length applies where there is one
        settings = {k: v for k, v in settings.items() if k != "max_len"}
    device = args.device
    cell = {"model": model, "dataset": dataset, **{k: v for k, v in settings.items() if k.startswith("data.")}}
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak_resident()
    try:
        trainer = build_trainer(model, dataset, root, {"progress": "false", "threads": args.threads,
                                                        "device": device, "epoch_steps": args.warmup, **settings})
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
        synchronize(device)
        trainer.config.epoch_steps = args.steps
        refresh = 0.0  # an epoch starts with the memory refresh; a real one amortises it over its steps
        if trainer.model.uses_memory:
            refresh = seconds(lambda: refresh_memory(trainer.model, data, trainer.config.eval_batch_size,
                                                     trainer.device), device)
        start = time.perf_counter()
        _, samples = trainer._train_epoch()
        synchronize(device)
        spent = time.perf_counter() - start - refresh
        steps_per_pass = len(trainer._train_loader())
        cell.update(step_s=round(spent / args.steps, 4), train_samples_s=round(samples / spent, 1),
                    epoch_s=round(steps_per_pass * spent / args.steps + refresh, 1), steps_per_epoch=steps_per_pass)
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
    synchronize(device)
    spent = time.perf_counter() - start
    cell.update(eval_s=round(spent * data.test.num_samples / evaluated, 2),
                eval_extrapolated=evaluated < data.test.num_samples,
                eval_samples_s=round(evaluated / spent, 1))
    cell["peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
                            else peak_resident_mb(), 1)
    return cell


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


def run_cells(cells: list, args) -> list[dict]:
    """Runs the cells in child processes: one each on CPU, one per dataset (all its cells in turn) on CUDA."""
    groups: dict = {}
    for cell in cells:
        key = (cell[1], json.dumps({k: v for k, v in cell[2].items() if k.startswith("data.")}, sort_keys=True)) \
            if args.device.startswith("cuda") else len(groups)
        groups.setdefault(key, []).append(cell)
    results = []
    for group in groups.values():
        command = [sys.executable, __file__, "worker", "--cells", json.dumps(group), "--device", args.device,
                   "--threads", str(args.threads), "--warmup", str(args.warmup), "--steps", str(args.steps),
                   "--eval-samples", str(args.eval_samples)] + (["--root", args.root] if args.root else [])
        try:
            process = subprocess.run(command, capture_output=True, text=True, check=False, env=child_env(),
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


def child_env() -> dict:
    """The environment of a child process, with this checkout importable (an uninstalled checkout works too)."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def cell_table(cells: list[dict], columns: tuple[str, ...]) -> list[str]:
    heads = {"dataset": "dataset", "num_items": "items", "data.session_length": "length", "model": "model",
             "train_samples_s": "train samples/s", "epoch_s": "epoch s", "eval_s": "test eval s",
             "peak_mb": "peak MB", "parameters": "parameters", "batch_size": "batch"}
    rows = []
    for cell in cells:
        if "error" in cell:
            rows.append([cell["dataset"], cell["model"], f"n/a: {cell['error']}"])
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
        rows.append(values)
    return markdown_table([heads[c] for c in columns], rows)


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


def cells_report(args, argv: list[str]) -> None:
    """``table`` and ``scaling``: measure the cells, write ``OUT.md`` and ``OUT.json`` (and the scaling PNGs)."""
    scaling = args.mode == "scaling"
    device = args.device.split(":")[0]
    out = Path(args.out or RESULTS / f"{args.mode if scaling else 'speed'}-{device}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if scaling:
        points = [("items", n) for n in args.items] + [("length", n) for n in args.lengths]
        cells = [[m, "synthetic", scaling_settings(kind, value)] for kind, value in points for m in args.models]
        kinds = [kind for kind, _ in points for _ in args.models]
    else:
        cells = [[m, d, {}] for d in args.datasets for m in args.models]
    start = time.perf_counter()
    results = run_cells(cells, args)
    if scaling:
        for cell, kind in zip(results, kinds):
            cell["kind"] = kind
    command = f"`{command_line(SCRIPT, argv)}` ({time.perf_counter() - start:.0f} s)"
    note = args.note
    if args.merge:
        results, command, note = merged(Path(f"{out}.json"), results, command, note)
    machine = describe_machine(args.device, threads=args.threads)
    header = [f"# {'Scaling' if scaling else 'Speed'} on {device}: {machine}", "",
              f"{command}. {args.warmup} warm-up and {args.steps} timed "
              "training steps per cell; epoch s extrapolates a full pass from them; `*`: test evaluation "
              f"extrapolated from {args.eval_samples} samples; peak MB: "
              + ("torch's peak allocated CUDA memory." if device == "cuda" else "the process's peak RSS (dataset "
                                                                              "included)."), ""]
    header += [note, ""] if note else []
    columns = ("dataset", "model", "train_samples_s", "epoch_s", "eval_s", "peak_mb", "parameters", "batch_size")
    if scaling:
        body = ["## Catalogue size (generator lengths)", ""]
        body += cell_table([c for c in results if c["kind"] == "items"], ("num_items",) + columns[1:])
        body += ["", "## Session length (20k items)", ""]
        body += cell_table([c for c in results if c["kind"] == "length"],
                           ("data.session_length", "num_items") + columns[1:])
        body += ["", *[f"![{name}]({name})" for name in plot(results, out)]]
    else:
        body = cell_table(results, columns)
    text = "\n".join(header + body)
    write_report(out, text, {"device": device, "machine": machine, "command": command, "note": note,
                             "cells": results})
    print(text)


def step(args) -> None:
    """``step``: one cell in this process, printed as JSON with the package it imported."""
    import graphsbr

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    cell = measure(args.model, args.dataset, args.root, parse_assignments(args.settings), args)
    print(json.dumps({"package": graphsbr.__file__, "threads": args.threads, **cell}))


def eval_parts(args) -> None:
    """``eval-parts``: the test evaluation of one model on one dataset and its parts, printed as JSON."""
    from graphsbr.train.metrics import target_ranks
    from graphsbr.train.run import build_trainer

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    settings = {"threads": args.threads, "progress": "false", **parse_assignments(args.settings)}
    trainer = build_trainer(args.model, args.dataset, args.root, settings)
    model, size = trainer.model, trainer.eval_batch_size()
    trainer.evaluate("test")  # warm-up (and A²D-MTL's memory)
    parts = {"evaluate": [], "collate": [], "scores": [], "ranks": [], "floor_product": [], "floor_ranks": []}
    dim = getattr(model.config, "dim", 64)
    with torch.no_grad():
        for _ in range(args.rounds):
            start = time.perf_counter()
            trainer.evaluate("test")
            parts["evaluate"].append(time.perf_counter() - start)
            start = time.perf_counter()
            batches = list(trainer.loader("test", batch_size=size))
            parts["collate"].append(time.perf_counter() - start)
            scores_s = ranks_s = product_s = floor_ranks_s = 0.0
            for batch in batches:
                start = time.perf_counter()
                scores = model(batch)
                scores_s += time.perf_counter() - start
                start = time.perf_counter()
                target_ranks(scores.float(), batch.targets)
                ranks_s += time.perf_counter() - start
                query, table = torch.randn(scores.size(0), dim), torch.randn(scores.size(1), dim)
                start = time.perf_counter()
                random_scores = query @ table.T
                product_s += time.perf_counter() - start
                start = time.perf_counter()
                target_ranks(random_scores, batch.targets)
                floor_ranks_s += time.perf_counter() - start
            for key, value in zip(("scores", "ranks", "floor_product", "floor_ranks"),
                                  (scores_s, ranks_s, product_s, floor_ranks_s)):
                parts[key].append(value)
    print(json.dumps({"model": args.model, "dataset": args.dataset, "threads": args.threads,
                      "samples": trainer.dataset.test.num_samples, "batch_size": size, "dim": dim,
                      "seconds": {k: round(statistics.median(v), 3) for k, v in parts.items()},
                      "rounds": {k: [round(x, 3) for x in v] for k, v in parts.items()}}))


# ------------------------------------------------------------------------------------------------------ overhead
def measure_overhead(model_name: str, steps: int) -> dict:
    """Ops and host syncs of a training step and an evaluation batch of one model at tiny sizes."""
    from graphsbr.train.run import build_trainer, get_model_class
    from graphsbr.train.trainer import refresh_memory

    fields = set(get_model_class(model_name).Config.__dataclass_fields__)
    settings = {**TINY_DATA, **{k: v for k, v in TINY.items() if k in fields}, "progress": "false", "threads": 1}
    trainer = build_trainer(model_name, "synthetic", None, settings)
    model = trainer.model
    row = {"model": model_name, "mode": trainer.training_mode}
    if trainer.optimizer is None:  # nothing to train (Pop)
        row.update({"ops_step": 0, "syncs_step": 0, "host_reads_step": 0, "ms_step": 0.0})
    else:
        refresh_memory(model, trainer.dataset, 512, trainer.device)
        model.train()
        loader = trainer._train_loader()
        loader.shuffle_seed = 0
        batches = list(loader.batches(0, steps + 3))

        def forward_backward(batch):
            loss, _ = trainer.objective(batch)
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()

        def optimizer_step(batch):
            forward_backward(batch)
            trainer.optimizer.step()

        for batch in batches[:2]:
            optimizer_step(batch)
        row["ops_step"], row["syncs_step"], row["host_reads_step"] = ops_and_syncs(
            lambda: forward_backward(batches[2]))
        times = [seconds(lambda b=batch: optimizer_step(b)) for batch in batches[3:]]
        row["ms_step"] = round(1000 * statistics.median(times), 2)
    refresh_memory(model, trainer.dataset, 512, trainer.device)
    model.eval()
    batch = next(iter(trainer.loader("test", batch_size=256)))
    with torch.no_grad():
        model(batch)
        row["ops_eval"], row["syncs_eval"], row["host_reads_eval"] = ops_and_syncs(lambda: model(batch))
    return row


def overhead(args, argv: list[str]) -> None:
    torch.set_num_threads(1)
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        rows.append(measure_overhead(name, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    lines = ["# Step overhead on the CPU (the proxies of a launch-bound GPU step)", "",
             f"`{command_line(SCRIPT, argv)}` — synthetic set, 300 items, d = 8, one thread. "
             "Ops and syncs are counted in forward + backward (see the script's docstring).", ""]
    lines += [args.note, ""] if args.note else []
    lines += markdown_table(
        ["model", "training mode", "ops / step", "syncs / step", "host reads / step", "ops / eval batch",
         "syncs / eval batch", "host reads / eval batch", "ms / step"],
        [[r["model"], r["mode"], f"{r['ops_step']:,}", r["syncs_step"], r["host_reads_step"], f"{r['ops_eval']:,}",
          r["syncs_eval"], r["host_reads_eval"], f"{r['ms_step']:.2f}"] for r in rows], align="llrrrrrrr")
    out = args.out or RESULTS / "overhead-cpu"
    md, js = write_report(out, "\n".join(lines), rows)
    print(f"wrote {js} and {md}")


# ------------------------------------------------------------------------------------------------------- compile
def compile_steps(trainer, objective, batches, weights, optimizer_state) -> tuple[list, list, list]:
    """Losses, gradients and seconds of training steps from the same weights, optimizer state and seed."""
    from graphsbr.train.trainer import refresh_memory

    trainer.model.load_state_dict(weights)
    trainer.optimizer.load_state_dict(optimizer_state)
    refresh_memory(trainer.model, trainer.dataset, 512, trainer.device)
    trainer.model.train()
    torch.manual_seed(0)
    losses, grads, times = [], [], []
    for batch in batches:
        start = time.perf_counter()
        loss, _ = objective(batch)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        times.append(time.perf_counter() - start)
        losses.append(loss.detach())
        grads.append({name: torch.zeros_like(p) if p.grad is None else p.grad.clone()  # None: unused this step
                      for name, p in trainer.model.named_parameters() if p.requires_grad})
    return losses, grads, times


def measure_compile(model_name: str, steps: int, warmup: int) -> dict:
    """Eager and compiled training steps of one model at tiny sizes, from the same weights and batches."""
    import copy

    from torch._dynamo.utils import counters, guard_failures

    from graphsbr.train.run import build_trainer, get_model_class
    from graphsbr.train.trainer import CompiledObjective

    fields = set(get_model_class(model_name).Config.__dataclass_fields__)
    settings = {**TINY_DATA, **{k: v for k, v in TINY.items() if k in fields}, "progress": "false", "threads": 1}
    trainer = build_trainer(model_name, "synthetic", None, settings)
    row = {"model": model_name, "mode": trainer.training_mode}
    if trainer.optimizer is None:  # nothing to train (Pop)
        return {**row, "status": "nothing to train"}
    loader = trainer._train_loader()
    loader.shuffle_seed = 0
    batches = list(loader.batches(0, warmup + steps))
    weights = copy.deepcopy(trainer.model.state_dict())
    optimizer_state = copy.deepcopy(trainer.optimizer.state_dict())
    eager = compile_steps(trainer, trainer.objective_module, batches, weights, optimizer_state)
    torch._dynamo.reset()  # clears guard_failures
    counters.clear()
    objective = CompiledObjective(trainer.objective_module, model_name)
    start = time.perf_counter()
    compiled = compile_steps(trainer, objective, batches, weights, optimizer_state)
    loss_diff = max(float((a - b).abs()) for a, b in zip(eager[0], compiled[0]))
    grad_diff = max(float((ga[name] - gb[name]).abs().max()) for ga, gb in zip(eager[1], compiled[1]) for name in ga)
    # relative to the eager gradient's largest entry, step by step: at d = 8 a row that dropout zeroes entirely meets
    # the layer norms' epsilon of 1e-12, and a step's gradients can reach 1e19-1e32 in eager mode already
    grad_rel = max(max(float((ga[name] - gb[name]).abs().max()) for name in ga)
                   / max(max(float(g.abs().max()) for g in ga.values()), 1e-30)
                   for ga, gb in zip(eager[1], compiled[1]))
    row.update(status="fell back" if objective.failure else "compiled", failure=objective.failure or "",
               seconds_total=round(time.perf_counter() - start, 1), max_loss_diff=loss_diff, max_grad_diff=grad_diff,
               max_grad_rel_diff=grad_rel, max_eager_grad=max(float(g.abs().max()) for step in eager[1]
                                                              for g in step.values()),
               graphs=counters["stats"]["unique_graphs"], recompiles=sum(map(len, guard_failures.values())),
               graph_breaks=sum(counters["graph_break"].values()),
               ms_eager=round(1000 * statistics.median(eager[2][warmup:]), 2),
               ms_compiled=round(1000 * statistics.median(compiled[2][warmup:]), 2))
    return row


def compile_row(name: str, args) -> dict:
    torch.manual_seed(0)
    try:
        row = measure_compile(name, args.steps, args.warmup)
    except Exception as error:  # noqa: BLE001 - one failing model must not hide the others' rows
        row = {"model": name, "status": "error", "failure": f"{type(error).__name__}: {error}"[:300]}
    print(json.dumps(row), flush=True)
    return row


def compile_report(args, argv: list[str]) -> None:
    torch.set_num_threads(args.threads)
    torch._inductor.config.compile_threads = args.threads
    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:  # compile s: nothing from an earlier run's cache
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        rows = [compile_row(name, args) for name in args.models]
    command, note, out = f"`{command_line(SCRIPT, argv)}`", args.note, Path(args.out or RESULTS / "compile-cpu")
    if args.merge:  # the earlier rows of the models not measured again, in the order of MODELS
        earlier = json.loads(Path(f"{out}.json").read_text())
        again = {row["model"] for row in rows}
        rows = [*[row for row in earlier["rows"] if row["model"] not in again], *rows]
        rows.sort(key=lambda row: MODELS.index(row["model"]) if row["model"] in MODELS else len(MODELS))
        command = f"{earlier['command']}; remeasured: {command}"
        note = " ".join(filter(None, [earlier.get("note", ""), note]))
    write_compile_report(rows, command, note, out, args)


def write_compile_report(rows: list[dict], command: str, note: str, out: Path, args) -> None:
    lines = ["# `compile=true` on the CPU: compiled training steps against eager ones", "",
             f"{command} — {describe_machine('cpu', threads=args.threads)}; synthetic set, "
             f"300 items, d = 8. Per model, {args.warmup} warm-up and {args.steps} timed steps (forward, backward, "
             "Adam) run eagerly, then compiled (the trainer's `CompiledObjective`), from the same weights, optimizer "
             "state, seed and batches. Loss and gradient differences are the largest over all the steps (the relative "
             "one divides each step's difference by that step's largest eager gradient); graphs, "
             "recompiles and graph breaks are dynamo's counts over the compiled run; ms / step are medians after "
             "the warm-up; compile s is the compiled run's wall time, compilation included (an empty cache).",
             ""]
    lines += [note, ""] if note else []

    def cells(r):
        if r["status"] in ("error", "nothing to train"):
            return [r["model"], r["status"], r.get("failure", "")] + [""] * 10
        relative = f"{r['max_grad_rel_diff']:.1e}" if "max_grad_rel_diff" in r else ""
        largest = f"{r['max_eager_grad']:.1e}" if "max_eager_grad" in r else ""
        return [r["model"], r["status"], r["failure"], f"{r['max_loss_diff']:.1e}", f"{r['max_grad_diff']:.1e}",
                relative, largest,
                r["graphs"], r["recompiles"], r["graph_breaks"], f"{r['ms_eager']:.1f}", f"{r['ms_compiled']:.1f}",
                f"{r['seconds_total']:.0f}"]

    lines += markdown_table(["model", "compiled?", "why not", "max loss diff", "max grad diff",
                             "max grad diff / largest eager grad", "largest eager grad", "graphs", "recompiles",
                             "graph breaks", "ms / step, eager", "ms / step, compiled", "compile s"],
                            [cells(r) for r in rows], align="llllrrrrrrrrr")
    md, js = write_report(out, "\n".join(lines), {"command": command, "note": note, "rows": rows})
    print(f"wrote {js} and {md}")


# -------------------------------------------------------------------------------------------------- width groups
def measure_widths(model: str, dataset: str, args) -> dict:
    """Median seconds of a training step and an evaluation batch, the batch as one group and in width groups."""
    from graphsbr.errors import ConfigError, DataError
    from graphsbr.nn import packing
    from graphsbr.train.run import build_trainer

    try:
        trainer = build_trainer(model, dataset, args.root, {"progress": "false", "threads": args.threads,
                                                            "device": args.device, "epoch_steps": args.steps})
    except (ConfigError, DataError) as error:
        return {"model": model, "dataset": dataset, "error": str(error).splitlines()[0][:120]}
    test = list(trainer.loader("test", batch_size=trainer.eval_batch_size()).batches(0, args.eval_batches))
    edges = {"whole": (), "groups": packing.WIDTH_EDGES}
    times = {f"{kind}_{way}": [] for kind in ("step", "eval") for way in edges}

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
            times[f"step_{way}"].append(seconds(trainer._train_epoch, trainer.device) / args.steps)
            times[f"eval_{way}"].append(seconds(evaluate, trainer.device) / len(test))
    packing.WIDTH_EDGES = edges["groups"]
    cell = {"model": model, "dataset": dataset, "training_mode": trainer.training_mode,
            "batch_size": trainer.config.batch_size, **{k: round(statistics.median(v), 4) for k, v in times.items()}}
    cell["step_speedup"] = round(cell["step_whole"] / cell["step_groups"], 2)
    cell["eval_speedup"] = round(cell["eval_whole"] / cell["eval_groups"], 2)
    return cell


def widths(args, argv: list[str]) -> None:
    torch.set_num_threads(args.threads)
    cells = []
    for dataset in args.datasets:
        for model in args.models:
            cells.append(measure_widths(model, dataset, args))
            print(json.dumps(cells[-1]), flush=True)
    command = command_line(SCRIPT, argv)
    lines = [f"# Width groups on {args.device}: {describe_machine(args.device)}", "", f"`{command}`", ""]
    lines += [args.note, ""] if args.note else []
    lines += [("Median seconds per training step and per test batch with the batch as one group (whole) and in "
               f"width groups, over {args.rounds} alternating rounds of {args.steps} steps and {args.eval_batches} "
               "batches."), ""]
    rows = []
    for c in cells:
        if "error" in c:
            rows.append([c["dataset"], c["model"], f"n/a: {c['error']}"])
            continue
        rows.append([c["dataset"], c["model"], c["training_mode"], f"{c['batch_size']:,}", f"{c['step_whole']:.3f}",
                     f"{c['step_groups']:.3f}", f"{c['step_speedup']:.2f}×", f"{c['eval_whole']:.3f}",
                     f"{c['eval_groups']:.3f}", f"{c['eval_speedup']:.2f}×"])
    lines += markdown_table(["dataset", "model", "mode", "batch", "step s, whole", "step s, groups", "speed-up",
                             "eval s, whole", "eval s, groups", "speed-up"], rows)
    text = "\n".join(lines)
    write_report(args.out or RESULTS / f"width-groups-{args.device.split(':')[0]}", text,
                 {"command": command, "cells": cells})
    print(text)


# -------------------------------------------------------------------------------------------- evaluation memory
def evaluation_memory(args) -> None:
    """``memory``: peak resident memory and seconds of one full-ranking evaluation over a large catalogue."""
    from graphsbr import load_dataset
    from graphsbr.data.dataset import SessionSplit
    from graphsbr.models import MODELS as MODEL_CLASSES
    from graphsbr.train import TrainConfig, Trainer
    from graphsbr.train.config import model_config

    torch.set_num_threads(args.threads)
    dataset = load_dataset("synthetic", num_items=args.num_items, num_sessions=args.num_sessions,
                           min_item_count=args.min_item_count, cache=False)
    if args.test_samples:
        test = dataset.test
        dataset.test = SessionSplit(test.ptr, test.items, test.samples[: args.test_samples], test.timestamps,
                                    test.fields)
    cls = MODEL_CLASSES[args.model]
    torch.manual_seed(0)
    model = cls.from_dataset(dataset, model_config(cls, {"dim": args.dim}))
    trainer = Trainer(model, dataset, TrainConfig(progress=False))
    before = resident_mb()
    reset_peak_resident()
    metrics = {}
    spent = seconds(lambda: metrics.update(trainer.evaluate("test")))
    print(json.dumps({"num_items": dataset.num_items, "test_samples": dataset.test.num_samples,
                      "model": args.model, "dim": args.dim, "eval_batch_size": trainer.eval_batch_size(),
                      "seconds": round(spent, 1), "rss_before_mb": round(before),
                      "peak_rss_during_mb": round(peak_resident_mb()),
                      "scores_one_batch_mb": round(trainer.eval_batch_size() * (dataset.num_items + 1) * 4 / 2**20),
                      "hr@20": round(metrics["hr@20"], 5)}))


# -------------------------------------------------------------------------------------------------- ASIF savings
def asif_parts(batches, model, asif) -> dict:
    """CPU seconds of each saving off and on, the ways alternating over the same batches."""
    from graphsbr.models.base import cross_entropy, gather_last

    def whole_rsa(x, a, mask, tau):
        return -asif.alignment_terms(mask, x, a, tau).sum(1).mean() / 2

    def loss_backward(batch, rsa, readout, shared):
        model.config.shared_position_dropout = shared
        model.zero_grad()
        table = model.item_encoder()
        x, a, aligned = model.embed(batch, table)
        states = model.encode(batch, x, a, readout=readout)
        states = states if readout else gather_last(states, batch.lengths)
        loss = cross_entropy(states @ table.T, batch.targets) + model.config.contrastive_weight * rsa(
            x, a, aligned, model.temperature)
        loss.backward()

    def rsa_alone(batch, rsa):
        with torch.no_grad():
            x, a, aligned = model.embed(batch, model.item_encoder())
        x, a = x.requires_grad_(), a.requires_grad_()
        rsa(x, a, aligned, model.temperature.detach()).backward()

    ways = {"RSA alone, whole batch": lambda b: rsa_alone(b, whole_rsa),
            "RSA alone, by width": lambda b: rsa_alone(b, asif.alignment_loss),
            "step, both savings off": lambda b: loss_backward(b, whole_rsa, False, True),
            "step, RSA by width": lambda b: loss_backward(b, asif.alignment_loss, False, True),
            "step, RSA by width + read-out": lambda b: loss_backward(b, asif.alignment_loss, True, True),
            "step, both + positions per sequence": lambda b: loss_backward(b, asif.alignment_loss, True, False)}
    names, times = list(ways), {name: [] for name in ways}
    for i, batch in enumerate(batches):
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(cpu_seconds(lambda: ways[name](batch)))
    return {name: round(statistics.median(t[1:]), 3) for name, t in times.items()}


def asif_steps(batches, model) -> dict:
    """CPU seconds of whole training steps (loss, backward, Adam)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step(batch):
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    times = [cpu_seconds(lambda b=batch: train_step(b)) for batch in batches]
    median = statistics.median(times[1:])
    return {"step_s": round(median, 3), "samples_per_s": round(batches[0].items.size(0) / median, 1)}


def asif_savings(args) -> None:
    import graphsbr
    from graphsbr.data.collate import collate_sequences
    from graphsbr.models import asif
    from graphsbr.models.base import make_config

    torch.set_num_threads(1)
    dataset = graphsbr.load_dataset(args.dataset, args.root, cache=False)
    settings = {"side_fields": "attribute", **parse_assignments(args.settings)}
    torch.manual_seed(0)
    model = asif.ASIF.from_dataset(dataset, make_config(asif.ASIFConfig, settings)).train()
    order = torch.randperm(dataset.train.num_samples, generator=torch.Generator().manual_seed(0))
    size = args.batch_size
    batches = [collate_sequences(dataset.train, dataset.train.samples[order[i * size:(i + 1) * size]], 50,
                                 dataset.side) for i in range(args.batches)]
    result = {"batch_size": size, "settings": settings}
    if args.parts:
        result["parts_cpu_s"] = asif_parts(batches, model, asif)
    if args.step:
        result.update(asif_steps(batches, model))
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="\n".join(__doc__.splitlines()[2:]))
    modes = main.add_subparsers(dest="mode", required=True,
                                metavar="{table,scaling,step,eval-parts,overhead,compile,widths,memory,"
                                        "asif-savings}")
    cell = argparse.ArgumentParser(add_help=False)  # what a measured cell takes
    cell.add_argument("--device", default="cpu")
    cell.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    cell.add_argument("--threads", type=int, default=2)
    cell.add_argument("--warmup", type=int, default=3, help="training steps before the timed ones")
    cell.add_argument("--steps", type=int, default=10, help="timed training steps")
    cell.add_argument("--eval-samples", type=int, default=0, help="cap on evaluated test samples (0: all)")
    report = argparse.ArgumentParser(add_help=False)  # what a written report takes
    report.add_argument("--note", default="", help="a paragraph under the header (the conditions of the run)")
    report.add_argument("--out", default=None, help="output prefix: writes OUT.md and OUT.json")
    cells = argparse.ArgumentParser(add_help=False, parents=[cell, report])
    cells.add_argument("--models", nargs="+", default=list(MODELS))
    cells.add_argument("--cell-timeout", type=int, default=900, help="seconds before a cell's process is killed")
    cells.add_argument("--merge", action="store_true",
                       help="replace the measured cells in the existing OUT.json (a partial rerun) and redraw")

    table = modes.add_parser("table", parents=[cells], help="every model on every dataset "
                                                           "(default OUT: benchmarks/results/speed-DEVICE)")
    table.add_argument("--datasets", nargs="+", default=list(DATASETS))
    scaling = modes.add_parser("scaling", parents=[cells],
                               help="the synthetic set at several catalogue sizes and session lengths "
                                    "(default OUT: benchmarks/results/scaling-DEVICE)")
    scaling.add_argument("--items", type=int, nargs="*", default=list(ITEM_SIZES))
    scaling.add_argument("--lengths", type=int, nargs="*", default=list(LENGTHS))
    one = modes.add_parser("step", parents=[cell], help="one model on one dataset in this process, printed as JSON")
    one.add_argument("--model", required=True)
    one.add_argument("--dataset", default="synthetic")
    one.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    parts = modes.add_parser("eval-parts", help="one model's test evaluation and its parts, printed as JSON")
    parts.add_argument("--model", required=True)
    parts.add_argument("--dataset", default="synthetic")
    parts.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    parts.add_argument("--threads", type=int, default=2)
    parts.add_argument("--rounds", type=int, default=3)
    parts.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    ops = modes.add_parser("overhead", parents=[report], help="ops and host syncs per step "
                                                             "(default OUT: benchmarks/results/overhead-cpu)")
    ops.add_argument("--models", nargs="+", default=list(MODELS))
    ops.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    compiled = modes.add_parser("compile", parents=[report], help="compiled training steps against eager ones "
                                                                  "(default OUT: benchmarks/results/compile-cpu)")
    compiled.add_argument("--models", nargs="+", default=list(MODELS))
    compiled.add_argument("--warmup", type=int, default=3, help="steps before the timed ones")
    compiled.add_argument("--steps", type=int, default=5, help="timed steps per model and way")
    compiled.add_argument("--threads", type=int, default=1)
    compiled.add_argument("--merge", action="store_true",
                          help="keep the earlier rows of OUT.json of the models not measured again")
    groups = modes.add_parser("widths", parents=[report], help="width groups against one group "
                                                              "(default OUT: benchmarks/results/width-groups-DEVICE)")
    groups.add_argument("--root", default=None, help="folder of the real datasets (../shared/data)")
    groups.add_argument("--datasets", nargs="+", default=["beauty"])
    groups.add_argument("--models", nargs="+", default=list(TRANSFORMERS))
    groups.add_argument("--device", default="cpu")
    groups.add_argument("--threads", type=int, default=1)
    groups.add_argument("--steps", type=int, default=3, help="training steps per timing")
    groups.add_argument("--eval-batches", type=int, default=3)
    groups.add_argument("--rounds", type=int, default=3)
    memory = modes.add_parser("memory", help="peak memory of evaluation over a large synthetic catalogue")
    memory.add_argument("--num-items", type=int, default=400_000)
    memory.add_argument("--num-sessions", type=int, default=400_000)
    memory.add_argument("--min-item-count", type=int, default=1,
                        help="the protocol's item filter (1 keeps every item, so the catalogue is --num-items)")
    memory.add_argument("--test-samples", type=int, default=20_000,
                        help="evaluate the first this many test samples (memory is per batch; 0: all)")
    memory.add_argument("--model", default="gru4rec")
    memory.add_argument("--dim", type=int, default=64)
    memory.add_argument("--threads", type=int, default=1)
    savings = modes.add_parser("asif-savings", help="what ASIF's exact savings save (CPU seconds)")
    savings.add_argument("--root", default="../shared/data")
    savings.add_argument("--dataset", default="beauty")
    savings.add_argument("--parts", action="store_true", help="each saving on and off, in one process")
    savings.add_argument("--step", action="store_true", help="whole training steps of the code imported")
    savings.add_argument("--batch-size", type=int, default=2048)
    savings.add_argument("--batches", type=int, default=5)
    savings.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    hidden = modes.add_parser("worker", parents=[cell])  # a child process of table and scaling
    hidden.add_argument("--cells", default="[]")
    return main


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.mode in ("table", "scaling"):
        cells_report(args, argv)
    elif args.mode == "worker":
        worker(args)
    elif args.mode == "step":
        step(args)
    elif args.mode == "eval-parts":
        eval_parts(args)
    elif args.mode == "overhead":
        overhead(args, argv)
    elif args.mode == "compile":
        compile_report(args, argv)
    elif args.mode == "widths":
        widths(args, argv)
    elif args.mode == "memory":
        evaluation_memory(args)
    else:
        asif_savings(args)


if __name__ == "__main__":
    main()
