"""A sweep's results: the per-training tables, the summary per grid point and its answer.

The results table holds only what the same params give bit for bit on any cluster (grid
values, seed, accuracy, loss, the data's and weights' md5); the timing table holds what
differs from run to run (seconds, the worker that ran the training). Both are sorted by
grid point, then seed in the order params.yaml lists them: never by finishing order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from alphabet_lstm.report.statistics import summarize
from alphabet_lstm.sweeps.execution import TrainingOutcome
from alphabet_lstm.sweeps.params import GridPoint, Sweep, show_value

RESULT_COLUMNS = ("accuracy", "loss", "correct", "patterns", "data_md5", "weights_md5")
TIMING_COLUMNS = ("seconds", "worker")


def _csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _ordered(sweep: Sweep, outcomes: list[TrainingOutcome]) -> list[tuple[GridPoint, TrainingOutcome]]:
    points = {point.index: point for point in sweep.points}
    seed_order = {seed: position for position, seed in enumerate(sweep.seeds)}
    ordered = sorted(outcomes, key=lambda outcome: (outcome.point, seed_order[outcome.seed]))
    return [(points[outcome.point], outcome) for outcome in ordered]


def results_csv(sweep: Sweep, outcomes: list[TrainingOutcome]) -> str:
    """point, one column per grid key, seed, accuracy, loss, correct, patterns, md5s."""
    header = ["point", *sweep.grid_keys, "seed", *RESULT_COLUMNS]
    rows = [
        [point.label, *(show_value(value) for _, value in point.values), outcome.seed]
        + [f"{outcome.accuracy:.6f}", f"{outcome.loss:.6f}", outcome.correct, outcome.patterns]
        + [outcome.data_md5, outcome.weights_md5]
        for point, outcome in _ordered(sweep, outcomes)
    ]
    return _csv(header, rows)


def timing_csv(sweep: Sweep, outcomes: list[TrainingOutcome]) -> str:
    """point, seed, seconds (training wall time), worker (the Dask worker's address)."""
    rows = [
        [point.label, outcome.seed, f"{outcome.seconds:.3f}", outcome.worker]
        for point, outcome in _ordered(sweep, outcomes)
    ]
    return _csv(["point", "seed", *TIMING_COLUMNS], rows)


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class PointSummary:
    """One grid point over its seeds."""

    point: GridPoint
    accuracies: tuple[float, ...]
    mean: float
    std: float
    minimum: float
    maximum: float
    loss_mean: float
    perfect: int  # seeds at 100% accuracy

    @property
    def seeds(self) -> int:
        return len(self.accuracies)

    def metrics(self) -> dict:
        return {
            "accuracy_mean": round(self.mean, 6),
            "accuracy_std": round(self.std, 6),
            "accuracy_min": round(self.minimum, 6),
            "accuracy_max": round(self.maximum, 6),
            "loss_mean": round(self.loss_mean, 6),
            "perfect_seeds": self.perfect,
            "seeds": self.seeds,
        }


def summarize_points(sweep: Sweep, rows: list[dict[str, str]]) -> list[PointSummary]:
    """Mean, std, range and perfect seeds per grid point, in grid order.

    ``rows`` is the results table as read back; it must hold every training of the sweep
    (a table from other params is refused rather than half matched).
    """
    by_point: dict[str, dict[int, dict[str, str]]] = {}
    for row in rows:
        by_point.setdefault(row["point"], {})[int(row["seed"])] = row
    summaries = []
    for point in sweep.points:
        seeds = by_point.get(point.label, {})
        missing = [seed for seed in sweep.seeds if seed not in seeds]
        if missing:
            raise ValueError(
                f"the results table has no training of {point.label} at seed(s) "
                f"{', '.join(map(str, missing))}: it was written for other params; rerun the sweep"
            )
        accuracies = [float(seeds[seed]["accuracy"]) for seed in sweep.seeds]
        losses = [float(seeds[seed]["loss"]) for seed in sweep.seeds]
        statistics = summarize(accuracies)
        summaries.append(
            PointSummary(
                point=point,
                accuracies=tuple(accuracies),
                mean=statistics.mean,
                std=statistics.std,
                minimum=statistics.minimum,
                maximum=statistics.maximum,
                loss_mean=summarize(losses).mean,
                perfect=sum(accuracy == 1.0 for accuracy in accuracies),
            )
        )
    return summaries


def summary_metrics(sweep: Sweep, summaries: list[PointSummary]) -> dict:
    """The DVC metrics file: per grid point (by label), then the best point."""
    best = best_point(summaries)
    return {
        "points": {summary.point.label: summary.metrics() for summary in summaries},
        "best": {"point": best.point.label, **best.metrics()},
        "trainings": sum(summary.seeds for summary in summaries),
    }


def best_point(summaries: list[PointSummary]) -> PointSummary:
    """The highest mean accuracy; among equals the first in grid order (the cheapest, when
    the grid lists its values from small to large)."""
    return max(summaries, key=lambda summary: (summary.mean, -summary.point.index))


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def answer(sweep: Sweep, summaries: list[PointSummary], tutorial_accuracy: float | None = None) -> str:
    """One sentence, read from the numbers, answering whether the grid lifts the base framing.

    It compares the base framing's own grid point (or, if the grid leaves it out, the grid's
    first point) with the best one, names the keys that differ, and says whether every seed
    reaches 100% there.
    """
    best = best_point(summaries)
    base_point = sweep.base_point()
    base = next((s for s in summaries if base_point and s.point.index == base_point.index), summaries[0])
    base_name = "the base framing's own" if base_point else "the grid's first point,"
    seeds = best.seeds
    changed = [
        f"{key}={show_value(value)}"
        for (key, value), (_, base_value) in zip(best.point.values, base.point.values)
        if value != base_value
    ]
    if tutorial_accuracy is not None and base_point is not None:
        reference = f"the tutorial's {100 * tutorial_accuracy:.4g}%"
    else:
        reference = f"{sweep.framing_name}'s {_percent(base.mean)}"
    if best.point.index == base.point.index:
        head = f"Mean accuracy over {seeds} seeds is highest at {base_name} {base.point.label}, {_with_sd(best)}"
        if best.perfect == seeds:
            return f"{head}: {sweep.framing_name} already reaches 100% on every seed there."
        return (
            f"{head}, so {', '.join(sweep.grid_keys)} do not limit {sweep.framing_name} here: "
            f"its ceiling within this grid is {_percent(best.mean)}."
        )
    start = (
        f"Mean accuracy over {seeds} seeds goes from {_with_sd(base)} at {base_name} {base.point.label} "
        f"to {_with_sd(best)} at {best.point.label}"
    )
    if best.perfect == seeds:
        return (
            f"{start}, where all {seeds} seeds reach 100%: {reference} is a limit of "
            f"{base.point.label}, not of the framing."
        )
    return (
        f"{start}, where {best.perfect} of {seeds} seeds reach 100%: setting {' '.join(changed)} helps, "
        f"but no grid point reaches 100% on every seed, so {sweep.framing_name}'s ceiling within "
        f"this grid is {_percent(best.mean)}."
    )


def _with_sd(summary: PointSummary) -> str:
    return _percent(summary.mean) + (f" (sd {_percent(summary.std)})" if summary.std else "")
