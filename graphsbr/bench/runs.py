"""Training runs as child processes of ``python -m graphsbr train``: one run folder per (row, seed), reused when it
has finished and resumed when it has started, so that a killed benchmark continues where it stopped; and the
records of finished runs (their validation history, an earlier report's runs)."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import graphsbr
from graphsbr.train.config import RESUMABLE, parse_assignments

log = logging.getLogger(__name__)

#: the folder that holds the ``graphsbr`` package: child processes import it first, so an uninstalled checkout works
PACKAGE_ROOT = Path(graphsbr.__file__).resolve().parents[1]


def parse_run(text: str) -> tuple[str, str, dict]:
    """``"w/o CATE=a2dmtl:dim=64,use_category=false"`` -> ``("w/o CATE", "a2dmtl", {"dim": "64", ...})``: a
    labelled model with its settings (without ``LABEL=`` the label is the model)."""
    head, _, settings = text.partition(":")
    label, _, model = head.rpartition("=")
    return label or head, model, parse_assignments([s for s in settings.split(",") if s])


def parse_variant(text: str) -> tuple[str | None, str, str, dict]:
    """``"beauty::COMIF w/o UPA=comif:upa_weight=0"`` -> ``("beauty", "COMIF w/o UPA", "comif", {"upa_weight":
    "0"})``: a :func:`parse_run` row on one dataset (``None`` without ``DATASET::``: on every dataset)."""
    dataset, _, run = text.rpartition("::")
    label, model, settings = parse_run(run)
    if not label or not model or label == model:
        raise ValueError(f"variant {text!r}: expected [DATASET::]LABEL=MODEL:key=value,...")
    return dataset or None, label, model, settings


def run_folder(parent: Path, label: str, seed: int) -> Path:
    """``parent/LABEL-seedN``, the label's characters other than letters, digits and ``.+-`` as ``_``."""
    return Path(parent) / f"{re.sub(r'[^A-Za-z0-9.+-]+', '_', label).strip('_')}-seed{seed}"


def stop_reason(results: dict) -> str:
    """Why a finished run stopped: ``"patience"``, ``"epochs"`` (its cap), ``"budget"`` or ``"untrained"``, as the
    trainer recorded it (a run from before it did: counted in epochs, which is right when an epoch is a pass)."""
    if "stopped" in results:
        return results["stopped"]
    train = results["config"]["train"]
    if results["epochs_run"] - results["best_epoch"] >= train["patience"]:
        return "patience"
    return "epochs" if results["epochs_run"] >= train["epochs"] else "budget"


def train_run(run: dict, *, root: str | None = None, budget_minutes: float = 0.0, device: str = "cpu",
              threads: int = 1, settings: dict | None = None, grace: int = 900) -> dict:
    """Trains ``run`` (``model``, ``dataset``, ``seed``, ``folder`` and its own ``settings``) in a child process
    and returns it with its ``results`` (``results.json``), or with the ``error`` that left it without.

    ``settings`` apply to every run (``run["settings"]`` win). A folder with ``results.json`` is reused unless it
    stopped on an epoch cap below the one asked for now, when it is resumed up to the new cap; a folder with
    ``last.pt`` is resumed with the settings its ``config.yaml`` records (those of :data:`RESUMABLE` may change).
    ``budget_minutes`` (0: none) stops the run after the epoch in which it runs out; the child is killed after twice
    the budget plus ``grace`` seconds. Its output goes to ``FOLDER.log`` beside the folder.
    """
    folder = Path(run["folder"])
    results = folder / "results.json"
    settings = {**(settings or {}), **run["settings"]}
    if results.is_file():
        done = json.loads(results.read_text())
        if stop_reason(done) != "epochs" or int(settings.get("epochs", 0)) <= done["epochs_run"]:
            return {**run, "results": done}
    command = [sys.executable, "-m", "graphsbr", "train", "--model", run["model"], "--dataset", run["dataset"],
               "--out", str(folder), "--seed", str(run["seed"]), "--budget-minutes", str(budget_minutes),
               "--device", device, "--quiet", "--set", f"threads={threads}"]
    command += ["--root", root] if root else []
    if (folder / "last.pt").is_file():  # a resumed run keeps the settings its config.yaml records
        command.append("--resume")
        settings = {k: v for k, v in settings.items() if k in RESUMABLE}
    command += [f"--set={k}={v}" for k, v in settings.items()]
    return _run_child(run, command, threads, budget_minutes * 60 * 2 + grace if budget_minutes else None)


