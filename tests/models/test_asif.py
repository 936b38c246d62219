import math
from dataclasses import replace

import pytest
import torch

from graphsbr import ConfigError, SideField
from graphsbr.models import MODELS
from graphsbr.models.asif import ASIF, ASIFConfig, alignment_loss, alignment_terms
from graphsbr.models.base import cross_entropy, make_config
from graphsbr.nn import HomogeneousInformationExtraction, UntiedFusedAttention
from graphsbr.train import TrainConfig, Trainer

from .helpers import adam_steps, batch_of, batches_of, mean_losses

SMALL = {"dim": 16, "num_heads": 2, "inner_dim": 32, "dropout": 0.1, "attn_dropout": 0.1, "max_len": 20,
         "num_bases": 4}
VARIANTS = {
    "full": {},
    "w/o RSA": {"rsa": False},
    "w/o HIE": {"hie": False},
    "w/o UP": {"untied_positions": False},
    "w/o FA": {"fused_attention": False},
    "concat": {"fusion": "concat"},
    "gate": {"fusion": "gate"},
    "lambda = 0": {"contrastive_weight": 0.0},
}

pytestmark = pytest.mark.usefixtures("one_thread")


def build(dataset, **overrides) -> ASIF:
    torch.manual_seed(0)
    return ASIF.from_dataset(dataset, ASIFConfig(**{**SMALL, **overrides}))


# ---------------------------------------------------------------------------------------------------------- RSA


def two_click_loss(tau):
    """Eq. 9 for X = [[1, 0], [0, 1]], A~ = [[1, 0], [1, 1] / sqrt 2] by hand: X~ A~^T / tau = [[1, c], [0, c]] / tau;
    the rows of Y_X are softmax([1, c] / tau), softmax([0, c] / tau), those of Y_A (the transpose)
    softmax([1, 0] / tau), softmax([c, c] / tau)."""
    c = 1 / math.sqrt(2)
    log_x = 1 / tau - math.log(math.exp(1 / tau) + math.exp(c / tau)) + c / tau - math.log(1 + math.exp(c / tau))
    log_a = 1 / tau - math.log(math.exp(1 / tau) + 1) - math.log(2)
    return -(log_x + log_a) / 2


def test_alignment_loss_of_a_hand_computed_two_click_sequence():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    a = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    torch.testing.assert_close(alignment_loss(x, a, mask, 1.0), torch.tensor(two_click_loss(1.0)))
    torch.testing.assert_close(alignment_loss(x, a, mask, 0.5), torch.tensor(two_click_loss(0.5)))
    # padding and clicks without attributes take no part; a second sequence of one click adds 0 (mean over N = 2)
    x3 = torch.cat([x, torch.tensor([[[5.0, 5.0]]])], 1)
    a3 = torch.cat([a, torch.tensor([[[-1.0, 3.0]]])], 1)
    x3, a3 = torch.cat([x3, torch.randn(1, 3, 2)]), torch.cat([a3, torch.randn(1, 3, 2)])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    torch.testing.assert_close(alignment_loss(x3, a3, mask, 1.0), torch.tensor(two_click_loss(1.0) / 2))
    # the mean over a sequence's clicks: the two-click sequence's sum halved, the one-click sequence still 0
    torch.testing.assert_close(alignment_loss(x3, a3, mask, 1.0, reduction="mean"),
                               torch.tensor(two_click_loss(1.0) / 2 / 2))
    torch.testing.assert_close(alignment_loss(x, a, torch.ones(1, 2, dtype=torch.bool), 1.0, reduction="mean"),
                               torch.tensor(two_click_loss(1.0) / 2))


def test_alignment_loss_is_low_for_aligned_and_high_for_swapped_pairs():
    x = torch.eye(4).unsqueeze(0)
    mask = torch.ones(1, 4, dtype=torch.bool)
    aligned = alignment_loss(x, x, mask, 0.07)
    swapped = alignment_loss(x, x[:, [1, 0, 3, 2]], mask, 0.07)
    assert aligned < 1e-3 and swapped > 10


# ------------------------------------------------------------------------------------------------------ model


