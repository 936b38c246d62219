import math

import pytest
import torch

from graphsbr.train.metrics import RankingMetrics, metric_names, ranking_metrics, target_ranks


def test_ranks_count_ties_against_the_target_and_ignore_padding():
    scores = torch.tensor([
        [9.0, 0.5, 0.9, 0.1, 0.9],   # target 2 ties with item 4: rank 2; padding's 9.0 is ignored
        [0.0, 0.3, 0.2, 0.1, 0.0],   # target 1 is the best: rank 1
        [0.0, 1.0, 1.0, 1.0, 1.0],   # a constant scorer: rank 4 (last)
        [0.0, 0.4, 0.3, 0.2, 0.1],   # target 4 is the worst: rank 4
    ])
    assert target_ranks(scores, torch.tensor([2, 1, 3, 4])).tolist() == [2, 1, 4, 4]


def test_nan_target_score_ranks_last():
    scores = torch.tensor([[0.0, float("nan"), 0.2, 0.1]])
    assert target_ranks(scores, torch.tensor([1])).tolist() == [3]


def test_metrics_on_hand_computed_ranks():
    metrics = RankingMetrics(ks=(1, 3))
    metrics.update_ranks(torch.tensor([1, 2, 3, 5]))
    result = metrics.compute()
    assert result["hr@1"] == 0.25 and result["hr@3"] == 0.75
    assert result["mrr@1"] == 0.25
    assert result["mrr@3"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 4)
    assert result["ndcg@3"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(4)) / 4)
    assert result["ndcg@1"] == 0.25


def test_ranking_metrics_of_given_ranks():
    assert ranking_metrics(torch.tensor([1, 4, 30]), ks=(5,)) == pytest.approx(
        {"hr@5": 2 / 3, "mrr@5": 1.25 / 3, "ndcg@5": (1 + 1 / math.log2(5)) / 3})
    assert ranking_metrics(torch.tensor([], dtype=torch.long), ks=(5,)) == {"hr@5": 0.0, "mrr@5": 0.0, "ndcg@5": 0.0}


def test_update_accumulates_over_batches():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(50, 30, generator=g)
    targets = torch.randint(1, 30, (50,), generator=g)
    whole, parts = RankingMetrics(), RankingMetrics()
    whole.update(scores, targets)
    for chunk in range(0, 50, 7):
        parts.update(scores[chunk:chunk + 7], targets[chunk:chunk + 7])
    assert whole.compute() == pytest.approx(parts.compute())
    assert list(whole.compute()) == metric_names()
    # against sorting: rank = 1 + position of the target in a descending stable order that puts ties first
    ranks = target_ranks(scores, targets)
    for b in range(50):
        others = torch.cat([scores[b, 1:targets[b]], scores[b, targets[b] + 1:]])
        assert ranks[b] == 1 + int((others >= scores[b, targets[b]]).sum())
