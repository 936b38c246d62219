r"""A transformer encoder over click sequences that takes its attention layers as arguments (SASRec-style blocks)."""
from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

from ..errors import ConfigError
from .dropout import Dropout
from .init import reset_linear
from .packing import Packing, by_width

#: Activations of the position-wise feed-forward network (GELU is the exact, erf-based one, as BERT and RecBole).
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class TransformerBlock(nn.Module):
    r"""One block: attention, then a position-wise feed-forward network, each followed by dropout, a residual
    connection and layer normalisation (post-LN, as BERT and RecBole's SASRec):

    .. math::
        H' = \mathrm{LN}\big(H + \mathrm{Dropout}(\mathrm{Attn}(H))\big), \qquad
        H'' = \mathrm{LN}\big(H' + \mathrm{Dropout}(\mathrm{act}(H' W_1 + b_1) W_2 + b_2)\big)

    (Kang & McAuley, ICDM 2018, with the feed-forward network of fully connected layers instead of the
    paper's 1×1 convolutions, which are the same map.) Everything after the attention is position-wise and runs on
    the real clicks only (:class:`~graphsbr.nn.packing.Packing`); the output is zero at padding.

    Args:
        attention: a module called as ``attention(h, key_padding_mask, causal, **context)`` that returns
            ``[B, L, dim]`` (:class:`~graphsbr.nn.attention.MultiHeadAttention` and its variants), with
            ``packing=`` too when the block is given one.
        dim: the hidden size :math:`d`.
        inner_dim: the feed-forward network's inner size.
        dropout: dropout on the attention and feed-forward outputs.
        activation: a key of :data:`ACTIVATIONS`.
        layer_norm_eps: the layer norms' epsilon.

    Shapes:
        input: ``h [B, L, dim]``, ``key_padding_mask [B, L]`` bool, optionally its
        :class:`~graphsbr.nn.packing.Packing` (found with ``nonzero`` when not given, which makes the host wait).
        output: ``[B, L, dim]`` (zeros at padding).
    """

    def __init__(self, attention: nn.Module, dim: int, inner_dim: int, dropout: float = 0.0,
                 activation: str = "gelu", layer_norm_eps: float = 1e-12):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.attention = attention
        self.attention_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.feed_forward = nn.Sequential(nn.Linear(dim, inner_dim), ACTIVATIONS[activation](),
                                          nn.Linear(inner_dim, dim))
        self.feed_forward_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.attention.reset_parameters()
        self.attention_norm.reset_parameters()
        reset_linear(self.feed_forward[0])
        reset_linear(self.feed_forward[2])
        self.feed_forward_norm.reset_parameters()

    def forward(self, h: Tensor, key_padding_mask: Tensor, causal: bool = False, packing: Packing | None = None,
                **context) -> Tensor:
        given = {} if packing is None else {"packing": packing}
        attended = self.attention(h, key_padding_mask, causal, **given, **context)  # [B, L, d]
        packing = Packing(key_padding_mask) if packing is None else packing  # the position-wise part: real clicks
        h = self.attention_norm(packing.pack(h) + self.dropout(packing.pack(attended)))  # [N, d]
        h = self.feed_forward_norm(h + self.dropout(self.feed_forward(h)))
        return packing.unpack(h)  # [B, L, d], zeros at padding


class TransformerEncoder(nn.Module):
    r"""A stack of :class:`TransformerBlock`\ s, one per given attention layer.

    .. math::
        H^{(l)} = \mathrm{Block}_l\big(H^{(l-1)}\big), \qquad H^{(0)} = \text{the input}

    The ``context`` keyword arguments of :meth:`forward` (side-field and position streams for
    :class:`~graphsbr.nn.attention.FusedAttention` and :class:`~graphsbr.nn.attention.DecoupledAttention`) go
    unchanged to every layer's attention. Rows of similar width run together, each group cut to its widest row
    (:func:`~graphsbr.nn.packing.by_width`): the same output for a fraction of the attention's work on batches of
    mostly short prefixes.

    Args:
        attentions: one attention module per layer.
        dim: the hidden size.
        inner_dim: the feed-forward network's inner size.
        dropout: dropout on the attention and feed-forward outputs.
        activation: ``gelu`` or ``relu``.
        causal: position :math:`i` attends only to positions :math:`\le i` (SASRec) instead of all clicks.
        layer_norm_eps: the layer norms' epsilon.

    Shapes:
        input: ``h [B, L, dim]``, ``key_padding_mask [B, L]`` bool (True at real clicks; padding keys are never
        attended to), optionally its :class:`~graphsbr.nn.packing.Packing` with the lengths on the host (the groups
        and every layer's packing are then found on the host, and no layer makes the host wait for the device).
        output: ``[B, L, dim]``, the last layer's states (zeros at padding).
    """

    def __init__(self, attentions: Iterable[nn.Module], dim: int, inner_dim: int, dropout: float = 0.0,
                 activation: str = "gelu", causal: bool = False, layer_norm_eps: float = 1e-12):
        super().__init__()
        self.causal = causal
        self.layers = nn.ModuleList([TransformerBlock(a, dim, inner_dim, dropout, activation, layer_norm_eps)
                                     for a in attentions])

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, h: Tensor, key_padding_mask: Tensor, packing: Packing | None = None, **context) -> Tensor:
        lengths = None if packing is None else packing.lengths
        return by_width(self.layers_forward, key_padding_mask, h, lengths=lengths, packing=packing,
                        **context)  # rows of similar width together

    def layers_forward(self, key_padding_mask: Tensor, h: Tensor, **context) -> Tensor:
        for layer in self.layers:
            h = layer(h, key_padding_mask, self.causal, **context)
        return h

    def extra_repr(self) -> str:
        return f"causal={self.causal}"


__all__ = ["ACTIVATIONS", "TransformerBlock", "TransformerEncoder"]
