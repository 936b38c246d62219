from dataclasses import replace

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GATConv

from graphsbr import ConfigError
from graphsbr.data.collate import collate_sequences
from graphsbr.models import a2dmtl
from graphsbr.models.a2dmtl import A2DMTL, A2DMTLConfig
from graphsbr.models.base import masked_mean
from graphsbr.nn.adaptive_entmax import (
    ALPHA_MARGIN,
    AdaptiveAlpha,
    AdaptiveEntmaxAttention,
    EntmaxReadout,
    masked_entmax,
)
from graphsbr.nn.graph_encoder import GraphAttentionEncoder
from graphsbr.nn.projected_table import ProjectedTable
from graphsbr.nn.weighted_edge_gat_conv import WeightedEdgeGATConv
from graphsbr.train.trainer import refresh_memory

from .helpers import adam_steps, batch_of, batches_of, mean_losses

SMALL = {"dim": 16, "dropout": 0.1}
ABLATIONS = {
    "full": {},
    "w/o CATE": {"use_category": False},
    "w/o EXP": {"category_graph": False},
    "w/o SPA": {"sparse_attention": False},
    "w/o AdaSPA": {"adaptive_alpha": False, "alpha": 1.5},
    "no neighbours": {"neighbours": 0},
    "gatv2": {"gat_version": "gatv2"},
    "readout item": {"readout_values": "item"},
    "readout attention": {"readout_values": "attention"},
    "scores on embeddings": {"item_scores": "embedding"},
    "residual": {"item_residual": True},
    "fresh neighbours": {"neighbour_means": "fresh"},
    "dot-product scores": {"score_scale": 0.0},
    "cosine scores on embeddings": {"item_scores": "embedding"},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def build(dataset, refresh=True, **overrides):
    torch.manual_seed(0)
    model = A2DMTL.from_dataset(dataset, A2DMTLConfig(**{**SMALL, **overrides}))
    if refresh:
        refresh_memory(model, dataset)
    return model


# --------------------------------------------------------------------------------------------- adaptive entmax


def test_entmax_weights_sum_to_one_and_skip_masked_entries():
    scores = torch.randn(4, 6, 6)
    mask = (torch.arange(6) < torch.tensor([6, 3, 1, 5])[:, None])[:, None, :]  # [4, 1, 6]
    for alpha in (None, 1.5, torch.tensor([1.1, 1.5, 1.9, 2.0])):
        weights = masked_entmax(scores, mask, alpha)
        torch.testing.assert_close(weights.sum(-1), torch.ones(4, 6))
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
        assert (weights >= 0).all()


def test_entmax_is_sparse_near_two_and_softmax_near_one():
    scores = torch.randn(32, 20) * 3
    mask = torch.ones(32, 20, dtype=torch.bool)
    near_two = masked_entmax(scores, mask, 1.99)
    assert (near_two == 0).float().mean() > 0.5
    assert (masked_entmax(scores, mask, None) > 0).all()  # softmax: dense
    torch.testing.assert_close(masked_entmax(scores, mask, 1.001), torch.softmax(scores, -1), atol=2e-3, rtol=0)
    torch.testing.assert_close(masked_entmax(scores, mask, None), torch.softmax(scores, -1))


def test_entmax_with_a_tensor_alpha_matches_the_same_alpha_row_by_row():
    scores = torch.randn(3, 7)
    alpha = torch.tensor([1.2, 1.5, 1.8])
    mask = torch.ones(3, 7, dtype=torch.bool)
    rows = torch.cat([masked_entmax(scores[i:i + 1], mask[i:i + 1], float(alpha[i])) for i in range(3)])
    torch.testing.assert_close(masked_entmax(scores, mask, alpha), rows)


def test_adaptive_alpha_stays_inside_one_two_and_gets_gradients():
    layer = AdaptiveAlpha(8)
    g = torch.cat([torch.randn(16, 8), torch.full((1, 8), 1e4), torch.full((1, 8), -1e4)])
    with torch.no_grad():
        layer.linear.weight.fill_(1.0)
    alpha = layer(g)
    assert alpha.shape == (18,)
    assert (alpha > 1).all() and (alpha < 2).all()
    assert alpha.min() >= 1 + ALPHA_MARGIN - 1e-6 and alpha.max() <= 2 - ALPHA_MARGIN + 1e-6
    attention, readout = AdaptiveEntmaxAttention(8), EntmaxReadout(8)
    x, mask = torch.randn(16, 5, 8), torch.ones(16, 5, dtype=torch.bool)
    alpha = layer(torch.randn(16, 8))
    out, weights = readout(attention(x, mask, alpha), x, mask, alpha)
    out.pow(2).sum().backward()
    assert layer.linear.weight.grad.abs().sum() > 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(16))