def test_registered_and_scores_every_item(dataset):
    assert MODELS["asif"] is ASIF and not ASIF.sequence_training
    model = build(dataset).eval()
    scores = model(batch_of(dataset, model))
    assert scores.shape == (64, dataset.num_items + 1)
    assert torch.isfinite(scores).all()
    assert ASIF.train_defaults == {"lr": 1e-4, "batch_size": 2048, "weight_decay": 0.0, "epochs": 200,
                                   "patience": 10}
    default = ASIFConfig()
    assert (default.dim, default.num_layers, default.num_heads, default.max_len) == (256, 3, 4, 50)
    assert (default.contrastive_weight, default.num_bases) == (10.0, 16)


def test_layers_carry_three_streams_and_the_last_updates_items_only(dataset):
    model = build(dataset)
    first, last = model.layers[0], model.layers[-1]
    assert isinstance(first.attention, UntiedFusedAttention) and isinstance(first.hie, HomogeneousInformationExtraction)
    assert len(first.blocks) == 3 and len(last.blocks) == 1
    assert last.attention.position_value is None and last.attention.attribute_value is not None  # HIE reads h_A
    assert build(dataset, hie=False).layers[-1].attention.attribute_value is None
    assert len(build(dataset, untied_positions=False).layers[0].blocks) == 2


@pytest.mark.parametrize("variant", ["full", "w/o HIE", "w/o UP", "w/o FA", "gate"])
def test_the_read_out_equals_the_last_layer_on_every_row(variant, dataset):
    model = build(dataset, **VARIANTS[variant]).eval()
    batch = batch_of(dataset, model, slice(0, 200))
    table = model.item_encoder()
    x, a, _ = model.embed(batch, table)
    last = model.encode(batch, x, a, readout=False)[torch.arange(len(batch)), batch.lengths - 1]
    torch.testing.assert_close(model.encode(batch, x, a), last, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model(batch), last @ table.T, atol=1e-6, rtol=1e-5)


def old_loss(model, batch):
    """Eq. 16 as computed before the savings: the last layer on every row, RSA on the whole padded batch."""
    table = model.item_encoder()
    x, a, aligned = model.embed(batch, table)
    states = model.encode(batch, x, a, readout=False)[torch.arange(len(batch)), batch.lengths - 1]
    co = -alignment_terms(aligned, x, a, model.temperature).sum(1).mean() / 2
    return cross_entropy(states @ table.T, batch.targets) + model.config.contrastive_weight * co


def test_the_savings_keep_the_loss_and_its_gradients(dataset):
    model = build(dataset).eval()  # no dropout: both ways see the same function
    batch = batch_of(dataset, model, slice(0, 200))
    widths = batch.lengths.bincount()
    assert widths[:9].sum() >= 16 and widths[9:].sum() >= 16  # rows in at least two width groups
    loss = model.loss(batch)[0]
    gradients = torch.autograd.grad(loss, list(model.parameters()))
    reference = old_loss(model, batch)
    torch.testing.assert_close(loss, reference, atol=1e-6, rtol=1e-6)
    for new, old in zip(gradients, torch.autograd.grad(reference, list(model.parameters()))):
        torch.testing.assert_close(new, old, atol=1e-6, rtol=1e-4)


def test_alignment_by_width_equals_the_whole_batch():
    torch.manual_seed(0)
    lengths = torch.cat([torch.randint(1, 9, (20,)), torch.randint(9, 17, (20,)), torch.randint(17, 51, (20,))])
    mask = (torch.arange(50) < lengths[:, None]) & (torch.rand(60, 50) > 0.2)
    x, a = torch.randn(60, 50, 8, requires_grad=True), torch.randn(60, 50, 8, requires_grad=True)
    grouped = alignment_loss(x, a, mask, 0.1)
    whole = -alignment_terms(mask, x, a, 0.1).sum(1).mean() / 2
    torch.testing.assert_close(grouped, whole)
    for new, old in zip(torch.autograd.grad(grouped, [x, a]), torch.autograd.grad(whole, [x, a])):
        torch.testing.assert_close(new, old)


def test_position_dropout_is_drawn_per_sequence_unless_shared(dataset):
    batch = batch_of(dataset, None)
    streams = {}
    for shared in (False, True):
        model = build(dataset, shared_position_dropout=shared).train()
        model.layers[0].register_forward_hook(lambda module, args, out, shared=shared: streams.update({shared: out[2]}))
        model.loss(batch)
    assert streams[True].size(0) == 1
    first = streams[False][batch.lengths >= 2, 1]  # the second position of every sequence that has one
    assert not torch.allclose(first, first[:1].expand_as(first))


