"""The numbers behind the LSTM-state figures, three views of one model's traces
(docs/understanding-state.md): the stateful A..Z path and the cold K, a 3-letter window as
time steps or features, zero-padding against A. Each view's ``numbers()`` feeds the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphabet_lstm.alphabet import ALPHABET, codes_to_letters, pad_left, shape_inputs
from alphabet_lstm.data import all_queries
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec
from alphabet_lstm.model.state import Projection, StateTrace, distance, principal_components, trace
from alphabet_lstm.params import sliding_patterns

# The tutorial's cold-start example: K right after a reset.
COLD_LETTER = "K"
# The same letter reached warm, after A..J: its place on the A..Z path.
WARM_INDEX = ALPHABET.index(COLD_LETTER)
# The padded query whose steps are shown: A..C, so the A step sits right after the padding.
PADDED_QUERY = "ABC"
WINDOW_LENGTH = 3
DIGITS = 6


def _letter(probabilities: np.ndarray) -> str:
    return ALPHABET[int(np.argmax(probabilities))]


def _rounded(value: float | np.floating) -> float:
    return round(float(value), DIGITS)


@dataclass(frozen=True)
class StatefulView:
    """A stateful model fed A..Z from a reset, and K alone from a reset."""

    framing: str
    seed: int
    trajectory: StateTrace  # A, B, ..., Z from a reset: one step per letter
    cold: StateTrace  # K from a reset
    projection: Projection  # fitted on the 26 trajectory states
    points: np.ndarray  # (26, 2): the trajectory in the projection
    cold_point: np.ndarray  # (2,)

    def distances_from_cold(self) -> np.ndarray:
        """Distance in h from the cold-K state to the state after each letter of A..Z."""
        return np.array([distance(self.cold.hidden[-1], hidden) for hidden in self.trajectory.hidden])

    def numbers(self) -> dict:
        distances = self.distances_from_cold()
        nearest = int(np.argmin(distances))
        steps = [distance(a, b) for a, b in zip(self.trajectory.hidden[:-1], self.trajectory.hidden[1:])]
        return {
            "seed": self.seed,
            "cold_K_to_after_A": _rounded(distances[0]),
            "cold_K_to_warm_K": _rounded(distances[WARM_INDEX]),
            "nearest_to_cold_K": ALPHABET[nearest],
            "nearest_distance": _rounded(distances[nearest]),
            "mean_step": _rounded(np.mean(steps)),
            "cold_K_answer": _letter(self.cold.probabilities[-1]),
            "warm_K_answer": _letter(self.trajectory.probabilities[WARM_INDEX]),
            "after_A_answer": _letter(self.trajectory.probabilities[0]),
            "explained_variance": [_rounded(value) for value in self.projection.explained],
        }


def stateful_view(weights: LSTMWeights, spec: ModelSpec) -> StatefulView:
    trajectory = trace(weights, spec, ALPHABET)
    cold = trace(weights, spec, COLD_LETTER)
    projection = principal_components(trajectory.hidden)
    return StatefulView(
        framing=spec.framing,
        seed=spec.seed,
        trajectory=trajectory,
        cold=cold,
        projection=projection,
        points=projection.project(trajectory.hidden),
        cold_point=projection.project(cold.hidden[-1:])[0],
    )


@dataclass(frozen=True)
class WindowView:
    """One window framing over every training window (ABC->D ... WXY->Z): h after each time
    step (windows, steps, units) and the letter read from it (windows, steps)."""

    framing: str
    seed: int
    windows: tuple[str, ...]
    targets: tuple[str, ...]
    hidden: np.ndarray
    answers: tuple[tuple[str, ...], ...]

    @property
    def steps(self) -> int:
        return self.hidden.shape[1]

    def correct_after_step(self) -> list[int]:
        """Windows whose next letter is read from h after step 1, 2, ..."""
        return (np.array(self.answers) == np.array(self.targets)[:, np.newaxis]).sum(axis=0).tolist()

    def numbers(self) -> dict:
        moves = [np.mean([distance(h[step], h[step - 1]) for h in self.hidden]) for step in range(1, self.steps)]
        return {
            "seed": self.seed,
            "windows": len(self.windows),
            "steps": self.steps,
            "correct_after_step": self.correct_after_step(),
            "mean_move_per_step": [_rounded(move) for move in moves],
        }


def window_view(weights: LSTMWeights, spec: ModelSpec) -> WindowView:
    patterns = sliding_patterns(WINDOW_LENGTH)
    traces = [trace(weights, spec, run) for run in patterns.inputs]
    return WindowView(
        framing=spec.framing,
        seed=spec.seed,
        windows=tuple(codes_to_letters(run) for run in patterns.inputs),
        targets=tuple(codes_to_letters(patterns.targets)),
        hidden=np.stack([item.hidden for item in traces]),
        answers=tuple(tuple(_letter(row) for row in item.probabilities) for item in traces),
    )


@dataclass(frozen=True)
class PaddingView:
    """A padded framing on ``ABC`` and on ``BC``: the A step of one is a pad step of the other."""

    framing: str
    seed: int
    query: StateTrace  # ABC, left-padded
    twin: StateTrace  # BC, left-padded: one pad more where ABC has its A

    @property
    def a_step(self) -> int:
        return self.query.labels.index("A")

    def step_moves(self) -> np.ndarray:
        """How far h moves at each step: |h_t - h_(t-1)|, from zeros at the first step."""
        previous = np.vstack([np.zeros((1, self.query.units)), self.query.hidden[:-1]])
        return np.array([distance(a, b) for a, b in zip(self.query.hidden, previous)])

    def numbers(self) -> dict:
        moves = self.step_moves()
        a_step = self.a_step
        queries, aliased, ambiguous = input_aliases(self.query.spec)
        return {
            "seed": self.seed,
            "pad_vs_A_distance": _rounded(distance(self.query.hidden[a_step], self.twin.hidden[a_step])),
            "A_step_move": _rounded(moves[a_step]),
            "pad_step_move": _rounded(moves[a_step - 1]) if a_step > 0 else None,
            # How full the cell is when the letters start, and how far the last letter still
            # moves h: a long run of padding can saturate the state before any letter.
            "cell_norm_at_A": _rounded(distance(self.query.cell[a_step], np.zeros(self.query.units))),
            "last_step_move": _rounded(moves[-1]),
            "answer_ABC": _letter(self.query.probabilities[-1]),
            "answer_BC": _letter(self.twin.probabilities[-1]),
            "queries": queries,
            "aliased_queries": aliased,
            "ambiguous_queries": ambiguous,
        }


def input_aliases(spec: ModelSpec) -> tuple[int, int, int]:
    """(queries, aliased, ambiguous) over every run of 1..L letters with a next letter:
    aliased when its encoded input equals a shorter query's (a leading A looks like padding),
    ambiguous when the two also want different next letters."""
    queries = all_queries(spec.input_length)
    inputs = shape_inputs(pad_left(queries.inputs, spec.input_length), spec.layout)
    # all_queries lists shorter runs first, so an input's first holder is the shortest query.
    _, first, holder = np.unique(inputs.reshape(len(inputs), -1), axis=0, return_index=True, return_inverse=True)
    targets = np.asarray(queries.targets)
    ambiguous = int((targets != targets[first[holder.ravel()]]).sum())
    return len(targets), len(targets) - len(first), ambiguous


def padding_view(weights: LSTMWeights, spec: ModelSpec) -> PaddingView:
    return PaddingView(
        framing=spec.framing,
        seed=spec.seed,
        query=trace(weights, spec, PADDED_QUERY),
        twin=trace(weights, spec, PADDED_QUERY[1:]),
    )


def takes_padding(spec: ModelSpec) -> bool:
    """Framings trained on left-padded runs of several lengths, laid out as time steps."""
    return (
        not spec.stateful
        and spec.shortest_query < spec.input_length
        and spec.layout == "timesteps"
        and spec.input_length >= len(PADDED_QUERY) + 1
    )


def is_window(spec: ModelSpec) -> bool:
    """A stateless model that takes exactly a 3-letter window."""
    return not spec.stateful and spec.shortest_query == spec.input_length == WINDOW_LENGTH
