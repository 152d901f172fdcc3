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
    from scipy import stats  # here only: 2.5 s of the report stage's start-up, and one seed needs none

    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return mean - half_width, mean + half_width


def summarize(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Summary:
    """n, mean, sample std, t interval of the mean (None for n < 2), min and max."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0  # one value has no spread
    interval = t_interval(mean, std, array.size, confidence)
    return Summary(
        n=int(array.size),
        mean=mean,
        std=std,
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
        minimum=float(array.min()),
        maximum=float(array.max()),
    )


def compare_paired(
    first: Sequence[float], second: Sequence[float], confidence: float = CONFIDENCE
) -> PairedComparison | None:
    """Paired comparison of ``first - second`` over the same seeds; None with fewer than 2
    pairs. The two-sided paired t-test, as the one-sample test of the differences against 0."""
    differences = np.subtract(first, second, dtype=np.float64)
    if differences.size < 2:
        return None
    summary = summarize(differences, confidence)
    assert summary.ci_low is not None and summary.ci_high is not None  # two or more differences
    from scipy import stats

    # A constant difference makes the t statistic 0/0 or x/0: no test is possible.
    test = stats.ttest_1samp(differences, 0.0) if summary.std > _ZERO_SPREAD * max(1.0, abs(summary.mean)) else None
    return PairedComparison(
        n=summary.n,
        mean_difference=summary.mean,
        ci_low=summary.ci_low,
        ci_high=summary.ci_high,
        t_statistic=None if test is None else float(test.statistic),
        p_value=None if test is None else float(test.pvalue),
    )
