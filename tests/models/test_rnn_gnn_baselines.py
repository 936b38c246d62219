import pytest
import torch

from graphsbr import ConfigError, load_dataset
from graphsbr.data.collate import collate_sequences
from graphsbr.data.dataset import SessionSplit
from graphsbr.graphs import collate_session_graphs
from graphsbr.models.base import count_parameters
from graphsbr.models.baselines.gru4rec import GRU4Rec, GRU4RecConfig
from graphsbr.models.baselines.pop import Pop
from graphsbr.models.baselines.spop import SPop
from graphsbr.models.baselines.srgnn import SESSION_EMBEDDINGS, SRGNN, SRGNNConfig
from tests.nn.test_session_gnn import reference_adjacency, reference_gnn_step


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic", num_items=300, num_sessions=3000, cache=False)


def collate(model, split, samples):
    if model.batch_kind == "graph":
        return collate_session_graphs(split, samples, model.max_len)
    return collate_sequences(split, samples, model.max_len)


def random_split(seed, num_sessions=12, num_items=9, max_length=9):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, max_length + 1, (num_sessions,), generator=g).tolist()
    return SessionSplit.from_sequences([torch.randint(1, num_items + 1, (n,), generator=g).tolist()
                                        for n in lengths])


# ---------------------------------------------------------------------------------------------------------- Pop


def test_pop_scores_are_training_click_counts(synthetic):
    model = Pop.from_dataset(synthetic)
    expected = torch.zeros(synthetic.num_items + 1)
    for s in range(synthetic.train.num_sessions):
        for item in synthetic.train.session(s):
            expected[item] += 1
    assert count_parameters(model) == 0
    batch = collate_sequences(synthetic.valid, synthetic.valid.samples[:7])
    scores = model(batch)
    assert scores.shape == (7, synthetic.num_items + 1)
    assert torch.equal(scores, expected.expand(7, -1))
    loss, parts = model.loss(batch)
    assert torch.isfinite(loss) and not loss.requires_grad and parts["loss"] == pytest.approx(float(loss))


def test_spop_ranks_the_sessions_items_by_their_clicks_then_by_popularity():
    # training clicks: item 1 once, item 2 three times, item 3 once, item 4 never -> popularity c / (1 + 3)
    counts = torch.tensor([0.0, 1, 3, 1, 0])
    model = SPop(SPop.Config(), num_items=4, counts=counts)
    split = SessionSplit.from_sequences([[3, 1, 3, 4], [4]], samples=torch.tensor([[0, 3], [0, 1], [1, 1]]))
    batch = collate_sequences(split, split.samples[:2], model.max_len)  # prefixes [3, 1, 3] and [3]
    scores = model(batch)
    torch.testing.assert_close(scores[:, 1:], torch.tensor([[1.25, 0.75, 2.25, 0.0], [0.25, 0.75, 1.25, 0.0]]))
    assert scores[0, 1:].argsort(descending=True).tolist() == [2, 0, 1, 3]  # items 3, 1, 2, 4
    assert count_parameters(model) == 0
    loss, parts = model.loss(batch)
    assert torch.isfinite(loss) and not loss.requires_grad and float(parts["loss"]) == pytest.approx(float(loss))


def test_spop_counts_the_whole_prefix_and_its_popularity_is_pops_order(synthetic):
    model, pop = SPop.from_dataset(synthetic), Pop.from_dataset(synthetic)
    assert model.max_len is None
    assert torch.equal(model.counts, pop.counts)
    batch = collate_sequences(synthetic.valid, synthetic.valid.samples[:32], model.max_len)
    scores = model(batch)
    for row in range(32):
        clicked = batch.items[row, :batch.lengths[row]]
        in_session = torch.zeros(synthetic.num_items + 1, dtype=torch.bool)
        in_session[clicked] = True
        in_session[0] = False
        assert scores[row, in_session].min() >= 1 > scores[row, ~in_session].max()  # session items first


# ------------------------------------------------------------------------------------------ SR-GNN vs reference


def dense_reference_scores(model: SRGNN, split: SessionSplit, samples: torch.Tensor) -> torch.Tensor:
    """SR-GNN's scores computed as the authors' code does: zero-padded inputs, dense per-session A, masks."""
    prefixes = [split.items[split.ptr[s]:split.ptr[s] + cut] for s, cut in samples.tolist()]
    width = max(p.numel() for p in prefixes)
    padded = torch.zeros(len(prefixes), width, dtype=torch.long)
    mask = torch.zeros(len(prefixes), width)
    for b, p in enumerate(prefixes):
        padded[b, :p.numel()], mask[b, :p.numel()] = p, 1
    graphs = [reference_adjacency(row) for row in padded]
    n = max(node.numel() for node, _, _ in graphs)
    items = torch.zeros(len(prefixes), n, dtype=torch.long)
    a_in, a_out = torch.zeros(len(prefixes), n, n), torch.zeros(len(prefixes), n, n)
    alias = torch.zeros_like(padded)
    for b, (node, block_in, block_out) in enumerate(graphs):
        k = node.numel()
        items[b, :k], a_in[b, :k, :k], a_out[b, :k, :k] = node, block_in, block_out
        alias[b] = torch.searchsorted(node, padded[b])
    table = model.item_encoder()
    hidden = table[items]  # [B, n, d]
    for _ in range(model.gnn.step):
        hidden = reference_gnn_step(model.gnn, a_in, a_out, hidden)
    seq = torch.stack([hidden[b][alias[b]] for b in range(len(prefixes))])  # [B, L, d]
    last = seq[torch.arange(len(prefixes)), mask.sum(1).long() - 1]
    alpha = model.q(torch.sigmoid(model.w1(last).unsqueeze(1) + model.w2(seq)))  # [B, L, 1]
    global_ = (alpha * seq * mask.unsqueeze(-1)).sum(1)
    return model.w3(torch.cat([last, global_], 1)) @ table.T


