"""A sweep's figure (accuracy against the grid's first key) and its short Markdown report.

Both are byte-for-byte reproducible from the results table: the PNG carries no timestamp
or software tag, seeds are spread sideways by fixed offsets, not random jitter.
"""

from __future__ import annotations

import io
import itertools
import textwrap

from alphabet_lstm.sweeps.params import Sweep, show_value
from alphabet_lstm.sweeps.results import PointSummary, answer, best_point

FIGURE_DPI = 100


def figure_png(sweep: Sweep, summaries: list[PointSummary], tutorial_accuracy: float | None) -> bytes:
    """Accuracy against the grid's first key: one line per combination of the other keys.

    Each line is the mean over seeds with a bar of one standard deviation; each seed is a
    dot beside it. The tutorial's accuracy for the base framing, if known, is a dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    x_key, x_values = sweep.grid[0]
    others = sweep.grid[1:]
    by_values = {tuple(value for _, value in s.point.values): s for s in summaries}
    combinations = list(itertools.product(*(values for _, values in others)))
    figure, axes = pyplot.subplots(figsize=(7.0, 4.2))
    width = 0.5  # how far apart the lines of one x value sit, in units of the x spacing
    for line, combination in enumerate(combinations):
        offset = (line - (len(combinations) - 1) / 2) * width / max(len(combinations), 1)
        points = [by_values[(x_value, *combination)] for x_value in x_values]
        positions = [index + offset for index in range(len(x_values))]
        label = " ".join(f"{key}={show_value(value)}" for (key, _), value in zip(others, combination))
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
        axes.axhline(tutorial_accuracy, linestyle="--", color="grey", linewidth=1)
        axes.annotate(
            f"tutorial {100 * tutorial_accuracy:.0f}%",
            (len(x_values) - 0.5, tutorial_accuracy),
            textcoords="offset points",
            xytext=(0, -12),
            ha="right",
            color="grey",
            fontsize=8,
        )
    axes.set_xticks(range(len(x_values)), [show_value(value) for value in x_values])
    axes.set_xlim(-0.5, len(x_values) - 0.5)
    axes.set_xlabel(x_key)
    axes.set_ylabel(f"training accuracy ({len(sweep.seeds)} seeds)")
    lowest = min(min(s.accuracies) for s in summaries)
    axes.set_ylim(max(0.0, min(lowest, tutorial_accuracy or 1.0) - 0.05), 1.02)
    axes.grid(axis="y", alpha=0.3)
    axes.set_title("\n".join(textwrap.wrap(sweep.question, 70)), fontsize=10)
    if others:
        axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def report_markdown(
    sweep: Sweep, summaries: list[PointSummary], tutorial_accuracy: float | None, figure_name: str
) -> str:
    """The question, the one-sentence answer, the figure and a table per grid point."""
    best = best_point(summaries)
    lines = [
        f"# Sweep `{sweep.name}`",
        "",
        f"**Question.** {sweep.question}",
        "",
        f"**Answer.** {answer(sweep, summaries, tutorial_accuracy)}",
        "",
        f"![accuracy against {sweep.grid[0][0]}]({figure_name})",
        "",
        f"Base framing `{sweep.framing_name}`; grid "
        + ", ".join(f"{key} in [{', '.join(show_value(v) for v in values)}]" for key, values in sweep.grid)
        + f"; seeds {', '.join(map(str, sweep.seeds))}; "
        f"{len(summaries) * len(sweep.seeds)} trainings (fast engine). Accuracy and loss on the "
        "framing's training patterns, as `model.evaluate` reports them.",
        "",
        "| grid point | mean accuracy | sd | min | max | seeds at 100% | mean loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for summary in summaries:
        marker = " (best)" if summary is best else ""
        base = " (base)" if summary.point.framing == sweep.base else ""
        lines.append(
            f"| {summary.point.label}{base}{marker} | {summary.mean:.4f} | {summary.std:.4f} | "
            f"{summary.minimum:.4f} | {summary.maximum:.4f} | {summary.perfect}/{summary.seeds} | "
            f"{summary.loss_mean:.4f} |"
        )
    lines += [
        "",
        "Per training: `results.csv` (deterministic: the same on any cluster); seconds and the "
        "worker that ran each training: `timing.csv`. Rerun: `make sweep SWEEP="
        f"{sweep.name}`.",
        "",
    ]
    return "\n".join(lines)
