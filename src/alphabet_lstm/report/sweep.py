"""A sweep's results: the summary per grid point, its one-sentence answer, figure, page and
``points.json``, all read from the results table, so byte-for-byte reproducible.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pandas as pd

from alphabet_lstm.artifacts import to_json
from alphabet_lstm.params import Sweep, grid_label, show_value
from alphabet_lstm.report.figures import drawn_with_fixed_style, new_figure
from alphabet_lstm.report.render import document_files, percent, render_markdown

if TYPE_CHECKING:
    from matplotlib.figure import Figure as PlotFigure

POINTS_NAME = "points.json"


def summarize_points(results: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Per grid point (index: its label, in grid order) over its seeds: the accuracies, their
    mean, sd, min and max, the seeds at 100% and the mean loss. A table missing a training of
    the sweep (written for other params) is refused (ValueError) rather than half matched."""
    labels = [point.label for point in sweep.points]
    trainings = results.astype({"point": str, "seed": int}).set_index(["point", "seed"])
    for label in labels:
        missing = [seed for seed in sweep.seeds if (label, seed) not in trainings.index]
        if missing:
            raise ValueError(
                f"the results table has no training of {label} at seed(s) "
                f"{', '.join(map(str, missing))}: it was written for other params; rerun the sweep"
            )
    wanted = trainings.loc[pd.MultiIndex.from_product([labels, sweep.seeds])]
    summaries = wanted.groupby(level=0, sort=False).agg(
        accuracies=("accuracy", tuple),
        mean=("accuracy", "mean"),
        std=("accuracy", "std"),
        minimum=("accuracy", "min"),
        maximum=("accuracy", "max"),
        perfect=("accuracy", lambda accuracies: int((accuracies == 1.0).sum())),
        loss_mean=("loss", "mean"),
    )
    # pandas' sample sd of one seed is NaN; one value has no spread.
    return summaries.fillna({"std": 0.0})


def best_label(summaries: pd.DataFrame) -> str:
    """The highest mean accuracy; among equals the first in grid order (the cheapest, when
    the grid lists its values from small to large)."""
    return str(summaries["mean"].idxmax())


def point_numbers(point: pd.Series) -> dict:
    """A grid point's headline, rounded as summary.json and points.json keep it."""
    return {
        "accuracy_mean": round(float(point["mean"]), 6),
        "accuracy_std": round(float(point["std"]), 6),
        "perfect_seeds": int(point["perfect"]),
    }


def summary_metrics(summaries: pd.DataFrame) -> dict:
    """The DVC metrics file: the sweep's headline (the per-point table is its plot)."""
    best = best_label(summaries)
    trainings = int(summaries["accuracies"].map(len).sum())
    return {"best": {"point": best, **point_numbers(summaries.loc[best])}, "trainings": trainings}


def _with_sd(point: pd.Series) -> str:
    return percent(point["mean"], 1) + (f" (sd {percent(point['std'], 1)})" if point["std"] else "")


def answer(sweep: Sweep, summaries: pd.DataFrame, tutorial_accuracy: float | None) -> str:
    """One sentence answering whether the grid lifts the base framing: its own grid point
    (else the grid's first) against the best, the keys that differ, and whether every seed
    reaches 100% there."""
    best, name, own = summaries.loc[best_label(summaries)], sweep.params.framing, sweep.base_point()
    base = summaries.loc[own.label] if own else summaries.iloc[0]
    base_name = "the base framing's own" if own else "the grid's first point,"
    seeds = len(best["accuracies"])
    ceiling = f"ceiling within this grid is {percent(best['mean'], 1)}."
    if best.name == base.name:
        head = f"Mean accuracy over {seeds} seeds is highest at {base_name} {base.name}, {_with_sd(best)}"
        if best["perfect"] == seeds:
            return f"{head}: {name} already reaches 100% on every seed there."
        return f"{head}, so {', '.join(sweep.params.grid)} do not limit {name} here: its {ceiling}"
    start = (
        f"Mean accuracy over {seeds} seeds goes from {_with_sd(base)} at {base_name} {base.name} "
        f"to {_with_sd(best)} at {best.name}"
    )
    if best["perfect"] == seeds:
        reference = (
            f"the tutorial's {100 * tutorial_accuracy:.4g}%"
            if tutorial_accuracy is not None and own is not None
            else f"{name}'s {percent(base['mean'], 1)}"
        )
        return (
            f"{start}, where all {seeds} seeds reach 100%: {reference} is a limit of {base.name}, not of the framing."
        )
    values = {point.label: point.values for point in sweep.points}
    changed = grid_label(tuple(item for item, old in zip(values[best.name], values[base.name]) if item != old))
    return (
        f"{start}, where {best['perfect']} of {seeds} seeds reach 100%: setting {changed} helps, "
        f"but no grid point reaches 100% on every seed, so {name}'s {ceiling}"
    )


