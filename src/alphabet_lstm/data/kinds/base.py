"""What every dataset kind provides, and the strict params base the whole schema shares."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from alphabet_lstm.alphabet import VOCABULARY_SIZE
from alphabet_lstm.data.datasets import Patterns

# The longest input any dataset can hold: a window of 25 letters still has a next letter.
MAX_SEQUENCE_LENGTH = VOCABULARY_SIZE - 1
SequenceLength = Annotated[StrictInt, Field(ge=1, le=MAX_SEQUENCE_LENGTH)]
# numpy's RandomState takes seeds that fit in 32 bits.
Seed = Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]


class StrictModel(BaseModel):
    """Params as written: no unknown keys, no coercion (a bool is not a number), frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatasetKind(StrictModel):
    """A dataset kind's params and what the study asks of a kind.

    A kind is a subclass with ``kind: Literal["its_name"]`` and its own keys, listed in
    ``alphabet_lstm.data.kinds``. A trained model's spec copies ``input_length``,
    ``shortest_query`` and ``scores_all_queries``, so evaluation and prediction need no params.
    """

    # Whether evaluation also scores every run of shortest_query..input_length letters
    # (not only the training patterns): worth it where the model takes runs of many lengths.
    scores_all_queries: ClassVar[bool] = False

    @property
    def size(self) -> int:
        """How many patterns the data set holds."""
        raise NotImplementedError

    @property
    def input_length(self) -> int:
        """The letters of one input, after left zero-padding."""
        raise NotImplementedError

    @property
    def shortest_query(self) -> int:
        """The fewest letters a query may have; a kind without padding takes exactly input_length."""
        return self.input_length

    def patterns(self) -> Patterns:
        """The data set's input runs and the letter after each."""
        raise NotImplementedError
