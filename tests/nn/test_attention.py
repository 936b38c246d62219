import math

import pytest
import torch

from graphsbr import ConfigError
from graphsbr.nn import DecoupledAttention, Dropout, FusedAttention, Fusion, MultiHeadAttention, Packing
from graphsbr.nn.attention import attention_mask
from graphsbr.nn.dropout import dropout


def identity(attention):
    """Sets every projection of ``attention`` to the identity (square ones) and every bias to zero."""
    with torch.no_grad():
        for module in attention.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.eye(module.out_features, module.in_features))
                module.bias.zero_()
    return attention.eval()


def softmax_sum(scores, values, mask=None):
    """``softmax(scores) @ values`` over the allowed keys."""
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ values


def test_identity_projections_give_the_softmax_weighted_sum():
    x = torch.randn(2, 3, 4)
    out = identity(MultiHeadAttention(4, heads=1))(x, torch.ones(2, 3, dtype=torch.bool))
    expected = softmax_sum(x @ x.transpose(1, 2) / 2.0, x)  # sqrt(d_h) = sqrt(4)
    torch.testing.assert_close(out, expected)


def test_heads_split_the_dimensions():
    x = torch.randn(2, 5, 6)
    out = identity(MultiHeadAttention(6, heads=3))(x, torch.ones(2, 5, dtype=torch.bool))
    parts = [softmax_sum(h @ h.transpose(1, 2) / math.sqrt(2), h) for h in x.split(2, -1)]
    torch.testing.assert_close(out, torch.cat(parts, -1))


def test_padding_keys_get_zero_weight():
    attention = identity(MultiHeadAttention(4, heads=1))
    x = torch.randn(2, 4, 4)
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    out = attention(x, mask)
    for b, n in enumerate([2, 3]):
        real = x[b, :n]
        torch.testing.assert_close(out[b, :n], softmax_sum(real @ real.T / 2.0, real))
    garbled = x.clone()
    garbled[~mask] = torch.randn(int((~mask).sum()), 4) * 100
    torch.testing.assert_close(attention(garbled, mask)[mask], out[mask])


def test_causal_mask_hides_later_clicks():
    attention = identity(MultiHeadAttention(4, heads=2))
    x = torch.randn(1, 5, 4)
    mask = torch.ones(1, 5, dtype=torch.bool)
    out = attention(x, mask, causal=True)
    torch.testing.assert_close(out[0, 0], x[0, 0])  # the first click sees only itself
    later = x.clone()
    later[0, 3:] = torch.randn(2, 4)
    torch.testing.assert_close(attention(later, mask, causal=True)[0, :3], out[0, :3])
    assert not torch.allclose(attention(later, mask, causal=False)[0, :3], out[0, :3])
    mask_rows = attention_mask(mask, causal=True)[0, 0]
    assert mask_rows.tolist() == torch.ones(5, 5, dtype=torch.bool).tril().tolist()


def test_a_query_with_no_visible_key_stays_finite():
    mask = torch.tensor([[False, True, True]])  # causal over leading padding: query 0 sees no real key
    out = MultiHeadAttention(4, heads=2)(torch.randn(1, 3, 4), mask, causal=True)
    assert torch.isfinite(out).all()


def test_queries_and_keys_from_another_stream():
    x, u = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    out = identity(MultiHeadAttention(4, heads=1))(x, torch.ones(2, 3, dtype=torch.bool), qk_input=u)
    torch.testing.assert_close(out, softmax_sum(u @ u.transpose(1, 2) / 2.0, x))


def test_extra_streams_add_their_score_matrices_before_the_softmax():
    x, s = torch.randn(2, 3, 4), torch.randn(2, 3, 2)
    p = torch.randn(1, 3, 4)  # shared by the batch
    attention = identity(MultiHeadAttention(4, heads=1, stream_dims=[2, 4]))
    out = attention(x, torch.ones(2, 3, dtype=torch.bool), streams=[s, p])
    scores = (x @ x.transpose(1, 2) + s @ s.transpose(1, 2) + p @ p.transpose(1, 2)) / 2.0  # scaled by sqrt(d_h)
    torch.testing.assert_close(out, softmax_sum(scores, x))
    with pytest.raises(ValueError, match="2 extra streams"):
        attention(x, torch.ones(2, 3, dtype=torch.bool))


def test_decoupled_attention_sums_item_side_and_position_scores():
    x, a, c = torch.randn(2, 4, 8), torch.randn(2, 4, 4), torch.randn(2, 4, 2)
    p = torch.randn(1, 4, 8)
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    attention = identity(DecoupledAttention(8, heads=2, side_dims=[4, 2], position_dim=8))
    out = attention(x, mask, causal=True, side=[a, c], position=p)
    allowed = attention_mask(mask, causal=True)[:, 0]  # [B, L, L]
    heads = []
    for h in range(2):  # head h reads the h-th half of every stream
        halves = [t.chunk(2, -1)[h] for t in (x, a, c, p)]
        scores = sum(t @ t.transpose(1, 2) for t in halves)
        heads.append(softmax_sum(scores / 2.0, halves[0], allowed))  # sqrt(d_h) = sqrt(8 / 2)
    torch.testing.assert_close(out[mask], torch.cat(heads, -1)[mask])


