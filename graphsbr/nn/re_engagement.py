r"""Re-engagement scores of the values a session revisits (ScoreNet's MPRE path, Tong et al., AAAI 2025)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .init import INIT_STD

#: How the slot of a click is counted: from the session's most recent click (``from_end``: the last click is slot 0,
#: as the absolute index in a right-aligned window) or from its first click (``from_start``: the first click is 0).
SLOT_ORDERS = ("from_end", "from_start")


class ReEngagementScore(nn.Module):
    r"""One path of ScoreNet's multi-path re-engagement network (MPRE): a score in :math:`(0, 1)` for every value
    (an item id, a category, a brand) the session contains, computed from where it occurs only, never from what the
    value is (eq. 3–5).

    For a value :math:`c` occurring at clicks :math:`i_1 < \dots < i_w` of the session, the differences to its most
    recent occurrence :math:`D = [i_w - i_1, \dots, i_w - i_w]` index embeddings :math:`d_m`, and the embedding
    :math:`p^r` of the slot of :math:`i_w` attends to them:

    .. math::
        \alpha^{re}_c = \sum_{m=1}^{w} p^r_{i_w} \cdot d_{i_w - i_m}^\top \qquad (3)

    The scores sit at the slots of the values' last occurrences, :math:`\alpha^{re} \in \mathbb R^n` (zero at the
    other slots), and a learned :math:`n \times n` matrix :math:`W` (the re-assigned scores :math:`w_i^j`) mixes
    them across the session:

    .. math::
        \alpha^{re,update}_j = \sum_{i=1}^{n} w_i^j \, \alpha^{re}_i \qquad (4)

    and :math:`\mathrm{Score}(c) = \mathrm{sigmoid}(\alpha^{re,update}_c)` for a value of the session, 0 for any other
    (eq. 5). Slots are counted by ``slot_order`` (:data:`SLOT_ORDERS`), the same for :math:`p^r` and :math:`W`;
    :math:`W` is a ``max_len`` :math:`\times` ``max_len`` table read at the session's slots, initialised to the
    identity (no redistribution). With ``redistribution=False`` (ScoreNet's no-MPRErd) :math:`W = I`.

    Everything is vectorised over the batch: ``[B, L, L]`` comparisons of the clicks' values find each click's most
    recent occurrence, the sums of eq. 3 are one ``scatter_add`` and eq. 4 one product with the scores in slot
    order. Value 0 (padding, or no value) is never scored.

    Args:
        max_len: the most clicks a session may have (the number of slots and of differences).
        dim: the size of :math:`p^r` and :math:`d`.
        slot_order: one of :data:`SLOT_ORDERS`.
        redistribution: learn :math:`W` (eq. 4) instead of the identity.

    Shapes:
        input: ``values [B, L]`` long (the value of every click; 0 = none), ``lengths [B]`` (``L <= max_len``).
        output: :meth:`forward` ``[B, L]`` the eq. 5 score of each value at the slot of its last occurrence (0 at
        every other slot) and ``[B, L]`` bool, those slots; :meth:`value_scores` ``[B, num_values + 1]``.
    """

    def __init__(self, max_len: int, dim: int, slot_order: str = "from_end", redistribution: bool = True):
        super().__init__()
        if slot_order not in SLOT_ORDERS:
            raise ConfigError(f"unknown slot order {slot_order!r}; choose one of {', '.join(SLOT_ORDERS)}")
        self.max_len, self.dim, self.slot_order = max_len, dim, slot_order
        self.position = nn.Embedding(max_len, dim)  # p^r, by slot
        self.difference = nn.Embedding(max_len, dim)  # d, by difference i_w - i_m
        self.redistribution = nn.Parameter(torch.empty(max_len, max_len)) if redistribution else None  # W
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.position.weight, std=INIT_STD)
        nn.init.normal_(self.difference.weight, std=INIT_STD)
        if self.redistribution is not None:
            with torch.no_grad():
                self.redistribution.copy_(torch.eye(self.max_len))

    def slots(self, lengths: Tensor, width: int) -> Tensor:
        """``[B, L]`` the slot of every click (clamped into ``0..max_len-1`` at padding)."""
        index = torch.arange(width, device=lengths.device).expand(lengths.size(0), -1)
        if self.slot_order == "from_end":
            index = lengths.unsqueeze(1) - 1 - index
        return index.clamp(0, self.max_len - 1)

    def occurrences(self, values: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``last [B, L]`` the position of the most recent occurrence of click ``t``'s value (-1 at padding and
        value 0) and ``is_last [B, L]`` (click ``t`` is that occurrence)."""
        width = values.size(1)
        if width > self.max_len:
            raise ValueError(f"sessions of width {width} exceed max_len={self.max_len}")
        index = torch.arange(width, device=values.device)
        valid = (index < lengths.unsqueeze(1)) & (values > 0)  # [B, L]
        same = (values.unsqueeze(2) == values.unsqueeze(1)) & valid.unsqueeze(1)  # [B, L, L]
        last = torch.where(same, index.to(torch.int32), -1).amax(2).long()  # [B, L]
        last = torch.where(valid, last, -1)
        return last, last == index

    def attention(self, values: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        r"""``(alpha [B, L], is_last [B, L])``: :math:`\alpha^{re}` of eq. 3 at each value's last slot, 0 elsewhere."""
        last, is_last = self.occurrences(values, lengths)
        index = torch.arange(values.size(1), device=values.device)
        found = last >= 0
        last = last.clamp(min=0)
        slot = self.slots(lengths, values.size(1)).gather(1, last)  # the slot of i_w, [B, L]
        difference = (last - index).clamp(0, self.max_len - 1)  # i_w - i_m, [B, L]
        grid = self.position.weight @ self.difference.weight.T  # p^r_a . d_b for every (a, b), [max_len, max_len]
        terms = grid[slot, difference] * found  # one term of eq. 3 per click, [B, L]
        return torch.zeros_like(terms).scatter_add(1, last, terms), is_last  # summed at each value's last click

    def redistribute(self, alpha: Tensor, lengths: Tensor) -> Tensor:
        """Eq. 4: ``[B, L]`` ``W`` read at the session's slots times ``alpha`` (meaningful at the real clicks only)."""
        if self.redistribution is None:
            return alpha
        width = alpha.size(1)
        slot = self.slots(lengths, width)  # [B, L], a permutation of 0..n-1 on the real clicks
        by_slot = torch.zeros_like(alpha).scatter_add(1, slot, alpha)  # padding adds its 0
        update = by_slot @ self.redistribution[:width, :width].T.to(alpha.dtype)  # [B, L] by slot
        return update.gather(1, slot)

    def forward(self, values: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``(scores [B, L], is_last [B, L])``: eq. 5 at each value's last slot (0 elsewhere), and those slots."""
        alpha, is_last = self.attention(values, lengths)
        return torch.sigmoid(self.redistribute(alpha, lengths)) * is_last, is_last

    def value_scores(self, values: Tensor, lengths: Tensor, num_values: int) -> Tensor:
        """``[B, num_values + 1]`` eq. 5 by value: the score of each value of the session, 0 for the others (and for
        value 0)."""
        scores, is_last = self(values, lengths)
        index = values * is_last  # the other slots add their 0 to column 0
        return scores.new_zeros(values.size(0), num_values + 1).scatter_add(1, index, scores)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(max_len={self.max_len}, dim={self.dim}, slot_order={self.slot_order}, "
                f"redistribution={self.redistribution is not None})")


__all__ = ["SLOT_ORDERS", "ReEngagementScore"]
