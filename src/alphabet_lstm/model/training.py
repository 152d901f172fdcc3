"""One training code path for every framing, whichever engine runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alphabet_lstm.data.encoding import EncodedDataset
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec, initial_weights
from alphabet_lstm.params import FramingParams

ENGINES = ("fast", "keras")


@dataclass
class TrainingResult:
    """Trained weights, per-epoch loss and accuracy as seen during training, wall time."""

    weights: LSTMWeights
    losses: np.ndarray
    accuracies: np.ndarray
    seconds: float


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
    engine: str,
    shared_start: bool = False,
    on_progress: Callable[[int, float, float], None] | None = None,
) -> TrainingResult:
    """Train one framing at one seed with the chosen engine.

    The fast engine draws its initial weights and each epoch's sample order from the seed
    with numpy; the Keras engine uses Keras' own, unless ``shared_start`` hands it the fast
    engine's (the benchmark's paired comparison: same start, same batches, both engines).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of: {', '.join(ENGINES)}")
    batch_size = framing.resolved_batch_size
    started = time.perf_counter()
    initial: LSTMWeights | None = None
    orders: np.ndarray | None = None
    if engine == "fast" or shared_start:
        from alphabet_lstm.model import engine_fast

        initial = initial_weights(features=dataset.inputs.shape[2], units=framing.units, seed=seed)
        orders = engine_fast.epoch_orders(
            samples=len(dataset.inputs), epochs=framing.epochs, shuffle=framing.shuffle, seed=seed
        )
    if engine == "fast":
        assert initial is not None and orders is not None
        state = engine_fast.EngineState.start(initial)
        losses, accuracies = engine_fast.run_epochs(
            state,
            dataset.inputs,
            dataset.target_codes,
            orders,
            batch_size=batch_size,
            stateful=framing.stateful,
            on_progress=on_progress,
        )
        weights = state.weights
    else:
        from alphabet_lstm.model import engine_keras

        weights, losses, accuracies = engine_keras.train_keras(
            dataset.inputs,
            dataset.targets,
            units=framing.units,
            epochs=framing.epochs,
            batch_size=batch_size,
            stateful=framing.stateful,
            shuffle=framing.shuffle,
            seed=seed,
            initial=initial,
            orders=orders,
            on_progress=on_progress,
        )
    return TrainingResult(weights, losses, accuracies, time.perf_counter() - started)
