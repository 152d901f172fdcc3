"""The files stages hand to each other (train's history; evaluate's evaluation and details
JSON, prediction and probability tables), each format's writer beside its reader.

Writers return the text, numbers at fixed decimals so the same values give the same bytes;
stages write it atomically. Readers raise ValueError (or KeyError) naming what is wrong.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alphabet_lstm.alphabet import ALPHABET

if TYPE_CHECKING:
    import pandas as pd

HISTORY_COLUMNS = ("epoch", "loss", "accuracy")
PREDICTION_COLUMNS = ("input", "expected", "predicted", "probability", "correct")
PROBABILITY_COLUMNS = ("input", *ALPHABET)
# Every evaluation JSON holds these; stateful and variable-length framings add their own.
EVALUATION_KEYS = ("accuracy", "loss", "correct", "patterns")
FIXED_DECIMALS = "%.6f"


def table_csv(header: Sequence[str], rows: Iterable[Sequence], float_format: str | None = None) -> str:
    """A table as every CSV the stages write: "\n" line ends (git diffs them line by line),
    floats in ``float_format`` if given, NaN and None empty: the bytes pandas' ``to_csv``
    writes. By hand because importing pandas is half of the train and evaluate stages' start-up."""

    def cell(value) -> str:
        number = isinstance(value, float | np.floating)
        if value is None or (number and math.isnan(value)):
            return ""
        return float_format % value if number and float_format else str(value)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def _checked_frame(path: str | Path, expected: Sequence[str], what: str) -> pd.DataFrame:
    """The CSV's rows (numbers as float() reads them, no text as NA) under exactly the ``expected`` header."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except pd.errors.EmptyDataError:
        frame = None
    if frame is None or list(frame.columns) != list(expected):
        found = ",".join(frame.columns) if frame is not None else "nothing"
        raise ValueError(f"{what} header is {found!r}; expected {','.join(expected)}")
    return frame


@dataclass(frozen=True)
class TrainingHistory:
    """Loss and accuracy per epoch (epochs counted from 1), as train records them."""

    epochs: tuple[int, ...]
    losses: tuple[float, ...]
    accuracies: tuple[float, ...]


def history_csv(losses: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray) -> str:
    """``epoch,loss,accuracy``, one row per epoch; DVC plots read it as it is."""
    rows = zip(range(1, len(losses) + 1), map(float, losses), map(float, accuracies))
    return table_csv(HISTORY_COLUMNS, rows, FIXED_DECIMALS)


def read_history(path: str | Path) -> TrainingHistory:
    frame = _checked_frame(path, HISTORY_COLUMNS, "history")
    return TrainingHistory(*(tuple(frame[column].tolist()) for column in HISTORY_COLUMNS))


def predictions_csv(rows: Sequence[Mapping]) -> str:
    """One row per training pattern (``evaluation.prediction_table``), for DVC's confusion matrix."""
    return table_csv(PREDICTION_COLUMNS, ([row[column] for column in PREDICTION_COLUMNS] for row in rows))


def read_predictions(path: str | Path) -> list[dict]:
    frame = _checked_frame(path, PREDICTION_COLUMNS, "predictions")
    return frame.astype({"input": str, "correct": bool}).to_dict("records")


def probabilities_csv(probabilities: np.ndarray | None) -> str:
    """``input,A..Z``: row = the letter given alone, column = the next letter. A framing
    that takes no single letter (a fixed window) writes the header only."""
    rows = [] if probabilities is None else [[letter, *map(float, row)] for letter, row in zip(ALPHABET, probabilities)]
    return table_csv(PROBABILITY_COLUMNS, rows, FIXED_DECIMALS)


def read_probabilities(path: str | Path) -> np.ndarray | None:
    """The 26x26 table, or None when the file holds the header only."""
    frame = _checked_frame(path, PROBABILITY_COLUMNS, "probabilities")
    if frame.empty:
        return None
    values = frame[list(ALPHABET)]
    if frame["input"].tolist() != list(ALPHABET) or not all(dtype.kind == "f" for dtype in values.dtypes):
        raise ValueError("probabilities must have one row per letter A..Z and 26 columns")
    return values.to_numpy(dtype=np.float64)


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
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
