"""The study's report: one comparison of every framing, in Markdown, HTML and figures.

Inputs are what the evaluate and train stages wrote for each (framing, seed), gathered in
a :class:`Study`. The report is built in memory as a list of blocks (headings, paragraphs,
tables, images) rendered twice, to Markdown and to a self-contained HTML page, so both
always say the same thing. :func:`publish_directory` then writes the files into a staging
directory beside the target and swaps it into place, so a failure never leaves half a
report. Nothing here reads the clock: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, VOCABULARY_SIZE
from alphabet_lstm.report.statistics import PairedComparison, Summary, compare_paired, summarize

# The tutorial's own question about framing 2: is a 3-letter window, given as features,
# better than one letter? Compared seed by seed, first minus second.
PAIRED_FRAMINGS = ("window_features", "one_char")
PAIRED_SUMMARY_KEY = f"paired_{PAIRED_FRAMINGS[0]}_vs_{PAIRED_FRAMINGS[1]}"
FIGURES_DIRECTORY = "figures"
MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"
TITLE = "Learning the alphabet with an LSTM: the tutorial's framings, reproduced"
# Fixed figure resolution: with Agg and no Software metadata, the same data gives the same PNG.
FIGURE_DPI = 100
MISSING = "—"
_SUMMARY_DIGITS = 6


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class TrainingHistory:
    """Loss and accuracy per epoch, as the train stage's history CSV holds them."""

    epochs: tuple[int, ...]
    losses: tuple[float, ...]
    accuracies: tuple[float, ...]


@dataclass(frozen=True)
class RunRecord:
    """Everything recorded for one framing at one seed."""

    framing: str
    seed: int
    metrics: Mapping
    details: Mapping
    history: TrainingHistory
    # 26x26, row = input letter, column = next letter; None when the framing takes no
    # single letter (a fixed 3-letter window).
    probabilities: np.ndarray | None
    run_info: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """The framings and seeds of the study, in params order, with one record for each pair."""

    framings: tuple[str, ...]
    seeds: tuple[int, ...]
    tutorial_accuracy: Mapping[str, float]
    runs: Mapping[tuple[str, int], RunRecord]

    def __post_init__(self) -> None:
        if not self.framings or not self.seeds:
            raise ValueError("a study needs at least one framing and one seed")
        missing = [
            f"{framing} seed {seed}"
            for framing in self.framings
            for seed in self.seeds
            if (framing, seed) not in self.runs
        ]
        if missing:
            raise ValueError(f"no record for: {', '.join(missing)}")

    @property
    def first_seed(self) -> int:
        return self.seeds[0]

    def run(self, framing: str, seed: int | None = None) -> RunRecord:
        """The record of ``framing`` at ``seed`` (the first seed by default)."""
        return self.runs[(framing, self.first_seed if seed is None else seed)]

    def accuracies(self, framing: str) -> list[float]:
        """The framing's training accuracy at every seed, in seed order."""
        return [float(self.run(framing, seed).metrics["accuracy"]) for seed in self.seeds]


def parse_history_csv(text: str) -> TrainingHistory:
    """A history CSV (header ``epoch,loss,accuracy``) into a :class:`TrainingHistory`."""
    expected = ["epoch", "loss", "accuracy"]
    header = next(csv.reader(io.StringIO(text)), [])
    if header != expected:
        raise ValueError(f"history header is {header!r}; expected {','.join(expected)}")
    rows = list(csv.DictReader(io.StringIO(text)))
    return TrainingHistory(
        epochs=tuple(int(row["epoch"]) for row in rows),
        losses=tuple(float(row["loss"]) for row in rows),
        accuracies=tuple(float(row["accuracy"]) for row in rows),
    )


def parse_probabilities_csv(text: str) -> np.ndarray | None:
    """A probabilities CSV (header ``input,A..Z``) into a 26x26 array; None if header only."""
    rows = list(csv.reader(io.StringIO(text)))
    expected = ["input", *ALPHABET]
    if not rows or rows[0] != expected:
        raise ValueError(f"probabilities header must be {','.join(expected)}")
    body = [row for row in rows[1:] if row]
    if not body:
        return None
    if [row[0] for row in body] != list(ALPHABET) or any(len(row) != 27 for row in body):
        raise ValueError("probabilities must have one row per letter A..Z and 26 columns")
    return np.asarray([[float(value) for value in row[1:]] for row in body], dtype=np.float64)


