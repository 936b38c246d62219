"""NOVA: non-invasive self-attention for side information fusion (Liu et al., AAAI 2021), on SASRec."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ...nn.attention import FusedAttention
from .sasrec import SASRec, SASRecConfig


@dataclass
class NOVAConfig(SASRecConfig):
    """NOVA's hyperparameters: SASRec's (the backbone NOVA is compared on by DIF-SR and ASIF) plus the fusion.

    Attributes:
        fusion: how the item, side-field and position embeddings are fused into the queries' and keys' input:
            ``sum``, ``concat`` or ``gate`` (NOVA's three functions; the paper finds the best one depends on the
            dataset, gating being generally strong).
        side_fields: the side fields to use (empty: every field but the parts of a merged one).
        side_pooling: how a multi-valued field's values embed: ``mean`` or ``sum`` (DIF-SR's Beauty configuration).
    """

    fusion: str = "gate"
    side_fields: tuple[str, ...] = ()
    side_pooling: str = "mean"


class NOVA(SASRec):
    r"""SASRec whose attention is NOVA's non-invasive self-attention
    (:class:`~graphsbr.nn.attention.FusedAttention`).

    .. math::
        R^{(l)} = \mathcal F(H^{(l-1)}, A_1, \dots, A_m, P), \qquad
        H^{(l)} = \mathrm{Block}\big(\mathrm{softmax}\big(\tfrac{(R W^Q)(R W^K)^\top}{\sqrt{d_h}} + M\big)
        H^{(l-1)} W^V\big), \qquad \hat z_j = H^{(L)}_n \cdot e_j

    The item stream starts from the pure item embeddings, :math:`H^{(0)} = \mathrm{Dropout}(\mathrm{LN}(E_{v}))`;
    side information (every side field of the dataset, :math:`A_j`, embedded at size :math:`d`; a multi-valued field
    is the mean of its values' embeddings) and the learned positions :math:`P` (behaviour side information, as in
    NOVA-BERT) enter only the queries and keys, the same at every layer (NOVA-BERT, Fig. 4), so the item
    representations, and the output space :math:`\hat z_j = h \cdot e_j`, stay those of the item ids.

    Choices where the paper is silent: NOVA-BERT's bidirectional cloze training is replaced by SASRec's causal
    next-item training, as DIF-SR and ASIF do when they compare with NOVA; everything else is SASRec's.
    """

    name = "nova"
    Config = NOVAConfig
    side_attention = True

    def attention_layer(self) -> nn.Module:
        c = self.config
        return FusedAttention(c.dim, c.num_heads, len(self.side) + 1, c.fusion, c.attn_dropout)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, fusion={self.config.fusion}"


__all__ = ["NOVA", "NOVAConfig"]