def test_readout_weights_sum_to_one_and_are_zero_at_padding():
    readout = EntmaxReadout(4)
    a, values = torch.randn(3, 5, 4), torch.randn(3, 5, 2)
    mask = torch.arange(5) < torch.tensor([5, 2, 1])[:, None]
    out, weights = readout(a, values, mask, torch.tensor([1.3, 1.6, 1.9]))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(out[2], values[2, 0])  # a single click takes all the weight
    torch.testing.assert_close(out, torch.einsum("bl,bld->bd", weights, values))


def test_graph_attention_encoder_keeps_self_loop_weights_and_zero_padding():
    graph = Data(edge_index=torch.tensor([[1, 1, 2], [1, 2, 3]]), edge_weight=torch.tensor([0.25, 0.75, 1.0]),
                 num_nodes=4)
    encoder = GraphAttentionEncoder(4, 6, graph)
    loops = encoder.edge_index[0] == encoder.edge_index[1]
    weight_of = dict(zip(encoder.edge_index[0, loops].tolist(), encoder.edge_weight[loops, 0].tolist()))
    assert weight_of == {0: 0.0, 1: 0.25, 2: 0.0, 3: 0.0}  # the observed 1 -> 1 kept, the others added at 0
    out = encoder(torch.randn(4, 6))
    assert out.shape == (4, 6) and (out[0] == 0).all()


