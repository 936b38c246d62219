"""The one inference method every model shares: top-k next items for a session."""
from __future__ import annotations

import torch

from ..data.dataset import SessionDataset, SessionSplit
from ..errors import DataError
from ..models.base import SessionRecommender
from .loader import BatchLoader
from .trainer import refresh_memory


@torch.no_grad()
def recommend(model: SessionRecommender, dataset: SessionDataset, items: list[int], k: int = 20,
              device: torch.device | str = "cpu") -> tuple[list[int], list[float]]:
    """The ``k`` best next items for the session ``items`` (click order), with their scores.

    The session is cut to the model's ``max_len`` most recent clicks, as in training.

    Raises:
        DataError: an empty session, or item ids outside ``1..num_items``.
    """
    if not items:
        raise DataError("the session is empty: give at least one item id")
    unknown = sorted({i for i in items if not 1 <= i <= dataset.num_items})
    if unknown:
        raise DataError(f"unknown item id(s) {', '.join(map(str, unknown[:10]))}: ids run 1..{dataset.num_items}")
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    refresh_memory(model, dataset, device=device)  # a model with a memory of training sessions rebuilds it
    split = SessionSplit.from_sequences([[*items, 0]], samples=torch.tensor([[0, len(items)]]))
    loader = BatchLoader(dataset, split, model.batch_kind, model.max_len, 1, device=device)
    model.eval()
    scores = model(next(iter(loader)))[0].float()
    scores[0] = -torch.inf
    top = scores.topk(min(k, dataset.num_items))
    return top.indices.tolist(), top.values.tolist()
