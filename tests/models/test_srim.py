import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.profiler import profile

from graphsbr import ConfigError, SessionSplit
from graphsbr.data.collate import SequenceBatch, collate_sequences
from graphsbr.data.text import item_text_embedding
from graphsbr.graphs import cooccurrence_graph
from graphsbr.models import MODELS
from graphsbr.models.base import make_config
from graphsbr.models.srim import SRIM, SRIMConfig, alignment_losses, joint_loss, propagate, sparse_product
from graphsbr.nn import DirectAttention
from graphsbr.train import TrainConfig, Trainer

from .helpers import batch_of

SMALL = {"dim": 16, "num_heads": 2, "dropout": 0.0, "attn_dropout": 0.0}
VARIANTS = {
    "-IdMo": {"alignment": False},
    "-JoIn": {"joint": False},
    "-DirAtt (Q = K)": {"attention": "same_qk"},
    "NoAtt": {"attention": "none"},
    "ID stream only": {"use_text": False},
    "eq. 4 without residual": {"residual": False},
    "no L_co": {"cooccurrence_loss": False},
    "mean reduction": {"aux_reduction": "mean"},
    "flag over every session": {"flag_leave_session_out": False},
    "one GCN layer": {"num_layers": 1},
    "top-3 propagation graph": {"graph_top_k": 3},
    "beta 0.01": {"beta": 0.01},
    "last-click read-out": {"readout": "last"},
    "layer-mean tables": {"layer_combination": "mean"},
    "candidates scored after the GCN": {"score_table": "propagated"},
}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vectors(dataset):
    return item_text_embedding(dataset, cache=False)  # a module fixture must not write the cache


def build(dataset, vectors, **overrides) -> SRIM:
    config = SRIMConfig(**{**SMALL, **overrides})
    torch.manual_seed(0)
    return SRIM(config, dataset.num_items, *SRIM.graphs_for(dataset.train, dataset.num_items, config),
                vectors if config.use_text else None)


def tiny(sequences, num_items, **overrides) -> SRIM:
    """An ID-only SRIM over the co-occurrences of ``sequences``."""
    config = SRIMConfig(**{"dim": 4, "num_heads": 1, "use_text": False, **overrides})
    return SRIM(config, num_items, *SRIM.graphs_for(SessionSplit.from_sequences(sequences), num_items, config))


def sequence_batch(items, targets) -> SequenceBatch:
    items = torch.tensor(items)
    return SequenceBatch(items, (items > 0).sum(1), torch.tensor(targets))


# ------------------------------------------------------------------------------------------------ shapes


def test_registered_and_shapes(dataset, vectors):
    assert MODELS["srim"] is SRIM
    model = build(dataset, vectors)
    batch = batch_of(dataset)
    assert model(batch).shape == (64, dataset.num_items + 1)
    loss, parts = model.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert set(parts) == {"loss", "main", "align", "joint", "co"}
    assert model.adjacency.layout == torch.sparse_csr and model.adjacency_t.layout == torch.sparse_csr
    assert "text=tfidf:100" in repr(model)


def test_defaults_are_the_papers():
    c = SRIMConfig()
    assert (c.dim, c.num_layers, c.num_heads, c.beta) == (100, 3, 2, 0.005)
    assert c.score_table == "initial"  # eq. 14's e^id, e^mo: each candidate's own vectors
    assert SRIM.train_defaults == {"lr": 1e-3, "batch_size": 50, "weight_decay": 1e-5}


def test_padding_does_not_change_the_scores(dataset, vectors):
    model = build(dataset, vectors).eval()
    batch = batch_of(dataset)
    wider = replace(batch, items=torch.cat([batch.items, torch.zeros(64, 3, dtype=torch.long)], 1))
    with torch.no_grad():
        assert torch.allclose(model(batch), model(wider), atol=1e-6)


# ------------------------------------------------------------------------------------------------ eq. 4-6


def test_propagation_by_hand():
    # sessions {1, 2}, {1, 2, 3}: A12 = 2, A13 = A23 = 1; D = (3, 3, 2)
    split = SessionSplit.from_sequences([[1, 2], [1, 2, 3]])
    graph = cooccurrence_graph(split, 3, normalize=True)
    adjacency = torch.sparse_coo_tensor(graph.edge_index, graph.edge_weight, (4, 4), check_invariants=False).coalesce()
    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    identity = nn.ModuleList([nn.Linear(2, 2, bias=False)])
    nn.init.eye_(identity[0].weight)
    spread = torch.tensor([[0.0, 0.0], [1 / 3, 1.0], [1.0, 1 / 3], [0.5, 0.5]])  # D^-1 A E
    assert torch.allclose(propagate(adjacency, table, identity), table + spread)
    with torch.no_grad():
        identity[0].weight.mul_(2.0)
    assert torch.allclose(propagate(adjacency, table, identity, residual=False), 2 * spread)
    two = nn.ModuleList([nn.Linear(2, 2, bias=False) for _ in range(2)])
    for layer in two:
        nn.init.eye_(layer.weight)
    assert torch.allclose(propagate(adjacency, table, two)[1], torch.tensor([5 / 2, 43 / 18]))
    # the layer mean of item 1: (E0 + E1 + E2) / 3 = ((1, 0) + (4/3, 1) + (5/2, 43/18)) / 3
    mean = propagate(adjacency, table, two, combination="mean")[1]
    assert torch.allclose(mean, torch.tensor([(1 + 4 / 3 + 5 / 2) / 3, (0 + 1 + 43 / 18) / 3]))


