from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphsbr.train import significance
from graphsbr.train.significance import (
    paired_randomization_test,
    paired_t_test,
    reciprocal_ranks,
    student_t_two_sided_p,
    wilcoxon_signed_rank,
)


def test_reciprocal_ranks_with_and_without_a_cutoff():
    ranks = torch.tensor([1, 2, 4, 25])
    assert reciprocal_ranks(ranks).tolist() == [1.0, 0.5, 0.25, 0.04]
    assert reciprocal_ranks(ranks, k=4).tolist() == [1.0, 0.5, 0.25, 0.0]  # rank 25 > 4: no credit
    assert reciprocal_ranks(ranks).dtype == torch.float64
    as_array = reciprocal_ranks(np.array([1, 5]), k=5)
    assert isinstance(as_array, np.ndarray) and as_array.tolist() == [1.0, 0.2]
    # their mean is the evaluator's mrr@K
    assert reciprocal_ranks(torch.tensor([1, 2, 3, 5]), k=3).mean().item() == pytest.approx((1 + 1 / 2 + 1 / 3) / 4)


def test_reciprocal_ranks_reject_ranks_below_one_and_a_bad_cutoff():
    with pytest.raises(ValueError, match="1-based"):
        reciprocal_ranks(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_ranks(torch.tensor([1, 2]), k=0)


@pytest.mark.parametrize("t, df, expected", [
    (2.0, 10, 0.07338803),                     # tables / any statistics package
    (1.0, 1, 0.5),                             # df=1 (Cauchy): p = 1 - 2 atan|t| / pi = 1 - 2 (pi/4) / pi
    (math.sqrt(3.0), 1, 1 / 3),                # atan(sqrt 3) = pi/3: p = 1 - 2/3
    (2.0, 2, 1 - 2 / math.sqrt(6.0)),          # df=2: p = 1 - |t| / sqrt(2 + t^2)
    (-2.0, 2, 1 - 2 / math.sqrt(6.0)),         # two-sided: the sign of t does not matter
    (0.0, 7, 1.0),
    (math.inf, 7, 0.0),
])
def test_student_t_two_sided_p_on_known_values(t, df, expected):
    assert student_t_two_sided_p(t, df) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize("t", [0.1, 1.0, math.sqrt(15.0), 10.0, 100.0])
def test_student_t_two_sided_p_with_three_degrees_of_freedom(t):
    # df=3: p = 1 - (2/pi) (theta + sin(theta) cos(theta)), theta = atan(t / sqrt 3), sin cos = tan / (1 + tan^2)
    tan = t / math.sqrt(3.0)
    expected = 1 - 2 / math.pi * (math.atan(tan) + tan / (1 + tan * tan))
    assert student_t_two_sided_p(t, 3) == pytest.approx(expected, abs=1e-12, rel=1e-9)


def test_student_t_approaches_the_normal_for_many_degrees_of_freedom():
    for t in (0.5, 1.96, 3.0):
        normal = math.erfc(t / math.sqrt(2.0))
        assert abs(student_t_two_sided_p(t, 1_000_000) - normal) < 1e-6
        assert abs(student_t_two_sided_p(t, 30) - normal) > 1e-4  # and is not the normal for few


def test_paired_t_test_on_a_hand_computed_case():
    # d = a - b = [1, 2, 6]: mean 3, deviations [-2, -1, 3], s^2 = 14 / 2 = 7, se = sqrt(7 / 3),
    # t = 3 / sqrt(7/3) = sqrt(27/7), df = 2: p = 1 - t / sqrt(2 + t^2) = 1 - sqrt(27/41) = 0.188497...
    result = paired_t_test([1.0, 3.0, 6.5], [0.0, 1.0, 0.5])
    assert result.mean_difference == pytest.approx(3.0)
    assert result.statistic == pytest.approx(math.sqrt(27 / 7))
    assert result.p_value == pytest.approx(1 - math.sqrt(27 / 41), abs=1e-12)
    assert result.p_value == pytest.approx(0.188497, abs=1e-6)
    assert (result.n, result.df) == (3, 2)


def test_paired_t_test_swapping_flips_the_sign_and_keeps_p():
    a, b = torch.tensor([0.5, 1.0, 0.2, 0.0, 1.0]), torch.tensor([0.25, 1.0, 0.5, 0.1, 0.2])
    forward, backward = paired_t_test(a, b), paired_t_test(b, a)
    assert backward.statistic == pytest.approx(-forward.statistic)
    assert backward.mean_difference == pytest.approx(-forward.mean_difference)
    assert backward.p_value == pytest.approx(forward.p_value, abs=1e-15)
    assert paired_t_test(a.numpy(), b.tolist()) == forward  # tensors, arrays and lists alike


def test_paired_t_test_with_no_spread_in_the_differences():
    same = paired_t_test([0.5, 1.0, 0.2], [0.5, 1.0, 0.2])
    assert (same.mean_difference, same.statistic, same.p_value) == (0.0, 0.0, 1.0)
    constant = paired_t_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # every difference is 1
    assert constant.statistic == math.inf and constant.p_value == 0.0


def test_wilcoxon_on_a_hand_computed_case():
    # d = [0, 1, -2, 2, 3, 4]: the zero is dropped, n = 5; |d| = 1, 2, 2, 3, 4 ranks 1, 2.5, 2.5, 4, 5
    # W+ = 1 + 2.5 + 4 + 5 = 12.5 (W- = 2.5), mean = 5*6/4 = 7.5,
    # var = 5*6*11/24 - (2^3 - 2)/48 = 13.75 - 0.125 = 13.625, z = (12.5 - 7.5 - 0.5) / sqrt(13.625) = 1.219108
    result = wilcoxon_signed_rank([0.5, 1.0, 0.0, 2.0, 3.0, 4.0], [0.5, 0.0, 2.0, 0.0, 0.0, 0.0])
    assert result.statistic == 12.5 and result.n == 5
    assert result.z == pytest.approx(4.5 / math.sqrt(13.625))
    assert result.p_value == pytest.approx(math.erfc(4.5 / math.sqrt(13.625) / math.sqrt(2.0)))
    assert result.p_value == pytest.approx(0.222801, abs=1e-6)


def test_wilcoxon_swapping_mirrors_the_statistic_and_keeps_p():
    a = [0.5, 1.0, 0.2, 0.0, 1.0, 1 / 3, 0.1]
    b = [0.25, 1.0, 0.5, 0.1, 0.2, 1.0, 0.0]
    forward, backward = wilcoxon_signed_rank(a, b), wilcoxon_signed_rank(b, a)
    n = forward.n  # 6: the pair (1.0, 1.0) is dropped
    assert n == backward.n == 6
    assert backward.statistic == n * (n + 1) / 2 - forward.statistic
    assert backward.z == pytest.approx(-forward.z)
    assert backward.p_value == pytest.approx(forward.p_value, abs=1e-15)


def test_wilcoxon_rounds_away_float_noise_before_grouping_ties():
    # 1/2 - 1/3 = 0.16666666666666669 but 1/6 - 0 = 0.16666666666666666: one tie after rounding.
    # d = [1/6, -1/6, 1]: rounded, ranks 1.5, 1.5, 3 and W+ = 4.5; exact, |-1/6| < |1/6| gives ranks 2, 1, 3: W+ = 5
    a, b = [0.5, 0.0, 1.0], [1 / 3, 1 / 6, 0.0]
    assert wilcoxon_signed_rank(a, b).statistic == 4.5
    assert wilcoxon_signed_rank(a, b, decimals=None).statistic == 5.0


def test_wilcoxon_without_a_nonzero_difference():
    result = wilcoxon_signed_rank([0.5, 1.0, 0.25], [0.5, 1.0, 0.25])
    assert (result.statistic, result.z, result.p_value, result.n) == (0.0, 0.0, 1.0, 0)


def test_randomization_test_against_the_exact_sign_flip_distribution():
    # d = [1, 2, 3], mean 2: of the 8 sign patterns only +++ and --- reach |mean| >= 2, so the exact p is 2/8
    result = paired_randomization_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], permutations=20000, seed=1)
    assert result.mean_difference == 2.0 and result.n == 3 and result.permutations == 20000
    assert abs(result.p_value - 0.25) < 0.015  # 5 standard errors of a 20000-draw estimate


