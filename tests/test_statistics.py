"""The seed statistics, pinned against values worked out by hand.

With 2 degrees of freedom the t distribution has a closed form, F(t) = 1/2 + t / (2 sqrt(2 + t^2)),
so its 97.5% quantile is 0.95 * sqrt(2 / (4 * 0.975 * 0.025)) and the two-sided p-value of
t is 1 - t / sqrt(2 + t^2): no call to scipy is needed to know the answers.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest

from alphabet_lstm.report.study import compare_paired, summarize, t_interval

# The 97.5% quantile of t with 2 degrees of freedom, from the closed form above.
T_975_DF2 = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
# With 1 degree of freedom t is Cauchy: the 97.5% quantile is tan(pi * (0.975 - 0.5)).
T_975_DF1 = math.tan(math.pi * 0.475)
EXACT = dict(rel=1e-12, abs=1e-12)


def test_summary_of_three_accuracies_has_the_t_interval():
    summary = summarize([0.8, 0.9, 1.0])
    half_width = T_975_DF2 * 0.1 / math.sqrt(3)
    assert summary.n == 3
    assert summary.mean == pytest.approx(0.9, **EXACT)
    assert summary.std == pytest.approx(0.1, **EXACT)
    assert summary.ci_low == pytest.approx(0.9 - half_width, **EXACT)
    assert summary.ci_high == pytest.approx(0.9 + half_width, **EXACT)
    assert summary.ci_low == pytest.approx(0.651586228824967, abs=1e-12)
    assert summary.ci_high == pytest.approx(1.148413771175033, abs=1e-12)
    assert (summary.minimum, summary.maximum) == (0.8, 1.0)


def test_summary_of_two_values_uses_one_degree_of_freedom():
    summary = summarize([0.0, 1.0])
    # std = sqrt(0.5), standard error = std / sqrt(2) = 0.5.
    assert summary.std == pytest.approx(math.sqrt(0.5), **EXACT)
    assert summary.ci_low == pytest.approx(0.5 - 0.5 * T_975_DF1, **EXACT)
    assert summary.ci_high == pytest.approx(0.5 + 0.5 * T_975_DF1, **EXACT)


def test_summary_of_one_value_has_no_spread_and_no_interval():
    summary = summarize([0.84])
    assert asdict(summary) == {
        "n": 1,
        "mean": 0.84,
        "std": 0.0,
        "ci_low": None,
        "ci_high": None,
        "minimum": 0.84,
        "maximum": 0.84,
    }


def test_equal_values_give_an_interval_of_zero_width():
    summary = summarize([1.0, 1.0, 1.0, 1.0])
    assert (summary.std, summary.ci_low, summary.ci_high) == (0.0, 1.0, 1.0)


def test_t_interval_needs_two_values():
    assert t_interval(0.5, 0.1, 1) is None


def test_paired_comparison_of_three_seeds():
    comparison = compare_paired([0.8, 0.9, 1.0], [0.7, 0.9, 0.8])
    # Differences 0.1, 0.0, 0.2: mean 0.1, sample std 0.1, t = 0.1 / (0.1 / sqrt 3) = sqrt 3.
    half_width = T_975_DF2 * 0.1 / math.sqrt(3)
    assert comparison.n == 3
    assert comparison.mean_difference == pytest.approx(0.1, **EXACT)
    assert comparison.ci_low == pytest.approx(0.1 - half_width, **EXACT)
    assert comparison.ci_high == pytest.approx(0.1 + half_width, **EXACT)
    assert comparison.t_statistic == pytest.approx(math.sqrt(3), rel=1e-9)
    assert comparison.p_value == pytest.approx(1 - math.sqrt(3) / math.sqrt(5), rel=1e-9)
    assert comparison.p_value == pytest.approx(0.2254033307585165, rel=1e-9)


def test_paired_comparison_is_signed_first_minus_second():
    forward = compare_paired([0.8, 0.9, 1.0], [0.7, 0.9, 0.8])
    backward = compare_paired([0.7, 0.9, 0.8], [0.8, 0.9, 1.0])
    assert backward.mean_difference == pytest.approx(-forward.mean_difference, **EXACT)
    assert backward.ci_low == pytest.approx(-forward.ci_high, **EXACT)
    assert backward.p_value == pytest.approx(forward.p_value, **EXACT)


def test_paired_comparison_needs_two_pairs():
    assert compare_paired([0.9], [0.8]) is None


def test_a_constant_difference_has_no_test_but_a_collapsed_interval():
    comparison = compare_paired([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    assert comparison.mean_difference == 0.5
    assert (comparison.ci_low, comparison.ci_high) == (0.5, 0.5)
    assert comparison.p_value is None and comparison.t_statistic is None
    identical = compare_paired([0.9, 0.8], [0.9, 0.8])
    assert identical.mean_difference == 0.0 and identical.p_value is None


def test_five_seeds_summarized_as_computed_by_hand():
    # mean 0.84; squared deviations 0, .0016, .0016, .0064, .0064: sample sd sqrt(.016 / 4);
    # 95% interval: mean +- t(0.975, 4 df) 2.7764451 * sd / sqrt(5).
    summary = summarize([0.84, 0.88, 0.8, 0.92, 0.76])
    sd = (0.016 / 4) ** 0.5
    half_width = 2.7764451052 * sd / 5**0.5
    assert summary.mean == pytest.approx(0.84, abs=1e-12)
    assert summary.std == pytest.approx(sd, abs=1e-12)
    assert (summary.ci_low, summary.ci_high) == (
        pytest.approx(0.84 - half_width, abs=1e-9),
        pytest.approx(0.84 + half_width, abs=1e-9),
    )


def test_the_numbers_are_bit_for_bit_those_of_scipy_stats():
    # The report computes t, p and the interval from scipy.special (scipy.stats costs seconds
    # of start-up); the report's bytes stay those scipy.stats gives only if every bit agrees.
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(7)
    for size in range(2, 12):
        for _ in range(40):
            first, second = (np.round(rng.uniform(0.5, 1.0, size), 6) for _ in range(2))
            comparison = compare_paired(first, second)
            reference = stats.ttest_1samp(first - second, 0.0)
            assert (comparison.t_statistic, comparison.p_value) == (reference.statistic, reference.pvalue)
            summary = summarize(first)
            half_width = float(stats.t.ppf(0.975, size - 1)) * summary.std / math.sqrt(size)
            assert (summary.ci_low, summary.ci_high) == (summary.mean - half_width, summary.mean + half_width)