@pytest.mark.parametrize("step", [1, 2])
def test_srgnn_forward_matches_dense_reference(step):
    split = random_split(0)
    torch.manual_seed(0)
    model = SRGNN(SRGNNConfig(dim=16, step=step), num_items=9).eval()
    samples = split.samples[torch.randperm(split.num_samples)[:20]]
    with torch.no_grad():
        scores = model(collate_session_graphs(split, samples))
        expected = dense_reference_scores(model, split, samples)
    assert scores.shape == (20, 10)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_srgnn_init_is_uniform_in_reference_range():
    model = SRGNN(SRGNNConfig(dim=25), num_items=50)
    for name, parameter in model.named_parameters():
        assert parameter.abs().max() <= 0.2, name
    assert model.item_encoder.embedding.weight[0].abs().sum() == 0
    assert model.train_defaults["batch_size"] == 100 and model.train_defaults["lr_step"] == 3


@pytest.mark.parametrize("kind", SESSION_EMBEDDINGS)
def test_srgnn_session_embedding_variants(kind):
    split = random_split(1)
    model = SRGNN(SRGNNConfig(dim=8, session_embedding=kind), num_items=9)
    loss, _ = model.loss(collate_session_graphs(split, split.samples[:10]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_srgnn_unknown_session_embedding():
    with pytest.raises(ConfigError, match="hybrid"):
        SRGNN(SRGNNConfig(session_embedding="mean"), num_items=5)


# ------------------------------------------------------------------------------------------- shared behaviour


def build(cls, dataset, **config):
    torch.manual_seed(0)
    return cls.from_dataset(dataset, cls.Config(**config))


MODELS = [(GRU4Rec, {"dim": 32, "hidden": 32}), (SRGNN, {"dim": 32})]


@pytest.mark.parametrize("cls,config", MODELS)
def test_scores_do_not_depend_on_the_rest_of_the_batch(cls, config, synthetic):
    model = build(cls, synthetic, **config).eval()
    split = synthetic.test
    longest = split.samples[split.samples[:, 1].argsort(descending=True)[:5]]
    short = split.samples[split.samples[:, 1] == 1][:3]
    batch = torch.cat([short, longest])  # the short prefixes are padded far in the sequence batch
    with torch.no_grad():
        together = model(collate(model, split, batch))
        alone = torch.cat([model(collate(model, split, batch[i:i + 1])) for i in range(batch.size(0))])
        shuffled = model(collate(model, split, batch.flip(0))).flip(0)
    assert together.shape == (8, synthetic.num_items + 1)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(together, shuffled, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls,config", MODELS)
def test_training_lowers_the_loss(cls, config, synthetic):
    model = build(cls, synthetic, **config)
    split = synthetic.train
    probe = collate(model, split, split.samples[torch.randperm(split.num_samples)[:512]])

    def probe_loss():
        model.eval()
        with torch.no_grad():
            value = float(model.loss(probe)[0])
        model.train()
        return value

    before = probe_loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=cls.train_defaults["lr"] * 5)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        rows = torch.randint(0, split.num_samples, (64,), generator=g)
        loss, _ = model.loss(collate(model, split, split.samples[rows]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = probe_loss()
    assert before == pytest.approx(torch.log(torch.tensor(synthetic.num_items)).item(), abs=0.5)
    assert after < before - 0.5


@pytest.mark.parametrize("cls,config", MODELS)
def test_gat_item_encoder_runs(cls, config, synthetic):
    model = build(cls, synthetic, item_encoder="gat", **config)
    batch = collate(model, synthetic.train, synthetic.train.samples[:16])
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and model.item_encoder.conv.lin.weight.grad is not None
    model.eval()
    with torch.no_grad():
        assert model(batch).shape == (16, synthetic.num_items + 1)


def test_gru4rec_defaults_and_truncation(synthetic):
    model = build(GRU4Rec, synthetic)
    assert GRU4RecConfig().dim == 100 and model.max_len == 50
    assert model.train_defaults == {"lr": 1e-3, "batch_size": 256}
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.25 for m in model.modules()) == 1
