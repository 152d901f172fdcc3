"""The numpy model against Keras: same weights, same predictions, stateless and stateful."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import spec_for

from alphabet_lstm.alphabet import encode_patterns
from alphabet_lstm.model.lstm import (
    LSTMWeights,
    ModelSpec,
    forward,
    initial_weights,
    predict,
    predict_in_streams,
)
from alphabet_lstm.params import prefix_patterns, sliding_patterns, variable_length_patterns

TOLERANCE = 1e-5


def random_weights(*, features: int, units: int, seed: int) -> LSTMWeights:
    """Weights large enough that every gate and the bias matter (unlike a fresh model)."""
    rng = np.random.default_rng(seed)
    shapes = [(features, 4 * units), (units, 4 * units), (4 * units,), (units, 26), (26,)]
    return LSTMWeights.from_list([rng.normal(0.0, 0.6, size=shape) for shape in shapes])


def keras_model_with(engine, weights: LSTMWeights, *, timesteps: int, features: int, stateful=False, batch_size=1):
    units = weights.recurrent_kernel.shape[0]
    model = engine.build_keras_model(
        input_shape=(timesteps, features), units=units, stateful=stateful, batch_size=batch_size
    )
    model.set_weights(weights.as_list())
    return model


def keras_answer(model, inputs: np.ndarray) -> np.ndarray:
    """The model called on one batch, as predict would (eager: no graph to build per model)."""
    return np.asarray(model(inputs, training=False))


def encoded(patterns, layout: str, length: int) -> np.ndarray:
    return encode_patterns(patterns.inputs, patterns.targets, layout=layout, input_length=length).inputs


@pytest.mark.parametrize(
    "name, inputs_of",
    [
        ("timesteps, 3 steps", lambda: encoded(sliding_patterns(3), "timesteps", 3)),
        ("features, 3 features", lambda: encoded(sliding_patterns(3), "features", 3)),
        ("padded to 5 steps", lambda: encoded(variable_length_patterns(200, 5, 7), "timesteps", 5)),
        ("padded to 25 steps", lambda: encoded(prefix_patterns(), "timesteps", 25)),
    ],
)
def test_forward_matches_keras(keras_engine, name, inputs_of):
    inputs = inputs_of()
    _, timesteps, features = inputs.shape
    weights = random_weights(features=features, units=7, seed=timesteps * 10 + features)
    model = keras_model_with(keras_engine, weights, timesteps=timesteps, features=features)
    expected = keras_answer(model, inputs)
    ours, _ = forward(weights, inputs)
    assert ours.shape == expected.shape == (len(inputs), 26)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)
    # The predictions differ from pattern to pattern far beyond the tolerance.
    assert np.abs(ours - ours[0]).max() > 100 * TOLERANCE


@pytest.mark.parametrize("batch_size", [1, 5])
def test_streaming_prediction_matches_a_stateful_keras_model(keras_engine, batch_size):
    inputs = encoded(sliding_patterns(1), "timesteps", 1)
    weights = random_weights(features=1, units=9, seed=batch_size)
    model = keras_model_with(keras_engine, weights, timesteps=1, features=1, stateful=True, batch_size=batch_size)
    expected = np.concatenate(
        [keras_answer(model, inputs[start : start + batch_size]) for start in range(0, len(inputs), batch_size)]
    )
    ours = predict_in_streams(weights, inputs, batch_size)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=TOLERANCE)
    # Carried state matters: a stateless pass over the same inputs answers differently.
    assert not np.allclose(ours[batch_size:], forward(weights, inputs)[0][batch_size:], atol=1e-3)
    # After a reset Keras starts from zero again, as a fresh stream does.
    model.layers[1].reset_state()
    again = keras_answer(model, inputs[:batch_size])
    np.testing.assert_allclose(again, ours[:batch_size], rtol=0, atol=TOLERANCE)


def test_predict_follows_the_spec(keras_engine):
    inputs = encoded(sliding_patterns(1), "timesteps", 1)
    weights = random_weights(features=1, units=6, seed=3)
    spec = spec_for("stateful", units=6, stateful=True)
    np.testing.assert_array_equal(predict(weights, spec, inputs), predict_in_streams(weights, inputs, 1))
    stateless = ModelSpec(**{**spec.to_dict(), "stateful": False})
    np.testing.assert_array_equal(predict(weights, stateless, inputs), forward(weights, inputs)[0])


def test_a_last_partial_batch_continues_only_the_streams_it_feeds():
    inputs = encoded(sliding_patterns(1), "timesteps", 1)
    weights = random_weights(features=1, units=4, seed=0)
    # Rows 5 and 6 continue streams 0 and 1, as they do when the second batch is whole.
    np.testing.assert_array_equal(
        predict_in_streams(weights, inputs[:7], 5), predict_in_streams(weights, inputs[:10], 5)[:7]
    )


def test_forward_continues_from_a_given_state():
    inputs = encoded(variable_length_patterns(30, 5, 7), "timesteps", 5)
    weights = random_weights(features=1, units=5, seed=11)
    whole, (hidden, cell) = forward(weights, inputs)
    _, state = forward(weights, inputs[:, :2])
    rest, (hidden_rest, cell_rest) = forward(weights, inputs[:, 2:], state)
    np.testing.assert_allclose(rest, whole, atol=1e-6)
    np.testing.assert_allclose(hidden_rest, hidden, atol=1e-6)
    np.testing.assert_allclose(cell_rest, cell, atol=1e-6)


def test_initial_weights_fit_keras_and_follow_its_initializers(keras_engine):
    weights = initial_weights(features=3, units=8, seed=7)
    model = keras_model_with(keras_engine, weights, timesteps=1, features=3)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights.as_list()]
    round_trip = LSTMWeights.from_list(model.get_weights())
    for ours, theirs in zip(weights.as_list(), round_trip.as_list()):
        np.testing.assert_array_equal(ours, theirs)
    assert all(array.dtype == np.float32 for array in weights.as_list())
    # Glorot-uniform kernels, an orthogonal recurrent kernel, forget-gate bias 1.
    assert np.abs(weights.kernel).max() <= np.sqrt(6 / (3 + 32))
    assert np.abs(weights.dense_kernel).max() <= np.sqrt(6 / (8 + 26))
    np.testing.assert_allclose(weights.recurrent_kernel @ weights.recurrent_kernel.T, np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(weights.bias, np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
    np.testing.assert_array_equal(weights.dense_bias, np.zeros(26))


def test_initial_weights_are_reproducible_from_the_seed():
    first = initial_weights(features=1, units=4, seed=7)
    second = initial_weights(features=1, units=4, seed=7)
    other = initial_weights(features=1, units=4, seed=8)
    for a, b in zip(first.as_list(), second.as_list()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.kernel, other.kernel)


def test_spec_round_trips_and_knows_its_input_shape():
    spec = spec_for("window_features", units=32, layout="features", input_length=3, shortest_query=3)
    assert (spec.timesteps, spec.features) == (1, 3)
    assert ModelSpec.from_dict({**spec.to_dict(), "unknown": 1}) == spec
    timesteps = ModelSpec(**{**spec.to_dict(), "layout": "timesteps"})
    assert (timesteps.timesteps, timesteps.features) == (3, 1)
