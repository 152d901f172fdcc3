"""Statistics over seeds: a summary per framing and a paired comparison of two framings.

Pure functions over plain lists of floats (one accuracy per seed). Intervals are Student t
intervals, the textbook choice for a handful of seeds; nothing here draws random numbers,
so the same accuracies always give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# Differences this close to constant make the t statistic 0/0 or x/0: no test is possible.
_ZERO_SPREAD = 1e-12


@dataclass(frozen=True)
class Summary:
    """Accuracies of one framing over its seeds.

    ``std`` is the sample standard deviation (ddof=1), 0 for a single value; ``ci_low`` and
    ``ci_high`` bound the 95% t interval of the mean and are None when n < 2.
    """

    n: int
    mean: float
    std: float
    ci_low: float | None
    ci_high: float | None
    minimum: float
    maximum: float


@dataclass(frozen=True)
class PairedComparison:
    """First minus second, seed by seed: the mean difference, its 95% t interval, the test.

    ``p_value`` and ``t_statistic`` are None when every seed gives the same difference,
    because the paired t statistic is then undefined (0/0) or infinite.
    """

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
    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return mean - half_width, mean + half_width


def sample_std(values: np.ndarray) -> float:
    """Sample standard deviation (ddof=1); 0 for a single value, which has no spread."""
    return float(values.std(ddof=1)) if values.size > 1 else 0.0


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """n, mean, sample std, t interval of the mean (None for n < 2), min and max."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    std = sample_std(array)
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
    """Paired comparison of ``first - second`` over the same seeds; None with fewer than 2 pairs.

    The p-value is the two-sided paired t-test (scipy's ``ttest_rel``, computed as the
    one-sample test of the differences against 0, which is the same test).
    """
    differences = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    if differences.size < 2:
        return None
    mean = float(differences.mean())
    std = sample_std(differences)
    interval = t_interval(mean, std, differences.size, confidence)
    assert interval is not None  # two or more differences always have an interval
    low, high = interval
    t_statistic: float | None = None
    p_value: float | None = None
    if std > _ZERO_SPREAD * max(1.0, abs(mean)):
        result = stats.ttest_1samp(differences, 0.0)
        t_statistic, p_value = float(result.statistic), float(result.pvalue)
    return PairedComparison(
        n=int(differences.size),
        mean_difference=mean,
        ci_low=low,
        ci_high=high,
        t_statistic=t_statistic,
        p_value=p_value,
    )
