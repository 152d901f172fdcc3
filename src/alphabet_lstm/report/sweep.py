"""A sweep's results: the summary per grid point, its one-sentence answer, figure and page.

Everything here is read from the sweep's results table (``formats.sweep_results_csv``),
which holds only what the same params give bit for bit on any cluster; the page is
rendered by the report's own templates and the figure drawn in the report's fixed style,
so both are byte-for-byte reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alphabet_lstm.params import SWEEP_ENGINE, GridPoint, Sweep, grid_label, show_value
from alphabet_lstm.report.figures import drawn_with_fixed_style, new_figure
from alphabet_lstm.report.render import Heading, Image, Paragraph, document_files, percent, section, table
from alphabet_lstm.report.statistics import summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_NAME = "accuracy.png"
QUESTION_HEADING = "Question"
ANSWER_HEADING = "Answer"


@dataclass(frozen=True)
class PointSummary:
    """One grid point over its seeds."""

    point: GridPoint
    accuracies: tuple[float, ...]
    mean: float
    std: float
    loss_mean: float
    perfect: int  # seeds at 100% accuracy

    @property
    def seeds(self) -> int:
        return len(self.accuracies)


def summarize_points(sweep: Sweep, rows: Sequence[Mapping[str, str]]) -> list[PointSummary]:
    """Mean, std and perfect seeds per grid point, in grid order.

    ``rows`` is the results table as read back; it must hold every training of the sweep
    (a table from other params is refused rather than half matched).
    """
    by_point: dict[str, dict[int, Mapping[str, str]]] = {}
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
        statistics = summarize(accuracies)
        summaries.append(
            PointSummary(
                point=point,
                accuracies=tuple(accuracies),
                mean=statistics.mean,
                std=statistics.std,
                loss_mean=summarize([float(seeds[seed]["loss"]) for seed in sweep.seeds]).mean,
                perfect=sum(accuracy == 1.0 for accuracy in accuracies),
            )
        )
    return summaries


def best_point(summaries: Sequence[PointSummary]) -> PointSummary:
    """The highest mean accuracy; among equals the first in grid order (the cheapest, when
    the grid lists its values from small to large)."""
    return max(summaries, key=lambda summary: (summary.mean, -summary.point.index))


def summary_metrics(summaries: Sequence[PointSummary]) -> dict:
    """The DVC metrics file: the sweep's headline (the per-point table is its plot)."""
    best = best_point(summaries)
    return {
        "best": {
            "point": best.point.label,
            "accuracy_mean": round(best.mean, 6),
            "accuracy_std": round(best.std, 6),
            "perfect_seeds": best.perfect,
        },
        "trainings": sum(summary.seeds for summary in summaries),
    }


def _with_sd(summary: PointSummary) -> str:
    return percent(summary.mean, 1) + (f" (sd {percent(summary.std, 1)})" if summary.std else "")


def answer(sweep: Sweep, summaries: Sequence[PointSummary], tutorial_accuracy: float | None = None) -> str:
    """One sentence, read from the numbers, answering whether the grid lifts the base framing.

    It compares the base framing's own grid point (or, if the grid leaves it out, the grid's
    first point) with the best one, names the keys that differ, and says whether every seed
    reaches 100% there.
    """
    best, base_point, name = best_point(summaries), sweep.base_point(), sweep.params.framing
    base = next((s for s in summaries if base_point and s.point.index == base_point.index), summaries[0])
    base_name = "the base framing's own" if base_point else "the grid's first point,"
    seeds = best.seeds
    if best.point.index == base.point.index:
        head = f"Mean accuracy over {seeds} seeds is highest at {base_name} {base.point.label}, {_with_sd(best)}"
        if best.perfect == seeds:
            return f"{head}: {name} already reaches 100% on every seed there."
        return (
            f"{head}, so {', '.join(sweep.grid_keys)} do not limit {name} here: "
            f"its ceiling within this grid is {percent(best.mean, 1)}."
        )
    start = (
        f"Mean accuracy over {seeds} seeds goes from {_with_sd(base)} at {base_name} {base.point.label} "
        f"to {_with_sd(best)} at {best.point.label}"
    )
    if best.perfect == seeds:
        reference = (
            f"the tutorial's {100 * tutorial_accuracy:.4g}%"
            if tutorial_accuracy is not None and base_point is not None
            else f"{name}'s {percent(base.mean, 1)}"
        )
        return (
            f"{start}, where all {seeds} seeds reach 100%: {reference} is a limit of {base.point.label}, "
            "not of the framing."
        )
    changed = grid_label(tuple(item for item, old in zip(best.point.values, base.point.values) if item != old))
    return (
        f"{start}, where {best.perfect} of {seeds} seeds reach 100%: setting {changed} helps, "
        f"but no grid point reaches 100% on every seed, so {name}'s ceiling within "
        f"this grid is {percent(best.mean, 1)}."
    )