# --------------------------------------------------------------------------- summary


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), _SUMMARY_DIGITS)


def framing_summaries(study: Study) -> dict[str, Summary]:
    """Each framing's accuracy summarized over the seeds, in params order."""
    return {framing: summarize(study.accuracies(framing)) for framing in study.framings}


def paired_comparison(study: Study) -> PairedComparison | None:
    """window_features minus one_char over the seeds; None if either is absent or n < 2."""
    if not all(framing in study.framings for framing in PAIRED_FRAMINGS):
        return None
    first, second = (study.accuracies(framing) for framing in PAIRED_FRAMINGS)
    return compare_paired(first, second)


def summary_metrics(study: Study) -> dict:
    """The DVC metrics file: per framing the first seed's accuracy and the seed statistics.

    ``ci_low``/``ci_high`` are null with one seed; the paired block holds null statistics
    when fewer than two seeds (or one of the two framings) make a test impossible.
    """
    summary: dict = {}
    for framing, statistics in framing_summaries(study).items():
        summary[framing] = {
            f"accuracy_seed{study.first_seed}": _rounded(study.run(framing).metrics["accuracy"]),
            "mean": _rounded(statistics.mean),
            "std": _rounded(statistics.std),
            "ci_low": _rounded(statistics.ci_low),
            "ci_high": _rounded(statistics.ci_high),
            "min": _rounded(statistics.minimum),
            "max": _rounded(statistics.maximum),
            "n": statistics.n,
        }
    comparison = paired_comparison(study)
    present = all(framing in study.framings for framing in PAIRED_FRAMINGS)
    summary[PAIRED_SUMMARY_KEY] = {
        "n": comparison.n if comparison else (len(study.seeds) if present else 0),
        "mean_difference": _rounded(comparison.mean_difference) if comparison else None,
        "ci_low": _rounded(comparison.ci_low) if comparison else None,
        "ci_high": _rounded(comparison.ci_high) if comparison else None,
        "p_value": _rounded(comparison.p_value) if comparison else None,
    }
    return summary


# --------------------------------------------------------------------------- document


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """Plain text; `backticks` mark code in both renderings."""

    text: str


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    css_class: str
    table_id: str | None = None


@dataclass(frozen=True)
class Image:
    """A PNG figure: written to ``figures/<file_name>``, linked from Markdown, inlined in HTML."""

    file_name: str
    alt: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def relative_path(self) -> str:
        return f"{FIGURES_DIRECTORY}/{self.file_name}"


Block = Union[Heading, Paragraph, Table, Image]


def percent(value: float | None) -> str:
    """0.8696 -> '86.96%', as the tutorial prints accuracies; None -> a dash."""
    return MISSING if value is None else f"{100.0 * value:.2f}%"


def points(value: float) -> str:
    """A difference of accuracies in percentage points, signed: '+2.96 pp'."""
    return f"{100.0 * value:+.2f} pp"


def _table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], css_class: str, table_id: str | None = None
) -> Table:
    return Table(tuple(columns), tuple(tuple(row) for row in rows), css_class, table_id)


# --------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float):
    """A figure drawn by Agg, with no pyplot state shared between figures or callers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=FIGURE_DPI)
    FigureCanvasAgg(figure)
    return figure


def _png_bytes(figure) -> bytes:
    # No "Software" text chunk (it names the matplotlib version) and a fixed dpi, so the
    # bytes depend only on the data.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _with_default_style(draw):
    """Run ``draw`` under matplotlib's default style, ignoring any user matplotlibrc."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        return draw()


def training_curves_png(framing: str, histories: Mapping[int, TrainingHistory]) -> bytes:
    """Loss and accuracy per epoch for one framing, one line per seed."""
    from matplotlib.ticker import MaxNLocator

    def draw() -> bytes:
        figure = _new_figure(10.0, 3.8)
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
        return _png_bytes(figure)

    return _with_default_style(draw)


def accuracy_by_seed_png(study: Study, summaries: Mapping[str, Summary]) -> bytes:
    """Every framing's accuracy per seed (points), mean ± 95% CI, and the tutorial's value."""

    def draw() -> bytes:
        figure = _new_figure(max(6.0, 1.3 * len(study.framings) + 2.0), 4.5)
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
        return _png_bytes(figure)

    return _with_default_style(draw)


