"""Kind ``sliding``: every window of seq_length letters and the letter after it (framings 1-5)."""

from __future__ import annotations

from typing import Literal

from alphabet_lstm.alphabet import VOCABULARY_SIZE
from alphabet_lstm.data.datasets import Patterns
from alphabet_lstm.data.kinds.base import DatasetKind, SequenceLength


class SlidingDataset(DatasetKind):
    """Every window of ``seq_length`` consecutive letters, predicting the next letter."""

    kind: Literal["sliding"]
    seq_length: SequenceLength

    @property
    def size(self) -> int:
        return VOCABULARY_SIZE - self.seq_length

    @property
    def input_length(self) -> int:
        return self.seq_length

    def patterns(self) -> Patterns:
        return sliding_patterns(self.seq_length)


def sliding_patterns(seq_length: int) -> Patterns:
    """Every window of seq_length letters and the letter after it (A->B, ..., or ABC->D, ...)."""
    starts = range(VOCABULARY_SIZE - seq_length)
    inputs = tuple(tuple(range(start, start + seq_length)) for start in starts)
    targets = tuple(start + seq_length for start in starts)
    return Patterns(inputs, targets)
