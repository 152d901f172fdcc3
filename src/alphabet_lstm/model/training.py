"""One training code path for every framing, whichever engine runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from alphabet_lstm.alphabet import EncodedDataset
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, initial_weights
from alphabet_lstm.params import FramingParams

# The fast engine's compiled kernel returns to Python between chunks of epochs this long,
# so progress is printed and Ctrl-C / SIGTERM are handled within a fraction of a second.
CHUNK_SECONDS = 0.25


@dataclass
class TrainingResult:
    """Trained weights, per-epoch loss and accuracy as seen during training, wall time."""

    weights: LSTMWeights
    losses: np.ndarray
    accuracies: np.ndarray
    seconds: float


def epoch_orders(*, samples: int, epochs: int, shuffle: bool, seed: int) -> np.ndarray:
    """Each epoch's sample order: a fresh permutation per epoch, or the data's own order."""
    if not shuffle:
        return np.tile(np.arange(samples, dtype=np.int64), (epochs, 1))
    rng = np.random.default_rng([seed, 1])
    return np.stack([rng.permutation(samples) for _ in range(epochs)])


def run_epochs(
    initial: LSTMWeights,
    dataset: EncodedDataset,
    orders: np.ndarray,
    *,
    batch_size: int,
    stateful: bool,
    on_progress: Callable[[int, float, float], None] | None = None,
) -> tuple[LSTMWeights, np.ndarray, np.ndarray, int]:
    """Train a copy of ``initial`` from fresh Adam moments over the epochs of ``orders``, in
    compiled chunks; return the weights, each epoch's loss and accuracy, and the Adam steps."""
    # Imported here: numba's import costs a Keras-engine training for nothing.
    from alphabet_lstm.model import engine_fast

    weights = LSTMWeights.from_list([array.copy() for array in initial.as_list()])
    arrays = tuple(weights.as_list())
    first_moments = tuple(np.zeros_like(array) for array in arrays)
    second_moments = tuple(np.zeros_like(array) for array in arrays)
    step = 0
    epochs = len(orders)
    losses, accuracies = np.zeros((2, epochs), dtype=np.float64)
    inputs = np.ascontiguousarray(dataset.inputs, dtype=np.float32)
    target_codes = np.ascontiguousarray(dataset.target_codes, dtype=np.int64)
    done, chunk = 0, 1
    while done < epochs:
        stop = min(epochs, done + chunk)
        started = time.perf_counter()
        step = engine_fast.train_epochs(
            inputs,
            target_codes,
            np.ascontiguousarray(orders[done:stop]),
            batch_size,
            stateful,
            arrays,
            first_moments,
            second_moments,
            step,
            losses[done:stop],
            accuracies[done:stop],
        )
        # Size the next chunk to about CHUNK_SECONDS of work.
        per_epoch = max((time.perf_counter() - started) / (stop - done), 1e-7)
        chunk = max(1, min(int(CHUNK_SECONDS / per_epoch), epochs))
        done = stop
        if on_progress is not None:
            on_progress(done, float(losses[done - 1]), float(accuracies[done - 1]))
    return weights, losses, accuracies, step


def model_spec(name: str, framing: FramingParams, dataset: EncodedDataset, *, seed: int, engine: str) -> ModelSpec:
    """What a saved model must carry so evaluation and prediction need no params."""
    return ModelSpec(
        framing=name,
        units=framing.units,
        layout=framing.layout,
        input_length=dataset.input_length,
        stateful=framing.stateful,
        batch_size=framing.resolved_batch_size,
        engine=engine,
        seed=seed,
        shortest_query=framing.dataset.shortest_query,
        scores_all_queries=framing.dataset.scores_all_queries,
    )


def train(
    dataset: EncodedDataset,
    framing: FramingParams,
    *,
    seed: int,
    engine: Literal["fast", "keras"],
    on_progress: Callable[[int, float, float], None] | None = None,
) -> TrainingResult:
    """Train one framing at one seed; the Keras engine draws its own start and shuffle."""
    batch_size, stateful = framing.resolved_batch_size, framing.stateful
    started = time.perf_counter()
    if engine == "fast":
        initial = initial_weights(features=dataset.inputs.shape[2], units=framing.units, seed=seed)
        orders = epoch_orders(samples=len(dataset.inputs), epochs=framing.epochs, shuffle=framing.shuffle, seed=seed)
        weights, losses, accuracies, _ = run_epochs(
            initial, dataset, orders, batch_size=batch_size, stateful=stateful, on_progress=on_progress
        )
    else:
        from alphabet_lstm.model import engine_keras

        weights, losses, accuracies = engine_keras.train_keras(
            dataset.inputs,
            dataset.targets,
            units=framing.units,
            epochs=framing.epochs,
            batch_size=batch_size,
            stateful=stateful,
            shuffle=framing.shuffle,
            seed=seed,
            on_progress=on_progress,
        )
    return TrainingResult(weights, losses, accuracies, time.perf_counter() - started)
