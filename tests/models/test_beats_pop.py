"""Every learned model, trained briefly on the built-in dataset, beats popularity on test hr@20."""
import pytest
import torch

from graphsbr import load_dataset
from graphsbr.models import MODELS
from graphsbr.train import TrainConfig, Trainer
from graphsbr.train.config import model_config

pytestmark = pytest.mark.slow  # every model trained

# Small models and a common learning rate, so that two epochs on the small dataset are enough to learn.
SMALL = {"gru4rec": {"dim": 32, "hidden": 32}, "srgnn": {"dim": 32}, "sasrec": {"dim": 32},
         "core": {"dim": 32}, "a2dmtl": {"dim": 32}, "scorenet": {"dim": 32}, "nova": {"dim": 32}, "difsr": {"dim": 32, "attribute_dim": 16, "num_layers": 2,
                                                             "num_heads": 2}}


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", num_items=300, num_sessions=3000)


@pytest.fixture(scope="module")
def pop_hr(data):
    return Trainer(MODELS["pop"].from_dataset(data), data, TrainConfig(progress=False)).fit()["test"]["hr@20"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_learned_baseline_beats_pop(data, pop_hr, name):
    torch.manual_seed(0)
    cls = MODELS[name]
    model = cls.from_dataset(data, model_config(cls, SMALL[name]))
    config = TrainConfig(epochs=2, batch_size=128, lr=3e-3, weight_decay=0.0, progress=False)
    results = Trainer(model, data, config).fit()
    assert results["test"]["hr@20"] > pop_hr + 0.03, (name, results["test"]["hr@20"], pop_hr)