def probability_heatmap_png(framing: str, seed: int, probabilities: np.ndarray) -> bytes:
    """The 26x26 next-letter probabilities: hollow squares mark the true next letter, red
    dots the predicted one (a dot inside a square is a correct prediction)."""

    def draw() -> bytes:
        figure = _new_figure(6.4, 5.6)
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
        return _png_bytes(figure)

    return _with_default_style(draw)


# --------------------------------------------------------------------------- sections


def comparison_section(study: Study, summaries: Mapping[str, Summary], figure: Image) -> list[Block]:
    """The main table: tutorial vs ours at the first seed, and over seeds when there are several."""
    seed = study.first_seed
    several = len(study.seeds) > 1
    columns = ["Framing", "Tutorial", f"Ours (seed {seed})", f"Correct (seed {seed})"]
    if several:
        columns += [f"Mean ± 95% CI ({len(study.seeds)} seeds)", "Std", "Min–max"]
    rows = []
    for framing in study.framings:
        metrics = study.run(framing).metrics
        row = [
            framing,
            percent(study.tutorial_accuracy.get(framing)),
            percent(metrics["accuracy"]),
            f"{metrics['correct']}/{metrics['patterns']}",
        ]
        if several:
            statistics = summaries[framing]
            half_width = statistics.ci_high - statistics.mean
            row += [
                f"{percent(statistics.mean)} ± {100 * half_width:.2f}",
                f"{100 * statistics.std:.2f}",
                f"{percent(statistics.minimum)}–{percent(statistics.maximum)}",
            ]
        rows.append(row)
    seeds_text = ", ".join(str(value) for value in study.seeds)
    blocks: list[Block] = [
        Heading(2, "Accuracy of every framing"),
        Paragraph(
            "Accuracy is measured on the training patterns themselves, as the tutorial does. "
            f"Seeds: {seeds_text}; the tutorial seeds with 7. A dash means the tutorial "
            "reports no accuracy for that framing."
        ),
        _table(columns, rows, "comparison", "comparison"),
    ]
    if several:
        blocks.append(
            Paragraph(
                "The 95% interval is a Student t interval over seeds; it can reach past 100% "
                "when accuracies cluster near the top."
            )
        )
    blocks.append(figure)
    return blocks


def paired_section(study: Study, comparison: PairedComparison | None) -> list[Block]:
    """window_features vs one_char, seed by seed: the tutorial's 'may or may not be real'."""
    first, second = PAIRED_FRAMINGS
    blocks: list[Block] = [Heading(2, f"Does a 3-letter window help? {first} vs {second}")]
    if not all(framing in study.framings for framing in PAIRED_FRAMINGS):
        blocks.append(Paragraph(f"Not compared: the study does not include both `{first}` and `{second}`."))
        return blocks
    first_patterns = study.run(first).metrics["patterns"]
    second_patterns = study.run(second).metrics["patterns"]
    blocks.append(
        Paragraph(
            f"The tutorial reports {percent(study.tutorial_accuracy.get(first))} for `{first}` "
            f"against {percent(study.tutorial_accuracy.get(second))} for `{second}` and says the "
            f"gain may or may not be real. The two are scored on their own training patterns "
            f"({first_patterns} and {second_patterns}), so one pattern is worth "
            f"{100 / first_patterns:.2f} and {100 / second_patterns:.2f} points respectively."
        )
    )
    rows = []
    for seed in study.seeds:
        first_accuracy = study.run(first, seed).metrics["accuracy"]
        second_accuracy = study.run(second, seed).metrics["accuracy"]
        rows.append([str(seed), percent(first_accuracy), percent(second_accuracy), points(first_accuracy - second_accuracy)])
    table = _table(["Seed", first, second, "Difference"], rows, "paired")
    if comparison is None:
        blocks.append(
            Paragraph(
                f"Only one seed ({study.first_seed}) was run, so no paired test is possible: "
                "one difference says nothing about its spread. Run several seeds "
                "(`make study`) to test it."
            )
        )
        blocks.append(table)
        return blocks
    if comparison.p_value is None:
        test_text = "every seed gives the same difference, so the t-test is undefined"
    else:
        test_text = f"paired t-test p = {comparison.p_value:.4f} (t = {comparison.t_statistic:.3f})"
    blocks.append(
        Paragraph(
            f"Over {comparison.n} seeds, `{first}` minus `{second}` is "
            f"{points(comparison.mean_difference)} on average, 95% CI "
            f"[{points(comparison.ci_low)}, {points(comparison.ci_high)}]; {test_text}."
        )
    )
    blocks.append(table)
    return blocks


