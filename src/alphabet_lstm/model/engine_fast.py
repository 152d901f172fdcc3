"""The fast training engine: the tutorial's exact math (forward pass, backpropagation
through time, Keras' Adam), compiled with numba, in float32, with Keras ``fit``'s semantics.

It promises the same weights bit for bit on every CPU (docs/reproducibility.md). Why it is
hand-written, how its loops vectorize and what work it skips: docs/architecture.md.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from alphabet_lstm.model import floatmath as fm

LEARNING_RATE = 0.001
BETA_1 = 0.9
BETA_2 = 0.999
EPSILON = 1e-7

# No fastmath; no zero-divisor check, which kept loops scalar (docs/architecture.md).
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")

_exp = _jit(fm.exp)
_tanh_ratio = _jit(fm.tanh_ratio)
_log_of_mantissa = _jit(fm.log_of_mantissa)


@_jit
def _power(base, exponent):
    """base ** exponent (an integer >= 0) by repeated squaring: numba's ``**`` is libm's pow."""
    result = 1.0
    factor = base
    remaining = exponent
    while remaining > 0:
        if remaining & 1:
            result *= factor
        factor *= factor
        remaining >>= 1
    return result


@_jit
def _sigmoid(value):
    return fm.ONE / (fm.ONE + _exp(-value))


@_jit
def _tanh(value):
    """``lstm.tanh`` for one float32."""
    return value if abs(value) < fm.TANH_TINY else _tanh_ratio(value)


@_jit
def _log(value):
    """``lstm.log`` for the softmax sum, a float64 >= 1: none of its special cases arise."""
    mantissa, exponent = math.frexp(value)
    if mantissa < fm.SQRT_HALF:
        mantissa = mantissa * 2.0
        exponent -= 1
    return _log_of_mantissa(mantissa, np.float64(exponent))


@_jit
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


@_jit
def _transpose_into(target, source):
    """target[j, i] = source[i, j]; ``target[:] = source.T`` would bring libm's log10 in."""
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            target[j, i] = source[i, j]


@_jit
def _lstm_step(input_row, weights, hiddens, cells, gates, cell_tanhs, t):
    """Time step ``t`` of one sample as ``lstm.lstm_step`` computes it, from ``hiddens[t]``
    and ``cells[t]`` into ``gates[t]``, ``cell_tanhs[t]``, ``cells[t + 1]``, ``hiddens[t + 1]``."""
    kernel, recurrent_kernel, bias, _, _ = weights
    hidden = hiddens[t]
    cell = cells[t]
    gate_row = gates[t]
    units = recurrent_kernel.shape[0]
    gates_size = 4 * units
    zero = np.float32(0.0)
    for k in range(gates_size):
        gate_row[k] = bias[k]
    for f in range(input_row.shape[0]):
        value = input_row[f]
        if value != zero:
            for k in range(gates_size):
                gate_row[k] += value * kernel[f, k]
    for u in range(units):
        value = hidden[u]
        if value != zero:
            for k in range(gates_size):
                gate_row[k] += value * recurrent_kernel[u, k]
    # Activations in place, Keras' order i, f, c, o, over views that start at index 0.
    input_gate = gate_row[:units]
    forget_gate = gate_row[units : 2 * units]
    candidate = gate_row[2 * units : 3 * units]
    output_gate = gate_row[3 * units :]
    for k in range(2 * units):
        gate_row[k] = _sigmoid(gate_row[k])
    for u in range(units):
        candidate[u] = _tanh(candidate[u])
    for u in range(units):
        output_gate[u] = _sigmoid(output_gate[u])
    for u in range(units):
        new_cell = forget_gate[u] * cell[u] + input_gate[u] * candidate[u]
        cells[t + 1, u] = new_cell
        squashed = _tanh(new_cell)
        cell_tanhs[t, u] = squashed
        hiddens[t + 1, u] = output_gate[u] * squashed


@_jit
def _dense_logits(hidden, dense_kernel, dense_bias, logits):
    for c in range(dense_bias.shape[0]):
        logits[c] = dense_bias[c]
    for u in range(hidden.shape[0]):
        value = hidden[u]
        for c in range(dense_bias.shape[0]):
            logits[c] += value * dense_kernel[u, c]


