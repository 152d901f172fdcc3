"""Kind ``prefix_padded``: every prefix A..x, left zero-padded to 25 (the framing the tutorial proposed)."""

from __future__ import annotations

from typing import Literal

from alphabet_lstm.alphabet import VOCABULARY_SIZE
from alphabet_lstm.data.datasets import Patterns
from alphabet_lstm.data.kinds.base import MAX_SEQUENCE_LENGTH, DatasetKind


class PrefixPaddedDataset(DatasetKind):
    """Every prefix A..letter i, left zero-padded to 25, predicting letter i+1."""

    kind: Literal["prefix_padded"]

    scores_all_queries = True

    @property
    def size(self) -> int:
        return MAX_SEQUENCE_LENGTH

    @property
    def input_length(self) -> int:
        return MAX_SEQUENCE_LENGTH

    @property
    def shortest_query(self) -> int:
        return 1

    def patterns(self) -> Patterns:
        return prefix_patterns()


def prefix_patterns() -> Patterns:
    """Every prefix of the alphabet, A..letter i, and letter i+1 (A->B, AB->C, ..., A..Y->Z)."""
    inputs = tuple(tuple(range(0, end + 1)) for end in range(VOCABULARY_SIZE - 1))
    targets = tuple(end + 1 for end in range(VOCABULARY_SIZE - 1))
    return Patterns(inputs, targets)
