"""The command line end to end: train, evaluate, recommend, plot, resume after SIGKILL, and bad input."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

pytestmark = pytest.mark.slow  # CLI subprocess runs

SMALL = ["--set", "data.num_items=300", "--set", "data.num_sessions=2500", "--quiet"]


def graphsbr(*args, check=True, timeout=300):
    result = subprocess.run([sys.executable, "-m", "graphsbr", *args], capture_output=True, text=True, check=False,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def one_line_error(result, text):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert text in result.stderr, result.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sasrec"
    printed = graphsbr("train", "--model", "sasrec", "--epochs", "2", "--out", str(out), *SMALL).stdout
    (out / "printed.txt").write_text(printed)
    return out


def test_train_writes_results_and_evaluate_reproduces_them(run):
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "sasrec" and results["epochs_run"] == 2 and results["stopped"] == "epochs"
    assert "of 2 (epoch cap)" in (run / "printed.txt").read_text()
    evaluated = json.loads(graphsbr("evaluate", "--run", str(run), "--json").stdout)
    assert evaluated == pytest.approx(results["test"])


def test_evaluate_ranks_rewrites_the_ranks_of_training(run):
    written = torch.load(run / "ranks.pt", weights_only=True)["test"]
    (run / "ranks.pt").unlink()  # a run made before ranks.pt existed
    graphsbr("evaluate", "--run", str(run), "--ranks", "--json")
    assert torch.equal(torch.load(run / "ranks.pt", weights_only=True)["test"], written)
    one_line_error(graphsbr("evaluate", "--run", str(run), "--ranks", "--split", "valid", check=False),
                   "--ranks writes the test split's ranks")


def test_recommend(run):
    out = json.loads(graphsbr("recommend", "--run", str(run), "--items", "3 5 5 8", "-k", "5", "--json").stdout)
    assert len(out["items"]) == 5 and all(1 <= i <= 300 for i in out["items"])
    assert out["scores"] == sorted(out["scores"], reverse=True)
    one_line_error(graphsbr("recommend", "--run", str(run), "--items", "3 999999", check=False),
                   "unknown item id(s) 999999")
    one_line_error(graphsbr("recommend", "--run", str(run), "--items", "", check=False), "empty")


def test_plot(run, tmp_path):
    graphsbr("plot", "--run", str(run), "--out", str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_exits_with_one_line(tmp_path):
    one_line_error(graphsbr("train", "--model", "sasrec", "--dataset", "diginetica", "--root", str(tmp_path),
                            check=False), "dataset folder not found")
    one_line_error(graphsbr("train", "--model", "nosuch", check=False), "unknown model 'nosuch'")
    result = graphsbr("train", "--model", "sasrec", "--set", "colour=red", "--out", str(tmp_path / "x"), check=False)
    one_line_error(result, "unknown setting 'colour'")
    assert "dim" in result.stderr and "batch_size" in result.stderr
    one_line_error(graphsbr("train", "--model", "sasrec", "--set", "lr=fast", "--out", str(tmp_path / "y"),
                            check=False), "lr: expected float")


def test_models_lists_every_baseline():
    out = graphsbr("models").stdout
    for name in ("pop", "gru4rec", "srgnn", "sasrec", "core", "nova", "difsr"):
        assert name in out


def test_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: gru4rec\nepochs: 1\nhidden: 32\ndata:\n  num_items: 300\n  num_sessions: 2000\n")
    graphsbr("train", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["model"] == "gru4rec" and results["config"]["model_config"]["hidden"] == 32


def test_resume_may_change_how_a_run_proceeds_but_not_what_it_learns(tmp_path):
    run = tmp_path / "run"
    graphsbr("train", "--model", "sasrec", "--epochs", "1", "--out", str(run), *SMALL)
    graphsbr("train", "--out", str(run), "--resume", "--epochs", "2", "--set", "threads=1", "--set", "eval_batch_size=64")
    assert json.loads((run / "results.json").read_text())["epochs_run"] == 2
    assert "threads: 1\n" in (run / "config.yaml").read_text()
    assert "eval_batch_size: 64\n" in (run / "config.yaml").read_text()
    one_line_error(graphsbr("train", "--out", str(run), "--resume", "--set", "lr=0.1", "--set", "dim=8", check=False),
                   "a new dim, lr would change what it learns")
    one_line_error(graphsbr("train", "--out", str(run), "--resume", "--seed", "3", check=False), "a new seed would")
    # repeating what the run records changes nothing (reproduce.py and graphsbr search resume that way)
    lr = json.loads((run / "results.json").read_text())["config"]["train"]["lr"]
    graphsbr("train", "--out", str(run), "--resume", "--epochs", "3", "--seed", "0", "--set", f"lr={lr:g}")
    assert json.loads((run / "results.json").read_text())["epochs_run"] == 3


def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    args = ["train", "--model", "sasrec", "--epochs", "3", *SMALL]
    graphsbr(*args, "--out", str(tmp_path / "full"))
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "graphsbr", *args, "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        metrics = killed / "metrics.jsonl"
        if metrics.is_file() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "results.json").exists(), "the run finished before it could be killed"
    graphsbr("train", "--out", str(killed), "--resume", "--quiet")
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    resumed = json.loads((killed / "results.json").read_text())
    assert resumed["test"] == full["test"] and resumed["valid"] == full["valid"]
    assert resumed["best_epoch"] == full["best_epoch"] and resumed["epochs_run"] == 3
