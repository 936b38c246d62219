import itertools
from collections import Counter

import pytest
import torch

from graphsbr.data.dataset import SessionSplit
from graphsbr.errors import DataError
from graphsbr.graphs import item_transition_graph, side_transition_graph

SESSIONS = [[1, 2, 3, 2], [2, 3], [4, 4, 1]]


def edges(graph):
    return [tuple(e) for e in graph.edge_index.t().tolist()]


def random_sessions(seed, num_sessions=200, num_items=30):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 9, (num_sessions,), generator=g).tolist()
    return [torch.randint(1, num_items + 1, (n,), generator=g).tolist() for n in lengths]


def reference(sessions, normalize, directed, values=None):
    count = Counter()
    for s in sessions:
        seq = s if values is None else [values[i] for i in s]
        for u, v in itertools.pairwise(seq):
            if u and v:
                count[u, v] += 1
                if not directed and u != v:
                    count[v, u] += 1
    total = Counter()
    for (u, _), c in count.items():
        total[u] += c
    keys = sorted(count)
    weights = [count[k] / total[k[0]] if normalize else count[k] for k in keys]
    return keys, torch.tensor(weights, dtype=torch.float32)


def test_item_graph_exact():
    graph = item_transition_graph(SessionSplit.from_sequences(SESSIONS), 5)
    assert graph.num_nodes == 6
    assert graph.edge_index.dtype == torch.long and graph.edge_weight.dtype == torch.float32
    assert edges(graph) == [(1, 2), (2, 3), (3, 2), (4, 1), (4, 4)]
    assert graph.edge_weight.tolist() == [1.0, 1.0, 1.0, 0.5, 0.5]


def test_item_graph_raw_counts():
    graph = item_transition_graph(SessionSplit.from_sequences(SESSIONS), 5, normalize=False)
    assert edges(graph) == [(1, 2), (2, 3), (3, 2), (4, 1), (4, 4)]
    assert graph.edge_weight.tolist() == [1.0, 2.0, 1.0, 1.0, 1.0]


def test_item_graph_undirected():
    split = SessionSplit.from_sequences(SESSIONS)
    raw = item_transition_graph(split, 5, normalize=False, directed=False)
    assert edges(raw) == [(1, 2), (1, 4), (2, 1), (2, 3), (3, 2), (4, 1), (4, 4)]
    assert raw.edge_weight.tolist() == [1.0, 1.0, 1.0, 3.0, 3.0, 1.0, 1.0]  # self-loop 4->4 not doubled
    norm = item_transition_graph(split, 5, directed=False)
    assert edges(norm) == edges(raw)
    assert norm.edge_weight.tolist() == [0.5, 0.5, 0.25, 0.75, 1.0, 0.5, 0.5]


def test_no_cross_session_transitions():
    graph = item_transition_graph(SessionSplit.from_sequences([[5], [1, 2], [3], [], [4, 6]]), 6)
    assert edges(graph) == [(1, 2), (4, 6)]
    graph = item_transition_graph(SessionSplit.from_sequences(SESSIONS), 5, normalize=False)
    assert (2, 2) not in edges(graph) and (3, 4) not in edges(graph)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("directed", [True, False])
def test_item_graph_matches_dict_reference(normalize, directed):
    sessions = random_sessions(0)
    graph = item_transition_graph(SessionSplit.from_sequences(sessions), 30, normalize=normalize,
                                  directed=directed)
    keys, weights = reference(sessions, normalize, directed)
    assert edges(graph) == keys
    assert torch.equal(graph.edge_weight, weights)


@pytest.mark.parametrize("directed", [True, False])
def test_normalised_rows_sum_to_one(directed):
    graph = item_transition_graph(SessionSplit.from_sequences(random_sessions(1)), 30, directed=directed)
    rows = torch.zeros(31).index_add_(0, graph.edge_index[0], graph.edge_weight)
    has_edges = torch.bincount(graph.edge_index[0], minlength=31) > 0
    assert torch.allclose(rows[has_edges], torch.ones(int(has_edges.sum())))
    assert not has_edges[0]


def test_side_graph_exact():
    values = torch.tensor([0, 1, 1, 2, 0, 2])  # item 4 has no category
    split = SessionSplit.from_sequences(SESSIONS)  # categories [1,1,2,1], [1,2], [0,0,1]
    graph = side_transition_graph(split, values, 3)
    assert graph.num_nodes == 4
    assert edges(graph) == [(1, 1), (1, 2), (2, 1)]
    assert torch.equal(graph.edge_weight, torch.tensor([1 / 3, 2 / 3, 1.0]))
    column = side_transition_graph(split, values[:, None], 3, normalize=False)
    assert edges(column) == edges(graph) and column.edge_weight.tolist() == [1.0, 2.0, 1.0]


def test_side_graph_matches_dict_reference():
    sessions = random_sessions(2)
    values = torch.randint(0, 6, (31,), generator=torch.Generator().manual_seed(3))
    values[0] = 0
    graph = side_transition_graph(SessionSplit.from_sequences(sessions), values, 5)
    keys, weights = reference(sessions, True, True, values.tolist())
    assert edges(graph) == keys
    assert torch.equal(graph.edge_weight, weights)


def test_bad_input_fails_loudly():
    split = SessionSplit.from_sequences(SESSIONS)
    with pytest.raises(DataError, match="item ids"):
        item_transition_graph(split, 3)
    with pytest.raises(DataError, match="item ids"):
        item_transition_graph(SessionSplit.from_sequences([[1, 0, 2]]), 3)
    with pytest.raises(DataError, match="single-valued"):
        side_transition_graph(split, torch.zeros(6, 2, dtype=torch.long), 3)
    with pytest.raises(DataError, match="value ids"):
        side_transition_graph(split, torch.tensor([0, 1, 1, 2, 0, 9]), 3)
