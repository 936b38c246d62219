import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from graphsbr.nn.graph_encoder import GraphAttentionEncoder
from graphsbr.nn.projected_table import ProjectedTable, row_quadratic_form
from graphsbr.nn.weighted_edge_gat_conv import WeightedEdgeGATConv


def gradients(tensors, *outputs):
    return torch.autograd.grad(sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outputs),
                               tensors)


def test_rows_scores_and_full_table_equal_the_projected_table_and_its_gradients():
    torch.manual_seed(0)
    rows, weight, bias = torch.randn(7, 5), torch.randn(4, 5), torch.randn(4)
    query, index = torch.randn(3, 4), torch.tensor([[0, 2, 6], [1, 1, 0]])
    leaves = [t.requires_grad_() for t in (rows, weight, bias, query)]
    table = F.linear(rows, weight, bias) * (torch.arange(7) != 0).unsqueeze(1)  # padding row 0 is zero
    expected = (table[index], query @ table.T, table)
    factored = ProjectedTable(rows, weight, bias, padding_idx=0)
    got = (factored[index], factored.scores(query), factored.full())
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    assert (got[0][0, 0] == 0).all() and (got[1][:, 0] == 0).all()
    for a, b in zip(gradients(leaves, *got), gradients(leaves, *expected)):
        torch.testing.assert_close(a, b)


def test_an_unfactored_table_reads_its_rows_as_they_are():
    table = torch.randn(5, 3)
    plain = ProjectedTable(table, padding_idx=0)
    assert not plain.factored and plain.full() is table
    torch.testing.assert_close(plain.scores(table[:2]), table[:2] @ table.T)


def small_graph(n=9, e=30, seed=0):
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=generator)
    return Data(edge_index=edge_index, edge_weight=torch.rand(e, generator=generator), num_nodes=n)


