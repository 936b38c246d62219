import pytest
import torch
from torch_geometric.data import Batch

from graphsbr.graphs import session_graph
from graphsbr.nn.session_gnn import GatedSessionGraphConv


def reference_adjacency(padded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The dense SR-GNN matrices of one zero-padded click row, built as the authors' ``get_slice`` does.

    Returns the nodes (the distinct values of the row, padding 0 included when present), and the two ``[n, n]``
    blocks ``A[:, :n]`` and ``A[:, n:]`` of their concatenated ``A`` that multiply the node states.
    """
    node = torch.unique(padded)
    n = node.numel()
    adjacency = torch.zeros(n, n)
    for i in range(padded.numel() - 1):
        if padded[i + 1] == 0:
            break
        u = int((node == padded[i]).nonzero()[0])
        v = int((node == padded[i + 1]).nonzero()[0])
        adjacency[u, v] = 1
    in_degree = adjacency.sum(0)
    in_degree[in_degree == 0] = 1
    out_degree = adjacency.sum(1)
    out_degree[out_degree == 0] = 1
    a_in = adjacency / in_degree  # column v divided by deg-(v)
    a_out = adjacency.t() / out_degree  # column u divided by deg+(u)
    both = torch.cat([a_in, a_out]).t()  # [n, 2n]
    return node, both[:, :n], both[:, n:]


def reference_gnn_step(layer: GatedSessionGraphConv, a_in: torch.Tensor, a_out: torch.Tensor,
                       hidden: torch.Tensor) -> torch.Tensor:
    """One step of the authors' dense ``GNNCell`` with ``layer``'s parameters (works batched or not)."""
    inputs = torch.cat([a_in @ layer.edge_in(hidden) + layer.bias_in,
                        a_out @ layer.edge_out(hidden) + layer.bias_out], -1)
    gru = layer.gru
    i_r, i_z, i_n = (inputs @ gru.weight_ih.t() + gru.bias_ih).chunk(3, -1)
    h_r, h_z, h_n = (hidden @ gru.weight_hh.t() + gru.bias_hh).chunk(3, -1)
    reset, update = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    new = torch.tanh(i_n + reset * h_n)
    return new + update * (hidden - new)


def randomized(layer: GatedSessionGraphConv, seed: int = 0) -> GatedSessionGraphConv:
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.uniform_(-0.5, 0.5)  # nonzero biases too
    return layer


def test_aggregation_matches_dense_reference_exactly():
    prefix = torch.tensor([3, 5, 3, 7, 5, 5])  # nodes 3, 5, 7; edges 3->5, 5->3, 3->7, 7->5, 5->5
    graph = session_graph(prefix)
    node, a_in, a_out = reference_adjacency(prefix)
    assert torch.equal(graph.x, node)
    # in: node 5 is entered from 3, 7 and itself; node 3 from 5; node 7 from 3
    assert torch.equal(a_in, torch.tensor([[0, 1, 0], [1 / 3, 1 / 3, 1 / 3], [1, 0, 0]]))
    # out: node 3 leaves to 5 and 7; node 5 to 3 and itself; node 7 to 5
    assert torch.equal(a_out, torch.tensor([[0, 0.5, 0.5], [0.5, 0.5, 0], [0, 1, 0]]))

    layer = randomized(GatedSessionGraphConv(4))
    h = torch.randn(3, 4)
    a = layer.propagate(h, graph.edge_index, graph.edge_weight_in, graph.edge_weight_out)
    expected_in = a_in @ layer.edge_in(h) + layer.bias_in
    expected_out = a_out @ layer.edge_out(h) + layer.bias_out
    torch.testing.assert_close(a, torch.cat([expected_in, expected_out], 1), rtol=0, atol=1e-6)


def test_isolated_node_gets_biases_only():
    graph = session_graph(torch.tensor([2]))
    layer = randomized(GatedSessionGraphConv(3))
    a = layer.propagate(torch.randn(1, 3), graph.edge_index, graph.edge_weight_in, graph.edge_weight_out)
    torch.testing.assert_close(a, torch.cat([layer.bias_in, layer.bias_out]).view(1, 6), rtol=0, atol=0)


@pytest.mark.parametrize("step", [1, 2])
def test_batched_steps_match_dense_gnn_cell(step):
    prefixes = [torch.tensor(p) for p in ([1, 2, 3, 2, 4], [4, 4], [5, 1, 5, 2], [6])]
    batch = Batch.from_data_list([session_graph(p) for p in prefixes])
    layer = randomized(GatedSessionGraphConv(5, step=step), seed=1)
    h = torch.randn(batch.num_nodes, 5)
    out = layer(h, batch.edge_index, batch.edge_weight_in, batch.edge_weight_out)
    assert out.shape == (batch.num_nodes, 5)
    for k, prefix in enumerate(prefixes):
        _, a_in, a_out = reference_adjacency(prefix)
        nodes = slice(int(batch.ptr[k]), int(batch.ptr[k + 1]))
        hidden = h[nodes]
        for _ in range(step):
            hidden = reference_gnn_step(layer, a_in, a_out, hidden)
        torch.testing.assert_close(out[nodes], hidden, rtol=1e-5, atol=1e-6)


def test_reset_parameters_and_repr():
    layer = GatedSessionGraphConv(8, step=2)
    assert repr(layer) == "GatedSessionGraphConv(8, step=2)"
    randomized(layer).reset_parameters()
    assert layer.bias_in.abs().sum() == 0 and layer.bias_out.abs().sum() == 0
    with pytest.raises(ValueError):
        GatedSessionGraphConv(8, step=0)
