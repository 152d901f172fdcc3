"""Encoding: shapes per layout, left zero padding, scaling by 1/26, exact one-hot targets."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from alphabet_lstm.alphabet import encode_patterns, letters_to_codes, one_hot, pad_left, scale_codes, shape_inputs
from alphabet_lstm.artifacts import encoded_bytes, load_encoded
from alphabet_lstm.data import encode_framing
from alphabet_lstm.params import load_params, sliding_patterns, variable_length_patterns

PARAMS_PATH = Path(__file__).resolve().parents[1] / "params.yaml"


@functools.cache
def encoded_framing(name: str):
    framing = load_params(PARAMS_PATH).framing(name)
    patterns = framing.dataset.patterns()
    return patterns, encode_framing(framing, patterns)


@pytest.mark.parametrize(
    "framing, shape",
    [
        ("one_char", (25, 1, 1)),
        ("window_features", (23, 1, 3)),
        ("window_timesteps", (23, 3, 1)),
        ("batch_all", (25, 1, 1)),
        ("stateful", (25, 1, 1)),
        ("variable_length", (1000, 5, 1)),
        ("prefix_padded", (25, 25, 1)),
    ],
)
def test_shapes_per_framing(framing, shape):
    _, encoded = encoded_framing(framing)
    assert encoded.inputs.shape == shape
    assert encoded.inputs.dtype == np.float32
    assert encoded.targets.shape == (shape[0], 26)
    assert encoded.targets.dtype == np.float32
    assert encoded.target_codes.shape == (shape[0],)
    assert encoded.input_length == max(shape[1], shape[2])


def test_one_char_inputs_are_codes_over_26():
    _, encoded = encoded_framing("one_char")
    expected = (np.arange(25, dtype=np.float32) / np.float32(26)).reshape(25, 1, 1)
    np.testing.assert_array_equal(encoded.inputs, expected)
    # Every input lies in [0, 1): A is 0, Y is 24/26.
    assert encoded.inputs.min() == 0.0 and encoded.inputs.max() == np.float32(24) / np.float32(26)


def test_features_and_timesteps_hold_the_same_window_differently():
    _, features = encoded_framing("window_features")
    _, timesteps = encoded_framing("window_timesteps")
    abc = np.array([0, 1, 2], dtype=np.float32) / np.float32(26)
    np.testing.assert_array_equal(features.inputs[0], abc.reshape(1, 3))
    np.testing.assert_array_equal(timesteps.inputs[0], abc.reshape(3, 1))
    np.testing.assert_array_equal(features.inputs.reshape(23, 3), timesteps.inputs.reshape(23, 3))
    np.testing.assert_array_equal(features.target_codes, np.arange(3, 26))


def test_variable_length_is_left_zero_padded_to_five():
    patterns, encoded = encoded_framing("variable_length")
    codes = np.rint(encoded.inputs[:, :, 0] * 26).astype(int)
    # The tutorial's first patterns: PQRST->U, W->X, O->P, OPQ->R.
    np.testing.assert_array_equal(codes[0], letters_to_codes("PQRST"))
    np.testing.assert_array_equal(codes[1], [0, 0, 0, 0, letters_to_codes("W")[0]])
    np.testing.assert_array_equal(codes[3], [0, 0] + letters_to_codes("OPQ"))
    for run, row in zip(patterns.inputs, codes):
        pad = 5 - len(run)
        assert list(row[:pad]) == [0] * pad
        assert list(row[pad:]) == list(run)
    np.testing.assert_array_equal(encoded.target_codes, patterns.targets)


def test_prefix_padded_is_left_zero_padded_to_25():
    _, encoded = encoded_framing("prefix_padded")
    codes = np.rint(encoded.inputs[:, :, 0] * 26).astype(int)
    for index in range(25):
        assert list(codes[index]) == [0] * (24 - index) + list(range(index + 1))
    np.testing.assert_array_equal(encoded.target_codes, np.arange(1, 26))


def test_pad_left_pads_and_truncates_on_the_left():
    padded = pad_left([(3,), (1, 2, 3, 4, 5, 6), ()], 4)
    np.testing.assert_array_equal(padded, [[0, 0, 0, 3], [3, 4, 5, 6], [0, 0, 0, 0]])
    assert padded.dtype == np.int64


def test_scaling_is_exactly_code_over_26_in_float32():
    codes = np.arange(26)
    scaled = scale_codes(codes)
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, np.float32(codes) / np.float32(26))
    assert scaled[0] == 0.0 and scaled[-1] < 1.0


def test_one_hot_is_exact():
    codes = np.array([0, 25, 7, 7])
    encoded = one_hot(codes)
    assert encoded.shape == (4, 26) and encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, np.eye(26, dtype=np.float32)[codes])
    for name in ("one_char", "window_timesteps", "variable_length", "prefix_padded"):
        _, dataset = encoded_framing(name)
        assert set(np.unique(dataset.targets)) == {0.0, 1.0}
        np.testing.assert_array_equal(dataset.targets.sum(axis=1), 1.0)
        np.testing.assert_array_equal(dataset.targets.argmax(axis=1), dataset.target_codes)


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout"):
        shape_inputs(np.zeros((2, 3), dtype=np.int64), "rows")  # type: ignore[arg-type]


def test_encoded_files_describe_themselves_and_are_reproducible(tmp_path):
    patterns = variable_length_patterns(40, 5, 7)
    encoded = encode_patterns(patterns.inputs, patterns.targets, layout="timesteps", input_length=5)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    first.write_bytes(encoded_bytes(encoded, "variable_length", "variable_length"))
    second.write_bytes(encoded_bytes(encoded, "variable_length", "variable_length"))
    assert first.read_bytes() == second.read_bytes()
    loaded, metadata = load_encoded(first)
    np.testing.assert_array_equal(loaded.inputs, encoded.inputs)
    np.testing.assert_array_equal(loaded.targets, encoded.targets)
    np.testing.assert_array_equal(loaded.target_codes, encoded.target_codes)
    assert (loaded.layout, loaded.input_length) == ("timesteps", 5)
    assert metadata["inputs_shape"] == [40, 5, 1] and metadata["targets_shape"] == [40, 26]
    assert metadata["framing"] == "variable_length"


def test_sliding_encoding_matches_the_tutorials_arithmetic():
    # The tutorial: X = numpy.reshape(dataX, (len(dataX), seq_length, 1)) / float(len(alphabet)).
    patterns = sliding_patterns(3)
    encoded = encode_patterns(patterns.inputs, patterns.targets, layout="timesteps", input_length=3)
    data_x = np.array(patterns.inputs).reshape(23, 3, 1) / float(26)
    np.testing.assert_allclose(encoded.inputs, data_x, rtol=0, atol=1e-7)