def test_gat_aggregate_then_project_equals_the_layer_with_gradients():
    torch.manual_seed(0)
    graph = small_graph()
    conv = WeightedEdgeGATConv(6, 6, heads=1, edge_dim=1, add_self_loops=False)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(9, 6, requires_grad=True)
    leaves = [x, *conv.parameters()]
    weight = graph.edge_weight.view(-1, 1)
    expected = conv(x, graph.edge_index, weight)
    got = conv.lin(conv.aggregate(x, graph.edge_index, weight)) + conv.bias
    torch.testing.assert_close(got, expected)
    for a, b in zip(gradients(leaves, got), gradients(leaves, expected)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layers", [1, 2])
def test_encoder_table_equals_the_layers_run_in_full(layers):
    torch.manual_seed(0)
    encoder = GraphAttentionEncoder(9, 6, small_graph(), num_layers=layers)
    for layer in encoder.layers:
        torch.nn.init.normal_(layer.bias)
    x = torch.randn(9, 6, requires_grad=True)
    leaves = [x, *encoder.parameters()]
    h = x
    for layer in encoder.layers:  # the path before the factoring: project every node, then aggregate
        h = layer(h, encoder.edge_index, encoder.edge_weight)
    expected = h * (torch.arange(9) != 0).unsqueeze(1)
    table, query = encoder.table(x), torch.randn(4, 6)
    assert table.factored
    torch.testing.assert_close(table.full(), expected)
    torch.testing.assert_close(table.scores(query), query @ expected.T)
    torch.testing.assert_close(encoder(x), expected)
    got = gradients(leaves, table.scores(query), table[torch.tensor([3, 0, 8])])
    want = gradients(leaves, query @ expected.T, expected[torch.tensor([3, 0, 8])])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("residual", [False, True])
def test_mean_of_rows_equals_the_mean_of_the_full_tables_rows_with_gradients(residual):
    torch.manual_seed(0)
    rows, weight, bias, extra = torch.randn(7, 5), torch.randn(4, 5), torch.randn(4), torch.randn(7, 4)
    leaves = [t.requires_grad_() for t in (rows, weight, bias, extra)]
    index = torch.tensor([[[3, 2, 0], [6, 0, 0]], [[0, 0, 0], [1, 1, 5]]])  # [2, 2, 3], 0 = padding
    table = ProjectedTable(rows, weight, bias, padding_idx=0, residual=extra if residual else None)
    full = table.full()
    real = (index != 0).float().unsqueeze(-1)
    expected = (full[index] * real).sum(-2) / real.sum(-2).clamp(min=1)  # the mean of the real rows, 0 for none
    got = table.mean(index)
    torch.testing.assert_close(got, expected)
    assert (got[1, 0] == 0).all()
    torch.testing.assert_close(got[0, 1], full[6])
    used = leaves if residual else leaves[:3]
    for a, b in zip(gradients(used, got), gradients(used, expected)):
        torch.testing.assert_close(a, b)
    plain = ProjectedTable(full.detach(), padding_idx=0)
    torch.testing.assert_close(plain.mean(index), expected.detach())


@pytest.mark.parametrize("kind", ["factored", "no bias", "residual", "plain"])
def test_unit_table_equals_the_normalised_full_table_with_gradients(kind):
    torch.manual_seed(0)
    rows, weight, bias, extra = torch.randn(7, 5), torch.randn(4, 5), torch.randn(4), torch.randn(7, 4)
    query, index = torch.randn(3, 4), torch.tensor([[0, 2, 6], [1, 1, 0]])
    tensors = {"rows": rows, "weight": weight, "bias": bias, "extra": extra}
    table = {"factored": lambda: ProjectedTable(rows, weight, bias, padding_idx=0),
             "no bias": lambda: ProjectedTable(rows, weight, padding_idx=0),
             "residual": lambda: ProjectedTable(rows, weight, bias, padding_idx=0, residual=extra),
             "plain": lambda: ProjectedTable(extra)}[kind]
    used = {"factored": ["rows", "weight", "bias"], "no bias": ["rows", "weight"],
            "residual": ["rows", "weight", "bias", "extra"], "plain": ["extra"]}[kind]
    leaves = [tensors[name].requires_grad_() for name in used] + [query.requires_grad_()]
    table = table()
    unit = table.unit()
    assert unit.factored == (kind in ("factored", "no bias"))  # stays factored where the quadratic form applies
    normalised = F.normalize(table.full(), dim=-1)
    expected = (normalised[index], query @ normalised.T, normalised, normalised[index].mean(-2))
    got = (unit[index], unit.scores(query), unit.full(), unit.mean(index))
    if kind != "plain":  # the padding row stays zero (and the means skip it)
        assert (got[0][0, 0] == 0).all() and (got[1][:, 0] == 0).all()
        expected = expected[:3] + (torch.stack([normalised[[2, 6]].mean(0), normalised[1]]),)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    first = 1 if kind != "plain" else 0
    torch.testing.assert_close(got[2][first:].norm(dim=-1), torch.ones(7 - first))
    for a, b in zip(gradients(leaves, *got), gradients(leaves, *expected)):
        torch.testing.assert_close(a, b)


def test_row_quadratic_form_values_and_gradients():
    rows = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    root = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    linear = torch.randn(3, dtype=torch.float64, requires_grad=True)
    gram = root.T @ root
    torch.testing.assert_close(row_quadratic_form(rows, gram), torch.einsum("nd,de,ne->n", rows, gram, rows))
    torch.testing.assert_close(row_quadratic_form(rows, gram, linear),
                               torch.einsum("nd,de,ne->n", rows, gram, rows) + 2 * rows @ linear)
    assert torch.autograd.gradcheck(lambda z, r: row_quadratic_form(z, r.T @ r), (rows, root))
    assert torch.autograd.gradcheck(lambda z, r, c: row_quadratic_form(z, r.T @ r, c), (rows, root, linear))
