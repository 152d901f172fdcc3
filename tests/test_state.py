"""model/state.py and report/state_views.py: the LSTM state traced step by step (issue 14).

The trace must be the forward pass evaluation runs, bit for bit; the views' numbers are
checked on hand-made models whose states are known without running them.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import VENV_BIN, pipeline_env
from conftest import spec_for as shared_spec_for

from alphabet_lstm.alphabet import ALPHABET, VOCABULARY_SIZE
from alphabet_lstm.evaluation import encode_runs, next_letter_probabilities
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, forward, initial_weights, tanh
from alphabet_lstm.model.state import PAD_LABEL, StateTrace, distance, principal_components, trace
from alphabet_lstm.report import state_section
from alphabet_lstm.report.state_views import input_aliases, padding_view, stateful_view, window_view

SEED = 7


def spec_for(framing: str, **overrides) -> ModelSpec:
    """conftest's spec, with six units unless told: enough for a state worth projecting."""
    return shared_spec_for(framing, **{"units": 6, **overrides})


STATEFUL = spec_for("stateful", stateful=True)
WINDOW_TIMESTEPS = spec_for("window_timesteps", input_length=3, shortest_query=3)
WINDOW_FEATURES = spec_for("window_features", input_length=3, layout="features", shortest_query=3)
VARIABLE_LENGTH = spec_for("variable_length", input_length=5, scores_all_queries=True)
PREFIX_PADDED = spec_for("prefix_padded", input_length=25, scores_all_queries=True)


def random_model(spec: ModelSpec) -> LSTMWeights:
    """Keras-initialised weights: an untrained but generic model."""
    return initial_weights(features=spec.features, units=spec.units, seed=SEED)


def one_unit(spec: ModelSpec, *, input_weight: float, constant: float, forget_bias: float) -> LSTMWeights:
    """One unit, input and output gates open, candidate tanh(input_weight * x + constant)."""
    kernel = np.zeros((spec.features, 4), dtype=np.float32)
    kernel[-1, 2] = input_weight
    dense = np.zeros((1, VOCABULARY_SIZE))
    dense[0, 1] = 10.0  # reads B when h > 0, A when h is 0
    return LSTMWeights.from_list(
        [
            kernel,
            np.zeros((1, 4)),
            np.array([20.0, forget_bias, constant, 20.0]),
            dense,
            np.zeros(VOCABULARY_SIZE),
        ]
    )


# --------------------------------------------------------------------------- trace


def test_stateful_trace_is_evaluations_forward_pass_letter_by_letter():
    weights = random_model(STATEFUL)
    traced = trace(weights, STATEFUL, ALPHABET)
    assert traced.labels == tuple(ALPHABET) and traced.letter_index == tuple(range(26))
    assert traced.hidden.shape == traced.cell.shape == traced.forget_gate.shape == (26, STATEFUL.units)
    state = None
    for step in range(26):
        probabilities, state = next_letter_probabilities(weights, STATEFUL, [step], state)
        assert np.array_equal(traced.hidden[step], state[0][0])
        assert np.array_equal(traced.cell[step], state[1][0])
        assert np.array_equal(traced.probabilities[step], probabilities)


@pytest.mark.parametrize(
    "spec", [WINDOW_TIMESTEPS, WINDOW_FEATURES, VARIABLE_LENGTH, PREFIX_PADDED], ids=lambda s: s.framing
)
def test_stateless_trace_ends_in_the_state_and_answer_of_the_forward_pass(spec: ModelSpec):
    weights = random_model(spec)
    traced = trace(weights, spec, "KLM")
    probabilities, (hidden, cell) = forward(weights, encode_runs(spec, [[10, 11, 12]]))
    assert np.array_equal(traced.hidden[-1], hidden[0]) and np.array_equal(traced.cell[-1], cell[0])
    assert np.array_equal(traced.probabilities[-1], probabilities[0])
    assert traced.steps == spec.timesteps