@drawn_with_fixed_style
def figure_png(sweep: Sweep, summaries: pd.DataFrame, tutorial_accuracy: float | None) -> PlotFigure:
    """Accuracy against the grid's first key: per combination of the other keys, a line of
    means with sd bars, each seed a dot beside it (no random jitter); the tutorial's, dashed."""
    (x_key, x_values), *others = sweep.params.grid.items()
    combinations = list(itertools.product(*(values for _, values in others)))
    # Grid order is the product's: the first key varies slowest.
    by_x = [summaries.iloc[start : start + len(combinations)] for start in range(0, len(summaries), len(combinations))]
    figure = new_figure(7.0, 4.2)
    axes = figure.subplots()
    for line, combination in enumerate(combinations):
        offset = (line - (len(combinations) - 1) / 2) * 0.5 / len(combinations)
        points = [rows.iloc[line] for rows in by_x]
        positions = [index + offset for index in range(len(x_values))]
        label = grid_label(tuple(zip((key for key, _ in others), combination)))
        bars = axes.errorbar(
            positions,
            [p["mean"] for p in points],
            yerr=[p["std"] for p in points],
            marker="o",
            capsize=3,
            label=label or "mean over seeds",
        )
        for position, point in zip(positions, points):
            seeds = len(point["accuracies"])
            spread = [position + (i - (seeds - 1) / 2) * 0.02 for i in range(seeds)]
            axes.scatter(spread, point["accuracies"], s=9, alpha=0.5, color=bars[0].get_color(), zorder=3)
    if tutorial_accuracy is not None:
        axes.axhline(tutorial_accuracy, linestyle="--", color="grey", linewidth=1, label="the tutorial's accuracy")
    axes.set_xticks(range(len(x_values)), [show_value(value) for value in x_values])
    axes.set(xlabel=x_key, ylabel="training accuracy", ylim=(-0.02, 1.05))
    axes.set_title(f"{sweep.name}: {sweep.params.framing}, mean ± sd over {len(sweep.seeds)} seeds")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return figure


def points_record(sweep: Sweep, summaries: pd.DataFrame, answer_text: str) -> dict:
    """``points.json``: the question, the answer and each grid point's numbers as the page
    states them."""
    return {
        "question": sweep.params.question,
        "answer": answer_text,
        "best": best_label(summaries),
        "points": {
            str(label): point_numbers(row) | {"seeds": len(row["accuracies"])} for label, row in summaries.iterrows()
        },
    }


def sweep_report_files(
    sweep: Sweep, summaries: pd.DataFrame, *, engine: str, tutorial_accuracy: float | None
) -> dict[str, bytes]:
    """The sweep's page (report.md from ``templates/sweep.md.j2``, report.html), figure and
    ``points.json``, by path."""
    best, own = best_label(summaries), sweep.base_point()
    rows = [
        (
            f"{label}{' (base)' if own and label == own.label else ''}{' (best)' if label == best else ''}",
            *(f"{row[column]:.4f}" for column in ("mean", "std", "minimum", "maximum")),
            f"{row['perfect']}/{len(row['accuracies'])}",
            f"{row['loss_mean']:.4f}",
        )
        for label, row in summaries.iterrows()
    ]
    answer_text = answer(sweep, summaries, tutorial_accuracy)
    markdown = render_markdown(
        "sweep.md.j2",
        sweep=sweep,
        answer=answer_text,
        x_key=next(iter(sweep.params.grid)),
        grid=", ".join(f"{key} in [{', '.join(map(show_value, values))}]" for key, values in sweep.params.grid.items()),
        engine=engine,
        rows=rows,
    )
    files = document_files(markdown, {"accuracy.png": figure_png(sweep, summaries, tutorial_accuracy)})
    return files | {POINTS_NAME: to_json(points_record(sweep, summaries, answer_text)).encode("utf-8")}