def test_decoupled_attention_ignores_side_values_of_padding():
    attention = DecoupledAttention(8, heads=2, side_dims=[4], position_dim=8).eval()
    x, a, p = torch.randn(2, 4, 8), torch.randn(2, 4, 4), torch.randn(1, 4, 8)
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    out = attention(x, mask, side=[a], position=p)
    a2, x2 = a.clone(), x.clone()
    a2[0, 2:], x2[0, 2:] = 50.0, -50.0
    torch.testing.assert_close(attention(x2, mask, side=[a2], position=p)[mask], out[mask])


def test_fused_attention_takes_queries_and_keys_from_the_fusion_and_values_from_items():
    x, a, p = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(1, 3, 4)
    attention = identity(FusedAttention(4, heads=1, num_side=2, fusion="sum"))
    out = attention(x, torch.ones(2, 3, dtype=torch.bool), side=[a], position=p)
    r = x + a + p
    torch.testing.assert_close(out, softmax_sum(r @ r.transpose(1, 2) / 2.0, x))


def test_fusion_functions():
    f = [torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(1, 3, 4)]
    torch.testing.assert_close(Fusion("sum", 4, 3)(f), f[0] + f[1] + f[2])
    concat = Fusion("concat", 4, 3)
    stacked = torch.cat(torch.broadcast_tensors(*f), -1)
    torch.testing.assert_close(concat(f), stacked @ concat.linear.weight.T + concat.linear.bias)
    gate = Fusion("gate", 4, 3)
    w = gate.linear.weight[0]
    expected = sum(torch.sigmoid((t @ w).unsqueeze(-1)) * t for t in torch.broadcast_tensors(*f))
    torch.testing.assert_close(gate(f), expected)
    with pytest.raises(ValueError, match="3 inputs"):
        gate(f[:2])


def test_bad_settings_raise_config_errors():
    with pytest.raises(ConfigError, match="fusion"):
        Fusion("product", 4, 2)
    with pytest.raises(ConfigError, match="multiple of the number of heads"):
        MultiHeadAttention(6, heads=4)
    with pytest.raises(ConfigError, match="multiple of the number of heads"):
        DecoupledAttention(8, heads=2, side_dims=[3])


def test_attention_dropout_acts_in_training_only():
    attention = MultiHeadAttention(8, heads=2, dropout=0.5)
    x, mask = torch.randn(4, 6, 8), torch.ones(4, 6, dtype=torch.bool)
    torch.manual_seed(0)
    train = attention(x, mask)
    attention.eval()
    torch.testing.assert_close(attention(x, mask), attention(x, mask))
    assert not torch.allclose(train, attention(x, mask))


def test_reset_parameters_and_repr():
    attention = DecoupledAttention(8, heads=2, side_dims=[4], position_dim=8)
    with torch.no_grad():
        attention.value.weight.fill_(1.0)
    attention.reset_parameters()
    assert attention.value.weight.std() < 0.05
    assert repr(attention) == "DecoupledAttention(8, heads=2, streams=[4, 8])"
    assert repr(Fusion("gate", 4, 3)) == "Fusion(gate, 4, num_inputs=3)"


def test_packing_round_trip():
    mask = torch.tensor([[True, True, False], [True, False, False]])
    packing = Packing(mask)
    x = torch.arange(12.0).view(2, 3, 2)
    packed = packing.pack(x)
    assert packed.tolist() == [[0.0, 1.0], [2.0, 3.0], [6.0, 7.0]]
    assert packing.positions().tolist() == [0, 1, 0]
    assert packing.unpack(packed).tolist() == [[[0, 1], [2, 3], [0, 0]], [[6, 7], [0, 0], [0, 0]]]
    assert packing.pack(torch.tensor([[5, 6, 7], [8, 9, 10]])).tolist() == [5, 6, 8]
    shared = torch.randn(1, 3, 2)
    assert packing.pack(shared) is shared and packing.unpack(shared).shape == (2, 3, 2)
    dense = Packing(torch.ones(2, 3, dtype=torch.bool))
    torch.testing.assert_close(dense.unpack(dense.pack(x)), x)


def test_output_is_zero_at_padding():
    mask = torch.tensor([[True, True, False, False]])
    out = MultiHeadAttention(4, heads=2)(torch.randn(1, 4, 4), mask)
    assert out[0, 2:].eq(0).all() and out[0, :2].ne(0).any()


def test_fast_dropout_keeps_the_expected_fraction():
    x = torch.ones(200_000)
    y = dropout(x, 0.3)
    assert y.unique().tolist() == pytest.approx([0.0, 1 / 0.7])
    assert abs(float(y.eq(0).float().mean()) - 0.3) < 0.01
    assert dropout(x, 0.3, training=False) is x
    assert Dropout(0.5).eval()(x) is x


def test_packing_gathers_shared_streams_by_position():
    packing = Packing(torch.tensor([[True, True, False], [True, False, False]]))
    shared = torch.arange(6.0).view(1, 3, 2)
    assert packing.gather(shared).tolist() == [[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]]
    x = torch.arange(12.0).view(2, 3, 2)
    torch.testing.assert_close(packing.gather(x), packing.pack(x))
