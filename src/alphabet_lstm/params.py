"""The params schema: params.yaml parsed once, at the edge, into typed frozen objects.

Every stage calls :func:`load_params` first. Unknown keys (with a did-you-mean for near
misses), keys written twice, wrong types (a bool is not a number), values out of range and
rules spanning several keys raise :class:`ParamsError`: one line per problem naming the key
path as written in params.yaml, the value given (as YAML writes it) and what is allowed,
in pydantic's own words ("Input should be greater than or equal to 1").
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from alphabet_lstm.data.kinds import KINDS, DatasetParams, Seed, StrictModel

# Framing and sweep names: also file names and DVC stage keys. Matched whole (fullmatch).
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
Named = TypeVar("Named")


class ParamsError(ValueError):
    """A params file that does not fit the schema. ``problems`` holds one line per error."""

    def __init__(self, problems: list[str], source: str = "params.yaml"):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


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
    """A grid over one framing's keys; every grid point trains once per seed (docs/sweeps.md).

    Grid keys are the framing's keys or a dataset's keys with a dot (``dataset.seq_length``);
    the first grid key is the figure's x axis.
    """

    question: Annotated[StrictStr, Field(min_length=1)]
    framing: StrictStr
    grid: Annotated[dict[StrictStr, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]
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
    framings: Annotated[dict[str, FramingParams], Field(min_length=1)]
    sweeps: dict[str, SweepParams] = {}

    def framing(self, name: str) -> FramingParams:
        """The named framing; ParamsError listing the defined ones if it is not there."""
        return _named("framing", self.framings, name)

    def sweep(self, name: str) -> SweepParams:
        """The named sweep; ParamsError listing the defined ones if it is not there."""
        return _named("sweep", self.sweeps, name)


def _show(value: Any) -> str:
    """A value as YAML writes it, short and on one line: true, null, '3' (text, quoted where
    it would read as another type), {kind: sliding, seq_length: 1}."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=math.inf)
    text = " ".join(text.removesuffix("...\n").split())
    return text if len(text) <= 60 else text[:57] + "..."


def _name(key: Any) -> str:
    """A key as one part of a key path: plain names as they are, anything else quoted."""
    return key if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]+", key) else repr(key)


def _near_miss(word: Any, choices) -> str | None:
    """The choice a word is a near miss of (case-insensitive), if any."""
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1) if isinstance(word, str) else []
    return by_lower[close[0]] if close else None


def _did_you_mean(word: Any, choices) -> str:
    near = _near_miss(word, choices)
    return f" (did you mean {near!r}?)" if near is not None else ""


def _no_such(what: str, defined: dict, name: str) -> str:
    """A name that is not among the defined framings (or sweeps): a did-you-mean and the list."""
    return f"no such {what}{_did_you_mean(name, defined)}; defined: {', '.join(map(_name, defined)) or 'none'}"


def _named(what: str, defined: dict[str, Named], name: str) -> Named:
    """The named framing or sweep; ParamsError listing the defined ones if it is not there."""
    if name not in defined:
        raise ParamsError([f"{what}s.{_name(name)}: {_no_such(what, defined, name)}"])
    return defined[name]


def _locate(location: tuple) -> tuple[str, Any]:
    """pydantic's location as the key path written in params.yaml, and the schema type it ends at.

    pydantic also names the union member it tried (a dataset's kind; 'constrained-int' or
    "literal['all']" for batch_size): not keys of the file, so left out of the path.
    """
    path, node = "", cast(Any, Params)
    for part in location:
        if part == "[key]":  # the mapping key just named is what is wrong, not its value
            break
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(part)
            path, node = f"{path}.{_name(part)}", field and field.annotation
        elif get_origin(node) in (dict, list):
            path += f"[{part}]" if get_origin(node) is list else f".{_name(part)}"
            node = get_args(node)[-1]
        else:
            node = KINDS.get(part)  # a union's member: only a dataset's kind leads on to keys
    return path.removeprefix(".") or "(top level)", node