def _stateful_framings(study: Study) -> list[str]:
    return [framing for framing in study.framings if "chain_from_A" in study.run(framing).details]


def _spaced(letters: str) -> str:
    return " ".join(letters)


def stateful_section(study: Study) -> list[Block]:
    """For each stateful framing: the chain from A, the cold start from K, start tables."""
    blocks: list[Block] = []
    for framing in _stateful_framings(study):
        blocks.append(Heading(2, f"Stateful LSTM ({framing}): reciting the alphabet"))
        blocks.append(
            Paragraph(
                "Seeded with A and fed its own predictions with the state carried, the "
                "tutorial's model recites A -> B ... Y -> Z; from a cold (reset) start at K it "
                "answers B C D E: it replays the sequence from the start. Cold starts begin "
                "from a reset state; warm starts first feed A up to the letter before."
            )
        )
        rows = []
        for seed in study.seeds:
            details = study.run(framing, seed).details
            metrics = study.run(framing, seed).metrics
            rows.append(
                [
                    str(seed),
                    _spaced(details["chain_from_A"]),
                    "yes" if details.get("chain_intact") else "no",
                    f"K -> {_spaced(details['cold_start_from_K'])}",
                    percent(metrics.get("cold_start_accuracy")),
                    percent(metrics.get("warm_start_accuracy")),
                ]
            )
        blocks.append(
            _table(
                ["Seed", "Chain from A", "Intact", "Cold start from K", "Cold-start accuracy", "Warm-start accuracy"],
                rows,
                "stateful",
            )
        )
        blocks.extend(start_table_blocks(study, framing))
    return blocks


def start_table_blocks(study: Study, framing: str) -> list[Block]:
    """Per start letter at the first seed: five predictions fed back, cold and warm."""
    details = study.run(framing).details
    cold = {row["start"]: row for row in details.get("cold_starts", [])}
    warm = {row["start"]: row for row in details.get("warm_starts", [])}
    if not cold and not warm:
        return []
    rows = []
    for letter in ALPHABET:
        cold_row, warm_row = cold.get(letter, {}), warm.get(letter, {})
        expected = cold_row.get("expected", warm_row.get("expected", ""))
        rows.append(
            [
                letter,
                _spaced(expected) or MISSING,
                _spaced(cold_row.get("predicted", "")) or MISSING,
                percent(cold_row.get("accuracy")),
                _spaced(warm_row.get("predicted", "")) or MISSING,
                percent(warm_row.get("accuracy")),
            ]
        )
    return [
        Heading(3, f"Cold and warm starts from every letter (seed {study.first_seed})"),
        _table(
            ["Start", "Expected", "Cold: predicted", "Cold accuracy", "Warm: predicted", "Warm accuracy"],
            rows,
            "starts",
        ),
    ]


def all_queries_section(study: Study, summaries_by_framing: Mapping[str, Summary | None]) -> list[Block]:
    """Accuracy on every run of 1..L letters, for the framings that take variable lengths."""
    framings = [framing for framing in study.framings if "all_queries" in study.run(framing).details]
    if not framings:
        return []
    several = len(study.seeds) > 1
    columns = ["Framing", "Queries", f"Accuracy (seed {study.first_seed})"]
    if several:
        columns.append(f"Mean ± 95% CI ({len(study.seeds)} seeds)")
    rows = []
    for framing in framings:
        queries = study.run(framing).details["all_queries"]
        row = [framing, str(queries["queries"]), percent(queries["accuracy"])]
        statistics = summaries_by_framing.get(framing)
        if several and statistics is not None:
            row.append(f"{percent(statistics.mean)} ± {100 * (statistics.ci_high - statistics.mean):.2f}")
        elif several:
            row.append(MISSING)
        rows.append(row)
    longest = max(len(study.run(framing).details["all_queries"]["accuracy_by_length"]) for framing in framings)
    length_rows = []
    for length in range(1, longest + 1):
        length_rows.append(
            [str(length)]
            + [
                percent(study.run(framing).details["all_queries"]["accuracy_by_length"].get(str(length)))
                for framing in framings
            ]
        )
    return [
        Heading(2, "Any query, not only the training patterns"),
        Paragraph(
            "Every contiguous run of letters the model accepts (1 up to its padded length) "
            "that has a next letter, each asked alone."
        ),
        _table(columns, rows, "all-queries"),
        Heading(3, f"By query length (seed {study.first_seed})"),
        _table(["Letters", *framings], length_rows, "by-length"),
    ]


