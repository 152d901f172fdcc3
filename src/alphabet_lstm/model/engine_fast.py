"""The fast training engine: the tutorial's exact math, compiled with numba.

Why not Keras here: the model is tiny (a 32-unit LSTM step is about 10^4 FLOPs), so with
per-sample updates Keras' time goes to per-step host overhead (about 5 ms a step on the
2-core CI machine) and to importing TensorFlow (8-10 s a process). This engine runs the
same computation in a compiled loop: the forward pass, backpropagation through time, the
softmax cross-entropy gradient and Keras' Adam update (learning rate 0.001, betas 0.9 and
0.999, epsilon 1e-7), one update per batch of the configured size, in float32.
``tests/test_engine_parity.py`` checks it against Keras itself step by step, and the
benchmark compares accuracy across seeds with the faithful ``model.fit`` engine.

Speed without changing the math: the loops are written so LLVM vectorizes them (no
zero-divisor checks, see ``_JIT_OPTIONS``), tanh is the float32 rational approximation
TensorFlow's own CPU kernels use instead of a libm call, and work whose result is exactly
zero is skipped (see ``train_epochs``). Every framing calls the kernel with one type
signature, so it compiles once (cached on disk by numba).

Semantics kept from Keras' ``fit``: batches of ``batch_size`` in a fresh random order each
epoch when shuffling (the last batch may be smaller), the loss averaged over a batch,
per-epoch loss and accuracy averaged over the samples as they were seen during the epoch
(before each batch's update). Stateful: row j of each batch continues row j's state from
the previous batch (no gradient flows across batches), and the state is reset at each
epoch's end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from alphabet_lstm.model.lstm import LSTMWeights

LEARNING_RATE = 0.001
BETA_1 = 0.9
BETA_2 = 0.999
EPSILON = 1e-7

# Compiled kernels return to Python between chunks of epochs this long, so progress is
# printed and Ctrl-C / SIGTERM are handled within a fraction of a second.
CHUNK_SECONDS = 0.25


# error_model="numpy": a float division follows IEEE instead of checking for a zero
# divisor first. No divisor here can be zero (1 + exp(-x), a softmax sum >= 1,
# sqrt(v) + epsilon), so results are unchanged; without the check LLVM vectorizes the
# loops (the check alone kept the Adam update scalar and about 3x slower).
_JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=True, error_model="numpy")


@numba.njit(**_JIT_OPTIONS)
def _adam_update(variable, gradient, first_moment, second_moment, alpha):
    """Keras' Adam step on one weight array, then the gradient is zeroed for the next batch."""
    flat_variable = variable.reshape(-1)
    flat_gradient = gradient.reshape(-1)
    flat_first = first_moment.reshape(-1)
    flat_second = second_moment.reshape(-1)
    one_minus_beta_1 = np.float32(1.0 - BETA_1)
    one_minus_beta_2 = np.float32(1.0 - BETA_2)
    epsilon = np.float32(EPSILON)
    for index in range(flat_variable.size):
        grad = flat_gradient[index]
        first = flat_first[index] + (grad - flat_first[index]) * one_minus_beta_1
        second = flat_second[index] + (grad * grad - flat_second[index]) * one_minus_beta_2
        flat_first[index] = first
        flat_second[index] = second
        flat_variable[index] -= alpha * first / (np.sqrt(second) + epsilon)
        flat_gradient[index] = np.float32(0.0)


@numba.njit(**_JIT_OPTIONS)
def _all_zero(values):
    flat = values.reshape(-1)
    for index in range(flat.size):
        if flat[index] != 0.0:
            return False
    return True


@numba.njit(**_JIT_OPTIONS)
def _sigmoid(value):
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-value))