def test_a_position_stream_per_sequence_equals_the_shared_one_without_dropout(dataset):
    batch = batch_of(dataset, None, slice(0, 200))
    results = []
    for shared in (False, True):
        model = build(dataset, dropout=0.0, attn_dropout=0.0, shared_position_dropout=shared).train()
        loss = model.loss(batch)[0]
        results.append((loss, torch.autograd.grad(loss, list(model.parameters()))))
    torch.testing.assert_close(results[0][0], results[1][0])
    for per_sequence, shared in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(per_sequence, shared, atol=1e-6, rtol=1e-4)


def test_the_loss_is_a_mean_over_samples_so_batches_accumulate(dataset):
    """Four batches of 16, each loss weighted 1/4, give the gradient of their batch of 64 (so a batch of 2,048 may
    run as four of 512)."""
    model = build(dataset).eval()
    parameters = list(model.parameters())
    whole = torch.autograd.grad(model.loss(batch_of(dataset, model, slice(0, 64)))[0], parameters)
    parts = [torch.autograd.grad(model.loss(batch_of(dataset, model, slice(i, i + 16)))[0] / 4, parameters)
             for i in range(0, 64, 16)]
    for gradient, pieces in zip(whole, zip(*parts)):
        torch.testing.assert_close(sum(pieces), gradient, atol=1e-6, rtol=1e-4)


def test_loss_is_cross_entropy_plus_lambda_times_the_alignment(dataset):
    model = build(dataset, contrastive_weight=2.5).eval()
    batch = batch_of(dataset, model)
    loss, parts = model.loss(batch)
    assert set(parts) == {"ce", "rsa", "loss"}
    ce = torch.nn.functional.cross_entropy(model(batch)[:, 1:], batch.targets - 1)
    torch.testing.assert_close(parts["ce"], ce)
    x, a, has_value = model.embed(batch, model.item_encoder())
    rsa = alignment_loss(x, a, has_value, model.temperature)
    torch.testing.assert_close(loss, ce + 2.5 * rsa)
    assert model.temperature.item() == pytest.approx(0.07)


