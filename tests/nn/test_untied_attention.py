import math

import pytest
import torch

from graphsbr import ConfigError
from graphsbr.nn import UntiedFusedAttention
from graphsbr.nn.attention import attention_mask

SQRT2 = math.sqrt(2.0)


def identity(attention):
    """Sets every square projection of ``attention`` to the identity and every bias to zero."""
    with torch.no_grad():
        for module in attention.modules():
            if isinstance(module, torch.nn.Linear) and module.in_features == module.out_features:
                module.weight.copy_(torch.eye(module.out_features))
                module.bias.zero_()
    return attention.eval()


def softmax_sum(scores, values, mask=None):
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ values


X = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
A = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
P = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
ALL = torch.ones(1, 2, dtype=torch.bool)


def test_hand_computed_streams():
    # F = X + A = [[2, 0], [0, 1]]: C_XA = [[4, 0], [0, 1]]; C_P = P P^T = [[1, 1], [1, 2]]; d_h = 2
    h_x, h_a, h_p = identity(UntiedFusedAttention(2, heads=1))(X, A, ALL, position=P)
    s = torch.sigmoid
    # eq. 3: rows softmax([5, 1] / sqrt 2) and softmax([1, 3] / sqrt 2) of X
    torch.testing.assert_close(h_x, torch.tensor([[[s(torch.tensor(4 / SQRT2)), s(torch.tensor(-4 / SQRT2))],
                                                   [s(torch.tensor(-2 / SQRT2)), s(torch.tensor(2 / SQRT2))]]]))
    # eq. 4: rows softmax([4, 0] / sqrt 2) and softmax([0, 1] / sqrt 2) of F
    torch.testing.assert_close(h_a, torch.tensor([[[2 * s(torch.tensor(4 / SQRT2)), s(torch.tensor(-4 / SQRT2))],
                                                   [2 * s(torch.tensor(-1 / SQRT2)), s(torch.tensor(1 / SQRT2))]]]))
    # eq. 5: rows softmax([1, 1] / sqrt 2) and softmax([1, 2] / sqrt 2) of P
    torch.testing.assert_close(h_p, torch.tensor([[[1.0, 0.5], [1.0, s(torch.tensor(1 / SQRT2))]]]))


def test_hand_computed_causal_first_click_sees_itself_only():
    h_x, h_a, h_p = identity(UntiedFusedAttention(2, heads=1))(X, A, ALL, causal=True, position=P)
    torch.testing.assert_close(h_x[0, 0], X[0, 0])
    torch.testing.assert_close(h_a[0, 0], X[0, 0] + A[0, 0])
    torch.testing.assert_close(h_p[0, 0], P[0, 0])
    torch.testing.assert_close(h_x[0, 1], identity(UntiedFusedAttention(2, heads=1))(X, A, ALL, position=P)[0][0, 1])


def test_heads_split_every_stream():
    x, a, p = torch.randn(2, 5, 6), torch.randn(2, 5, 6), torch.randn(1, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    h_x, h_a, h_p = identity(UntiedFusedAttention(6, heads=3))(x, a, mask, causal=True, position=p)
    allowed = attention_mask(mask, causal=True)[:, 0]  # [B, L, L]
    parts = {"x": [], "a": [], "p": []}
    for xs, as_, ps in zip(x.split(2, -1), a.split(2, -1), p.split(2, -1)):
        f = xs + as_
        c_xa, c_p = f @ f.transpose(1, 2) / SQRT2, ps @ ps.transpose(1, 2) / SQRT2
        parts["x"].append(softmax_sum(c_xa + c_p, xs, allowed))
        parts["a"].append(softmax_sum(c_xa, f, allowed))
        parts["p"].append(softmax_sum(c_p, ps, torch.ones(5, 5, dtype=torch.bool).tril()))
    torch.testing.assert_close(h_x[mask], torch.cat(parts["x"], -1)[mask])
    torch.testing.assert_close(h_a[mask], torch.cat(parts["a"], -1)[mask])
    assert h_p.shape == (1, 5, 6)  # a shared position stream under a causal mask stays shared
    torch.testing.assert_close(h_p, torch.cat(parts["p"], -1))


def test_shared_position_stream_equals_the_per_sequence_one():
    attention = UntiedFusedAttention(8, heads=2).eval()
    x, a, p = torch.randn(3, 4, 8), torch.randn(3, 4, 8), torch.randn(1, 4, 8)
    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, False, False, False]])
    shared = attention(x, a, mask, causal=True, position=p)
    per_sequence = attention(x, a, mask, causal=True, position=p.expand(3, -1, -1))
    assert shared[2].shape == (1, 4, 8) and per_sequence[2].shape == (3, 4, 8)
    torch.testing.assert_close(shared[0], per_sequence[0])
    torch.testing.assert_close(per_sequence[2][mask], shared[2].expand(3, -1, -1)[mask])