@pytest.mark.parametrize("heads,edge_dim,concat", [(1, 1, True), (3, 2, True), (2, 1, False)])
def test_weighted_edge_gat_conv_matches_pyg_gat_conv(heads, edge_dim, concat):
    torch.manual_seed(0)
    options = {"heads": heads, "edge_dim": edge_dim, "concat": concat, "add_self_loops": False}
    reference, fast = GATConv(8, 4, **options), WeightedEdgeGATConv(8, 4, **options)
    fast.load_state_dict(reference.state_dict())
    x = torch.randn(10, 8, requires_grad=True)
    key = torch.randperm(100)[:40]
    edge_index, edge_attr = torch.stack([key // 10, key % 10]), torch.rand(40, edge_dim)
    outputs = [conv(x, edge_index, edge_attr) for conv in (reference, fast)]
    torch.testing.assert_close(outputs[1], outputs[0])
    grads = [torch.autograd.grad(out.pow(2).sum(), [x, *conv.parameters()])
             for out, conv in zip(outputs, (reference, fast))]
    for expected, got in zip(*grads):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------------------ model


def test_scores_every_item_and_category(dataset):
    model = build(dataset).eval()
    batch = batch_of(dataset, model)
    scores = model(batch)
    assert scores.shape == (64, dataset.num_items + 1)
    assert torch.isfinite(scores).all()
    assert model.category_scores(batch).shape == (64, dataset.side["category"].vocab_size + 1)


def test_alpha_of_the_model_is_per_session_and_inside_one_two(dataset):
    model = build(dataset).eval()
    alpha = model.alpha_of(torch.randn(10, SMALL["dim"]) * 100)
    assert alpha.shape == (10,) and (alpha > 1).all() and (alpha < 2).all()


def test_padding_beyond_lengths_does_not_change_the_scores(dataset):
    model = build(dataset).eval()
    batch = batch_of(dataset, model, rows=slice(0, 200))
    width = batch.items.size(1) + 5
    items = torch.nn.functional.pad(batch.items, (0, 5))
    padded = torch.arange(width) >= batch.lengths[:, None]
    items = torch.where(padded, torch.randint(1, dataset.num_items + 1, items.shape), items)
    side = {name: f.values[:, 0][items] for name, f in dataset.side.items()}
    torch.testing.assert_close(model(replace(batch, items=items, side=side)), model(batch))


def test_memory_holds_the_mean_item_embedding_of_every_training_session(dataset):
    model = build(dataset).eval()
    assert model.memory.shape == (dataset.train.num_sessions, SMALL["dim"])
    assert torch.equal(model.memory_sessions, torch.arange(dataset.train.num_sessions))
    torch.testing.assert_close(model.memory.norm(dim=1), torch.ones(dataset.train.num_sessions))
    items = model.tables()[0]
    for s in (0, 7, dataset.train.num_sessions - 1):
        prefix = dataset.train.session(s)[:-1][-model.max_len:]
        torch.testing.assert_close(model.memory[s] * model.memory_norm[s], items[prefix].mean(0))


def test_memory_must_be_filled_before_predicting(dataset):
    model = build(dataset, refresh=False).eval()
    with pytest.raises(RuntimeError, match="refresh_memory"):
        model(batch_of(dataset, model))
    model_without = build(dataset, refresh=False, neighbours=0).eval()
    assert torch.isfinite(model_without(batch_of(dataset, model_without))).all()


def test_a_test_prediction_does_not_depend_on_its_batch_mates(dataset):
    model = build(dataset).eval()
    batch = batch_of(dataset, model, slice(0, 40), split="test")
    together = model(batch)
    for row in (0, 13, 39):
        alone = collate_sequences(dataset.test, dataset.test.samples[row:row + 1], model.max_len, dataset.side)
        torch.testing.assert_close(model(alone)[0], together[row], atol=1e-5, rtol=1e-5)
    shuffled = torch.randperm(40)
    mates = collate_sequences(dataset.test, dataset.test.samples[:40][shuffled], model.max_len, dataset.side)
    torch.testing.assert_close(model(mates), together[shuffled], atol=1e-5, rtol=1e-5)


def test_a_training_sample_never_retrieves_its_own_session(dataset):
    model = build(dataset, neighbours=5)
    batch = batch_of(dataset, model, rows=slice(0, 500))
    model.eval()
    index, _ = model.retrieve(batch)
    own = (index == batch.sessions[:, None]).any(1)
    assert own.float().mean() > 0.3  # without the mask, a prefix often finds its own session
    model.train()
    index, gamma = model.retrieve(batch)
    assert index.shape == (500, 5)
    assert not (index == batch.sessions[:, None]).any()
    torch.testing.assert_close(gamma.sum(1), torch.ones(500))


def test_fresh_neighbour_means_are_the_current_tables_and_equal_the_memory_right_after_a_refresh(dataset):
    stored, fresh = build(dataset, neighbours=4).eval(), build(dataset, neighbours=4, neighbour_means="fresh").eval()
    batch = batch_of(dataset, stored, rows=slice(0, 200))
    average = masked_mean(stored.tables()[0][batch.items], batch.mask, 1)
    expected = stored.inter_session(average)
    got = fresh.inter_session(average, items=fresh.tables()[0])
    torch.testing.assert_close(got[0], expected[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], expected[1])
    with torch.no_grad():  # the weights move on after the refresh: only the fresh means follow them
        for model in (stored, fresh):
            model.item_embedding.weight.mul_(1.5).add_(0.01)
    stored.train(), fresh.train()
    items = fresh.tables()[0]
    average = masked_mean(items[batch.items], batch.mask, 1)
    s_inter, sessions, gamma = fresh.inter_session(average, batch.sessions, items)
    prefix = lambda m: torch.as_tensor(dataset.train.session(int(m))[:-1][-fresh.max_len:])  # what the memory holds
    now = torch.stack([torch.stack([items[prefix(m)].mean(0) for m in row]) for row in sessions])  # [B, R, d]
    unit = torch.nn.functional.normalize(average, dim=-1)
    by_hand = torch.softmax((unit.unsqueeze(1) * torch.nn.functional.normalize(now, dim=-1)).sum(-1), 1)
    torch.testing.assert_close(gamma, by_hand, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s_inter, (by_hand.unsqueeze(-1) * now).sum(1), atol=1e-5, rtol=1e-5)
    stale = stored.inter_session(average, batch.sessions, items)[0]
    assert not torch.allclose(stale, s_inter, atol=1e-3)
    s_inter.square().sum().backward()  # the neighbours' means carry gradients to the embeddings
    assert fresh.item_embedding.weight.grad.abs().sum() > 0


def full_table(encoder):
    """The item GAT before the factoring: every node projected, then aggregated."""
    def table(x, residual=False):
        h = x
        for layer in encoder.layers:
            h = layer(h, encoder.edge_index, encoder.edge_weight)
        h = h + x if residual else h
        return ProjectedTable(h * (torch.arange(h.size(0)) != 0).unsqueeze(1), padding_idx=0)
    return table


def brute_force_nearest(model):
    """The neighbour search before the factoring: cosines with every stored unit row, own session barred."""
    @torch.no_grad()
    def nearest(unit, exclude=None):
        similarity = unit @ model.memory.T  # [B, M]
        if exclude is not None:
            own = model.memory_row[exclude]
            for row in torch.nonzero(own >= 0).squeeze(1):
                similarity[row, own[row]] = float("-inf")
        values, rows = similarity.topk(min(model.config.neighbours, model.memory.size(0)), dim=1)
        return rows, torch.isfinite(values)
    return nearest


def assert_same_neighbours(fast, slow, batch):
    """The same neighbours, or rows of the same cosine where several tie (sessions of the same items)."""
    found, expected = fast.retrieve(batch)[0], slow.retrieve(batch)[0]
    unit = torch.nn.functional.normalize(masked_mean(fast.tables()[0][batch.items], batch.mask, 1), dim=-1)
    cosine = lambda sessions: (unit.unsqueeze(1) * fast.memory[fast.memory_row[sessions]]).sum(-1)
    torch.testing.assert_close(cosine(found), cosine(expected))


@pytest.mark.parametrize("variant", ["full", "w/o EXP", "gatv2", "residual", "fresh neighbours"])
def test_the_fast_step_equals_the_full_table_and_brute_force_search(variant, dataset, monkeypatch):
    fast = build(dataset, neighbours=4, **ABLATIONS[variant])
    slow = build(dataset, neighbours=4, **ABLATIONS[variant])
    monkeypatch.setattr(slow.item_gat, "table", full_table(slow.item_gat))
    monkeypatch.setattr(slow, "nearest", brute_force_nearest(slow))
    batch = batch_of(dataset, fast, rows=slice(0, 300))
    for mode in (False, True):  # eval, then training mode (where a sample's own session is barred)
        fast.train(mode), slow.train(mode)
        assert_same_neighbours(fast, slow, batch)
    for model in (fast, slow):
        torch.manual_seed(1)  # the same dropout
        loss, parts = model.loss(batch)
        loss.backward()
        model.parts = parts
    torch.testing.assert_close(fast.parts, slow.parts)
    for (name, a), b in zip(fast.named_parameters(), slow.parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=lambda m: f"{name}: {m}")
    fast.eval(), slow.eval()
    test = batch_of(dataset, fast, rows=slice(0, 100), split="test")
    torch.testing.assert_close(fast(test), slow(test), atol=1e-5, rtol=1e-5)


def test_the_search_in_small_chunks_finds_the_same_neighbours(dataset, monkeypatch):
    model = build(dataset, neighbours=5)
    batch = batch_of(dataset, model, rows=slice(0, 300))
    whole = build(dataset, neighbours=5)
    monkeypatch.setattr(whole, "nearest", brute_force_nearest(whole))
    monkeypatch.setattr(a2dmtl, "MEMORY_CHUNK", 37)  # chunk borders everywhere, own sessions on both sides
    assert model.memory.size(0) > 10 * 37
    for mode in (False, True):
        model.train(mode), whole.train(mode)
        assert_same_neighbours(model, whole, batch)
    assert not (model.retrieve(batch)[0] == batch.sessions[:, None]).any()


def test_evaluation_encodes_the_item_graph_once(dataset, monkeypatch):
    model = build(dataset)
    calls = []
    table = model.item_gat.table
    monkeypatch.setattr(model.item_gat, "table", lambda x, residual: calls.append(1) or table(x, residual))
    model.train()  # as after a training epoch
    refresh_memory(model, dataset)
    model.eval()
    model(batch_of(dataset, model, split="test"))
    model(batch_of(dataset, model, split="valid"))
    assert len(calls) == 1
    model.train()
    model.loss(batch_of(dataset, model))
    model.eval()
    model(batch_of(dataset, model, split="test"))
    assert len(calls) == 3  # a training step, then one new encoding for the new weights


def test_items_can_be_scored_against_the_embeddings_fed_to_the_gat(dataset):
    model = build(dataset, item_scores="embedding", score_scale=0.0).eval()  # the dot product
    batch = batch_of(dataset, model, split="test")
    s_item = model.represent(batch)[0]
    torch.testing.assert_close(model(batch), s_item @ model.item_embedding.weight.T)


@pytest.mark.parametrize("item_scores", ["gat", "embedding"])
def test_score_scale_scores_by_the_scaled_cosine(dataset, item_scores):
    model = build(dataset, item_scores=item_scores, score_scale=20.0)
    plain = build(dataset, item_scores=item_scores, score_scale=0.0)
    batch = batch_of(dataset, model, split="test")
    for mode in ("train", "eval"):  # the training path (unit rows each step) and the cached eval tables
        getattr(model, mode)(), getattr(plain, mode)()
        torch.manual_seed(1)
        s_item, _, table, _ = plain.represent(batch)
        rows = table.full()
        by_hand = 20.0 * torch.nn.functional.cosine_similarity(s_item.unsqueeze(1), rows.unsqueeze(0), dim=-1)
        by_hand[:, 0] = 0.0  # the padding item
        torch.manual_seed(1)
        s_item, _, table, _ = model.represent(batch)
        scores = model.item_logits(s_item, table)
        if mode == "eval":
            torch.testing.assert_close(model(batch), scores)
        torch.testing.assert_close(scores[:, 1:], by_hand[:, 1:], atol=1e-5, rtol=1e-5)
        assert scores[:, 1:].abs().max() <= 20.0 + 1e-4


@pytest.mark.parametrize("variant", ABLATIONS)
def test_every_variant_runs_forward_and_loss(variant, dataset):
    model = build(dataset, **ABLATIONS[variant])
    batch = batch_of(dataset, model)
    loss, parts = model.train().loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    expected = {"item", "loss"} | ({"category"} if variant not in ("w/o CATE", "w/o EXP") else set())
    assert set(parts) == expected
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(model.eval()(batch)).all()


def test_variants_switch_the_modules_they_name(dataset):
    assert not hasattr(build(dataset, refresh=False, use_category=False), "category_embedding")
    folded = build(dataset, refresh=False, category_graph=False)
    assert hasattr(folded, "category_embedding") and not hasattr(folded, "category_gat")
    assert build(dataset, refresh=False, adaptive_alpha=False).alpha is None
    assert build(dataset, refresh=False, sparse_attention=False).alpha_of(torch.zeros(2, 16)) is None


def test_category_loss_is_weighted_by_lambda(dataset):
    batch = batch_of(dataset, build(dataset, refresh=False))
    losses = []
    for weight in (0.0, 1.0):
        model = build(dataset, category_weight=weight).eval()
        with torch.no_grad():
            losses.append(model.loss(batch))
    (zero, parts0), (one, parts1) = losses
    assert abs(float(zero) - parts0["item"]) < 1e-5
    assert abs(float(one) - (parts1["item"] + parts1["category"])) < 1e-4


@pytest.mark.slow
def test_adam_steps_lower_the_training_loss(dataset):
    model = build(dataset, dropout=0.0)
    batches = batches_of(dataset, model, 20, size=100)
    before = mean_losses(model, batches)["loss"]
    adam_steps(model, batches, 200, lr=1e-2)
    refresh_memory(model, dataset)
    assert mean_losses(model, batches)["loss"] < before - 0.5


def test_without_categories_needs_the_w_o_cate_switch(dataset):
    plain = replace(dataset, side={})
    with pytest.raises(ConfigError, match="no side fields.*use_category=false"):
        A2DMTL.from_dataset(plain, A2DMTLConfig(**SMALL))
    with pytest.raises(ConfigError, match="brand"):
        A2DMTL.from_dataset(replace(dataset, side={"brand": dataset.side["brand"]}), A2DMTLConfig(**SMALL))
    model = build(plain, use_category=False)
    batch = batch_of(plain, model)
    assert batch.side == {}
    loss, parts = model.train().loss(batch)
    loss.backward()
    assert set(parts) == {"item", "loss"}
    assert model.eval()(batch).shape == (64, dataset.num_items + 1)


def test_any_single_valued_field_can_play_the_category(dataset):
    model = build(dataset, category_field="brand").eval()
    assert model.category_scores(batch_of(dataset, model)).shape[1] == dataset.side["brand"].vocab_size + 1


def test_invalid_settings_are_config_errors(dataset):
    for bad in ({"gat_version": "gcn"}, {"alpha": 1.0}, {"neighbours": -1}, {"max_len": None},
                {"readout_values": "category"}, {"score_scale": -1.0}):
        with pytest.raises(ConfigError):
            A2DMTL.from_dataset(dataset, A2DMTLConfig(**{**SMALL, **bad}))
