"""The study's model: one LSTM layer and a Dense(26, softmax), as plain weights.

Weights use Keras' own layout (kernel, recurrent_kernel, bias with gates in the order
input, forget, cell, output; then the Dense kernel and bias), so they move between the
fast engine, Keras and this module's numpy forward pass unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from alphabet_lstm.alphabet import VOCABULARY_SIZE


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild and query a trained model without params.yaml."""

    framing: str
    units: int
    layout: str
    input_length: int
    stateful: bool
    batch_size: int
    engine: str
    seed: int
    # From the dataset kind: queries take shortest_query..input_length letters (left-padded),
    # and whether evaluation scores every one of them, not only the training patterns.
    shortest_query: int
    scores_all_queries: bool

    @property
    def timesteps(self) -> int:
        return self.input_length if self.layout == "timesteps" else 1

    @property
    def features(self) -> int:
        return 1 if self.layout == "timesteps" else self.input_length

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelSpec":
        names = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})


@dataclass
class LSTMWeights:
    """The five weight arrays, float32, in Keras' shapes."""

    kernel: np.ndarray  # (features, 4 * units)
    recurrent_kernel: np.ndarray  # (units, 4 * units)
    bias: np.ndarray  # (4 * units,)
    dense_kernel: np.ndarray  # (units, 26)
    dense_bias: np.ndarray  # (26,)

    NAMES = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")

    def as_list(self) -> list[np.ndarray]:
        return [getattr(self, name) for name in self.NAMES]

    @classmethod
    def from_list(cls, arrays) -> "LSTMWeights":
        return cls(*[np.ascontiguousarray(array, dtype=np.float32) for array in arrays])


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Keras' default kernel initializer: uniform in +-sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def orthogonal(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """Keras' recurrent initializer: an orthogonal matrix from the QR of a normal draw."""
    flat = rng.standard_normal((max(rows, columns), min(rows, columns)))
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < columns:
        q = q.T
    return np.ascontiguousarray(q, dtype=np.float32)


def initial_weights(*, features: int, units: int, seed: int) -> LSTMWeights:
    """Fresh weights with Keras' default initializers, reproducible from the seed.

    The forget-gate bias starts at 1 (Keras' unit_forget_bias), the other biases at 0.
    """
    rng = np.random.default_rng([seed, 0])
    bias = np.zeros(4 * units, dtype=np.float32)
    bias[units : 2 * units] = 1.0
    return LSTMWeights(
        kernel=glorot_uniform(rng, features, 4 * units),
        recurrent_kernel=orthogonal(rng, units, 4 * units),
        bias=bias,
        dense_kernel=glorot_uniform(rng, units, VOCABULARY_SIZE),
        dense_bias=np.zeros(VOCABULARY_SIZE, dtype=np.float32),
    )


def _sigmoid(values: np.ndarray) -> np.ndarray:
    # exp overflows to inf for very negative inputs, and 1 / (1 + inf) is the right 0.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-values))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def forward(
    weights: LSTMWeights, inputs: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Class probabilities (n, 26) for inputs (n, time steps, features), and the final state.

    ``state`` is the (hidden, cell) pair to start from, each (n, units); zeros if None.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    samples = inputs.shape[0]
    units = weights.recurrent_kernel.shape[0]
    if state is None:
        hidden = np.zeros((samples, units), dtype=np.float32)
        cell = np.zeros((samples, units), dtype=np.float32)
    else:
        hidden, cell = (np.array(part, dtype=np.float32) for part in state)
    for step in range(inputs.shape[1]):
        gates = inputs[:, step, :] @ weights.kernel + hidden @ weights.recurrent_kernel + weights.bias
        input_gate = _sigmoid(gates[:, :units])
        forget_gate = _sigmoid(gates[:, units : 2 * units])
        candidate = np.tanh(gates[:, 2 * units : 3 * units])
        output_gate = _sigmoid(gates[:, 3 * units :])
        cell = forget_gate * cell + input_gate * candidate
        hidden = output_gate * np.tanh(cell)
    probabilities = _softmax(hidden @ weights.dense_kernel + weights.dense_bias)
    return probabilities, (hidden, cell)


def predict_in_streams(
    weights: LSTMWeights, inputs: np.ndarray, batch_size: int
) -> np.ndarray:
    """Stateful prediction as Keras does it: row j of each batch continues row j's state.

    The state starts at zero and is carried across consecutive batches of ``batch_size``
    samples, so with batch size 1 the whole data set is one stream, in order.
    """
    if len(inputs) % batch_size != 0:
        raise ValueError(
            f"{len(inputs)} samples cannot be split into stateful batches of {batch_size}"
        )
    state = None
    outputs = []
    for start in range(0, len(inputs), batch_size):
        probabilities, state = forward(weights, inputs[start : start + batch_size], state)
        outputs.append(probabilities)
    return np.concatenate(outputs)


def predict(weights: LSTMWeights, spec: ModelSpec, inputs: np.ndarray) -> np.ndarray:
    """Probabilities for a data set the way the framing was trained to see it."""
    if spec.stateful:
        return predict_in_streams(weights, inputs, spec.batch_size)
    return forward(weights, inputs)[0]