def test_padding_is_never_attended_and_outputs_zero_there():
    attention = UntiedFusedAttention(8, heads=2).eval()
    x, a, p = torch.randn(2, 4, 8), torch.randn(2, 4, 8), torch.randn(1, 4, 8)
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    for causal in (False, True):
        h_x, h_a, _ = attention(x, a, mask, causal, position=p)
        assert (h_x[~mask] == 0).all() and (h_a[~mask] == 0).all()
        garbled_x, garbled_a = x.clone(), a.clone()
        garbled_x[~mask], garbled_a[~mask] = 100.0, -100.0
        g_x, g_a, _ = attention(garbled_x, garbled_a, mask, causal, position=p)
        torch.testing.assert_close(g_x, h_x)
        torch.testing.assert_close(g_a, h_a)


def test_without_fused_attention_the_correlations_are_decoupled():
    x, a, p = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(1, 3, 4)
    decoupled = identity(UntiedFusedAttention(4, heads=1, fused=False))
    assert decoupled.attribute_qk is not None
    h_x, h_a, _ = decoupled(x, a, torch.ones(2, 3, dtype=torch.bool), position=p)
    c = (x @ x.transpose(1, 2) + a @ a.transpose(1, 2)) / 2.0  # no cross terms x a^T
    torch.testing.assert_close(h_x, softmax_sum(c + p @ p.transpose(1, 2) / 2.0, x))
    torch.testing.assert_close(h_a, softmax_sum(c, x + a))  # values F(X, A) as with FA
    fused = identity(UntiedFusedAttention(4, heads=1))(x, a, torch.ones(2, 3, dtype=torch.bool), position=p)
    assert not torch.allclose(fused[0], h_x)


def test_without_untied_positions_there_is_no_position_stream():
    x, a = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    attention = identity(UntiedFusedAttention(4, heads=1, untied_positions=False))
    assert attention.position_qk is None and attention.position_value is None
    h_x, _, h_p = attention(x, a, torch.ones(2, 3, dtype=torch.bool))
    assert h_p is None
    torch.testing.assert_close(h_x, softmax_sum((x + a) @ (x + a).transpose(1, 2) / 2.0, x))
    with pytest.raises(ValueError, match="takes no position"):
        attention(x, a, torch.ones(2, 3, dtype=torch.bool), position=torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match="needs"):
        UntiedFusedAttention(4, heads=1)(x, a, torch.ones(2, 3, dtype=torch.bool))


def test_optional_outputs():
    x, a, p = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(1, 3, 4)
    attention = UntiedFusedAttention(4, heads=2, attribute_output=False, position_output=False)
    assert attention.attribute_value is None and attention.position_value is None
    h_x, h_a, h_p = attention(x, a, torch.ones(2, 3, dtype=torch.bool), position=p)
    assert h_x.shape == (2, 3, 4) and h_a is None and h_p is None