# tanh in float32 by Eigen's generic_fast_tanh_float, the approximation TensorFlow's CPU
# tanh kernels use: a 13/6-degree rational function on [-c, c], +-1 beyond, x itself near
# 0; within 4 ulp of the exact value (at most 2.6e-7 absolute; libm's tanhf: 2 ulp).
# Unlike tanhf (a ~20 ns call) it is inlined and vectorizes. The parity test's differences
# from Keras did not change when it replaced np.tanh.
_TANH_CLAMP = np.float32(7.90531110763549805)
_TANH_TINY = np.float32(0.0004)
_TANH_ALPHA_1 = np.float32(4.89352455891786e-03)
_TANH_ALPHA_3 = np.float32(6.37261928875436e-04)
_TANH_ALPHA_5 = np.float32(1.48572235717979e-05)
_TANH_ALPHA_7 = np.float32(5.12229709037114e-08)
_TANH_ALPHA_9 = np.float32(-8.60467152213735e-11)
_TANH_ALPHA_11 = np.float32(2.00018790482477e-13)
_TANH_ALPHA_13 = np.float32(-2.76076847742355e-16)
_TANH_BETA_0 = np.float32(4.89352518554385e-03)
_TANH_BETA_2 = np.float32(2.26843463243900e-03)
_TANH_BETA_4 = np.float32(1.18534705686654e-04)
_TANH_BETA_6 = np.float32(1.19825839466702e-06)


