"""S-POP: the items of the current session by their clicks in it, then every other item by its training clicks."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ...data.collate import SequenceBatch
from ..base import cross_entropy, targets_of
from .pop import Pop


@dataclass
class SPopConfig:
    """S-POP has no hyperparameters."""


class SPop(Pop):
    r"""Session popularity (S-POP; Hidasi et al., ICLR 2016, §4): the score of item :math:`j` for a session prefix is
    its number of clicks in the prefix :math:`n_j`, ties broken by its training clicks :math:`c_j` (:class:`Pop`'s):

    .. math:: \mathrm{score}_j = n_j + \frac{c_j}{1 + \max_k c_k},

    so every item of the prefix ranks above every other item, and the others rank as in :class:`Pop`. The whole
    prefix counts (no ``max_len``). No trainable parameters: it measures how much of a benchmark is the repetition
    of items already in the session (on Tmall, where 46 % of the test targets were clicked earlier in their session,
    it beats every trained model of the session-graph family; ``benchmarks/RESULTS.md``). Its :meth:`loss` is the
    cross-entropy of the scores taken as logits: the same ranking, and a finite number to log.
    """

    name = "spop"
    Config = SPopConfig

    def forward(self, batch: SequenceBatch) -> Tensor:
        popularity = self.counts / (1 + self.counts.max())  # in [0, 1): breaks the ties, ranks the rest
        scores = popularity.expand(batch.items.size(0), -1).clone()  # [B, N+1]
        return scores.scatter_add_(1, batch.items, batch.mask.to(scores.dtype))  # + n_j (padding adds 0)

    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        loss = cross_entropy(self(batch), targets_of(batch))
        return loss, {"loss": loss.detach()}


__all__ = ["SPop", "SPopConfig"]