def _problems(errors: list[Any]) -> list[str]:
    """pydantic's errors as one line per key path: the value given and pydantic's message.

    A union fails member by member for one mistake (batch_size: a whole number or 'all'),
    so their messages share one line. A typo (``epoch:``) is one mistake too: its line says
    "did you mean 'epochs'?", so the missing ``epochs`` is not reported again.
    """
    unknown = [tuple(error["loc"]) for error in errors if error["type"] == "extra_forbidden"]
    keys = {location: list(_locate(location[:-1])[1].model_fields) for location in unknown}
    misspelt = {location[:-1] + (_near_miss(location[-1], keys[location]),) for location in unknown}
    lines: dict[tuple[str, str], list[str]] = {}
    for error in errors:
        location, context = tuple(error["loc"]), error.get("ctx", {})
        if location in keys:
            hint = _did_you_mean(location[-1], keys[location])
            given, message = "", f"unknown key{hint}; allowed keys: {', '.join(keys[location])}"
        elif error["type"] == "union_tag_not_found":  # pydantic's message names no kind
            given, message = "", f"the key kind is missing; allowed kinds: {', '.join(map(repr, KINDS))}"
        elif error["type"] == "missing":
            if location in misspelt:
                continue
            given, message = "", error["msg"]
        else:
            # A literal's choices (or a dataset's kinds) are in pydantic's context: a near miss gets a did-you-mean.
            choices = re.findall(r"'([^']*)'", context.get("expected", context.get("expected_tags", "")))
            hint = _did_you_mean(context.get("tag", error["input"]), choices)
            # pydantic's message may quote the value given (a dataset's kind): kept on one line.
            given, message = (
                f"got {_show(error['input'])}; ",
                " ".join(error["msg"].removeprefix("Value error, ").split()) + hint,
            )
        lines.setdefault((_locate(location)[0], given), []).append(message)
    return [
        f"{path}: {given}" + " or ".join([first, *(more.removeprefix("Input should be ") for more in others)])
        for (path, given), (first, *others) in lines.items()
    ]


def _name_problem(prefix: str, what: str, name: str) -> list[str]:
    rule = "use lower-case letters, digits and '_', starting with a letter"
    return [] if NAME_PATTERN.fullmatch(name) else [f"{prefix}: {what} name {name!r} is not allowed; {rule}"]


def _repeated_seeds_problem(path: str, seeds: list[int]) -> list[str]:
    repeated = ", ".join(str(seed) for seed in sorted(set(seeds)) if seeds.count(seed) > 1)
    if not repeated:
        return []
    return [f"{path}: got {_show(seeds)}; allowed: distinct seeds, but {repeated} appears more than once"]


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


def _grid_problems(prefix: str, sweep: SweepParams, base: FramingParams) -> list[str]:
    """Distinct grid values, then every grid point as a framing of its own: an unknown grid key
    or a value no framing takes is a problem of the points that have it."""
    problems = [
        f"{prefix}.grid.{key}: got {_show(values)}; allowed: distinct values"
        for key, values in sweep.grid.items()
        # YAML sorts a mapping's keys: the same dataset written in another order is the same value.
        if len({yaml.safe_dump(value) for value in values}) != len(values)
    ]
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
    return _show(value).strip("'\"") if isinstance(value, str) else _show(value)


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
            problems.append(f"report.tutorial_accuracy.{_name(name)}: {_no_such('framing', params.framings, name)}")
    for name, sweep in params.sweeps.items():
        prefix = f"sweeps.{_name(name)}"
        problems += _name_problem(prefix, "sweep", name) + _repeated_seeds_problem(f"{prefix}.seeds", sweep.seeds)
        if sweep.framing not in params.framings:
            unknown = _no_such("framing", params.framings, sweep.framing)
            problems.append(f"{prefix}.framing: got {_show(sweep.framing)}; {unknown}")
        elif not any(problem.startswith(f"framings.{sweep.framing}.") for problem in problems):
            # A bad base framing is reported once, under framings.
            problems += _grid_problems(prefix, sweep, params.framings[sweep.framing])
    return problems


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a parsed params mapping; ParamsError lists every problem, one per line."""
    if raw is None:
        raise ParamsError(["(top level): the file is empty"], source)
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_problems(error.errors()), source) from None
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
