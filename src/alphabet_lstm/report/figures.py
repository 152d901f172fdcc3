"""The report's figures, as PNG bytes: each drawn by Agg outside pyplot (no state shared)
under a fixed style that ignores any user matplotlibrc, saved at a fixed dpi without the
metadata naming matplotlib's version, so the same data gives the same bytes on every machine
with the same matplotlib and fonts. Inside :func:`cached_in` a figure whose inputs, code and
matplotlib are unchanged is read back instead (docs/architecture.md).
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Literal, ParamSpec

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, VOCABULARY_SIZE
from alphabet_lstm.artifacts import write_bytes
from alphabet_lstm.formats import TrainingHistory
from alphabet_lstm.report.state_views import COLD_LETTER, WARM_INDEX, PaddingView, StatefulView, WindowView
from alphabet_lstm.report.study import Summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

P = ParamSpec("P")

FIGURE_DPI = 100
# matplotlib's own defaults, plus the settings that could otherwise vary by machine.
STYLE: list[str | dict[str, object]] = ["default", {"savefig.dpi": FIGURE_DPI, "font.family": "DejaVu Sans"}]


def new_figure(width: float, height: float, layout: Literal["tight"] | None = "tight"):
    """A figure outside pyplot (no state shared), drawn by Agg when saved, laid out tight by default."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=FIGURE_DPI, layout=layout)


_CACHE: ContextVar[Path | None] = ContextVar("figure_cache", default=None)
# The cache keeps the figures most recently used, so that switching a param back and forth
# finds both versions; beyond this many files the oldest go.
CACHE_LIMIT = 400


