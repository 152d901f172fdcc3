"""What an LSTM carries from step to step: h, c and the four gates at every time step,
traced with evaluation's own step; distances and a principal-component projection (a Jacobi
eigensolver, not LAPACK) that give the same bits on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, dense_softmax, lstm_step, ordered_sum
from alphabet_lstm.model.querying import encode_runs

PAD_LABEL = "pad"


@dataclass(frozen=True)
class StateTrace:
    """The state of one model at every time step of one input, each array (steps, units).

    ``labels`` names what each step was fed: a letter, ``pad``, or a window as one step's
    features (``_`` a padded place); ``letter_index`` its position in the fed letters (-1:
    padding); ``probabilities`` (steps, 26) the softmax of each step's h (the answer: the last).
    """

    spec: ModelSpec
    letters: tuple[int, ...]
    labels: tuple[str, ...]
    letter_index: tuple[int, ...]
    inputs: np.ndarray  # (steps, features), as encoded for the model
    hidden: np.ndarray
    cell: np.ndarray
    input_gate: np.ndarray
    forget_gate: np.ndarray
    candidate: np.ndarray
    output_gate: np.ndarray
    probabilities: np.ndarray

    GATES = ("input_gate", "forget_gate", "candidate", "output_gate")

    @property
    def steps(self) -> int:
        return len(self.labels)

    @property
    def units(self) -> int:
        return self.hidden.shape[1]


def trace(weights: LSTMWeights, spec: ModelSpec, letters: str | Sequence[int]) -> StateTrace:
    """h, c and the gate activations at every time step of ``letters`` (a string, checked as
    a query, or codes already checked): a stateful model fed them one at a time from a
    reset, a stateless one as one left-padded query."""
    codes = spec.query_codes(letters) if isinstance(letters, str) else [int(code) for code in letters]
    queries = [[code] for code in codes] if spec.stateful else [codes]
    labels: list[str] = []
    letter_index: list[int] = []
    for number, query in enumerate(queries):
        pads = spec.input_length - len(query)
        fed = [ALPHABET[code] for code in query]
        positions = [-1] * pads + list(range(number, number + len(query)))
        if spec.layout == "features":
            labels.append("_" * pads + "".join(fed))
            letter_index.append(positions[-1])
        else:
            labels += [PAD_LABEL] * pads + fed
            letter_index += positions
    inputs = encode_runs(spec, queries).reshape(-1, spec.features)
    hidden = cell = np.zeros((1, spec.units), dtype=np.float32)
    recorded = []
    for step_input in inputs:
        hidden, cell, gates = lstm_step(weights, step_input[None], hidden, cell)
        recorded.append((hidden, cell, *gates))
    arrays = dict(zip(("hidden", "cell", *StateTrace.GATES), map(np.concatenate, zip(*recorded))))
    return StateTrace(
        spec=spec,
        letters=tuple(codes),
        labels=tuple(labels),
        letter_index=tuple(letter_index),
        inputs=inputs,
        probabilities=dense_softmax(weights, arrays["hidden"]),
        **arrays,
    )


def distance(first: np.ndarray, second: np.ndarray) -> float:
    """Euclidean distance between two states, in float64, summed in unit order."""
    difference = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    return float(np.sqrt(ordered_sum(difference * difference)))


def norm(vector: np.ndarray) -> float:
    return distance(vector, np.zeros_like(np.asarray(vector, dtype=np.float64)))


def _symmetric_eigen(matrix: np.ndarray, sweeps: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns, largest entry positive) of a
    symmetric matrix, by cyclic Jacobi rotations (+ - * / sqrt only) in a fixed order."""
    a = np.array(matrix, dtype=np.float64)
    size = a.shape[0]
    vectors = np.eye(size)
    for _ in range(sweeps):
        rotated = False
        for p in range(size - 1):
            for q in range(p + 1, size):
                apq = a[p, q]
                # Below the last bit of both diagonal entries (Numerical Recipes' test):
                # zeroed, not rotated; a sweep that rotates nothing ends the loop.
                guard = 100.0 * abs(apq)
                if abs(a[p, p]) + guard == abs(a[p, p]) and abs(a[q, q]) + guard == abs(a[q, q]):
                    a[p, q] = a[q, p] = 0.0
                    continue
                rotated = True
                theta = (a[q, q] - a[p, p]) / (2.0 * apq)
                t = (1.0 if theta >= 0.0 else -1.0) / (abs(theta) + np.sqrt(theta * theta + 1.0))
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                # Rows p and q of a, then its columns, then the eigenvectors' columns.
                a[p, :], a[q, :] = c * a[p, :] - s * a[q, :], s * a[p, :] + c * a[q, :]
                a[:, p], a[:, q] = c * a[:, p] - s * a[:, q], s * a[:, p] + c * a[:, q]
                a[p, q] = a[q, p] = 0.0
                vectors[:, p], vectors[:, q] = (
                    c * vectors[:, p] - s * vectors[:, q],
                    s * vectors[:, p] + c * vectors[:, q],
                )
        if not rotated:
            break
    values = np.diag(a).copy()
    order = np.argsort(-values, kind="stable")
    return values[order], _largest_positive(vectors[:, order].T).T


def _largest_positive(rows: np.ndarray) -> np.ndarray:
    """The rows, each negated where its largest-magnitude entry is negative."""
    largest = rows[np.arange(len(rows)), np.argmax(np.abs(rows), axis=1)]
    return np.where(largest[:, None] < 0.0, -rows, rows)


@dataclass(frozen=True)
class Projection:
    """A principal-component projection fitted on some states (rows)."""

    mean: np.ndarray  # (units,)
    components: np.ndarray  # (count, units), unit rows
    explained: np.ndarray  # (count,), fraction of the fitted states' total variance

    def project(self, states: np.ndarray) -> np.ndarray:
        """Coordinates (n, count) of states (n, units), sums in unit order."""
        centred = np.asarray(states, dtype=np.float64).reshape(-1, self.mean.shape[0]) - self.mean
        return np.stack([ordered_sum(centred * component, axis=1) for component in self.components], axis=1)


def principal_components(states: np.ndarray, count: int = 2) -> Projection:
    """The ``count`` leading principal components of states (n, units), decomposing the
    smaller of the covariance and the Gram matrix (the same nonzero eigenvalues)."""
    data = np.asarray(states, dtype=np.float64)
    samples, units = data.shape
    mean = ordered_sum(data, axis=0) / samples
    centred = data - mean
    count = min(count, units, samples - 1)
    if samples < units:
        gram = ordered_sum(centred[:, None, :] * centred[None, :, :], axis=2) / (samples - 1)
        values, vectors = _symmetric_eigen(gram)
        # v = X^T u / |X^T u|: the unit direction in state space of each leading component.
        directions = ordered_sum(centred[:, None, :] * vectors[:, :count, None], axis=0)
        lengths = np.sqrt(ordered_sum(directions * directions, axis=1))
        components = _largest_positive(directions / np.where(lengths > 0.0, lengths, 1.0)[:, None])
    else:
        covariance = ordered_sum(centred[:, :, None] * centred[:, None, :], axis=0) / (samples - 1)
        values, vectors = _symmetric_eigen(covariance)
        components = vectors[:, :count].T.copy()
    values = np.where(values < 0.0, 0.0, values)  # rounding can leave -1e-17 for a zero
    total = ordered_sum(values)
    explained = values[:count] / total if total > 0.0 else np.zeros(count)
    return Projection(mean=mean, components=components, explained=explained)
