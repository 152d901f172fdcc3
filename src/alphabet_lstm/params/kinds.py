"""The dataset kinds (each kind's params and patterns) and the strict base the whole schema
shares. A pattern is an input run of letter codes and the code of the letter after it.
Adding a kind: a :class:`DatasetKind` subclass here, listed once in ``KINDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from alphabet_lstm.alphabet import VOCABULARY_SIZE, codes_to_letters

# The longest input any dataset can hold: a window of 25 letters still has a next letter.
MAX_SEQUENCE_LENGTH = VOCABULARY_SIZE - 1
SequenceLength = Annotated[StrictInt, Field(ge=1, le=MAX_SEQUENCE_LENGTH)]
# numpy's RandomState takes seeds that fit in 32 bits.
Seed = Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]


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


class StrictModel(BaseModel):
    """Params as written: no unknown keys, no coercion (a bool is not a number), frozen."""

    # defer_build: validators are built at first use, not at import (one for Params, not one per model).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class DatasetKind(StrictModel):
    """A dataset kind's params (``kind: Literal["its_name"]`` and its own keys) and what the
    study asks of it; a trained model's spec copies the query lengths and scoring."""

    # Whether evaluation also scores every query of shortest_query..input_length letters, not only the patterns.
    scores_all_queries: ClassVar[bool] = False

    @property
    def size(self) -> int:  # how many patterns the data set holds
        return len(self.patterns().targets)

    @property
    def input_length(self) -> int:  # the letters of one input, after left zero-padding
        raise NotImplementedError

    @property
    def shortest_query(self) -> int:
        """The fewest letters a query may have; a kind without padding takes exactly input_length."""
        return self.input_length

    def patterns(self) -> Patterns:  # the data set's input runs and the letter after each
        raise NotImplementedError


class SlidingDataset(DatasetKind):
    """Every window of ``seq_length`` consecutive letters, predicting the next letter (tutorial framings 1-5)."""

    kind: Literal["sliding"]
    seq_length: SequenceLength

    @property
    def input_length(self) -> int:
        return self.seq_length

    def patterns(self) -> Patterns:
        return sliding_patterns(self.seq_length)


def sliding_patterns(seq_length: int) -> Patterns:
    starts = range(VOCABULARY_SIZE - seq_length)
    inputs = tuple(tuple(range(start, start + seq_length)) for start in starts)
    targets = tuple(start + seq_length for start in starts)
    return Patterns(inputs, targets)


class PaddedRunsDataset(DatasetKind):
    """A kind of runs of 1..input_length letters, left zero-padded: every such query is scored."""

    scores_all_queries = True

    @property
    def shortest_query(self) -> int:
        return 1


class VariableLengthDataset(PaddedRunsDataset):
    """``num_inputs`` random contiguous runs of 1..max_len letters, left zero-padded (tutorial framing 6)."""

    kind: Literal["variable_length"]
    num_inputs: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    max_len: SequenceLength
    seed: Seed = 7

    @property
    def size(self) -> int:  # without drawing a million runs
        return self.num_inputs

    @property
    def input_length(self) -> int:
        return self.max_len

    def patterns(self) -> Patterns:
        return variable_length_patterns(self.num_inputs, self.max_len, self.seed)


def variable_length_patterns(num_inputs: int, max_len: int, seed: int) -> Patterns:
    """The tutorial's random contiguous runs of 1..max_len letters, drawn as it draws them
    after ``numpy.random.seed(seed)``: seed 7 gives its own data set (PQRST->U, W->X, ...)."""
    random_state = np.random.RandomState(seed)
    inputs, targets = [], []
    for _ in range(num_inputs):
        start = random_state.randint(VOCABULARY_SIZE - 2)
        end = random_state.randint(start, min(start + max_len, VOCABULARY_SIZE - 1))
        inputs.append(tuple(range(start, end + 1)))
        targets.append(end + 1)
    return Patterns(tuple(inputs), tuple(targets))


class PrefixPaddedDataset(PaddedRunsDataset):
    """Every prefix A..letter i, left zero-padded to 25, predicting letter i+1 (the tutorial's proposal)."""

    kind: Literal["prefix_padded"]

    @property
    def input_length(self) -> int:
        return MAX_SEQUENCE_LENGTH

    def patterns(self) -> Patterns:
        return prefix_patterns()


def prefix_patterns() -> Patterns:
    inputs = tuple(tuple(range(0, end + 1)) for end in range(VOCABULARY_SIZE - 1))
    targets = tuple(end + 1 for end in range(VOCABULARY_SIZE - 1))
    return Patterns(inputs, targets)


# Each kind's name (its ``kind`` literal) -> its params model, in the order messages list them.
KINDS: dict[str, type[DatasetKind]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in (SlidingDataset, VariableLengthDataset, PrefixPaddedDataset)
}


# Written out (not built from KINDS) so that type checkers see the union.
DatasetParams = Annotated[SlidingDataset | VariableLengthDataset | PrefixPaddedDataset, Field(discriminator="kind")]
