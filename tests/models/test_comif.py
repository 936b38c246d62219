import math
from dataclasses import replace

import pytest
import torch

from graphsbr import ConfigError, SideField
from graphsbr.data.collate import collate_sequences
from graphsbr.models import MODELS
from graphsbr.models.base import gather_last, make_config
from graphsbr.models.comif import COMIF, COMIFConfig, iaa_loss, upa_loss
from graphsbr.nn import DecoupledAttention, DecoupledConcatAttention, MultiHeadAttention
from graphsbr.train import TrainConfig, Trainer

from .helpers import adam_steps, batch_of, batches_of, mean_losses

SMALL = {"dim": 16, "inner_dim": 32, "num_layers": 2, "num_heads": 2, "dropout": 0.1, "attn_dropout": 0.1,
         "max_len": 20}
VARIANTS = {
    "full": {},
    "attention fusion sum": {"attention_fusion": "sum"},
    "attributes in the attention (Table 6 Attn only)": {"attribute_fusion": "attn", "iaa_weight": 0.0,
                                                        "upa_weight": 0.0},
    "attributes in the attention with IAA": {"attribute_fusion": "attn"},
    "behaviour at the input (Table 4)": {"behaviour_fusion": "emb"},
    "no behaviour": {"behaviour_fusion": "none", "upa_weight": 0.0},
    "no attributes": {"attribute_fusion": "none", "iaa_weight": 0.0},
    "fusion only (Table 6)": {"iaa_weight": 0.0, "upa_weight": 0.0},
    "without UPA": {"upa_weight": 0.0},
    "concat F_emb": {"fusion": "concat"},
    "gate F_emb": {"fusion": "gate"},
    "three negatives": {"upa_negatives": 3},
    "brand only": {"side_fields": ("brand",)},
}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def with_action(dataset):
    """The synthetic set with a per-click behaviour field ``action`` (values 1..4)."""
    def add(split, seed):
        action = torch.randint(1, 5, split.items.shape, generator=torch.Generator().manual_seed(seed))
        return replace(split, fields={"action": action})
    return replace(dataset, train=add(dataset.train, 0), valid=add(dataset.valid, 1), test=add(dataset.test, 2))


def build(dataset, **overrides) -> COMIF:
    torch.manual_seed(0)
    return COMIF.from_dataset(dataset, COMIFConfig(**{**SMALL, **overrides}))


# ------------------------------------------------------------------------------------------ attention (eq. 6)


def tiny_concat_attention(max_len=3) -> DecoupledConcatAttention:
    """d = 2, one head, one extra stream, identity projections; the fusion map sends the item score of key 0 to
    key 0, three times the stream score of key 1 to key 0 and twice the stream score of key 0 to key 1, bias 0.5
    on key 0 (and 9 on the unused key 2)."""
    attention = DecoupledConcatAttention(2, 1, [2], max_len)
    with torch.no_grad():
        for module in attention.modules():
            if isinstance(module, torch.nn.Linear) and module is not attention.fusion:
                module.weight.copy_(torch.eye(2))
                module.bias.zero_()
        weight = torch.zeros(max_len, 2, max_len)  # [out key, stream, in key]
        weight[0, 0, 0], weight[0, 1, 1], weight[1, 1, 0] = 1.0, 3.0, 2.0
        weight[2] = 5.0
        attention.fusion.weight.copy_(weight.flatten(1))
        attention.fusion.bias.copy_(torch.tensor([0.5, 0.0, 9.0][:max_len] + [0.0] * (max_len - 3)))
    return attention.eval()


X = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # item stream: Attn_0 = [[1, 0], [0, 1]]
S = torch.tensor([[[1.0, 1.0], [0.0, 1.0]]])  # extra stream: Attn_1 = [[2, 1], [1, 1]]


def two_key_softmax(first, second):
    """The weight of the second key of a softmax over two scores (scaled by 1 / sqrt(d_h) = 1 / sqrt(2))."""
    return 1.0 / (1.0 + math.exp(-(second - first) / math.sqrt(2.0)))


