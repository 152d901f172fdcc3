"""Asking a trained model for the next letter: one query, fed the way the model was evaluated.

numpy and the model's forward pass only (no params, pydantic or file formats): the MLflow
model ships this module with the weights, so whoever loads it needs nothing of this project
installed (tracking/shipped.py lists what travels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, pad_left, shape_inputs
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, forward


def encode_runs(spec: ModelSpec, runs: Sequence[Sequence[int]]) -> np.ndarray:
    """Code runs shaped for this model: left-padded to its input length, in its layout."""
    return shape_inputs(pad_left(runs, spec.input_length), spec.layout)


def next_letter_probabilities(
    weights: LSTMWeights, spec: ModelSpec, letters: Sequence[int], state=None
) -> tuple[np.ndarray, tuple]:
    """Probabilities of the letter after ``letters`` (stateless: one padded query)."""
    probabilities, state = forward(weights, encode_runs(spec, [letters]), state)
    return probabilities[0], state


def top_letters(probabilities: np.ndarray, count: int = 3) -> list[tuple[str, float]]:
    """The ``count`` most probable letters, highest first; ties in alphabet order."""
    order = np.argsort(-probabilities, kind="stable")[:count]
    return [(ALPHABET[int(code)], float(probabilities[code])) for code in order]


def query_probabilities(weights: LSTMWeights, spec: ModelSpec, codes: Sequence[int]) -> np.ndarray:
    """Probabilities of the next letter; a stateless model takes the letters as one
    left-padded input.

    A stateful model takes them as it was trained and evaluated: from a reset state,
    ``batch_size`` streams side by side, letter i going to stream i mod batch_size (each
    batch continues the state of the one before). At batch size 1 that is one letter at a
    time. The query A..K thus gets exactly the answer evaluation computed for the pattern K
    (model/lstm.py, predict_in_streams), row by row the same arithmetic.
    """
    if not spec.stateful:
        return next_letter_probabilities(weights, spec, codes)[0]
    streams = spec.batch_size
    state: tuple[np.ndarray, np.ndarray] | None = None
    probabilities = np.zeros((0, 0))
    for start in range(0, len(codes), streams):
        batch = [[code] for code in codes[start : start + streams]]
        if state is not None and len(batch) < streams:
            # A last, partial batch: only the streams it feeds.
            state = (state[0][: len(batch)], state[1][: len(batch)])
        probabilities, state = forward(weights, encode_runs(spec, batch), state)
    return probabilities[-1]
