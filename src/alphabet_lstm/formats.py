"""The files stages hand to each other: each format written and read back in one place.

train writes the history CSV; evaluate writes the evaluation JSON (the headline numbers),
the details JSON (chains, starts, queries), the prediction table CSV and the 26x26
probabilities CSV; the report reads them all back. Each format's writer and reader sit side
by side here, so a column added on one side cannot be missed on the other. Numbers are
written with a fixed number of decimals, so the same values give the same bytes.

Writers come in two forms: ``*_csv(values) -> str`` (the text, for stages that write it
themselves) and ``write_*(path, values)`` (atomically, through :mod:`alphabet_lstm.artifacts`).
Readers raise ValueError (or KeyError) naming what is wrong; callers add the path.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import read_json, write_json, write_text

HISTORY_COLUMNS = ("epoch", "loss", "accuracy")
PREDICTION_COLUMNS = ("input", "expected", "predicted", "probability", "correct")
PROBABILITY_COLUMNS = ("input", *ALPHABET)
# Every evaluation JSON holds these; stateful and variable-length framings add their own.
EVALUATION_KEYS = ("accuracy", "loss", "correct", "patterns")
_DECIMALS = 6


def table_csv(header: Sequence[str], rows) -> str:
    """A CSV table, as every CSV the stages write."""
    return _csv_text(header, rows)


def _csv_text(header: Sequence[str], rows) -> str:
    buffer = io.StringIO()
    # "\n", not csv's default "\r\n": the files are git-tracked and diffed line by line.
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _checked_header(text: str, expected: Sequence[str], what: str) -> list[list[str]]:
    """The CSV's rows after a header that must be exactly ``expected``."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != list(expected):
        found = ",".join(rows[0]) if rows else "nothing"
        raise ValueError(f"{what} header is {found!r}; expected {','.join(expected)}")
    return [row for row in rows[1:] if row]


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class TrainingHistory:
    """Loss and accuracy per epoch (epochs counted from 1), as train records them."""

    epochs: tuple[int, ...]
    losses: tuple[float, ...]
    accuracies: tuple[float, ...]


def history_csv(losses: Sequence[float], accuracies: Sequence[float]) -> str:
    """``epoch,loss,accuracy``, one row per epoch; DVC plots read it as it is."""
    rows = (
        [epoch, f"{loss:.{_DECIMALS}f}", f"{accuracy:.{_DECIMALS}f}"]
        for epoch, (loss, accuracy) in enumerate(zip(losses, accuracies), start=1)
    )
    return _csv_text(HISTORY_COLUMNS, rows)


def parse_history_csv(text: str) -> TrainingHistory:
    rows = _checked_header(text, HISTORY_COLUMNS, "history")
    return TrainingHistory(
        epochs=tuple(int(row[0]) for row in rows),
        losses=tuple(float(row[1]) for row in rows),
        accuracies=tuple(float(row[2]) for row in rows),
    )


def write_history(path: str | Path, losses: Sequence[float], accuracies: Sequence[float]) -> None:
    write_text(path, history_csv(losses, accuracies))


def read_history(path: str | Path) -> TrainingHistory:
    return parse_history_csv(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- predictions


def predictions_csv(rows: Sequence[Mapping]) -> str:
    """One row per training pattern (see ``evaluation.prediction_table``); ``correct`` is
    written True/False. DVC's confusion-matrix plot reads ``expected`` and ``predicted``."""
    return _csv_text(PREDICTION_COLUMNS, ([row[column] for column in PREDICTION_COLUMNS] for row in rows))


def parse_predictions_csv(text: str) -> list[dict]:
    rows = _checked_header(text, PREDICTION_COLUMNS, "predictions")
    return [
        {
            "input": row[0],
            "expected": row[1],
            "predicted": row[2],
            "probability": float(row[3]),
            "correct": row[4] == "True",
        }
        for row in rows
    ]


def write_predictions(path: str | Path, rows: Sequence[Mapping]) -> None:
    write_text(path, predictions_csv(rows))


def read_predictions(path: str | Path) -> list[dict]:
    return parse_predictions_csv(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- probabilities


def probabilities_csv(probabilities: np.ndarray | None) -> str:
    """``input,A..Z``: row = the letter given alone, column = the next letter. A framing
    that takes no single letter (a fixed window) writes the header only."""
    rows = []
    if probabilities is not None:
        rows = [[letter, *(f"{value:.{_DECIMALS}f}" for value in row)] for letter, row in zip(ALPHABET, probabilities)]
    return _csv_text(PROBABILITY_COLUMNS, rows)


def parse_probabilities_csv(text: str) -> np.ndarray | None:
    """The 26x26 table, or None when the file holds the header only."""
    rows = _checked_header(text, PROBABILITY_COLUMNS, "probabilities")
    if not rows:
        return None
    if [row[0] for row in rows] != list(ALPHABET) or any(len(row) != len(PROBABILITY_COLUMNS) for row in rows):
        raise ValueError("probabilities must have one row per letter A..Z and 26 columns")
    return np.asarray([[float(value) for value in row[1:]] for row in rows], dtype=np.float64)


def write_probabilities(path: str | Path, probabilities: np.ndarray | None) -> None:
    write_text(path, probabilities_csv(probabilities))


def read_probabilities(path: str | Path) -> np.ndarray | None:
    return parse_probabilities_csv(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- JSON


def write_evaluation(path: str | Path, metrics: Mapping) -> None:
    """The headline numbers of one trained model (``evaluation.evaluate``'s metrics)."""
    write_json(path, dict(metrics))


def read_evaluation(path: str | Path) -> dict:
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise ValueError("evaluation must be a JSON object")
    missing = [key for key in EVALUATION_KEYS if key not in metrics]
    if missing:
        raise ValueError(f"evaluation lacks {', '.join(missing)}")
    return metrics


def write_details(path: str | Path, details: Mapping) -> None:
    """Chains, cold and warm starts, all-queries and random-query tables of one model."""
    write_json(path, dict(details))


def read_details(path: str | Path) -> dict:
    details = read_json(path)
    if not isinstance(details, dict):
        raise ValueError("details must be a JSON object")
    return details