@pytest.mark.parametrize("fusion", ["concat", "gate"])
def test_other_fusions_change_the_scores_and_the_attribute_values(fusion):
    torch.manual_seed(0)
    x, a, p = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(1, 3, 4)
    mask = torch.ones(2, 3, dtype=torch.bool)
    plain = identity(UntiedFusedAttention(4, heads=1))
    other = identity(UntiedFusedAttention(4, heads=1, fusion=fusion))
    assert other.fusion.kind == fusion
    outputs, reference = other(x, a, mask, position=p), plain(x, a, mask, position=p)
    assert not torch.allclose(outputs[0], reference[0]) and not torch.allclose(outputs[1], reference[1])
    torch.testing.assert_close(outputs[2], reference[2])  # positions never fuse


def test_invalid_settings():
    with pytest.raises(ConfigError, match="fusion"):
        UntiedFusedAttention(4, heads=2, fusion="max")
    with pytest.raises(ConfigError, match="multiple"):
        UntiedFusedAttention(6, heads=4)


def test_gradients_reach_every_projection():
    attention = UntiedFusedAttention(8, heads=2, fusion="gate").train()
    x, a, p = torch.randn(2, 4, 8), torch.randn(2, 4, 8), torch.randn(1, 4, 8, requires_grad=True)
    h_x, h_a, h_p = attention(x, a, torch.ones(2, 4, dtype=torch.bool), causal=True, position=p)
    (h_x.sum() + h_a.sum() + h_p.sum()).backward()
    assert all(param.grad is not None for param in attention.parameters())
    assert "fusion=gate" in repr(attention)


@pytest.mark.parametrize("options", [{}, {"fusion": "gate"}, {"fusion": "concat"}, {"fused": False}])
def test_rows_give_h_a_at_one_row_per_sequence_and_the_same_gradients(options):
    torch.manual_seed(0)
    attention = UntiedFusedAttention(8, heads=2, **options).eval()
    x, a = torch.randn(3, 5, 8, requires_grad=True), torch.randn(3, 5, 8, requires_grad=True)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False], [True, False, False, False, False]])
    rows = mask.sum(1) - 1
    for position in (torch.randn(1, 5, 8), torch.randn(3, 5, 8)):
        h_x, h_a, h_p = attention(x, a, mask, True, position)
        r_x, r_a, r_p = attention(x, a, mask, True, position, rows)
        torch.testing.assert_close(r_x, h_x)
        torch.testing.assert_close(r_p, h_p)
        assert r_a.shape == (3, 8)
        torch.testing.assert_close(r_a, h_a[torch.arange(3), rows])
        full = torch.autograd.grad(h_a[torch.arange(3), rows].square().sum(), [x, a, *attention.parameters()],
                                   allow_unused=True)
        at_rows = torch.autograd.grad(r_a.square().sum(), [x, a, *attention.parameters()], allow_unused=True)
        for g_full, g_rows in zip(full, at_rows):
            assert (g_full is None) == (g_rows is None)
            if g_full is not None:
                torch.testing.assert_close(g_rows, g_full, atol=1e-6, rtol=1e-5)


def test_rows_under_attention_dropout_keep_the_bias_weighted_by_the_kept_weights():
    attention = UntiedFusedAttention(4, heads=1, dropout=0.5).train()
    with torch.no_grad():
        attention.attribute_value.weight.zero_()
        attention.attribute_value.bias.fill_(1.0)
        attention.attribute_out.weight.copy_(torch.eye(4))
        attention.attribute_out.bias.zero_()
    x, a, p = torch.randn(64, 3, 4), torch.randn(64, 3, 4), torch.randn(1, 3, 4)
    torch.manual_seed(0)
    _, h_a, _ = attention(x, a, torch.ones(64, 3, dtype=torch.bool), True, p, torch.full((64,), 2))
    # with W_v2 = 0 the values are the bias alone: h_A is the bias times the row's weight sum after dropout, which
    # is 1 on average and not everywhere
    assert not torch.allclose(h_a, torch.ones_like(h_a)) and torch.allclose(h_a.mean(), torch.tensor(1.0), atol=0.2)
    assert (h_a[:, :1] == h_a).all()
