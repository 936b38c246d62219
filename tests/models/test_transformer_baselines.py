from dataclasses import replace

import pytest
import torch

import graphsbr
from graphsbr import ConfigError, SideField
from graphsbr.data.collate import collate_sequences
from graphsbr.models.baselines.core import CORE, COREConfig
from graphsbr.models.baselines.difsr import DIFSR, DIFSRConfig
from graphsbr.models.baselines.nova import NOVA, NOVAConfig
from graphsbr.models.baselines.sasrec import SASRec, SASRecConfig

from .helpers import adam_steps, batch_of, batches_of, mean_losses

SMALL = {"dim": 16, "num_layers": 2, "num_heads": 2, "inner_dim": 32, "dropout": 0.1, "attn_dropout": 0.1,
         "max_len": 20}
MODELS = {
    "sasrec": (SASRec, SASRecConfig),
    "nova": (NOVA, NOVAConfig),
    "difsr": (DIFSR, lambda **kw: DIFSRConfig(**{"attribute_dim": 8, "aap_weight": 1.0, **kw})),
    "core": (CORE, COREConfig),
}


@pytest.fixture(scope="module")
def dataset():
    return graphsbr.load_dataset("synthetic", num_items=300, num_sessions=3000)


@pytest.fixture(scope="module")
def multi_valued(dataset):
    """The synthetic dataset with a third side field ``attribute`` of up to 3 values per item."""
    g = torch.Generator().manual_seed(0)
    values = torch.randint(0, 12, (dataset.num_items + 1, 3), generator=g).sort(1, descending=True).values
    values[0] = 0
    return replace(dataset, side={**dataset.side, "attribute": SideField(values, 11)})


def build(name, dataset, **overrides):
    cls, config = MODELS[name]
    torch.manual_seed(0)
    return cls.from_dataset(dataset, config(**{**SMALL, **overrides}))


def garble(batch, dataset, width):
    """``batch`` widened to ``width`` columns, every padded position holding a random item and its side values."""
    items = torch.nn.functional.pad(batch.items, (0, width - batch.items.size(1)))
    padded = torch.arange(items.size(1)) >= batch.lengths[:, None]
    items = torch.where(padded, torch.randint(1, dataset.num_items + 1, items.shape), items)
    side = {name: (f.values if f.multi_valued else f.values[:, 0])[items] for name, f in dataset.side.items()}
    return replace(batch, items=items, side=side)


@pytest.mark.parametrize("name", MODELS)
def test_scores_every_item(name, dataset):
    model = build(name, dataset).eval()
    scores = model(batch_of(dataset, model))
    assert scores.shape == (64, dataset.num_items + 1)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("name", MODELS)
def test_padding_beyond_lengths_does_not_change_the_scores(name, dataset):
    model = build(name, dataset).eval()
    batch = batch_of(dataset, model, slice(0, 200))
    assert batch.lengths.min() < batch.items.size(1) < model.max_len  # the batch has padding, and room for more
    torch.testing.assert_close(model(garble(batch, dataset, model.max_len)), model(batch))


@pytest.mark.parametrize("name", MODELS)
def test_adam_steps_lower_the_training_loss(name, dataset):
    model = build(name, dataset)
    batches = batches_of(dataset, model, 16)
    before = mean_losses(model, batches)["loss"]
    adam_steps(model, batches, 200)
    assert mean_losses(model, batches)["loss"] < 0.8 * before


@pytest.mark.parametrize("name", MODELS)
def test_gat_item_encoder(name, dataset):
    model = build(name, dataset, item_encoder="gat")
    assert model.item_encoder.kind == "gat"
    batch = batch_of(dataset, model)
    loss, _ = model.loss(batch)
    loss.backward()
    assert model.item_encoder.conv.lin.weight.grad is not None
    assert model.eval()(batch).shape == (64, dataset.num_items + 1)


@pytest.mark.parametrize("name", ["nova", "difsr"])
def test_multi_valued_side_field(name, multi_valued):
    model = build(name, multi_valued)
    assert list(model.side) == ["category", "brand", "attribute"] and model.side["attribute"].multi_valued
    batch = batch_of(multi_valued, model)
    assert batch.side["attribute"].shape[-1] == 3
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    torch.testing.assert_close(model(garble(batch, multi_valued, model.max_len)), model(batch))
    values = batch.side["attribute"]
    changed = replace(batch, side={**batch.side, "attribute": torch.where(values > 0, values % 11 + 1, values)})
    assert not torch.allclose(model(changed), model(batch))  # the attention reads the field


@pytest.mark.parametrize("name", ["sasrec", "nova", "difsr"])
def test_states_are_causal(name, dataset):
    model = build(name, dataset).eval()
    batch = batch_of(dataset, model, slice(0, 200))
    table = model.item_encoder()
    states = model.encode(batch, table)
    later = batch.items.clone()
    later[:, 3:] = torch.randint(1, dataset.num_items + 1, later[:, 3:].shape)
    side = {k: (f.values if f.multi_valued else f.values[:, 0])[later] for k, f in dataset.side.items()}
    torch.testing.assert_close(model.encode(replace(batch, items=later, side=side), table)[:, :3], states[:, :3])


@pytest.mark.parametrize("fusion", ["sum", "concat", "gate"])
def test_nova_fusions(fusion, dataset):
    model = build("nova", dataset, fusion=fusion)
    assert model.encoder.layers[0].attention.fusion.kind == fusion
    assert model(batch_of(dataset, model)).shape == (64, dataset.num_items + 1)


