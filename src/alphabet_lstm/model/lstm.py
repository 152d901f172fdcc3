"""The study's model: one LSTM layer and a Dense(26, softmax), as plain weights in Keras'
layout (gates input, forget, cell, output), so they move between the engines unchanged.

The numpy forward pass uses IEEE operations in a fixed order (no BLAS, no libm), so it gives
the compiled kernel's floats on every CPU (docs/reproducibility.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from alphabet_lstm.alphabet import CHAR_TO_INT, VOCABULARY_SIZE
from alphabet_lstm.model import floatmath as fm


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

    def accepts_length(self, length: int) -> bool:
        """Whether a query of ``length`` letters is valid: any from 1 for a stateful model (fed
        one at a time), shortest_query..input_length for a stateless one."""
        return length >= 1 if self.stateful else self.shortest_query <= length <= self.input_length

    def accepted_lengths(self) -> str:
        """The query lengths this model takes, in words, for error messages."""
        if self.stateful:
            return "1 or more letters"
        if self.shortest_query == self.input_length:
            return f"exactly {self.input_length} letter{'s' if self.input_length > 1 else ''}"
        return f"{self.shortest_query} to {self.input_length} letters"

    def query_codes(self, letters: str) -> list[int]:
        """A query's letter codes, lower case read as upper case: the one check of a query."""
        for position, char in enumerate(letters, start=1):
            if char.upper() not in CHAR_TO_INT:
                raise ValueError(f"{letters!r}: character {char!r} at position {position} is not a letter A-Z")
        takes = self.accepted_lengths()
        if not letters:
            raise ValueError(f"the query is empty; framing {self.framing} takes {takes}")
        if not self.accepts_length(len(letters)):
            raise ValueError(f"framing {self.framing} takes {takes}; got {len(letters)} ({letters!r})")
        return [CHAR_TO_INT[char.upper()] for char in letters]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelSpec:
        return cls(**{key: value for key, value in values.items() if key in cls.__dataclass_fields__})


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
    def from_list(cls, arrays) -> LSTMWeights:
        return cls(*[np.ascontiguousarray(array, dtype=np.float32) for array in arrays])


def exp(values) -> np.ndarray:
    """e**x in float32, at most 1 ulp from the exact value."""
    with np.errstate(over="ignore"):
        return fm.exp(np.asarray(values, dtype=np.float32))


def sigmoid(values) -> np.ndarray:
    """1 / (1 + e**-x) in float32; exp overflows to inf for x < -88.7 and 1 / inf is 0."""
    return fm.ONE / (fm.ONE + exp(-np.asarray(values, dtype=np.float32)))


def tanh(values) -> np.ndarray:
    """tanh in float32 by Eigen's rational approximation (TensorFlow's CPU tanh)."""
    value = np.asarray(values, dtype=np.float32)
    return np.where(np.abs(value) < fm.TANH_TINY, value, fm.tanh_ratio(value))


def log(values) -> np.ndarray:
    """Natural log in float64; log(0) is -inf, below 0 NaN."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mantissa, exponent = np.frexp(x)
        below = mantissa < fm.SQRT_HALF
        mantissa = np.where(below, mantissa * 2.0, mantissa)
        result = fm.log_of_mantissa(mantissa, (exponent - below).astype(np.float64))
        result = np.where(x == np.inf, np.inf, result)
        return np.where(x > 0.0, result, np.where(x == 0.0, -np.inf, np.nan))


def ordered_sum(values, axis: int = 0) -> np.ndarray:
    """The sum along ``axis`` added in index order (np.sum's order is the build's choice)."""
    return np.take(np.add.accumulate(values, axis=axis), -1, axis=axis)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Keras' default kernel initializer, numpy's ``uniform`` unfused (docs/reproducibility.md)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    unit = rng.random(size=(fan_in, fan_out))
    return (-limit + (limit + limit) * unit).astype(np.float32)


def standard_normal(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` standard normal float64 draws by Marsaglia's polar method, without libm."""
    draws: list[np.ndarray] = []
    have = 0
    while have < count:
        pairs = max(16, count - have)
        uniform = rng.random(size=(pairs, 2))
        u, v = ((uniform + uniform) - 1.0).T
        radius = u * u + v * v
        inside = (radius > 0.0) & (radius < 1.0)
        u, v, radius = u[inside], v[inside], radius[inside]
        factor = np.sqrt((-2.0 * log(radius)) / radius)
        draws.append(np.stack([u * factor, v * factor], axis=1).reshape(-1))
        have += 2 * len(radius)
    return np.concatenate(draws)[:count]


