"""The params schema: every section of params.yaml as a typed, frozen model, and a sweep as
the grid points it trains. Names, cross-key rules and each grid point's framing, checked and
typed once: ``params.checks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, PrivateAttr, StrictBool, StrictInt, StrictStr, field_validator

from alphabet_lstm.errors import ParamsError
from alphabet_lstm.params.kinds import DatasetParams, Seed, StrictModel

# Framing and sweep names: also file names and DVC stage keys. Matched whole (fullmatch).
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# A sweep is hundreds of trainings: the faithful Keras loop is too slow for it.
SWEEP_ENGINE: Final = "fast"


def _distinct(seeds: list[int]) -> list[int]:
    repeated = ", ".join(str(seed) for seed in sorted(set(seeds)) if seeds.count(seed) > 1)
    if repeated:
        raise ValueError(f"allowed: distinct seeds, but {repeated} appears more than once")
    return seeds


Seeds = Annotated[list[Seed], Field(min_length=1), AfterValidator(_distinct)]


class FramingParams(StrictModel):
    """One framing of the study: its dataset and how its LSTM is shaped and trained."""

    dataset: DatasetParams
    layout: Literal["timesteps", "features"] = "timesteps"
    stateful: StrictBool = False
    batch_size: Annotated[StrictInt, Field(ge=1)] | Literal["all"] = 1
    epochs: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    units: Annotated[StrictInt, Field(ge=1, le=4096)]
    shuffle: StrictBool = True

    @property
    def resolved_batch_size(self) -> int:
        """The batch size as a number: ``all`` means the whole data set in one batch."""
        return self.dataset.size if self.batch_size == "all" else self.batch_size


class TrainParams(StrictModel):
    """Settings shared by every training: which engine runs the tutorial's math."""

    engine: Literal["fast", "keras"] = "fast"


class ReportParams(StrictModel):
    """What the report shows beside our results: the tutorial's reported accuracies."""

    tutorial_accuracy: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}


class TrackingParams(StrictModel):
    """The MLflow store the log stages write to: a param, so that DVC reruns them when it
    changes (DVC cannot see MLFLOW_TRACKING_URI). Credentials stay in MLflow's variables."""

    uri: StrictStr = "sqlite:///mlflow.db"

    @field_validator("uri")
    @classmethod
    def _has_a_scheme(cls, uri: str) -> str:
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://\S", uri):
            raise ValueError(
                "allowed: a tracking URI with its scheme: sqlite:///mlflow.db (the embedded store at the "
                "checkout root), http(s)://host:port (a tracking server), or another scheme MLflow takes "
                "(file://, postgresql://)"
            )
        return uri


class SweepParams(StrictModel):
    """A grid over one framing's keys (a dataset's with a dot: ``dataset.seq_length``); every
    grid point trains once per seed; the first key is the figure's x axis (docs/sweeps.md)."""

    question: Annotated[StrictStr, Field(min_length=1)]
    framing: StrictStr
    grid: Annotated[dict[StrictStr, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]
    seeds: Seeds


@dataclass(frozen=True)
class GridPoint:
    """One combination of grid values and the framing it makes of the base framing."""

    index: int
    values: tuple[tuple[str, Any], ...]  # (grid key, value), in the grid's key order
    framing: FramingParams

    @property
    def label(self) -> str:
        return grid_label(self.values)


class Params(StrictModel):
    """The whole params.yaml."""

    seeds: Seeds
    train: TrainParams = Field(default_factory=TrainParams)
    report: ReportParams = Field(default_factory=ReportParams)
    tracking: TrackingParams = Field(default_factory=TrackingParams)
    framings: Annotated[dict[str, FramingParams], Field(min_length=1)]
    sweeps: dict[str, SweepParams] = {}
    # Each sweep's grid points, typed once by the checks (checks.parse_params) that proved them valid.
    _grid_points: dict[str, tuple[GridPoint, ...]] = PrivateAttr(default_factory=dict)

    def framing(self, name: str) -> FramingParams:
        if name not in self.framings:
            raise ParamsError([f"framings.{_name(name)}: {_no_such('framing', self.framings, name)}"])
        return self.framings[name]

    def sweep(self, name: str) -> SweepParams:
        if name not in self.sweeps:
            raise ParamsError([f"sweeps.{_name(name)}: {_no_such('sweep', self.sweeps, name)}"])
        return self.sweeps[name]


def _show(value: Any) -> str:
    """A value as YAML writes it, one line, at most 60 characters: true, null, '3', {kind: sliding, seq_length: 1}."""
    import yaml  # here, not at import: only messages and sweep labels need it (issue 28's start-up)

    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=float("inf"))
    text = " ".join(text.removesuffix("...\n").split())
    return text if len(text) <= 60 else text[:57] + "..."


def _name(key: Any) -> str:
    """A key as one part of a key path: plain names as they are, anything else quoted."""
    return key if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]+", key) else repr(key)


def _near_miss(word: Any, choices) -> str | None:
    """The choice a word is a near miss of (case-insensitive), if any."""
    import difflib  # only a mistake needs it: not loaded at start-up

    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1) if isinstance(word, str) else []
    return by_lower[close[0]] if close else None


def _did_you_mean(word: Any, choices) -> str:
    near = _near_miss(word, choices)
    return f" (did you mean {near!r}?)" if near is not None else ""


def _no_such(what: str, defined: dict, name: str) -> str:
    """A name that is not among the defined framings (or sweeps): a did-you-mean and the list."""
    return f"no such {what}{_did_you_mean(name, defined)}; defined: {', '.join(map(_name, defined)) or 'none'}"


def show_value(value: Any) -> str:
    """A grid value as params.yaml writes it (true, 32, timesteps, {kind: sliding, ...})."""
    return _show(value).strip("'\"") if isinstance(value, str) else _show(value)


def grid_label(values: tuple[tuple[str, Any], ...]) -> str:
    """``epochs=500 units=32``: a grid point's name in tables, figures and MLflow."""
    return " ".join(f"{key}={show_value(value)}" for key, value in values)


@dataclass(frozen=True)
class Sweep:
    """A checked sweep expanded into its grid points."""

    name: str
    params: SweepParams
    base: FramingParams
    points: tuple[GridPoint, ...]  # in index order: every point of the grid is valid

    @classmethod
    def from_params(cls, params: Params, name: str) -> Sweep:
        """The named sweep of checked params (ParamsError if there is none)."""
        sweep = params.sweep(name)
        return cls(name, sweep, params.framing(sweep.framing), params._grid_points[name])

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.params.seeds)

    def trainings(self) -> list[tuple[GridPoint, int]]:
        """Every training (a grid point at a seed), point by point, seeds in the order given."""
        return [(point, seed) for point in self.points for seed in self.seeds]

    def base_point(self) -> GridPoint | None:
        """The grid point that leaves the base framing as it is, if the grid holds it."""
        return next((point for point in self.points if point.framing == self.base), None)
