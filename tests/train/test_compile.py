"""``compile=true``: the compiled training step learns what the eager one does, and a model whose compilation fails
falls back to eager mode with a warning and still trains."""
import pytest
import torch
from torch._dynamo.utils import guard_failures

from graphsbr.models import GRU4Rec
from graphsbr.train.run import build_trainer

pytestmark = pytest.mark.slow  # compiles with a C++ compiler

TINY = {"data.num_items": 300, "data.num_sessions": 1000, "dim": 8, "epochs": 2, "batch_size": 128,
        "progress": "false", "threads": 1}


def fit(**settings):
    trainer = build_trainer("gru4rec", "synthetic", None, {**TINY, **settings})
    return trainer, trainer.fit()


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compiled_run_gives_the_eager_metrics():
    eager_trainer, eager = fit()
    trainer, compiled = fit(compile="true")
    for epoch, eager_epoch in zip(trainer.history, eager_trainer.history, strict=True):
        assert epoch["loss"] == pytest.approx(eager_epoch["loss"], abs=1e-5)
        for metric, value in eager_epoch["valid"].items():
            assert epoch["valid"][metric] == pytest.approx(value, abs=1e-5), metric
    for split in ("valid", "test"):
        for metric, value in eager[split].items():
            assert compiled[split][metric] == pytest.approx(value, abs=1e-5), (split, metric)
    # batches of many widths, but automatic dynamic shapes recompile each compiled region once, not once per width
    assert 0 < sum(map(len, guard_failures.values())) <= 2 * len(guard_failures)


def test_a_failing_compiler_falls_back_to_eager_with_a_warning(monkeypatch, caplog):
    def failing_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler here\nsecond line")

    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: compile_(module, backend=failing_backend))
    with caplog.at_level("WARNING", logger="graphsbr.train.trainer"):
        trainer, results = fit(compile="true", epochs=1)
    assert "compile: gru4rec falls back to eager mode" in caplog.text and "no C++ compiler here" in caplog.text
    assert "second line" not in caplog.text
    assert trainer.history[0]["loss"] > 0 and results["test"]["hr@20"] > 0


def test_a_model_known_not_to_compile_trains_eagerly(monkeypatch, caplog):
    monkeypatch.setattr(GRU4Rec, "not_compiled", "a reason of its own")
    with caplog.at_level("WARNING", logger="graphsbr.train.trainer"):
        trainer, results = fit(compile="true", epochs=1)
    assert "compile: gru4rec trains eagerly: a reason of its own" in caplog.text
    assert not guard_failures and results["test"]["hr@20"] > 0  # dynamo never saw the step
