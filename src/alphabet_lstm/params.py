"""The params schema: params.yaml parsed once, at the edge, into typed frozen objects.

Every stage calls :func:`load_params` first. Unknown keys (with a did-you-mean for near
misses), keys written twice, wrong types (a bool is not a number) and values out of range
raise :class:`ParamsError`, whose message is one line per problem naming the key path as
written in params.yaml, the value given (as YAML writes it) and what is allowed. The lines
are built from pydantic's errors and the schema's own field metadata (bounds, choices).
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic.fields import FieldInfo

from alphabet_lstm.data.kinds import KINDS, DatasetParams, Seed, StrictModel

# Framing and sweep names: also file names and DVC stage keys. Matched whole (fullmatch).
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


class ParamsError(ValueError):
    """A params file that does not fit the schema. ``problems`` holds one line per error."""

    def __init__(self, problems: list[str], source: str = "params.yaml"):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def _choices(values) -> str:
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class FramingParams(StrictModel):
    """One framing of the study: its dataset and how its LSTM is shaped and trained."""

    dataset: Annotated[
        DatasetParams,
        Field(description=f"a mapping whose 'kind' is {_choices(KINDS)}, with that kind's keys"),
    ]
    layout: Literal["timesteps", "features"] = "timesteps"
    stateful: StrictBool = False
    batch_size: Annotated[
        Annotated[StrictInt, Field(ge=1)] | Literal["all"],
        Field(description="a whole number from 1 to the data set's size, or 'all'"),
    ] = 1
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

    uri: Annotated[
        StrictStr,
        Field(
            pattern=r"^[A-Za-z][A-Za-z0-9+.-]*://\S",
            description=(
                "a tracking URI with its scheme: sqlite:///mlflow.db (the embedded store at the "
                "checkout root), http(s)://host:port (a tracking server), or another scheme MLflow "
                "takes (file://, postgresql://)"
            ),
        ),
    ] = "sqlite:///mlflow.db"


class SweepParams(StrictModel):
    """A grid over one framing's keys; every grid point trains once per seed (docs/sweeps.md).

    Grid keys are the framing's keys or a dataset's keys with a dot (``dataset.seq_length``);
    the first grid key is the figure's x axis.
    """

    question: Annotated[StrictStr, Field(min_length=1, description="the question the sweep answers, as text")]
    framing: Annotated[StrictStr, Field(description="the name of a framing in framings")]
    grid: Annotated[
        dict[
            StrictStr,
            Annotated[list[Any], Field(min_length=1, description="a list of one or more values for that key")],
        ],
        Field(
            min_length=1,
            description="a mapping of framing keys (units, epochs, dataset.seq_length, ...) to lists of values",
        ),
    ]
    seeds: Annotated[list[Seed], Field(min_length=1)]

    def points(self, base: FramingParams) -> list[tuple[tuple[tuple[str, Any], ...], dict]]:
        """Every combination of grid values, in grid order, with the framing it makes of
        ``base`` as params.yaml would write it (validated by :func:`parse_params`)."""
        points = []
        for combination in itertools.product(*self.grid.values()):
            values = tuple(zip(self.grid, combination))
            raw = base.model_dump(mode="json")
            for key, value in values:
                if key.startswith("dataset."):
                    raw["dataset"][key.removeprefix("dataset.")] = value
                else:
                    raw[key] = value
            points.append((values, raw))
        return points


class Params(StrictModel):
    """The whole params.yaml."""

    seeds: Annotated[list[Seed], Field(min_length=1)]
    train: TrainParams = TrainParams()
    report: ReportParams = ReportParams()
    tracking: TrackingParams = TrackingParams()
    framings: Annotated[
        dict[str, FramingParams],
        Field(min_length=1, description="a mapping of one or more framing names to framings"),
    ]
    sweeps: Annotated[dict[str, SweepParams], Field(description="a mapping of sweep names to sweeps")] = {}

    def framing(self, name: str) -> FramingParams:
        """The named framing; ParamsError listing the defined ones if it is not there."""
        if name not in self.framings:
            raise ParamsError(
                [
                    f"framings.{_name(name)}: no such framing{_did_you_mean(name, self.framings)}; "
                    f"defined: {', '.join(map(_name, self.framings))}"
                ]
            )
        return self.framings[name]

    def sweep(self, name: str) -> SweepParams:
        """The named sweep; ParamsError listing the defined ones if it is not there."""
        if name not in self.sweeps:
            defined = ", ".join(map(_name, self.sweeps)) or "none"
            raise ParamsError(
                [f"sweeps.{_name(name)}: no such sweep{_did_you_mean(name, self.sweeps)}; defined: {defined}"]
            )
        return self.sweeps[name]


def _show(value: Any, depth: int = 0, width: int = 60) -> str:
    """A value the way YAML writes it (true, null, "text", {key: 1}), short and on one line."""
    if value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (dict, list)) and depth >= 2:
        # Deep (or, through YAML anchors, self-referencing) values are cut short.
        text = "{...}" if isinstance(value, dict) else "[...]"
    elif isinstance(value, dict):
        items = [
            f"{key if isinstance(key, str) else _show(key, depth + 1)}: {_show(item, depth + 1)}"
            for key, item in list(value.items())[:8]
        ]
        text = "{" + ", ".join(items) + "}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(item, depth + 1) for item in value[:8]) + "]"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _name(key: Any) -> str:
    """A key as one part of a key path: plain names as they are, anything else quoted."""
    return key if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]+", key) else _show(key)


def _near_miss(word: Any, choices) -> str | None:
    """The choice a word is a near miss of (case-insensitive), if any."""
    if not isinstance(word, str):
        return None
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _did_you_mean(word: Any, choices) -> str:
    near = _near_miss(word, choices)
    return f" (did you mean {_name(near)!r}?)" if near is not None else ""


def _keys_text(model: Any) -> str:
    return f"a mapping with keys {', '.join(model.model_fields)}"


def _allowed(info: Any, plural: bool = False) -> str:
    """What a field (or a list item, a mapping's value) accepts, in words, from its schema."""
    annotation = info.annotation
    if info.description:
        return info.description
    if get_origin(annotation) is list:
        return f"a list of one or more distinct {_allowed(_item(annotation, 0), plural=True)}"
    if get_origin(annotation) is dict:
        return f"a mapping of framing names to {_allowed(_item(annotation, 1), plural=True)}"
    if get_origin(annotation) is Literal:
        return _choices(get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation not in (int, float):
        return _keys_text(annotation)
    noun = "whole number" if annotation is int else "number"
    text = f"{noun}s" if plural else f"a {noun}"
    # pydantic keeps Field(ge=..., le=...) as annotated_types.Ge / Le items in the metadata.
    bounds = {name: getattr(item, name) for item in info.metadata for name in ("ge", "le") if hasattr(item, name)}
    if "le" in bounds:
        return f"{text} from {bounds['ge']} to {bounds['le']}"
    return f"{text} of at least {bounds['ge']}" if "ge" in bounds else text


def _item(annotation, index: int) -> FieldInfo:
    return FieldInfo.from_annotation(get_args(annotation)[index])


def _words(info: FieldInfo | None) -> list:
    """The words a field accepts (its literals, also inside a union), for did-you-mean."""
    annotation = info.annotation if info else None
    members = get_args(annotation) if get_origin(annotation) is Union else (annotation,)
    return [word for member in members if get_origin(member) is Literal for word in get_args(member)]


def _locate(location: tuple) -> tuple[list[str], type[BaseModel], FieldInfo | None]:
    """Where a pydantic error points: the key path as written in params.yaml, the model
    holding the last key, and that key's schema (None for a key the model does not have).

    pydantic's location also names the union member it tried (a dataset kind, or
    'constrained-int' for batch_size); those are not keys of the file and are skipped.
    """
    path: list[str] = []
    model: Any = Params
    info: FieldInfo | None = None
    annotation: Any
    for part in location:
        annotation = info.annotation if info else None
        origin = get_origin(annotation)
        if part == "[key]":
            break
        if origin is list:
            path[-1] += f"[{part}]"
            info = _item(annotation, 0)
        elif origin is dict:
            path.append(_name(part))
            info = _item(annotation, 1)
        elif info is None or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            model = annotation or model
            path.append(_name(part))
            info = model.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                break
        elif part in KINDS and KINDS[part] in get_args(annotation):
            info = FieldInfo.from_annotation(KINDS[part])
    return path, model, info


def _describe(error: Any) -> str:
    """One line for one pydantic error: key path, value given, what is allowed."""
    path, model, info = _locate(tuple(error["loc"]))
    kind, given, text = error["type"], error.get("input"), ".".join(path) or "(top level)"
    if kind == "extra_forbidden":
        keys = list(model.model_fields)
        unknown = f"{text}: unknown key{_did_you_mean(error['loc'][-1], keys)}"
        tag = next((tag for tag, kind_model in KINDS.items() if kind_model is model), None)
        if tag is not None:
            return f"{unknown}; a dataset of kind '{tag}' takes the keys {', '.join(keys)}"
        return f"{unknown}; allowed keys: {', '.join(keys)}"
    if kind == "invalid_key" or error["loc"][-1:] == ("[key]",):
        parent = ".".join(path if error["loc"][-1:] == ("[key]",) else path[:-1])
        return f"{parent or '(top level)'}: got the key {_show(given)}; keys must be text"
    if kind == "missing":
        return f"{text}: required key is missing; allowed: {_allowed(info)}"
    if kind == "union_tag_not_found":
        return f"{text}.kind: required key is missing; allowed: {_choices(KINDS)}"
    if kind == "union_tag_invalid":
        tag = given.get("kind")
        return f"{text}.kind: got {_show(tag)}{_did_you_mean(tag, KINDS)}; allowed: {_choices(KINDS)}"
    return f"{text}: got {_show(given)}{_did_you_mean(given, _words(info))}; allowed: {_allowed(info)}"


def _misspelt_locations(errors: Sequence[Any]) -> set[tuple]:
    """Missing required keys that an unknown key beside them is a near miss of.

    A typo (``epoch:``) is one mistake; the unknown-key line already says "did you mean
    'epochs'?", so the missing ``epochs`` is not reported again.
    """
    missing = {tuple(error["loc"]) for error in errors if error["type"] == "missing"}
    explained = set()
    for error in errors:
        location = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            near = _near_miss(location[-1], _locate(location)[1].model_fields)
            if near is not None and location[:-1] + (near,) in missing:
                explained.add(location[:-1] + (near,))
    return explained


def _name_problem(prefix: str, what: str, name: str) -> list[str]:
    if NAME_PATTERN.fullmatch(name):
        return []
    return [
        f"{prefix}: {what} name {_show(name)} is not allowed; use lower-case letters, digits and '_', "
        "starting with a letter"
    ]


def _repeated_seeds_problem(path: str, seeds: list[int]) -> list[str]:
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if not repeated:
        return []
    return [
        f"{path}: got {_show(seeds)}; allowed: distinct seeds, but "
        f"{', '.join(map(str, repeated))} appears more than once"
    ]


def _framing_problems(prefix: str, framing: FramingParams) -> list[str]:
    """Checks that span several keys of one framing."""
    problems = []
    size, batch_size = framing.dataset.size, framing.resolved_batch_size
    if batch_size > size:
        problems.append(
            f"{prefix}.batch_size: got {batch_size}; allowed: a whole number from 1 to "
            f"{size} (the data set's size), or 'all'"
        )
    elif framing.stateful and size % batch_size != 0:
        divisors = [str(d) for d in range(1, size + 1) if size % d == 0]
        problems.append(
            f"{prefix}.batch_size: got {batch_size}; allowed: a divisor of the data set's "
            f"{size} patterns ({', '.join(divisors)}) or 'all', because a stateful "
            "framing continues each batch's state in the next"
        )
    if framing.stateful and framing.shuffle:
        problems.append(
            f"{prefix}.shuffle: got true with stateful: true; allowed: false, because a "
            "stateful framing carries state from one batch to the next in order"
        )
    return problems


def _plain(value: Any, nested: bool = False) -> bool:
    """A value a framing key can take: a YAML scalar, or (for dataset) a mapping of scalars."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, dict) and not nested and all(_plain(item, nested=True) for item in value.values())


def _grid_problems(prefix: str, sweep: SweepParams, base: FramingParams) -> list[str]:
    """Grid keys and values, then every grid point as a framing of its own."""
    framing_keys = list(FramingParams.model_fields)
    dataset_keys = sorted({key for model in KINDS.values() for key in model.model_fields})
    allowed_keys = framing_keys + [f"dataset.{key}" for key in dataset_keys]
    problems = []
    for key, values in sweep.grid.items():
        if key not in allowed_keys:
            near = _near_miss(key, allowed_keys)
            problems.append(
                f"{prefix}.grid.{key}: not a framing key{f' (did you mean {near!r}?)' if near else ''}; allowed: "
                f"{', '.join(framing_keys)} or dataset.<key> ({', '.join(dataset_keys)})"
            )
        elif not all(_plain(value) for value in values):
            problems.append(
                f"{prefix}.grid.{key}: got {_show(values)}; allowed: a list of numbers, text, "
                "true or false (or, for dataset, mappings of a dataset's keys to those)"
            )
        elif len({json.dumps(value, sort_keys=True) for value in values}) != len(values):
            problems.append(f"{prefix}.grid.{key}: got {_show(values)}; allowed: distinct values")
    if problems:
        return problems
    # One mistake (batch_size 7 does not divide 25) usually fails many points: shown once.
    failing: dict[str, list[str]] = {}
    for point_values, raw in sweep.points(base):
        try:
            parse_params({"seeds": [0], "framings": {sweep.framing: raw}})
        except ParamsError as error:
            label = grid_label(point_values)
            for line in error.problems:
                where, _, what = line.partition(": ")
                inner = where.removeprefix(f"framings.{sweep.framing}")
                failing.setdefault(f"{inner}: {what}", []).append(label)
    for problem, labels in failing.items():
        more = f" and {len(labels) - 1} more grid points" if len(labels) > 1 else ""
        problems.append(f"{prefix}.grid[{labels[0]}{more}]{problem}")
    return problems


def show_value(value: Any) -> str:
    """A grid value as params.yaml writes it (true, 32, timesteps, {kind: sliding, ...})."""
    return _show(value).strip('"') if isinstance(value, str) else _show(value)


def grid_label(values: tuple[tuple[str, Any], ...]) -> str:
    """``epochs=500 units=32``: a grid point's name in tables, figures and MLflow."""
    return " ".join(f"{key}={show_value(value)}" for key, value in values)


def _cross_checks(params: Params) -> list[str]:
    """Checks that span several keys."""
    problems = []
    for name, framing in params.framings.items():
        prefix = f"framings.{_name(name)}"
        problems += _name_problem(prefix, "framing", name) + _framing_problems(prefix, framing)
    problems += _repeated_seeds_problem("seeds", params.seeds)
    for name in params.report.tutorial_accuracy:
        if name not in params.framings:
            problems.append(
                f"report.tutorial_accuracy.{_name(name)}: no framing of that name"
                f"{_did_you_mean(name, params.framings)}; allowed: the framings "
                f"{', '.join(map(_name, params.framings))}"
            )
    for name, sweep in params.sweeps.items():
        prefix = f"sweeps.{_name(name)}"
        problems += _name_problem(prefix, "sweep", name) + _repeated_seeds_problem(f"{prefix}.seeds", sweep.seeds)
        if sweep.framing not in params.framings:
            problems.append(
                f"{prefix}.framing: got {_show(sweep.framing)}{_did_you_mean(sweep.framing, params.framings)}; "
                f"allowed: a framing of framings ({', '.join(map(_name, params.framings))})"
            )
        elif not any(problem.startswith(f"framings.{sweep.framing}.") for problem in problems):
            # A bad base framing is reported once, under framings.
            problems += _grid_problems(prefix, sweep, params.framings[sweep.framing])
    return problems


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a parsed params mapping; ParamsError lists every problem, one per line."""
    if not isinstance(raw, dict):
        given = "an empty file" if raw is None else _show(raw)
        raise ParamsError([f"(top level): got {given}; allowed: {_keys_text(Params)}"], source)
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        errors = error.errors()
        misspelt = _misspelt_locations(errors)
        problems = [_describe(e) for e in errors if tuple(e["loc"]) not in misspelt]
        # Union members fail one by one for one mistake; dict.fromkeys keeps one line.
        raise ParamsError(list(dict.fromkeys(problems)), source) from None
    problems = _cross_checks(params)
    if problems:
        raise ParamsError(problems, source)
    return params


class _DuplicateKey(yaml.YAMLError):
    """A key written twice in one mapping; the message gives both lines."""


_BOOL_TAG = "tag:yaml.org,2002:bool"
_BOOL_PATTERN = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping, booleans as YAML 1.2.

    Plain PyYAML keeps the last of two ``epochs:`` lines without a word (a merge, ``<<``,
    may still be overridden, as YAML intends). It also reads yes/no/on/off as booleans
    (YAML 1.1), where DVC, which reads params.yaml too, sees text: here only true and
    false are booleans, so both see the same value.
    """

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL_TAG]
        + ([(_BOOL_TAG, _BOOL_PATTERN)] if first in "tTfF" else [])
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_nodes: dict = {}  # key -> the key node that wrote it first
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = first_nodes.setdefault(key, key_node)
                except TypeError:
                    continue  # an unhashable key: the base loader reports it
                if first is not key_node:
                    raise _DuplicateKey(
                        f"line {key_node.start_mark.line + 1}: the key {_name(key)} is written "
                        f"twice in one mapping (first on line {first.start_mark.line + 1}); "
                        "allowed: each key once"
                    )
        return super().construct_mapping(node, deep=deep)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(["file not found"], str(path)) from None
    except UnicodeDecodeError as error:
        raise ParamsError([f"not UTF-8 text: {error}"], str(path)) from None
    except OSError as error:
        raise ParamsError([f"cannot be read: {error.strerror or error}"], str(path)) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as error:
        raise ParamsError([str(error)], str(path)) from None
    except yaml.YAMLError as error:
        raise ParamsError([f"not valid YAML: {' '.join(str(error).split())}"], str(path)) from None
    return parse_params(raw, str(path))
