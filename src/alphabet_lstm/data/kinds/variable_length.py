"""Kind ``variable_length``: random runs of 1..max_len letters, left zero-padded (framing 6)."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, StrictInt

from alphabet_lstm.alphabet import VOCABULARY_SIZE
from alphabet_lstm.data.datasets import Patterns
from alphabet_lstm.data.kinds.base import DatasetKind, Seed, SequenceLength


class VariableLengthDataset(DatasetKind):
    """``num_inputs`` random contiguous runs of 1..max_len letters (tutorial framing 6)."""

    kind: Literal["variable_length"]
    num_inputs: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    max_len: SequenceLength
    seed: Seed = 7

    scores_all_queries = True

    @property
    def size(self) -> int:
        return self.num_inputs

    @property
    def input_length(self) -> int:
        return self.max_len

    @property
    def shortest_query(self) -> int:
        return 1

    def patterns(self) -> Patterns:
        return variable_length_patterns(self.num_inputs, self.max_len, self.seed)


def variable_length_patterns(num_inputs: int, max_len: int, seed: int) -> Patterns:
    """The tutorial's random contiguous runs of 1..max_len letters.

    Draws exactly as the tutorial does after ``numpy.random.seed(seed)``: a start uniform
    in 0..23, an end uniform in start..min(start + max_len, 25) - 1, so seed 7 gives the
    tutorial's own data set (PQRST->U, W->X, O->P, ...).
    """
    random_state = np.random.RandomState(seed)
    inputs, targets = [], []
    for _ in range(num_inputs):
        start = random_state.randint(VOCABULARY_SIZE - 2)
        end = random_state.randint(start, min(start + max_len, VOCABULARY_SIZE - 1))
        inputs.append(tuple(range(start, end + 1)))
        targets.append(end + 1)
    return Patterns(tuple(inputs), tuple(targets))
