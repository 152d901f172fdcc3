"""Turning patterns into the arrays an LSTM takes: left zero-padding, scaling, layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from alphabet_lstm.alphabet import PAD_CODE, one_hot, scale_codes
from alphabet_lstm.data.datasets import Patterns

if TYPE_CHECKING:  # params imports the data kinds; encoding needs the framing's type only
    from alphabet_lstm.params import FramingParams

Layout = Literal["timesteps", "features"]


@dataclass(frozen=True)
class EncodedDataset:
    """Model-ready arrays that describe themselves.

    ``inputs`` has shape [samples, time steps, features]; ``targets`` is one-hot (n, 26);
    ``target_codes`` the same targets as codes; ``input_length`` the padded length.
    """

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
        if kept:
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
    """Encode code runs and targets for one framing."""
    padded = pad_left(inputs, input_length)
    target_codes = np.asarray(targets, dtype=np.int64)
    return EncodedDataset(
        inputs=shape_inputs(padded, layout),
        targets=one_hot(target_codes),
        target_codes=target_codes,
        layout=layout,
        input_length=input_length,
    )


def encode_framing(framing: FramingParams, patterns: Patterns | None = None) -> EncodedDataset:
    """A framing's data set as its LSTM takes it: its patterns (generated from its dataset
    params unless given) left-padded, scaled and laid out. The encode stage, the sweeps and
    the benchmarks all encode through this one function."""
    patterns = patterns or framing.dataset.patterns()
    return encode_patterns(
        patterns.inputs, patterns.targets, layout=framing.layout, input_length=framing.dataset.input_length
    )