def test_padding_beyond_lengths_does_not_change_the_scores(dataset):
    for variant in ("full", "w/o UP", "w/o FA"):
        model = build(dataset, **VARIANTS[variant]).eval()
        batch = batch_of(dataset, model, slice(0, 200))
        assert batch.lengths.min() < batch.items.size(1) < model.max_len
        items = torch.nn.functional.pad(batch.items, (0, model.max_len - batch.items.size(1)))
        padded = torch.arange(model.max_len) >= batch.lengths[:, None]
        items = torch.where(padded, torch.randint(1, dataset.num_items + 1, items.shape), items)
        side = {name: f.values[:, 0][items] for name, f in dataset.side.items()}
        wide = replace(batch, items=items, side=side)
        torch.testing.assert_close(model(wide), model(batch))
        torch.testing.assert_close(model.loss(wide)[0], model.loss(batch)[0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_forward_and_loss(variant, dataset):
    model = build(dataset, **VARIANTS[variant]).train()
    batch = batch_of(dataset, model)
    loss, parts = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert ("rsa" in parts) == (variant not in ("w/o RSA", "lambda = 0"))
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert unused == ([] if "rsa" in parts else ["log_temperature"]), unused
    assert torch.isfinite(model.eval()(batch)).all()


@pytest.mark.parametrize("variant", ["w/o HIE", "w/o UP", "w/o FA", "concat", "gate"])
def test_each_switch_changes_the_scores(variant, dataset):
    full = build(dataset).eval()
    model = build(dataset, **VARIANTS[variant]).eval()
    model.load_state_dict(full.state_dict(), strict=False)  # the same weights wherever both have them
    batch = batch_of(dataset, model)
    assert not torch.allclose(model(batch), full(batch), atol=1e-4)


def test_rsa_mean_divides_each_sequences_alignment_by_its_clicks(dataset):
    summed, averaged = build(dataset).eval(), build(dataset, rsa_reduction="mean").eval()
    batch = batch_of(dataset, summed)
    rsa_sum, rsa_mean = summed.loss(batch)[1]["rsa"], averaged.loss(batch)[1]["rsa"]
    lengths = batch.lengths.float()
    assert (lengths > 1).any() and rsa_mean < rsa_sum
    assert torch.allclose(summed.loss(batch)[1]["ce"], averaged.loss(batch)[1]["ce"])


def test_without_rsa_the_loss_is_the_cross_entropy(dataset):
    full = build(dataset).eval()
    model = build(dataset, rsa=False).eval()
    batch = batch_of(dataset, model)
    loss, parts = model.loss(batch)
    assert set(parts) == {"ce", "loss"}
    torch.testing.assert_close(parts["ce"], full.loss(batch)[1]["ce"])
    torch.testing.assert_close(parts["loss"], loss.detach())
    assert loss < full.loss(batch)[0]


@pytest.mark.parametrize("pooling", ["mean", "sum"])
def test_a_multi_valued_attribute_is_pooled(pooling, dataset):
    values = torch.randint(0, 12, (dataset.num_items + 1, 3), generator=torch.Generator().manual_seed(0))
    values[0] = 0
    values[5] = 0  # an item without attributes
    multi = replace(dataset, side={"attribute": SideField(values.sort(1, descending=True).values, 11)})
    model = build(multi, side_pooling=pooling)
    assert list(model.side) == ["attribute"] and model.side["attribute"].multi_valued
    batch = batch_of(multi, model)
    _, a, has_value = model.embed(batch, model.item_encoder())
    assert torch.equal(has_value, batch.mask & (batch.items != 5))
    assert (a[~has_value] == 0).all()
    table, ids = model.side["attribute"].embedding.weight, multi.side["attribute"].values[batch.items[0, 0]]
    pooled = table[ids[ids > 0]].sum(0) / ((ids > 0).sum() if pooling == "mean" else 1)
    torch.testing.assert_close(a[0, 0], pooled)
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)


def test_side_fields_and_gat_item_encoder(dataset):
    assert list(build(dataset, side_fields=("brand",)).side) == ["brand"]
    model = build(dataset, item_encoder="gat")
    loss, _ = model.loss(batch_of(dataset, model))
    loss.backward()
    assert model.item_encoder.conv.lin.weight.grad is not None


def test_fields_from_set_strings(dataset):
    config = make_config(ASIFConfig, {**SMALL, "side_fields": "category", "hie": "false", "fusion": "gate"})
    model = ASIF.from_dataset(dataset, config)
    assert list(model.side) == ["category"] and model.layers[0].hie is None


@pytest.mark.parametrize("bad", [{"fusion": "max"}, {"num_bases": 0}, {"num_bases": 17}, {"num_bases": 21},
                                 {"num_heads": 3}, {"dropout": 1.0}, {"attn_dropout": -0.1}, {"temperature": 0.0},
                                 {"contrastive_weight": -1.0}, {"activation": "tanh"}, {"max_len": 0},
                                 {"item_encoder": "mlp"}, {"side_fields": ("colour",)},
                                 {"side_pooling": "max"}, {"rsa_reduction": "max"}])
def test_invalid_settings_are_config_errors(bad, dataset):
    with pytest.raises(ConfigError):
        build(dataset, **bad)


def test_a_dataset_without_side_fields_is_a_config_error(dataset):
    with pytest.raises(ConfigError, match="side field"):
        build(replace(dataset, side={}))


@pytest.mark.slow
def test_adam_steps_lower_the_training_loss(dataset):
    model = build(dataset)
    batches = batches_of(dataset, model, 16)
    before = mean_losses(model, batches)
    adam_steps(model, batches, 120)
    after = mean_losses(model, batches)
    assert after["ce"] < 0.9 * before["ce"] and after["rsa"] < 0.5 * before["rsa"], (before, after)


@pytest.mark.slow
def test_beats_pop_after_a_short_training(dataset):
    pop = Trainer(MODELS["pop"].from_dataset(dataset), dataset, TrainConfig(progress=False)).fit()["test"]["hr@20"]
    model = build(dataset, dim=32, num_layers=2, num_bases=8)
    config = TrainConfig(epochs=2, batch_size=128, lr=3e-3, weight_decay=0.0, progress=False)
    results = Trainer(model, dataset, config).fit()
    assert results["training_mode"] == "prefix"
    assert results["test"]["hr@20"] > pop + 0.03, (results["test"]["hr@20"], pop)
