"""Every model under autocast, the mixed-precision path of ``amp=bf16|fp16`` (checked here with the CPU's autocast):
finite loss and gradients, and scores. Sparse products and cosines must stay in float32 (no half-precision kernels;
float16 squared norms overflow)."""
import pytest
import torch

from graphsbr.models import MODELS
from graphsbr.train import TrainConfig, Trainer
from graphsbr.train.config import model_config
from graphsbr.train.trainer import refresh_memory

from .helpers import SMALL, UNTRAINED


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", sorted(set(MODELS) - UNTRAINED))
def test_loss_gradients_and_scores_under_autocast(dataset, one_thread, name, dtype):
    torch.manual_seed(0)
    cls = MODELS[name]
    model = cls.from_dataset(dataset, model_config(cls, SMALL[name]))
    trainer = Trainer(model, dataset, TrainConfig(progress=False))
    refresh_memory(model, dataset, 256, trainer.device)
    model.train()
    for batch in trainer.loader("train", shuffle_seed=1, batch_size=64).batches(0, 3):
        with torch.autocast("cpu", dtype=dtype):
            loss, _ = model.loss(batch)
        loss.backward()
        assert torch.isfinite(loss), (name, float(loss))
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads), name
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        scores = model(next(iter(trainer.loader("valid", batch_size=64))))
    assert scores.shape == (64, dataset.num_items + 1)
    assert torch.isfinite(scores[:, 1:]).all(), name
