"""The CUDA path, run where a GPU is present (skipped elsewhere): every model scores a batch on CUDA as it does on
the CPU, trains with ``amp`` off, bf16 and fp16, and a CUDA run reloads on the CPU with the same metrics."""
import pytest
import torch

from graphsbr.models import MODELS
from graphsbr.models.base import targets_of
from graphsbr.train import TrainConfig, Trainer
from graphsbr.train.config import model_config
from graphsbr.train.run import build_trainer, load_run
from graphsbr.train.trainer import refresh_memory

from .helpers import SMALL, UNTRAINED

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")



@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 would make CUDA matmuls differ from the CPU's by ~1e-3."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _model(dataset, name):
    torch.manual_seed(0)
    cls = MODELS[name]
    return cls.from_dataset(dataset, model_config(cls, SMALL[name]))


def test_every_model_has_small_settings():
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_scores_and_loss_on_cuda_match_the_cpu(dataset, name):
    model = _model(dataset, name).eval()
    results = {}
    for device in ("cpu", "cuda"):
        model.to(device)
        trainer = Trainer(model, dataset, TrainConfig(device=device, progress=False))
        refresh_memory(model, dataset, 256, trainer.device)
        batch = next(iter(trainer.loader("valid", batch_size=64)))
        with torch.no_grad():
            scores = model(batch)
        assert scores.device.type == device
        results[device] = scores.cpu()
        if trainer.optimizer is not None:
            model.train()
            loss, _ = model.loss(next(iter(trainer.loader("train", shuffle_seed=0, batch_size=64))))
            loss.backward()
            assert torch.isfinite(loss), (name, device)
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None), name
            model.zero_grad(set_to_none=True)
            model.eval()
        assert targets_of(batch).device.type == device
    torch.testing.assert_close(results["cuda"], results["cpu"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
@pytest.mark.parametrize("name", sorted(set(MODELS) - UNTRAINED))
def test_training_on_cuda_with_amp(dataset, tmp_path, name, amp):
    settings = {**SMALL[name], "device": "cuda", "amp": amp, "epochs": 2, "epoch_steps": 4, "batch_size": 64,
                "progress": False}
    results = build_trainer(name, "synthetic", None, {**settings, "data.num_items": 300, "data.num_sessions": 3000},
                            tmp_path / "run").fit()
    assert results["epochs_run"] == 2
    assert all(0.0 <= value <= 1.0 for value in results["test"].values()), results["test"]
    if amp == "off":  # the CUDA run's best.pt reloads on the CPU and gives its metrics back
        _, _, trainer = load_run(tmp_path / "run", device="cpu")
        cpu = trainer.evaluate("test")
        for key, value in results["test"].items():
            assert cpu[key] == pytest.approx(value, abs=2e-3), (key, cpu[key], value)


def test_resume_on_cuda(tmp_path):
    settings = {"dim": 32, "device": "cuda", "epoch_steps": 3, "batch_size": 64, "progress": False,
                "data.num_items": 300, "data.num_sessions": 3000}
    build_trainer("sasrec", "synthetic", None, {**settings, "epochs": 1}, tmp_path / "run").fit()
    resumed = build_trainer("sasrec", "synthetic", None, {**settings, "epochs": 2}, tmp_path / "run").fit(resume=True)
    assert resumed["epochs_run"] == 2
    last = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert all(t.device.type == "cpu" for t in last["model"].values())
