"""The dataset kinds, one module each; the params union and dispatch are built from them.

Adding a kind: a module here with its :class:`DatasetKind` subclass (params, patterns,
query lengths), and its class listed once in ``KINDS`` below.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from alphabet_lstm.data.kinds.base import MAX_SEQUENCE_LENGTH, DatasetKind, Seed, StrictModel
from alphabet_lstm.data.kinds.prefix_padded import PrefixPaddedDataset
from alphabet_lstm.data.kinds.sliding import SlidingDataset
from alphabet_lstm.data.kinds.variable_length import VariableLengthDataset

# Each kind's name (its ``kind`` literal) -> its params model, in the order messages list them.
KINDS: dict[str, type[DatasetKind]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in (SlidingDataset, VariableLengthDataset, PrefixPaddedDataset)
}


# Written out (not built from KINDS) so that type checkers see the union.
DatasetParams = Annotated[SlidingDataset | VariableLengthDataset | PrefixPaddedDataset, Field(discriminator="kind")]

__all__ = [
    "KINDS",
    "MAX_SEQUENCE_LENGTH",
    "DatasetKind",
    "DatasetParams",
    "PrefixPaddedDataset",
    "Seed",
    "SlidingDataset",
    "StrictModel",
    "VariableLengthDataset",
]
