r"""Paired significance tests between two models evaluated on the same samples (the reproduction table's stars).

Each model gives one value per test sample, usually its reciprocal rank of the target
(:func:`reciprocal_ranks`, whose mean is ``mrr@K``). The tests look at the paired differences
:math:`d_i = a_i - b_i` and ask whether they are centred on zero. The null hypothesis: the two models' per-sample
reciprocal ranks have the same distribution of paired differences, i.e. the differences are symmetric about zero
(no model is better on the test set beyond chance). All p-values are two-sided.

* :func:`paired_t_test`: Student's t on the mean difference (exact t distribution, no normal approximation).
* :func:`wilcoxon_signed_rank`: ranks of :math:`|d_i|`, robust to the heavy tails of reciprocal ranks.
* :func:`paired_randomization_test`: random sign flips of the :math:`d_i`, no distributional assumption.

Sample ``i`` of ``a`` and sample ``i`` of ``b`` must be the same test sample: evaluate both models on the same
split in the same order (the evaluator's order is deterministic). Inputs of different lengths, with fewer than 2
samples or with non-finite values raise :class:`ValueError`. Inputs are 1-D torch tensors (any device), NumPy
arrays or sequences; everything is computed in float64 with NumPy. Only ``math`` and NumPy are used: no SciPy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_TINY = 1e-300
_CONTINUED_FRACTION_EPS = 1e-15
_CONTINUED_FRACTION_MAX_TERMS = 100_000
_RANDOMIZATION_CHUNK_ENTRIES = 1 << 22  # sign flips drawn at once: permutations per chunk x samples
_EXTREME_RELATIVE_TOLERANCE = 1e-12  # a permuted mean this close to the observed one counts as extreme


@dataclass(frozen=True)
class TTestResult:
    """Paired t test: ``mean_difference`` = mean(a - b), ``statistic`` = t, two-sided ``p_value``, ``n`` pairs."""

    mean_difference: float
    statistic: float
    p_value: float
    n: int

    @property
    def df(self) -> int:
        return self.n - 1


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test: ``statistic`` = W+ (sum of the ranks of the positive differences), its
    normal score ``z``, the two-sided ``p_value`` and ``n``, the number of non-zero differences ranked."""

    statistic: float
    z: float
    p_value: float
    n: int


@dataclass(frozen=True)
class RandomizationResult:
    """Sign-flip test: ``mean_difference`` = mean(a - b), two-sided ``p_value``, ``n`` pairs, ``permutations``."""

    mean_difference: float
    p_value: float
    n: int
    permutations: int


def _to_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
    return np.asarray(values)


def reciprocal_ranks(ranks, k: int | None = None):
    """Per-sample reciprocal rank ``1 / rank`` of 1-based ``ranks``; with ``k``, ranks above ``k`` give 0 (the
    per-sample ``mrr@K``). Returns float64 of the input's kind: a CPU tensor for a tensor, else a NumPy array."""
    values = _to_numpy(ranks)
    if values.size and (not np.all(np.isfinite(values)) or values.min() < 1):
        raise ValueError("ranks must be finite and 1-based (every rank >= 1)")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    values = values.astype(np.float64)
    reciprocal = 1.0 / values
    if k is not None:
        reciprocal = np.where(values <= k, reciprocal, 0.0)
    return torch.from_numpy(reciprocal) if isinstance(ranks, torch.Tensor) else reciprocal


def _paired_differences(a, b) -> np.ndarray:
    """``a - b`` in float64, after checking that the two are paired, 1-D, at least 2 long and finite."""
    a, b = _to_numpy(a).astype(np.float64), _to_numpy(b).astype(np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"a and b must be 1-D per-sample values, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same samples in the same order, got lengths {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError(f"a paired test needs at least 2 samples, got {len(a)}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite (no NaN or infinity)")
    return a - b


def _incomplete_beta_fraction(x: float, a: float, b: float) -> float:
    r"""The continued fraction of :math:`I_x(a, b)` (modified Lentz), fast for ``x < (a + 1) / (a + b + 2)``:

    .. math::
        I_x(a, b) = \frac{x^a (1-x)^b}{a B(a, b)} \cdot \cfrac{1}{1 + \cfrac{d_1}{1 + \cfrac{d_2}{1 + \cdots}}},
        \quad d_{2m+1} = -\frac{(a+m)(a+b+m)x}{(a+2m)(a+2m+1)}, \quad d_{2m} = \frac{m(b-m)x}{(a+2m-1)(a+2m)}.
    """
    def nonzero(value: float) -> float:
        return value if abs(value) > _TINY else _TINY

    def step(numerator: float, c: float, d: float) -> tuple[float, float]:
        return nonzero(1.0 + numerator / c), 1.0 / nonzero(1.0 + numerator * d)

    c, d = 1.0, 1.0 / nonzero(1.0 - (a + b) * x / (a + 1.0))  # 1 / (1 + d_1)
    fraction = d
    for m in range(1, _CONTINUED_FRACTION_MAX_TERMS):
        c, d = step(m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), c, d)  # d_{2m}
        fraction *= c * d
        c, d = step(-(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)), c, d)  # d_{2m+1}
        fraction *= c * d
        if abs(c * d - 1.0) < _CONTINUED_FRACTION_EPS:
            return fraction
    raise ArithmeticError(f"the incomplete beta fraction did not converge for x={x}, a={a}, b={b}")


