"""The fast engine against Keras itself: same initial weights, same batches, same updates.

Each case starts both engines from one set of weights (``model.initial_weights``, set
into the Keras model with ``set_weights``), trains without shuffling so both see the same
ordered batches, and compares every weight array afterwards: tightly after one update,
a little more loosely after tens or hundreds of updates (float32 rounding, amplified
where Adam divides a tiny first moment by the square root of a tiny second moment).
The Keras side is the faithful engine itself (``engine_keras.train_keras``: ``model.fit``
with ``shuffle=False``; stateful: one ``fit`` per epoch, then the LSTM layer's ``reset_state``).
Keras is the reference: a mismatch is a bug in ``engine_fast``.

Measured differences (Keras 3.15, TensorFlow 2.21, CPU): about 1e-7 after one update,
at most 1.1e-6 after 20-50 updates and about 3e-6 after 300; the tolerances leave about 10x.

Keras is imported once for the module (the import takes about 10 s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from alphabet_lstm.alphabet import EncodedDataset, encode_patterns
from alphabet_lstm.model import engine_fast, training
from alphabet_lstm.model.lstm import LSTMWeights, initial_weights
from alphabet_lstm.params import sliding_patterns, variable_length_patterns

ONE_UPDATE_ATOL = 1e-6
MANY_UPDATES_ATOL = 1e-5
LONG_RUN_ATOL = 5e-5

# TensorFlow's import and Keras' training take a minute over the module: not the unit tier.
pytestmark = pytest.mark.slow


def sliding(seq_length: int, layout: str) -> EncodedDataset:
    patterns = sliding_patterns(seq_length)
    return encode_patterns(patterns.inputs, patterns.targets, layout=layout, input_length=seq_length)


def variable_length(samples: int) -> EncodedDataset:
    patterns = variable_length_patterns(samples, 5, 7)
    return encode_patterns(patterns.inputs, patterns.targets, layout="timesteps", input_length=5)


def rows(dataset: EncodedDataset, selection) -> EncodedDataset:
    return EncodedDataset(
        inputs=dataset.inputs[selection],
        targets=dataset.targets[selection],
        target_codes=dataset.target_codes[selection],
        layout=dataset.layout,
        input_length=dataset.input_length,
    )


def padded_sample() -> EncodedDataset:
    """One variable-length pattern of 1-3 letters (not ending in A), left-padded to 5 steps."""
    dataset = variable_length(100)
    scaled = dataset.inputs[:, :, 0]
    row = int(np.flatnonzero((scaled[:, 0] == 0) & (scaled[:, 1] == 0) & (scaled[:, -1] > 0))[0])
    return rows(dataset, slice(row, row + 1))


def train_fast(weights: LSTMWeights, dataset: EncodedDataset, *, epochs: int, batch_size: int, stateful: bool):
    """Weights, per-epoch losses and accuracies, and updates made by the fast engine."""
    orders = training.epoch_orders(samples=len(dataset.inputs), epochs=epochs, shuffle=False, seed=0)
    return training.run_epochs(weights, dataset, orders, batch_size=batch_size, stateful=stateful)


def train_reference(
    keras_engine, weights: LSTMWeights, dataset: EncodedDataset, *, epochs: int, batch_size: int, stateful: bool
):
    """Weights, per-epoch losses and accuracies from the faithful engine, unshuffled."""
    return keras_engine.train_keras(
        dataset.inputs,
        dataset.targets,
        units=weights.recurrent_kernel.shape[0],
        epochs=epochs,
        batch_size=batch_size,
        stateful=stateful,
        shuffle=False,
        seed=0,
        initial=LSTMWeights.from_list([array.copy() for array in weights.as_list()]),
    )


def largest_difference(first: LSTMWeights, second: LSTMWeights) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first.as_list(), second.as_list()))


def compare(keras_engine, dataset, *, units, epochs, batch_size, stateful, atol, seed=7):
    """Train both engines from the same weights; assert the weights agree within ``atol``."""
    weights = initial_weights(features=dataset.inputs.shape[2], units=units, seed=seed)
    start = LSTMWeights.from_list([array.copy() for array in weights.as_list()])
    fast = train_fast(weights, dataset, epochs=epochs, batch_size=batch_size, stateful=stateful)
    assert largest_difference(weights, start) == 0.0, "the fast engine changed its initial weights"
    assert fast[3] == epochs * math.ceil(len(dataset.inputs) / batch_size)
    reference = train_reference(keras_engine, weights, dataset, epochs=epochs, batch_size=batch_size, stateful=stateful)
    # Training moved the weights far beyond the tolerance: not two untrained models.
    assert largest_difference(reference[0], start) > 100 * atol
    for name in LSTMWeights.NAMES:
        ours, theirs = getattr(fast[0], name), getattr(reference[0], name)
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(
            ours,
            theirs,
            rtol=0,
            atol=atol,
            err_msg=f"{name}: largest difference {float(np.max(np.abs(ours - theirs))):.3g}",
        )
    return fast, reference


@pytest.mark.parametrize(
    ("dataset", "units", "batch_size"),
    [
        pytest.param(lambda: rows(sliding(1, "timesteps"), slice(0, 1)), 32, 1, id="one_char"),
        pytest.param(lambda: rows(sliding(3, "timesteps"), slice(0, 1)), 32, 1, id="window_timesteps"),
        pytest.param(lambda: rows(sliding(3, "features"), slice(0, 1)), 32, 1, id="window_features"),
        pytest.param(padded_sample, 32, 1, id="variable_length_padded"),
        pytest.param(lambda: sliding(1, "timesteps"), 16, 25, id="batch_all"),
    ],
)
def test_one_update_matches_keras(keras_engine, dataset, units, batch_size):
    """Forward pass, loss gradient, backpropagation through time and one Adam step."""
    compare(keras_engine, dataset(), units=units, epochs=1, batch_size=batch_size, stateful=False, atol=ONE_UPDATE_ATOL)


def test_padded_sample_is_padded():
    dataset = padded_sample()
    assert dataset.inputs.shape == (1, 5, 1)
    assert dataset.inputs[0, 0, 0] == 0.0 and dataset.inputs[0, -1, 0] > 0.0


@pytest.mark.parametrize(
    ("dataset", "units", "batch_size", "epochs"),
    [
        pytest.param(lambda: sliding(3, "timesteps"), 32, 1, 1, id="window_timesteps-23"),
        pytest.param(lambda: sliding(3, "features"), 32, 1, 1, id="window_features-23"),
        pytest.param(lambda: variable_length(25), 32, 1, 1, id="variable_length-25"),
        pytest.param(lambda: sliding(1, "timesteps"), 16, 25, 20, id="batch_all-20"),
        # 25 patterns in batches of 7: 7, 7, 7 and a last batch of 4, five times.
        pytest.param(lambda: sliding(1, "timesteps"), 16, 7, 5, id="uneven_batches-20"),
    ],
)
def test_many_updates_match_keras(keras_engine, dataset, units, batch_size, epochs):
    data = dataset()
    fast, reference = compare(
        keras_engine,
        data,
        units=units,
        epochs=epochs,
        batch_size=batch_size,
        stateful=False,
        atol=MANY_UPDATES_ATOL,
    )
    # batch_all-20 is also test_epoch_history_matches_keras's whole-alphabet batch, 20 epochs.
    assert_same_history(fast, reference, data, epochs)


def test_long_run_stays_close_to_keras(keras_engine):
    """300 updates through 5 time steps: the rounding differences do not grow into divergence."""
    compare(keras_engine, variable_length(300), units=32, epochs=1, batch_size=1, stateful=False, atol=LONG_RUN_ATOL)


@pytest.mark.parametrize(
    ("batch_size", "epochs"),
    [
        pytest.param(1, 2, id="one_stream-50"),  # 25 letters in order, twice, reset between
        pytest.param(5, 4, id="five_streams-20"),  # rows continue rows across 5 batches
    ],
)
def test_stateful_matches_keras(keras_engine, batch_size, epochs):
    fast, reference = compare(
        keras_engine,
        sliding(1, "timesteps"),
        units=50,
        epochs=epochs,
        batch_size=batch_size,
        stateful=True,
        atol=MANY_UPDATES_ATOL,
    )
    # one_stream-50 is also test_epoch_history_matches_keras's stateful case.
    assert_same_history(fast, reference, sliding(1, "timesteps"), epochs)


def test_stateful_cases_depend_on_the_carried_state():
    """Carrying state changes the result, so the stateful cases test the carrying."""
    dataset = sliding(1, "timesteps")
    weights = initial_weights(features=1, units=50, seed=7)
    carried = train_fast(weights, dataset, epochs=1, batch_size=5, stateful=True)[0]
    fresh = train_fast(weights, dataset, epochs=1, batch_size=5, stateful=False)[0]
    assert largest_difference(carried, fresh) > 100 * MANY_UPDATES_ATOL


def assert_same_history(fast, reference, data: EncodedDataset, epochs: int) -> None:
    """Per-epoch loss and accuracy as Keras' History records them (before each update)."""
    _, fast_losses, fast_accuracies, _ = fast
    _, keras_losses, keras_accuracies = reference
    assert len(fast_losses) == len(keras_losses) == epochs
    np.testing.assert_allclose(fast_losses, keras_losses, rtol=1e-5, atol=1e-6)
    # Accuracy counts argmax hits: equal unless two logits tie within rounding.
    np.testing.assert_allclose(fast_accuracies, keras_accuracies, rtol=0, atol=1.5 / len(data.target_codes))