@numba.njit(**_JIT_OPTIONS)
def _tanh(value):
    x = min(max(value, -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    numerator = x2 * _TANH_ALPHA_13 + _TANH_ALPHA_11
    numerator = x2 * numerator + _TANH_ALPHA_9
    numerator = x2 * numerator + _TANH_ALPHA_7
    numerator = x2 * numerator + _TANH_ALPHA_5
    numerator = x2 * numerator + _TANH_ALPHA_3
    numerator = x2 * numerator + _TANH_ALPHA_1
    numerator = x * numerator
    denominator = x2 * _TANH_BETA_6 + _TANH_BETA_4
    denominator = x2 * denominator + _TANH_BETA_2
    denominator = x2 * denominator + _TANH_BETA_0
    ratio = numerator / denominator
    return value if abs(value) < _TANH_TINY else ratio


@numba.njit(**_JIT_OPTIONS)
def train_epochs(
    inputs,
    target_codes,
    orders,
    batch_size,
    stateful,
    kernel,
    recurrent_kernel,
    bias,
    dense_kernel,
    dense_bias,
    first_moments,
    second_moments,
    step,
    epoch_losses,
    epoch_accuracies,
):
    """Train in place for ``len(orders)`` epochs; return the Adam step count reached.

    ``orders[e]`` is the sample order of epoch e. ``first_moments`` and ``second_moments``
    are tuples of arrays shaped like the five weights. Per-epoch mean loss and accuracy go
    into ``epoch_losses`` and ``epoch_accuracies``.

    Work that is exactly zero is skipped, which leaves every result unchanged: a product
    with a zero input or a zero hidden value (padding, the letter A, the initial state),
    the gradient with respect to the initial state (nothing uses it), and, when the
    recurrent kernel can never receive a gradient (one time step, state starting at zero)
    and its Adam moments are zero, its Adam update (which is then exactly zero).
    """
    samples, timesteps, features = inputs.shape
    units = recurrent_kernel.shape[0]
    gates_size = 4 * units
    classes = dense_bias.shape[0]
    one = np.float32(1.0)
    zero = np.float32(0.0)

    # Adam's update of a weight whose gradient and moments are all zero is exactly zero.
    recurrent_frozen = (
        timesteps == 1
        and not stateful
        and _all_zero(first_moments[1])
        and _all_zero(second_moments[1])
    )

    grad_kernel = np.zeros_like(kernel)
    grad_recurrent = np.zeros_like(recurrent_kernel)
    grad_bias = np.zeros_like(bias)
    grad_dense_kernel = np.zeros_like(dense_kernel)
    grad_dense_bias = np.zeros_like(dense_bias)

    hiddens = np.zeros((timesteps + 1, units), dtype=np.float32)
    cells = np.zeros((timesteps + 1, units), dtype=np.float32)
    gates = np.zeros((timesteps, gates_size), dtype=np.float32)
    cell_tanh = np.zeros((timesteps, units), dtype=np.float32)
    logits = np.zeros(classes, dtype=np.float32)
    grad_logits = np.zeros(classes, dtype=np.float32)
    grad_hidden = np.zeros(units, dtype=np.float32)
    grad_cell = np.zeros(units, dtype=np.float32)
    grad_gates = np.zeros(gates_size, dtype=np.float32)
    stream_hidden = np.zeros((batch_size, units), dtype=np.float32)
    stream_cell = np.zeros((batch_size, units), dtype=np.float32)

    for epoch in range(orders.shape[0]):
        order = orders[epoch]
        stream_hidden[:] = 0.0
        stream_cell[:] = 0.0
        loss_sum = 0.0
        correct = 0
        for batch_start in range(0, samples, batch_size):
            batch_stop = min(batch_start + batch_size, samples)
            scale = np.float32(1.0 / (batch_stop - batch_start))
            for row in range(batch_stop - batch_start):
                sample = order[batch_start + row]
                if stateful:
                    hiddens[0, :] = stream_hidden[row]
                    cells[0, :] = stream_cell[row]
                else:
                    hiddens[0, :] = 0.0
                    cells[0, :] = 0.0
                # Forward through the time steps, keeping what backpropagation needs.
                for t in range(timesteps):
                    gate_row = gates[t]
                    for k in range(gates_size):
                        gate_row[k] = bias[k]
                    for f in range(features):
                        value = inputs[sample, t, f]
                        if value != zero:
                            for k in range(gates_size):
                                gate_row[k] += value * kernel[f, k]
                    for u in range(units):
                        value = hiddens[t, u]
                        if value != zero:
                            for k in range(gates_size):
                                gate_row[k] += value * recurrent_kernel[u, k]
                    # Gate activations in place: sigmoid for input, forget and output,
                    # tanh for the candidate (Keras' order i, f, c, o).
                    for k in range(2 * units):
                        gate_row[k] = _sigmoid(gate_row[k])
                    for k in range(2 * units, 3 * units):
                        gate_row[k] = _tanh(gate_row[k])
                    for k in range(3 * units, gates_size):
                        gate_row[k] = _sigmoid(gate_row[k])
                    for u in range(units):
                        cell = gate_row[units + u] * cells[t, u] + gate_row[u] * gate_row[2 * units + u]
                        cells[t + 1, u] = cell
                        squashed = _tanh(cell)
                        cell_tanh[t, u] = squashed
                        hiddens[t + 1, u] = gate_row[3 * units + u] * squashed
                if stateful:
                    stream_hidden[row] = hiddens[timesteps]
                    stream_cell[row] = cells[timesteps]
                # Dense softmax and the cross-entropy gradient (probabilities - one-hot).
                for c in range(classes):
                    logits[c] = dense_bias[c]
                for u in range(units):
                    value = hiddens[timesteps, u]
                    for c in range(classes):
                        logits[c] += value * dense_kernel[u, c]
                target = target_codes[sample]
                best = 0
                largest = logits[0]
                for c in range(1, classes):
                    if logits[c] > largest:
                        largest = logits[c]
                        best = c
                total = zero
                for c in range(classes):
                    exponential = np.exp(logits[c] - largest)
                    grad_logits[c] = exponential
                    total += exponential
                loss_sum += math.log(total) - (logits[target] - largest)
                if best == target:
                    correct += 1
                factor = scale / total
                for c in range(classes):
                    grad_logits[c] *= factor
                grad_logits[target] -= scale
                for c in range(classes):
                    grad_dense_bias[c] += grad_logits[c]
                for u in range(units):
                    value = hiddens[timesteps, u]
                    accumulated = zero
                    for c in range(classes):
                        grad_dense_kernel[u, c] += value * grad_logits[c]
                        accumulated += dense_kernel[u, c] * grad_logits[c]
                    grad_hidden[u] = accumulated
                    grad_cell[u] = zero
                # Backpropagation through time, within this sample only.
                for t in range(timesteps - 1, -1, -1):
                    gate_row = gates[t]
                    for u in range(units):
                        input_gate = gate_row[u]
                        forget_gate = gate_row[units + u]
                        candidate = gate_row[2 * units + u]
                        output_gate = gate_row[3 * units + u]
                        tanh_value = cell_tanh[t, u]
                        hidden_gradient = grad_hidden[u]
                        cell_gradient = grad_cell[u] + hidden_gradient * output_gate * (
                            one - tanh_value * tanh_value
                        )
                        grad_gates[u] = cell_gradient * candidate * input_gate * (one - input_gate)
                        grad_gates[units + u] = (
                            cell_gradient * cells[t, u] * forget_gate * (one - forget_gate)
                        )
                        grad_gates[2 * units + u] = (
                            cell_gradient * input_gate * (one - candidate * candidate)
                        )
                        grad_gates[3 * units + u] = (
                            hidden_gradient * tanh_value * output_gate * (one - output_gate)
                        )
                        grad_cell[u] = cell_gradient * forget_gate
                    for k in range(gates_size):
                        grad_bias[k] += grad_gates[k]
                    for f in range(features):
                        value = inputs[sample, t, f]
                        if value != zero:
                            for k in range(gates_size):
                                grad_kernel[f, k] += value * grad_gates[k]
                    if t > 0:
                        for u in range(units):
                            value = hiddens[t, u]
                            accumulated = zero
                            for k in range(gates_size):
                                grad_recurrent[u, k] += value * grad_gates[k]
                                accumulated += recurrent_kernel[u, k] * grad_gates[k]
                            grad_hidden[u] = accumulated
                    else:
                        # The first step: its state came from outside the sample (zeros, or
                        # the stream's carried state), so no gradient flows further back.
                        for u in range(units):
                            value = hiddens[0, u]
                            if value != zero:
                                for k in range(gates_size):
                                    grad_recurrent[u, k] += value * grad_gates[k]
            # One Adam update per batch, exactly as keras.optimizers.Adam computes it; each
            # update also zeroes its gradient for the next batch.
            step += 1
            alpha = np.float32(
                LEARNING_RATE * math.sqrt(1.0 - BETA_2**step) / (1.0 - BETA_1**step)
            )
            _adam_update(kernel, grad_kernel, first_moments[0], second_moments[0], alpha)
            if not recurrent_frozen:
                _adam_update(
                    recurrent_kernel, grad_recurrent, first_moments[1], second_moments[1], alpha
                )
            _adam_update(bias, grad_bias, first_moments[2], second_moments[2], alpha)
            _adam_update(dense_kernel, grad_dense_kernel, first_moments[3], second_moments[3], alpha)
            _adam_update(dense_bias, grad_dense_bias, first_moments[4], second_moments[4], alpha)
        epoch_losses[epoch] = loss_sum / samples
        epoch_accuracies[epoch] = correct / samples
    return step


@dataclass
class EngineState:
    """Weights, Adam moments and step count: all a training needs to continue."""

    weights: LSTMWeights
    first_moments: tuple[np.ndarray, ...]
    second_moments: tuple[np.ndarray, ...]
    step: int = 0

    @classmethod
    def start(cls, weights: LSTMWeights) -> "EngineState":
        arrays = weights.as_list()
        return cls(
            weights=LSTMWeights.from_list([array.copy() for array in arrays]),
            first_moments=tuple(np.zeros_like(array) for array in arrays),
            second_moments=tuple(np.zeros_like(array) for array in arrays),
        )


def epoch_orders(*, samples: int, epochs: int, shuffle: bool, seed: int) -> np.ndarray:
    """Each epoch's sample order: a fresh permutation per epoch, or the data's own order."""
    if not shuffle:
        return np.tile(np.arange(samples, dtype=np.int64), (epochs, 1))
    rng = np.random.default_rng([seed, 1])
    return np.stack([rng.permutation(samples) for _ in range(epochs)])


def run_epochs(
    state: EngineState,
    inputs: np.ndarray,
    target_codes: np.ndarray,
    orders: np.ndarray,
    *,
    batch_size: int,
    stateful: bool,
    on_progress: Callable[[int, float, float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run every epoch in ``orders`` on ``state`` in compiled chunks; return loss and accuracy.

    ``on_progress(epochs_done, loss, accuracy)`` is called after each chunk.
    """
    epochs = len(orders)
    losses = np.zeros(epochs, dtype=np.float64)
    accuracies = np.zeros(epochs, dtype=np.float64)
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    target_codes = np.ascontiguousarray(target_codes, dtype=np.int64)
    weights = state.weights
    done, chunk = 0, 1
    while done < epochs:
        start, stop = done, min(epochs, done + chunk)
        started = time.perf_counter()
        state.step = train_epochs(
            inputs,
            target_codes,
            np.ascontiguousarray(orders[start:stop]),
            batch_size,
            stateful,
            weights.kernel,
            weights.recurrent_kernel,
            weights.bias,
            weights.dense_kernel,
            weights.dense_bias,
            state.first_moments,
            state.second_moments,
            state.step,
            losses[start:stop],
            accuracies[start:stop],
        )
        elapsed = time.perf_counter() - started
        done = stop
        if on_progress is not None:
            on_progress(done, float(losses[done - 1]), float(accuracies[done - 1]))
        # Size the next chunk to about CHUNK_SECONDS of work.
        per_epoch = max(elapsed / (stop - start), 1e-7)
        chunk = max(1, min(int(CHUNK_SECONDS / per_epoch), epochs))
    return losses, accuracies
