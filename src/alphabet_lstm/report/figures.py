"""The report's figures, as PNG bytes.

Each function draws one figure on its own Agg canvas (no pyplot, so no state shared between
figures, threads or callers) under a fixed style that ignores any user matplotlibrc, and
saves it at a fixed resolution without the metadata that names the matplotlib version: the
same data gives the same bytes on every machine with the same matplotlib and fonts.
"""

from __future__ import annotations

import io
from typing import Callable, Mapping

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, VOCABULARY_SIZE
from alphabet_lstm.formats import TrainingHistory
from alphabet_lstm.report.statistics import Summary
from alphabet_lstm.report.study import Study

FIGURE_DPI = 100
# matplotlib's own defaults, plus the settings that could otherwise vary by machine.
STYLE = ["default", {"savefig.dpi": FIGURE_DPI, "font.family": "DejaVu Sans"}]


def new_figure(width: float, height: float):
    """A figure drawn by Agg, with no pyplot state shared between figures or callers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=FIGURE_DPI)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure) -> bytes:
    # No "Software" text chunk (it names the matplotlib version) and a fixed dpi, so the
    # bytes depend only on the data.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def drawn_with_fixed_style(draw: Callable[[], bytes]) -> bytes:
    """``draw()`` under :data:`STYLE`, whatever the user's matplotlibrc says."""
    import matplotlib.style

    with matplotlib.style.context(STYLE):
        return draw()


def training_curves_png(framing: str, histories: Mapping[int, TrainingHistory]) -> bytes:
    """Loss and accuracy per epoch for one framing, one line per seed."""
    from matplotlib.ticker import MaxNLocator

    def draw() -> bytes:
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
        figure.tight_layout()
        return png_bytes(figure)

    return drawn_with_fixed_style(draw)


def accuracy_by_seed_png(study: Study, summaries: Mapping[str, Summary]) -> bytes:
    """Every framing's accuracy per seed (points), mean ± 95% CI, and the tutorial's value."""

    def draw() -> bytes:
        figure = new_figure(max(6.0, 1.3 * len(study.framings) + 2.0), 4.5)
        axes = figure.subplots()
        # Seeds are spread sideways at fixed offsets so equal accuracies stay visible.
        offsets = np.linspace(-0.2, 0.2, len(study.seeds)) if len(study.seeds) > 1 else np.zeros(1)
        labelled: set[str] = set()

        def label_once(text: str) -> str | None:
            # Each kind of mark enters the legend once, whichever framing shows it first.
            if text in labelled:
                return None
            labelled.add(text)
            return text

        for position, framing in enumerate(study.framings):
            axes.scatter(
                position + offsets, [100 * value for value in study.accuracies(framing)],
                s=18, color="tab:blue", alpha=0.6, label=label_once("each seed"),
            )
            statistics = summaries[framing]
            if statistics.ci_low is not None:
                error = [[100 * (statistics.mean - statistics.ci_low)], [100 * (statistics.ci_high - statistics.mean)]]
                axes.errorbar(
                    [position + 0.35], [100 * statistics.mean], yerr=error, fmt="o", color="black",
                    capsize=4, label=label_once("mean ± 95% CI"),
                )
            if framing in study.tutorial_accuracy:
                # Left of the seeds, as the mean is right of them, so neither hides a seed.
                axes.scatter(
                    [position - 0.35], [100 * study.tutorial_accuracy[framing]], marker="x", s=60,
                    color="tab:red", label=label_once("tutorial"), zorder=3,
                )
        axes.set_xticks(range(len(study.framings)), study.framings, rotation=25, ha="right")
        axes.set(ylabel="training accuracy (%)", ylim=(-3, 110), xlim=(-0.6, len(study.framings) - 0.4))
        axes.set_title(f"Accuracy per framing over {len(study.seeds)} seed(s)")
        axes.grid(axis="y", alpha=0.3)
        # Outside the axes: inside, the legend could hide a framing's low accuracy.
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        figure.tight_layout()
        return png_bytes(figure)

    return drawn_with_fixed_style(draw)


def probability_heatmap_png(framing: str, seed: int, probabilities: np.ndarray) -> bytes:
    """The 26x26 next-letter probabilities: hollow squares mark the true next letter, red
    dots the predicted one (a dot inside a square is a correct prediction)."""

    def draw() -> bytes:
        figure = new_figure(6.4, 5.6)
        axes = figure.subplots()
        # Scaled to the table's own largest value: a barely trained model spreads its
        # probability thinly, and a fixed 0..1 scale would show it as one flat colour.
        largest = max(float(probabilities.max()), 1e-6)
        image = axes.imshow(probabilities, cmap="viridis", vmin=0.0, vmax=largest, origin="upper")
        codes = np.arange(VOCABULARY_SIZE)
        axes.scatter(codes[:-1] + 1, codes[:-1], marker="s", s=40, facecolors="none", edgecolors="white", linewidths=0.8)
        axes.scatter(probabilities.argmax(axis=1), codes, marker="o", s=8, color="tab:red")
        letters = list(ALPHABET)
        axes.set_xticks(range(VOCABULARY_SIZE), letters, fontsize=7)
        axes.set_yticks(range(VOCABULARY_SIZE), letters, fontsize=7)
        axes.set(xlabel="next letter", ylabel="input letter (alone)")
        axes.set_title(f"{framing} (seed {seed}): P(next letter | one letter)")
        figure.colorbar(image, ax=axes, label="probability")
        figure.tight_layout()
        return png_bytes(figure)

    return drawn_with_fixed_style(draw)