# The whole-alphabet batch and the stateful stream are test_many_updates_match_keras's
# batch_all-20 and test_stateful_matches_keras's one_stream-50, which check their histories.
@pytest.mark.parametrize(
    ("dataset", "units", "batch_size", "stateful", "epochs"),
    [
        pytest.param(lambda: sliding(3, "timesteps"), 32, 1, False, 8, id="window_timesteps"),
        pytest.param(lambda: variable_length(50), 32, 1, False, 2, id="variable_length"),
    ],
)
def test_epoch_history_matches_keras(keras_engine, dataset, units, batch_size, stateful, epochs):
    data = dataset()
    weights = initial_weights(features=data.inputs.shape[2], units=units, seed=7)
    fast = train_fast(weights, data, epochs=epochs, batch_size=batch_size, stateful=stateful)
    reference = train_reference(keras_engine, weights, data, epochs=epochs, batch_size=batch_size, stateful=stateful)
    assert_same_history(fast, reference, data, epochs)


def test_kernel_has_one_signature_across_framings():
    """Every framing calls the compiled kernel with the same types: one compilation."""
    cases = [
        (sliding(1, "timesteps"), 1, False),
        (sliding(3, "features"), 1, False),
        (variable_length(10), 1, False),
        (sliding(1, "timesteps"), 25, False),
        (sliding(1, "timesteps"), 7, False),
        (sliding(1, "timesteps"), 5, True),
    ]
    for dataset, batch_size, stateful in cases:
        weights = initial_weights(features=dataset.inputs.shape[2], units=8, seed=1)
        train_fast(weights, dataset, epochs=1, batch_size=batch_size, stateful=stateful)
    assert len(engine_fast.train_epochs.signatures) == 1, engine_fast.train_epochs.signatures