def test_sparse_product_gradient_is_the_transposed_product():
    split = SessionSplit.from_sequences([[1, 2], [1, 2, 3], [3, 4]])
    graph = cooccurrence_graph(split, 4, normalize=True)  # D^-1 A is not symmetric
    coo = torch.sparse_coo_tensor(graph.edge_index, graph.edge_weight, (5, 5), check_invariants=False).coalesce()
    dense = torch.randn(5, 3, requires_grad=True)
    grad = torch.randn(5, 3)
    out = sparse_product(coo.to_sparse_csr(), dense, coo.t().coalesce().to_sparse_csr())
    out.backward(grad)
    assert torch.allclose(out, coo.to_dense() @ dense.detach())
    assert torch.allclose(dense.grad, coo.to_dense().T @ grad)


def test_no_dense_item_by_item_tensor_at_40k_items():
    num_items, generator = 40_000, torch.Generator().manual_seed(0)
    sessions = torch.randint(1, num_items + 1, (30_000, 4), generator=generator)
    split = SessionSplit.from_lengths(torch.full((30_000,), 4), sessions.flatten())
    config = SRIMConfig(dim=8, num_heads=1, num_layers=2)
    vectors = torch.randn(num_items + 1, 6)
    model = SRIM(config, num_items, *SRIM.graphs_for(split, num_items, config), vectors)
    batch = collate_sequences(split, split.samples[:64], 50)
    with profile(profile_memory=True) as profiler:
        loss, _ = model.loss(batch)
        loss.backward()
    largest = max(event.cpu_memory_usage for event in profiler.events())
    assert largest < 50e6, largest  # one dense 40k x 40k float32 matrix would take 6.4 GB
    assert all(t.numel() < num_items ** 2 / 100 for t in [*model.parameters(), *model.buffers()]
               if t.layout == torch.strided)


# ------------------------------------------------------------------------------------------------ eq. 7


def test_direct_attention_by_hand():
    alpha = math.exp(2 ** -0.5) / (1 + math.exp(2 ** -0.5))
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, -3.0]]])  # the third position is padding
    mask = torch.tensor([[True, True, False]])
    direct = DirectAttention(2, heads=1)
    with torch.no_grad():
        direct.query.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # Q = S W^Q swaps the two features
    # row 1: scores (0, 1/sqrt 2) -> (1 - alpha) e1 + alpha e2; row 2 the mirror; padding -> 0
    expected = torch.tensor([[[1 - alpha, alpha], [alpha, 1 - alpha], [0.0, 0.0]]])
    assert torch.allclose(direct(x, mask), expected)
    same = DirectAttention(2, heads=1, transform_query=False)  # Q = K = V = S: the roles swap back
    assert not list(same.parameters())
    assert torch.allclose(same(x, mask), expected[:, :, [1, 0]] * mask.unsqueeze(-1))


