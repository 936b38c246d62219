import itertools

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from graphsbr.data.dataset import SessionSplit
from graphsbr.graphs import cooccurrence_graph, from_networkx, item_transition_graph, to_networkx

SESSIONS = [[1, 2, 3, 2], [2, 3], [4, 4, 1]]


def test_to_networkx_exact():
    graph = to_networkx(item_transition_graph(SessionSplit.from_sequences(SESSIONS), 5))
    assert isinstance(graph, nx.DiGraph)
    assert sorted(graph.nodes) == [0, 1, 2, 3, 4, 5]  # padding and unseen items kept
    assert sorted(graph.edges(data="weight")) == [(1, 2, 1.0), (2, 3, 1.0), (3, 2, 1.0), (4, 1, 0.5), (4, 4, 0.5)]


@pytest.mark.parametrize("build", [item_transition_graph, cooccurrence_graph])
def test_round_trip(build):
    g = torch.Generator().manual_seed(0)
    sessions = [torch.randint(1, 21, (int(n),), generator=g).tolist()
                for n in torch.randint(1, 8, (100,), generator=g)]
    data = build(SessionSplit.from_sequences(sessions), 20)
    back = from_networkx(to_networkx(data))
    assert back.num_nodes == data.num_nodes
    assert torch.equal(back.edge_index, data.edge_index)
    assert torch.equal(back.edge_weight, data.edge_weight)


def test_from_networkx_sorts_and_fills():
    graph = nx.DiGraph()
    graph.add_edge(3, 0, weight=2.5)
    graph.add_edge(0, 2)
    data = from_networkx(graph, num_nodes=5)
    assert data.num_nodes == 5
    assert data.edge_index.tolist() == [[0, 3], [2, 0]]
    assert data.edge_weight.tolist() == [1.0, 2.5] and data.edge_weight.dtype == torch.float32
    undirected = from_networkx(nx.Graph([(0, 1)]))
    assert undirected.edge_index.tolist() == [[0, 1], [1, 0]] and undirected.num_nodes == 2


def test_unweighted_and_bad_nodes():
    graph = to_networkx(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=3))
    assert list(graph.edges(data=True)) == [(0, 1, {})] and graph.number_of_nodes() == 3
    with pytest.raises(ValueError, match="integer nodes"):
        from_networkx(nx.DiGraph([("a", "b")]))
    with pytest.raises(ValueError, match="integer nodes"):
        from_networkx(nx.DiGraph([(0, 7)]), num_nodes=3)


def _random_sessions(seed=3, num_sessions=150, num_items=25):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(1, num_items + 1, (int(n),), generator=g).tolist()
            for n in torch.randint(1, 10, (num_sessions,), generator=g)]


def test_item_transition_graph_agrees_with_a_networkx_construction():
    sessions = _random_sessions()
    expected = nx.DiGraph()
    for s in sessions:
        for u, v in itertools.pairwise(s):
            w = expected.get_edge_data(u, v, {"weight": 0})["weight"]
            expected.add_edge(u, v, weight=w + 1)
    for u in list(expected.nodes):
        out = expected.out_degree(u, weight="weight")
        for v in expected.successors(u):
            expected[u][v]["weight"] /= out
    got = to_networkx(item_transition_graph(SessionSplit.from_sequences(sessions), 25))
    assert set(got.edges) == set(expected.edges)
    for u, v, w in expected.edges(data="weight"):
        assert got[u][v]["weight"] == pytest.approx(w, rel=1e-6)


def test_cooccurrence_graph_agrees_with_a_networkx_construction():
    sessions = _random_sessions(seed=4)
    expected = nx.Graph()
    for s in sessions:
        items = sorted(set(s))
        for a, u in enumerate(items):
            for v in items[a + 1:]:
                expected.add_edge(u, v, weight=expected.get_edge_data(u, v, {"weight": 0})["weight"] + 1)
    got = to_networkx(cooccurrence_graph(SessionSplit.from_sequences(sessions), 25))
    assert set(got.edges) == set(expected.to_directed().edges)
    for u, v, w in expected.edges(data="weight"):
        assert got[u][v]["weight"] == got[v][u]["weight"] == w