def test_keras_fed_the_fast_engines_start_and_shuffled_orders_ends_where_it_does(keras_engine):
    """Shuffled epochs: ``train_keras`` given the start and the per-epoch sample orders that
    ``train`` draws for the fast engine agrees with it; Keras' own start and shuffle land
    elsewhere, so the agreement is not two models that barely moved."""
    from alphabet_lstm.params import FramingParams

    dataset = sliding(3, "timesteps")
    framing = FramingParams.model_validate(
        {
            "dataset": {"kind": "sliding", "seq_length": 3},
            "layout": "timesteps",
            "epochs": 4,
            "units": 32,
            "batch_size": 1,
            "shuffle": True,
        }
    )
    fast = training.train(dataset, framing, seed=11, engine="fast")
    shared = keras_engine.train_keras(
        dataset.inputs,
        dataset.targets,
        units=32,
        epochs=4,
        batch_size=1,
        stateful=False,
        shuffle=True,
        seed=11,
        initial=initial_weights(features=dataset.inputs.shape[2], units=32, seed=11),
        orders=training.epoch_orders(samples=len(dataset.inputs), epochs=4, shuffle=True, seed=11),
    )
    own = training.train(dataset, framing, seed=11, engine="keras")
    assert largest_difference(fast.weights, shared[0]) < MANY_UPDATES_ATOL
    np.testing.assert_allclose(fast.losses, shared[1], rtol=1e-5)
    assert largest_difference(fast.weights, own.weights) > 100 * MANY_UPDATES_ATOL
