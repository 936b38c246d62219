"""``graphsbr evaluate --by repeat``: the metrics of re-clicks and of new items, apart."""
import json

import pytest
import torch

from graphsbr import load_dataset
from graphsbr.cli import main
from graphsbr.train.run import build_trainer

SETTINGS = {"data.num_items": 200, "data.num_sessions": 1500, "hidden": 16, "epochs": 2, "progress": False,
            "threads": 1}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "gru4rec"
    build_trainer("gru4rec", "synthetic", None, SETTINGS, out).fit()
    return out


def by_repeat(run, capsys, *args):
    assert main(["evaluate", "--run", str(run), "--by", "repeat", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("split", ["test", "valid"])
def test_repeat_and_new_targets_split_the_metrics_of_all(finished, capsys, split):
    table = by_repeat(finished, capsys, "--split", split)
    assert main(["evaluate", "--run", str(finished), "--split", split, "--json"]) == 0
    whole = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: v for k, v in table["all"].items() if k != "share"} == pytest.approx(whole)
    data = load_dataset("synthetic", num_items=200, num_sessions=1500)
    share = data.split(split).repeat_targets.float().mean().item()
    assert 0 < share < 1 and table["all"]["share"] == 1.0
    assert table["repeat"]["share"] == pytest.approx(share) and table["new"]["share"] == pytest.approx(1 - share)
    for name, value in table["all"].items():  # all is the share-weighted mean of its two parts
        if name != "share":
            assert value == pytest.approx(share * table["repeat"][name] + (1 - share) * table["new"][name])


def test_ranks_of_another_run_are_refused(finished, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.yaml", "best.pt"):
        (run / name).write_bytes((finished / name).read_bytes())
    torch.save({"test": torch.ones(3, dtype=torch.int32)}, run / "ranks.pt")
    assert main(["evaluate", "--run", str(run), "--by", "repeat"]) == 2
    assert "3 ranks for" in capsys.readouterr().err
