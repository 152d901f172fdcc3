"""The alphabet, its integer codes, and letters as the arrays an LSTM takes: the tutorial's
left zero-padding, scaling by 26 and one-hot targets, laid out as time steps or features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
VOCABULARY_SIZE = len(ALPHABET)
CHAR_TO_INT = {char: index for index, char in enumerate(ALPHABET)}

Layout = Literal["timesteps", "features"]

# The tutorial pads with 0 and scales by 26, so the pad value equals the code of "A".
PAD_CODE = 0


def letters_to_codes(letters: str) -> list[int]:
    """Capital letters as codes 0-25; ValueError naming the first character that is none."""
    for position, char in enumerate(letters):
        if char not in CHAR_TO_INT:
            raise ValueError(
                f"character {char!r} at position {position + 1} of {letters!r} is not one of the letters {ALPHABET}"
            )
    return [CHAR_TO_INT[char] for char in letters]


def codes_to_letters(codes) -> str:
    return "".join(ALPHABET[int(code)] for code in codes)


def scale_codes(codes: np.ndarray) -> np.ndarray:
    """Scale integer codes into [0, 1) as float32, as the tutorial does (code / 26)."""
    return np.asarray(codes, dtype=np.float32) / np.float32(VOCABULARY_SIZE)


def one_hot(target_codes: np.ndarray) -> np.ndarray:
    """One-hot encode target codes over the 26 letters, float32, shape (n, 26)."""
    return np.eye(VOCABULARY_SIZE, dtype=np.float32)[np.asarray(target_codes, dtype=np.int64)]


@dataclass(frozen=True)
class EncodedDataset:
    """Model-ready arrays that describe themselves: ``inputs`` (samples, time steps,
    features), ``targets`` one-hot (n, 26) and as codes, ``input_length`` the padded length."""

    inputs: np.ndarray
    targets: np.ndarray
    target_codes: np.ndarray
    layout: Layout
    input_length: int


def pad_left(runs: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """Left-pad (and, like Keras' pad_sequences, left-truncate) code runs to ``length``."""
    padded = np.full((len(runs), length), PAD_CODE, dtype=np.int64)
    for row, run in enumerate(runs):
        kept = list(run)[-length:]
        padded[row, length - len(kept) :] = kept
    return padded


def shape_inputs(padded_codes: np.ndarray, layout: str) -> np.ndarray:
    """Scale padded codes and lay a window out as time steps (n, L, 1) or features (n, 1, L)."""
    scaled = scale_codes(padded_codes)
    samples, length = scaled.shape
    if layout == "timesteps":
        return scaled.reshape(samples, length, 1)
    if layout == "features":
        return scaled.reshape(samples, 1, length)
    raise ValueError(f"layout {layout!r} is not one of: timesteps, features")


def encode_patterns(
    inputs: Sequence[Sequence[int]], targets: Sequence[int], *, layout: Layout, input_length: int
) -> EncodedDataset:
    padded = pad_left(inputs, input_length)
    target_codes = np.asarray(targets, dtype=np.int64)
    return EncodedDataset(
        inputs=shape_inputs(padded, layout),
        targets=one_hot(target_codes),
        target_codes=target_codes,
        layout=layout,
        input_length=input_length,
    )
