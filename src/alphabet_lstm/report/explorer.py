"""The state explorer: one self-contained page (``reports/explorer.html``) that runs every
framing's LSTM in the browser, on its first-seed weights and spec, with a stateful framing's
A..Z plane from the report. Its script repeats the numpy forward pass in float32, so its
numbers are those of ``alphabet-lstm predict --show-state``; it works opened from disk.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import numpy as np
from markupsafe import Markup

from alphabet_lstm.alphabet import ALPHABET
from alphabet_lstm.model import floatmath as fm
from alphabet_lstm.model.lstm import LSTMWeights, ModelSpec
from alphabet_lstm.model.state import PAD_LABEL
from alphabet_lstm.report.render import environment
from alphabet_lstm.report.state_views import COLD_LETTER, StatefulView, stateful_view

EXPLORER_NAME = "explorer.html"
TEMPLATE_NAME = "explorer.html.j2"


def query_lengths(spec: ModelSpec) -> tuple[int, int | None]:
    """The fewest and most letters the framing takes (None: no limit, a stateful model): the
    rule of :meth:`ModelSpec.accepts_length` as two numbers the page compares with."""
    return (1, None) if spec.stateful else (spec.shortest_query, spec.input_length)


def plane(view: StatefulView) -> dict:
    """The report's plane of a stateful framing (float64, so the page projects as
    ``Projection.project`` does), the A..Z path's points and the cold start's."""
    return {
        "mean": view.projection.mean.tolist(),
        "components": view.projection.components.tolist(),
        "explained": view.projection.explained.tolist(),
        "path": view.points.tolist(),
        "cold": view.cold_point.tolist(),
        "cold_letter": COLD_LETTER,
    }


def framing_data(weights: LSTMWeights, spec: ModelSpec, view: StatefulView | None) -> dict:
    """What the page needs to run and describe one framing (``view``: its stateful view, if any)."""
    shortest, longest = query_lengths(spec)
    return {
        "framing": spec.framing,
        "seed": spec.seed,
        "units": int(weights.recurrent_kernel.shape[0]),
        "features": spec.features,
        "input_length": spec.input_length,
        "layout": spec.layout,
        "stateful": spec.stateful,
        "shortest": shortest,
        "longest": longest,
        "takes": spec.accepted_lengths(),
        # Each array float32, row-major, little-endian, as base64: exact.
        "weights": {
            name: base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")
            for name, array in zip(LSTMWeights.NAMES, weights.as_list())
        },
        "plane": plane(view or stateful_view(weights, spec)) if spec.stateful else None,
    }


def float_math() -> dict:
    """model.floatmath's float32 constants, exactly (each a float32 written as a double), so
    the page's exp and tanh are the numpy pass's without a second copy of the numbers."""

    def constants(*names: str) -> list[float]:
        return [float(getattr(fm, name)) for name in names]

    exp = constants("EXP_LOWEST", "EXP_HIGHEST", "LOG2E", "ROUNDER", "LN2_HIGH", "LN2_LOW")
    return {
        "exp": dict(zip(("lowest", "highest", "log2e", "rounder", "ln2High", "ln2Low"), exp))
        | {"poly": constants(*(f"EXP_P{index}" for index in range(6)))},
        "tanh": {
            "clamp": float(fm.TANH_CLAMP),
            "tiny": float(fm.TANH_TINY),
            "alpha": constants(*(f"TANH_ALPHA_{power}" for power in (13, 11, 9, 7, 5, 3, 1))),
            "beta": constants(*(f"TANH_BETA_{power}" for power in (6, 4, 2, 0))),
        },
    }


def explorer_data(models: Sequence[tuple[LSTMWeights, ModelSpec]], stateful_views: Sequence[StatefulView] = ()) -> dict:
    """Everything the page embeds, for models in params order; a stateful framing's plane
    comes from ``stateful_views`` where the report computed it (0.2 s a framing to redo)."""
    if not models:
        raise ValueError("the explorer needs at least one trained model")
    views = {view.framing: view for view in stateful_views}
    return {
        "alphabet": ALPHABET,
        "pad_label": PAD_LABEL,
        "float_math": float_math(),
        # The page opens on the first stateful framing (the cold K), else the first.
        "initial": {
            "framing": next((spec.framing for _, spec in models if spec.stateful), models[0][1].framing),
            "letters": COLD_LETTER,
        },
        "framings": [framing_data(weights, spec, views.get(spec.framing)) for weights, spec in models],
    }


def explorer_page(
    models: Sequence[tuple[LSTMWeights, ModelSpec]], *, title: str, stateful_views: Sequence[StatefulView] = ()
) -> str:
    """The page's HTML; the same models give the same bytes."""
    data = json.dumps(explorer_data(models, stateful_views), separators=(",", ":"), ensure_ascii=True)
    # Safe inside a <script> element: no ``</`` can close it early.
    script = Markup(data.replace("</", "<\\/"))
    return environment().get_template(TEMPLATE_NAME).render(title=title, seed=models[0][1].seed, data_json=script)
