"""The ``sweeps:`` section of params.yaml: named grids over a framing's keys, crossed with seeds.

A sweep takes one framing of ``framings:`` as its base and overrides some of its keys with
every combination of the values listed in ``grid``; each combination (a grid point) trains
once per seed. For example::

    sweeps:
      one_char_budget:
        question: Is the one-letter framing's 84% a ceiling of the framing or of its budget?
        framing: one_char
        grid:
          units: [32, 64, 128]
          epochs: [500, 1000, 2000]
        seeds: [7, 8, 9, 10, 11]

Grid keys are the framing's keys (``units``, ``epochs``, ``batch_size``, ``stateful``,
``shuffle``, ``layout``, ``dataset``) or a dataset's keys written with a dot
(``dataset.seq_length``). Every grid point must itself be a valid framing, cross-key checks
included (a stateful batch size must divide the data), so a sweep that could fail halfway
fails at validation instead.

params.py only accepts the section (a mapping of names); a grid point is valid only with
its base framing, so :func:`sweep_problems` checks the section against the parsed framings,
run by the validate stage and by :func:`load_sweep`. Its lines follow params.py's style:
the key path, the value given, what is allowed. The pipeline's stages do not import this
module, so a change here reruns no training.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from alphabet_lstm.data.kinds import KINDS
# params.py's own message helpers, so sweep problems read like every other params problem.
from alphabet_lstm.params import (
    FramingParams,
    Params,
    ParamsError,
    _did_you_mean,
    _name,
    _near_miss,
    _show,
    parse_params,
)

SWEEP_NAME_PATTERN = r"[a-z][a-z0-9_]*"  # also a directory name and a DVC stage key
MAX_SEED = 2**32 - 1
# How many grid points one problem is shown for before "and N more".
_SHOWN_POINTS = 1


class _SweepSpec(BaseModel):
    """One sweep's keys, before its grid is checked against the base framing."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    question: Annotated[StrictStr, Field(min_length=1)]
    framing: StrictStr
    grid: Annotated[dict[StrictStr, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]
    seeds: Annotated[list[Annotated[StrictInt, Field(ge=0, le=MAX_SEED)]], Field(min_length=1)]


_ALLOWED = {
    "question": "the question the sweep answers, as text",
    "framing": "the name of a framing in framings",
    "grid": "a mapping of framing keys (units, epochs, dataset.seq_length, ...) to lists of values",
    "seeds": f"a list of one or more distinct whole numbers from 0 to {MAX_SEED}",
}


@dataclass(frozen=True)
class GridPoint:
    """One combination of grid values and the framing it makes of the base framing."""

    index: int
    values: tuple[tuple[str, Any], ...]  # (grid key, value), in the grid's key order
    framing: FramingParams

    @property
    def label(self) -> str:
        """``units=32 epochs=500``: the point's name in tables, plots and MLflow."""
        return " ".join(f"{key}={show_value(value)}" for key, value in self.values)


@dataclass(frozen=True)
class TrainingTask:
    """One training of a sweep: a grid point at one seed. Everything a worker needs."""

    sweep: str
    point: GridPoint
    seed: int

    @property
    def key(self) -> str:
        """Content key: the same framing and seed are the same training, in any sweep."""
        content = json.dumps(
            {"framing": self.point.framing.model_dump(mode="json"), "seed": self.seed}, sort_keys=True
        )
        return "alphabet-lstm-training-" + hashlib.sha256(content.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its base framing's name, grid, seeds and expanded grid points."""

    name: str
    question: str
    framing_name: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: tuple[int, ...]
    points: tuple[GridPoint, ...]
    base: FramingParams

    @property
    def grid_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.grid)

    def tasks(self) -> list[TrainingTask]:
        """Every training, grid point by grid point, seeds in the order given."""
        return [TrainingTask(self.name, point, seed) for point in self.points for seed in self.seeds]

    def base_point(self) -> GridPoint | None:
        """The grid point that leaves the base framing as it is, if the grid holds it."""
        for point in self.points:
            if point.framing == self.base:
                return point
        return None


def show_value(value: Any) -> str:
    """A grid value as params.yaml writes it (true, 32, timesteps, {kind: sliding, ...})."""
    return _show(value).strip('"') if isinstance(value, str) else _show(value)


def _dataset_keys() -> set[str]:
    return {key for model in KINDS.values() for key in model.model_fields}


def _grid_key_problem(prefix: str, key: str) -> str | None:
    framing_keys = list(FramingParams.model_fields)
    dataset_keys = sorted(_dataset_keys())
    if key in framing_keys:
        return None
    if key.startswith("dataset.") and key[len("dataset."):] in dataset_keys:
        return None
    near = _near_miss(key, framing_keys + [f"dataset.{name}" for name in dataset_keys])
    hint = f" (did you mean '{near}'?)" if near else ""
    return (
        f"{prefix}.grid.{key}: not a framing key{hint}; allowed: "
        f"{', '.join(framing_keys)} or dataset.<key> ({', '.join(dataset_keys)})"
    )


def _plain(value: Any, nested: bool = False) -> bool:
    """A value a framing key can take: a YAML scalar, or a mapping of text to scalars."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, dict) and not nested:
        return all(isinstance(key, str) and _plain(item, nested=True) for key, item in value.items())
    return False


def _point_raw(base: dict, values: tuple[tuple[str, Any], ...]) -> dict:
    """The base framing as params.yaml would write it, with the point's values put in."""
    raw = json.loads(json.dumps(base))
    for key, value in values:
        if key.startswith("dataset."):
            if isinstance(raw.get("dataset"), dict):  # else the grid's own dataset value is wrong
                raw["dataset"][key[len("dataset."):]] = value
        else:
            raw[key] = value
    return raw


def _spec_problems(prefix: str, raw: Any) -> tuple[_SweepSpec | None, list[str]]:
    """Parse one sweep's keys; problems in params.py's style, one per line."""
    if not isinstance(raw, dict):
        return None, [f"{prefix}: got {_show(raw)}; allowed: a mapping with keys {', '.join(_ALLOWED)}"]
    try:
        return _SweepSpec.model_validate(raw), []
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = item["loc"]
            field = location[0]
            path = f"{prefix}.{_name(field)}"
            if item["type"] == "extra_forbidden":
                problems.append(
                    f"{path}: unknown key{_did_you_mean(field, _ALLOWED)}; allowed keys: {', '.join(_ALLOWED)}"
                )
            elif item["type"] == "missing":
                problems.append(f"{path}: required key is missing; allowed: {_ALLOWED[field]}")
            elif field == "grid" and len(location) > 1 and isinstance(raw.get("grid"), dict):
                key = location[1]
                if item["type"] == "invalid_key" or location[-1] == "[key]":
                    problems.append(f"{path}: got the key {_show(key)}; keys must be text")
                else:
                    problems.append(
                        f"{path}.{_name(key)}: got {_show(raw['grid'].get(key))}; "
                        "allowed: a list of one or more values for that key"
                    )
            else:
                problems.append(f"{path}: got {_show(raw.get(field))}; allowed: {_ALLOWED.get(field, '')}")
        return None, list(dict.fromkeys(problems))


def _expand(name: str, spec: _SweepSpec, base: FramingParams) -> tuple[Sweep | None, list[str]]:
    """Every grid point as a framing, validated as params.py validates a framing."""
    prefix = f"sweeps.{name}"
    problems = [p for key in spec.grid if (p := _grid_key_problem(prefix, key))]
    for key, values in spec.grid.items():
        if not all(_plain(value) for value in values):
            problems.append(
                f"{prefix}.grid.{key}: got {_show(values)}; allowed: a list of numbers, text, "
                "true or false (or, for dataset, mappings of a dataset's keys to those)"
            )
            continue
        shown = [json.dumps(value, sort_keys=True) for value in values]
        if len(set(shown)) != len(shown):
            problems.append(f"{prefix}.grid.{key}: got {_show(values)}; allowed: distinct values")
    repeated = sorted({seed for seed in spec.seeds if spec.seeds.count(seed) > 1})
    if repeated:
        problems.append(
            f"{prefix}.seeds: got {_show(spec.seeds)}; allowed: distinct seeds, but "
            f"{', '.join(map(str, repeated))} appears more than once"
        )
    if problems:
        return None, problems

    base_raw = base.model_dump(mode="json")
    keys = list(spec.grid)
    points: list[GridPoint] = []
    # One problem (batch_size 7 does not divide 25) usually fails many points: shown once.
    failing: dict[str, list[str]] = {}
    for index, combination in enumerate(itertools.product(*spec.grid.values())):
        values = tuple(zip(keys, combination))
        label = GridPoint(index, values, base).label
        framing_name = spec.framing
        try:
            checked = parse_params({"seeds": [0], "framings": {framing_name: _point_raw(base_raw, values)}})
        except ParamsError as error:
            for line in error.problems:
                where, _, what = line.partition(": ")
                inner = where.removeprefix(f"framings.{framing_name}").lstrip(".")
                failing.setdefault(f"{inner}: {what}" if inner else what, []).append(label)
            continue
        points.append(GridPoint(index, values, checked.framings[framing_name]))
    for problem, labels in failing.items():
        more = f" and {len(labels) - _SHOWN_POINTS} more grid points" if len(labels) > _SHOWN_POINTS else ""
        where, _, what = problem.partition(": ")
        problems.append(f"{prefix}.grid[{', '.join(labels[:_SHOWN_POINTS])}{more}].{where}: {what}")
    if problems:
        return None, problems
    sweep = Sweep(
        name=name,
        question=spec.question,
        framing_name=spec.framing,
        grid=tuple((key, tuple(values)) for key, values in spec.grid.items()),
        seeds=tuple(spec.seeds),
        points=tuple(points),
        base=base,
    )
    return sweep, []


def _valid_alone(name: str, framing: FramingParams) -> bool:
    try:
        parse_params({"seeds": [0], "framings": {name: framing.model_dump(mode="json")}})
    except ParamsError:
        return False
    return True


def _parse_all(params: Params) -> tuple[dict[str, Sweep], list[str]]:
    entries = params.sweeps  # a mapping of text keys: params.py checked that much
    sweeps, problems = {}, []
    for name, raw in entries.items():
        prefix = f"sweeps.{_name(name)}"
        if not isinstance(name, str) or not re.fullmatch(SWEEP_NAME_PATTERN, name):
            problems.append(
                f"{prefix}: sweep name {_show(name)} is not allowed; use lower-case letters, "
                "digits and '_', starting with a letter"
            )
            continue
        spec, spec_problems = _spec_problems(prefix, raw)
        problems += spec_problems
        if spec is None:
            continue
        if spec.framing not in params.framings:
            problems.append(
                f"{prefix}.framing: got {_show(spec.framing)}{_did_you_mean(spec.framing, params.framings)}; "
                f"allowed: a framing of framings ({', '.join(map(_name, params.framings))})"
            )
            continue
        if not _valid_alone(spec.framing, params.framings[spec.framing]):
            continue  # the framing's own problems are reported under framings; not again here
        sweep, expand_problems = _expand(name, spec, params.framings[spec.framing])
        problems += expand_problems
        if sweep is not None:
            sweeps[name] = sweep
    return sweeps, problems


def sweep_problems(params: Params) -> list[str]:
    """Every problem of the ``sweeps:`` section, one line each."""
    return _parse_all(params)[1]


def check_sweeps(params: Params, source: str = "params.yaml") -> None:
    """ParamsError listing every problem of the ``sweeps:`` section, if it has any."""
    problems = sweep_problems(params)
    if problems:
        raise ParamsError(problems, source)


def sweep_names(params: Params) -> list[str]:
    return list(params.sweeps)


def load_sweep(params: Params, name: str, source: str = "params.yaml") -> Sweep:
    """The named sweep, validated and expanded; ParamsError if it is not there or not valid."""
    sweeps, problems = _parse_all(params)
    if problems:
        raise ParamsError(problems, source)
    if name not in sweeps:
        defined = ", ".join(map(_name, sweeps)) or "none"
        raise ParamsError(
            [f"sweeps.{_name(name)}: no such sweep{_did_you_mean(name, sweeps)}; defined: {defined}"], source
        )
    return sweeps[name]