def test_nova_and_difsr_use_the_chosen_side_fields(dataset):
    assert list(build("nova", dataset, side_fields=("brand",)).side) == ["brand"]
    assert list(build("difsr", dataset).side) == ["category", "brand"]
    with pytest.raises(ConfigError, match="unknown side field"):
        build("difsr", dataset, side_fields=("colour",))


def test_difsr_loss_parts(dataset):
    model = build("difsr", dataset, aap_weight=2.0).eval()
    batch = batch_of(dataset, model)
    _, parts = model.loss(batch)
    assert set(parts) == {"loss", "item", "aap_category", "aap_brand"}
    assert parts["loss"] == pytest.approx(parts["item"] + 2.0 * (parts["aap_category"] + parts["aap_brand"]),
                                          rel=1e-5)
    with torch.no_grad():
        h = model.represent(batch, model.item_encoder())
        expected = torch.nn.functional.cross_entropy(model.predictors["brand"](h), batch.target_side["brand"] - 1)
    assert parts["aap_brand"] == pytest.approx(float(expected), rel=1e-5)
    without = build("difsr", dataset, aap_weight=0.0).eval()
    _, parts = without.loss(batch)
    assert set(parts) == {"loss", "item"}


def test_difsr_attribute_losses_exactly():
    model = DIFSR(DIFSRConfig(**SMALL, attribute_dim=8), 5, side={
        "category": SideField(torch.tensor([[0], [1], [2], [1], [3], [0]]), 3),
        "attribute": SideField(torch.tensor([[0, 0], [1, 2], [3, 0], [4, 0], [2, 4], [0, 0]]), 4)})
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -2.0, 0.5]])
    multi = model.attribute_loss(logits, torch.tensor([[1, 2], [4, 0]]), "attribute")
    labels = torch.tensor([[1.0, 1, 0, 0], [0, 0, 0, 1]])
    logsigmoid = torch.nn.functional.logsigmoid
    expected = -(labels * logsigmoid(logits) + (1 - labels) * logsigmoid(-logits))
    assert float(multi) == pytest.approx(float(expected.mean()))
    single = model.attribute_loss(logits[:, :3], torch.tensor([3, 0]), "category")  # the unlabelled target is skipped
    assert float(single) == pytest.approx(float(torch.logsumexp(logits[0, :3], 0) - logits[0, 2]))
    assert float(model.attribute_loss(logits[:, :3], torch.tensor([0, 0]), "category")) == 0.0
    bce = DIFSR(DIFSRConfig(**SMALL, attribute_dim=8, single_valued_aap="bce"), 5,
                side={"category": SideField(torch.tensor([[0], [1], [2], [1], [3], [0]]), 3)})
    single = bce.attribute_loss(logits[:1, :3], torch.tensor([3]), "category")
    target = torch.tensor([[0.0, 0, 1]])
    assert float(single) == pytest.approx(
        float(torch.nn.functional.binary_cross_entropy_with_logits(logits[:1, :3], target)))
    with pytest.raises(ConfigError, match="single_valued_aap"):
        DIFSR(DIFSRConfig(**SMALL, single_valued_aap="mse"), 5)


def test_core_scores_are_cosines_over_the_temperature(dataset):
    model = build("core", dataset).eval()
    batch = batch_of(dataset, model, slice(0, 200))
    scores = model(batch)
    assert scores.abs().max() <= 1 / model.config.temperature + 1e-4
    single = batch.lengths == 1  # a one-click session is its item's direction: that item scores 1/τ
    assert single.any()
    last = batch.items[single, 0]
    torch.testing.assert_close(scores[single].gather(1, last[:, None]).squeeze(1),
                               torch.full((int(single.sum()),), 1 / model.config.temperature))


def test_core_causal_switch(dataset):
    bidirectional, causal = build("core", dataset), build("core", dataset, causal=True)
    assert not bidirectional.encoder.causal and causal.encoder.causal
    batch = batch_of(dataset, causal)
    assert not torch.allclose(bidirectional.eval()(batch), causal.eval()(batch))


def test_too_wide_batches_fail_loudly(dataset):
    model = build("sasrec", dataset, max_len=3)
    batch = collate_sequences(dataset.train, dataset.train.samples[:64], 5, dataset.side)
    with pytest.raises(ValueError, match="max_len=3"):
        model(batch)


def test_paper_defaults():
    assert (SASRecConfig().dim, SASRecConfig().num_layers, SASRecConfig().num_heads, SASRecConfig().dropout,
            SASRecConfig().max_len) == (64, 2, 2, 0.5, 50)
    assert SASRec.train_defaults == {"lr": 1e-3, "batch_size": 256, "weight_decay": 0.0}
    assert (COREConfig().temperature, COREConfig().item_dropout, COREConfig().session_dropout) == (0.07, 0.2, 0.2)
    assert [cls.name for cls in (SASRec, NOVA, DIFSR, CORE)] == ["sasrec", "nova", "difsr", "core"]
    assert all(cls.batch_kind == "sequence" for cls in (SASRec, NOVA, DIFSR, CORE))


@pytest.mark.parametrize("name", ["nova", "difsr"])
def test_multi_valued_fields_can_be_summed(name, multi_valued):
    mean, total = build(name, multi_valued), build(name, multi_valued, side_pooling="sum")
    values = multi_valued.side["attribute"].values[1:40]  # [39, 3], 0 = none
    table = total.side["attribute"]
    assert table.pooling == "sum" and mean.side["attribute"].pooling == "mean"
    assert (values > 0).sum(1).max() > 1  # some items have several values, which the sum adds up
    torch.testing.assert_close(table(values), table(values[:, :1]) + table(values[:, 1:2]) + table(values[:, 2:]))