@drawn_with_fixed_style
def figure_png(sweep: Sweep, summaries: Sequence[PointSummary], tutorial_accuracy: float | None) -> Figure:
    """Accuracy against the grid's first key: one line per combination of the other keys.

    Each line is the mean over seeds with a bar of one standard deviation; each seed is a
    dot beside it (fixed offsets, no random jitter). The tutorial's accuracy for the base
    framing, if known, is a dashed line.
    """
    (x_key, x_values), *others = sweep.params.grid.items()
    by_values = {tuple(value for _, value in s.point.values): s for s in summaries}
    combinations = list(itertools.product(*(values for _, values in others)))
    figure = new_figure(7.0, 4.2)
    axes = figure.subplots()
    for line, combination in enumerate(combinations):
        offset = (line - (len(combinations) - 1) / 2) * 0.5 / len(combinations)
        points = [by_values[(x_value, *combination)] for x_value in x_values]
        positions = [index + offset for index in range(len(x_values))]
        label = grid_label(tuple(zip((key for key, _ in others), combination)))
        bars = axes.errorbar(
            positions,
            [p.mean for p in points],
            yerr=[p.std for p in points],
            marker="o",
            capsize=3,
            label=label or "mean over seeds",
        )
        for position, point in zip(positions, points):
            spread = [position + (i - (point.seeds - 1) / 2) * 0.02 for i in range(point.seeds)]
            axes.scatter(spread, point.accuracies, s=9, alpha=0.5, color=bars[0].get_color(), zorder=3)
    if tutorial_accuracy is not None:
        axes.axhline(tutorial_accuracy, linestyle="--", color="grey", linewidth=1, label="the tutorial's accuracy")
    axes.set_xticks(range(len(x_values)), [show_value(value) for value in x_values])
    axes.set(xlabel=x_key, ylabel="training accuracy", ylim=(-0.02, 1.05))
    axes.set_title(f"{sweep.name}: {sweep.params.framing}, mean ± sd over {len(sweep.seeds)} seeds")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure


def sweep_report_files(
    sweep: Sweep, summaries: Sequence[PointSummary], tutorial_accuracy: float | None
) -> dict[str, bytes]:
    """The sweep's page (report.md, report.html) and figure, by path in its report directory."""
    best = best_point(summaries)
    grid = ", ".join(
        f"{key} in [{', '.join(show_value(value) for value in values)}]" for key, values in sweep.params.grid.items()
    )
    rows = [
        (
            point.point.label
            + (" (base)" if point.point.framing == sweep.base else "")
            + (" (best)" if point is best else ""),
            f"{point.mean:.4f}",
            f"{point.std:.4f}",
            f"{min(point.accuracies):.4f}",
            f"{max(point.accuracies):.4f}",
            f"{point.perfect}/{point.seeds}",
            f"{point.loss_mean:.4f}",
        )
        for point in summaries
    ]
    sections = [
        section(
            None,
            Heading(3, QUESTION_HEADING),
            Paragraph(sweep.params.question),
            Heading(3, ANSWER_HEADING),
            Paragraph(answer(sweep, summaries, tutorial_accuracy)),
            Image(
                FIGURE_NAME,
                f"accuracy against {sweep.grid_keys[0]}",
                f"Accuracy per grid point of {sweep.name}.",
                figure_png(sweep, summaries, tutorial_accuracy),
            ),
            Paragraph(
                f"Base framing `{sweep.params.framing}`; grid {grid}; seeds {', '.join(map(str, sweep.seeds))}; "
                f"{len(summaries) * len(sweep.seeds)} trainings ({SWEEP_ENGINE} engine). Accuracy and loss on the "
                "framing's training patterns, as `model.evaluate` reports them. Per training: `results.csv` "
                f"(the same on any cluster). Rerun: `make sweep SWEEP={sweep.name}`."
            ),
            table(("grid point", "mean accuracy", "sd", "min", "max", "seeds at 100%", "mean loss"), rows, "sweep"),
        )
    ]
    return document_files(f"Sweep `{sweep.name}`", sections)