def regularized_incomplete_beta(x: float, a: float, b: float, one_minus_x: float | None = None) -> float:
    """:math:`I_x(a, b)`, the CDF of Beta(a, b) at ``x``; pass ``one_minus_x`` when it is known more precisely than
    ``1 - x`` (it avoids cancellation near ``x = 1``)."""
    y = 1.0 - x if one_minus_x is None else one_minus_x
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log(y) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) / a * _incomplete_beta_fraction(x, a, b)
    return 1.0 - math.exp(log_front) / b * _incomplete_beta_fraction(y, b, a)  # I_x(a, b) = 1 - I_{1-x}(b, a)


def student_t_two_sided_p(t: float, df: float) -> float:
    r""":math:`P(|T| \ge |t|)` for Student's t with ``df`` degrees of freedom:
    :math:`I_{df / (df + t^2)}(df / 2, 1 / 2)`."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    denominator = df + t * t
    return min(1.0, regularized_incomplete_beta(df / denominator, df / 2.0, 0.5, one_minus_x=t * t / denominator))


def paired_t_test(a, b) -> TTestResult:
    r"""Paired Student's t test of mean(a - b) = 0: :math:`t = \bar d / (s_d / \sqrt n)` with ``n - 1`` degrees
    of freedom (:math:`s_d` the sample standard deviation). Differences that are all equal give t = 0 and p = 1
    when they are zero (identical inputs), t = ±inf and p = 0 otherwise."""
    differences = _paired_differences(a, b)
    n = len(differences)
    mean = float(differences.mean())
    std = float(differences.std(ddof=1))
    if std == 0.0:  # every difference equal: all zero (identical inputs) or a certain shift
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        t = mean / (std / math.sqrt(n))
    return TTestResult(mean, t, student_t_two_sided_p(t, n - 1), n)


def wilcoxon_signed_rank(a, b, decimals: int | None = 12) -> WilcoxonResult:
    r"""Wilcoxon signed-rank test of the differences ``a - b`` being symmetric about zero.

    Zero differences are dropped (Wilcoxon's convention) and the ``n`` others ranked by :math:`|d_i|`, ties
    taking their average rank. The differences are first rounded to ``decimals`` (``None``: not at all), so that
    float noise does not split ties or hide zeros (``1/2 - 1/3`` and ``1/6 - 0`` differ in the last bit).
    The p-value is the normal approximation with the tie correction and a continuity correction:

    .. math::
        z = \frac{\operatorname{sign}(W^+ - \mu) \max(|W^+ - \mu| - \tfrac12, 0)}{\sigma}, \quad
        \mu = \frac{n(n+1)}{4}, \quad \sigma^2 = \frac{n(n+1)(2n+1)}{24} - \sum_g \frac{t_g^3 - t_g}{48},
        \quad p = \operatorname{erfc}(|z| / \sqrt 2),

    :math:`t_g` the size of tie group :math:`g`. No non-zero difference at all gives W+ = 0, z = 0, p = 1.
    Swapping ``a`` and ``b`` turns W+ into :math:`n(n+1)/2 - W^+` and flips z.
    """
    differences = _paired_differences(a, b)
    if decimals is not None:
        differences = np.round(differences, decimals)
    differences = differences[differences != 0]
    n = len(differences)
    if n == 0:
        return WilcoxonResult(0.0, 0.0, 1.0, 0)
    _, group, tie_sizes = np.unique(np.abs(differences), return_inverse=True, return_counts=True)
    average_rank = np.cumsum(tie_sizes) - (tie_sizes - 1) / 2.0  # of each tie group, ranks 1..n
    ranks = average_rank[group.reshape(-1)]
    w_plus = float(ranks[differences > 0].sum())
    mean = n * (n + 1) / 4.0
    variance = n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_sizes.astype(np.float64) ** 3 - tie_sizes).sum()) / 48.0
    shift = w_plus - mean
    z = math.copysign(max(abs(shift) - 0.5, 0.0), shift) / math.sqrt(variance)
    return WilcoxonResult(w_plus, z, math.erfc(abs(z) / math.sqrt(2.0)), n)


def paired_randomization_test(a, b, permutations: int = 10000, seed: int = 0) -> RandomizationResult:
    r"""Sign-flip (paired permutation) test of mean(a - b) = 0.

    Under the null each difference is as likely to have either sign, so each of ``permutations`` draws flips
    every :math:`d_i` with probability ½; the p-value counts the draws whose :math:`|\text{mean}|` reaches the
    observed one (up to a relative 1e-12, for float noise), the observed draw included:
    ``p = (1 + extreme) / (1 + permutations)``, so it is never below ``1 / (1 + permutations)``. Draws are made in
    chunks of whole permutations with ``numpy.random.default_rng(seed)``: the same seed gives the same p-value.
    """
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    differences = _paired_differences(a, b)
    n = len(differences)
    observed = float(differences.mean())
    threshold = abs(observed) * (1.0 - _EXTREME_RELATIVE_TOLERANCE)
    total = differences.sum()
    rng = np.random.default_rng(seed)
    chunk = max(1, _RANDOMIZATION_CHUNK_ENTRIES // n)
    extreme = 0
    for start in range(0, permutations, chunk):
        flipped = (rng.random((min(chunk, permutations - start), n)) < 0.5).astype(np.float64)  # [P_chunk, n]
        permuted_means = (total - 2.0 * (flipped @ differences)) / n  # flipping d_i subtracts 2 d_i from the sum
        extreme += int((np.abs(permuted_means) >= threshold).sum())
    return RandomizationResult(observed, (1 + extreme) / (1 + permutations), n, permutations)
