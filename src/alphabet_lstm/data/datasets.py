"""Pattern generation for every dataset kind: pure functions, numpy only.

A pattern is an input run of letter codes and the code of the letter that follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alphabet_lstm.alphabet import VOCABULARY_SIZE, codes_to_letters
from alphabet_lstm.params import (
    DatasetParams,
    PrefixPaddedDataset,
    SlidingDataset,
    VariableLengthDataset,
)


@dataclass(frozen=True)
class Patterns:
    """Input code runs (ragged) and their target codes."""

    inputs: tuple[tuple[int, ...], ...]
    targets: tuple[int, ...]

    def as_records(self) -> list[dict]:
        """Letters, for the human-readable data file: [{"input": "ABC", "target": "D"}]."""
        return [
            {"input": codes_to_letters(run), "target": codes_to_letters([target])}
            for run, target in zip(self.inputs, self.targets)
        ]


def sliding_patterns(seq_length: int) -> Patterns:
    """Every window of seq_length letters and the letter after it (A->B, ..., or ABC->D, ...)."""
    starts = range(VOCABULARY_SIZE - seq_length)
    inputs = tuple(tuple(range(start, start + seq_length)) for start in starts)
    targets = tuple(start + seq_length for start in starts)
    return Patterns(inputs, targets)


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


def prefix_patterns() -> Patterns:
    """Every prefix of the alphabet, A..letter i, and letter i+1 (A->B, AB->C, ..., A..Y->Z)."""
    inputs = tuple(tuple(range(0, end + 1)) for end in range(VOCABULARY_SIZE - 1))
    targets = tuple(end + 1 for end in range(VOCABULARY_SIZE - 1))
    return Patterns(inputs, targets)


def generate_patterns(dataset: DatasetParams) -> Patterns:
    """The patterns a dataset's params describe."""
    if isinstance(dataset, SlidingDataset):
        return sliding_patterns(dataset.seq_length)
    if isinstance(dataset, VariableLengthDataset):
        return variable_length_patterns(dataset.num_inputs, dataset.max_len, dataset.seed)
    if isinstance(dataset, PrefixPaddedDataset):
        return prefix_patterns()
    raise TypeError(f"no generator for dataset kind {type(dataset).__name__}")


def all_queries(max_len: int) -> Patterns:
    """Every contiguous run of 1..max_len letters that has a next letter, in order."""
    inputs, targets = [], []
    for length in range(1, max_len + 1):
        for start in range(VOCABULARY_SIZE - length):
            inputs.append(tuple(range(start, start + length)))
            targets.append(start + length)
    return Patterns(tuple(inputs), tuple(targets))


def patterns_from_records(records: list[dict]) -> Patterns:
    """The inverse of :meth:`Patterns.as_records`."""
    from alphabet_lstm.alphabet import letters_to_codes

    return Patterns(
        tuple(tuple(letters_to_codes(record["input"])) for record in records),
        tuple(letters_to_codes(record["target"])[0] for record in records),
    )
