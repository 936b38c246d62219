import pytest
import torch

from graphsbr import ConfigError, load_dataset
from graphsbr.data.collate import collate_sequences, every_position_windows
from graphsbr.models import MODELS
from graphsbr.models.baselines.sasrec import SASRecConfig
from graphsbr.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", num_items=200, num_sessions=800)


@pytest.mark.parametrize("name", ["sasrec", "nova", "difsr"])
def test_sequence_loss_equals_the_mean_prefix_loss(data, name):
    """Every training pair once: the loss at every position of whole sessions equals the mean over the prefixes."""
    torch.manual_seed(0)
    cls = MODELS[name]
    model = cls.from_dataset(data, cls.Config(max_len=64)).eval()  # longer than any session: no window is cut
    train = data.train
    prefix = collate_sequences(train, train.samples, 64, data.side)
    windows = every_position_windows(train, 64)
    whole = collate_sequences(train, windows, 64, data.side, every_position=True)
    with torch.no_grad():
        assert model.sequence_loss(whole)[0] == pytest.approx(float(model.loss(prefix)[0]), rel=1e-4)


def test_auto_mode_picks_sequence_for_causal_models_only(data):
    sasrec = Trainer(MODELS["sasrec"].from_dataset(data, SASRecConfig(dim=16)), data, TrainConfig(progress=False))
    gru = Trainer(MODELS["gru4rec"].from_dataset(data), data, TrainConfig(progress=False))
    assert sasrec.training_mode == "sequence" and gru.training_mode == "prefix"
    with pytest.raises(ConfigError, match="training=sequence needs a causal model"):
        Trainer(MODELS["gru4rec"].from_dataset(data), data, TrainConfig(training="sequence"))


def test_sequence_mode_trains(data):
    torch.manual_seed(0)
    model = MODELS["sasrec"].from_dataset(data, SASRecConfig(dim=32, dropout=0.2, attn_dropout=0.2))
    results = Trainer(model, data, TrainConfig(epochs=3, lr=5e-3, progress=False)).fit()
    assert results["training_mode"] == "sequence"
    assert results["test"]["hr@20"] > 0.2
