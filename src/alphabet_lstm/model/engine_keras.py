"""The faithful engine: Keras 3 ``model.fit`` exactly as the tutorial calls it.

The reference the fast engine is checked against, selectable with ``train.engine: keras``;
TensorFlow is imported only when it runs. Seeded, with TensorFlow's op determinism on: the
same weights on one machine, not across CPUs (docs/reproducibility.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alphabet_lstm.alphabet import VOCABULARY_SIZE
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec

# TensorFlow's C++ start-up lines say nothing to the user; oneDNN's (Intel CPUs) comes before
# the log level applies, so oneDNN goes off too: Intel then runs AMD's kernels. TensorFlow
# reads them when it loads, which is only ever after this module's import.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
for name, value in QUIET_TENSORFLOW.items():
    os.environ.setdefault(name, value)


def build_keras_model(*, input_shape: tuple[int, int], units: int, stateful: bool, batch_size: int):
    """One LSTM layer and Dense(26, softmax) over inputs (time steps, features), not compiled."""
    import keras

    # A stateful layer needs its batch size fixed in the input (Keras 2's batch_input_shape).
    inputs = keras.Input(shape=input_shape, batch_size=batch_size if stateful else None)
    hidden = keras.layers.LSTM(units, stateful=stateful)(inputs)
    outputs = keras.layers.Dense(VOCABULARY_SIZE, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


def trained_keras_model(weights: LSTMWeights, spec: ModelSpec, *, batch_size: int | None = None):
    """A trained framing's Keras model (a stateful one at ``batch_size``, default its
    training's); not compiled, or ``keras.models.load_model`` warns of an unbuilt optimizer."""
    model = build_keras_model(
        input_shape=(spec.timesteps, spec.features),
        units=spec.units,
        stateful=spec.stateful,
        batch_size=batch_size or spec.batch_size,
    )
    model.set_weights(weights.as_list())
    return model


def save_keras_model(model, path: str | Path) -> None:
    """Save atomically, through a scratch directory: Keras insists on the .keras suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
        temporary = Path(scratch) / path.name
        model.save(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)


def train_keras(
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    units: int,
    epochs: int,
    batch_size: int,
    stateful: bool,
    shuffle: bool,
    seed: int,
    initial: LSTMWeights | None = None,
    orders: np.ndarray | None = None,
    on_progress: Callable[[int, float, float], None] | None = None,
) -> tuple[LSTMWeights, np.ndarray, np.ndarray]:
    """Train with ``model.fit``; ``initial`` and ``orders`` (sample indices per epoch) replace
    Keras' initial weights and shuffle, to start and batch exactly as a fast-engine run."""
    import keras
    import tensorflow as tf

    # Op determinism is process-wide and only ever switched on; set before any op runs.
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    model = build_keras_model(input_shape=inputs.shape[1:], units=units, stateful=stateful, batch_size=batch_size)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    if initial is not None:
        model.set_weights(initial.as_list())
    losses, accuracies = [], []

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            losses.append(float(logs["loss"]))
            accuracies.append(float(logs["accuracy"]))
            if on_progress is not None:
                on_progress(len(losses), losses[-1], accuracies[-1])

    if orders is None and not stateful:
        model.fit(
            inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=0, callbacks=[Progress()]
        )
    else:
        # One fit call per epoch over the rows in the given order, or, without one, the
        # tutorial's stateful loop: the data's own order, states reset by hand after each.
        for order in orders if orders is not None else [slice(None)] * epochs:
            model.fit(
                inputs[order], targets[order], batch_size=batch_size, shuffle=False, verbose=0, callbacks=[Progress()]
            )
            if stateful:
                # Keras 3 has no Model.reset_states: layers[1] is the LSTM.
                model.layers[1].reset_state()
    return LSTMWeights.from_list(model.get_weights()), np.asarray(losses), np.asarray(accuracies)
