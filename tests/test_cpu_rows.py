"""``benchmarks/cpu_rows.sh``, the queue of rows trained on the CPU across sessions, run against a stand-in
``graphsbr`` that records its calls: finished rows are skipped, checkpointed rows resume, the others start anew, and
a lane stops at a row that ended unfinished."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "cpu_rows.sh"

# the stand-in: logs its arguments, writes a checkpoint, and finishes the run unless its folder is named in $UNFINISHED
FAKE = """#!/usr/bin/env bash
out=""; previous=""
for arg in "$@"; do [ "$previous" = --out ] && out=$arg; previous=$arg; done
echo "$*" >> "$CALLS"
mkdir -p "$out" && touch "$out/last.pt"
[ "$(basename "$out")" = "${UNFINISHED:-}" ] && exit 1
echo '{"stopped": "patience"}' > "$out/results.json"
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_queue_skips_finished_rows_resumes_the_rest_and_stops_a_lane_at_an_unfinished_row(tmp_path):
    bin_dir, runs, calls = tmp_path / "bin", tmp_path / "runs", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "graphsbr").write_text(FAKE)
    (bin_dir / "graphsbr").chmod(0o755)
    (runs / "a2dmtl-tmall-wo-spa").mkdir(parents=True)
    (runs / "a2dmtl-tmall-wo-spa" / "results.json").write_text("{}")  # finished: skipped
    (runs / "asif-beauty").mkdir()
    (runs / "asif-beauty" / "last.pt").touch()  # interrupted: resumed
    (runs / "asif-beauty-wo-rsa").mkdir()  # a folder without checkpoint: started anew
    (runs / "asif-beauty-wo-rsa" / "metrics.jsonl").write_text("stale\n")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls),
           "UNFINISHED": "a2dmtl-tmall-wo-cate-cosine"}

    subprocess.run(["bash", str(SCRIPT), str(runs), "DATA"], env=env, check=True, timeout=60)

    made = calls.read_text().splitlines()
    outs = [line.split("--out ")[1].split()[0] for line in made]
    assert sorted(outs) == sorted(str(runs / name) for name in [
        "a2dmtl-tmall-wo-adaspa", "a2dmtl-tmall-wo-cate-cosine",  # then that lane stops
        "asif-beauty", "asif-beauty-wo-rsa", "asif-beauty-wo-hie", "asif-beauty-wo-up", "asif-beauty-wo-fa"])
    by_out = dict(zip(outs, made))
    assert by_out[str(runs / "asif-beauty")] == f"train --out {runs / 'asif-beauty'} --resume"
    fresh = by_out[str(runs / "asif-beauty-wo-rsa")]
    assert fresh.startswith("train --model asif --dataset beauty ")
    assert "--set rsa=false" in fresh and "--root DATA" in fresh and "--set threads=1" in fresh
    assert not (runs / "asif-beauty-wo-rsa" / "metrics.jsonl").exists()  # the stale folder was cleared first
    assert "--set adaptive_alpha=false" in by_out[str(runs / "a2dmtl-tmall-wo-adaspa")]
    assert "ended unfinished" in (runs / "lane-a2dmtl.log").read_text()
