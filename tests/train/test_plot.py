import json

import pytest

from graphsbr import ConfigError
from graphsbr.train.plot import plot_runs, samples_seen


def test_samples_seen_reads_the_records_or_rebuilds_them_from_rate_and_time():
    old = [{"samples_per_second": 100.0, "train_seconds": 2.0}, {"samples_per_second": 50.0, "train_seconds": 4.0}]
    assert samples_seen(old) == [200.0, 400.0]
    new = [{"samples": 300, "samples_per_second": 1.0, "train_seconds": 1.0}, {"samples": 700}]
    assert samples_seen(new) == [300.0, 700.0]
    mixed = [old[0], {"samples": 250}, old[1]]  # a run resumed by newer code: the rebuilt count goes on from 250
    assert samples_seen(mixed) == [200.0, 250.0, 450.0]


def test_an_unknown_x_axis_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="x axis"):
        plot_runs([tmp_path], tmp_path / "curves.png", x="steps")


def run_folder(path, losses):
    path.mkdir()
    records = [{"epoch": i + 1, "loss": loss, "samples": 100 * (i + 1), "valid": {"hr@20": 0.1, "mrr@20": 0.05,
                                                                                "ndcg@20": 0.07}}
               for i, loss in enumerate(losses)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_lines_are_named_by_their_labels_or_folders(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *args, **kwargs: figures.append(self))
    runs = [run_folder(tmp_path / "cosine-run", [3.0, 2.0]), run_folder(tmp_path / "dot-run", [4.0, 3.5])]
    plot_runs(runs, tmp_path / "curves.png", labels=["cosine", None])
    legend = [text.get_text() for text in figures[0].axes[0].get_legend().get_texts()]
    assert legend == ["cosine", "dot-run"]
    assert list(figures[0].axes[0].lines[1].get_ydata()) == [4.0, 3.5]


def test_the_command_reads_label_equals_folder(tmp_path, monkeypatch):
    from graphsbr import cli
    from graphsbr.train import plot

    calls = []
    monkeypatch.setattr(plot, "plot_runs", lambda runs, out, x, labels: calls.append((runs, out, labels)))
    first, second = run_folder(tmp_path / "a", [1.0]), run_folder(tmp_path / "b=c", [1.0])
    assert cli.main(["plot", "--run", f"cosine={first}", str(second)]) == 0
    assert calls == [([first, second], first / "curves.png", ["cosine", None])]  # an existing folder keeps its '='
