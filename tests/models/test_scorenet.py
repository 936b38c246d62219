from dataclasses import replace

import pytest
import torch

from graphsbr import ConfigError, SideField
from graphsbr.models import MODELS
from graphsbr.models.base import make_config
from graphsbr.models.scorenet import ScoreNet, ScoreNetConfig
from graphsbr.nn.attention import DecoupledAttention
from graphsbr.nn.re_engagement import ReEngagementScore

from .helpers import adam_steps, batch_of, batches_of, mean_losses

SMALL = {"dim": 16, "inner_dim": 32, "dropout": 0.1, "attn_dropout": 0.1, "session_dropout": 0.1,
         "item_dropout": 0.1, "max_len": 20}
VARIANTS = {
    "full": {},
    "no-MPRE": {"mpre": False},
    "no-MPRErd": {"redistribution": False},
    "PECS-TF": {"pecs": "tf"},
    "PECS-DIFIR": {"pecs": "difir"},
    "PECS-NS": {"pecs_fields": ("none",)},
    "PECS-DIFIR without side fields": {"pecs": "difir", "pecs_fields": ("none",)},
    "MPRE on brand only": {"mpre_fields": ("brand",)},
    "MPRE on items only": {"mpre_fields": ("none",)},
    "slots from the start": {"mpre_slots": "from_start"},
    "alpha2 = 0": {"side_weight": 0.0},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def build(dataset, **overrides) -> ScoreNet:
    torch.manual_seed(0)
    return ScoreNet.from_dataset(dataset, ScoreNetConfig(**{**SMALL, **overrides}))


def clicked(batch, num_items):
    """``[B, N+1]`` True for the items of each prefix."""
    out = torch.zeros(len(batch), num_items + 1, dtype=torch.bool).scatter_(1, batch.items * batch.mask, True)
    out[:, 0] = False
    return out


# ------------------------------------------------------------------------------------------------------- MPRE


def tiny_path(slot_order="from_end", redistribution=True) -> ReEngagementScore:
    """A path whose products p^r_a . d_b are ``grid[a, b] = 0.1 (a + 1) - 0.01 b``."""
    path = ReEngagementScore(max_len=6, dim=6, slot_order=slot_order, redistribution=redistribution)
    a, b = torch.arange(6.0)[:, None], torch.arange(6.0)[None, :]
    grid = 0.1 * (a + 1) - 0.01 * b
    with torch.no_grad():
        path.position.weight.copy_(torch.eye(6))
        path.difference.weight.copy_(grid.T)
    return path


VALUES = torch.tensor([[5, 7, 5, 9, 5, 0], [4, 4, 0, 0, 0, 0]])
LENGTHS = torch.tensor([5, 2])


def test_re_engagement_scores_a_hand_computed_session():
    path = tiny_path()
    with torch.no_grad():
        path.redistribution[0, 3] = 0.5  # the most recent slot takes half of slot 3's score
    alpha, is_last = path.attention(VALUES, LENGTHS)
    # row 0: 5 at clicks 0, 2, 4 (last = 4, slot 0 from the end, D = [4, 2, 0]): 0.06 + 0.08 + 0.1;
    # 7 at click 1 (slot 3, D = [0]): 0.4; 9 at click 3 (slot 1): 0.2. Row 1: 4 at 0, 1 (slot 0, D = [1, 0]).
    torch.testing.assert_close(alpha, torch.tensor([[0, 0.4, 0, 0.2, 0.24, 0], [0, 0.19, 0, 0, 0, 0]]))
    assert is_last.tolist() == [[False, True, False, True, True, False], [False, True, False, False, False, False]]
    update = path.redistribute(alpha, LENGTHS)  # eq. 4: slot 0 gets 0.24 + 0.5 * 0.4; row 1 has no slot 3
    torch.testing.assert_close(update * is_last, torch.tensor([[0, 0.4, 0, 0.2, 0.44, 0], [0, 0.19, 0, 0, 0, 0]]))
    scores = path.value_scores(VALUES, LENGTHS, 10)  # eq. 5
    expected = torch.zeros(2, 11)
    expected[0, [5, 7, 9]] = torch.sigmoid(torch.tensor([0.44, 0.4, 0.2]))
    expected[1, 4] = torch.sigmoid(torch.tensor(0.19))
    torch.testing.assert_close(scores, expected)


def test_re_engagement_slots_from_the_start_and_without_redistribution():
    path = tiny_path("from_start", redistribution=False)
    assert path.redistribution is None
    alpha, _ = path.attention(VALUES, LENGTHS)  # 5: slot 4, D = [4, 2, 0]; 7: slot 1; 9: slot 3; 4: slot 1
    torch.testing.assert_close(alpha, torch.tensor([[0, 0.2, 0, 0.4, 1.44, 0], [0, 0.39, 0, 0, 0, 0]]))
    torch.testing.assert_close(path.redistribute(alpha, LENGTHS), alpha)


def test_re_engagement_ignores_padding_and_value_zero():
    path = tiny_path()
    garbage = torch.tensor([[5, 7, 5, 9, 5, 7], [4, 4, 4, 9, 5, 1]])  # clicks beyond the lengths
    torch.testing.assert_close(path.value_scores(garbage, LENGTHS, 10), path.value_scores(VALUES, LENGTHS, 10))
    none = path.value_scores(torch.tensor([[0, 3, 0, 0]]), torch.tensor([4]), 5)  # value 0: an item without one
    assert none[0, 0] == 0 and none[0, 3] > 0 and (none[0, [1, 2, 4, 5]] == 0).all()


# ------------------------------------------------------------------------------------------------------ model


def test_registered_and_scores_every_item(dataset):
    assert MODELS["scorenet"] is ScoreNet
    model = build(dataset).eval()
    scores = model(batch_of(dataset, model))
    assert scores.shape == (64, dataset.num_items + 1)
    assert torch.isfinite(scores).all()


def test_item_re_engagement_scores_only_the_session_items(dataset):
    model = build(dataset).eval()
    batch = batch_of(dataset, model, slice(0, 300))
    scores = model.item_scores(batch)
    inside = clicked(batch, dataset.num_items)
    assert (scores[inside] > 0).all() and (scores[inside] < 1).all()
    assert (scores[~inside] == 0).all()


def test_pecs_gives_zero_to_the_session_items(dataset):
    for variant in ("pecs", "tf", "difir"):
        model = build(dataset, pecs=variant).eval()
        batch = batch_of(dataset, model, slice(0, 300))
        scores = model.generalisation_scores(batch, model.item_encoder())
        inside = clicked(batch, dataset.num_items)
        assert (scores[inside] == 0).all()
        assert (scores[:, 1:][~inside[:, 1:]] != 0).all()
        assert scores.abs().max() <= 1 + 1e-5  # cosines


def test_forward_is_the_unified_score_of_eq_13(dataset):
    model = build(dataset).eval()
    batch = batch_of(dataset, model)
    side = [model.side_scores(batch, name)[:, dataset.side[name].values[:, 0]] for name in ("category", "brand")]
    expected = 12.0 * (0.7 * (model.generalisation_scores(batch, model.item_encoder()) + model.item_scores(batch))
                       + 0.3 / 2 * (side[0] + side[1]))
    torch.testing.assert_close(model(batch), expected)
    # a candidate gets a side score exactly when its category is in the session
    category = dataset.side["category"].values[:, 0]
    in_session = torch.zeros(len(batch), dataset.side["category"].vocab_size + 1, dtype=torch.bool)
    in_session.scatter_(1, batch.side["category"] * batch.mask, True)
    in_session[:, 0] = False
    assert torch.equal(side[0] > 0, in_session[:, category])


def test_padding_beyond_lengths_does_not_change_the_scores(dataset):
    for variant in ("full", "PECS-DIFIR"):
        model = build(dataset, **VARIANTS[variant]).eval()
        batch = batch_of(dataset, model, slice(0, 200))
        assert batch.lengths.min() < batch.items.size(1) < model.max_len
        items = torch.nn.functional.pad(batch.items, (0, model.max_len - batch.items.size(1)))
        padded = torch.arange(model.max_len) >= batch.lengths[:, None]
        items = torch.where(padded, torch.randint(1, dataset.num_items + 1, items.shape), items)
        side = {name: f.values[:, 0][items] for name, f in dataset.side.items()}
        torch.testing.assert_close(model(replace(batch, items=items, side=side)), model(batch))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_forward_and_loss(variant, dataset):
    model = build(dataset, **VARIANTS[variant]).train()
    batch = batch_of(dataset, model)
    loss, parts = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and set(parts) == {"loss"}
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(model.eval()(batch)).all()


def test_variants_switch_what_they_name(dataset):
    plain = build(dataset, mpre=False).eval()
    assert plain.item_path is None and not len(plain.side_paths)
    batch = batch_of(dataset, plain, slice(0, 200))
    scores, session = plain(batch), clicked(batch, dataset.num_items)
    # without MPRE the cosines score the session's own items too (with MPRE they are MPRE's alone)
    assert (scores[session] != 0).all() and (scores[:, 0] == 0).all()
    assert (build(dataset).eval().generalisation_scores(batch, plain.item_encoder())[session] == 0).all()
    assert build(dataset, redistribution=False).item_path.redistribution is None
    assert build(dataset).weight is not None and build(dataset, pecs="tf").weight is None
    difir = build(dataset, pecs="difir")
    assert isinstance(difir.encoder.layers[0].attention, DecoupledAttention)
    assert len(difir.encoder.layers[0].attention.streams) == 3  # category, brand, position
    assert not len(build(dataset, pecs_fields=("none",)).side)
    assert list(build(dataset, mpre_fields=("brand",)).side_paths) == ["brand"]
    assert build(dataset, mpre_slots="from_start").item_path.slot_order == "from_start"


def test_fields_from_set_strings(dataset):
    config = make_config(ScoreNetConfig, {**SMALL, "mpre_fields": "brand,category", "pecs_fields": "none"})
    model = ScoreNet.from_dataset(dataset, config)
    assert list(model.side_paths) == ["category", "brand"] and not len(model.side)


def test_a_multi_valued_field_feeds_pecs_but_not_mpre(dataset):
    values = torch.randint(0, 12, (dataset.num_items + 1, 3), generator=torch.Generator().manual_seed(0))
    values[0] = 0
    multi = replace(dataset, side={**dataset.side, "attribute": SideField(values.sort(1, descending=True).values, 11)})
    with pytest.raises(ConfigError, match="attribute"):
        build(multi)
    model = build(multi, mpre_fields=("category", "brand"))
    assert model.side["attribute"].multi_valued
    loss, _ = model.loss(batch_of(multi, model))
    assert torch.isfinite(loss)


def test_gat_item_encoder(dataset):
    model = build(dataset, item_encoder="gat")
    loss, _ = model.loss(batch_of(dataset, model))
    loss.backward()
    assert model.item_encoder.conv.lin.weight.grad is not None


@pytest.mark.parametrize("bad", [{"pecs": "bert"}, {"mpre_slots": "recent"}, {"side_weight": 1.5}, {"scale": 0.0},
                                 {"max_len": 0}, {"dropout": 1.0}, {"num_heads": 3}, {"item_encoder": "mlp"},
                                 {"mpre_fields": ("colour",)}, {"pecs_fields": ("all", "brand")},
                                 {"mpre_fields": ()}])
def test_invalid_settings_are_config_errors(bad, dataset):
    with pytest.raises(ConfigError):
        build(dataset, **bad)


def test_adam_steps_lower_the_training_loss(dataset):
    model = build(dataset)
    batches = batches_of(dataset, model, 16)
    before = mean_losses(model, batches)["loss"]
    adam_steps(model, batches, 120)
    assert mean_losses(model, batches)["loss"] < 0.8 * before
