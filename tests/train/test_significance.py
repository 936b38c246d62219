from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from graphsbr.train import significance
from graphsbr.train.significance import (
    paired_randomization_test,
    paired_t_test,
    reciprocal_ranks,
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


def student_t_two_sided_p(t: float, df: int) -> float:
    """Reference P(|T| >= |t|) for an integer ``df``, in closed form (Abramowitz & Stegun 26.7.3-4), independent
    of SciPy: with theta = atan(|t| / sqrt(df)), P(|T| < |t|) is
    (2/pi) (theta + sin(theta) (cos(theta) + 2/3 cos^3(theta) + 2*4/(3*5) cos^5(theta) + ... + cos^(df-2)))
    for odd df (2 theta / pi for df = 1) and sin(theta) (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ... + cos^(df-2)) for
    even df."""
    theta = math.atan(abs(t) / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:
        term = total = math.cos(theta) if df > 1 else 0.0
        for j in range(1, (df - 1) // 2):
            term *= 2 * j / (2 * j + 1) * cos2
            total += term
        return 1.0 - 2.0 / math.pi * (theta + math.sin(theta) * total)
    term = total = 1.0
    for j in range(1, df // 2):
        term *= (2 * j - 1) / (2 * j) * cos2
        total += term
    return 1.0 - math.sin(theta) * total


@pytest.mark.parametrize("t, df, expected", [
    (1.0, 1, 0.5),                             # df=1 (Cauchy): p = 1 - 2 atan|t| / pi = 1 - 2 (pi/4) / pi
    (math.sqrt(3.0), 1, 1 / 3),                # atan(sqrt 3) = pi/3: p = 1 - 2/3
    (2.0, 2, 1 - 2 / math.sqrt(6.0)),          # df=2: p = 1 - |t| / sqrt(2 + t^2)
    (-2.0, 2, 1 - 2 / math.sqrt(6.0)),         # two-sided: the sign of t does not matter
    (math.sqrt(3.0), 3, 1 - 2 / math.pi * (math.pi / 4 + 1 / 2)),  # df=3, theta = pi/4: sin cos = 1/2
    (2.0, 10, 0.07338803),                     # tables / any statistics package
    (0.0, 7, 1.0),
])
def test_the_reference_t_distribution_on_known_values(t, df, expected):
    assert student_t_two_sided_p(t, df) == pytest.approx(expected, abs=1e-8)


def test_the_reference_t_distribution_approaches_the_normal():
    for t in (0.5, 1.96, 3.0):
        assert abs(student_t_two_sided_p(t, 100_000) - math.erfc(t / math.sqrt(2.0))) < 1e-5


def test_paired_t_test_on_a_hand_computed_case():
    # d = a - b = [1, 2, 6]: mean 3, deviations [-2, -1, 3], s^2 = 14 / 2 = 7, se = sqrt(7 / 3),
    # t = 3 / sqrt(7/3) = sqrt(27/7), df = 2: p = 1 - t / sqrt(2 + t^2) = 1 - sqrt(27/41) = 0.188497...
    result = paired_t_test([1.0, 3.0, 6.5], [0.0, 1.0, 0.5])
    assert result.mean_difference == pytest.approx(3.0)
    assert result.statistic == pytest.approx(math.sqrt(27 / 7), abs=1e-12)
    assert result.p_value == pytest.approx(1 - math.sqrt(27 / 41), abs=1e-12)
    assert result.p_value == pytest.approx(0.188497, abs=1e-6)
    assert (result.n, result.df) == (3, 2)


def test_paired_t_test_with_one_degree_of_freedom():
    # d = [1, 3]: mean 2, s = sqrt 2, se = s / sqrt 2 = 1, t = 2; Cauchy: p = 1 - 2 atan(2) / pi = 0.295167...
    result = paired_t_test([1.0, 3.0], [0.0, 0.0])
    assert result.statistic == pytest.approx(2.0, abs=1e-12)
    assert result.p_value == pytest.approx(1 - 2 * math.atan(2.0) / math.pi, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 31, 500, 4000])
def test_paired_t_test_matches_the_closed_form_t_distribution(n):
    rng = np.random.default_rng(n)
    b = 1.0 / rng.integers(1, 30, size=n)
    a = np.clip(b + rng.normal(0.02, 0.2, size=n), 0.0, 1.0)
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    result = paired_t_test(a, b)
    assert result.statistic == pytest.approx(t, rel=1e-10)
    assert result.p_value == pytest.approx(student_t_two_sided_p(t, n - 1), abs=1e-10)


def test_paired_t_test_swapping_flips_the_sign_and_keeps_p():
    a, b = torch.tensor([0.5, 1.0, 0.2, 0.0, 1.0]), torch.tensor([0.25, 1.0, 0.5, 0.1, 0.2])
    forward, backward = paired_t_test(a, b), paired_t_test(b, a)
    assert backward.statistic == pytest.approx(-forward.statistic)
    assert backward.mean_difference == pytest.approx(-forward.mean_difference)
    assert backward.p_value == pytest.approx(forward.p_value, abs=1e-15)
    assert paired_t_test(a.numpy(), b.tolist()) == forward  # tensors, arrays and lists alike


def test_paired_t_test_with_no_spread_in_the_differences():
    same = paired_t_test([0.5, 1.0, 0.2], [0.5, 1.0, 0.2])  # SciPy: 0 / 0
    assert (same.mean_difference, same.statistic, same.p_value, same.n) == (0.0, 0.0, 1.0, 3)
    constant = paired_t_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # every difference is 1
    assert (constant.mean_difference, constant.statistic, constant.p_value) == (1.0, math.inf, 0.0)
    negative = paired_t_test([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert (negative.statistic, negative.p_value) == (-math.inf, 0.0)


def wilcoxon_normal_approximation(d: np.ndarray) -> tuple[float, float, float]:
    """Reference (W+, z, p) of the tie- and continuity-corrected normal approximation, computed by hand: zeros
    dropped, average ranks of |d|, sigma^2 = n(n+1)(2n+1)/24 - sum(t^3 - t)/48."""
    d = d[d != 0]
    n = len(d)
    magnitudes = np.abs(d)
    ranks = np.array([(magnitudes < m).sum() + ((magnitudes == m).sum() + 1) / 2 for m in magnitudes])
    w_plus = float(ranks[d > 0].sum())
    ties = np.unique(magnitudes, return_counts=True)[1].astype(np.float64)
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - (ties ** 3 - ties).sum() / 48)
    shift = w_plus - n * (n + 1) / 4
    z = math.copysign(abs(shift) - 0.5, shift) / sigma
    return w_plus, z, math.erfc(abs(z) / math.sqrt(2.0))


def test_wilcoxon_on_a_hand_computed_case():
    # d = [0, 1, -2, 2, 3, 4]: the zero is dropped, n = 5; |d| = 1, 2, 2, 3, 4 ranks 1, 2.5, 2.5, 4, 5
    # W+ = 1 + 2.5 + 4 + 5 = 12.5 (W- = 2.5), mean = 5*6/4 = 7.5,
    # var = 5*6*11/24 - (2^3 - 2)/48 = 13.75 - 0.125 = 13.625, z = (12.5 - 7.5 - 0.5) / sqrt(13.625) = 1.219108
    result = wilcoxon_signed_rank([0.5, 1.0, 0.0, 2.0, 3.0, 4.0], [0.5, 0.0, 2.0, 0.0, 0.0, 0.0])
    assert result.statistic == 12.5 and result.n == 5
    assert result.z == pytest.approx(4.5 / math.sqrt(13.625), abs=1e-12)
    assert result.p_value == pytest.approx(math.erfc(4.5 / math.sqrt(13.625) / math.sqrt(2.0)), abs=1e-12)
    assert result.p_value == pytest.approx(0.222801, abs=1e-6)


@pytest.mark.parametrize("n", [10, 100, 3000])
def test_wilcoxon_matches_the_hand_computed_normal_approximation(n):
    rng = np.random.default_rng(n)
    a = 1.0 / rng.integers(1, 8, size=n)  # reciprocal ranks: many ties and zero differences
    b = 1.0 / rng.integers(1, 8, size=n)
    result = wilcoxon_signed_rank(a, b)
    w_plus, z, p = wilcoxon_normal_approximation(np.round(a - b, 12))
    assert result.statistic == w_plus and result.n == int((np.round(a - b, 12) != 0).sum())
    assert result.z == pytest.approx(z, abs=1e-10)
    assert result.p_value == pytest.approx(p, abs=1e-10)


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
    result = wilcoxon_signed_rank([0.5, 1.0, 0.25], [0.5, 1.0, 0.25])  # SciPy: z = 0 / 0
    assert (result.statistic, result.z, result.p_value, result.n) == (0.0, 0.0, 1.0, 0)


def test_wilcoxon_with_all_differences_equal():
    # d = [1] * 6: one tie group of 6, ranks 3.5 each, W+ = 21; mean 10.5,
    # var = 6*7*13/24 - (6^3 - 6)/48 = 22.75 - 4.375 = 18.375, z = (21 - 10.5 - 0.5) / sqrt(18.375)
    result = wilcoxon_signed_rank([2.0] * 6, [1.0] * 6)
    z = 10 / math.sqrt(18.375)
    assert (result.statistic, result.n) == (21.0, 6)
    assert result.z == pytest.approx(z, abs=1e-12)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2.0)), abs=1e-12)


def exact_sign_flip_p(d: np.ndarray) -> float:
    """Reference: the share of all 2^n sign patterns whose |mean| reaches the observed |mean|."""
    observed = abs(d.mean())
    means = [abs((np.array(signs) * d).mean()) for signs in itertools.product((1.0, -1.0), repeat=len(d))]
    return sum(m >= observed * (1 - 1e-12) for m in means) / len(means)


def test_randomization_test_enumerates_every_sign_pattern_when_it_can():
    # d = [1, 2, 3], mean 2: of the 8 sign patterns only +++ and --- reach |mean| >= 2, so the exact p is 2/8
    result = paired_randomization_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], permutations=20000, seed=1)
    assert (result.mean_difference, result.p_value, result.n, result.permutations) == (2.0, 0.25, 3, 8)
    rng = np.random.default_rng(5)
    a, b = rng.random(10), rng.random(10)
    exact = paired_randomization_test(a, b, permutations=1024)
    assert exact.permutations == 1024
    assert exact.p_value == pytest.approx(exact_sign_flip_p(a - b), abs=1e-12)


