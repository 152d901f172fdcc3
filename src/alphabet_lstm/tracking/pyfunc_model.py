"""A trained model as an MLflow pyfunc model: a column ``letters`` of queries in, per query
the three most probable next letters and their probabilities out (docs/mlflow.md).

Self-contained: mlflow, numpy, pandas and the query path tracking/shipped.py ships; its
weights are the .npz file DVC tracks, with its own spec.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec
from alphabet_lstm.model.querying import query_probabilities, top_letters

INPUT_COLUMN = "letters"
WEIGHTS_ARTIFACT = "weights"
RANKED_COLUMNS = (
    ("next_letter", "probability"),
    ("second_letter", "second_probability"),
    ("third_letter", "third_probability"),
)
# Queries in an input example start here, the tutorial's own example ("KLM" -> N).
EXAMPLE_START = ALPHABET.index("K")


def signature() -> ModelSignature:
    """What the model takes and returns, as MLflow checks and serves it."""
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec(kind, name) for pair in RANKED_COLUMNS for kind, name in zip(("string", "double"), pair)
    ]
    return ModelSignature(inputs=Schema([ColSpec("string", INPUT_COLUMN)]), outputs=Schema(outputs))


def input_example(spec: ModelSpec) -> pd.DataFrame:
    """A query the model accepts: three letters from K if it takes them, else its window;
    a stateful model with several streams gets A..K, the letters it was trained on."""
    if spec.stateful and spec.batch_size > 1:
        return pd.DataFrame({INPUT_COLUMN: [ALPHABET[: EXAMPLE_START + 1]]})
    length = 3 if spec.accepts_length(3) else spec.input_length
    return pd.DataFrame({INPUT_COLUMN: [ALPHABET[EXAMPLE_START : EXAMPLE_START + length]]})


def query_rule(spec: ModelSpec) -> str:
    """What a query to this model means, in words (model descriptions, error messages)."""
    if not spec.stateful:
        return f"framing {spec.framing} takes {spec.accepted_lengths()}, left-padded into one input"
    if spec.batch_size == 1:
        return f"framing {spec.framing} is stateful: a query's letters are fed one at a time from a reset state"
    return (
        f"framing {spec.framing} is stateful at batch size {spec.batch_size}: a query's letters are fed as in "
        f"training, from a reset state, {spec.batch_size} streams side by side (letter i in stream i mod "
        f"{spec.batch_size}), and the answer is for the last letter; A..K is answered as evaluation answered K"
    )


def query_codes(spec: ModelSpec, text: object, row: int) -> list[int]:
    """One query's letter codes; ValueError naming the row, the problem and what is allowed."""
    if spec.stateful and spec.input_length != 1:
        # Trained on windows in order: a letter string does not say where one window ends.
        raise ValueError(
            f"framing {spec.framing} is stateful over {spec.input_length}-letter windows; this model answers "
            "stateful framings fed one letter at a time only (use `alphabet-lstm predict` in the project)"
        )
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
            f'the input needs a string column {INPUT_COLUMN!r} (e.g. "KLM"); got columns {list(queries.columns)}'
        )
    rows = []
    for row, text in enumerate(queries[INPUT_COLUMN].tolist()):
        ranked = top_letters(query_probabilities(weights, spec, query_codes(spec, text, row)), len(RANKED_COLUMNS))
        # Each letter and its probability, in the order of the columns.
        rows.append([value for pair in ranked for value in pair])
    return pd.DataFrame(rows, columns=[name for pair in RANKED_COLUMNS for name in pair])


def read_model(path: str) -> tuple[LSTMWeights, ModelSpec]:
    """The weights and spec of a model the train stage saved (artifacts.save_model's .npz), by numpy alone."""
    with np.load(path, allow_pickle=False) as archive:
        weights = LSTMWeights.from_list([archive[name] for name in LSTMWeights.NAMES])
        metadata = json.loads(archive["metadata.json"])
    return weights, ModelSpec.from_dict(metadata["spec"])


class AlphabetModel(PythonModel):
    """The pyfunc wrapper: loads the .npz weights artifact, predicts with numpy."""

    def load_context(self, context) -> None:
        self.weights, self.spec = read_model(context.artifacts[WEIGHTS_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return predict_frame(self.weights, self.spec, pd.DataFrame(model_input))
