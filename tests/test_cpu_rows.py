"""``benchmarks/cpu_rows.sh``, the queue of rows trained on the CPU across sessions, run against a stand-in
``graphsbr`` that records its calls: finished rows are skipped, checkpointed rows resume, the others start anew, a
lane stops at a row that ended unfinished, and a row whose folder another process holds is waited for."""
import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "cpu_rows.sh"

# the stand-in: logs its arguments, writes a checkpoint, and finishes the run unless its folder is named in $UNFINISHED
FAKE = """#!/usr/bin/env bash
out=""; previous=""
for arg in "$@"; do [ "$previous" = --out ] && out=$arg; previous=$arg; done
echo "$*" >> "$CALLS"
mkdir -p "$out" && touch "$out/last.pt" && echo '{"epoch": 1}' >> "$out/metrics.jsonl"
[ "$(basename "$out")" = "${UNFINISHED:-}" ] && exit 1
echo '{"stopped": "patience"}' > "$out/results.json"
"""


def fake_graphsbr(tmp_path, unfinished=""):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "graphsbr").write_text(FAKE)
    (bin_dir / "graphsbr").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
            "UNFINISHED": unfinished}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_queue_skips_finished_rows_resumes_the_rest_and_stops_a_lane_at_an_unfinished_row(tmp_path):
    runs, calls = tmp_path / "runs", tmp_path / "calls"
    env = fake_graphsbr(tmp_path, unfinished="a2dmtl-tmall-wo-cate-cosine")
    (runs / "a2dmtl-tmall-wo-spa").mkdir(parents=True)
    (runs / "a2dmtl-tmall-wo-spa" / "results.json").write_text("{}")  # finished: skipped
    (runs / "asif-beauty").mkdir()
    (runs / "asif-beauty" / "last.pt").touch()  # interrupted: resumed
    (runs / "asif-beauty-wo-rsa").mkdir()  # a folder without checkpoint: started anew
    (runs / "asif-beauty-wo-rsa" / "metrics.jsonl").write_text("stale\n")

    subprocess.run(["bash", str(SCRIPT), str(runs), "DATA"], env=env, check=True, timeout=60)

    made = calls.read_text().splitlines()
    outs = [line.split("--out ")[1].split()[0] for line in made]
    assert sorted(outs) == sorted(str(runs / name) for name in [
        "a2dmtl-diginetica-cosine", "a2dmtl-tmall-wo-adaspa", "a2dmtl-tmall-wo-cate-cosine",  # then lane 1 stops
        "asif-beauty", "srgnn-diginetica", "scorenet-diginetica",
        "asif-beauty-wo-rsa", "asif-beauty-wo-hie", "asif-beauty-wo-up", "asif-beauty-wo-fa"])
    by_out = dict(zip(outs, made))
    assert by_out[str(runs / "asif-beauty")] == f"train --out {runs / 'asif-beauty'} --resume"
    fresh = by_out[str(runs / "asif-beauty-wo-rsa")]
    assert fresh.startswith("train --model asif --dataset beauty ")
    assert "--set rsa=false" in fresh and "--root DATA" in fresh and "--set threads=1" in fresh
    assert "stale" not in (runs / "asif-beauty-wo-rsa" / "metrics.jsonl").read_text()  # the folder was cleared first
    assert "--set adaptive_alpha=false" in by_out[str(runs / "a2dmtl-tmall-wo-adaspa")]
    assert "ended unfinished" in (runs / "lane1.log").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_records_copies_each_row_to_its_folder_and_results_only_once_stopped(tmp_path):
    runs = tmp_path / "runs"
    for name, stopped in [("asif-beauty", True), ("a2dmtl-tmall-wo-adaspa", False)]:
        (runs / name).mkdir(parents=True)
        for file in ["config.yaml", "metrics.jsonl", "last.pt"] + (["results.json", "ranks.pt"] if stopped else []):
            (runs / name / file).write_text(file)
    work = tmp_path / "work"
    work.mkdir()

    subprocess.run(["bash", str(SCRIPT), "--records", str(runs)], env=fake_graphsbr(tmp_path), cwd=work, check=True,
                   timeout=60)

    assert not (tmp_path / "calls").exists()  # nothing trained
    assert sorted(p.name for p in (work / "benchmarks/results/asif/beauty-row").iterdir()) == [
        "config.yaml", "metrics.jsonl", "ranks.pt", "results.json"]
    assert sorted(p.name for p in (work / "benchmarks/results/a2dmtl/tmall-wo-adaspa").iterdir()) == [
        "config.yaml", "metrics.jsonl"]
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_dir()) == [
        "benchmarks", "benchmarks/results", "benchmarks/results/a2dmtl", "benchmarks/results/a2dmtl/tmall-wo-adaspa",
        "benchmarks/results/asif", "benchmarks/results/asif/beauty-row"]


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs util-linux flock")
def test_a_row_held_by_another_process_is_waited_for_not_started_twice(tmp_path):
    runs, calls = tmp_path / "runs", tmp_path / "calls"
    held = runs / "asif-beauty"
    held.mkdir(parents=True)
    (held / "last.pt").touch()
    with open(held / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a trainer holds its run folder
        queue = subprocess.Popen(["bash", str(SCRIPT), str(runs), "DATA"], env=fake_graphsbr(tmp_path))
        time.sleep(1.0)  # the queue reaches the held row and waits on it
        (held / "results.json").write_text("{}")  # the holder finishes the run, then lets go
        fcntl.flock(lock, fcntl.LOCK_UN)
    queue.wait(timeout=60)
    outs = [line.split("--out ")[1].split()[0] for line in calls.read_text().splitlines()]
    assert str(held) not in outs  # finished by its holder: not resumed a second time
    assert str(runs / "srgnn-diginetica") in outs  # and the lane went on
