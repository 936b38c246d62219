import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graphsbr import ConfigError
from graphsbr.nn import DecoupledAttention, MultiHeadAttention, TransformerBlock, TransformerEncoder


class ZeroAttention(nn.Module):
    """Records what it is called with and returns zeros."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def reset_parameters(self):
        pass

    def forward(self, h, key_padding_mask, causal=False, **context):
        self.calls.append((causal, sorted(context)))
        return torch.zeros_like(h)


def encoder(causal, layers=2, dim=8):
    return TransformerEncoder([MultiHeadAttention(dim, 2) for _ in range(layers)], dim, 16, causal=causal).eval()


def test_block_is_post_ln_attention_then_feed_forward():
    block = TransformerBlock(ZeroAttention(), 4, 8, activation="relu").eval()
    with torch.no_grad():
        block.attention_norm.weight.uniform_(0.5, 1.5)
        block.feed_forward_norm.bias.uniform_(-1, 1)
    h = torch.randn(2, 3, 4)
    h1 = F.layer_norm(h, (4,), block.attention_norm.weight, block.attention_norm.bias, 1e-12)
    w1, w2 = block.feed_forward[0], block.feed_forward[2]
    inner = torch.relu(h1 @ w1.weight.T + w1.bias) @ w2.weight.T + w2.bias
    expected = F.layer_norm(h1 + inner, (4,), block.feed_forward_norm.weight, block.feed_forward_norm.bias, 1e-12)
    torch.testing.assert_close(block(h, torch.ones(2, 3, dtype=torch.bool)), expected)


def test_context_and_causal_switch_reach_every_layer():
    attentions = [ZeroAttention(), ZeroAttention()]
    stack = TransformerEncoder(attentions, 4, 8, causal=True)
    out = stack(torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool), side=[], position=None)
    assert out.shape == (2, 3, 4)
    assert [a.calls for a in attentions] == [[(True, ["position", "side"])]] * 2


def test_causal_encoder_keeps_earlier_states_when_later_clicks_change():
    stack = encoder(causal=True)
    h, mask = torch.randn(2, 6, 8), torch.ones(2, 6, dtype=torch.bool)
    out = stack(h, mask)
    changed = h.clone()
    changed[:, 4:] = torch.randn(2, 2, 8)
    torch.testing.assert_close(stack(changed, mask)[:, :4], out[:, :4])
    assert not torch.allclose(encoder(causal=False)(changed, mask)[:, :4], encoder(causal=False)(h, mask)[:, :4])


@pytest.mark.parametrize("causal", [True, False])
def test_padding_never_reaches_real_clicks(causal):
    stack = encoder(causal)
    h = torch.randn(3, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [True, False, False, False, False]])
    out = stack(h, mask)
    garbled = h.clone()
    garbled[~mask] = torch.randn(int((~mask).sum()), 8) * 10
    torch.testing.assert_close(stack(garbled, mask)[mask], out[mask])
    narrow = stack(h[1:2, :2], mask[1:2, :2])  # the same prefix without padding
    torch.testing.assert_close(narrow[0], out[1, :2])
    assert out[~mask].eq(0).all()


def test_side_streams_pass_through_the_stack():
    stack = TransformerEncoder([DecoupledAttention(8, 2, [4], 8) for _ in range(2)], 8, 16, causal=True).eval()
    h, a, p = torch.randn(2, 3, 8), torch.randn(2, 3, 4), torch.randn(1, 3, 8)
    mask = torch.ones(2, 3, dtype=torch.bool)
    out = stack(h, mask, side=[a], position=p)
    assert out.shape == (2, 3, 8)
    assert not torch.allclose(stack(h, mask, side=[a * 3], position=p), out)


def test_dropout_acts_in_training_only():
    stack = TransformerEncoder([MultiHeadAttention(8, 2, dropout=0.3)], 8, 16, dropout=0.3)
    h, mask = torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.bool)
    assert not torch.allclose(stack(h, mask), stack(h, mask))
    stack.eval()
    torch.testing.assert_close(stack(h, mask), stack(h, mask))


def test_unknown_activation_is_a_config_error():
    with pytest.raises(ConfigError, match="activation"):
        TransformerBlock(MultiHeadAttention(4, 1), 4, 8, activation="swish")


def test_reset_parameters_reinitialises_every_layer():
    stack = encoder(causal=True)
    with torch.no_grad():
        for p in stack.parameters():
            p.fill_(3.0)
    stack.reset_parameters()
    block = stack.layers[0]
    assert block.feed_forward[0].bias.abs().sum() == 0 and block.attention.value.bias.abs().sum() == 0
    assert block.attention_norm.weight.eq(1).all() and block.feed_forward[0].weight.std() < 0.05
