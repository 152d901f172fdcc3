"""Statistics over seeds (one accuracy per seed): a summary per framing and a paired
comparison of two, with Student t intervals; the same accuracies give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
_ZERO_SPREAD = 1e-12


@dataclass(frozen=True)
class Summary:
    """Accuracies of one framing over its seeds: ``std`` with ddof=1 (0 for one value), the
    95% t interval of the mean (None when n < 2)."""

    n: int
    mean: float
    std: float
    ci_low: float | None
    ci_high: float | None
    minimum: float
    maximum: float


@dataclass(frozen=True)
class PairedComparison:
    """First minus second, seed by seed: the mean difference, its 95% t interval, the test
    (None when every seed gives the same difference: t is then 0/0 or infinite)."""

    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float | None
    p_value: float | None


def t_interval(mean: float, std: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Student t interval ``mean ± t(n-1) * std / sqrt(n)``; None when n < 2."""
    if n < 2:
        return None
    # scipy.special's t quantile is the one scipy.stats.t.ppf returns, without the seconds
    # that importing scipy.stats adds to the report's start-up; one seed needs neither.
    from scipy.special import stdtrit

    half_width = float(stdtrit(n - 1, (1.0 + confidence) / 2.0)) * std / math.sqrt(n)
    return mean - half_width, mean + half_width


def summarize(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Summary:
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0  # one value has no spread
    low, high = t_interval(mean, std, array.size, confidence) or (None, None)
    return Summary(int(array.size), mean, std, low, high, float(array.min()), float(array.max()))


def compare_paired(
    first: Sequence[float], second: Sequence[float], confidence: float = CONFIDENCE
) -> PairedComparison | None:
    """Paired comparison of ``first - second`` over the same seeds; None with fewer than 2
    pairs. The two-sided paired t-test, as the one-sample test of the differences against 0,
    computed as scipy.stats.ttest_1samp computes it (its variance, t and p) from
    scipy.special, for the start-up reason of :func:`t_interval`."""
    differences = np.subtract(first, second, dtype=np.float64)
    if differences.size < 2:
        return None
    summary = summarize(differences, confidence)
    assert summary.ci_low is not None and summary.ci_high is not None  # two or more differences
    # A constant difference makes the t statistic 0/0 or x/0: no test is possible.
    if summary.std <= _ZERO_SPREAD * max(1.0, abs(summary.mean)):
        t_statistic = p_value = None
    else:
        from scipy.special import stdtr

        n = differences.size
        variance = np.mean((differences - differences.mean()) ** 2) * (n / (n - 1))
        t_statistic = float(differences.mean() / np.sqrt(variance / n))
        p_value = float(2 * stdtr(n - 1, -abs(t_statistic)))
    return PairedComparison(summary.n, summary.mean, summary.ci_low, summary.ci_high, t_statistic, p_value)