def test_randomization_test_is_reproducible_and_independent_of_the_chunking(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    first = paired_randomization_test(a, b, permutations=3000, seed=7)
    assert paired_randomization_test(a, b, permutations=3000, seed=7) == first
    assert paired_randomization_test(a, b, permutations=3000, seed=8).p_value != first.p_value
    swapped = paired_randomization_test(b, a, permutations=3000, seed=7)
    assert swapped.mean_difference == pytest.approx(-first.mean_difference) and swapped.p_value == first.p_value
    monkeypatch.setattr(significance, "_RANDOMIZATION_CHUNK_ENTRIES", 50 * 7)  # chunks of 7 permutations
    assert paired_randomization_test(a, b, permutations=3000, seed=7) == first


def test_randomization_test_agrees_with_the_t_test_on_a_large_normal_sample():
    rng = np.random.default_rng(3)
    b = rng.normal(size=4000)
    a = b + rng.normal(loc=0.04, size=4000)
    t_test = paired_t_test(a, b)
    randomization = paired_randomization_test(a, b, permutations=20000, seed=0)
    assert 0.001 < t_test.p_value < 0.05
    assert randomization.p_value == pytest.approx(t_test.p_value, rel=0.25)


def test_identical_inputs_give_p_one_and_a_clear_shift_gives_tiny_p():
    rng = np.random.default_rng(0)
    b = 1.0 / rng.integers(1, 50, size=300)
    for test in (paired_t_test, wilcoxon_signed_rank, paired_randomization_test):
        assert test(b, b).p_value == 1.0
    better = np.minimum(b + 0.3 + 0.05 * rng.random(300), 1.0)
    assert paired_t_test(better, b).p_value < 1e-6
    assert wilcoxon_signed_rank(better, b).p_value < 1e-6
    assert paired_randomization_test(better, b, permutations=999).p_value == 1 / 1000  # its smallest possible p


@pytest.mark.parametrize("test", [paired_t_test, wilcoxon_signed_rank, paired_randomization_test])
def test_invalid_inputs_raise_value_errors(test):
    with pytest.raises(ValueError, match="same samples in the same order"):
        test([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="at least 2 samples"):
        test([0.1], [0.2])
    with pytest.raises(ValueError, match="finite"):
        test([0.1, float("nan")], [0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        test(torch.tensor([0.1, 0.2]), torch.tensor([math.inf, 0.3]))
    with pytest.raises(ValueError, match="1-D"):
        test(np.zeros((2, 2)), np.zeros((2, 2)))


def test_randomization_test_needs_a_permutation():
    with pytest.raises(ValueError, match="permutations"):
        paired_randomization_test([0.1, 0.2], [0.2, 0.3], permutations=0)