def _all_queries_summaries(study: Study) -> dict[str, Summary | None]:
    summaries: dict[str, Summary | None] = {}
    for framing in study.framings:
        values = [study.run(framing, seed).metrics.get("all_queries_accuracy") for seed in study.seeds]
        summaries[framing] = summarize(values) if all(value is not None for value in values) else None
    return summaries


def training_section(images: Sequence[Image]) -> list[Block]:
    return [Heading(2, "Training curves"), *images]


def probabilities_section(study: Study, images: Sequence[Image]) -> list[Block]:
    """Heatmaps for the framings that take a single letter; a note naming the others."""
    blocks: list[Block] = [
        Heading(2, "Next-letter probabilities for each single letter"),
        Paragraph(
            f"Seed {study.first_seed}. Row: the input letter given alone (stateful models from "
            "a reset state); column: the next letter. Hollow squares mark the true next letter, "
            "red dots the predicted one. Each colour scale runs from 0 to that table's largest "
            "probability."
        ),
        *images,
    ]
    without = [framing for framing in study.framings if study.run(framing).probabilities is None]
    if without:
        names = ", ".join(f"`{framing}`" for framing in without)
        blocks.append(Paragraph(f"No table for {names}: a fixed window takes no single letter."))
    return blocks


def runs_section(study: Study) -> list[Block]:
    """Each framing's MLflow run per seed, to open the curves and the model in the UI."""
    rows = []
    for framing in study.framings:
        for seed in study.seeds:
            info = study.run(framing, seed).run_info
            rows.append(
                [framing, str(seed), str(info.get("run_name", MISSING)), str(info.get("run_id", MISSING))]
            )
    uris = sorted(
        {str(record.run_info["tracking_uri"]) for record in study.runs.values() if "tracking_uri" in record.run_info}
    )
    columns = ["Framing", "Seed", "Run name", "Run id"]
    blocks: list[Block] = [Heading(2, "MLflow runs"), _table(columns, rows, "runs")]
    if uris:
        blocks.append(Paragraph("Tracking store: " + ", ".join(f"`{uri}`" for uri in uris) + "."))
    return blocks


# --------------------------------------------------------------------------- assembly


def accuracy_figure(study: Study, summaries: Mapping[str, Summary]) -> Image:
    return Image(
        "accuracy-by-seed.png",
        alt="Training accuracy per framing: one point per seed, mean with 95% CI, "
        "the tutorial's value as a red cross",
        caption="Accuracy per framing and seed, with the tutorial's reported accuracy.",
        png=accuracy_by_seed_png(study, summaries),
    )


def training_figures(study: Study) -> list[Image]:
    """One figure per framing, every seed's curves overlaid."""
    return [
        Image(
            f"training-{framing}.png",
            alt=f"Loss and accuracy per epoch for {framing}, one line per seed",
            caption=f"{framing}: loss and accuracy per epoch.",
            png=training_curves_png(
                framing, {seed: study.run(framing, seed).history for seed in study.seeds}
            ),
        )
        for framing in study.framings
    ]


def heatmap_figures(study: Study) -> list[Image]:
    """One heatmap per framing that has a single-letter table, at the first seed."""
    seed = study.first_seed
    return [
        Image(
            f"probabilities-{framing}.png",
            alt=f"Heatmap of next-letter probabilities for each single input letter, "
            f"{framing}, seed {seed}",
            caption=f"{framing}: next-letter probabilities for each single letter.",
            png=probability_heatmap_png(framing, seed, study.run(framing).probabilities),
        )
        for framing in study.framings
        if study.run(framing).probabilities is not None
    ]