def refit_folder(folder) -> Path:
    """Where a run's refit goes: ``FOLDER-refit`` beside it."""
    return Path(folder).parent / f"{Path(folder).name}-refit"


def as_refit(run: dict) -> dict:
    """The refit of ``run`` as a run of its own row: ``LABEL refit``, in :func:`refit_folder`, not yet finished."""
    refit = {**run, "label": f"{run['label']} refit", "folder": refit_folder(run["folder"]), "refit": True}
    refit.pop("results", None)
    refit.pop("error", None)
    return refit


def refit_run(run: dict, *, device: str = "cpu", threads: int = 1) -> dict | None:
    """Refits a finished ``session``-protocol run (``graphsbr refit``: train + valid, its selected length) into
    :func:`refit_folder` in a child process, and returns the refit as a run of its own row (``LABEL refit``); a
    finished refit is reused and a started one resumed. ``None`` for a run under another protocol."""
    if run.get("results", {}).get("protocol") != "session":
        return None
    refit = as_refit(run)
    folder = refit["folder"]
    if (folder / "results.json").is_file():
        return {**refit, "results": json.loads((folder / "results.json").read_text())}
    command = [sys.executable, "-m", "graphsbr", "refit", "--run", str(run["folder"]), "--out", str(folder),
               "--device", device, "--quiet", "--set", f"threads={threads}"]
    command += ["--resume"] if (folder / "last.pt").is_file() else []
    return _run_child(refit, command, threads, None)


def _run_child(run: dict, command: list[str], threads: int, timeout: float | None) -> dict:
    """Runs ``command`` (a ``graphsbr`` command writing ``run["folder"]``), its output into ``FOLDER.log``, and
    returns ``run`` with its ``results``, or with the ``error`` that left it without."""
    folder = Path(run["folder"])
    results = folder / "results.json"
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    logfile = folder.parent / f"{folder.name}.log"
    start = time.perf_counter()
    with open(logfile, "a") as output:
        try:
            code = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=env, check=False,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    log.info("%10s %-24s seed %s: %s in %.0f s", run["dataset"], run["label"], run["seed"],
             "done" if results.is_file() else f"failed ({code})", time.perf_counter() - start)
    if results.is_file():
        return {**run, "results": json.loads(results.read_text())}
    tail = logfile.read_text().strip().splitlines()[-1:] or [str(code)]
    return {**run, "error": tail[0][:200]}


def history(run: dict) -> list[dict]:
    """The run's validation metrics per epoch: from its ``metrics.jsonl``, else as an earlier report kept them."""
    path = Path(run["folder"]) / "metrics.jsonl"
    if path.is_file():
        return [{"epoch": h["epoch"], "valid": h["valid"]} for h in map(json.loads, path.read_text().splitlines())]
    return run.get("history", [])


def include(finished: list[dict], reports: list[str], datasets: list[str]) -> list[dict]:
    """The finished runs of earlier reports' JSON (on ``datasets``) before ``finished``; a finished run of
    ``finished`` takes the place (in the tables' order too) of the same dataset, row and seed of theirs."""
    def key(run):
        return run["dataset"], run["label"], run["seed"]

    fresh = {key(r): r for r in finished if "results" in r}
    kept = [fresh.get(key(r), r) for path in reports for r in json.loads(Path(path).read_text())
            if "results" in r and r["dataset"] in datasets]
    theirs = {key(r) for r in kept}
    return kept + [r for r in finished if key(r) not in theirs]
