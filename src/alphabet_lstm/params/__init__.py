"""The params layer: params.yaml parsed once, at the edge, into typed frozen objects.

``schema`` holds the sections, ``kinds`` the dataset kinds (each with its patterns) and the
strict base every section shares, ``checks`` reads the file and reports every problem.
"""

from alphabet_lstm.errors import ParamsError
from alphabet_lstm.params.checks import load_params, parse_params
from alphabet_lstm.params.kinds import (
    KINDS,
    MAX_SEQUENCE_LENGTH,
    DatasetKind,
    DatasetParams,
    Patterns,
    PrefixPaddedDataset,
    SlidingDataset,
    VariableLengthDataset,
    prefix_patterns,
    sliding_patterns,
    variable_length_patterns,
)
from alphabet_lstm.params.schema import (
    NAME_PATTERN,
    SWEEP_ENGINE,
    FramingParams,
    GridPoint,
    Params,
    ReportParams,
    Sweep,
    SweepParams,
    TrackingParams,
    TrainParams,
    grid_label,
    show_value,
)

__all__ = [
    "KINDS",
    "MAX_SEQUENCE_LENGTH",
    "NAME_PATTERN",
    "SWEEP_ENGINE",
    "DatasetKind",
    "DatasetParams",
    "FramingParams",
    "GridPoint",
    "Params",
    "ParamsError",
    "Patterns",
    "PrefixPaddedDataset",
    "ReportParams",
    "SlidingDataset",
    "Sweep",
    "SweepParams",
    "TrackingParams",
    "TrainParams",
    "VariableLengthDataset",
    "grid_label",
    "load_params",
    "parse_params",
    "prefix_patterns",
    "show_value",
    "sliding_patterns",
    "variable_length_patterns",
]