def report_blocks(study: Study) -> list[Block]:
    """The whole report as blocks, figures rendered; the same for the same inputs."""
    summaries = framing_summaries(study)
    return [
        Heading(1, TITLE),
        Paragraph(
            "Each framing of the Machine Learning Mastery tutorial \"Understanding Stateful "
            "LSTM Recurrent Neural Networks in Python with Keras\" trained with its "
            "hyperparameters, evaluated as the tutorial evaluates it, and compared with the "
            "accuracy it reports. Built by the `report` stage of `dvc.yaml`."
        ),
        *comparison_section(study, summaries, accuracy_figure(study, summaries)),
        *paired_section(study, paired_comparison(study)),
        *stateful_section(study),
        *all_queries_section(study, _all_queries_summaries(study)),
        *training_section(training_figures(study)),
        *probabilities_section(study, heatmap_figures(study)),
        *runs_section(study),
    ]


# --------------------------------------------------------------------------- rendering


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    """Blocks as GitHub-flavoured Markdown; images linked by their path under figures/."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            lines = [
                "| " + " | ".join(_markdown_cell(column) for column in block.columns) + " |",
                "|" + "|".join("---" for _ in block.columns) + "|",
            ]
            lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Image):
            parts.append(f"![{block.alt}]({block.relative_path})\n\n*{block.caption}*")
        else:
            raise TypeError(f"not a report block: {block!r}")
    return "\n\n".join(parts) + "\n"


_CODE_SPAN = re.compile(r"`([^`]+)`")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70rem;
       margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; line-height: 1.5; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f3f3f3; } tbody tr:nth-child(even) { background: #fafafa; }
td { font-variant-numeric: tabular-nums; }
code { background: #f3f3f3; padding: 0 0.25rem; border-radius: 3px; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9rem; }
""".strip()


def _inline_html(text: str) -> str:
    return _CODE_SPAN.sub(r"<code>\1</code>", html.escape(text, quote=False))


def _html_table(table: Table) -> str:
    identifier = f' id="{html.escape(table.table_id)}"' if table.table_id else ""
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return (
        f'<table class="{html.escape(table.css_class)}"{identifier}>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    )


def _html_image(image: Image) -> str:
    encoded = base64.b64encode(image.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(image.alt)}">'
        f"<figcaption>{html.escape(image.caption)}</figcaption></figure>"
    )


def render_html(blocks: Sequence[Block], title: str = TITLE) -> str:
    """Blocks as one self-contained HTML page: inline CSS, images as base64 data URIs."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        elif isinstance(block, Image):
            parts.append(_html_image(block))
        else:
            raise TypeError(f"not a report block: {block!r}")
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def report_files(study: Study) -> dict[str, bytes]:
    """Every file of the reports directory, by path relative to it."""
    blocks = report_blocks(study)
    files = {
        MARKDOWN_NAME: render_markdown(blocks).encode("utf-8"),
        HTML_NAME: render_html(blocks).encode("utf-8"),
    }
    for block in blocks:
        if isinstance(block, Image):
            files[block.relative_path] = block.png
    return files


# --------------------------------------------------------------------------- publishing


def _checked_relative(name: str) -> Path:
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"report file {name!r} must be a relative path inside the directory")
    return relative


def publish_directory(out_dir: str | Path, files: Mapping[str, bytes]) -> None:
    """Make ``out_dir`` hold exactly ``files``, or leave it as it was if anything fails.

    The files go into a staging directory beside ``out_dir`` (same file system, so the
    final rename is atomic); any earlier ``out_dir`` is moved aside first and deleted only
    once the new one is in place. The staging directory itself makes the set of files
    atomic, so each file inside it is written plainly.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    staging = out_dir.parent / f".{out_dir.name}.{token}.tmp"
    previous = out_dir.parent / f".{out_dir.name}.{token}.old"
    # mkdir (unlike mkdtemp) honours the umask, so the published directory is readable.
    staging.mkdir()
    try:
        for name, data in files.items():
            target = staging / _checked_relative(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            os.replace(out_dir, previous)
        try:
            os.replace(staging, out_dir)
        except BaseException:
            if previous.exists():
                os.replace(previous, out_dir)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