@pytest.mark.parametrize("n", [6, 11])
def test_randomization_test_equals_scipys_permutation_test_when_both_enumerate(n):
    from scipy import stats

    rng = np.random.default_rng(n)
    a, b = rng.random(n), rng.random(n)
    ours = paired_randomization_test(a, b, permutations=2**n)
    theirs = stats.permutation_test((a - b,), lambda d, axis=-1: np.abs(d.mean(axis=axis)), vectorized=True,
                                    permutation_type="samples", alternative="greater", n_resamples=2**n)
    assert ours.permutations == len(theirs.null_distribution) == 2**n
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=1e-12)


def test_randomization_test_draws_when_there_are_too_many_patterns():
    result = paired_randomization_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], permutations=7, seed=1)
    assert result.permutations == 7
    assert result.p_value * 8 == pytest.approx(round(result.p_value * 8))  # (1 + extreme) / (1 + 7)
    assert result.p_value >= 1 / 8


def test_randomization_test_is_reproducible_and_independent_of_the_batching(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    first = paired_randomization_test(a, b, permutations=3000, seed=7)
    assert first.permutations == 3000
    assert paired_randomization_test(a, b, permutations=3000, seed=7) == first
    assert paired_randomization_test(a, b, permutations=3000, seed=8).p_value != first.p_value
    swapped = paired_randomization_test(b, a, permutations=3000, seed=7)
    assert swapped.mean_difference == pytest.approx(-first.mean_difference) and swapped.p_value == first.p_value
    monkeypatch.setattr(significance, "_RANDOMIZATION_BATCH_ENTRIES", 50 * 7)  # batches of 7 sign patterns
    assert paired_randomization_test(a, b, permutations=3000, seed=7) == first


def test_randomization_test_agrees_with_the_t_test_on_a_large_normal_sample():
    rng = np.random.default_rng(3)
    b = rng.normal(size=1000)
    a = b + rng.normal(loc=0.06, size=1000)
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
    shift = paired_randomization_test(b + 0.5, b, permutations=999)  # every difference equal: no spread
    assert shift.mean_difference == pytest.approx(0.5) and shift.p_value == 1 / 1000


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
