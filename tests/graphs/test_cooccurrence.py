from itertools import combinations

import pytest
import torch

from graphsbr.data.dataset import SessionSplit
from graphsbr.errors import DataError
from graphsbr.graphs import cooccurrence, cooccurrence_graph, neighbour_table

SESSIONS = [[1, 2, 3, 2], [2, 3], [4, 4, 1]]  # item sets {1,2,3}, {2,3}, {1,4}


def edges(graph):
    return [tuple(e) for e in graph.edge_index.t().tolist()]


def random_sessions(seed, num_sessions=200, num_items=30):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (num_sessions,), generator=g).tolist()
    return [torch.randint(1, num_items + 1, (n,), generator=g).tolist() for n in lengths]


def reference(sessions, top_k=None, normalize=False):
    count = {}
    for s in sessions:
        for i, j in combinations(sorted(set(s)), 2):
            count[i, j] = count.get((i, j), 0) + 1
            count[j, i] = count.get((j, i), 0) + 1
    rows = {}
    for (i, j), c in count.items():
        rows.setdefault(i, []).append((j, c))
    kept = {}
    for i, row in rows.items():
        row = sorted(row, key=lambda e: (-e[1], e[0]))[:top_k]
        total = sum(c for _, c in row)
        kept.update({(i, j): c / total if normalize else c for j, c in row})
    keys = sorted(kept)
    return keys, torch.tensor([kept[k] for k in keys], dtype=torch.float32)


def test_counts_exact():
    graph = cooccurrence_graph(SessionSplit.from_sequences(SESSIONS), 5)
    assert graph.num_nodes == 6 and graph.edge_weight.dtype == torch.float32
    assert edges(graph) == [(1, 2), (1, 3), (1, 4), (2, 1), (2, 3), (3, 1), (3, 2), (4, 1)]
    assert graph.edge_weight.tolist() == [1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.0]


def test_normalized_exact():
    graph = cooccurrence_graph(SessionSplit.from_sequences(SESSIONS), 5, normalize=True)
    assert edges(graph) == [(1, 2), (1, 3), (1, 4), (2, 1), (2, 3), (3, 1), (3, 2), (4, 1)]
    assert torch.equal(graph.edge_weight, torch.tensor([1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1 / 3, 2 / 3, 1.0]))


def test_top_k_exact():
    split = SessionSplit.from_sequences(SESSIONS)
    graph = cooccurrence_graph(split, 5, top_k=1)
    assert edges(graph) == [(1, 2), (2, 3), (3, 2), (4, 1)]  # row 1: three ties, the smallest id wins
    assert graph.edge_weight.tolist() == [1.0, 2.0, 2.0, 1.0]
    assert (2, 1) not in edges(graph)  # top-k makes it asymmetric
    assert cooccurrence_graph(split, 5, top_k=1, normalize=True).edge_weight.tolist() == [1.0] * 4
    graph = cooccurrence_graph(split, 5, top_k=2, normalize=True)
    assert edges(graph) == [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2), (4, 1)]
    assert torch.equal(graph.edge_weight, torch.tensor([0.5, 0.5, 1 / 3, 2 / 3, 1 / 3, 2 / 3, 1.0]))


def test_neighbour_table_exact():
    split = SessionSplit.from_sequences(SESSIONS)
    graph = cooccurrence_graph(split, 5)  # 1 -> 2, 3, 4; 2 -> 1, 3; 3 -> 1, 2; 4 -> 1
    assert neighbour_table(graph, 6, 2).tolist() == [[0, 0], [2, 3], [1, 3], [1, 2], [1, 0], [0, 0]]
    assert neighbour_table(graph, 6, 4)[1].tolist() == [2, 3, 4, 0]
    table = neighbour_table(cooccurrence_graph(split, 5, top_k=1), 6, 1)  # 1 -> 2, 2 -> 3, 3 -> 2, 4 -> 1
    assert table.dtype == torch.long and table.tolist() == [[0], [2], [3], [2], [1], [0]]


def test_session_counts_once_per_pair():
    graph = cooccurrence_graph(SessionSplit.from_sequences([[1, 1, 2, 2, 1], [3], []]), 3)
    assert edges(graph) == [(1, 2), (2, 1)]
    assert graph.edge_weight.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("top_k", [None, 1, 3])
@pytest.mark.parametrize("normalize", [False, True])
def test_matches_dict_reference(top_k, normalize):
    sessions = random_sessions(0)
    graph = cooccurrence_graph(SessionSplit.from_sequences(sessions), 30, top_k=top_k, normalize=normalize)
    keys, weights = reference(sessions, top_k, normalize)
    assert edges(graph) == keys
    assert torch.equal(graph.edge_weight, weights)


def test_symmetric_without_self_loops_and_rows_sum_to_one():
    split = SessionSplit.from_sequences(random_sessions(1))
    graph = cooccurrence_graph(split, 30)
    src, dst = graph.edge_index
    assert not (src == dst).any()
    forward = dict(zip(zip(src.tolist(), dst.tolist()), graph.edge_weight.tolist()))
    assert all(forward[j, i] == w for (i, j), w in forward.items())
    norm = cooccurrence_graph(split, 30, normalize=True, top_k=4)
    rows = torch.zeros(31).index_add_(0, norm.edge_index[0], norm.edge_weight)
    has_edges = torch.bincount(norm.edge_index[0], minlength=31) > 0
    assert torch.allclose(rows[has_edges], torch.ones(int(has_edges.sum())))
    assert int(torch.bincount(norm.edge_index[0]).max()) <= 4


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_chunking_gives_the_same_graph(monkeypatch, chunk):
    split = SessionSplit.from_sequences(random_sessions(2))
    whole = cooccurrence_graph(split, 30)
    monkeypatch.setattr(cooccurrence, "PAIR_CHUNK", chunk)
    chunked = cooccurrence_graph(split, 30)
    assert torch.equal(chunked.edge_index, whole.edge_index)
    assert torch.equal(chunked.edge_weight, whole.edge_weight)


def test_empty_and_invalid():
    graph = cooccurrence_graph(SessionSplit.from_sequences([[3]]), 4)
    assert graph.edge_index.shape == (2, 0) and graph.edge_weight.shape == (0,) and graph.num_nodes == 5
    with pytest.raises(DataError, match="item ids"):
        cooccurrence_graph(SessionSplit.from_sequences([[1, 0, 2]]), 4)
    with pytest.raises(ValueError, match="top_k"):
        cooccurrence_graph(SessionSplit.from_sequences(SESSIONS), 5, top_k=0)
