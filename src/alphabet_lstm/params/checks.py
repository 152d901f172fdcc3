"""params.yaml read (YAML 1.2, as DVC reads it) and checked. Unknown keys (with a
did-you-mean), keys written twice, wrong types, values out of range and cross-key rules
raise :class:`ParamsError`: one line per problem naming the key path, the value given and
what is allowed.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Literal, cast, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from alphabet_lstm.errors import ParamsError
from alphabet_lstm.params.kinds import KINDS
from alphabet_lstm.params.schema import (
    NAME_PATTERN,
    FramingParams,
    GridPoint,
    Params,
    SweepParams,
    _did_you_mean,
    _name,
    _near_miss,
    _no_such,
    _show,
    grid_label,
)


def _literals(annotation: Any) -> list[str]:
    """The values a Literal allows, wherever it sits in a (union) annotation."""
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    return [value for member in get_args(annotation) for value in _literals(member)]


def _locate(location: tuple, root: type[BaseModel] = Params) -> tuple[str, Any]:
    """pydantic's location as the key path written in params.yaml, and the schema type it ends at.
    The union members pydantic names (a dataset's kind, "literal['all']") are not keys: left out."""
    path, node = "", cast(Any, root)
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
            node = KINDS.get(part, node)  # a union's member: only a dataset's kind leads on to keys
    return path.removeprefix(".") or "(top level)", node


def _problems(errors: list[Any], root: type[BaseModel] = Params) -> list[str]:
    """pydantic's errors as one line per key path (the value given, pydantic's message). A union failing
    member by member is one line; so is a typo (``epoch:``): its did-you-mean stands for the missing ``epochs``."""
    unknown = [tuple(error["loc"]) for error in errors if error["type"] == "extra_forbidden"]
    keys = {location: list(_locate(location[:-1], root)[1].model_fields) for location in unknown}
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
            # A literal's choices (or a dataset's kinds), from the schema: a near miss gets a did-you-mean.
            literal = error["type"] == "literal_error"
            choices = KINDS if "tag" in context else _literals(_locate(location, root)[1]) if literal else []
            hint = _did_you_mean(context.get("tag", error["input"]), choices)
            # pydantic's message may quote the value given (a dataset's kind): kept on one line.
            given, message = (
                f"got {_show(error['input'])}; ",
                " ".join(error["msg"].removeprefix("Value error, ").split()) + hint,
            )
        lines.setdefault((_locate(location, root)[0], given), []).append(message)
    return [
        f"{path}: {given}" + " or ".join([first, *(more.removeprefix("Input should be ") for more in others)])
        for (path, given), (first, *others) in lines.items()
    ]


def _name_problem(prefix: str, what: str, name: str) -> list[str]:
    rule = "use lower-case letters, digits and '_', starting with a letter"
    return [] if NAME_PATTERN.fullmatch(name) else [f"{prefix}: {what} name {name!r} is not allowed; {rule}"]


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


def _comparable(value: object) -> str:
    """A grid value as text equal for equal values (JSON sorts keys: a dataset in another key order is the same)."""
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError:  # keys of mixed types cannot be sorted; the schema refuses them anyway
        return repr(value)


def _grid_points(prefix: str, sweep: SweepParams, base: FramingParams) -> tuple[list[GridPoint], list[str]]:
    """Every grid point typed as a framing of its own (each problem's path inside it), or the
    problems: an unknown grid key or a value no framing takes is a problem of the points that have it."""
    problems = [
        f"{prefix}.grid.{key}: got {_show(values)}; allowed: distinct values"
        for key, values in sweep.grid.items()
        if len({_comparable(value) for value in values}) != len(values)
    ]
    if problems:
        return [], problems
    points: list[GridPoint] = []
    failing: dict[str, list[str]] = {}
    for index, combination in enumerate(itertools.product(*sweep.grid.values())):
        values = tuple(zip(sweep.grid, combination))
        raw = base.model_dump(mode="json")
        for key, value in values:
            (raw["dataset"] if key.startswith("dataset.") else raw)[key.removeprefix("dataset.")] = value
        try:
            framing = FramingParams.model_validate(raw)
        except ValidationError as error:
            point_problems = [f".{line}" for line in _problems(error.errors(), FramingParams)]
        else:
            point_problems = _framing_problems("", framing)
            points.append(GridPoint(index, values, framing))
        # One mistake (batch_size 7 does not divide 25) usually fails many points: shown once.
        for problem in point_problems:
            failing.setdefault(problem, []).append(grid_label(values))
    for problem, labels in failing.items():
        more = f" and {len(labels) - 1} more grid points" if len(labels) > 1 else ""
        problems.append(f"{prefix}.grid[{labels[0]}{more}]{problem}")
    return points, problems


def _cross_checks(params: Params) -> list[str]:
    """Checks that span several keys; a sweep's grid points, once checked, are kept on params."""
    problems = []
    for name, framing in params.framings.items():
        prefix = f"framings.{_name(name)}"
        problems += _name_problem(prefix, "framing", name) + _framing_problems(prefix, framing)
    for name in params.report.tutorial_accuracy:
        if name not in params.framings:
            problems.append(f"report.tutorial_accuracy.{_name(name)}: {_no_such('framing', params.framings, name)}")
    for name, sweep in params.sweeps.items():
        prefix = f"sweeps.{_name(name)}"
        problems += _name_problem(prefix, "sweep", name)
        if sweep.framing not in params.framings:
            unknown = _no_such("framing", params.framings, sweep.framing)
            problems.append(f"{prefix}.framing: got {_show(sweep.framing)}; {unknown}")
        elif not any(problem.startswith(f"framings.{sweep.framing}.") for problem in problems):
            # A bad base framing is reported once, under framings.
            points, grid_problems = _grid_points(prefix, sweep, params.framings[sweep.framing])
            problems += grid_problems
            params._grid_points[name] = tuple(points)
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


def _duplicate_lines(node: Node, line: int) -> tuple[str, int] | None:
    """The key written twice on (0-based) ``line`` and the line it was first written on."""
    if isinstance(node, MappingNode):
        first: dict[Any, int] = {}
        for key, _ in node.value:
            if key.start_mark.line == line and key.value in first:
                return key.value, first[key.value]
            first.setdefault(key.value, key.start_mark.line)
        children = [value for _, value in node.value]
    else:
        children = node.value if isinstance(node, SequenceNode) else []
    return next(filter(None, (_duplicate_lines(child, line) for child in children)), None)


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(["file not found"], str(path)) from None
    except UnicodeDecodeError as error:
        raise ParamsError([f"not UTF-8 text: {error}"], str(path)) from None
    except OSError as error:
        raise ParamsError([f"cannot be read: {error.strerror or error}"], str(path)) from None
    # ruamel.yaml reads YAML 1.2 (yes/on are text) and refuses a key written twice; its C
    # loader is the one DVC reads params.yaml with, so both read a file the same way.
    reader = YAML(typ="safe")
    try:
        raw = reader.load(text)
    except DuplicateKeyError as error:
        line = cast(Any, error.problem_mark).line
        key, first = _duplicate_lines(reader.compose(text), line) or ("?", line)
        twice = (
            f"the key {_name(key)} is written twice in one mapping (first on line {first + 1}); allowed: each key once"
        )
        raise ParamsError([f"line {line + 1}: {twice}"], str(path)) from None
    except YAMLError as error:
        raise ParamsError([f"not valid YAML: {' '.join(str(error).split())}"], str(path)) from None
    return parse_params(raw, str(path))