def test_concat_fused_attention_on_a_hand_computed_case():
    attention = tiny_concat_attention()
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = attention(X, mask, side=[S])
    # fused row j: key 0 = Attn_0[j,0] + 3 Attn_1[j,1] + 0.5, key 1 = 2 Attn_1[j,0]: row 0 [4.5, 4], row 1 [3.5, 2]
    w0, w1 = two_key_softmax(4.5, 4.0), two_key_softmax(3.5, 2.0)
    torch.testing.assert_close(out, torch.tensor([[[1 - w0, w0], [1 - w1, w1]]]))  # softmax @ X (values = X)
    # causal: query 0 may not see key 1, so Attn_1[0, 1] does not enter its fused score of key 0
    causal = attention(X, mask, causal=True, side=[S])
    torch.testing.assert_close(causal, torch.tensor([[[1.0, 0.0], [1 - w1, w1]]]))
    later = X.clone()
    later[0, 1] = torch.tensor([7.0, -3.0])
    torch.testing.assert_close(attention(later, mask, causal=True, side=[S + later - X])[0, 0], causal[0, 0])


def test_concat_fused_attention_ignores_padding_and_the_batch_width():
    attention = tiny_concat_attention(max_len=4)
    mask = torch.tensor([[True, False, False]])
    x = torch.cat([X[:, :1], torch.randn(1, 2, 2) * 50], 1)
    s = torch.cat([S[:, :1], torch.randn(1, 2, 2) * 50], 1)
    out = attention(x, mask, side=[s])
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]]))  # one key; zeros at padding
    full = attention(X, torch.ones(1, 2, dtype=torch.bool), side=[S])
    wide = attention(torch.cat([X, x[:, 1:2]], 1), torch.tensor([[True, True, False]]),
                     side=[torch.cat([S, s[:, 1:2]], 1)])
    torch.testing.assert_close(wide[:, :2], full)
    with pytest.raises(ValueError, match="max_len"):
        attention(torch.randn(1, 5, 2), torch.ones(1, 5, dtype=torch.bool), side=[torch.randn(1, 5, 2)])


def test_concat_fused_attention_shares_a_position_stream_and_runs_backward():
    attention = DecoupledConcatAttention(8, 2, [8, 4], max_len=6, dropout=0.1)
    x, mask = torch.randn(3, 5, 8), torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    out = attention(x, mask, causal=True, side=[torch.randn(3, 5, 8), torch.randn(1, 5, 4)])
    assert out.shape == (3, 5, 8) and (out[~mask] == 0).all()
    out.sum().backward()
    assert attention.fusion.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------- losses (eq. 9, 10)


def test_iaa_loss_on_a_hand_computed_case():
    logits = torch.tensor([[0.0, math.log(2.0), 0.0], [0.0, 0.0, 0.0], [5.0, 1.0, 2.0]])
    values = torch.tensor([[2, 0], [1, 3], [0, 0]])  # one value; two values (normalised multi-hot); none (skipped)
    torch.testing.assert_close(iaa_loss(logits, values), torch.tensor((math.log(2.0) + math.log(3.0)) / 2))
    single = iaa_loss(logits[:1], torch.tensor([[2]]))  # eq. 9: -log softmax at the item's value
    torch.testing.assert_close(single, -torch.log_softmax(logits[0], 0)[1])


def test_upa_loss_on_a_hand_computed_case():
    states = torch.tensor([[[1.0, 0.0], [3.0, 3.0]], [[0.0, 1.0], [0.0, 0.0]]])  # [1+k, M, d]: original, negative
    targets = torch.tensor([[2.0, 1.0], [1.0, 1.0]])
    valid = torch.tensor([True, False])  # the second row (a one-click prefix) is skipped
    # row 0: e . h_pos = 2, e . h_1 = 1 -> -log(e^2 / (e^2 + e^1))
    torch.testing.assert_close(upa_loss(states, targets, valid), torch.tensor(math.log(1.0 + math.exp(-1.0))))


