"""A trained model as an MLflow pyfunc model: letters in, the next letter out.

Loading and predicting need numpy, pandas and this package's numpy forward pass
(model/lstm.py), never TensorFlow: the weights travel as the model's ``weights`` artifact,
the same .npz file DVC tracks, and it carries its own spec (framing, layout, input length,
statefulness).

Input: a DataFrame with a string column ``letters``, one query per row (``"KLM"``;
lower case is read as upper case). A stateless model gets the letters as one left-padded
input and takes the lengths it was trained on; a stateful model is fed them one at a time
from a reset state. Output: one row per query with ``next_letter`` and its ``probability``,
then the second and third most probable letters.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.artifacts import load_model
from alphabet_lstm.evaluation import query_probabilities, top_letters
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec

INPUT_COLUMN = "letters"
WEIGHTS_ARTIFACT = "weights"
RANKED_COLUMNS = (("next_letter", "probability"), ("second_letter", "second_probability"),
                  ("third_letter", "third_probability"))
# Queries in an input example start here, the tutorial's own example ("KLM" -> N).
EXAMPLE_START = ALPHABET.index("K")


def signature() -> ModelSignature:
    """What the model takes and returns, as MLflow checks and serves it."""
    outputs = []
    for letter, probability in RANKED_COLUMNS:
        outputs += [ColSpec("string", letter), ColSpec("double", probability)]
    return ModelSignature(inputs=Schema([ColSpec("string", INPUT_COLUMN)]), outputs=Schema(outputs))


def input_example(spec: ModelSpec) -> pd.DataFrame:
    """A query the model accepts: three letters from K if it takes them, else its window."""
    length = 3 if spec.accepts_length(3) else spec.input_length
    return pd.DataFrame({INPUT_COLUMN: [ALPHABET[EXAMPLE_START : EXAMPLE_START + length]]})


def query_codes(spec: ModelSpec, text: object, row: int) -> list[int]:
    """One query's letter codes; ValueError naming the row, the problem and what is allowed."""
    if not isinstance(text, str):
        raise ValueError(f"row {row}: column {INPUT_COLUMN!r} must hold a string of letters A-Z, got {text!r}")
    try:
        return spec.query_codes(text)
    except ValueError as error:
        raise ValueError(f"row {row}: {error}") from None


def predict_frame(weights: LSTMWeights, spec: ModelSpec, queries: pd.DataFrame) -> pd.DataFrame:
    """The next letter and its probability (then the runners-up) for every query row."""
    if INPUT_COLUMN not in queries.columns:
        raise ValueError(
            f"the input needs a string column {INPUT_COLUMN!r} (e.g. \"KLM\"); got columns {list(queries.columns)}"
        )
    rows = []
    for row, text in enumerate(queries[INPUT_COLUMN].tolist()):
        ranked = top_letters(query_probabilities(weights, spec, query_codes(spec, text, row)), len(RANKED_COLUMNS))
        values: dict[str, object] = {}
        for (letter_column, probability_column), (letter, probability) in zip(RANKED_COLUMNS, ranked):
            values[letter_column] = letter
            values[probability_column] = float(np.float64(probability))
        rows.append(values)
    columns = [name for pair in RANKED_COLUMNS for name in pair]
    return pd.DataFrame(rows, columns=columns)


class AlphabetModel(mlflow.pyfunc.PythonModel):
    """The pyfunc wrapper: loads the .npz weights artifact, predicts with numpy."""

    def load_context(self, context) -> None:
        self.weights, self.spec = load_model(context.artifacts[WEIGHTS_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return predict_frame(self.weights, self.spec, pd.DataFrame(model_input))
