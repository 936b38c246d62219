"""DIF-SR: decoupled side information fusion for sequential recommendation (Xie et al., SIGIR 2022)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from ...data.dataset import SideField
from ...errors import ConfigError
from ...nn.attention import DecoupledAttention
from ...nn.init import reset_linear
from ..base import cross_entropy
from .sasrec import SASRec, SASRecConfig

#: The losses of the attribute predictor for a single-valued field (multi-valued fields always use BCE).
SINGLE_VALUED_LOSSES = ("ce", "bce")


@dataclass
class DIFSRConfig(SASRecConfig):
    """DIF-SR's hyperparameters; the defaults are the authors' Amazon Beauty configuration (in their code:
    4 layers, 8 heads, ``dim`` 256, attribute size 64, dropout 0.5 / 0.3, :math:`\\lambda = 10`), except the
    loss of single-valued fields (see ``single_valued_aap``). So is the training (``train_defaults``): Adam with lr
    1e-4, batch 2048, up to 200 epochs, evaluated every 2 and stopped after 10 evaluations without a better validation
    Recall@20 (patience 20 epochs here, where every epoch is evaluated; the epoch is selected by the comparison's
    one rule, NDCG@20 under leave-one-out).

    Attributes:
        attribute_dim: the size :math:`d_f` of every side-field embedding (the position stream has size ``dim``).
        aap_weight: :math:`\\lambda`, the weight of the auxiliary attribute predictors' losses (0: no AAP).
        single_valued_aap: ``ce`` (softmax cross-entropy over the field's values) or ``bce`` (the authors' code:
            binary cross-entropy against the one-hot value, averaged over the values) for a single-valued field.
        side_fields: the side fields to use (empty: every field but the parts of a merged one).
        side_pooling: how a multi-valued field's values embed: ``mean`` or ``sum`` (DIF-SR's Beauty configuration).
    """

    dim: int = 256
    num_layers: int = 4
    num_heads: int = 8
    inner_dim: int = 256
    dropout: float = 0.5
    attn_dropout: float = 0.3
    attribute_dim: int = 64
    aap_weight: float = 10.0
    single_valued_aap: str = "ce"
    side_fields: tuple[str, ...] = ()
    side_pooling: str = "mean"


class DIFSR(SASRec):
    r"""SASRec whose attention is DIF-SR's decoupled attention (:class:`~graphsbr.nn.attention.DecoupledAttention`),
    trained with auxiliary attribute predictors (AAP).

    .. math::
        H^{(l)} = \mathrm{Block}\Big(\mathrm{softmax}\Big(\frac{\mathrm{att}_{ID} + \sum_j \mathrm{att}_{f_j}
        + \mathrm{att}_P}{\sqrt{d_h}} + M\Big) H^{(l-1)} W^V\Big), \qquad \hat z_j = h \cdot e_j, \quad
        h = H^{(L)}_n

    The item stream starts from the pure item embeddings, :math:`H^{(0)} = \mathrm{Dropout}(\mathrm{LN}(E_v))`;
    every side field of the dataset (embedded at size :math:`d_f`, a multi-valued field as the mean of its values'
    embeddings) and the learned positions (size :math:`d`) only contribute their own score matrices, the same at
    every layer.

    Auxiliary attribute predictors (AAP): a linear predictor per side field :math:`j` reads :math:`h` and predicts
    the target item's values, :math:`\hat y^{(j)} = W_j h + b_j`; the loss is

    .. math::
        \mathcal L = \mathcal L_{item} + \lambda \sum_j \mathcal L^{(j)}_{attr}

    with :math:`\mathcal L^{(j)}_{attr}` the binary cross-entropy of the multi-hot values averaged over the field's
    vocabulary (as the authors' code) for a multi-valued field, and for a single-valued field the softmax
    cross-entropy (or the same BCE with ``single_valued_aap="bce"``); targets without a value are skipped by the CE.
    :meth:`loss` reports ``item`` and ``aap_<field>`` separately beside the total ``loss``.

    Choices where the paper is silent follow the authors' code: the summed scores are scaled by the item head size
    only, positions are not added to the item stream, the fusion of the score matrices is the sum (``concat`` and
    ``gate`` need rows of a fixed width and are not provided).
    """

    name = "difsr"
    Config = DIFSRConfig
    side_attention = True
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-4, "batch_size": 2048, "weight_decay": 0.0, "epochs": 200,
                                                "patience": 20}

    def __init__(self, config: DIFSRConfig, num_items: int, graph: Data | None = None,
                 side: Mapping[str, SideField] | None = None):
        if config.single_valued_aap not in SINGLE_VALUED_LOSSES:
            raise ConfigError(f"unknown single_valued_aap {config.single_valued_aap!r}; "
                              f"choose one of {', '.join(SINGLE_VALUED_LOSSES)}")
        side = dict(side or {})
        super().__init__(config, num_items, graph, side)
        self.predictors = nn.ModuleDict({name: nn.Linear(config.dim, field.vocab_size)
                                         for name, field in side.items()})
        self.reset_parameters()

    @property
    def side_dim(self) -> int:
        return self.config.attribute_dim

    def attention_layer(self) -> nn.Module:
        c = self.config
        return DecoupledAttention(c.dim, c.num_heads, [c.attribute_dim] * len(self.side), c.dim, c.attn_dropout)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for predictor in self.predictors.values():
            reset_linear(predictor)

    def objective(self, states: Tensor, table: Tensor, targets: Tensor,
                  target_side: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The item cross-entropy plus ``aap_weight`` times the attribute predictors' losses (AAP)."""
        item_loss = cross_entropy(states @ table.T, targets)
        total, parts = item_loss, {"item": item_loss.detach()}
        if self.config.aap_weight:
            for name, predictor in self.predictors.items():
                loss = self.attribute_loss(predictor(states), target_side[name], name)
                parts[f"aap_{name}"] = loss.detach()
                total = total + self.config.aap_weight * loss
        parts["loss"] = total.detach()
        return total, parts

    def attribute_loss(self, logits: Tensor, values: Tensor, name: str) -> Tensor:
        """The AAP loss of one field: ``logits [B, vocab]`` for values ``1..vocab``, target ``values [B]`` or
        ``[B, V]`` (0 = none)."""
        if not self.side[name].multi_valued and self.config.single_valued_aap == "ce":
            labelled = values > 0
            losses = F.cross_entropy(logits.float(), (values - 1).clamp(min=0), reduction="none")
            return (losses * labelled).sum() / labelled.sum().clamp(min=1)
        values = values.view(values.size(0), -1)
        labels = torch.zeros(values.size(0), logits.size(1) + 1, device=values.device)
        labels.scatter_(1, values, 1.0)  # value 0 (none) lands in column 0, dropped below
        return F.binary_cross_entropy_with_logits(logits.float(), labels[:, 1:])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, attribute_dim={self.config.attribute_dim}, aap_weight={self.config.aap_weight}"


__all__ = ["DIFSR", "SINGLE_VALUED_LOSSES", "DIFSRConfig"]