def test_direct_attention_heads_split_the_features():
    x = torch.tensor([[[1.0, 2.0], [3.0, -1.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    layer = DirectAttention(2, heads=2, transform_query=False)  # each head sees one feature, scale sqrt(1)
    out = layer(x, mask)[0]
    for head, values in ((0, [1.0, 3.0]), (1, [2.0, -1.0])):
        for row in range(2):
            scores = torch.tensor([values[row] * v for v in values])
            assert torch.isclose(out[row, head], torch.softmax(scores, 0) @ torch.tensor(values))


def test_direct_attention_rejects_bad_heads():
    with pytest.raises(ConfigError, match="multiple of the number of heads"):
        DirectAttention(10, heads=3)


# ------------------------------------------------------------------------------------------------ eq. 9-13


def test_alignment_losses_by_hand():
    p_id, p_mo, cross = 0.3, -0.1, 0.5
    align_id, align_mo, id_mo = alignment_losses(torch.tensor([p_id]), torch.tensor([p_mo]), torch.tensor([cross]))
    assert math.isclose(align_id.item(), math.log(1 + math.exp(cross) / (1 + math.exp(p_id))), rel_tol=1e-6)
    assert math.isclose(align_mo.item(), math.log(1 + math.exp(cross) / (1 + math.exp(p_mo))), rel_tol=1e-6)
    assert math.isclose(id_mo.item(), math.log(1 + (math.exp(p_id) + math.exp(p_mo)) / (1 + math.exp(cross))),
                        rel_tol=1e-6)


def test_joint_loss_by_hand():
    a, b = 0.5, -0.2
    both = math.log(math.exp(a) + math.exp(b))
    loss = joint_loss(torch.tensor([a, a]), torch.tensor([b, b]), torch.tensor([True, False]))
    assert torch.allclose(loss, torch.tensor([both - a + 0.5 * (both - b), both - b + 0.5 * (both - a)]))


def test_joint_inference_flag_by_hand():
    # A12 = 2, A23 = 1, A13 = 0; item 4 co-occurs with nothing
    model = tiny([[1, 2], [2, 3], [1, 2], [4, 4]], 4)
    batch = sequence_batch([[1, 0], [1, 0], [3, 0], [2, 1], [4, 3]], [2, 3, 2, 2, 1])
    flag = model.cooccurs(batch.items, batch.mask, batch.targets)
    assert flag.tolist() == [True, False, True, True, False]  # row 4: the target is in the session
    leave_out = model.cooccurs(batch.items, batch.mask, batch.targets, min_count=2)
    assert leave_out.tolist() == [True, False, False, True, False]  # A32 = 1 is the sample's own session


# ------------------------------------------------------------------------------------------------ eq. 17


def test_positives_are_the_top_l_neighbours():
    model = tiny([[1, 2], [2, 3], [1, 2], [2, 4], [1, 4]], 4, co_samples=2)
    # counts: 1-2: 2, 1-4: 1, 2-3: 1, 2-4: 1; ties go to the smaller id
    assert model.positives.tolist() == [[0, 0], [2, 4], [1, 3], [2, 0], [1, 2]]


def test_cooccurrence_loss_by_hand():
    model = tiny([[1, 2], [2, 3]], 3, co_samples=4)  # 1 never co-occurs with 3
    table = torch.randn(4, 4)
    torch.manual_seed(5)
    loss = model.cooccurrence_loss(table, torch.tensor([1]))
    torch.manual_seed(5)
    hits = int((torch.randint(1, 4, (1, 4)) == 3).sum())  # the only usable negative of item 1 is 3
    positive = torch.cosine_similarity(table[1], table[2], dim=0)
    negative = torch.cosine_similarity(table[1], table[3], dim=0)
    expected = torch.log(positive.exp() + hits * negative.exp()) - positive
    assert torch.isclose(loss[0], expected)
    complete = tiny([[1, 2, 3]], 3, co_samples=4)  # every draw co-occurs or is the item itself
    assert torch.equal(complete.cooccurrence_loss(table, torch.tensor([1, 2, 3])), torch.zeros(3))


# ------------------------------------------------------------------------------------------------ switches


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_switch_changes_the_computation(dataset, vectors, name):
    batch = batch_of(dataset)
    full, variant = build(dataset, vectors), build(dataset, vectors, **VARIANTS[name])
    torch.manual_seed(1)
    full_loss, full_parts = full.loss(batch)
    torch.manual_seed(1)
    loss, parts = variant.loss(batch)
    assert torch.isfinite(loss)
    assert not math.isclose(loss.item(), full_loss.item(), rel_tol=1e-6), name
    expected_parts = {"-IdMo": {"loss", "main", "joint", "co"}, "-JoIn": {"loss", "main", "align", "co"},
                      "ID stream only": {"loss", "main", "co"}, "no L_co": {"loss", "main", "align", "joint"}}
    assert set(parts) == expected_parts.get(name, set(full_parts))


@pytest.mark.parametrize("attention", ["direct", "none"])
def test_last_click_readout_is_the_attended_row_of_the_last_click(attention):
    model = tiny([[1, 2, 3], [2, 4]], 4, readout="last", attention=attention).eval()
    batch = sequence_batch([[1, 2, 3], [4, 2, 0]], [2, 1])
    ids, _ = model.tables()
    s, hat = model.sessions(ids, batch, model.id_attention)
    sequence = ids[batch.items]
    attended = sequence if attention == "none" else model.id_attention(sequence, batch.mask)
    assert torch.allclose(hat, attended[[0, 1], [2, 1]])  # rows' last clicks: positions 2 and 1
    assert torch.allclose(s, sequence.sum(1) / batch.lengths.unsqueeze(1))  # eq. 5 stays the mean


def test_initial_score_table_scores_the_sessions_against_the_tables_before_the_gcn(dataset, vectors):
    model = build(dataset, vectors).eval()  # score_table="initial", the default
    batch = batch_of(dataset)
    out = model.represent(batch)
    ids, modality = model.tables()
    assert not torch.allclose(ids, model.id_embedding.weight)  # the sessions still read the propagated tables
    initial_modality = model.text_projection(model.text_vectors)
    expected = out["hat_id"] @ model.id_embedding.weight.T + out["hat_mo"] @ initial_modality.T
    assert torch.allclose(out["scores"], expected, atol=1e-5)
    assert torch.equal(model(batch), out["scores"])


def test_attention_variants(dataset, vectors):
    assert build(dataset, vectors).id_attention.query is not None
    assert build(dataset, vectors, attention="same_qk").id_attention.query is None  # SRIM-DirAtt: Q = K
    assert build(dataset, vectors, attention="none").id_attention is None


@pytest.mark.parametrize("setting", [{"attention": "bogus"}, {"text_encoder": "bert"}, {"aux_reduction": "median"},
                                     {"dim": 10, "num_heads": 3}, {"beta": -1.0}, {"co_samples": 0},
                                     {"num_layers": -1}, {"dropout": 1.0}, {"graph_top_k": -2},
                                     {"readout": "first"}, {"layer_combination": "sum"},
                                     {"score_table": "final"}])
def test_invalid_settings_raise(dataset, setting):
    with pytest.raises(ConfigError):
        SRIM.from_dataset(dataset, make_config(SRIMConfig, setting))


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: dim"):
        make_config(SRIMConfig, {"colour": "red"})


def test_dataset_without_text(dataset):
    no_text = replace(dataset, text=None)
    with pytest.raises(ConfigError, match="has none; set use_text=false"):
        SRIM.from_dataset(no_text, SRIMConfig(**SMALL))
    model = SRIM.from_dataset(no_text, SRIMConfig(**SMALL, use_text=False))
    assert model(batch_of(dataset)).shape == (64, dataset.num_items + 1)


def test_text_encoder_setting_chooses_the_encoder(dataset, monkeypatch):
    used = []

    def fake(data, encoder):
        used.append(encoder)
        return torch.randn(data.num_items + 1, 7)

    monkeypatch.setattr("graphsbr.data.text.item_text_embedding", fake)
    model = SRIM.from_dataset(dataset, SRIMConfig(**SMALL, text_encoder="minilm"))
    assert used == ["minilm"] and model.text_projection.in_features == 7


def test_text_vectors_are_never_overwritten(dataset, vectors):
    model = SRIM.from_dataset(dataset, SRIMConfig(**SMALL))  # from_dataset encodes (and caches) the text
    assert torch.equal(model.text_vectors, vectors)
    model.reset_parameters()
    assert torch.equal(model.text_vectors, vectors)
    assert not any(p.data_ptr() == model.text_vectors.data_ptr() for p in model.parameters())
    trainable = build(dataset, vectors, text_trainable=True)
    assert torch.equal(trainable.text_table, vectors)
    optimizer = torch.optim.Adam(trainable.parameters(), lr=1e-2)
    trainable.loss(batch_of(dataset))[0].backward()
    optimizer.step()
    assert not torch.equal(trainable.text_table, vectors) and torch.equal(trainable.text_vectors, vectors)


def test_eval_tables_are_refreshed_after_loading_weights(dataset, vectors):
    batch = batch_of(dataset)
    model, other = build(dataset, vectors).eval(), build(dataset, vectors).eval()
    with torch.no_grad():
        other.id_embedding.weight.mul_(2.0)
        before = model(batch)
        model.load_state_dict(other.state_dict())
        assert not torch.allclose(model(batch), before)
        assert torch.allclose(model(batch), other(batch))


# ------------------------------------------------------------------------------------------------ training


def test_a_few_steps_lower_the_loss(dataset, vectors):
    model = build(dataset, vectors, dim=32, dropout=0.3, attn_dropout=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = batch_of(dataset, rows=slice(0, 256))
    losses = []
    for _ in range(30):
        loss, parts = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(parts["main"])
    assert losses[-1] < losses[0] - 0.5, losses


@pytest.mark.slow
def test_beats_pop(dataset):
    config = TrainConfig(epochs=2, batch_size=128, lr=3e-3, weight_decay=0.0, progress=False)
    pop = Trainer(MODELS["pop"].from_dataset(dataset), dataset, config).fit()["test"]["hr@20"]
    torch.manual_seed(0)
    model = SRIM.from_dataset(dataset, SRIMConfig(dim=32))
    hr = Trainer(model, dataset, config).fit()["test"]["hr@20"]
    assert hr > pop + 0.03, (hr, pop)
