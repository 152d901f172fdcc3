"""The params layer: params.yaml parsed once, at the edge, into typed frozen objects.

``schema`` holds the sections and a sweep's typed grid, ``kinds`` the dataset kinds (each
with its patterns) and the strict base every section shares, ``checks`` reads the file and
reports every problem at once.
"""

from alphabet_lstm.errors import ParamsError
from alphabet_lstm.params.checks import load_params, parse_params
from alphabet_lstm.params.kinds import KINDS, Patterns, prefix_patterns, sliding_patterns, variable_length_patterns
from alphabet_lstm.params.schema import (
    SWEEP_ENGINE,
    FramingParams,
    GridPoint,
    Params,
    Sweep,
    TrackingParams,
    grid_label,
    show_value,
)
