"""The study the report describes: per (framing, seed), what train and evaluate wrote, and
its summaries over seeds: DVC's metrics file (seeds averaged, short keys), and per framing
or pair of framings the Student t statistics (the same accuracies give the same numbers).
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from statistics import fmean
from typing import TypeVar

import numpy as np

from alphabet_lstm import formats
from alphabet_lstm.artifacts import load_model
from alphabet_lstm.errors import UsageError
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec
from alphabet_lstm.report.state_views import (
    PaddingView,
    StatefulView,
    WindowView,
    is_window,
    padding_view,
    stateful_view,
    takes_padding,
    window_view,
)

# summary.json: short key -> the evaluation metric it averages over seeds. A framing gets
# the keys whose metric its evaluation holds (chain/cold/warm for stateful framings, allq
# for the variable-length ones). Booleans (chain intact) average to the fraction of seeds.
SUMMARY_KEYS = {
    "acc": "accuracy",
    "chain": "chain_intact",
    "cold": "cold_start_accuracy",
    "warm": "warm_start_accuracy",
    "allq": "all_queries_accuracy",
}
SUMMARY_DIGITS = 4
Contents = TypeVar("Contents")


def _read_when_asked(kind: str, read: Callable[[Path], Contents]) -> cached_property[Contents]:
    def read_file(record: RunRecord) -> Contents:
        path = record.files[kind]
        try:
            return read(path)
        # JSONDecodeError is a ValueError.
        except (ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as error:
            raise UsageError(f"{path}: cannot be read ({error}); run `dvc repro` to rebuild it") from None

    return cached_property(read_file)


@dataclass(frozen=True)
class RunRecord:
    """What train and evaluate wrote for one framing at one seed (``files`` by kind), each file
    read when first asked for (later seeds' models are never read); a malformed one is a UsageError naming it."""

    files: Mapping[str, Path]

    metrics = _read_when_asked("evaluation", formats.read_evaluation)
    details = _read_when_asked("details", formats.read_details)
    history = _read_when_asked("history", formats.read_history)
    probabilities = _read_when_asked("probabilities", formats.read_probabilities)  # None: takes no single letter
    model = _read_when_asked("models", load_model)


@dataclass(frozen=True)
class Study:
    """The framings and seeds of the study, in params order, with one record for each pair
    (``runs`` framing by framing, seeds in order within each)."""

    framings: tuple[str, ...]
    seeds: tuple[int, ...]
    tutorial_accuracy: Mapping[str, float]
    runs: Mapping[tuple[str, int], RunRecord]

    @property
    def first_seed(self) -> int:
        return self.seeds[0]

    @property
    def several_seeds(self) -> bool:
        return len(self.seeds) > 1

    def run(self, framing: str, seed: int | None = None) -> RunRecord:
        return self.runs[(framing, self.first_seed if seed is None else seed)]

    def metric(self, framing: str, name: str) -> list:
        """Per seed, None where the evaluation has no such metric."""
        return [self.run(framing, seed).metrics.get(name) for seed in self.seeds]

    def accuracies(self, framing: str) -> list[float]:
        return [float(value) for value in self.metric(framing, "accuracy")]

    @property
    def first_seed_models(self) -> list[tuple[LSTMWeights, ModelSpec]]:
        return [self.run(framing).model for framing in self.framings]

    @cached_property
    def state_views(self) -> tuple[list[StatefulView], list[WindowView], list[PaddingView]]:
        """The first-seed models' views, in params order: computed once for the figures,
        ``state.json`` and the explorer's planes."""
        models = self.first_seed_models
        return (
            [stateful_view(weights, spec) for weights, spec in models if spec.stateful],
            [window_view(weights, spec) for weights, spec in models if is_window(spec)],
            [padding_view(weights, spec) for weights, spec in models if takes_padding(spec)],
        )


def summary_metrics(study: Study) -> dict[str, dict[str, float]]:
    """The DVC metrics file: per framing, each key result averaged over the seeds and rounded
    (``{"stateful": {"acc": 1.0, ...}}``); no seed in a key, so runs of other seeds line up."""
    summary: dict[str, dict[str, float]] = {}
    for framing in study.framings:
        values = {key: study.metric(framing, name) for key, name in SUMMARY_KEYS.items()}
        summary[framing] = {key: round(fmean(v), SUMMARY_DIGITS) for key, v in values.items() if None not in v}
    return summary


# The curves in dvc.yaml's plots hold at most this many points per framing: enough for the
# shape, small enough for the page `dvc plots show` writes (batch_all trains 5000 epochs).
CURVE_POINTS = 200


def curve_rows(study: Study) -> list[list]:
    """Loss and accuracy by share of training (x: the percentage of epochs done, so 300 and
    5000 epochs share one axis), mean over seeds, every framing in one table."""
    rows = []
    for framing in study.framings:
        histories = [study.run(framing, seed).history for seed in study.seeds]
        epochs = len(histories[0].losses)
        step = max(1, math.ceil(epochs / CURVE_POINTS))
        for index in sorted({*range(step - 1, epochs, step), epochs - 1}):
            loss = fmean(history.losses[index] for history in histories)
            accuracy = fmean(history.accuracies[index] for history in histories)
            rows.append([framing, index + 1, f"{100.0 * (index + 1) / epochs:.2f}", f"{loss:.6f}", f"{accuracy:.6f}"])
    return rows


def plot_tables(study: Study) -> dict[str, str]:
    seeds = [[framing, seed, f"{record.metrics['accuracy']:.6f}"] for (framing, seed), record in study.runs.items()]
    return {
        "curves.csv": formats.table_csv(("framing", "epoch", "progress", "loss", "accuracy"), curve_rows(study)),
        "seeds.csv": formats.table_csv(("framing", "seed", "accuracy"), seeds),
    }


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


def t_interval(mean: float, std: float, n: int) -> tuple[float, float] | None:
    """The Student t interval ``mean ± t(n-1) * std / sqrt(n)``; None when n < 2."""
    if n < 2:
        return None
    # scipy.special's t quantile is the one scipy.stats.t.ppf returns, without the seconds
    # that importing scipy.stats adds to the report's start-up; one seed needs neither.
    from scipy.special import stdtrit

    half_width = float(stdtrit(n - 1, (1.0 + CONFIDENCE) / 2.0)) * std / math.sqrt(n)
    return mean - half_width, mean + half_width


def summarize(values: Sequence[float] | np.ndarray) -> Summary:
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0  # one value has no spread
    low, high = t_interval(mean, std, array.size) or (None, None)
    return Summary(int(array.size), mean, std, low, high, float(array.min()), float(array.max()))


def compare_paired(first: Sequence[float], second: Sequence[float]) -> PairedComparison | None:
    """The two-sided paired t-test of ``first - second`` over the same seeds (None with fewer
    than 2 pairs): scipy.stats.ttest_1samp's variance, t and p, from scipy.special as in
    :func:`t_interval`."""
    differences = np.subtract(first, second, dtype=np.float64)
    if differences.size < 2:
        return None
    summary = summarize(differences)
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
