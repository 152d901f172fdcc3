"""Evaluation of a trained model: pure functions over weights, spec and patterns, inputs fed
exactly as the framing was trained (padding, layout, a stateful model's state in order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, VOCABULARY_SIZE, codes_to_letters
from alphabet_lstm.data import all_queries
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, forward, log, ordered_sum, predict

# The query helpers live where the MLflow model can ship them without this module's imports.
from alphabet_lstm.model.querying import encode_runs, next_letter_probabilities
from alphabet_lstm.params import Patterns

# Keras clips probabilities into [1e-7, 1 - 1e-7] before taking the log.
_CLIP = 1e-7
RANDOM_QUERY_COUNT = 20
START_STEPS = 5


def cross_entropy(probabilities: np.ndarray, target_codes: np.ndarray) -> float:
    """Mean categorical cross-entropy, clipped as Keras clips it."""
    chosen = probabilities[np.arange(len(target_codes)), target_codes]
    # lstm.log and an ordered sum, not np.log and np.mean: the same bits on every CPU.
    losses = -log(np.clip(chosen, _CLIP, 1 - _CLIP))
    return float(ordered_sum(losses) / len(losses))


def prediction_table(probabilities: np.ndarray, patterns: Patterns) -> list[dict]:
    """One row per pattern: input letters, expected, predicted, its probability, correct."""
    return [
        {
            "input": codes_to_letters(run),
            "expected": ALPHABET[target],
            "predicted": ALPHABET[code],
            "probability": round(float(row[code]), 6),
            "correct": bool(code == target),
        }
        for run, target, row, code in zip(
            patterns.inputs, patterns.targets, probabilities, probabilities.argmax(axis=1)
        )
    ]


def training_metrics(probabilities: np.ndarray, target_codes: np.ndarray) -> dict:
    """Accuracy and loss of the predicted ``probabilities``, as ``model.evaluate`` reports them."""
    correct = int((probabilities.argmax(axis=1) == target_codes).sum())
    return {
        "accuracy": round(correct / len(target_codes), 6),
        "loss": round(cross_entropy(probabilities, target_codes), 6),
        "correct": correct,
        "patterns": int(len(target_codes)),
    }


def recite(weights: LSTMWeights, spec: ModelSpec, start: Sequence[int], steps: int) -> list[int]:
    """Feed the model its own predictions ``steps`` times after the letters ``start``: a
    stateful model one letter at a time from a reset, a stateless one its last letters."""
    if spec.stateful:
        state = None
        for code in start[:-1]:
            _, state = next_letter_probabilities(weights, spec, [code], state)
        return _fed_back(weights, spec, [start[-1]], steps, state)[0]
    context = list(start)
    for _ in range(steps):
        probabilities, _ = next_letter_probabilities(weights, spec, context[-spec.input_length :])
        context.append(int(probabilities.argmax()))
    return context[len(context) - steps :]


def _fed_back(weights: LSTMWeights, spec: ModelSpec, letters: list[int], steps: int, state) -> list[list[int]]:
    """Each of a stateful model's ``letters`` side by side, each row's predictions fed back
    ``steps`` times: without BLAS, each row is the same arithmetic as alone."""
    predicted: list[list[int]] = [[] for _ in letters]
    for _ in range(steps):
        probabilities, state = forward(weights, encode_runs(spec, [[code] for code in letters]), state)
        letters = [int(code) for code in probabilities.argmax(axis=1)]
        for row, code in zip(predicted, letters):
            row.append(code)
    return predicted


def start_table(weights: LSTMWeights, spec: ModelSpec, *, warm: bool) -> list[dict]:
    """From every letter, a stateful model's next five predictions fed back (as ``recite``):
    cold (from a reset) or warm (after A..the letter before), all 26 in one batch."""
    letters = list(range(VOCABULARY_SIZE))
    state = None
    if warm:
        # Row L starts from the state A..the letter before L leave, fed one at a time.
        states = [(np.zeros((1, spec.units), dtype=np.float32),) * 2]
        for code in letters[:-1]:
            states.append(next_letter_probabilities(weights, spec, [code], states[-1])[1])
        state = tuple(np.concatenate(part) for part in zip(*states))
    table = []
    for letter, predicted in zip(letters, _fed_back(weights, spec, letters, START_STEPS, state)):
        expected = list(range(letter + 1, min(letter + 1 + START_STEPS, VOCABULARY_SIZE)))
        correct = sum(int(p == e) for p, e in zip(predicted, expected))
        accuracy = round(correct / len(expected), 6) if expected else None
        table.append(
            {
                "start": ALPHABET[letter],
                "predicted": codes_to_letters(predicted),
                "expected": codes_to_letters(expected),
                "accuracy": accuracy,
            }
        )
    return table


def query_accuracy(weights: LSTMWeights, spec: ModelSpec, max_len: int) -> dict:
    """Accuracy on every contiguous run of 1..max_len letters that has a next letter."""
    queries = all_queries(max_len)
    right = forward(weights, encode_runs(spec, queries.inputs))[0].argmax(axis=1) == np.asarray(queries.targets)
    lengths = np.asarray([len(run) for run in queries.inputs])
    return {
        "accuracy": round(float(right.mean()), 6),
        "queries": int(len(right)),
        "accuracy_by_length": {
            str(length): round(float(right[lengths == length].mean()), 6) for length in range(1, max_len + 1)
        },
    }


def single_letter_probabilities(weights: LSTMWeights, spec: ModelSpec) -> np.ndarray | None:
    """A 26x26 table: row = input letter (a stateful model from a reset), column = next
    letter; None where the framing takes no single letter (a fixed window)."""
    if not spec.accepts_length(1):
        return None
    return forward(weights, encode_runs(spec, [[code] for code in range(VOCABULARY_SIZE)]))[0]


def random_queries(table: list[dict], seed: int) -> list[dict]:
    """The tutorial's demonstration: 20 rows of a stateless model's prediction table drawn at
    random (without BLAS, each row is the same arithmetic as its pattern alone)."""
    random_state = np.random.RandomState(seed)
    drawn = [table[int(random_state.randint(len(table)))] for _ in range(RANDOM_QUERY_COUNT)]
    return [{key: value for key, value in row.items() if key != "probability"} for row in drawn]


def evaluate(
    weights: LSTMWeights, spec: ModelSpec, patterns: Patterns, inputs: np.ndarray, target_codes: np.ndarray
) -> tuple[dict, list[dict], dict, np.ndarray | None]:
    """Everything the evaluate stage records: metrics, prediction table, details, 26x26 table."""
    # One prediction for the metrics and the table: a stateful framing's is one stream.
    probabilities = predict(weights, spec, inputs)
    metrics = training_metrics(probabilities, target_codes)
    predictions = prediction_table(probabilities, patterns)
    details: dict = {"framing": spec.framing, "seed": spec.seed}
    if spec.stateful:
        chain = recite(weights, spec, [0], VOCABULARY_SIZE - 1)
        details["chain_from_A"] = codes_to_letters([0] + chain)
        details["chain_intact"] = metrics["chain_intact"] = chain == list(range(1, VOCABULARY_SIZE))
        for kind in ("cold", "warm"):
            table = details[f"{kind}_starts"] = start_table(weights, spec, warm=kind == "warm")
            scored = [row["accuracy"] for row in table if row["accuracy"] is not None]
            metrics[f"{kind}_start_accuracy"] = round(float(np.mean(scored)), 6)
        details["cold_start_from_K"] = details["cold_starts"][10]["predicted"]
    else:
        details["random_queries"] = random_queries(predictions, spec.seed)
    if spec.scores_all_queries:
        details["all_queries"] = query_accuracy(weights, spec, spec.input_length)
        metrics["all_queries_accuracy"] = details["all_queries"]["accuracy"]
    return metrics, predictions, details, single_letter_probabilities(weights, spec)