def orthonormal_columns(matrix: np.ndarray) -> np.ndarray:
    """Q of the QR factorisation of a tall float64 ``matrix`` by modified Gram-Schmidt, with
    R's diagonal positive as Keras makes LAPACK's, sums in row order."""
    q = np.array(matrix, dtype=np.float64)
    for j in range(q.shape[1]):
        column = q[:, j]
        q[:, j] = column / np.sqrt(ordered_sum(column * column))
        # Past the last column ``rest`` is empty and this changes nothing.
        rest = q[:, j + 1 :]
        q[:, j + 1 :] = rest - q[:, j, None] * ordered_sum(q[:, j, None] * rest, axis=0)
    return q


def initial_weights(*, features: int, units: int, seed: int) -> LSTMWeights:
    """Fresh weights with Keras' default initializers (forget-gate bias 1), from the seed."""
    rng = np.random.default_rng([seed, 0])
    kernel = glorot_uniform(rng, features, 4 * units)
    # Keras' orthogonal recurrent initializer: orthonormal rows from the QR of a normal draw.
    tall = standard_normal(rng, units * 4 * units).reshape(4 * units, units)
    bias = np.zeros(4 * units, dtype=np.float32)
    bias[units : 2 * units] = 1.0
    return LSTMWeights(
        kernel=kernel,
        recurrent_kernel=np.ascontiguousarray(orthonormal_columns(tall).T, dtype=np.float32),
        bias=bias,
        dense_kernel=glorot_uniform(rng, units, VOCABULARY_SIZE),
        dense_bias=np.zeros(VOCABULARY_SIZE, dtype=np.float32),
    )


def lstm_step(
    weights: LSTMWeights, inputs_t: np.ndarray, hidden: np.ndarray, cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """One time step for a batch of float32 rows: the new hidden and cell, and the gates in
    Keras' order i, f, c, o; pre-activations add bias, features', units' shares (as compiled)."""
    units = weights.recurrent_kernel.shape[0]
    gates = np.broadcast_to(weights.bias, (inputs_t.shape[0], 4 * units))
    for feature in range(inputs_t.shape[1]):
        gates = gates + inputs_t[:, feature, None] * weights.kernel[feature]
    for unit in range(units):
        gates = gates + hidden[:, unit, None] * weights.recurrent_kernel[unit]
    input_gate = sigmoid(gates[:, :units])
    forget_gate = sigmoid(gates[:, units : 2 * units])
    candidate = tanh(gates[:, 2 * units : 3 * units])
    output_gate = sigmoid(gates[:, 3 * units :])
    cell = forget_gate * cell + input_gate * candidate
    hidden = output_gate * tanh(cell)
    return hidden, cell, (input_gate, forget_gate, candidate, output_gate)


def dense_softmax(weights: LSTMWeights, hidden: np.ndarray) -> np.ndarray:
    """Class probabilities (n, 26) from hidden states (n, units), sums in index order."""
    logits = np.broadcast_to(weights.dense_bias, (hidden.shape[0], weights.dense_bias.shape[0]))
    for unit in range(hidden.shape[1]):
        logits = logits + hidden[:, unit, None] * weights.dense_kernel[unit]
    exponentials = exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / ordered_sum(exponentials, axis=1)[:, None]


def forward(
    weights: LSTMWeights, inputs: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Class probabilities (n, 26) for inputs (n, time steps, features), and the final state,
    from ``state`` (hidden, cell), zeros if None."""
    inputs = np.asarray(inputs, dtype=np.float32)
    zeros = np.zeros((inputs.shape[0], weights.recurrent_kernel.shape[0]))
    hidden, cell = (np.array(part, dtype=np.float32) for part in state or (zeros, zeros))
    for step in range(inputs.shape[1]):
        hidden, cell, _ = lstm_step(weights, inputs[:, step, :], hidden, cell)
    return dense_softmax(weights, hidden), (hidden, cell)


def predict_in_streams(weights: LSTMWeights, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """Stateful prediction as Keras does it: row j of each batch continues row j's state of
    the batch before, from zeros; a last, partial batch (a query) only the streams it feeds."""
    state = None
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        if state is not None:
            state = (state[0][: len(batch)], state[1][: len(batch)])
        probabilities, state = forward(weights, batch, state)
        outputs.append(probabilities)
    return np.concatenate(outputs)


def predict(weights: LSTMWeights, spec: ModelSpec, inputs: np.ndarray) -> np.ndarray:
    """Probabilities for a data set the way the framing was trained to see it."""
    if spec.stateful:
        return predict_in_streams(weights, inputs, spec.batch_size)
    return forward(weights, inputs)[0]