def test_labels_name_padding_letters_and_a_window_of_features():
    weights = random_model(VARIABLE_LENGTH)
    padded = trace(weights, VARIABLE_LENGTH, "abc")
    assert padded.labels == (PAD_LABEL, PAD_LABEL, "A", "B", "C")
    assert padded.letter_index == (-1, -1, 0, 1, 2)
    # The encoding is the project's: padding is 0 and so is A; B is 1/26.
    assert padded.inputs[:, 0].tolist() == [0.0, 0.0, 0.0, np.float32(1 / 26), np.float32(2 / 26)]
    window = trace(random_model(WINDOW_FEATURES), WINDOW_FEATURES, "KLM")
    assert window.labels == ("KLM",) and window.inputs.shape == (1, 3)


def test_gates_and_states_obey_the_lstm_equations():
    weights = random_model(STATEFUL)
    traced = trace(weights, STATEFUL, "HELLO")
    previous = np.zeros(STATEFUL.units, dtype=np.float32)
    for step in range(traced.steps):
        cell = traced.forget_gate[step] * previous + traced.input_gate[step] * traced.candidate[step]
        assert np.array_equal(traced.cell[step], cell)
        assert np.array_equal(traced.hidden[step], traced.output_gate[step] * tanh(cell))
        previous = traced.cell[step]
    for name in StateTrace.GATES:
        values = getattr(traced, name)
        assert values.dtype == np.float32 and np.all(np.abs(values) <= 1.0)


@pytest.mark.parametrize(
    "spec, letters, message",
    [
        (STATEFUL, "", "the query is empty"),
        (VARIABLE_LENGTH, "ABCDEF", "takes 1 to 5 letters; got 6"),
        (STATEFUL, "A1", "character '1' at position 2"),
    ],
)
def test_bad_letters_are_refused(spec, letters, message):
    with pytest.raises(ValueError, match=message):
        trace(random_model(spec), spec, letters)


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("shape", [(26, 50), (40, 5)], ids=["gram", "covariance"])
def test_principal_components_match_lapack_up_to_rounding(shape):
    rng = np.random.default_rng(3)
    states = rng.normal(size=shape) * np.linspace(3.0, 0.2, shape[1])
    projection = principal_components(states)
    values, vectors = np.linalg.eigh(np.cov(states.T))
    assert projection.explained == pytest.approx(values[::-1][:2] / values.sum(), abs=1e-12)
    assert np.abs(projection.components) == pytest.approx(np.abs(vectors[:, ::-1][:, :2].T), abs=1e-10)
    # Each component's sign is fixed: its largest entry is positive.
    assert all(row[np.argmax(np.abs(row))] > 0 for row in projection.components)


def test_states_on_a_line_project_onto_one_component():
    direction = np.array([3.0, 4.0, 0.0, 0.0])
    states = np.outer(np.arange(5.0), direction) + 1.0
    projection = principal_components(states)
    assert projection.explained[0] == pytest.approx(1.0)
    assert projection.project(states)[:, 0] == pytest.approx(5.0 * (np.arange(5.0) - 2.0))
    assert distance(states[0], states[4]) == 20.0