def test_model_iaa_aligns_each_item_with_its_values(dataset):
    model = build(dataset)
    items, targets = model.item_encoder(), torch.tensor([5, 17, 42])
    expected = sum(-torch.log_softmax(items[targets] @ embed.embedding.weight[1:].T, 1)
                   .gather(1, dataset.side[name].values[targets] - 1).mean()
                   for name, embed in model.side.items())
    torch.testing.assert_close(model.iaa_loss(items[targets], targets), expected)


def test_random_behaviour_sequences_draw_from_the_past(with_action):
    model = build(with_action, upa_negatives=3)
    batch = batch_of(with_action, model, slice(0, 300))
    torch.manual_seed(1)
    ids = model.behaviour_ids(batch, 3)
    length = batch.items.size(1)
    position = ids["position"]
    assert position.shape == (4, len(batch), length)
    assert (position[0] == torch.arange(length)).all()  # copy 0: the real positions
    assert (position[1:] <= torch.arange(length)).all() and (position >= 0).all()  # never a later click
    assert (position[1:, :, 0] == 0).all()
    assert set(position[1:, :, 3].unique().tolist()) == {0, 1, 2, 3}
    torch.testing.assert_close(ids["action"], batch.fields["action"].expand(4, -1, -1).gather(2, position))
    assert not torch.equal(ids["action"][1], ids["action"][0])


# ---------------------------------------------------------------------------------------------------- model


def test_registered_and_scores_every_item(dataset):
    assert MODELS["comif"] is COMIF and COMIF.sequence_training
    model = build(dataset).eval()
    scores = model(batch_of(dataset, model))
    assert scores.shape == (64, dataset.num_items + 1)
    assert torch.isfinite(scores).all()


def test_defaults_are_the_papers():
    config = COMIFConfig()
    assert (config.dim, config.max_len, config.fusion, config.attention_fusion) == (128, 50, "sum", "concat")
    assert (config.attribute_fusion, config.behaviour_fusion) == ("emb", "attn")
    assert config.num_layers in (2, 3, 4) and config.num_heads in (2, 4, 8)
    assert {config.iaa_weight, config.upa_weight} <= {0.4, 0.8, 1.2, 1.6}
    assert COMIF.train_defaults["lr"] == 1e-4 and COMIF.train_defaults["batch_size"] == 512


def test_attributes_fuse_at_the_input_and_the_prediction_layer(dataset):
    model = build(dataset).eval()
    items, table = model.item_tables()
    category, brand = (dataset.side[name].values[:, 0] for name in ("category", "brand"))
    expected = items + model.side["category"](category) + model.side["brand"](brand)  # eq. 5, 7 with addition
    torch.testing.assert_close(table, expected)
    batch = batch_of(dataset, model)
    torch.testing.assert_close(model(batch), gather_last(model.encode(batch, table)[0], batch.lengths) @ table.T)


def test_loss_is_eq_11(dataset):
    model = build(dataset, iaa_weight=0.8, upa_weight=1.2).eval()
    batch = batch_of(dataset, model)
    with torch.no_grad():
        loss, parts = model.loss(batch)
        rec = torch.nn.functional.cross_entropy(model(batch)[:, 1:], batch.targets - 1)  # eq. 8
    assert set(parts) == {"rec", "iaa", "upa", "loss"}
    assert loss.item() == pytest.approx(parts["rec"] + 0.8 * parts["iaa"] + 1.2 * parts["upa"], rel=1e-5)
    assert parts["rec"] == pytest.approx(rec.item(), rel=1e-5)


def test_padding_beyond_lengths_does_not_change_the_scores(with_action):
    for variant in ("full", "attributes in the attention with IAA", "behaviour at the input (Table 4)",
                    "attention fusion sum", "concat F_emb"):
        model = build(with_action, **VARIANTS[variant]).eval()
        batch = batch_of(with_action, model, slice(0, 200))
        assert batch.lengths.min() < batch.items.size(1) < model.max_len
        width = model.max_len
        padded = torch.arange(width) >= batch.lengths[:, None]
        items = torch.nn.functional.pad(batch.items, (0, width - batch.items.size(1)))
        items = torch.where(padded, torch.randint(1, with_action.num_items + 1, items.shape), items)
        action = torch.nn.functional.pad(batch.fields["action"], (0, width - batch.items.size(1)))
        action = torch.where(padded, torch.randint(1, 5, items.shape), action)
        side = {name: f.values[:, 0][items] for name, f in with_action.side.items()}
        garbled = replace(batch, items=items, side=side, fields={"action": action})
        torch.testing.assert_close(model(garbled), model(batch), msg=variant)


