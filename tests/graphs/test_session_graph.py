import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch

from graphsbr.data.dataset import SessionSplit
from graphsbr.graphs import SessionGraph, collate_session_graphs, session_graph

ATTRS = ("x", "edge_index", "edge_weight_out", "edge_weight_in", "alias_index", "y", "length", "batch", "ptr")


def random_split(seed, num_sessions=60, num_items=12):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 15, (num_sessions,), generator=g).tolist()
    return SessionSplit.from_sequences(
        [torch.randint(1, num_items + 1, (n,), generator=g).tolist() for n in lengths])


def test_session_graph_exact():
    graph = session_graph(torch.tensor([5, 3, 5, 5, 7]), 9)
    assert isinstance(graph, SessionGraph)
    assert graph.x.tolist() == [3, 5, 7] and graph.num_nodes == 3
    assert graph.alias_index.tolist() == [1, 0, 1, 1, 2]
    assert graph.edge_index.tolist() == [[0, 1, 1, 1], [1, 0, 1, 2]]  # 3->5, 5->3, 5->5, 5->7
    assert torch.equal(graph.edge_weight_out, torch.tensor([1.0, 1 / 3, 1 / 3, 1 / 3]))
    assert graph.edge_weight_in.tolist() == [0.5, 1.0, 0.5, 1.0]
    assert graph.y.tolist() == [9] and graph.length.tolist() == [5]


def test_session_graph_distinct_edges_and_single_click():
    graph = session_graph(torch.tensor([1, 2, 1, 2]))
    assert graph.edge_index.tolist() == [[0, 1], [1, 0]]
    assert graph.edge_weight_out.tolist() == [1.0, 1.0] and graph.edge_weight_in.tolist() == [1.0, 1.0]
    assert "y" not in graph
    single = session_graph(torch.tensor([4]))
    assert single.x.tolist() == [4] and single.edge_index.shape == (2, 0) and single.alias_index.tolist() == [0]
    with pytest.raises(ValueError):
        session_graph(torch.tensor([], dtype=torch.long))


def test_session_graph_matches_networkx():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        prefix = torch.randint(1, 8, (int(torch.randint(1, 12, (1,), generator=g)),), generator=g)
        graph = session_graph(prefix)
        ref = nx.DiGraph()
        ref.add_nodes_from(prefix.tolist())
        ref.add_edges_from(zip(prefix.tolist(), prefix[1:].tolist()))
        x = graph.x.tolist()
        assert x == sorted(ref.nodes)
        assert [(x[u], x[v]) for u, v in graph.edge_index.t().tolist()] == sorted(ref.edges)
        out = [1 / ref.out_degree(x[u]) for u in graph.edge_index[0].tolist()]
        inc = [1 / ref.in_degree(x[v]) for v in graph.edge_index[1].tolist()]
        assert torch.equal(graph.edge_weight_out, torch.tensor(out))
        assert torch.equal(graph.edge_weight_in, torch.tensor(inc))
        assert torch.equal(graph.x[graph.alias_index], prefix)


def reference_batch(split, samples, max_len):
    graphs = []
    for s, cut in samples.tolist():
        prefix, target = split.items[split.ptr[s]:split.ptr[s] + cut], split.items[split.ptr[s] + cut]
        graphs.append(session_graph(prefix if max_len is None else prefix[-max_len:], target))
    return Batch.from_data_list(graphs)


def assert_same_batch(batch, ref):
    assert type(batch) is type(ref)
    assert set(batch.keys()) == set(ref.keys()) == set(ATTRS)
    for key in ATTRS:
        assert batch[key].dtype == ref[key].dtype, key
        assert torch.equal(batch[key], ref[key]), key
    assert batch.num_graphs == ref.num_graphs and batch.num_nodes == ref.num_nodes
    for key in ref._slice_dict:
        assert torch.equal(batch._slice_dict[key], ref._slice_dict[key]), key
        assert torch.equal(batch._inc_dict[key], ref._inc_dict[key]), key


@pytest.mark.parametrize("max_len", [None, 1, 3, 100])
def test_collate_equals_from_data_list(max_len):
    split = random_split(0)
    samples = split.samples[torch.randperm(split.num_samples, generator=torch.Generator().manual_seed(1))[:40]]
    batch = collate_session_graphs(split, samples, max_len=max_len)
    ref = reference_batch(split, samples, max_len)
    assert_same_batch(batch, ref)
    for b in (0, 17, 39):
        example, expected = batch.get_example(b), ref.get_example(b)
        for key in expected.keys():  # noqa: SIM118 -- iterating a Data yields (key, value) pairs
            assert torch.equal(example[key], expected[key]), key


def test_collate_exact_offsets_and_truncation():
    split = SessionSplit.from_sequences([[1, 2, 3, 2], [2, 3], [4, 4, 1]])
    batch = collate_session_graphs(split, torch.tensor([[0, 3], [2, 2], [1, 1]]), max_len=2)
    # prefixes [2, 3] -> 2, [4, 4] -> 1, [2] -> 3
    assert batch.x.tolist() == [2, 3, 4, 2]
    assert batch.edge_index.tolist() == [[0, 2], [1, 2]]
    assert batch.alias_index.tolist() == [0, 1, 2, 2, 3]
    assert batch.y.tolist() == [2, 1, 3] and batch.length.tolist() == [2, 2, 1]
    assert batch.batch.tolist() == [0, 0, 1, 2] and batch.ptr.tolist() == [0, 2, 3, 4]


def test_collate_rejects_bad_arguments():
    split = SessionSplit.from_sequences([[1, 2, 3]])
    with pytest.raises(ValueError, match="max_len"):
        collate_session_graphs(split, torch.tensor([[0, 2]]), max_len=0)
    with pytest.raises(ValueError, match="cut"):
        collate_session_graphs(split, torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="at least one sample"):
        collate_session_graphs(split, torch.zeros(0, 2, dtype=torch.long))


def test_collate_alias_recovers_prefixes():
    split = random_split(3)
    batch = collate_session_graphs(split, split.samples)
    prefixes = torch.cat([split.items[split.ptr[s]:split.ptr[s] + c] for s, c in split.samples.tolist()])
    assert torch.equal(batch.x[batch.alias_index], prefixes)
    assert torch.equal(batch.y, split.targets)
    graph_of_click = torch.repeat_interleave(torch.arange(split.num_samples), batch.length)
    assert torch.equal(batch.batch[batch.alias_index], graph_of_click)
    assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])