@contextmanager
def cached_in(folder: Path) -> Iterator[None]:
    """Within the block, a figure is read from ``folder`` when there, else drawn and stored."""
    token = _CACHE.set(folder)
    try:
        yield
    finally:
        _CACHE.reset(token)
        entries = sorted(folder.glob("*.png"), key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in entries[CACHE_LIMIT:]:
            stale.unlink(missing_ok=True)


def _figure_key(draw: Callable, args: tuple, kwargs: dict) -> str:
    """sha256 of what a figure's bytes depend on: its inputs (pickled by value), matplotlib's
    version and every project module loaded (a superset of the drawing code, without parsing)."""
    digest = hashlib.sha256(f"{draw.__qualname__}\0{_matplotlib_version()}\0".encode())
    for name, module in sorted(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if name.startswith("alphabet_lstm") and source:
            digest.update(name.encode() + b"\0" + _source_digest(source))
    digest.update(pickle.dumps((args, sorted(kwargs.items())), protocol=5))
    return digest.hexdigest()


# A report keys some dozens of figures: each source file and the version are read once.
@functools.cache
def _source_digest(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


@functools.cache
def _matplotlib_version() -> str:
    return version("matplotlib")


def drawn_with_fixed_style(draw: Callable[P, Figure]) -> Callable[P, bytes]:
    """``draw`` under :data:`STYLE` (not the user's matplotlibrc), as PNG bytes, cached in :func:`cached_in`."""

    def png(*args: P.args, **kwargs: P.kwargs) -> bytes:
        folder = _CACHE.get()
        path = folder / f"{_figure_key(draw, args, kwargs)}.png" if folder else None
        if path and path.is_file():
            path.touch()  # recently used: kept by the pruning
            return path.read_bytes()
        import matplotlib.style

        with matplotlib.style.context(STYLE):
            # No "Software" text chunk: it names the matplotlib version, not the data.
            buffer = io.BytesIO()
            draw(*args, **kwargs).savefig(buffer, format="png", metadata={"Software": None})
        if path:
            write_bytes(path, buffer.getvalue())  # renamed into place: never half a figure
        return buffer.getvalue()

    return png


@drawn_with_fixed_style
def training_curves_png(framing: str, histories: Mapping[int, TrainingHistory]) -> Figure:
    """Loss and accuracy per epoch for one framing, one line per seed."""
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(10.0, 3.8)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for seed, history in histories.items():
        loss_axes.plot(history.epochs, history.losses, linewidth=1.0, label=f"seed {seed}")
        accuracy_axes.plot(history.epochs, history.accuracies, linewidth=1.0, label=f"seed {seed}")
    loss_axes.set(title="loss (categorical cross-entropy)", xlabel="epoch", ylabel="loss")
    accuracy_axes.set(title="training accuracy", xlabel="epoch", ylabel="accuracy", ylim=(-0.02, 1.02))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(histories) <= 10:
        # Outside the axes, so ten seeds' labels never cover the curves.
        accuracy_axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    figure.suptitle(f"{framing}: training curves")
    return figure


@drawn_with_fixed_style
def accuracy_by_seed_png(
    accuracies: Mapping[str, Sequence[float]], summaries: Mapping[str, Summary], tutorial: Mapping[str, float]
) -> Figure:
    """Every framing's accuracy per seed (points), mean ± 95% CI, and the tutorial's value:
    these numbers alone, so a change elsewhere in a framing's run does not redraw it."""
    framings = list(accuracies)
    seeds = len(accuracies[framings[0]])
    figure = new_figure(max(6.0, 1.3 * len(framings) + 2.0), 4.5)
    axes = figure.subplots()
    # Seeds are spread sideways at fixed offsets so equal accuracies stay visible.
    offsets = np.linspace(-0.2, 0.2, seeds) if seeds > 1 else np.zeros(1)
    seed_positions = np.concatenate([position + offsets for position in range(len(framings))])
    percents = [100 * value for framing in framings for value in accuracies[framing]]
    axes.scatter(seed_positions, percents, s=18, color="tab:blue", alpha=0.6, label="each seed")
    for position, framing in enumerate(framings):
        statistics = summaries[framing]
        if statistics.ci_low is not None and statistics.ci_high is not None:
            error = [[100 * (statistics.mean - statistics.ci_low)], [100 * (statistics.ci_high - statistics.mean)]]
            label = "mean ± 95% CI" if position == 0 else None  # in the legend once
            axes.errorbar(
                [position + 0.35], [100 * statistics.mean], yerr=error, fmt="o", color="black", capsize=4, label=label
            )
    # The tutorial's accuracy left of the seeds, as the mean is right of them: neither hides a seed.
    reported = [
        (position - 0.35, 100 * tutorial[framing]) for position, framing in enumerate(framings) if framing in tutorial
    ]
    if reported:
        axes.scatter(*zip(*reported), marker="x", s=60, color="tab:red", label="tutorial", zorder=3)
    axes.set_xticks(range(len(framings)), framings, rotation=25, ha="right")
    axes.set(ylabel="training accuracy (%)", ylim=(-3, 110), xlim=(-0.6, len(framings) - 0.4))
    axes.set_title(f"Accuracy per framing over {seeds} seed(s)")
    axes.grid(axis="y", alpha=0.3)
    # Outside the axes: inside, the legend could hide a framing's low accuracy.
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return figure


@drawn_with_fixed_style
def probability_heatmap_png(framing: str, seed: int, probabilities: np.ndarray) -> Figure:
    """The 26x26 next-letter probabilities; squares mark the true next letter, red dots the predicted one."""
    figure = new_figure(6.4, 5.6)
    axes = figure.subplots()
    # Scaled to the table's own largest value: a barely trained model spreads its
    # probability thinly, and a fixed 0..1 scale would show it as one flat colour.
    largest = max(float(probabilities.max()), 1e-6)
    image = axes.imshow(probabilities, cmap="viridis", vmin=0.0, vmax=largest, origin="upper")
    codes = np.arange(VOCABULARY_SIZE)
    axes.scatter(codes[:-1] + 1, codes[:-1], marker="s", s=40, facecolors="none", edgecolors="white", linewidths=0.8)
    axes.scatter(probabilities.argmax(axis=1), codes, marker="o", s=8, color="tab:red")
    axes.set_xticks(range(VOCABULARY_SIZE), list(ALPHABET), fontsize=7)
    axes.set_yticks(range(VOCABULARY_SIZE), list(ALPHABET), fontsize=7)
    axes.set(xlabel="next letter", ylabel="input letter (alone)")
    axes.set_title(f"{framing} (seed {seed}): P(next letter | one letter)")
    figure.colorbar(image, ax=axes, label="probability")
    return figure


def _state_limit(*arrays: np.ndarray) -> float:
    return max(max(float(np.abs(array).max()) for array in arrays), 1e-6)


def _state_image(axes, states: np.ndarray, limit: float):
    # h lies in (-1, 1): a diverging map centred on 0, symmetric about it, so a unit's sign
    # and size read the same in every panel of a figure.
    return axes.imshow(states, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")


@drawn_with_fixed_style
def stateful_state_png(view: StatefulView) -> Figure:
    """h over A..Z from a reset (units x letters, the cold K last) and its PCA plane."""
    figure = new_figure(13.0, 5.2)
    heat_axes, plane_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1.0]})
    states = np.vstack([view.trajectory.hidden, view.cold.hidden[-1:]]).T
    image = _state_image(heat_axes, states, _state_limit(states))
    heat_axes.axvline(VOCABULARY_SIZE - 0.5, color="black", linewidth=1.5)
    heat_axes.set_xticks(range(VOCABULARY_SIZE + 1), [*ALPHABET, "K\ncold"], fontsize=7)
    heat_axes.set(
        xlabel="letter just fed (A..Z from a reset; last column: K right after a reset)", ylabel="hidden unit"
    )
    heat_axes.set_title("h after each letter")
    figure.colorbar(image, ax=heat_axes, label="h", fraction=0.04)

    points, cold = view.points, view.cold_point
    plane_axes.plot(points[:, 0], points[:, 1], color="0.6", linewidth=1.0, zorder=1)
    plane_axes.scatter(points[:, 0], points[:, 1], s=14, color="tab:blue", zorder=2)
    for index, letter in enumerate(ALPHABET):
        plane_axes.annotate(letter, points[index], xytext=(3, 3), textcoords="offset points", fontsize=7)
    distances = view.distances_from_cold()
    marks = (("o", "tab:green", "after A", 0), ("s", "tab:orange", f"warm {COLD_LETTER}", WARM_INDEX))
    for marker, color, name, index in marks:
        label = name if index == 0 else f"{name} (after A..{COLD_LETTER})"
        plane_axes.scatter(
            *points[index],
            s=110,
            marker=marker,
            facecolors="none",
            edgecolors=color,
            linewidths=1.5,
            label=label,
            zorder=3,
        )
    plane_axes.scatter(
        *cold, s=140, marker="*", color="tab:red", label=f"cold {COLD_LETTER} (right after a reset)", zorder=4
    )
    # The dashed lines join the cold K to the two states it is compared with; their
    # lengths in full h are in the legend (the projection shortens distances).
    for _, color, name, index in marks:
        label = f"cold {COLD_LETTER} to {name}: {distances[index]:.2f}"
        plane_axes.plot(*zip(cold, points[index]), linestyle="--", color=color, linewidth=1.0, label=label)
    explained = view.projection.explained
    plane_axes.set(
        xlabel=f"PC1 ({100 * explained[0]:.0f}% of the variance of A..Z)",
        ylabel=f"PC2 ({100 * explained[1]:.0f}%)" if len(explained) > 1 else "PC2",
    )
    plane_axes.set_title("A..Z on its first two principal components")
    plane_axes.grid(alpha=0.3)
    plane_axes.legend(loc="best", fontsize="small")
    figure.suptitle(f"{view.framing} (seed {view.seed}): the hidden state h")
    return figure


@drawn_with_fixed_style
def window_state_png(views: list[WindowView]) -> Figure:
    """h after each time step of every training window, one panel per framing and step."""
    panels = [(view, step) for view in views for step in range(view.steps)]
    figure = new_figure(3.6 * len(panels) + 1.0, 4.8, layout=None)
    axes_list = np.atleast_1d(figure.subplots(1, len(panels), sharey=True))
    limit = _state_limit(*(view.hidden for view in views))
    image = None
    for axes, (view, step) in zip(axes_list, panels):
        image = _state_image(axes, view.hidden[:, step, :].T, limit)
        right = view.correct_after_step()[step]
        where = f"after step {step + 1} of {view.steps}" if view.steps > 1 else "after its single step"
        axes.set_title(f"{view.framing}\n{where}: {right}/{len(view.windows)} right", fontsize=9)
        axes.set_xticks(range(len(view.windows)), view.windows, rotation=90, fontsize=6)
        axes.set_xlabel("window")
    axes_list[0].set_ylabel("hidden unit")
    figure.subplots_adjust(top=0.8, bottom=0.2, left=0.06, right=0.9, wspace=0.08)
    figure.colorbar(image, ax=list(axes_list), label="h", fraction=0.02)
    figure.suptitle(f"A 3-letter window as 3 time steps or as 3 features of one step (seed {views[0].seed})")
    return figure


@drawn_with_fixed_style
def padding_state_png(views: list[PaddingView]) -> Figure:
    """Per padded framing: h over the steps of the padded query, and how far each step moves it."""
    from matplotlib.patches import Rectangle

    figure = new_figure(12.0, 3.9 * len(views))
    grid = figure.subplots(len(views), 2, gridspec_kw={"width_ratios": [1.6, 1.0]}, squeeze=False)
    limit = _state_limit(*(view.query.hidden for view in views))
    for (heat_axes, move_axes), view in zip(grid, views):
        steps = range(view.query.steps)
        image = _state_image(heat_axes, view.query.hidden.T, limit)
        box = Rectangle((view.a_step - 0.5, -0.5), 1.0, view.query.units, fill=False, edgecolor="black", linewidth=1.5)
        heat_axes.add_patch(box)
        heat_axes.set_xticks(steps, view.query.labels, rotation=90, fontsize=7)
        heat_axes.set(xlabel="time step (what it was fed)", ylabel="hidden unit")
        query = "".join(ALPHABET[code] for code in view.query.letters)
        heat_axes.set_title(f"{view.framing}: h over the steps of {query}, left-padded", fontsize=9)
        figure.colorbar(image, ax=heat_axes, label="h", fraction=0.04)
        colors = ["0.6" if label == "pad" else "tab:blue" for label in view.query.labels]
        colors[view.a_step] = "tab:red"
        move_axes.bar(steps, view.step_moves(), color=colors)
        move_axes.set_xticks(steps, view.query.labels, rotation=90, fontsize=7)
        move_axes.set(xlabel="time step", ylabel="|h(t) - h(t-1)|")
        move_axes.set_title("how far each step moves h (red: the A)", fontsize=9)
        move_axes.grid(axis="y", alpha=0.3)
    figure.suptitle(f"Zero-padding and A both enter as 0 (seed {views[0].seed})")
    return figure