@_jit
def train_epochs(
    inputs,
    target_codes,
    orders,
    batch_size,
    stateful,
    weights,
    first_moments,
    second_moments,
    step,
    epoch_losses,
    epoch_accuracies,
):
    """Train the five ``weights`` (LSTMWeights.NAMES order) and their Adam moments in place,
    epoch e in sample order ``orders[e]``, its mean loss and accuracy into ``epoch_losses``
    and ``epoch_accuracies``; return the Adam step count reached."""
    kernel, recurrent_kernel, bias, dense_kernel, dense_bias = weights
    samples, timesteps, features = inputs.shape
    units = recurrent_kernel.shape[0]
    gates_size = 4 * units
    classes = dense_bias.shape[0]
    one = np.float32(1.0)
    zero = np.float32(0.0)

    # Adam's update of a weight whose gradient and moments are all zero is exactly zero.
    recurrent_frozen = timesteps == 1 and not stateful and not first_moments[1].any() and not second_moments[1].any()

    grad_kernel = np.zeros_like(kernel)
    grad_recurrent = np.zeros_like(recurrent_kernel)
    grad_bias = np.zeros_like(bias)
    grad_dense_kernel = np.zeros_like(dense_kernel)
    grad_dense_bias = np.zeros_like(dense_bias)
    # Transposed copies for the two backward dot products (docs/architecture.md).
    dense_kernel_by_class = np.ascontiguousarray(dense_kernel.T)
    recurrent_kernel_by_gate = np.ascontiguousarray(recurrent_kernel.T)

    hiddens = np.zeros((timesteps + 1, units), dtype=np.float32)
    cells = np.zeros((timesteps + 1, units), dtype=np.float32)
    gates = np.zeros((timesteps, gates_size), dtype=np.float32)
    cell_tanh = np.zeros((timesteps, units), dtype=np.float32)
    logits = np.zeros(classes, dtype=np.float32)
    grad_logits = np.zeros(classes, dtype=np.float32)
    grad_hidden = np.zeros(units, dtype=np.float32)
    grad_cell = np.zeros(units, dtype=np.float32)
    grad_gates = np.zeros(gates_size, dtype=np.float32)
    grad_input_gates = grad_gates[:units]
    grad_forget_gates = grad_gates[units : 2 * units]
    grad_candidates = grad_gates[2 * units : 3 * units]
    grad_output_gates = grad_gates[3 * units :]
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
                # A stateless row's stream state is never written: it stays zero.
                hiddens[0, :] = stream_hidden[row]
                cells[0, :] = stream_cell[row]
                # Forward through the time steps, keeping what backpropagation needs.
                for t in range(timesteps):
                    _lstm_step(inputs[sample, t], weights, hiddens, cells, gates, cell_tanh, t)
                if stateful:
                    stream_hidden[row] = hiddens[timesteps]
                    stream_cell[row] = cells[timesteps]
                # Dense softmax and the cross-entropy gradient (probabilities - one-hot).
                _dense_logits(hiddens[timesteps], dense_kernel, dense_bias, logits)
                target = target_codes[sample]
                best = np.argmax(logits)
                largest = logits[best]
                for c in range(classes):
                    grad_logits[c] = _exp(logits[c] - largest)
                total = zero
                for c in range(classes):
                    total += grad_logits[c]
                loss_sum += _log(np.float64(total)) - (logits[target] - largest)
                if best == target:
                    correct += 1
                factor = scale / total
                grad_logits *= factor
                grad_logits[target] -= scale
                grad_dense_bias += grad_logits
                for u in range(units):
                    value = hiddens[timesteps, u]
                    for c in range(classes):
                        grad_dense_kernel[u, c] += value * grad_logits[c]
                    grad_hidden[u] = zero
                    grad_cell[u] = zero
                # grad_hidden = dense_kernel @ grad_logits, class by class (see above).
                for c in range(classes):
                    value = grad_logits[c]
                    for u in range(units):
                        grad_hidden[u] += dense_kernel_by_class[c, u] * value
                # Backpropagation through time, within this sample only.
                for t in range(timesteps - 1, -1, -1):
                    gate_row = gates[t]
                    input_gates = gate_row[:units]
                    forget_gates = gate_row[units : 2 * units]
                    candidates = gate_row[2 * units : 3 * units]
                    output_gates = gate_row[3 * units :]
                    tanh_values = cell_tanh[t]
                    previous_cells = cells[t]
                    for u in range(units):
                        input_gate = input_gates[u]
                        forget_gate = forget_gates[u]
                        candidate = candidates[u]
                        output_gate = output_gates[u]
                        tanh_value = tanh_values[u]
                        hidden_gradient = grad_hidden[u]
                        cell_gradient = grad_cell[u] + hidden_gradient * output_gate * (one - tanh_value * tanh_value)
                        grad_input_gates[u] = cell_gradient * candidate * input_gate * (one - input_gate)
                        grad_forget_gates[u] = cell_gradient * previous_cells[u] * forget_gate * (one - forget_gate)
                        grad_candidates[u] = cell_gradient * input_gate * (one - candidate * candidate)
                        grad_output_gates[u] = hidden_gradient * tanh_value * output_gate * (one - output_gate)
                        grad_cell[u] = cell_gradient * forget_gate
                    grad_bias += grad_gates
                    for f in range(features):
                        value = inputs[sample, t, f]
                        if value != zero:
                            for k in range(gates_size):
                                grad_kernel[f, k] += value * grad_gates[k]
                    for u in range(units):
                        value = hiddens[t, u]
                        if value != zero:
                            for k in range(gates_size):
                                grad_recurrent[u, k] += value * grad_gates[k]
                    if t > 0:
                        # grad_hidden = recurrent_kernel @ grad_gates, gate by gate; none flows
                        # into the first step's state, from outside the sample.
                        grad_hidden[:] = zero
                        for k in range(gates_size):
                            value = grad_gates[k]
                            for u in range(units):
                                grad_hidden[u] += recurrent_kernel_by_gate[k, u] * value
            # One Adam update per batch, as keras.optimizers.Adam; each zeroes its gradient.
            step += 1
            alpha = np.float32(LEARNING_RATE * math.sqrt(1.0 - _power(BETA_2, step)) / (1.0 - _power(BETA_1, step)))
            _adam_update(kernel, grad_kernel, first_moments[0], second_moments[0], alpha)
            if not recurrent_frozen:
                _adam_update(recurrent_kernel, grad_recurrent, first_moments[1], second_moments[1], alpha)
                if timesteps > 1:
                    _transpose_into(recurrent_kernel_by_gate, recurrent_kernel)
            _adam_update(bias, grad_bias, first_moments[2], second_moments[2], alpha)
            _adam_update(dense_kernel, grad_dense_kernel, first_moments[3], second_moments[3], alpha)
            _adam_update(dense_bias, grad_dense_bias, first_moments[4], second_moments[4], alpha)
            _transpose_into(dense_kernel_by_class, dense_kernel)
        epoch_losses[epoch] = loss_sum / samples
        epoch_accuracies[epoch] = correct / samples
    return step
