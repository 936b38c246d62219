"""Kill a training run with SIGKILL at random moments, resume it, and check that nothing was lost.

    python benchmarks/kill_resume.py --kills 20 --seed 0

A reference run trains to the end undisturbed. Then, ``--kills`` times, a fresh run of the same settings is started
with ``graphsbr train``, killed (SIGKILL: no handler runs, no file is closed) at a moment drawn uniformly over the
reference's duration, and continued with ``graphsbr train --resume`` (or started again where the kill came before
the first checkpoint). Each trial passes when the resumed run's ``results.json`` has the reference's metrics and
best epoch exactly. The table says where each kill landed: the epoch of the last good checkpoint, and whether a
checkpoint write was cut short (a partial ``.*.tmp`` file left beside it). Writes ``benchmarks/results/
kill_resume.json`` and prints a summary.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SETTINGS = ["--model", "gru4rec", "--set", "data.num_items=2000", "--set", "data.num_sessions=6000",
            "--set", "dim=256", "--set", "hidden=256", "--set", "epochs=4", "--set", "threads=1",
            "--set", "batch_size=64", "--quiet"]


def train(out: Path, resume: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-m", "graphsbr", "train", "--out", str(out)]
    command += ["--resume", "--quiet"] if resume else SETTINGS
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def finish(out: Path, resume: bool) -> dict:
    process = train(out, resume)
    _, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"run in {out} failed: {err.strip().splitlines()[-1:]}")
    return json.loads((out / "results.json").read_text())


def checkpoint_epoch(out: Path) -> int | None:
    last = out / "last.pt"
    if not last.exists():
        return None
    return int(torch.load(last, map_location="cpu", weights_only=True)["epoch"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/kill_resume.json")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        reference = finish(scratch / "reference", resume=False)
        duration = time.perf_counter() - start
        keys = ("valid", "test", "best_epoch", "epochs_run")
        trials = []
        for trial in range(args.kills):
            out = scratch / f"trial{trial}"
            delay = rng.uniform(0.0, duration)
            process = train(out, resume=False)
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
            killed = process.returncode == -signal.SIGKILL
            epoch = checkpoint_epoch(out)
            partial = sorted(p.name for p in out.glob(".*.tmp")) if out.exists() else []
            results = finish(out, resume=epoch is not None)
            same = all(results[k] == reference[k] for k in keys)
            trials.append({"trial": trial, "kill_after_s": round(delay, 2), "killed": killed,
                           "checkpoint_epoch": epoch, "write_cut_short": bool(partial), "resumed": epoch is not None,
                           "same_result": same})
            print(f"trial {trial:2d}: kill after {delay:5.1f} s, last good epoch {epoch}, "
                  f"write cut short {bool(partial)}, same result {same}", flush=True)
    summary = {"reference_seconds": round(duration, 1), "reference_test": reference["test"],
               "trials": len(trials), "killed": sum(t["killed"] for t in trials),
               "resumed": sum(t["resumed"] for t in trials),
               "writes_cut_short": sum(t["write_cut_short"] for t in trials),
               "same_result": sum(t["same_result"] for t in trials), "settings": SETTINGS, "details": trials}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("details", "settings", "reference_test")}))
    if summary["same_result"] != len(trials):
        sys.exit(1)


if __name__ == "__main__":
    main()
