"""The files stages hand to each other: each format written and read back in one place.

train writes the history CSV; evaluate writes the evaluation JSON (the headline numbers),
the details JSON (chains, starts, queries), the prediction table CSV and the 26x26
probabilities CSV; the report reads them all back. Each format's writer and reader sit side
by side here, so a column added on one side cannot be missed on the other. Numbers are
written with a fixed number of decimals, so the same values give the same bytes.

Writers return the text (``*_csv(values) -> str``), which stages write atomically through
:mod:`alphabet_lstm.artifacts`. Readers raise ValueError (or KeyError) naming what is
wrong; callers add the path.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alphabet_lstm.alphabet import ALPHABET

HISTORY_COLUMNS = ("epoch", "loss", "accuracy")
PREDICTION_COLUMNS = ("input", "expected", "predicted", "probability", "correct")
PROBABILITY_COLUMNS = ("input", *ALPHABET)
# Every evaluation JSON holds these; stateful and variable-length framings add their own.
EVALUATION_KEYS = ("accuracy", "loss", "correct", "patterns")
DECIMALS = 6


def table_csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A CSV table, as every CSV the stages write."""
    buffer = io.StringIO()
    # "\n", not csv's default "\r\n": the files are git-tracked and diffed line by line.
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _checked_rows(path: str | Path, expected: Sequence[str], what: str) -> list[list[str]]:
    """The CSV file's rows after a header that must be exactly ``expected``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
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


def history_csv(losses: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray) -> str:
    """``epoch,loss,accuracy``, one row per epoch; DVC plots read it as it is."""
    rows = (
        [epoch, f"{loss:.{DECIMALS}f}", f"{accuracy:.{DECIMALS}f}"]
        for epoch, (loss, accuracy) in enumerate(zip(losses, accuracies), start=1)
    )
    return table_csv(HISTORY_COLUMNS, rows)


def read_history(path: str | Path) -> TrainingHistory:
    rows = _checked_rows(path, HISTORY_COLUMNS, "history")
    return TrainingHistory(
        epochs=tuple(int(row[0]) for row in rows),
        losses=tuple(float(row[1]) for row in rows),
        accuracies=tuple(float(row[2]) for row in rows),
    )


# --------------------------------------------------------------------------- predictions


def predictions_csv(rows: Sequence[Mapping]) -> str:
    """One row per training pattern (see ``evaluation.prediction_table``); ``correct`` is
    written True/False. DVC's confusion-matrix plot reads ``expected`` and ``predicted``."""
    return table_csv(PREDICTION_COLUMNS, ([row[column] for column in PREDICTION_COLUMNS] for row in rows))


def read_predictions(path: str | Path) -> list[dict]:
    rows = _checked_rows(path, PREDICTION_COLUMNS, "predictions")
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


# --------------------------------------------------------------------------- probabilities


def probabilities_csv(probabilities: np.ndarray | None) -> str:
    """``input,A..Z``: row = the letter given alone, column = the next letter. A framing
    that takes no single letter (a fixed window) writes the header only."""
    rows = []
    if probabilities is not None:
        rows = [[letter, *(f"{value:.{DECIMALS}f}" for value in row)] for letter, row in zip(ALPHABET, probabilities)]
    return table_csv(PROBABILITY_COLUMNS, rows)


def read_probabilities(path: str | Path) -> np.ndarray | None:
    """The 26x26 table, or None when the file holds the header only."""
    rows = _checked_rows(path, PROBABILITY_COLUMNS, "probabilities")
    if not rows:
        return None
    if [row[0] for row in rows] != list(ALPHABET) or any(len(row) != len(PROBABILITY_COLUMNS) for row in rows):
        raise ValueError("probabilities must have one row per letter A..Z and 26 columns")
    return np.asarray([[float(value) for value in row[1:]] for row in rows], dtype=np.float64)


# --------------------------------------------------------------------------- JSON


def _json_object(path: str | Path, what: str) -> dict:
    value = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def read_evaluation(path: str | Path) -> dict:
    metrics = _json_object(path, "evaluation")
    missing = [key for key in EVALUATION_KEYS if key not in metrics]
    if missing:
        raise ValueError(f"evaluation lacks {', '.join(missing)}")
    return metrics


def read_details(path: str | Path) -> dict:
    return _json_object(path, "details")


def read_table(path: str | Path) -> list[dict[str, str]]:
    """A CSV file's rows as mappings of its header's columns."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