@pytest.mark.pipeline
def test_the_state_modules_import_no_tensorflow_numba_or_mlflow():
    check = (
        "import sys, alphabet_lstm.model.state, alphabet_lstm.report.state_views; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'mlflow', 'numba', 'pandas'}))"
    )
    result = subprocess.run([str(VENV_BIN / "python"), "-c", check], env=pipeline_env(), capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


# --------------------------------------------------------------------------- views and sentences


def test_a_model_that_ignores_letters_puts_the_cold_k_on_the_state_after_a():
    # The candidate does not depend on the input: after one letter, any letter, the state
    # is the same, so the cold K is exactly the state after A and answers as A does.
    spec = spec_for("stateful", stateful=True, units=1)
    numbers = stateful_view(one_unit(spec, input_weight=0.0, constant=0.5, forget_bias=20.0), spec).numbers()
    assert numbers["cold_K_to_after_A"] == 0.0 and numbers["nearest_to_cold_K"] == "A"
    assert numbers["cold_K_to_warm_K"] > 0.0
    sentence = state_section.stateful_sentence(numbers)
    assert sentence.startswith("Right after a reset, K leaves h at a distance of 0.000 from the state after A")
    assert "so the cold K sits next to the after-A state and answers as A does" in sentence


def test_a_model_without_memory_puts_the_cold_k_on_the_warm_k():
    # The forget gate is shut: the state holds only the last letter, so cold and warm K agree.
    spec = spec_for("stateful", stateful=True, units=1)
    numbers = stateful_view(one_unit(spec, input_weight=2.0, constant=-1.0, forget_bias=-20.0), spec).numbers()
    assert numbers["cold_K_to_warm_K"] == 0.0 and numbers["nearest_to_cold_K"] == "K"
    assert numbers["cold_K_answer"] == numbers["warm_K_answer"]
    assert "so the cold K is not next to the after-A state" in state_section.stateful_sentence(numbers)


def test_the_stateful_view_is_the_trajectory_on_its_two_leading_principal_axes():
    spec = spec_for("stateful", stateful=True, units=50)
    view = stateful_view(random_model(spec), spec)
    # A second implementation: LAPACK's SVD of the centred states (axes up to their sign).
    hidden = view.trajectory.hidden.astype(np.float64)
    centred = hidden - hidden.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ axes[:2].T
    signs = np.sign((view.points * expected).sum(axis=0))
    np.testing.assert_allclose(view.points * signs, expected, atol=1e-9)
    cold = (view.cold.hidden[-1] - hidden.mean(axis=0)) @ axes[:2].T
    np.testing.assert_allclose(view.cold_point * signs, cold, atol=1e-9)


def test_window_views_count_right_answers_per_step():
    view = window_view(random_model(WINDOW_TIMESTEPS), WINDOW_TIMESTEPS)
    assert view.hidden.shape == (23, 3, WINDOW_TIMESTEPS.units) and view.windows[0] == "ABC" and view.targets[0] == "D"
    numbers = view.numbers()
    assert numbers["steps"] == 3 and len(numbers["correct_after_step"]) == 3 and len(numbers["mean_move_per_step"]) == 2
    features = window_view(random_model(WINDOW_FEATURES), WINDOW_FEATURES)
    assert features.hidden.shape == (23, 1, WINDOW_FEATURES.units)
    sentence = state_section.window_sentence([view, features])
    assert sentence.startswith("Read from h after step 1, 2 and 3, `window_timesteps` names the right next letter for ")
    assert (
        f"`window_features`, which takes the 3 letters in one step, names it for "
        f"{features.correct_after_step()[0]} of the 23 windows." in sentence
    )


@pytest.mark.parametrize(
    "spec, queries, aliased", [(VARIABLE_LENGTH, 115, 4), (PREFIX_PADDED, 325, 24)], ids=["5", "25"]
)
def test_padding_and_a_are_one_input_and_no_query_is_ambiguous(spec, queries, aliased):
    # Every run that starts with A reads as the run without it; both want the same letter.
    assert input_aliases(spec) == (queries, aliased, 0)
    numbers = padding_view(random_model(spec), spec).numbers()
    assert numbers["pad_vs_A_distance"] == 0.0
    assert numbers["answer_ABC"] == numbers["answer_BC"]
    sentence = state_section.padding_sentence(padding_view(random_model(spec), spec))
    assert f"`{spec.framing}`: after the A of `ABC`, h is 0.0000 from h after the same step of `BC`" in sentence
    assert f"{aliased} of the {queries} queries" in sentence and "the shared 0 alone explains no failure" in sentence