def test_causal_and_sequence_training_matches_prefix_training(dataset):
    model = build(dataset).eval()
    short = torch.nonzero(dataset.train.lengths <= model.max_len + 1).squeeze(1)[:40]
    sessions = dataset.train.select_sessions(short)
    windows = torch.stack([torch.arange(sessions.num_sessions), sessions.lengths - 1], 1)
    sequence = collate_sequences(sessions, windows, model.max_len, dataset.side, every_position=True)
    prefixes = collate_sequences(sessions, sessions.samples, model.max_len, dataset.side)
    _, table = model.item_tables()
    states = model.encode(sequence, table)[0][sequence.targets > 0]  # [M, d] session-major, position ascending
    torch.testing.assert_close(states, gather_last(model.encode(prefixes, table)[0], prefixes.lengths))
    later = sequence.items.clone()
    later[:, 3:] = torch.randint(1, dataset.num_items + 1, later[:, 3:].shape) * (later[:, 3:] > 0)
    torch.testing.assert_close(model.encode(replace(sequence, items=later), table)[0][:, :3],
                               model.encode(sequence, table)[0][:, :3])
    _, by_sequence = model.sequence_loss(sequence)
    _, by_prefix = model.loss(prefixes)
    for part in ("rec", "iaa"):
        assert by_sequence[part] == pytest.approx(by_prefix[part], rel=1e-5), part
    assert set(by_sequence) == set(by_prefix) == {"rec", "iaa", "upa", "loss"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_forward_and_both_losses(variant, dataset):
    model = build(dataset, **VARIANTS[variant]).train()
    batch = batch_of(dataset, model)
    loss, parts = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    c = model.config
    assert set(parts) == {"rec", "loss"} | ({"iaa"} if c.iaa_weight else set()) | ({"upa"} if c.upa_weight else set())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    windows = torch.stack([torch.arange(32), dataset.train.lengths[:32] - 1], 1)
    loss, _ = model.sequence_loss(collate_sequences(dataset.train, windows, model.max_len, dataset.side,
                                                    every_position=True))
    assert torch.isfinite(loss)
    assert torch.isfinite(model.eval()(batch)).all()


def test_switches_change_what_they_name(dataset, with_action):
    batch = batch_of(dataset, build(dataset))

    def attention(model):
        return model.encoder.layers[0].attention

    full = build(dataset)
    assert type(attention(full)) is DecoupledConcatAttention and len(attention(full).streams) == 1  # position
    assert full.fusion.kind == "sum" and full.fusion.num_inputs == 3  # items, category, brand
    assert type(attention(build(dataset, attention_fusion="sum"))) is DecoupledAttention
    assert build(dataset, fusion="gate").fusion.kind == "gate"
    assert build(dataset, side_fields=("brand",)).fusion.num_inputs == 2

    attn = build(dataset, attribute_fusion="attn").eval()
    assert attn.fusion is None and len(attention(attn).streams) == 3  # category, brand, position
    items, table = attn.item_tables()
    assert table is items  # no attributes at the prediction layer
    values = attn.side_values.clone()
    attn.side_values[0, 1:] = torch.roll(values[0, 1:], 1, 0)  # other categories for the clicked items
    changed = attn(batch)
    attn.side_values.copy_(values)
    assert not torch.allclose(changed, attn(batch))

    emb = build(dataset, behaviour_fusion="emb").eval()
    assert type(attention(emb)) is MultiHeadAttention
    none = build(dataset, behaviour_fusion="none", upa_weight=0.0)
    assert type(attention(none)) is MultiHeadAttention and none.negatives == 0
    assert "upa" not in none.loss(batch)[1]
    assert "iaa" not in build(dataset, iaa_weight=0.0).loss(batch)[1]
    assert "upa" not in build(dataset, upa_weight=0.0).loss(batch)[1]
    assert build(dataset, upa_negatives=3).encode(batch, build(dataset).item_encoder(), 3).size(0) == 4

    action = build(with_action)
    assert list(action.behaviour) == ["action"] and len(attention(action).streams) == 2  # position, action
    assert not len(build(with_action, behaviour_fields=("none",)).behaviour)
    action.eval()
    act_batch = batch_of(with_action, action)
    other = replace(act_batch, fields={"action": act_batch.fields["action"] % 4 + 1})
    assert not torch.allclose(action(other), action(act_batch))


def test_fields_from_set_strings(with_action):
    config = make_config(COMIFConfig, {**SMALL, "side_fields": "brand", "behaviour_fields": "none",
                                       "attribute_fusion": "attn", "upa_weight": "0.8"})
    model = COMIF.from_dataset(with_action, config)
    assert list(model.side) == ["brand"] and not len(model.behaviour) and model.config.upa_weight == 0.8


def test_a_multi_valued_attribute_like_beauty(dataset):
    values = torch.randint(0, 12, (dataset.num_items + 1, 4), generator=torch.Generator().manual_seed(0))
    values[0] = 0
    values = values.sort(1, descending=True).values
    beauty_like = replace(dataset, side={"attribute": SideField(values, 11)})
    model = build(beauty_like)
    assert model.side["attribute"].multi_valued and model.fusion.num_inputs == 2
    items, table = model.item_tables()
    torch.testing.assert_close(table, items + model.side["attribute"](values))  # the mean of the values' embeddings
    targets = torch.tensor([3, 8])
    logits = items[targets] @ model.side["attribute"].embedding.weight[1:].T
    torch.testing.assert_close(model.iaa_loss(items[targets], targets), iaa_loss(logits, values[targets]))
    loss, parts = model.loss(batch_of(beauty_like, model))
    assert torch.isfinite(loss) and "iaa" in parts


def test_a_dataset_without_side_fields_runs_without_attributes(dataset):
    plain = build(replace(dataset, side={}))
    assert plain.fusion is None and not len(plain.side)
    assert set(plain.loss(batch_of(dataset, plain))[1]) == {"rec", "upa", "loss"}


def test_gat_item_encoder(dataset):
    model = build(dataset, item_encoder="gat")
    loss, _ = model.loss(batch_of(dataset, model))
    loss.backward()
    assert model.item_encoder.conv.lin.weight.grad is not None


@pytest.mark.parametrize("bad", [{"fusion": "mean"}, {"attention_fusion": "gate"}, {"attribute_fusion": "both"},
                                 {"behaviour_fusion": "late"}, {"iaa_weight": -0.4}, {"upa_weight": float("nan")},
                                 {"upa_negatives": 0}, {"attribute_fusion": "none"}, {"behaviour_fusion": "none"},
                                 {"side_fields": ("colour",)}, {"behaviour_fields": ("rating",)},
                                 {"behaviour_fields": ("none", "rating")}, {"num_heads": 3}, {"max_len": 0},
                                 {"dropout": 1.0}, {"item_encoder": "mlp"}])
def test_invalid_settings_are_config_errors(bad, dataset):
    with pytest.raises(ConfigError):
        build(dataset, **bad)


def test_adam_steps_lower_the_training_loss(dataset):
    model = build(dataset)
    batches = batches_of(dataset, model, 16)
    before = mean_losses(model, batches, seed=0)["loss"]  # the same random behaviour sequences before and after
    adam_steps(model, batches, 100)
    assert mean_losses(model, batches, seed=0)["loss"] < 0.8 * before


@pytest.mark.slow
def test_beats_pop_after_a_short_training(dataset):
    pop = Trainer(MODELS["pop"].from_dataset(dataset), dataset, TrainConfig(progress=False)).fit()["test"]["hr@20"]
    model = build(dataset, dim=32)
    results = Trainer(model, dataset, TrainConfig(epochs=2, batch_size=128, lr=3e-3, progress=False)).fit()
    assert results["test"]["hr@20"] > pop + 0.03, (results["test"]["hr@20"], pop)
