"""Asking a trained model for the next letter, fed the way it was evaluated. numpy and the
forward pass only: the MLflow model ships this module (tracking/shipped.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, pad_left, shape_inputs
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, forward, predict_in_streams


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
    """Probabilities of the next letter: a stateless model takes the letters as one padded
    input; a stateful one as evaluated, from a reset, ``batch_size`` streams side by side
    (letter i in stream i mod batch_size), so A..K gets evaluation's answer for K."""
    if not spec.stateful:
        return next_letter_probabilities(weights, spec, codes)[0]
    return predict_in_streams(weights, encode_runs(spec, [[code] for code in codes]), spec.batch_size)[-1]
