"""Data-parallel training under ``torchrun`` (2 gloo processes on the CPU) against one process."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from graphsbr.train.distributed import Group
from graphsbr.train.run import build_trainer, load_run
from graphsbr.train.trainer import BEST, read_checkpoint

pytestmark = pytest.mark.slow  # torchrun processes

#: SASRec in prefix mode without dropout, 3 full batches of 64: two ranks of 32 samples each average to the same
#: gradient as one process with the whole batch, so both must reach the same weights.
SETTINGS = {"epochs": "1", "epoch_steps": "3", "batch_size": "64", "dim": "16", "num_layers": "1",
            "dropout": "0", "attn_dropout": "0", "training": "prefix", "threads": "1", "progress": "false"}


def test_shard_takes_every_world_th_sample():
    values = torch.arange(7)
    assert Group(1, 3).shard(values).tolist() == [1, 4]
    assert Group().shard(values) is values
    assert Group().unshard(values, 7) is values


def torchrun(*args: str) -> str:
    """``graphsbr train ARGS`` in 2 gloo processes; returns what they printed."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "graphsbr", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # torchrun and its workers: nothing is left behind
            stdout, stderr = process.communicate()
            pytest.fail(f"torchrun did not finish in 240 s:\n{stderr[-3000:]}")
    assert process.returncode == 0, stderr[-3000:]
    return stdout


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    sets = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    return out, torchrun("--model", "sasrec", "--dataset", "synthetic", "--out", str(out), *sets)


def test_two_processes_write_one_run_folder(ddp_run):
    out, stdout = ddp_run
    assert stdout.count("run folder:") == 1  # rank 0 alone reports
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        ["best.pt", "config.yaml", "last.pt", "metrics.jsonl", "ranks.pt", "results.json"]
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 1 and history[0]["samples_per_second"] > 0


def test_distributed_metrics_equal_a_single_process_evaluation(ddp_run):
    out, _ = ddp_run
    results = json.loads((out / "results.json").read_text())
    _, _, trainer = load_run(out)  # one process, the same best.pt
    single = trainer.evaluate("test")
    assert results["test"] == pytest.approx(single, rel=1e-9, abs=1e-12)
    assert results["valid"] == pytest.approx(trainer.evaluate("valid"), rel=1e-9, abs=1e-12)
    ranks = []
    trainer.evaluate("test", ranks)  # the two ranks' shares, gathered back into split order
    assert torch.equal(torch.load(out / "ranks.pt", weights_only=True)["test"], torch.cat(ranks).to(torch.int32))


def test_distributed_steps_reach_the_single_process_weights(ddp_run):
    out, _ = ddp_run
    trainer = build_trainer("sasrec", "synthetic", settings=SETTINGS)
    trainer.fit()
    distributed = read_checkpoint(out / BEST)["model"]
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(distributed[name], value, atol=1e-5, rtol=1e-4, msg=name)


def test_a_distributed_run_resumes(ddp_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(ddp_run[0], out)
    torchrun("--out", str(out), "--resume", "--epochs", "2")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]
    assert read_checkpoint(out / "last.pt", keys=("steps",))["steps"] == 6  # 3 more global batches
